//! The message sequence chart of one trade, as inline SVG: a lifeline each
//! for the terminal, the switch, the network and the issuer; simulated time
//! flowing down, with idle stretches compressed into a break mark that says
//! how long they were; every frame an arrow labelled with its MTI, STAN,
//! amount and response code, styled by its fate; faults and device events
//! drawn where they happened. Hover text is a `<title>` inside each element,
//! so the chart needs no script.
//!
//! Geometry is integer pixels: a chart is a picture, and integers keep the
//! output byte-identical across machines.
//!
//! ```
//! use possim_reports::chart::{self, ChartFrame, FrameFate, Lane, TradeChart};
//! let mut chart = TradeChart::new("QS000002", 3);
//! chart.frames.push(ChartFrame {
//!     seq: 1,
//!     at_ms: 1_000,
//!     from: Lane::Switch,
//!     to: Lane::Terminal,
//!     mti: Some("0210".into()),
//!     stan: Some(3),
//!     amount_fen: Some(162_528),
//!     code: Some("00".into()),
//!     bytes: 114,
//!     fate: FrameFate::Dropped,
//!     fields: String::new(),
//! });
//! let svg = chart::svg(&chart);
//! assert!(svg.contains("class=\"frame f-dropped\""));
//! assert!(svg.contains("0210 000003"));
//! ```

use std::fmt::Write;

use crate::escape::html;
use crate::format::{clock, fen, span};

/// Frames one chart draws; the rest are counted in its caption.
pub const FRAMES_PER_CHART_MAX: usize = 160;
/// Fault, device and trade marks one chart draws.
pub const MARKS_PER_CHART_MAX: usize = 80;

/// A gap longer than this between two consecutive items is compressed
/// into a break mark.
pub const IDLE_MS: u64 = 2_000;
/// Vertical pixels per simulated second, below [`IDLE_MS`].
pub const PX_PER_S: u64 = 60;
/// The least vertical distance between two items, so labels never overlap.
pub const ROW_PX: u32 = 26;
/// The height a compressed idle stretch takes, whatever its length.
pub const BREAK_PX: u32 = 44;

const WIDTH: u32 = 1000;
const TOP_PX: u32 = 78;
const LANE_X: [u32; 4] = [200, 430, 660, 890];
/// How far a frame's arrow falls while it crosses: time flows down.
const SLANT_PX: u32 = 6;

/// The four lifelines, left to right.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Lane {
    Terminal,
    Switch,
    Network,
    Issuer,
}

impl Lane {
    fn x(self) -> u32 {
        LANE_X[self as usize]
    }

    pub fn name(self) -> &'static str {
        match self {
            Lane::Terminal => "terminal",
            Lane::Switch => "switch",
            Lane::Network => "network",
            Lane::Issuer => "issuer",
        }
    }
}

/// What happened to one frame on one hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameFate {
    Delivered,
    /// Dropped on the way (a placed fault, a silent line, a partition).
    Dropped,
    /// Held back; `by_ms` is how long, when known (0 when not).
    Delayed {
        by_ms: u64,
    },
    /// Arrived twice.
    Duplicated,
    /// Arrived with a flipped bit.
    Corrupted,
    /// The receiver was down or the connection gone.
    Lost,
}

impl FrameFate {
    pub const ALL: [FrameFate; 6] = [
        FrameFate::Delivered,
        FrameFate::Dropped,
        FrameFate::Delayed { by_ms: 0 },
        FrameFate::Duplicated,
        FrameFate::Corrupted,
        FrameFate::Lost,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FrameFate::Delivered => "delivered",
            FrameFate::Dropped => "dropped",
            FrameFate::Delayed { .. } => "delayed",
            FrameFate::Duplicated => "duplicated",
            FrameFate::Corrupted => "corrupted",
            FrameFate::Lost => "lost",
        }
    }

    /// The CSS class the arrow gets.
    pub fn class(self) -> &'static str {
        match self {
            FrameFate::Delivered => "f-delivered",
            FrameFate::Dropped => "f-dropped",
            FrameFate::Delayed { .. } => "f-delayed",
            FrameFate::Duplicated => "f-duplicated",
            FrameFate::Corrupted => "f-corrupted",
            FrameFate::Lost => "f-lost",
        }
    }

    fn meaning(self) -> &'static str {
        match self {
            FrameFate::Delivered => "arrived",
            FrameFate::Dropped => "dropped on the way",
            FrameFate::Delayed { .. } => "held back, arrived late",
            FrameFate::Duplicated => "arrived twice",
            FrameFate::Corrupted => "arrived with a flipped bit",
            FrameFate::Lost => "receiver down or no connection",
        }
    }
}

/// One frame on one hop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartFrame {
    /// The trace record's sequence number: orders items logged at one instant.
    pub seq: u64,
    pub at_ms: u64,
    pub from: Lane,
    pub to: Lane,
    pub mti: Option<String>,
    pub stan: Option<u32>,
    pub amount_fen: Option<u64>,
    /// Field 39, on answers.
    pub code: Option<String>,
    pub bytes: usize,
    pub fate: FrameFate,
    /// The frame's fields as `N=value` separated by spaces (the trace's
    /// listing), shown on hover.
    pub fields: String,
}

/// What a mark on a lifeline stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkKind {
    /// An injected fault.
    Fault,
    /// A device event: power, printer, tamper, battery.
    Device,
    /// A step of the trade at the terminal: timed out, reversal stored, ...
    Trade,
}

impl MarkKind {
    fn class(self) -> &'static str {
        match self {
            MarkKind::Fault => "m-fault",
            MarkKind::Device => "m-device",
            MarkKind::Trade => "m-trade",
        }
    }
}

/// An event drawn on a lifeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartMark {
    pub seq: u64,
    pub at_ms: u64,
    pub lane: Lane,
    pub kind: MarkKind,
    /// Short, drawn beside the mark.
    pub label: String,
    /// Longer, on hover.
    pub detail: String,
}

/// One trade's frames and events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeChart {
    pub terminal: String,
    pub stan: u32,
    /// What the trade was: `sale 1,625.28, card 622202******0013`.
    pub summary: String,
    /// Why it is charted: the violation, "asked for", "reversed".
    pub reasons: Vec<String>,
    /// The issuer lifeline's heading: `issuer 0`.
    pub issuer: String,
    pub frames: Vec<ChartFrame>,
    pub marks: Vec<ChartMark>,
    /// Frames and marks of the trade not kept (over the caps).
    pub omitted: usize,
}

impl TradeChart {
    pub fn new(terminal: &str, stan: u32) -> TradeChart {
        TradeChart {
            terminal: terminal.to_string(),
            stan,
            summary: String::new(),
            reasons: Vec::new(),
            issuer: "issuer".into(),
            frames: Vec::new(),
            marks: Vec::new(),
            omitted: 0,
        }
    }

    /// The anchor of the chart in a page.
    pub fn anchor(&self) -> String {
        let terminal: String =
            self.terminal.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
        format!("chart-{terminal}-{}", self.stan)
    }
}

/// One row of the chart: an item at its height.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    pub y: u32,
    pub at_ms: u64,
    pub item: Item,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item {
    /// A frame leaves (index into `frames`).
    Frame(usize),
    /// A delayed frame arrives.
    Arrival(usize),
    Mark(usize),
}

/// A compressed idle stretch: drawn at `y`, `skipped_ms` long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Break {
    pub y: u32,
    pub skipped_ms: u64,
}

/// Where everything goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub rows: Vec<Row>,
    pub breaks: Vec<Break>,
    pub height: u32,
}

impl Layout {
    fn arrival_of(&self, frame: usize) -> Option<u32> {
        self.rows.iter().find(|row| row.item == Item::Arrival(frame)).map(|row| row.y)
    }
}

/// Places every item (up to the caps) in time order, one row each: the
/// distance between rows grows with the time between them up to
/// [`IDLE_MS`]; a longer gap becomes a break of [`BREAK_PX`].
pub fn layout(chart: &TradeChart) -> Layout {
    let frames = chart.frames.len().min(FRAMES_PER_CHART_MAX);
    let marks = chart.marks.len().min(MARKS_PER_CHART_MAX);
    // (time, seq, arrivals after departures at one instant, item)
    let mut items: Vec<(u64, u64, u8, Item)> = Vec::with_capacity(frames * 2 + marks);
    for (index, frame) in chart.frames.iter().take(frames).enumerate() {
        items.push((frame.at_ms, frame.seq, 0, Item::Frame(index)));
        if let FrameFate::Delayed { by_ms } = frame.fate {
            if by_ms > 0 {
                items.push((frame.at_ms + by_ms, frame.seq, 1, Item::Arrival(index)));
            }
        }
    }
    for (index, mark) in chart.marks.iter().take(marks).enumerate() {
        items.push((mark.at_ms, mark.seq, 0, Item::Mark(index)));
    }
    items.sort_by_key(|&(at, seq, order, _)| (at, order, seq));
    let mut rows = Vec::with_capacity(items.len());
    let mut breaks = Vec::new();
    let mut y = TOP_PX;
    let mut previous: Option<u64> = None;
    for (at_ms, _, _, item) in items {
        if let Some(before) = previous {
            let gap_ms = at_ms - before;
            if gap_ms > IDLE_MS {
                breaks.push(Break { y: y + BREAK_PX / 2, skipped_ms: gap_ms });
                y += BREAK_PX + ROW_PX / 2;
            } else {
                let linear = u32::try_from(gap_ms * PX_PER_S / 1000).unwrap_or(u32::MAX);
                y += linear.max(ROW_PX);
            }
        }
        rows.push(Row { y, at_ms, item });
        previous = Some(at_ms);
    }
    Layout { rows, breaks, height: y + ROW_PX + 16 }
}

fn isqrt(value: u64) -> u64 {
    if value < 2 {
        return value;
    }
    let mut x = value;
    let mut y = x.div_ceil(2);
    while y < x {
        x = y;
        y = (x + value / x) / 2;
    }
    x
}

/// An arrowhead at (x2, y2) pointing along (x1, y1) -> (x2, y2).
fn head(x1: i64, y1: i64, x2: i64, y2: i64) -> String {
    let (dx, dy) = (x2 - x1, y2 - y1);
    let length = isqrt((dx * dx + dy * dy) as u64).max(1) as i64;
    let (bx, by) = (x2 - 9 * dx / length, y2 - 9 * dy / length);
    let (nx, ny) = (-4 * dy / length, 4 * dx / length);
    format!("{x2},{y2} {},{} {},{}", bx + nx, by + ny, bx - nx, by - ny)
}

fn cross(x: i64, y: i64) -> String {
    format!(
        "<path class=\"x\" d=\"M{} {}L{} {}M{} {}L{} {}\"/>",
        x - 5,
        y - 5,
        x + 5,
        y + 5,
        x - 5,
        y + 5,
        x + 5,
        y - 5
    )
}

/// The arrow's label: `0210 000003 ¥1,625.28 rc 00`.
pub fn label(frame: &ChartFrame) -> String {
    let mut text = match (&frame.mti, frame.stan) {
        (Some(mti), Some(stan)) => format!("{mti} {stan:06}"),
        (Some(mti), None) => mti.clone(),
        _ => format!("undecodable, {} bytes", frame.bytes),
    };
    if let Some(amount) = frame.amount_fen {
        let _ = write!(text, " ¥{}", fen(amount as i64));
    }
    if let Some(code) = &frame.code {
        let _ = write!(text, " rc {code}");
    }
    match frame.fate {
        FrameFate::Delivered => {}
        FrameFate::Delayed { by_ms } if by_ms > 0 => {
            let _ = write!(text, " (delayed {})", span(by_ms));
        }
        fate => {
            let _ = write!(text, " ({})", fate.name());
        }
    }
    text
}

fn hover(chart: &TradeChart, frame: &ChartFrame) -> String {
    let lane = |lane: Lane| match lane {
        Lane::Terminal => format!("terminal {}", chart.terminal),
        Lane::Issuer => chart.issuer.clone(),
        other => other.name().to_string(),
    };
    let mut text = format!(
        "{} {} → {} at {}\nfate: {} ({})\n{} bytes",
        frame.mti.as_deref().unwrap_or("????"),
        lane(frame.from),
        lane(frame.to),
        clock(frame.at_ms),
        frame.fate.name(),
        frame.fate.meaning(),
        frame.bytes,
    );
    if let FrameFate::Delayed { by_ms } = frame.fate {
        let _ = write!(text, ", held {}", span(by_ms));
    }
    for field in frame.fields.split(' ').filter(|f| !f.is_empty()) {
        text.push('\n');
        text.push_str(field);
    }
    text
}

fn lane_heading(chart: &TradeChart, lane: Lane) -> String {
    match lane {
        Lane::Terminal => format!("terminal {}", chart.terminal),
        Lane::Switch => "switch (acquirer)".into(),
        Lane::Network => "network (CUP)".into(),
        Lane::Issuer => chart.issuer.clone(),
    }
}

/// The chart's stylesheet, inlined once per page.
pub const CSS: &str = "svg.msc{display:block;max-width:100%;height:auto;font:12px system-ui,\
sans-serif;background:#fff;border:1px solid #ddd}svg.msc text{fill:#222}\
.lane rect{fill:#eef3f8;stroke:#7a8ca0}.lane text{font-weight:600;text-anchor:middle}\
.lifeline{stroke:#9aa;stroke-width:1.5;stroke-dasharray:4 3}\
.time{fill:#667!important;font-size:10px;text-anchor:end}\
.frame line,.frame path.body{stroke-width:2;fill:none}.frame polygon{stroke:none}\
.frame text{font-size:11px;text-anchor:middle}.frame .x{stroke-width:2.5}\
.f-delivered line{stroke:#2a6f3a}.f-delivered polygon{fill:#2a6f3a}\
.f-dropped line{stroke:#c62828;stroke-dasharray:7 4}.f-dropped .x{stroke:#c62828}\
.f-dropped text{fill:#c62828!important;font-weight:600}\
.f-delayed line{stroke:#d98200;stroke-dasharray:2 3}.f-delayed polygon{fill:#d98200}\
.f-duplicated line{stroke:#6a3fb5}.f-duplicated polygon{fill:#6a3fb5}\
.f-corrupted line{stroke:#8d5524}.f-corrupted polygon{fill:#8d5524}\
.f-corrupted rect.flip{fill:#fff;stroke:#8d5524;stroke-width:2}\
.f-lost line{stroke:#777;stroke-dasharray:3 3}.f-lost .x{stroke:#444}\
.mark text{font-size:11px}.m-fault polygon{fill:#e53935}.m-fault text{fill:#b71c1c!important}\
.m-device rect{fill:#455a64}.m-device text{fill:#263238!important;font-weight:600}\
.m-trade circle{fill:#1565c0}.m-trade text{fill:#0d47a1!important}\
.arrival circle{fill:#d98200}\
.break rect{fill:#fff}.break path{stroke:#888;stroke-width:1.5;fill:none}\
.break text{fill:#555!important;font-style:italic;text-anchor:middle}";

fn mark_shape(kind: MarkKind, x: u32, y: u32) -> String {
    match kind {
        MarkKind::Fault => format!(
            "<polygon points=\"{x},{} {},{} {x},{} {},{}\"/>",
            y - 7,
            x + 7,
            y,
            y + 7,
            x - 7,
            y
        ),
        MarkKind::Device => {
            format!("<rect x=\"{}\" y=\"{}\" width=\"12\" height=\"12\"/>", x - 6, y - 6)
        }
        MarkKind::Trade => format!("<circle cx=\"{x}\" cy=\"{y}\" r=\"5\"/>"),
    }
}

fn frame_svg(out: &mut String, chart: &TradeChart, layout: &Layout, index: usize, y: u32) {
    let frame = &chart.frames[index];
    let (x1, x2) = (i64::from(frame.from.x()), i64::from(frame.to.x()));
    if x1 == x2 {
        return;
    }
    let direction = if x2 > x1 { 1 } else { -1 };
    let y1 = i64::from(y);
    let y2 = match layout.arrival_of(index) {
        Some(arrival) => i64::from(arrival),
        None => y1 + i64::from(SLANT_PX),
    };
    let _ = write!(
        out,
        "<g class=\"frame {}\" data-fate=\"{}\" data-mti=\"{}\" data-stan=\"{}\" \
         data-from=\"{}\" data-to=\"{}\"><title>{}</title>",
        frame.fate.class(),
        frame.fate.name(),
        html(frame.mti.as_deref().unwrap_or("")),
        frame.stan.map(|s| s.to_string()).unwrap_or_default(),
        frame.from.name(),
        frame.to.name(),
        html(&hover(chart, frame)),
    );
    match frame.fate {
        FrameFate::Dropped => {
            // Dies half-way: it never reached the other side.
            let (mx, my) = ((x1 + x2) / 2, (y1 + y2) / 2);
            let _ = write!(out, "<line x1=\"{x1}\" y1=\"{y1}\" x2=\"{mx}\" y2=\"{my}\"/>");
            out.push_str(&cross(mx, my));
        }
        FrameFate::Lost => {
            // Reaches the receiver, which is not there to take it.
            let end = x2 - 12 * direction;
            let _ = write!(out, "<line x1=\"{x1}\" y1=\"{y1}\" x2=\"{end}\" y2=\"{y2}\"/>");
            out.push_str(&cross(end, y2));
        }
        FrameFate::Duplicated => {
            for offset in [0, 4] {
                let _ = write!(
                    out,
                    "<line x1=\"{x1}\" y1=\"{}\" x2=\"{x2}\" y2=\"{}\"/>",
                    y1 + offset,
                    y2 + offset
                );
            }
            let _ = write!(out, "<polygon points=\"{}\"/>", head(x1, y1, x2, y2));
            let _ = write!(out, "<polygon points=\"{}\"/>", head(x1, y1 + 4, x2, y2 + 4));
        }
        FrameFate::Corrupted => {
            let _ = write!(out, "<line x1=\"{x1}\" y1=\"{y1}\" x2=\"{x2}\" y2=\"{y2}\"/>");
            let _ = write!(out, "<polygon points=\"{}\"/>", head(x1, y1, x2, y2));
            let (mx, my) = ((x1 + x2) / 2, (y1 + y2) / 2);
            let _ = write!(
                out,
                "<rect class=\"flip\" x=\"{}\" y=\"{}\" width=\"8\" height=\"8\" \
                 transform=\"rotate(45 {mx} {my})\"/>",
                mx - 4,
                my - 4
            );
        }
        FrameFate::Delivered | FrameFate::Delayed { .. } => {
            let _ = write!(out, "<line x1=\"{x1}\" y1=\"{y1}\" x2=\"{x2}\" y2=\"{y2}\"/>");
            let _ = write!(out, "<polygon points=\"{}\"/>", head(x1, y1, x2, y2));
        }
    }
    let _ = writeln!(
        out,
        "<text x=\"{}\" y=\"{}\">{}</text></g>",
        (x1 + x2) / 2,
        y1 - 5,
        html(&label(frame))
    );
}

fn mark_svg(out: &mut String, mark: &ChartMark, y: u32) {
    let x = mark.lane.x();
    // Issuer marks write to the left, so the text stays inside the picture.
    let (text_x, anchor) =
        if mark.lane == Lane::Issuer { (x - 12, "end") } else { (x + 12, "start") };
    let _ = writeln!(
        out,
        "<g class=\"mark {}\"><title>{}</title>{}<text x=\"{text_x}\" y=\"{}\" \
         text-anchor=\"{anchor}\">{}</text></g>",
        mark.kind.class(),
        html(&format!("{} at {}\n{}", mark.label, clock(mark.at_ms), mark.detail)),
        mark_shape(mark.kind, x, y),
        y + 4,
        html(&mark.label)
    );
}

/// The chart as one `<svg>` element.
pub fn svg(chart: &TradeChart) -> String {
    let layout = layout(chart);
    let height = layout.height;
    let mut out = String::with_capacity(4096 + layout.rows.len() * 600);
    let _ = writeln!(
        out,
        "<svg class=\"msc\" width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\" \
         role=\"img\" aria-label=\"{}\">",
        html(&format!("message sequence chart of terminal {} STAN {:06}", chart.terminal, chart.stan))
    );
    out.push_str("<g class=\"lanes\">");
    for lane in [Lane::Terminal, Lane::Switch, Lane::Network, Lane::Issuer] {
        let x = lane.x();
        let _ = write!(
            out,
            "<g class=\"lane\" data-lane=\"{}\"><rect x=\"{}\" y=\"12\" width=\"180\" height=\"30\" \
             rx=\"4\"/><text x=\"{x}\" y=\"32\">{}</text><line class=\"lifeline\" x1=\"{x}\" \
             y1=\"42\" x2=\"{x}\" y2=\"{}\"/></g>",
            lane.name(),
            x - 90,
            html(&lane_heading(chart, lane)),
            height - 8
        );
    }
    out.push_str("</g>\n");
    let mut last_clock = String::new();
    for row in &layout.rows {
        let time = clock(row.at_ms);
        if time != last_clock {
            let _ =
                writeln!(out, "<text class=\"time\" x=\"96\" y=\"{}\">{time}</text>", row.y + 4);
            last_clock = time;
        }
    }
    for gap in &layout.breaks {
        let y = gap.y;
        let _ = write!(
            out,
            "<g class=\"break\" data-skipped-ms=\"{}\"><title>{}</title>",
            gap.skipped_ms,
            html(&format!(
                "{} of simulated time with nothing for this trade, compressed",
                span(gap.skipped_ms)
            ))
        );
        for x in LANE_X {
            let _ = write!(
                out,
                "<rect x=\"{}\" y=\"{}\" width=\"16\" height=\"12\"/><path d=\"M{} {}l16 -6M{} {}l16 -6\"/>",
                x - 8,
                y - 6,
                x - 8,
                y + 1,
                x - 8,
                y + 7
            );
        }
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\">{} idle, compressed</text></g>",
            (LANE_X[1] + LANE_X[2]) / 2,
            y + 4,
            html(&span(gap.skipped_ms))
        );
    }
    for row in &layout.rows {
        match row.item {
            Item::Frame(index) => frame_svg(&mut out, chart, &layout, index, row.y),
            Item::Mark(index) => mark_svg(&mut out, &chart.marks[index], row.y),
            Item::Arrival(index) => {
                let frame = &chart.frames[index];
                let _ = writeln!(
                    out,
                    "<g class=\"arrival\"><title>{}</title><circle cx=\"{}\" cy=\"{}\" r=\"3\"/></g>",
                    html(&format!(
                        "{} arrives at {}, {} late",
                        frame.mti.as_deref().unwrap_or("frame"),
                        clock(row.at_ms),
                        span(row.at_ms - frame.at_ms)
                    )),
                    frame.to.x(),
                    row.y
                );
            }
        }
    }
    out.push_str("</svg>\n");
    out
}

/// The legend: one sample arrow per fate, the three kinds of mark, and the
/// break mark.
pub fn legend() -> String {
    let mut out = String::from(
        "<svg class=\"msc legend\" width=\"1000\" height=\"86\" viewBox=\"0 0 1000 86\" \
         role=\"img\" aria-label=\"legend\">\n",
    );
    for (index, fate) in FrameFate::ALL.into_iter().enumerate() {
        let x = 10 + (index as i64 % 3) * 330;
        let y = 20 + (index as i64 / 3) * 26;
        let _ = write!(out, "<g class=\"frame {}\">", fate.class());
        match fate {
            FrameFate::Dropped => {
                let _ = write!(out, "<line x1=\"{x}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\"/>", x + 40);
                out.push_str(&cross(x + 40, y));
            }
            FrameFate::Lost => {
                let _ = write!(out, "<line x1=\"{x}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\"/>", x + 70);
                out.push_str(&cross(x + 70, y));
            }
            _ => {
                let _ = write!(out, "<line x1=\"{x}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\"/>", x + 80);
                let _ = write!(out, "<polygon points=\"{}\"/>", head(x, y, x + 80, y));
            }
        }
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" style=\"text-anchor:start\">{}: {}</text></g>",
            x + 92,
            y + 4,
            fate.name(),
            fate.meaning()
        );
    }
    let marks = [
        (MarkKind::Fault, "fault injected"),
        (MarkKind::Device, "device event (power, printer, tamper)"),
        (MarkKind::Trade, "step of the trade at the terminal"),
    ];
    for (index, (kind, text)) in marks.into_iter().enumerate() {
        let x = 16 + index as u32 * 280;
        let _ = write!(
            out,
            "<g class=\"mark {}\">{}<text x=\"{}\" y=\"76\">{text}</text></g>",
            kind.class(),
            mark_shape(kind, x, 72),
            x + 12
        );
    }
    out.push_str(
        "<g class=\"break\"><path d=\"M850 75l16 -6M850 81l16 -6\"/>\
         <text x=\"876\" y=\"76\" style=\"text-anchor:start\">idle, compressed</text></g>\n</svg>\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(seq: u64, at_ms: u64, from: Lane, to: Lane, fate: FrameFate) -> ChartFrame {
        ChartFrame {
            seq,
            at_ms,
            from,
            to,
            mti: Some("0200".into()),
            stan: Some(3),
            amount_fen: Some(100),
            code: None,
            bytes: 100,
            fate,
            fields: "2=622202******0013 3=000000".into(),
        }
    }

    #[test]
    fn a_dropped_frame_gets_the_dropped_class_and_a_cross() {
        let mut chart = TradeChart::new("T1", 3);
        chart.frames.push(frame(1, 0, Lane::Terminal, Lane::Switch, FrameFate::Delivered));
        chart.frames.push(frame(2, 300, Lane::Switch, Lane::Terminal, FrameFate::Dropped));
        let svg = svg(&chart);
        let dropped = svg.find("class=\"frame f-dropped\"").expect("a dropped arrow");
        let end = svg[dropped..].find("</g>").unwrap() + dropped;
        assert!(svg[dropped..end].contains("class=\"x\""), "{}", &svg[dropped..end]);
        assert!(svg[dropped..end].contains("(dropped)"), "{}", &svg[dropped..end]);
        assert_eq!(svg.matches("class=\"frame f-delivered\"").count(), 1);
    }

    #[test]
    fn idle_compression_shortens_a_long_gap_and_says_how_long() {
        let mut chart = TradeChart::new("T1", 3);
        chart.frames.push(frame(1, 0, Lane::Terminal, Lane::Switch, FrameFate::Delivered));
        chart.frames.push(frame(2, 60_000, Lane::Terminal, Lane::Switch, FrameFate::Delivered));
        let layout = layout(&chart);
        let drawn = layout.rows[1].y - layout.rows[0].y;
        let linear = u32::try_from(60_000 * PX_PER_S / 1000).unwrap();
        assert!(drawn < linear / 10, "{drawn} px for a minute");
        assert_eq!(layout.breaks.len(), 1);
        assert_eq!(layout.breaks[0].skipped_ms, 60_000);
        assert!(svg(&chart).contains("1 min 0 s idle, compressed"));
    }

    #[test]
    fn a_short_gap_stays_proportional() {
        let mut chart = TradeChart::new("T1", 3);
        chart.frames.push(frame(1, 0, Lane::Terminal, Lane::Switch, FrameFate::Delivered));
        chart.frames.push(frame(2, 1_500, Lane::Switch, Lane::Network, FrameFate::Delivered));
        chart.frames.push(frame(3, 1_510, Lane::Network, Lane::Issuer, FrameFate::Delivered));
        let layout = layout(&chart);
        assert!(layout.breaks.is_empty());
        assert_eq!(layout.rows[1].y - layout.rows[0].y, 90, "1.5 s at 60 px/s");
        assert_eq!(layout.rows[2].y - layout.rows[1].y, ROW_PX, "never closer than a row");
    }

    #[test]
    fn a_delayed_frame_ends_at_its_arrival() {
        let mut chart = TradeChart::new("T1", 3);
        chart.frames.push(frame(
            1,
            0,
            Lane::Switch,
            Lane::Terminal,
            FrameFate::Delayed { by_ms: 61_000 },
        ));
        chart.marks.push(ChartMark {
            seq: 2,
            at_ms: 60_000,
            lane: Lane::Terminal,
            kind: MarkKind::Trade,
            label: "timed out".into(),
            detail: String::new(),
        });
        let layout = layout(&chart);
        let items: Vec<Item> = layout.rows.iter().map(|r| r.item).collect();
        assert_eq!(items, vec![Item::Frame(0), Item::Mark(0), Item::Arrival(0)]);
        let svg = svg(&chart);
        assert!(svg.contains(&format!("y2=\"{}\"", layout.rows[2].y)), "{svg}");
    }

    #[test]
    fn text_and_hover_are_escaped() {
        let mut chart = TradeChart::new("<T&1>", 3);
        let mut f = frame(1, 0, Lane::Terminal, Lane::Switch, FrameFate::Corrupted);
        f.fields = "42=<script>".into();
        chart.frames.push(f);
        chart.marks.push(ChartMark {
            seq: 2,
            at_ms: 5,
            lane: Lane::Issuer,
            kind: MarkKind::Fault,
            label: "a \"b\" <c>".into(),
            detail: "x & y".into(),
        });
        let svg = svg(&chart);
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(!svg.contains("<T&1>"), "{svg}");
        assert!(svg.contains("42=&lt;script&gt;"), "{svg}");
        assert!(svg.contains("a &quot;b&quot; &lt;c&gt;"), "{svg}");
        assert!(svg.contains("x &amp; y"), "{svg}");
    }

    #[test]
    fn caps_bound_the_drawing() {
        let mut chart = TradeChart::new("T1", 3);
        for seq in 0..(FRAMES_PER_CHART_MAX as u64 + 50) {
            chart.frames.push(frame(
                seq,
                seq * 10,
                Lane::Terminal,
                Lane::Switch,
                FrameFate::Delivered,
            ));
        }
        assert_eq!(layout(&chart).rows.len(), FRAMES_PER_CHART_MAX);
    }

    #[test]
    fn arrowheads_point_along_the_arrow() {
        assert_eq!(head(0, 0, 100, 0), "100,0 91,4 91,-4");
        assert_eq!(head(100, 0, 0, 0), "0,0 9,-4 9,4");
    }
}
