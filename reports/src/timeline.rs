//! A timeline per terminal across the run: each trade a mark coloured by
//! how it ended, device troubles (power off, printer fault, tamper lock) as
//! bands, settlements and line faults as ticks, the healing phase shaded.
//!
//! Bounded for big runs: marks fall into [`BINS`] bins per row (a bin shows
//! its worst outcome, its hover text the counts), at most [`TIMELINES_MAX`]
//! rows are drawn — terminals with trouble first — and the others share one
//! aggregated row.
//!
//! ```
//! use possim_reports::timeline::{self, TerminalTimeline, Timelines, TradeMark};
//! let mut row = TerminalTimeline::new("QS000002");
//! row.trades.push((33_291_960, TradeMark::Reversed));
//! let timelines = Timelines { start_ms: 32_400_000, end_ms: 34_000_000, healing_ms: None, terminals: vec![row] };
//! let svg = timeline::svg(&timelines);
//! assert!(svg.contains("data-terminal=\"QS000002\""));
//! assert!(svg.contains("t-reversed"));
//! ```

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::escape::html;
use crate::format::{clock, clock_minutes, clock_seconds, span};

/// Terminals drawn on their own row; the rest share one row.
pub const TIMELINES_MAX: usize = 40;
/// Time bins per row.
pub const BINS: u64 = 170;
/// Bands drawn per row; the rest are counted in the row's hover text.
pub const SPANS_PER_ROW_MAX: usize = 40;

const LEFT_PX: u64 = 130;
const BAR_PX: u64 = 850;
const ROW_PX: u64 = 22;
const TOP_PX: u64 = 34;

/// How a trade ended, from worst to best.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TradeMark {
    /// No usable answer and not (yet) reversed, or its reversal abandoned.
    Unresolved,
    /// Rolled back by a reversal.
    Reversed,
    Declined,
    /// Refused by the terminal itself; nothing sent.
    Refused,
    /// Taken offline (uploaded later, or not).
    Offline,
    Approved,
}

impl TradeMark {
    pub const ALL: [TradeMark; 6] = [
        TradeMark::Unresolved,
        TradeMark::Reversed,
        TradeMark::Declined,
        TradeMark::Refused,
        TradeMark::Offline,
        TradeMark::Approved,
    ];

    pub fn name(self) -> &'static str {
        match self {
            TradeMark::Unresolved => "unresolved",
            TradeMark::Reversed => "reversed",
            TradeMark::Declined => "declined",
            TradeMark::Refused => "refused",
            TradeMark::Offline => "offline",
            TradeMark::Approved => "approved",
        }
    }

    fn class(self) -> String {
        format!("t-{}", self.name())
    }
}

/// Device trouble drawn as a band.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SpanKind {
    PowerOff,
    Printer,
    Tamper,
}

impl SpanKind {
    fn name(self) -> &'static str {
        match self {
            SpanKind::PowerOff => "power off",
            SpanKind::Printer => "printer fault",
            SpanKind::Tamper => "tamper lock",
        }
    }

    fn class(self) -> &'static str {
        match self {
            SpanKind::PowerOff => "s-power",
            SpanKind::Printer => "s-printer",
            SpanKind::Tamper => "s-tamper",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimelineSpan {
    pub from_ms: u64,
    pub to_ms: u64,
    pub kind: SpanKind,
    pub detail: String,
}

/// One terminal's run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalTimeline {
    pub terminal: String,
    /// Each trade at the time it started, with how it ended.
    pub trades: Vec<(u64, TradeMark)>,
    pub spans: Vec<TimelineSpan>,
    /// When a settlement completed (balanced or not).
    pub settlements: Vec<u64>,
    /// When a fault hit the terminal or its line.
    pub faults: Vec<u64>,
}

impl TerminalTimeline {
    pub fn new(terminal: &str) -> TerminalTimeline {
        TerminalTimeline {
            terminal: terminal.to_string(),
            trades: Vec::new(),
            spans: Vec::new(),
            settlements: Vec::new(),
            faults: Vec::new(),
        }
    }

    fn worst(&self) -> Option<TradeMark> {
        self.trades.iter().map(|(_, mark)| *mark).min()
    }
}

/// Every terminal's timeline over one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timelines {
    pub start_ms: u64,
    pub end_ms: u64,
    /// When the healing phase began.
    pub healing_ms: Option<u64>,
    pub terminals: Vec<TerminalTimeline>,
}

impl Timelines {
    fn x(&self, at_ms: u64) -> u64 {
        let width = self.end_ms.saturating_sub(self.start_ms).max(1);
        LEFT_PX
            + at_ms.clamp(self.start_ms, self.end_ms).saturating_sub(self.start_ms) * BAR_PX / width
    }

    fn bin(&self, at_ms: u64) -> u64 {
        let width = self.end_ms.saturating_sub(self.start_ms).max(1);
        (at_ms.clamp(self.start_ms, self.end_ms) - self.start_ms) * BINS / width
    }

    fn bin_start(&self, bin: u64) -> u64 {
        self.start_ms + (self.end_ms - self.start_ms) * bin / BINS
    }
}

/// The rows drawn, in order: terminals with the worst trades first (ties
/// keep the given order), at most [`TIMELINES_MAX`]; and the rest.
pub fn rows(timelines: &Timelines) -> (Vec<&TerminalTimeline>, Vec<&TerminalTimeline>) {
    let mut order: Vec<&TerminalTimeline> = timelines.terminals.iter().collect();
    order.sort_by_key(|row| row.worst().unwrap_or(TradeMark::Approved));
    let rest = order.split_off(order.len().min(TIMELINES_MAX));
    (order, rest)
}

/// A tick step that gives at most about ten labels.
fn tick_ms(width_ms: u64) -> u64 {
    const STEPS_MIN: [u64; 10] = [1, 2, 5, 10, 15, 30, 60, 120, 240, 480];
    STEPS_MIN.iter().map(|m| m * 60_000).find(|step| width_ms / step <= 10).unwrap_or(960 * 60_000)
}

fn counts_text(counts: &BTreeMap<TradeMark, u64>) -> String {
    counts.iter().map(|(mark, n)| format!("{n} {}", mark.name())).collect::<Vec<_>>().join(", ")
}

fn row_svg(
    out: &mut String,
    timelines: &Timelines,
    rows: &[&TerminalTimeline],
    label: &str,
    y: u64,
) {
    let mut bins: BTreeMap<u64, BTreeMap<TradeMark, u64>> = BTreeMap::new();
    let mut totals: BTreeMap<TradeMark, u64> = BTreeMap::new();
    let mut fault_bins: BTreeMap<u64, u64> = BTreeMap::new();
    let mut settle_bins: BTreeMap<u64, u64> = BTreeMap::new();
    for row in rows {
        for &(at, mark) in &row.trades {
            *bins.entry(timelines.bin(at)).or_default().entry(mark).or_default() += 1;
            *totals.entry(mark).or_default() += 1;
        }
        for &at in &row.faults {
            *fault_bins.entry(timelines.bin(at)).or_default() += 1;
        }
        for &at in &row.settlements {
            *settle_bins.entry(timelines.bin(at)).or_default() += 1;
        }
    }
    let spans: Vec<&TimelineSpan> = rows.iter().flat_map(|row| row.spans.iter()).collect();
    let trades: u64 = totals.values().sum();
    let mut title = format!("{label}: {trades} trades");
    if trades > 0 {
        let _ = write!(title, " ({})", counts_text(&totals));
    }
    if spans.len() > SPANS_PER_ROW_MAX {
        let _ = write!(title, "; {} more device bands not drawn", spans.len() - SPANS_PER_ROW_MAX);
    }
    let data = if rows.len() == 1 { rows[0].terminal.as_str() } else { "" };
    let _ = write!(
        out,
        "<g class=\"tl-row\" data-terminal=\"{}\"><title>{}</title>\
         <text class=\"tl-label\" x=\"{}\" y=\"{}\">{}</text>\
         <line class=\"tl-axis\" x1=\"{LEFT_PX}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/>",
        html(data),
        html(&title),
        LEFT_PX - 8,
        y + 4,
        html(label),
        y,
        LEFT_PX + BAR_PX,
        y
    );
    for band in spans.iter().take(SPANS_PER_ROW_MAX) {
        let (x1, x2) = (timelines.x(band.from_ms), timelines.x(band.to_ms));
        let _ = write!(
            out,
            "<rect class=\"band {}\" x=\"{x1}\" y=\"{}\" width=\"{}\" height=\"18\"><title>{}</title></rect>",
            band.kind.class(),
            y - 9,
            (x2 - x1).max(2),
            html(&format!(
                "{} {}–{} ({}){}{}",
                band.kind.name(),
                clock(band.from_ms),
                clock(band.to_ms),
                span(band.to_ms.saturating_sub(band.from_ms)),
                if band.detail.is_empty() { "" } else { ": " },
                band.detail
            ))
        );
    }
    let bin_px = BAR_PX / BINS;
    for (bin, counts) in &bins {
        let worst = counts.keys().next().copied().unwrap_or(TradeMark::Approved);
        let from = timelines.bin_start(*bin);
        let to = timelines.bin_start(*bin + 1);
        let _ = write!(
            out,
            "<rect class=\"tm {}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"12\"><title>{}</title></rect>",
            worst.class(),
            LEFT_PX + bin * bin_px,
            y - 6,
            bin_px.saturating_sub(1).max(1),
            html(&format!("{}–{} {}", clock_seconds(from), clock_seconds(to), counts_text(counts)))
        );
    }
    for (bin, count) in &settle_bins {
        let x = LEFT_PX + bin * bin_px + bin_px / 2;
        let _ = write!(
            out,
            "<path class=\"settle\" d=\"M{x} {}v18\"><title>{count} settlement(s) near {}</title></path>",
            y - 9,
            clock_seconds(timelines.bin_start(*bin))
        );
    }
    for (bin, count) in &fault_bins {
        let x = LEFT_PX + bin * bin_px + bin_px / 2;
        let _ = write!(
            out,
            "<polygon class=\"tl-fault\" points=\"{x},{} {},{} {},{}\"><title>{count} fault(s) near {}</title></polygon>",
            y + 6,
            x - 3,
            y + 11,
            x + 3,
            y + 11,
            clock_seconds(timelines.bin_start(*bin))
        );
    }
    out.push_str("</g>\n");
}

/// The stylesheet the timelines need.
pub const CSS: &str = "svg.timeline{display:block;max-width:100%;height:auto;font:11px system-ui,\
sans-serif;background:#fff;border:1px solid #ddd}.tl-label{text-anchor:end}\
.tl-axis{stroke:#ccc}.tick{stroke:#eee}.tick-label{fill:#667;text-anchor:middle}\
.healing{fill:#eef2fb}.healing-label{fill:#557;font-style:italic;text-anchor:end}\
.t-approved{fill:#43a047}.t-declined{fill:#fb8c00}.t-reversed{fill:#8e24aa}\
.t-unresolved{fill:#d50000}.t-offline{fill:#00897b}.t-refused{fill:#9e9e9e}\
.band{opacity:.35}.s-power{fill:#263238}.s-printer{fill:#fbc02d}.s-tamper{fill:#6a1b9a}\
.settle{stroke:#1a237e;stroke-width:2}.tl-fault{fill:#e53935}";

/// Every timeline as one `<svg>`, with a legend line under it.
pub fn svg(timelines: &Timelines) -> String {
    let (shown, rest) = rows(timelines);
    let count = shown.len() as u64 + u64::from(!rest.is_empty());
    let height = TOP_PX + count * ROW_PX + 40;
    let mut out = String::with_capacity(2048 + shown.len() * 4096);
    let _ = writeln!(
        out,
        "<svg class=\"timeline\" width=\"1000\" height=\"{height}\" viewBox=\"0 0 1000 {height}\" \
         role=\"img\" aria-label=\"terminal timelines\">"
    );
    if let Some(healing) = timelines.healing_ms {
        let x = timelines.x(healing);
        let _ = writeln!(
            out,
            "<rect class=\"healing\" x=\"{x}\" y=\"{}\" width=\"{}\" height=\"{}\"/>\
             <text class=\"healing-label\" x=\"{}\" y=\"12\">shaded: healing, faults \
             stopped, from {}</text>",
            TOP_PX - 14,
            LEFT_PX + BAR_PX - x,
            count * ROW_PX + 8,
            LEFT_PX + BAR_PX,
            clock(healing)
        );
    }
    let step = tick_ms(timelines.end_ms.saturating_sub(timelines.start_ms));
    let mut tick = timelines.start_ms.div_ceil(step) * step;
    while tick <= timelines.end_ms {
        let x = timelines.x(tick);
        let _ = writeln!(
            out,
            "<line class=\"tick\" x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\"/>\
             <text class=\"tick-label\" x=\"{x}\" y=\"{}\">{}</text>",
            TOP_PX - 12,
            TOP_PX + count * ROW_PX - 8,
            TOP_PX - 16,
            clock_minutes(tick)
        );
        tick += step;
    }
    let mut y = TOP_PX;
    for row in &shown {
        row_svg(&mut out, timelines, std::slice::from_ref(row), &row.terminal, y);
        y += ROW_PX;
    }
    if !rest.is_empty() {
        row_svg(&mut out, timelines, &rest, &format!("{} more terminals", rest.len()), y);
        y += ROW_PX;
    }
    let mut x = LEFT_PX;
    for mark in TradeMark::ALL {
        let _ = write!(
            out,
            "<rect class=\"{}\" x=\"{x}\" y=\"{}\" width=\"10\" height=\"10\"/><text x=\"{}\" y=\"{}\">{}</text>",
            mark.class(),
            y + 8,
            x + 14,
            y + 17,
            mark.name()
        );
        x += 90;
    }
    let _ = writeln!(
        out,
        "<rect class=\"band s-power\" x=\"{x}\" y=\"{}\" width=\"14\" height=\"10\"/><text x=\"{}\" y=\"{}\">power off</text>\
         <rect class=\"band s-printer\" x=\"{}\" y=\"{}\" width=\"14\" height=\"10\"/><text x=\"{}\" y=\"{}\">printer</text>\
         <path class=\"settle\" d=\"M{} {}v12\"/><text x=\"{}\" y=\"{}\">settled</text>\
         <polygon class=\"tl-fault\" points=\"{},{} {},{} {},{}\"/><text x=\"{}\" y=\"{}\">fault</text>\n</svg>",
        y + 8, x + 18, y + 17,
        x + 90, y + 8, x + 108, y + 17,
        x + 170, y + 7, x + 176, y + 17,
        x + 240, y + 8, x + 236, y + 16, x + 244, y + 16, x + 250, y + 17,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timelines(terminals: Vec<TerminalTimeline>) -> Timelines {
        Timelines { start_ms: 0, end_ms: 3_600_000, healing_ms: Some(1_800_000), terminals }
    }

    #[test]
    fn a_bin_shows_its_worst_trade_and_counts_all() {
        let mut row = TerminalTimeline::new("T1");
        row.trades.push((1_000, TradeMark::Approved));
        row.trades.push((2_000, TradeMark::Reversed));
        row.trades.push((3_000, TradeMark::Approved));
        let svg = svg(&timelines(vec![row]));
        assert_eq!(svg.matches("class=\"tm ").count(), 1, "one bin: {svg}");
        assert!(svg.contains("class=\"tm t-reversed\""), "{svg}");
        assert!(svg.contains("1 reversed, 2 approved"), "{svg}");
    }

    #[test]
    fn rows_are_capped_and_the_rest_aggregated() {
        let terminals: Vec<TerminalTimeline> = (0..TIMELINES_MAX + 5)
            .map(|i| {
                let mut row = TerminalTimeline::new(&format!("T{i:03}"));
                row.trades.push((i as u64 * 1000, TradeMark::Approved));
                row
            })
            .collect();
        let mut terminals = terminals;
        terminals[TIMELINES_MAX + 2].trades.push((5, TradeMark::Unresolved));
        let all = timelines(terminals);
        let (shown, rest) = rows(&all);
        assert_eq!(shown.len(), TIMELINES_MAX);
        assert_eq!(rest.len(), 5);
        assert_eq!(shown[0].terminal, format!("T{:03}", TIMELINES_MAX + 2), "trouble first");
        let svg = svg(&all);
        assert_eq!(svg.matches("<g class=\"tl-row\"").count(), TIMELINES_MAX + 1);
        assert!(svg.contains("5 more terminals: 5 trades"), "{svg}");
    }

    #[test]
    fn a_busy_terminal_draws_at_most_one_mark_per_bin() {
        let mut row = TerminalTimeline::new("BUSY");
        for i in 0..100_000u64 {
            row.trades.push((i * 36, TradeMark::Approved));
        }
        let svg = svg(&timelines(vec![row]));
        assert!(svg.matches("class=\"tm ").count() as u64 <= BINS);
        assert!(svg.len() < 100_000, "{} bytes", svg.len());
    }

    #[test]
    fn bands_and_ticks_land_inside_the_bar() {
        let mut row = TerminalTimeline::new("T1");
        row.spans.push(TimelineSpan {
            from_ms: 900_000,
            to_ms: 1_020_000,
            kind: SpanKind::Printer,
            detail: "out of paper".into(),
        });
        let all = timelines(vec![row]);
        let svg = svg(&all);
        assert!(svg.contains(&format!("x=\"{}\"", LEFT_PX + BAR_PX / 4)), "{svg}");
        assert!(
            svg.contains("printer fault 0:15:00.000–0:17:00.000 (2 min 0 s): out of paper"),
            "{svg}"
        );
        assert!(svg.contains(">0:30<"), "ticks every 5 minutes or more: {svg}");
        assert_eq!(tick_ms(3_600_000), 10 * 60_000);
    }
}
