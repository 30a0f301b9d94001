//! A case's script as instructions for a real terminal's operator: a sign-in
//! first (the simulated terminal signs in as the day opens), then the
//! workload's scripted trades and cashier commands at their `at_ms`, and the
//! day's closing settlement when the cashier settles at the end (given once
//! the script is done and the terminal quiet). The faults a
//! real terminal must suffer itself are cues: a scheduled power cut at its
//! time, a placed `power_off` at the moment the wire shows (its trade's
//! request in, the issuer's approval of it, the first batch upload in), and
//! a battery that runs out at the message the terminal model's battery rule
//! says. Host faults are [`HostStep`]s (an issuer down or silent, a cutoff,
//! a switch crash and restart). A fault that cannot be asked of a real
//! device nor played by the host is named, and the case is then not
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

use crate::scenario::model::{
    Fault, FrameAction, LineDirection, PowerPhase, ProtocolFault, TradeChoice,
};
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
    /// As the terminal's first batch upload (0320) arrives; the host
    /// cuts before the switch reads it, as its answer comes at once.
    BatchUpload,
    /// As the terminal's `nth` message arrives (its battery runs out
    /// sending it); the host cuts before the switch reads it.
    Message { nth: u32 },
}

impl CueWhen {
    /// A moment the live host watches for itself (see [`CueWhen`]).
    pub fn host_cut(self) -> Option<crate::live::host::CutAt> {
        use crate::live::host::CutAt;
        match self {
            CueWhen::BatchUpload => Some(CutAt::BatchUpload),
            CueWhen::Message { nth } => Some(CutAt::Message { nth }),
            _ => None,
        }
    }
}

/// When the power comes back after a cue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerBack {
    /// This long after the cut.
    AfterMs(u64),
    /// As the healing phase begins: a flat battery stays flat until the
    /// simulator charges every terminal then.
    AtHealing,
}

/// A power cut the operator performs at a moment only the wire shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PowerCue {
    pub when: CueWhen,
    pub back: PowerBack,
    /// The simulator's words for it (the trace's cause), and why the
    /// operator cuts the power.
    pub words: String,
    /// Whether the trace records the cut as a fault: not a flat battery,
    /// which the simulator's terminal makes itself.
    pub recorded: bool,
}

impl PowerCue {
    /// How long the terminal stays off, when that is fixed.
    pub fn off_ms(&self) -> Option<u64> {
        match self.back {
            PowerBack::AfterMs(off_ms) => Some(off_ms),
            PowerBack::AtHealing => None,
        }
    }
}

/// What the live host does for a scheduled host fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostAction {
    /// A command to the network (a cutoff, an issuer down or up).
    Network(NetworkCommand),
    /// An issuer stops answering (`true`) or answers again.
    Silent { issuer: u16, silent: bool },
    /// The switch crashes: the terminal's connections close, new ones are
    /// refused until the restart.
    SwitchCrash,
    /// The switch restarts with what survives a crash.
    SwitchRestart,
}

/// A scheduled host fault's start or end, at `at_ms` after `ready`, and
/// how the trace records it (as the simulator does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostStep {
    pub at_ms: u64,
    pub action: HostAction,
    pub kind: FaultKind,
    pub target: String,
    /// Played relative to a trade's request reaching the host rather than
    /// to `ready`, when the fault starts while that trade is in the air.
    pub anchor: Option<Anchor>,
}

/// A host step's moment on the wire: `offset_ms` after the request of the
/// trade that script item `item` (an index into [`Plan::items`]) asks
/// for reaches the host. The simulated request leaves at the item's
/// `at_ms` and the switch reads it the terminal's link latency and one
/// tick (`run.tick_ms`) later (CT-30's trace: sent at 10,000 ms, forwarded
/// at 10,030 over a 20 ms link in 10 ms ticks); a real terminal takes its
/// own time to act, and a fault placed a few milliseconds into a trade
/// would otherwise land before or after it by the operator's speed alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anchor {
    pub item: usize,
    pub offset_ms: u64,
}

/// Actions that are online trades: they send a request and wait for its
/// answer.
pub const TRADE_ACTIONS: [&str; 7] =
    ["sale", "inquiry", "pre_auth", "refund", "void", "completion", "pre_auth_cancel"];

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    /// In the order they are given (by `at_ms`, then as written).
    pub items: Vec<Planned>,
    pub cues: Vec<PowerCue>,
    /// The scheduled host faults the live host plays, by time.
    pub host: Vec<HostStep>,
    /// Terminal-side faults no operator instruction can place, and host
    /// faults the live host does not apply (a partition, a hold, a second
    /// fault on one side of a trade): a case with one is not exercised
    /// rather than judged without it.
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
/// `None`: one it does not play (a partition, a hold, a crash of anything
/// but the switch).
fn host_steps(at_ms: u64, fault: &Fault) -> Option<[HostStep; 2]> {
    let step = |at_ms, action, kind, target: &str| HostStep {
        at_ms,
        action,
        kind,
        target: target.to_string(),
        anchor: None,
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
        Fault::Crash { ref host, restart_after_ms } if host == "switch" => [
            step(at_ms, HostAction::SwitchCrash, FaultKind::HostCrash, "switch"),
            step(
                at_ms + restart_after_ms,
                HostAction::SwitchRestart,
                FaultKind::HostRestart,
                "switch",
            ),
        ],
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

/// The script item whose trade is in the air at `at_ms` (the latest item
/// at or before it, an online trade, its answer not yet timed out), and
/// how long after it leaves the simulated switch reads its request (see
/// [`Anchor`]).
fn in_the_air(items: &[Planned], scenario: &CompiledScenario, at_ms: u64) -> Option<(usize, u64)> {
    let terminal = scenario.terminals.first()?;
    let item = items.iter().rposition(|item| item.at_ms <= at_ms)?;
    let planned = &items[item];
    let trade = TRADE_ACTIONS.contains(&planned.instruction.action.as_str());
    if !trade || at_ms - planned.at_ms >= terminal.config.response_timeout_ms {
        return None;
    }
    let link_ms = scenario.links.get(&terminal.link).map_or(0, |link| link.latency_ms.min);
    Some((item, link_ms + scenario.run.tick_ms))
}

/// What of a trade a host-placed fault acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Request,
    Answer,
    /// A reset closes the connection as the request comes in and loses the
    /// answer with it: it shares its trade with no other fault.
    Both,
}

fn side(fault: &ProtocolFault) -> Side {
    match fault {
        ProtocolFault::DropRequest { .. }
        | ProtocolFault::DuplicateRequest { .. }
        | ProtocolFault::AnswerCode { .. } => Side::Request,
        ProtocolFault::ResetAfterRequest { .. } => Side::Both,
        _ => Side::Answer,
    }
}

/// Where a terminal's own battery leaves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatteryEnd {
    /// It never runs out during the case.
    Never,
    /// It runs out as the terminal sends its `nth` message (from 1).
    AtMessage(u32),
    /// A drain no operator cue can follow (printing drains it too, or it
    /// starts flat).
    Unplaceable(String),
}

/// When the terminal model's battery rule switches the terminal off: it
/// starts at `battery_start_percent` and each message sent takes
/// `battery_drain_per_message_permille`; the message that empties it still
/// leaves, and the terminal is off before anything comes back.
pub fn battery_dies_at(config: &possim_models::terminal::TerminalConfig) -> BatteryEnd {
    use possim_models::terminal::battery::Battery;
    let drain = config.battery_drain_per_message_permille;
    let start = Battery::from_percent(config.battery_start_percent.min(100)).permille();
    if config.battery_drain_per_print_permille != 0 {
        return BatteryEnd::Unplaceable(format!(
            "a battery drained {} per mille a slip printed",
            config.battery_drain_per_print_permille
        ));
    }
    if start == 0 {
        return BatteryEnd::Unplaceable("a terminal that starts with a flat battery".into());
    }
    if drain == 0 {
        return BatteryEnd::Never;
    }
    // Replays the model's own battery, message after message, so the
    // count is its rule and not a formula beside it.
    let mut battery = Battery::from_percent(config.battery_start_percent.min(100));
    let most = u32::from(start.div_ceil(drain));
    for nth in 1..=most {
        if battery.drain(drain) {
            return BatteryEnd::AtMessage(nth);
        }
    }
    BatteryEnd::Never
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
                back: PowerBack::AfterMs(*off_ms),
                words: "scheduled power cut".into(),
                recorded: true,
            });
        } else if let Some(mut steps) = host_steps(fault.at_ms, &fault.fault) {
            if let Some((item, link_ms)) = in_the_air(&plan.items, scenario, fault.at_ms) {
                let from_ms = plan.items[item].at_ms + link_ms;
                for step in &mut steps {
                    let offset_ms = step.at_ms.saturating_sub(from_ms);
                    step.anchor = Some(Anchor { item, offset_ms });
                }
            }
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
    for terminal in &scenario.terminals {
        match battery_dies_at(&terminal.config) {
            BatteryEnd::Never => {}
            BatteryEnd::AtMessage(nth) => plan.cues.push(PowerCue {
                when: CueWhen::Message { nth },
                back: PowerBack::AtHealing,
                words: format!(
                    "the battery runs out as message {nth} leaves: switch the terminal off \
                     now, and on only when told (it is charged as the day's faults end)"
                ),
                recorded: false,
            }),
            BatteryEnd::Unplaceable(why) => plan.unplaceable.push(why),
        }
    }
    // The live host places one fault on a trade's request and one on its
    // answer; a second of either side is not played.
    let host_faults: Vec<&ProtocolFault> = scenario
        .faults
        .protocol
        .iter()
        .filter(|fault| crate::live::faults::serve_applies(fault) && fault.trade().is_some())
        .collect();
    for (index, fault) in host_faults.iter().enumerate() {
        let clash = |other: &ProtocolFault| {
            let (a, b) = (side(fault), side(other));
            a == b || a == Side::Both || b == Side::Both
        };
        let twice =
            host_faults[..index].iter().any(|other| other.trade() == fault.trade() && clash(other));
        if twice {
            plan.unplaceable.push(format!("{} (a second on that side of it)", fault.placement()));
        }
    }
    for fault in &scenario.faults.protocol {
        match fault {
            ProtocolFault::PowerOff { trade, phase, off_ms, .. } => {
                let when = match phase {
                    PowerPhase::AfterRequestLeft => CueWhen::RequestIn { trade: *trade },
                    PowerPhase::AfterIssuerApproved => CueWhen::Approved { trade: *trade },
                    // The first 0320, whichever trade it names (as the
                    // simulator's line places it).
                    PowerPhase::MidBatchUpload => CueWhen::BatchUpload,
                    _ => {
                        plan.unplaceable.push(fault.placement());
                        continue;
                    }
                };
                plan.cues.push(PowerCue {
                    when,
                    back: PowerBack::AfterMs(*off_ms),
                    words: fault.placement(),
                    recorded: true,
                });
            }
            // Up the line: the session garbles or loses the terminal's
            // frame before the host reads it (`line_frames`).
            ProtocolFault::Frame {
                direction: LineDirection::Up,
                action: FrameAction::Corrupt | FrameAction::Drop,
                ..
            } => {}
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
             {{at_ms: 2000, kind: partition, between: [switch, network], for_ms: 500}}]\n  \
             protocol:\n\
             \x20   - {{kind: power_off, terminal: CT080001, trade: 1, phase: after_request_left, \
             off_ms: 1500}}\n\
             \x20   - {{kind: power_off, terminal: CT080001, trade: 2, phase: \
             after_issuer_approved, off_ms: 1000}}\n\
             \x20   - {{kind: corrupt_request, terminal: CT080001, trade: 2}}\n"
        );
        let plan = plan(&parse_and_compile(&text, "c.yaml").unwrap());
        let cues: Vec<(CueWhen, PowerBack)> = plan.cues.iter().map(|c| (c.when, c.back)).collect();
        assert_eq!(
            cues,
            [
                (CueWhen::At { at_ms: 15000 }, PowerBack::AfterMs(800)),
                (CueWhen::RequestIn { trade: 1 }, PowerBack::AfterMs(1500)),
                (CueWhen::Approved { trade: 2 }, PowerBack::AfterMs(1000)),
            ]
        );
        assert_eq!(plan.cues[1].words, "power off after the request of trade 1 left");
        let host: Vec<(u64, FaultKind)> = plan.host.iter().map(|h| (h.at_ms, h.kind)).collect();
        assert_eq!(host, [(1000, FaultKind::IssuerDown), (1500, FaultKind::IssuerUp)]);
        assert_eq!(
            plan.unplaceable,
            ["scheduled partition at 2000 ms", "corrupt the request of trade 2"]
        );
    }

    fn with_faults(faults: &str) -> Plan {
        plan(&parse_and_compile(&format!("{HEAD}faults:\n{faults}"), "c.yaml").unwrap())
    }

    #[test]
    fn a_power_off_mid_batch_upload_is_a_cue_the_host_cuts_on_the_first_0320() {
        let plan = with_faults(
            "  protocol:\n    - {kind: power_off, terminal: CT080001, trade: 1, phase: \
             mid_batch_upload, off_ms: 10000}\n",
        );
        assert!(plan.unplaceable.is_empty(), "{:?}", plan.unplaceable);
        let [cue] = plan.cues.as_slice() else { panic!("one cue: {:?}", plan.cues) };
        assert_eq!(cue.when, CueWhen::BatchUpload);
        assert_eq!(cue.when.host_cut(), Some(crate::live::host::CutAt::BatchUpload));
        assert_eq!(cue.back, PowerBack::AfterMs(10000));
        assert!(cue.recorded);
        assert_eq!(cue.words, "power off in the middle of a batch upload");
        // Placed on a trade's own moments, the wire shows them in time.
        assert_eq!(CueWhen::RequestIn { trade: 1 }.host_cut(), None);
    }

    fn battery(start_percent: u8, drain_permille: u16, print_permille: u16) -> BatteryEnd {
        let config = possim_models::terminal::TerminalConfig {
            battery_start_percent: start_percent,
            battery_drain_per_message_permille: drain_permille,
            battery_drain_per_print_permille: print_permille,
            ..Default::default()
        };
        battery_dies_at(&config)
    }

    #[test]
    fn a_battery_dies_at_the_message_the_terminal_model_s_rule_empties_it() {
        // 30 per mille: 10 left after the sign-in, the sale empties it.
        assert_eq!(battery(3, 20, 0), BatteryEnd::AtMessage(2));
        // Exactly used up by the third message, not a fourth.
        assert_eq!(battery(3, 10, 0), BatteryEnd::AtMessage(3));
        assert_eq!(battery(1, 500, 0), BatteryEnd::AtMessage(1));
        assert_eq!(battery(100, 1, 0), BatteryEnd::AtMessage(1000));
        assert_eq!(battery(100, 0, 0), BatteryEnd::Never);
        assert!(matches!(battery(50, 10, 5), BatteryEnd::Unplaceable(_)));
        assert!(matches!(battery(0, 10, 0), BatteryEnd::Unplaceable(_)));
    }

    #[test]
    fn a_flat_battery_is_cued_off_at_its_message_and_back_at_healing_unrecorded() {
        let text = HEAD.replace(
            "tmk: 0123456789ABCDEF}]",
            "tmk: 0123456789ABCDEF, config: {battery_start_percent: 3, \
             battery_drain_per_message_permille: 20}}]",
        );
        let plan = plan(&parse_and_compile(&text, "c.yaml").unwrap());
        assert!(plan.unplaceable.is_empty(), "{:?}", plan.unplaceable);
        let [cue] = plan.cues.as_slice() else { panic!("one cue: {:?}", plan.cues) };
        assert_eq!(cue.when, CueWhen::Message { nth: 2 });
        assert_eq!(cue.when.host_cut(), Some(crate::live::host::CutAt::Message { nth: 2 }));
        assert_eq!((cue.back, cue.off_ms()), (PowerBack::AtHealing, None));
        assert!(!cue.recorded, "the simulator records no fault for its own battery");
        assert!(cue.words.starts_with("the battery runs out as message 2 leaves"), "{}", cue.words);
    }

    #[test]
    fn a_switch_crash_is_played_as_a_crash_and_a_restart() {
        let plan = with_faults(
            "  scheduled: [{at_ms: 10050, kind: crash, host: switch, restart_after_ms: 15000}]\n",
        );
        assert!(plan.unplaceable.is_empty(), "{:?}", plan.unplaceable);
        let host: Vec<(u64, &HostAction, FaultKind, &str)> =
            plan.host.iter().map(|h| (h.at_ms, &h.action, h.kind, h.target.as_str())).collect();
        assert_eq!(
            host,
            [
                (10050, &HostAction::SwitchCrash, FaultKind::HostCrash, "switch"),
                (25050, &HostAction::SwitchRestart, FaultKind::HostRestart, "switch"),
            ]
        );
        // The crash lands while the inquiry given at 9000 ms is in the air
        // (until its timeout): both steps count from its request's arrival,
        // which the simulated switch reads 25 ms (the default link's 20 ms
        // latency and a 5 ms tick) after the inquiry left.
        let anchors: Vec<Option<Anchor>> = plan.host.iter().map(|h| h.anchor).collect();
        assert_eq!(
            anchors,
            [Some(Anchor { item: 2, offset_ms: 1025 }), Some(Anchor { item: 2, offset_ms: 16025 }),]
        );
        // Before any trade, or after a settlement: at its time.
        let early = with_faults("  scheduled: [{at_ms: 2000, kind: cutoff, for_ms: 5000}]\n");
        assert!(early.host.iter().all(|h| h.anchor.is_none()), "{:?}", early.host);
        let late = with_faults("  scheduled: [{at_ms: 75000, kind: cutoff, for_ms: 5000}]\n");
        assert!(late.host.iter().all(|h| h.anchor.is_none()), "{:?}", late.host);
        let network = with_faults(
            "  scheduled: [{at_ms: 10, kind: crash, host: network, restart_after_ms: 5}]\n",
        );
        assert_eq!(network.unplaceable, ["scheduled crash at 10 ms"]);
    }

    #[test]
    fn a_late_copy_and_a_lost_answer_share_a_trade_but_two_on_one_side_do_not() {
        let plan = with_faults(
            "  protocol:\n\
             \x20   - {kind: drop_answer, terminal: CT080001, trade: 1}\n\
             \x20   - {kind: duplicate_request, terminal: CT080001, trade: 1, after_ms: 5000}\n",
        );
        assert!(plan.unplaceable.is_empty(), "{:?}", plan.unplaceable);
        let plan = with_faults(
            "  protocol:\n\
             \x20   - {kind: drop_answer, terminal: CT080001, trade: 1}\n\
             \x20   - {kind: corrupt_answer, terminal: CT080001, trade: 1}\n\
             \x20   - {kind: drop_request, terminal: CT080001, trade: 2}\n\
             \x20   - {kind: duplicate_request, terminal: CT080001, trade: 2}\n\
             \x20   - {kind: drop_answer, terminal: CT080001, trade: 3}\n\
             \x20   - {kind: reset_after_request, terminal: CT080001, trade: 3}\n",
        );
        assert_eq!(plan.unplaceable.len(), 3, "{:?}", plan.unplaceable);
    }

    #[test]
    fn a_frame_fault_up_the_line_is_played_and_one_down_it_is_not() {
        let plan = with_faults(
            "  protocol:\n\
             \x20   - {kind: frame, terminal: CT080001, direction: up, frame: 3, action: corrupt}\n\
             \x20   - {kind: frame, terminal: CT080001, direction: up, frame: 4, action: drop}\n\
             \x20   - {kind: frame, terminal: CT080001, direction: down, frame: 2, action: drop}\n",
        );
        assert_eq!(plan.unplaceable, ["drop frame 2 down"]);
    }
}
