//! Placed faults land: a fault a scenario places on a trade or a phase must
//! really happen in its run, or the scenario tests less than it says.

use std::path::{Path, PathBuf};

use possim_sim::execute::execute;
use possim_sim::placed;
use possim_sim::scenario::load::load_and_compile;
use possim_sim::world::RunOptions;

/// Every scenario the simulated world runs (live scenarios and frame
/// fixtures aside), in a stable order.
fn simulated_scenarios(dir: &Path, found: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(dir).unwrap().map(|entry| entry.unwrap().path()).collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if path.is_dir() {
            if name != "live" && name != "frames" {
                simulated_scenarios(&path, found);
            }
        } else if name.ends_with(".yaml") {
            found.push(path);
        }
    }
}

/// Regression: `faults/protocol.yaml` placed a power cut "mid batch upload"
/// on a terminal whose batches always balanced, so no seed ever uploaded a
/// batch and the fault never happened, silently.
#[test]
fn every_placed_fault_of_every_bundled_scenario_lands_on_its_default_seed() {
    let mut paths = Vec::new();
    simulated_scenarios(Path::new("../scenarios"), &mut paths);
    let mut checked = 0;
    let mut missed = Vec::new();
    for path in &paths {
        let scenario = load_and_compile(path).expect("a bundled scenario");
        if scenario.faults.protocol.is_empty() {
            continue;
        }
        let options = RunOptions { seed: scenario.run.seed, swarm: false };
        let report = execute(&scenario, &options).expect("the run completes");
        checked += 1;
        for fault in report.placed.iter().filter(|p| !p.landed()) {
            missed.push(format!("{}: {fault}", path.display()));
        }
    }
    assert!(checked >= 20, "only {checked} scenarios place faults");
    assert!(missed.is_empty(), "placed faults that never landed:\n{}", missed.join("\n"));
}

#[test]
fn a_placed_fault_the_run_never_reaches_is_reported_as_not_landed() {
    // Trade 1000 of a terminal: no run of this scenario gets that far.
    let text = std::fs::read_to_string("../scenarios/faults/protocol.yaml").unwrap();
    let text = text.replace(
        "- {kind: drop_request, terminal: PR000004, trade: 4}",
        "- {kind: drop_request, terminal: PR000004, trade: 1000}",
    );
    let scenario = possim_sim::scenario::parse_and_compile(&text, "protocol.yaml").unwrap();
    let report = execute(&scenario, &RunOptions { seed: 0, swarm: false }).unwrap();
    let never: Vec<String> =
        report.placed.iter().filter(|p| !p.landed()).map(ToString::to_string).collect();
    assert_eq!(never, ["drop_request on PR000004: drop request of trade 1000"]);
    let line = placed::line(&report.placed).unwrap();
    assert!(
        line.ends_with("; never: drop_request on PR000004: drop request of trade 1000"),
        "{line}"
    );
}

/// `faults/protocol.yaml` with one placement of each phase added after the
/// first three (a reversal, an 0500, an offline upload, a sign-in in
/// flight), a switch crash with a reversal queued and a cutoff as a
/// settlement leaves.
fn with_the_later_phases() -> possim_sim::scenario::compile::CompiledScenario {
    let text = std::fs::read_to_string("../scenarios/faults/protocol.yaml").unwrap();
    let text = text.replace(
        "    - {kind: drop_request, terminal: PR000004, trade: 4}\n",
        "    - {kind: drop_request, terminal: PR000004, trade: 4}\n\
         \x20   - {kind: power_off, terminal: PR000001, trade: 2, phase: while_reversal_in_flight, off_ms: 20000}\n\
         \x20   - {kind: power_off, terminal: PR000002, trade: 1, phase: while_settlement_in_flight, off_ms: 20000}\n\
         \x20   - {kind: power_off, terminal: PR000004, trade: 1, phase: during_offline_upload, off_ms: 20000}\n\
         \x20   - {kind: power_off, terminal: PR000001, trade: 2, phase: during_sign_in, off_ms: 20000}\n\
         \x20   - {kind: switch_crash_with_reversals_queued, terminal: PR000001, restart_after_ms: 15000}\n\
         \x20   - {kind: cutoff_during_settlement, terminal: PR000004, for_ms: 30000}\n",
    );
    possim_sim::scenario::parse_and_compile(&text, "protocol.yaml").unwrap()
}

#[test]
fn each_later_phase_lands_while_its_frame_is_in_flight() {
    use possim_models::actor::Node;
    use possim_sim::trace::{FaultCause, FaultKind, TraceEvent};
    let scenario = with_the_later_phases();
    let report = execute(&scenario, &RunOptions { seed: 0, swarm: false }).unwrap();
    let never: Vec<String> =
        report.placed.iter().filter(|p| !p.landed()).map(ToString::to_string).collect();
    assert!(
        never.iter().all(|n| n.contains("after the issuer approved")),
        "only the one seed 0 never reaches: {never:?}"
    );
    let records = report.trace.records();
    // (terminal, the words, the MTI of the frame in flight, its answer's)
    let cases = [
        ("PR000001", "power off while the reversal of trade 2 is in flight", "0400", "0410"),
        ("PR000002", "power off while settlement request 1 is in flight", "0500", "0510"),
        ("PR000004", "power off while offline upload 1 is in flight", "0220", "0230"),
        ("PR000001", "power off while sign-in 2 is in flight", "0800", "0810"),
        ("network", "cutoff for 30000 ms as the settlement of PR000004 leaves", "0500", "0510"),
    ];
    for (target, words, mti, answer) in cases {
        let at = records
            .iter()
            .position(|r| match &r.event {
                TraceEvent::Fault(f) => {
                    f.target == target && f.cause == FaultCause::Protocol(words.into())
                }
                _ => false,
            })
            .unwrap_or_else(|| panic!("{words} never landed"));
        let terminal = if target == "network" { "PR000004" } else { target };
        let id = possim_models::iso8583::values::TerminalId::new(terminal).unwrap();
        let sent = records[..at]
            .iter()
            .rposition(|r| matches!(&r.event, TraceEvent::Frame(f) if f.from == Node::Terminal(id)))
            .expect("a frame left before");
        let TraceEvent::Frame(frame) = &records[sent].event else { unreachable!() };
        assert_eq!(frame.mti.as_deref(), Some(mti), "{words}: the frame just sent");
        let answered = records[sent..at].iter().any(|r| {
            matches!(&r.event, TraceEvent::Frame(f)
                if f.to == Node::Terminal(id) && f.mti.as_deref() == Some(answer)
                    && f.stan == frame.stan)
        });
        assert!(!answered, "{words}: the answer came back before the fault");
    }
    // The crash: after the switch queued PR000001's reversal, before the
    // network acknowledged it.
    let crash = records
        .iter()
        .position(|r| {
            matches!(&r.event, TraceEvent::Fault(f)
                if f.kind == FaultKind::HostCrash && matches!(&f.cause, FaultCause::Protocol(w)
                    if w.contains("reversal of PR000001 in store-and-forward")))
        })
        .expect("the placed switch crash landed");
    let queued = records[..crash].iter().rposition(|r| {
        matches!(&r.event, TraceEvent::Switch(e)
            if format!("{:?}", e.kind).contains("ReversalQueued")
                && format!("{:?}", e.kind).contains("PR000001"))
    });
    let queued = queued.expect("the switch queued a reversal of PR000001 before the crash");
    let acknowledged = records[queued..crash].iter().any(|r| {
        matches!(&r.event, TraceEvent::Switch(e)
            if format!("{:?}", e.kind).contains("ReversalAcknowledged")
                && format!("{:?}", e.kind).contains("PR000001"))
    });
    assert!(!acknowledged, "the switch still held the reversal as it crashed");
}

/// `faults/protocol.yaml` with a tamper lock placed on PR000002's third
/// trade, PR000002 keeping its keys through it when `keeps_keys`.
fn with_a_placed_tamper(keeps_keys: bool) -> possim_sim::scenario::compile::CompiledScenario {
    let text = std::fs::read_to_string("../scenarios/faults/protocol.yaml").unwrap();
    let text = text.replace(
        "    - {kind: drop_request, terminal: PR000004, trade: 4}\n",
        "    - {kind: drop_request, terminal: PR000004, trade: 4}\n\
         \x20   - {kind: tamper, terminal: PR000002, trade: 3, unlock_after_ms: 30000}\n",
    );
    let plain = "  - {id: PR000002, merchant: \"898100000000004\", tmk: 1122334455667788}";
    assert!(text.contains(plain));
    let text = if keeps_keys {
        text.replace(
            plain,
            "  - {id: PR000002, merchant: \"898100000000004\", tmk: 1122334455667788, \
             config: {mutation: tamper_keeps_keys}}",
        )
    } else {
        text
    };
    possim_sim::scenario::parse_and_compile(&text, "protocol.yaml").unwrap()
}

/// Regression: no fault drawn or placed ever knocked a terminal into its
/// tamper lock with the day under way, so a terminal that keeps its keys
/// through the lock traded on unseen. A placed tamper lands as the trade's
/// request leaves; the safe terminal asks for a sign-in after the unlock
/// and gets one before anything else leaves it, the mutant does not.
#[test]
fn a_placed_tamper_locks_as_the_request_leaves_and_only_kept_keys_break_the_session() {
    use possim_models::actor::Node;
    use possim_models::terminal::events::TerminalEventKind;
    use possim_sim::oracle::Invariant;
    use possim_sim::trace::{FaultCause, FaultKind, TraceEvent};
    let words = "tamper lock after the request of trade 3 left, unlock after 30000 ms";
    let safe =
        execute(&with_a_placed_tamper(false), &RunOptions { seed: 0, swarm: false }).unwrap();
    assert!(safe.failed().is_empty(), "the safe terminal: {:?}", safe.failed());
    let records = safe.trace.records();
    let lock = records
        .iter()
        .position(|r| {
            matches!(&r.event, TraceEvent::Fault(f) if f.kind == FaultKind::TamperLock
                && f.cause == FaultCause::Protocol(words.into()))
        })
        .expect("the placed tamper landed");
    let id = possim_models::iso8583::values::TerminalId::new("PR000002").unwrap();
    let sent = records[..lock]
        .iter()
        .rposition(|r| matches!(&r.event, TraceEvent::Frame(f) if f.from == Node::Terminal(id)))
        .expect("a frame left before the knock");
    let TraceEvent::Frame(frame) = &records[sent].event else { unreachable!() };
    assert_eq!(frame.mti.as_deref(), Some("0200"), "the knock lands as the request leaves");
    let asked = records[lock..].iter().any(|r| {
        matches!(&r.event, TraceEvent::Terminal(e) if e.terminal == id
            && matches!(e.kind, TerminalEventKind::SignInRequired { .. }))
    });
    assert!(asked, "the safe terminal asks for a sign-in after the unlock");
    let next = records[lock..]
        .iter()
        .find_map(|r| match &r.event {
            TraceEvent::Frame(f) if f.from == Node::Terminal(id) => f.mti.clone(),
            _ => None,
        })
        .expect("the terminal sends again");
    assert_eq!(next, "0800", "a sign-in first, not the cashier's next trade");
    let judged = safe.verdicts.iter().find(|v| v.invariant == Invariant::TamperEndsSession);
    assert_eq!(judged.map(|v| v.judged), Some(1), "one tamper lock judged");

    let mutant =
        execute(&with_a_placed_tamper(true), &RunOptions { seed: 0, swarm: false }).unwrap();
    assert_eq!(mutant.failed(), ["tamper-ends-session"], "only the session outlives the lock");
}

/// `faults/protocol.yaml` with PR000004's first offline upload answered
/// 79 and PR000002's first settlement found unbalanced and its upload's end
/// answered 95, both terminals carrying `mutation`, if any.
fn with_the_host_answers(
    mutation: Option<&str>,
) -> possim_sim::scenario::compile::CompiledScenario {
    let text = std::fs::read_to_string("../scenarios/faults/protocol.yaml").unwrap();
    let mut text = text.replace(
        "    - {kind: drop_request, terminal: PR000004, trade: 4}\n",
        "    - {kind: drop_request, terminal: PR000004, trade: 4}\n\
         \x20   - {kind: upload_not_reconciled, terminal: PR000004, trade: 1}\n\
         \x20   - {kind: reconciliation_error, terminal: PR000002}\n",
    );
    if let Some(mutation) = mutation {
        let (pr2, pr4) = (
            "  - {id: PR000002, merchant: \"898100000000004\", tmk: 1122334455667788}",
            "    config: {key_mode: \"003\"}",
        );
        assert!(text.contains(pr2) && text.contains(pr4));
        text = text
            .replace(
                pr2,
                &format!(
                    "  - {{id: PR000002, merchant: \"898100000000004\", tmk: 1122334455667788, \
                     config: {{mutation: {mutation}}}}}"
                ),
            )
            .replace(pr4, &format!("    config: {{key_mode: \"003\", mutation: {mutation}}}"));
    }
    possim_sim::scenario::parse_and_compile(&text, "protocol.yaml").unwrap()
}

/// Regression: no safe host ever answered an offline upload 79 or a batch
/// upload's end 95, so a terminal that re-uploads a 79 forever or takes a
/// 95 as the end of its settlement passed every seed. The placements tell
/// the switch as the message leaves; the safe terminals list the 79 and
/// upload the batch again after the 95, and pass; each mutant fails.
#[test]
fn a_placed_79_and_95_land_and_only_the_terminals_that_mishandle_them_fail() {
    use possim_sim::trace::{FaultKind, TraceEvent};
    let safe =
        execute(&with_the_host_answers(None), &RunOptions { seed: 0, swarm: false }).unwrap();
    assert!(safe.failed().is_empty(), "the safe terminals: {:?}", safe.failed());
    let words = [
        "answer offline upload 1 79",
        "the host's count disagrees with the first settlement; answer its upload's end 95",
    ];
    for words in words {
        let placed = safe.placed.iter().find(|p| p.placement == words).expect("planned");
        assert!(placed.landed(), "{words}");
    }
    let answered: Vec<&str> = safe
        .trace
        .records()
        .iter()
        .filter_map(|r| match &r.event {
            TraceEvent::Fault(f) if f.kind == FaultKind::HostAnswerCode => Some(f.target.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(answered, ["PR000004", "PR000002"], "one 79, then one 95");
    // The 79 answers an advice (0230), the 95 the upload's end (0330).
    let answered_with = |mti: &str, code: &str| {
        safe.trace.records().iter().any(|r| {
            matches!(&r.event, TraceEvent::Frame(f) if f.mti.as_deref() == Some(mti)
                && f.code.is_some_and(|c| c.as_str() == code))
        })
    };
    assert!(answered_with("0230", "79") && answered_with("0330", "95"), "the switch said both");
    // Re-sent forever, the 79'd advice is never settled; a batch the
    // terminal takes as settled after the 95 is not the one the host filed.
    let expected = [
        ("reupload_not_reconciled_forever", "offline-before-settlement"),
        ("reconciliation_error_ends_settlement", "conservation"),
    ];
    for (mutation, invariant) in expected {
        let scenario = with_the_host_answers(Some(mutation));
        let mutant = execute(&scenario, &RunOptions { seed: 0, swarm: false }).unwrap();
        assert!(
            mutant.failed().iter().any(|f| f == invariant),
            "{mutation}: {:?}",
            mutant.failed()
        );
    }
}

/// Swarm seed 1032 of `faults/protocol.yaml`: an e-cash upload's 0330 00
/// was lost, the terminal sent the 0320 again, and the placed
/// `upload_not_reconciled` (the 2nd offline upload) landed on that resend:
/// the switch answered 79 to an upload its issuer had booked, and
/// no-double-debit failed on a host contradicting itself. The Nth offline
/// upload is now the Nth offline trade at its first send, so a placed 79
/// never lands on a resend. Regression test: the seed passes, and every
/// 0330 answered 79 answers a STAN the terminal sent for the first time.
#[test]
fn a_placed_79_lands_on_an_upload_s_first_send_never_on_a_resend() {
    use possim_models::actor::Node;
    use possim_sim::trace::TraceEvent;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let scenario = load_and_compile(&root.join("scenarios/faults/protocol.yaml")).unwrap();
    let report = execute(&scenario, &RunOptions { seed: 1032, swarm: true }).unwrap();
    let failed: Vec<String> = report
        .verdicts
        .iter()
        .filter(|verdict| !verdict.passed())
        .map(|verdict| verdict.to_string())
        .collect();
    assert!(failed.is_empty(), "{failed:?}");
    let mut sends: std::collections::BTreeMap<(String, u32), u32> = Default::default();
    let mut answered_79 = 0;
    for record in report.trace.records() {
        let TraceEvent::Frame(frame) = &record.event else { continue };
        let (Some(terminal), Some(stan)) = (frame.terminal, frame.stan) else { continue };
        let key = (terminal.trimmed().to_string(), stan);
        match (frame.mti.as_deref(), &frame.from, &frame.to) {
            (Some("0320"), Node::Terminal(_), Node::Switch) => *sends.entry(key).or_default() += 1,
            (Some("0330"), Node::Switch, Node::Terminal(_))
                if frame.code.is_some_and(|code| code.as_str() == "79") =>
            {
                answered_79 += 1;
                assert_eq!(sends.get(&key), Some(&1), "79 to a resent upload {key:?}");
            }
            _ => {}
        }
    }
    assert!(answered_79 >= 1, "the placed 79 is still in the run");
}
