//! The possim simulator: the world the models run in, and the command line.
//!
//! - [`frame_json`]: a frame as one JSON object, the exchange format of
//!   `possim frame decode --json` and `possim frame encode`.
//! - [`trace`]: the typed event log of a run, its JSON Lines and its hash;
//!   [`frame_facts`]: what it records of each frame.
//! - [`scenario`]: the YAML a run is built from; [`world`]: the turmoil world
//!   that runs it; [`oracle`]: the invariants judged on its trace;
//!   [`execute`]: the three together; [`summary`]: what a run did, counted;
//!   [`placed`]: which placed faults landed.
//! - [`sweep_json`]: the lines `possim sweep --json` writes, read back by
//!   `possim tally` and `possim merge`; [`shards`]: shards of one sweep
//!   checked and joined, for `possim merge`.
//! - [`certify`]: the certification cases, their step matcher and matrix.

#![forbid(unsafe_code)]

// Without tokio's unstable cfg, `tokio::select!` polls its branches in a
// random order and turmoil neither seeds its runtimes nor stops on a task's
// panic: runs would still pass, but would no longer replay. Cargo drops the
// `.cargo/config.toml` rustflags whenever RUSTFLAGS is set, so say it here.
#[cfg(not(tokio_unstable))]
compile_error!(
    "possim-sim must be built with --cfg tokio_unstable: .cargo/config.toml sets it, \
     and a RUSTFLAGS in the environment replaces that; add --cfg tokio_unstable to it"
);

pub mod certify;
pub mod coverage;
pub mod day;
pub mod execute;
pub mod explore;
pub mod frame_facts;
pub mod frame_json;
pub mod hunt;
pub mod live;
pub mod logs;
pub mod oracle;
pub mod order;
pub mod pinned;
pub mod placed;
pub mod pre_auths;
pub mod refunds;
pub mod report;
pub(crate) mod rng;
pub mod scenario;
pub mod shards;
pub mod shrink;
pub mod summary;
pub mod swarm_placed;
pub mod sweep_json;
pub mod tally;
pub mod trace;
pub mod world;
