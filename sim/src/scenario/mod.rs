//! Scenarios: the YAML a run is built from.
//!
//! - [`model`]: the schema (serde types; `docs/SCENARIOS.md` documents it).
//! - [`load`]: reading a file — YAML syntax, keys and types
//!   ([`parse`], [`load`](load::load)).
//! - [`validate`](mod@validate): what the scenario means, each mistake at
//!   its line and column ([`validate()`]).
//! - [`bounds`]: the sizes a scenario may ask for.
//! - [`compile`]: every actor's configuration ([`Scenario::compile`],
//!   [`CompiledScenario`]).
//! - [`error`]: [`ScenarioError`] (`file:line:column: message`) and
//!   [`CompileError`] (a path in the YAML tree and a message).
//! - [`locate`]: the path → line/column map validation uses.
//! - [`placement`]: the words a placed fault is recorded with.
//!
//! ```
//! use possim_sim::scenario::parse_and_compile;
//! let text = "\
//! name: corner shop
//! merchants: [{id: '898100000000001'}]
//! issuers: [{index: 0, bins: ['622202']}]
//! terminals:
//!   - {id: T0000001, merchant: '898100000000001', tmk: 0123456789ABCDEF}
//! cards:
//!   - {pan: '6222020000000001', balance_fen: 100000}
//! ";
//! let compiled = parse_and_compile(text, "shop.yaml").unwrap();
//! assert_eq!(compiled.switch.terminals.len(), 1);
//!
//! let error = parse_and_compile(&text.replace("T0000001", "T00000001"), "shop.yaml").unwrap_err();
//! assert_eq!(error.headline(), "shop.yaml:5:10: TerminalId is at most 8 printable ASCII characters");
//! ```

pub mod bounds;
mod bursts;
pub mod case;
pub mod compile;
mod durations;
pub mod error;
#[cfg(test)]
pub(crate) mod fixtures;
pub mod guard;
pub mod load;
pub mod locate;
pub mod model;
pub mod placement;
mod schedule;
pub mod validate;

pub use compile::{CompiledCard, CompiledScenario, CompiledTerminal};
pub use error::{CompileError, FieldPath, ScenarioError, Segment};
pub use load::{load, load_and_compile, load_simulable, parse, parse_and_compile, parse_simulable};
pub use model::Scenario;
pub use validate::{validate, INVARIANTS};
