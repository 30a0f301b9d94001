//! `--log FILTER` and `--log-format`, shared by `run`, `replay`, `serve` and
//! `drive`: logs a bug reporter can paste ([`possim_sim::logs`]).

use anyhow::Result;
use clap::{Args, ValueEnum};
use possim_sim::logs::{self, LogFormat};

use super::frame::InputError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormatArg {
    /// One line per event: simulated time, level, spans, target, message.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct LogArgs {
    /// Log the run's decisions, frames and faults to stderr, stamped with
    /// simulated time (serve and drive: time since start): a filter in
    /// RUST_LOG's syntax (`possim=info`,
    /// `possim=debug` adds every frame, `possim::frame=trace` their fields).
    /// Wins over RUST_LOG; with neither, nothing is logged.
    #[arg(long, value_name = "FILTER")]
    pub log: Option<String>,
    /// How log lines are written.
    #[arg(long, value_enum, default_value_t = LogFormatArg::Text)]
    pub log_format: LogFormatArg,
}

impl LogArgs {
    /// Installs the log subscriber when a filter is given; whether it did.
    pub fn install(&self) -> Result<bool> {
        let format = match self.log_format {
            LogFormatArg::Text => LogFormat::Text,
            LogFormatArg::Json => LogFormat::Json,
        };
        logs::install(self.log.as_deref(), format)
            .map_err(|error| anyhow::anyhow!(InputError(error)))
    }
}
