//! Sans-IO models of bank-card acceptance on the UnionPay network.
//!
//! Nothing here does I/O, reads a clock, draws random numbers or spawns a
//! thread: time and bytes are passed in, bytes and events are polled out.
//! That is what lets the simulator replay a run byte for byte.
//!
//! - [`iso8583`]: the CUP POS wire format, its MAC and its keys.

#![forbid(unsafe_code)]

pub mod iso8583;
