//! Exact idle-time skipping: knowing, without guessing, that the next
//! stretch of ticks would do nothing, so the runner can step over it at once.
//!
//! Turmoil steps every host by a fixed tick whether it has work or not. A
//! stretch of `m` ticks does nothing when, at its start, no task in any host
//! is ready to run, and within it no timer of a host fires, no message
//! becomes deliverable and the runner has nothing scheduled. Each of those is
//! known exactly:
//!
//! - **Ready tasks.** Every task the shells spawn (and each host's main
//!   future) is wrapped by [`Quiet::counted`], which counts its polls. A step
//!   in which no task was polled, followed by a runner that did nothing,
//!   leaves no task ready: every wake within a step is polled within it, but
//!   for a timer due at the step's very end, which the timer list still holds.
//! - **Timers.** Every sleep in the shells is [`Quiet::sleep`], which keeps
//!   its deadline in a list until it completes or is dropped.
//! - **Messages.** Turmoil's `Sim::next_delivery` (the vendored patch).
//! - **The runner's schedule**, which the runner reads itself.
//!
//! The skip is also checked after the fact: a skip step in which any task was
//! polled means something was due that the skip did not know of, and the run
//! stops with that error rather than drift from the trace a tick-by-tick run
//! would have written.
//!
//! ```
//! use std::time::Duration;
//! use possim_sim::world::quiet::ticks_to_skip;
//! let tick = Duration::from_millis(10);
//! // Now 100 ms, next deadline at 175 ms: ticks up to 170 ms do nothing.
//! assert_eq!(ticks_to_skip(Duration::from_millis(100), Duration::from_millis(175), tick), 7);
//! // A deadline on the grid: the tick that ends on it runs normally.
//! assert_eq!(ticks_to_skip(Duration::from_millis(100), Duration::from_millis(170), tick), 6);
//! assert_eq!(ticks_to_skip(Duration::from_millis(100), Duration::from_millis(105), tick), 0);
//! ```

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

/// Timers waiting at once, over every host; a bound on the list.
const TIMERS_MAX: usize = 1_000_000;

/// What the hosts tell the runner about their idleness.
#[derive(Debug, Default)]
pub(crate) struct Quiet {
    polls: Cell<u64>,
    /// Deadline (simulated time since the start) -> timers waiting for it.
    timers: RefCell<BTreeMap<Duration, u32>>,
    waiting: Cell<usize>,
}

/// Removes its timer from the list when the sleep ends or is dropped.
struct TimerGuard {
    quiet: Rc<Quiet>,
    deadline: Duration,
}

impl Drop for TimerGuard {
    fn drop(&mut self) {
        let mut timers = self.quiet.timers.borrow_mut();
        let count = timers.get_mut(&self.deadline).expect("a listed timer");
        *count -= 1;
        if *count == 0 {
            timers.remove(&self.deadline);
        }
        self.quiet.waiting.set(self.quiet.waiting.get() - 1);
    }
}

impl Quiet {
    /// Task polls so far, in every host.
    pub fn polls(&self) -> u64 {
        self.polls.get()
    }

    /// The earliest deadline of a waiting timer, in simulated time since the start.
    pub fn next_timer(&self) -> Option<Duration> {
        self.timers.borrow().keys().next().copied()
    }

    /// `future`, counting each of its polls.
    pub fn counted<F: Future>(self: &Rc<Self>, future: F) -> impl Future<Output = F::Output> {
        let quiet = self.clone();
        let mut future = Box::pin(future);
        std::future::poll_fn(move |cx| {
            quiet.polls.set(quiet.polls.get() + 1);
            future.as_mut().poll(cx)
        })
    }

    /// `tokio::time::sleep`, with its deadline listed while it waits.
    pub async fn sleep(self: &Rc<Self>, duration: Duration) {
        let now = turmoil::sim_elapsed().expect("inside the simulation");
        let deadline = now + duration;
        {
            let mut timers = self.timers.borrow_mut();
            *timers.entry(deadline).or_insert(0) += 1;
            self.waiting.set(self.waiting.get() + 1);
            assert!(self.waiting.get() <= TIMERS_MAX, "timers over {TIMERS_MAX}");
        }
        let _guard = TimerGuard { quiet: self.clone(), deadline };
        tokio::time::sleep(duration).await;
    }
}

/// How many whole ticks from `now` do nothing when the earliest thing due is
/// at `next`: every tick that ends strictly before `next`. A tick that ends
/// exactly on `next` may or may not run what is due then (turmoil's step
/// ends as its own sleep fires), so it is left to a normal step.
pub fn ticks_to_skip(now: Duration, next: Duration, tick: Duration) -> u32 {
    assert!(!tick.is_zero(), "a tick of zero");
    if next <= now {
        return 0;
    }
    let gap = next - now;
    // ceil(gap / tick) - 1: the ticks that end before `next`.
    let ticks = gap.as_nanos().div_ceil(tick.as_nanos()) - 1;
    u32::try_from(ticks).unwrap_or(u32::MAX)
}
