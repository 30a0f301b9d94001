//! Certification: a suite of cases, each a scripted scenario with an
//! expected message sequence and end state, checked step by step, and the
//! matrix showing that every case fails under the unsafe policies and
//! faults it guards against. `docs/CERTIFICATION.md` describes the suite.
//!
//! - [`case`]: the `case:` section of a scenario (id, title, rule, guards,
//!   steps, outcome) and its checks.
//! - [`guard`]: a scenario with one guard applied.
//! - [`matcher`]: the trace as events; steps matched in order.
//! - [`outcome`]: the end state of a run, compared with the case's.
//! - [`runner`]: loading a directory of cases and running one.
//! - [`matrix`]: cases × guards, as a Markdown table.

pub mod case;
pub mod guard;
pub mod matcher;
pub mod matrix;
pub mod outcome;
pub mod runner;
