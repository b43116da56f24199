//! Independent runs spread over threads: a suite's scenarios `--jobs` at a
//! time, and in the kill and variant matrices one whole suite per fault or
//! variant (on the embedded reference a suite is computation, so one per
//! core keeps every core busy).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

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

/// An item to run, with the time it is expected to take, and whether it
/// goes after the rest of its worker's items whatever its length (a
/// scenario whose timers count from a connection's last message, which
/// what runs beside it can keep from going quiet).
pub struct Planned<T> {
    pub item: T,
    pub expected: Duration,
    pub last: bool,
}

/// Runs `f` on every item on `workers` threads, so that the run ends as
/// soon as it can and the quick items report first. The items are dealt
/// out longest first, each to the worker with the least expected work so
/// far (which keeps the end within a third of the best possible, and near
/// it when short items are many); each worker then runs its own quickest
/// first, since the order within a worker does not move its end. A worker
/// done with its own takes the longest item left to the one with the most
/// work left, so a wrong guess evens out. `eta` hears, whenever an item
/// starts, how long the run is expected to go on.
pub fn run_planned<T: Sync>(
    items: &[Planned<T>],
    workers: usize,
    eta: &(dyn Fn(Duration) + Sync),
    f: impl Fn(&T) + Sync,
) {
    let workers = workers.clamp(1, items.len().max(1));
    let plan = Mutex::new(deal(items, workers));
    // When each worker's current item is expected to end.
    let ends: Mutex<Vec<Option<Instant>>> = Mutex::new(vec![None; workers]);
    std::thread::scope(|scope| {
        for me in 0..workers {
            let (plan, ends) = (&plan, &ends);
            let f = &f;
            scope.spawn(move || loop {
                let next = {
                    let mut plan = plan.lock().unwrap_or_else(|e| e.into_inner());
                    let next = take(&mut plan, me, items);
                    if let Some(i) = next {
                        let now = Instant::now();
                        let mut ends = ends.lock().unwrap_or_else(|e| e.into_inner());
                        if let (Some(end), Some(p)) = (ends.get_mut(me), items.get(i)) {
                            *end = now.checked_add(p.expected);
                        }
                        eta(remaining(&plan, &ends, items, now));
                    }
                    next
                };
                let Some(p) = next.and_then(|i| items.get(i)) else {
                    break;
                };
                f(&p.item);
            });
        }
    });
}

/// Each worker's items, quickest first (those that go last, last): dealt
/// longest first to the worker with the least expected work.
fn deal<T>(items: &[Planned<T>], workers: usize) -> Vec<VecDeque<usize>> {
    let expected = |i: &usize| items.get(*i).map_or(Duration::ZERO, |p| p.expected);
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by_key(|i| std::cmp::Reverse(expected(i)));
    let mut load = vec![Duration::ZERO; workers];
    let mut dealt: Vec<Vec<usize>> = vec![Vec::new(); workers];
    for i in order {
        let least = (0..workers)
            .min_by_key(|w| load.get(*w).copied())
            .unwrap_or(0);
        if let (Some(l), Some(d)) = (load.get_mut(least), dealt.get_mut(least)) {
            *l = l.saturating_add(expected(&i));
            d.push(i);
        }
    }
    dealt
        .into_iter()
        .map(|mut d| {
            d.sort_by_key(|i| (items.get(*i).is_some_and(|p| p.last), expected(i)));
            d.into()
        })
        .collect()
}

/// The next item for worker `me`: its own quickest, else the longest item
/// left to the worker with the most work left.
fn take<T>(plan: &mut [VecDeque<usize>], me: usize, items: &[Planned<T>]) -> Option<usize> {
    if let Some(i) = plan.get_mut(me).and_then(VecDeque::pop_front) {
        return Some(i);
    }
    let work = |queue: &VecDeque<usize>| -> Duration {
        queue
            .iter()
            .filter_map(|i| items.get(*i))
            .map(|p| p.expected)
            .fold(Duration::ZERO, Duration::saturating_add)
    };
    let busiest = (0..plan.len()).max_by_key(|w| plan.get(*w).map(work))?;
    plan.get_mut(busiest).and_then(VecDeque::pop_back)
}

/// How long the run is expected to go on: the latest any worker ends its
/// current item and the items left to it.
fn remaining<T>(
    plan: &[VecDeque<usize>],
    ends: &[Option<Instant>],
    items: &[Planned<T>],
    now: Instant,
) -> Duration {
    plan.iter()
        .zip(ends)
        .map(|(queue, end)| {
            let current = end.map_or(Duration::ZERO, |e| e.saturating_duration_since(now));
            queue
                .iter()
                .filter_map(|i| items.get(*i))
                .map(|p| p.expected)
                .fold(current, Duration::saturating_add)
        })
        .max()
        .unwrap_or_default()
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

    fn secs(items: &[u64]) -> Vec<Planned<u64>> {
        items
            .iter()
            .map(|s| Planned {
                item: *s,
                expected: Duration::from_secs(*s),
                last: false,
            })
            .collect()
    }

    #[test]
    fn an_item_that_goes_last_waits_for_the_longer_ones_of_its_worker() {
        let mut items = secs(&[10, 8, 1]);
        items[1].last = true;
        let plan = deal(&items, 1);
        let order: Vec<u64> = plan[0].iter().map(|i| items[*i].item).collect();
        assert_eq!(order, [1, 10, 8]);
    }

    #[test]
    fn long_items_are_spread_and_each_worker_runs_its_quick_ones_first() {
        // The suite at RFC timers: five long scenarios and many quick ones.
        let mut times = vec![300, 300, 300, 180, 132];
        times.extend([1, 2, 3, 1, 2, 1, 4, 1, 2, 3]);
        let items = secs(&times);
        let plan = deal(&items, 4);
        let load = |w: &VecDeque<usize>| -> u64 { w.iter().map(|i| times[*i]).sum() };
        let loads: Vec<u64> = plan.iter().map(load).collect();
        let total: u64 = times.iter().sum();
        let bound = (total / 4).max(300);
        // Within 5% of what no schedule can beat.
        assert!(
            loads.iter().all(|l| *l * 100 <= bound * 105),
            "{loads:?} vs {bound}"
        );
        for queue in &plan {
            let order: Vec<u64> = queue.iter().map(|i| times[*i]).collect();
            let mut sorted = order.clone();
            sorted.sort_unstable();
            assert_eq!(order, sorted, "quickest first");
        }
        assert_eq!(plan.iter().map(VecDeque::len).sum::<usize>(), times.len());
    }

    #[test]
    fn a_worker_done_with_its_own_takes_the_longest_left_to_the_busiest() {
        let items = secs(&[1, 2, 9, 1, 5]);
        let mut plan = vec![
            VecDeque::new(),
            VecDeque::from([3, 4]),
            VecDeque::from([0, 1, 2]),
        ];
        assert_eq!(
            take(&mut plan, 0, &items),
            Some(2),
            "the 9 s item of worker 2"
        );
        assert_eq!(
            take(&mut plan, 0, &items),
            Some(4),
            "now worker 1 has more left"
        );
        assert_eq!(take(&mut plan, 1, &items), Some(3), "its own first");
    }

    #[test]
    fn every_planned_item_runs_once_with_an_estimate_as_each_starts() {
        let items = secs(&[5, 4, 3, 3, 2, 2, 1, 1]);
        let ran = Mutex::new(Vec::new());
        let etas = Mutex::new(Vec::new());
        run_planned(&items, 3, &|d| etas.lock().unwrap().push(d), |n| {
            ran.lock().unwrap().push(*n);
        });
        let mut ran = ran.into_inner().unwrap();
        ran.sort_unstable();
        assert_eq!(ran, vec![1, 1, 2, 2, 3, 3, 4, 5]);
        let etas = etas.into_inner().unwrap();
        assert_eq!(etas.len(), 8, "one estimate as each item starts");
        // Dealt 5+1+1 | 4+2 | 3+3+2... the first estimate is the longest
        // worker's whole load.
        assert!(etas[0] >= Duration::from_secs(6), "{etas:?}");
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
