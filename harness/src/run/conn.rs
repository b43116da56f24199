//! One harness-side connection: framed messages in and out, close detection
//! (FIN or RST), and a record of everything received.

use super::read_ahead::{Chunk, ReadAhead, ReadSize, Recycled};
use super::reported::{Reported, ReportedAs};
use super::transcript::ConnId;
use crate::capture::pcap::{TapEvent, TapRecord};
use crate::net::transport::BoxedIo;
use crate::wire::{FrameDecoder, Indexed, MessageType, Received, StatusCode};
use bytes::BytesMut;
use std::collections::{HashSet, VecDeque};
use std::io;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

/// Bulk query xids a connection keeps (a requestor flooding queries is not
/// answered past this).
pub const KEPT_QUERY_XIDS: usize = 1024;

/// What one read of the connection came to.
enum Read {
    /// Bytes, a close or a failure, taken into the connection.
    Done,
    Timeout,
    /// The stream is out (taken for a TLS upgrade, or dropped).
    NoStream,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    Fin,
    Rst,
}

/// What reading a connection produced.
#[derive(Debug)]
pub enum Incoming {
    Message(Rc<Received>),
    /// Bytes that are not a DHCP message, or a broken length prefix.
    Garbage(String),
    Closed(Closed),
    Timeout,
}

pub struct HarnessConn {
    /// The scenario's name for it.
    pub name: String,
    /// The id transcript lines carry for it, once one named it.
    pub line_id: Option<ConnId>,
    stream: Option<BoxedIo>,
    /// The bytes read and not framed yet: messages are framed and decoded
    /// one at a time as they are taken, each just before it is judged. A
    /// message that arrived whole in one read keeps sharing its octets.
    read_buf: BytesMut,
    read_size: ReadSize,
    /// The buffers of the connection's own reads, to read into again.
    buffers: Recycled,
    /// Reads go to a task on another worker while messages are judged
    /// (set by `expect` on a multi-threaded runtime).
    pub reads_ahead: bool,
    /// The task, once started; it holds the stream while it runs.
    ahead: Option<ReadAhead>,
    /// When the bytes of the events taken next were read.
    pub read_at: Instant,
    decoder: FrameDecoder,
    /// Events put back with `unread` (with the transcript entry already
    /// written for them), and events framed before the read buffer went.
    pending: VecDeque<(Incoming, Option<usize>)>,
    pub closed: Option<Closed>,
    pub paused: bool,
    pub write_closed: bool,
    /// The latest message received.
    pub last_received: Option<Rc<Received>>,
    /// The message received before it, whose allocation the next message
    /// decodes into once no step holds it.
    spare: Option<Rc<Received>>,
    /// Status codes of every message received.
    pub statuses: HashSet<StatusCode>,
    /// xids of the bulk queries received (harness as server), in order, at
    /// most [`KEPT_QUERY_XIDS`].
    pub bulk_query_xids: Vec<u32>,
    /// The last message an `expect` matched; `None` when the last `expect`
    /// matched nothing.
    pub last_matched: Option<Rc<Received>>,
    /// An `expect` ran on this connection.
    pub any_expect: bool,
    pub opened_at: Instant,
    /// Every byte and close, for the pcap.
    pub tap: Vec<TapRecord>,
    /// The harness is the TCP client of this connection.
    pub harness_is_client: bool,
    /// The stream was upgraded to TLS; later tap bytes are decrypted.
    pub tls: bool,
    /// A TLS handshake failed on the stream: what arrives is not DHCP and is
    /// discarded; only the close counts.
    pub opaque: bool,
    /// Closing this connection sends RST (SO_LINGER 0).
    pub resets: bool,
    /// A DHCPACTIVELEASEQUERY was sent on this connection.
    pub active_query_sent: bool,
    /// xids of the messages the harness sent on this connection.
    pub sent_xids: Vec<u32>,
    /// The parameter request list of the last query sent.
    pub requested: Vec<u8>,
    /// (xid, ciaddr) of the binding replies judged so far, with the types
    /// they came as.
    pub reported: Reported,
    /// xids of the requests judged so far (harness as server).
    pub request_xids: HashSet<u32>,
    /// An active query was judged on this connection (harness as server).
    pub active_query_received: bool,
    /// Order of the opening among all tap records of the run.
    pub opened_seq: u64,
    start: Instant,
    order: Arc<AtomicU64>,
    /// Bytes the pcap may still record, shared by a scenario's connections.
    budget: Arc<AtomicUsize>,
    /// Traffic went unrecorded because the budget ran out.
    pub tap_truncated: bool,
}

impl HarnessConn {
    /// A connection opened now; `start` is when the scenario started.
    pub fn new(
        name: &str,
        stream: BoxedIo,
        start: Instant,
        harness_is_client: bool,
        order: Arc<AtomicU64>,
        budget: Arc<AtomicUsize>,
    ) -> Self {
        let opened_seq = order.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        HarnessConn {
            name: name.to_string(),
            line_id: None,
            stream: Some(stream),
            read_buf: BytesMut::new(),
            read_size: ReadSize::default(),
            buffers: Recycled::default(),
            reads_ahead: false,
            ahead: None,
            read_at: now,
            decoder: FrameDecoder::new(),
            pending: VecDeque::new(),
            closed: None,
            paused: false,
            write_closed: false,
            last_received: None,
            spare: None,
            statuses: HashSet::new(),
            bulk_query_xids: Vec::new(),
            last_matched: None,
            any_expect: false,
            opened_at: now,
            tap: Vec::new(),
            harness_is_client,
            tls: false,
            opaque: false,
            resets: false,
            active_query_sent: false,
            sent_xids: Vec::new(),
            requested: Vec::new(),
            reported: Reported::default(),
            request_xids: HashSet::new(),
            active_query_received: false,
            opened_seq,
            start,
            order,
            budget,
            tap_truncated: false,
        }
    }

    fn record(&mut self, event: TapEvent) {
        if let TapEvent::FromClient(data) | TapEvent::FromServer(data) = &event {
            if !self.granted(data.len()) {
                return;
            }
        }
        self.push_tap(event);
    }

    /// Takes `len` bytes from the pcap budget; false (and the capture marked
    /// truncated) when it has run out.
    fn granted(&mut self, len: usize) -> bool {
        let granted = self
            .budget
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(len)
            })
            .is_ok();
        self.tap_truncated |= !granted;
        granted
    }

    /// Records bytes the peer sent, copied only while the budget lasts.
    fn record_theirs(&mut self, bytes: &[u8], read_at: Instant) {
        if self.granted(bytes.len()) {
            let event = self.theirs(bytes.to_vec());
            self.push_tap_at(event, read_at);
        }
    }

    fn push_tap(&mut self, event: TapEvent) {
        self.push_tap_at(event, Instant::now());
    }

    fn push_tap_at(&mut self, event: TapEvent, at: Instant) {
        self.tap.push(TapRecord {
            at: at.saturating_duration_since(self.start),
            seq: self.order.fetch_add(1, Ordering::Relaxed),
            event,
        });
    }

    fn ours(&self, bytes: Vec<u8>) -> TapEvent {
        if self.harness_is_client {
            TapEvent::FromClient(bytes)
        } else {
            TapEvent::FromServer(bytes)
        }
    }

    fn theirs(&self, bytes: Vec<u8>) -> TapEvent {
        if self.harness_is_client {
            TapEvent::FromServer(bytes)
        } else {
            TapEvent::FromClient(bytes)
        }
    }

    fn close_event(&self, ours: bool, kind: Closed) -> TapEvent {
        match (ours == self.harness_is_client, kind) {
            (true, Closed::Fin) => TapEvent::ClientFin,
            (true, Closed::Rst) => TapEvent::ClientRst,
            (false, Closed::Fin) => TapEvent::ServerFin,
            (false, Closed::Rst) => TapEvent::ServerRst,
        }
    }

    /// Frees the read buffer of a connection that will not be read again
    /// (a scenario may open thousands).
    pub fn release_read_buffer(&mut self) {
        self.frame_rest();
        self.read_buf = BytesMut::new();
        self.buffers = Recycled::default();
        // What stays of the connection holds its messages' octets only, not
        // the read buffers they arrived in.
        self.copy_out_kept();
    }

    /// Copies the messages the connection keeps out of the read buffers
    /// they arrived in, so that those buffers are free once the messages
    /// nobody keeps are dropped.
    fn copy_out_kept(&mut self) {
        self.spare = None;
        let kept = [&mut self.last_received, &mut self.last_matched];
        for msg in kept.into_iter().flatten() {
            *msg = Rc::new(msg.detached());
        }
        for (event, _) in &mut self.pending {
            if let Incoming::Message(msg) = event {
                *msg = Rc::new(msg.detached());
            }
        }
    }

    /// The next event in the bytes read and not framed yet.
    #[inline]
    fn frame_next(&mut self) -> Option<Incoming> {
        Some(match self.decoder.next_from(&mut self.read_buf)? {
            Ok(frame) => match Received::decode_shared(frame.payload, self.spare.take()) {
                Ok(msg) => Incoming::Message(msg),
                Err(e) => {
                    Incoming::Garbage(format!("frame at stream offset {}: {e}", frame.offset))
                }
            },
            Err(e) => Incoming::Garbage(e.to_string()),
        })
    }

    /// Frames every event left in the bytes read, for a read buffer that is
    /// about to go or a stream that is about to change.
    fn frame_rest(&mut self) {
        while let Some(event) = self.frame_next() {
            self.pending.push_back((event, None));
        }
    }

    fn peer_closed(&mut self, kind: Closed) {
        self.release_read_buffer();
        if self.closed.is_none() {
            self.closed = Some(kind);
            let event = self.close_event(false, kind);
            self.record(event);
        }
    }

    /// Keeps what later steps ask about a received message, not the message.
    fn remember(&mut self, received: &Rc<Received>) {
        let msg: Indexed<'_> = received;
        if let Ok(Some(status)) = msg.status() {
            self.statuses.insert(status.code);
        }
        let is_bulk_query = msg.is(MessageType::BulkLeaseQuery);
        let xid = msg.xid();
        if is_bulk_query
            && self.bulk_query_xids.len() < KEPT_QUERY_XIDS
            && !self.bulk_query_xids.contains(&xid)
        {
            self.bulk_query_xids.push(xid);
        }
        self.spare = self.last_received.replace(Rc::clone(received));
    }

    /// Records a binding reply; true when its (xid, ciaddr) came before.
    pub fn note_binding(&mut self, msg: Indexed<'_>) -> bool {
        let Some(kind) = msg.kind().and_then(ReportedAs::of) else {
            return false;
        };
        self.reported.note(msg.xid(), msg.ciaddr(), kind)
    }

    /// Takes the stream out (for a TLS upgrade); put it back with [`replace`](Self::replace).
    pub fn take_stream(&mut self) -> Option<BoxedIo> {
        self.stream.take()
    }

    /// Puts the stream back as it was (no TLS happened on it).
    pub fn replace_plain(&mut self, stream: BoxedIo) {
        self.stream = Some(stream);
    }

    /// Puts the stream back after a failed TLS handshake.
    pub fn replace_opaque(&mut self, stream: BoxedIo) {
        self.stream = Some(stream);
        self.opaque = true;
    }

    /// Puts the stream back after a successful TLS upgrade.
    pub fn replace(&mut self, stream: BoxedIo) {
        self.stream = Some(stream);
        self.frame_rest();
        self.decoder = FrameDecoder::new();
        self.tls = true;
    }

    pub async fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        let event = self.ours(bytes.to_vec());
        self.record(event);
        let stream = self
            .stream
            .as_mut()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))?;
        stream.write_all(bytes).await?;
        stream.flush().await
    }

    pub async fn shutdown_write(&mut self) {
        if let Some(s) = self.stream.as_mut() {
            let _ = s.shutdown().await;
        }
        if !self.write_closed {
            let event = self.close_event(true, Closed::Fin);
            self.record(event);
        }
        self.write_closed = true;
    }

    pub fn drop_stream(&mut self) {
        self.release_read_buffer();
        if self.stream.take().is_some() && !self.write_closed {
            let kind = if self.resets {
                Closed::Rst
            } else {
                Closed::Fin
            };
            let event = self.close_event(true, kind);
            self.record(event);
            self.write_closed = true;
        }
        self.closed.get_or_insert(Closed::Fin);
    }

    /// Puts an event back so the next read returns it first; `frame` is the
    /// transcript entry already written for it.
    pub fn unread(&mut self, event: Incoming, frame: Option<usize>) {
        self.pending.push_front((event, frame));
    }

    /// The next event already read, without waiting (most messages of a
    /// stream arrive several to a read).
    #[inline]
    pub fn next_read(&mut self) -> Option<(Incoming, Option<usize>)> {
        let event = match self.pending.pop_front() {
            Some(event) => event,
            None => (self.frame_next()?, None),
        };
        if let (Incoming::Message(msg), None) = &event {
            self.remember(msg);
        }
        Some(event)
    }

    /// The next event, waiting until `deadline` at most, with its transcript
    /// entry when it was read before and put back.
    pub async fn next(&mut self, deadline: Instant) -> (Incoming, Option<usize>) {
        loop {
            if let Some(event) = self.next_read() {
                return event;
            }
            if let Some(kind) = self.closed {
                return (Incoming::Closed(kind), None);
            }
            let read = if self.reads_ahead && !self.opaque {
                self.take_read_ahead(deadline).await
            } else {
                self.read(deadline).await
            };
            match read {
                Read::Done => {}
                Read::Timeout => return (Incoming::Timeout, None),
                Read::NoStream => return (Incoming::Closed(Closed::Fin), None),
            }
        }
    }

    /// Reads once into the read buffer.
    async fn read(&mut self, deadline: Instant) -> Read {
        // Every byte of the last read is framed by now, and the few messages
        // kept are copied out of its buffer (a copy or two per read): nothing
        // holds that buffer once the read buffer lets go of it, so a stream
        // is read into the memory just read, still in the cache, not into a
        // new allocation each time (and without being zeroed first).
        self.copy_out_kept();
        self.read_buf = BytesMut::new();
        let Some(stream) = self.stream.as_mut() else {
            return Read::NoStream;
        };
        let mut buf = self.buffers.buffer(self.read_size);
        let read = crate::net::deadline::by(deadline, stream.read_buf(&mut buf)).await;
        let at = Instant::now();
        self.buffers.keep(&mut buf);
        let Some(read) = read else {
            self.read_at = at;
            return Read::Timeout;
        };
        let chunk = Chunk::of_read(read, buf, at, &mut self.read_size);
        self.take_chunk(chunk);
        Read::Done
    }

    /// Takes the next chunk of the read-ahead task, starting it first if it
    /// is not running.
    async fn take_read_ahead(&mut self, deadline: Instant) -> Read {
        // The next chunk replaces the read buffer: the messages kept leave
        // it first, so that it is freed.
        self.copy_out_kept();
        let ahead = match &mut self.ahead {
            Some(ahead) => ahead,
            None => {
                let Some(stream) = self.stream.take() else {
                    return Read::NoStream;
                };
                self.ahead.insert(ReadAhead::start(stream, self.read_size))
            }
        };
        let Some(next) = crate::net::deadline::by(deadline, ahead.next()).await else {
            self.read_at = Instant::now();
            return Read::Timeout;
        };
        match next {
            Some(chunk) => self.take_chunk(chunk),
            // Only a panic ends the task unasked: the stream went with it.
            None => {
                self.stop_reading_ahead().await;
                self.peer_closed(Closed::Rst);
            }
        }
        Read::Done
    }

    fn take_chunk(&mut self, chunk: Chunk) {
        self.read_at = chunk.at();
        match chunk {
            Chunk::Bytes(_, _) if self.opaque => {}
            Chunk::Bytes(bytes, at) => {
                self.record_theirs(&bytes, at);
                if self.read_buf.is_empty() {
                    self.read_buf = bytes;
                } else {
                    self.read_buf.extend_from_slice(&bytes);
                }
            }
            Chunk::End(_) => self.peer_closed(Closed::Fin),
            Chunk::Failed(_) => self.peer_closed(Closed::Rst),
        }
    }

    /// Stops the read-ahead task, if one runs: the stream is back in place
    /// and what the task read is in the read buffer, as if read here.
    pub async fn stop_reading_ahead(&mut self) {
        self.reads_ahead = false;
        let Some(ahead) = self.ahead.take() else {
            return;
        };
        let stopped = ahead.stop().await;
        self.read_size = stopped.size;
        self.stream = stopped.stream;
        for chunk in stopped.rest {
            self.take_chunk(chunk);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::framing::encode_frame;
    use crate::wire::MessageBuilder;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

    /// A harness-side connection named "a" over `io`, with `pcap_budget`
    /// bytes of capture.
    fn conn_over(io: BoxedIo, pcap_budget: usize) -> HarnessConn {
        HarnessConn::new(
            "a",
            io,
            Instant::now(),
            true,
            Arc::default(),
            Arc::new(AtomicUsize::new(pcap_budget)),
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

    #[tokio::test]
    async fn a_peer_that_never_pauses_still_meets_the_deadline() {
        let msg = MessageBuilder::reply(MessageType::LeaseActive, 1).build();
        let frame = encode_frame(&msg.encode()).unwrap_or_default();
        let mut conn = conn_over(Box::new(Firehose { frame, at: 0 }), 0);
        assert!(messages_until_timeout(&mut conn).await > 0);
    }

    /// Takes messages from a peer that never pauses until a deadline 20 ms
    /// away ends them; how many came.
    async fn messages_until_timeout(conn: &mut HarnessConn) -> u64 {
        let deadline = Instant::now() + std::time::Duration::from_millis(20);
        // The reader is always ready, so only the deadline check can end this;
        // the bound turns a hang into a failure.
        let mut messages = 0u64;
        loop {
            match conn.next(deadline).await.0 {
                Incoming::Timeout => return messages,
                Incoming::Message(_) => messages += 1,
                other => panic!("unexpected {other:?}"),
            }
            assert!(messages < 5_000_000, "no timeout after {messages} messages");
        }
    }

    #[tokio::test]
    async fn messages_read_together_come_one_at_a_time_then_the_close() {
        let (mut peer, ours) = tokio::io::duplex(4096);
        let mut bytes = Vec::new();
        for xid in 1..=3 {
            let msg = MessageBuilder::reply(MessageType::LeaseActive, xid).build();
            bytes.extend(encode_frame(&msg.encode()).unwrap_or_default());
        }
        // A length prefix of 0 between them is reported where it is.
        let empty_at = bytes.len();
        bytes.extend([0, 0]);
        peer.write_all(&bytes).await.unwrap();
        drop(peer);
        let mut conn = conn_over(Box::new(ours), 1 << 20);
        let deadline = Instant::now() + std::time::Duration::from_secs(5);
        let mut seen = Vec::new();
        for _ in 0..5 {
            let (event, _) = conn.next(deadline).await;
            match &event {
                Incoming::Message(msg) => {
                    seen.push(format!("message {}", msg.xid()));
                    if msg.xid() == 2 && !seen.contains(&"put back".to_string()) {
                        // Put back, it comes again before the third.
                        conn.unread(event, Some(0));
                        seen.push("put back".into());
                    }
                }
                Incoming::Garbage(text) => seen.push(format!("garbage {text}")),
                Incoming::Closed(kind) => seen.push(format!("closed {kind:?}")),
                Incoming::Timeout => seen.push("timeout".into()),
            }
        }
        let empty = format!("garbage length prefix at stream offset {empty_at} is 0");
        let want = [
            "message 1",
            "message 2",
            "put back",
            "message 2",
            "message 3",
            empty.as_str(),
        ];
        assert_eq!(seen, want);
        assert!(matches!(
            conn.next(deadline).await.0,
            Incoming::Closed(Closed::Fin)
        ));
        assert_eq!(conn.last_received.as_ref().map(|m| m.xid()), Some(3));
    }

    /// The bytes the harness-side connection recorded for the pcap.
    fn tapped(conn: &HarnessConn) -> Vec<u8> {
        let mut bytes = Vec::new();
        for record in &conn.tap {
            if let TapEvent::FromServer(data) = &record.event {
                bytes.extend_from_slice(data);
            }
        }
        bytes
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reading_ahead_then_stopping_loses_and_repeats_no_message() {
        let (mut peer, ours) = tokio::io::duplex(8 * 1024);
        let mut bytes = Vec::new();
        for xid in 1..=3000 {
            let msg = MessageBuilder::reply(MessageType::LeaseActive, xid).build();
            bytes.extend(encode_frame(&msg.encode()).unwrap_or_default());
        }
        let sent = bytes.clone();
        let writer = tokio::spawn(async move {
            peer.write_all(&bytes).await?;
            peer.shutdown().await
        });
        let mut conn = conn_over(Box::new(ours), 1 << 30);
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        let mut xids = Vec::new();
        conn.reads_ahead = true;
        while xids.len() < 1000 {
            match conn.next(deadline).await.0 {
                Incoming::Message(msg) => xids.push(msg.xid()),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(conn.stream.is_none(), "the task holds the stream");
        conn.stop_reading_ahead().await;
        assert!(!conn.reads_ahead);
        assert!(conn.stream.is_some(), "the stream is back");
        // The rest comes through plain reads, after what the task had read.
        loop {
            match conn.next(deadline).await.0 {
                Incoming::Message(msg) => xids.push(msg.xid()),
                Incoming::Closed(Closed::Fin) => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(xids, (1..=3000).collect::<Vec<u32>>());
        assert_eq!(tapped(&conn), sent);
        assert!(matches!(writer.await, Ok(Ok(()))));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reading_ahead_from_a_peer_that_never_pauses_meets_the_deadline() {
        let msg = MessageBuilder::reply(MessageType::LeaseActive, 1).build();
        let frame = encode_frame(&msg.encode()).unwrap_or_default();
        let mut conn = conn_over(Box::new(Firehose { frame, at: 0 }), 0);
        conn.reads_ahead = true;
        assert!(messages_until_timeout(&mut conn).await > 0);
        conn.stop_reading_ahead().await;
        assert!(conn.stream.is_some());
    }
}
