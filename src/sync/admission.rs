//! Admission control for push. On the Monday after a holiday every tablet of a county
//! syncs at once; the database writes one batch after another however many arrive, so
//! without a bound every batch would wait for all those ahead of it (the last one for
//! the whole storm) while the server holds every waiting request body in memory.
//! A few batches are applied at a time and a short queue waits behind them; a batch
//! arriving when the queue is full, or that waited too long, is answered at once with
//! 503 `server_busy` and `Retry-After`, before its body is read. Nothing of it was
//! applied, and the tablet sends the same batch again later (op ids make that safe).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::AppError;
use crate::error_codes::Code;

/// Seconds a refused tablet is told to wait before sending the batch again.
pub const RETRY_AFTER_SECS: u64 = 1;

/// The gate every push passes.
pub struct PushGate {
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
    max_wait: Duration,
}

/// Leaving the queue, however the wait ended.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl PushGate {
    /// `concurrency` batches applied at once, at most `max_waiting` more waiting, each
    /// for at most `max_wait`.
    pub fn new(concurrency: usize, max_waiting: usize, max_wait: Duration) -> PushGate {
        PushGate {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            waiting: AtomicUsize::new(0),
            max_waiting,
            max_wait,
        }
    }

    /// A turn to apply a batch, held until the answer is built; `server_busy` when the
    /// queue is full or the turn did not come in time. Turns are given in arrival order.
    pub async fn enter(&self) -> Result<OwnedSemaphorePermit, AppError> {
        if let Ok(p) = self.permits.clone().try_acquire_owned() {
            return Ok(p);
        }
        let ahead = self.waiting.fetch_add(1, Ordering::SeqCst);
        let _queued = Waiting(&self.waiting);
        if ahead >= self.max_waiting {
            return Err(busy());
        }
        match tokio::time::timeout(self.max_wait, self.permits.clone().acquire_owned()).await {
            Ok(Ok(p)) => Ok(p),
            _ => Err(busy()),
        }
    }

    /// Batches waiting for a turn now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }
}

/// 503 `server_busy` with `Retry-After`.
pub fn busy() -> AppError {
    AppError::try_again(
        Code::ServerBusy,
        "the server is applying other tablets' batches; nothing of this one was applied, send it again after Retry-After",
        RETRY_AFTER_SECS,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_queue_is_refused_at_once_and_a_freed_turn_goes_to_the_first_waiting() {
        let gate = Arc::new(PushGate::new(1, 1, Duration::from_secs(5)));
        let first = gate.enter().await.expect("a free turn");
        let g = gate.clone();
        let second = tokio::spawn(async move { g.enter().await.map(|_| ()) });
        while gate.waiting() == 0 {
            tokio::task::yield_now().await;
        }
        let refused = gate.enter().await.expect_err("the queue holds one");
        assert_eq!(refused.code, Code::ServerBusy);
        assert_eq!(refused.retry_after, Some(RETRY_AFTER_SECS));
        drop(first);
        second.await.unwrap().expect("the waiting batch gets the freed turn");
        assert_eq!(gate.waiting(), 0);
    }

    #[tokio::test]
    async fn a_turn_that_does_not_come_in_time_is_refused() {
        let gate = PushGate::new(1, 10, Duration::from_millis(20));
        let _held = gate.enter().await.unwrap();
        let t = std::time::Instant::now();
        assert_eq!(gate.enter().await.unwrap_err().code, Code::ServerBusy);
        assert!(t.elapsed() >= Duration::from_millis(20));
        assert_eq!(gate.waiting(), 0, "a refused batch leaves the queue");
    }
}
