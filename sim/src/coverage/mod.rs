//! Coverage: what runs reached, against what the models can produce — the
//! way code probes and "sometimes" assertions show which corners a test
//! never visits. [`universe`] enumerates the possible, [`count`] counts a
//! trace, [`listing`] prints both and what was never reached, [`merge`]
//! reads them back from sweeps' JSON output.
//!
//! ```
//! use possim_sim::coverage::{count::Coverage, listing::Listing};
//! use possim_sim::trace::Trace;
//! let text = Listing(&Coverage::of(&Trace::new())).to_string();
//! assert!(text.contains("never: timeout, bad_mac, garbled"));
//! ```

pub mod count;
pub mod listing;
pub mod merge;
pub mod universe;

pub use count::Coverage;
pub use listing::{cells, never_reached, universe_cells, Listing};
