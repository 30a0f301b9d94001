//! Turning one failing run into a scenario whose randomness is all written
//! down: the cardholders the seed drew become `workload.script`, a line
//! profile's blackholes and resets and swarm mode's faults become
//! `faults.scheduled` entries at the times they happened, and each random
//! drop, duplicate or flipped bit on a line becomes a placed `frame` fault
//! on that very frame. Every profile's random rates go to zero. Groups of
//! terminals and cards are written out one by one, so each can be dropped.
//!
//! ```
//! use possim_sim::scenario::load::parse;
//! use possim_sim::shrink::explicit::expand_groups;
//! let text = "name: s\nmerchants: [{id: '1'}]\nissuers: [{index: 0, bins: ['622202']}]\n\
//!             card_groups: [{bin: '622202', count: 2, balance_fen: 5}]\n";
//! let scenario = expand_groups(&parse(text, "s.yaml").unwrap());
//! assert_eq!(scenario.cards[1].pan.as_str(), "6222020000000002");
//! ```

use std::collections::{BTreeMap, VecDeque};

use possim_models::iso8583::trade::TradeKind;
use possim_models::iso8583::values::{Pan, TerminalId};
use possim_models::issuer::CardStatus;
use possim_models::terminal::events::TerminalEventKind;

use crate::scenario::model::{
    CardSpec, Fault, FrameAction, PrinterFault, ProtocolFault, Scenario, ScheduledFault,
    ScriptedTrade, TerminalSpec, TradeChoice,
};
use crate::trace::{FaultCause, FaultKind, Trace, TraceEvent};

/// The response code an issuer gives a wrong PIN.
const WRONG_PIN_CODE: &str = "55";

/// `scenario` with its terminal and card groups written out one by one.
pub fn expand_groups(scenario: &Scenario) -> Scenario {
    let mut out = scenario.clone();
    for group in &scenario.terminal_groups {
        let width = TerminalId::WIDTH.saturating_sub(group.prefix.len());
        for number in 1..=group.count {
            let text = format!("{}{number:0width$}", group.prefix);
            let Some(id) = TerminalId::new(&text) else { continue };
            out.terminals.push(TerminalSpec {
                id,
                merchant: group.merchant,
                farm: group.farm.clone(),
                link: group.link.clone(),
                tmk: group.tmk.clone(),
                config: group.config.clone(),
                registered: true,
            });
        }
    }
    out.terminal_groups.clear();
    for group in &scenario.card_groups {
        let width = usize::from(group.pan_length).saturating_sub(group.bin.len());
        for number in 1..=group.count {
            let text = format!("{}{number:0width$}", group.bin);
            let Some(pan) = Pan::new(&text) else { continue };
            out.cards.push(CardSpec {
                pan,
                balance_fen: group.balance_fen,
                pin: group.pin.clone(),
                offline_balance_fen: group.offline_balance_fen,
                status: CardStatus::Active,
                expiry: None,
                drawn: true,
            });
        }
    }
    out.card_groups.clear();
    out
}

fn choice(kind: TradeKind) -> Option<TradeChoice> {
    match kind {
        TradeKind::BalanceInquiry => Some(TradeChoice::Inquiry),
        TradeKind::Sale => Some(TradeChoice::Sale),
        TradeKind::Void => Some(TradeChoice::Void),
        TradeKind::Refund => Some(TradeChoice::Refund),
        TradeKind::PreAuth => Some(TradeChoice::PreAuth),
        TradeKind::OfflineSaleUpload => Some(TradeChoice::OfflineSale),
        TradeKind::ECashUpload => Some(TradeChoice::Ecash),
        // A completion or cancel of the oldest open pre-auth, as the
        // follow-up did; a completion void is the drawn void of a completion.
        TradeKind::Completion => Some(TradeChoice::Completion),
        TradeKind::CompletionAdvice => Some(TradeChoice::CompletionAdvice),
        TradeKind::PreAuthCancel => Some(TradeChoice::PreAuthCancel),
        TradeKind::CompletionVoid => Some(TradeChoice::Void),
    }
}

/// What explicitising found, beside the scenario.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Converted {
    pub trades: usize,
    /// Blackholes, resets, power cuts, printer faults, partitions, crashes.
    pub episodes: usize,
    /// Random drops, duplicates and flipped bits on lines.
    pub frames: usize,
}

/// The run of `scenario` (groups expanded or not) that left `trace`, with
/// its randomness written down. `start_ms` is when the safety phase began.
pub fn explicitise(scenario: &Scenario, trace: &Trace, seed: u64) -> (Scenario, Converted) {
    let mut out = expand_groups(scenario);
    let start_ms = u64::from(scenario.run.open_hour) * 3_600_000;
    let ids: BTreeMap<String, TerminalId> =
        out.terminals.iter().map(|t| (t.id.trimmed().to_string(), t.id)).collect();
    let mut converted = Converted::default();

    // Which trades got a wrong PIN: the issuer answered them 55.
    let mut wrong_pin = std::collections::BTreeSet::new();
    for record in trace.records() {
        if let TraceEvent::Terminal(event) = &record.event {
            if let TerminalEventKind::TradeAnswered { stan, code, .. } = &event.kind {
                if code.to_string() == WRONG_PIN_CODE {
                    wrong_pin.insert((event.terminal, *stan));
                }
            }
        }
    }
    let mut script = Vec::new();
    let mut scheduled = Vec::new();
    let mut frames = Vec::new();
    // Fault starts waiting for their end: (kind, target) -> start times.
    let mut open: BTreeMap<(FaultKind, String), VecDeque<u64>> = BTreeMap::new();
    let end_ms = trace.records().last().map_or(start_ms, |r| r.at.as_millis());
    for record in trace.records() {
        let at_ms = record.at.as_millis().saturating_sub(start_ms);
        match &record.event {
            TraceEvent::Terminal(event) => {
                if let TerminalEventKind::TradeStarted { stan, kind, amount, pan } = &event.kind {
                    let Some(trade) = choice(*kind) else { continue };
                    script.push(ScriptedTrade {
                        at_ms,
                        terminal: event.terminal,
                        trade,
                        card: *pan,
                        amount_fen: amount.map_or(10_000, |a| a.fen()),
                        wrong_pin: wrong_pin.contains(&(event.terminal, *stan)),
                    });
                }
            }
            TraceEvent::Fault(fault) => {
                if !matches!(fault.cause, FaultCause::Profile(_) | FaultCause::Swarm) {
                    continue;
                }
                let terminal = ids.get(&fault.target).copied();
                if let Some(slot) = fault.frame {
                    let action = match fault.kind {
                        FaultKind::LineDropFrame => FrameAction::Drop,
                        FaultKind::LineDuplicate => FrameAction::Duplicate,
                        FaultKind::LineCorrupt => FrameAction::Corrupt,
                        _ => continue,
                    };
                    let Some(terminal) = terminal else { continue };
                    frames.push(ProtocolFault::Frame {
                        terminal,
                        direction: slot.direction,
                        frame: slot.index,
                        action,
                        delay_ms: None,
                        byte: slot.flipped.map(|(byte, _)| byte),
                        bit: slot.flipped.map(|(_, bit)| bit),
                    });
                    continue;
                }
                let start_of = |end: FaultKind| match end {
                    FaultKind::LineBlackholeEnd => Some(FaultKind::LineBlackholeStart),
                    FaultKind::PowerOn => Some(FaultKind::PowerCut),
                    FaultKind::PrinterFixed => Some(FaultKind::PrinterFault),
                    FaultKind::Repair => Some(FaultKind::Partition),
                    FaultKind::HostRestart => Some(FaultKind::HostCrash),
                    _ => None,
                };
                match fault.kind {
                    FaultKind::LineReset => {
                        if let Some(terminal) = terminal {
                            scheduled
                                .push(ScheduledFault { at_ms, fault: Fault::Reset { terminal } });
                        }
                    }
                    FaultKind::LineBlackholeStart
                    | FaultKind::PowerCut
                    | FaultKind::PrinterFault
                    | FaultKind::Partition
                    | FaultKind::HostCrash => {
                        open.entry((fault.kind, fault.target.clone()))
                            .or_default()
                            .push_back(at_ms);
                    }
                    end => {
                        let Some(kind) = start_of(end) else { continue };
                        let key = (kind, fault.target.clone());
                        let Some(begun) = open.get_mut(&key).and_then(VecDeque::pop_front) else {
                            continue;
                        };
                        if let Some(fault) = episode(kind, terminal, at_ms - begun) {
                            scheduled.push(ScheduledFault { at_ms: begun, fault });
                        }
                    }
                }
            }
            _ => {}
        }
    }
    // Faults still on at the end lasted to the end.
    for ((kind, target), starts) in open {
        for begun in starts {
            let for_ms = end_ms.saturating_sub(start_ms).saturating_sub(begun).max(1);
            if let Some(fault) = episode(kind, ids.get(&target).copied(), for_ms) {
                scheduled.push(ScheduledFault { at_ms: begun, fault });
            }
        }
    }
    converted.trades = script.len();
    converted.episodes = scheduled.len();
    converted.frames = frames.len();
    // No arrivals: the mix and the amounts they were drawn from no longer matter.
    let drawn = crate::scenario::model::Workload::default();
    out.workload.arrivals_per_terminal_per_hour = 0.0;
    out.workload.mix = drawn.mix;
    out.workload.amount_fen = drawn.amount_fen;
    out.workload.wrong_pin_per_trade = 0.0;
    out.workload.script = script;
    out.faults.scheduled.extend(scheduled);
    out.faults.scheduled.sort_by_key(|f| f.at_ms);
    out.faults.protocol.extend(frames);
    for profile in out.links.values_mut() {
        profile.blackholes_per_hour = 0.0;
        profile.resets_per_hour = 0.0;
        profile.drop_per_frame = 0.0;
        profile.duplicate_per_frame = 0.0;
        profile.corrupt_per_frame = 0.0;
    }
    out.run.seed = seed;
    (out, converted)
}

/// A fault of `kind` (a start) lasting `for_ms`, as the scenario writes it.
fn episode(kind: FaultKind, terminal: Option<TerminalId>, for_ms: u64) -> Option<Fault> {
    let fault = match kind {
        FaultKind::LineBlackholeStart => Fault::Blackhole { terminal: terminal?, for_ms },
        FaultKind::PowerCut => Fault::PowerCut { terminal: terminal?, off_ms: for_ms },
        FaultKind::PrinterFault => Fault::Printer {
            terminal: terminal?,
            // Swarm mode's only printer fault.
            state: PrinterFault::OutOfPaper,
            fixed_after_ms: for_ms,
        },
        // Swarm mode partitions only the switch from the network.
        FaultKind::Partition => {
            Fault::Partition { between: ["switch".into(), "network".into()], for_ms }
        }
        FaultKind::HostCrash => Fault::Crash { host: "switch".into(), restart_after_ms: for_ms },
        _ => return None,
    };
    Some(fault)
}
