//! How a drive runs: its pace, its bounds and its seed.

/// How a drive runs.
#[derive(Debug, Clone)]
pub struct FleetOptions {
    /// Workload times (script, arrivals, cashier delays, power-off
    /// durations) are divided by this.
    pub speed: f64,
    /// The workload phase ends once this many online trades left.
    pub max_trades: Option<u64>,
    /// The workload phase lasts at most this long (wall).
    pub workload_ms: u64,
    /// The closing phase lasts at most this long (wall).
    pub closing_ms: u64,
    /// Seeds the drawn cardholders.
    pub seed: u64,
    /// Keep what happened as trace records, at most this many (0: none).
    pub records_max: usize,
    /// Play the simulated line's faults too (`drop_request`, `drop_answer`,
    /// `drop_reversals`, `frame` drop and corrupt): see [`super::line`].
    pub line_faults: bool,
}

impl Default for FleetOptions {
    fn default() -> FleetOptions {
        FleetOptions {
            speed: 1.0,
            max_trades: None,
            workload_ms: 60_000,
            closing_ms: 60_000,
            seed: 0,
            records_max: 0,
            line_faults: false,
        }
    }
}
