//! Store-and-forward of reversals toward the network.
//!
//! Once the switch has acknowledged a terminal's reversal, or answered 98 to a
//! trade it could not finish, the money is the acquirer's responsibility: the
//! reversal sits in this queue (which survives a crash) and is sent again
//! every `reversal_retry_interval_ms` until the network answers 00, 12 or 25.
//! There is no try limit: dropping a reversal would leave a cardholder
//! charged for a trade nobody holds; the bound is on the queue instead.
//!
//! ```
//! use possim_models::switch::store_forward::StoreForward;
//! use possim_models::time::Instant;
//! let queue = StoreForward::new(4);
//! assert_eq!(queue.next_due(), None::<Instant>);
//! assert_eq!(queue.room(), 4);
//! ```

use crate::actor::TradeKey;
use crate::bounded::BoundedQueue;
use crate::iso8583::trade::ReversalRequest;
use crate::time::Instant;

/// One reversal waiting for the network's acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedReversal {
    pub key: TradeKey,
    pub reversal: ReversalRequest,
    /// Sends so far.
    pub attempts: u32,
    /// When to send next; `Instant::ZERO` after a restart means at once.
    pub due: Instant,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreForward {
    queue: BoundedQueue<QueuedReversal>,
}

impl StoreForward {
    pub fn new(store_forward_max: usize) -> StoreForward {
        StoreForward { queue: BoundedQueue::new(store_forward_max) }
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.queue.capacity()
    }

    pub fn room(&self) -> usize {
        self.queue.capacity() - self.queue.len()
    }

    pub fn contains(&self, key: &TradeKey) -> bool {
        self.queue.iter().any(|queued| queued.key == *key)
    }

    /// Queues `reversal`, due at once. The caller reserved the room.
    pub fn push(&mut self, key: TradeKey, reversal: ReversalRequest, now: Instant) {
        assert!(!self.contains(&key), "reversal of {key} queued twice");
        self.queue.push_expect(
            QueuedReversal { key, reversal, attempts: 0, due: now },
            "store-and-forward",
        );
    }

    /// Removes the reversal of `key`; whether it was there.
    pub fn acknowledge(&mut self, key: &TradeKey) -> bool {
        let before = self.queue.len();
        self.queue.retain(|queued| queued.key != *key);
        self.queue.len() < before
    }

    pub fn next_due(&self) -> Option<Instant> {
        self.queue.iter().map(|queued| queued.due).min()
    }

    /// The reversals due at `now`, marked as sent and rescheduled.
    pub fn take_due(&mut self, now: Instant, retry: std::time::Duration) -> Vec<QueuedReversal> {
        let mut due = Vec::new();
        for queued in self.queue.iter_mut().filter(|queued| queued.due <= now) {
            queued.attempts += 1;
            queued.due = now + retry;
            due.push(queued.clone());
        }
        due
    }

    /// After a restart everything is due at once: the wait before the crash
    /// is not worth keeping, and the network treats a repeat as a repeat.
    pub fn all_due(&mut self, now: Instant) {
        for queued in self.queue.iter_mut() {
            queued.due = now;
        }
    }

    /// Moves the queue under a (possibly new) bound.
    pub fn rebound(self, store_forward_max: usize) -> Result<StoreForward, usize> {
        if self.queue.len() > store_forward_max {
            return Err(self.queue.len());
        }
        let mut queue = BoundedQueue::new(store_forward_max);
        for queued in self.queue.iter() {
            queue.push_expect(queued.clone(), "store-and-forward");
        }
        Ok(StoreForward { queue })
    }

    pub fn iter(&self) -> impl Iterator<Item = &QueuedReversal> {
        self.queue.iter()
    }
}
