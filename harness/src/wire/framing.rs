//! The 2-octet length prefix that carries DHCP messages over leasequery TCP
//! connections (RFC 6926 §6.1, RFC 7724 §5.1).
//!
//! [`FrameDecoder`] is incremental: bytes may arrive split anywhere, and it never
//! holds more than one prefix and one message (at most 65,535 + 2 bytes).

use bytes::{Buf, Bytes, BytesMut};

pub const PREFIX_LEN: usize = 2;
pub const MAX_MESSAGE_LEN: usize = u16::MAX as usize;
/// Shortest length that can hold the BOOTP header and the magic cookie.
pub const MIN_MESSAGE_LEN: usize = super::raw::OPTIONS_OFFSET;

/// One message taken off the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Stream offset of the frame's length prefix.
    pub offset: u64,
    /// The message, without the prefix.
    pub payload: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("length prefix at stream offset {offset} is 0")]
    Empty { offset: u64 },
    #[error("length prefix at stream offset {offset} is {len}, below the {MIN_MESSAGE_LEN}-byte minimum of a DHCP message")]
    Undersized { offset: u64, len: usize },
    #[error(
        "stream ended inside the frame at offset {offset}: {received} of {expected} bytes received"
    )]
    TruncatedAtEof {
        offset: u64,
        expected: usize,
        received: usize,
    },
    #[error(
        "a {len}-byte message does not fit a 2-byte length prefix (maximum {MAX_MESSAGE_LEN})"
    )]
    TooLarge { len: usize },
}

impl FrameError {
    /// Stream offset of the offending prefix, where there is one.
    pub fn offset(&self) -> Option<u64> {
        match self {
            FrameError::Empty { offset }
            | FrameError::Undersized { offset, .. }
            | FrameError::TruncatedAtEof { offset, .. } => Some(*offset),
            FrameError::TooLarge { .. } => None,
        }
    }
}

#[derive(Debug)]
enum State {
    /// Reading the prefix; holds the octets seen so far.
    Prefix { have: [u8; PREFIX_LEN], len: usize },
    /// Reading a message body of `want` bytes.
    Body { want: usize },
    /// Discarding the body of an undersized frame, already reported.
    Skip { left: usize },
}

/// Incremental decoder for a stream of length-prefixed messages.
#[derive(Debug)]
pub struct FrameDecoder {
    state: State,
    body: BytesMut,
    consumed: u64,
    frame_offset: u64,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameDecoder {
    pub fn new() -> Self {
        FrameDecoder {
            state: State::Prefix {
                have: [0; PREFIX_LEN],
                len: 0,
            },
            body: BytesMut::new(),
            consumed: 0,
            frame_offset: 0,
        }
    }

    /// Total bytes consumed from the stream so far.
    pub fn stream_offset(&self) -> u64 {
        self.consumed
    }

    /// Bytes held for the frame in progress (prefix octets plus body).
    pub fn buffered(&self) -> usize {
        match &self.state {
            State::Prefix { len, .. } => *len,
            State::Body { .. } => PREFIX_LEN + self.body.len(),
            State::Skip { .. } => 0,
        }
    }

    /// Consumes bytes from `input` up to the end of the next event: a complete
    /// frame, or an error for an empty or undersized prefix (whose body is then
    /// skipped, so decoding can go on). Returns the number of bytes consumed;
    /// call again with the rest of the input until it returns `(0, None)` or all
    /// input is consumed.
    pub fn step(&mut self, input: &[u8]) -> (usize, Option<Result<Frame, FrameError>>) {
        let mut used = 0;
        loop {
            let rest = input.get(used..).unwrap_or_default();
            match &mut self.state {
                State::Prefix { have, len } => {
                    let Some(&byte) = rest.first() else {
                        break;
                    };
                    if *len == 0 {
                        self.frame_offset = self.consumed;
                    }
                    if let Some(slot) = have.get_mut(*len) {
                        *slot = byte;
                    }
                    *len += 1;
                    used += 1;
                    self.consumed += 1;
                    if *len < PREFIX_LEN {
                        continue;
                    }
                    let declared = usize::from(u16::from_be_bytes(*have));
                    let offset = self.frame_offset;
                    if declared == 0 {
                        self.state = State::Prefix {
                            have: [0; PREFIX_LEN],
                            len: 0,
                        };
                        return (used, Some(Err(FrameError::Empty { offset })));
                    }
                    if declared < MIN_MESSAGE_LEN {
                        self.state = State::Skip { left: declared };
                        return (
                            used,
                            Some(Err(FrameError::Undersized {
                                offset,
                                len: declared,
                            })),
                        );
                    }
                    self.body.reserve(declared);
                    self.state = State::Body { want: declared };
                }
                State::Body { want } => {
                    let need = *want - self.body.len();
                    let take = need.min(rest.len());
                    if take == 0 {
                        break;
                    }
                    self.body
                        .extend_from_slice(rest.get(..take).unwrap_or_default());
                    used += take;
                    self.consumed += take as u64;
                    if self.body.len() < *want {
                        break;
                    }
                    let payload = self.body.split().freeze();
                    self.state = State::Prefix {
                        have: [0; PREFIX_LEN],
                        len: 0,
                    };
                    let frame = Frame {
                        offset: self.frame_offset,
                        payload,
                    };
                    return (used, Some(Ok(frame)));
                }
                State::Skip { left } => {
                    let take = (*left).min(rest.len());
                    if take == 0 && *left > 0 {
                        break;
                    }
                    *left -= take;
                    used += take;
                    self.consumed += take as u64;
                    if *left == 0 {
                        self.state = State::Prefix {
                            have: [0; PREFIX_LEN],
                            len: 0,
                        };
                    }
                }
            }
        }
        (used, None)
    }

    /// The next event in `read` (bytes read and not framed yet), consuming
    /// `read` up to its end. A frame that lies whole in `read` is split off
    /// without copying and shares `read`'s allocation; a frame begun in an
    /// earlier read is completed by copying, as [`step`](Self::step) does.
    pub fn next_from(&mut self, read: &mut BytesMut) -> Option<Result<Frame, FrameError>> {
        loop {
            if matches!(self.state, State::Prefix { len: 0, .. }) {
                if let Some(frame) = self.split_whole(read) {
                    return Some(Ok(frame));
                }
            }
            if read.is_empty() {
                return None;
            }
            let (used, event) = self.step(read);
            read.advance(used);
            if event.is_some() {
                return event;
            }
            if used == 0 {
                return None;
            }
        }
    }

    /// A well-sized frame at the start of `read` that `read` holds whole.
    fn split_whole(&mut self, read: &mut BytesMut) -> Option<Frame> {
        let prefix = read.get(..PREFIX_LEN)?;
        let declared = usize::from(u16::from_be_bytes([*prefix.first()?, *prefix.get(1)?]));
        if declared < MIN_MESSAGE_LEN || read.len() < PREFIX_LEN + declared {
            return None;
        }
        let offset = self.consumed;
        read.advance(PREFIX_LEN);
        let payload = read.split_to(declared).freeze();
        self.consumed += (PREFIX_LEN + declared) as u64;
        self.frame_offset = offset;
        Some(Frame { offset, payload })
    }

    /// Every event the bytes of `input` complete, in order.
    pub fn decode<'a>(&'a mut self, input: &'a [u8]) -> Frames<'a> {
        Frames {
            decoder: self,
            input,
        }
    }

    /// Call at end of stream: an error if a frame was left incomplete.
    pub fn finish(&self) -> Result<(), FrameError> {
        match &self.state {
            State::Prefix { len: 0, .. } | State::Skip { .. } => Ok(()),
            State::Prefix { len, .. } => Err(FrameError::TruncatedAtEof {
                offset: self.frame_offset,
                expected: PREFIX_LEN,
                received: *len,
            }),
            State::Body { want } => Err(FrameError::TruncatedAtEof {
                offset: self.frame_offset,
                expected: PREFIX_LEN + want,
                received: PREFIX_LEN + self.body.len(),
            }),
        }
    }
}

/// Iterator over the events one input chunk completes; see [`FrameDecoder::decode`].
pub struct Frames<'a> {
    decoder: &'a mut FrameDecoder,
    input: &'a [u8],
}

impl Iterator for Frames<'_> {
    type Item = Result<Frame, FrameError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.input.is_empty() {
            let (used, event) = self.decoder.step(self.input);
            self.input = self.input.get(used..).unwrap_or_default();
            if event.is_some() {
                return event;
            }
            if used == 0 {
                break;
            }
        }
        None
    }
}

/// Prefixes `message` with its length.
pub fn encode_frame(message: &[u8]) -> Result<Vec<u8>, FrameError> {
    let len =
        u16::try_from(message.len()).map_err(|_| FrameError::TooLarge { len: message.len() })?;
    Ok(encode_frame_with_prefix(len, message))
}

/// Prefixes `message` with `declared`, whatever its real length: for sending a
/// lying prefix on purpose.
pub fn encode_frame_with_prefix(declared: u16, message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(PREFIX_LEN + message.len());
    out.extend_from_slice(&declared.to_be_bytes());
    out.extend_from_slice(message);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(len: usize, fill: u8) -> Vec<u8> {
        vec![fill; len]
    }

    #[test]
    fn one_byte_at_a_time() {
        let mut stream = encode_frame(&message(244, 1)).unwrap();
        stream.extend(encode_frame(&message(300, 2)).unwrap());
        let mut decoder = FrameDecoder::new();
        let mut frames = Vec::new();
        for byte in &stream {
            frames.extend(decoder.decode(std::slice::from_ref(byte)));
        }
        let frames: Vec<Frame> = frames.into_iter().map(Result::unwrap).collect();
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].offset, 0);
        assert_eq!(frames[1].offset, 246);
        assert_eq!(frames[1].payload.len(), 300);
        assert!(decoder.finish().is_ok());
    }

    #[test]
    fn zero_and_undersized_prefixes_are_errors_and_decoding_resumes() {
        let mut stream = vec![0, 0];
        stream.extend(encode_frame_with_prefix(3, &[9, 9, 9]));
        stream.extend(encode_frame(&message(244, 5)).unwrap());
        let mut decoder = FrameDecoder::new();
        let events: Vec<_> = decoder.decode(&stream).collect();
        assert_eq!(events[0], Err(FrameError::Empty { offset: 0 }));
        assert_eq!(events[1], Err(FrameError::Undersized { offset: 2, len: 3 }));
        assert_eq!(events[2].as_ref().map(|f| f.offset), Ok(7));
        assert_eq!(events.len(), 3);
    }

    #[test]
    fn truncated_stream_reports_what_was_missing() {
        let stream = encode_frame_with_prefix(65_535, &message(10, 0));
        let mut decoder = FrameDecoder::new();
        assert_eq!(decoder.decode(&stream).count(), 0);
        assert_eq!(decoder.buffered(), 12);
        assert_eq!(
            decoder.finish(),
            Err(FrameError::TruncatedAtEof {
                offset: 0,
                expected: 65_537,
                received: 12
            })
        );
    }

    #[test]
    fn a_frame_whole_in_a_read_shares_its_octets_and_one_split_across_reads_is_completed() {
        let first = encode_frame(&message(244, 1)).unwrap();
        let second = encode_frame(&message(300, 2)).unwrap();
        let mut read = BytesMut::new();
        read.extend_from_slice(&first);
        read.extend_from_slice(&second[..100]);
        let start = read.as_ptr() as usize;
        let mut decoder = FrameDecoder::new();
        let frame = decoder.next_from(&mut read).unwrap().unwrap();
        assert_eq!(frame.payload.as_ptr() as usize, start + PREFIX_LEN);
        assert_eq!(frame.payload.len(), 244);
        assert!(decoder.next_from(&mut read).is_none());
        assert!(read.is_empty());
        read.extend_from_slice(&second[100..]);
        let frame = decoder.next_from(&mut read).unwrap().unwrap();
        assert_eq!((frame.offset, frame.payload.len()), (246, 300));
        assert!(frame.payload.iter().all(|b| *b == 2));
        assert_eq!(decoder.stream_offset(), 548);
    }

    #[test]
    fn too_large_message_is_refused() {
        assert_eq!(
            encode_frame(&message(65_536, 0)),
            Err(FrameError::TooLarge { len: 65_536 })
        );
    }
}
