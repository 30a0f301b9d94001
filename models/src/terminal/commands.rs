//! What the cashier, cardholder, operator or device-fault injector can do.
//!
//! PINs are digits, as typed on the PIN pad; the terminal turns them into a
//! PIN block under its PIK. A trade's card data is what the reader got.
//!
//! ```
//! use possim_models::terminal::TerminalCommand;
//! use possim_models::iso8583::trade::CardRead;
//! use possim_models::iso8583::values::{AmountFen, Pan};
//! let sale = TerminalCommand::Sale {
//!     card: CardRead::swiped(Pan::new("6222021234567890123").unwrap()),
//!     amount: AmountFen::new(1000).unwrap(),
//!     pin: Some("123456".into()),
//! };
//! assert!(sale.is_trade());
//! ```

use super::journal::{EntryStatus, JournalEntry};
use crate::iso8583::trade::CardRead;
use crate::iso8583::values::{AmountFen, AuthCode, BatchNo, MonthDay, Rrn, Stan};

use super::config::TerminalMutation;
use super::printer::PrinterHardware;

use crate::iso8583::trade::{IccData, Trade, TradeKind};
use crate::time::Instant;

use super::events::TerminalEventKind as E;
use super::printer::{PrinterState, SlipKind};
use super::reasons::{FailureReason, RefusalReason, SignInReason};
use super::reversal::ReversalReason;
use super::settlement::SettlementProgress;
use super::terminal::Terminal;
use super::volatile::{Awaiting, Operation, OperationState, Volatile};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TerminalCommand {
    /// Local: operator number and password checked on the terminal.
    OperatorSignIn {
        operator: String,
        password: String,
    },
    OperatorSignOut,
    /// 0800 with the configured key mode.
    SignIn,
    /// 0820 / 002.
    SignOff,
    /// 0820 / 301.
    Echo,
    BalanceInquiry {
        card: CardRead,
        pin: Option<String>,
    },
    Sale {
        card: CardRead,
        amount: AmountFen,
        pin: Option<String>,
    },
    /// Cancels a sale or completion of the current batch, found by its STAN;
    /// the amount must be the original's.
    Void {
        original_batch: BatchNo,
        original_stan: Stan,
        amount: AmountFen,
        pin: Option<String>,
    },
    /// Returns money for a trade of an earlier batch.
    Refund {
        card: CardRead,
        amount: AmountFen,
        original_rrn: Rrn,
        original_date: MonthDay,
    },
    PreAuth {
        card: CardRead,
        amount: AmountFen,
        pin: Option<String>,
    },
    Completion {
        card: CardRead,
        amount: AmountFen,
        original_auth: AuthCode,
        original_date: MonthDay,
        pin: Option<String>,
    },
    /// Releases a pre-auth's hold; the amount is the pre-auth's.
    PreAuthCancel {
        card: CardRead,
        amount: AmountFen,
        original_auth: AuthCode,
        original_date: MonthDay,
        pin: Option<String>,
    },
    /// A completion sent as an advice: kept until the host acknowledges it.
    CompletionAdvice {
        card: CardRead,
        amount: AmountFen,
        original_auth: AuthCode,
        original_date: MonthDay,
    },
    /// Kept and uploaded later; no message now.
    OfflineSale {
        card: CardRead,
        amount: AmountFen,
    },
    /// Electronic cash: paid offline from the chip when `offline_balance`
    /// covers it, else online as a sale with `pin`.
    ECash {
        card: CardRead,
        amount: AmountFen,
        offline_balance: AmountFen,
        pin: Option<String>,
    },
    /// The reader could not read the card: nothing is sent.
    CardReadFailed,
    /// Send the pending reversal and offline uploads now (the "send pending"
    /// menu item; also what a healing phase uses).
    SendPending,
    Settle,
    ReprintLast,
    ReprintByStan {
        stan: Stan,
    },
    PrintDetailList,
    /// The device-fault injector (or the cashier fixing it) sets the printer.
    SetPrinter(PrinterHardware),
    Charge {
        percent: u8,
    },
    /// The device-fault injector: the battery runs down to `percent`.
    DrainBattery {
        percent: u8,
    },
    /// A physical attack or a hard knock: lock and erase the working keys.
    Tamper,
    /// The device is broken and swapped for a new one: nothing of its store
    /// survives (see [`Terminal::replace`](super::Terminal::replace)).
    Replace,
    Unlock {
        password: String,
    },
    PowerOff,
    PowerOn,
}

impl TerminalCommand {
    /// The void of `entry`, as the cashier keys it: no PIN, the full amount
    /// (a void cancels a whole sale of the open batch).
    pub fn void_of(entry: &JournalEntry) -> TerminalCommand {
        TerminalCommand::Void {
            original_batch: entry.batch,
            original_stan: entry.stan,
            amount: entry.amount,
            pin: None,
        }
    }

    /// The amount a trade command moves, if any.
    pub fn amount(&self) -> Option<AmountFen> {
        match self {
            TerminalCommand::Sale { amount, .. }
            | TerminalCommand::Void { amount, .. }
            | TerminalCommand::Refund { amount, .. }
            | TerminalCommand::PreAuth { amount, .. }
            | TerminalCommand::Completion { amount, .. }
            | TerminalCommand::PreAuthCancel { amount, .. }
            | TerminalCommand::CompletionAdvice { amount, .. }
            | TerminalCommand::OfflineSale { amount, .. }
            | TerminalCommand::ECash { amount, .. } => Some(*amount),
            _ => None,
        }
    }

    /// Whether the command starts a trade (online or offline).
    pub fn is_trade(&self) -> bool {
        matches!(
            self,
            TerminalCommand::BalanceInquiry { .. }
                | TerminalCommand::Sale { .. }
                | TerminalCommand::Void { .. }
                | TerminalCommand::Refund { .. }
                | TerminalCommand::PreAuth { .. }
                | TerminalCommand::Completion { .. }
                | TerminalCommand::PreAuthCancel { .. }
                | TerminalCommand::CompletionAdvice { .. }
                | TerminalCommand::OfflineSale { .. }
                | TerminalCommand::ECash { .. }
        )
    }
}

/// Taking a command: local checks and refusals, offline trades done on the
/// spot, online ones handed to the driver as an operation.
impl Terminal {
    pub(super) fn command(&mut self, now: Instant, command: TerminalCommand) {
        match command {
            TerminalCommand::PowerOff => return self.power_off(now),
            TerminalCommand::PowerOn => return self.power_on(now),
            TerminalCommand::Charge { percent } => return self.persistent.charge(percent),
            TerminalCommand::DrainBattery { percent } => {
                return self.persistent.battery.drain_to(percent)
            }
            TerminalCommand::Replace => return self.replace(now),
            // The mechanism is physical, like the battery: paper put in or a
            // jam cleared while the terminal is off stays done at power-on.
            TerminalCommand::SetPrinter(hardware) => {
                self.persistent.printer = hardware;
                let low = self.persistent.battery.is_low(self.checked.config.battery_low_percent);
                let state = PrinterState::of(hardware, low);
                return self.emit(now, E::PrinterState { state });
            }
            // The tamper mesh runs on the secure element's own cell: a knock
            // while the terminal is off erases its keys and locks it too.
            TerminalCommand::Tamper => return self.tamper(now),
            _ if !self.powered => return,
            TerminalCommand::Unlock { password } => return self.unlock(now, &password),
            _ if self.persistent.tamper_locked => {
                return self.emit(now, E::Refused { why: RefusalReason::TamperLocked })
            }
            TerminalCommand::OperatorSignIn { operator, password } => {
                let config = &self.checked.config;
                if operator.trim_end() == config.operator.trim_end()
                    && password == config.operator_password
                {
                    self.volatile.operator_signed_in = true;
                    return self.emit(now, E::OperatorSignedIn);
                }
                return self.emit(now, E::Refused { why: RefusalReason::WrongOperatorOrPassword });
            }
            TerminalCommand::OperatorSignOut => {
                self.volatile.operator_signed_in = false;
                return;
            }
            TerminalCommand::ReprintLast => {
                // What "reprint last" finds first: a settlement's listing of
                // refused advices that has not yet come out readable.
                if !self.persistent.failures_unprinted.is_empty() {
                    self.print_failures_unprinted(now);
                    return;
                }
                let Some(stan) = self.persistent.last_approved else {
                    return self.emit(now, E::Refused { why: RefusalReason::NoSlipToReprint });
                };
                self.print(now, SlipKind::Reprint, Some(stan), Vec::new());
                return;
            }
            TerminalCommand::ReprintByStan { stan } => {
                let Some(entry) = self.persistent.journal.find(stan) else {
                    return self.emit(now, E::Refused { why: RefusalReason::NoSuchTrade { stan } });
                };
                if entry.status == super::journal::EntryStatus::AdvicePending {
                    return self.emit(
                        now,
                        E::Refused { why: RefusalReason::RefundNotAcknowledged { stan } },
                    );
                }
                self.print(now, SlipKind::Reprint, Some(stan), Vec::new());
                return;
            }
            TerminalCommand::PrintDetailList => {
                let listed = self.persistent.journal.iter().map(|entry| entry.stan).collect();
                self.print(now, SlipKind::DetailList, None, listed);
                return;
            }
            TerminalCommand::CardReadFailed => {
                return self.emit(now, E::Refused { why: RefusalReason::CardReadFailed })
            }
            _ => {}
        }
        if self.volatile.operation.is_some() {
            return self.emit(now, E::Refused { why: RefusalReason::Busy });
        }
        if !self.volatile.operator_signed_in {
            return self.emit(now, E::Refused { why: RefusalReason::OperatorNotSignedIn });
        }
        let operation = match command {
            TerminalCommand::SignIn => Operation::SignIn,
            _ if !self.persistent.signed_in() => {
                return self.emit(now, E::Refused { why: RefusalReason::TerminalNotSignedIn });
            }
            TerminalCommand::SignOff => Operation::SignOff,
            TerminalCommand::Echo => Operation::Echo,
            TerminalCommand::SendPending => Operation::SendPending,
            TerminalCommand::Settle => {
                if self.persistent.settlement.is_none() && !self.print_owed_slips(now) {
                    return;
                }
                if self.persistent.settlement.is_none() {
                    self.persistent.settlement =
                        Some(SettlementProgress::new(self.persistent.batch));
                }
                Operation::Settle
            }
            trade => match self.admit_trade(now, trade) {
                Some(operation) => operation,
                None => return,
            },
        };
        self.volatile.operation = Some((operation, OperationState::default()));
    }

    /// Local checks of a trade; offline trades are done here and then.
    pub(super) fn admit_trade(
        &mut self,
        now: Instant,
        command: TerminalCommand,
    ) -> Option<Operation> {
        let refuse = |terminal: &mut Terminal, why: RefusalReason| {
            terminal.emit(now, E::Refused { why });
            None
        };
        if let Some(progress) = self.persistent.settlement {
            return refuse(self, RefusalReason::SettlementInProgress { batch: progress.batch });
        }
        let moves_money = !matches!(command, TerminalCommand::BalanceInquiry { .. });
        let overwrite = self.checked.config.mutation == TerminalMutation::JournalOverwritesOldest;
        if moves_money && self.persistent.journal.is_full() && !overwrite {
            self.emit(now, E::StorageFull);
            return refuse(self, RefusalReason::StorageFull);
        }
        if let Some(amount) = command.amount() {
            // Field 48 carries each side's total in twelve digits.
            let totals = self.persistent.journal.totals();
            let room = AmountFen::MAX - totals.debit_amount.max(totals.credit_amount);
            if amount.fen() > room {
                return refuse(self, RefusalReason::BatchTotalWouldOverflow);
            }
        }
        let command = match command {
            TerminalCommand::OfflineSale { card, amount } => {
                let trade = Trade::OfflineSale {
                    amount,
                    time: self.checked.config.calendar.time_of_day(now),
                    date: self.checked.config.calendar.month_day(now),
                };
                self.offline_trade(now, trade, card);
                return None;
            }
            TerminalCommand::ECash { card, amount, offline_balance, pin } => {
                let overdraws = self.checked.config.mutation == TerminalMutation::EcashOverdraws;
                if offline_balance >= amount || overdraws {
                    let certificate = card.icc.clone().unwrap_or_else(|| {
                        let stan = self.persistent.next_stan;
                        IccData::new(format!("TC{stan}").into_bytes()).expect("short")
                    });
                    let trade = Trade::ECash {
                        amount,
                        time: self.checked.config.calendar.time_of_day(now),
                        date: self.checked.config.calendar.month_day(now),
                        certificate,
                    };
                    self.offline_trade(now, trade, card);
                    return None;
                }
                if pin.is_none() {
                    return refuse(self, RefusalReason::OfflineBalanceTooSmall);
                }
                TerminalCommand::Sale { card, amount, pin }
            }
            TerminalCommand::Void { original_batch, original_stan, amount, pin } => {
                let any_batch = self.checked.config.mutation == TerminalMutation::VoidAnyBatch;
                if original_batch != self.persistent.batch && !any_batch {
                    return refuse(
                        self,
                        RefusalReason::VoidOfAnotherBatch { batch: original_batch },
                    );
                }
                let Some(original) = self.persistent.journal.find(original_stan) else {
                    return refuse(self, RefusalReason::NoSuchTrade { stan: original_stan });
                };
                let voidable = matches!(
                    original.kind,
                    TradeKind::Sale | TradeKind::Completion | TradeKind::CompletionAdvice
                );
                if !voidable || original.voided || original.status != EntryStatus::Approved {
                    return refuse(self, RefusalReason::NotVoidable { stan: original_stan });
                }
                if original.amount != amount {
                    let original = original.amount;
                    return refuse(self, RefusalReason::VoidAmountDiffers { amount, original });
                }
                TerminalCommand::Void { original_batch, original_stan, amount, pin }
            }
            TerminalCommand::CompletionAdvice { .. } if self.persistent.offline.is_full() => {
                // Kept until acknowledged, like a refund: it needs its place.
                self.emit(now, E::StorageFull);
                return refuse(self, RefusalReason::AdviceQueueFull);
            }
            TerminalCommand::Refund { card, amount, original_rrn, original_date } => {
                if self.persistent.journal.iter().any(|entry| entry.rrn == Some(original_rrn)) {
                    return refuse(self, RefusalReason::RefundOfCurrentBatch);
                }
                // The refund is an advice kept until acknowledged: it needs
                // its place in the queue before it can go.
                if self.persistent.offline.is_full() {
                    self.emit(now, E::StorageFull);
                    return refuse(self, RefusalReason::AdviceQueueFull);
                }
                TerminalCommand::Refund { card, amount, original_rrn, original_date }
            }
            other => other,
        };
        Some(Operation::Trade { command, sent: false, retry_of: None })
    }

    pub(super) fn tamper(&mut self, now: Instant) {
        if let Some(outstanding) = self.volatile.outstanding.take() {
            // Without keys no answer can be checked: the trade in flight is lost.
            if let Awaiting::Trade { request, reversal } = outstanding.awaiting {
                self.trade_unusable(
                    now,
                    &request,
                    reversal,
                    ReversalReason::Timeout,
                    FailureReason::TamperLock,
                    false,
                );
            }
        }
        self.persistent.tamper_locked = true;
        if self.checked.config.mutation != TerminalMutation::TamperKeepsKeys {
            self.persistent.keys = None;
            self.persistent.signed_in = false;
        }
        self.volatile = Volatile::default();
        self.emit(now, E::TamperLocked);
    }

    pub(super) fn unlock(&mut self, now: Instant, password: &str) {
        if !self.persistent.tamper_locked {
            return self.emit(now, E::Refused { why: RefusalReason::NotLocked });
        }
        if password != self.checked.config.unlock_password {
            return self.emit(now, E::Refused { why: RefusalReason::WrongUnlockPassword });
        }
        self.persistent.tamper_locked = false;
        self.emit(now, E::Unlocked);
        if self.checked.config.mutation == TerminalMutation::TamperKeepsKeys {
            return;
        }
        self.emit(now, E::SignInRequired { why: SignInReason::KeysErasedByTamper });
    }
}
