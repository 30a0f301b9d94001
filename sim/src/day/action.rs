//! What the day driver asks of the world it drives: typed actions, one at
//! a time, which the glue (the turmoil world, the live fleet) applies in
//! the order they come.

use possim_models::iso8583::values::TerminalId;
use possim_models::terminal::TerminalCommand;

/// One thing for the glue to do now.
#[derive(Debug, Clone, PartialEq)]
pub enum DayAction<G> {
    /// The cashier (or the operator, or a technician) keys this in at the
    /// terminal.
    Command { terminal: TerminalId, command: TerminalCommand },
    /// An item the glue put on the day's clock ([`super::DayDriver::at_glue`])
    /// is due: the glue's own (a fault, its undoing, a host's chore).
    Glue(G),
    /// The safety phase is over. `stopped` holds the glue's items taken off
    /// the clock because they belong to the faulty part of the day
    /// ([`super::GlueItem::stops_at_healing`]), in the order they were due:
    /// the glue undoes what they would have undone, now, and heals the
    /// lines. The terminals' charge follows as commands.
    Healing { stopped: Vec<G> },
    /// Healing converged: every terminal settled and the hosts are quiet;
    /// the day can be cleared.
    Converged,
    /// The day is over: the glue stops asking for actions.
    End,
}
