//! What an external acquirer host must do, judged from the frames possim's
//! terminals send it and the answers it gives (`possim drive`). Sans-IO:
//! fed decoded messages, the time, and why each request was sent (a
//! deliberate repeat, a forged MAC, ...), so every rule is unit-tested on
//! its own.
//!
//! The checks (ids as they appear in the report):
//!
//! - `repeat-answered-94`: a request sent twice is answered 94 or not at
//!   all the second time; the original's own answer comes first and stands
//!   (a 94 that arrives before it, or a second approval, means the repeat
//!   was taken for the trade).
//! - `reversal-idempotent`: a reversal is answered 00 when the host
//!   approved the original, 00 or 12 when it declined it, 25 when the
//!   original was never sent; a repeated reversal gets the first one's
//!   answer again.
//! - `bad-mac-refused`: a request whose MAC is wrong is answered A0, and
//!   changes nothing: the batch that held it still balances on the totals
//!   the host approved.
//! - `unregistered-refused`: a terminal the host does not know is answered
//!   97.
//! - `settlement-reconciled`: a 0510 says "balanced" exactly when the
//!   terminal's totals equal what the host approved in that batch (judged
//!   when no trade of the batch has an unknown outcome).
//!
//! ```
//! use possim_sim::live::host_checks::{HostCheckId, HostWatch};
//! let watch = HostWatch::new();
//! assert_eq!(watch.results().len(), HostCheckId::ALL.len());
//! assert!(watch.results().iter().all(|result| result.violations.is_empty()));
//! ```

use std::collections::{BTreeMap, BTreeSet};

use possim_models::iso8583::cup::CupMessage;
use possim_models::iso8583::subfields::{BatchTotals, SettlementResult};
use possim_models::iso8583::trade::{Side, TradeKind};
use possim_models::iso8583::values::TerminalId;
use possim_models::iso8583::ResponseCode;
use possim_models::time::Instant;

/// Violations kept per check; later ones are counted only.
pub const VIOLATIONS_MAX: usize = 100;
/// Trades remembered at once, all terminals and batches together.
pub const TRADES_MAX: usize = 1_000_000;
/// Probes (repeats, forged MACs, reversals, strangers) awaiting a verdict.
pub const PROBES_MAX: usize = 100_000;

/// A host-side check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum HostCheckId {
    RepeatAnswered94,
    ReversalIdempotent,
    BadMacRefused,
    UnregisteredRefused,
    SettlementReconciled,
}

impl HostCheckId {
    pub const ALL: [HostCheckId; 5] = [
        HostCheckId::RepeatAnswered94,
        HostCheckId::ReversalIdempotent,
        HostCheckId::BadMacRefused,
        HostCheckId::UnregisteredRefused,
        HostCheckId::SettlementReconciled,
    ];

    pub fn id(self) -> &'static str {
        match self {
            HostCheckId::RepeatAnswered94 => "repeat-answered-94",
            HostCheckId::ReversalIdempotent => "reversal-idempotent",
            HostCheckId::BadMacRefused => "bad-mac-refused",
            HostCheckId::UnregisteredRefused => "unregistered-refused",
            HostCheckId::SettlementReconciled => "settlement-reconciled",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            HostCheckId::RepeatAnswered94 => {
                "a repeated request is answered 94 (or not at all) and the original stands"
            }
            HostCheckId::ReversalIdempotent => {
                "reversals are answered 00 / 12 / 25 as the original stands, the same when repeated"
            }
            HostCheckId::BadMacRefused => "a request with a bad MAC is answered A0 and changes nothing",
            HostCheckId::UnregisteredRefused => "an unregistered terminal is answered 97",
            HostCheckId::SettlementReconciled => {
                "a settlement balances exactly when the terminal's totals match what the host approved"
            }
        }
    }
}

/// Why possim sent a request: what the host must do with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// The terminal's own message.
    Normal,
    /// A copy of a request already sent (same STAN, same content).
    Repeat,
    /// The terminal's request with its MAC spoiled.
    BadMac,
    /// A reversal of a trade that was never sent.
    UnknownReversal,
    /// A sign-in from a terminal the host does not know.
    Unregistered,
}

/// One check's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostCheckResult {
    pub check: HostCheckId,
    /// Times the rule had something to judge.
    pub exercised: u64,
    pub violations: Vec<String>,
    /// Violations beyond [`VIOLATIONS_MAX`].
    pub violations_dropped: u64,
}

/// Where a trade stands as the host's answers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Standing {
    /// Sent; no answer seen.
    Unknown,
    Approved,
    Declined(ResponseCode),
    /// A reversal was acknowledged (00 / 12 / 25): it no longer counts.
    Reversed,
}

#[derive(Debug, Clone, Copy)]
struct Trade {
    kind: TradeKind,
    amount_fen: u64,
    standing: Standing,
    /// A copy was sent; the answers to this STAN are watched.
    repeated: bool,
    /// Answers seen to this STAN (requests, not reversals).
    answers: u32,
    /// The first reversal answer (00 / 12 / 25) the host gave.
    reversal_code: Option<ResponseCode>,
    /// Sent with a bad MAC and refused: must not count anywhere.
    forged: bool,
}

/// (terminal, batch, STAN)
type Key = (TerminalId, u32, u32);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    /// A forged request awaiting its A0.
    BadMac,
    /// A reversal of a trade never sent, awaiting 25.
    UnknownReversal,
}

/// The watcher of every host answer.
#[derive(Debug, Default)]
pub struct HostWatch {
    trades: BTreeMap<Key, Trade>,
    probes: BTreeMap<Key, Probe>,
    /// Unregistered terminals whose sign-in awaits its 97.
    strangers: BTreeSet<TerminalId>,
    /// (terminal, batch) -> whether the 0500's totals match the host's, when knowable.
    settlements: BTreeMap<(TerminalId, u32), Option<bool>>,
    results: BTreeMap<HostCheckId, HostCheckResult>,
}

fn code(text: &[u8; 2]) -> ResponseCode {
    ResponseCode::new(*text)
}

impl HostWatch {
    pub fn new() -> HostWatch {
        let results = HostCheckId::ALL
            .iter()
            .map(|&check| {
                let result = HostCheckResult {
                    check,
                    exercised: 0,
                    violations: Vec::new(),
                    violations_dropped: 0,
                };
                (check, result)
            })
            .collect();
        HostWatch { results, ..HostWatch::default() }
    }

    fn judge(
        &mut self,
        check: HostCheckId,
        terminal: TerminalId,
        now: Instant,
        bad: Option<String>,
    ) {
        let result = self.results.get_mut(&check).expect("every check has a result");
        result.exercised += 1;
        if let Some(text) = bad {
            if result.violations.len() < VIOLATIONS_MAX {
                result.violations.push(format!("terminal {terminal} at {now}: {text}"));
            } else {
                result.violations_dropped += 1;
            }
        }
    }

    fn remember(&mut self, key: Key, trade: Trade) {
        if self.trades.len() >= TRADES_MAX && !self.trades.contains_key(&key) {
            self.trades.pop_first();
        }
        self.trades.entry(key).or_insert(trade);
    }

    /// Totals of a batch as the host's answers say, and whether any of its
    /// trades has an unknown outcome.
    fn host_totals(&self, terminal: TerminalId, batch: u32) -> (BatchTotals, bool) {
        let mut totals = BatchTotals::default();
        let mut unknown = false;
        let range = (terminal, batch, 0)..=(terminal, batch, u32::MAX);
        for trade in self.trades.range(range).map(|(_, trade)| trade) {
            if trade.forged {
                continue;
            }
            match trade.standing {
                Standing::Unknown => unknown = true,
                Standing::Approved => {
                    let Some(amount) =
                        possim_models::iso8583::values::AmountFen::new(trade.amount_fen)
                    else {
                        continue;
                    };
                    match trade.kind.side() {
                        Side::Debit => totals.add_debit(amount),
                        Side::Credit => totals.add_credit(amount),
                        Side::None => {}
                    }
                }
                Standing::Declined(_) | Standing::Reversed => {}
            }
        }
        (totals, unknown)
    }

    /// possim sent `message` for `terminal`, for the reason `sent`.
    pub fn on_request(
        &mut self,
        now: Instant,
        terminal: TerminalId,
        message: &CupMessage,
        sent: Sent,
    ) {
        let _ = now;
        match (message, sent) {
            (CupMessage::Network(_), Sent::Unregistered) if self.strangers.len() < PROBES_MAX => {
                self.strangers.insert(terminal);
            }
            (CupMessage::Trade(request), _) => {
                let key = (terminal, request.batch.value(), request.stan.value());
                match sent {
                    Sent::BadMac => {
                        if self.probes.len() < PROBES_MAX {
                            self.probes.insert(key, Probe::BadMac);
                        }
                        let forged = Trade {
                            kind: request.kind(),
                            amount_fen: request.trade.amount().map_or(0, |a| a.fen()),
                            standing: Standing::Declined(ResponseCode::MAC_ERROR),
                            repeated: false,
                            answers: 0,
                            reversal_code: None,
                            forged: true,
                        };
                        self.remember(key, forged);
                    }
                    Sent::Repeat => {
                        if let Some(trade) = self.trades.get_mut(&key) {
                            trade.repeated = true;
                        }
                    }
                    _ => {
                        let amount_fen = request.trade.amount().map_or(0, |a| a.fen());
                        let trade = Trade {
                            kind: request.kind(),
                            amount_fen,
                            standing: Standing::Unknown,
                            repeated: false,
                            answers: 0,
                            reversal_code: None,
                            forged: false,
                        };
                        self.remember(key, trade);
                    }
                }
            }
            (CupMessage::Reversal(reversal), Sent::UnknownReversal) => {
                let original = reversal.original();
                let key = (terminal, original.batch.value(), original.stan.value());
                if self.probes.len() < PROBES_MAX {
                    self.probes.insert(key, Probe::UnknownReversal);
                }
            }
            (CupMessage::Settlement(request), _) => {
                let batch = request.batch.value();
                let (host, unknown) = self.host_totals(terminal, batch);
                let matches = (!unknown).then_some(host == request.totals);
                self.settlements.insert((terminal, batch), matches);
            }
            _ => {}
        }
    }

    /// The host answered `message` to `terminal`.
    pub fn on_answer(&mut self, now: Instant, terminal: TerminalId, message: &CupMessage) {
        match message {
            CupMessage::NetworkAnswer(answer) if self.strangers.remove(&terminal) => {
                let bad = (answer.response_code != code(b"97")).then(|| {
                    format!(
                        "the sign-in of an unregistered terminal was answered {}, expected 97",
                        answer.response_code
                    )
                });
                self.judge(HostCheckId::UnregisteredRefused, terminal, now, bad);
            }
            CupMessage::TradeAnswer(answer) if answer.reversal => {
                let key = (terminal, answer.batch.value(), answer.stan.value());
                self.on_reversal_answer(now, key, answer.response_code);
            }
            CupMessage::TradeAnswer(answer) => {
                let key = (terminal, answer.batch.value(), answer.stan.value());
                self.on_trade_answer(now, key, answer.kind, answer.response_code);
            }
            CupMessage::SettlementAnswer(answer) => {
                let batch = answer.batch.value();
                let Some(expected) = self.settlements.remove(&(terminal, batch)) else { return };
                let forged = self
                    .trades
                    .range((terminal, batch, 0)..=(terminal, batch, u32::MAX))
                    .any(|(_, trade)| trade.forged);
                let said = match answer.result {
                    SettlementResult::Balanced => true,
                    SettlementResult::NotBalanced => false,
                    _ => return,
                };
                let Some(matches) = expected else { return };
                let bad = (said != matches).then(|| {
                    if matches {
                        format!("batch {batch}: the terminal's totals match what the host approved, yet it answered \"not balanced\"")
                    } else {
                        format!("batch {batch}: the terminal's totals differ from what the host approved, yet it answered \"balanced\"")
                    }
                });
                if forged {
                    let forged_bad = bad.as_ref().map(|_| {
                        format!("batch {batch}, which held a request refused for its MAC, did not reconcile: the host may have booked it")
                    });
                    self.judge(HostCheckId::BadMacRefused, terminal, now, forged_bad);
                }
                self.judge(HostCheckId::SettlementReconciled, terminal, now, bad);
                if said {
                    let range = (terminal, batch, 0)..=(terminal, batch, u32::MAX);
                    let keys: Vec<Key> = self.trades.range(range).map(|(key, _)| *key).collect();
                    for key in keys {
                        self.trades.remove(&key);
                    }
                }
            }
            _ => {}
        }
    }

    fn on_reversal_answer(&mut self, now: Instant, key: Key, answer: ResponseCode) {
        let terminal = key.0;
        let acknowledged = [code(b"00"), code(b"12"), code(b"25")];
        if self.probes.get(&key) == Some(&Probe::UnknownReversal) {
            self.probes.remove(&key);
            let bad = (answer != code(b"25")).then(|| {
                format!(
                    "the reversal of stan {}, never sent, was answered {answer}, expected 25",
                    key.2
                )
            });
            return self.judge(HostCheckId::ReversalIdempotent, terminal, now, bad);
        }
        // Other codes (96, sign in again, ...) leave the reversal to be sent
        // again: nothing to judge yet.
        if !acknowledged.contains(&answer) {
            return;
        }
        let Some(trade) = self.trades.get_mut(&key) else {
            // Its original was never seen by this watcher (a lost request).
            return self.judge(HostCheckId::ReversalIdempotent, terminal, now, None);
        };
        let allowed: &[ResponseCode] = match trade.standing {
            Standing::Approved => &acknowledged[..1],
            Standing::Declined(_) => &acknowledged[..2],
            Standing::Unknown | Standing::Reversed => &acknowledged,
        };
        let mut bad = None;
        match trade.reversal_code {
            Some(first) if first != answer => {
                bad = Some(format!(
                    "the reversal of stan {} was answered {first}, then {answer} when repeated",
                    key.2
                ));
            }
            Some(_) => {}
            None if !allowed.contains(&answer) => {
                let standing = match trade.standing {
                    Standing::Approved => "approved".to_string(),
                    Standing::Declined(code) => format!("declined with {code}"),
                    _ => "unanswered".to_string(),
                };
                bad = Some(format!(
                    "the reversal of stan {} ({standing} by the host) was answered {answer}",
                    key.2
                ));
            }
            None => {}
        }
        if trade.reversal_code.is_none() {
            trade.reversal_code = Some(answer);
        }
        trade.standing = Standing::Reversed;
        self.judge(HostCheckId::ReversalIdempotent, terminal, now, bad);
    }

    fn on_trade_answer(&mut self, now: Instant, key: Key, kind: TradeKind, answer: ResponseCode) {
        let terminal = key.0;
        if self.probes.get(&key) == Some(&Probe::BadMac) {
            self.probes.remove(&key);
            let bad = (answer != ResponseCode::MAC_ERROR).then(|| {
                format!("stan {} sent with a bad MAC was answered {answer}, expected A0", key.2)
            });
            if let Some(trade) = self.trades.get_mut(&key) {
                trade.forged = true;
            }
            return self.judge(HostCheckId::BadMacRefused, terminal, now, bad);
        }
        let upload = kind.is_offline_upload();
        let duplicate = ResponseCode::DUPLICATE;
        let Some(trade) = self.trades.get_mut(&key) else { return };
        trade.answers += 1;
        let first = trade.answers == 1;
        let mut verdict = None;
        if trade.repeated {
            let bad = if first && answer == duplicate && !upload {
                Some(format!(
                    "stan {} was sent twice and its first answer was 94: the repeat was answered before the original, which does not stand",
                    key.2
                ))
            } else if !first && answer != duplicate && !(upload && answer.is_approved()) {
                Some(format!(
                    "the repeat of stan {} was answered {answer}, expected 94: it was taken as a new trade",
                    key.2
                ))
            } else {
                None
            };
            verdict = Some(bad);
        }
        // The original's answer sets the standing; a repeat's 94 does not
        // undo it, and an approval (even late) means the host holds it.
        if trade.standing != Standing::Reversed {
            let held = answer.is_approved() || (upload && answer == duplicate);
            if held {
                trade.standing = Standing::Approved;
            } else if first || trade.standing == Standing::Unknown {
                trade.standing = Standing::Declined(answer);
            }
        }
        if let Some(bad) = verdict {
            self.judge(HostCheckId::RepeatAnswered94, terminal, now, bad);
        }
    }

    /// The verdicts, one per check; what is still owed at the end counts.
    pub fn finish(&mut self, now: Instant) -> Vec<HostCheckResult> {
        let strangers: Vec<TerminalId> = std::mem::take(&mut self.strangers).into_iter().collect();
        for terminal in strangers {
            let text = "the sign-in of an unregistered terminal got no answer (expected 97)";
            self.judge(HostCheckId::UnregisteredRefused, terminal, now, Some(text.into()));
        }
        let probes = std::mem::take(&mut self.probes);
        for (key, probe) in probes {
            let (check, text) = match probe {
                Probe::BadMac => (
                    HostCheckId::BadMacRefused,
                    format!("stan {} sent with a bad MAC got no answer (expected A0)", key.2),
                ),
                Probe::UnknownReversal => (
                    HostCheckId::ReversalIdempotent,
                    format!(
                        "the reversal of stan {}, never sent, got no answer (expected 25)",
                        key.2
                    ),
                ),
            };
            self.judge(check, key.0, now, Some(text));
        }
        self.results()
    }

    /// The verdicts so far.
    pub fn results(&self) -> Vec<HostCheckResult> {
        self.results.values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use possim_models::iso8583::settlement::{SettlementRequest, SettlementResponse};
    use possim_models::iso8583::trade::{FinancialRequest, ReversalRequest, TradeResponse};
    use possim_models::iso8583::values::{MonthDay, TimeOfDay};

    use crate::live::fixtures::{answer, sale, terminal};

    fn reversal_answer(request: &FinancialRequest, text: &[u8; 2]) -> CupMessage {
        match answer(request, text) {
            CupMessage::TradeAnswer(a) => {
                CupMessage::TradeAnswer(TradeResponse { reversal: true, ..a })
            }
            _ => unreachable!(),
        }
    }

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    fn result(watch: &mut HostWatch, check: HostCheckId) -> HostCheckResult {
        watch.finish(at(99_999)).into_iter().find(|r| r.check == check).unwrap()
    }

    fn send(watch: &mut HostWatch, message: CupMessage, sent: Sent) {
        watch.on_request(at(0), terminal(), &message, sent);
    }

    #[test]
    fn a_repeat_dropped_or_answered_94_after_the_original_passes() {
        let first = sale(2, 100);
        let mut watch = HostWatch::new();
        send(&mut watch, CupMessage::Trade(first.clone()), Sent::Normal);
        send(&mut watch, CupMessage::Trade(first.clone()), Sent::Repeat);
        watch.on_answer(at(10), terminal(), &answer(&first, b"00"));
        watch.on_answer(at(11), terminal(), &answer(&first, b"94"));
        let verdict = result(&mut watch, HostCheckId::RepeatAnswered94);
        assert_eq!(verdict.exercised, 2);
        assert!(verdict.violations.is_empty(), "{verdict:?}");
    }

    #[test]
    fn a_94_before_the_original_or_a_second_approval_fails() {
        let first = sale(2, 100);
        let mut watch = HostWatch::new();
        send(&mut watch, CupMessage::Trade(first.clone()), Sent::Normal);
        send(&mut watch, CupMessage::Trade(first.clone()), Sent::Repeat);
        watch.on_answer(at(10), terminal(), &answer(&first, b"94"));
        let verdict = result(&mut watch, HostCheckId::RepeatAnswered94);
        assert!(verdict.violations[0].contains("first answer was 94"), "{verdict:?}");

        let mut watch = HostWatch::new();
        send(&mut watch, CupMessage::Trade(first.clone()), Sent::Normal);
        send(&mut watch, CupMessage::Trade(first.clone()), Sent::Repeat);
        watch.on_answer(at(10), terminal(), &answer(&first, b"00"));
        watch.on_answer(at(11), terminal(), &answer(&first, b"00"));
        let verdict = result(&mut watch, HostCheckId::RepeatAnswered94);
        assert!(verdict.violations[0].contains("taken as a new trade"), "{verdict:?}");
    }

    #[test]
    fn reversals_are_judged_against_the_original_and_their_repeats() {
        let approved = sale(2, 100);
        let mut watch = HostWatch::new();
        send(&mut watch, CupMessage::Trade(approved.clone()), Sent::Normal);
        watch.on_answer(at(10), terminal(), &answer(&approved, b"00"));
        let reversal = ReversalRequest::new(&approved, code(b"98"));
        send(&mut watch, CupMessage::Reversal(reversal.clone()), Sent::Normal);
        watch.on_answer(at(20), terminal(), &reversal_answer(&approved, b"00"));
        send(&mut watch, CupMessage::Reversal(reversal), Sent::Normal);
        watch.on_answer(at(30), terminal(), &reversal_answer(&approved, b"00"));
        let verdict = result(&mut watch, HostCheckId::ReversalIdempotent);
        assert_eq!(verdict.exercised, 2);
        assert!(verdict.violations.is_empty(), "{verdict:?}");

        // Approved, then "not found": the host lost the trade it approved.
        let mut watch = HostWatch::new();
        send(&mut watch, CupMessage::Trade(approved.clone()), Sent::Normal);
        watch.on_answer(at(10), terminal(), &answer(&approved, b"00"));
        watch.on_answer(at(20), terminal(), &reversal_answer(&approved, b"25"));
        let verdict = result(&mut watch, HostCheckId::ReversalIdempotent);
        assert!(
            verdict.violations[0].contains("approved by the host) was answered 25"),
            "{verdict:?}"
        );

        // A repeat answered differently from the first.
        let mut watch = HostWatch::new();
        let unanswered = sale(3, 100);
        send(&mut watch, CupMessage::Trade(unanswered.clone()), Sent::Normal);
        watch.on_answer(at(20), terminal(), &reversal_answer(&unanswered, b"00"));
        watch.on_answer(at(30), terminal(), &reversal_answer(&unanswered, b"25"));
        let verdict = result(&mut watch, HostCheckId::ReversalIdempotent);
        assert!(verdict.violations[0].contains("then 25 when repeated"), "{verdict:?}");
    }

    #[test]
    fn the_reversal_of_a_trade_never_sent_must_be_25() {
        let ghost = sale(900_001, 100);
        let reversal = ReversalRequest::new(&ghost, code(b"98"));
        let mut watch = HostWatch::new();
        send(&mut watch, CupMessage::Reversal(reversal.clone()), Sent::UnknownReversal);
        watch.on_answer(at(10), terminal(), &reversal_answer(&ghost, b"25"));
        let verdict = result(&mut watch, HostCheckId::ReversalIdempotent);
        assert_eq!((verdict.exercised, verdict.violations.len()), (1, 0), "{verdict:?}");

        let mut watch = HostWatch::new();
        send(&mut watch, CupMessage::Reversal(reversal), Sent::UnknownReversal);
        watch.on_answer(at(10), terminal(), &reversal_answer(&ghost, b"00"));
        let verdict = result(&mut watch, HostCheckId::ReversalIdempotent);
        assert!(verdict.violations[0].contains("never sent, was answered 00"), "{verdict:?}");
    }

    #[test]
    fn a_bad_mac_must_be_answered_a0() {
        let forged = sale(4, 100);
        let mut watch = HostWatch::new();
        send(&mut watch, CupMessage::Trade(forged.clone()), Sent::Normal);
        send(&mut watch, CupMessage::Trade(forged.clone()), Sent::BadMac);
        watch.on_answer(at(10), terminal(), &answer(&forged, b"A0"));
        let verdict = result(&mut watch, HostCheckId::BadMacRefused);
        assert_eq!((verdict.exercised, verdict.violations.len()), (1, 0), "{verdict:?}");

        let mut watch = HostWatch::new();
        send(&mut watch, CupMessage::Trade(forged.clone()), Sent::Normal);
        send(&mut watch, CupMessage::Trade(forged.clone()), Sent::BadMac);
        watch.on_answer(at(10), terminal(), &answer(&forged, b"00"));
        let verdict = result(&mut watch, HostCheckId::BadMacRefused);
        assert!(verdict.violations[0].contains("answered 00, expected A0"), "{verdict:?}");

        let mut watch = HostWatch::new();
        send(&mut watch, CupMessage::Trade(forged), Sent::BadMac);
        let verdict = result(&mut watch, HostCheckId::BadMacRefused);
        assert!(verdict.violations[0].contains("got no answer"), "{verdict:?}");
    }

    #[test]
    fn an_unregistered_terminal_must_get_97() {
        use possim_models::iso8583::network::{NetworkCode, NetworkRequest, NetworkResponse};
        use possim_models::iso8583::values::{BatchNo, MerchantId, Stan};
        let request = NetworkRequest {
            code: NetworkCode::SignIn(possim_models::iso8583::keys::KeyMode::Single),
            stan: Stan::new(1).unwrap(),
            batch: BatchNo::new(1).unwrap(),
            terminal: terminal(),
            merchant: MerchantId::new("898100000000001").unwrap(),
            operator: None,
        };
        let answered = |text: &[u8; 2]| {
            CupMessage::NetworkAnswer(NetworkResponse {
                code: request.code,
                stan: request.stan,
                batch: request.batch,
                terminal: request.terminal,
                merchant: request.merchant,
                time: TimeOfDay::new(9, 0, 0).unwrap(),
                date: MonthDay::new(11, 21).unwrap(),
                rrn: None,
                response_code: code(text),
                keys: None,
            })
        };
        for (text, violations) in [(b"97", 0), (b"00", 1)] {
            let mut watch = HostWatch::new();
            send(&mut watch, CupMessage::Network(request.clone()), Sent::Unregistered);
            watch.on_answer(at(10), terminal(), &answered(text));
            let verdict = result(&mut watch, HostCheckId::UnregisteredRefused);
            assert_eq!(
                (verdict.exercised, verdict.violations.len()),
                (1, violations),
                "{verdict:?}"
            );
        }
    }

    #[test]
    fn a_settlement_must_balance_exactly_when_the_totals_match() {
        use possim_models::iso8583::values::{BatchNo, MerchantId, Stan};
        let approved = sale(2, 100);
        let declined = sale(3, 900);
        let settle = |debit_amount: u64, debit_count: u32| SettlementRequest {
            stan: Stan::new(4).unwrap(),
            batch: BatchNo::new(1).unwrap(),
            terminal: terminal(),
            merchant: MerchantId::new("898100000000001").unwrap(),
            totals: BatchTotals { debit_amount, debit_count, credit_amount: 0, credit_count: 0 },
            operator: None,
        };
        let answer_with = |request: &SettlementRequest, result: SettlementResult| {
            CupMessage::SettlementAnswer(SettlementResponse {
                stan: request.stan,
                batch: request.batch,
                terminal: request.terminal,
                merchant: request.merchant,
                time: TimeOfDay::new(9, 0, 0).unwrap(),
                date: MonthDay::new(11, 21).unwrap(),
                settlement_date: None,
                rrn: None,
                totals: request.totals,
                result,
            })
        };
        let cases = [
            (100, 1, SettlementResult::Balanced, 0),
            (100, 1, SettlementResult::NotBalanced, 1),
            (1000, 2, SettlementResult::NotBalanced, 0),
            (1000, 2, SettlementResult::Balanced, 1),
        ];
        for (amount, count, said, violations) in cases {
            let mut watch = HostWatch::new();
            send(&mut watch, CupMessage::Trade(approved.clone()), Sent::Normal);
            watch.on_answer(at(10), terminal(), &answer(&approved, b"00"));
            send(&mut watch, CupMessage::Trade(declined.clone()), Sent::Normal);
            watch.on_answer(at(20), terminal(), &answer(&declined, b"51"));
            let request = settle(amount, count);
            send(&mut watch, CupMessage::Settlement(request.clone()), Sent::Normal);
            watch.on_answer(at(30), terminal(), &answer_with(&request, said));
            let verdict = result(&mut watch, HostCheckId::SettlementReconciled);
            assert_eq!(
                (verdict.exercised, verdict.violations.len()),
                (1, violations),
                "{amount} {said:?}: {verdict:?}"
            );
        }
    }
}
