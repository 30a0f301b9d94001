//! Scenarios: the YAML a run is built from.
//!
//! - [`model`]: the schema (serde types; `docs/SCENARIOS.md` documents it).

pub mod model;
