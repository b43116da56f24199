//! The clock handed to sans-IO sessions: monotonic time from tokio (so tests can
//! pause it) and the matching wall-clock seconds since 1970.

use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin: Instant,
    epoch_at_origin: u32,
}

impl Clock {
    /// Starts at the current wall-clock time.
    pub fn new() -> Self {
        let epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
            .unwrap_or(0);
        Self::starting_at(epoch)
    }

    /// Starts at a chosen wall-clock time (tests).
    pub fn starting_at(epoch: u32) -> Self {
        Clock {
            origin: Instant::now(),
            epoch_at_origin: epoch,
        }
    }

    /// Monotonic time since the clock started.
    pub fn mono(&self) -> Duration {
        Instant::now().saturating_duration_since(self.origin)
    }

    /// Seconds since 1970 now.
    pub fn epoch(&self) -> u32 {
        self.epoch_at(self.mono())
    }

    pub fn epoch_at(&self, mono: Duration) -> u32 {
        let secs = u32::try_from(mono.as_secs()).unwrap_or(u32::MAX);
        self.epoch_at_origin.saturating_add(secs)
    }

    /// Seconds since 1970 at `at` (a read's arrival, say).
    pub fn epoch_of(&self, at: Instant) -> u32 {
        self.epoch_at(at.saturating_duration_since(self.origin))
    }

    /// The tokio instant of a monotonic time.
    pub fn instant(&self, mono: Duration) -> Instant {
        self.origin + mono
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}
