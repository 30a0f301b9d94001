//! The turmoil world, on small inline scenarios: faults really happen, the
//! report shows them, and the system heals.

use possim_sim::execute::execute;
use possim_sim::scenario::load::parse_and_compile;
use possim_sim::trace::{Fate, FaultKind, TraceEvent};
use possim_sim::world::RunOptions;

const BASE: &str = r#"
name: inline
run: {tick_ms: 10, safety_ms: 600000, healing_max_ms: 600000}
merchants: [{id: "898100000000001"}]
terminals:
  - {id: T0000001, merchant: "898100000000001", tmk: 0123456789ABCDEF}
  - {id: T0000002, merchant: "898100000000001", tmk: 1122334455667788}
issuers: [{index: 0, bins: ["622202"]}]
card_groups: [{bin: "622202", count: 5, balance_fen: 10000000}]
workload: {arrivals_per_terminal_per_hour: 120}
"#;

fn run(faults: &str, seed: u64) -> possim_sim::execute::RunReport {
    let text = format!("{BASE}faults:\n{faults}");
    let scenario = parse_and_compile(&text, "inline.yaml").expect("a valid inline scenario");
    execute(&scenario, &RunOptions { seed, swarm: false }).expect("the run completes")
}

/// Regression (found by the soak): frames written into a farm–switch
/// partition were dropped by turmoil mid-stream, and turmoil's TCP never
/// retransmits, so every later frame on those connections stalled forever:
/// reversals sent 70 times, never acknowledged, healing never converged.
#[test]
fn a_partition_between_a_farm_and_the_switch_heals() {
    let report = run(
        "  scheduled:\n    - {at_ms: 120000, kind: partition, between: [farm-0, switch], for_ms: 30000}\n",
        1,
    );
    let partitions = report
        .trace
        .records()
        .iter()
        .filter(|r| matches!(&r.event, TraceEvent::Fault(f) if f.kind == FaultKind::Partition));
    assert_eq!(partitions.count(), 1, "the partition really happened");
    assert!(report.converged, "{}", report.summary);
    assert!(report.passed(), "{:?}", report.failed());
}

#[test]
fn a_switch_crash_mid_day_heals_and_keeps_money_safe() {
    let report = run(
        "  scheduled:\n    - {at_ms: 200000, kind: crash, host: switch, restart_after_ms: 20000}\n",
        2,
    );
    let kinds: Vec<FaultKind> = report
        .trace
        .records()
        .iter()
        .filter_map(|r| match &r.event {
            TraceEvent::Fault(f) => Some(f.kind),
            _ => None,
        })
        .collect();
    assert_eq!(kinds, [FaultKind::HostCrash, FaultKind::HostRestart]);
    assert!(report.passed(), "{:?}", report.failed());
}

#[test]
fn a_placed_drop_lands_on_exactly_that_answer_and_is_reversed() {
    let report = run("  protocol:\n    - {kind: drop_answer, terminal: T0000001, trade: 2}\n", 3);
    let dropped: Vec<_> = report
        .trace
        .records()
        .iter()
        .filter_map(|r| match &r.event {
            TraceEvent::Frame(f) if f.fate == Fate::Dropped => Some((f.mti.clone(), f.stan)),
            _ => None,
        })
        .collect();
    assert_eq!(dropped.len(), 1, "{dropped:?}");
    assert_eq!(dropped[0].0.as_deref(), Some("0210"));
    assert!(report.summary.reversals_acknowledged >= 1, "{}", report.summary);
    assert!(report.passed(), "{:?}", report.failed());
}

/// What the scripted scenarios share: two cards, no drawn arrivals, no
/// settlement at the end. Each adds its script, then its terminals.
const SCRIPTED_HEAD: &str = r#"
name: scripted
run: {tick_ms: 10, safety_ms: 120000, healing_max_ms: 300000}
merchants: [{id: "898100000000001"}]
issuers: [{index: 0, bins: ["622202"]}]
cards:
  - {pan: "6222020000000001", balance_fen: 100000}
  - {pan: "6222020000000002", balance_fen: 100000}
workload:
  arrivals_per_terminal_per_hour: 0
  cashier: {settle_at_end: false}
"#;

const SCRIPTED: &str = r#"  script:
    - {at_ms: 10000, terminal: T0000001, trade: sale, card: "6222020000000002", amount_fen: 1234}
    - {at_ms: 40000, terminal: T0000001, trade: inquiry, card: "6222020000000001"}
terminals:
  - {id: T0000001, merchant: "898100000000001", tmk: 0123456789ABCDEF}
"#;

fn started(report: &possim_sim::execute::RunReport) -> Vec<(String, Option<u64>, String)> {
    use possim_models::terminal::events::TerminalEventKind;
    report
        .trace
        .records()
        .iter()
        .filter_map(|r| match &r.event {
            TraceEvent::Terminal(event) => match &event.kind {
                TerminalEventKind::TradeStarted { kind, amount, pan, .. } => {
                    Some((format!("{kind:?}"), amount.map(|a| a.fen()), pan.as_str().to_string()))
                }
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// A scripted workload places exactly its trades, whatever the seed: what
/// certification cases and shrunk repros rely on.
#[test]
fn a_scripted_workload_runs_exactly_its_trades_on_every_seed() {
    let text = [SCRIPTED_HEAD, SCRIPTED].concat();
    let scenario = parse_and_compile(&text, "scripted.yaml").expect("valid");
    let expected = vec![
        ("Sale".to_string(), Some(1234), "6222020000000002".to_string()),
        ("BalanceInquiry".to_string(), None, "6222020000000001".to_string()),
    ];
    for seed in [0, 1, 99] {
        let report = execute(&scenario, &RunOptions { seed, swarm: false }).expect("runs");
        assert_eq!(started(&report), expected, "seed {seed}");
        assert!(report.passed(), "seed {seed}: {:?}", report.failed());
    }
}

/// Regression: whenever any terminal settled, the runner remembered every
/// terminal's sales for refunds, so a terminal whose own batch was still
/// open was handed one of its open sales to refund, and refused it ("void
/// it instead"). Only a terminal's own settlement lets its sales be
/// refunded.
#[test]
fn a_refund_is_drawn_only_from_the_terminals_own_settled_batches() {
    const TWO: &str = r#"  script:
    - {at_ms: 10000, terminal: T0000002, trade: sale, card: "6222020000000002", amount_fen: 1234}
    - {at_ms: 60000, terminal: T0000002, trade: refund, card: "6222020000000002", amount_fen: 1000}
  commands:
    - {at_ms: 30000, terminal: T0000001, command: settle}
terminals:
  - {id: T0000001, merchant: "898100000000001", tmk: 0123456789ABCDEF}
  - {id: T0000002, merchant: "898100000000001", tmk: 1122334455667788}
"#;
    use possim_models::terminal::events::TerminalEventKind;
    let text = [SCRIPTED_HEAD, TWO].concat();
    let scenario = parse_and_compile(&text, "two.yaml").expect("valid");
    for seed in [0, 1] {
        let report = execute(&scenario, &RunOptions { seed, swarm: false }).expect("runs");
        let settled_by_one = report.trace.records().iter().any(|r| {
            matches!(&r.event, TraceEvent::Terminal(e)
                if e.terminal.trimmed() == "T0000001"
                    && matches!(e.kind, TerminalEventKind::SettlementStarted { .. }))
        });
        assert!(settled_by_one, "seed {seed}: T0000001 settled while T0000002's batch was open");
        let refused: Vec<String> = report
            .trace
            .records()
            .iter()
            .filter_map(|r| match &r.event {
                TraceEvent::Terminal(e) => match &e.kind {
                    TerminalEventKind::Refused { why } => Some(why.to_string()),
                    _ => None,
                },
                _ => None,
            })
            .collect();
        assert!(refused.is_empty(), "seed {seed}: {refused:?}");
        let expected = vec![("Sale".to_string(), Some(1234), "6222020000000002".to_string())];
        assert_eq!(started(&report), expected, "seed {seed}: no refund of an open batch");
        assert!(report.passed(), "seed {seed}: {:?}", report.failed());
    }
}

/// The device swap really happens, and it is the upload policy alone that
/// decides whether the swap loses the merchant's offline trades.
#[test]
fn a_swapped_terminal_loses_only_the_offline_trades_held_back_until_settlement() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scenarios/variants/offline_upload_before_settlement_only.yaml"
    );
    let unsafe_text = std::fs::read_to_string(path).expect("the variant is bundled");
    let safe_text = unsafe_text
        .replace("config: {offline_upload: before_settlement_only}", "config: {}")
        .replace("violates: [offline-before-settlement]", "violates: []")
        .lines()
        .filter(|line| !line.contains("also_violates:"))
        .map(|line| format!("{line}\n"))
        .collect::<String>();
    assert_ne!(safe_text, unsafe_text, "the policy was switched off");
    let options = RunOptions { seed: 0, swarm: false };
    let unsafe_run =
        execute(&parse_and_compile(&unsafe_text, "v.yaml").unwrap(), &options).unwrap();
    let swaps = unsafe_run
        .trace
        .records()
        .iter()
        .filter(
            |r| matches!(&r.event, TraceEvent::Fault(f) if f.kind == FaultKind::TerminalReplaced),
        )
        .count();
    assert_eq!(swaps, 1, "the swap really happened");
    assert!(
        unsafe_run.failed().contains(&"offline-before-settlement".to_string()),
        "{:?}",
        unsafe_run.failed()
    );
    let safe_run = execute(&parse_and_compile(&safe_text, "s.yaml").unwrap(), &options).unwrap();
    assert!(safe_run.passed(), "{:?}\n{}", safe_run.failed(), safe_run.summary);
}

/// Regression (found by the long sweep, quickstart seed 4590): an arrival
/// in the very instant healing began was still a queued command when the
/// first healing round looked; the terminal's journal was empty (it had
/// settled), so the round declared the day converged, and clearing released
/// the issuer's hold on a sale the terminal then approved and printed a slip
/// for: no-double-debit and slip-truth failed.
#[test]
fn a_trade_keyed_in_as_healing_begins_is_settled_before_clearing() {
    let path = std::path::Path::new("../scenarios/quickstart.yaml");
    let scenario = possim_sim::scenario::load::load_and_compile(path).expect("bundled");
    let report = execute(&scenario, &RunOptions { seed: 4590, swarm: false }).expect("completes");
    assert!(report.passed(), "failed: {:?}", report.failed());
}

/// Regression (found by the hostile-input corpus): the world kept its
/// issuers in a list and addressed them by index, so a scenario whose one
/// issuer is `index: 1` (valid: indexes are 0 to 99, unique) panicked on
/// the issuer's first deadline. Issuer 5 answers, and a silent spell of it
/// runs.
#[test]
fn issuers_need_not_be_indexed_from_zero_in_order() {
    let text = BASE.replace(
        r#"issuers: [{index: 0, bins: ["622202"]}]"#,
        "issuers: [{index: 5, bins: [\"622202\"]}, {index: 0, bins: [\"622848\"]}]",
    ) + "faults:\n  scheduled:\n    - {at_ms: 60000, kind: issuer_silent, issuer: 5, for_ms: 20000}\n";
    assert!(text.contains("index: 5"));
    let scenario = parse_and_compile(&text, "sparse.yaml").expect("a valid scenario");
    let report = execute(&scenario, &RunOptions { seed: 3, swarm: false }).expect("it runs");
    let answered = report
        .trace
        .records()
        .iter()
        .filter(|record| matches!(&record.event, TraceEvent::Issuer { issuer: 5, .. }))
        .count();
    assert!(answered > 0, "issuer 5 took part");
    assert!(report.passed(), "{:?}", report.failed());
}

/// Regression (found by a swarm seed of faults/device.yaml, 60): the
/// technician's unlock after a tamper lock came while a power cut had the
/// terminal off; the command was dropped, the terminal stayed locked and
/// could never sign in or settle (healing did not converge). The unlock now
/// waits for the terminal to be back on, and a run that does not converge
/// says what was still pending.
#[test]
fn a_tamper_unlock_that_finds_the_terminal_off_waits_for_it() {
    let report = run(
        "  scheduled:\n    \
         - {at_ms: 100000, kind: tamper, terminal: T0000001, unlock_after_ms: 60000}\n    \
         - {at_ms: 150000, kind: power_cut, terminal: T0000001, off_ms: 30000}\n",
        3,
    );
    let unlocks: Vec<u64> = report
        .trace
        .records()
        .iter()
        .filter(|r| matches!(&r.event, TraceEvent::Fault(f) if f.kind == FaultKind::TamperUnlock))
        .map(|r| r.at.as_millis())
        .collect();
    assert_eq!(unlocks.len(), 1, "one unlock, once the power is back");
    assert!(report.converged, "{:?}", report.healing_pending);
    assert!(report.passed(), "{:?}", report.failed());
}

/// Regression (swarm seeds faults/backbone.yaml 114, faults/protocol.yaml
/// 113, faults/line.yaml 126): a bit flipped in an 0810, which carries no
/// MAC, handed a terminal a batch number the host never gave it. A line's
/// random corruption now hits only frames a MAC protects; on a line that
/// corrupts every frame, sign-in and settlement frames arrive intact while
/// every trade's frames arrive corrupted.
#[test]
fn random_corruption_never_touches_a_frame_without_a_mac() {
    let text = BASE
        .replace("tmk: 0123456789ABCDEF}", "tmk: 0123456789ABCDEF, link: flipping}")
        .replace("issuers:", "links: {flipping: {corrupt_per_frame: 1.0}}\nissuers:");
    let scenario = parse_and_compile(&text, "flipping.yaml").expect("a valid scenario");
    let report = execute(&scenario, &RunOptions { seed: 1, swarm: false }).expect("runs");
    let mut corrupted_mtis = std::collections::BTreeSet::new();
    let mut intact_sign_ins = 0;
    for record in report.trace.records() {
        let TraceEvent::Frame(frame) = &record.event else { continue };
        if frame.terminal.map(|t| t.trimmed().to_string()).as_deref() != Some("T0000001") {
            continue;
        }
        match (frame.fate == Fate::Corrupted, frame.mti.as_deref()) {
            (true, Some(mti)) => {
                corrupted_mtis.insert(mti.to_string());
            }
            (false, Some("0810")) => intact_sign_ins += 1,
            _ => {}
        }
    }
    assert!(intact_sign_ins >= 1, "the 0810 arrives intact");
    assert!(corrupted_mtis.contains("0200"), "MAC'd frames are flipped: {corrupted_mtis:?}");
    for mti in ["0800", "0810", "0500", "0510", "0320", "0330"] {
        assert!(!corrupted_mtis.contains(mti), "{mti} carries no MAC: {corrupted_mtis:?}");
    }
}

/// Regression (found by the `--swarm` sweep of `faults/hosts.yaml`, seed
/// 245): a late copy of an answered sale (a placed `duplicate_request`,
/// 44 s late) reached the switch while it was crashed and was recorded as
/// a frame the terminal sent then, lost; the oracle read it as a new trade
/// sent before the terminal's pending reversal of a later one
/// (every-unanswered-trade-reversed failed). A copy the line held back is
/// recorded once, as it leaves the terminal.
#[test]
fn a_late_copy_lost_to_a_crashed_switch_is_no_second_send_of_the_terminal() {
    let path = std::path::Path::new("../scenarios/faults/hosts.yaml");
    let scenario = possim_sim::scenario::load::load_and_compile(path).expect("bundled");
    let report = execute(&scenario, &RunOptions { seed: 245, swarm: true }).unwrap();
    assert!(
        report.drawn.iter().any(|f| f.kind_name() == "duplicate_request"),
        "the seed still draws the late copy: {:?}",
        report.drawn
    );
    let sends = report
        .trace
        .records()
        .iter()
        .filter(|r| {
            matches!(&r.event, TraceEvent::Frame(f)
                if f.from == possim_models::actor::Node::Terminal(
                    possim_models::iso8583::values::TerminalId::new("HS000002").unwrap())
                    && f.mti.as_deref() == Some("0200") && f.stan == Some(6))
        })
        .count();
    assert_eq!(sends, 1, "the sale of stan 6 left the terminal once");
    let failed: Vec<_> = report.verdicts.iter().filter(|v| !v.passed()).collect();
    assert!(failed.is_empty(), "{failed:?}");
}
