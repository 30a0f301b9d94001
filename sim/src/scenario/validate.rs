//! Checking what a scenario means, each mistake reported at the line and
//! column of the offending value.
//!
//! The checks are the compiler's: [`Scenario::compile`] refuses anything it
//! cannot build (an unknown merchant, a TMK too short for its key mode, a
//! range upside down, an actor configuration its own `validate()` refuses)
//! with a [`CompileError`] naming the value's [`FieldPath`];
//! [`validate`] finds that path in the text. Keeping one set of checks, in
//! one place, means a scenario that validates always compiles.
//!
//! ```
//! use possim_sim::scenario::{parse, validate};
//! let text = "name: x\nmerchants: [{id: M1}]\nissuers: [{index: 0, bins: ['622202']}]\n\
//!             terminals:\n  - {id: T1, merchant: M2, tmk: 0123456789ABCDEF}\n";
//! let scenario = parse(text, "x.yaml").unwrap();
//! let error = validate(&scenario, text, "x.yaml").unwrap_err();
//! assert_eq!(error.headline(), "x.yaml:5:24: unknown merchant M2");
//! ```

use std::collections::BTreeSet;

use super::bounds;
use super::compile::CompiledScenario;
use super::error::{CompileError, FieldPath, ScenarioError};
use super::locate::Locations;
use super::model::{
    CashierCommand, Expectations, Fault, FaultPlan, FrameAction, LineProfile, ProtocolFault,
    RangeMs, RunSettings, Scenario, ScriptedCommand, ScriptedTrade, SwarmBounds, SwarmPlaced,
    SwarmPlacement, Workload,
};
use possim_models::iso8583::values::Pan;

use crate::oracle::Invariant;

/// The invariants the oracle checks, by the names `expect.violates` uses:
/// [`Invariant::ALL`]'s names, the one list there is.
pub const INVARIANTS: [&str; Invariant::ALL.len()] = {
    let mut names = [""; Invariant::ALL.len()];
    let mut index = 0;
    while index < names.len() {
        names[index] = Invariant::ALL[index].name();
        index += 1;
    }
    names
};

/// The line profile every scenario has, with [`LineProfile::default`].
pub const CLEAN_LINK: &str = "clean";

/// Checks `scenario` (parsed from `text`, read from `file`); the first
/// mistake found is returned at its place in the text.
pub fn validate(scenario: &Scenario, text: &str, file: &str) -> Result<(), ScenarioError> {
    compile_located(scenario, text, file).map(|_| ())
}

/// Compiles, turning a compile error's path into a line and column of `text`.
pub(crate) fn compile_located(
    scenario: &Scenario,
    text: &str,
    file: &str,
) -> Result<CompiledScenario, ScenarioError> {
    if let Some(locations) = Locations::of(text) {
        overwritten_config_keys(scenario, &locations)
            .map_err(|error| locate(&error, text, file))?;
    }
    scenario.compile().map_err(|error| locate(&error, text, file))
}

/// A terminal's identity, TMK and calendar come from its spec and from
/// `run`; the same keys written inside its `config` would be silently
/// replaced, so they are refused where they are written.
fn overwritten_config_keys(scenario: &Scenario, locations: &Locations) -> Result<(), CompileError> {
    let owners = [
        ("terminals", scenario.terminals.len()),
        ("terminal_groups", scenario.terminal_groups.len()),
    ];
    for (section, count) in owners {
        for index in 0..count {
            let config = FieldPath::root().key(section).index(index).key("config");
            for (key, instead) in [
                ("terminal_id", "the terminal's id"),
                ("merchant_id", "the terminal's merchant"),
                ("tmk", "the terminal's tmk"),
                ("calendar", "run.start_date"),
            ] {
                let path = config.key(key);
                if locations.contains(&path) {
                    return fail(
                        path,
                        format!("config.{key} is taken from {instead}; remove it here"),
                    );
                }
            }
        }
    }
    Ok(())
}

/// Places a compile error in `text`.
pub fn locate(error: &CompileError, text: &str, file: &str) -> ScenarioError {
    let (line, column) = Locations::of(text).map_or((1, 1), |map| map.find(&error.path));
    ScenarioError::at(file, text, line, column, error.message.clone())
}

fn fail<T>(path: FieldPath, message: impl Into<String>) -> Result<T, CompileError> {
    Err(CompileError::new(path, message))
}

/// `MM-DD`, a real day of a non-leap year.
pub(crate) fn parse_start_date(text: &str) -> Option<(u8, u8)> {
    const DAYS: [u8; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let bytes = text.as_bytes();
    if bytes.len() != 5 || bytes[2] != b'-' {
        return None;
    }
    let two = |at: usize| -> Option<u8> {
        let (high, low) = (bytes[at], bytes[at + 1]);
        (high.is_ascii_digit() && low.is_ascii_digit()).then(|| (high - b'0') * 10 + (low - b'0'))
    };
    let (month, day) = (two(0)?, two(3)?);
    ((1..=12).contains(&month) && day >= 1 && day <= DAYS[usize::from(month - 1)])
        .then_some((month, day))
}

pub(crate) fn check_run(run: &RunSettings) -> Result<(u8, u8), CompileError> {
    let at = FieldPath::root().key("run");
    if run.tick_ms == 0 {
        return fail(at.key("tick_ms"), "tick_ms must be at least 1");
    }
    if run.safety_ms == 0 {
        return fail(at.key("safety_ms"), "safety_ms must be at least 1");
    }
    if run.safety_ms < run.tick_ms {
        return fail(at.key("safety_ms"), "safety_ms is shorter than one tick");
    }
    let run_ms = run.safety_ms.saturating_add(run.healing_max_ms);
    if run_ms > bounds::RUN_MS_MAX {
        let field = if run.safety_ms > bounds::RUN_MS_MAX { "safety_ms" } else { "healing_max_ms" };
        return fail(
            at.key(field),
            bounds::over(
                "the run (safety_ms + healing_max_ms)",
                run_ms,
                "RUN_MS_MAX",
                bounds::RUN_MS_MAX,
            ),
        );
    }
    if run.open_hour > 23 {
        return fail(at.key("open_hour"), format!("open_hour {} is not 0 to 23", run.open_hour));
    }
    parse_start_date(&run.start_date).ok_or_else(|| {
        CompileError::new(
            at.key("start_date"),
            format!("start_date {:?} is not a day written MM-DD", run.start_date),
        )
    })
}

fn check_range(at: &FieldPath, range: RangeMs) -> Result<(), CompileError> {
    if range.min > range.max {
        return fail(at.key("min"), format!("min {} is above max {}", range.min, range.max));
    }
    Ok(())
}

/// A rate per hour: finite and not negative.
fn check_rate(at: FieldPath, value: f64) -> Result<(), CompileError> {
    if !value.is_finite() || value < 0.0 {
        return fail(at, format!("{value} is not a rate (a finite number, 0 or more)"));
    }
    Ok(())
}

fn check_probability(at: FieldPath, value: f64) -> Result<(), CompileError> {
    if !(0.0..=1.0).contains(&value) {
        return fail(at, format!("{value} is not a probability (0 to 1)"));
    }
    Ok(())
}

pub(crate) fn check_link(name: &str, profile: &LineProfile) -> Result<(), CompileError> {
    let at = FieldPath::root().key("links").key(name);
    if name == CLEAN_LINK {
        return fail(at, "the clean line profile is built in and cannot be redefined");
    }
    if name.is_empty() {
        return fail(at, "a line profile needs a name");
    }
    check_range(&at.key("latency_ms"), profile.latency_ms)?;
    check_range(&at.key("blackhole_ms"), profile.blackhole_ms)?;
    check_rate(at.key("blackholes_per_hour"), profile.blackholes_per_hour)?;
    check_rate(at.key("resets_per_hour"), profile.resets_per_hour)?;
    check_probability(at.key("duplicate_per_frame"), profile.duplicate_per_frame)?;
    check_probability(at.key("corrupt_per_frame"), profile.corrupt_per_frame)?;
    check_probability(at.key("drop_per_frame"), profile.drop_per_frame)?;
    Ok(())
}

pub(crate) fn check_workload(workload: &Workload) -> Result<(), CompileError> {
    let at = FieldPath::root().key("workload");
    check_rate(at.key("arrivals_per_terminal_per_hour"), workload.arrivals_per_terminal_per_hour)?;
    check_probability(at.key("wrong_pin_per_trade"), workload.wrong_pin_per_trade)?;
    let mix = &workload.mix;
    let weights =
        [mix.sale, mix.inquiry, mix.void, mix.refund, mix.pre_auth, mix.offline_sale, mix.ecash];
    if weights.iter().all(|weight| *weight == 0) {
        return fail(at.key("mix"), "the trade mix is all zero: no trade could be drawn");
    }
    if weights.iter().map(|weight| u64::from(*weight)).sum::<u64>() > u64::from(u32::MAX) {
        return fail(at.key("mix"), "the trade mix weights add up to more than 4294967295");
    }
    let follow = &workload.pre_auth_follow_up;
    let at_follow = at.key("pre_auth_follow_up");
    let follow_weights =
        [follow.completion, follow.completion_advice, follow.cancel, follow.nothing];
    if follow_weights.iter().all(|weight| *weight == 0) {
        return fail(at_follow, "the pre-auth follow-up weights are all zero");
    }
    if follow_weights.iter().map(|weight| u64::from(*weight)).sum::<u64>() > u64::from(u32::MAX) {
        return fail(at_follow, "the pre-auth follow-up weights add up to more than 4294967295");
    }
    check_range(&at_follow.key("after_ms"), follow.after_ms)?;
    if follow.after_ms.max > crate::scenario::bounds::RUN_MS_MAX {
        return fail(at_follow.key("after_ms").key("max"), "a follow-up comes within a week");
    }
    let amount = RangeMs { min: workload.amount_fen.min, max: workload.amount_fen.max };
    check_range(&at.key("amount_fen"), amount)?;
    if workload.amount_fen.min == 0 {
        return fail(at.key("amount_fen").key("min"), "a trade amount is at least 1 fen");
    }
    if workload.amount_fen.max > 999_999_999_999 {
        return fail(at.key("amount_fen").key("max"), "an amount is at most 12 digits of fen");
    }
    Ok(())
}

/// Every scripted trade lands in the safety phase, on a known terminal,
/// with a known card and an amount the wire can carry.
pub(crate) fn check_script(
    script: &[ScriptedTrade],
    targets: &Targets<'_>,
    cards: &BTreeSet<Pan>,
) -> Result<(), CompileError> {
    let root = FieldPath::root().key("workload").key("script");
    for (index, trade) in script.iter().enumerate() {
        let at = root.index(index);
        if trade.at_ms >= targets.safety_ms {
            return fail(
                at.key("at_ms"),
                format!(
                    "at_ms {} is not within the safety phase (safety_ms {})",
                    trade.at_ms, targets.safety_ms
                ),
            );
        }
        targets.terminal(at.key("terminal"), trade.terminal.trimmed())?;
        if !cards.contains(&trade.card) {
            return fail(at.key("card"), format!("unknown card {}", trade.card));
        }
        if trade.amount_fen == 0 || trade.amount_fen > 999_999_999_999 {
            return fail(at.key("amount_fen"), "an amount is 1 fen to 12 digits of fen");
        }
    }
    Ok(())
}

/// Every scripted command lands in the safety phase on a known terminal,
/// with numbers the wire can carry.
pub(crate) fn check_commands(
    commands: &[ScriptedCommand],
    targets: &Targets<'_>,
) -> Result<(), CompileError> {
    let root = FieldPath::root().key("workload").key("commands");
    for (index, scripted) in commands.iter().enumerate() {
        let at = root.index(index);
        if scripted.at_ms >= targets.safety_ms {
            return fail(
                at.key("at_ms"),
                format!(
                    "at_ms {} is not within the safety phase (safety_ms {})",
                    scripted.at_ms, targets.safety_ms
                ),
            );
        }
        targets.terminal(at.key("terminal"), scripted.terminal.trimmed())?;
        let numbers: Vec<(&str, u64, u64)> = match &scripted.command {
            CashierCommand::ReprintByStan { stan } => vec![("stan", u64::from(*stan), 999_999)],
            CashierCommand::Void { batch, stan, amount_fen } => vec![
                ("batch", u64::from(*batch), 999_999),
                ("stan", u64::from(*stan), 999_999),
                ("amount_fen", *amount_fen, 999_999_999_999),
            ],
            _ => Vec::new(),
        };
        for (key, value, max) in numbers {
            if value == 0 || value > max {
                return fail(at.key(key), format!("{key} {value} is not 1 to {max}"));
            }
        }
    }
    Ok(())
}

fn check_swarm(swarm: &SwarmBounds) -> Result<(), CompileError> {
    let at = FieldPath::root().key("faults").key("swarm");
    let bounds: [(&str, [f64; 2], bool); 9] = [
        ("blackholes_per_hour", swarm.blackholes_per_hour, false),
        ("resets_per_hour", swarm.resets_per_hour, false),
        ("drop_per_frame", swarm.drop_per_frame, true),
        ("duplicate_per_frame", swarm.duplicate_per_frame, true),
        ("corrupt_per_frame", swarm.corrupt_per_frame, true),
        ("power_cuts_per_hour", swarm.power_cuts_per_hour, false),
        ("printer_faults_per_hour", swarm.printer_faults_per_hour, false),
        ("partitions_per_hour", swarm.partitions_per_hour, false),
        ("switch_crashes_per_hour", swarm.switch_crashes_per_hour, false),
    ];
    for (name, [low, high], per_frame) in bounds {
        for (index, value) in [low, high].into_iter().enumerate() {
            let place = at.key(name).index(index);
            if per_frame {
                check_probability(place, value)?;
            } else {
                check_rate(place, value)?;
            }
        }
        if low > high {
            return fail(
                at.key(name).index(0),
                format!("{name}: lower bound {low} is above upper bound {high}"),
            );
        }
    }
    check_swarm_placed(&swarm.placed, at.key("placed"))
}

/// The most placements one seed may draw: each is a fault on one trade,
/// and a seed with dozens says less than several seeds with a few.
pub const SWARM_PLACED_PER_SEED_MAX: u32 = 16;
/// The highest trade number a placement may draw.
pub const SWARM_PLACED_TRADE_MAX: u32 = 10_000;

fn check_swarm_placed(placed: &SwarmPlaced, at: FieldPath) -> Result<(), CompileError> {
    let [low, high] = placed.per_seed;
    if high > SWARM_PLACED_PER_SEED_MAX {
        return fail(
            at.key("per_seed").index(1),
            format!("at most {SWARM_PLACED_PER_SEED_MAX} placements a seed, not {high}"),
        );
    }
    if low > high {
        return fail(
            at.key("per_seed").index(0),
            format!("per_seed: lower bound {low} is above upper bound {high}"),
        );
    }
    if !(1..=SWARM_PLACED_TRADE_MAX).contains(&placed.trade_max) {
        return fail(
            at.key("trade_max"),
            format!(
                "expected a trade number from 1 to {SWARM_PLACED_TRADE_MAX}, not {}",
                placed.trade_max
            ),
        );
    }
    check_probability(at.key("focus"), placed.focus)?;
    for (kind, weight) in &placed.weights {
        if *weight > SwarmPlacement::WEIGHT_MAX {
            return fail(
                at.key("weights").key(kind.name()),
                format!("expected a weight from 0 to {}, not {weight}", SwarmPlacement::WEIGHT_MAX),
            );
        }
    }
    if high > 0 && placed.weights.values().all(|weight| *weight == 0) {
        return fail(
            at.key("weights"),
            format!("per_seed asks for up to {high} placements but every weight is 0"),
        );
    }
    Ok(())
}

/// What faults may name: hosts, terminals with their response timeouts,
/// and issuer indexes.
pub(crate) struct Targets<'a> {
    pub hosts: &'a BTreeSet<String>,
    /// Terminal id (trimmed) → response timeout in ms.
    pub terminals: &'a std::collections::BTreeMap<String, u64>,
    pub issuers: &'a BTreeSet<u16>,
    pub safety_ms: u64,
}

impl Targets<'_> {
    fn host(&self, at: FieldPath, host: &str) -> Result<(), CompileError> {
        if !self.hosts.contains(host) {
            let known: Vec<&str> = self.hosts.iter().map(String::as_str).collect();
            return fail(at, format!("unknown host {host:?} (hosts: {})", known.join(", ")));
        }
        Ok(())
    }

    fn terminal(&self, at: FieldPath, terminal: &str) -> Result<u64, CompileError> {
        self.terminals
            .get(terminal)
            .copied()
            .ok_or_else(|| CompileError::new(at, format!("unknown terminal {terminal}")))
    }

    fn issuer(&self, at: FieldPath, issuer: u16) -> Result<(), CompileError> {
        if !self.issuers.contains(&issuer) {
            return fail(at, format!("unknown issuer {issuer}"));
        }
        Ok(())
    }
}

pub(crate) fn check_faults(plan: &FaultPlan, targets: &Targets<'_>) -> Result<(), CompileError> {
    let faults = FieldPath::root().key("faults");
    for (index, scheduled) in plan.scheduled.iter().enumerate() {
        let at = faults.key("scheduled").index(index);
        if scheduled.at_ms >= targets.safety_ms {
            return fail(
                at.key("at_ms"),
                format!(
                    "at_ms {} is not within the safety phase (safety_ms {})",
                    scheduled.at_ms, targets.safety_ms
                ),
            );
        }
        if let Some(terminal) = scheduled.fault.terminal() {
            targets.terminal(at.key("terminal"), terminal.trimmed())?;
        }
        match &scheduled.fault {
            Fault::Partition { between, for_ms } | Fault::Hold { between, for_ms } => {
                for (side, host) in between.iter().enumerate() {
                    targets.host(at.key("between").index(side), host)?;
                }
                if between[0] == between[1] {
                    return fail(at.key("between").index(1), "a link joins two different hosts");
                }
                if *for_ms == 0 {
                    return fail(at.key("for_ms"), "for_ms must be at least 1");
                }
            }
            Fault::Crash { host, .. } => targets.host(at.key("host"), host)?,
            Fault::IssuerDown { issuer, for_ms } | Fault::IssuerSilent { issuer, for_ms } => {
                targets.issuer(at.key("issuer"), *issuer)?;
                if *for_ms == 0 {
                    return fail(at.key("for_ms"), "for_ms must be at least 1");
                }
            }
            Fault::Cutoff { for_ms } => {
                if *for_ms == 0 {
                    return fail(at.key("for_ms"), "for_ms must be at least 1");
                }
            }
            Fault::Battery { percent, .. } if *percent > 100 => {
                return fail(at.key("percent"), format!("percent {percent} is over 100"));
            }
            Fault::PowerCut { .. }
            | Fault::Printer { .. }
            | Fault::Tamper { .. }
            | Fault::Battery { .. }
            | Fault::Blackhole { .. }
            | Fault::Reset { .. }
            | Fault::Replace { .. } => {}
        }
    }
    for (index, fault) in plan.protocol.iter().enumerate() {
        let at = faults.key("protocol").index(index);
        let (terminal, trade) = (fault.terminal(), fault.trade());
        let timeout_ms = targets.terminal(at.key("terminal"), terminal.trimmed())?;
        if let ProtocolFault::AnswerCode { code, .. } = fault {
            if !super::model::LIVE_ANSWER_CODES.contains(&code.as_str()) {
                return fail(
                    at.key("code"),
                    format!(
                        "answer_code {code:?} is not a host refusal (one of {})",
                        super::model::LIVE_ANSWER_CODES.join(", ")
                    ),
                );
            }
        }
        if trade == Some(0) {
            return fail(at.key("trade"), "trades are counted from 1");
        }
        match fault {
            ProtocolFault::CutoffDuringSettlement { for_ms: 0, .. } => {
                return fail(at.key("for_ms"), "for_ms must be at least 1");
            }
            ProtocolFault::SwitchCrashWithReversalsQueued { restart_after_ms: 0, .. } => {
                return fail(at.key("restart_after_ms"), "restart_after_ms must be at least 1");
            }
            _ => {}
        }
        if let ProtocolFault::Frame { frame, action, delay_ms, byte, bit, .. } = fault {
            check_frame_fault(&at, *frame, *action, *delay_ms, *byte, *bit)?;
        }
        if let ProtocolFault::DelayAnswer { offset_ms, .. } = fault {
            if offset_ms.unsigned_abs() > timeout_ms && *offset_ms < 0 {
                return fail(
                    at.key("offset_ms"),
                    format!(
                        "offset_ms {offset_ms} reaches before the request (the terminal's \
                         response timeout is {timeout_ms} ms)"
                    ),
                );
            }
        }
    }
    check_swarm(&plan.swarm)
}

/// What the simulated world needs beyond a valid scenario: a card for its
/// cardholders to draw (live mode serves a real terminal's own cards), and
/// no fault kind that exists only on a real socket
/// (`faults.protocol[i]: kind reset_after_request is live only ...`).
pub fn check_simulable_scenario(compiled: &CompiledScenario) -> Result<(), CompileError> {
    if compiled.cards.is_empty() {
        return fail(
            FieldPath::root().key("cards"),
            "a simulated run needs at least one card (cards or card_groups)",
        );
    }
    check_simulable(&compiled.faults)
}

/// Refuses fault kinds that exist only on a real socket, for the simulated
/// world: `faults.protocol[i]: kind reset_after_request is live only ...`.
pub fn check_simulable(plan: &FaultPlan) -> Result<(), CompileError> {
    for (index, fault) in plan.protocol.iter().enumerate() {
        if fault.is_live_only() {
            return fail(
                FieldPath::root().key("faults").key("protocol").index(index).key("kind"),
                format!(
                    "fault kind {} exists only live (possim serve / possim drive); \
                     the simulated world cannot run it",
                    fault.kind_name()
                ),
            );
        }
    }
    Ok(())
}

/// Refuses fault kinds that exist only in the simulated world, for
/// `possim serve` and `possim drive`: a switch crash, a cutoff, or a power
/// cut on a moment a live shim cannot see.
pub fn check_live(plan: &FaultPlan) -> Result<(), CompileError> {
    for (index, fault) in plan.protocol.iter().enumerate() {
        if fault.is_simulated_only() {
            let at = FieldPath::root().key("faults").key("protocol").index(index);
            let (at, what) = match fault {
                ProtocolFault::PowerOff { phase, .. } => {
                    (at.key("phase"), format!("power_off phase {}", phase_name(*phase)))
                }
                _ => (at.key("kind"), format!("fault kind {}", fault.kind_name())),
            };
            return fail(
                at,
                format!(
                    "{what} exists only in the simulated world (possim run, sweep); \
                     possim serve and possim drive cannot run it"
                ),
            );
        }
    }
    Ok(())
}

fn phase_name(phase: crate::scenario::model::PowerPhase) -> String {
    serde_json::to_value(phase)
        .ok()
        .and_then(|value| value.as_str().map(String::from))
        .unwrap_or_default()
}

fn check_frame_fault(
    at: &FieldPath,
    frame: u32,
    action: FrameAction,
    delay_ms: Option<u64>,
    byte: Option<u32>,
    bit: Option<u8>,
) -> Result<(), CompileError> {
    if frame == 0 {
        return fail(at.key("frame"), "frames are counted from 1");
    }
    if action == FrameAction::Delay && delay_ms.is_none() {
        return fail(at.key("action"), "a delay needs delay_ms");
    }
    if let Some(byte) = byte.filter(|byte| *byte < 2) {
        return fail(
            at.key("byte"),
            format!("byte {byte} is inside the length prefix (2 or more)"),
        );
    }
    if let Some(bit) = bit.filter(|bit| *bit > 7) {
        return fail(at.key("bit"), format!("bit {bit} is not 0 to 7"));
    }
    Ok(())
}

pub(crate) fn check_expect(expect: &Expectations) -> Result<(), CompileError> {
    let at = FieldPath::root().key("expect");
    for (key, names) in [("violates", &expect.violates), ("also_violates", &expect.also_violates)] {
        for (index, name) in names.iter().enumerate() {
            if !INVARIANTS.contains(&name.as_str()) {
                return fail(
                    at.key(key).index(index),
                    format!("unknown invariant {name:?} (invariants: {})", INVARIANTS.join(", ")),
                );
            }
        }
    }
    if expect.violates.is_empty() && !expect.also_violates.is_empty() {
        return fail(
            at.key("also_violates"),
            "also_violates names what a variant breaks besides its `violates`; list those first",
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_dates_are_real_days() {
        assert_eq!(parse_start_date("02-28"), Some((2, 28)));
        assert_eq!(parse_start_date("02-29"), None);
        assert_eq!(parse_start_date("2-28"), None);
        assert_eq!(parse_start_date("13-01"), None);
        assert_eq!(parse_start_date("11/21"), None);
    }
}
