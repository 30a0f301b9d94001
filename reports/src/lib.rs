//! Renders possim results for people and CI systems: HTML, Markdown
//! summaries, JUnit XML.
//!
//! This crate knows nothing of turmoil or of the simulator: it renders plain
//! records that the simulator (or the live mode) fills in. A suite of named
//! cases — certification cases, sweep seeds, live checks — is a [`Suite`];
//! [`write_suite`] writes its `summary.md`, `junit.xml` and `report.html`.
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
pub mod error;
pub mod escape;
pub mod html;
pub mod junit;
pub mod markdown;
pub mod write;

pub use case::{CaseResult, Suite};
pub use error::ReportError;
pub use write::write_suite;
