//! **slip-truth**: an approval slip prints only for a trade the issuer
//! finally holds, and every approved trade can still be printed (reprint)
//! after a printer fault.
//!
//! What is compared:
//!
//! - *Only for what the issuer holds*: every readable `SlipPrinted` of kind
//!   `Approval` or `Reprint` naming a STAN belongs to a trade the issuer
//!   approved (`Approved` under the trade's key) and, by the end, has not
//!   rolled back (`Reversed`) or returned at clearing (`ReturnedAtClearing`).
//!   Offline trades print their slip before the host sees them, by design:
//!   they are judged once uploaded (`OfflineUploaded`); one the host refused
//!   is on the offline-failures list instead, and one never uploaded is
//!   offline-before-settlement's to report.
//! - *A slip is never lost*: every trade the terminal approved (online
//!   approval or offline trade; inquiries print nothing) has a readable
//!   approval or reprint slip by the end, or can still be reprinted because
//!   its journal still holds it (a slip is owed). A `JournalCleared` of its
//!   batch while it never had a readable slip is a violation: after a printer
//!   fault nothing can print it any more. Settlement and detail-list slips
//!   that list the STAN do not count: they are the merchant's, not the
//!   cardholder's proof.
//!
//! ```
//! use possim_sim::oracle::{check_one, Invariant};
//! use possim_sim::trace::Trace;
//! assert!(check_one(&Trace::new(), Invariant::SlipTruth).passed());
//! ```

use super::index::TraceIndex;
use super::{Invariant, Violation};

const INVARIANT: Invariant = Invariant::SlipTruth;

pub fn check(index: &TraceIndex) -> Vec<Violation> {
    let mut violations = Vec::new();
    for (id, view) in &index.trades {
        let trade = Some(index.trade_ref(*id));
        let decided = [view.answered.map(|(s, _)| s), view.offline_queued].into_iter().flatten();
        if let Some(&slip) = view.slips.first() {
            let judged = id.batch.is_some()
                && match view.offline_queued {
                    Some(_) => view.offline_uploaded.is_some(),
                    None => true,
                };
            if judged {
                let issuer = index.issuer.get(id);
                let approved = issuer.and_then(|i| i.approved.first().copied());
                let undone = issuer
                    .and_then(|i| i.reversed.first().or(i.returned_at_clearing.first()).copied());
                let message = match (approved, undone) {
                    (None, _) => Some(
                        "an approval slip printed for a trade the issuer never approved"
                            .to_string(),
                    ),
                    (Some(_), Some(_)) => Some(
                        "an approval slip printed for a trade the issuer later rolled back"
                            .to_string(),
                    ),
                    (Some(_), None) => None,
                };
                if let Some(message) = message {
                    let seqs =
                        decided.clone().chain([Some(slip), approved, undone].into_iter().flatten());
                    violations.push(Violation::new(
                        INVARIANT,
                        trade.clone(),
                        message,
                        index.evidence_of(seqs),
                    ));
                    continue;
                }
            }
        }
        if !view.owes_slip() || !view.slips.is_empty() {
            continue;
        }
        if let Some(cleared) = view.journal_cleared {
            let message = format!(
                "approved, never printed readably ({} failed prints), and its journal was cleared: it can no longer be reprinted",
                view.slips_failed.len()
            );
            let seqs = decided.chain(view.slips_failed.iter().take(3).copied()).chain([cleared]);
            violations.push(Violation::new(INVARIANT, trade, message, index.evidence_of(seqs)));
        }
    }
    violations
}
