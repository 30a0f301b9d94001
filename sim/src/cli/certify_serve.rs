//! `possim certify --serve ADDR`: the suite's `device: terminal` cases
//! against a real terminal, an operator following the script
//! ([`possim_sim::certify::live`]). Exit 0: every selected case passed; 1: a
//! case failed or was not exercised, or the operator left; 2: bad input (a
//! selected case that is not a terminal case, a bad device parameter, an
//! operator line that breaks the protocol).

use std::io::{BufRead, Read, Write};

use anyhow::Result;
use possim_reports::{write_suite, CaseResult, Suite};
use possim_sim::certify::case::Device;
use possim_sim::certify::live::identity::DeviceIdentity;
use possim_sim::certify::live::judge::LiveVerdict;
use possim_sim::certify::live::operator::LINE_BYTES_MAX;
use possim_sim::certify::live::session::{
    prepare, run as run_live, LiveCaseResult, LiveOptions, OperatorInput, OperatorMode,
    OperatorOut, RunEnd,
};
use possim_sim::certify::runner::LoadedCase;
use tokio::sync::mpsc;

use super::certify::CertifyArgs;
use super::exit;
use super::frame::input;

/// Operator lines read ahead of the run.
const ANSWERS_QUEUED_MAX: usize = 64;

pub fn run(args: &CertifyArgs, cases: Vec<LoadedCase>) -> Result<u8> {
    let address = args.serve.clone().expect("--serve");
    let address: std::net::SocketAddr =
        address.parse().map_err(|error| input(format!("--serve {address}: {error}")))?;
    if args.operator_timeout_ms == 0 {
        return Err(input("--operator-timeout-ms must be at least 1"));
    }
    let cases = terminal_cases(cases, !args.cases.is_empty())?;
    let identity = DeviceIdentity {
        terminal: args.terminal.clone(),
        merchant: args.merchant.clone(),
        tmk: args.tmk.clone(),
    };
    let mut prepared = Vec::with_capacity(cases.len());
    for loaded in &cases {
        let case = prepare(loaded, &identity)
            .map_err(|why| input(format!("{}: {why}", loaded.path.display())))?;
        prepared.push(case);
    }
    let mode = if args.operator == "json" { OperatorMode::Json } else { OperatorMode::Console };
    let options = LiveOptions {
        mode,
        operator_timeout_ms: args.operator_timeout_ms,
        linger_ms: args.linger_ms,
        identity,
    };
    let (answers_tx, answers_rx) = mpsc::channel(ANSWERS_QUEUED_MAX);
    if mode == OperatorMode::Json {
        // A thread, not a task: stdin's reads block, and the run must not
        // wait for them to end.
        std::thread::spawn(move || read_answers(std::io::stdin().lock(), answers_tx));
    }
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let end = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|error| input(format!("cannot listen on {address}: {error}")))?;
        let mut stdout = std::io::stdout().lock();
        let mut stderr = std::io::stderr();
        let mut out = OperatorOut { lines: &mut stdout, progress: &mut stderr };
        anyhow::Ok(run_live(listener, prepared, options, &mut out, answers_rx).await)
    })?;
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    let results = match end {
        RunEnd::ScriptError { line, what } => {
            eprintln!("operator script: line {line}: {what}");
            return Ok(exit::USAGE);
        }
        RunEnd::OperatorLeft { case, results } => {
            eprintln!("the operator left during {case}");
            write_reports(args, &results)?;
            return Ok(exit::FAIL);
        }
        RunEnd::Finished(results) => results,
    };
    // In JSON mode stdout is the protocol's: the table goes to stderr.
    let mut table: Box<dyn Write> = match mode {
        OperatorMode::Json => Box::new(std::io::stderr()),
        OperatorMode::Console => Box::new(std::io::stdout()),
    };
    for result in &results {
        writeln!(table, "{:<8} {:<13} {}", result.id, result.verdict.word(), result.verdict.why())?;
    }
    let count = |word: &str| results.iter().filter(|r| r.verdict.word() == word).count();
    let (passed, failed, skipped) = (count("pass"), count("fail"), count("not_exercised"));
    writeln!(
        table,
        "{} cases: {passed} passed, {failed} failed, {skipped} not exercised",
        results.len()
    )?;
    let nobody = results.iter().all(|result| {
        matches!(&result.verdict, LiveVerdict::NotExercised(why) if why.starts_with("no terminal"))
    });
    if nobody && !results.is_empty() {
        writeln!(table, "no terminal connected: not compliant")?;
    }
    write_reports(args, &results)?;
    let compliant = !results.is_empty() && passed == results.len();
    Ok(if compliant { exit::PASS } else { exit::FAIL })
}

/// The selected cases a real terminal can run: every `device: terminal`
/// case, or, when `--case` named them, each of those (another is bad input).
fn terminal_cases(cases: Vec<LoadedCase>, named: bool) -> Result<Vec<LoadedCase>> {
    if named {
        for loaded in &cases {
            match loaded.case.device {
                Some(Device::Terminal) => {}
                Some(Device::Host) => {
                    return Err(input(format!(
                        "{} is a host-only case (`device: host`): `certify --serve` runs \
                         terminal cases",
                        loaded.case.id
                    )))
                }
                None => {
                    return Err(input(format!(
                        "{} is simulator-only (no `device: terminal`): a step needs the \
                         terminal model's own events",
                        loaded.case.id
                    )))
                }
            }
        }
        return Ok(cases);
    }
    let total = cases.len();
    let cases: Vec<LoadedCase> =
        cases.into_iter().filter(|c| c.case.device == Some(Device::Terminal)).collect();
    if cases.is_empty() {
        return Err(input(format!(
            "none of the suite's {total} cases is a `device: terminal` case: nothing to run \
             against a real terminal"
        )));
    }
    Ok(cases)
}

fn write_reports(args: &CertifyArgs, results: &[LiveCaseResult]) -> Result<()> {
    let Some(dir) = &args.out else { return Ok(()) };
    let cases = results
        .iter()
        .map(|result| {
            let (id, title, wall_ms) = (&result.id, &result.title, result.wall_ms);
            let case = match &result.verdict {
                LiveVerdict::Pass { .. } => return CaseResult::pass(id, title, wall_ms),
                LiveVerdict::Fail(why) => CaseResult::fail(id, title, why, wall_ms),
                // A failure, not a skip: a case never exercised certifies nothing.
                LiveVerdict::NotExercised(why) => {
                    CaseResult::fail(id, title, format!("not exercised: {why}"), wall_ms)
                }
            };
            match &result.evidence {
                Some(evidence) => case.with_evidence(evidence.view()),
                None => case,
            }
        })
        .collect();
    let suite = Suite { name: "certification (real terminal)".into(), cases };
    write_suite(dir, &suite)?;
    eprintln!("report    {}", dir.display());
    Ok(())
}

/// Reads the operator's lines, each bounded, until the stream ends.
fn read_answers(mut reader: impl BufRead, answers: mpsc::Sender<OperatorInput>) {
    loop {
        let mut line = Vec::new();
        let limit = LINE_BYTES_MAX as u64 + 1;
        let read = (&mut reader).take(limit).read_until(b'\n', &mut line);
        let input = match read {
            Ok(0) | Err(_) => OperatorInput::Closed,
            Ok(_) if line.len() as u64 >= limit && !line.ends_with(b"\n") => OperatorInput::TooLong,
            Ok(_) => {
                let text = String::from_utf8_lossy(&line);
                OperatorInput::Line(text.trim_end_matches(['\n', '\r']).to_string())
            }
        };
        let closed = matches!(input, OperatorInput::Closed | OperatorInput::TooLong);
        if answers.blocking_send(input).is_err() || closed {
            return;
        }
    }
}
