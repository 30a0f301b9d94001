//! The hostile-input corpus: every bundled scenario, mutated as a hostile
//! or careless user would (docs/HARDENING.md lists how), through the loader
//! and, when it compiles, one seed of the run `possim run` does.
//!
//! Each case must end as the command line would end it: refused with
//! `file:line:column: message` (exit 2), or run to a report (exit 0 or 1),
//! or a typed run error (exit 2) — never a panic, never a hang. Case N's
//! mutant comes from its own seeded stream, so it is the same text on every
//! machine and with any number of threads; a broken case is written to
//! `target/hostile-corpus/case-N.yaml`, and `POSSIM_CORPUS_CASE=N` runs it
//! alone.
//!
//! - `POSSIM_CORPUS_CASES`: how many cases (default [`CASES_DEFAULT`]; CI
//!   runs 10,000 in release).
//! - `POSSIM_CORPUS_THREADS`: worker threads (default: the cores).

mod mutate;
mod sites;

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use possim_sim::execute::execute;
use possim_sim::scenario::error::{MESSAGE_CHARS_MAX, SNIPPET_CHARS_MAX};
use possim_sim::scenario::{parse_simulable, CompiledScenario, ScenarioError};
use possim_sim::world::{RunError, RunOptions};

/// Cases when `POSSIM_CORPUS_CASES` is unset: enough to exercise every
/// mutation on most scenarios within seconds of a debug build.
const CASES_DEFAULT: u64 = 200;

/// The cost bound: a mutant that compiles is run only if its world costs
/// at most this many terminal-seconds of simulated time (terminals ×
/// (safety_ms + healing_max_ms) / 1000), and its expected trades (arrivals
/// per terminal per hour × terminals × safety hours, plus the scripted
/// ones) are at most [`TRADES_MAX`]. A mutant may legitimately ask for
/// thousands of terminals or a week (within the loader's bounds), which
/// takes minutes to simulate: it is compiled only. The largest bundled
/// scenario under this bound is the longest certification case; the soak
/// (300 terminals for 8.5 hours) is over it.
const TERMINAL_SECONDS_MAX: u64 = 200_000;
/// Expected trades of a mutant that is run (see [`TERMINAL_SECONDS_MAX`]).
const TRADES_MAX: u64 = 2_000;

/// The share of cases that must run (not refused, not too big), in
/// percent: a corpus whose mutants are nearly all refused tests the loader
/// alone, not the run behind it.
const RAN_PERCENT_MIN: u64 = 20;

/// A case running longer than this has hung (the slowest case run within
/// the cost bound takes a few seconds in a debug build).
const CASE_WALL_MAX: Duration = Duration::from_secs(120);

/// Worker threads' stacks: the size of the main thread's, where `possim`
/// parses and runs a scenario.
const WORKER_STACK_BYTES: usize = 8 * 1024 * 1024;

/// The longest run error message kept for the summary.
const RUN_ERROR_CHARS_SHOWN: usize = 90;

/// Broken cases listed in the failure message, at most.
const BROKEN_SHOWN_MAX: usize = 20;

struct Base {
    /// From the repository's root: `scenarios/faults/line.yaml`.
    path: String,
    text: String,
}

/// Every bundled scenario, in path order.
fn bundled() -> Vec<Base> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut paths = Vec::new();
    let mut pending = vec![root.join("scenarios")];
    // Bounded: the scenarios directory is two levels deep.
    for _ in 0..64 {
        let Some(dir) = pending.pop() else { break };
        for entry in std::fs::read_dir(&dir).expect("the scenarios directory reads") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml") {
                paths.push(path);
            }
        }
    }
    assert!(pending.is_empty(), "scenarios/ is deeper than the walk");
    paths.sort();
    paths
        .into_iter()
        .map(|path| Base {
            text: std::fs::read_to_string(&path).expect("a bundled scenario reads"),
            path: path.strip_prefix(&root).expect("under the root").display().to_string(),
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    /// Refused with a located error: exit 2.
    Refused,
    Passed,
    Failed,
    /// A typed run error: exit 2.
    RunError(String),
    /// Compiled; over the cost bound, so not run.
    CompiledOnly,
    /// Breaks the contract: a panic, or an error without its place.
    Broken(String),
}

/// Lines as YAML counts them: a line break is `\r\n`, `\n` or a lone `\r`.
fn yaml_lines(text: &str) -> u64 {
    let breaks =
        text.matches('\n').count() + text.matches('\r').count() - text.matches("\r\n").count();
    breaks as u64 + 1
}

/// What `file:line:column: message` must be: inside the file, one
/// lowercase line of bounded length, and a two-line snippet at most.
fn check_error(error: &ScenarioError, text: &str, file: &str) -> Result<(), String> {
    let lines = yaml_lines(text);
    let message = &error.message;
    let first_word = message.split(' ').next().unwrap_or("");
    let identifier = first_word.chars().skip(1).any(char::is_uppercase);
    let problems = [
        (error.file != file, "names another file"),
        (error.line == 0 || error.line > lines, "has no line in the file"),
        (error.column == 0, "has no column"),
        (message.is_empty(), "has no message"),
        (message.contains(['\n', '\r']), "is not one line"),
        (message.chars().count() > MESSAGE_CHARS_MAX + 3, "is too long"),
        (message.starts_with(char::is_uppercase) && !identifier, "is not lowercase"),
        (
            error.snippet.as_ref().is_some_and(|snippet| {
                snippet.lines().count() > 2
                    || snippet.lines().any(|line| line.chars().count() > SNIPPET_CHARS_MAX + 40)
            }),
            "has an unbounded snippet",
        ),
    ];
    match problems.iter().find(|(broken, _)| *broken) {
        None => Ok(()),
        Some((_, what)) => {
            let head: String = error.headline().chars().take(300).collect();
            Err(format!("the error {what} ({lines} lines): {head}"))
        }
    }
}

/// Whether the compiled mutant is within the cost bound.
// The arrival rate is a float in the schema; the estimate is one, compared
// with its bound only.
#[allow(clippy::float_arithmetic)]
fn within_cost(compiled: &CompiledScenario) -> bool {
    let terminals = compiled.terminals.len() as u64;
    let run_ms = compiled.run.safety_ms.saturating_add(compiled.run.healing_max_ms);
    let terminal_seconds = terminals.saturating_mul(run_ms / 1000);
    let hours = compiled.run.safety_ms as f64 / 3_600_000.0;
    let arrivals = compiled.workload.arrivals_per_terminal_per_hour * terminals as f64 * hours;
    let trades = arrivals + compiled.workload.script.len() as f64;
    terminal_seconds <= TERMINAL_SECONDS_MAX && trades <= TRADES_MAX as f64
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".to_owned())
}

/// The file name a case's errors carry.
fn case_file(case: u64) -> String {
    format!("case-{case}.yaml")
}

/// One case, as `possim run case-N.yaml` would take it.
fn judge(case: u64, text: &str) -> Outcome {
    let file = case_file(case);
    let compiled = match catch_unwind(|| parse_simulable(text, &file)) {
        Err(panic) => return Outcome::Broken(format!("loading panicked: {}", panic_text(&*panic))),
        Ok(Err(error)) => {
            return check_error(&error, text, &file)
                .map_or_else(Outcome::Broken, |()| Outcome::Refused)
        }
        Ok(Ok(compiled)) => compiled,
    };
    if !within_cost(&compiled) {
        return Outcome::CompiledOnly;
    }
    let options = RunOptions { seed: compiled.run.seed, swarm: false };
    match catch_unwind(AssertUnwindSafe(|| execute(&compiled, &options))) {
        Err(panic) => Outcome::Broken(format!("the run panicked: {}", panic_text(&*panic))),
        Ok(Ok(report)) if report.passed() => Outcome::Passed,
        Ok(Ok(_)) => Outcome::Failed,
        // An actor's panic stops the world and comes back as its error.
        Ok(Err(error @ RunError::Simulation(_))) if error.to_string().contains("panic") => {
            Outcome::Broken(format!("an actor panicked: {error}"))
        }
        Ok(Err(error)) => {
            let shown: String = error.to_string().chars().take(RUN_ERROR_CHARS_SHOWN).collect();
            if shown.contains('\n') {
                return Outcome::Broken(format!("the run error is not one line: {shown}"));
            }
            Outcome::RunError(shown)
        }
    }
}

/// `target/hostile-corpus/`.
fn broken_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).parent().expect("target/tmp").join("hostile-corpus")
}

/// Writes a broken case's text where the failure message says.
fn keep(case: u64, text: &str) -> PathBuf {
    let dir = broken_dir();
    std::fs::create_dir_all(&dir).expect("target/hostile-corpus is writable");
    let path = dir.join(case_file(case));
    std::fs::write(&path, text).expect("the case is written");
    path
}

fn env_number(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(value.parse().unwrap_or_else(|_| panic!("{name}={value} is not a number")))
}

/// The case's base scenario and mutant.
fn case_text(case: u64, bases: &[Base]) -> (usize, Vec<mutate::Kind>, String) {
    let mut rng = mutate::stream(!case);
    let base = mutate::below(&mut rng, bases.len());
    let (kinds, text) = mutate::mutant(case, &bases[base].text);
    (base, kinds, text)
}

struct Judged {
    case: u64,
    base: usize,
    kinds: Vec<mutate::Kind>,
    outcome: Outcome,
    wall: Duration,
}

#[derive(Default)]
struct Tally {
    refused: u64,
    passed: u64,
    failed: u64,
    run_errors: BTreeMap<String, u64>,
    compiled_only: u64,
    broken: Vec<(u64, String, PathBuf)>,
    by_kind: BTreeMap<mutate::Kind, [u64; 3]>,
    ran_by_base: BTreeMap<usize, u64>,
    /// The slowest case: its wall time and number.
    slowest: (Duration, u64),
}

impl Tally {
    fn add(&mut self, judged: Judged, bases: &[Base]) {
        self.slowest = self.slowest.max((judged.wall, judged.case));
        let ran =
            matches!(judged.outcome, Outcome::Passed | Outcome::Failed | Outcome::RunError(_));
        for kind in &judged.kinds {
            let counts = self.by_kind.entry(*kind).or_default();
            counts[0] += 1;
            counts[1] += u64::from(judged.outcome == Outcome::Refused);
            counts[2] += u64::from(ran);
        }
        if ran {
            *self.ran_by_base.entry(judged.base).or_default() += 1;
        }
        match judged.outcome {
            Outcome::Refused => self.refused += 1,
            Outcome::Passed => self.passed += 1,
            Outcome::Failed => self.failed += 1,
            Outcome::RunError(message) => *self.run_errors.entry(message).or_default() += 1,
            Outcome::CompiledOnly => self.compiled_only += 1,
            Outcome::Broken(why) => {
                let (_, _, text) = case_text(judged.case, bases);
                let path = keep(judged.case, &text);
                let why = format!("{why} (from {}, {:?})", bases[judged.base].path, judged.kinds);
                self.broken.push((judged.case, why, path));
            }
        }
    }

    fn run_error_count(&self) -> u64 {
        self.run_errors.values().sum()
    }

    fn print(&self, cases: u64, bases: &[Base], wall: Duration) {
        let ran = self.passed + self.failed + self.run_error_count();
        println!(
            "hostile corpus: {cases} cases from {} bundled scenarios in {:.1} s",
            bases.len(),
            wall.as_secs_f64()
        );
        println!("  refused with a located error (exit 2)  {}", self.refused);
        println!("  compiled and run                       {ran}");
        println!("    passed (exit 0)                      {}", self.passed);
        println!("    failed an invariant (exit 1)         {}", self.failed);
        println!("    typed run error (exit 2)             {}", self.run_error_count());
        println!("  compiled only (over the cost bound)    {}", self.compiled_only);
        println!("  broken (panic, hang, unlocated error)  {}", self.broken.len());
        let (slowest, case) = self.slowest;
        println!("  slowest case: {case}, {:.2} s", slowest.as_secs_f64());
        println!("  by mutation: cases / refused / ran");
        for (kind, [all, refused, ran]) in &self.by_kind {
            println!("    {:<16} {all:>6} {refused:>6} {ran:>6}", format!("{kind:?}"));
        }
        for (message, count) in &self.run_errors {
            println!("  run error x{count}: {message}");
        }
        let never: Vec<&str> = (0..bases.len())
            .filter(|base| !self.ran_by_base.contains_key(base))
            .map(|base| bases[base].path.as_str())
            .collect();
        println!("  bases never run: {}", never.join(", "));
    }
}

/// Each worker's case and when it started it, `None` between cases.
type Busy = Arc<Mutex<Vec<Option<(u64, Instant)>>>>;

/// Runs cases `first..first + cases` on `threads` workers; a case past
/// [`CASE_WALL_MAX`] fails the test as a hang, naming it.
fn run_corpus(first: u64, cases: u64, threads: u64, bases: Arc<Vec<Base>>) -> Tally {
    let next = Arc::new(AtomicU64::new(first));
    let end = first + cases;
    // What each worker is on, and since when.
    let busy: Busy = Arc::new(Mutex::new(vec![None; threads as usize]));
    let (sender, receiver) = mpsc::channel::<Judged>();
    for worker in 0..threads as usize {
        let (next, busy, sender, bases) =
            (next.clone(), busy.clone(), sender.clone(), bases.clone());
        std::thread::Builder::new()
            .name(format!("corpus-{worker}"))
            .stack_size(WORKER_STACK_BYTES)
            .spawn(move || {
                // Bounded by the case range.
                loop {
                    let case = next.fetch_add(1, Ordering::Relaxed);
                    if case >= end {
                        break;
                    }
                    busy.lock().unwrap()[worker] = Some((case, Instant::now()));
                    let (base, kinds, text) = case_text(case, &bases);
                    let started = Instant::now();
                    let outcome = judge(case, &text);
                    let wall = started.elapsed();
                    busy.lock().unwrap()[worker] = None;
                    if sender.send(Judged { case, base, kinds, outcome, wall }).is_err() {
                        break;
                    }
                }
            })
            .expect("a worker starts");
    }
    drop(sender);
    let mut tally = Tally::default();
    let mut received = 0;
    // Bounded by the case count, each wait by the hang bound.
    while received < cases {
        match receiver.recv_timeout(Duration::from_secs(1)) {
            Ok(judged) => {
                received += 1;
                tally.add(judged, &bases);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        let hung = busy
            .lock()
            .unwrap()
            .iter()
            .flatten()
            .find(|(_, since)| since.elapsed() > CASE_WALL_MAX)
            .copied();
        if let Some((case, _)) = hung {
            let (base, kinds, text) = case_text(case, &bases);
            let path = keep(case, &text);
            panic!(
                "case {case} ({} mutated by {kinds:?}) ran past {CASE_WALL_MAX:?}: a hang; its text is {}",
                bases[base].path,
                path.display()
            );
        }
    }
    assert_eq!(received, cases, "a worker stopped early (a panic outside catch_unwind)");
    tally
}

#[test]
fn hostile_scenarios_are_refused_at_their_place_or_run_to_a_verdict() {
    let bases = Arc::new(bundled());
    assert!(bases.len() >= 60, "{} bundled scenarios found", bases.len());
    let threads = env_number("POSSIM_CORPUS_THREADS")
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get() as u64))
        .max(1);
    let (first, cases) = match env_number("POSSIM_CORPUS_CASE") {
        Some(case) => {
            // One case, to reproduce: its text is kept whatever the outcome.
            let (base, kinds, text) = case_text(case, &bases);
            let path = keep(case, &text);
            println!("case {case}: {} mutated by {kinds:?}: {}", bases[base].path, path.display());
            (case, 1)
        }
        None => (0, env_number("POSSIM_CORPUS_CASES").unwrap_or(CASES_DEFAULT)),
    };
    let started = Instant::now();
    let tally = run_corpus(first, cases, threads, bases.clone());
    tally.print(cases, &bases, started.elapsed());
    if !tally.broken.is_empty() {
        let listed: Vec<String> = tally
            .broken
            .iter()
            .take(BROKEN_SHOWN_MAX)
            .map(|(case, why, path)| format!("case {case}: {why}\n  {}", path.display()))
            .collect();
        panic!(
            "{} of {cases} cases broke the contract (rerun one with POSSIM_CORPUS_CASE=N):\n{}",
            tally.broken.len(),
            listed.join("\n")
        );
    }
    let ran = tally.passed + tally.failed + tally.run_error_count();
    if cases >= 100 {
        assert!(
            ran * 100 >= cases * RAN_PERCENT_MIN,
            "only {ran} of {cases} cases ran: the corpus tests the loader alone"
        );
    }
}

/// The unmutated bundled scenarios compile (the live ones aside), and each
/// that the cost bound lets run is what the corpus runs its mutants of.
#[test]
fn the_bundled_scenarios_compile_and_most_are_within_the_cost_bound() {
    let bases = bundled();
    let mut within = 0;
    for base in &bases {
        match parse_simulable(&base.text, &base.path) {
            Ok(compiled) => within += usize::from(within_cost(&compiled)),
            Err(error) => assert!(base.path.starts_with("scenarios/live/"), "{error}"),
        }
    }
    assert!(within * 10 >= bases.len() * 8, "{within} of {} within the cost bound", bases.len());
}
