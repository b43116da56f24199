//! Waiting on I/O until a deadline.

use std::future::Future;
use tokio::time::Instant;

/// `io`'s output, or `None` once `deadline` has passed. The deadline is
/// checked before `io` is polled: `timeout_at` polls its future first, so a
/// read that is always ready (a peer that never pauses) would outlive it.
pub async fn by<F: Future>(deadline: Instant, io: F) -> Option<F::Output> {
    if Instant::now() >= deadline {
        return None;
    }
    tokio::time::timeout_at(deadline, io).await.ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn a_ready_future_past_the_deadline_is_not_polled() {
        let now = Instant::now();
        assert_eq!(
            by(now + Duration::from_secs(1), std::future::ready(7)).await,
            Some(7)
        );
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(
            by(now + Duration::from_secs(1), std::future::ready(7)).await,
            None
        );
    }
}
