//! Scenarios running side by side against one long-lived server share what
//! it has a limited number of: its connection limit (RFC 6926 §8.1, RFC
//! 7724 §8.3) and the free addresses of its pool. A scenario starts only
//! when what it may take fits beside what the scenarios already running
//! hold, so the harness never makes the target refuse its own connections
//! or run out of addresses for its own clients.

use std::sync::{Condvar, Mutex, PoisonError};

pub(crate) struct Budget {
    limit: usize,
    free: Mutex<usize>,
    freed: Condvar,
}

impl Budget {
    pub(crate) fn new(limit: usize) -> Self {
        let limit = limit.max(1);
        Budget {
            limit,
            free: Mutex::new(limit),
            freed: Condvar::new(),
        }
    }

    /// Waits until `wanted` (at most the whole limit) are free and takes
    /// them; they are given back when the grant is dropped.
    pub(crate) fn take(&self, wanted: usize) -> Grant<'_> {
        let wanted = wanted.min(self.limit);
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        while *free < wanted {
            free = self
                .freed
                .wait(free)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *free -= wanted;
        Grant {
            budget: self,
            taken: wanted,
        }
    }
}

pub(crate) struct Grant<'a> {
    budget: &'a Budget,
    taken: usize,
}

impl Drop for Grant<'_> {
    fn drop(&mut self) {
        let mut free = self
            .budget
            .free
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *free = free.saturating_add(self.taken).min(self.budget.limit);
        self.budget.freed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn scenarios_side_by_side_never_hold_more_than_the_limit() {
        let budget = Budget::new(5);
        let held = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for wanted in [3, 2, 4, 1, 3, 5, 2, 9] {
                let (budget, held, most) = (&budget, &held, &most);
                scope.spawn(move || {
                    let grant = budget.take(wanted);
                    let now = held.fetch_add(grant.taken, Ordering::SeqCst) + grant.taken;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(5));
                    held.fetch_sub(grant.taken, Ordering::SeqCst);
                });
            }
        });
        assert!(most.load(Ordering::SeqCst) <= 5);
        // More than the limit is the whole limit: it runs, alone.
        assert_eq!(budget.take(9).taken, 5);
        assert_eq!(*budget.free.lock().unwrap(), 5);
    }
}
