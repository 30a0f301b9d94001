//! The sizes a scenario may ask for. Each is a bound, checked before
//! anything is expanded, so a scenario that asks for too much is refused at
//! its line (exit 2) instead of filling the memory or stopping mid-run.
//!
//! ```
//! use possim_sim::scenario::parse_and_compile;
//! let text = "\
//! name: too long
//! run: {safety_ms: 900000000}
//! merchants: [{id: '898100000000001'}]
//! issuers: [{index: 0, bins: ['622202']}]
//! terminals:
//!   - {id: T0000001, merchant: '898100000000001', tmk: 0123456789ABCDEF}
//! cards:
//!   - {pan: '6222020000000001', balance_fen: 100000}
//! ";
//! let error = parse_and_compile(text, "long.yaml").unwrap_err();
//! assert!(error.headline().starts_with("long.yaml:2:"), "{}", error.headline());
//! assert!(error.headline().contains("RUN_MS_MAX"), "{}", error.headline());
//! ```

use possim_models::iso8583::values::AmountFen;

/// The longest scenario file, in bytes: 16 MiB, thousands of times the
/// largest bundled one (5 KB). A file is read no further than one byte past it, so a
/// scenario named `/dev/zero` is refused instead of filling the memory.
pub const SCENARIO_BYTES_MAX: u64 = 16 * 1024 * 1024;
/// The longest run, safety and healing together: a week. (The simulated
/// world is built to last 30 days; the day's opening hour comes on top.)
pub const RUN_MS_MAX: u64 = 7 * 86_400_000;
/// Terminals in one farm (one simulated host): a city's district.
pub const TERMINALS_PER_FARM_MAX: usize = 5_000;
/// Terminals in a scenario: a city of 10,000 twice over. (Each costs a
/// task, a connection and its journal; 10,000 for half an hour measured
/// 1.8 GB.)
pub const TERMINALS_MAX: usize = 20_000;
/// Cards in a scenario.
pub const CARDS_MAX: usize = 1_000_000;
/// A card's opening balance, either sign, and its opening offline (chip)
/// balance: what 12 digits hold. Field 54 of a balance inquiry's answer
/// carries the balance as a sign and 12 digits, and an amount (the chip
/// balance the terminal reads) is 12 digits; a card past this stopped the
/// run at the first answer or read that showed it.
pub const BALANCE_FEN_MAX: i64 = AmountFen::MAX as i64;

/// Scripted trades, scripted commands and scheduled faults aimed at one
/// terminal within one tick: they reach it in one step, and its event queue
/// (1,024) and command queue (4,096) must hold what they produce. A busy
/// day's cashier asks a terminal one thing at a time.
pub const TERMINAL_INPUTS_PER_TICK_MAX: usize = 64;
/// The most scheduled faults aimed at hosts (switch, network, issuers,
/// links between them) within one tick: each is a command the host's queue
/// must hold in one step.
pub const HOST_FAULTS_PER_TICK_MAX: usize = 64;

/// Entries the run's schedule holds at once: everything planned at the
/// start (scripted, periodic, random episodes) and what the day adds.
pub const SCHEDULE_ENTRIES_MAX: usize = 1_000_000;

/// The message for a size over its bound.
pub(crate) fn over(what: &str, size: u64, bound_name: &str, bound: u64) -> String {
    format!("{what} {size} is over the bound {bound_name} = {bound}")
}

#[cfg(test)]
mod tests {
    use crate::scenario::parse_and_compile;

    const HEAD: &str = "name: bounds\nmerchants: [{id: '898100000000001'}]\nissuers: [{index: 0, bins: ['622202']}]\n";
    const CARD: &str = "cards:\n  - {pan: '6222020000000001', balance_fen: 100000}\n";

    #[test]
    fn a_terminal_group_over_a_farm_is_refused_at_its_count_before_expanding() {
        let text = format!(
            "{HEAD}terminal_groups:\n  - {{prefix: T, count: 9000000, merchant: '898100000000001', tmk: 0123456789ABCDEF}}\n{CARD}"
        );
        let error = parse_and_compile(&text, "big.yaml").unwrap_err();
        assert!(error.headline().starts_with("big.yaml:5:"), "{}", error.headline());
        assert!(error.headline().contains("TERMINALS_PER_FARM_MAX = 5000"), "{}", error.headline());
    }

    fn two_groups(second_farm: &str) -> String {
        let group = |prefix: &str, farm: &str| {
            format!("  - {{prefix: {prefix}, count: 3000, merchant: '898100000000001', tmk: 0123456789ABCDEF, farm: {farm}}}\n")
        };
        format!("{HEAD}terminal_groups:\n{}{}{CARD}", group("A", "farm-0"), group("B", second_farm))
    }

    #[test]
    fn two_groups_that_fill_one_farm_past_its_bound_are_refused_at_the_second() {
        let error = parse_and_compile(&two_groups("farm-0"), "full.yaml").unwrap_err();
        assert!(error.headline().starts_with("full.yaml:6:"), "{}", error.headline());
        assert!(error.headline().contains("farm farm-0"), "{}", error.headline());
        // The same terminals in two farms fit.
        assert!(parse_and_compile(&two_groups("farm-1"), "split.yaml").is_ok());
    }

    /// Regression: this duration wrapped simulated time in release builds,
    /// and the run passed with no trade at all.
    #[test]
    fn a_run_of_u64_max_ms_is_refused_at_its_line() {
        let text = format!(
            "{HEAD}run: {{safety_ms: 18446744073709551615}}\nterminals:\n  - {{id: T0000001, merchant: '898100000000001', tmk: 0123456789ABCDEF}}\n{CARD}"
        );
        let error = parse_and_compile(&text, "forever.yaml").unwrap_err();
        assert!(error.headline().starts_with("forever.yaml:4:"), "{}", error.headline());
        assert!(error.headline().contains("RUN_MS_MAX"), "{}", error.headline());
    }

    #[test]
    fn a_card_group_over_the_bound_is_refused_at_its_count() {
        let text = format!(
            "{HEAD}terminals:\n  - {{id: T0000001, merchant: '898100000000001', tmk: 0123456789ABCDEF}}\ncard_groups:\n  - {{bin: '622202', count: 2000000, balance_fen: 1}}\n"
        );
        let error = parse_and_compile(&text, "cards.yaml").unwrap_err();
        assert!(error.headline().starts_with("cards.yaml:7:"), "{}", error.headline());
        assert!(error.headline().contains("CARDS_MAX"), "{}", error.headline());
    }
}
