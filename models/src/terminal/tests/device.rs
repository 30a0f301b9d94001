//! The printer, the battery and tamper.

use crate::terminal::printer::{PrinterHardware, PrinterState, SlipKind};
use crate::terminal::{TerminalCommand, TerminalConfig, TerminalEventKind as E};

use super::rig::*;

#[test]
fn out_of_paper_keeps_the_trade_and_both_reprints_work_once_fixed() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    rig.command(TerminalCommand::SetPrinter(PrinterHardware::OutOfPaper));
    let first = rig.approved_sale(1000);
    let second = rig.approved_sale(2000);
    assert_eq!(
        rig.count(|e| matches!(e, E::SlipFailed { reason: PrinterState::OutOfPaper, .. })),
        2
    );
    let journal = rig.terminal.persistent().journal();
    assert!(!journal.find(first.stan).unwrap().slip_printed, "approved, in the journal, slip owed");
    rig.command(TerminalCommand::ReprintLast);
    assert_eq!(rig.count(|e| matches!(e, E::SlipFailed { .. })), 3, "still no paper");
    rig.command(TerminalCommand::SetPrinter(PrinterHardware::Ok));
    rig.command(TerminalCommand::ReprintLast);
    assert!(rig.saw(|e| matches!(e, E::SlipPrinted { kind: SlipKind::Reprint, stan: Some(s), .. } if *s == second.stan)));
    rig.command(TerminalCommand::ReprintByStan { stan: first.stan });
    assert!(rig.saw(|e| matches!(e, E::SlipPrinted { kind: SlipKind::Reprint, stan: Some(s), .. } if *s == first.stan)));
    rig.command(TerminalCommand::PrintDetailList);
    assert!(rig.saw(|e| matches!(e, E::SlipPrinted { kind: SlipKind::DetailList, listed, .. } if listed == &vec![first.stan, second.stan])));
    assert!(rig.terminal.persistent().journal().iter().all(|entry| entry.slip_printed));
}

#[test]
fn a_jammed_printer_is_reported_and_an_unknown_stan_is_refused() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    rig.command(TerminalCommand::SetPrinter(PrinterHardware::Jam));
    assert!(rig.saw(|e| matches!(e, E::PrinterState { state: PrinterState::Jam })));
    rig.command(TerminalCommand::ReprintByStan { stan: stan(4242) });
    assert!(rig.saw(|e| matches!(e, E::Refused { why: RefusalReason::NoSuchTrade { stan: s } } if *s == stan(4242))));
}

#[test]
fn a_low_battery_prints_faint_slips_that_can_be_reprinted_after_charging() {
    let config = TerminalConfig {
        battery_start_percent: 8,
        battery_low_percent: 10,
        ..TerminalConfig::default()
    };
    let mut rig = Rig::signed_in(config);
    let request = rig.approved_sale(1000);
    assert!(rig.saw(|e| matches!(e, E::SlipFailed { reason: PrinterState::Faint, .. })));
    rig.command(TerminalCommand::Charge { percent: 50 });
    rig.command(TerminalCommand::ReprintByStan { stan: request.stan });
    assert!(rig.saw(|e| matches!(e, E::SlipPrinted { kind: SlipKind::Reprint, .. })));
}

#[test]
fn tamper_locks_erases_keys_and_needs_unlock_then_sign_in() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    rig.approved_sale(1000);
    rig.command(TerminalCommand::Tamper);
    assert!(rig.saw(|e| matches!(e, E::TamperLocked)));
    assert!(!rig.terminal.persistent().keys_present());
    assert_eq!(rig.terminal.persistent().journal().len(), 1, "the journal is kept");
    rig.command(sale(5));
    rig.command(TerminalCommand::Unlock { password: "wrong".into() });
    assert_eq!(rig.count(|e| matches!(e, E::Refused { .. })), 2);
    rig.command(TerminalCommand::Unlock { password: rig.config.unlock_password.clone() });
    assert!(rig.saw(|e| matches!(e, E::Unlocked)));
    rig.operator();
    rig.command(sale(5));
    assert!(rig.saw(|e| matches!(e, E::Refused { why } if why.is_not_signed_in())));
    assert_eq!(rig.mtis(), ["0800", "0200"]);
    rig.sign_in();
    rig.command(sale(5));
    assert_eq!(rig.mtis().last().unwrap(), "0200");
}

/// Regression (found by tamper-ends-session on the device scenario under
/// swarm): a knock while the power was off was ignored, so the terminal
/// came back on with its keys and traded under them.
#[test]
fn tamper_while_off_still_erases_keys_and_locks() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    rig.approved_sale(1000);
    rig.command(TerminalCommand::PowerOff);
    rig.command(TerminalCommand::Tamper);
    assert!(rig.saw(|e| matches!(e, E::TamperLocked)));
    assert!(!rig.terminal.persistent().keys_present());
    rig.command(TerminalCommand::PowerOn);
    rig.operator();
    rig.command(sale(5));
    assert!(rig.saw(|e| matches!(e, E::Refused { why: RefusalReason::TamperLocked })));
    rig.command(TerminalCommand::Unlock { password: rig.config.unlock_password.clone() });
    rig.operator();
    rig.command(sale(5));
    assert!(rig.saw(|e| matches!(e, E::Refused { why } if why.is_not_signed_in())));
    assert_eq!(rig.mtis(), ["0800", "0200"], "nothing left under the erased keys");
}

#[test]
fn tamper_with_a_sale_in_flight_arms_its_reversal() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    rig.command(sale(1000));
    let request = rig.next_trade();
    rig.command(TerminalCommand::Tamper);
    rig.command(TerminalCommand::Unlock { password: rig.config.unlock_password.clone() });
    rig.operator();
    rig.sign_in();
    rig.command(sale(5));
    assert_eq!(rig.next_reversal().original().stan, request.stan);
}

/// Regression (found by the oracle's slip-truth on the quick-start sweep): a
/// slip that failed for lack of paper was still owed when the settlement
/// cleared the journal, so the trade could never be printed again.
#[test]
fn settlement_prints_owed_slips_first_and_is_refused_while_it_cannot() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    rig.command(TerminalCommand::SetPrinter(PrinterHardware::OutOfPaper));
    let owed = rig.approved_sale(1000);
    rig.command(TerminalCommand::Settle);
    assert!(rig.nothing_sent(), "no 0500 while a slip is owed and the printer is out");
    assert!(rig.saw(|e| matches!(e, E::Refused { why: RefusalReason::SlipsOwed { .. } })));
    assert!(rig.terminal.persistent().settlement().is_none());
    rig.command(TerminalCommand::SetPrinter(PrinterHardware::Ok));
    rig.command(TerminalCommand::Settle);
    assert!(rig.saw(|e| matches!(e, E::SlipPrinted { kind: SlipKind::Reprint, stan: Some(s), .. } if *s == owed.stan)));
    assert_eq!(mti(&rig.next_frame()), "0500");
}

/// Regression: the simulator's `battery` fault ("drains to percent") was
/// sent as a charge, so it added charge and the low battery never happened.
#[test]
fn the_battery_fault_drains_to_its_percent_and_never_charges() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    assert_eq!(rig.terminal.persistent().battery().percent(), 100);
    rig.command(TerminalCommand::DrainBattery { percent: 2 });
    assert_eq!(rig.terminal.persistent().battery().percent(), 2);
    rig.command(TerminalCommand::DrainBattery { percent: 50 });
    assert_eq!(rig.terminal.persistent().battery().percent(), 2, "a drain never charges");
}

/// Regression (found by a swarm seed of the quick start, 88): paper put in
/// while the terminal was off was lost with the command, the printer stayed
/// out of paper after power-on, every approval slip failed and the terminal
/// could never settle (healing did not converge).
#[test]
fn a_printer_fixed_while_the_power_is_off_is_fixed_at_power_on() {
    let mut rig = Rig::signed_in(TerminalConfig::default());
    rig.command(TerminalCommand::SetPrinter(PrinterHardware::OutOfPaper));
    rig.command(TerminalCommand::PowerOff);
    rig.command(TerminalCommand::SetPrinter(PrinterHardware::Ok));
    rig.command(TerminalCommand::PowerOn);
    rig.operator();
    assert_eq!(rig.terminal.persistent().printer(), PrinterHardware::Ok);
    rig.approved_sale(1000);
    assert!(rig.saw(|e| matches!(e, E::SlipPrinted { kind: SlipKind::Approval, .. })));
}
