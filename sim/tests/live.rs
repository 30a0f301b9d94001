//! Live mode on loopback: `possim serve` against an independent terminal
//! (tests/interop/py_terminal.py, on pyiso8583), and against hostile
//! clients. Ports are chosen by binding port 0; serve logs the address.

#[path = "support/process.rs"]
mod process;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use possim_models::iso8583::{Frame, Header, Message, Mti, Tpdu};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

struct Serve {
    child: Child,
    addr: String,
    /// Every stderr line (the decision log), as it comes.
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Serve {
    fn start(scenario: &str, extra: &[&str]) -> Serve {
        let mut child = Command::new(env!("CARGO_BIN_EXE_possim"))
            .arg("serve")
            .arg(root().join(scenario))
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("possim runs");
        let stderr = child.stderr.take().unwrap();
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                if sender.send(line).is_err() {
                    return;
                }
            }
        });
        let mut serve = Serve { child, addr: String::new(), lines, seen: Vec::new() };
        let listening = serve.wait_for(r#""event":"listening""#, Duration::from_secs(20));
        // With --log the decision log's line is a log line's `fields=`.
        let json = listening.split_once("fields=").map_or(listening.as_str(), |(_, json)| json);
        let value: serde_json::Value = serde_json::from_str(json).unwrap();
        serve.addr = value["addr"].as_str().unwrap().to_string();
        serve
    }

    fn port(&self) -> String {
        self.addr.rsplit(':').next().unwrap().to_string()
    }

    /// The first log line containing `needle`, waiting up to `within`.
    fn wait_for(&mut self, needle: &str, within: Duration) -> String {
        if let Some(line) = self.seen.iter().find(|l| l.contains(needle)) {
            return line.clone();
        }
        let deadline = std::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!("no log line with {needle} within {within:?}: {:#?}", self.seen),
            }
        }
    }

    /// Waits for the exit; (code, stdout, the whole log).
    fn finish(mut self) -> (i32, String, Vec<String>) {
        let mut stdout = String::new();
        self.child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
        let status = self.child.wait().unwrap();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
            self.seen.push(line);
        }
        (status.code().unwrap_or(-1), stdout, std::mem::take(&mut self.seen))
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn py_terminal(port: &str, extra: &[&str]) -> (i32, String) {
    let output = Command::new("python3")
        .current_dir(root().join("tests/interop"))
        .arg("py_terminal.py")
        .args(["--port", port, "--terminal", "LV000001", "--merchant", "898100000000001"])
        .args(["--tmk", "0123456789ABCDEF", "--pan", "6222020000000001", "--timeout-ms", "2000"])
        .args(extra)
        .output()
        .expect("python3 runs (pip install -r tests/interop/requirements.txt)");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.code().unwrap_or(-1), text)
}

fn row<'a>(table: &'a str, check: &str) -> &'a str {
    table.lines().find(|line| line.starts_with(check)).unwrap_or_else(|| panic!("{table}"))
}

#[test]
fn an_independent_terminal_that_reverses_is_compliant() {
    let out = std::env::temp_dir().join(format!("possim-live-py-{}", std::process::id()));
    let out_arg = out.display().to_string();
    let serve = Serve::start(
        "scenarios/live/precheck.yaml",
        &["--max-trades", "1", "--linger-ms", "500", "--out", &out_arg],
    );
    let (code, transcript) = py_terminal(&serve.port(), &[]);
    assert_eq!(code, 0, "{transcript}");
    assert!(transcript.contains("no answer within"), "the answer was withheld: {transcript}");
    assert!(transcript.contains("-> 0400 stan 000002"), "{transcript}");
    let (code, table, log) = serve.finish();
    assert_eq!(code, 0, "{table}\n{log:#?}");
    assert!(row(&table, "reverses-unanswered-trade").contains("pass"), "{table}");
    assert!(!row(&table, "reverses-unanswered-trade").ends_with(" 0  "), "{table}");
    assert!(log.iter().any(|l| l.contains(r#""what":"drop_answer on trade 1 (stan 2)""#)));
    let junit = std::fs::read_to_string(out.join("junit.xml")).unwrap();
    assert!(junit.contains("reverses-unanswered-trade"), "{junit}");
    assert!(out.join("decisions.jsonl").exists());
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn an_independent_terminal_without_its_reversal_is_caught() {
    let serve =
        Serve::start("scenarios/live/precheck.yaml", &["--max-trades", "1", "--linger-ms", "500"]);
    let (code, transcript) = py_terminal(&serve.port(), &["--no-reversal"]);
    assert_eq!(code, 0, "{transcript}");
    assert!(!transcript.contains("-> 0400"), "{transcript}");
    let (code, table, _) = serve.finish();
    assert_eq!(code, 1, "{table}");
    let reversal = row(&table, "reverses-unanswered-trade");
    assert!(reversal.contains("FAIL") && reversal.contains("before reversing stan 2"), "{table}");
    assert!(row(&table, "stan-unique-in-batch").contains("pass"), "{table}");
    assert!(table.contains("NON-COMPLIANT"), "{table}");
}

// Honest verdicts: no peer, and checks that judged nothing.

/// Regression: with no terminal ever connecting, serve printed "compliant"
/// and exited 0. It is not compliant (exit 1), says so in one line, and
/// tells a selected check that judged nothing from one that does not apply.
#[test]
fn serve_with_no_terminal_connected_is_not_compliant() {
    let out = std::env::temp_dir().join(format!("possim-live-nobody-{}", std::process::id()));
    let out_arg = out.display().to_string();
    let serve =
        Serve::start("scenarios/live/precheck.yaml", &["--duration", "1", "--out", &out_arg]);
    let (code, table, _) = serve.finish();
    assert_eq!(code, 1, "{table}");
    assert!(table.contains("verdict   NON-COMPLIANT: no terminal connected within 1 s"), "{table}");
    // drop_answer is in the scenario: the reversal check is selected.
    assert!(row(&table, "reverses-unanswered-trade").contains("not exercised"), "{table}");
    assert!(row(&table, "stan-unique-in-batch").contains("not exercised"), "{table}");
    // No drop_reversals fault: nothing could have exercised it.
    assert!(row(&table, "retries-reversal").contains("not applicable"), "{table}");
    assert!(!table.contains(" pass "), "{table}");
    let junit = std::fs::read_to_string(out.join("junit.xml")).unwrap();
    assert!(junit.contains("no terminal connected within 1 s"), "{junit}");
    assert!(junit.contains("not exercised: no terminal of the scenario sent"), "{junit}");
    assert!(junit.contains("<skipped") && junit.contains("no drop_reversals fault"), "{junit}");
    let _ = std::fs::remove_dir_all(out);
}

/// Without --duration, serve does not wait for a terminal for ever.
#[test]
fn serve_ends_when_no_terminal_connects_within_the_connect_timeout() {
    let serve = Serve::start("scenarios/live/precheck.yaml", &["--connect-timeout-ms", "1000"]);
    let (code, table, log) = serve.finish();
    assert_eq!(code, 1, "{table}");
    assert!(table.contains("no terminal connected within 1 s"), "{table}");
    assert!(log.iter().any(|l| l.contains(r#""by":"connect-timeout""#)), "{log:#?}");
}

/// A terminal that speaks and hangs up: the fault meant for its trade never
/// fired, so the selected reversal check judged nothing and the run is not
/// compliant, with a line saying what never happened; the hang-up is said.
#[test]
fn a_selected_check_that_judged_nothing_fails_the_run_and_says_why() {
    let serve = Serve::start("scenarios/live/precheck.yaml", &["--duration", "1"]);
    let mut stream = connect(&serve.addr);
    stream.write_all(&echo_frame("LV000001")).unwrap();
    let _ = read_frame(&mut stream);
    drop(stream);
    let (code, table, _) = serve.finish();
    assert_eq!(code, 1, "{table}");
    assert!(row(&table, "stan-unique-in-batch").contains("pass"), "{table}");
    assert!(row(&table, "reverses-unanswered-trade").contains("not exercised"), "{table}");
    assert!(table.contains("never     no reversible trade's answer was withheld"), "{table}");
    assert!(table.contains("so reverses-unanswered-trade judged nothing"), "{table}");
    assert!(table.contains("verdict   NON-COMPLIANT: 1 check(s) not exercised"), "{table}");
    assert!(
        table.contains("note      terminal LV000001 disconnected at")
            && table.contains("and sent nothing after"),
        "{table}"
    );
}

/// drive against a port nobody listens on: exit 1 at once, one line.
#[test]
fn drive_with_the_host_refusing_says_so_and_exits_1() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = port.local_addr().unwrap().to_string();
    drop(port);
    let (code, table, log) = drive("scenarios/live/precheck.yaml", &addr, &[]);
    assert_eq!(code, 1, "{table}\n{log}");
    assert!(
        table.contains(&format!("verdict   NON-COMPLIANT: host at {addr} refused the connection")),
        "{table}"
    );
    assert!(row(&table, "unregistered-refused").contains("not exercised"), "{table}");
    assert!(row(&table, "bad-mac-refused").contains("not applicable"), "{table}");
}

/// A host that accepts, reads and hangs up without a word: drive ends once
/// the terminals' timeout passed with nothing from it (exit 1), and says
/// the host closed the connection.
#[test]
fn drive_with_a_host_that_never_answers_says_so_and_exits_1() {
    let host = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = host.local_addr().unwrap().to_string();
    host.set_nonblocking(true).unwrap();
    let mute = std::thread::spawn(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            match host.accept() {
                Ok((mut stream, _)) => {
                    stream.set_nonblocking(false).unwrap();
                    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                    let mut first = [0u8; 64];
                    let _ = stream.read(&mut first);
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    });
    let (code, table, log) = drive("scenarios/live/precheck.yaml", &addr, &[]);
    assert_eq!(code, 1, "{table}\n{log}");
    assert!(
        table.contains(&format!(
            "verdict   NON-COMPLIANT: host at {addr} answered nothing within 3000 ms"
        )),
        "{table}"
    );
    assert!(table.contains("note      the host closed terminal"), "{table}");
    drop(mute);
}

fn connect(addr: &str) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream
}

/// Whether the server closed the connection: end of file or a reset. A read
/// that times out means the connection is still open, and is not a close.
fn closed_by_server(stream: &mut TcpStream) -> bool {
    use std::io::ErrorKind;
    let mut buffer = [0u8; 64];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return true,
            // An answer (a format error, say) may come before the close.
            Ok(_) => continue,
            Err(error) => {
                return matches!(
                    error.kind(),
                    ErrorKind::ConnectionReset
                        | ErrorKind::ConnectionAborted
                        | ErrorKind::BrokenPipe
                )
            }
        }
    }
}

fn echo_frame(terminal: &str) -> Vec<u8> {
    let mut message = Message::new(Mti::NETWORK_ADVICE);
    message.set(11, b"000001").unwrap();
    message.set(41, terminal.as_bytes()).unwrap();
    message.set(42, b"898100000000001").unwrap();
    message.set(60, b"00000001301").unwrap();
    Frame { tpdu: Tpdu::new(3, 0), header: Header::new(310_001), message }.to_bytes()
}

/// A whole answer frame from `stream`.
fn read_frame(stream: &mut TcpStream) -> Frame {
    let mut length = [0u8; 2];
    stream.read_exact(&mut length).unwrap();
    let mut rest = vec![0u8; usize::from(u16::from_be_bytes(length))];
    stream.read_exact(&mut rest).unwrap();
    let mut bytes = length.to_vec();
    bytes.extend(rest);
    Frame::decode(&bytes).unwrap()
}

fn vm_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// A serve with a short idle bound, for the hostile clients below.
fn hardened() -> Serve {
    Serve::start(
        "scenarios/live/precheck.yaml",
        &["--idle-timeout-ms", "700", "--duration", "30", "--max-connections", "1100"],
    )
}

/// What every hardening test ends with: a fresh connection is still served,
/// the server stops cleanly on a signal, and nothing panicked.
fn still_serving_then_stop(mut serve: Serve) -> Vec<String> {
    let mut stream = connect(&serve.addr);
    stream.write_all(&echo_frame("LV000001")).unwrap();
    assert_eq!(read_frame(&mut stream).message.mti(), Mti::NETWORK_ADVICE_RESPONSE);
    drop(stream);
    let pid = serve.child.id();
    let _ = Command::new("kill").args(["-INT", &pid.to_string()]).status();
    serve.wait_for(r#""by":"signal""#, Duration::from_secs(10));
    let (code, table, log) = serve.finish();
    // No check failed; only the reversal check, selected by the scenario's
    // drop_answer, was never exercised (these clients make no trade), and
    // that alone is what makes the run not compliant.
    assert_eq!(code, 1, "{table}");
    assert!(!table.contains("FAIL"), "no terminal check failed: {table}");
    assert!(row(&table, "reverses-unanswered-trade").contains("not exercised"), "{table}");
    assert!(table.contains("verdict   NON-COMPLIANT: 1 check(s) not exercised"), "{table}");
    assert!(!log.iter().any(|l| l.contains("panicked")), "{log:#?}");
    log
}

#[test]
fn an_oversize_length_closes_the_connection_before_buffering() {
    let mut serve = hardened();
    let mut stream = connect(&serve.addr);
    stream.write_all(&[0xFF, 0xFF, 1, 2, 3]).unwrap();
    assert!(closed_by_server(&mut stream), "an oversize length left the connection open");
    serve.wait_for("frame length 65535 over the maximum 2046", Duration::from_secs(5));
    still_serving_then_stop(serve);
}

#[test]
fn lengths_that_lie_are_refused() {
    let mut serve = hardened();
    // Under the minimum any frame needs.
    let mut stream = connect(&serve.addr);
    stream.write_all(&[0x00, 0x02, 0x60, 0x00]).unwrap();
    assert!(closed_by_server(&mut stream));
    serve.wait_for("under the minimum", Duration::from_secs(5));
    // A real echo whose length claims 3 bytes less: the message it frames
    // is cut short and does not decode, so the connection is closed; the
    // 3 bytes left over are never taken for a frame.
    let mut echo = echo_frame("LV000001");
    let claimed = u16::from_be_bytes([echo[0], echo[1]]) - 3;
    echo[..2].copy_from_slice(&claimed.to_be_bytes());
    let mut stream = connect(&serve.addr);
    stream.write_all(&echo).unwrap();
    assert!(closed_by_server(&mut stream));
    serve.wait_for(r#""conn":2,"reason":"undecodable frame"#, Duration::from_secs(5));
    still_serving_then_stop(serve);
}

#[test]
fn a_truncated_message_that_names_its_terminal_gets_format_error_30() {
    let serve = hardened();
    let mut message = Message::new(Mti::FINANCIAL);
    message.set(11, b"000007").unwrap();
    message.set(41, b"LV000001").unwrap();
    let frame = Frame { tpdu: Tpdu::new(3, 0), header: Header::new(310_001), message };
    let mut stream = connect(&serve.addr);
    stream.write_all(&frame.to_bytes()).unwrap();
    let answer = read_frame(&mut stream);
    assert_eq!(answer.message.get(39), Some(&b"30"[..]));
    assert_eq!(answer.message.mti(), Mti::FINANCIAL_RESPONSE);
    assert_eq!(answer.message.get(11), Some(&b"000007"[..]), "the answer names the request");
    still_serving_then_stop(serve);
}

#[test]
fn random_bytes_close_the_connection_with_a_logged_reason() {
    let mut serve = hardened();
    let mut stream = connect(&serve.addr);
    stream.write_all(&[0x93; 40]).unwrap();
    assert!(closed_by_server(&mut stream));
    let mut junk = vec![0x00, 0x20];
    junk.extend([0x61; 0x20]);
    let mut stream = connect(&serve.addr);
    stream.write_all(&junk).unwrap();
    assert!(closed_by_server(&mut stream));
    serve.wait_for("undecodable frame", Duration::from_secs(5));
    still_serving_then_stop(serve);
}

#[test]
fn a_client_sending_one_byte_at_a_time_is_cut_at_the_idle_bound() {
    let mut serve = hardened();
    let echo = echo_frame("LV000001");
    let mut slow = connect(&serve.addr);
    let started = std::time::Instant::now();
    // One byte per 250 ms against a 700 ms bound on a whole frame: the
    // bound is on completing a frame, so trickling bytes do not reset it.
    for byte in &echo[..8] {
        if slow.write_all(&[*byte]).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(closed_by_server(&mut slow));
    assert!(started.elapsed() < Duration::from_secs(5));
    // The connection's own bound (no whole frame) or the table's (no frame
    // accepted), whichever fires first: both are 700 ms from the open.
    serve.wait_for("within 700 ms", Duration::from_secs(5));
    still_serving_then_stop(serve);
}

#[test]
fn a_client_that_connects_and_says_nothing_is_cut_at_the_idle_bound() {
    let mut serve = hardened();
    let started = std::time::Instant::now();
    let mut silent = connect(&serve.addr);
    assert!(closed_by_server(&mut silent));
    assert!(started.elapsed() < Duration::from_secs(5));
    serve.wait_for("within 700 ms", Duration::from_secs(5));
    still_serving_then_stop(serve);
}

#[test]
fn a_client_gone_mid_frame_is_logged_and_the_rest_served() {
    let mut serve = hardened();
    let mut stream = connect(&serve.addr);
    stream.write_all(&echo_frame("LV000001")[..10]).unwrap();
    drop(stream);
    serve.wait_for("peer closed mid-frame (10 bytes", Duration::from_secs(5));
    still_serving_then_stop(serve);
}

#[test]
fn a_thousand_concurrent_connections_stay_bounded_and_served() {
    let mut serve = Serve::start(
        "scenarios/live/precheck.yaml",
        &[
            "--idle-timeout-ms",
            "700",
            "--duration",
            "30",
            "--max-connections",
            "1100",
            "--connections-per-peer-max",
            "1100",
        ],
    );
    let pid = serve.child.id();
    let before_kb = vm_rss_kb(pid);
    let crowd: Vec<TcpStream> = (0..1000).map(|_| connect(&serve.addr)).collect();
    let mut stream = connect(&serve.addr);
    stream.write_all(&echo_frame("LV000001")).unwrap();
    let answer = read_frame(&mut stream);
    assert_eq!(answer.message.mti(), Mti::NETWORK_ADVICE_RESPONSE);
    let during_kb = vm_rss_kb(pid);
    eprintln!("serve VmRSS: {before_kb} kB before, {during_kb} kB with 1,001 connections open");
    assert!(during_kb < 256 * 1024, "VmRSS {during_kb} kB with 1,000 connections");
    let log_line = serve.wait_for(r#""event":"connected","conn":1000"#, Duration::from_secs(5));
    assert!(log_line.contains("127.0.0.1"));
    drop(stream);
    drop(crowd);
    still_serving_then_stop(serve);
}

#[test]
fn live_only_fault_kinds_are_refused_by_the_simulator_and_checked_by_serve() {
    let dir = std::env::temp_dir().join(format!("possim-live-kinds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = std::fs::read_to_string(root().join("scenarios/live/precheck.yaml")).unwrap();
    let live = dir.join("live.yaml");
    std::fs::write(
        &live,
        text.replace(
            "    - {kind: drop_answer, terminal: LV000001, trade: 1}",
            "    - {kind: answer_code, terminal: LV000001, trade: 1, code: '77'}",
        ),
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_possim")).arg("run").arg(&live).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("fault kind answer_code exists only live"), "{stderr}");
    assert!(stderr.contains("live.yaml:"), "the error names its place: {stderr}");

    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        text.replace(
            "    - {kind: drop_answer, terminal: LV000001, trade: 1}",
            "    - {kind: answer_code, terminal: LV000001, trade: 1, code: '00'}",
        ),
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_possim"))
        .args(["serve", bad.to_str().unwrap(), "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("is not a host refusal"), "{stderr}");
    let _ = std::fs::remove_dir_all(dir);
}

// possim drive: the terminal fleet, against possim serve on loopback.

/// Runs `possim drive` against `addr`; (exit code, stdout table, stderr log).
fn drive(scenario: &str, addr: &str, extra: &[&str]) -> (i32, String, String) {
    let child = Command::new(env!("CARGO_BIN_EXE_possim"))
        .arg("drive")
        .arg(root().join(scenario))
        .args(["--target", addr, "--speed", "5"])
        .args(extra)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("possim runs");
    process::finish(child, "drive", Duration::from_secs(50))
}

/// serve on port 0, drive against it, then serve stopped by a signal.
/// (serve code, serve table, drive code, drive table, drive log)
fn serve_and_drive(scenario: &str, drive_extra: &[&str]) -> (i32, String, i32, String, String) {
    let serve = Serve::start(scenario, &["--duration", "120"]);
    let (drive_code, drive_table, drive_log) = drive(scenario, &serve.addr, drive_extra);
    let pid = serve.child.id().to_string();
    let _ = Command::new("kill").args(["-INT", &pid]).status();
    let (serve_code, serve_table, _) = serve.finish();
    (serve_code, serve_table, drive_code, drive_table, drive_log)
}

/// The "judged" column of a check's row (the verdict may be two words).
fn judged(table: &str, check: &str) -> u64 {
    let cells: Vec<&str> = row(table, check).split_whitespace().collect();
    cells.iter().find_map(|cell| cell.parse().ok()).unwrap_or_else(|| panic!("{table}"))
}

#[test]
fn serve_and_drive_both_compliant_judge_each_other() {
    let out = std::env::temp_dir().join(format!("possim-live-drive-{}", std::process::id()));
    let out_arg = out.display().to_string();
    let (serve_code, serve_table, drive_code, drive_table, drive_log) = serve_and_drive(
        "scenarios/live/drive_compliant.yaml",
        &["--duration", "12", "--out", &out_arg],
    );
    assert_eq!(drive_code, 0, "{drive_table}\n{drive_log}");
    assert_eq!(serve_code, 0, "{serve_table}\n{drive_log}");
    for check in [
        "repeat-answered-94",
        "reversal-idempotent",
        "bad-mac-refused",
        "unregistered-refused",
        "settlement-reconciled",
    ] {
        assert!(row(&drive_table, check).contains("pass"), "{drive_table}");
        assert!(judged(&drive_table, check) > 0, "{check} not exercised: {drive_table}");
    }
    for check in [
        "reverses-unanswered-trade",
        "signs-in-when-told",
        "offline-before-settlement",
        "stan-unique-in-batch",
    ] {
        assert!(row(&serve_table, check).contains("pass"), "{serve_table}");
        assert!(judged(&serve_table, check) > 0, "{check} not exercised: {serve_table}");
    }
    assert!(drive_log.contains("corrupt_request on trade 3"), "{drive_log}");
    assert!(drive_log.contains(r#""answer":"97""#), "the unregistered probe: {drive_log}");
    let junit = std::fs::read_to_string(out.join("junit.xml")).unwrap();
    assert!(junit.contains("settlement-reconciled"), "{junit}");
    assert!(std::fs::read_to_string(out.join("decisions.jsonl")).unwrap().contains("\"dial\""));
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn an_unsafe_terminal_driven_by_possim_is_caught_by_serve() {
    let (serve_code, serve_table, _, drive_table, drive_log) =
        serve_and_drive("scenarios/live/drive_unsafe_terminal.yaml", &["--max-trades", "3"]);
    assert!(drive_log.contains("power_off on trade 2"), "{drive_log}");
    assert_eq!(serve_code, 1, "{serve_table}\n{drive_table}\n{drive_log}");
    let reversal = row(&serve_table, "reverses-unanswered-trade");
    assert!(
        reversal.contains("FAIL") && reversal.contains("before reversing stan 3"),
        "{serve_table}"
    );
    assert!(row(&serve_table, "stan-unique-in-batch").contains("pass"), "{serve_table}");
}

#[test]
fn an_unsafe_host_served_by_possim_is_caught_by_drive() {
    let (_, serve_table, drive_code, drive_table, drive_log) = serve_and_drive(
        "scenarios/live/drive_switch_no_duplicate_check.yaml",
        &["--max-trades", "3"],
    );
    assert_eq!(drive_code, 1, "{drive_table}\n{serve_table}\n{drive_log}");
    let repeat = row(&drive_table, "repeat-answered-94");
    assert!(repeat.contains("FAIL") && repeat.contains("first answer was 94"), "{drive_table}");
    assert!(row(&drive_table, "unregistered-refused").contains("pass"), "{drive_table}");
    assert!(drive_table.contains("NON-COMPLIANT"), "{drive_table}");
}

#[test]
fn serve_live_only_faults_judged_on_possim_terminals() {
    let (serve_code, serve_table, drive_code, drive_table, drive_log) =
        serve_and_drive("scenarios/live/drive_host_faults.yaml", &["--max-trades", "3"]);
    assert_eq!(serve_code, 0, "{serve_table}\n{drive_log}");
    for check in
        ["signs-in-when-told", "reverses-unanswered-trade", "batch-upload-after-unbalanced"]
    {
        assert!(row(&serve_table, check).contains("pass"), "{serve_table}");
        assert!(
            judged(&serve_table, check) > 0,
            "{check} not exercised: {serve_table}\n{drive_log}"
        );
    }
    // The host said "not balanced" on totals that matched: drive says so.
    assert_eq!(drive_code, 1, "{drive_table}");
    let settlement = row(&drive_table, "settlement-reconciled");
    assert!(settlement.contains("FAIL") && settlement.contains("yet it answered"), "{drive_table}");
}

/// Regression: drive turned every refund into a sale, since a refund needs
/// a reference number from an earlier batch. It now remembers each batch's
/// sales as it settles and refunds one of them; before the first
/// settlement there is nothing to refund, and no trade is made.
#[test]
fn drive_refunds_a_sale_of_a_settled_batch_through_a_live_host() {
    let (serve_code, serve_table, drive_code, drive_table, drive_log) =
        serve_and_drive("scenarios/live/drive_refund.yaml", &["--duration", "8"]);
    assert_eq!(drive_code, 0, "{drive_table}\n{drive_log}");
    assert_eq!(serve_code, 0, "{serve_table}\n{drive_log}");
    let events: Vec<serde_json::Value> = drive_log
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|line| line.get("what").cloned())
        .collect();
    let started = |kind: &str| -> Vec<&serde_json::Value> {
        events.iter().filter(|e| e["event"] == "trade_started" && e["kind"] == kind).collect()
    };
    // The scripted refund at 1 s came before any settlement: no trade.
    assert_eq!(started("sale").len(), 2, "{drive_log}");
    let refunds = started("refund");
    assert_eq!(refunds.len(), 1, "{drive_log}");
    // The oldest remembered sale (1000 fen on card 01), refunded for the
    // 400 the cardholder returns.
    assert_eq!(refunds[0]["pan"], "6222020000000001", "{drive_log}");
    assert_eq!(refunds[0]["amount"], 400, "{drive_log}");
    let stan = refunds[0]["stan"].clone();
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "trade_answered" && e["stan"] == stan && e["approved"] == true),
        "the host approved the refund: {drive_log}"
    );
    // The refund is the next batch's one credit, and that batch balances.
    let credit = events
        .iter()
        .find(|e| e["event"] == "settlement_started" && e["batch"] == 2)
        .expect("batch 2 settles");
    assert_eq!(credit["totals"]["credit_amount"], 400, "{drive_log}");
    assert_eq!(credit["totals"]["credit_count"], 1, "{drive_log}");
    assert!(
        events.iter().any(|e| e["event"] == "settlement_balanced" && e["batch"] == 2),
        "{drive_log}"
    );
}

// Hostile clients against possim serve: hijacking, slot holding, bad-MAC
// floods, and a real terminal's trades through all of them at once.

use std::net::{IpAddr, SocketAddr};

use possim_models::iso8583::cup::CupMessage;
use possim_models::iso8583::keys::KeyMode;
use possim_models::iso8583::mac::MacKey;
use possim_models::iso8583::network::{NetworkCode, NetworkRequest};
use possim_models::iso8583::values::{BatchNo, MerchantId, Stan, TerminalId};
use possim_models::wire::seal;

const MERCHANT: &str = "898100000000001";

fn network_frame(terminal: &str, code: NetworkCode, stan: u32) -> Vec<u8> {
    let request = NetworkRequest {
        code,
        stan: Stan::new(stan).unwrap(),
        batch: BatchNo::new(1).unwrap(),
        terminal: TerminalId::new(terminal).unwrap(),
        merchant: MerchantId::new(MERCHANT).unwrap(),
        operator: Some(*b"01 "),
    };
    seal(&CupMessage::Network(request), Tpdu::new(3, 0), None)
}

/// A sale with a MAC under a key that is not the terminal's.
fn forged_sale(terminal: &str, stan: u32) -> Vec<u8> {
    let mut message = Message::new(Mti::FINANCIAL);
    message.set(2, b"6222020000000001").unwrap();
    message.set(3, b"000000").unwrap();
    message.set(4, b"000000001000").unwrap();
    message.set(11, format!("{stan:06}").as_bytes()).unwrap();
    message.set(22, b"021").unwrap();
    message.set(25, b"00").unwrap();
    message.set(41, terminal.as_bytes()).unwrap();
    message.set(42, MERCHANT.as_bytes()).unwrap();
    message.set(49, b"156").unwrap();
    message.set(60, b"22000001000").unwrap();
    let sale = CupMessage::parse(&message).unwrap();
    seal(&sale, Tpdu::new(3, 0), Some(&MacKey::new([7; 8])))
}

/// The soft limit on open files; raised toward `needed` with prlimit(1)
/// when lower (the workspace forbids unsafe code, so no setrlimit here).
/// Children spawned afterwards inherit it.
fn ensure_open_files(needed: u64) {
    let soft = || -> (u64, u64) {
        let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
        let line = limits.lines().find(|l| l.starts_with("Max open files")).unwrap();
        let mut numbers = line.split_whitespace().filter_map(|w| w.parse::<u64>().ok());
        (numbers.next().unwrap_or(u64::MAX), numbers.next().unwrap_or(u64::MAX))
    };
    let (current, hard) = soft();
    if current >= needed {
        return;
    }
    let target = needed.min(hard);
    let _ = Command::new("prlimit")
        .args(["--pid", &std::process::id().to_string(), &format!("--nofile={target}:")])
        .status();
    let (raised, _) = soft();
    assert!(raised >= needed, "open files: soft limit {raised}, hard {hard}, {needed} needed");
}

/// A blocking connection from `local` (any address of 127/8 is loopback).
fn connect_from(local: IpAddr, addr: &str) -> TcpStream {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let stream = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(local, 0)).unwrap();
        socket.connect(addr.parse().unwrap()).await.unwrap()
    });
    let stream = stream.into_std().unwrap();
    stream.set_nonblocking(false).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

#[test]
fn a_frame_every_so_often_holds_no_slot() {
    let mut serve = Serve::start(
        "scenarios/live/siege.yaml",
        &["--auth-deadline-ms", "1500", "--idle-timeout-ms", "1000", "--duration", "30"],
    );
    // Echoes the host answers 00: accepted, each moving the idle deadline,
    // yet no keys proven, so the auth deadline closes it.
    let mut chatty = connect(&serve.addr);
    let started = std::time::Instant::now();
    let mut stan = 0;
    while started.elapsed() < Duration::from_secs(4) {
        stan += 1;
        if chatty.write_all(&network_frame("LV000001", NetworkCode::Echo, stan)).is_err() {
            break;
        }
        chatty.set_read_timeout(Some(Duration::from_millis(400))).unwrap();
        let mut buffer = [0u8; 256];
        match chatty.read(&mut buffer) {
            Ok(0) => break,
            Ok(_) => std::thread::sleep(Duration::from_millis(300)),
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => break,
        }
    }
    chatty.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert!(closed_by_server(&mut chatty));
    assert!(started.elapsed() < Duration::from_secs(4), "cut at the auth deadline");
    serve.wait_for("not authenticated within 1500 ms", Duration::from_secs(5));
    // Refused frames (97 for an invented id) do not move the idle deadline.
    let mut refused = connect(&serve.addr);
    let started = std::time::Instant::now();
    for stan in 1..=20 {
        if refused.write_all(&network_frame("NOBODY01", NetworkCode::Echo, stan)).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
        if started.elapsed() > Duration::from_millis(1_400) {
            break;
        }
    }
    assert!(closed_by_server(&mut refused));
    assert!(started.elapsed() < Duration::from_millis(1_500), "{:?}", started.elapsed());
    serve.wait_for("no frame accepted within 1000 ms", Duration::from_secs(5));
}

#[test]
fn a_peer_at_its_cap_and_a_full_table_make_room_by_evicting_the_unauthenticated() {
    let mut serve = Serve::start(
        "scenarios/live/siege.yaml",
        &["--max-connections", "6", "--connections-per-peer-max", "3", "--duration", "30"],
    );
    let mut first = connect_from(ip("127.0.0.2"), &serve.addr);
    serve.wait_for(r#""event":"connected","conn":1"#, Duration::from_secs(5));
    let _crowd: Vec<TcpStream> =
        (0..3).map(|_| connect_from(ip("127.0.0.2"), &serve.addr)).collect();
    assert!(closed_by_server(&mut first), "the peer's oldest made room for its fourth");
    serve.wait_for(r#""event":"evict","conn":1"#, Duration::from_secs(5));
    let line = serve.wait_for("its peer 127.0.0.2", Duration::from_secs(5));
    assert!(line.contains("over its 3"), "{line}");
    let mut others: Vec<TcpStream> =
        (3..6).map(|n| connect_from(ip(&format!("127.0.0.{n}")), &serve.addr)).collect();
    serve.wait_for(r#""event":"connected","conn":7"#, Duration::from_secs(5));
    // Six open: the table is full. A terminal's connection still gets in.
    let mut terminal = connect(&serve.addr);
    terminal.write_all(&echo_frame("LV000001")).unwrap();
    assert_eq!(read_frame(&mut terminal).message.mti(), Mti::NETWORK_ADVICE_RESPONSE);
    serve.wait_for("table of 6 was full", Duration::from_secs(5));
    others.truncate(3);
    let pid = serve.child.id().to_string();
    let _ = Command::new("kill").args(["-INT", &pid]).status();
    let (_, _, log) = serve.finish();
    let line = log.iter().find(|l| l.contains(r#""event":"stopped""#)).unwrap();
    assert!(line.contains(r#""evicted":2"#), "{line}");
    assert!(line.contains(r#""refused":0"#), "{line}");
}

#[test]
fn bad_macs_are_answered_a0_and_the_third_closes_the_connection() {
    let mut serve = Serve::start("scenarios/live/siege.yaml", &["--duration", "30"]);
    let mut stream = connect(&serve.addr);
    for round in 0..3u32 {
        let sign_in =
            network_frame("LV000001", NetworkCode::SignIn(KeyMode::Single), 2 * round + 1);
        stream.write_all(&sign_in).unwrap();
        assert_eq!(read_frame(&mut stream).message.get(39), Some(&b"00"[..]));
        stream.write_all(&forged_sale("LV000001", 2 * round + 2)).unwrap();
        let answer = read_frame(&mut stream);
        assert_eq!(answer.message.get(39), Some(&b"A0"[..]), "bad MAC {}", round + 1);
    }
    assert!(closed_by_server(&mut stream), "closed after its third bad MAC");
    serve.wait_for("3 bad MACs on one connection (each answered A0)", Duration::from_secs(5));
    let pid = serve.child.id().to_string();
    let _ = Command::new("kill").args(["-INT", &pid]).status();
    let (code, table, _) = serve.finish();
    assert_eq!(code, 0, "it signed in after each A0, as told: {table}");
}

/// An answer a hostile client read: MTI, F39, F41.
type Answer = (Mti, Option<Vec<u8>>, Option<Vec<u8>>);

/// What one hostile client got.
#[derive(Debug, Default)]
struct Seen {
    /// The server hung up (end of file or reset).
    closed: bool,
    /// Whole frames read.
    answers: Vec<Answer>,
    /// The terminal id the client claimed.
    claimed: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hostile {
    /// Trickles an echo now and then, never proving keys.
    Slowloris,
    /// Signs a decoy in and sends sales with MACs under the wrong key.
    BadMac,
    /// Claims the real terminal's id once it is bound.
    Impostor,
    /// Connects and says nothing.
    Silent,
}

async fn read_answer(
    reader: &mut tokio::net::tcp::OwnedReadHalf,
    seen: &mut Seen,
    within: Duration,
) -> bool {
    use tokio::io::AsyncReadExt;
    let mut length = [0u8; 2];
    let read = tokio::time::timeout(within, reader.read_exact(&mut length)).await;
    let Ok(Ok(_)) = read else {
        if matches!(read, Ok(Err(_))) {
            seen.closed = true;
        }
        return false;
    };
    let mut rest = vec![0u8; usize::from(u16::from_be_bytes(length))];
    if reader.read_exact(&mut rest).await.is_err() {
        seen.closed = true;
        return false;
    }
    let mut bytes = length.to_vec();
    bytes.extend(rest);
    let frame = Frame::decode(&bytes).unwrap();
    seen.answers.push((
        frame.message.mti(),
        frame.message.get(39).map(<[u8]>::to_vec),
        frame.message.get(41).map(<[u8]>::to_vec),
    ));
    true
}

async fn hostile(role: Hostile, index: u32, local: IpAddr, server: SocketAddr) -> Seen {
    use tokio::io::AsyncWriteExt;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(local, 0)).unwrap();
    let stream = socket.connect(server).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let mut seen = Seen::default();
    let patience = Duration::from_secs(20);
    match role {
        Hostile::Silent => {}
        Hostile::Impostor => {
            seen.claimed = "LV000001".into();
            let frame = if index.is_multiple_of(2) {
                network_frame("LV000001", NetworkCode::Echo, 500_000 + index)
            } else {
                forged_sale("LV000001", 500_000 + index)
            };
            let _ = writer.write_all(&frame).await;
        }
        Hostile::BadMac => {
            seen.claimed = format!("HX{index:06}");
            for round in 0..3u32 {
                let sign_in = network_frame(
                    &seen.claimed,
                    NetworkCode::SignIn(KeyMode::Single),
                    2 * round + 1,
                );
                if writer.write_all(&sign_in).await.is_err()
                    || !read_answer(&mut reader, &mut seen, patience).await
                {
                    break;
                }
                let sale = forged_sale(&seen.claimed, 2 * round + 2);
                if writer.write_all(&sale).await.is_err()
                    || !read_answer(&mut reader, &mut seen, patience).await
                {
                    break;
                }
            }
        }
        Hostile::Slowloris => {
            seen.claimed = format!("HX{:06}", 500 + index);
            let started = tokio::time::Instant::now();
            for stan in 1..=60u32 {
                let echo = network_frame(&seen.claimed, NetworkCode::Echo, stan);
                if writer.write_all(&echo).await.is_err() || started.elapsed() > patience {
                    break;
                }
                if !read_answer(&mut reader, &mut seen, patience).await {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
    // Until the server hangs up (or patience runs out: not closed).
    for _ in 0..100 {
        if seen.closed || !read_answer(&mut reader, &mut seen, patience).await {
            break;
        }
    }
    seen
}

/// The scenario serve plays: siege.yaml's registry plus 1,000 decoys the
/// hostile clients sign in as (HX000000.. for bad MACs, HX000500.. for
/// the slow ones), so their frames reach the switch's gate.
fn siege_scenario(dir: &std::path::Path) -> PathBuf {
    let text = std::fs::read_to_string(root().join("scenarios/live/siege.yaml")).unwrap();
    let decoys: String = (0..1000)
        .map(|n| format!("  - {{id: HX{n:06}, merchant: \"{MERCHANT}\", tmk: 0123456789ABCDEF}}\n"))
        .collect();
    let text = text.replace("\nissuers:", &format!("{decoys}\nissuers:"));
    let path = dir.join("siege_with_decoys.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_real_terminal_trades_unaffected_through_two_thousand_hostile_clients() {
    let started = std::time::Instant::now();
    ensure_open_files(4_500);
    let dir = std::env::temp_dir().join(format!("possim-live-siege-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let scenario = siege_scenario(&dir);
    let mut serve = Serve::start(
        scenario.to_str().unwrap(),
        &["--auth-deadline-ms", "3000", "--idle-timeout-ms", "5000", "--duration", "120"],
    );
    let addr = serve.addr.clone();
    let terminal = {
        let addr = addr.clone();
        std::thread::spawn(move || {
            drive("scenarios/live/siege.yaml", &addr, &["--duration", "10", "--closing-ms", "8000"])
        })
    };
    let bound = serve.wait_for(r#""event":"bound""#, Duration::from_secs(20));
    assert!(bound.contains("LV000001"), "{bound}");

    // 500 of each, spread over loopback addresses; the silent ones all
    // from one, which its cap of 64 keeps churning through its own slots.
    let server: SocketAddr = addr.parse().unwrap();
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let results: Vec<(Hostile, Seen)> = runtime.block_on(async move {
        let mut tasks = Vec::new();
        for index in 0..2_000u32 {
            let role = [Hostile::Slowloris, Hostile::BadMac, Hostile::Impostor, Hostile::Silent]
                [index as usize % 4];
            let number = index / 4;
            let local = match role {
                Hostile::Silent => ip("127.0.0.99"),
                Hostile::Slowloris => ip(&format!("127.0.0.{}", 42 + number % 20)),
                _ => ip(&format!("127.0.0.{}", 2 + number % 40)),
            };
            tasks.push((role, tokio::spawn(hostile(role, number, local, server))));
            // 100 connects per 100 ms: paced, so the kernel's accept
            // queue never overflows on a slow (debug, shared) machine.
            if index % 100 == 99 {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        let mut results = Vec::new();
        for (role, task) in tasks {
            results.push((role, task.await.unwrap()));
        }
        results
    });
    for (role, seen) in &results {
        assert!(seen.closed, "the server closed every hostile connection: {role:?} {seen:?}");
        match role {
            Hostile::Silent => assert!(seen.answers.is_empty(), "{seen:?}"),
            Hostile::Impostor => assert!(seen.answers.is_empty(), "no answer to a claim: {seen:?}"),
            Hostile::BadMac => {
                let codes: Vec<_> = seen.answers.iter().map(|a| a.1.clone()).collect();
                let a0 = Some(b"A0".to_vec());
                let ok = Some(b"00".to_vec());
                assert_eq!(
                    codes,
                    [ok.clone(), a0.clone(), ok.clone(), a0.clone(), ok, a0],
                    "{seen:?}"
                );
            }
            Hostile::Slowloris => {
                for answer in &seen.answers {
                    assert_eq!(answer.2.as_deref(), Some(seen.claimed.as_bytes()), "{seen:?}");
                }
            }
        }
    }

    let (drive_code, drive_table, drive_log) = terminal.join().unwrap();
    assert_eq!(drive_code, 0, "{drive_table}\n{drive_log}");
    let events: Vec<serde_json::Value> = drive_log
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|line| line.get("what").cloned())
        .collect();
    let stans = |event: &str| -> Vec<serde_json::Value> {
        events.iter().filter(|e| e["event"] == event).map(|e| e["stan"].clone()).collect()
    };
    let trades = stans("trade_started");
    assert_eq!(trades.len(), 6, "every scripted sale was made: {drive_log}");
    let answered = stans("trade_answered");
    for stan in &trades {
        assert!(answered.contains(stan), "trade stan {stan} unanswered: {drive_log}");
    }
    assert!(
        events.iter().filter(|e| e["event"] == "trade_answered").all(|e| e["approved"] == true),
        "{drive_log}"
    );

    let pid = serve.child.id().to_string();
    let _ = Command::new("kill").args(["-INT", &pid]).status();
    let (serve_code, serve_table, log) = serve.finish();
    assert_eq!(serve_code, 0, "{serve_table}");
    assert!(serve_table.contains("verdict   compliant"), "{serve_table}");
    for needle in [
        "is bound to connection",
        "3 bad MACs on one connection",
        "not authenticated within 3000 ms",
        "evicted: its peer 127.0.0.99",
    ] {
        assert!(log.iter().any(|l| l.contains(needle)), "no {needle:?} in the log");
    }
    let bound: Vec<&String> = log.iter().filter(|l| l.contains(r#""event":"bound""#)).collect();
    assert!(bound.iter().all(|l| l.contains("LV000001")), "only the terminal binds: {bound:?}");
    let _ = std::fs::remove_dir_all(dir);
    eprintln!("siege: {:?} wall", started.elapsed());
}

/// `--log` on serve and drive: frames read and written per connection,
/// the host's elements' decisions in their spans, the decision log as log
/// lines (not also as its own JSON lines), each stamped `h:mm:ss.mmm`.
#[test]
fn serve_and_drive_log_frames_and_decisions_with_log() {
    let scenario = "scenarios/live/drive_compliant.yaml";
    let serve = Serve::start(scenario, &["--duration", "120", "--log", "possim=debug"]);
    let (drive_code, drive_table, drive_log) =
        drive(scenario, &serve.addr, &["--duration", "6", "--log", "possim=debug"]);
    let peer = format!("host{{name={}}}:terminal{{id=", serve.addr);
    let pid = serve.child.id().to_string();
    let _ = Command::new("kill").args(["-INT", &pid]).status();
    let (_, _, serve_log) = serve.finish();
    assert_eq!(drive_code, 0, "{drive_table}\n{drive_log}");
    let stamped = |line: &str| line.split_whitespace().next().is_some_and(|t| t.contains(':'));
    assert!(drive_log.lines().all(stamped), "{drive_log}");
    assert!(drive_log.contains("possim::live: dial fields="), "{drive_log}");
    assert!(
        drive_log
            .lines()
            .any(|l| l.contains(&peer) && l.contains("possim::frame: 0200 written conn=")),
        "frames in the span of the peer and the terminal: {drive_log}"
    );
    assert!(drive_log.contains("possim::frame: 0210 read conn="), "{drive_log}");
    assert!(
        drive_log.lines().any(|l| l.contains("host{name=possim}:terminal{id=")
            && l.contains("possim::terminal: trade answered rc 00")),
        "drive's terminals log their decisions in their spans: {drive_log}"
    );
    assert!(!drive_log.lines().any(|l| l.starts_with('{')), "no second JSON log");
    let serve_log = serve_log.join("\n");
    assert!(
        serve_log.contains("}: possim::frame: 0200 read conn=")
            && serve_log.contains("host{name=127.0.0.1:"),
        "frames in the span of the peer: {serve_log}"
    );
    assert!(
        serve_log.contains("host{name=possim}:switch: possim::switch: signed in"),
        "{serve_log}"
    );
    assert!(serve_log.contains("possim::issuer: approved"), "{serve_log}");
}
