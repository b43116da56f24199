//! The requestor under test's connections, taken as they come: a task
//! accepts each at once and stamps it, so a connection that arrives while a
//! scenario serves another is not left in the backlog, and the timing a
//! scenario judges (retry spacing) is the requestor's own connection
//! attempt, not the moment a step got round to it.

use crate::net::transport::{BoxedIo, Incoming};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Connections accepted and not yet taken by a step, at most: a requestor
/// that opens more meets the listener's backlog, as it would anyway.
const WAITING: usize = 64;

pub(crate) struct Arrivals {
    accepted: mpsc::Receiver<(BoxedIo, Instant)>,
    task: JoinHandle<()>,
}

impl Arrivals {
    /// Starts accepting on `incoming`.
    pub(crate) fn start(mut incoming: Incoming) -> Self {
        let (tx, accepted) = mpsc::channel(WAITING);
        let task = tokio::spawn(async move {
            while let Some((io, _)) = incoming.accept().await {
                if tx.send((io, Instant::now())).await.is_err() {
                    break;
                }
            }
        });
        Arrivals { accepted, task }
    }

    /// The next connection and when it was accepted; `None` when none came
    /// by `deadline`.
    pub(crate) async fn next(&mut self, deadline: Instant) -> Option<(BoxedIo, Instant)> {
        tokio::time::timeout_at(deadline, self.accepted.recv())
            .await
            .ok()
            .flatten()
    }
}

impl Drop for Arrivals {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn each_connection_is_stamped_when_it_came_not_when_it_was_taken() {
        let (incoming, dial) = Incoming::memory();
        let mut arrivals = Arrivals::start(incoming);
        let first = dial.connect().await.map(|_| Instant::now());
        tokio::time::sleep(Duration::from_secs(3)).await;
        let second = dial.connect().await.map(|_| Instant::now());
        tokio::time::sleep(Duration::from_secs(5)).await;
        let deadline = Instant::now() + Duration::from_secs(1);
        let (_, at1) = arrivals.next(deadline).await.expect("first");
        let (_, at2) = arrivals.next(deadline).await.expect("second");
        assert_eq!(Some(at1), first.ok());
        assert_eq!(Some(at2), second.ok());
        assert!(arrivals.next(deadline).await.is_none());
    }
}
