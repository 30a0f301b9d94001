//! The possim simulator: the world the models run in, and the command line.
//!
//! - [`frame_json`]: a frame as one JSON object, the exchange format of
//!   `possim frame decode --json` and `possim frame encode`.
//! - [`trace`]: the typed event log of a run, its JSON Lines and its hash.

#![forbid(unsafe_code)]

pub mod frame_json;
pub mod scenario;
pub mod trace;
