//! Renders possim results for people and CI systems: HTML, Markdown
//! summaries, JUnit XML.
//!
//! This crate knows nothing of turmoil or of the simulator: it renders plain
//! records that the simulator (or the live mode) fills in.
//!
//! - A suite of named cases — certification cases, sweep seeds, live
//!   checks — is a [`Suite`]; [`write_suite`] writes its `summary.md`,
//!   `junit.xml` and `report.html`; a failed certification case may carry
//!   its [`evidence`] (the steps beside the frames observed).
//! - One run is a [`RunRecord`] ([`run`]): verdicts, counts, message
//!   sequence charts ([`chart`]), the ledger ([`ledger`]) and terminal
//!   timelines ([`timeline`]); [`write_run`] renders it ([`run_html`],
//!   [`run_markdown`], JUnit with a case per invariant).
//! - A sweep is a [`SweepRecord`] ([`sweep`]); [`write_sweep`] renders it.
//!
//! Every page is self-contained (inline CSS and SVG, no script, nothing
//! from the network) and every text is escaped ([`escape`]).
//!
//! ```
//! use possim_reports::{CaseResult, Suite};
//! let suite = Suite {
//!     name: "certification".into(),
//!     cases: vec![CaseResult::pass("C01", "sign-in, mode 001", 12)],
//! };
//! let xml = possim_reports::junit::render(&suite).unwrap();
//! assert!(xml.contains("C01"));
//! let markdown = possim_reports::markdown::suite(&suite);
//! assert!(markdown.contains("| C01 |"));
//! ```

pub mod case;
pub mod chart;
pub mod error;
pub mod escape;
pub mod evidence;
pub mod format;
pub mod html;
pub mod junit;
pub mod ledger;
pub mod markdown;
pub mod run;
pub mod run_html;
pub mod run_markdown;
pub mod sweep;
pub mod sweep_html;
pub mod sweep_markdown;
pub mod timeline;
pub mod write;

pub use case::{CaseResult, Suite};
pub use error::ReportError;
pub use run::RunRecord;
pub use sweep::SweepRecord;
pub use write::{write_run, write_suite, write_sweep};
