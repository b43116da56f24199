//! Property tests of the codec: exact round trips, no panics on any input, and
//! framing that does not depend on how the stream is split.

use alq_harness::wire::framing::{encode_frame, encode_frame_with_prefix};
use alq_harness::wire::{FrameDecoder, Header, OptionItem, RawMessage, Received};
use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use std::net::Ipv4Addr;

fn header() -> impl Strategy<Value = Header> {
    (
        any::<[u8; 4]>(),
        any::<u32>(),
        any::<u16>(),
        any::<u16>(),
        any::<[u32; 4]>(),
        any::<[u8; 16]>(),
        proptest::collection::vec(any::<u8>(), 64 + 128),
    )
        .prop_map(|(ops, xid, secs, flags, addrs, chaddr, names)| {
            let mut sname = [0u8; 64];
            let mut file = [0u8; 128];
            sname.copy_from_slice(&names[..64]);
            file.copy_from_slice(&names[64..]);
            Header {
                op: ops[0],
                htype: ops[1],
                hlen: ops[2],
                hops: ops[3],
                xid,
                secs,
                flags,
                ciaddr: Ipv4Addr::from(addrs[0]),
                yiaddr: Ipv4Addr::from(addrs[1]),
                siaddr: Ipv4Addr::from(addrs[2]),
                giaddr: Ipv4Addr::from(addrs[3]),
                chaddr,
                sname,
                file,
            }
        })
}

fn item() -> impl Strategy<Value = OptionItem> {
    prop_oneof![
        1 => Just(OptionItem::Pad),
        6 => (1u8..=254, proptest::collection::vec(any::<u8>(), 0..=255))
            .prop_map(|(code, data)| OptionItem::tlv(code, data)),
    ]
}

/// Messages in the form decoding produces: items up to an optional END, and
/// trailing bytes only after an END.
fn message() -> impl Strategy<Value = RawMessage> {
    (
        header(),
        any::<[u8; 4]>(),
        proptest::collection::vec(item(), 0..24),
        any::<bool>(),
        proptest::collection::vec(any::<u8>(), 0..16),
    )
        .prop_map(|(header, cookie, mut options, end, trailing)| {
            if end {
                options.push(OptionItem::End);
            }
            RawMessage {
                header,
                cookie,
                options,
                trailing: if end {
                    Bytes::from(trailing)
                } else {
                    Bytes::new()
                },
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn raw_encode_then_decode_is_identity(msg in message()) {
        let bytes = msg.encode();
        prop_assert_eq!(bytes.len(), msg.encoded_len());
        prop_assert_eq!(RawMessage::decode(&bytes), Ok(msg));
    }

    #[test]
    fn decode_of_arbitrary_bytes_never_panics_and_keeps_every_byte(
        bytes in proptest::collection::vec(any::<u8>(), 0..700)
    ) {
        if let Ok(msg) = RawMessage::decode(&bytes) {
            prop_assert_eq!(msg.encode(), bytes.clone());
            let view = Received::from_raw(&msg);
            for code in 0..=255u8 {
                let _ = view.option(code);
            }
            let _ = view.message_type();
            let _ = alq_harness::wire::describe::Describe(&msg).to_string();
        }
    }

    #[test]
    fn decode_of_options_after_a_valid_header_never_panics(
        options in proptest::collection::vec(any::<u8>(), 0..400),
        overload in 0u8..4,
        names in proptest::collection::vec(any::<u8>(), 192),
    ) {
        let mut bytes = vec![0u8; 236];
        bytes[44..236].copy_from_slice(&names);
        bytes.extend_from_slice(&[99, 130, 83, 99, 52, 1, overload]);
        bytes.extend_from_slice(&options);
        if let Ok(msg) = RawMessage::decode(&bytes) {
            prop_assert_eq!(msg.encode(), bytes.clone());
            let view = Received::from_raw(&msg);
            for code in 0..=255u8 {
                let _ = view.option(code);
            }
            let _ = view.option_codes().count();
        }
    }

    #[test]
    fn framing_is_independent_of_how_the_stream_is_split(
        lens in proptest::collection::vec(prop_oneof![0usize..240, 240usize..700], 1..8),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..20),
        tail in 0usize..3,
    ) {
        let mut stream = Vec::new();
        for (i, len) in lens.iter().enumerate() {
            let body = vec![i as u8; *len];
            stream.extend(encode_frame_with_prefix(*len as u16, &body));
        }
        // A partial frame at the end: 0, 1 or 2 bytes of a further prefix.
        stream.extend(encode_frame(&[7u8; 300]).unwrap().into_iter().take(tail));

        let mut whole = FrameDecoder::new();
        let expected: Vec<_> = whole.decode(&stream).collect();
        let expected_end = whole.finish();

        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
        points.push(0);
        points.push(stream.len());
        points.sort_unstable();
        let mut split = FrameDecoder::new();
        let mut got = Vec::new();
        for pair in points.windows(2) {
            got.extend(split.decode(&stream[pair[0]..pair[1]]));
            prop_assert!(split.buffered() <= 65_537);
        }
        prop_assert_eq!(&got, &expected);
        prop_assert_eq!(split.finish(), expected_end.clone());
        prop_assert_eq!(split.stream_offset(), stream.len() as u64);

        // Taking events out of read buffers (whole frames split off without
        // copying) gives the same events, whatever the reads held.
        let mut shared = FrameDecoder::new();
        let mut taken = Vec::new();
        let mut read = BytesMut::new();
        for pair in points.windows(2) {
            read.extend_from_slice(&stream[pair[0]..pair[1]]);
            while let Some(event) = shared.next_from(&mut read) {
                taken.push(event);
            }
            prop_assert!(read.is_empty());
        }
        prop_assert_eq!(&taken, &expected);
        prop_assert_eq!(shared.finish(), expected_end);
        prop_assert_eq!(shared.stream_offset(), stream.len() as u64);
        let frames = expected.iter().filter(|e| e.is_ok()).count();
        prop_assert_eq!(frames, lens.iter().filter(|l| **l >= 240).count());
    }
}

#[test]
fn one_read_holding_many_messages_yields_all_of_them() {
    let mut stream = Vec::new();
    for i in 0..100u8 {
        stream.extend(encode_frame(&vec![i; 244 + usize::from(i)]).unwrap());
    }
    let mut decoder = FrameDecoder::new();
    let frames: Vec<_> = decoder.decode(&stream).map(Result::unwrap).collect();
    assert_eq!(frames.len(), 100);
    for (i, f) in frames.iter().enumerate() {
        assert_eq!(f.payload.len(), 244 + i);
        assert!(f.payload.iter().all(|b| usize::from(*b) == i));
    }
}
