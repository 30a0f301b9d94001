//! The views every invariant shares, built once per trace: the part of the
//! log that is judged, each terminal event with the batch its terminal was in,
//! a table of the terminal's trades, and the issuer's ledger per trade and
//! per card.
//!
//! Trades are named by [`TradeId`] (terminal, batch, STAN): the identity that
//! travels unchanged from the terminal to the issuer (`TradeKey` less the
//! merchant, which a terminal has only one of). Terminal events carry no
//! batch, so the index follows each terminal's batch from `SignedIn{batch}`
//! and `SettlementCompleted{batch}` (the next batch is `batch.next()`), the
//! way the terminal itself moves it. Events before the first sign-in have no
//! known batch.
//!
//! ```
//! use possim_sim::oracle::index::TraceIndex;
//! use possim_sim::trace::{Phase, Trace, TraceEvent};
//! use possim_models::time::Instant;
//! let mut trace = Trace::new();
//! trace.push(Instant::ZERO, TraceEvent::Phase { phase: Phase::End });
//! let index = TraceIndex::new(&trace);
//! assert!(index.ended);
//! assert!(index.trades.is_empty());
//! ```

use std::collections::BTreeMap;

use possim_models::actor::TradeKey;
use possim_models::iso8583::trade::{Side, TradeKind};
use possim_models::iso8583::values::{BatchNo, Pan, Stan, TerminalId};
use possim_models::iso8583::Mti;
use possim_models::issuer::{IssuerEventKind, Purse};
use possim_models::network::NetworkEventKind;
use possim_models::switch::SwitchEventKind;
use possim_models::terminal::events::TerminalEventKind;
use possim_models::terminal::printer::SlipKind;
use possim_models::time::Instant;

use crate::trace::{Phase, Trace, TraceEvent, TraceRecord};

use super::wire::{self, WireFrame};
use super::wire_trades::{self, WireTrade};
use super::{Evidence, TradeRef};

/// A trade's identity from the terminal to the issuer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TradeId {
    pub terminal: TerminalId,
    pub batch: Option<BatchNo>,
    pub stan: Stan,
}

impl TradeId {
    pub fn of(key: &TradeKey) -> TradeId {
        TradeId { terminal: key.terminal, batch: Some(key.batch), stan: key.stan }
    }
}

/// One terminal event, with the batch its terminal was in.
#[derive(Debug, Clone, Copy)]
pub struct TermEvent<'a> {
    pub seq: u64,
    pub at: Instant,
    pub batch: Option<BatchNo>,
    pub kind: &'a TerminalEventKind,
}

/// What the terminal did with one trade it started (online or offline).
#[derive(Debug, Clone, Default)]
pub struct TradeView {
    pub kind: Option<TradeKind>,
    pub amount_fen: Option<u64>,
    pub pan: Option<Pan>,
    /// `TradeStarted`.
    pub started: Option<u64>,
    /// The first `RequestSent` of the trade itself (not its reversal).
    pub sent: Option<u64>,
    /// `TradeAnswered`, and whether it approved.
    pub answered: Option<(u64, bool)>,
    pub timed_out: Option<u64>,
    pub failed: Option<u64>,
    /// `PowerLost` while the trade's answer was awaited.
    pub power_lost: Option<u64>,
    pub reversal_stored: Option<u64>,
    pub reversal_armed: Option<u64>,
    pub reversal_sent: Vec<u64>,
    pub reversal_acknowledged: Option<u64>,
    pub reversal_abandoned: Option<u64>,
    pub offline_queued: Option<u64>,
    pub offline_uploaded: Option<u64>,
    pub offline_failed: Option<u64>,
    /// `AdviceStored`: a refund kept until the host acknowledges it, whose
    /// verdict is its `TradeAnswered` (00 or 94 taken, anything else refused).
    pub advice_stored: Option<u64>,
    /// The first `AdviceDeferred`: a refund's first send got no verdict.
    pub advice_deferred: Option<u64>,
    /// Readable approval or reprint slips naming the trade.
    pub slips: Vec<u64>,
    /// Slips for the trade that did not come out readable.
    pub slips_failed: Vec<u64>,
    /// `JournalCleared` of the trade's batch, after the trade.
    pub journal_cleared: Option<u64>,
    /// Whether an offline-failures slip listed the trade.
    pub listed_as_failed: Option<u64>,
}

impl TradeView {
    /// When the terminal began holding it as an advice to send: an offline
    /// trade when made, a refund when stored.
    pub fn advice_held(&self) -> Option<u64> {
        self.offline_queued.or(self.advice_stored)
    }

    /// The host's verdict on an advice: taken (uploaded, refund approved)
    /// or refused, whichever came.
    pub fn advice_taken(&self) -> Option<u64> {
        match self.advice_stored {
            Some(_) => self.answered.filter(|(_, approved)| *approved).map(|(seq, _)| seq),
            None => self.offline_uploaded,
        }
    }

    /// Whether a refusal must be on the failures list: an offline trade's
    /// always; a refund's only when it came on a later send (its first got
    /// no verdict, or a power cut lost it) — refused at its first answer,
    /// the cashier saw the decline at the counter.
    pub fn refusal_owes_listing(&self) -> bool {
        self.advice_stored.is_none() || self.advice_deferred.is_some() || self.power_lost.is_some()
    }

    pub fn advice_refused(&self) -> Option<u64> {
        match self.advice_stored {
            Some(_) => self.answered.filter(|(_, approved)| !*approved).map(|(seq, _)| seq),
            None => self.offline_failed,
        }
    }

    /// Whether the terminal counts the trade as done: approved online, or
    /// offline and not refused by the host.
    pub fn approved(&self) -> bool {
        match (self.answered, self.offline_queued) {
            (Some((_, approved)), _) => approved,
            (None, Some(_)) => self.offline_failed.is_none(),
            (None, None) => false,
        }
    }

    /// The net debit (positive takes money from the cardholder) the
    /// terminal holds for the trade if it considers it approved.
    pub fn expected_debit_fen(&self) -> i64 {
        if !self.approved() {
            return 0;
        }
        signed(self.kind, self.amount_fen)
    }

    /// Whether an approval slip is owed for it (inquiries print none).
    pub fn owes_slip(&self) -> bool {
        self.approved() && self.kind.is_some_and(|kind| kind != TradeKind::BalanceInquiry)
    }
}

/// The debit a trade of `kind` for `amount` makes: debits positive, credits
/// negative, holds and inquiries nothing.
pub fn signed(kind: Option<TradeKind>, amount_fen: Option<u64>) -> i64 {
    let fen = amount_fen.map_or(0, |fen| fen as i64);
    match kind.map(TradeKind::side) {
        Some(Side::Debit) => fen,
        Some(Side::Credit) => -fen,
        Some(Side::None) | None => 0,
    }
}

/// What the issuer did with one trade key.
#[derive(Debug, Clone, Default)]
pub struct IssuerView {
    pub issuer: u16,
    pub kind: Option<TradeKind>,
    pub pan: Option<Pan>,
    pub approved: Vec<u64>,
    /// Net debit on the account and offline purses (holds excluded).
    pub net_debit_fen: i64,
    /// Every `Moved` on the account and offline purses.
    pub moves: Vec<u64>,
    /// `Moved` events that took money (negative delta).
    pub debits: Vec<u64>,
    pub reversed: Vec<u64>,
    pub reversal_ignored: Vec<u64>,
    pub returned_at_clearing: Vec<u64>,
    /// What the end of day's clearing handed back to the card.
    pub returned_at_clearing_fen: i64,
}

/// The views, built once.
#[derive(Debug)]
pub struct TraceIndex<'a> {
    /// The judged records: up to and including `Phase{End}`, or all of them.
    pub records: &'a [TraceRecord],
    /// Whether the trace has an `End` record (else it is judged at its last).
    pub ended: bool,
    /// Every terminal's events in order, with their batch.
    pub terminal_events: BTreeMap<TerminalId, Vec<TermEvent<'a>>>,
    pub trades: BTreeMap<TradeId, TradeView>,
    /// Per terminal and STAN, the latest trade with that STAN.
    latest: BTreeMap<(TerminalId, Stan), TradeId>,
    pub issuer: BTreeMap<TradeId, IssuerView>,
    /// Each card's net debit at the issuers, from `Moved` on the account and
    /// offline purses (e-cash loads net to zero across the two).
    pub card_net_debit: BTreeMap<Pan, i64>,
    /// Every judged frame as it travelled, in log order.
    pub frames: Vec<WireFrame<'a>>,
    /// Each trade as its terminal's line shows it ([`wire_trades`]).
    pub wire_trades: BTreeMap<TradeId, WireTrade>,
    /// The seq of `records[0]`: seqs are consecutive in a whole log, so a
    /// record is found by subtraction.
    first_seq: u64,
}

impl<'a> TraceIndex<'a> {
    pub fn new(trace: &'a Trace) -> TraceIndex<'a> {
        assert!(trace.keeps_every_record(), "a streamed trace is judged from its JudgedLog");
        TraceIndex::over(trace.records())
    }

    /// The views of a log's records (all of it, or up to its end).
    pub fn over(all: &'a [TraceRecord]) -> TraceIndex<'a> {
        let end =
            all.iter().position(|r| matches!(r.event, TraceEvent::Phase { phase: Phase::End }));
        let records = match end {
            Some(position) => &all[..=position],
            None => all,
        };
        let mut index = TraceIndex {
            records,
            ended: end.is_some(),
            terminal_events: BTreeMap::new(),
            trades: BTreeMap::new(),
            latest: BTreeMap::new(),
            issuer: BTreeMap::new(),
            card_net_debit: BTreeMap::new(),
            frames: wire::frames(records),
            wire_trades: BTreeMap::new(),
            first_seq: records.first().map_or(0, |r| r.seq),
        };
        index.build();
        index.wire_trades = wire_trades::trades(&index);
        index
    }

    fn build(&mut self) {
        let mut batch: BTreeMap<TerminalId, BatchNo> = BTreeMap::new();
        // The trade whose answer each terminal awaits (for power cuts).
        let mut in_flight: BTreeMap<TerminalId, TradeId> = BTreeMap::new();
        let records = self.records;
        for record in records {
            match &record.event {
                TraceEvent::Terminal(event) => {
                    let terminal = event.terminal;
                    let current = batch.get(&terminal).copied();
                    self.terminal_events.entry(terminal).or_default().push(TermEvent {
                        seq: record.seq,
                        at: record.at,
                        batch: current,
                        kind: &event.kind,
                    });
                    self.on_terminal(record.seq, terminal, current, &event.kind, &mut in_flight);
                    match &event.kind {
                        TerminalEventKind::SignedIn { batch: b } => {
                            batch.insert(terminal, *b);
                        }
                        TerminalEventKind::SettlementCompleted { batch: b } => {
                            batch.insert(terminal, b.next());
                        }
                        _ => {}
                    }
                }
                TraceEvent::Issuer { issuer, event } => {
                    self.on_issuer(record.seq, *issuer, &event.kind)
                }
                _ => {}
            }
        }
    }

    fn on_terminal(
        &mut self,
        seq: u64,
        terminal: TerminalId,
        batch: Option<BatchNo>,
        kind: &TerminalEventKind,
        in_flight: &mut BTreeMap<TerminalId, TradeId>,
    ) {
        use TerminalEventKind as E;
        let stan = match kind {
            E::TradeStarted { stan, kind: trade_kind, amount, pan } => {
                let id = TradeId { terminal, batch, stan: *stan };
                self.latest.insert((terminal, *stan), id);
                let view = self.trades.entry(id).or_default();
                view.kind = Some(*trade_kind);
                view.amount_fen = amount.map(|a| a.fen());
                view.pan = Some(*pan);
                view.started = Some(seq);
                return;
            }
            E::PowerLost => {
                if let Some(id) = in_flight.remove(&terminal) {
                    if let Some(view) = self.trades.get_mut(&id) {
                        view.power_lost.get_or_insert(seq);
                    }
                }
                return;
            }
            E::SlipPrinted { kind: SlipKind::OfflineFailures, listed, .. } => {
                for stan in listed {
                    if let Some(view) = self.trade_mut(terminal, *stan) {
                        view.listed_as_failed.get_or_insert(seq);
                    }
                }
                return;
            }
            E::JournalCleared { batch: cleared, .. } => {
                for (_, view) in self.trades.range_mut(batch_range(terminal, *cleared)) {
                    view.journal_cleared.get_or_insert(seq);
                }
                return;
            }
            E::RequestSent { stan, .. }
            | E::TradeAnswered { stan, .. }
            | E::TradeTimedOut { stan }
            | E::TradeFailed { stan, .. }
            | E::ReversalStored { stan }
            | E::ReversalArmed { stan, .. }
            | E::ReversalSent { stan, .. }
            | E::ReversalAcknowledged { stan, .. }
            | E::ReversalAbandoned { stan, .. }
            | E::OfflineQueued { stan, .. }
            | E::OfflineUploaded { stan, .. }
            | E::OfflineUploadFailed { stan, .. }
            | E::AdviceStored { stan }
            | E::AdviceDeferred { stan, .. } => *stan,
            E::SlipPrinted {
                stan: Some(stan),
                kind: SlipKind::Approval | SlipKind::Reprint,
                ..
            }
            | E::SlipFailed {
                stan: Some(stan),
                kind: SlipKind::Approval | SlipKind::Reprint,
                ..
            } => *stan,
            _ => return,
        };
        let Some(id) = self.latest.get(&(terminal, stan)).copied() else { return };
        let view = self.trades.get_mut(&id).expect("latest names a trade");
        match kind {
            E::RequestSent { mti, .. } => {
                let own = view.kind.is_some_and(|k| k.mti() == *mti);
                if own && view.sent.is_none() && view.offline_queued.is_none() {
                    view.sent = Some(seq);
                    in_flight.insert(terminal, id);
                } else if *mti != Mti::REVERSAL {
                    // Another message (an upload of an offline trade): no
                    // reversal follows its loss, so it is not tracked here.
                } else {
                    in_flight.remove(&terminal);
                }
            }
            E::TradeAnswered { approved, .. } => {
                view.answered = Some((seq, *approved));
                in_flight.remove(&terminal);
            }
            E::TradeTimedOut { .. } => {
                view.timed_out = Some(seq);
                in_flight.remove(&terminal);
            }
            E::TradeFailed { .. } => {
                view.failed = Some(seq);
                in_flight.remove(&terminal);
            }
            E::ReversalStored { .. } => view.reversal_stored = Some(seq),
            E::ReversalArmed { .. } => view.reversal_armed = Some(seq),
            E::ReversalSent { .. } => view.reversal_sent.push(seq),
            E::ReversalAcknowledged { .. } => view.reversal_acknowledged = Some(seq),
            E::ReversalAbandoned { .. } => view.reversal_abandoned = Some(seq),
            E::OfflineQueued { .. } => view.offline_queued = Some(seq),
            E::OfflineUploaded { .. } => view.offline_uploaded = Some(seq),
            E::OfflineUploadFailed { .. } => view.offline_failed = Some(seq),
            E::AdviceStored { .. } => view.advice_stored = Some(seq),
            // No verdict: the refund stays stored, and no answer is awaited.
            E::AdviceDeferred { .. } => {
                view.advice_deferred.get_or_insert(seq);
                in_flight.remove(&terminal);
            }
            E::SlipPrinted { .. } => view.slips.push(seq),
            E::SlipFailed { .. } => view.slips_failed.push(seq),
            _ => {}
        }
    }

    fn on_issuer(&mut self, seq: u64, issuer: u16, kind: &IssuerEventKind) {
        match kind {
            IssuerEventKind::Approved { key, kind, pan, .. } => {
                let view = self.issuer_view(issuer, key);
                view.kind = Some(*kind);
                view.pan = Some(*pan);
                view.approved.push(seq);
            }
            IssuerEventKind::Moved { key, pan, purse, delta_fen, .. } => {
                if *purse == Purse::Hold {
                    return;
                }
                *self.card_net_debit.entry(*pan).or_insert(0) -= delta_fen;
                if let Some(key) = key {
                    let view = self.issuer_view(issuer, key);
                    view.pan = Some(*pan);
                    view.net_debit_fen -= delta_fen;
                    view.moves.push(seq);
                    if *delta_fen < 0 {
                        view.debits.push(seq);
                    }
                }
            }
            IssuerEventKind::Reversed { key, .. } => {
                self.issuer_view(issuer, key).reversed.push(seq)
            }
            IssuerEventKind::ReversalIgnored { key, .. } => {
                self.issuer_view(issuer, key).reversal_ignored.push(seq)
            }
            IssuerEventKind::ReturnedAtClearing { key, amount_fen, .. } => {
                let view = self.issuer_view(issuer, key);
                view.returned_at_clearing.push(seq);
                view.returned_at_clearing_fen += *amount_fen;
            }
            _ => {}
        }
    }

    fn issuer_view(&mut self, issuer: u16, key: &TradeKey) -> &mut IssuerView {
        let view = self.issuer.entry(TradeId::of(key)).or_default();
        view.issuer = issuer;
        view
    }

    fn trade_mut(&mut self, terminal: TerminalId, stan: Stan) -> Option<&mut TradeView> {
        let id = self.latest.get(&(terminal, stan)).copied()?;
        self.trades.get_mut(&id)
    }

    /// What the issuers did with the trades of one terminal batch.
    pub fn issuer_in_batch(
        &self,
        terminal: TerminalId,
        batch: BatchNo,
    ) -> impl Iterator<Item = (&TradeId, &IssuerView)> + '_ {
        self.issuer.range(batch_range(terminal, batch))
    }

    /// The latest trade of `terminal` with `stan`.
    pub fn trade_of(&self, terminal: TerminalId, stan: Stan) -> Option<(TradeId, &TradeView)> {
        let id = self.latest.get(&(terminal, stan)).copied()?;
        self.trades.get(&id).map(|view| (id, view))
    }

    /// The record with `seq`: found by subtraction in a whole log, by
    /// search in a [`super::log::JudgedLog`] (which leaves some out).
    pub fn record(&self, seq: u64) -> Option<&'a TraceRecord> {
        let position = usize::try_from(seq.checked_sub(self.first_seq)?).ok()?;
        match self.records.get(position).filter(|r| r.seq == seq) {
            Some(record) => Some(record),
            None => {
                let position = self.records.binary_search_by_key(&seq, |r| r.seq).ok()?;
                Some(&self.records[position])
            }
        }
    }

    /// The record with `seq` as evidence.
    pub fn evidence(&self, seq: u64) -> Option<Evidence> {
        self.record(seq).map(evidence_of)
    }

    /// Evidence for several seqs, in log order, duplicates dropped.
    pub fn evidence_of(&self, seqs: impl IntoIterator<Item = u64>) -> Vec<Evidence> {
        let mut seqs: Vec<u64> = seqs.into_iter().collect();
        seqs.sort_unstable();
        seqs.dedup();
        seqs.into_iter().filter_map(|seq| self.evidence(seq)).collect()
    }

    /// The instant and seq the trace is judged at.
    pub fn end(&self) -> Option<(u64, Instant)> {
        self.records.last().map(|r| (r.seq, r.at))
    }

    /// A reference naming a trade, filled from what the terminal and the
    /// issuer know of it.
    pub fn trade_ref(&self, id: TradeId) -> TradeRef {
        let terminal = self.trades.get(&id);
        let issuer = self.issuer.get(&id);
        TradeRef {
            terminal: id.terminal,
            batch: id.batch,
            stan: Some(id.stan),
            // No event carries the RRN (the issuer assigns it in the 0210,
            // which the log does not decode).
            rrn: None,
            card: terminal.and_then(|t| t.pan).or_else(|| issuer.and_then(|i| i.pan)),
            amount_fen: terminal.and_then(|t| t.amount_fen),
        }
    }

    /// Whether anything upstream shows the trade reversed (or the reversal
    /// settled at the issuer: original unknown, declined, a repeat).
    pub fn reversed_upstream(&self, id: TradeId) -> Option<u64> {
        let view = self.issuer.get(&id)?;
        view.reversed.first().or(view.reversal_ignored.first()).copied()
    }

    /// Every switch event with its seq.
    pub fn switch_events(&self) -> impl Iterator<Item = (u64, &'a SwitchEventKind)> + 'a {
        self.records.iter().filter_map(|r| match &r.event {
            TraceEvent::Switch(event) => Some((r.seq, &event.kind)),
            _ => None,
        })
    }

    /// Every network event with its seq.
    pub fn network_events(&self) -> impl Iterator<Item = (u64, &'a NetworkEventKind)> + 'a {
        self.records.iter().filter_map(|r| match &r.event {
            TraceEvent::Network(event) => Some((r.seq, &event.kind)),
            _ => None,
        })
    }

    /// Every issuer event with its seq and issuer.
    pub fn issuer_events(&self) -> impl Iterator<Item = (u64, u16, &'a IssuerEventKind)> + 'a {
        self.records.iter().filter_map(|r| match &r.event {
            TraceEvent::Issuer { issuer, event } => Some((r.seq, *issuer, &event.kind)),
            _ => None,
        })
    }
}

/// Every trade id of one terminal batch, for range queries on the ordered
/// maps (ids order by terminal, then batch, then STAN).
fn batch_range(terminal: TerminalId, batch: BatchNo) -> std::ops::RangeInclusive<TradeId> {
    let first = Stan::new(1).expect("1 is a stan");
    let last = Stan::new(Stan::MAX).expect("max is a stan");
    TradeId { terminal, batch: Some(batch), stan: first }..=TradeId {
        terminal,
        batch: Some(batch),
        stan: last,
    }
}

/// One record as a line of evidence.
pub fn evidence_of(record: &TraceRecord) -> Evidence {
    Evidence { seq: record.seq, at: record.at, summary: describe(&record.event) }
}

/// A short description of an event, for evidence lines.
pub fn describe(event: &TraceEvent) -> String {
    use TerminalEventKind as E;
    match event {
        TraceEvent::Setup(setup) => format!("setup {} seed {}", setup.scenario, setup.seed),
        TraceEvent::Phase { phase } => format!("phase {phase:?}").to_lowercase(),
        TraceEvent::Frame(frame) => format!(
            "frame {} -> {} {} stan {} {:?}",
            frame.from,
            frame.to,
            frame.mti.as_deref().unwrap_or("????"),
            frame.stan.map_or("-".to_string(), |s| format!("{s:06}")),
            frame.fate
        )
        .to_lowercase(),
        TraceEvent::Fault(fault) => {
            format!("fault {:?} on {}", fault.kind, fault.target).to_lowercase()
        }
        TraceEvent::Terminal(event) => {
            let what = match &event.kind {
                E::TradeStarted { stan, kind, amount, pan } => format!(
                    "{} started stan {stan} card {} amount {}",
                    kind.label(),
                    short_pan(pan),
                    amount.map_or("-".to_string(), |a| a.to_string())
                ),
                E::RequestSent { stan, mti } => format!("sent {mti} stan {stan}"),
                E::TradeAnswered { stan, kind, code, approved } => format!(
                    "{} stan {stan} answered {code} ({})",
                    kind.label(),
                    if *approved { "approved" } else { "declined" }
                ),
                E::TradeTimedOut { stan } => format!("stan {stan} timed out"),
                E::TradeFailed { stan, reason } => format!("stan {stan} failed: {reason}"),
                E::ReversalStored { stan } => format!("reversal of stan {stan} stored"),
                E::ReversalArmed { stan, reason } => {
                    format!("reversal of stan {stan} armed ({reason:?})").to_lowercase()
                }
                E::ReversalSent { stan, attempt, .. } => {
                    format!("reversal of stan {stan} sent, try {attempt}")
                }
                E::ReversalAcknowledged { stan, code } => {
                    format!("reversal of stan {stan} acknowledged {code}")
                }
                E::ReversalUnanswered { stan, attempt } => {
                    format!("reversal of stan {stan} try {attempt} unanswered")
                }
                E::ReversalCleared { stan } => {
                    format!("reversal of stan {stan} cleared: answered after all")
                }
                E::ReversalAbandoned { stan, .. } => {
                    format!("reversal of stan {stan} abandoned unacknowledged")
                }
                E::SlipPrinted { stan, kind, listed } => format!(
                    "{kind:?} slip printed{}{}",
                    stan.map_or(String::new(), |s| format!(" stan {s}")),
                    if listed.is_empty() {
                        String::new()
                    } else {
                        format!(" listing {}", stans(listed))
                    }
                )
                .to_lowercase(),
                E::SlipFailed { stan, kind, reason } => format!(
                    "{kind:?} slip failed{} ({reason:?})",
                    stan.map_or(String::new(), |s| format!(" stan {s}"))
                )
                .to_lowercase(),
                E::OfflineQueued { stan, kind, amount } => {
                    format!("{} stan {stan} queued offline, amount {amount}", kind.label())
                }
                E::OfflineUploaded { stan, code } => format!("offline stan {stan} uploaded {code}"),
                E::OfflineUploadFailed { stan, code } => {
                    format!("offline stan {stan} refused {code}")
                }
                E::OfflineUploadDeferred { stan, code } => format!(
                    "offline stan {stan} upload deferred{}",
                    code.map_or(String::new(), |c| format!(" {c}"))
                ),
                E::AdviceStored { stan } => format!("refund stan {stan} stored as an advice"),
                E::AdviceDeferred { stan, code } => format!(
                    "refund advice stan {stan} deferred{}",
                    code.map_or(String::new(), |c| format!(" {c}"))
                ),
                E::SettlementStarted { batch, totals } => format!(
                    "settlement of batch {batch} started: debits {} x{}, credits {} x{}",
                    fen(totals.debit_amount as i64),
                    totals.debit_count,
                    fen(totals.credit_amount as i64),
                    totals.credit_count
                ),
                E::SettlementBalanced { batch } => format!("settlement of batch {batch} balanced"),
                E::SettlementNotBalanced { batch } => {
                    format!("settlement of batch {batch} not balanced")
                }
                E::BatchUploadStarted { batch, trades } => {
                    format!("batch upload of batch {batch} started, {trades} trades")
                }
                E::BatchUploadEnded { batch, network_code } => {
                    format!("batch upload of batch {batch} ended with {network_code:03}")
                }
                E::SettlementCompleted { batch } => {
                    format!("settlement of batch {batch} completed")
                }
                E::SettlementFailed { batch, reason } => {
                    format!("settlement of batch {batch} failed: {reason}")
                }
                E::JournalCleared { batch, trades } => {
                    format!("journal of batch {batch} cleared, {trades} trades")
                }
                E::SignedIn { batch } => format!("signed in, batch {batch}"),
                other => format!("{other:?}").to_lowercase(),
            };
            format!("terminal {} {what}", event.terminal)
        }
        TraceEvent::Switch(event) => {
            let text = event.to_string();
            // The event's own Display starts with its instant; the evidence
            // line prints that already.
            let body = text.split_once(' ').map_or(text.as_str(), |(_, rest)| rest);
            format!("switch {body}")
        }
        TraceEvent::Network(event) => format!("network {}", network(&event.kind)),
        TraceEvent::Issuer { issuer, event } => {
            format!("issuer {issuer} {}", issuer_kind(&event.kind))
        }
        TraceEvent::Verdict(verdict) => {
            format!("verdict {} passed {}", verdict.invariant, verdict.passed)
        }
    }
}

fn network(kind: &NetworkEventKind) -> String {
    use NetworkEventKind as N;
    match kind {
        N::Routed { key, kind, issuer } => {
            format!("routed {} {} to issuer {issuer}", kind.label(), short_key(key))
        }
        N::AnswerRelayed { key, code, reversal, .. } => {
            format!(
                "relayed {}{}: {code}",
                if *reversal { "reversal of " } else { "" },
                short_key(key)
            )
        }
        N::AnsweredOnBehalf { key, code, reversal, .. } => {
            format!(
                "answered {}{} itself: {code}",
                if *reversal { "reversal of " } else { "" },
                short_key(key)
            )
        }
        N::IssuerTimeout { key, issuer } => {
            format!("issuer {issuer} timed out on {}", short_key(key))
        }
        N::ReversalQueued { key, origin, .. } => {
            format!("reversal queued {} ({origin:?})", short_key(key)).to_lowercase()
        }
        N::ReversalSent { key, attempt, .. } => {
            format!("reversal sent {} try {attempt}", short_key(key))
        }
        N::ReversalAcknowledged { key, code, .. } => {
            format!("reversal acknowledged {}: {code}", short_key(key))
        }
        N::ReversalRefused { key, code, .. } => {
            format!("reversal refused {}: {code}", short_key(key))
        }
        N::ReversalAbandoned { key, tries, .. } => {
            format!("reversal abandoned {} after {tries} tries", short_key(key))
        }
        N::ClearingList { issuer, keys } => {
            format!("clearing list for issuer {issuer}: {} trades", keys.len())
        }
        N::MacRejected { from, key } => format!(
            "mac rejected from {from}{}",
            key.map_or(String::new(), |k| format!(" {}", short_key(&k)))
        ),
        other => format!("{other:?}").to_lowercase(),
    }
}

fn issuer_kind(kind: &IssuerEventKind) -> String {
    use IssuerEventKind as I;
    match kind {
        I::RequestReceived { key, kind, reversal } => format!(
            "received {}{} {}",
            if *reversal { "reversal of " } else { "" },
            kind.label(),
            short_key(key)
        ),
        I::Approved { key, kind, pan, amount_fen } => format!(
            "approved {} {} card {} amount {}",
            kind.label(),
            short_key(key),
            short_pan(pan),
            fen(*amount_fen as i64)
        ),
        I::Declined { key, code, .. } => format!("declined {}: {code}", short_key(key)),
        I::Duplicate { key } => format!("duplicate {} answered 94", short_key(key)),
        I::Moved { key, pan, purse, delta_fen, balance_after_fen } => format!(
            "moved {} on {:?} of card {} ({}), balance {}",
            signed_fen(*delta_fen),
            purse,
            short_pan(pan),
            key.map_or("no trade".to_string(), |k| short_key(&k)),
            fen(*balance_after_fen)
        )
        .replace("Account", "account")
        .replace("Offline", "offline"),
        I::Reversed { key, amount_fen, repeat } => format!(
            "reversed {} amount {}{}",
            short_key(key),
            fen(*amount_fen),
            if *repeat { " again (repeat)" } else { "" }
        ),
        I::ReversalIgnored { key, why, code } => {
            format!("reversal of {} ignored ({why:?}): {code}", short_key(key)).to_lowercase()
        }
        I::ReversalBeforeOriginal { key } => {
            format!("reversal before its original {}", short_key(key))
        }
        I::MacRejected { key } => {
            format!("mac rejected{}", key.map_or(String::new(), |k| format!(" {}", short_key(&k))))
        }
        I::ReturnedAtClearing { key, amount_fen, .. } => {
            format!("returned {} at clearing {}", fen(*amount_fen), short_key(key))
        }
        I::Cleared { key } => format!("cleared {}", short_key(key)),
        I::HoldPlaced { pre_auth, held_fen, expires_at, .. } => format!(
            "hold of {} placed for {} until {expires_at}",
            fen(*held_fen),
            short_key(pre_auth)
        ),
        I::HoldClosed { pre_auth, why, released_fen, captured_fen, .. } => format!(
            "hold of {} ended ({why:?}): released {}, captured {}",
            short_key(pre_auth),
            fen(*released_fen),
            fen(*captured_fen)
        )
        .to_lowercase(),
        I::ECashLoaded { pan, amount_fen } => {
            format!("e-cash loaded {} on card {}", fen(*amount_fen), short_pan(pan))
        }
        other => format!("{other:?}").to_lowercase(),
    }
}

/// A trade key as `T0000001 batch 000001 stan 000012`.
pub fn short_key(key: &TradeKey) -> String {
    format!("{} batch {} stan {}", key.terminal, key.batch, key.stan)
}

/// A card number as `6222…0001`: enough to tell cards apart in a report.
pub fn short_pan(pan: &Pan) -> String {
    let text = pan.as_str();
    format!("{}…{}", &text[..4], &text[text.len() - 4..])
}

/// Fen as yuan with two decimals, sign kept.
pub fn fen(fen: i64) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let abs = fen.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

fn signed_fen(delta: i64) -> String {
    if delta > 0 {
        format!("+{}", fen(delta))
    } else {
        fen(delta)
    }
}

fn stans(listed: &[Stan]) -> String {
    listed.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(",")
}
