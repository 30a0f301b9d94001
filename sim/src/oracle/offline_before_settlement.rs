//! **offline-before-settlement**: no 0500 leaves a terminal while it holds an
//! offline trade not yet acknowledged; none is lost or uploaded twice.
//!
//! What is compared:
//!
//! - *No 0500 while one is held*: per terminal, the offline trades queued
//!   (`OfflineQueued`) and not yet answered by the host (`OfflineUploaded` or
//!   `OfflineUploadFailed`; a deferred upload is still held). A
//!   `RequestSent{mti: "0500"}` of that terminal while any is held is a
//!   violation. The terminal's `RequestSent` is used rather than the frame
//!   record: both are logged for every frame a terminal sends, and the event
//!   names the terminal without decoding.
//! - *None lost*: by the end, every queued trade was uploaded, or refused
//!   and listed — on a readable offline-failures slip (`SlipPrinted` of kind
//!   `OfflineFailures` listing its STAN) once its batch's journal was
//!   cleared; while the journal still holds it, the list can still print.
//! - *None uploaded twice*: the issuer took money for one offline trade key
//!   more than once (two debiting `Moved` for a key the issuer approved as an
//!   offline or e-cash upload). The issuer refuses a repeated key with 94, so
//!   a second debit means the same trade reached it under two keys or the
//!   duplicate check failed; the log shows the first case only if the
//!   terminal logged two uploads with different STANs, which it never does.
//!
//! ```
//! use possim_sim::oracle::{check_one, Invariant};
//! use possim_sim::trace::Trace;
//! assert!(check_one(&Trace::new(), Invariant::OfflineBeforeSettlement).passed());
//! ```

use std::collections::BTreeMap;

use possim_models::iso8583::values::Stan;
use possim_models::terminal::events::TerminalEventKind;

use super::index::{TraceIndex, TradeId};
use super::{Invariant, TradeRef, Violation};

const INVARIANT: Invariant = Invariant::OfflineBeforeSettlement;

pub fn check(index: &TraceIndex) -> Vec<Violation> {
    let mut violations = Vec::new();
    for (terminal, events) in &index.terminal_events {
        // STAN -> (seq queued, the trade).
        let mut held: BTreeMap<Stan, (u64, Option<TradeId>)> = BTreeMap::new();
        for event in events {
            match event.kind {
                TerminalEventKind::OfflineQueued { stan, .. } => {
                    let id = index.trade_of(*terminal, *stan).map(|(id, _)| id);
                    held.insert(*stan, (event.seq, id));
                }
                TerminalEventKind::OfflineUploaded { stan, .. }
                | TerminalEventKind::OfflineUploadFailed { stan, .. } => {
                    held.remove(stan);
                }
                TerminalEventKind::RequestSent { stan, mti }
                    if mti == "0500" && !held.is_empty() =>
                {
                    let (first_stan, (queued, id)) = held.iter().next().expect("not empty");
                    let trade = match id {
                        Some(id) => index.trade_ref(*id),
                        None => {
                            TradeRef { stan: Some(*first_stan), ..TradeRef::terminal(*terminal) }
                        }
                    };
                    let message = format!(
                        "the 0500 (stan {stan}) left while {} offline trades were not acknowledged, among them stan {first_stan}",
                        held.len()
                    );
                    let seqs = [*queued, event.seq];
                    violations.push(Violation::new(
                        INVARIANT,
                        Some(trade),
                        message,
                        index.evidence_of(seqs),
                    ));
                }
                _ => {}
            }
        }
    }
    for (id, view) in &index.trades {
        let Some(queued) = view.offline_queued else { continue };
        let trade = Some(index.trade_ref(*id));
        let end = index.end().map(|(seq, _)| seq);
        if view.offline_uploaded.is_none() && view.offline_failed.is_none() {
            let message = match view.journal_cleared {
                Some(_) => "the offline trade was never uploaded and its journal was cleared: lost"
                    .to_string(),
                None => "the offline trade was never uploaded by the end".to_string(),
            };
            let seqs = [Some(queued), view.journal_cleared, end].into_iter().flatten();
            violations.push(Violation::new(INVARIANT, trade, message, index.evidence_of(seqs)));
            continue;
        }
        if let (Some(failed), Some(cleared), None) =
            (view.offline_failed, view.journal_cleared, view.listed_as_failed)
        {
            let message =
                "the host refused the offline trade and its journal was cleared without it on a readable offline-failures list"
                    .to_string();
            violations.push(Violation::new(
                INVARIANT,
                trade,
                message,
                index.evidence_of([queued, failed, cleared]),
            ));
        }
    }
    for (id, view) in &index.issuer {
        let offline = view.kind.is_some_and(|kind| kind.is_offline_upload());
        if offline && (view.debits.len() > 1 || view.approved.len() > 1) {
            let message = format!(
                "the issuer approved one offline trade {} times and debited it {} times",
                view.approved.len(),
                view.debits.len()
            );
            let seqs = view.approved.iter().chain(&view.debits).copied();
            violations.push(Violation::new(
                INVARIANT,
                Some(index.trade_ref(*id)),
                message,
                index.evidence_of(seqs),
            ));
        }
    }
    violations
}
