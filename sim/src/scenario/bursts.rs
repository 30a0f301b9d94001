//! What one terminal can be asked at once: scripted trades, scripted
//! commands and scheduled faults aimed at one terminal within one tick all
//! reach it in one step, each producing events and frames its queues must
//! hold. A scenario repeating one line thousands of times at one instant
//! stopped the run with a queue's assertion; it is refused at the first
//! line past [`TERMINAL_INPUTS_PER_TICK_MAX`](super::bounds::TERMINAL_INPUTS_PER_TICK_MAX);
//! faults aimed at hosts, past
//! [`HOST_FAULTS_PER_TICK_MAX`](super::bounds::HOST_FAULTS_PER_TICK_MAX).

use std::collections::BTreeMap;

use super::bounds::{self, HOST_FAULTS_PER_TICK_MAX, TERMINAL_INPUTS_PER_TICK_MAX};
use super::error::{CompileError, FieldPath};
use super::model::{FaultPlan, Workload};

/// Refuses the first input that overfills a terminal's tick.
pub(crate) fn check(
    workload: &Workload,
    faults: &FaultPlan,
    tick_ms: u64,
) -> Result<(), CompileError> {
    let tick_ms = tick_ms.max(1);
    let script = workload.script.iter().enumerate().map(|(index, trade)| {
        let at = FieldPath::root().key("workload").key("script").index(index);
        (trade.terminal.trimmed().to_owned(), trade.at_ms, at)
    });
    let commands = workload.commands.iter().enumerate().map(|(index, scripted)| {
        let at = FieldPath::root().key("workload").key("commands").index(index);
        (scripted.terminal.trimmed().to_owned(), scripted.at_ms, at)
    });
    let scheduled = faults.scheduled.iter().enumerate().filter_map(|(index, scheduled)| {
        let at = FieldPath::root().key("faults").key("scheduled").index(index);
        scheduled
            .fault
            .terminal()
            .map(|terminal| (terminal.trimmed().to_owned(), scheduled.at_ms, at))
    });
    // Faults placed on one trade of one terminal all land in the step that
    // trade reaches their phase: one tick, whatever the clock says.
    let placed = faults.protocol.iter().enumerate().map(|(index, fault)| {
        let at = FieldPath::root().key("faults").key("protocol").index(index);
        let trade = fault.trade().map_or(u64::MAX, u64::from);
        (fault.terminal().trimmed().to_owned(), trade, at)
    });
    let mut placed_counts: BTreeMap<(String, u64), usize> = BTreeMap::new();
    for (terminal, trade, at) in placed {
        let count = placed_counts.entry((terminal.clone(), trade)).or_default();
        *count += 1;
        if *count > TERMINAL_INPUTS_PER_TICK_MAX {
            let what = format!("placed faults on one trade of terminal {terminal}");
            return Err(CompileError::new(
                at,
                bounds::over(
                    &what,
                    *count as u64,
                    "TERMINAL_INPUTS_PER_TICK_MAX",
                    TERMINAL_INPUTS_PER_TICK_MAX as u64,
                ),
            ));
        }
    }
    // Faults aimed at hosts, all in one bucket per tick: no real day has
    // dozens of crashes, cutoffs or outages in 10 ms.
    let mut host_counts: BTreeMap<u64, usize> = BTreeMap::new();
    for (index, scheduled) in faults.scheduled.iter().enumerate() {
        if scheduled.fault.terminal().is_some() {
            continue;
        }
        let count = host_counts.entry(scheduled.at_ms / tick_ms).or_default();
        *count += 1;
        if *count > HOST_FAULTS_PER_TICK_MAX {
            let at = FieldPath::root().key("faults").key("scheduled").index(index);
            let what = format!("scheduled faults for hosts within one tick ({tick_ms} ms)");
            return Err(CompileError::new(
                at,
                bounds::over(
                    &what,
                    *count as u64,
                    "HOST_FAULTS_PER_TICK_MAX",
                    HOST_FAULTS_PER_TICK_MAX as u64,
                ),
            ));
        }
    }
    let mut counts: BTreeMap<(String, u64), usize> = BTreeMap::new();
    for (terminal, at_ms, at) in script.chain(commands).chain(scheduled) {
        let count = counts.entry((terminal.clone(), at_ms / tick_ms)).or_default();
        *count += 1;
        if *count > TERMINAL_INPUTS_PER_TICK_MAX {
            let what = format!("scripted trades, commands and faults for terminal {terminal} within one tick ({tick_ms} ms)");
            return Err(CompileError::new(
                at,
                bounds::over(
                    &what,
                    *count as u64,
                    "TERMINAL_INPUTS_PER_TICK_MAX",
                    TERMINAL_INPUTS_PER_TICK_MAX as u64,
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::scenario::fixtures::ONE_TERMINAL as BASE;
    use crate::scenario::parse_and_compile;

    fn repeated(section: &str, line: &str, times: usize) -> String {
        format!("{BASE}{section}{}", format!("    - {line}\n").repeat(times))
    }

    /// Regression (found by the hostile-input corpus): 10,000 settle
    /// commands at one instant stopped the run with "commands for terminal
    /// over 4096"; 1,000 printer faults, or 1,000 scripted trades, at one
    /// instant with "terminal event queue over its bound of 1024".
    #[test]
    fn one_line_repeated_at_one_instant_is_refused_at_the_first_past_the_bound() {
        let cases = [
            ("workload:\n  commands:\n", "{at_ms: 40000, terminal: T0000001, command: settle}"),
            (
                "workload:\n  script:\n",
                "{at_ms: 10000, terminal: T0000001, trade: sale, card: '6222020000000001', amount_fen: 100}",
            ),
            (
                "faults:\n  scheduled:\n",
                "{at_ms: 20000, kind: printer, terminal: T0000001, state: out_of_paper, fixed_after_ms: 1000}",
            ),
        ];
        for (section, line) in cases {
            let error = parse_and_compile(&repeated(section, line, 1_000), "t.yaml").unwrap_err();
            // Five lines of head, the section's two, then item 65.
            assert_eq!(error.line, 5 + 2 + 65, "{}", error.headline());
            assert!(
                error.message.contains("TERMINAL_INPUTS_PER_TICK_MAX = 64"),
                "{}",
                error.message
            );
        }
    }

    /// Regression (found by the hostile-input corpus): 10,000 copies of one
    /// placed power cut stopped the run with "commands for terminal over
    /// 4096"; they are refused at the first past the bound.
    #[test]
    fn one_placed_fault_repeated_on_one_trade_is_refused_at_the_first_past_the_bound() {
        let line = "{kind: power_off, terminal: T0000001, trade: 2, phase: after_request_left, off_ms: 30000}";
        let text = repeated("faults:\n  protocol:\n", line, 1_000);
        let error = parse_and_compile(&text, "t.yaml").unwrap_err();
        assert_eq!(error.line, 5 + 2 + 65, "{}", error.headline());
        assert!(error.message.contains("placed faults on one trade"), "{}", error.message);
        let text = repeated("faults:\n  protocol:\n", line, 64);
        assert!(parse_and_compile(&text, "t.yaml").is_ok(), "64 is within the bound");
    }

    /// Regression (found by the hostile-input corpus, case 9294, from
    /// faults/hosts.yaml with its items repeated): thousands of cutoffs at
    /// one instant stopped the run with "commands for network over 4096".
    #[test]
    fn one_host_fault_repeated_at_one_instant_is_refused_at_the_first_past_the_bound() {
        let line = "{at_ms: 20000, kind: cutoff, for_ms: 30000}";
        let error = parse_and_compile(&repeated("faults:\n  scheduled:\n", line, 1_000), "t.yaml")
            .unwrap_err();
        assert_eq!(error.line, 5 + 2 + 65, "{}", error.headline());
        assert!(error.message.contains("HOST_FAULTS_PER_TICK_MAX = 64"), "{}", error.message);
        let text = repeated("faults:\n  scheduled:\n", line, 64);
        assert!(parse_and_compile(&text, "t.yaml").is_ok(), "64 is within the bound");
    }

    #[test]
    fn inputs_spread_over_ticks_pass() {
        let lines: String = (0..200)
            .map(|i| {
                format!("    - {{at_ms: {}, terminal: T0000001, command: settle}}\n", 1000 + i * 10)
            })
            .collect();
        parse_and_compile(&format!("{BASE}workload:\n  commands:\n{lines}"), "t.yaml").unwrap();
    }
}
