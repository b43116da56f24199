#![no_main]
//! Feeds arbitrary bytes, split at fuzzer-chosen points, through the frame
//! decoder, then decodes every frame, reads every option through the typed
//! layer and runs every check the harness applies to a received message.
//! Any panic is a bug; so is a decoded message that does not re-encode to the
//! bytes it came from, framing out of read buffers (frames split off without
//! copying) that differs from framing copied slices, or a message decoded into
//! an earlier one's allocation that reads differently from a fresh one.

use alq_harness::checks::reply::{Granted, ServerConn};
use alq_harness::checks::request::RequestorConn;
use alq_harness::checks::{self, wire, Judged};
use alq_harness::wire::describe::Describe;
use alq_harness::wire::{FrameDecoder, RawMessage, Received};
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use std::collections::HashSet;
use std::rc::Rc;

fuzz_target!(|data: &[u8]| {
    let Some((&split, stream)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(split).max(1);
    let mut decoder = FrameDecoder::new();
    let mut from_reads = FrameDecoder::new();
    let mut read = BytesMut::new();
    let mut spare: Option<Rc<Received>> = None;
    for piece in stream.chunks(chunk) {
        let events: Vec<_> = decoder.decode(piece).collect();
        read.extend_from_slice(piece);
        let mut taken = Vec::new();
        while let Some(event) = from_reads.next_from(&mut read) {
            taken.push(event);
        }
        assert_eq!(events, taken);
        assert!(read.is_empty());
        for frame in events.into_iter().flatten() {
            let payload = frame.payload.clone();
            let received = Received::decode(payload.clone());
            let reused = Received::decode_shared(payload.clone(), spare.take());
            assert_eq!(reused.is_ok(), received.is_ok());
            if let (Ok(reused), Ok(fresh)) = (&reused, &received) {
                for code in 0..=255u8 {
                    assert_eq!(reused.option_data(code), fresh.option_data(code));
                    assert_eq!(reused.contains_code(code), fresh.contains_code(code));
                }
                assert_eq!(reused.message_type(), fresh.message_type());
                assert_eq!(reused.has_end(), fresh.has_end());
                assert_eq!(reused.trailing(), fresh.trailing());
                assert_eq!(reused.duplicate_codes(), fresh.duplicate_codes());
            }
            spare = reused.ok();
            let raw = RawMessage::decode_bytes(frame.payload);
            assert_eq!(received.is_ok(), raw.is_ok());
            if let (Ok(msg), Ok(received)) = (raw, received) {
                assert_eq!(msg.encode(), &payload[..]);
                // The index over the octets and the one over the item list
                // read every option alike.
                let built = Received::from_raw(&msg);
                for code in 0..=255u8 {
                    assert_eq!(received.option(code), built.option(code));
                    assert_eq!(received.option_data(code), built.option_data(code));
                }
                assert_eq!(received.message_type(), built.message_type());
                assert_eq!(received.has_end(), msg.has_end());
                assert_eq!(received.trailing(), &msg.trailing[..]);
                let _ = received.status();
                let _ = received.dhcp_state();
                let _ = received.relay_agent_info();
                let _ = Describe(&msg).to_string();
                let view = &received;
                let mut judged = Judged::default();
                let mut marks = [false; wire::CHECKS.len()];
                let _ = wire::judge(view, wire::Sender::Requestor, &mut marks);
                let _ = wire::judge(view, wire::Sender::Server, &mut marks);
                let server = ServerConn {
                    active: split & 1 == 0,
                    catch_up_asked: split & 8 == 0,
                    first_of_xid: split & 16 == 0,
                    granted: (split & 32 == 0).then_some(Granted {
                        lease: 600,
                        left: 300,
                        t1_left: Some(150),
                        t2_left: Some(262),
                    }),
                    sent_xids: &[view.xid()],
                    requested: &[156, 58, 59],
                    repeated: split & 2 == 0,
                    after_done: split & 64 == 0,
                    arrival: None,
                };
                let _ = checks::server_message(view, &server, &mut judged);
                let requestor = RequestorConn {
                    xids: &HashSet::new(),
                    after_active: split & 4 == 0,
                };
                let _ = checks::requestor_message(view, &requestor, &mut judged);
                let _ = judged.construction();
            }
        }
        assert!(decoder.buffered() <= 65_537);
    }
    assert_eq!(decoder.finish(), from_reads.finish());
});
