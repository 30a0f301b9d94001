//! Coverage: the counter on small hand-made traces, the listing of what was
//! never reached, and a run whose placed faults show up with their phase.

use possim_models::iso8583::trade::TradeKind;
use possim_models::iso8583::values::{Stan, TerminalId};
use possim_models::iso8583::{Mti, ResponseCode};
use possim_models::terminal::events::{TerminalEvent, TerminalEventKind as E};
use possim_models::terminal::reversal::ReversalReason;
use possim_models::time::Instant;
use possim_sim::coverage::{never_reached, Coverage, Listing};
use possim_sim::execute::execute;
use possim_sim::scenario::load::parse_and_compile;
use possim_sim::trace::{FaultCause, FaultKind, FaultRecord, Trace, TraceEvent};
use possim_sim::world::RunOptions;

fn terminal() -> TerminalId {
    TerminalId::new("T0000001").expect("an id")
}

fn stan(n: u32) -> Stan {
    Stan::new(n).expect("a stan")
}

fn push(trace: &mut Trace, at_ms: u64, kind: E) {
    let at = Instant::from_millis(at_ms);
    trace.push(at, TraceEvent::Terminal(TerminalEvent { at, terminal: terminal(), kind }));
}

fn fault(trace: &mut Trace, at_ms: u64, kind: FaultKind, target: &str) {
    let record =
        FaultRecord { kind, target: target.into(), cause: FaultCause::Scheduled, frame: None };
    trace.push(Instant::from_millis(at_ms), TraceEvent::Fault(record));
}

fn sale_timed_out() -> Trace {
    let mut trace = Trace::new();
    let pan = possim_models::iso8583::values::Pan::new("6222020000000001").expect("a pan");
    push(
        &mut trace,
        10,
        E::TradeStarted {
            stan: stan(1),
            kind: possim_models::iso8583::trade::TradeKind::Sale,
            amount: None,
            pan,
        },
    );
    push(&mut trace, 11, E::RequestSent { stan: stan(1), mti: Mti::FINANCIAL });
    fault(&mut trace, 12, FaultKind::LineDropFrame, "T0000001");
    push(&mut trace, 20, E::TradeTimedOut { stan: stan(1) });
    push(&mut trace, 20, E::ReversalArmed { stan: stan(1), reason: ReversalReason::Timeout });
    fault(&mut trace, 21, FaultKind::PowerCut, "T0000001");
    fault(&mut trace, 22, FaultKind::PowerOn, "T0000001");
    fault(&mut trace, 23, FaultKind::HostCrash, "switch");
    push(&mut trace, 30, E::ReversalAcknowledged { stan: stan(1), code: ResponseCode::APPROVED });
    trace
}

#[test]
fn the_counter_follows_a_terminal_through_its_phases() {
    let coverage = Coverage::of(&sale_timed_out());
    assert_eq!(coverage.runs, 1);
    assert_eq!(coverage.terminal_events.get("trade_started"), Some(&1));
    assert_eq!(coverage.reversal_reasons.get("timeout"), Some(&1));
    assert_eq!(coverage.codes.get("00 approved"), Some(&1));
    // The drop landed while the sale waited, the power cut while its
    // reversal was pending; a fault's end is not a fault; a host has no phase.
    assert_eq!(coverage.faults.get("line_drop_frame @ awaiting_answer"), Some(&1));
    assert_eq!(coverage.faults.get("power_cut @ reversal_pending"), Some(&1));
    assert_eq!(coverage.faults.get("host_crash"), Some(&1));
    assert_eq!(coverage.faults.len(), 3);
    let transitions: Vec<&str> = coverage.transitions.keys().map(String::as_str).collect();
    // The timeout ends the trade; the reversal it arms is a phase of its own.
    assert_eq!(
        transitions,
        [
            "awaiting_answer -> idle",
            "idle -> awaiting_answer",
            "idle -> reversal_pending",
            "reversal_pending -> idle"
        ]
    );
}

/// Regression: a batch upload resumed past its first message (here after a
/// power cut) has no `BatchUploadStarted` before its next 0320, and was
/// counted as an offline upload. An e-cash upload is a 0320 as well, told
/// apart by its STAN, which is a queued trade's.
#[test]
fn a_resumed_batch_upload_is_batch_upload_and_an_ecash_upload_is_offline_upload() {
    use possim_models::iso8583::trade::TradeKind;
    use possim_models::iso8583::values::{AmountFen, BatchNo};
    let batch = BatchNo::new(1).expect("a batch");
    let mut trace = Trace::new();
    push(
        &mut trace,
        1,
        E::OfflineQueued {
            stan: stan(2),
            kind: TradeKind::ECashUpload,
            amount: AmountFen::new(500).expect("an amount"),
        },
    );
    push(&mut trace, 10, E::RequestSent { stan: stan(2), mti: Mti::BATCH });
    push(&mut trace, 11, E::OfflineUploaded { stan: stan(2), code: ResponseCode::APPROVED });
    push(&mut trace, 20, E::RequestSent { stan: stan(3), mti: Mti::SETTLEMENT });
    push(&mut trace, 21, E::SettlementNotBalanced { batch });
    push(&mut trace, 22, E::BatchUploadStarted { batch, trades: 20 });
    push(&mut trace, 22, E::RequestSent { stan: stan(4), mti: Mti::BATCH });
    fault(&mut trace, 23, FaultKind::PowerCut, "T0000001");
    push(&mut trace, 23, E::PowerLost);
    push(&mut trace, 30, E::PowerOn);
    push(&mut trace, 31, E::RequestSent { stan: stan(5), mti: Mti::BATCH });
    fault(&mut trace, 32, FaultKind::LineDropFrame, "T0000001");
    push(&mut trace, 40, E::RequestSent { stan: stan(6), mti: Mti::BATCH });
    push(&mut trace, 41, E::BatchUploadEnded { batch, network_code: 202 });
    let coverage = Coverage::of(&trace);
    let transitions: Vec<&str> = coverage.transitions.keys().map(String::as_str).collect();
    assert_eq!(
        transitions,
        [
            "batch_upload -> powered_off",
            "batch_upload -> settlement",
            "idle -> batch_upload",
            "idle -> offline_upload",
            "idle -> settlement",
            "offline_upload -> idle",
            "powered_off -> idle",
            "settlement -> batch_upload"
        ]
    );
    assert_eq!(coverage.phases.get("offline_upload"), Some(&1));
    assert_eq!(coverage.faults.get("line_drop_frame @ batch_upload"), Some(&1));
}

#[test]
fn merged_counts_add_up_and_the_never_list_shrinks() {
    let one = Coverage::of(&sale_timed_out());
    let mut two = one.clone();
    two.merge(&one);
    assert_eq!(two.runs, 2);
    assert_eq!(two.faults.get("power_cut @ reversal_pending"), Some(&2));
    let empty = never_reached(&Coverage::default());
    let never = never_reached(&two);
    assert!(never.len() < empty.len());
    assert!(!never.iter().any(|(_, item)| item == "timeout"));
    assert!(never
        .iter()
        .any(|(category, item)| *category == "reversal reasons" && item == "bad_mac"));
    let listing = Listing(&two).to_string();
    assert!(listing.contains("reversal reasons: 1 of 3 reached"), "{listing}");
    assert!(listing.contains("never: bad_mac, garbled"), "{listing}");
}

#[test]
fn a_run_counts_its_placed_faults_with_their_phase() {
    let text = r#"
name: placed
run: {tick_ms: 10, safety_ms: 240000, healing_max_ms: 600000}
merchants: [{id: "898100000000001"}]
terminals: [{id: P0000001, merchant: "898100000000001", tmk: 0123456789ABCDEF}]
issuers: [{index: 0, bins: ["622202"]}]
cards: [{pan: "6222020000000001", balance_fen: 1000000}]
workload:
  arrivals_per_terminal_per_hour: 0
  script:
    - {at_ms: 10000, terminal: P0000001, trade: sale, card: "6222020000000001"}
    - {at_ms: 100000, terminal: P0000001, trade: sale, card: "6222020000000001"}
faults:
  protocol:
    - {kind: drop_answer, terminal: P0000001, trade: 1}
    - {kind: power_off, terminal: P0000001, trade: 2, phase: after_request_left, off_ms: 20000}
"#;
    let compiled = parse_and_compile(text, "placed.yaml").expect("compiles");
    let report = execute(&compiled, &RunOptions { seed: 3, swarm: false }).expect("runs");
    let coverage = Coverage::of(&report.trace);
    assert!(
        coverage.faults.contains_key("line_drop_frame @ awaiting_answer"),
        "{:?}",
        coverage.faults
    );
    assert!(coverage.faults.contains_key("power_cut @ awaiting_answer"), "{:?}", coverage.faults);
    assert!(coverage.reversal_reasons.contains_key("timeout"));
    assert!(coverage.settlements.contains_key("balanced"), "{:?}", coverage.settlements);
}

/// The bundled protocol scenario reaches, on its default seed, every decline
/// by card status and limit, a sign-off after settlement and an echo test
/// (PR000001 signs off and echoes; PR000004's script uses the cards of
/// issuer 1, which the drawn
/// workload leaves alone).
#[test]
fn the_protocol_scenario_reaches_the_status_and_limit_declines_sign_off_and_echo() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios/faults/protocol.yaml");
    let text = std::fs::read_to_string(path).expect("the bundled scenario");
    let compiled = parse_and_compile(&text, "protocol.yaml").expect("compiles");
    let report = execute(&compiled, &RunOptions { seed: 0, swarm: false }).expect("runs");
    let coverage = Coverage::of(&report.trace);
    for code in [
        ResponseCode::LOST_CARD,
        ResponseCode::STOLEN_CARD,
        ResponseCode::EXPIRED_CARD,
        ResponseCode::WRONG_PIN,
        ResponseCode::EXCEEDS_AMOUNT_LIMIT,
        ResponseCode::EXCEEDS_FREQUENCY_LIMIT,
        ResponseCode::PIN_TRIES_EXCEEDED,
    ] {
        let key = format!("{code} {}", code.meaning());
        assert!(coverage.codes.contains_key(&key), "{key} never reached: {:?}", coverage.codes);
    }
    for event in ["signed_off", "echo_answered"] {
        assert!(coverage.terminal_events.contains_key(event), "{event} never reached");
    }
    // The drawn workload never picked a card of issuer 1 (drawn: false):
    // every sale on them is one of the script's eight (a drawn refund may
    // still refund the one approved, as any earlier sale).
    let scripted_cards = report
        .trace
        .records()
        .iter()
        .filter(|record| match &record.event {
            TraceEvent::Terminal(TerminalEvent {
                kind: E::TradeStarted { pan, kind: TradeKind::Sale, .. },
                ..
            }) => pan.to_string().starts_with("622848"),
            _ => false,
        })
        .count();
    assert_eq!(scripted_cards, 8);
}
