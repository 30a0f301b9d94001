//! Sans-IO models of bank-card acceptance on the UnionPay network.
//!
//! Nothing here does I/O, reads a clock, draws random numbers or spawns a
//! thread: time and bytes are passed in, bytes and events are polled out.
//! That is what lets the simulator replay a run byte for byte.
//!
//! - [`iso8583`]: the CUP POS wire format, its MAC and its keys.
//! - [`actor`]: the interface every actor implements; [`time`]: simulated
//!   time and the business calendar; [`bounded`]: the one queue type;
//!   [`wire`]: sealing and receiving frames.
//! - The actors: [`terminal`], [`switch`], [`network`], [`issuer`].
//! - `harness` (cargo feature `harness`, for tests and benchmarks): the four
//!   actors wired together in memory, with scripted faults on their links.

#![forbid(unsafe_code)]

pub mod actor;
pub mod bounded;
#[cfg(feature = "harness")]
pub mod harness;
pub mod iso8583;
pub mod issuer;
pub mod network;
pub mod switch;
pub mod terminal;
mod text;
pub mod time;
pub mod wire;
