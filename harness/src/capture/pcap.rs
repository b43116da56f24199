//! Writes what went over a connection as a classic pcap (Ethernet link type)
//! that Wireshark opens: a synthesized TCP handshake, each direction's bytes as
//! segments with correct sequence and acknowledgement numbers and checksums,
//! an ACK for each segment, and the FIN or RST as it happened.

use etherparse::PacketBuilder;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::DataLink;
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
    pub event: TapEvent,
}

/// One connection as recorded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConnectionTap {
    pub name: String,
    pub client: SocketAddrV4,
    pub server: SocketAddrV4,
    pub opened_at: Duration,
    /// Order of the opening among all records of the run.
    pub opened_seq: u64,
    /// The bytes after DHCPTLS are the decrypted stream, not the ciphertext.
    pub decrypted_after_tls: bool,
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

/// Renders connections into pcap bytes; `base` is the wall-clock time (since
/// 1970) the offsets count from.
pub fn render(
    connections: &[ConnectionTap],
    base: Duration,
) -> Result<Vec<u8>, pcap_file::PcapError> {
    let mut packets: Vec<(Duration, u64, usize, Vec<u8>)> = Vec::new();
    for (index, conn) in connections.iter().enumerate() {
        let mut client = Side {
            addr: conn.client,
            mac: mac_for(&conn.client),
            seq: 1_000_000 + (index as u32) * 7919,
        };
        let mut server = Side {
            addr: conn.server,
            mac: mac_for(&conn.server),
            seq: 2_000_000 + (index as u32) * 104_729,
        };
        let mut push = |at: Duration, seq: u64, bytes: Vec<u8>| {
            if !bytes.is_empty() {
                packets.push((at, seq, packets.len(), bytes));
            }
        };
        let (t, s0) = (conn.opened_at, conn.opened_seq);
        push(t, s0, segment(&client, &server, 0, "S", &[]));
        client.seq = client.seq.wrapping_add(1);
        if conn.refused {
            push(t, s0, segment(&server, &client, client.seq, "RA", &[]));
            continue;
        }
        push(t, s0, segment(&server, &client, client.seq, "SA", &[]));
        server.seq = server.seq.wrapping_add(1);
        push(t, s0, segment(&client, &server, server.seq, "A", &[]));
        for record in &conn.records {
            let (at, rs) = (record.at, record.seq);
            let (from_client, flags, payload): (bool, &str, &[u8]) = match &record.event {
                TapEvent::FromClient(b) => (true, "PA", b),
                TapEvent::FromServer(b) => (false, "PA", b),
                TapEvent::ClientFin => (true, "FA", &[]),
                TapEvent::ServerFin => (false, "FA", &[]),
                TapEvent::ClientRst => (true, "RA", &[]),
                TapEvent::ServerRst => (false, "RA", &[]),
            };
            let (sender, receiver) = if from_client {
                (&mut client, &mut server)
            } else {
                (&mut server, &mut client)
            };
            if payload.is_empty() {
                push(at, rs, segment(sender, receiver, receiver.seq, flags, &[]));
                if flags.contains('F') {
                    sender.seq = sender.seq.wrapping_add(1);
                    push(at, rs, segment(receiver, sender, sender.seq, "A", &[]));
                }
                continue;
            }
            for chunk in payload.chunks(SEGMENT) {
                push(
                    at,
                    rs,
                    segment(sender, receiver, receiver.seq, flags, chunk),
                );
                sender.seq = sender.seq.wrapping_add(chunk.len() as u32);
                push(at, rs, segment(receiver, sender, sender.seq, "A", &[]));
            }
        }
    }
    packets.sort_by_key(|(at, seq, order, _)| (*at, *seq, *order));
    let header = PcapHeader {
        datalink: DataLink::ETHERNET,
        ..PcapHeader::default()
    };
    let mut writer = PcapWriter::with_header(Vec::new(), header)?;
    for (at, _, _, data) in &packets {
        let len = data.len() as u32;
        writer.write_packet(&PcapPacket::new(base + *at, len, data))?;
    }
    Ok(writer.into_writer())
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
            decrypted_after_tls: false,
            refused: false,
            records: vec![
                TapRecord {
                    at: Duration::from_millis(6),
                    seq: 6,
                    event: TapEvent::FromClient(b"hello".to_vec()),
                },
                TapRecord {
                    at: Duration::from_millis(7),
                    seq: 7,
                    event: TapEvent::FromServer(big.clone()),
                },
                TapRecord {
                    at: Duration::from_millis(8),
                    seq: 8,
                    event: TapEvent::ServerFin,
                },
                TapRecord {
                    at: Duration::from_millis(9),
                    seq: 9,
                    event: TapEvent::ClientFin,
                },
            ],
        };
        let bytes = render(&[conn], Duration::from_secs(1_800_000_000)).unwrap();
        let dir = std::env::temp_dir().join(format!("alq-pcap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.pcap");
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
            decrypted_after_tls: false,
            refused: true,
            // Whatever a refused connection's tap holds is not on the wire.
            records: vec![TapRecord {
                at: Duration::from_millis(6),
                seq: 6,
                event: TapEvent::FromClient(b"hello".to_vec()),
            }],
        };
        let bytes = render(&[conn], Duration::from_secs(1_800_000_000)).unwrap();
        let mut reader = pcap_file::pcap::PcapReader::new(&bytes[..]).unwrap();
        let mut flags = Vec::new();
        while let Some(packet) = reader.next_packet() {
            let packet = packet.unwrap();
            let parsed = etherparse::SlicedPacket::from_ethernet(&packet.data).unwrap();
            let Some(etherparse::TransportSlice::Tcp(tcp)) = parsed.transport else {
                panic!("not TCP");
            };
            flags.push((tcp.syn(), tcp.ack(), tcp.rst(), tcp.payload().len()));
        }
        assert_eq!(flags, [(true, false, false, 0), (false, true, true, 0)]);
    }
}
