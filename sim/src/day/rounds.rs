//! Healing: with the faults stopped, the cashier looks at every terminal
//! each round and does what is left — power on, sign in, send what is
//! pending, settle — until every terminal has settled and the hosts hold
//! nothing, or the bound passes.

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

/// One healing round over `ids` at `now`.
pub fn healing_round(now: Instant, ids: &[TerminalId], view: &dyn DayView) -> Round {
    let mut round = Round::default();
    let mut settled = true;
    assert!(ids.len() <= crate::scenario::bounds::SCHEDULE_ENTRIES_MAX, "terminals bounded");
    for (index, id) in ids.iter().enumerate() {
        let terminal = view.terminal(*id);
        let persistent = terminal.persistent();
        let powered = terminal.is_powered();
        let signed_in = persistent.signed_in();
        let reversal = persistent.reversal().is_some();
        let offline = !persistent.offline().is_empty();
        let settling = persistent.settlement().is_some();
        let journal = !persistent.journal().is_empty();
        let busy = terminal.is_busy() || view.trade_queued(*id);
        if !powered {
            round.now.push((*id, TerminalCommand::PowerOn));
        }
        // A trade in flight, or one the cashier has just keyed in (an
        // arrival in the very instant healing begins is still queued),
        // is not settled even when the journal is empty: clearing now
        // would release the issuer's hold on a debit the terminal is
        // about to print an approval slip for.
        if !(reversal || offline || settling || journal || busy || !signed_in || !powered) {
            continue;
        }
        settled = false;
        if round.pending.len() < PENDING_REASONS_MAX {
            let what = [
                (!powered, "off"),
                (!signed_in, "not signed in"),
                (busy, "busy"),
                (reversal, "a reversal unacknowledged"),
                (offline, "offline trades not uploaded"),
                (settling, "a settlement unfinished"),
                (journal, "a batch not settled"),
            ];
            let what: Vec<&str> =
                what.iter().filter(|(is, _)| *is).map(|(_, name)| *name).collect();
            round.pending.push(format!("{}: {}", id.trimmed(), what.join(", ")));
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
