//! Swarm mode's placed faults: each seed draws a few protocol-aware faults
//! (`faults.swarm.placed`) on drawn terminals and trades, beside the rates
//! it draws for the line and device faults.
//!
//! Rates vary how often things go wrong; the interleavings where money is
//! lost need a fault on one exact message: the answer of the trade whose
//! copy comes back late, the power cut between a request and its answer.
//! A placement is an ordinary [`ProtocolFault`], so a drawn one lands,
//! counts and prints like one a scenario writes down, and a shrunk repro
//! writes it down. The draw depends only on the scenario and the seed (its
//! own random stream), so `possim replay SCENARIO --seed N --swarm` draws
//! the same placements again.
//!
//! ```
//! use possim_sim::scenario::load::parse_and_compile;
//! use possim_sim::swarm_placed::draw;
//! let text = "name: t\nmerchants: [{id: '898100000000001'}]\n\
//!     issuers: [{index: 0, bins: ['622202']}]\n\
//!     terminals: [{id: T0000001, merchant: '898100000000001', tmk: 0123456789ABCDEF}]\n\
//!     cards: [{pan: '6222020000000001', balance_fen: 100000}]\n";
//! let scenario = parse_and_compile(text, "s.yaml").unwrap();
//! let drawn: Vec<_> = (0..50).flat_map(|seed| draw(&scenario, seed)).collect();
//! assert!(!drawn.is_empty(), "some seeds place faults");
//! assert_eq!(draw(&scenario, 7), draw(&scenario, 7), "the same seed, the same placements");
//! ```

use possim_models::iso8583::values::TerminalId;

use crate::rng::{Rng, Streams};
use crate::scenario::compile::CompiledScenario;
use crate::scenario::model::{PowerPhase, ProtocolFault, SwarmPlacement};

/// How long a drawn power cut keeps the terminal off, in ms.
const POWER_OFF_MS: [u64; 2] = [1_000, 60_000];
/// How far from the terminal's timer a drawn delayed answer arrives, in ms.
const TIMER_EDGE_MS_MAX: u64 = 2_000;
/// A late copy of a request arrives this long after the original at least.
const LATE_COPY_MS_MIN: u64 = 1_000;
/// The phases counted per occurrence (a terminal's 0500s, offline uploads,
/// 0800s) land on the first or the second: a day has few of them.
const OCCURRENCE_MAX: u64 = 2;
/// How long a drawn switch crash keeps the switch down, in ms.
const SWITCH_DOWN_MS: [u64; 2] = [1_000, 30_000];
/// How long a drawn cutoff window lasts, in ms.
const CUTOFF_MS: [u64; 2] = [1_000, 60_000];
/// How long a drawn tamper lock holds before the technician comes, in ms:
/// long enough that a cardholder or two meet the lock.
const TAMPER_LOCKED_MS: [u64; 2] = [5_000, 120_000];

/// The placements `seed` draws in swarm mode, in the order drawn.
pub fn draw(scenario: &CompiledScenario, seed: u64) -> Vec<ProtocolFault> {
    let bounds = &scenario.faults.swarm.placed;
    let terminals: Vec<(TerminalId, u64)> = scenario
        .terminals
        .iter()
        .map(|t| (t.config.terminal_id, t.config.response_timeout_ms))
        .collect();
    let kinds: Vec<SwarmPlacement> = bounds.weights.keys().copied().collect();
    let weights: Vec<u32> = bounds.weights.values().copied().collect();
    if terminals.is_empty() || weights.iter().all(|weight| *weight == 0) {
        return Vec::new();
    }
    let mut rng = Streams::new(seed).stream("swarm placed");
    let count = rng.between(u64::from(bounds.per_seed[0]), u64::from(bounds.per_seed[1]));
    let mut placed = Vec::new();
    let mut previous: Option<(usize, u32)> = None;
    for _ in 0..count {
        let kind = kinds[rng.weighted(&weights).expect("a weight above 0")];
        let (index, trade) = match previous {
            Some(at) if rng.chance(bounds.focus) => at,
            _ => {
                let index = rng.between(0, terminals.len() as u64 - 1) as usize;
                (index, rng.between(1, u64::from(bounds.trade_max)) as u32)
            }
        };
        previous = Some((index, trade));
        let (terminal, timeout_ms) = terminals[index];
        placed.push(fault(kind, terminal, trade, timeout_ms, &mut rng));
    }
    assert!(placed.len() as u64 == count, "one fault per placement");
    placed
}

/// One placement drawn from `rng` as [`draw`] draws each (a kind by weight,
/// a terminal, one of its first `trade_max` trades), without `focus`: what
/// `possim explore` adds to an input. `None` when nothing can be placed.
pub fn draw_one(scenario: &CompiledScenario, rng: &mut Rng) -> Option<ProtocolFault> {
    let bounds = &scenario.faults.swarm.placed;
    let kinds: Vec<SwarmPlacement> = bounds.weights.keys().copied().collect();
    let weights: Vec<u32> = bounds.weights.values().copied().collect();
    if scenario.terminals.is_empty() || weights.iter().all(|weight| *weight == 0) {
        return None;
    }
    let kind = kinds[rng.weighted(&weights)?];
    let index = rng.between(0, scenario.terminals.len() as u64 - 1) as usize;
    let trade = rng.between(1, u64::from(bounds.trade_max.max(1))) as u32;
    let config = &scenario.terminals[index].config;
    Some(fault(kind, config.terminal_id, trade, config.response_timeout_ms, rng))
}

fn fault(
    kind: SwarmPlacement,
    terminal: TerminalId,
    trade: u32,
    timeout_ms: u64,
    rng: &mut Rng,
) -> ProtocolFault {
    let power_off = |phase: PowerPhase, rng: &mut Rng| {
        // The occurrence first, then the time off (both only for the kinds
        // added after the first nine, which draw nothing else).
        let trade =
            if phase.counts_occurrences() { rng.between(1, OCCURRENCE_MAX) as u32 } else { trade };
        ProtocolFault::PowerOff {
            terminal,
            trade,
            phase,
            off_ms: rng.between(POWER_OFF_MS[0], POWER_OFF_MS[1]),
        }
    };
    match kind {
        SwarmPlacement::DropAnswer => ProtocolFault::DropAnswer { terminal, trade },
        SwarmPlacement::DropRequest => ProtocolFault::DropRequest { terminal, trade },
        SwarmPlacement::DelayAnswerToTimerEdge => {
            // Never before the request could have been answered at all.
            let edge_ms = TIMER_EDGE_MS_MAX.min(timeout_ms / 2).max(1);
            let offset_ms = rng.between(1, edge_ms) as i64;
            let offset_ms = if rng.chance(0.5) { -offset_ms } else { offset_ms };
            ProtocolFault::DelayAnswer { terminal, trade, offset_ms }
        }
        SwarmPlacement::CorruptAnswer => ProtocolFault::CorruptAnswer { terminal, trade },
        SwarmPlacement::DuplicateRequest => {
            // At once (while the original is still upstream), or late
            // (after the switch has answered it), up to the timer.
            let after_ms = if rng.chance(0.5) {
                0
            } else {
                rng.between(LATE_COPY_MS_MIN, timeout_ms.max(LATE_COPY_MS_MIN))
            };
            ProtocolFault::DuplicateRequest { terminal, trade, after_ms }
        }
        SwarmPlacement::PowerOffAfterRequestLeft => power_off(PowerPhase::AfterRequestLeft, rng),
        SwarmPlacement::PowerOffAfterIssuerApproved => {
            power_off(PowerPhase::AfterIssuerApproved, rng)
        }
        SwarmPlacement::PowerOffMidBatchUpload => power_off(PowerPhase::MidBatchUpload, rng),
        SwarmPlacement::DropSettlementAnswer => ProtocolFault::DropSettlementAnswer { terminal },
        SwarmPlacement::PowerOffWhileReversalInFlight => {
            power_off(PowerPhase::WhileReversalInFlight, rng)
        }
        SwarmPlacement::PowerOffWhileSettlementInFlight => {
            power_off(PowerPhase::WhileSettlementInFlight, rng)
        }
        SwarmPlacement::PowerOffDuringOfflineUpload => {
            power_off(PowerPhase::DuringOfflineUpload, rng)
        }
        SwarmPlacement::PowerOffDuringSignIn => power_off(PowerPhase::DuringSignIn, rng),
        SwarmPlacement::SwitchCrashWithReversalsQueued => {
            ProtocolFault::SwitchCrashWithReversalsQueued {
                terminal,
                restart_after_ms: rng.between(SWITCH_DOWN_MS[0], SWITCH_DOWN_MS[1]),
            }
        }
        SwarmPlacement::CutoffDuringSettlement => ProtocolFault::CutoffDuringSettlement {
            terminal,
            for_ms: rng.between(CUTOFF_MS[0], CUTOFF_MS[1]),
        },
        SwarmPlacement::UploadNotReconciled => ProtocolFault::UploadNotReconciled {
            terminal,
            trade: rng.between(1, OCCURRENCE_MAX) as u32,
        },
        SwarmPlacement::ReconciliationError => ProtocolFault::ReconciliationError { terminal },
        SwarmPlacement::TamperAfterRequestLeft => ProtocolFault::Tamper {
            terminal,
            trade,
            unlock_after_ms: rng.between(TAMPER_LOCKED_MS[0], TAMPER_LOCKED_MS[1]),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::fixtures::ONE_TERMINAL;
    use crate::scenario::load::parse_and_compile;

    fn scenario(extra: &str) -> CompiledScenario {
        let faults = if extra.is_empty() { String::new() } else { format!("faults:\n{extra}") };
        parse_and_compile(&format!("{ONE_TERMINAL}{faults}"), "s.yaml").unwrap()
    }

    #[test]
    fn every_kind_is_drawn_and_counts_stay_within_the_bounds() {
        let scenario = scenario("");
        let mut kinds = std::collections::BTreeSet::new();
        for seed in 0..400 {
            let drawn = draw(&scenario, seed);
            assert!(drawn.len() <= 3, "per_seed's default upper bound");
            for fault in drawn {
                kinds.insert(fault.kind_name());
                if let ProtocolFault::DropAnswer { trade, .. } = fault {
                    assert!((1..=8).contains(&trade), "trade_max's default");
                }
            }
        }
        assert_eq!(kinds.len(), 7, "every kind written as its protocol fault: {kinds:?}");
    }

    #[test]
    fn a_weight_of_zero_is_never_drawn_and_no_placements_means_none() {
        let only_drops = scenario(
            "  swarm:\n    placed:\n      per_seed: [2, 2]\n      weights: {drop_answer: 1}\n",
        );
        for seed in 0..50 {
            let drawn = draw(&only_drops, seed);
            assert_eq!(drawn.len(), 2);
            assert!(drawn.iter().all(|f| matches!(f, ProtocolFault::DropAnswer { .. })));
        }
        let none = scenario("  swarm:\n    placed:\n      per_seed: [0, 0]\n");
        assert!((0..50).all(|seed| draw(&none, seed).is_empty()));
    }

    #[test]
    fn the_later_kinds_weigh_nothing_unless_named_and_are_drawn_when_named() {
        let default = scenario("");
        for seed in 0..400 {
            for fault in draw(&default, seed) {
                assert!(
                    !matches!(
                        fault,
                        ProtocolFault::SwitchCrashWithReversalsQueued { .. }
                            | ProtocolFault::CutoffDuringSettlement { .. }
                            | ProtocolFault::Tamper { .. }
                            | ProtocolFault::UploadNotReconciled { .. }
                            | ProtocolFault::ReconciliationError { .. }
                    ),
                    "seed {seed}: {fault:?}"
                );
                if let ProtocolFault::PowerOff { phase, .. } = fault {
                    assert!(
                        matches!(
                            phase,
                            PowerPhase::AfterRequestLeft
                                | PowerPhase::AfterIssuerApproved
                                | PowerPhase::MidBatchUpload
                        ),
                        "seed {seed}: {phase:?}"
                    );
                }
            }
        }
        let weights: Vec<String> = SwarmPlacement::ALL
            .iter()
            .filter(|kind| kind.default_weight() == 0)
            .map(|kind| format!("{}: 1", kind.name()))
            .collect();
        let later = scenario(&format!(
            "  swarm:\n    placed:\n      per_seed: [3, 3]\n      weights: {{{}}}\n",
            weights.join(", ")
        ));
        let mut seen = std::collections::BTreeSet::new();
        for seed in 0..200 {
            for fault in draw(&later, seed) {
                match fault {
                    ProtocolFault::PowerOff { phase, trade, .. } => {
                        if phase.counts_occurrences() {
                            assert!((1..=OCCURRENCE_MAX as u32).contains(&trade));
                        }
                        seen.insert(format!("{phase:?}"));
                    }
                    ProtocolFault::UploadNotReconciled { trade, .. } => {
                        assert!((1..=OCCURRENCE_MAX as u32).contains(&trade));
                        seen.insert("upload_not_reconciled".to_string());
                    }
                    ProtocolFault::Tamper { trade, unlock_after_ms, .. } => {
                        assert!((1..=8).contains(&trade), "trade_max's default");
                        assert!(
                            (TAMPER_LOCKED_MS[0]..=TAMPER_LOCKED_MS[1]).contains(&unlock_after_ms)
                        );
                        seen.insert("tamper".to_string());
                    }
                    other => {
                        seen.insert(other.kind_name().to_string());
                    }
                }
            }
        }
        assert_eq!(seen.len(), 9, "every later kind is drawn: {seen:?}");
    }

    #[test]
    fn focus_puts_two_faults_on_one_trade() {
        let focused = scenario(
            "  swarm:\n    placed:\n      per_seed: [2, 2]\n      focus: 1.0\n      trade_max: 1000\n",
        );
        let trade_of = |fault: &ProtocolFault| match fault {
            ProtocolFault::DropAnswer { trade, .. }
            | ProtocolFault::DropRequest { trade, .. }
            | ProtocolFault::DelayAnswer { trade, .. }
            | ProtocolFault::CorruptAnswer { trade, .. }
            | ProtocolFault::DuplicateRequest { trade, .. }
            | ProtocolFault::PowerOff { trade, .. } => Some(*trade),
            _ => None,
        };
        let mut met = 0;
        for seed in 0..50 {
            let drawn = draw(&focused, seed);
            if let (Some(a), Some(b)) = (trade_of(&drawn[0]), trade_of(&drawn[1])) {
                assert_eq!(a, b, "seed {seed}: focus 1 keeps the trade");
                met += 1;
            }
        }
        assert!(met > 10);
    }
}
