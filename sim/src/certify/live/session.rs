//! `possim certify --serve`'s run: the cases one after another against the
//! real terminal that connects to the listener. For each case a recording
//! [`LiveHost`] plays switch, network and issuers with the case's host-side
//! faults; the operator gets the case line, then each instruction once the
//! previous one is acknowledged and not before its `at_ms`; a power cut cue
//! goes out at the moment the wire shows, even while another instruction is
//! outstanding; after a trade whose answer did not come back intact the
//! cashier's "send pending" follows `send_pending_after_ms` later, as in the
//! simulator, when that comes before the script's next item. Scheduled host
//! faults play at their time, or from the request of the trade they land in
//! ([`Anchor`]); a switch crash closes the terminal's connections and
//! refuses new ones until the restart. A `frame` fault up the line garbles
//! or loses the terminal's Nth frame before the host reads it. Every wait
//! has a deadline: the operator's `ready` and each acknowledgement
//! (`operator_timeout_ms`), the quiet after the script (`linger_ms`, or a
//! short one once the case is decided: [`end`]), and the whole case
//! ([`case_bound_ms`]). The case is then judged from its records
//! ([`judge`](super::judge)).
//!
//! The operator's side is two channels: lines possim writes (JSON or, for a
//! person, sentences) and answers it reads ([`OperatorInput`]); in console
//! mode no answer is read and an instruction counts as done when the
//! terminal's next frame arrives.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::end;
use super::identity::{self, DeviceIdentity};
use super::judge::{judge, LiveVerdict};
use super::operator::{self, AckResult, Answer, CardLine, CaseSetup, Instruction};
use super::plan::{
    plan, Anchor, CueWhen, HostAction, HostStep, Plan, Planned, PowerBack, TRADE_ACTIONS,
};
use super::wire::WireWatch;
use crate::certify::case::Case;
use crate::certify::evidence::Evidence;
use crate::certify::runner::LoadedCase;
use crate::live::host::{HostOutput, LiveHost};
use crate::live::listener::{connection, Input, Outgoing};
use crate::live::log::LiveLog;
use crate::scenario::compile::CompiledScenario;
use crate::scenario::model::{LineDirection, ProtocolFault};
use crate::trace::{Fate, FaultCause, FaultKind, FaultRecord, FrameSlot, Phase, Trace, TraceEvent};

/// Records one live case may keep; past it the case ends, not exercised,
/// saying so (a real terminal that floods the host is not judged on a cut).
pub const CASE_RECORDS_MAX: usize = 200_000;
/// Connections open at once; a real terminal needs one.
pub const CONNECTIONS_MAX: usize = 16;
/// Frames waiting for the host.
const INPUTS_MAX: usize = 1024;
/// A connection that completes no frame for this long is closed.
const IDLE_MS: u64 = 600_000;
/// Instructions outstanding at once: the action, and a power cut landing on it.
const OUTSTANDING_MAX: usize = 4;

/// How the operator is spoken to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperatorMode {
    /// Sentences for a person; nothing is read back.
    Console,
    /// JSON Lines both ways.
    Json,
}

#[derive(Debug, Clone)]
pub struct LiveOptions {
    pub mode: OperatorMode,
    /// The deadline of the operator's `ready` and of each acknowledgement.
    pub operator_timeout_ms: u64,
    /// After the last instruction, the case ends once the terminal has sent
    /// nothing for this long (or for [`end::SETTLED_QUIET_MS`], when less,
    /// once the case is decided).
    pub linger_ms: u64,
    pub identity: DeviceIdentity,
}

impl Default for LiveOptions {
    fn default() -> LiveOptions {
        LiveOptions {
            mode: OperatorMode::Console,
            operator_timeout_ms: 60_000,
            linger_ms: 3_000,
            identity: DeviceIdentity::default(),
        }
    }
}

/// One line from the operator's side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperatorInput {
    Line(String),
    /// A line past [`operator::LINE_BYTES_MAX`].
    TooLong,
    /// The operator's stream closed.
    Closed,
}

/// A case ready to run live.
#[derive(Debug, Clone)]
pub struct PreparedCase {
    pub case: Case,
    pub compiled: CompiledScenario,
    pub plan: Plan,
    pub setup: CaseSetup,
}

/// The case with the device's identity in place, and its instructions.
pub fn prepare(loaded: &LoadedCase, device: &DeviceIdentity) -> Result<PreparedCase, String> {
    let scenario = identity::apply(&loaded.scenario, device)?;
    let compiled = scenario.compile().map_err(|error| error.to_string())?;
    let case = scenario.case.clone().unwrap_or_else(|| loaded.case.clone());
    let plan = plan(&compiled);
    let terminal = compiled.terminals.first().ok_or("the case names no terminal")?;
    let config = &terminal.config;
    let key_mode = serde_json::to_value(config.key_mode)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let cards = scenario
        .cards
        .iter()
        .map(|card| CardLine {
            pan: card.pan.as_str().to_string(),
            pin: (!card.pin.is_empty()).then(|| card.pin.clone()),
        })
        .collect();
    let setup = CaseSetup {
        case: case.id.clone(),
        title: case.title.clone(),
        terminal: config.terminal_id.trimmed().to_string(),
        merchant: config.merchant_id.as_str().to_string(),
        tmk: config.tmk.clone(),
        key_mode,
        response_timeout_ms: config.response_timeout_ms,
        cards,
        settings: device_settings(config),
    };
    Ok(PreparedCase { case, compiled, plan, setup })
}

/// A terminal's settings an operator configures on a real device; the
/// case line carries those the case sets away from their defaults.
pub const DEVICE_SETTINGS: [&str; 6] = [
    "stan_start",
    "reversal_tries_max",
    "reversal_exhausted",
    "journal_max",
    "offline_queue_max",
    "sign_off_after_settlement",
];

fn device_settings(
    config: &possim_models::terminal::TerminalConfig,
) -> serde_json::Map<String, serde_json::Value> {
    let own = serde_json::to_value(config).unwrap_or_default();
    let default = serde_json::to_value(possim_models::terminal::TerminalConfig::default())
        .unwrap_or_default();
    DEVICE_SETTINGS
        .iter()
        .filter(|key| own.get(**key).is_some() && own.get(**key) != default.get(**key))
        .map(|key| (key.to_string(), own[*key].clone()))
        .collect()
}

/// The longest a case may take: its script, each instruction's deadline,
/// and the quiet after.
pub fn case_bound_ms(case: &PreparedCase, options: &LiveOptions) -> u64 {
    let last_ms =
        case.plan.items.last().map_or(0, |item| item.at_ms).max(case.compiled.run.safety_ms);
    let waits = (case.plan.items.len() + 2 * case.plan.cues.len() + 3) as u64;
    // A cut lasting until healing ends within the script's time already.
    let cue_ms: u64 = case.plan.cues.iter().filter_map(|cue| cue.off_ms()).sum();
    last_ms + cue_ms + waits * options.operator_timeout_ms + 2 * options.linger_ms
}

/// One case's result.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveCaseResult {
    pub id: String,
    pub title: String,
    pub verdict: LiveVerdict,
    pub wall_ms: u64,
    /// The steps beside the frames the case saw; `None` when it ended
    /// before the terminal was asked anything.
    pub evidence: Option<Evidence>,
}

/// How the run ended.
#[derive(Debug)]
pub enum RunEnd {
    /// Every case ran (each passed, failed or not exercised).
    Finished(Vec<LiveCaseResult>),
    /// The operator's stream closed during this case.
    OperatorLeft { case: String, results: Vec<LiveCaseResult> },
    /// An operator line broke the protocol: its number and what was expected.
    ScriptError { line: u64, what: String },
}

/// Where lines for the operator go (stdout), and progress (stderr).
pub struct OperatorOut<'a> {
    pub lines: &'a mut dyn Write,
    pub progress: &'a mut dyn Write,
}

impl std::fmt::Debug for OperatorOut<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OperatorOut")
    }
}

impl OperatorOut<'_> {
    fn line(&mut self, value: &serde_json::Value) {
        let _ = writeln!(self.lines, "{value}");
        let _ = self.lines.flush();
    }

    fn text(&mut self, text: &str) {
        let _ = writeln!(self.lines, "{text}");
        let _ = self.lines.flush();
    }

    fn progress(&mut self, text: &str) {
        let _ = writeln!(self.progress, "{text}");
    }
}

/// An instruction given and not yet acknowledged.
#[derive(Debug, Clone)]
struct Outstanding {
    action: String,
    deadline: tokio::time::Instant,
    /// Frames from the terminal when it was given (console mode's "done").
    frames_then: u64,
    /// The terminal's online trade requests when it was given: whether the
    /// action sent one.
    trades_then: usize,
}

/// Why a case stopped before its quiet end.
enum Stop {
    NotExercised(String),
    OperatorLeft,
    Script { line: u64, what: String },
}

/// What the run carries from case to case: the listener, the connections,
/// the operator's stream and its line count, the instruction numbering.
struct Run<'a, 'o> {
    listener: TcpListener,
    options: LiveOptions,
    out: &'a mut OperatorOut<'o>,
    answers: mpsc::Receiver<OperatorInput>,
    line_no: u64,
    seq: u64,
    /// Acknowledgements and `ready`s still owed from cases that gave up on
    /// them: a late one is ignored, not a protocol error.
    expired_seqs: BTreeSet<u64>,
    expired_cases: BTreeSet<String>,
    input_tx: mpsc::Sender<Input>,
    input_rx: mpsc::Receiver<Input>,
    next_conn: u64,
    outboxes: BTreeMap<u64, mpsc::Sender<Outgoing>>,
}

/// Runs `cases` against the terminal that connects to `listener`.
pub async fn run(
    listener: TcpListener,
    cases: Vec<PreparedCase>,
    options: LiveOptions,
    out: &mut OperatorOut<'_>,
    answers: mpsc::Receiver<OperatorInput>,
) -> RunEnd {
    let listen = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let (input_tx, input_rx) = mpsc::channel(INPUTS_MAX);
    let mut run = Run {
        listener,
        options,
        out,
        answers,
        line_no: 0,
        seq: 0,
        expired_seqs: BTreeSet::new(),
        expired_cases: BTreeSet::new(),
        input_tx,
        input_rx,
        next_conn: 0,
        outboxes: BTreeMap::new(),
    };
    match run.options.mode {
        OperatorMode::Json => run.out.line(&operator::hello(&listen)),
        OperatorMode::Console => {
            run.out.text(&format!("possim certify: connect the terminal to {listen}"))
        }
    }
    run.out.progress(&format!("certify --serve: listening on {listen}"));
    let mut results = Vec::with_capacity(cases.len());
    for case in &cases {
        let started = std::time::Instant::now();
        let (verdict, evidence) = match run.case(case).await {
            Ok(judged) => judged,
            Err(Stop::NotExercised(why)) => (LiveVerdict::NotExercised(why), None),
            Err(Stop::OperatorLeft) => {
                return RunEnd::OperatorLeft { case: case.case.id.clone(), results }
            }
            Err(Stop::Script { line, what }) => return RunEnd::ScriptError { line, what },
        };
        run.close_all("the case ended");
        let id = case.case.id.clone();
        match run.options.mode {
            OperatorMode::Json => {
                run.out.line(&operator::end_line(&id, verdict.word(), verdict.why()))
            }
            OperatorMode::Console => {
                run.out.text(&format!("{id}: {} {}", verdict.word(), verdict.why()))
            }
        }
        run.out.progress(&format!("{id}: {} {}", verdict.word(), verdict.why()));
        let wall_ms = started.elapsed().as_millis() as u64;
        let title = case.case.title.clone();
        results.push(LiveCaseResult { id, title, verdict, wall_ms, evidence });
    }
    let count = |word: &str| results.iter().filter(|r| r.verdict.word() == word).count();
    let (passed, failed, not_exercised) = (count("pass"), count("fail"), count("not_exercised"));
    let compliant = !results.is_empty() && passed == results.len();
    match run.options.mode {
        OperatorMode::Json => {
            run.out.line(&operator::bye_line(compliant, passed, failed, not_exercised))
        }
        OperatorMode::Console => run.out.text(&format!(
            "possim certify: {passed} passed, {failed} failed, {not_exercised} not exercised"
        )),
    }
    RunEnd::Finished(results)
}

impl Run<'_, '_> {
    fn close_all(&mut self, reason: &str) {
        for (_, tx) in std::mem::take(&mut self.outboxes) {
            let _ = tx.try_send(Outgoing::Close(reason.to_string()));
        }
    }

    fn deadline_s(&self) -> u64 {
        self.options.operator_timeout_ms.div_ceil(1000)
    }

    /// One operator answer, checked for the protocol's form.
    fn parse(&mut self, input: OperatorInput) -> Result<Answer, Stop> {
        self.line_no += 1;
        let line = self.line_no;
        match input {
            OperatorInput::Closed => Err(Stop::OperatorLeft),
            OperatorInput::TooLong => Err(Stop::Script {
                line,
                what: format!("a line of more than {} bytes", operator::LINE_BYTES_MAX),
            }),
            OperatorInput::Line(text) => operator::parse_answer(&text)
                .map_err(|error| Stop::Script { line, what: error.to_string() }),
        }
    }

    /// Waits for the operator's `ready` for `id`.
    async fn ready(&mut self, id: &str) -> Result<(), Stop> {
        if self.options.mode == OperatorMode::Console {
            return Ok(());
        }
        let deadline =
            tokio::time::Instant::now() + Duration::from_millis(self.options.operator_timeout_ms);
        loop {
            tokio::select! {
                input = self.answers.recv() => {
                    let input = input.unwrap_or(OperatorInput::Closed);
                    match self.parse(input)? {
                        Answer::Ready { case } if case == id => return Ok(()),
                        Answer::Ready { case } if self.expired_cases.contains(&case) => {}
                        Answer::Ack { seq, .. } if self.expired_seqs.contains(&seq) => {}
                        _ => {
                            return Err(Stop::Script {
                                line: self.line_no,
                                what: format!("expected {{\"ready\":\"{id}\"}}"),
                            })
                        }
                    }
                }
                _ = tokio::time::sleep_until(deadline) => {
                    self.expired_cases.insert(id.to_string());
                    return Err(Stop::NotExercised(format!(
                        "the operator did not set up the terminal (ready) within {} s",
                        self.deadline_s()
                    )));
                }
            }
        }
    }

    fn give(
        &mut self,
        case: &PreparedCase,
        instruction: &Instruction,
        outstanding: &mut BTreeMap<u64, Outstanding>,
        (frames, trades): (u64, usize),
    ) {
        self.seq += 1;
        let deadline_ms = self.options.operator_timeout_ms;
        match self.options.mode {
            OperatorMode::Json => {
                let line = operator::do_line(self.seq, &case.case.id, instruction, deadline_ms);
                self.out.line(&line);
            }
            OperatorMode::Console => {
                let text = operator::sentence(
                    &case.case.id,
                    &case.setup.terminal,
                    instruction,
                    deadline_ms,
                );
                self.out.text(&text);
            }
        }
        assert!(outstanding.len() < OUTSTANDING_MAX, "instructions outstanding over the bound");
        let deadline = tokio::time::Instant::now() + Duration::from_millis(deadline_ms);
        outstanding.insert(
            self.seq,
            Outstanding {
                action: instruction.action.clone(),
                deadline,
                frames_then: frames,
                trades_then: trades,
            },
        );
    }

    async fn case(&mut self, case: &PreparedCase) -> Result<(LiveVerdict, Option<Evidence>), Stop> {
        let id = case.case.id.clone();
        let mut host = LiveHost::new(&case.compiled)
            .map_err(|error| Stop::NotExercised(format!("the case's host: {error}")))?;
        let origin = host.start();
        let mut trace = Trace::bounded(CASE_RECORDS_MAX);
        trace.push(
            origin,
            TraceEvent::Setup(crate::world::setup_record(&case.compiled, case.compiled.run.seed)),
        );
        host.record_into(trace);
        host.faults_mut().like_simulator();
        match self.options.mode {
            OperatorMode::Json => self.out.line(&operator::case_line(&case.setup)),
            OperatorMode::Console => self.out.text(&format!(
                "{id}: set up terminal {} (merchant {}, TMK {}) fresh: STAN 1, batch 1, \
                 nothing pending",
                case.setup.terminal, case.setup.merchant, case.setup.tmk
            )),
        }
        self.out.progress(&format!("{id}: {}", case.case.title));
        if !case.plan.unplaceable.is_empty() {
            self.expired_cases.insert(id.clone());
            return Err(Stop::NotExercised(format!(
                "a fault cannot be applied live (the terminal's own, or a host fault the live \
                 host does not play): {}",
                case.plan.unplaceable.join("; ")
            )));
        }
        self.ready(&id).await?;
        let started = tokio::time::Instant::now();
        let now = move || origin + started.elapsed();
        let wall = move |ms: u64| started + Duration::from_millis(ms);
        host.note(now(), TraceEvent::Phase { phase: Phase::Safety });
        let terminal = case.compiled.terminals[0].config.terminal_id;
        for (index, cue) in case.plan.cues.iter().enumerate() {
            if let Some(at) = cue.when.host_cut() {
                let words = cue.recorded.then(|| cue.words.clone());
                host.arm_power_cut(terminal, at, words, index);
            }
        }
        let bound = wall(case_bound_ms(case, &self.options));
        let far = started + Duration::from_secs(365 * 86_400);

        let mut next_item = 0usize;
        let mut outstanding: BTreeMap<u64, Outstanding> = BTreeMap::new();
        let mut cues_fired = vec![false; case.plan.cues.len()];
        // When the power comes back, the cut's words, and whether the trace
        // records it.
        let mut power_on: Option<(tokio::time::Instant, String, bool)> = None;
        let mut frames_from_terminal = 0u64;
        let mut last_frame = tokio::time::Instant::now();
        let mut wire = WireWatch::new(terminal.trimmed());
        let mut finished: Vec<Outstanding> = Vec::new();
        let mut next_host = 0usize;
        // The wire count of trades as each script item was given, and when
        // each trade's request arrived: what an anchored host step counts
        // from (at most the script's items, and the wire's trades).
        let mut item_trades: BTreeMap<usize, usize> = BTreeMap::new();
        let mut frame_at = started;
        let mut trade_in_at: Vec<tokio::time::Instant> = Vec::new();
        let operator_timeout = Duration::from_millis(self.options.operator_timeout_ms);
        let step_due = |step: &HostStep,
                        item_trades: &BTreeMap<usize, usize>,
                        trade_in_at: &[tokio::time::Instant]| {
            let Some(Anchor { item, offset_ms }) = step.anchor else { return wall(step.at_ms) };
            match item_trades.get(&item).and_then(|trades| trade_in_at.get(*trades)) {
                Some(arrived) => *arrived + Duration::from_millis(offset_ms),
                // The trade never came: the fault still happens, late.
                None => wall(step.at_ms) + operator_timeout,
            }
        };
        // The simulator's faults stop as the healing phase begins: a case
        // that names a phase, or whose fault lasts until then, waits for it.
        let heal_at = wall(case.compiled.run.safety_ms);
        let mut healed = false;
        let needs_healing = case.case.steps.iter().any(|step| {
            [Some(step.pattern()), step.never.clone(), step.until.clone()]
                .iter()
                .flatten()
                .any(|pattern| pattern.phase.is_some())
        }) || case
            .compiled
            .faults
            .protocol
            .iter()
            .any(|fault| matches!(fault, ProtocolFault::DropReversals { .. }));
        let mut closing_given = !case.plan.closing_settlement;
        let mut send_pending_at: Option<tokio::time::Instant> = None;
        let send_pending_after_ms = case.compiled.workload.cashier.send_pending_after_ms;

        loop {
            let script_done = next_item >= case.plan.items.len();
            let idle = script_done
                && outstanding.is_empty()
                && power_on.is_none()
                && send_pending_at.is_none()
                && (healed || !needs_healing)
                && next_host >= case.plan.host.len()
                && host.flights_pending() == 0
                && cues_fired
                    .iter()
                    .zip(&case.plan.cues)
                    .all(|(fired, cue)| *fired || !matches!(cue.when, CueWhen::At { .. }));
            let linger_at = last_frame + Duration::from_millis(self.options.linger_ms);
            let settled_ms = end::SETTLED_QUIET_MS.min(self.options.linger_ms);
            let settled_at = last_frame + Duration::from_millis(settled_ms);
            // The short quiet first; past it, the full one unless decided
            // (looked at only once the terminal has been quiet that long, so a
            // chatty terminal costs no judging).
            let short = idle
                && (tokio::time::Instant::now() < settled_at
                    || decided(case, &host, &terminal, !closing_given));
            let quiet_at = if short { settled_at } else { linger_at };
            if idle && tokio::time::Instant::now() >= quiet_at {
                if !closing_given {
                    // The day's closing settlement, once the script is done
                    // and the terminal quiet (the simulated cashier settles
                    // as the safety phase ends): a live case does not wait
                    // out the rest of the simulated day.
                    closing_given = true;
                    let settle =
                        Instruction { action: "settle".into(), fields: Default::default() };
                    let counts = (frames_from_terminal, wire.trades());
                    self.give(case, &settle, &mut outstanding, counts);
                    continue;
                }
                break;
            }
            let next_at = if outstanding.is_empty() {
                case.plan.items.get(next_item).map(|item| wall(item.at_ms))
            } else {
                None
            };
            let ack_deadline = outstanding.values().map(|o| o.deadline).min();
            let cue_at = case
                .plan
                .cues
                .iter()
                .zip(&cues_fired)
                .filter_map(|(cue, fired)| match cue.when {
                    CueWhen::At { at_ms } if !fired => Some(wall(at_ms)),
                    _ => None,
                })
                .min();
            let host_at = host.poll_timeout().map(|at| {
                started + Duration::from_millis(at.as_millis().saturating_sub(origin.as_millis()))
            });
            let pending_at = send_pending_at.filter(|_| outstanding.is_empty());
            let power_on_at = power_on.as_ref().map(|p| p.0);
            let healing_at = (!healed).then_some(heal_at);
            let host_fault_at = case
                .plan
                .host
                .get(next_host)
                .map(|step| step_due(step, &item_trades, &trade_in_at));
            let wake = [next_at, ack_deadline, cue_at, host_at, power_on_at, pending_at]
                .into_iter()
                .chain([healing_at, host_fault_at])
                .flatten()
                .chain(idle.then_some(quiet_at))
                .min()
                .unwrap_or(far)
                .min(bound);
            let reading = self.options.mode == OperatorMode::Json;
            tokio::select! {
                input = self.answers.recv(), if reading => {
                    let input = input.unwrap_or(OperatorInput::Closed);
                    match self.parse(input)? {
                        Answer::Ack { seq, result } if outstanding.contains_key(&seq) => {
                            let given = outstanding.remove(&seq).expect("outstanding");
                            if let AckResult::Unsupported { why } = result {
                                self.expire(&mut outstanding);
                                return Err(Stop::NotExercised(format!(
                                    "the terminal cannot {} (seq {seq}): {why}",
                                    given.action
                                )));
                            }
                            finished.push(given);
                        }
                        Answer::Ack { seq, .. } if self.expired_seqs.contains(&seq) => {}
                        Answer::Ready { case } if self.expired_cases.contains(&case) => {}
                        Answer::Ack { seq, .. } => {
                            let owed: Vec<String> =
                                outstanding.keys().map(u64::to_string).collect();
                            return Err(Stop::Script {
                                line: self.line_no,
                                what: format!(
                                    "expected an ack of an outstanding seq ({}), not {seq}",
                                    if owed.is_empty() { "none".into() } else { owed.join(", ") }
                                ),
                            });
                        }
                        Answer::Ready { .. } => {
                            return Err(Stop::Script {
                                line: self.line_no,
                                what: format!("expected an ack; {id} is already ready"),
                            });
                        }
                    }
                }
                input = self.input_rx.recv() => match input {
                    Some(Input::Frame { conn, mut bytes }) if self.outboxes.contains_key(&conn) => {
                        frames_from_terminal += 1;
                        last_frame = tokio::time::Instant::now();
                        // On the host's millisecond clock, so that a step
                        // anchored on this frame and the host's own flights
                        // from it fall due together, the step first.
                        let elapsed_ms = (last_frame - started).as_millis() as u64;
                        frame_at = started + Duration::from_millis(elapsed_ms);
                        let now = || origin + Duration::from_millis(elapsed_ms);
                        let index = u32::try_from(frames_from_terminal).unwrap_or(u32::MAX);
                        let faults = &case.compiled.faults.protocol;
                        let line = (!healed)
                            .then(|| line_fault(faults, terminal, index, &mut bytes))
                            .flatten();
                        match line {
                            Some((record, Fate::Dropped)) => {
                                host.line_fault(now(), terminal, &bytes, record, Fate::Dropped)
                            }
                            Some((record, fate)) => {
                                host.line_fault(now(), terminal, &bytes, record, fate);
                                host.on_frame(now(), conn, &bytes);
                            }
                            None => host.on_frame(now(), conn, &bytes),
                        }
                    }
                    Some(Input::Frame { .. }) => {}
                    Some(Input::Closed { conn }) => {
                        self.outboxes.remove(&conn);
                        host.on_closed(conn);
                    }
                    None => unreachable!("the run holds a sender"),
                },
                accept = self.listener.accept() => {
                    if let Ok((stream, peer)) = accept {
                        // A crashed switch takes no connections until it restarts.
                        if self.outboxes.len() >= CONNECTIONS_MAX || !host.switch_up() {
                            drop(stream);
                        } else {
                            self.next_conn += 1;
                            let conn = self.next_conn;
                            let (out_tx, out_rx) = tokio::sync::mpsc::channel(
                                crate::live::connection::OUTBOX_FRAMES_MAX,
                            );
                            self.outboxes.insert(conn, out_tx);
                            self.out.progress(&format!("{id}: connection {conn} from {peer}"));
                            let task = connection(
                                conn,
                                stream,
                                self.input_tx.clone(),
                                out_rx,
                                Duration::from_millis(IDLE_MS),
                                LiveLog::quiet(),
                            );
                            tokio::spawn(task);
                        }
                    }
                }
                _ = tokio::time::sleep_until(wake) => {}
            }
            let at = tokio::time::Instant::now();
            if at >= bound {
                self.expire(&mut outstanding);
                return Err(Stop::NotExercised(format!(
                    "the case passed its bound of {} s",
                    case_bound_ms(case, &self.options).div_ceil(1000)
                )));
            }
            while let Some(step) = case
                .plan
                .host
                .get(next_host)
                .filter(|step| step_due(step, &item_trades, &trade_in_at) <= at)
            {
                next_host += 1;
                let record = TraceEvent::Fault(FaultRecord {
                    kind: step.kind,
                    target: step.target.clone(),
                    cause: FaultCause::Scheduled,
                    frame: None,
                });
                match &step.action {
                    HostAction::Network(command) => {
                        host.network_command(now(), command.clone());
                        host.note(now(), record);
                    }
                    HostAction::Silent { issuer, silent } => {
                        host.set_issuer_silent(*issuer, *silent);
                        host.note(now(), record);
                    }
                    // As the simulator: the crash's record, then the
                    // connections gone; the restart's, then the switch's
                    // own "recovered".
                    HostAction::SwitchCrash => {
                        host.note(now(), record);
                        host.crash_switch();
                        for conn in self.outboxes.keys().copied().collect::<Vec<_>>() {
                            host.on_closed(conn);
                        }
                        self.close_all("the switch crashed");
                    }
                    HostAction::SwitchRestart => {
                        host.note(now(), record);
                        host.restart_switch(now());
                    }
                }
            }
            if !healed && at >= heal_at {
                healed = true;
                host.note(now(), TraceEvent::Phase { phase: Phase::Healing });
                host.faults_mut().heal();
            }
            if host.poll_timeout().is_some_and(|t| t <= now()) {
                host.on_timeout(now());
            }
            self.flush(&mut host);
            // Console mode: the terminal's next frame shows an action done;
            // a power cut or power-on shows nothing, so it is taken as done.
            if self.options.mode == OperatorMode::Console {
                let (done, open): (BTreeMap<_, _>, BTreeMap<_, _>) =
                    std::mem::take(&mut outstanding).into_iter().partition(|(_, given)| {
                        frames_from_terminal > given.frames_then
                            || given.action == "power_off"
                            || given.action == "power_on"
                    });
                outstanding = open;
                finished.extend(done.into_values());
            }
            if let Some((seq, given)) = outstanding.iter().find(|(_, given)| given.deadline <= at) {
                let what = format!(
                    "the operator did not finish `{}` (seq {seq}) within {} s",
                    given.action,
                    self.deadline_s()
                );
                self.expire(&mut outstanding);
                return Err(Stop::NotExercised(what));
            }
            // Cues: what the wire shows since the last look.
            let records = host.trace().map_or(&[][..], |trace| trace.records());
            let mut landed = wire.look(records, &case.plan.cues);
            while trade_in_at.len() < wire.trades() {
                trade_in_at.push(frame_at);
            }
            landed.extend(host.take_cuts_landed());
            for (index, cue) in case.plan.cues.iter().enumerate() {
                if let CueWhen::At { at_ms } = cue.when {
                    if wall(at_ms) <= at {
                        landed.push(index);
                    }
                }
            }
            for index in landed {
                if std::mem::replace(&mut cues_fired[index], true) {
                    continue;
                }
                let cue = &case.plan.cues[index];
                let mut fields = serde_json::Map::new();
                fields.insert("why".into(), cue.words.clone().into());
                let off = Instruction { action: "power_off".into(), fields };
                self.give(case, &off, &mut outstanding, (frames_from_terminal, wire.trades()));
                // A cut the host watched for it made itself, before the
                // switch read the message.
                if cue.when.host_cut().is_none() {
                    host.set_terminal_off(terminal, true);
                    if cue.recorded {
                        host.note(now(), fault_record(FaultKind::PowerCut, &terminal, &cue.words));
                    }
                }
                let due = match cue.back {
                    PowerBack::AfterMs(off_ms) => at + Duration::from_millis(off_ms),
                    PowerBack::AtHealing => heal_at.max(at),
                };
                power_on = Some((due, cue.words.clone(), cue.recorded));
            }
            if let Some((due, words, recorded)) = power_on.clone() {
                let busy = outstanding.values().any(|o| o.action == "power_off");
                if due <= at && !busy {
                    let on = Instruction { action: "power_on".into(), fields: Default::default() };
                    self.give(case, &on, &mut outstanding, (frames_from_terminal, wire.trades()));
                    host.set_terminal_off(terminal, false);
                    if recorded {
                        host.note(now(), fault_record(FaultKind::PowerOn, &terminal, &words));
                    }
                    power_on = None;
                }
            }
            // The next instruction, once nothing is outstanding and its time came.
            // A trade whose answer did not come back intact: "send pending"
            // later, if that comes before the script's next item.
            for given in finished.drain(..) {
                let sent = wire.trades() > given.trades_then;
                let records = host.trace().map_or(&[][..], |trace| trace.records());
                let lost = sent
                    && TRADE_ACTIONS.contains(&given.action.as_str())
                    && wire.last_trade_answered(records) == Some(false);
                let due = at + Duration::from_millis(send_pending_after_ms);
                let before_next =
                    case.plan.items.get(next_item).is_none_or(|item| due < wall(item.at_ms));
                if lost && before_next && due <= wall(case.compiled.run.safety_ms) {
                    send_pending_at = Some(due);
                }
            }
            let press_due = send_pending_at.is_some_and(|due| due <= at);
            if press_due && outstanding.is_empty() && power_on.is_none() {
                send_pending_at = None;
                let press =
                    Instruction { action: "send_pending".into(), fields: Default::default() };
                self.give(case, &press, &mut outstanding, (frames_from_terminal, wire.trades()));
            }
            if outstanding.is_empty() && power_on.is_none() && send_pending_at.is_none() {
                if let Some(Planned { at_ms, instruction }) = case.plan.items.get(next_item) {
                    if wall(*at_ms) <= at {
                        item_trades.insert(next_item, wire.trades());
                        next_item += 1;
                        self.give(
                            case,
                            instruction,
                            &mut outstanding,
                            (frames_from_terminal, wire.trades()),
                        );
                    }
                }
            }
        }
        // As the simulator's trace ends: the wire was watched until the
        // terminal was quiet, so a `never` step to the end judged that.
        host.note(now(), TraceEvent::Phase { phase: Phase::End });
        let trace = host.trace().expect("recording");
        let (verdict, evidence) = judge(&case.case, &case.compiled, trace);
        if host.terminals_seen() == 0 {
            let why =
                format!("no terminal {} connected and spoke during the case", terminal.trimmed());
            return Ok((LiveVerdict::NotExercised(why), Some(evidence)));
        }
        Ok((verdict, Some(evidence)))
    }

    /// The case gives up on what is outstanding: late answers are ignored.
    fn expire(&mut self, outstanding: &mut BTreeMap<u64, Outstanding>) {
        self.expired_seqs.extend(outstanding.keys().copied());
        outstanding.clear();
    }

    fn flush(&mut self, host: &mut LiveHost) {
        while let Some(output) = host.poll_output() {
            match output {
                HostOutput::Send { conn, bytes } => {
                    if let Some(tx) = self.outboxes.get(&conn) {
                        let _ = tx.try_send(Outgoing::Frame(bytes));
                    }
                }
                HostOutput::Close { conn, reason } => {
                    if let Some(tx) = self.outboxes.remove(&conn) {
                        let _ = tx.try_send(Outgoing::Close(reason));
                    }
                    host.on_closed(conn);
                }
                HostOutput::Judged { .. } | HostOutput::Log { .. } => {}
            }
        }
    }
}

/// A placed `frame` fault up the line on the terminal's `index`-th frame
/// (from 1, as the simulator's line counts): `bytes` garbled in place, the
/// fault's record and the frame's fate. The matching and the flip are the
/// live line's ([`frame_fate`](crate::live::fleet::line::frame_fate)).
fn line_fault(
    faults: &[ProtocolFault],
    terminal: possim_models::iso8583::values::TerminalId,
    index: u32,
    bytes: &mut [u8],
) -> Option<(FaultRecord, Fate)> {
    let before = bytes.to_vec();
    let (fate, words) =
        crate::live::fleet::line::frame_fate(faults, terminal, LineDirection::Up, index, bytes)?;
    let kind = match fate {
        Fate::Dropped => FaultKind::LineDropFrame,
        _ => FaultKind::LineCorrupt,
    };
    let flipped = before.iter().zip(bytes.iter()).position(|(a, b)| a != b).map(|at| {
        let bit = (before[at] ^ bytes[at]).trailing_zeros() as u8;
        (at as u32, bit)
    });
    let record = FaultRecord {
        kind,
        target: terminal.trimmed().to_string(),
        cause: FaultCause::Protocol(words),
        frame: Some(FrameSlot { direction: LineDirection::Up, index, flipped }),
    };
    Some((record, fate))
}

/// Whether `case` is decided on what the wire showed so far
/// ([`end`]): nothing open; for its end (not the quiet before the
/// closing settlement), a pass with no step watching to the end.
fn decided(
    case: &PreparedCase,
    host: &LiveHost,
    terminal: &possim_models::iso8583::values::TerminalId,
    before_closing: bool,
) -> bool {
    let Some(trace) = host.trace() else { return false };
    if end::open_requests(trace.records(), terminal.trimmed()) > 0 {
        return false;
    }
    if before_closing {
        return true;
    }
    !end::watches_to_the_end(&case.case)
        && matches!(judge(&case.case, &case.compiled, trace).0, LiveVerdict::Pass { .. })
}

fn fault_record(
    kind: FaultKind,
    terminal: &possim_models::iso8583::values::TerminalId,
    words: &str,
) -> TraceEvent {
    TraceEvent::Fault(FaultRecord {
        kind,
        target: terminal.trimmed().to_string(),
        cause: FaultCause::Protocol(words.to_string()),
        frame: None,
    })
}
