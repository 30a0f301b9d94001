//! Certification cases against a real terminal (`possim certify --serve`):
//! possim plays switch, network and issuers for the terminal that connects,
//! applies each case's host-side faults, tells an operator what to do on the
//! terminal, records what happened as the simulator would, and judges the
//! case with the simulator's matcher, the device's numbering read as
//! symbols. docs/CERTIFICATION.md, "A real terminal", describes it.
//!
//! - [`operator`]: the operator script (lines out, answers in, parsed).
//! - [`identity`]: the device's terminal id, merchant and TMK in the case's.
//! - [`plan`]: a case's script as instructions, and the power-cut cues.
//! - [`session`]: the run, case after case, every wait with a deadline.
//! - [`wire`]: what the wire showed so far (trades, cues landed).
//! - [`end`]: when a case is decided and may stop watching the wire.
//! - [`judge`]: a case's verdict from its records.
//!
//! ```
//! use possim_sim::certify::live::session::{LiveOptions, OperatorMode};
//! let options = LiveOptions { mode: OperatorMode::Json, ..LiveOptions::default() };
//! assert_eq!(options.operator_timeout_ms, 60_000);
//! ```

pub mod end;
pub mod identity;
pub mod judge;
pub mod operator;
pub mod plan;
pub mod session;
pub mod wire;
