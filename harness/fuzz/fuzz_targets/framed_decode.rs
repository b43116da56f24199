#![no_main]
//! Feeds arbitrary bytes, split at fuzzer-chosen points, through the frame
//! decoder, then decodes every frame and reads every option through the typed
//! layer. Any panic is a bug; so is a decoded message that does not re-encode
//! to the bytes it came from.

use alq_harness::wire::describe::Describe;
use alq_harness::wire::{FrameDecoder, RawMessage};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&split, stream)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(split).max(1);
    let mut decoder = FrameDecoder::new();
    for piece in stream.chunks(chunk) {
        for frame in decoder.decode(piece).flatten() {
            let payload = frame.payload.clone();
            if let Ok(msg) = RawMessage::decode_bytes(frame.payload) {
                assert_eq!(msg.encode(), &payload[..]);
                for code in 0..=255u8 {
                    let _ = msg.option(code);
                }
                let _ = msg.message_type();
                let _ = Describe(&msg).to_string();
            }
        }
        assert!(decoder.buffered() <= 65_537);
    }
    let _ = decoder.finish();
});
