//! The `possim` command line: one module per subcommand.

pub mod bench;
pub mod certify;
pub mod coverage;
pub mod drive;
pub mod frame;
pub mod run;
pub mod serve;
pub mod shrink;
pub mod sweep;

/// Exit codes shared by every subcommand.
pub mod exit {
    /// Everything passed.
    pub const PASS: u8 = 0;
    /// A check failed (an invariant, a MAC).
    pub const FAIL: u8 = 1;
    /// Usage, scenario or input error.
    pub const USAGE: u8 = 2;
}
