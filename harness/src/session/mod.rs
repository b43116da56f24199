//! Sans-IO protocol sessions: bytes and time in; bytes, timers and actions out.

pub mod timers;

use std::time::Duration;

/// What a session asks the driver to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action<R> {
    Transmit(Vec<u8>),
    StartTls,
    Close(R),
}

/// A sans-IO session as the driver sees it. `now` is the monotonic time of
/// clock the driver runs the session on.
pub trait Session {
    type Reason;

    fn poll_action(&mut self, now: Duration) -> Option<Action<Self::Reason>>;
    fn handle_input(&mut self, now: Duration, bytes: &[u8]);
    fn handle_eof(&mut self, now: Duration);
    fn on_write_completed(&mut self, now: Duration);
    fn poll_timeout(&self) -> Option<Duration>;
    fn handle_timeout(&mut self, now: Duration);
    /// The process is stopping: end queries politely (QueryTerminated) or close.
    fn shutdown(&mut self, now: Duration);
    /// Something outside changed (the lease store); the default does nothing.
    fn on_wake(&mut self, _now: Duration) {}
    /// True once the session has decided to close (pending writes may be dropped).
    fn is_closing(&self) -> bool;
    /// Whether a close for this reason may still flush with a FIN.
    fn graceful(&self, reason: &Self::Reason) -> bool;
}
