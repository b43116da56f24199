//! Independent runs spread over threads: a suite's scenarios `--jobs` at a
//! time, and in the kill and variant matrices one whole suite per fault or
//! variant (on the embedded reference a suite is computation, so one per
//! core keeps every core busy).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// `f` of every item, on up to `workers` threads at once, each taking the
/// next item when it is done with one; the results in the items' order. A
/// panic in `f` is the caller's once every thread has stopped.
pub fn map_on_threads<T: Sync, R: Send>(
    items: &[T],
    workers: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new(items.iter().map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..workers.clamp(1, items.len().max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                let result = f(item);
                if let Some(slot) = results.lock().unwrap_or_else(|e| e.into_inner()).get_mut(i) {
                    *slot = Some(result);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .flatten()
        .collect()
}

/// The machine's cores, one when it cannot tell.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[rstest::rstest]
    #[case::one_worker(1)]
    #[case::fewer_workers_than_items(3)]
    #[case::more_workers_than_items(64)]
    fn every_item_is_mapped_once_and_in_order(#[case] workers: usize) {
        let items: Vec<u32> = (0..10).collect();
        let calls = AtomicUsize::new(0);
        let squares = map_on_threads(&items, workers, |n| {
            calls.fetch_add(1, Ordering::Relaxed);
            n * n
        });
        assert_eq!(squares, vec![0, 1, 4, 9, 16, 25, 36, 49, 64, 81]);
        assert_eq!(calls.into_inner(), 10);
    }

    #[test]
    fn no_items_is_no_results() {
        assert!(map_on_threads(&[] as &[u8], 4, |b| *b).is_empty());
    }

    #[test]
    fn several_threads_work_at_once() {
        // Each item waits until two are under way: one thread would hang,
        // so this proves the items overlap (with a bound to fail on).
        let under_way = AtomicUsize::new(0);
        let overlapped = map_on_threads(&[0u8, 1], 2, |_| {
            under_way.fetch_add(1, Ordering::SeqCst);
            let start = std::time::Instant::now();
            while under_way.load(Ordering::SeqCst) < 2 {
                if start.elapsed() > std::time::Duration::from_secs(10) {
                    return false;
                }
                std::thread::yield_now();
            }
            true
        });
        assert_eq!(overlapped, vec![true, true]);
    }
}
