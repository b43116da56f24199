//! What one connection records for its pcap: every byte and close both ways,
//! with the time it happened, while a byte budget shared by a scenario's
//! connections lasts.

use super::pcap::{TapEvent, TapRecord};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::time::Instant;

/// How a side of a TCP connection ended it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    Fin,
    Rst,
}

impl std::fmt::Display for Closed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Closed::Fin => "FIN",
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
        }
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
        let event = match (by_harness == self.harness_is_client, how) {
            (true, Closed::Fin) => TapEvent::ClientFin,
            (true, Closed::Rst) => TapEvent::ClientRst,
            (false, Closed::Fin) => TapEvent::ServerFin,
            (false, Closed::Rst) => TapEvent::ServerRst,
        };
        self.push(event, at);
    }

    pub fn into_records(self) -> Vec<TapRecord> {
        self.records
    }

    fn bytes(&mut self, ours: bool, bytes: &[u8], at: Instant) {
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
            event,
        });
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
