//! Which trades a report charts — those a violation names, those asked for
//! with `--trade`, and, when none failed, those that were reversed — and
//! each one's frames and events, read from the trace.

use std::collections::{BTreeMap, BTreeSet};

use possim_models::actor::{Node, TradeKey};
use possim_models::iso8583::values::{BatchNo, TerminalId};
use possim_models::issuer::IssuerEventKind;
use possim_models::network::NetworkEventKind;
use possim_models::switch::SwitchEventKind;
use possim_models::terminal::events::TerminalEventKind;
use possim_reports::chart::{
    ChartFrame, ChartMark, FrameFate, Lane, MarkKind, TradeChart, FRAMES_PER_CHART_MAX,
    MARKS_PER_CHART_MAX,
};
use possim_reports::format::fen;
use possim_reports::run::CHARTS_MAX;

use super::describe;
use super::outcomes::classify;
use super::TradeAsk;
use crate::execute::RunReport;
use crate::oracle::index::{TradeId, TradeView};
use crate::oracle::TraceIndex;
use crate::trace::{Fate, FaultCause, Trace, TraceEvent, TraceRecord};

/// Events of the terminal or its hosts remembered while a chart's trade is
/// open, before they are cut to the trade's time span.
const CONTEXT_MAX: usize = 4 * MARKS_PER_CHART_MAX;

/// One trade to chart.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub terminal: TerminalId,
    pub stan: u32,
    pub batch: Option<BatchNo>,
    /// Where in the trace the trade starts.
    pub start: usize,
    pub reasons: Vec<String>,
    pub summary: String,
}

#[derive(Debug, Default)]
pub(crate) struct Selection {
    pub targets: Vec<Target>,
    pub omitted: usize,
    pub notes: Vec<String>,
}

fn summary_of(view: &TradeView) -> String {
    let mut text = view.kind.map_or("trade", |k| k.label()).to_string();
    if let Some(amount) = view.amount_fen.filter(|a| *a > 0) {
        text.push_str(&format!(" ¥{}", fen(amount as i64)));
    }
    if let Some(pan) = &view.pan {
        text.push_str(&format!(", card {}", pan.masked()));
    }
    text
}

/// The terminal event's STAN, for the events that belong to one trade.
fn stan_of(kind: &TerminalEventKind) -> Option<u32> {
    use TerminalEventKind as E;
    let stan = match kind {
        E::TradeStarted { stan, .. }
        | E::RequestSent { stan, .. }
        | E::TradeAnswered { stan, .. }
        | E::TradeTimedOut { stan }
        | E::TradeFailed { stan, .. }
        | E::ReversalStored { stan }
        | E::ReversalArmed { stan, .. }
        | E::ReversalSent { stan, .. }
        | E::ReversalAcknowledged { stan, .. }
        | E::ReversalUnanswered { stan, .. }
        | E::ReversalCleared { stan }
        | E::ReversalAbandoned { stan, .. }
        | E::OfflineQueued { stan, .. }
        | E::OfflineUploaded { stan, .. }
        | E::OfflineUploadFailed { stan, .. }
        | E::OfflineUploadDeferred { stan, .. }
        | E::AdviceStored { stan }
        | E::AdviceDeferred { stan, .. } => stan,
        E::SlipPrinted { stan: Some(stan), .. } | E::SlipFailed { stan: Some(stan), .. } => stan,
        _ => return None,
    };
    Some(stan.value())
}

/// Device events: drawn on the terminal's lifeline while its trade is open.
fn is_device(kind: &TerminalEventKind) -> bool {
    use TerminalEventKind as E;
    matches!(
        kind,
        E::PowerLost
            | E::PowerOn
            | E::Recovered { .. }
            | E::PrinterState { .. }
            | E::TamperLocked
            | E::Unlocked
            | E::StorageFull
            | E::FrameDropped { .. }
    )
}

/// Switch events about one trade the frames do not already show.
fn switch_key(kind: &SwitchEventKind) -> Option<&TradeKey> {
    use SwitchEventKind as K;
    match kind {
        K::Duplicate { key }
        | K::DuplicateInFlight { key }
        | K::UpstreamTimeout { key }
        | K::ReversalQueued { key, .. }
        | K::ReversalAcknowledged { key, .. }
        | K::LateAnswerDropped { key, .. } => Some(key),
        _ => None,
    }
}

fn network_key(kind: &NetworkEventKind) -> Option<&TradeKey> {
    use NetworkEventKind as K;
    match kind {
        K::AnsweredOnBehalf { key, .. }
        | K::IssuerTimeout { key, .. }
        | K::ReversalQueued { key, .. }
        | K::ReversalAcknowledged { key, .. }
        | K::ReversalRefused { key, .. }
        | K::ReversalAbandoned { key, .. }
        | K::LateAnswerDropped { key, .. }
        | K::UnmatchedAnswerDropped { key, .. } => Some(key),
        K::MacRejected { key: Some(key), .. } => Some(key),
        _ => None,
    }
}

fn issuer_key(kind: &IssuerEventKind) -> Option<&TradeKey> {
    use IssuerEventKind as K;
    match kind {
        K::Approved { key, .. }
        | K::Declined { key, .. }
        | K::Duplicate { key }
        | K::Reversed { key, .. }
        | K::ReversalIgnored { key, .. }
        | K::ReversalBeforeOriginal { key }
        | K::ReturnedAtClearing { key, .. }
        | K::Cleared { key } => Some(key),
        K::Moved { key: Some(key), .. } | K::MacRejected { key: Some(key) } => Some(key),
        _ => None,
    }
}

fn lane_of(node: Node) -> Lane {
    match node {
        Node::Terminal(_) => Lane::Terminal,
        Node::Switch => Lane::Switch,
        Node::Network => Lane::Network,
        Node::Issuer(_) => Lane::Issuer,
    }
}

fn fate_of(fate: Fate) -> FrameFate {
    match fate {
        Fate::Delivered => FrameFate::Delivered,
        Fate::Dropped => FrameFate::Dropped,
        Fate::Delayed { by_ms } => FrameFate::Delayed { by_ms },
        Fate::Duplicated => FrameFate::Duplicated,
        Fate::Corrupted => FrameFate::Corrupted,
        Fate::Lost => FrameFate::Lost,
    }
}

/// The lane a fault on `target` belongs to; `None` for another terminal's.
fn fault_lane(target: &str, terminal: &str, terminals: &BTreeSet<String>) -> Option<Lane> {
    if target == terminal {
        return Some(Lane::Terminal);
    }
    if terminals.contains(target) {
        return None;
    }
    Some(if target.starts_with("issuer") {
        Lane::Issuer
    } else if target.starts_with("network") {
        Lane::Network
    } else if target.starts_with("switch") {
        Lane::Switch
    } else {
        // A farm, or a link from one: the terminals' side.
        Lane::Terminal
    })
}

/// The first record that mentions `terminal`'s `stan`: a frame or one of its
/// trade events (for messages that start no trade, like a sign-in).
fn first_mention(trace: &Trace, terminal: &TerminalId, stan: u32) -> Option<usize> {
    trace.records().iter().position(|record| match &record.event {
        TraceEvent::Frame(frame) => frame.stan == Some(stan) && frame.terminal == Some(*terminal),
        TraceEvent::Terminal(event) => {
            event.terminal == *terminal && stan_of(&event.kind) == Some(stan)
        }
        _ => false,
    })
}

struct Picks {
    order: Vec<(TerminalId, Option<BatchNo>, u32)>,
    targets: BTreeMap<(TerminalId, Option<BatchNo>, u32), Target>,
}

impl Picks {
    fn add(
        &mut self,
        id: (TerminalId, Option<BatchNo>, u32),
        start: usize,
        summary: String,
        reason: String,
    ) {
        let target = self.targets.entry(id).or_insert_with(|| {
            self.order.push(id);
            Target { terminal: id.0, stan: id.2, batch: id.1, start, reasons: Vec::new(), summary }
        });
        if !target.reasons.contains(&reason) {
            target.reasons.push(reason);
        }
    }

    fn add_view(&mut self, id: &TradeId, view: &TradeView, reason: String) -> bool {
        let Some(start) = view.started else { return false };
        self.add(
            (id.terminal, id.batch, id.stan.value()),
            start as usize,
            summary_of(view),
            reason,
        );
        true
    }
}

/// The trades to chart, in order: those violations name, those asked for,
/// then (when none failed) those that were reversed; at most
/// [`CHARTS_MAX`], the rest counted.
pub(crate) fn select(report: &RunReport, index: &TraceIndex, asks: &[TradeAsk]) -> Selection {
    let trace = &report.trace;
    let mut picks = Picks { order: Vec::new(), targets: BTreeMap::new() };
    let mut notes = Vec::new();
    for verdict in &report.verdicts {
        for violation in &verdict.violations {
            let Some(trade) = &violation.trade else { continue };
            let Some(stan) = trade.stan else { continue };
            let first_line = violation.message.lines().next().unwrap_or("");
            let reason = format!("violates {}: {first_line}", verdict.invariant);
            let found = match trade.batch {
                Some(batch) => {
                    let id = TradeId { terminal: trade.terminal, batch: Some(batch), stan };
                    index.trades.get(&id).map(|view| (id, view))
                }
                None => index.trade_of(trade.terminal, stan),
            };
            let added = found.is_some_and(|(id, view)| picks.add_view(&id, view, reason.clone()));
            if !added {
                if let Some(start) = first_mention(trace, &trade.terminal, stan.value()) {
                    picks.add(
                        (trade.terminal, trade.batch, stan.value()),
                        start,
                        String::new(),
                        reason,
                    );
                }
            }
        }
    }
    let failing = picks.order.len();
    for ask in asks {
        let reason = format!("asked for with --trade {}:{}", ask.terminal, ask.stan);
        let mut found = false;
        for (id, view) in &index.trades {
            if id.terminal == ask.terminal && id.stan.value() == ask.stan {
                found |= picks.add_view(id, view, reason.clone());
            }
        }
        if !found {
            match first_mention(trace, &ask.terminal, ask.stan) {
                Some(start) => {
                    picks.add((ask.terminal, None, ask.stan), start, String::new(), reason)
                }
                None => notes.push(format!(
                    "--trade {}:{}: this run has no frame or trade event with STAN {:06} at \
                     terminal {}.",
                    ask.terminal, ask.stan, ask.stan, ask.terminal
                )),
            }
        }
    }
    if failing == 0 {
        let mut reversed: Vec<(&TradeId, &TradeView)> = index
            .trades
            .iter()
            .filter(|(_, view)| {
                !view.reversal_sent.is_empty() || view.reversal_acknowledged.is_some()
            })
            .collect();
        reversed.sort_by_key(|(_, view)| view.started);
        if !reversed.is_empty() {
            notes.push(
                "No trade broke an invariant; the trades that were reversed are charted.".into(),
            );
        }
        for (id, view) in reversed {
            picks.add_view(id, view, format!("reversed ({})", classify(view).0));
        }
    }
    let mut targets: Vec<Target> =
        picks.order.iter().map(|id| picks.targets.remove(id).expect("picked")).collect();
    let omitted = targets.len().saturating_sub(CHARTS_MAX);
    targets.truncate(CHARTS_MAX);
    Selection { targets, omitted, notes }
}

/// One trade's chart: its frames on every hop, its events at the terminal,
/// the switch, the network and the issuer, and the faults and device events
/// that happened while it was open.
pub(crate) fn chart(trace: &Trace, target: &Target, terminals: &BTreeSet<String>) -> TradeChart {
    let terminal = target.terminal.trimmed().to_string();
    let mut chart = TradeChart::new(&terminal, target.stan);
    chart.summary = target.summary.clone();
    chart.reasons = target.reasons.clone();
    let mut context: Vec<ChartMark> = Vec::new();
    let mut first_at = None;
    let mut last_at = 0u64;
    let mut issuer = None;
    let key_matches = |key: &TradeKey| {
        key.terminal == target.terminal
            && key.stan.value() == target.stan
            && target.batch.is_none_or(|batch| key.batch == batch)
    };
    for (position, record) in trace.records().iter().enumerate().skip(target.start) {
        let at = record.at.as_millis();
        let mut own: Option<ChartMark> = None;
        // End-of-day clearing is drawn but does not stretch the span whose
        // faults and device events are drawn: it is hours of other trades.
        let mut stretches = true;
        match &record.event {
            TraceEvent::Terminal(event) if event.terminal == target.terminal => {
                match stan_of(&event.kind) {
                    Some(stan) if stan == target.stan => {
                        if position != target.start
                            && matches!(event.kind, TerminalEventKind::TradeStarted { .. })
                        {
                            break; // the STAN's next trade: this one's story is over
                        }
                        if !matches!(event.kind, TerminalEventKind::RequestSent { .. }) {
                            own = Some(mark(
                                record,
                                Lane::Terminal,
                                MarkKind::Trade,
                                describe::event(&event.kind, Some("event")),
                            ));
                        }
                    }
                    _ if is_device(&event.kind) => context.push(mark(
                        record,
                        Lane::Terminal,
                        MarkKind::Device,
                        describe::event(&event.kind, Some("event")),
                    )),
                    _ => {}
                }
            }
            TraceEvent::Frame(frame)
                if frame.stan == Some(target.stan) && frame.terminal == Some(target.terminal) =>
            {
                for node in [frame.from, frame.to] {
                    if let Node::Issuer(index) = node {
                        issuer = Some(index);
                    }
                }
                first_at.get_or_insert(at);
                last_at = at;
                if chart.frames.len() == FRAMES_PER_CHART_MAX {
                    chart.omitted += 1;
                    continue;
                }
                chart.frames.push(ChartFrame {
                    seq: record.seq,
                    at_ms: at,
                    from: lane_of(frame.from),
                    to: lane_of(frame.to),
                    mti: frame.mti.clone(),
                    stan: frame.stan,
                    amount_fen: frame.amount_fen,
                    code: frame.code.map(|code| code.as_str().to_string()),
                    bytes: frame.bytes,
                    fate: fate_of(frame.fate),
                    fields: frame.fields.clone(),
                });
            }
            TraceEvent::Fault(fault) => {
                if let Some(lane) = fault_lane(&fault.target, &terminal, terminals) {
                    let (name, _) = describe::event(&fault.kind, None);
                    let label = format!("{name} ({})", fault.target);
                    let cause = match &fault.cause {
                        FaultCause::Scheduled => "scheduled in the scenario".to_string(),
                        FaultCause::Profile(profile) => format!("drawn by line profile {profile}"),
                        FaultCause::Protocol(placement) => format!("placed: {placement}"),
                        FaultCause::Swarm => "drawn by swarm mode".to_string(),
                    };
                    context.push(mark(record, lane, MarkKind::Fault, (label, cause)));
                }
            }
            TraceEvent::Switch(event) if switch_key(&event.kind).is_some_and(key_matches) => {
                own = Some(mark(
                    record,
                    Lane::Switch,
                    MarkKind::Trade,
                    describe::event(&event.kind, None),
                ));
            }
            TraceEvent::Network(event) if network_key(&event.kind).is_some_and(key_matches) => {
                own = Some(mark(
                    record,
                    Lane::Network,
                    MarkKind::Trade,
                    describe::event(&event.kind, None),
                ));
            }
            TraceEvent::Issuer { issuer: index, event }
                if issuer_key(&event.kind).is_some_and(key_matches) =>
            {
                issuer = Some(*index);
                stretches = !matches!(
                    event.kind,
                    IssuerEventKind::Cleared { .. } | IssuerEventKind::ReturnedAtClearing { .. }
                );
                own = Some(mark(
                    record,
                    Lane::Issuer,
                    MarkKind::Trade,
                    describe::event(&event.kind, None),
                ));
            }
            _ => {}
        }
        if let Some(own) = own {
            first_at.get_or_insert(at);
            if stretches {
                last_at = at;
            }
            if chart.marks.len() == MARKS_PER_CHART_MAX {
                chart.omitted += 1;
            } else {
                chart.marks.push(own);
            }
        }
        context.truncate(CONTEXT_MAX);
    }
    // Faults and device events only while the trade was open.
    let first_at = first_at.unwrap_or(0);
    for mark in context.into_iter().filter(|m| m.at_ms >= first_at && m.at_ms <= last_at) {
        if chart.marks.len() == MARKS_PER_CHART_MAX {
            chart.omitted += 1;
        } else {
            chart.marks.push(mark);
        }
    }
    chart.marks.sort_by_key(|m| m.seq);
    chart.issuer = issuer.map_or_else(|| "issuer".to_string(), |index| format!("issuer {index}"));
    chart
}

fn mark(
    record: &TraceRecord,
    lane: Lane,
    kind: MarkKind,
    (label, detail): (String, String),
) -> ChartMark {
    ChartMark { seq: record.seq, at_ms: record.at.as_millis(), lane, kind, label, detail }
}
