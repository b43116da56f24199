//! What each running scenario is doing right now, for a live progress line:
//! the runner's workers write it at every step, whoever shows it reads it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// One running scenario's place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Running {
    /// 1-based.
    pub step: usize,
    pub steps: usize,
    pub keyword: &'static str,
    /// The duration the step waits for, as the scenario writes it.
    pub waits_for: Option<String>,
    /// When the step started (wall clock).
    pub since: Instant,
}

/// A handle shared by the runner and a display; clones share the state.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    running: Arc<Mutex<BTreeMap<String, Running>>>,
    /// When the run is expected to end, once a scenario has started.
    end: Arc<Mutex<Option<Instant>>>,
}

impl Progress {
    fn with<T>(&self, f: impl FnOnce(&mut BTreeMap<String, Running>) -> T) -> T {
        let mut map = self.running.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut map)
    }

    /// The run is expected to end `left` from now.
    pub fn expect_end_in(&self, left: std::time::Duration) {
        *self.end.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now().checked_add(left);
    }

    /// When the run is expected to end, once a scenario has started.
    pub fn expected_end(&self) -> Option<Instant> {
        *self.end.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Scenario `id` starts step `step` (1-based) of `steps`.
    pub fn step(
        &self,
        id: &str,
        step: usize,
        steps: usize,
        keyword: &'static str,
        waits_for: Option<&str>,
    ) {
        let running = Running {
            step,
            steps,
            keyword,
            waits_for: waits_for.map(str::to_string),
            since: Instant::now(),
        };
        self.with(|map| map.insert(id.to_string(), running));
    }

    pub fn finished(&self, id: &str) {
        self.with(|map| map.remove(id));
    }

    /// The scenarios under way, the one whose step has run longest first.
    pub fn running(&self) -> Vec<(String, Running)> {
        let mut all: Vec<(String, Running)> =
            self.with(|map| map.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
        all.sort_by_key(|(_, r)| r.since);
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_waiting_step_comes_first_and_finished_ones_go() {
        let progress = Progress::default();
        progress.step("a", 1, 3, "connect", None);
        std::thread::sleep(std::time::Duration::from_millis(2));
        progress.step("b", 2, 5, "expect", Some("ACTIVE_LQ_IDLE_TIMEOUT + 5s"));
        progress.step("a", 2, 3, "expect-close", Some("10s"));
        let running = progress.running();
        assert_eq!(running.len(), 2);
        assert_eq!(running[0].0, "b", "a's new step started after b's");
        assert_eq!(
            running[0].1.waits_for.as_deref(),
            Some("ACTIVE_LQ_IDLE_TIMEOUT + 5s")
        );
        assert_eq!(running[1].1.keyword, "expect-close");
        progress.finished("b");
        assert_eq!(progress.running().len(), 1);
    }
}
