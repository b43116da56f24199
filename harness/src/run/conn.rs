//! One harness-side connection as steps see it: its stream reader, what it
//! records for the pcap, the judge of what it carries, and the state steps
//! leave on it.

use super::peer::Peer;
use super::transcript::ConnId;
use crate::capture::pcap::TapRecord;
use crate::capture::tap::{Closed, Tap, TappedIo, WireTap};
use crate::net::stream_reader::{StreamEvent, StreamReader};
use crate::net::transport::BoxedIo;
use crate::scenario::model::Role;
use crate::wire::Received;
use std::collections::VecDeque;
use std::io;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

pub struct HarnessConn {
    /// The scenario's name for it.
    pub name: String,
    /// The id transcript lines carry for it, once one named it.
    pub line_id: Option<ConnId>,
    reader: StreamReader,
    pub tap: Tap,
    pub peer: Peer,
    /// Events put back with `unread`, with the transcript entry already
    /// written for them.
    unread: VecDeque<(StreamEvent, Option<usize>)>,
    pub paused: bool,
    pub write_closed: bool,
    /// The last message an `expect` matched and when it arrived; `None` when
    /// the last `expect` matched nothing.
    pub last_matched: Option<(Rc<Received>, Instant)>,
    /// An `expect` ran on this connection.
    pub any_expect: bool,
    pub opened_at: Instant,
    /// When the harness last sent a query on it.
    pub asked_at: Option<Instant>,
    /// Order of the opening among all tap records of the scenario.
    pub opened_seq: u64,
    /// The stream was upgraded to TLS.
    pub tls: bool,
    /// What crossed below TLS, once a handshake began.
    wire: Option<WireTap>,
    /// Closing this connection sends RST (SO_LINGER 0).
    pub resets: bool,
    /// Bytes a `send` held back to go out in one write with the next one.
    pub held: Vec<u8>,
    /// Lease changes the scenario's triggers had made when it opened.
    pub changes_before: usize,
    /// The peer reset the connection attempt: it never opened.
    pub refused: bool,
    /// Why what the harness sent on it may never have reached the target
    /// (the connection was refused, or closed before a send, or a write
    /// failed): a step cannot judge how the target answered it.
    pub unheard: Option<String>,
    /// A frame could not be read: the stream's message boundaries are lost,
    /// and nothing more read from it is judged.
    pub framing_lost: bool,
    /// What was read after the framing was lost, and not judged.
    pub not_judged: usize,
    /// The step (1-based) that judged the target's close of this
    /// connection: later steps that find it closed judge nothing more.
    pub close_judged_at: Option<u32>,
}

impl HarnessConn {
    /// A connection opened now; `start` is when the scenario started, `role`
    /// the harness's.
    pub fn new(
        name: &str,
        stream: BoxedIo,
        start: Instant,
        role: Role,
        order: Arc<AtomicU64>,
        budget: Arc<AtomicUsize>,
    ) -> Self {
        Self::with(name, StreamReader::new(stream), start, role, order, budget)
    }

    /// A connection the peer refused now (RST to the SYN): reads see the
    /// reset, writes fail and record nothing.
    pub fn refused(
        name: &str,
        start: Instant,
        order: Arc<AtomicU64>,
        budget: Arc<AtomicUsize>,
    ) -> Self {
        let mut conn = Self::with(
            name,
            StreamReader::refused(),
            start,
            Role::Requestor,
            order,
            budget,
        );
        conn.refused = true;
        conn.unheard = Some("the target refused the connection".into());
        conn
    }

    fn with(
        name: &str,
        reader: StreamReader,
        start: Instant,
        role: Role,
        order: Arc<AtomicU64>,
        budget: Arc<AtomicUsize>,
    ) -> Self {
        let tap = Tap::new(start, role == Role::Requestor, order, budget);
        let opened_seq = tap.next_seq();
        HarnessConn {
            name: name.to_string(),
            line_id: None,
            reader,
            tap,
            peer: Peer::new(role),
            unread: VecDeque::new(),
            paused: false,
            write_closed: false,
            last_matched: None,
            any_expect: false,
            opened_at: Instant::now(),
            opened_seq,
            tls: false,
            wire: None,
            resets: false,
            held: Vec::new(),
            changes_before: 0,
            refused: false,
            unheard: None,
            framing_lost: false,
            not_judged: 0,
            close_judged_at: None,
            asked_at: None,
        }
    }

    /// A frame was no message: nothing more read on the connection is
    /// framed, recorded or judged (see `not_judged`).
    pub fn lose_framing(&mut self) {
        self.framing_lost = true;
        self.reader.give_up_framing();
    }

    /// The peer has closed the connection.
    pub fn peer_closed(&self) -> bool {
        self.reader.closed().is_some()
    }

    /// When the bytes of the event taken last were read.
    pub fn read_at(&self) -> Instant {
        self.reader.read_at()
    }

    /// The connection will not be read again (its name went to a newer one):
    /// what it keeps no longer holds the buffers its messages arrived in.
    pub fn retire(&mut self) {
        self.reader.release_buffer();
        self.peer.detach_last_received();
        if let Some((msg, _)) = &mut self.last_matched {
            *msg = Rc::new(msg.detached());
        }
    }

    /// Puts an event back so the next read returns it first; `frame` is the
    /// transcript entry already written for it.
    pub fn unread(&mut self, event: StreamEvent, frame: Option<usize>) {
        self.unread.push_front((event, frame));
    }

    /// The next event already read, without waiting, with its transcript
    /// entry when it was put back.
    pub fn next_read(&mut self) -> Option<(StreamEvent, Option<usize>)> {
        if let Some(event) = self.unread.pop_front() {
            return Some(event);
        }
        Some((self.reader.next_read()?, None))
    }

    /// The next event, waiting until `deadline` at most.
    pub async fn next(&mut self, deadline: Instant) -> (StreamEvent, Option<usize>) {
        if let Some(event) = self.next_read() {
            return event;
        }
        (self.reader.next(deadline, &mut self.tap).await, None)
    }

    /// Stops reading: a step has ended, and nothing reads the socket until
    /// the next one does.
    pub async fn settle(&mut self) {
        self.reader.settle(&mut self.tap).await;
    }

    pub async fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        let stream = self
            .reader
            .stream(&mut self.tap)
            .await
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))?;
        self.tap.ours(bytes, Instant::now());
        stream.write_all(bytes).await?;
        stream.flush().await
    }

    pub async fn shutdown_write(&mut self) {
        if let Some(s) = self.reader.stream(&mut self.tap).await {
            let _ = s.shutdown().await;
        }
        if !self.write_closed {
            self.tap.closed(true, Closed::Fin, Instant::now());
        }
        self.write_closed = true;
    }

    pub async fn drop_stream(&mut self) {
        let had_stream = self.reader.drop_stream(&mut self.tap).await;
        if had_stream && !self.write_closed {
            let how = if self.resets {
                Closed::Rst
            } else {
                Closed::Fin
            };
            self.tap.closed(true, how, Instant::now());
            self.write_closed = true;
        }
    }

    /// Takes the stream out (for a TLS handshake), with the bytes read and
    /// not framed in front of it.
    pub async fn take_stream(&mut self) -> Option<BoxedIo> {
        self.reader.take_stream(&mut self.tap).await
    }

    /// Takes the stream out for a TLS handshake, wrapped so that the TLS
    /// records are recorded as they cross (the connection's own tap stops
    /// recording and only counts).
    pub async fn take_stream_for_tls(&mut self) -> Option<TappedIo<BoxedIo>> {
        let stream = self.take_stream().await?;
        let wire = self.tap.hand_over();
        let io = wire.wrap(stream, self.resets);
        self.wire = Some(wire);
        Some(io)
    }

    /// Some traffic went unrecorded: the capture budget ran out.
    pub fn capture_truncated(&self) -> bool {
        self.tap.truncated() || self.wire.as_ref().is_some_and(WireTap::truncated)
    }

    /// Everything recorded, in order; a stream still open is closed first,
    /// and its close recorded where a wire tap sees it.
    pub fn into_records(self) -> Vec<TapRecord> {
        let HarnessConn {
            reader, tap, wire, ..
        } = self;
        drop(reader);
        let mut records = tap.into_records();
        if let Some(wire) = wire {
            records.extend(wire.take_records());
            records.sort_by_key(|r| r.seq);
        }
        records
    }

    /// Puts the stream back as it was (no TLS happened on it).
    pub fn resume(&mut self, stream: BoxedIo) {
        self.reader.resume(stream);
    }

    /// Puts the stream back after a failed TLS handshake: what arrives is
    /// not DHCP and is dropped; only the close counts.
    pub fn resume_discarding(&mut self, stream: BoxedIo) {
        self.reader.resume_discarding(stream);
    }

    /// The peer closed (`how`) while the stream was taken out for a TLS
    /// handshake.
    pub fn closed_in_handshake(&mut self, how: Closed) {
        self.reader.closed_while_out(how, &mut self.tap);
    }

    /// Puts back the TLS stream of a successful upgrade.
    pub fn resume_tls(&mut self, stream: BoxedIo) {
        self.reader.resume_tls(stream);
        self.tls = true;
    }
}
