//! Real third-party traffic: ISC Kea 3.0.4 answering bulk leasequeries over TCP.
//! Every framed message in the capture is decoded and compared with the
//! transcript that was written when the capture was made (decoded by other code).

use alq_harness::capture::{framed_messages, read_pcap, CapturedEvent, Sender};
use alq_harness::wire::{MessageType, OptionItem, RawMessage, Received};
use std::net::Ipv4Addr;
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/interop")
        .join(name)
}

#[derive(Debug, PartialEq)]
struct Expected {
    len: usize,
    op: u8,
    kind: u8,
    xid: u32,
    ciaddr: Ipv4Addr,
    htype: u8,
    hlen: u8,
    chaddr: String,
    options: Vec<(u8, String)>,
}

fn field<'a>(line: &'a str, key: &str) -> &'a str {
    let start = line
        .find(&format!(" {key}="))
        .map(|i| i + key.len() + 2)
        .unwrap();
    line[start..].split(' ').next().unwrap()
}

/// Parses the `len=… op=… type=… xid=… ciaddr=… htype=… hlen=… chaddr=… opts=[…]`
/// lines of the transcript.
fn transcript() -> Vec<Expected> {
    let text = std::fs::read_to_string(fixture("kea-3.0.4-blq4-transcript.txt")).unwrap();
    text.lines()
        .filter(|l| l.trim_start().starts_with("len="))
        .map(|l| {
            let line = format!(" {}", l.trim_start());
            let opts = &line[line.find("opts=[").unwrap() + 6..line.rfind(']').unwrap()];
            let options = opts
                .split("), ")
                .filter(|o| !o.is_empty())
                .map(|o| {
                    let o = o.trim_matches(|c| c == '(' || c == ')');
                    let (code, hex) = o.split_once(", ").unwrap();
                    (code.parse().unwrap(), hex.trim_matches('\'').to_string())
                })
                .collect();
            Expected {
                len: field(&line, "len").parse().unwrap(),
                op: field(&line, "op").parse().unwrap(),
                kind: field(&line, "type").parse().unwrap(),
                xid: u32::from_str_radix(field(&line, "xid").trim_start_matches("0x"), 16).unwrap(),
                ciaddr: field(&line, "ciaddr").parse().unwrap(),
                htype: field(&line, "htype").parse().unwrap(),
                hlen: field(&line, "hlen").parse().unwrap(),
                chaddr: field(&line, "chaddr").to_string(),
                options,
            }
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn observed(m: &RawMessage) -> Expected {
    let h = &m.header;
    Expected {
        len: m.encoded_len(),
        op: h.op,
        kind: Received::from_raw(m).message_type().unwrap().to_u8(),
        xid: h.xid,
        ciaddr: h.ciaddr,
        htype: h.htype,
        hlen: h.hlen,
        chaddr: h
            .hardware_address()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":"),
        options: m
            .options
            .iter()
            .filter_map(|item| match item {
                OptionItem::Tlv { code, data } if *code != 53 => Some((*code, hex(data))),
                _ => None,
            })
            .collect(),
    }
}

#[test]
fn every_message_in_the_kea_capture_decodes_and_matches_the_transcript() {
    let conversations = read_pcap(&fixture("kea-3.0.4-blq4-loopback.pcap")).unwrap();
    assert_eq!(conversations.len(), 10, "ten probe connections");
    let events = framed_messages(&conversations);
    let messages: Vec<(Sender, &RawMessage)> = events
        .iter()
        .map(|e| match &e.event {
            CapturedEvent::Message(m) => (e.sender, &**m),
            other => panic!("conversation {}: {other:?}", e.conversation),
        })
        .collect();
    assert_eq!(messages.len(), 27);

    let replies: Vec<Expected> = messages
        .iter()
        .filter(|(s, _)| *s == Sender::Server)
        .map(|(_, m)| observed(m))
        .collect();
    let expected = transcript();
    assert_eq!(expected.len(), 17);
    assert_eq!(replies, expected);

    let queries: Vec<(MessageType, u32)> = messages
        .iter()
        .filter(|(s, _)| *s == Sender::Client)
        .map(|(_, m)| (Received::from_raw(m).message_type().unwrap(), m.header.xid))
        .collect();
    let expected_queries: Vec<(MessageType, u32)> = (0xa1..=0xaa)
        .map(|xid| {
            let kind = if xid == 0xa9 {
                MessageType::ActiveLeaseQuery
            } else {
                MessageType::BulkLeaseQuery
            };
            (kind, xid)
        })
        .collect();
    assert_eq!(queries, expected_queries);
    for m in messages.iter().map(|(_, m)| m) {
        assert!(m.has_end());
        assert_eq!(m.cookie, [99, 130, 83, 99]);
    }
}

#[test]
fn kea_closes_an_active_query_without_answering_and_resets_a_stranger() {
    let conversations = read_pcap(&fixture("kea-3.0.4-blq4-loopback.pcap")).unwrap();
    let active = &conversations[8];
    assert!(active.to_client.data.is_empty());
    assert!(active.to_client.fin && !active.to_client.rst);
    let stranger = &conversations[9];
    assert_eq!(stranger.client.ip().to_string(), "127.0.0.9");
    assert!(stranger.to_client.rst);
    for c in &conversations {
        assert_eq!(c.server.port(), 67);
    }
}
