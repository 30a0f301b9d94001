//! The end of a day, in rounds: the cashier looks at every terminal each
//! round and does what is left — power on, sign in, send what is pending,
//! settle — until every terminal has settled.
//!
//! Two kinds of round read the same [`Standing`] of each terminal and differ
//! only where their worlds differ. The simulator's **healing** round
//! schedules a terminal's whole remaining sequence at once, 30 s apart, and
//! also waits for the hosts to hold nothing (it can see them). A live
//! fleet's **closing** round takes each terminal one step per round (its
//! rounds are fast and its host is the one under test, whose queues possim
//! cannot see), so it ends when the terminals have settled.

use std::time::Duration;

use possim_models::iso8583::values::TerminalId;
use possim_models::terminal::TerminalCommand;
use possim_models::time::Instant;

use super::cashier::operator_sign_in;
use super::view::DayView;

/// How often the cashier looks at an unconverged terminal while healing.
pub const HEALING_ROUND_MS: u64 = 30_000;
/// Lines kept of what healing still found pending.
pub const PENDING_REASONS_MAX: usize = 12;
/// Terminals are looked at this far apart, so a fleet does not settle in
/// one instant.
const STAGGER_MS: u64 = 20;
/// After the sign-in, "send pending" and then the settlement wait this long
/// (the sign-in answers first).
const SEND_PENDING_AFTER_MS: u64 = 5_000;
const SETTLE_AFTER_MS: u64 = 10_000;

/// What one healing round found and asks for.
#[derive(Debug, Default)]
pub struct Round {
    /// Commands now.
    pub now: Vec<(TerminalId, TerminalCommand)>,
    /// Commands later, in the order they are to be scheduled.
    pub later: Vec<(Instant, TerminalId, TerminalCommand)>,
    /// Whether every terminal and host is done.
    pub converged: bool,
    /// Why not, at most [`PENDING_REASONS_MAX`] lines.
    pub pending: Vec<String>,
}

/// What a round reads of one terminal, the way a cashier reads its screen.
#[derive(Debug, Clone, Copy)]
pub struct Standing {
    pub powered: bool,
    pub signed_in: bool,
    pub reversal: bool,
    pub offline: bool,
    pub settling: bool,
    pub journal: bool,
    /// A trade in flight, or one the cashier has just keyed in.
    pub busy: bool,
}

impl Standing {
    pub fn of(view: &dyn DayView, id: TerminalId) -> Standing {
        let terminal = view.terminal(id);
        let persistent = terminal.persistent();
        Standing {
            powered: terminal.is_powered(),
            signed_in: persistent.signed_in(),
            reversal: persistent.reversal().is_some(),
            offline: !persistent.offline().is_empty(),
            settling: persistent.settlement().is_some(),
            journal: !persistent.journal().is_empty(),
            busy: terminal.is_busy() || view.trade_queued(id),
        }
    }

    /// Whether the terminal has nothing left to do today. A trade in flight,
    /// or one the cashier has just keyed in (an arrival in the very instant
    /// healing begins is still queued), is not settled even when the journal
    /// is empty: clearing now would release the issuer's hold on a debit the
    /// terminal is about to print an approval slip for.
    pub fn settled(&self) -> bool {
        !(self.reversal
            || self.offline
            || self.settling
            || self.journal
            || self.busy
            || !self.signed_in
            || !self.powered)
    }

    /// Whether anything must still leave the terminal before it settles.
    pub fn pending(&self) -> bool {
        self.reversal || self.offline
    }

    /// What is left, as a line of [`Round::pending`].
    fn reason(&self, id: TerminalId) -> String {
        let what = [
            (!self.powered, "off"),
            (!self.signed_in, "not signed in"),
            (self.busy, "busy"),
            (self.reversal, "a reversal unacknowledged"),
            (self.offline, "offline trades not uploaded"),
            (self.settling, "a settlement unfinished"),
            (self.journal, "a batch not settled"),
        ];
        let what: Vec<&str> = what.iter().filter(|(is, _)| *is).map(|(_, name)| *name).collect();
        format!("{}: {}", id.trimmed(), what.join(", "))
    }
}

/// One healing round over `ids` at `now`.
pub fn healing_round(now: Instant, ids: &[TerminalId], view: &dyn DayView) -> Round {
    let mut round = Round::default();
    let mut settled = true;
    assert!(ids.len() <= crate::scenario::bounds::SCHEDULE_ENTRIES_MAX, "terminals bounded");
    for (index, id) in ids.iter().enumerate() {
        let terminal = view.terminal(*id);
        let standing = Standing::of(view, *id);
        let Standing { powered, signed_in, reversal, offline, settling, journal, busy } = standing;
        if !powered {
            round.now.push((*id, TerminalCommand::PowerOn));
        }
        if standing.settled() {
            continue;
        }
        settled = false;
        if round.pending.len() < PENDING_REASONS_MAX {
            round.pending.push(standing.reason(*id));
        }
        if busy {
            continue;
        }
        let when = now + Duration::from_millis(index as u64 * STAGGER_MS);
        round.later.push((when, *id, operator_sign_in(terminal)));
        if !signed_in {
            round.later.push((when, *id, TerminalCommand::SignIn));
        }
        if reversal || offline {
            let after = when + Duration::from_millis(SEND_PENDING_AFTER_MS);
            round.later.push((after, *id, TerminalCommand::SendPending));
        }
        if journal || settling {
            let after = when + Duration::from_millis(SETTLE_AFTER_MS);
            round.later.push((after, *id, TerminalCommand::Settle));
        }
    }
    let hosts_pending = view.hosts_pending();
    let hosts_quiet = hosts_pending.is_empty();
    round.pending.extend(hosts_pending);
    round.pending.truncate(PENDING_REASONS_MAX);
    round.converged = settled && hosts_quiet;
    round
}

/// One closing round of a live day over `ids`: each terminal not yet
/// settled is taken one step on (power and the operator's sign-in; or the
/// operator's sign-in and then the terminal's sign-in, "send pending" or the
/// settlement), since a terminal runs one operation at a time and the
/// fleet's rounds come faster than a step ends. A terminal busy with a trade
/// or signing in (`signing_in`) is left for the next round. Converged when
/// every terminal has settled: the host's own queues are not the fleet's to
/// see.
pub fn closing_round(
    ids: &[TerminalId],
    view: &dyn DayView,
    signing_in: &dyn Fn(TerminalId) -> bool,
) -> Round {
    let mut round = Round::default();
    let mut settled = true;
    assert!(ids.len() <= crate::scenario::bounds::SCHEDULE_ENTRIES_MAX, "terminals bounded");
    for id in ids {
        let standing = Standing::of(view, *id);
        if standing.settled() {
            continue;
        }
        settled = false;
        if round.pending.len() < PENDING_REASONS_MAX {
            round.pending.push(standing.reason(*id));
        }
        let sign_in = operator_sign_in(view.terminal(*id));
        if !standing.powered {
            round.now.push((*id, TerminalCommand::PowerOn));
            round.now.push((*id, sign_in));
            continue;
        }
        if standing.busy || signing_in(*id) {
            continue;
        }
        round.now.push((*id, sign_in));
        let step = if !standing.signed_in {
            TerminalCommand::SignIn
        } else if standing.pending() {
            TerminalCommand::SendPending
        } else {
            TerminalCommand::Settle
        };
        round.now.push((*id, step));
    }
    round.converged = settled;
    round
}
