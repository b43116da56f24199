//! Reassembles the TCP conversations of a capture file, classic pcap or
//! pcapng.
//!
//! Each direction's payload is put back in sequence order (retransmissions and
//! overlaps dropped, out-of-order segments held until the gap fills), keeping the
//! capture time at which each stretch of bytes arrived.

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
use pcap_file::pcapng::{Block, PcapNgReader};
use pcap_file::DataLink;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::BufReader;
use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("cannot open capture {}: {error}", path.display())]
    Open {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{} is not a pcap file: {reason}", path.display())]
    NotPcap { path: PathBuf, reason: String },
    #[error("{}: packet {index} cannot be read: {reason}", path.display())]
    BadRecord {
        path: PathBuf,
        index: usize,
        reason: String,
    },
    #[error("{}: link type {link:?} is not supported (Ethernet, Linux cooked, raw IP and BSD loopback are)", path.display())]
    UnsupportedLink { path: PathBuf, link: DataLink },
}

/// One direction of a conversation, in sequence order.
#[derive(Debug, Default, Clone)]
pub struct StreamHalf {
    pub data: Vec<u8>,
    /// (offset in `data`, capture time) for each stretch appended.
    pub arrivals: Vec<(usize, Duration)>,
    pub fin: bool,
    pub rst: bool,
    /// Bytes that never became contiguous (a gap the capture missed).
    pub unplaced: usize,
    isn: Option<u32>,
    pending: BTreeMap<u64, (Vec<u8>, Duration)>,
}

impl StreamHalf {
    /// Capture time at which byte `offset` arrived.
    pub fn time_of(&self, offset: usize) -> Option<Duration> {
        let idx = self.arrivals.partition_point(|(start, _)| *start <= offset);
        idx.checked_sub(1)
            .and_then(|i| self.arrivals.get(i))
            .map(|(_, t)| *t)
    }

    fn accept(&mut self, seq: u32, syn: bool, payload: &[u8], time: Duration) {
        if syn {
            self.isn.get_or_insert(seq.wrapping_add(1));
        }
        if payload.is_empty() {
            return;
        }
        let isn = *self.isn.get_or_insert(seq);
        let offset = u64::from(seq.wrapping_sub(isn));
        self.pending
            .entry(offset)
            .or_insert_with(|| (payload.to_vec(), time));
        self.drain();
    }

    fn drain(&mut self) {
        while let Some(entry) = self.pending.first_entry() {
            let next = self.data.len() as u64;
            let start = *entry.key();
            if start > next {
                break;
            }
            let (bytes, time) = entry.remove();
            let skip = usize::try_from(next - start).unwrap_or(usize::MAX);
            if let Some(fresh) = bytes.get(skip..).filter(|b| !b.is_empty()) {
                self.arrivals.push((self.data.len(), time));
                self.data.extend_from_slice(fresh);
            }
        }
    }

    fn close(&mut self) {
        self.unplaced = self.pending.values().map(|(b, _)| b.len()).sum();
        self.pending.clear();
    }
}

/// One TCP connection. The client is the side that sent the first SYN; when the
/// capture holds no SYN, the side with the higher port.
#[derive(Debug, Clone)]
pub struct Conversation {
    pub index: usize,
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub started: Duration,
    pub to_server: StreamHalf,
    pub to_client: StreamHalf,
}

struct Segment<'a> {
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    syn: bool,
    ack: bool,
    fin: bool,
    rst: bool,
    payload: &'a [u8],
}

fn tcp_segment<'a>(sliced: &SlicedPacket<'a>) -> Option<Segment<'a>> {
    let (src_ip, dst_ip): (IpAddr, IpAddr) = match &sliced.net {
        Some(NetSlice::Ipv4(ip)) => (
            ip.header().source_addr().into(),
            ip.header().destination_addr().into(),
        ),
        Some(NetSlice::Ipv6(ip)) => (
            ip.header().source_addr().into(),
            ip.header().destination_addr().into(),
        ),
        _ => return None,
    };
    let Some(TransportSlice::Tcp(tcp)) = &sliced.transport else {
        return None;
    };
    Some(Segment {
        src: SocketAddr::new(src_ip, tcp.source_port()),
        dst: SocketAddr::new(dst_ip, tcp.destination_port()),
        seq: tcp.sequence_number(),
        syn: tcp.syn(),
        ack: tcp.ack(),
        fin: tcp.fin(),
        rst: tcp.rst(),
        payload: tcp.payload(),
    })
}

fn slice_packet(link: DataLink, data: &[u8]) -> Option<SlicedPacket<'_>> {
    match link {
        DataLink::ETHERNET => SlicedPacket::from_ethernet(data).ok(),
        DataLink::LINUX_SLL => SlicedPacket::from_linux_sll(data).ok(),
        DataLink::RAW | DataLink::IPV4 | DataLink::IPV6 => SlicedPacket::from_ip(data).ok(),
        DataLink::NULL | DataLink::LOOP => SlicedPacket::from_ip(data.get(4..)?).ok(),
        _ => None,
    }
}

fn supported(link: DataLink) -> bool {
    matches!(
        link,
        DataLink::ETHERNET
            | DataLink::LINUX_SLL
            | DataLink::RAW
            | DataLink::IPV4
            | DataLink::IPV6
            | DataLink::NULL
            | DataLink::LOOP
    )
}

/// One packet: its link type, capture time and bytes.
type Packet = (DataLink, Duration, Vec<u8>);

/// The packets of a capture file.
enum Packets {
    Pcap(PcapReader<BufReader<File>>, DataLink),
    /// With each interface's link type and timestamp resolution (the power
    /// of ten below a second its units are).
    PcapNg(PcapNgReader<BufReader<File>>, Vec<(DataLink, u8)>),
}

/// Timestamp units of 10^-`resolution` s as a duration; pcap-file reads
/// them as nanoseconds.
fn scaled(units_as_nanos: Duration, resolution: u8) -> Duration {
    let units = units_as_nanos.as_nanos();
    let nanos = match resolution {
        r @ 0..=9 => units.saturating_mul(10u128.pow(9 - u32::from(r))),
        r => units / 10u128.pow(u32::from(r.min(38)) - 9),
    };
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

impl Packets {
    fn open(path: &Path) -> Result<Self, CaptureError> {
        let open = || {
            File::open(path).map_err(|error| CaptureError::Open {
                path: path.to_path_buf(),
                error,
            })
        };
        let mut magic = [0u8; 4];
        let is_ng = open()?.read_exact(&mut magic).is_ok() && magic == [0x0a, 0x0d, 0x0d, 0x0a];
        let not_pcap = |e: pcap_file::PcapError| CaptureError::NotPcap {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        if is_ng {
            let reader = PcapNgReader::new(BufReader::new(open()?)).map_err(not_pcap)?;
            return Ok(Packets::PcapNg(reader, Vec::new()));
        }
        let reader = PcapReader::new(BufReader::new(open()?)).map_err(not_pcap)?;
        let link = reader.header().datalink;
        if !supported(link) {
            return Err(CaptureError::UnsupportedLink {
                path: path.to_path_buf(),
                link,
            });
        }
        Ok(Packets::Pcap(reader, link))
    }

    fn next(&mut self, path: &Path, index: usize) -> Option<Result<Packet, CaptureError>> {
        let bad = |reason: String| CaptureError::BadRecord {
            path: path.to_path_buf(),
            index,
            reason,
        };
        match self {
            Packets::Pcap(reader, link) => {
                let packet = reader.next_packet()?;
                Some(
                    packet
                        .map(|p| (*link, p.timestamp, p.data.into_owned()))
                        .map_err(|e| bad(e.to_string())),
                )
            }
            Packets::PcapNg(reader, interfaces) => loop {
                let block = match reader.next_block()? {
                    Ok(block) => block,
                    Err(e) => return Some(Err(bad(e.to_string()))),
                };
                match block {
                    Block::InterfaceDescription(idb) => {
                        if !supported(idb.linktype) {
                            return Some(Err(CaptureError::UnsupportedLink {
                                path: path.to_path_buf(),
                                link: idb.linktype,
                            }));
                        }
                        let resolution = idb
                            .options
                            .iter()
                            .find_map(|o| match o {
                                InterfaceDescriptionOption::IfTsResol(r) => Some(*r),
                                _ => None,
                            })
                            .unwrap_or(6);
                        interfaces.push((idb.linktype, resolution));
                    }
                    Block::EnhancedPacket(epb) => {
                        let interface = usize::try_from(epb.interface_id)
                            .ok()
                            .and_then(|i| interfaces.get(i).copied());
                        let Some((link, resolution)) = interface else {
                            return Some(Err(bad(format!(
                                "interface {} was never described",
                                epb.interface_id
                            ))));
                        };
                        let at = scaled(epb.timestamp, resolution);
                        return Some(Ok((link, at, epb.data.into_owned())));
                    }
                    _ => {}
                }
            },
        }
    }
}

/// Reads every TCP conversation of a pcap or pcapng file, in order of first
/// packet.
pub fn read_pcap(path: &Path) -> Result<Vec<Conversation>, CaptureError> {
    let mut packets = Packets::open(path)?;
    let mut conversations: Vec<Conversation> = Vec::new();
    let mut open: HashMap<(SocketAddr, SocketAddr), usize> = HashMap::new();
    let mut index = 0usize;
    loop {
        index += 1;
        let Some(packet) = packets.next(path, index) else {
            break;
        };
        let (link, timestamp, data) = packet?;
        let Some(sliced) = slice_packet(link, &data) else {
            continue;
        };
        let Some(seg) = tcp_segment(&sliced) else {
            continue;
        };
        let key = if seg.src <= seg.dst {
            (seg.src, seg.dst)
        } else {
            (seg.dst, seg.src)
        };
        let fresh_syn = seg.syn && !seg.ack;
        let existing = open.get(&key).copied().filter(|&i| {
            // A new SYN on a finished 4-tuple starts a new connection.
            !(fresh_syn
                && conversations.get(i).is_some_and(|c| {
                    let half = if c.client == seg.src {
                        &c.to_server
                    } else {
                        &c.to_client
                    };
                    half.isn != Some(seg.seq.wrapping_add(1))
                }))
        });
        let conv_index = match existing {
            Some(i) => i,
            None => {
                let (client, server) = if fresh_syn || (!seg.syn && seg.src.port() > seg.dst.port())
                {
                    (seg.src, seg.dst)
                } else {
                    (seg.dst, seg.src)
                };
                conversations.push(Conversation {
                    index: conversations.len(),
                    client,
                    server,
                    started: timestamp,
                    to_server: StreamHalf::default(),
                    to_client: StreamHalf::default(),
                });
                let i = conversations.len() - 1;
                open.insert(key, i);
                i
            }
        };
        let Some(conv) = conversations.get_mut(conv_index) else {
            continue;
        };
        let half = if seg.src == conv.client {
            &mut conv.to_server
        } else {
            &mut conv.to_client
        };
        half.accept(seg.seq, seg.syn, seg.payload, timestamp);
        half.fin |= seg.fin;
        half.rst |= seg.rst;
    }
    for conv in &mut conversations {
        conv.to_server.close();
        conv.to_client.close();
    }
    Ok(conversations)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_order_and_retransmitted_segments_are_placed_once() {
        let mut half = StreamHalf::default();
        let t = Duration::from_secs;
        half.accept(99, true, &[], t(0));
        half.accept(104, false, b"world", t(2));
        half.accept(100, false, b"hell", t(1));
        half.accept(100, false, b"hello", t(3));
        half.accept(109, false, b"!", t(4));
        half.close();
        assert_eq!(half.data, b"hellworld!");
        assert_eq!(half.time_of(0), Some(t(1)));
        assert_eq!(half.time_of(5), Some(t(2)));
        assert_eq!(half.time_of(9), Some(t(4)));
        assert_eq!(half.unplaced, 0);
    }

    #[test]
    fn a_gap_leaves_later_bytes_unplaced() {
        let mut half = StreamHalf::default();
        half.accept(0, true, &[], Duration::ZERO);
        half.accept(10, false, b"later", Duration::ZERO);
        half.close();
        assert!(half.data.is_empty());
        assert_eq!(half.unplaced, 5);
    }
}
