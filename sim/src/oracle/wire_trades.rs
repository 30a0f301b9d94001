//! Each trade as the terminal's own line shows it: the request that left the
//! terminal, the answer that reached it in time and intact, the reversals it
//! sent, and the acknowledgement that reached it. What a terminal *believes*
//! is read from what it sent and was sent, never from its own events, so the
//! same judgement holds for a real device on the other end of a socket.
//!
//! The rules, each the wire's reading of a terminal's duty:
//!
//! - *The request* is the first copy of a trade's request (MTI, fields 3, 25
//!   and 60.1 name its kind) to leave the terminal; the trade is named by
//!   fields 41, 60.2 and 11, the identity the issuer keys its money by.
//! - *Waiting* lasts from the request until the terminal sends anything else
//!   (a copy of the same request aside) or loses power (a power cut or a
//!   device swap the harness made, or the model saying its power went). A
//!   terminal that waits sends nothing else, so its next frame is the wire's
//!   proof that it stopped waiting.
//! - *A usable answer* is an answer to that request (same terminal, STAN and
//!   MTI + 10) that reached the terminal intact while it was waiting. A 94 to
//!   a reversible trade is not one: it says a copy was seen, not what became
//!   of the original (docs/DESIGN.md, "94 is not a verdict").
//! - *Reversals* are the 0400s naming the trade (its terminal and STAN) that
//!   left the terminal; *acknowledged* is an intact 0410 with 00, 12 or 25
//!   reaching it.
//! - *Approved at the terminal*: a reversible or online trade whose usable
//!   answer approved and for which no 0400 ever left; an advice (refund,
//!   completion advice, offline upload) any of whose copies reached the
//!   terminal answered 00 or 94 ("taken"), and was never reversed. An offline
//!   trade never uploaded is not on the wire: offline-before-settlement
//!   judges that.
//!
//! ```
//! use possim_sim::oracle::TraceIndex;
//! use possim_sim::trace::Trace;
//! let trace = Trace::new();
//! assert!(TraceIndex::new(&trace).wire_trades.is_empty());
//! ```

use std::collections::BTreeMap;

use possim_models::iso8583::response_code::ResponseCode;
use possim_models::iso8583::trade::TradeKind;
use possim_models::iso8583::values::{Stan, TerminalId};
use possim_models::terminal::events::TerminalEventKind;

use std::time::Duration;

use possim_models::time::Instant;

use crate::trace::{Fate, FaultKind, TraceEvent};

use super::index::{signed, TraceIndex, TradeId};
use super::wire::WireFrame;

/// A trade as its terminal's line shows it.
#[derive(Debug, Clone)]
pub struct WireTrade {
    pub kind: TradeKind,
    /// Field 4 of the request.
    pub amount_fen: Option<u64>,
    /// The seq of the first copy of the request to leave the terminal.
    pub request: u64,
    /// When the terminal stopped waiting without a usable answer: its next
    /// own frame, or its power going.
    pub stopped_waiting: Option<u64>,
    /// The usable answer: its seq and code.
    pub answer: Option<(u64, ResponseCode)>,
    /// Answers that took an advice (00 or 94), whenever they came.
    pub advice_taken: Option<u64>,
    /// Every 0400 naming the trade that left the terminal.
    pub reversals: Vec<u64>,
    /// The first intact 0410 that completed the reversal.
    pub reversal_acknowledged: Option<u64>,
}

impl WireTrade {
    /// Whether the terminal was owed a verdict it never got: a reversible
    /// trade with no usable answer.
    pub fn unanswered(&self) -> bool {
        self.kind.is_reversible() && self.answer.is_none()
    }

    /// Whether the terminal, by what it was told and what it sent, holds the
    /// trade as done.
    pub fn approved(&self) -> bool {
        if !self.reversals.is_empty() {
            return false;
        }
        if self.kind.is_advice() {
            return self.advice_taken.is_some();
        }
        self.answer.is_some_and(|(_, code)| code.is_approved())
    }

    /// The net debit the terminal holds for the trade (debits positive).
    pub fn expected_debit_fen(&self) -> i64 {
        if !self.approved() {
            return 0;
        }
        signed(Some(self.kind), self.amount_fen)
    }

    /// The seqs that show what the terminal was told, for evidence.
    pub fn evidence(&self) -> Vec<u64> {
        let mut seqs = vec![self.request];
        seqs.extend(self.stopped_waiting);
        seqs.extend(self.answer.map(|(seq, _)| seq));
        seqs.extend(self.advice_taken);
        seqs.extend(self.reversals.first());
        seqs.extend(self.reversal_acknowledged);
        seqs
    }
}

/// What one terminal is doing on its line while the frames are read.
#[derive(Debug, Default)]
struct Line<'a> {
    /// The trade whose answer it waits for.
    waiting: Option<TradeId>,
    /// Its latest trade per STAN (a STAN names one trade at a time).
    latest: BTreeMap<Stan, TradeId>,
    /// Answers put on its line late (a delay fault), with when they reach it.
    arriving: Vec<(Instant, &'a WireFrame<'a>)>,
}

/// Every trade that left a terminal, by the identity the issuer keys it by.
///
/// A frame is recorded when it is put on the line; one delayed (a delay
/// fault) reaches the terminal its delay later, and is read then, so an
/// answer held past the terminal's next frame is not taken as one it waited
/// for. The line's own latency (milliseconds) is not known to the log: an
/// answer in flight when the terminal moved on counts as received, which can
/// only excuse a terminal, never accuse one.
pub fn trades(index: &TraceIndex) -> BTreeMap<TradeId, WireTrade> {
    let mut trades: BTreeMap<TradeId, WireTrade> = BTreeMap::new();
    let mut lines: BTreeMap<TerminalId, Line> = BTreeMap::new();
    let mut frames = index.frames.iter().peekable();
    for record in index.records {
        let power_went = match &record.event {
            TraceEvent::Fault(fault)
                if matches!(fault.kind, FaultKind::PowerCut | FaultKind::TerminalReplaced) =>
            {
                TerminalId::new(&fault.target)
            }
            TraceEvent::Terminal(event) if event.kind == TerminalEventKind::PowerLost => {
                Some(event.terminal)
            }
            _ => None,
        };
        if let Some(terminal) = power_went {
            let line = lines.entry(terminal).or_default();
            arrive(&mut trades, line, record.at);
            stop_waiting(&mut trades, line, record.seq);
            continue;
        }
        let Some(frame) = frames.next_if(|frame| frame.seq == record.seq) else { continue };
        let Some(terminal) = frame.terminal else { continue };
        if frame.from_terminal() {
            let line = lines.entry(terminal).or_default();
            arrive(&mut trades, line, record.at);
            sent(&mut trades, line, terminal, frame);
        } else if frame.to_terminal() && frame.intact() && !frame.is_request() {
            let line = lines.entry(terminal).or_default();
            match frame.fate {
                Fate::Delayed { by_ms } if by_ms > 0 => {
                    let at = record.at + Duration::from_millis(by_ms);
                    line.arriving.push((at, frame));
                }
                _ => {
                    arrive(&mut trades, line, record.at);
                    received(&mut trades, line, frame);
                }
            }
        }
    }
    debug_assert!(frames.next().is_none(), "every frame record was read");
    let end = index.end().map_or(Instant::ZERO, |(_, at)| at);
    for line in lines.values_mut() {
        arrive(&mut trades, line, end);
    }
    trades
}

/// The delayed answers that have reached the terminal by `now`, in the order
/// they reach it.
fn arrive<'a>(trades: &mut BTreeMap<TradeId, WireTrade>, line: &mut Line<'a>, now: Instant) {
    if line.arriving.is_empty() {
        return;
    }
    line.arriving.sort_by_key(|(at, frame)| (*at, frame.seq));
    let due = line.arriving.partition_point(|(at, _)| *at <= now);
    let arrived: Vec<_> = line.arriving.drain(..due).collect();
    for (_, frame) in arrived {
        received(trades, line, frame);
    }
}

fn stop_waiting(trades: &mut BTreeMap<TradeId, WireTrade>, line: &mut Line, seq: u64) {
    if let Some(id) = line.waiting.take() {
        if let Some(trade) = trades.get_mut(&id) {
            if trade.answer.is_none() {
                trade.stopped_waiting.get_or_insert(seq);
            }
        }
    }
}

/// A frame that left a terminal (whatever became of it on the line).
fn sent(
    trades: &mut BTreeMap<TradeId, WireTrade>,
    line: &mut Line,
    terminal: TerminalId,
    frame: &WireFrame,
) {
    let (Some(stan), Some(mti)) = (frame.stan, frame.mti) else {
        stop_waiting(trades, line, frame.seq);
        return;
    };
    if mti == "0400" {
        stop_waiting(trades, line, frame.seq);
        if let Some(trade) = line.latest.get(&stan).and_then(|id| trades.get_mut(id)) {
            trade.reversals.push(frame.seq);
        }
        return;
    }
    let Some(kind) = frame.kind else {
        stop_waiting(trades, line, frame.seq);
        return;
    };
    let id = TradeId { terminal, batch: frame.batch, stan };
    if line.waiting == Some(id) {
        // A copy of the request it waits on: still waiting.
        return;
    }
    stop_waiting(trades, line, frame.seq);
    line.latest.insert(stan, id);
    line.waiting = Some(id);
    let trade = trades.entry(id).or_insert_with(|| WireTrade {
        kind,
        amount_fen: frame.amount_fen,
        request: frame.seq,
        stopped_waiting: None,
        answer: None,
        advice_taken: None,
        reversals: Vec::new(),
        reversal_acknowledged: None,
    });
    // An advice sent again waits for the new copy's answer.
    trade.stopped_waiting = None;
}

/// An answer that reached a terminal intact.
fn received(trades: &mut BTreeMap<TradeId, WireTrade>, line: &mut Line, frame: &WireFrame) {
    let (Some(stan), Some(code)) = (frame.stan, frame.code) else {
        return;
    };
    let Some(id) = line.latest.get(&stan).copied() else { return };
    let Some(trade) = trades.get_mut(&id) else { return };
    let Some(request_mti) = frame.request_mti() else { return };
    if request_mti == "0400" {
        if code.completes_reversal() {
            trade.reversal_acknowledged.get_or_insert(frame.seq);
        }
        return;
    }
    if request_mti != trade.kind.mti().to_string() {
        return;
    }
    if trade.kind.is_advice() && (code.is_approved() || code == ResponseCode::DUPLICATE) {
        trade.advice_taken.get_or_insert(frame.seq);
    }
    let waited = line.waiting == Some(id);
    let verdict = !(trade.kind.is_reversible() && code == ResponseCode::DUPLICATE);
    if waited && verdict && trade.answer.is_none() {
        trade.answer = Some((frame.seq, code));
        line.waiting = None;
    }
}
