//! Writes what went over a scenario's connections as a pcapng file (Ethernet
//! link type) that Wireshark opens: a synthesized TCP handshake, each
//! direction's bytes as segments with correct sequence and acknowledgement
//! numbers and checksums, an ACK for each segment, and the FIN or RST as it
//! happened. Every frame carries a comment naming its connection and step,
//! and the frame a finding was decided on carries the finding; the TLS
//! session secrets go in a Decryption Secrets Block, so the TLS records of
//! a secure scenario are read with no key file.

use etherparse::PacketBuilder;
use pcap_file::pcapng::blocks::enhanced_packet::{EnhancedPacketBlock, EnhancedPacketOption};
use pcap_file::pcapng::blocks::interface_description::{
    InterfaceDescriptionBlock, InterfaceDescriptionOption,
};
use pcap_file::pcapng::blocks::unknown::UnknownBlock;
use pcap_file::pcapng::{Block, PcapNgWriter};
use pcap_file::DataLink;
use std::borrow::Cow;
use std::net::SocketAddrV4;
use std::time::Duration;

/// Largest TCP payload per synthesized segment.
pub const SEGMENT: usize = 1448;

/// One thing that happened on a connection, at a time since the run started.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum TapEvent {
    /// Bytes the client side sent.
    FromClient(Vec<u8>),
    /// Bytes the server side sent.
    FromServer(Vec<u8>),
    ClientFin,
    ServerFin,
    ClientRst,
    ServerRst,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TapRecord {
    pub at: Duration,
    /// Order among all records of a run, for events at the same instant.
    pub seq: u64,
    /// The scenario step under way (1-based; 0 before the first).
    pub step: u32,
    /// Recorded below TLS: the bytes are TLS records as they crossed.
    pub wire: bool,
    pub event: TapEvent,
}

/// One connection as recorded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConnectionTap {
    pub name: String,
    /// The harness opened the connection (it plays requestor).
    pub harness_is_client: bool,
    pub client: SocketAddrV4,
    pub server: SocketAddrV4,
    pub opened_at: Duration,
    /// Order of the opening among all records of the run.
    pub opened_seq: u64,
    /// TLS began after DHCPTLS: the records after it are TLS records as
    /// they crossed, read with the scenario's session secrets.
    pub tls: bool,
    /// The server answered the SYN with RST: no handshake, nothing after.
    pub refused: bool,
    pub records: Vec<TapRecord>,
}

struct Side {
    addr: SocketAddrV4,
    mac: [u8; 6],
    seq: u32,
}

fn mac_for(addr: &SocketAddrV4) -> [u8; 6] {
    let o = addr.ip().octets();
    [0x02, 0x00, o[0], o[1], o[2], o[3]]
}

fn segment(from: &Side, to: &Side, ack: u32, flags: &str, payload: &[u8]) -> Vec<u8> {
    let mut b = PacketBuilder::ethernet2(from.mac, to.mac)
        .ipv4(from.addr.ip().octets(), to.addr.ip().octets(), 64)
        .tcp(from.addr.port(), to.addr.port(), from.seq, 65_535);
    if flags.contains('S') {
        b = b.syn();
    }
    if flags.contains('A') {
        b = b.ack(ack);
    }
    if flags.contains('P') {
        b = b.psh();
    }
    if flags.contains('F') {
        b = b.fin();
    }
    if flags.contains('R') {
        b = b.rst();
    }
    let mut out = Vec::with_capacity(b.size(payload.len()));
    // Writing into a Vec cannot fail for lack of space; a payload too large
    // for IPv4 is impossible because segments are at most SEGMENT bytes.
    if b.write(&mut out, payload).is_err() {
        out.clear();
    }
    out
}

/// Largest TCP payload of a segment carrying TLS records: loopback's MTU
/// allows it, and a whole TLS record (at most 18,437 bytes) always fits.
const TLS_SEGMENT: usize = 65_000;

/// The records of a connection with each run of TLS bytes one direction
/// sent, read in pieces, joined again: Wireshark's TLS dissector, reached
/// through the leasequery plugin, reads records that a segment holds whole.
fn coalesced(records: &[TapRecord]) -> Vec<Cow<'_, TapRecord>> {
    let mut out: Vec<Cow<'_, TapRecord>> = Vec::with_capacity(records.len());
    for r in records {
        if let Some(last) = out.last_mut().filter(|l| l.wire && r.wire) {
            let joins = matches!(
                (&last.event, &r.event),
                (TapEvent::FromClient(_), TapEvent::FromClient(_))
                    | (TapEvent::FromServer(_), TapEvent::FromServer(_))
            );
            if joins {
                let last = last.to_mut();
                if let (
                    TapEvent::FromClient(a) | TapEvent::FromServer(a),
                    TapEvent::FromClient(b) | TapEvent::FromServer(b),
                ) = (&mut last.event, &r.event)
                {
                    a.extend_from_slice(b);
                }
                last.at = r.at;
                continue;
            }
        }
        out.push(Cow::Borrowed(r));
    }
    out
}

/// `bytes` cut into segments of whole TLS records (as many as fit in
/// [`TLS_SEGMENT`]); bytes that do not parse as records go in segments of
/// that size as they come.
fn tls_segments(bytes: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut end = 0;
    while end < bytes.len() {
        let record = bytes
            .get(end + 3..end + 5)
            .map(|len| 5 + usize::from(u16::from_be_bytes([len[0], len[1]])));
        let next = match record {
            Some(len) if end + len <= bytes.len() => end + len,
            _ => bytes.len(),
        };
        if next - start > TLS_SEGMENT && end > start {
            out.push(&bytes[start..end]);
            start = end;
        }
        end = next;
        if end - start >= TLS_SEGMENT {
            let cut = start + TLS_SEGMENT;
            out.push(&bytes[start..cut]);
            start = cut;
            end = end.max(start);
        }
    }
    if start < bytes.len() {
        out.push(&bytes[start..]);
    }
    out
}

/// pcapng block type of a Decryption Secrets Block, and its secrets type for
/// a TLS key log (pcapng specification §4.7).
const DECRYPTION_SECRETS_BLOCK: u32 = 0x0000_000A;
const TLS_KEY_LOG: u32 = 0x544c_534b;

/// What a capture says besides the traffic.
#[derive(Debug, Clone, Default)]
pub struct Notes<'a> {
    /// Each step's keyword, in order (records name steps 1-based).
    pub steps: &'a [&'static str],
    /// Findings to show on a frame: the connection's index, the record's
    /// sequence number and the text.
    pub findings: Vec<(usize, u64, String)>,
    /// NSS key log lines of the TLS sessions on the connections.
    pub tls_secrets: &'a [String],
}

/// The last record of `conn` numbered below `before` that came from the
/// peer (`Some(true)`), from the harness (`Some(false)`) or from either
/// (`None`): where a transcript entry made when the records had reached
/// `before` finds its message or close on the wire.
pub fn record_before(conn: &ConnectionTap, from_peer: Option<bool>, before: u64) -> Option<u64> {
    conn.records
        .iter()
        .filter(|r| r.seq < before)
        .filter(|r| {
            let from_client = matches!(
                r.event,
                TapEvent::FromClient(_) | TapEvent::ClientFin | TapEvent::ClientRst
            );
            from_peer.is_none_or(|peer| peer == (from_client != conn.harness_is_client))
        })
        .map(|r| r.seq)
        .next_back()
}

/// Renders connections into pcapng bytes; `base` is the wall-clock time
/// (since 1970) the offsets count from.
pub fn render(
    connections: &[ConnectionTap],
    base: Duration,
    notes: &Notes<'_>,
) -> Result<Vec<u8>, pcap_file::PcapError> {
    render_into(Vec::new(), connections, base, notes)
}

/// As [`render`], writing into `out` (a file, say) as it goes.
pub fn render_into<W: std::io::Write>(
    out: W,
    connections: &[ConnectionTap],
    base: Duration,
    notes: &Notes<'_>,
) -> Result<W, pcap_file::PcapError> {
    struct Frame {
        at: Duration,
        seq: u64,
        order: usize,
        bytes: Vec<u8>,
        /// Index into `comments`: frames of one record share theirs.
        comment: usize,
    }
    let mut comments: Vec<String> = Vec::new();
    let step_name = |step: u32| -> String {
        let keyword = usize::try_from(step)
            .ok()
            .and_then(|s| s.checked_sub(1))
            .and_then(|i| notes.steps.get(i));
        match keyword {
            Some(k) => format!("step {step} ({k})"),
            None => "before the first step".to_string(),
        }
    };
    let mut frames: Vec<Frame> = Vec::new();
    for (index, conn) in connections.iter().enumerate() {
        let index32 = u32::try_from(index).unwrap_or(u32::MAX);
        let mut client = Side {
            addr: conn.client,
            mac: mac_for(&conn.client),
            seq: 1_000_000u32.wrapping_add(index32.wrapping_mul(7919)),
        };
        let mut server = Side {
            addr: conn.server,
            mac: mac_for(&conn.server),
            seq: 2_000_000u32.wrapping_add(index32.wrapping_mul(104_729)),
        };
        let mut push = |at: Duration, seq: u64, bytes: Vec<u8>, comment: usize| {
            if !bytes.is_empty() {
                let order = frames.len();
                frames.push(Frame {
                    at,
                    seq,
                    order,
                    bytes,
                    comment,
                });
            }
        };
        let (t, s0) = (conn.opened_at, conn.opened_seq);
        let mut note = |text: String| {
            comments.push(text);
            comments.len() - 1
        };
        let opening = note(format!("connection {}: opened", conn.name));
        push(t, s0, segment(&client, &server, 0, "S", &[]), opening);
        client.seq = client.seq.wrapping_add(1);
        if conn.refused {
            let refused = note(format!("connection {}: refused", conn.name));
            push(
                t,
                s0,
                segment(&server, &client, client.seq, "RA", &[]),
                refused,
            );
            continue;
        }
        push(
            t,
            s0,
            segment(&server, &client, client.seq, "SA", &[]),
            opening,
        );
        server.seq = server.seq.wrapping_add(1);
        push(
            t,
            s0,
            segment(&client, &server, server.seq, "A", &[]),
            opening,
        );
        for record in coalesced(&conn.records).iter() {
            let (at, rs) = (record.at, record.seq);
            let (from_client, flags, payload): (bool, &str, &[u8]) = match &record.event {
                TapEvent::FromClient(b) => (true, "PA", b),
                TapEvent::FromServer(b) => (false, "PA", b),
                TapEvent::ClientFin => (true, "FA", &[]),
                TapEvent::ServerFin => (false, "FA", &[]),
                TapEvent::ClientRst => (true, "RA", &[]),
                TapEvent::ServerRst => (false, "RA", &[]),
            };
            let text = format!("connection {}: {}", conn.name, step_name(record.step));
            let plain_len = text.len();
            let mut decided = text.clone();
            for (_, _, finding) in notes
                .findings
                .iter()
                .filter(|(c, seq, _)| *c == index && *seq == rs)
            {
                decided.push_str("; finding: ");
                decided.push_str(finding);
            }
            let comment = note(text);
            let first = if decided.len() > plain_len {
                note(decided)
            } else {
                comment
            };
            let (sender, receiver) = if from_client {
                (&mut client, &mut server)
            } else {
                (&mut server, &mut client)
            };
            if payload.is_empty() {
                push(
                    at,
                    rs,
                    segment(sender, receiver, receiver.seq, flags, &[]),
                    first,
                );
                if flags.contains('F') {
                    sender.seq = sender.seq.wrapping_add(1);
                    push(
                        at,
                        rs,
                        segment(receiver, sender, sender.seq, "A", &[]),
                        comment,
                    );
                }
                continue;
            }
            let mut first = Some(first);
            let chunks = if record.wire {
                tls_segments(payload)
            } else {
                payload.chunks(SEGMENT).collect()
            };
            for chunk in chunks {
                let text = first.take().unwrap_or(comment);
                push(
                    at,
                    rs,
                    segment(sender, receiver, receiver.seq, flags, chunk),
                    text,
                );
                let len = u32::try_from(chunk.len()).unwrap_or(u32::MAX);
                sender.seq = sender.seq.wrapping_add(len);
                push(
                    at,
                    rs,
                    segment(receiver, sender, sender.seq, "A", &[]),
                    comment,
                );
            }
        }
    }
    frames.sort_by_key(|f| (f.at, f.seq, f.order));
    let mut writer = PcapNgWriter::new(out)?;
    writer.write_pcapng_block(InterfaceDescriptionBlock {
        linktype: DataLink::ETHERNET,
        snaplen: 0,
        // Timestamps are written in nanoseconds.
        options: vec![InterfaceDescriptionOption::IfTsResol(9)],
    })?;
    if !notes.tls_secrets.is_empty() {
        let mut log = notes.tls_secrets.join("\n");
        log.push('\n');
        let len = u32::try_from(log.len()).unwrap_or(u32::MAX);
        let mut value = Vec::with_capacity(log.len() + 8);
        value.extend_from_slice(&TLS_KEY_LOG.to_ne_bytes());
        value.extend_from_slice(&len.to_ne_bytes());
        value.extend_from_slice(log.as_bytes());
        // The block's padding to 32 bits is added as it is written.
        let block = UnknownBlock::new(DECRYPTION_SECRETS_BLOCK, 0, &value);
        writer.write_block(&Block::Unknown(block))?;
    }
    for f in &frames {
        let len = u32::try_from(f.bytes.len()).unwrap_or(u32::MAX);
        writer.write_pcapng_block(EnhancedPacketBlock {
            interface_id: 0,
            timestamp: base + f.at,
            original_len: len,
            data: Cow::Borrowed(&f.bytes),
            options: vec![EnhancedPacketOption::Comment(Cow::Borrowed(
                comments.get(f.comment).map_or("", String::as_str),
            ))],
        })?;
    }
    Ok(writer.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::tcp_streams::read_pcap;

    #[test]
    fn rendered_capture_reassembles_to_the_recorded_streams() {
        let client = SocketAddrV4::new([127, 0, 0, 1].into(), 40001);
        let server = SocketAddrV4::new([127, 0, 0, 2].into(), 67);
        let big = vec![7u8; 5000];
        let conn = ConnectionTap {
            name: "a".into(),
            client,
            server,
            opened_at: Duration::from_millis(5),
            opened_seq: 0,
            harness_is_client: true,
            tls: false,
            refused: false,
            records: vec![
                TapRecord {
                    at: Duration::from_millis(6),
                    seq: 6,
                    step: 1,
                    wire: false,
                    event: TapEvent::FromClient(b"hello".to_vec()),
                },
                TapRecord {
                    at: Duration::from_millis(7),
                    seq: 7,
                    step: 1,
                    wire: false,
                    event: TapEvent::FromServer(big.clone()),
                },
                TapRecord {
                    at: Duration::from_millis(8),
                    seq: 8,
                    step: 1,
                    wire: false,
                    event: TapEvent::ServerFin,
                },
                TapRecord {
                    at: Duration::from_millis(9),
                    seq: 9,
                    step: 1,
                    wire: false,
                    event: TapEvent::ClientFin,
                },
            ],
        };
        let bytes = render(
            &[conn],
            Duration::from_secs(1_800_000_000),
            &Notes::default(),
        )
        .unwrap();
        let dir = std::env::temp_dir().join(format!("alq-pcap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.pcapng");
        std::fs::write(&path, bytes).unwrap();
        let convs = read_pcap(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(convs.len(), 1);
        let c = &convs[0];
        assert_eq!(c.client.to_string(), "127.0.0.1:40001");
        assert_eq!(c.server.port(), 67);
        assert_eq!(c.to_server.data, b"hello");
        assert_eq!(c.to_client.data, big);
        assert!(c.to_client.fin && c.to_server.fin);
        assert_eq!(c.to_client.unplaced + c.to_server.unplaced, 0);
    }

    #[test]
    fn a_refused_connection_is_a_syn_answered_by_a_reset_and_nothing_else() {
        let conn = ConnectionTap {
            name: "a".into(),
            client: SocketAddrV4::new([127, 0, 0, 1].into(), 40001),
            server: SocketAddrV4::new([127, 0, 0, 2].into(), 67),
            opened_at: Duration::from_millis(5),
            opened_seq: 0,
            harness_is_client: true,
            tls: false,
            refused: true,
            // Whatever a refused connection's tap holds is not on the wire.
            records: vec![TapRecord {
                at: Duration::from_millis(6),
                seq: 6,
                step: 1,
                wire: false,
                event: TapEvent::FromClient(b"hello".to_vec()),
            }],
        };
        let bytes = render(
            &[conn],
            Duration::from_secs(1_800_000_000),
            &Notes::default(),
        )
        .unwrap();
        let mut reader = pcap_file::pcapng::PcapNgReader::new(&bytes[..]).unwrap();
        let mut flags = Vec::new();
        while let Some(block) = reader.next_block() {
            let Block::EnhancedPacket(packet) = block.unwrap() else {
                continue;
            };
            let parsed = etherparse::SlicedPacket::from_ethernet(&packet.data).unwrap();
            let Some(etherparse::TransportSlice::Tcp(tcp)) = parsed.transport else {
                panic!("not TCP");
            };
            flags.push((tcp.syn(), tcp.ack(), tcp.rst(), tcp.payload().len()));
        }
        assert_eq!(flags, [(true, false, false, 0), (false, true, true, 0)]);
    }
}
