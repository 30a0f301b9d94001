//! What the day driver may read of the world it drives. The driver decides
//! from the terminals' own state (busy, powered, signed in, journal) the way
//! a cashier looks at the screen; the glue owns that state and lends it.

use possim_models::iso8583::values::TerminalId;
use possim_models::terminal::Terminal;

/// A read-only look at the terminals (and, while healing, the hosts).
pub trait DayView {
    /// Terminal `id`, one of the day's.
    fn terminal(&self, id: TerminalId) -> &Terminal;
    /// Whether a trade keyed in at `id` waits to reach the terminal: the
    /// world queues commands until the terminal's host runs; a glue that
    /// applies them at once has none.
    fn trade_queued(&self, id: TerminalId) -> bool;
    /// What the hosts still hold that healing must wait for, one line each
    /// (none when they are quiet, or not the glue's to see).
    fn hosts_pending(&self) -> Vec<String>;
}
