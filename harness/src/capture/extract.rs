//! Takes the length-prefixed leasequery messages out of reassembled TCP
//! conversations.

use super::tcp_streams::{Conversation, StreamHalf};
use crate::wire::{DecodeError, FrameDecoder, FrameError, RawMessage};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sender {
    Client,
    Server,
}

/// One message of a conversation, or the reason one could not be read.
#[derive(Debug, Clone)]
pub enum CapturedEvent {
    Message(Box<RawMessage>),
    /// A frame whose payload is not a DHCP message.
    Undecodable {
        payload_len: usize,
        error: DecodeError,
    },
    /// The length prefix itself is wrong, or the stream ended inside a frame.
    Framing(FrameError),
}

#[derive(Debug, Clone)]
pub struct CapturedMessage {
    pub conversation: usize,
    pub sender: Sender,
    /// Capture time of the frame's last byte.
    pub time: Duration,
    /// Stream offset of the frame's length prefix.
    pub offset: u64,
    pub event: CapturedEvent,
}

fn half_events(conv: &Conversation, sender: Sender, half: &StreamHalf) -> Vec<CapturedMessage> {
    let mut decoder = FrameDecoder::new();
    let mut out = Vec::new();
    let at = |offset: u64, len: usize| {
        let last = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .saturating_add(len.max(1) - 1);
        half.time_of(last.min(half.data.len().saturating_sub(1)))
            .unwrap_or(conv.started)
    };
    for event in decoder.decode(&half.data) {
        let (offset, len, event) = match event {
            Ok(frame) => {
                let len = frame.payload.len() + 2;
                let payload_len = frame.payload.len();
                let event = match RawMessage::decode_bytes(frame.payload) {
                    Ok(msg) => CapturedEvent::Message(Box::new(msg)),
                    Err(error) => CapturedEvent::Undecodable { payload_len, error },
                };
                (frame.offset, len, event)
            }
            Err(e) => (e.offset().unwrap_or(0), 2, CapturedEvent::Framing(e)),
        };
        out.push(CapturedMessage {
            conversation: conv.index,
            sender,
            time: at(offset, len),
            offset,
            event,
        });
    }
    if let Err(e) = decoder.finish() {
        let offset = e.offset().unwrap_or(0);
        out.push(CapturedMessage {
            conversation: conv.index,
            sender,
            time: at(offset, half.data.len()),
            offset,
            event: CapturedEvent::Framing(e),
        });
    }
    out
}

/// Every framed message of every conversation, ordered by capture time (ties
/// keep conversation order, then client before server).
pub fn framed_messages(conversations: &[Conversation]) -> Vec<CapturedMessage> {
    let mut out = Vec::new();
    for conv in conversations {
        out.extend(half_events(conv, Sender::Client, &conv.to_server));
        out.extend(half_events(conv, Sender::Server, &conv.to_client));
    }
    out.sort_by_key(|m| (m.time, m.conversation, m.sender == Sender::Server, m.offset));
    out
}
