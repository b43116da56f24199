//! What one connection records for its pcap: every byte and close both ways,
//! with the time it happened, while a byte budget shared by a scenario's
//! connections lasts.

use super::pcap::{TapEvent, TapRecord};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// How a side of a TCP connection ended it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    Fin,
    /// A FIN under TLS that no close_notify alert came before (RFC 8446
    /// §6.1): the TCP close was graceful, the TLS one was not.
    FinWithoutCloseNotify,
    Rst,
}

impl Closed {
    /// The TCP connection ended with FIN, whatever TLS said.
    pub fn is_fin(self) -> bool {
        matches!(self, Closed::Fin | Closed::FinWithoutCloseNotify)
    }
}

impl std::fmt::Display for Closed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Closed::Fin => "FIN",
            Closed::FinWithoutCloseNotify => "FIN, without TLS close_notify",
            Closed::Rst => "RST",
        })
    }
}

/// The records of one connection.
#[derive(Debug)]
pub struct Tap {
    records: Vec<TapRecord>,
    /// When the scenario started: record times count from it.
    start: Instant,
    /// The harness is the TCP client of this connection.
    harness_is_client: bool,
    /// Orders the records of all connections of a scenario.
    order: Arc<AtomicU64>,
    /// Bytes the scenario's pcap may still record.
    budget: Arc<AtomicUsize>,
    /// Traffic went unrecorded because the budget ran out.
    truncated: bool,
    /// Bytes the peer sent, recorded or not.
    received: u64,
    /// The scenario's current step, stamped on each record.
    step: Arc<AtomicU32>,
    /// The stream now goes through a [`WireTap`] below TLS, which records
    /// what crosses; this tap only counts.
    handed_over: bool,
    /// This tap records below TLS.
    wire: bool,
}

impl Tap {
    pub fn new(
        start: Instant,
        harness_is_client: bool,
        order: Arc<AtomicU64>,
        budget: Arc<AtomicUsize>,
    ) -> Self {
        Tap {
            records: Vec::new(),
            start,
            harness_is_client,
            order,
            budget,
            truncated: false,
            received: 0,
            step: Arc::default(),
            handed_over: false,
            wire: false,
        }
    }

    /// Stamps records with the step `step` holds.
    pub fn follow_steps(&mut self, step: Arc<AtomicU32>) {
        self.step = step;
    }

    /// A tap for the stream below a TLS layer about to start: it records
    /// the TLS records as they cross, and this tap stops recording.
    pub fn hand_over(&mut self) -> WireTap {
        self.handed_over = true;
        WireTap(Arc::new(Mutex::new(Tap {
            records: Vec::new(),
            start: self.start,
            harness_is_client: self.harness_is_client,
            order: self.order.clone(),
            budget: self.budget.clone(),
            truncated: false,
            received: 0,
            step: self.step.clone(),
            handed_over: false,
            wire: true,
        })))
    }

    pub fn harness_is_client(&self) -> bool {
        self.harness_is_client
    }

    /// Some traffic went unrecorded: the budget ran out.
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// The next number in the scenario's order of records (a connection's
    /// opening takes one too).
    pub fn next_seq(&self) -> u64 {
        self.order.fetch_add(1, Ordering::Relaxed)
    }

    /// Bytes the harness sent, at `at`.
    pub fn ours(&mut self, bytes: &[u8], at: Instant) {
        self.bytes(true, bytes, at);
    }

    /// Bytes the peer sent, read at `at`.
    pub fn theirs(&mut self, bytes: &[u8], at: Instant) {
        let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        self.received = self.received.saturating_add(len);
        self.bytes(false, bytes, at);
    }

    /// How many bytes the peer sent so far (after TLS, the plaintext).
    pub fn received(&self) -> u64 {
        self.received
    }

    /// The harness (`by_harness`) or the peer closed its side, at `at`.
    pub fn closed(&mut self, by_harness: bool, how: Closed, at: Instant) {
        if self.handed_over {
            return;
        }
        let event = match (by_harness == self.harness_is_client, how.is_fin()) {
            (true, true) => TapEvent::ClientFin,
            (true, false) => TapEvent::ClientRst,
            (false, true) => TapEvent::ServerFin,
            (false, false) => TapEvent::ServerRst,
        };
        self.push(event, at);
    }

    pub fn into_records(self) -> Vec<TapRecord> {
        self.records
    }

    fn bytes(&mut self, ours: bool, bytes: &[u8], at: Instant) {
        if self.handed_over {
            return;
        }
        let granted = self
            .budget
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(bytes.len())
            })
            .is_ok();
        if !granted {
            self.truncated = true;
            return;
        }
        let data = bytes.to_vec();
        let event = if ours == self.harness_is_client {
            TapEvent::FromClient(data)
        } else {
            TapEvent::FromServer(data)
        };
        self.push(event, at);
    }

    fn push(&mut self, event: TapEvent, at: Instant) {
        let seq = self.next_seq();
        self.records.push(TapRecord {
            at: at.saturating_duration_since(self.start),
            seq,
            step: self.step.load(Ordering::Relaxed),
            wire: self.wire,
            event,
        });
    }
}

/// What crossed below a TLS layer, shared between the stream wrapper that
/// records it and the connection that collects it at the end.
#[derive(Debug, Clone)]
pub struct WireTap(Arc<Mutex<Tap>>);

impl WireTap {
    fn with<T>(&self, f: impl FnOnce(&mut Tap) -> T) -> T {
        let mut tap = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut tap)
    }

    pub fn truncated(&self) -> bool {
        self.with(|t| t.truncated)
    }

    pub fn take_records(&self) -> Vec<TapRecord> {
        self.with(|t| std::mem::take(&mut t.records))
    }

    /// `io` with everything it carries recorded here; `resets` says that
    /// dropping it sends RST (SO_LINGER 0) rather than FIN.
    pub fn wrap<S>(&self, io: S, resets: bool) -> TappedIo<S> {
        TappedIo {
            inner: io,
            tap: self.clone(),
            resets,
            ours_closed: false,
            theirs_closed: false,
        }
    }
}

/// A stream whose bytes and closes, both ways, go to a [`WireTap`] as they
/// pass: the TLS records a handshake and its session carry, alerts included.
/// Dropping it closes the harness's side, which is recorded too.
pub struct TappedIo<S> {
    inner: S,
    tap: WireTap,
    resets: bool,
    ours_closed: bool,
    theirs_closed: bool,
}

impl<S: AsyncRead + Unpin> AsyncRead for TappedIo<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        let polled = std::pin::Pin::new(&mut this.inner).poll_read(cx, buf);
        match &polled {
            Poll::Ready(Ok(())) => {
                let read = buf.filled().get(before..).unwrap_or_default();
                if !read.is_empty() {
                    this.tap.with(|t| t.theirs(read, Instant::now()));
                } else if buf.remaining() > 0 && !this.theirs_closed {
                    this.theirs_closed = true;
                    this.tap
                        .with(|t| t.closed(false, Closed::Fin, Instant::now()));
                }
            }
            Poll::Ready(Err(e)) if !this.theirs_closed => {
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
                ) {
                    this.theirs_closed = true;
                    this.tap
                        .with(|t| t.closed(false, Closed::Rst, Instant::now()));
                }
            }
            _ => {}
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for TappedIo<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        let polled = std::pin::Pin::new(&mut this.inner).poll_write(cx, data);
        if let Poll::Ready(Ok(n)) = &polled {
            let written = data.get(..*n).unwrap_or_default();
            this.tap.with(|t| t.ours(written, Instant::now()));
        }
        polled
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        let polled = std::pin::Pin::new(&mut this.inner).poll_shutdown(cx);
        if polled.is_ready() && !this.ours_closed {
            this.ours_closed = true;
            this.tap
                .with(|t| t.closed(true, Closed::Fin, Instant::now()));
        }
        polled
    }
}

impl<S> Drop for TappedIo<S> {
    fn drop(&mut self) {
        if !self.ours_closed {
            let how = if self.resets {
                Closed::Rst
            } else {
                Closed::Fin
            };
            self.tap.with(|t| t.closed(true, how, Instant::now()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_go_to_the_side_that_sent_them_until_the_budget_runs_out() {
        let start = Instant::now();
        let budget = Arc::new(AtomicUsize::new(5));
        let mut tap = Tap::new(start, false, Arc::default(), budget.clone());
        tap.theirs(b"abc", start);
        tap.ours(b"de", start);
        // Over the budget: not recorded, and the tap says so.
        tap.ours(b"f", start);
        tap.closed(false, Closed::Rst, start);
        assert!(tap.truncated());
        assert_eq!(budget.load(Ordering::Relaxed), 0);
        let events: Vec<TapEvent> = tap.into_records().into_iter().map(|r| r.event).collect();
        // The harness is the server here: the peer is the client.
        assert_eq!(
            events,
            vec![
                TapEvent::FromClient(b"abc".to_vec()),
                TapEvent::FromServer(b"de".to_vec()),
                TapEvent::ClientRst,
            ]
        );
    }
}
