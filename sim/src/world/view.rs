//! The world as the day driver sees it ([`crate::day::DayView`]): the
//! terminals' own state, the cashier's keyed-in trades still queued for a
//! terminal's host, and what the hosts still hold while healing.

use possim_models::actor::Node;
use possim_models::iso8583::values::TerminalId;
use possim_models::terminal::Terminal;

use super::state::{Command, World};
use crate::day::DayView;

impl DayView for World {
    fn terminal(&self, id: TerminalId) -> &Terminal {
        &self.terminals[&id].terminal
    }

    fn trade_queued(&self, id: TerminalId) -> bool {
        self.commands.get(&Node::Terminal(id)).is_some_and(|queue| {
            queue.iter().any(|c| matches!(c, Command::Terminal(c) if c.is_trade()))
        })
    }

    fn hosts_pending(&self) -> Vec<String> {
        let counts = [
            (usize::from(!self.switch_up), "switch down"),
            (self.switch.store_forward().len(), "reversals in the switch's store-and-forward"),
            (self.switch.pending_count(), "requests pending at the switch"),
            (self.network.pending_count(), "requests pending at the network"),
            (self.network.custody_count(), "reversals in the network's custody"),
        ];
        counts
            .iter()
            .filter(|(count, _)| *count > 0)
            .map(|(count, what)| format!("{count} {what}"))
            .collect()
    }
}
