//! The deterministic world: the models inside turmoil, with hosts as network
//! elements — terminal farms (terminals are tasks, each with its own TCP
//! connection), the switch, the network, one host per issuer.
//!
//! - [`runner`]: one run, its phases and its schedule.
//! - `shells`: the async loops that carry bytes into the actors.
//! - `line`: the deterministic fault shim on each terminal's line.
//! - `state`: what the hosts share.
//! - [`quiet`]: knowing exactly when nothing is due, to skip idle time.
//! - the seeded random streams are `crate::rng`, shared with live mode.
//! - `simulation`: turmoil's settings, and why a panic fails the seed.

mod line;
pub mod quiet;
pub mod runner;
mod shells;
mod simulation;
mod state;
mod view;

pub use runner::{run, RunError, RunOptions, RunOutcome};
