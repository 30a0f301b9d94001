//! `possim serve` judging the independent terminal in its operator mode
//! (`tests/interop/py_terminal.py --operator`, on pyiso8583): this test
//! plays the operator script's side (hello, case, do, bye) the way
//! `possim certify --serve --operator json` does, and serve's checks judge
//! what reached the wire. The good terminal is compliant; each broken
//! variant is caught by the check its bug breaks.
//!
//! ```text
//! serve scenarios/live/drive_host_faults.yaml   (77, connection reset, unbalanced)
//!   <- py_terminal.py --operator [--ignore-77 | --no-reversal]
//! ```

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const WAIT_MS: u64 = 20_000;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A child's lines, read on a thread so every wait has a deadline.
fn lines_of(stream: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (sender, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { return };
            if sender.send(line).is_err() {
                return;
            }
        }
    });
    lines
}

fn next_line(lines: &mpsc::Receiver<String>, what: &str) -> String {
    lines
        .recv_timeout(Duration::from_millis(WAIT_MS))
        .unwrap_or_else(|_| panic!("no {what} within {WAIT_MS} ms"))
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs the script against serve; (serve's exit code, its table, the terminal's log).
fn run(flags: &[&str]) -> (i32, String, String) {
    let mut serve = Killed(
        Command::new(env!("CARGO_BIN_EXE_possim"))
            .arg("serve")
            .arg(root().join("scenarios/live/drive_host_faults.yaml"))
            .args(["--listen", "127.0.0.1:0", "--max-trades", "4", "--linger-ms", "500"])
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("possim runs"),
    );
    let log = lines_of(serve.0.stderr.take().unwrap());
    let listening = loop {
        let line = next_line(&log, "listening line from serve");
        if line.contains(r#""event":"listening""#) {
            break line;
        }
    };
    let json = listening.split_once("fields=").map_or(listening.as_str(), |(_, json)| json);
    let value: serde_json::Value = serde_json::from_str(json).unwrap();
    let addr = value["addr"].as_str().unwrap().to_string();

    let mut terminal = Killed(
        Command::new("python3")
            .current_dir(root().join("tests/interop"))
            .arg("py_terminal.py")
            .arg("--operator")
            .args(flags)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("python3 runs (pip install -r tests/interop/requirements.txt)"),
    );
    let mut to_terminal: ChildStdin = terminal.0.stdin.take().unwrap();
    let answers = lines_of(terminal.0.stdout.take().unwrap());
    let terminal_log = lines_of(terminal.0.stderr.take().unwrap());
    let mut say = |line: String| writeln!(to_terminal, "{line}").and_then(|()| to_terminal.flush());

    say(format!(r#"{{"op":"hello","protocol":1,"listen":"{addr}"}}"#)).unwrap();
    say(r#"{"op":"case","case":"LV-1","title":"host faults","terminal":"LV000001","merchant":"898100000000001","tmk":"0123456789ABCDEF","key_mode":"001","response_timeout_ms":2000,"cards":[{"pan":"6222020000000001"},{"pan":"6222020000000002"},{"pan":"6222020000000003"}]}"#.into()).unwrap();
    assert_eq!(next_line(&answers, "ready"), r#"{"ready":"LV-1"}"#);
    let script = [
        r#""action":"sale","card":"6222020000000001","amount_fen":1000"#,
        r#""action":"sale","card":"6222020000000002","amount_fen":2000"#,
        r#""action":"sale","card":"6222020000000003","amount_fen":3000"#,
        r#""action":"settle""#,
        r#""action":"sale","card":"6222020000000003","amount_fen":100"#,
    ];
    for (index, action) in script.iter().enumerate() {
        let seq = index + 1;
        say(format!(r#"{{"op":"do","seq":{seq},"case":"LV-1",{action},"deadline_ms":60000}}"#))
            .unwrap();
        assert_eq!(next_line(&answers, "ack"), format!(r#"{{"ack":{seq},"result":"done"}}"#));
    }
    say(r#"{"op":"end","case":"LV-1","verdict":"pass","why":""}"#.into()).unwrap();
    say(r#"{"op":"bye","compliant":true,"passed":1,"failed":0,"not_exercised":0}"#.into()).unwrap();
    let status = terminal.0.wait().unwrap();
    // The log ends when the terminal's stderr closes, at its exit.
    let mut transcript = Vec::new();
    loop {
        match terminal_log.recv_timeout(Duration::from_millis(WAIT_MS)) {
            Ok(line) => transcript.push(line),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("the terminal's log never ended"),
        }
    }
    assert_eq!(status.code(), Some(0), "{transcript:#?}");

    let mut table = String::new();
    std::io::Read::read_to_string(&mut serve.0.stdout.take().unwrap(), &mut table).unwrap();
    let code = serve.0.wait().unwrap().code().unwrap_or(-1);
    (code, table, transcript.join("\n"))
}

fn row<'a>(table: &'a str, check: &str) -> &'a str {
    table.lines().find(|line| line.starts_with(check)).unwrap_or_else(|| panic!("{table}"))
}

#[test]
fn the_operator_mode_terminal_is_compliant() {
    let (code, table, transcript) = run(&[]);
    assert_eq!(code, 0, "{table}\n{transcript}");
    for check in
        ["reverses-unanswered-trade", "batch-upload-after-unbalanced", "signs-in-when-told"]
    {
        let verdict = row(&table, check);
        assert!(verdict.contains("pass") && !verdict.contains(" 0  "), "{table}");
    }
    assert!(transcript.contains("-> 0400 stan 000004 39 98"), "{transcript}");
    assert!(transcript.contains("-> 0320 stan 000008 39 -- 60 00000001202"), "{transcript}");
}

#[test]
fn ignore_77_is_caught_by_signs_in_when_told() {
    let (code, table, _) = run(&["--ignore-77"]);
    assert_eq!(code, 1, "{table}");
    assert!(row(&table, "signs-in-when-told").contains("FAIL"), "{table}");
    assert!(row(&table, "reverses-unanswered-trade").contains("pass"), "{table}");
}

#[test]
fn no_reversal_is_caught_by_reverses_unanswered_trade() {
    let (code, table, _) = run(&["--no-reversal"]);
    assert_eq!(code, 1, "{table}");
    assert!(row(&table, "reverses-unanswered-trade").contains("FAIL"), "{table}");
    assert!(row(&table, "signs-in-when-told").contains("pass"), "{table}");
}
