//! The issuer's state machine: accounts, trades, and the rules that move money.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::config::{
    within_allowance, CardStatus, IssuerConfig, IssuerConfigError, EVENTS_PER_INPUT_MAX,
    HOLDS_EXPIRED_PER_TIMEOUT_MAX,
};
use super::events::{
    CardLedger, HoldClosedWhy, IssuerCommand, IssuerCommandRefusal, IssuerDropReason, IssuerEvent,
    IssuerEventKind, IssuerFormatReason, Purse, ReversalIgnoredWhy,
};
use super::reply::echo_answer;
use crate::actor::{Actor, LinkKeys, Node, TradeKey, Transmit};
use crate::bounded::BoundedQueue;
use crate::iso8583::cup::CupMessage;
use crate::iso8583::mac::MacKey;
use crate::iso8583::pin::decrypt_pin;
use crate::iso8583::response_code::ResponseCode;
use crate::iso8583::trade::{FinancialRequest, ReversalRequest, Trade, TradeKind, TradeResponse};
use crate::iso8583::values::{AuthCode, Expiry, MerchantId, Pan, Rrn};
use crate::iso8583::Tpdu;
use crate::time::{Calendar, Instant};
use crate::wire::{receive, seal, InboundError};

#[derive(Debug, Clone)]
struct Account {
    status: CardStatus,
    expiry: Option<Expiry>,
    pin: String,
    balance_fen: i64,
    held_fen: i64,
    offline_fen: i64,
    opening_balance_fen: i64,
    opening_offline_fen: i64,
    ecash_loaded_fen: i64,
    pin_failures: u32,
    locked_until: Option<Instant>,
}

impl Account {
    fn available_fen(&self) -> i64 {
        self.balance_fen - self.held_fen
    }
}

/// Field 54 carries twelve digits and a sign; a ledger past that (offline
/// uploads are accepted past the balance, so a debt can grow without end)
/// is reported at the bound, as a display saturates. Only the report is
/// clipped: the ledger, and so the oracle's books, keep every fen.
fn field_54_balance(available_fen: i64) -> i64 {
    let bound = crate::iso8583::values::AmountFen::MAX as i64;
    available_fen.clamp(-bound, bound)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Approved,
    Declined(ResponseCode),
    /// A reversal came first: the key is taken, the trade never happens.
    ReversedUnseen,
}

/// Everything the issuer remembers of one trade.
#[derive(Debug, Clone)]
struct TradeRecord {
    kind: TradeKind,
    pan: Pan,
    merchant: MerchantId,
    day: u64,
    amount_fen: i64,
    outcome: Outcome,
    /// Money of this trade still in effect: debited (debits), credited
    /// (voids, refunds) or held (pre-auths). Voids, refunds, reversals and
    /// clearing bring it down.
    standing_fen: i64,
    /// What the first reversal rolled back (the unsafe policy repeats it).
    rolled_back_fen: i64,
    reversals: u32,
    /// Reconciled against a clearing list (listed or returned).
    cleared: bool,
    voided_by: Option<TradeKey>,
    refunded_fen: i64,
    completed_by: Option<TradeKey>,
    /// A pre-auth released by its cancel.
    cancelled_by: Option<TradeKey>,
    /// A pre-auth whose hold lapsed at `hold_expiry_ms`.
    expired: bool,
    /// When the trade was decided: a pre-auth's hold lapses from here.
    approved_at: Instant,
    /// A void's original, a completion's or cancel's pre-auth.
    original: Option<TradeKey>,
}

impl TradeRecord {
    fn purse(&self) -> Purse {
        match self.kind {
            TradeKind::ECashUpload => Purse::Offline,
            TradeKind::PreAuth => Purse::Hold,
            _ => Purse::Account,
        }
    }

    /// Signed effect on the cardholder of undoing `fen` of this trade.
    fn rollback_delta(&self, fen: i64) -> i64 {
        match self.kind {
            TradeKind::Void | TradeKind::Refund | TradeKind::CompletionVoid => -fen,
            // The hold shrinks: on the hold purse a positive delta releases.
            TradeKind::PreAuth => fen,
            _ => fen,
        }
    }
}

/// An approval decided, waiting to be booked.
#[derive(Debug)]
enum Booking {
    Inquiry,
    Debit { purse: Purse },
    Hold,
    Completion { pre_auth: TradeKey },
    Cancel { pre_auth: TradeKey },
    Void { original: TradeKey },
    Refund { original: TradeKey },
}

/// The issuer host. See the [module docs](super).
#[derive(Debug)]
pub struct Issuer {
    config: IssuerConfig,
    keys: LinkKeys,
    mac: MacKey,
    accounts: BTreeMap<Pan, Account>,
    trades: BTreeMap<TradeKey, TradeRecord>,
    by_rrn: BTreeMap<Rrn, TradeKey>,
    by_auth: BTreeMap<AuthCode, TradeKey>,
    /// Approved sales and pre-auths per (card, merchant, business day).
    daily_counts: BTreeMap<(Pan, MerchantId, u64), u32>,
    /// Open holds by the instant they lapse; at most one entry per pre-auth.
    hold_expiries: BTreeSet<(Instant, TradeKey)>,
    /// Assigns both the RRN and the authorisation code of each approval.
    approvals: u64,
    transmits: BoundedQueue<Transmit>,
    events: BoundedQueue<IssuerEvent>,
}

impl Issuer {
    /// The issuer at its first start, with its configured accounts. Nothing
    /// is due at a cold start (no hold is open); `now` is taken so that all
    /// four actors start the same way (docs/DESIGN.md, "Starting an actor").
    /// The model keeps the issuer's books in memory only, so it has no
    /// `restart`.
    pub fn new(config: IssuerConfig, now: Instant) -> Result<Issuer, IssuerConfigError> {
        let _ = now;
        let valid = config.validate()?;
        let mut accounts = BTreeMap::new();
        for (card, expiry) in config.cards.iter().zip(valid.expiries) {
            accounts.insert(
                card.pan,
                Account {
                    status: card.status,
                    expiry,
                    pin: card.pin.clone(),
                    balance_fen: card.balance_fen,
                    held_fen: 0,
                    offline_fen: card.offline_balance_fen,
                    opening_balance_fen: card.balance_fen,
                    opening_offline_fen: card.offline_balance_fen,
                    ecash_loaded_fen: 0,
                    pin_failures: 0,
                    locked_until: None,
                },
            );
        }
        Ok(Issuer {
            mac: valid.keys.mac_key(),
            keys: valid.keys,
            accounts,
            trades: BTreeMap::new(),
            by_rrn: BTreeMap::new(),
            by_auth: BTreeMap::new(),
            daily_counts: BTreeMap::new(),
            hold_expiries: BTreeSet::new(),
            approvals: 0,
            transmits: BoundedQueue::new(config.transmits_max),
            events: BoundedQueue::new(config.events_max),
            config,
        })
    }

    pub fn config(&self) -> &IssuerConfig {
        &self.config
    }

    pub fn node(&self) -> Node {
        Node::Issuer(self.config.index)
    }

    /// Every card's money, in PAN order.
    pub fn ledger(&self) -> Vec<CardLedger> {
        self.accounts.iter().map(|(pan, account)| Issuer::card_ledger(pan, account)).collect()
    }

    pub fn card(&self, pan: &Pan) -> Option<CardLedger> {
        self.accounts.get(pan).map(|account| Issuer::card_ledger(pan, account))
    }

    /// Trades remembered (bounded by `trades_max`).
    pub fn trade_count(&self) -> usize {
        self.trades.len()
    }

    fn card_ledger(pan: &Pan, account: &Account) -> CardLedger {
        CardLedger {
            pan: *pan,
            opening_balance_fen: account.opening_balance_fen,
            balance_fen: account.balance_fen,
            held_fen: account.held_fen,
            opening_offline_fen: account.opening_offline_fen,
            offline_balance_fen: account.offline_fen,
            ecash_loaded_fen: account.ecash_loaded_fen,
        }
    }

    fn emit(&mut self, at: Instant, kind: IssuerEventKind) {
        self.events.push_expect(IssuerEvent { at, kind }, "issuer event");
    }

    fn send(&mut self, bytes: Vec<u8>) {
        // One answer per input: the shell drains between inputs, so a full
        // queue means the shell broke the contract.
        self.transmits.push_expect(Transmit { to: Node::Network, bytes }, "issuer transmit");
    }

    fn calendar(&self) -> Calendar {
        self.config.calendar
    }

    fn answer(&mut self, tpdu: Tpdu, response: TradeResponse) {
        let bytes = seal(&CupMessage::TradeAnswer(response), tpdu.reply(), Some(&self.mac));
        self.send(bytes);
    }

    fn plain_answer(
        &mut self,
        now: Instant,
        tpdu: Tpdu,
        request: &FinancialRequest,
        code: ResponseCode,
    ) {
        let calendar = self.calendar();
        let response = TradeResponse::answering(
            request,
            code,
            calendar.time_of_day(now),
            calendar.month_day(now),
        );
        self.answer(tpdu, response);
    }

    fn reversal_answer(
        &mut self,
        now: Instant,
        tpdu: Tpdu,
        reversal: &ReversalRequest,
        code: ResponseCode,
    ) {
        let calendar = self.calendar();
        let response = TradeResponse::answering_reversal(
            reversal,
            code,
            calendar.time_of_day(now),
            calendar.month_day(now),
        );
        self.answer(tpdu, response);
    }

    /// Changes one purse of `pan` by `delta_fen` (negative: from the
    /// cardholder), and logs it.
    fn move_money(
        &mut self,
        now: Instant,
        key: Option<TradeKey>,
        pan: Pan,
        purse: Purse,
        delta_fen: i64,
    ) {
        if delta_fen == 0 {
            return;
        }
        let account = self.accounts.get_mut(&pan).expect("money moves only on known cards");
        let balance_after_fen = match purse {
            Purse::Account => {
                account.balance_fen += delta_fen;
                account.balance_fen
            }
            Purse::Offline => {
                account.offline_fen += delta_fen;
                account.offline_fen
            }
            // A hold is money set aside: a positive delta releases it.
            Purse::Hold => {
                account.held_fen -= delta_fen;
                // Each hold is released once, by what it held: an invariant
                // of the safe issuer only. One whose reversals are not
                // idempotent (`reversal_idempotent: false`, an unsafe policy a
                // scenario may ask for) releases a hold once per copy, and
                // the oracle's holds-accounted is what convicts it.
                assert!(
                    account.held_fen >= 0 || !self.config.policy.reversal_idempotent,
                    "card {pan} holds {} fen",
                    account.held_fen
                );
                account.held_fen
            }
        };
        self.emit(now, IssuerEventKind::Moved { key, pan, purse, delta_fen, balance_after_fen });
    }

    // ---- requests ----

    fn on_request(&mut self, now: Instant, tpdu: Tpdu, request: FinancialRequest) {
        let key = TradeKey::of(&request);
        let kind = request.kind();
        self.emit(now, IssuerEventKind::RequestReceived { key, kind, reversal: false });
        if let Some(record) = self.trades.get(&key) {
            // 94 says "the original stands", which the switch and the
            // terminal read as taken; for a trade it refused, the refusal is
            // what stands, so a copy (a re-sent upload whose first answer was
            // lost upstream) gets it again rather than pass as paid.
            let code = match record.outcome {
                Outcome::Declined(code) => code,
                Outcome::Approved | Outcome::ReversedUnseen => ResponseCode::DUPLICATE,
            };
            self.emit(now, IssuerEventKind::Duplicate { key });
            self.plain_answer(now, tpdu, &request, code);
            return;
        }
        if self.trades.len() >= self.config.trades_max {
            let code = ResponseCode::SYSTEM_MALFUNCTION;
            self.emit(now, IssuerEventKind::Declined { key, kind, pan: request.card.pan, code });
            self.plain_answer(now, tpdu, &request, code);
            return;
        }
        let amount_fen = request.trade.amount().map_or(0, |a| a.fen() as i64);
        let mut record = TradeRecord {
            kind,
            pan: request.card.pan,
            merchant: request.merchant,
            day: self.calendar().day_index(now),
            amount_fen,
            outcome: Outcome::Approved,
            standing_fen: 0,
            rolled_back_fen: 0,
            reversals: 0,
            cleared: false,
            voided_by: None,
            refunded_fen: 0,
            completed_by: None,
            cancelled_by: None,
            expired: false,
            approved_at: now,
            original: None,
        };
        match self.authorise(now, &request, amount_fen) {
            Err(code) => {
                record.outcome = Outcome::Declined(code);
                self.insert_trade(key, record);
                self.emit(
                    now,
                    IssuerEventKind::Declined { key, kind, pan: request.card.pan, code },
                );
                self.plain_answer(now, tpdu, &request, code);
            }
            Ok(booking) => {
                let pan = request.card.pan;
                self.book(now, key, &mut record, booking);
                self.approvals += 1;
                let rrn = Rrn::new(&format!(
                    "{:02}{:010}",
                    self.config.index,
                    self.approvals % 10_000_000_000
                ))
                .expect("twelve digits");
                let auth = AuthCode::new(&format!("{:06}", self.approvals % 1_000_000))
                    .expect("six digits");
                if kind == TradeKind::PreAuth {
                    let previous = self.by_auth.insert(auth, key);
                    assert!(previous.is_none(), "auth codes repeat only after a million approvals");
                }
                self.by_rrn.insert(rrn, key);
                let balance = (kind == TradeKind::BalanceInquiry)
                    .then(|| field_54_balance(self.accounts[&pan].available_fen()));
                self.insert_trade(key, record);
                self.emit(
                    now,
                    IssuerEventKind::Approved { key, kind, pan, amount_fen: amount_fen as u64 },
                );
                let calendar = self.calendar();
                let today = calendar.month_day(now);
                let mut response = TradeResponse::answering(
                    &request,
                    ResponseCode::APPROVED,
                    calendar.time_of_day(now),
                    today,
                );
                response.rrn = Some(rrn);
                response.auth_code = Some(auth);
                response.settlement_date = Some(today);
                response.balance = balance;
                self.answer(tpdu, response);
            }
        }
    }

    fn insert_trade(&mut self, key: TradeKey, record: TradeRecord) {
        let previous = self.trades.insert(key, record);
        assert!(previous.is_none(), "a trade key is booked once");
        assert!(self.trades.len() <= self.config.trades_max);
        assert!(self.by_rrn.len() <= self.trades.len());
    }

    /// Decides a request: the checks in the order a host makes them, with
    /// only the PIN counters changed on the way.
    fn authorise(
        &mut self,
        now: Instant,
        request: &FinancialRequest,
        amount_fen: i64,
    ) -> Result<Booking, ResponseCode> {
        let pan = request.card.pan;
        let kind = request.kind();
        let pik = self.keys.pik;
        let limits = self.config.limits.clone();
        let Some(account) = self.accounts.get_mut(&pan) else {
            return Err(ResponseCode::INVALID_CARD);
        };
        if kind.is_offline_upload() {
            // The card authorised it offline and the goods are gone: the host
            // must take it as sent, whatever the card's state or balance now.
            // Except that a chip pays electronic cash only from what it
            // holds, and the issuer's record of the chip is never below the
            // chip (it is debited at upload, after the chip): an e-cash
            // upload for more than that record is data that does not
            // reconcile (79), not a debit to book.
            if kind == TradeKind::ECashUpload {
                if amount_fen > account.offline_fen {
                    return Err(ResponseCode::OFFLINE_NOT_RECONCILED);
                }
                return Ok(Booking::Debit { purse: Purse::Offline });
            }
            return Ok(Booking::Debit { purse: Purse::Account });
        }
        match account.status {
            CardStatus::Active => {}
            CardStatus::Lost => return Err(ResponseCode::LOST_CARD),
            CardStatus::Stolen => return Err(ResponseCode::STOLEN_CARD),
            CardStatus::Expired => return Err(ResponseCode::EXPIRED_CARD),
            CardStatus::Restricted => return Err(ResponseCode::RESTRICTED_CARD),
        }
        if let (Some(on_file), Some(sent)) = (account.expiry, request.card.expiry) {
            if on_file != sent {
                return Err(ResponseCode::EXPIRED_CARD);
            }
        }
        match account.locked_until {
            Some(until) if now < until => return Err(ResponseCode::PIN_TRIES_EXCEEDED),
            Some(_) => account.locked_until = None,
            None => {}
        }
        if let Some(block) = &request.pin_block {
            match decrypt_pin(&pik, &pan, block) {
                Err(_) => return Err(ResponseCode::PIN_FORMAT_ERROR),
                Ok(pin) if pin != account.pin => {
                    account.pin_failures += 1;
                    assert!(account.pin_failures <= limits.pin_tries_max);
                    if account.pin_failures == limits.pin_tries_max {
                        let until = now + Duration::from_millis(limits.pin_lock_ms);
                        account.pin_failures = 0;
                        account.locked_until = Some(until);
                        self.emit(now, IssuerEventKind::PinLocked { pan, until });
                        return Err(ResponseCode::PIN_TRIES_EXCEEDED);
                    }
                    return Err(ResponseCode::WRONG_PIN);
                }
                Ok(_) => account.pin_failures = 0,
            }
        }
        let available = account.available_fen();
        match &request.trade {
            Trade::BalanceInquiry => Ok(Booking::Inquiry),
            Trade::Sale { .. } | Trade::PreAuth { .. } => {
                if (amount_fen as u64) < limits.min_amount_fen {
                    return Err(ResponseCode::INVALID_AMOUNT);
                }
                if amount_fen as u64 > limits.single_amount_max_fen {
                    return Err(ResponseCode::EXCEEDS_AMOUNT_LIMIT);
                }
                let day = self.config.calendar.day_index(now);
                let count =
                    self.daily_counts.get(&(pan, request.merchant, day)).copied().unwrap_or(0);
                if count >= limits.daily_count_max {
                    return Err(ResponseCode::EXCEEDS_FREQUENCY_LIMIT);
                }
                if available < amount_fen {
                    return Err(ResponseCode::INSUFFICIENT_FUNDS);
                }
                Ok(if kind == TradeKind::PreAuth {
                    Booking::Hold
                } else {
                    Booking::Debit { purse: Purse::Account }
                })
            }
            Trade::Completion { original_auth, .. }
            | Trade::CompletionAdvice { original_auth, .. } => {
                let pre_auth = self.open_hold(original_auth, pan)?;
                let record = &self.trades[&pre_auth];
                if !within_allowance(amount_fen, record.amount_fen) {
                    return Err(ResponseCode::ORIGINAL_AMOUNT_INCORRECT);
                }
                // The hold is released as the completion is debited: what
                // it held counts toward the funds.
                if available + record.standing_fen < amount_fen {
                    return Err(ResponseCode::INSUFFICIENT_FUNDS);
                }
                Ok(Booking::Completion { pre_auth })
            }
            Trade::PreAuthCancel { original_auth, .. } => {
                let pre_auth = self.open_hold(original_auth, pan)?;
                if amount_fen != self.trades[&pre_auth].amount_fen {
                    return Err(ResponseCode::ORIGINAL_AMOUNT_INCORRECT);
                }
                Ok(Booking::Cancel { pre_auth })
            }
            Trade::Void { original_batch, original_stan, .. }
            | Trade::CompletionVoid { original_batch, original_stan, .. } => {
                let original = TradeKey {
                    terminal: request.terminal,
                    merchant: request.merchant,
                    batch: *original_batch,
                    stan: *original_stan,
                };
                let record = self.trades.get(&original).ok_or(ResponseCode::ORIGINAL_NOT_FOUND)?;
                // A sale void cancels a sale, a completion void a completion:
                // each names its original's family (F25, 60.1), and the
                // other's original is not found.
                let voidable = if kind == TradeKind::Void {
                    record.kind == TradeKind::Sale
                } else {
                    matches!(record.kind, TradeKind::Completion | TradeKind::CompletionAdvice)
                };
                if record.pan != pan || !voidable {
                    return Err(ResponseCode::ORIGINAL_NOT_FOUND);
                }
                let intact = record.outcome == Outcome::Approved
                    && record.reversals == 0
                    && record.voided_by.is_none()
                    && record.standing_fen == record.amount_fen;
                if !intact {
                    return Err(ResponseCode::UNSUPPORTED_BY_ISSUER);
                }
                if amount_fen != record.amount_fen {
                    return Err(ResponseCode::ORIGINAL_AMOUNT_INCORRECT);
                }
                Ok(Booking::Void { original })
            }
            Trade::Refund { original_rrn, .. } => {
                let original = self
                    .by_rrn
                    .get(original_rrn)
                    .copied()
                    .ok_or(ResponseCode::ORIGINAL_NOT_FOUND)?;
                let record = &self.trades[&original];
                let refundable = matches!(
                    record.kind,
                    TradeKind::Sale | TradeKind::Completion | TradeKind::OfflineSaleUpload
                );
                if record.pan != pan || !refundable {
                    return Err(ResponseCode::ORIGINAL_NOT_FOUND);
                }
                if record.reversals > 0 || record.voided_by.is_some() || record.standing_fen == 0 {
                    return Err(ResponseCode::UNSUPPORTED_BY_ISSUER);
                }
                if record.refunded_fen + amount_fen > record.amount_fen {
                    return Err(ResponseCode::ORIGINAL_AMOUNT_INCORRECT);
                }
                Ok(Booking::Refund { original })
            }
            Trade::OfflineSale { .. } | Trade::ECash { .. } => {
                unreachable!("offline uploads returned above")
            }
        }
    }

    fn book(&mut self, now: Instant, key: TradeKey, record: &mut TradeRecord, booking: Booking) {
        let pan = record.pan;
        let amount = record.amount_fen;
        match booking {
            Booking::Inquiry => {}
            Booking::Debit { purse } => {
                record.standing_fen = amount;
                if record.kind == TradeKind::Sale {
                    *self.daily_counts.entry((pan, record.merchant, record.day)).or_insert(0) += 1;
                }
                self.move_money(now, Some(key), pan, purse, -amount);
            }
            Booking::Hold => {
                record.standing_fen = amount;
                *self.daily_counts.entry((pan, record.merchant, record.day)).or_insert(0) += 1;
                self.move_money(now, Some(key), pan, Purse::Hold, -amount);
                self.place_hold(now, key, record.approved_at, pan, amount);
            }
            Booking::Completion { pre_auth } if !self.config.policy.completion_releases_hold => {
                // The unsafe policy: captured, and the hold left to lapse.
                let held = {
                    let original = self.trades.get_mut(&pre_auth).expect("checked in authorise");
                    original.completed_by = Some(key);
                    original.standing_fen
                };
                record.original = Some(pre_auth);
                record.standing_fen = amount;
                self.move_money(now, Some(key), pan, Purse::Account, -amount);
                let why = HoldClosedWhy::Completed;
                let (by, released_fen, captured_fen) = (Some(key), 0, amount);
                self.emit(
                    now,
                    IssuerEventKind::HoldClosed {
                        pre_auth,
                        pan,
                        by,
                        why,
                        released_fen,
                        captured_fen,
                    },
                );
                assert!(held > 0, "a completion finds its hold open");
            }
            Booking::Completion { pre_auth } => {
                let held = {
                    let original = self.trades.get_mut(&pre_auth).expect("checked in authorise");
                    original.completed_by = Some(key);
                    std::mem::take(&mut original.standing_fen)
                };
                record.original = Some(pre_auth);
                record.standing_fen = amount;
                self.move_money(now, Some(pre_auth), pan, Purse::Hold, held);
                self.move_money(now, Some(key), pan, Purse::Account, -amount);
                let why = HoldClosedWhy::Completed;
                self.close_hold(now, pre_auth, pan, Some(key), why, held, amount);
            }
            Booking::Cancel { pre_auth } => {
                let held = {
                    let original = self.trades.get_mut(&pre_auth).expect("checked in authorise");
                    original.cancelled_by = Some(key);
                    std::mem::take(&mut original.standing_fen)
                };
                record.original = Some(pre_auth);
                record.standing_fen = held;
                self.move_money(now, Some(pre_auth), pan, Purse::Hold, held);
                self.close_hold(now, pre_auth, pan, Some(key), HoldClosedWhy::Cancelled, held, 0);
            }
            Booking::Void { original } => {
                let target = self.trades.get_mut(&original).expect("checked in authorise");
                target.voided_by = Some(key);
                target.standing_fen -= amount;
                record.original = Some(original);
                record.standing_fen = amount;
                self.move_money(now, Some(key), pan, Purse::Account, amount);
            }
            Booking::Refund { original } => {
                let target = self.trades.get_mut(&original).expect("checked in authorise");
                target.refunded_fen += amount;
                target.standing_fen -= amount;
                assert!(target.standing_fen >= 0);
                record.original = Some(original);
                record.standing_fen = amount;
                self.move_money(now, Some(key), pan, Purse::Account, amount);
            }
        }
        assert!(self.daily_counts.len() <= self.config.trades_max);
    }

    /// The open pre-auth `auth` names for `pan`: approved, neither
    /// completed, cancelled, reversed nor lapsed; else 25 (no such hold).
    fn open_hold(&self, auth: &AuthCode, pan: Pan) -> Result<TradeKey, ResponseCode> {
        let pre_auth = self.by_auth.get(auth).copied().ok_or(ResponseCode::ORIGINAL_NOT_FOUND)?;
        let record = &self.trades[&pre_auth];
        let open = record.kind == TradeKind::PreAuth
            && record.outcome == Outcome::Approved
            && record.completed_by.is_none()
            && record.cancelled_by.is_none()
            && !record.expired
            && record.reversals == 0
            && record.standing_fen > 0;
        if record.pan != pan || !open {
            return Err(ResponseCode::ORIGINAL_NOT_FOUND);
        }
        Ok(pre_auth)
    }

    /// A hold set (a pre-auth approved, or open again after its completion
    /// or cancel was reversed): it lapses `hold_expiry_ms` after the
    /// pre-auth was approved, not after it reopened.
    fn place_hold(
        &mut self,
        now: Instant,
        pre_auth: TradeKey,
        approved_at: Instant,
        pan: Pan,
        held_fen: i64,
    ) {
        let expires_at = approved_at + Duration::from_millis(self.config.limits.hold_expiry_ms);
        self.hold_expiries.retain(|(_, key)| *key != pre_auth);
        self.hold_expiries.insert((expires_at, pre_auth));
        assert!(self.hold_expiries.len() <= self.config.trades_max);
        self.emit(now, IssuerEventKind::HoldPlaced { pre_auth, pan, held_fen, expires_at });
    }

    #[allow(clippy::too_many_arguments)]
    fn close_hold(
        &mut self,
        now: Instant,
        pre_auth: TradeKey,
        pan: Pan,
        by: Option<TradeKey>,
        why: HoldClosedWhy,
        released_fen: i64,
        captured_fen: i64,
    ) {
        self.hold_expiries.retain(|(_, key)| *key != pre_auth);
        self.emit(
            now,
            IssuerEventKind::HoldClosed { pre_auth, pan, by, why, released_fen, captured_fen },
        );
    }

    /// Releases the holds whose time has come, a few per call (the event
    /// queue has room for one input's worth); `poll_timeout` asks again at
    /// once for the rest.
    fn expire_holds(&mut self, now: Instant) {
        for _ in 0..HOLDS_EXPIRED_PER_TIMEOUT_MAX {
            let Some(&(at, pre_auth)) = self.hold_expiries.first() else { return };
            if at > now {
                return;
            }
            self.hold_expiries.pop_first();
            let (pan, held) = {
                let record = self.trades.get_mut(&pre_auth).expect("an expiry names a pre-auth");
                record.expired = true;
                (record.pan, std::mem::take(&mut record.standing_fen))
            };
            self.move_money(now, Some(pre_auth), pan, Purse::Hold, held);
            self.close_hold(now, pre_auth, pan, None, HoldClosedWhy::Expired, held, 0);
        }
    }

    // ---- reversals ----

    fn on_reversal(&mut self, now: Instant, tpdu: Tpdu, reversal: ReversalRequest) {
        let key = TradeKey::of(reversal.original());
        self.emit(
            now,
            IssuerEventKind::RequestReceived {
                key,
                kind: reversal.original().kind(),
                reversal: true,
            },
        );
        let code = match self.trades.get(&key).map(|record| record.outcome) {
            None => {
                // With the table full the marker is not kept, and need not
                // be: the late original is refused 96 by the same bound.
                if self.trades.len() < self.config.trades_max {
                    let original = reversal.original();
                    let record = TradeRecord {
                        kind: original.kind(),
                        pan: original.card.pan,
                        merchant: original.merchant,
                        day: self.calendar().day_index(now),
                        amount_fen: 0,
                        outcome: Outcome::ReversedUnseen,
                        standing_fen: 0,
                        rolled_back_fen: 0,
                        reversals: 1,
                        cleared: true,
                        voided_by: None,
                        refunded_fen: 0,
                        completed_by: None,
                        cancelled_by: None,
                        expired: false,
                        approved_at: now,
                        original: None,
                    };
                    self.insert_trade(key, record);
                    self.emit(now, IssuerEventKind::ReversalBeforeOriginal { key });
                }
                self.ignored(
                    now,
                    key,
                    ReversalIgnoredWhy::OriginalNotFound,
                    ResponseCode::ORIGINAL_NOT_FOUND,
                )
            }
            Some(Outcome::ReversedUnseen) => self.ignored(
                now,
                key,
                ReversalIgnoredWhy::OriginalNotFound,
                ResponseCode::ORIGINAL_NOT_FOUND,
            ),
            Some(Outcome::Declined(_)) => self.ignored(
                now,
                key,
                ReversalIgnoredWhy::OriginalDeclined,
                ResponseCode::UNSUPPORTED_BY_ISSUER,
            ),
            Some(Outcome::Approved) => self.roll_back(now, key),
        };
        self.reversal_answer(now, tpdu, &reversal, code);
    }

    fn ignored(
        &mut self,
        now: Instant,
        key: TradeKey,
        why: ReversalIgnoredWhy,
        code: ResponseCode,
    ) -> ResponseCode {
        self.emit(now, IssuerEventKind::ReversalIgnored { key, why, code });
        code
    }

    fn roll_back(&mut self, now: Instant, key: TradeKey) -> ResponseCode {
        let record = self.trades.get(&key).expect("looked up by the caller").clone();
        if record.reversals > 0 {
            if self.config.policy.reversal_idempotent {
                return self.ignored(now, key, ReversalIgnoredWhy::Repeat, ResponseCode::APPROVED);
            }
            // The unsafe policy: book the same rollback again, as the field bug does.
            let fen = record.rolled_back_fen;
            self.trades.get_mut(&key).expect("present").reversals += 1;
            self.move_money(now, Some(key), record.pan, record.purse(), record.rollback_delta(fen));
            self.emit(now, IssuerEventKind::Reversed { key, amount_fen: fen, repeat: true });
            return ResponseCode::APPROVED;
        }
        if record.kind == TradeKind::PreAuth
            && (record.completed_by.is_some() || record.cancelled_by.is_some())
        {
            return self.ignored(
                now,
                key,
                ReversalIgnoredWhy::NotReversible,
                ResponseCode::UNSUPPORTED_BY_ISSUER,
            );
        }
        let fen = record.standing_fen;
        {
            let entry = self.trades.get_mut(&key).expect("present");
            entry.reversals = 1;
            entry.rolled_back_fen = fen;
            entry.standing_fen = 0;
        }
        if matches!(record.kind, TradeKind::Sale | TradeKind::PreAuth) {
            if let Some(count) =
                self.daily_counts.get_mut(&(record.pan, record.merchant, record.day))
            {
                *count = count.saturating_sub(1);
            }
        }
        // A cancel moved nothing of its own: what it released was the
        // pre-auth's hold, which comes back below.
        if record.kind != TradeKind::PreAuthCancel {
            let delta = record.rollback_delta(fen);
            self.move_money(now, Some(key), record.pan, record.purse(), delta);
        }
        if record.kind == TradeKind::PreAuth && fen > 0 {
            let why = HoldClosedWhy::Reversed;
            self.close_hold(now, key, record.pan, Some(key), why, fen, 0);
        }
        match (record.kind, record.original) {
            // The pre-auth is open again: its hold comes back until its
            // original expiry; if that is past, the pre-auth has lapsed and
            // nothing is held again (a hold set past its expiry, released
            // the same instant, is a hold that outlived it).
            (
                TradeKind::Completion | TradeKind::CompletionAdvice | TradeKind::PreAuthCancel,
                Some(pre_auth),
            ) => {
                let expiry = Duration::from_millis(self.config.limits.hold_expiry_ms);
                let (hold, approved_at, lapsed) = {
                    let original =
                        self.trades.get_mut(&pre_auth).expect("a member points at its pre-auth");
                    original.completed_by = None;
                    original.cancelled_by = None;
                    let lapsed = original.approved_at + expiry <= now;
                    if lapsed {
                        original.expired = true;
                        original.standing_fen = 0;
                    } else {
                        original.standing_fen = original.amount_fen;
                    }
                    (original.amount_fen, original.approved_at, lapsed)
                };
                if !lapsed {
                    self.move_money(now, Some(pre_auth), record.pan, Purse::Hold, -hold);
                    self.place_hold(now, pre_auth, approved_at, record.pan, hold);
                }
            }
            (TradeKind::Void | TradeKind::CompletionVoid, Some(original)) => {
                let target = self.trades.get_mut(&original).expect("void points at its original");
                target.voided_by = None;
                if target.reversals == 0 {
                    target.standing_fen += fen;
                }
            }
            _ => {}
        }
        self.emit(now, IssuerEventKind::Reversed { key, amount_fen: fen, repeat: false });
        ResponseCode::APPROVED
    }

    // ---- clearing ----

    fn reconcile(&mut self, now: Instant, complete: Vec<TradeKey>) {
        let listed: BTreeSet<TradeKey> = complete.into_iter().collect();
        let due: Vec<TradeKey> = self
            .trades
            .iter()
            .filter(|(_, r)| {
                r.outcome == Outcome::Approved
                    && !r.cleared
                    && r.kind.side() == crate::iso8583::trade::Side::Debit
            })
            .map(|(key, _)| *key)
            .collect();
        for key in due {
            let record = self.trades.get_mut(&key).expect("listed from the table");
            record.cleared = true;
            if listed.contains(&key) {
                self.emit(now, IssuerEventKind::Cleared { key });
                continue;
            }
            let fen = std::mem::take(&mut record.standing_fen);
            let (pan, purse) = (record.pan, record.purse());
            if fen > 0 {
                self.move_money(now, Some(key), pan, purse, fen);
                self.emit(now, IssuerEventKind::ReturnedAtClearing { key, pan, amount_fen: fen });
            }
        }
    }

    fn load_ecash(&mut self, now: Instant, pan: Pan, amount_fen: i64) {
        let max = self.config.limits.ecash_load_max_fen;
        let refusal = match self.accounts.get(&pan) {
            None => Some(IssuerCommandRefusal::NoSuchCard { pan }),
            Some(_) if amount_fen <= 0 => {
                Some(IssuerCommandRefusal::AmountNotPositive { amount_fen })
            }
            Some(account) if account.offline_fen + amount_fen > max => {
                Some(IssuerCommandRefusal::ChipFull { ecash_load_max_fen: max })
            }
            Some(account) if account.available_fen() < amount_fen => {
                Some(IssuerCommandRefusal::InsufficientFunds)
            }
            Some(_) => None,
        };
        if let Some(reason) = refusal {
            self.emit(now, IssuerEventKind::CommandRefused { reason });
            return;
        }
        self.accounts.get_mut(&pan).expect("checked").ecash_loaded_fen += amount_fen;
        self.move_money(now, None, pan, Purse::Account, -amount_fen);
        self.move_money(now, None, pan, Purse::Offline, amount_fen);
        self.emit(now, IssuerEventKind::ECashLoaded { pan, amount_fen });
    }

    fn room_for_one_input(&self) {
        assert!(
            self.events.capacity() - self.events.len() >= EVENTS_PER_INPUT_MAX,
            "issuer events not drained: poll_event after every input"
        );
    }
}

impl Actor for Issuer {
    type Command = IssuerCommand;
    type Event = IssuerEvent;

    fn handle_message(&mut self, now: Instant, from: Node, bytes: &[u8]) {
        self.room_for_one_input();
        if from != Node::Network {
            let reason = IssuerDropReason::NotFromNetwork { from };
            self.emit(now, IssuerEventKind::FrameDropped { from, reason });
            return;
        }
        let inbound = match receive(bytes, Some(&self.mac)) {
            Ok(inbound) => inbound,
            Err(InboundError::Decode(error)) => {
                self.emit(
                    now,
                    IssuerEventKind::FrameDropped {
                        from,
                        reason: IssuerDropReason::Undecodable(error),
                    },
                );
                return;
            }
            Err(InboundError::Format { frame, error }) => {
                let answer = echo_answer(
                    &frame,
                    ResponseCode::FORMAT_ERROR,
                    now,
                    &self.config.calendar,
                    &self.mac,
                );
                let answered = answer.is_some();
                if let Some(bytes) = answer {
                    self.send(bytes);
                }
                self.emit(
                    now,
                    IssuerEventKind::FormatRejected {
                        answered,
                        reason: IssuerFormatReason::Incomplete(error),
                    },
                );
                return;
            }
        };
        let tpdu = inbound.frame.tpdu;
        let authentic = inbound.mac.is_valid();
        match inbound.message {
            CupMessage::Trade(request) if authentic => self.on_request(now, tpdu, request),
            CupMessage::Trade(request) => {
                self.emit(now, IssuerEventKind::MacRejected { key: Some(TradeKey::of(&request)) });
                self.plain_answer(now, tpdu, &request, ResponseCode::MAC_ERROR);
            }
            CupMessage::Reversal(reversal) if authentic => self.on_reversal(now, tpdu, reversal),
            CupMessage::Reversal(reversal) => {
                self.emit(
                    now,
                    IssuerEventKind::MacRejected { key: Some(TradeKey::of(reversal.original())) },
                );
                self.reversal_answer(now, tpdu, &reversal, ResponseCode::MAC_ERROR);
            }
            other => {
                let reason = IssuerFormatReason::NotTaken { mti: other.to_message().mti() };
                self.emit(now, IssuerEventKind::FormatRejected { answered: false, reason });
            }
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        // PIN locks are checked lazily against `now`; holds lapse on time,
        // so that the money is free again without waiting for a trade.
        self.room_for_one_input();
        self.expire_holds(now);
    }

    fn handle_command(&mut self, now: Instant, command: IssuerCommand) {
        self.room_for_one_input();
        match command {
            IssuerCommand::Reconcile { complete } => self.reconcile(now, complete),
            IssuerCommand::LoadECash { pan, amount_fen } => self.load_ecash(now, pan, amount_fen),
        }
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.hold_expiries.first().map(|(at, _)| *at)
    }

    fn poll_event(&mut self) -> Option<IssuerEvent> {
        self.events.pop()
    }
}
