//! The receive side of one harness connection: the socket, its read buffers,
//! framing and decoding, and reading ahead on a task of the runtime while the
//! messages read before are judged. One receive path for every target and
//! runtime: what the snapshots of the embedded reference exercise is what a
//! real target gets.
//!
//! Every byte read is recorded in the connection's [`Tap`] as it is taken
//! from the read-ahead task. Messages share the read buffer they arrived in;
//! the task reads into a buffer again only once nothing shares it, so what a
//! step keeps never sees a buffer reused.

use super::read_ahead::{Chunk, ReadAhead, ReadSize};
use super::transport::{BoxedIo, Prefixed};
use crate::capture::tap::{Closed, Tap};
use crate::wire::{FrameDecoder, Received};
use bytes::BytesMut;
use std::collections::VecDeque;
use std::rc::Rc;
use tokio::time::Instant;

/// What reading a connection produced.
#[derive(Debug)]
pub enum StreamEvent {
    Message(Rc<Received>),
    /// Bytes that are not a DHCP message, or a broken length prefix.
    Garbage(String),
    Closed(Closed),
    Timeout,
}

/// Messages framed last that a later message may decode into: the one a
/// step holds as the latest stays, the one before is free by then.
const RECENT: usize = 2;

pub struct StreamReader {
    /// `None` while the read-ahead task holds it, and once dropped.
    stream: Option<BoxedIo>,
    ahead: Option<ReadAhead>,
    size: ReadSize,
    /// Bytes read and not framed yet. Messages are framed and decoded one
    /// at a time as they are taken, each just before it is judged.
    unframed: BytesMut,
    decoder: FrameDecoder,
    /// Events framed out of bytes whose buffer had to go (a close, a change
    /// of stream), not taken yet.
    framed: VecDeque<StreamEvent>,
    /// Messages framed last, newest at the back: a message decodes into the
    /// allocation of the oldest once nothing else holds it.
    recent: VecDeque<Rc<Received>>,
    closed: Option<Closed>,
    /// What arrives is not DHCP (a TLS handshake failed on the stream): it
    /// is read and dropped, unrecorded; only the close counts.
    discarding: bool,
    /// When the bytes of the events taken next were read.
    read_at: Instant,
}

impl StreamReader {
    pub fn new(stream: BoxedIo) -> Self {
        StreamReader::with(Some(stream), None)
    }

    /// A reader of a connection the peer refused: it was reset before it
    /// carried anything.
    pub fn refused() -> Self {
        StreamReader::with(None, Some(Closed::Rst))
    }

    fn with(stream: Option<BoxedIo>, closed: Option<Closed>) -> Self {
        StreamReader {
            stream,
            ahead: None,
            size: ReadSize::default(),
            unframed: BytesMut::new(),
            decoder: FrameDecoder::new(),
            framed: VecDeque::new(),
            recent: VecDeque::new(),
            closed,
            discarding: false,
            read_at: Instant::now(),
        }
    }

    /// When the bytes of the event taken last were read (or the read that
    /// timed out gave up).
    pub fn read_at(&self) -> Instant {
        self.read_at
    }

    /// How the peer closed, once it has.
    pub fn closed(&self) -> Option<Closed> {
        self.closed
    }

    /// The next event in the bytes already read, without waiting.
    pub fn next_read(&mut self) -> Option<StreamEvent> {
        if let Some(event) = self.framed.pop_front() {
            return Some(event);
        }
        self.frame_next()
    }

    /// The next event, reading until `deadline` at most; bytes read are
    /// recorded in `tap`.
    pub async fn next(&mut self, deadline: Instant, tap: &mut Tap) -> StreamEvent {
        loop {
            if let Some(event) = self.next_read() {
                return event;
            }
            if let Some(how) = self.closed {
                return StreamEvent::Closed(how);
            }
            let ahead = match &mut self.ahead {
                Some(ahead) => ahead,
                None => {
                    let Some(stream) = self.stream.take() else {
                        return StreamEvent::Closed(Closed::Fin);
                    };
                    self.ahead.insert(ReadAhead::start(stream, self.size))
                }
            };
            let Some(next) = super::deadline::by(deadline, ahead.next()).await else {
                self.read_at = Instant::now();
                return StreamEvent::Timeout;
            };
            match next {
                Some(chunk) => self.take_chunk(chunk, tap),
                // Only a panic ends the task unasked: the stream went with it.
                None => {
                    self.settle(tap).await;
                    self.peer_closed(Closed::Rst, Instant::now(), tap);
                }
            }
        }
    }

    /// Stops reading ahead, if the task runs: the stream is back in place
    /// and every byte the task read is taken, as if read here. Nothing reads
    /// the socket until the next [`next`](Self::next).
    pub async fn settle(&mut self, tap: &mut Tap) {
        let Some(ahead) = self.ahead.take() else {
            return;
        };
        let stopped = ahead.stop().await;
        self.size = stopped.size;
        self.stream = stopped.stream;
        for chunk in stopped.rest {
            self.take_chunk(chunk, tap);
        }
    }

    /// The stream, to write to (reading ahead stopped first).
    pub async fn stream(&mut self, tap: &mut Tap) -> Option<&mut BoxedIo> {
        self.settle(tap).await;
        self.stream.as_mut()
    }

    /// Takes the stream out (for a TLS handshake), with any bytes read and
    /// not framed yet in front of it, so a handshake sent right behind the
    /// last message is not lost. Put it back with one of the `resume` calls.
    pub async fn take_stream(&mut self, tap: &mut Tap) -> Option<BoxedIo> {
        self.settle(tap).await;
        let stream = self.stream.take()?;
        if self.unframed.is_empty() {
            return Some(stream);
        }
        let head = std::mem::take(&mut self.unframed).to_vec();
        Some(Box::new(Prefixed::new(head, stream)))
    }

    /// Puts back the stream taken, carrying on where it was.
    pub fn resume(&mut self, stream: BoxedIo) {
        self.stream = Some(stream);
    }

    /// Puts back the TLS stream over the one taken: its messages start at a
    /// frame boundary of their own.
    pub fn resume_tls(&mut self, stream: BoxedIo) {
        self.stream = Some(stream);
        self.decoder = FrameDecoder::new();
    }

    /// Puts back a stream whose bytes are no longer DHCP (a failed TLS
    /// handshake): they are read and dropped until the close.
    pub fn resume_discarding(&mut self, stream: BoxedIo) {
        self.stream = Some(stream);
        self.discarding = true;
    }

    /// A frame was no message: the boundaries after it are guesses. What
    /// was read and not framed is dropped, and later bytes are read and
    /// dropped unrecorded until the close (which still comes as an event).
    pub fn give_up_framing(&mut self) {
        self.unframed.clear();
        self.framed.retain(|e| matches!(e, StreamEvent::Closed(_)));
        self.discarding = true;
    }

    /// Drops the stream (closing it); false when it was already gone.
    pub async fn drop_stream(&mut self, tap: &mut Tap) -> bool {
        self.settle(tap).await;
        self.release_buffer();
        self.stream.take().is_some()
    }

    /// Frames what is left and lets the read buffer go (a connection that
    /// will not be read again: a scenario may open thousands).
    pub fn release_buffer(&mut self) {
        self.frame_rest();
        self.unframed = BytesMut::new();
        // What stays holds its messages' octets only, not the buffers they
        // arrived in.
        self.recent.clear();
        for event in &mut self.framed {
            if let StreamEvent::Message(msg) = event {
                *msg = Rc::new(msg.detached());
            }
        }
    }

    fn frame_next(&mut self) -> Option<StreamEvent> {
        let frame = match self.decoder.next_from(&mut self.unframed)? {
            Ok(frame) => frame,
            Err(e) => return Some(StreamEvent::Garbage(e.to_string())),
        };
        let spare = if self.recent.len() == RECENT {
            self.recent.pop_front()
        } else {
            None
        };
        Some(match Received::decode_shared(frame.payload, spare) {
            Ok(msg) => {
                self.recent.push_back(Rc::clone(&msg));
                StreamEvent::Message(msg)
            }
            Err(e) => StreamEvent::Garbage(format!("frame at stream offset {}: {e}", frame.offset)),
        })
    }

    /// Frames every event left in the bytes read, for a buffer that is
    /// about to go or a stream that is about to change.
    fn frame_rest(&mut self) {
        while let Some(event) = self.frame_next() {
            let lost = matches!(event, StreamEvent::Garbage(_));
            self.framed.push_back(event);
            // Past a frame that is no message the boundaries are guesses
            // (a million one-byte frames would be a million events): the
            // rest stays in the capture and is not framed.
            if lost {
                self.unframed.clear();
                break;
            }
        }
    }

    fn take_chunk(&mut self, chunk: Chunk, tap: &mut Tap) {
        self.read_at = chunk.at();
        match chunk {
            Chunk::Bytes(_, _) if self.discarding => {}
            Chunk::Bytes(bytes, at) => {
                tap.theirs(&bytes, at);
                if self.unframed.is_empty() {
                    self.unframed = bytes;
                } else {
                    self.unframed.extend_from_slice(&bytes);
                }
            }
            Chunk::End(at) => self.peer_closed(Closed::Fin, at, tap),
            Chunk::Failed(at) => self.peer_closed(Closed::Rst, at, tap),
            Chunk::EndWithoutCloseNotify(at) => {
                self.peer_closed(Closed::FinWithoutCloseNotify, at, tap)
            }
        }
    }

    /// The peer closed the connection while the stream was out of the
    /// reader (a TLS handshake it broke off): the stream is gone, reads
    /// see the close.
    pub fn closed_while_out(&mut self, how: Closed, tap: &mut Tap) {
        self.stream = None;
        self.peer_closed(how, Instant::now(), tap);
    }

    fn peer_closed(&mut self, how: Closed, at: Instant, tap: &mut Tap) {
        self.release_buffer();
        if self.closed.is_none() {
            self.closed = Some(how);
            tap.closed(false, how, at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::pcap::TapEvent;
    use crate::wire::framing::encode_frame;
    use crate::wire::{MessageBuilder, MessageType};
    use std::io;
    use std::pin::Pin;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;
    use std::task::{Context, Poll};
    use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

    fn tap(budget: usize) -> Tap {
        Tap::new(
            Instant::now(),
            true,
            Arc::default(),
            Arc::new(AtomicUsize::new(budget)),
        )
    }

    /// A peer whose bytes are always ready: the same frame, forever.
    struct Firehose {
        frame: Vec<u8>,
        at: usize,
    }

    impl AsyncRead for Firehose {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            while buf.remaining() > 0 {
                let at = self.at;
                let rest = self.frame.get(at..).unwrap_or_default();
                let n = rest.len().min(buf.remaining());
                buf.put_slice(rest.get(..n).unwrap_or_default());
                self.at = (at + n) % self.frame.len();
            }
            Poll::Ready(Ok(()))
        }
    }

    impl AsyncWrite for Firehose {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            b: &[u8],
        ) -> Poll<io::Result<usize>> {
            Poll::Ready(Ok(b.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// Every byte `tap` recorded from the server side, in order.
    fn from_the_server(tap: Tap) -> Vec<u8> {
        tap.into_records()
            .into_iter()
            .filter_map(|r| match r.event {
                TapEvent::FromServer(data) => Some(data),
                _ => None,
            })
            .flatten()
            .collect()
    }

    fn frames(xids: std::ops::RangeInclusive<u32>) -> Vec<u8> {
        let mut bytes = Vec::new();
        for xid in xids {
            let msg = MessageBuilder::reply(MessageType::LeaseActive, xid).build();
            bytes.extend(encode_frame(&msg.encode()).unwrap_or_default());
        }
        bytes
    }

    /// Takes messages from a peer that never pauses until a deadline 20 ms
    /// away ends them; how many came.
    async fn messages_until_timeout(reader: &mut StreamReader, tap: &mut Tap) -> u64 {
        let deadline = Instant::now() + std::time::Duration::from_millis(20);
        // The peer is always ready, so only the deadline check can end this;
        // the bound turns a hang into a failure.
        let mut messages = 0u64;
        loop {
            match reader.next(deadline, tap).await {
                StreamEvent::Timeout => return messages,
                StreamEvent::Message(_) => messages += 1,
                other => panic!("unexpected {other:?}"),
            }
            assert!(messages < 5_000_000, "no timeout after {messages} messages");
        }
    }

    /// A reader of a peer that never pauses meets a 20 ms deadline, then
    /// settles with the stream back in place.
    async fn a_firehose_meets_the_deadline() {
        let frame = frames(1..=1);
        let mut reader = StreamReader::new(Box::new(Firehose { frame, at: 0 }));
        let mut tap = tap(0);
        assert!(messages_until_timeout(&mut reader, &mut tap).await > 0);
        reader.settle(&mut tap).await;
        assert!(reader.stream.is_some());
    }

    #[tokio::test]
    async fn a_peer_that_never_pauses_still_meets_the_deadline() {
        a_firehose_meets_the_deadline().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_other_workers_a_peer_that_never_pauses_still_meets_the_deadline() {
        a_firehose_meets_the_deadline().await;
    }

    #[tokio::test]
    async fn messages_read_together_come_one_at_a_time_then_the_close() {
        let (mut peer, ours) = tokio::io::duplex(4096);
        let mut bytes = frames(1..=3);
        // A length prefix of 0 after them is reported where it is.
        let empty_at = bytes.len();
        bytes.extend([0, 0]);
        peer.write_all(&bytes).await.unwrap();
        drop(peer);
        let mut reader = StreamReader::new(Box::new(ours));
        let mut tap = tap(1 << 20);
        let deadline = Instant::now() + std::time::Duration::from_secs(5);
        let mut seen = Vec::new();
        for _ in 0..5 {
            seen.push(match reader.next(deadline, &mut tap).await {
                StreamEvent::Message(msg) => format!("message {}", msg.xid()),
                StreamEvent::Garbage(text) => format!("garbage {text}"),
                StreamEvent::Closed(how) => format!("closed {how}"),
                StreamEvent::Timeout => "timeout".into(),
            });
        }
        let empty = format!("garbage length prefix at stream offset {empty_at} is 0");
        let want = [
            "message 1",
            "message 2",
            "message 3",
            empty.as_str(),
            "closed FIN",
        ];
        assert_eq!(seen, want);
        let tapped = from_the_server(tap);
        assert_eq!(tapped, bytes);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn settling_between_reads_loses_and_repeats_no_message() {
        let (mut peer, ours) = tokio::io::duplex(8 * 1024);
        let bytes = frames(1..=3000);
        let sent = bytes.clone();
        let writer = tokio::spawn(async move {
            peer.write_all(&bytes).await?;
            peer.shutdown().await
        });
        let mut reader = StreamReader::new(Box::new(ours));
        let mut tap = tap(1 << 30);
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        let mut xids = Vec::new();
        loop {
            match reader.next(deadline, &mut tap).await {
                StreamEvent::Message(msg) => xids.push(msg.xid()),
                StreamEvent::Closed(Closed::Fin) => break,
                other => panic!("unexpected {other:?}"),
            }
            if xids.len() % 700 == 0 {
                // As a step ends: the task stops and the stream is back.
                reader.settle(&mut tap).await;
                assert!(reader.stream.is_some(), "the stream is back");
            }
        }
        assert_eq!(xids, (1..=3000).collect::<Vec<u32>>());
        let tapped = from_the_server(tap);
        assert_eq!(tapped, sent);
        assert!(matches!(writer.await, Ok(Ok(()))));
    }

    #[tokio::test]
    async fn a_stream_taken_for_tls_keeps_the_bytes_read_behind_the_last_message() {
        let (mut peer, ours) = tokio::io::duplex(4096);
        let mut bytes = frames(1..=1);
        bytes.extend([0x16, 0x03, 0x01]);
        peer.write_all(&bytes).await.unwrap();
        let mut reader = StreamReader::new(Box::new(ours));
        let mut tap = tap(1 << 20);
        let deadline = Instant::now() + std::time::Duration::from_secs(5);
        assert!(matches!(
            reader.next(deadline, &mut tap).await,
            StreamEvent::Message(_)
        ));
        let Some(mut stream) = reader.take_stream(&mut tap).await else {
            panic!("no stream");
        };
        let mut head = [0u8; 3];
        tokio::io::AsyncReadExt::read_exact(&mut stream, &mut head)
            .await
            .unwrap();
        assert_eq!(head, [0x16, 0x03, 0x01]);
    }
}
