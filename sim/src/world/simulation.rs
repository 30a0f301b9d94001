//! The turmoil simulation every run is built on: its epoch, seed, tick,
//! the one-millisecond backbone hop, and what becomes of a panic.
//!
//! A panic in any host's task must fail the seed, never leave a dead actor
//! in a run that goes on and passes. Turmoil asks tokio to shut a host's
//! runtime down on an unhandled panic, and that setting exists only under
//! `--cfg tokio_unstable` (the crate refuses to build without it): the step
//! that polled the task then panics, `possim run` exits with it, and a sweep
//! counts the seed as failed ("panic").

use std::time::{Duration, UNIX_EPOCH};

/// Simulated seconds since the Unix epoch at which every run starts.
const EPOCH_S: u64 = 1_795_000_000;
/// Turmoil's own limit on a run's simulated time, past any scenario's bound.
const SIMULATION_S_MAX: u64 = 30 * 86_400;
/// Bytes a simulated TCP connection buffers.
const TCP_CAPACITY_BYTES: usize = 64 * 1024;

/// A simulation stepping `tick` at a time, its own randomness from `seed`.
pub(crate) fn simulation(tick: Duration, seed: u64) -> turmoil::Sim<'static> {
    turmoil::Builder::new()
        .epoch(UNIX_EPOCH + Duration::from_secs(EPOCH_S))
        .rng_seed(seed)
        .tick_duration(tick)
        .simulation_duration(Duration::from_secs(SIMULATION_S_MAX))
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(Duration::from_millis(1))
        .tcp_capacity(TCP_CAPACITY_BYTES)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression: a task spawned beside a host's main loop (as every shell
    /// spawns its writers and delayed sends) that panics must stop the run;
    /// without tokio's unhandled-panic setting the host went on without it.
    #[test]
    fn a_panic_in_a_spawned_task_fails_the_step() {
        let mut sim = simulation(Duration::from_millis(10), 7);
        sim.host("farm", || async {
            tokio::task::spawn_local(async {
                tokio::time::sleep(Duration::from_millis(50)).await;
                panic!("an actor broke its invariant");
            });
            tokio::time::sleep(Duration::from_secs(3_600)).await;
            Ok(())
        });
        let stepped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            for _ in 0..20 {
                sim.step().expect("no turmoil error before the panic");
            }
        }));
        assert!(stepped.is_err(), "the panicking task went unnoticed");
    }
}
