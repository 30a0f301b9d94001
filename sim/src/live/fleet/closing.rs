//! Closing a live day: once the workload ends (its time, or the trade
//! bound), no more cardholders; each round, every idle terminal that has
//! not finished is taken one step on (power, sign-in, pending messages,
//! settlement) until all have or the closing bound passes.

use std::time::Duration;

use possim_models::iso8583::values::TerminalId;
use possim_models::time::Instant;

use super::{json, Chore, Fleet, Phase};

/// Closing: how often each idle terminal is looked at (wall time, not sped up).
const CLOSING_ROUND_MS: u64 = 500;

impl Fleet {
    /// Stops if the workload bound is reached.
    pub fn check_bounds(&mut self, now: Instant) {
        let trades_done = self.options.max_trades.is_some_and(|max| self.trades_sent >= max);
        if self.phase == Phase::Workload && trades_done {
            self.start_closing(now);
        }
    }

    pub(super) fn start_closing(&mut self, now: Instant) {
        if self.phase != Phase::Workload {
            return;
        }
        self.phase = Phase::Closing;
        self.closing_end = now + Duration::from_millis(self.options.closing_ms);
        self.day.stop_trading();
        self.log("phase", vec![("phase", json("closing")), ("trades", self.trades_sent.into())]);
        self.at(now, Chore::ClosingRound);
    }

    /// A closing round of the day driver ([`crate::day::rounds::closing_round`]):
    /// each terminal not settled, one step on.
    pub(super) fn closing_round(&mut self, now: Instant) {
        // A terminal the host does not know never signs in: not waited for.
        let ids: Vec<TerminalId> =
            self.slots.keys().copied().filter(|id| !self.unregistered.contains(id)).collect();
        let round = {
            let day = &self.day;
            crate::day::rounds::closing_round(&ids, &self.slots, &|id| day.is_signing_in(id))
        };
        for (id, command) in round.now {
            self.command(now, id, command);
        }
        let settled = round.converged;
        if settled {
            self.phase = Phase::Done;
            self.log(
                "phase",
                vec![("phase", json("done")), ("why", json("every terminal settled"))],
            );
        } else if now >= self.closing_end {
            self.phase = Phase::Done;
            self.log(
                "phase",
                vec![("phase", json("done")), ("why", json("closing bound reached"))],
            );
        } else {
            self.at(now + Duration::from_millis(CLOSING_ROUND_MS), Chore::ClosingRound);
        }
    }
}
