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
//!   future) is wrapped by [`Quiet::counted`], which hands the task a waker
//!   of its own: a wake marks the task ready (and is passed on to tokio), a
//!   poll marks it not ready. So the count of ready tasks is exactly the
//!   count tokio would run at the next step, whoever woke them: a timer, a
//!   message, another host, the runner.
//! - **Timers.** Every sleep in the shells is [`Quiet::sleep`], which keeps
//!   its deadline in a list until it completes or is dropped.
//! - **Messages.** Turmoil's `Sim::next_delivery` (the vendored patch).
//! - **The runner's schedule**, which the runner reads itself.
//!
//! The same counts, kept per host, let a busy step run only the hosts that
//! have work (`Sim::step_by_hosts`): at each host's turn, after the hosts
//! before it ran, a host with no task ready, no timer due by the step's end
//! and no message to deliver would do nothing, so it is not run, and its
//! clock is caught up before it next runs.
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
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

/// Timers waiting at once, over every host; a bound on the list.
const TIMERS_MAX: usize = 1_000_000;

/// What the hosts tell the runner about their idleness.
#[derive(Debug, Default)]
pub(crate) struct Quiet {
    polls: Cell<u64>,
    /// Every host's own counts, by the index [`Quiet::host`] gave it.
    hosts: RefCell<Vec<HostQuiet>>,
    /// The host whose turn it is (set as turmoil asks whether it has work):
    /// the tasks it spawns and the sleeps it starts are its own.
    current: Cell<usize>,
    waiting: Cell<usize>,
}

/// One host's ready tasks and waiting timers.
#[derive(Debug)]
struct HostQuiet {
    name: String,
    /// Tasks woken (or spawned) and not polled since.
    ready: Arc<AtomicUsize>,
    /// Deadline (simulated time since the start) -> timers waiting for it.
    timers: BTreeMap<Duration, u32>,
}

/// One task's readiness, and the waker tokio gave it, to pass wakes on to.
/// (Atomics and a mutex only because `Wake` asks for `Send + Sync`: every
/// task of a run lives on one thread.)
#[derive(Debug)]
struct TaskWaker {
    ready: AtomicBool,
    /// Cleared when the task is dropped: a waker left behind in a timer or
    /// a channel may still fire, and must not count a task that is gone.
    alive: AtomicBool,
    ready_count: Arc<AtomicUsize>,
    inner: Mutex<Option<Waker>>,
}

impl TaskWaker {
    fn mark_ready(&self) {
        if self.alive.load(Ordering::Relaxed) && !self.ready.swap(true, Ordering::Relaxed) {
            self.ready_count.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn mark_polled(&self) {
        if self.ready.swap(false, Ordering::Relaxed) {
            self.ready_count.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.mark_ready();
        let inner = self.inner.lock().expect("one thread").clone();
        if let Some(inner) = inner {
            inner.wake();
        }
    }
}

/// A shell's task, as [`Quiet::counted`] wraps it.
struct Counted<F> {
    quiet: Rc<Quiet>,
    state: Arc<TaskWaker>,
    waker: Waker,
    future: std::pin::Pin<Box<F>>,
}

impl<F: Future> Future for Counted<F> {
    type Output = F::Output;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        this.quiet.polls.set(this.quiet.polls.get() + 1);
        this.state.mark_polled();
        {
            let mut inner = this.state.inner.lock().expect("one thread");
            if !inner.as_ref().is_some_and(|waker| waker.will_wake(cx.waker())) {
                *inner = Some(cx.waker().clone());
            }
        }
        let mut context = Context::from_waker(&this.waker);
        this.future.as_mut().poll(&mut context)
    }
}

impl<F> Drop for Counted<F> {
    fn drop(&mut self) {
        // A task dropped while ready (its host crashed) will never run, and
        // a wake after this is a stale waker's.
        self.state.mark_polled();
        self.state.alive.store(false, Ordering::Relaxed);
    }
}

/// Removes its timer from the list when the sleep ends or is dropped.
struct TimerGuard {
    quiet: Rc<Quiet>,
    host: usize,
    deadline: Duration,
}

impl Drop for TimerGuard {
    fn drop(&mut self) {
        let mut hosts = self.quiet.hosts.borrow_mut();
        let timers = &mut hosts[self.host].timers;
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

    /// Registers a host by its turmoil name; its index names it after.
    pub fn host(&self, name: &str) -> usize {
        let mut hosts = self.hosts.borrow_mut();
        assert!(hosts.iter().all(|host| host.name != name), "host {name} registered twice");
        hosts.push(HostQuiet {
            name: name.to_string(),
            ready: Arc::new(AtomicUsize::new(0)),
            timers: BTreeMap::new(),
        });
        hosts.len() - 1
    }

    /// Whether some task is ready to run at the next step.
    pub fn any_ready(&self) -> bool {
        self.hosts.borrow().iter().any(|host| host.ready.load(Ordering::Relaxed) > 0)
    }

    /// The earliest deadline of a waiting timer, in simulated time since the start.
    pub fn next_timer(&self) -> Option<Duration> {
        self.hosts.borrow().iter().filter_map(|host| host.timers.keys().next().copied()).min()
    }

    /// Asked by turmoil at host `name`'s turn in a step that ends at
    /// `step_end`: whether running it could do anything (a task ready, a
    /// timer due by the end). Makes it the current host either way.
    pub fn has_work(&self, name: &str, step_end: Duration) -> bool {
        let hosts = self.hosts.borrow();
        let index = hosts.iter().position(|host| host.name == name).expect("a registered host");
        self.current.set(index);
        let host = &hosts[index];
        host.ready.load(Ordering::Relaxed) > 0
            || host.timers.keys().next().is_some_and(|deadline| *deadline <= step_end)
    }

    /// `future` as a task whose polls and readiness are counted; it is
    /// ready until first polled, as a spawned task is.
    pub fn counted<F: Future>(self: &Rc<Self>, future: F) -> impl Future<Output = F::Output> {
        self.counted_on(self.current.get(), future)
    }

    /// As [`Quiet::counted`], for a task of host `host` (a host's main
    /// future, made outside any host's turn).
    pub fn counted_on<F: Future>(
        self: &Rc<Self>,
        host: usize,
        future: F,
    ) -> impl Future<Output = F::Output> {
        let ready_count = self.hosts.borrow()[host].ready.clone();
        let state = Arc::new(TaskWaker {
            ready: AtomicBool::new(false),
            alive: AtomicBool::new(true),
            ready_count,
            inner: Mutex::new(None),
        });
        state.mark_ready();
        Counted {
            quiet: self.clone(),
            waker: Waker::from(state.clone()),
            state,
            future: Box::pin(future),
        }
    }

    /// `tokio::time::sleep`, with its deadline listed while it waits.
    pub async fn sleep(self: &Rc<Self>, duration: Duration) {
        let now = turmoil::sim_elapsed().expect("inside the simulation");
        let deadline = now + duration;
        let host = self.current.get();
        {
            let mut hosts = self.hosts.borrow_mut();
            *hosts[host].timers.entry(deadline).or_insert(0) += 1;
            self.waiting.set(self.waiting.get() + 1);
            assert!(self.waiting.get() <= TIMERS_MAX, "timers over {TIMERS_MAX}");
        }
        let _guard = TimerGuard { quiet: self.clone(), host, deadline };
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::pin::pin;

    /// A future that keeps the waker it is polled with, and is ready at once.
    fn keeping_waker(slot: Rc<RefCell<Option<Waker>>>) -> impl Future<Output = ()> {
        std::future::poll_fn(move |cx| {
            *slot.borrow_mut() = Some(cx.waker().clone());
            Poll::Ready(())
        })
    }

    #[test]
    fn a_task_is_ready_until_polled_and_again_when_woken() {
        let quiet = Rc::new(Quiet::default());
        quiet.host("h");
        let slot = Rc::new(RefCell::new(None));
        let waiting = slot.clone();
        let mut task = pin!(quiet.counted(std::future::poll_fn(move |cx| {
            *waiting.borrow_mut() = Some(cx.waker().clone());
            Poll::<()>::Pending
        })));
        assert!(quiet.any_ready(), "a spawned task runs at the next step");
        let mut cx = Context::from_waker(Waker::noop());
        assert!(task.as_mut().poll(&mut cx).is_pending());
        assert!(!quiet.any_ready());
        slot.borrow().as_ref().expect("kept").wake_by_ref();
        assert!(quiet.any_ready(), "a wake makes it ready");
        assert!(task.as_mut().poll(&mut cx).is_pending());
        assert!(!quiet.any_ready());
        assert_eq!(quiet.polls(), 2);
    }

    /// Regression: a waker a finished task left behind fired later and kept
    /// the ready count above zero for the rest of the run, so nothing was
    /// ever skipped again (the soak took 1,152,327 steps instead of 664,023).
    #[test]
    fn a_stale_waker_of_a_finished_task_counts_nothing() {
        let quiet = Rc::new(Quiet::default());
        quiet.host("h");
        let slot = Rc::new(RefCell::new(None));
        {
            let mut task = pin!(quiet.counted(keeping_waker(slot.clone())));
            let mut cx = Context::from_waker(Waker::noop());
            assert!(task.as_mut().poll(&mut cx).is_ready());
        }
        assert!(!quiet.any_ready());
        slot.borrow().as_ref().expect("kept").wake_by_ref();
        assert!(!quiet.any_ready(), "a task that is gone is never ready");
    }

    #[test]
    fn a_task_dropped_while_ready_is_not_counted() {
        let quiet = Rc::new(Quiet::default());
        quiet.host("h");
        drop(quiet.counted(std::future::pending::<()>()));
        assert!(!quiet.any_ready(), "a crashed host's tasks never run");
    }
}
