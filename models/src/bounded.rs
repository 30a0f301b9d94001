//! A FIFO queue with a fixed capacity, asserted: every queue in the models is
//! one of these, so no input can grow memory without bound.
//!
//! ```
//! use possim_models::bounded::BoundedQueue;
//! let mut queue = BoundedQueue::new(2);
//! queue.push(1).unwrap();
//! queue.push(2).unwrap();
//! assert_eq!(queue.push(3), Err(3)); // full: the caller decides what to do
//! assert_eq!(queue.pop(), Some(1));
//! ```

use std::collections::VecDeque;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BoundedQueue<T> {
    items: VecDeque<T>,
    capacity: usize,
}

impl<T> BoundedQueue<T> {
    pub fn new(capacity: usize) -> BoundedQueue<T> {
        assert!(capacity > 0);
        BoundedQueue { items: VecDeque::new(), capacity }
    }

    /// Appends `item`, or hands it back when the queue is full.
    pub fn push(&mut self, item: T) -> Result<(), T> {
        if self.items.len() >= self.capacity {
            return Err(item);
        }
        self.items.push_back(item);
        assert!(self.items.len() <= self.capacity);
        Ok(())
    }

    /// Appends `item`; a full queue here is a broken invariant of the caller.
    pub fn push_expect(&mut self, item: T, what: &str) {
        if self.push(item).is_err() {
            panic!("{what} queue over its bound of {}", self.capacity);
        }
    }

    pub fn pop(&mut self) -> Option<T> {
        self.items.pop_front()
    }

    pub fn front(&self) -> Option<&T> {
        self.items.front()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn is_full(&self) -> bool {
        self.items.len() >= self.capacity
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.items.iter()
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.items.iter_mut()
    }

    pub fn retain(&mut self, keep: impl FnMut(&T) -> bool) {
        self.items.retain(keep);
    }

    pub fn clear(&mut self) {
        self.items.clear();
    }
}
