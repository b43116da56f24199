//! Stopping a run from outside (Ctrl-C, SIGTERM): first no new scenario
//! starts, then the running ones are aborted at their next await. Both are
//! seen from any thread and any scenario's runtime.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::watch;

#[derive(Debug, Clone)]
pub struct Interrupt {
    stop_starting: Arc<AtomicBool>,
    abort: Arc<watch::Sender<bool>>,
}

impl Default for Interrupt {
    fn default() -> Self {
        Interrupt {
            stop_starting: Arc::default(),
            abort: Arc::new(watch::Sender::new(false)),
        }
    }
}

impl Interrupt {
    /// No scenario starts from now on; running ones go on.
    pub fn stop_starting(&self) {
        self.stop_starting.store(true, Ordering::Relaxed);
    }

    /// Running scenarios stop where they are (and nothing new starts).
    pub fn abort(&self) {
        self.stop_starting();
        self.abort.send_replace(true);
    }

    /// Whether the run was told to stop starting scenarios (or to abort).
    pub fn stopping(&self) -> bool {
        self.stop_starting.load(Ordering::Relaxed)
    }

    /// Whether running scenarios were aborted.
    pub fn aborted(&self) -> bool {
        *self.abort.borrow()
    }

    /// Completes once [`Interrupt::abort`] was called (at once if it was).
    pub async fn until_aborted(&self) {
        let mut seen = self.abort.subscribe();
        // The sender lives as long as `self`, so waiting cannot fail.
        let _ = seen.wait_for(|aborted| *aborted).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn an_abort_from_another_thread_ends_a_wait_on_another_runtime() {
        let interrupt = Interrupt::default();
        assert!(!interrupt.stopping() && !interrupt.aborted());
        let waiting = interrupt.clone();
        let waiter = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            rt.block_on(async {
                tokio::time::timeout(Duration::from_secs(10), waiting.until_aborted())
                    .await
                    .is_ok()
            })
        });
        interrupt.stop_starting();
        assert!(interrupt.stopping() && !interrupt.aborted());
        std::thread::sleep(Duration::from_millis(50));
        interrupt.abort();
        assert_eq!(waiter.join().ok(), Some(true));
        assert!(interrupt.aborted());
    }
}
