//! Scenarios: every bundled file loads, validates and compiles; every kind
//! of mistake is reported at its exact line and column.

use std::path::{Path, PathBuf};

use possim_models::iso8583::keys::KeyMode;
use possim_models::issuer::Issuer;
use possim_models::network::Network;
use possim_models::switch::Switch;
use possim_models::terminal::config::ReversalPersist;
use possim_models::terminal::Terminal;
use possim_models::time::Instant;
use possim_sim::scenario::{
    load, load_and_compile, model, parse, parse_and_compile, validate, ScenarioError,
};

/// A small valid scenario; each error test breaks one thing in it.
const BASE: &str = "\
name: base
run:
  tick_ms: 10
  safety_ms: 600000
  start_date: \"11-21\"
merchants:
  - id: '898100000000001'
links:
  gprs:
    latency_ms: {min: 50, max: 300}
    duplicate_per_frame: 0.01
issuers:
  - index: 0
    bins: ['622202']
terminals:
  - id: T0000001
    merchant: '898100000000001'
    link: gprs
    tmk: 0123456789ABCDEF
    config:
      response_timeout_ms: 30000
terminal_groups:
  - prefix: G
    count: 3
    merchant: '898100000000001'
    tmk: 0123456789ABCDEF
cards:
  - pan: '6222029999999999'
    balance_fen: 100000
card_groups:
  - bin: '622202'
    count: 5
    balance_fen: 100000
faults:
  scheduled:
    - at_ms: 1000
      kind: power_cut
      terminal: T0000001
      off_ms: 5000
  protocol:
    - kind: drop_answer
      terminal: T0000001
      trade: 2
expect:
  violates: [no-double-debit]
";

/// `BASE` with `from` replaced by `to` (which must occur exactly once).
fn edit(from: &str, to: &str) -> String {
    assert_eq!(BASE.matches(from).count(), 1, "{from:?} must occur once in BASE");
    BASE.replacen(from, to, 1)
}

fn error_of(text: &str) -> ScenarioError {
    match parse_and_compile(text, "s.yaml") {
        Ok(_) => panic!("the scenario should be refused:\n{text}"),
        Err(error) => error,
    }
}

/// Asserts the error's line, column and message.
#[track_caller]
fn assert_error(text: &str, line: u64, column: u64, message: &str) {
    let error = error_of(text);
    assert_eq!(
        (error.line, error.column, error.message.as_str()),
        (line, column, message),
        "\n{error}"
    );
    assert_eq!(error.file, "s.yaml");
    assert!(error.to_string().starts_with(&format!("s.yaml:{line}:{column}: {message}")));
}

#[test]
fn the_base_scenario_compiles() {
    let compiled = parse_and_compile(BASE, "s.yaml").unwrap();
    let ids: Vec<&str> =
        compiled.terminals.iter().map(|t| t.config.terminal_id.trimmed()).collect();
    assert_eq!(ids, ["G0000001", "G0000002", "G0000003", "T0000001"], "sorted by id");
    assert_eq!(compiled.cards.len(), 6);
    assert_eq!(compiled.cards[1].pan.as_str(), "6222020000000002");
    assert_eq!(compiled.cards[5].pan.as_str(), "6222029999999999");
    assert!(compiled.links.contains_key("clean") && compiled.links.contains_key("gprs"));
    assert_eq!(compiled.switch.terminals.len(), 4);
    assert_eq!(
        compiled.switch.network_keys, compiled.network.switch_link,
        "one link, one key pair"
    );
    assert_eq!(compiled.network.issuers[0].link, compiled.issuers[0].link);
    assert_eq!(compiled.issuers[0].cards.len(), 6);
    let t1 =
        compiled.terminals.iter().find(|t| t.config.terminal_id.trimmed() == "T0000001").unwrap();
    assert_eq!((t1.link.as_str(), t1.farm.as_str()), ("gprs", "farm-0"));
    assert_eq!(t1.config.response_timeout_ms, 30_000);
    assert_eq!(t1.config.merchant_id.trimmed(), "898100000000001");
    assert_eq!(t1.config.calendar, compiled.calendar);
    assert_eq!(compiled.farms, ["farm-0"]);
}

#[test]
fn every_actor_accepts_its_compiled_configuration() {
    let mut files = Vec::new();
    yaml_files(&scenarios_dir(), &mut files);
    files.push(PathBuf::new());
    for path in files {
        let compiled = if path.as_os_str().is_empty() {
            parse_and_compile(BASE, "s.yaml").unwrap()
        } else {
            load_and_compile(&path).unwrap()
        };
        for terminal in &compiled.terminals {
            Terminal::new(terminal.config.clone(), Instant::ZERO).unwrap();
        }
        Switch::new(compiled.switch.clone(), Instant::ZERO).unwrap();
        Network::new(compiled.network.clone(), Instant::ZERO).unwrap();
        for issuer in &compiled.issuers {
            Issuer::new(issuer.clone(), Instant::ZERO).unwrap();
        }
    }
}

/// The city of docs/PERFORMANCE.md (a fixture, not bundled): ten thousand
/// terminals whose switch, network and issuers are sized for them, and
/// whose actors accept what they were given.
#[test]
fn the_city_fixture_compiles_with_tables_sized_for_it() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/city30.yaml");
    let compiled = load_and_compile(&path).unwrap();
    assert_eq!(compiled.terminals.len(), 10_000);
    assert_eq!(compiled.farms.len(), 10);
    assert!(compiled.switch.pending_max >= 10_000 && compiled.network.pending_max >= 10_000);
    // 30 an hour, one hour of trading and healing, 10,000 terminals, doubled.
    assert_eq!(compiled.network.clearing_max, 600_000);
    assert!(compiled.issuers.iter().all(|issuer| issuer.trades_max == 600_000));
    Switch::new(compiled.switch.clone(), Instant::ZERO).unwrap();
    Network::new(compiled.network.clone(), Instant::ZERO).unwrap();
    for issuer in &compiled.issuers {
        Issuer::new(issuer.clone(), Instant::ZERO).unwrap();
    }
}

#[test]
fn compiling_twice_gives_the_same_world() {
    let a = parse_and_compile(BASE, "s.yaml").unwrap();
    let b = parse_and_compile(BASE, "s.yaml").unwrap();
    assert_eq!(format!("{a:?}"), format!("{b:?}"));
}

#[test]
fn validate_accepts_what_parse_read() {
    let scenario = parse(BASE, "s.yaml").unwrap();
    validate(&scenario, BASE, "s.yaml").unwrap();
}

// ---- errors from reading the YAML -------------------------------------------------

#[test]
fn a_yaml_syntax_error() {
    assert_error(
        &edit("  tick_ms: 10\n", "  tick_ms: 10\n tock: [\n"),
        4,
        2,
        "while parsing a block mapping, did not find expected key",
    );
}

#[test]
fn a_duplicate_key_is_refused_not_merged() {
    // Two link profiles with one name.
    assert_error(&edit("links:\n", "links:\n  gprs: {}\n"), 10, 3, "duplicate mapping key: gprs");
}

#[test]
fn a_duplicate_nested_key_is_refused() {
    assert_error(
        &edit(
            "    tmk: 0123456789ABCDEF\n    config",
            "    tmk: 0123456789ABCDEF\n    tmk: 1111111111111111\n    config",
        ),
        20,
        5,
        "duplicate mapping key: tmk",
    );
}

#[test]
fn an_unknown_top_level_key() {
    assert_error(&edit("name: base\n", "name: base\nnmae: x\n"), 2, 1, "unknown field `nmae`, expected one of name, description, run, merchants, terminals, terminal_groups, issuers, cards, card_groups, switch, network, links, backbone, workload, faults, expect, case");
}

#[test]
fn an_unknown_key_in_a_terminal_config() {
    assert_error(&edit("response_timeout_ms", "response_timout_ms"), 21, 7, "unknown field `response_timout_ms`, expected one of terminal_id, merchant_id, tmk, key_mode, operator, operator_password, unlock_password, response_timeout_ms, reversal_tries_max, journal_max, offline_queue_max, battery_low_percent, battery_start_percent, battery_drain_per_message_permille, battery_drain_per_print_permille, sign_off_after_settlement, calendar, reversal_persist, reversal_exhausted, offline_upload, upload_end_code_when_unbalanced, journal_clear, cashier_retry_after_failure, stan_start, mutation");
}

#[test]
fn an_unknown_key_in_a_scheduled_fault() {
    assert_error(
        &edit("      off_ms: 5000\n", "      off_ms: 5000\n      of_ms: 1\n"),
        40,
        7,
        "unknown field `of_ms`, expected `terminal` or `off_ms`",
    );
}

#[test]
fn an_unknown_key_in_a_protocol_fault() {
    assert_error(
        &edit("      trade: 2\n", "      trade: 2\n      trdae: 1\n"),
        44,
        7,
        "unknown field `trdae`, expected `terminal` or `trade`",
    );
}

#[test]
fn an_unknown_fault_kind() {
    assert_error(&edit("kind: power_cut", "kind: power_cutt"), 37, 13, "unknown variant `power_cutt`, expected one of `partition`, `hold`, `crash`, `issuer_down`, `issuer_silent`, `cutoff`, `power_cut`, `printer`, `tamper`, `battery`, `blackhole`, `reset`, `replace`");
}

#[test]
fn a_wrong_type() {
    assert_error(&edit("tick_ms: 10", "tick_ms: ten"), 3, 12, "invalid u64");
}

#[test]
fn a_wrong_type_inside_a_fault() {
    assert_error(
        &edit("off_ms: 5000", "off_ms: five"),
        39,
        15,
        "invalid type: string \"five\", expected u64",
    );
}

#[test]
fn an_unknown_policy_value() {
    assert_error(
        &edit("response_timeout_ms: 30000", "reversal_persist: after_sent"),
        21,
        25,
        "unknown variant `after_sent`, expected one of before_send, after_send",
    );
}

#[test]
fn a_bad_card_number() {
    assert_error(
        &edit("'6222029999999999'", "'62220200000A0001'"),
        28,
        10,
        "a card number is 12 to 19 digits, not starting with 0",
    );
}

#[test]
fn a_terminal_id_too_long() {
    assert_error(
        &edit("id: T0000001", "id: T00000001"),
        16,
        9,
        "TerminalId is at most 8 printable ASCII characters",
    );
}

#[test]
fn a_missing_required_section() {
    assert_error(
        &edit("issuers:\n  - index: 0\n    bins: ['622202']\n", ""),
        1,
        1,
        "missing field `issuers`",
    );
}

#[test]
fn a_missing_required_field() {
    assert_error(
        &edit("    tmk: 0123456789ABCDEF\n    config", "    config"),
        16,
        5,
        "missing field `tmk`",
    );
}

// ---- errors from what the scenario means ------------------------------------------

#[test]
fn an_unknown_merchant() {
    assert_error(
        &edit(
            "    merchant: '898100000000001'\n    link",
            "    merchant: '898100000000009'\n    link",
        ),
        17,
        15,
        "unknown merchant 898100000000009",
    );
}

#[test]
fn an_unknown_link_profile() {
    assert_error(
        &edit("link: gprs", "link: gprss"),
        18,
        11,
        "unknown line profile \"gprss\" (profiles: clean, gprs)",
    );
}

#[test]
fn a_terminal_id_used_by_a_group_and_a_terminal() {
    assert_error(
        &edit("id: T0000001", "id: G0000002"),
        23,
        13,
        "terminal id G0000002 is already used at terminals[0].id",
    );
}

#[test]
fn a_group_prefix_that_leaves_no_room() {
    assert_error(
        &edit("prefix: G", "prefix: GROUPABC"),
        23,
        13,
        "prefix \"GROUPABC\" leaves no room for a number in 8 characters",
    );
}

#[test]
fn a_fault_naming_an_unknown_terminal() {
    assert_error(
        &edit("      terminal: T0000001\n      off_ms", "      terminal: T0000009\n      off_ms"),
        38,
        17,
        "unknown terminal T0000009",
    );
}

#[test]
fn a_partition_naming_an_unknown_host() {
    let text = edit(
        "      kind: power_cut\n      terminal: T0000001\n      off_ms: 5000\n",
        "      kind: partition\n      between: [switch, issuer-3]\n      for_ms: 5000\n",
    );
    assert_error(
        &text,
        38,
        25,
        "unknown host \"issuer-3\" (hosts: farm-0, issuer-0, network, switch)",
    );
}

#[test]
fn a_tmk_too_short_for_its_key_mode() {
    assert_error(
        &edit("response_timeout_ms: 30000", "key_mode: '003'"),
        19,
        10,
        "key mode 003 needs a tmk of 32 hex digits, not 16",
    );
}

#[test]
fn a_range_upside_down() {
    assert_error(
        &edit("{min: 50, max: 300}", "{min: 500, max: 300}"),
        10,
        23,
        "min 500 is above max 300",
    );
}

#[test]
fn a_probability_over_one() {
    assert_error(
        &edit("duplicate_per_frame: 0.01", "duplicate_per_frame: 1.5"),
        11,
        26,
        "1.5 is not a probability (0 to 1)",
    );
}

#[test]
fn an_unknown_invariant() {
    assert_error(&edit("[no-double-debit]", "[no-double-debit, no-tripple-debit]"), 45, 31, "unknown invariant \"no-tripple-debit\" (invariants: every-unanswered-trade-reversed, offline-before-settlement, no-double-debit, conservation, slip-truth, settlement-balances, authenticated-only, numbering, ecash-balances, holds-accounted, declines-are-final, sign-off-ends-session, tamper-ends-session, voids-match-originals)");
}

#[test]
fn a_start_date_that_is_not_mm_dd() {
    assert_error(
        &edit("\"11-21\"", "\"21/11\""),
        5,
        15,
        "start_date \"21/11\" is not a day written MM-DD",
    );
}

#[test]
fn tick_ms_zero() {
    assert_error(&edit("tick_ms: 10", "tick_ms: 0"), 3, 12, "tick_ms must be at least 1");
}

#[test]
fn a_protocol_fault_on_trade_zero() {
    assert_error(&edit("trade: 2", "trade: 0"), 43, 14, "trades are counted from 1");
}

#[test]
fn a_card_no_issuer_routes() {
    assert_error(
        &edit("'6222029999999999'", "'6222030000000001'"),
        28,
        10,
        "no issuer routes card 6222030000000001 (no bin matches)",
    );
}

/// Regression: field 54 carries a balance as a sign and 12 digits, and a
/// card of 10^12 fen panicked the run at its first balance inquiry.
#[test]
fn a_card_balance_past_12_digits_is_refused_at_its_value() {
    let max = possim_sim::scenario::bounds::BALANCE_FEN_MAX;
    assert_eq!(max, 999_999_999_999);
    assert_error(
        &edit("    balance_fen: 100000\ncard_groups", "    balance_fen: 1000000000000\ncard_groups"),
        29,
        18,
        "card 6222029999999999: balance 1000000000000 fen is past the bound BALANCE_FEN_MAX = 999999999999 (either sign)",
    );
    // Negative (overdrawn) is allowed, to the same width.
    assert_error(
        &edit("    count: 5\n    balance_fen: 100000", "    count: 5\n    balance_fen: -1000000000000"),
        33,
        18,
        "card 6222020000000001: balance -1000000000000 fen is past the bound BALANCE_FEN_MAX = 999999999999 (either sign)",
    );
    assert_error(
        &edit(
            "    balance_fen: 100000\ncard_groups",
            "    balance_fen: 100000\n    offline_balance_fen: 1000000000000\ncard_groups",
        ),
        30,
        26,
        "card 6222029999999999: offline balance 1000000000000 fen is over the bound BALANCE_FEN_MAX = 999999999999",
    );
    // The bound itself fits, either sign.
    let text =
        edit("    balance_fen: 100000\ncard_groups", "    balance_fen: 999999999999\ncard_groups")
            .replace(
                "    count: 5\n    balance_fen: 100000",
                "    count: 5\n    balance_fen: -999999999999",
            );
    parse_and_compile(&text, "s.yaml").expect("12 digits fit");
}

#[test]
fn a_card_listed_twice() {
    // The group's third card is 6222020000000003 too.
    assert_error(
        &edit("'6222029999999999'", "'6222020000000003'"),
        31,
        10,
        "card 6222020000000003 is already listed at cards[0].pan",
    );
}

#[test]
fn an_issuer_index_used_twice() {
    assert_error(
        &edit(
            "    bins: ['622202']\n",
            "    bins: ['622202']\n  - index: 0\n    bins: ['622848']\n",
        ),
        15,
        12,
        "issuer index 0 is used twice",
    );
}

#[test]
fn a_bin_routed_twice() {
    assert_error(
        &edit(
            "    bins: ['622202']\n",
            "    bins: ['622202']\n  - index: 1\n    bins: ['622202']\n",
        ),
        16,
        12,
        "bin 622202 is already routed at issuers[0].bins[0]",
    );
}

#[test]
fn an_actor_config_refusal_is_placed_too() {
    assert_error(
        &edit("response_timeout_ms: 30000", "journal_max: 1000"),
        21,
        20,
        "journal_max must be between 1 and 999, not 1000",
    );
}

#[test]
fn an_override_the_switch_refuses() {
    assert_error(
        &format!("{BASE}switch:\n  pending_max: 0\n"),
        47,
        16,
        "switch: pending_max must be greater than zero",
    );
}

#[test]
fn a_tmk_inside_config_is_refused_not_ignored() {
    assert_error(
        &edit("response_timeout_ms: 30000", "tmk: 1111111111111111"),
        21,
        12,
        "config.tmk is taken from the terminal's tmk; remove it here",
    );
}

#[test]
fn all_digit_terminal_ids_work_in_faults_too() {
    let text = BASE.replace("T0000001", "10000001");
    let compiled = parse_and_compile(&text, "s.yaml").unwrap();
    let model::Fault::PowerCut { terminal, .. } = &compiled.faults.scheduled[0].fault else {
        panic!("a power cut");
    };
    assert_eq!(terminal.trimmed(), "10000001");
}

#[test]
fn unquoted_digits_read_as_text_where_text_is_wanted() {
    let text = BASE
        .replace("'898100000000001'", "898100000000001")
        .replace("'622202'", "622202")
        .replace("'6222029999999999'", "6222029999999999")
        .replace(
            "    tmk: 0123456789ABCDEF\n    config:\n      response_timeout_ms: 30000",
            "    tmk: 00112233445566778899AABBCCDDEEFF\n    config:\n      key_mode: 003",
        );
    let compiled = parse_and_compile(&text, "s.yaml").unwrap_or_else(|error| panic!("{error}"));
    let t1 =
        compiled.terminals.iter().find(|t| t.config.terminal_id.trimmed() == "T0000001").unwrap();
    assert_eq!(t1.config.key_mode, KeyMode::Double);
    assert_eq!(compiled.cards.len(), 6);
}

#[test]
fn the_error_display_is_one_line_then_a_snippet() {
    let error = error_of(&edit(
        "    merchant: '898100000000001'\n    link",
        "    merchant: '898100000000009'\n    link",
    ));
    assert_eq!(
        error.to_string(),
        "s.yaml:17:15: unknown merchant 898100000000009\n\
         17 |     merchant: '898100000000009'\n\
         \x20  |               ^"
    );
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let error = load(Path::new("/nonexistent/scenario.yaml")).unwrap_err();
    assert_eq!((error.line, error.column), (0, 0));
    assert!(
        error.to_string().starts_with("/nonexistent/scenario.yaml: cannot read the scenario: "),
        "{error}"
    );
}

// ---- the bundled scenarios --------------------------------------------------------

fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

/// Every `.yaml` under `dir`, sorted, skipping `frames/` (captured frames,
/// not scenarios).
fn yaml_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(dir).unwrap().map(|entry| entry.unwrap().path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            if path.file_name().is_some_and(|name| name != "frames") {
                yaml_files(&path, found);
            }
        } else if path.extension().is_some_and(|ext| ext == "yaml" || ext == "yml") {
            found.push(path);
        }
    }
}

#[test]
fn every_bundled_scenario_loads_validates_and_compiles() {
    let mut files = Vec::new();
    yaml_files(&scenarios_dir(), &mut files);
    assert!(files.len() >= 15, "found only {files:?}");
    for path in &files {
        let scenario = load(path).unwrap_or_else(|error| panic!("{error}"));
        let text = std::fs::read_to_string(path).unwrap();
        validate(&scenario, &text, &path.display().to_string())
            .unwrap_or_else(|error| panic!("{error}"));
        let compiled = load_and_compile(path).unwrap_or_else(|error| panic!("{error}"));
        assert!(!compiled.terminals.is_empty());
        if path.starts_with(scenarios_dir().join("faults")) {
            assert!(
                compiled.terminals.len() <= 4,
                "{}: keep fault scenarios small",
                path.display()
            );
            assert!(compiled.run.safety_ms <= 1_800_000, "{}", path.display());
        }
    }
}

fn bundled(relative: &str) -> possim_sim::scenario::CompiledScenario {
    load_and_compile(&scenarios_dir().join(relative)).unwrap_or_else(|error| panic!("{error}"))
}

#[test]
fn the_quickstart_is_a_small_merchants_day() {
    let compiled = bundled("quickstart.yaml");
    assert_eq!(compiled.terminals.len(), 3);
    assert!(compiled.terminals.iter().all(|t| t.link == "gprs"));
    assert_eq!(compiled.issuers.len(), 1);
    assert_eq!(compiled.cards.len(), 20);
    assert_eq!(
        (compiled.run.tick_ms, compiled.run.safety_ms, compiled.run.healing_max_ms),
        (10, 1_200_000, 900_000)
    );
    assert!(compiled.expect.violates.is_empty());
}

#[test]
fn the_soak_is_hundreds_of_terminals_in_farms() {
    let compiled = bundled("soak/business_day.yaml");
    assert_eq!(compiled.terminals.len(), 300);
    assert_eq!(compiled.farms, ["farm-central", "farm-north", "farm-south"]);
    assert!(compiled.switch.terminals_max >= 300);
    assert_eq!(compiled.run.safety_ms, 8 * 3_600_000);
    assert_eq!(compiled.cards.len(), 3000);
}

#[test]
fn each_variant_sets_its_unsafe_policy_and_names_what_it_breaks() {
    let terminal = |file: &str| bundled(file).terminals[0].config.clone();
    assert_eq!(
        terminal("variants/reversal_persist_after_send.yaml").reversal_persist,
        ReversalPersist::AfterSend
    );
    assert!(terminal("variants/cashier_retry.yaml").cashier_retry_after_failure);
    assert!(!bundled("variants/switch_no_duplicate_check.yaml").switch.duplicate_check);
    assert!(
        bundled("variants/switch_mac_checked_on_0200_only.yaml").switch.mac_checked_on_0200_only
    );
    assert!(
        !bundled("variants/issuer_reversal_not_idempotent.yaml").issuers[0]
            .policy
            .reversal_idempotent
    );
    assert!(
        !bundled("variants/issuer_completion_keeps_hold.yaml").issuers[0]
            .policy
            .completion_releases_hold
    );
    // Two settings, each harmless alone: the switch passes a repeated
    // reversal on, the issuer books it again.
    let host = bundled("variants/switch_forwards_repeated_reversals.yaml");
    assert!(host.switch.forward_repeated_reversals);
    assert!(!host.issuers[0].policy.reversal_idempotent);
    let mut files = Vec::new();
    yaml_files(&scenarios_dir().join("variants"), &mut files);
    assert_eq!(files.len(), 11);
    for path in files {
        let compiled = load_and_compile(&path).unwrap();
        let name = path.file_name().unwrap().to_str().unwrap();
        assert!(!compiled.expect.violates.is_empty(), "{name} names the invariant it breaks");
    }
    assert_eq!(bundled("faults/protocol.yaml").terminals[3].config.key_mode, KeyMode::Double);
}

const SCRIPT_BASE: &str = r#"name: s
merchants: [{id: "898100000000001"}]
terminals:
  - {id: T0000001, merchant: "898100000000001", tmk: 0123456789ABCDEF}
issuers: [{index: 0, bins: ["622202"]}]
cards: [{pan: "6222020000000001", balance_fen: 100}]
workload:
  script:
    - {at_ms: 1000, terminal: T0000001, trade: sale, card: "6222020000000001"}
"#;

#[test]
fn a_script_naming_an_unknown_card() {
    let text = SCRIPT_BASE.replace("card: \"6222020000000001\"}", "card: \"6222020000000009\"}");
    assert_error(&text, 9, 60, "unknown card 6222020000000009");
}

#[test]
fn a_script_naming_an_unknown_terminal() {
    let text = SCRIPT_BASE.replace("terminal: T0000001, trade", "terminal: T0000002, trade");
    assert_error(&text, 9, 31, "unknown terminal T0000002");
}

#[test]
fn a_script_with_an_unknown_trade_kind() {
    let error = error_of(&SCRIPT_BASE.replace("trade: sale", "trade: sael"));
    assert_eq!(error.line, 9, "{error}");
    assert!(error.message.contains("unknown variant `sael`"), "{error}");
}

/// Regression (found by the property test in `tests/parsers.rs`: two line
/// breaks put inside a key of `faults/protocol.yaml`): the unknown key was
/// quoted raw, so the "one line" error spanned three.
#[test]
fn an_unknown_key_with_a_line_break_is_quoted_on_one_line() {
    let error = error_of(&edit("response_timeout_ms", "\"response\\ntimeout_ms\""));
    assert!(!error.message.contains('\n'), "{:?}", error.message);
    assert!(
        error.message.starts_with("unknown field `response\\ntimeout_ms`"),
        "{}",
        error.message
    );
    assert_eq!(error.headline().lines().count(), 1);
}

/// `BASE` with swarm mode's placements set by `placed` (lines 46 and 47).
fn with_swarm_placed(per_seed: &str, weights: &str) -> String {
    edit(
        "      trade: 2\n",
        &format!(
            "      trade: 2\n  swarm:\n    placed:\n      per_seed: {per_seed}\n      weights: {weights}\n"
        ),
    )
}

#[test]
fn swarm_placements_that_are_sound_compile() {
    let text = with_swarm_placed("[1, 2]", "{drop_answer: 5, power_off_after_request_left: 1}");
    let compiled = parse_and_compile(&text, "s.yaml").unwrap();
    assert_eq!(compiled.faults.swarm.placed.weights.len(), 2);
}

#[test]
fn a_swarm_placement_weight_out_of_range() {
    assert_error(
        &with_swarm_placed("[0, 2]", "{drop_answer: 1001, power_off_after_request_left: 1}"),
        47,
        30,
        "expected a weight from 0 to 1000, not 1001",
    );
}

#[test]
fn too_many_swarm_placements_a_seed() {
    assert_error(
        &with_swarm_placed("[0, 17]", "{drop_answer: 1}"),
        46,
        21,
        "at most 16 placements a seed, not 17",
    );
}

#[test]
fn swarm_placements_asked_for_with_every_weight_zero() {
    assert_error(
        &with_swarm_placed("[1, 2]", "{drop_answer: 0}"),
        47,
        16,
        "per_seed asks for up to 2 placements but every weight is 0",
    );
}

#[test]
fn an_unknown_swarm_placement_kind() {
    let error = error_of(&with_swarm_placed("[0, 2]", "{drop_everything: 1}"));
    assert_eq!(error.line, 47, "{error}");
    assert!(error.message.contains("drop_everything"), "{error}");
    assert!(error.message.contains("drop_answer"), "names what was expected: {error}");
}

#[test]
fn a_scenario_whose_every_card_is_undrawn_but_draws_arrivals_is_refused_at_the_card() {
    let text = edit(
        "    balance_fen: 100000\ncard_groups:\n  - bin: '622202'\n    count: 5\n    balance_fen: 100000\n",
        "    balance_fen: 100000\n    drawn: false\n",
    );
    let error = error_of(&text);
    assert!(error.message.contains("every card says drawn: false"), "{error}");
    assert_eq!(text.lines().nth(error.line as usize - 1).map(str::trim), Some("drawn: false"));
}
