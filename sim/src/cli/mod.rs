//! The `possim` command line: one module per subcommand.

pub mod bench;
pub mod certify;
pub mod certify_serve;
pub mod coverage;
pub mod drive;
pub mod explore;
pub mod frame;
pub mod hashes;
pub mod hunt;
pub mod logs;
pub mod merge;
pub mod run;
pub mod serve;
pub mod shrink;
pub mod sweep;
pub mod tally;

/// Exit codes shared by every subcommand.
pub mod exit {
    /// Everything passed.
    pub const PASS: u8 = 0;
    /// A check failed (an invariant, a MAC).
    pub const FAIL: u8 = 1;
    /// Usage, scenario or input error.
    pub const USAGE: u8 = 2;
    /// Whoever read standard output stopped reading (`| head` does): the
    /// shell's code for a tool that SIGPIPE ended, so `set -o pipefail`
    /// still sees the output was cut short, and no error message, since
    /// nothing went wrong in the run itself.
    pub const CUT_SHORT: u8 = 141;
}
