//! `possim certify --drive`: a host case (`device: host`) played against a
//! real acquirer host. The case's terminals are possim's own, driven by the
//! live fleet ([`crate::live::fleet`]) with the case's script and its
//! terminal-side and line faults; what they saw is kept as trace records
//! shaped as the simulator writes them (terminal events, every frame up
//! and down, the faults applied), at most [`DRIVE_RECORDS_MAX`], and judged
//! with the simulator's matcher and the outcome's counts. Balances are the
//! host's and not on the wire: not judged.
//!
//! A verdict is a pass, a FAIL (the first deviation), or *not exercised*:
//! the host was not there, went away, or the case's time ran out before a
//! step could be judged. Not exercised is never a pass.
//!
//! ```
//! use possim_sim::certify::drive::HostVerdict;
//! let verdict = HostVerdict::NotExercised("host at 127.0.0.1:9 refused the connection".into());
//! assert!(!verdict.passed());
//! assert_eq!(verdict.label(), "not exercised");
//! ```

use std::net::SocketAddr;
use std::time::Duration;

use super::case::Device;
use super::evidence::Evidence;
use super::matcher::events;
use super::outcome::{check_live, opening_balances, EndState};
use super::runner::LoadedCase;
use crate::live::driver::{drive, DriveOptions, DriveOutcome};
use crate::live::fleet::{Fleet, FleetOptions};
use crate::live::log::LiveLog;

/// Trace records one driven case may keep; past it the case fails naming
/// the bound (a judge must not read a silently shortened run).
pub const DRIVE_RECORDS_MAX: usize = 100_000;
/// Beyond a terminal's response timeout, how long the host has to send its
/// first frame before the case ends as "answered nothing".
pub const FIRST_ANSWER_MARGIN_MS: u64 = 1_000;
/// After the fleet settled, frames still arriving are read this long.
pub const LINGER_MS: u64 = 300;

/// How each case is driven.
#[derive(Debug, Clone)]
pub struct DriveCaseOptions {
    pub target: SocketAddr,
    /// The whole case (workload and closing) ends by then, judged on what
    /// came.
    pub case_timeout_ms: u64,
    /// Script times are divided by this; terminal timeouts are not.
    pub speed: f64,
    /// A connection that completes no frame for this long is closed.
    pub idle_timeout_ms: u64,
}

/// One host case's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostVerdict {
    Pass,
    /// The first deviation (a step, a count, a bound).
    Fail(String),
    /// Why nothing (or not enough) could be judged.
    NotExercised(String),
}

impl HostVerdict {
    pub fn passed(&self) -> bool {
        matches!(self, HostVerdict::Pass)
    }

    pub fn label(&self) -> &'static str {
        match self {
            HostVerdict::Pass => "pass",
            HostVerdict::Fail(_) => "FAIL",
            HostVerdict::NotExercised(_) => "not exercised",
        }
    }

    /// The deviation or reason; empty for a pass.
    pub fn detail(&self) -> &str {
        match self {
            HostVerdict::Pass => "",
            HostVerdict::Fail(why) | HostVerdict::NotExercised(why) => why,
        }
    }
}

/// A driven case: its verdict and how long it took.
#[derive(Debug, Clone)]
pub struct HostCaseResult {
    pub verdict: HostVerdict,
    /// The steps beside the frames the host exchanged (`None`: no records).
    pub evidence: Option<Evidence>,
    pub wall_ms: u64,
    pub frames_sent: u64,
    pub frames_received: u64,
}

/// Why a case cannot be driven (bad input, not a verdict on the host).
pub fn drivable(loaded: &LoadedCase) -> Result<(), String> {
    match loaded.case.device {
        Some(Device::Host) => Ok(()),
        Some(other) => Err(format!(
            "case {} is a `device: {}` case, not a host case: --drive plays host cases only",
            loaded.case.id,
            other.name()
        )),
        None => Err(format!(
            "case {} names no `device: host`: it judges the simulator's inside, which a real \
             host does not show",
            loaded.case.id
        )),
    }
}

/// Drives `loaded` against the host at `options.target` on `runtime`.
pub fn drive_case(
    loaded: &LoadedCase,
    options: &DriveCaseOptions,
    runtime: &tokio::runtime::Runtime,
    log: LiveLog,
) -> Result<HostCaseResult, String> {
    let scenario = &loaded.compiled;
    #[allow(clippy::float_arithmetic)] // the user's speed factor, rounded to whole ms
    let workload_ms = (scenario.run.safety_ms as f64 / options.speed).round() as u64;
    let fleet_options = FleetOptions {
        speed: options.speed,
        max_trades: None,
        workload_ms,
        closing_ms: options.case_timeout_ms,
        seed: scenario.run.seed,
        records_max: DRIVE_RECORDS_MAX,
        line_faults: true,
    };
    let fleet = Fleet::new(scenario, fleet_options).map_err(|error| error.to_string())?;
    let response_timeout_max_ms =
        scenario.terminals.iter().map(|t| t.config.response_timeout_ms).max().unwrap_or(0);
    let drive_options = DriveOptions {
        target: options.target,
        idle_timeout_ms: options.idle_timeout_ms,
        linger_ms: LINGER_MS,
        first_answer_timeout_ms: response_timeout_max_ms.saturating_add(FIRST_ANSWER_MARGIN_MS),
    };
    let timeout = Duration::from_millis(options.case_timeout_ms);
    let outcome = runtime
        .block_on(async { drive(fleet, drive_options, log, tokio::time::sleep(timeout)).await });
    let timed_out = outcome.stopped_by == "signal";
    let verdict = judge(loaded, &outcome, timed_out.then_some(options.case_timeout_ms));
    let evidence = outcome.records.as_ref().map(|recorder| {
        let mut evidence = Evidence::of(&loaded.case, &events(recorder.trace()));
        if let HostVerdict::Fail(why) | HostVerdict::NotExercised(why) = &verdict {
            if evidence.steps_held() {
                evidence.outcome = Some(why.clone());
            }
        }
        evidence
    });
    Ok(HostCaseResult {
        verdict,
        evidence,
        wall_ms: outcome.wall_ms,
        frames_sent: outcome.frames_sent,
        frames_received: outcome.frames_received,
    })
}

/// Judges a driven case on its records: the steps in order, then the
/// outcome's counts. `timed_out`: the case's time ran out (that bound).
pub fn judge(loaded: &LoadedCase, outcome: &DriveOutcome, timed_out: Option<u64>) -> HostVerdict {
    let Some(recorder) = &outcome.records else {
        return HostVerdict::Fail("the drive kept no records to judge".into());
    };
    if recorder.overflowed() {
        return HostVerdict::Fail(format!(
            "the case logged more than DRIVE_RECORDS_MAX = {} records: a runaway, not judged",
            recorder.records_max()
        ));
    }
    let mut notes: Vec<String> = outcome.host_closes.clone();
    if let Some(ms) = timed_out {
        notes.push(format!("the case's time ({ms} ms, --case-timeout-ms) ran out"));
    }
    let said = |text: String| {
        if notes.is_empty() {
            text
        } else {
            format!("{text} ({})", notes.join("; "))
        }
    };
    if let Some(missing) = &outcome.host_missing {
        return HostVerdict::NotExercised(said(missing.clone()));
    }
    let found = events(recorder.trace());
    let evidence = Evidence::of(&loaded.case, &found);
    if let Some(deviation) = &evidence.deviation {
        let text = deviation.to_string();
        let ended_early = deviation.found.starts_with("nothing after")
            || deviation.found.starts_with("not exercised");
        // Cut short by the host or the clock, a missing step is what was
        // not reached, not what the host did wrong.
        if ended_early && (timed_out.is_some() || !outcome.host_closes.is_empty()) {
            return HostVerdict::NotExercised(said(text));
        }
        if outcome.frames_received == 0 {
            return HostVerdict::NotExercised(said(format!("the host answered nothing; {text}")));
        }
        return HostVerdict::Fail(said(text));
    }
    // The counts and batch numbers of possim's own terminals; balances are
    // the host's (a host case names none).
    let state = EndState::of_events(&opening_balances(&loaded.compiled), &found);
    match check_live(&loaded.case.outcome, Device::Host, &state) {
        Ok(_) => HostVerdict::Pass,
        Err(why) if timed_out.is_some() => HostVerdict::NotExercised(said(why)),
        Err(why) => HostVerdict::Fail(said(why)),
    }
}

#[cfg(test)]
mod tests {
    use possim_models::time::Instant;

    use super::*;
    use crate::certify::runner::load_case;
    use crate::live::fleet::Recorder;
    use crate::trace::{Phase, TraceEvent};

    fn case() -> LoadedCase {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../scenarios/certification/ch03_bad_mac_a0.yaml");
        load_case(&path).expect("the case loads")
    }

    fn outcome(recorder: Recorder, frames_received: u64) -> DriveOutcome {
        DriveOutcome {
            stopped_by: "the fleet settled or reached its bounds".into(),
            results: Vec::new(),
            trades_sent: 0,
            frames_sent: 0,
            frames_received,
            dials: 0,
            dials_failed: 0,
            host_missing: None,
            host_closes: Vec::new(),
            host_closes_total: 0,
            wall_ms: 0,
            records: Some(recorder),
        }
    }

    fn started() -> Recorder {
        let mut recorder = Recorder::new(10);
        recorder.push(Instant::ZERO, TraceEvent::Phase { phase: Phase::Safety });
        recorder
    }

    #[test]
    fn a_host_that_is_not_there_is_not_exercised() {
        let mut driven = outcome(started(), 0);
        driven.host_missing = Some("host at 127.0.0.1:9 refused the connection".into());
        let verdict = judge(&case(), &driven, None);
        assert!(matches!(&verdict, HostVerdict::NotExercised(why) if why.contains("refused")));
    }

    #[test]
    fn a_host_that_answered_nothing_is_not_exercised_and_one_that_did_fails() {
        let verdict = judge(&case(), &outcome(started(), 0), None);
        assert!(matches!(&verdict, HostVerdict::NotExercised(why) if why.contains("step 1")));
        let verdict = judge(&case(), &outcome(started(), 3), None);
        assert!(matches!(&verdict, HostVerdict::Fail(why) if why.starts_with("step 1")));
    }

    #[test]
    fn records_past_the_bound_fail_naming_it() {
        let mut recorder = Recorder::new(1);
        recorder.push(Instant::ZERO, TraceEvent::Phase { phase: Phase::Safety });
        recorder.push(Instant::ZERO, TraceEvent::Phase { phase: Phase::End });
        let verdict = judge(&case(), &outcome(recorder, 3), None);
        assert!(matches!(&verdict, HostVerdict::Fail(why) if why.contains("DRIVE_RECORDS_MAX")));
    }
}
