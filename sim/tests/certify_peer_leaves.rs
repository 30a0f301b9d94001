//! A peer that hangs up mid-case, for both live certification modes: a
//! terminal that connects to `certify --serve` and closes mid-frame, and a
//! host that accepts `certify --drive`'s connections and closes each after
//! its first read. Either way the run ends within its bound, not compliant
//! (exit 1), with one line saying what never happened: a hang-up is never a
//! hang, and never a pass.

#[path = "support/process.rs"]
mod process;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Each run below decides in seconds; past this the test fails, not hangs.
const RUN_WALL_MAX: Duration = Duration::from_secs(120);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn field(line: &str, key: &str) -> Option<serde_json::Value> {
    serde_json::from_str::<serde_json::Value>(line).ok()?.get(key).cloned()
}

#[test]
fn a_terminal_that_hangs_up_mid_frame_leaves_its_case_not_exercised() {
    let fixtures = root().join("sim/tests/fixtures/certify_live");
    let mut child = Command::new(env!("CARGO_BIN_EXE_possim"))
        .current_dir(root())
        .args(["certify", "--serve", "127.0.0.1:0", "--operator", "json"])
        .args(["--operator-timeout-ms", "3000", "--case", "LT-01"])
        .arg(&fixtures)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("possim runs");
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    // The operator: ready for the case, and for each instruction the
    // "terminal" dials in, sends a length prefix promising 64 bytes and
    // only 8 of them, hangs up, and the operator says it is done.
    let operator = std::thread::spawn(move || {
        let mut listen = None;
        let mut script = Vec::new();
        let mut hang_ups = 0;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            match field(&line, "op").as_ref().and_then(|op| op.as_str()) {
                Some("hello") => listen = field(&line, "listen"),
                Some("case") => {
                    let _ = writeln!(stdin, r#"{{"ready":"LT-01"}}"#);
                }
                Some("do") => {
                    let addr = listen.as_ref().and_then(|addr| addr.as_str()).unwrap();
                    let mut socket = TcpStream::connect(addr).expect("serve listens");
                    socket.write_all(b"\x00\x4060000000").unwrap();
                    drop(socket);
                    hang_ups += 1;
                    let seq = field(&line, "seq").unwrap();
                    let _ = writeln!(stdin, r#"{{"ack":{seq},"result":"done"}}"#);
                }
                _ => {}
            }
            script.push(line);
        }
        (script, hang_ups)
    });
    let (code, _, log) = process::finish(child, "certify --serve", RUN_WALL_MAX);
    let (script, hang_ups) = operator.join().unwrap();
    assert!(hang_ups >= 1, "the terminal dialled in at least once: {script:?}");
    assert_eq!(code, 1, "{log}");
    let end = script.iter().find(|line| line.contains(r#""op":"end""#)).expect("an end line");
    assert_eq!(field(end, "verdict").unwrap(), "not_exercised", "{end}");
    assert!(
        field(end, "why").unwrap().as_str().unwrap().contains("CT010001"),
        "the line names the terminal that never spoke: {end}"
    );
    let bye = script.last().unwrap();
    assert_eq!(field(bye, "compliant").unwrap(), false, "{bye}");
    assert!(log.contains("LT-01: connection 1 from"), "the hang-up's connection is logged: {log}");
}

#[test]
fn a_host_that_hangs_up_leaves_the_host_case_not_exercised_naming_it() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    // The host: accept every connection, read once, close it. Accepting
    // ends when the test process does.
    std::thread::spawn(move || {
        for socket in listener.incoming() {
            let Ok(mut socket) = socket else { return };
            std::thread::spawn(move || {
                let mut buffer = [0_u8; 4096];
                let _ = socket.read(&mut buffer);
            });
        }
    });
    let child = Command::new(env!("CARGO_BIN_EXE_possim"))
        .current_dir(root())
        .args(["certify", "--drive", &addr, "--case", "CH-01"])
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("possim runs");
    let (code, table, log) = process::finish(child, "certify --drive", RUN_WALL_MAX);
    assert_eq!(code, 1, "{table}\n{log}");
    let last: Vec<&str> = log.lines().filter(|line| line.starts_with("certify --drive:")).collect();
    assert_eq!(last.len(), 1, "one closing line: {log}");
    assert!(last[0].contains("CH-01 not exercised"), "{log}");
    assert!(last[0].contains("the host closed terminal CH010001's connection"), "{log}");
}
