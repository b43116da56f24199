//! Scenarios running side by side against one long-lived server share what
//! it has a limited number of: its connection limit (RFC 6926 §8.1, RFC
//! 7724 §8.3) and the free addresses of its pool. A scenario starts only
//! when what it may take fits beside what the scenarios already running
//! hold, so the harness never makes the target refuse its own connections
//! or run out of addresses for its own clients.

use std::sync::{Condvar, Mutex, PoisonError};

pub(crate) struct Budget {
    limit: usize,
    state: Mutex<State>,
    freed: Condvar,
}

/// What is free, and the turns handed out: takers are served in the order
/// they came, so one that wants much is never passed over for ever by
/// ones that want little.
struct State {
    free: usize,
    next_ticket: u64,
    serving: u64,
}

impl Budget {
    pub(crate) fn new(limit: usize) -> Self {
        let limit = limit.max(1);
        Budget {
            limit,
            state: Mutex::new(State {
                free: limit,
                next_ticket: 0,
                serving: 0,
            }),
            freed: Condvar::new(),
        }
    }

    /// Waits for its turn and until `wanted` (at most the whole limit) are
    /// free, and takes them; they are given back when the grant is dropped.
    pub(crate) fn take(&self, wanted: usize) -> Grant<'_> {
        let wanted = wanted.min(self.limit);
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let ticket = state.next_ticket;
        state.next_ticket = state.next_ticket.wrapping_add(1);
        while state.serving != ticket || state.free < wanted {
            state = self
                .freed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        state.free -= wanted;
        state.serving = state.serving.wrapping_add(1);
        // The next in line may fit too.
        self.freed.notify_all();
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
        let mut state = self
            .budget
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        state.free = state.free.saturating_add(self.taken).min(self.budget.limit);
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
        assert_eq!(budget.state.lock().unwrap().free, 5);
    }

    #[test]
    fn one_that_wants_much_is_served_before_those_that_came_after_it() {
        let budget = Budget::new(4);
        let order = Mutex::new(Vec::new());
        let held = budget.take(3);
        std::thread::scope(|scope| {
            let big = scope.spawn(|| {
                let _all = budget.take(4);
                order.lock().unwrap().push("big");
            });
            // The big one is waiting before the small ones come.
            while budget.state.lock().unwrap().next_ticket < 2 {
                std::thread::yield_now();
            }
            let small = scope.spawn(|| {
                let _one = budget.take(1);
                order.lock().unwrap().push("small");
            });
            while budget.state.lock().unwrap().next_ticket < 3 {
                std::thread::yield_now();
            }
            // One is free: enough for the small one, not for the big one,
            // whose turn it is.
            std::thread::sleep(std::time::Duration::from_millis(20));
            assert!(order.lock().unwrap().is_empty());
            drop(held);
            big.join().unwrap();
            small.join().unwrap();
        });
        assert_eq!(*order.lock().unwrap(), ["big", "small"]);
    }
}
