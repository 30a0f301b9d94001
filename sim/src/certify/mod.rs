//! Certification: a suite of cases, each a scripted scenario with an
//! expected message sequence and end state, checked step by step, and the
//! matrix showing that every case fails under the unsafe policies and
//! faults it guards against. `docs/CERTIFICATION.md` describes the suite.
//!
//! - [`case`]: the `case:` section of a scenario (id, title, rule, guards,
//!   steps, outcome) and its checks.
//! - [`guard`]: a scenario with one guard applied.
//! - [`matcher`]: the trace as events; steps matched in order.
//! - [`evidence`]: which event each step matched and the frames observed,
//!   for the report (the same for simulator and live runs).
//! - [`outcome`]: the end state of a run, compared with the case's (all of
//!   it, or what a live run's device side can see).
//! - [`runner`]: loading a directory of cases and running one.
//! - [`matrix`]: cases × guards, as a Markdown table.
//! - [`drive`]: a host case played against a real acquirer host and judged
//!   on what the wire showed (`certify --drive`).
//! - [`registry`]: what such a host must provision (`--host-registry`).

/// The case block of a scenario file, and a guard applied to a scenario,
/// live with the scenario they are part of (so the scenario needs nothing
/// from certification); they are named here too.
pub use crate::scenario::{case, guard};
pub mod drive;
pub mod evidence;
pub mod live;
pub mod matcher;
pub mod matrix;
pub mod outcome;
pub mod registry;
pub mod runner;
pub mod symbols;
