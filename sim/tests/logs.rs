//! Logs a bug reporter can paste (`possim_sim::logs`): spans naming the
//! host, the actor and the terminal, an event per decision, frames at
//! debug, simulated-time stamps; the same trace hash with logs on as off;
//! nothing at all when off.

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

use possim_sim::execute::execute;
use possim_sim::logs::{self, LogFormat};
use possim_sim::scenario::load::load_and_compile;
use possim_sim::world::RunOptions;

const QUICKSTART: &str = "../scenarios/quickstart.yaml";

/// A writer into a shared buffer, for a subscriber under test.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buffer {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).expect("log lines are UTF-8")
    }
}

/// The quick start's seed 1 under `filter` (none: no subscriber at all):
/// its trace hash and what was logged.
fn run_logged(filter: Option<&str>, format: LogFormat) -> (String, String) {
    // One at a time: tracing caches which callsites are on process-wide, and
    // tests on parallel threads, each with its own subscriber, race on it.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let scenario = load_and_compile(Path::new(QUICKSTART)).expect("the quick start");
    let options = RunOptions { seed: 1, swarm: false };
    let buffer = Buffer::default();
    let report = match filter {
        Some(filter) => {
            let writer = buffer.clone();
            let subscriber =
                logs::subscriber(filter, format, move || writer.clone()).expect("a good filter");
            tracing::subscriber::with_default(subscriber, || execute(&scenario, &options))
        }
        None => execute(&scenario, &options),
    }
    .expect("the run completes");
    (report.trace.hash(), buffer.text())
}

/// `h:mm:ss.mmm`, the simulated clock as the trace prints it.
fn is_sim_time(text: &str) -> bool {
    let parts: Vec<&str> = text.split([':', '.']).collect();
    parts.len() == 4
        && parts.iter().all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
        && parts[1].len() == 2
        && parts[2].len() == 2
        && parts[3].len() == 3
}

#[test]
fn a_debug_log_has_spans_simulated_time_decisions_and_frames() {
    let (hash_off, _) = run_logged(None, LogFormat::Text);
    let (hash_on, text) = run_logged(Some("possim=debug"), LogFormat::Text);
    assert_eq!(hash_on, hash_off, "logging changed the run");
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() > 100, "a whole run logs more than {} lines", lines.len());
    // Every line opens with the simulated clock, and it moves.
    let stamps: Vec<&str> = lines.iter().filter_map(|l| l.split_whitespace().next()).collect();
    assert!(stamps.iter().all(|stamp| is_sim_time(stamp)), "{:?}", &lines[..3]);
    assert_ne!(stamps.first(), stamps.last(), "the clock stood still");
    // A terminal's decision, inside its host's and its own span.
    let decision = lines
        .iter()
        .find(|line| {
            line.contains(" INFO host{name=farm-")
                && line.contains("}:terminal{id=")
                && line.contains("possim::terminal: trade answered rc 00")
        })
        .unwrap_or_else(|| panic!("no approved trade logged in its terminal's span:\n{text}"));
    assert!(decision.contains("stan="), "{decision}");
    // The issuer moving money, the switch forwarding, in their spans.
    assert!(
        lines.iter().any(|l| l.contains("host{name=issuer-") && l.contains("possim::issuer: ")),
        "no issuer decision"
    );
    assert!(
        lines.iter().any(|l| l.contains("host{name=switch}:switch: possim::switch: forwarded")),
        "no switch decision"
    );
    // Frames at debug: MTI, ends, fate, STAN and terminal as fields.
    let frame = lines
        .iter()
        .find(|l| l.contains("DEBUG") && l.contains("possim::frame: 0200 terminal "))
        .unwrap_or_else(|| panic!("no 0200 logged"));
    assert!(frame.contains(" -> switch "), "{frame}");
    assert!(text.contains(" -> switch delivered"), "no frame delivered");
    assert!(frame.contains("stan=") && frame.contains("terminal="), "{frame}");
    // The run's own milestones.
    assert!(text.contains("possim::run: run starts"), "no setup line");
    assert!(text.contains("possim::run: passed invariant="), "no verdict");
}

#[test]
fn info_leaves_frames_out_and_a_filter_picks_targets() {
    let (_, info) = run_logged(Some("possim=info"), LogFormat::Text);
    assert!(info.contains("possim::terminal: "));
    assert!(!info.contains("possim::frame"), "frames are debug");
    let (_, frames) = run_logged(Some("possim::frame=trace"), LogFormat::Text);
    assert!(frames.lines().all(|l| l.contains("possim::frame: ")), "only frames");
    assert!(frames.contains("fields="), "trace adds the frame's other fields");
}

#[test]
fn json_lines_parse_and_carry_the_spans() {
    let (_, text) = run_logged(Some("possim::terminal=info"), LogFormat::Json);
    let first = text.lines().next().expect("a line");
    let line: serde_json::Value = serde_json::from_str(first).expect("a JSON line");
    assert!(is_sim_time(line["timestamp"].as_str().unwrap()), "{line}");
    assert_eq!(line["span"]["name"], "terminal", "{line}");
    assert_eq!(line["spans"][0]["name"], "host", "{line}");
}

#[test]
fn logs_off_write_nothing() {
    let (_, text) = run_logged(Some("off"), LogFormat::Text);
    assert_eq!(text, "", "a filter of off logs nothing");
    assert_eq!(logs::filter_text(Some("")), None, "an empty flag is no filter");
    // The binary with neither --log nor RUST_LOG: stderr has its summary
    // lines only, no log line.
    let output = Command::new(env!("CARGO_BIN_EXE_possim"))
        .args(["run", QUICKSTART, "--seed", "1"])
        .env_remove("RUST_LOG")
        .output()
        .expect("possim runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.lines().all(|l| l.starts_with("wall ")), "{stderr}");
}

#[test]
fn the_flag_logs_to_stderr_and_wins_over_rust_log() {
    let run = |extra: &[&str], env: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_possim"));
        command.args(["run", QUICKSTART, "--seed", "1"]).args(extra);
        match env {
            Some(value) => command.env("RUST_LOG", value),
            None => command.env_remove("RUST_LOG"),
        };
        let output = command.output().expect("possim runs");
        assert_eq!(output.status.code(), Some(0));
        let stdout = String::from_utf8_lossy(&output.stdout).to_string();
        (stdout, String::from_utf8_lossy(&output.stderr).to_string())
    };
    let (plain, _) = run(&[], None);
    let (logged, stderr) = run(&["--log", "possim::switch=info"], Some("possim::frame=debug"));
    assert_eq!(logged, plain, "stdout (summary, hash) is the same with logs on");
    assert!(stderr.contains("possim::switch: "), "{stderr}");
    assert!(!stderr.contains("possim::frame"), "the flag wins over RUST_LOG");
    let (_, from_env) = run(&[], Some("possim::fault=info,possim::run=info"));
    assert!(from_env.contains("possim::run: run starts"), "RUST_LOG alone turns logs on");
    let bad = Command::new(env!("CARGO_BIN_EXE_possim"))
        .args(["run", QUICKSTART, "--log", "possim=loud"])
        .output()
        .expect("possim runs");
    assert_eq!(bad.status.code(), Some(2), "a bad filter is bad input");
}
