//! Each terminal's run for its timeline: its trades with how they ended,
//! its power cuts, printer faults and tamper locks as spans, its
//! settlements, and the faults that hit it or its line.

use std::collections::BTreeMap;

use possim_models::terminal::events::TerminalEventKind;
use possim_models::terminal::printer::PrinterState;
use possim_reports::timeline::{SpanKind, TerminalTimeline, TimelineSpan, Timelines};

use super::outcomes::classify;
use crate::oracle::TraceIndex;
use crate::trace::{Phase, Trace, TraceEvent};

/// Spans remembered per terminal; a run with more (a flapping printer) is
/// drawn with the first ones, the timeline says how many more there were.
const SPANS_MAX: usize = 256;

fn open(open: &mut Option<(u64, String)>, at: u64, detail: String) {
    if open.is_none() {
        *open = Some((at, detail));
    }
}

fn close(spans: &mut Vec<TimelineSpan>, open: &mut Option<(u64, String)>, kind: SpanKind, at: u64) {
    if let Some((from_ms, detail)) = open.take() {
        if spans.len() < SPANS_MAX {
            spans.push(TimelineSpan { from_ms, to_ms: at, kind, detail });
        }
    }
}

pub(crate) fn timelines(trace: &Trace, index: &TraceIndex) -> Timelines {
    let records = trace.records();
    let mut start_ms = records.first().map_or(0, |r| r.at.as_millis());
    let mut end_ms = records.last().map_or(0, |r| r.at.as_millis());
    let mut healing_ms = None;
    let mut rows: BTreeMap<String, TerminalTimeline> = BTreeMap::new();
    for record in records {
        match &record.event {
            TraceEvent::Setup(setup) => {
                for terminal in &setup.terminals {
                    let id = terminal.id.trimmed().to_string();
                    rows.insert(id.clone(), TerminalTimeline::new(&id));
                }
            }
            TraceEvent::Phase { phase: Phase::Safety } => start_ms = record.at.as_millis(),
            TraceEvent::Phase { phase: Phase::Healing } => healing_ms = Some(record.at.as_millis()),
            TraceEvent::Phase { phase: Phase::End } => end_ms = record.at.as_millis(),
            TraceEvent::Fault(fault) => {
                if let Some(row) = rows.get_mut(&fault.target) {
                    row.faults.push(record.at.as_millis());
                }
            }
            _ => {}
        }
    }
    for (id, view) in &index.trades {
        let Some(row) = rows.get_mut(id.terminal.trimmed()) else { continue };
        let Some(started) = view.started.and_then(|seq| index.record(seq)) else { continue };
        row.trades.push((started.at.as_millis(), classify(view).1));
    }
    for (terminal, events) in &index.terminal_events {
        let Some(row) = rows.get_mut(terminal.trimmed()) else { continue };
        let (mut power, mut printer, mut tamper) = (None, None, None);
        for event in events {
            let at = event.at.as_millis();
            match event.kind {
                TerminalEventKind::PowerLost => open(&mut power, at, String::new()),
                TerminalEventKind::PowerOn => {
                    close(&mut row.spans, &mut power, SpanKind::PowerOff, at)
                }
                TerminalEventKind::PrinterState { state: PrinterState::Ok } => {
                    close(&mut row.spans, &mut printer, SpanKind::Printer, at)
                }
                TerminalEventKind::PrinterState { state } => {
                    let detail = format!("{state:?}");
                    open(&mut printer, at, detail)
                }
                TerminalEventKind::TamperLocked => open(&mut tamper, at, String::new()),
                TerminalEventKind::Unlocked => {
                    close(&mut row.spans, &mut tamper, SpanKind::Tamper, at)
                }
                TerminalEventKind::SettlementBalanced { .. }
                | TerminalEventKind::SettlementNotBalanced { .. } => row.settlements.push(at),
                _ => {}
            }
        }
        // Still open at the end: drawn to the end.
        close(&mut row.spans, &mut power, SpanKind::PowerOff, end_ms);
        close(&mut row.spans, &mut printer, SpanKind::Printer, end_ms);
        close(&mut row.spans, &mut tamper, SpanKind::Tamper, end_ms);
    }
    Timelines {
        start_ms,
        end_ms: end_ms.max(start_ms + 1),
        healing_ms,
        terminals: rows.into_values().collect(),
    }
}
