//! Greedy reduction of a failing scenario: drop terminals (with their
//! trades and faults), scripted trades, faults and cards, pin each line's
//! latency, shorten the safety phase, keeping each candidate only when its
//! run still fails the same invariant. Lists are cut with delta debugging
//! (halves, then quarters, ... then one item at a time). Every candidate run
//! counts against a bound.
//!
//! ```
//! use possim_sim::shrink::reduce::ddmin;
//! // The smallest sub-list still holding both 3 and 7.
//! let mut budget = 100;
//! let kept = ddmin((0..10).collect(), &mut |items: &[i32]| {
//!     budget -= 1;
//!     budget > 0 && items.contains(&3) && items.contains(&7)
//! });
//! assert_eq!(kept, vec![3, 7]);
//! ```

use std::collections::BTreeSet;

use crate::execute::{execute, RunReport};
use crate::scenario::load::parse_and_compile;
use crate::scenario::model::{ProtocolFault, Scenario, ScheduledFault};
use crate::world::RunOptions;

use super::yaml::to_yaml;

/// The smallest sub-list (in order) of `items` for which `fails` holds,
/// found by delta debugging; `fails(&items)` is assumed to hold.
pub fn ddmin<T: Clone>(mut items: Vec<T>, fails: &mut impl FnMut(&[T]) -> bool) -> Vec<T> {
    let mut chunks = 2usize;
    // Each pass either shrinks the list or refines the chunks; both are bounded.
    let passes_max = 64 * (items.len() + 1);
    for _ in 0..passes_max {
        if items.is_empty() || chunks > items.len() * 2 {
            break;
        }
        let size = items.len().div_ceil(chunks.min(items.len()));
        let mut reduced = false;
        let mut start = 0;
        while start < items.len() {
            let end = (start + size).min(items.len());
            let candidate: Vec<T> =
                items[..start].iter().chain(items[end..].iter()).cloned().collect();
            if fails(&candidate) {
                items = candidate;
                reduced = true;
                chunks = chunks.saturating_sub(1).max(2);
                break;
            }
            start = end;
        }
        if !reduced {
            if size == 1 {
                break;
            }
            chunks = (chunks * 2).min(items.len());
        }
    }
    items
}

/// Runs candidates and says whether each still fails the invariant.
#[derive(Debug)]
pub struct Oracle {
    pub invariant: String,
    pub seed: u64,
    pub runs: usize,
    pub runs_max: usize,
    /// Keep a cut only if the invariant still holds with the unsafe
    /// policies switched off: a repro must show the policy's bug, not a
    /// scenario that would fail under any policy (a lone offline trade
    /// lost with its device, say).
    pub safe_must_hold: bool,
}

impl Oracle {
    /// The run of `candidate`, when it is a valid scenario and runs.
    pub fn run(&self, candidate: &Scenario) -> Option<RunReport> {
        let text = to_yaml(candidate, &[]).ok()?;
        let compiled = parse_and_compile(&text, "candidate.yaml").ok()?;
        execute(&compiled, &RunOptions { seed: self.seed, swarm: false }).ok()
    }

    /// Whether `candidate` still fails the invariant; false once the
    /// budget is spent.
    pub fn fails(&mut self, candidate: &Scenario) -> bool {
        if self.runs >= self.runs_max {
            return false;
        }
        self.runs += 1;
        let fails = self.run(candidate).is_some_and(|r| r.failed().contains(&self.invariant));
        if !fails || !self.safe_must_hold {
            return fails;
        }
        let mut safe = candidate.clone();
        super::safe::make_safe(&mut safe);
        self.runs += 1;
        self.run(&safe).is_some_and(|r| !r.failed().contains(&self.invariant))
    }
}

fn protocol_terminal(fault: &ProtocolFault) -> String {
    fault.terminal().trimmed().to_owned()
}

/// `scenario` with only the terminals in `keep`, and what refers to them.
fn with_terminals(scenario: &Scenario, keep: &BTreeSet<String>) -> Scenario {
    let mut out = scenario.clone();
    out.terminals.retain(|t| keep.contains(t.id.trimmed()));
    out.workload.script.retain(|t| keep.contains(t.terminal.trimmed()));
    out.faults.scheduled.retain(|f| f.fault.terminal().is_none_or(|t| keep.contains(t.trimmed())));
    out.faults.protocol.retain(|f| keep.contains(&protocol_terminal(f)));
    out
}

/// One entry of either fault list, so both are cut together.
#[derive(Debug, Clone)]
enum AnyFault {
    Scheduled(ScheduledFault),
    Protocol(ProtocolFault),
}

/// What reduction did.
#[derive(Debug, Clone, Default)]
pub struct Reduced {
    pub latency_pinned: bool,
}

/// Reduces `scenario`, which fails `oracle.invariant`, as far as the budget
/// allows.
pub fn reduce(scenario: Scenario, oracle: &mut Oracle) -> (Scenario, Reduced) {
    let mut best = scenario;
    let mut reduced = Reduced::default();

    // Fixed latency first: every later candidate then replays alike on any seed.
    let mut pinned = best.clone();
    let mut changed = false;
    for profile in pinned.links.values_mut() {
        changed |= profile.latency_ms.min != profile.latency_ms.max;
        profile.latency_ms.max = profile.latency_ms.min;
    }
    let clean_used = best.terminals.iter().any(|t| t.link == "clean");
    if clean_used && !pinned.links.contains_key("clean") {
        // `clean` cannot be redefined: pin its users on a profile of their own.
        let clean = crate::scenario::model::LineProfile::default();
        let fixed = crate::scenario::model::LineProfile {
            latency_ms: crate::scenario::model::RangeMs {
                min: clean.latency_ms.min,
                max: clean.latency_ms.min,
            },
            ..clean
        };
        pinned.links.insert("fixed".into(), fixed);
        for terminal in &mut pinned.terminals {
            if terminal.link == "clean" {
                terminal.link = "fixed".into();
            }
        }
        changed = true;
    }
    if changed && oracle.fails(&pinned) {
        best = pinned;
        reduced.latency_pinned = true;
    } else if !changed {
        reduced.latency_pinned = true;
    }

    best = compress(best, oracle);
    best = shorten(best, oracle);

    let ids: Vec<String> = best.terminals.iter().map(|t| t.id.trimmed().to_string()).collect();
    if ids.len() > 1 {
        let kept = ddmin(ids, &mut |ids: &[String]| {
            !ids.is_empty() && oracle.fails(&with_terminals(&best, &ids.iter().cloned().collect()))
        });
        best = with_terminals(&best, &kept.into_iter().collect());
    }

    let script = best.workload.script.clone();
    let kept = ddmin(script, &mut |script| {
        let mut candidate = best.clone();
        candidate.workload.script = script.to_vec();
        oracle.fails(&candidate)
    });
    best.workload.script = kept;

    let faults: Vec<AnyFault> = best
        .faults
        .scheduled
        .iter()
        .cloned()
        .map(AnyFault::Scheduled)
        .chain(best.faults.protocol.iter().cloned().map(AnyFault::Protocol))
        .collect();
    let with_faults = |base: &Scenario, faults: &[AnyFault]| {
        let mut out = base.clone();
        out.faults.scheduled.clear();
        out.faults.protocol.clear();
        for fault in faults {
            match fault {
                AnyFault::Scheduled(f) => out.faults.scheduled.push(f.clone()),
                AnyFault::Protocol(f) => out.faults.protocol.push(f.clone()),
            }
        }
        out
    };
    let kept = ddmin(faults, &mut |faults| oracle.fails(&with_faults(&best, faults)));
    best = with_faults(&best, &kept);

    // Plainer values, each kept only if the run still fails: one card for
    // every trade, the default amount, the default healing bound.
    let mut plain = best.clone();
    if let Some(first) = plain.workload.script.first().map(|t| t.card) {
        for trade in &mut plain.workload.script {
            trade.card = first;
        }
    }
    best = keep_if_fails(best, plain, oracle);
    let mut plain = best.clone();
    for trade in &mut plain.workload.script {
        trade.amount_fen = DEFAULT_AMOUNT_FEN;
    }
    best = keep_if_fails(best, plain, oracle);
    let mut plain = best.clone();
    plain.run.healing_max_ms = crate::scenario::model::RunSettings::default().healing_max_ms;
    best = keep_if_fails(best, plain, oracle);
    best = tidy(best, oracle);
    best = compress(best, oracle);
    best = shorten(best, oracle);
    (best, reduced)
}

fn keep_if_fails(best: Scenario, candidate: Scenario, oracle: &mut Oracle) -> Scenario {
    if candidate != best && oracle.fails(&candidate) {
        candidate
    } else {
        best
    }
}

/// A scripted trade's amount when none is written.
const DEFAULT_AMOUNT_FEN: u64 = 10_000;

/// Moves the timeline earlier: the first trade or fault soon after the
/// terminals have signed in, then every gap cut to a few minutes, each kept
/// only if the run still fails.
fn compress(scenario: Scenario, oracle: &mut Oracle) -> Scenario {
    // Terminals sign in from 2 s after opening; drawn arrivals start at 5 s.
    const FIRST_MS: u64 = 10_000;
    // Uncut, then longer than the cashier's "send pending" wait (120 s) and
    // a timeout, then tighter.
    const GAPS_MAX_MS: [u64; 4] = [u64::MAX, 180_000, 60_000, 15_000];
    let mut best = scenario;
    for gap_max_ms in GAPS_MAX_MS {
        let mut times: Vec<u64> = best
            .workload
            .script
            .iter()
            .map(|t| t.at_ms)
            .chain(best.faults.scheduled.iter().map(|f| f.at_ms))
            .collect();
        times.sort_unstable();
        times.dedup();
        let Some(first) = times.first().copied() else { return best };
        // Old time -> new time: the first at FIRST_MS, gaps capped.
        let mut map = std::collections::BTreeMap::new();
        let mut previous = (first, first.min(FIRST_MS));
        for time in times {
            let moved = previous.1 + (time - previous.0).min(gap_max_ms);
            map.insert(time, moved);
            previous = (time, moved);
        }
        let shift = |at_ms: u64| map.get(&at_ms).copied().unwrap_or(at_ms);
        let mut candidate = best.clone();
        for trade in &mut candidate.workload.script {
            trade.at_ms = shift(trade.at_ms);
        }
        for fault in &mut candidate.faults.scheduled {
            fault.at_ms = shift(fault.at_ms);
        }
        let last_moved = map.values().max().copied().unwrap_or(0);
        let last_before = map.keys().max().copied().unwrap_or(0);
        let saved_ms = last_before - last_moved;
        // To the second, as `shorten` leaves it.
        candidate.run.safety_ms =
            best.run.safety_ms.saturating_sub(saved_ms).div_ceil(1_000) * 1_000;
        if candidate != best && oracle.fails(&candidate) {
            best = candidate;
        }
    }
    best
}

/// Drops the cards no trade uses, then issuers, merchants and line
/// profiles nothing refers to.
fn tidy(scenario: Scenario, oracle: &mut Oracle) -> Scenario {
    let mut candidate = scenario.clone();
    let used: BTreeSet<String> =
        candidate.workload.script.iter().map(|t| t.card.as_str().to_string()).collect();
    candidate.cards.retain(|c| used.contains(c.pan.as_str()));
    if candidate.cards.is_empty() {
        if let Some(first) = scenario.cards.first() {
            candidate.cards.push(first.clone());
        }
    }
    let routed = |bins: &[String], cards: &[crate::scenario::model::CardSpec]| {
        cards.iter().any(|c| bins.iter().any(|b| c.pan.as_str().starts_with(b.as_str())))
    };
    let issuers: Vec<_> =
        candidate.issuers.iter().filter(|i| routed(&i.bins, &candidate.cards)).cloned().collect();
    if !issuers.is_empty() {
        candidate.issuers = issuers;
    }
    let merchants: BTreeSet<_> = candidate.terminals.iter().map(|t| t.merchant).collect();
    candidate.merchants.retain(|m| merchants.contains(&m.id));
    let links: BTreeSet<_> = candidate.terminals.iter().map(|t| t.link.clone()).collect();
    candidate.links.retain(|name, _| links.contains(name));
    if candidate != scenario && oracle.fails(&candidate) {
        candidate
    } else {
        scenario
    }
}

/// The shortest safety phase (to the second) that still fails, no shorter
/// than the last scripted trade or fault plus a minute and a half (the
/// cashier settles a minute before the end).
fn shorten(scenario: Scenario, oracle: &mut Oracle) -> Scenario {
    const MARGIN_MS: u64 = 90_000;
    const STEP_MS: u64 = 1_000;
    let last_ms = scenario
        .workload
        .script
        .iter()
        .map(|t| t.at_ms)
        .chain(scenario.faults.scheduled.iter().map(|f| f.at_ms))
        .max()
        .unwrap_or(0);
    let mut low = (last_ms + MARGIN_MS).div_ceil(STEP_MS);
    let mut high = scenario.run.safety_ms / STEP_MS;
    let mut best = scenario;
    // Binary search: `high` always fails; at most 64 halvings.
    for _ in 0..64 {
        if low >= high {
            break;
        }
        let middle = low + (high - low) / 2;
        let mut candidate = best.clone();
        candidate.run.safety_ms = middle * STEP_MS;
        if oracle.fails(&candidate) {
            best = candidate;
            high = middle;
        } else {
            low = middle + 1;
        }
    }
    best
}
