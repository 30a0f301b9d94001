//! A case's script as instructions for a real terminal's operator: a sign-in
//! first (the simulated terminal signs in as the day opens), then the
//! workload's scripted trades and cashier commands at their `at_ms`, and the
//! day's closing settlement when the cashier settles at the end (given once
//! the script is done and the terminal quiet). The faults a
//! real terminal must suffer itself are cues: a scheduled power cut at its
//! time, a placed `power_off` at the moment the wire shows (its trade's
//! request in, or the issuer's approval of it); a terminal-side fault that
//! cannot be asked of a real device is named, and the case is then not
//! exercised rather than judged without it.
//!
//! ```
//! use possim_sim::certify::live::plan::plan;
//! use possim_sim::scenario::parse_and_compile;
//! let text = "name: c\nmerchants: [{id: '898100000000001'}]\n\
//!             issuers: [{index: 0, bins: ['622202']}]\n\
//!             terminals: [{id: CT040001, merchant: '898100000000001', tmk: 0123456789ABCDEF}]\n\
//!             cards: [{pan: '6222020000000001', balance_fen: 100000}]\n\
//!             workload:\n  arrivals_per_terminal_per_hour: 0\n  script:\n\
//!             \x20   - {at_ms: 10000, terminal: CT040001, trade: sale, card: '6222020000000001'}\n";
//! let plan = plan(&parse_and_compile(text, "c.yaml").unwrap());
//! let actions: Vec<&str> = plan.items.iter().map(|i| i.instruction.action.as_str()).collect();
//! assert_eq!(actions, ["sign_in", "sale"]);
//! ```

use serde_json::{json, Map, Value};

use super::operator::Instruction;
use crate::scenario::compile::CompiledScenario;
use possim_models::network::NetworkCommand;

use crate::scenario::model::{Fault, PowerPhase, ProtocolFault, TradeChoice};
use crate::trace::FaultKind;

/// One instruction, not before `at_ms` after the operator's `ready`.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    pub at_ms: u64,
    pub instruction: Instruction,
}

/// When a power cut lands on the real terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CueWhen {
    /// At this time after `ready`.
    At { at_ms: u64 },
    /// As the terminal's `trade`-th online trade request arrives.
    RequestIn { trade: u32 },
    /// As the issuer approves the terminal's `trade`-th online trade.
    Approved { trade: u32 },
}

/// A power cut the operator performs at a moment only the wire shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PowerCue {
    pub when: CueWhen,
    pub off_ms: u64,
    /// The simulator's words for it (the trace's cause).
    pub words: String,
}

/// What the live host does for a scheduled host fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostAction {
    /// A command to the network (a cutoff, an issuer down or up).
    Network(NetworkCommand),
    /// An issuer stops answering (`true`) or answers again.
    Silent { issuer: u16, silent: bool },
}

/// A scheduled host fault's start or end, at `at_ms` after `ready`, and
/// how the trace records it (as the simulator does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostStep {
    pub at_ms: u64,
    pub action: HostAction,
    pub kind: FaultKind,
    pub target: String,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    /// In the order they are given (by `at_ms`, then as written).
    pub items: Vec<Planned>,
    pub cues: Vec<PowerCue>,
    /// The scheduled host faults the live host plays, by time.
    pub host: Vec<HostStep>,
    /// Terminal-side faults no operator instruction can place, and host
    /// faults the live host does not apply (a crash, an issuer down, a
    /// cutoff, a partition): a case with one is not exercised rather than
    /// judged without it.
    pub unplaceable: Vec<String>,
    /// The cashier settles at the end of the day (`settle_at_end`).
    pub closing_settlement: bool,
}

fn fields(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// A scheduled host fault's start and end as the live host plays them;
/// `None`: one it does not play (a crash, a partition, a hold).
fn host_steps(at_ms: u64, fault: &Fault) -> Option<[HostStep; 2]> {
    let step = |at_ms, action, kind, target: &str| HostStep {
        at_ms,
        action,
        kind,
        target: target.to_string(),
    };
    Some(match *fault {
        Fault::IssuerDown { issuer, for_ms } => {
            let target = format!("issuer-{issuer}");
            [
                step(
                    at_ms,
                    HostAction::Network(NetworkCommand::IssuerDown(issuer)),
                    FaultKind::IssuerDown,
                    &target,
                ),
                step(
                    at_ms + for_ms,
                    HostAction::Network(NetworkCommand::IssuerUp(issuer)),
                    FaultKind::IssuerUp,
                    &target,
                ),
            ]
        }
        Fault::IssuerSilent { issuer, for_ms } => {
            let target = format!("issuer-{issuer} silent");
            [
                step(
                    at_ms,
                    HostAction::Silent { issuer, silent: true },
                    FaultKind::IssuerDown,
                    &target,
                ),
                step(
                    at_ms + for_ms,
                    HostAction::Silent { issuer, silent: false },
                    FaultKind::IssuerUp,
                    &target,
                ),
            ]
        }
        Fault::Cutoff { for_ms } => [
            step(
                at_ms,
                HostAction::Network(NetworkCommand::CutoffStart),
                FaultKind::CutoffStart,
                "network",
            ),
            step(
                at_ms + for_ms,
                HostAction::Network(NetworkCommand::CutoffEnd),
                FaultKind::CutoffEnd,
                "network",
            ),
        ],
        _ => return None,
    })
}

fn trade_action(choice: TradeChoice) -> &'static str {
    match choice {
        TradeChoice::Sale => "sale",
        TradeChoice::Inquiry => "inquiry",
        TradeChoice::Void => "void",
        TradeChoice::Refund => "refund",
        TradeChoice::PreAuth => "pre_auth",
        TradeChoice::OfflineSale => "offline_sale",
        TradeChoice::Ecash => "ecash",
        TradeChoice::Completion => "completion",
        TradeChoice::CompletionAdvice => "completion_advice",
        TradeChoice::PreAuthCancel => "pre_auth_cancel",
    }
}

/// The operator's instructions and cues for `scenario` (its one terminal's).
pub fn plan(scenario: &CompiledScenario) -> Plan {
    let mut plan = Plan::default();
    let instruction = |action: &str, fields: Map<String, Value>| Instruction {
        action: action.to_string(),
        fields,
    };
    plan.items.push(Planned { at_ms: 0, instruction: instruction("sign_in", Map::new()) });
    for trade in &scenario.workload.script {
        let action = trade_action(trade.trade);
        let mut own = match trade.trade {
            TradeChoice::Void => Map::new(),
            TradeChoice::Inquiry => fields(json!({"card": trade.card.as_str()})),
            _ => fields(json!({"card": trade.card.as_str(), "amount_fen": trade.amount_fen})),
        };
        if trade.wrong_pin {
            own.insert("wrong_pin".into(), json!(true));
        }
        plan.items.push(Planned { at_ms: trade.at_ms, instruction: instruction(action, own) });
    }
    for command in &scenario.workload.commands {
        let mut own = fields(serde_json::to_value(&command.command).unwrap_or(Value::Null));
        let action = own
            .remove("command")
            .and_then(|name| name.as_str().map(str::to_string))
            .unwrap_or_else(|| "?".into());
        plan.items.push(Planned { at_ms: command.at_ms, instruction: instruction(&action, own) });
    }
    plan.closing_settlement = scenario.workload.cashier.settle_at_end;
    plan.items.sort_by_key(|item| item.at_ms);
    for fault in &scenario.faults.scheduled {
        if let Fault::PowerCut { off_ms, .. } = &fault.fault {
            plan.cues.push(PowerCue {
                when: CueWhen::At { at_ms: fault.at_ms },
                off_ms: *off_ms,
                words: "scheduled power cut".into(),
            });
        } else if let Some(steps) = host_steps(fault.at_ms, &fault.fault) {
            plan.host.extend(steps);
        } else {
            let kind = serde_json::to_value(&fault.fault)
                .ok()
                .and_then(|value| value.get("kind").and_then(Value::as_str).map(str::to_string))
                .unwrap_or_else(|| "?".into());
            plan.unplaceable.push(format!("scheduled {kind} at {} ms", fault.at_ms));
        }
    }
    plan.host.sort_by_key(|step| step.at_ms);
    // A battery that dies by itself is the terminal model's own: no
    // instruction makes a real one die at that message.
    let default = possim_models::terminal::TerminalConfig::default();
    for terminal in &scenario.terminals {
        let config = &terminal.config;
        if config.battery_start_percent != default.battery_start_percent
            || config.battery_drain_per_message_permille
                != default.battery_drain_per_message_permille
        {
            plan.unplaceable.push(format!(
                "a battery at {} % draining {} per mille a message",
                config.battery_start_percent, config.battery_drain_per_message_permille
            ));
        }
    }
    // The live host applies one placed fault per trade, and a copy at once.
    let host_faults: Vec<&ProtocolFault> = scenario
        .faults
        .protocol
        .iter()
        .filter(|fault| crate::live::faults::serve_applies(fault) && fault.trade().is_some())
        .collect();
    for (index, fault) in host_faults.iter().enumerate() {
        let twice = host_faults[..index].iter().any(|other| other.trade() == fault.trade());
        let late_copy =
            matches!(fault, ProtocolFault::DuplicateRequest { after_ms, .. } if *after_ms > 0);
        if twice || late_copy {
            plan.unplaceable.push(format!("{} (not played live)", fault.placement()));
        }
    }
    for fault in &scenario.faults.protocol {
        match fault {
            ProtocolFault::PowerOff { trade, phase, off_ms, .. } => {
                let when = match phase {
                    PowerPhase::AfterRequestLeft => CueWhen::RequestIn { trade: *trade },
                    PowerPhase::AfterIssuerApproved => CueWhen::Approved { trade: *trade },
                    _ => {
                        plan.unplaceable.push(fault.placement());
                        continue;
                    }
                };
                plan.cues.push(PowerCue { when, off_ms: *off_ms, words: fault.placement() });
            }
            ProtocolFault::CorruptRequest { .. }
            | ProtocolFault::ReverseUnknown { .. }
            | ProtocolFault::DuplicateUploads { .. }
            | ProtocolFault::SwitchCrashWithReversalsQueued { .. }
            | ProtocolFault::CutoffDuringSettlement { .. }
            | ProtocolFault::Frame { .. } => plan.unplaceable.push(fault.placement()),
            _ => {}
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::parse_and_compile;

    const HEAD: &str = "name: c\nmerchants: [{id: '898100000000001'}]\n\
        issuers: [{index: 0, bins: ['622202']}]\n\
        terminals: [{id: CT080001, merchant: '898100000000001', tmk: 0123456789ABCDEF}]\n\
        cards: [{pan: '6222020000000001', balance_fen: 100000}]\n\
        workload:\n  arrivals_per_terminal_per_hour: 0\n  script:\n\
        \x20   - {at_ms: 9000, terminal: CT080001, trade: inquiry, card: '6222020000000001'}\n\
        \x20   - {at_ms: 4000, terminal: CT080001, trade: sale, card: '6222020000000001', amount_fen: 700}\n\
        \x20 commands: [{at_ms: 20000, terminal: CT080001, command: settle}]\n";

    #[test]
    fn instructions_come_in_time_order_with_their_own_fields() {
        let plan = plan(&parse_and_compile(HEAD, "c.yaml").unwrap());
        let items: Vec<(u64, &str, String)> = plan
            .items
            .iter()
            .map(|item| {
                let fields = Value::Object(item.instruction.fields.clone()).to_string();
                (item.at_ms, item.instruction.action.as_str(), fields)
            })
            .collect();
        assert_eq!(
            items,
            [
                (0, "sign_in", "{}".to_string()),
                (4000, "sale", r#"{"card":"6222020000000001","amount_fen":700}"#.to_string()),
                (9000, "inquiry", r#"{"card":"6222020000000001"}"#.to_string()),
                (20000, "settle", "{}".to_string()),
            ]
        );
        assert!(plan.cues.is_empty() && plan.unplaceable.is_empty());
        assert!(plan.closing_settlement, "the cashier's default");
    }

    #[test]
    fn power_cuts_are_cues_and_what_no_operator_can_do_is_named() {
        let text = format!(
            "{HEAD}faults:\n  scheduled: [{{at_ms: 15000, kind: power_cut, terminal: CT080001, \
             off_ms: 800}}, {{at_ms: 1000, kind: issuer_down, issuer: 0, for_ms: 500}}, \
             {{at_ms: 2000, kind: crash, host: switch, restart_after_ms: 500}}]\n  \
             protocol:\n\
             \x20   - {{kind: power_off, terminal: CT080001, trade: 1, phase: after_request_left, \
             off_ms: 1500}}\n\
             \x20   - {{kind: power_off, terminal: CT080001, trade: 2, phase: \
             after_issuer_approved, off_ms: 1000}}\n\
             \x20   - {{kind: corrupt_request, terminal: CT080001, trade: 2}}\n"
        );
        let plan = plan(&parse_and_compile(&text, "c.yaml").unwrap());
        let cues: Vec<(CueWhen, u64)> = plan.cues.iter().map(|c| (c.when, c.off_ms)).collect();
        assert_eq!(
            cues,
            [
                (CueWhen::At { at_ms: 15000 }, 800),
                (CueWhen::RequestIn { trade: 1 }, 1500),
                (CueWhen::Approved { trade: 2 }, 1000),
            ]
        );
        assert_eq!(plan.cues[1].words, "power off after the request of trade 1 left");
        let host: Vec<(u64, FaultKind)> = plan.host.iter().map(|h| (h.at_ms, h.kind)).collect();
        assert_eq!(host, [(1000, FaultKind::IssuerDown), (1500, FaultKind::IssuerUp)]);
        assert_eq!(
            plan.unplaceable,
            ["scheduled crash at 2000 ms", "corrupt the request of trade 2"]
        );
    }
}
