//! The deterministic world: the models inside turmoil, with hosts as network
//! elements — terminal farms (terminals are tasks, each with its own TCP
//! connection), the switch, the network, one host per issuer.
//!
//! - [`runner`]: one run: the loop that steps turmoil, hands the world's
//!   events to the day ([`crate::day`]) and applies the day's actions.
//! - `build`: the actors and hosts of a run, and the trace's setup record.
//! - `faults`: starting and undoing faults, drawn and placed ones included.
//! - `view`: the world as the day reads it.
//! - `shells`: the async loops that carry bytes into the actors.
//! - `line`: the deterministic fault shim on each terminal's line.
//! - `state`: what the hosts share.
//! - [`quiet`]: knowing exactly when nothing is due, to skip idle time.
//! - the seeded random streams are `crate::rng`, shared with live mode.
//! - `simulation`: turmoil's settings, and why a panic fails the seed.

mod build;
pub(crate) use build::setup_record;
mod faults;
mod line;
pub mod quiet;
pub mod runner;
mod shells;
mod simulation;
mod state;
mod view;

pub use runner::{run, RunError, RunOptions, RunOutcome};
