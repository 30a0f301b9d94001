//! What an external terminal must do, judged from the frames it sends and
//! the fate possim gave each answer. Sans-IO: fed decoded messages and
//! times, no sockets, so every rule is unit-tested on its own.
//!
//! The checks (ids as they appear in the report):
//!
//! - `reverses-unanswered-trade`: a reversible trade whose answer possim
//!   withheld, delayed past the terminal's timeout, cut off with the
//!   connection or corrupted is reversed (0400, the original STAN, reason 98
//!   for no answer and A0 for a bad MAC) before the terminal's next message
//!   other than a sign-in, and before the run ends.
//! - `retries-reversal`: a reversal whose answer possim withheld is sent
//!   again before anything else but a sign-in.
//! - `offline-before-settlement`: no offline upload of a batch arrives after
//!   that batch's 0500; none is uploaded again once acknowledged.
//! - `batch-upload-after-unbalanced`: after a 0510 "not balanced", the
//!   terminal uploads its batch and ends the upload with 202, before any
//!   trade.
//! - `signs-in-when-told`: after an answer saying "sign in again" (22, 58,
//!   77, 99, A0), no trade request before an 0800.
//! - `stan-unique-in-batch`: a STAN names one message in its batch; only a
//!   reversal (of that STAN) or a repeated upload of the same offline trade
//!   reuses it.
//!
//! The watcher's memory is bounded ([`TERMINALS_MAX`] terminals,
//! [`STANS_PER_BATCH_MAX`] STANs per terminal). Past a bound it stops
//! recording, and a check that could have judged what went unrecorded is
//! reported incomplete, which fails the run like a violation: a verdict of
//! "compliant" must mean every message was judged, not that the ones past
//! the bound were ignored.
//!
//! ```
//! use possim_sim::live::terminal_checks::{AnswerFate, CheckId, TerminalWatch};
//! let mut watch = TerminalWatch::new();
//! assert!(watch.results().iter().all(|result| result.violations.is_empty()));
//! assert_eq!(watch.results().len(), CheckId::ALL.len());
//! # let _ = AnswerFate::Delivered;
//! ```

use std::collections::{BTreeMap, BTreeSet};

use possim_models::iso8583::cup::CupMessage;
use possim_models::iso8583::response_code::TerminalAction;
use possim_models::iso8583::settlement::NETWORK_CODE_UPLOAD_END_UNBALANCED;
use possim_models::iso8583::subfields::SettlementResult;
use possim_models::iso8583::values::TerminalId;
use possim_models::iso8583::ResponseCode;
use possim_models::time::Instant;

/// Violations kept per check; later ones are counted only.
pub const VIOLATIONS_MAX: usize = 100;
/// Terminals watched at once (the default of [`TerminalWatch::with_bounds`]).
pub const TERMINALS_MAX: usize = 100_000;
/// STANs remembered per terminal, over its batches (the default of
/// [`TerminalWatch::with_bounds`]).
pub const STANS_PER_BATCH_MAX: usize = 1_000_000;

/// A terminal-side check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CheckId {
    ReversesUnansweredTrade,
    RetriesReversal,
    OfflineBeforeSettlement,
    BatchUploadAfterUnbalanced,
    SignsInWhenTold,
    StanUniqueInBatch,
}

impl CheckId {
    pub const ALL: [CheckId; 6] = [
        CheckId::ReversesUnansweredTrade,
        CheckId::RetriesReversal,
        CheckId::OfflineBeforeSettlement,
        CheckId::BatchUploadAfterUnbalanced,
        CheckId::SignsInWhenTold,
        CheckId::StanUniqueInBatch,
    ];

    pub fn id(self) -> &'static str {
        match self {
            CheckId::ReversesUnansweredTrade => "reverses-unanswered-trade",
            CheckId::RetriesReversal => "retries-reversal",
            CheckId::OfflineBeforeSettlement => "offline-before-settlement",
            CheckId::BatchUploadAfterUnbalanced => "batch-upload-after-unbalanced",
            CheckId::SignsInWhenTold => "signs-in-when-told",
            CheckId::StanUniqueInBatch => "stan-unique-in-batch",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            CheckId::ReversesUnansweredTrade => {
                "an unanswered trade is reversed (original STAN, reason 98 / A0) before the next message"
            }
            CheckId::RetriesReversal => "an unanswered reversal is sent again",
            CheckId::OfflineBeforeSettlement => "offline trades are uploaded before the 0500, once",
            CheckId::BatchUploadAfterUnbalanced => {
                "after \"not balanced\": batch upload, ended with 202"
            }
            CheckId::SignsInWhenTold => "signs in again when the host says so",
            CheckId::StanUniqueInBatch => "a STAN is never reused within a batch",
        }
    }
}

/// What possim did with an answer meant for the terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerFate {
    Delivered,
    /// Never sent.
    Withheld,
    /// Sent after the terminal's timeout.
    Late,
    /// Sent with a wrong MAC.
    Corrupted,
    /// The connection was closed instead.
    Reset,
}

/// One check's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    pub check: CheckId,
    /// Times the rule had something to judge.
    pub exercised: u64,
    pub violations: Vec<String>,
    /// Violations beyond [`VIOLATIONS_MAX`].
    pub violations_dropped: u64,
    /// Why the check did not see everything it should have judged (a
    /// bound of the watcher's memory was reached); `None` when it did.
    pub incomplete: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Owed {
    stan: u32,
    reason: ResponseCode,
    since: Instant,
}

/// The identity of a message for STAN reuse: MTI, processing code, amount, card.
type Signature = (String, Option<String>, Option<u64>, Option<String>);

#[derive(Debug, Default)]
struct Watched {
    /// A reversal the terminal owes, and the STAN of a reversal to send again.
    owed_reversal: Option<Owed>,
    owed_retry: Option<Owed>,
    /// Batches whose 0500 arrived.
    settled: BTreeSet<u32>,
    /// Offline uploads acknowledged, by (batch, STAN).
    uploads_acknowledged: BTreeSet<(u32, u32)>,
    /// A batch upload owed after "not balanced": the batch.
    owed_upload: Option<u32>,
    /// Told to sign in again, by this code.
    owed_sign_in: Option<ResponseCode>,
    /// (batch, STAN) -> the message that used it first.
    stans: BTreeMap<(u32, u32), Signature>,
}

/// The watcher of every terminal seen.
#[derive(Debug, Default)]
pub struct TerminalWatch {
    terminals: BTreeMap<TerminalId, Watched>,
    results: BTreeMap<CheckId, CheckResult>,
    terminals_max: usize,
    stans_max: usize,
    /// Messages of terminals past `terminals_max`, never judged.
    terminals_unwatched_messages: u64,
    /// STANs past `stans_max`, not remembered: their reuse goes unseen.
    stans_unrecorded: u64,
}

fn signature(message: &CupMessage) -> Signature {
    let raw = message.to_message();
    let text = |field: u8| raw.get(field).map(|v| String::from_utf8_lossy(v).into_owned());
    (raw.mti().to_string(), text(3), raw.get_number(4), text(2))
}

fn batch_of(message: &CupMessage) -> Option<u32> {
    Some(match message {
        CupMessage::Network(m) => m.batch.value(),
        CupMessage::Trade(m) => m.batch.value(),
        CupMessage::Reversal(m) => m.original().batch.value(),
        CupMessage::Settlement(m) => m.batch.value(),
        CupMessage::BatchUpload(m) => m.batch.value(),
        CupMessage::BatchUploadEnd(m) => m.batch.value(),
        _ => return None,
    })
}

fn describe(message: &CupMessage) -> String {
    let raw = message.to_message();
    format!("{} stan {}", raw.mti(), message.stan().value())
}

impl TerminalWatch {
    pub fn new() -> TerminalWatch {
        TerminalWatch::with_bounds(TERMINALS_MAX, STANS_PER_BATCH_MAX)
    }

    /// A watcher holding at most `terminals_max` terminals and
    /// `stans_max` STANs per terminal.
    pub fn with_bounds(terminals_max: usize, stans_max: usize) -> TerminalWatch {
        assert!(terminals_max >= 1 && stans_max >= 1);
        let results = CheckId::ALL
            .iter()
            .map(|&check| {
                (
                    check,
                    CheckResult {
                        check,
                        exercised: 0,
                        violations: Vec::new(),
                        violations_dropped: 0,
                        incomplete: None,
                    },
                )
            })
            .collect();
        TerminalWatch {
            terminals: BTreeMap::new(),
            results,
            terminals_max,
            stans_max,
            terminals_unwatched_messages: 0,
            stans_unrecorded: 0,
        }
    }

    fn exercised(&mut self, check: CheckId) {
        self.results.get_mut(&check).expect("every check has a result").exercised += 1;
    }

    fn violate(&mut self, check: CheckId, terminal: TerminalId, now: Instant, text: String) {
        let result = self.results.get_mut(&check).expect("every check has a result");
        if result.violations.len() < VIOLATIONS_MAX {
            result.violations.push(format!("terminal {terminal} at {now}: {text}"));
        } else {
            result.violations_dropped += 1;
        }
    }

    fn watched(&mut self, terminal: TerminalId) -> Option<&mut Watched> {
        if !self.terminals.contains_key(&terminal) && self.terminals.len() >= self.terminals_max {
            self.terminals_unwatched_messages += 1;
            return None;
        }
        Some(self.terminals.entry(terminal).or_default())
    }

    /// A request from the terminal arrived.
    pub fn on_request(&mut self, now: Instant, terminal: TerminalId, message: &CupMessage) {
        let stans_max = self.stans_max;
        let mut stan_unrecorded = false;
        let Some(watched) = self.watched(terminal) else { return };
        let is_sign_in = matches!(message, CupMessage::Network(m)
            if m.code.request_mti() == possim_models::iso8583::Mti::NETWORK);
        let mut found: Vec<(CheckId, String)> = Vec::new();
        let mut judged: Vec<CheckId> = Vec::new();

        // Reversal owed: only a sign-in may go first.
        if let Some(owed) = watched.owed_reversal {
            match message {
                CupMessage::Reversal(reversal) if reversal.original().stan.value() == owed.stan => {
                    judged.push(CheckId::ReversesUnansweredTrade);
                    if reversal.reason != owed.reason {
                        found.push((
                            CheckId::ReversesUnansweredTrade,
                            format!(
                                "reversed stan {} with reason {}, expected {}",
                                owed.stan, reversal.reason, owed.reason
                            ),
                        ));
                    }
                    watched.owed_reversal = None;
                }
                _ if is_sign_in => {}
                other => {
                    judged.push(CheckId::ReversesUnansweredTrade);
                    found.push((
                        CheckId::ReversesUnansweredTrade,
                        format!(
                            "sent {} before reversing stan {} (unanswered since {})",
                            describe(other),
                            owed.stan,
                            owed.since
                        ),
                    ));
                    watched.owed_reversal = None;
                }
            }
        }
        if let Some(owed) = watched.owed_retry {
            match message {
                CupMessage::Reversal(reversal) if reversal.original().stan.value() == owed.stan => {
                    judged.push(CheckId::RetriesReversal);
                    watched.owed_retry = None;
                }
                _ if is_sign_in => {}
                other => {
                    judged.push(CheckId::RetriesReversal);
                    found.push((
                        CheckId::RetriesReversal,
                        format!(
                            "sent {} instead of retrying the reversal of stan {}",
                            describe(other),
                            owed.stan
                        ),
                    ));
                    watched.owed_retry = None;
                }
            }
        }

        let batch = batch_of(message);
        match message {
            // Advices (offline uploads, refunds) are sent again until
            // acknowledged, and all before their batch's 0500.
            CupMessage::Trade(request) if request.kind().is_advice() => {
                let key = (request.batch.value(), request.stan.value());
                judged.push(CheckId::OfflineBeforeSettlement);
                if watched.settled.contains(&key.0) {
                    found.push((
                        CheckId::OfflineBeforeSettlement,
                        format!("advice stan {} of batch {} after that batch's 0500", key.1, key.0),
                    ));
                }
                if watched.uploads_acknowledged.contains(&key) {
                    found.push((
                        CheckId::OfflineBeforeSettlement,
                        format!("advice stan {} sent again after its acknowledgement", key.1),
                    ));
                }
            }
            CupMessage::Trade(_) => {
                if let Some(code) = watched.owed_sign_in {
                    judged.push(CheckId::SignsInWhenTold);
                    found.push((
                        CheckId::SignsInWhenTold,
                        format!(
                            "sent {} after the host answered {code} (sign in again), without an 0800",
                            describe(message)
                        ),
                    ));
                    watched.owed_sign_in = None;
                }
            }
            CupMessage::Settlement(request) => {
                watched.settled.insert(request.batch.value());
            }
            CupMessage::Network(_) if is_sign_in && watched.owed_sign_in.is_some() => {
                watched.owed_sign_in = None;
                judged.push(CheckId::SignsInWhenTold);
            }
            CupMessage::BatchUploadEnd(end) if watched.owed_upload == Some(end.batch.value()) => {
                judged.push(CheckId::BatchUploadAfterUnbalanced);
                if end.balanced {
                    found.push((
                            CheckId::BatchUploadAfterUnbalanced,
                            format!(
                                "batch {} upload ended 207 (balanced) after the host said not balanced; expected {}",
                                end.batch.value(),
                                NETWORK_CODE_UPLOAD_END_UNBALANCED
                            ),
                        ));
                }
                watched.owed_upload = None;
            }
            _ => {}
        }
        if let Some(batch) = watched.owed_upload {
            if matches!(message, CupMessage::Trade(_) | CupMessage::Settlement(_)) {
                judged.push(CheckId::BatchUploadAfterUnbalanced);
                found.push((
                    CheckId::BatchUploadAfterUnbalanced,
                    format!(
                        "sent {} before uploading batch {batch}, which the host said was not balanced",
                        describe(message)
                    ),
                ));
                watched.owed_upload = None;
            }
        }

        // STAN reuse within a batch.
        if let Some(batch) = batch {
            let stan = message.stan().value();
            let mine = signature(message);
            let reuse = match message {
                // A reversal names its original's STAN; that is not a reuse.
                CupMessage::Reversal(_) => None,
                _ => match watched.stans.get(&(batch, stan)) {
                    None => {
                        if watched.stans.len() < stans_max {
                            watched.stans.insert((batch, stan), mine);
                        } else {
                            stan_unrecorded = true;
                        }
                        None
                    }
                    // The same message again (a repeat the host answers 94).
                    Some(first) if *first == mine => None,
                    Some(first) => Some(first.clone()),
                },
            };
            judged.push(CheckId::StanUniqueInBatch);
            if let Some(first) = reuse {
                found.push((
                    CheckId::StanUniqueInBatch,
                    format!(
                        "stan {stan} of batch {batch} used by {} after {} (F3 {:?}, amount {:?})",
                        describe(message),
                        first.0,
                        first.1,
                        first.2
                    ),
                ));
            }
        }
        if stan_unrecorded {
            self.stans_unrecorded += 1;
        }
        for check in judged {
            self.exercised(check);
        }
        for (check, text) in found {
            self.violate(check, terminal, now, text);
        }
    }

    /// A request was discarded (`drop_request`): it gets no answer at all.
    pub fn on_request_discarded(
        &mut self,
        now: Instant,
        terminal: TerminalId,
        message: &CupMessage,
    ) {
        if let CupMessage::Trade(request) = message {
            if request.kind().is_reversible() {
                if let Some(watched) = self.watched(terminal) {
                    watched.owed_reversal = Some(Owed {
                        stan: request.stan.value(),
                        reason: ResponseCode::new(*b"98"),
                        since: now,
                    });
                }
            }
        }
    }

    /// possim decided `fate` for an answer meant for the terminal.
    pub fn on_answer(
        &mut self,
        now: Instant,
        terminal: TerminalId,
        message: &CupMessage,
        fate: AnswerFate,
    ) {
        let Some(watched) = self.watched(terminal) else { return };
        let no_answer = ResponseCode::new(*b"98");
        let bad_mac = ResponseCode::new(*b"A0");
        match message {
            CupMessage::TradeAnswer(answer) if answer.reversal && fate != AnswerFate::Delivered => {
                watched.owed_retry =
                    Some(Owed { stan: answer.stan.value(), reason: no_answer, since: now });
            }
            CupMessage::TradeAnswer(answer) if answer.reversal => {}
            CupMessage::TradeAnswer(answer) => {
                let reason = match fate {
                    AnswerFate::Delivered => None,
                    AnswerFate::Corrupted => Some(bad_mac),
                    AnswerFate::Withheld | AnswerFate::Late | AnswerFate::Reset => Some(no_answer),
                };
                // An upload or inquiry has nothing to reverse; and a corrupt
                // decline may legitimately be read without its MAC.
                let reversible = answer.kind.is_reversible()
                    && (fate != AnswerFate::Corrupted || answer.response_code.is_approved());
                if let (Some(reason), true) = (reason, reversible) {
                    watched.owed_reversal =
                        Some(Owed { stan: answer.stan.value(), reason, since: now });
                }
                if fate == AnswerFate::Delivered {
                    if answer.kind.is_advice() && !answer.response_code.leaves_upload_pending() {
                        watched
                            .uploads_acknowledged
                            .insert((answer.batch.value(), answer.stan.value()));
                    }
                    if answer.response_code.action() == TerminalAction::SignInAgain {
                        watched.owed_sign_in = Some(answer.response_code);
                    }
                }
            }
            CupMessage::SettlementAnswer(answer)
                if fate == AnswerFate::Delivered
                    && answer.result == SettlementResult::NotBalanced =>
            {
                watched.owed_upload = Some(answer.batch.value());
            }
            _ => {}
        }
    }

    /// The verdicts, one per check; what is still owed at the end counts.
    pub fn finish(&mut self, now: Instant) -> Vec<CheckResult> {
        let mut late: Vec<(CheckId, TerminalId, String)> = Vec::new();
        for (terminal, watched) in &self.terminals {
            if let Some(owed) = watched.owed_reversal {
                late.push((
                    CheckId::ReversesUnansweredTrade,
                    *terminal,
                    format!(
                        "stan {} unanswered since {} was never reversed",
                        owed.stan, owed.since
                    ),
                ));
            }
            if let Some(owed) = watched.owed_retry {
                late.push((
                    CheckId::RetriesReversal,
                    *terminal,
                    format!("the reversal of stan {} was never sent again", owed.stan),
                ));
            }
            if let Some(batch) = watched.owed_upload {
                late.push((
                    CheckId::BatchUploadAfterUnbalanced,
                    *terminal,
                    format!("batch {batch} was never uploaded after \"not balanced\""),
                ));
            }
        }
        for (check, terminal, text) in late {
            self.exercised(check);
            self.violate(check, terminal, now, text);
        }
        for watched in self.terminals.values_mut() {
            watched.owed_reversal = None;
            watched.owed_retry = None;
            watched.owed_upload = None;
        }
        self.results()
    }

    /// The verdicts so far, each saying whether it saw everything.
    pub fn results(&self) -> Vec<CheckResult> {
        self.results
            .values()
            .map(|result| {
                let mut result = result.clone();
                let mut why = Vec::new();
                if self.terminals_unwatched_messages > 0 {
                    why.push(format!(
                        "{} messages of terminals past the watcher's bound of {} terminals \
                         were not judged",
                        self.terminals_unwatched_messages, self.terminals_max
                    ));
                }
                if self.stans_unrecorded > 0 && result.check == CheckId::StanUniqueInBatch {
                    why.push(format!(
                        "{} STANs past the bound of {} per terminal were not remembered, so \
                         their reuse could not be seen",
                        self.stans_unrecorded, self.stans_max
                    ));
                }
                result.incomplete = (!why.is_empty()).then(|| why.join("; "));
                result
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use possim_models::iso8583::trade::{ReversalRequest, TradeResponse};

    use crate::live::fixtures::{answer, sale, terminal};

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    fn result(watch: &mut TerminalWatch, check: CheckId) -> CheckResult {
        watch.finish(at(99_999)).into_iter().find(|r| r.check == check).unwrap()
    }

    #[test]
    fn a_watcher_past_its_bounds_says_which_checks_are_incomplete() {
        let mut watch = TerminalWatch::with_bounds(1, 3);
        for stan in 1..=5 {
            watch.on_request(at(stan.into()), terminal(), &CupMessage::Trade(sale(stan, 100)));
        }
        let results = watch.finish(at(10));
        for result in &results {
            assert!(result.violations.is_empty(), "{result:?}");
            match result.check {
                CheckId::StanUniqueInBatch => {
                    let why = result.incomplete.as_deref().unwrap();
                    assert!(why.contains("2 STANs past the bound of 3 per terminal"), "{why}");
                }
                _ => assert_eq!(result.incomplete, None),
            }
        }
        let other = TerminalId::new("LV000002").unwrap();
        watch.on_request(at(20), other, &CupMessage::Trade(sale(1, 100)));
        let results = watch.results();
        assert!(results.iter().all(|r| r.incomplete.as_deref().is_some_and(
            |why| why.contains("1 messages of terminals past the watcher's bound of 1")
        )));
    }

    #[test]
    fn a_withheld_sale_reversed_with_98_passes() {
        let mut watch = TerminalWatch::new();
        let first = sale(2, 100);
        watch.on_request(at(0), terminal(), &CupMessage::Trade(first.clone()));
        watch.on_answer(at(10), terminal(), &answer(&first, b"00"), AnswerFate::Withheld);
        let reversal = ReversalRequest::new(&first, ResponseCode::new(*b"98"));
        watch.on_request(at(3000), terminal(), &CupMessage::Reversal(reversal));
        let verdict = result(&mut watch, CheckId::ReversesUnansweredTrade);
        assert_eq!(verdict.exercised, 1);
        assert!(verdict.violations.is_empty(), "{:?}", verdict.violations);
    }

    #[test]
    fn a_wrong_reason_a_next_sale_or_nothing_at_all_fails() {
        let first = sale(2, 100);
        let withheld = |watch: &mut TerminalWatch| {
            watch.on_request(at(0), terminal(), &CupMessage::Trade(first.clone()));
            watch.on_answer(at(10), terminal(), &answer(&first, b"00"), AnswerFate::Corrupted);
        };
        let mut watch = TerminalWatch::new();
        withheld(&mut watch);
        let reversal = ReversalRequest::new(&first, ResponseCode::new(*b"98"));
        watch.on_request(at(3000), terminal(), &CupMessage::Reversal(reversal));
        let verdict = result(&mut watch, CheckId::ReversesUnansweredTrade);
        assert!(verdict.violations[0].contains("reason 98, expected A0"), "{verdict:?}");

        let mut watch = TerminalWatch::new();
        withheld(&mut watch);
        watch.on_request(at(3000), terminal(), &CupMessage::Trade(sale(3, 100)));
        let verdict = result(&mut watch, CheckId::ReversesUnansweredTrade);
        assert!(verdict.violations[0].contains("before reversing stan 2"), "{verdict:?}");

        let mut watch = TerminalWatch::new();
        withheld(&mut watch);
        let verdict = result(&mut watch, CheckId::ReversesUnansweredTrade);
        assert!(verdict.violations[0].contains("never reversed"), "{verdict:?}");
    }

    #[test]
    fn a_stan_reused_for_another_amount_fails_an_identical_repeat_does_not() {
        let mut watch = TerminalWatch::new();
        watch.on_request(at(0), terminal(), &CupMessage::Trade(sale(5, 100)));
        watch.on_request(at(1), terminal(), &CupMessage::Trade(sale(5, 100)));
        assert!(result(&mut watch, CheckId::StanUniqueInBatch).violations.is_empty());
        let mut watch = TerminalWatch::new();
        watch.on_request(at(0), terminal(), &CupMessage::Trade(sale(5, 100)));
        watch.on_request(at(1), terminal(), &CupMessage::Trade(sale(5, 200)));
        let verdict = result(&mut watch, CheckId::StanUniqueInBatch);
        assert_eq!(verdict.violations.len(), 1, "{verdict:?}");
    }

    #[test]
    fn a_sale_after_77_without_a_sign_in_fails() {
        let mut watch = TerminalWatch::new();
        let first = sale(2, 100);
        watch.on_request(at(0), terminal(), &CupMessage::Trade(first.clone()));
        watch.on_answer(at(10), terminal(), &answer(&first, b"77"), AnswerFate::Delivered);
        watch.on_request(at(20), terminal(), &CupMessage::Trade(sale(3, 100)));
        let verdict = result(&mut watch, CheckId::SignsInWhenTold);
        assert!(verdict.violations[0].contains("answered 77"), "{verdict:?}");
        // Declined with 77, the sale needs no reversal.
        assert!(result(&mut watch, CheckId::ReversesUnansweredTrade).violations.is_empty());
    }

    #[test]
    fn a_withheld_reversal_answer_must_be_retried() {
        let mut watch = TerminalWatch::new();
        let first = sale(2, 100);
        let reversal = ReversalRequest::new(&first, ResponseCode::new(*b"98"));
        let reversal_answer = CupMessage::TradeAnswer(TradeResponse {
            reversal: true,
            ..match answer(&first, b"00") {
                CupMessage::TradeAnswer(a) => a,
                _ => unreachable!(),
            }
        });
        watch.on_request(at(0), terminal(), &CupMessage::Reversal(reversal));
        watch.on_answer(at(10), terminal(), &reversal_answer, AnswerFate::Withheld);
        watch.on_request(at(3000), terminal(), &CupMessage::Trade(sale(3, 100)));
        let verdict = result(&mut watch, CheckId::RetriesReversal);
        assert!(verdict.violations[0].contains("instead of retrying"), "{verdict:?}");
    }
}
