//! Trades: the requests that move (or look at) money, their answers, and their
//! reversals.
//!
//! The catalogue, from DESIGN.md:
//!
//! | trade | MTI | F3 | F25 | 60.1 | reversal |
//! |---|---|---|---|---|---|
//! | balance inquiry | 0200 | 310000 | 00 | 01 | no |
//! | sale | 0200 | 000000 | 00 | 22 | yes |
//! | void | 0200 | 200000 | 00 | 23 | yes |
//! | refund | 0220 | 200000 | 00 | 25 | no |
//! | pre-auth | 0100 | 030000 | 06 | 10 | yes |
//! | pre-auth cancel | 0100 | 200000 | 06 | 11 | yes |
//! | completion | 0200 | 000000 | 06 | 20 | yes |
//! | completion void | 0200 | 200000 | 06 | 21 | yes |
//! | completion advice | 0220 | 000000 | 06 | 24 | no |
//! | offline sale upload | 0220 | 000000 | 00 | 30 | no |
//! | e-cash upload | 0320 | 000000 | 00 | 36 | no |
//!
//! ```
//! use possim_models::iso8583::trade::*;
//! use possim_models::iso8583::values::*;
//! let request = FinancialRequest {
//!     trade: Trade::Sale { amount: AmountFen::new(1000).unwrap() },
//!     card: CardRead::swiped(Pan::new("6222021234567890123").unwrap()),
//!     pin_block: None,
//!     stan: Stan::new(1).unwrap(),
//!     batch: BatchNo::new(1).unwrap(),
//!     terminal: TerminalId::new("12345678").unwrap(),
//!     merchant: MerchantId::new("123456789012345").unwrap(),
//! };
//! let message = request.to_message();
//! assert_eq!(message.mti().to_string(), "0200");
//! assert_eq!(FinancialRequest::from_message(&message).unwrap(), request);
//! ```

use super::access::{batch_of, invalid, put, put_60, put_ids, put_number, Reader};
use super::error::MessageError;
use super::message::Message;
use super::mti::Mti;
use super::response_code::ResponseCode;
use super::subfields::{Field60, Field61};
use super::values::{
    AmountFen, AuthCode, BatchNo, Expiry, MerchantId, MonthDay, Pan, Rrn, Stan, TerminalId,
    TimeOfDay,
};

/// Which trade a financial message is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum TradeKind {
    BalanceInquiry,
    Sale,
    Void,
    Refund,
    PreAuth,
    PreAuthCancel,
    Completion,
    CompletionVoid,
    CompletionAdvice,
    OfflineSaleUpload,
    ECashUpload,
}

/// How a settlement counts a trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Debit,
    Credit,
    /// Moves no money, or only holds it (pre-auth).
    None,
}

impl TradeKind {
    pub const ALL: [TradeKind; 11] = [
        TradeKind::BalanceInquiry,
        TradeKind::Sale,
        TradeKind::Void,
        TradeKind::Refund,
        TradeKind::PreAuth,
        TradeKind::PreAuthCancel,
        TradeKind::Completion,
        TradeKind::CompletionVoid,
        TradeKind::CompletionAdvice,
        TradeKind::OfflineSaleUpload,
        TradeKind::ECashUpload,
    ];

    /// (MTI, F3, F25, 60.1) of the request.
    const fn row(self) -> (Mti, u32, u8, u8) {
        match self {
            TradeKind::BalanceInquiry => (Mti::FINANCIAL, 310000, 0, 1),
            TradeKind::Sale => (Mti::FINANCIAL, 0, 0, 22),
            TradeKind::Void => (Mti::FINANCIAL, 200000, 0, 23),
            TradeKind::Refund => (Mti::ADVICE, 200000, 0, 25),
            TradeKind::PreAuth => (Mti::AUTHORIZATION, 30000, 6, 10),
            TradeKind::PreAuthCancel => (Mti::AUTHORIZATION, 200000, 6, 11),
            TradeKind::Completion => (Mti::FINANCIAL, 0, 6, 20),
            TradeKind::CompletionVoid => (Mti::FINANCIAL, 200000, 6, 21),
            TradeKind::CompletionAdvice => (Mti::ADVICE, 0, 6, 24),
            TradeKind::OfflineSaleUpload => (Mti::ADVICE, 0, 0, 30),
            TradeKind::ECashUpload => (Mti::BATCH, 0, 0, 36),
        }
    }

    pub const fn mti(self) -> Mti {
        self.row().0
    }

    pub const fn processing_code(self) -> u32 {
        self.row().1
    }

    pub const fn condition_code(self) -> u8 {
        self.row().2
    }

    pub const fn message_type(self) -> u8 {
        self.row().3
    }

    /// Whether an unanswered request of this kind must be reversed.
    pub const fn is_reversible(self) -> bool {
        matches!(
            self,
            TradeKind::Sale
                | TradeKind::Void
                | TradeKind::PreAuth
                | TradeKind::PreAuthCancel
                | TradeKind::Completion
                | TradeKind::CompletionVoid
        )
    }

    /// The reversible kind a reversal (0400) or its answer (0410) carries:
    /// the original's MTI is not on the wire, and F3, F25 and 60.1 together
    /// tell every reversible trade apart (a cancel and a completion void
    /// share F3 200000 with the sale void, but not F25 and 60.1).
    pub fn identify_reversed(
        processing_code: u64,
        condition: u64,
        message_type: u8,
    ) -> Option<TradeKind> {
        TradeKind::ALL.into_iter().filter(|kind| kind.is_reversible()).find(|kind| {
            let (_, p, c, t) = kind.row();
            u64::from(p) == processing_code && u64::from(c) == condition && t == message_type
        })
    }

    /// The pre-authorisation family (F25 06): hold, cancel, capture, void.
    pub const fn is_pre_auth_family(self) -> bool {
        matches!(
            self,
            TradeKind::PreAuth
                | TradeKind::PreAuthCancel
                | TradeKind::Completion
                | TradeKind::CompletionVoid
                | TradeKind::CompletionAdvice
        )
    }

    /// Which side of the settlement totals the trade counts on.
    pub const fn side(self) -> Side {
        match self {
            TradeKind::Sale
            | TradeKind::Completion
            | TradeKind::CompletionAdvice
            | TradeKind::OfflineSaleUpload
            | TradeKind::ECashUpload => Side::Debit,
            TradeKind::Void | TradeKind::Refund | TradeKind::CompletionVoid => Side::Credit,
            TradeKind::BalanceInquiry | TradeKind::PreAuth | TradeKind::PreAuthCancel => Side::None,
        }
    }

    /// Offline trades are uploaded after the fact, never authorised online.
    pub const fn is_offline_upload(self) -> bool {
        matches!(self, TradeKind::OfflineSaleUpload | TradeKind::ECashUpload)
    }

    /// Advices: the terminal keeps them in persistent storage and sends
    /// them again, same STAN, until the host acknowledges them (00, or 94
    /// "already taken"); they are never reversed. The offline uploads and
    /// the refund and the completion advice, which CUP carries as 0220s
    /// (DOMAIN.md, Transactions).
    pub const fn is_advice(self) -> bool {
        matches!(
            self,
            TradeKind::OfflineSaleUpload
                | TradeKind::ECashUpload
                | TradeKind::Refund
                | TradeKind::CompletionAdvice
        )
    }

    /// Advices the cashier makes at the counter (refund, completion
    /// advice): sent at once, journaled pending, acknowledged later; the
    /// offline uploads are the other advices.
    pub const fn is_online_advice(self) -> bool {
        matches!(self, TradeKind::Refund | TradeKind::CompletionAdvice)
    }

    /// Recognises a request (or, with the MTI minus 10, its answer).
    pub fn identify(
        mti: Mti,
        processing_code: u64,
        condition: u64,
        message_type: u8,
    ) -> Option<TradeKind> {
        TradeKind::ALL.into_iter().find(|kind| {
            let (m, p, c, t) = kind.row();
            m == mti
                && u64::from(p) == processing_code
                && u64::from(c) == condition
                && t == message_type
        })
    }

    pub const fn label(self) -> &'static str {
        match self {
            TradeKind::BalanceInquiry => "balance inquiry",
            TradeKind::Sale => "sale",
            TradeKind::Void => "void",
            TradeKind::Refund => "refund",
            TradeKind::PreAuth => "pre-authorisation",
            TradeKind::PreAuthCancel => "pre-authorisation cancel",
            TradeKind::Completion => "pre-authorisation completion",
            TradeKind::CompletionVoid => "pre-authorisation completion void",
            TradeKind::CompletionAdvice => "pre-authorisation completion advice",
            TradeKind::OfflineSaleUpload => "offline sale upload",
            TradeKind::ECashUpload => "electronic cash upload",
        }
    }
}

/// Track data (`z`): digits and `=`, up to `MAX` characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Track<const MAX: usize>(String);

impl<const MAX: usize> Track<MAX> {
    pub fn new(text: &str) -> Option<Track<MAX>> {
        (text.len() <= MAX && text.bytes().all(|b| b.is_ascii_digit() || b == b'='))
            .then(|| Track(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// ICC data (field 55), at most 255 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IccData(Vec<u8>);

impl IccData {
    pub const BYTES_MAX: usize = 255;

    pub fn new(bytes: Vec<u8>) -> Option<IccData> {
        (bytes.len() <= IccData::BYTES_MAX).then_some(IccData(bytes))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// How the card was read: field 22, three digits (e.g. 021 swiped with PIN,
/// 051 chip with PIN, 072 contactless without PIN).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryMode(u16);

impl EntryMode {
    pub const SWIPED_PIN: EntryMode = EntryMode(21);
    pub const SWIPED_NO_PIN: EntryMode = EntryMode(22);
    pub const CHIP_PIN: EntryMode = EntryMode(51);
    pub const CHIP_NO_PIN: EntryMode = EntryMode(52);
    pub const CONTACTLESS_NO_PIN: EntryMode = EntryMode(72);
    pub const MANUAL_NO_PIN: EntryMode = EntryMode(12);

    pub const fn new(code: u16) -> Option<EntryMode> {
        if code <= 999 {
            Some(EntryMode(code))
        } else {
            None
        }
    }

    pub const fn code(self) -> u16 {
        self.0
    }
}

/// What the terminal read from the card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardRead {
    pub pan: Pan,
    pub expiry: Option<Expiry>,
    pub entry_mode: EntryMode,
    pub sequence: Option<u16>,
    pub track2: Option<Track<37>>,
    pub track3: Option<Track<104>>,
    pub icc: Option<IccData>,
}

impl CardRead {
    /// A card known only by its number, swiped without PIN.
    pub fn swiped(pan: Pan) -> CardRead {
        CardRead {
            pan,
            expiry: None,
            entry_mode: EntryMode::SWIPED_NO_PIN,
            sequence: None,
            track2: None,
            track3: None,
            icc: None,
        }
    }
}

/// The trade and what only that trade carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trade {
    BalanceInquiry,
    Sale {
        amount: AmountFen,
    },
    /// Cancels a sale of the current batch.
    Void {
        amount: AmountFen,
        original_rrn: Rrn,
        original_auth: Option<AuthCode>,
        original_batch: BatchNo,
        original_stan: Stan,
    },
    /// Returns money for a sale of an earlier batch.
    Refund {
        amount: AmountFen,
        original_rrn: Rrn,
        original_date: MonthDay,
    },
    PreAuth {
        amount: AmountFen,
    },
    /// Releases a pre-auth's hold; the amount is the hold's.
    PreAuthCancel {
        amount: AmountFen,
        original_auth: AuthCode,
        original_date: MonthDay,
    },
    Completion {
        amount: AmountFen,
        original_auth: AuthCode,
        original_date: MonthDay,
    },
    /// Cancels a completion of the current batch (not a sale void: its own
    /// F25 and 60.1).
    CompletionVoid {
        amount: AmountFen,
        original_rrn: Rrn,
        original_auth: Option<AuthCode>,
        original_batch: BatchNo,
        original_stan: Stan,
    },
    /// A completion sent as an advice: kept and re-sent until acknowledged.
    CompletionAdvice {
        amount: AmountFen,
        original_auth: AuthCode,
        original_date: MonthDay,
    },
    /// An offline sale, uploaded later with its own time and date.
    OfflineSale {
        amount: AmountFen,
        time: TimeOfDay,
        date: MonthDay,
    },
    /// Electronic cash paid from the chip; the certificate travels in field 55.
    ECash {
        amount: AmountFen,
        time: TimeOfDay,
        date: MonthDay,
        certificate: IccData,
    },
}

impl Trade {
    pub fn kind(&self) -> TradeKind {
        match self {
            Trade::BalanceInquiry => TradeKind::BalanceInquiry,
            Trade::Sale { .. } => TradeKind::Sale,
            Trade::Void { .. } => TradeKind::Void,
            Trade::Refund { .. } => TradeKind::Refund,
            Trade::PreAuth { .. } => TradeKind::PreAuth,
            Trade::PreAuthCancel { .. } => TradeKind::PreAuthCancel,
            Trade::Completion { .. } => TradeKind::Completion,
            Trade::CompletionVoid { .. } => TradeKind::CompletionVoid,
            Trade::CompletionAdvice { .. } => TradeKind::CompletionAdvice,
            Trade::OfflineSale { .. } => TradeKind::OfflineSaleUpload,
            Trade::ECash { .. } => TradeKind::ECashUpload,
        }
    }

    pub fn amount(&self) -> Option<AmountFen> {
        match self {
            Trade::BalanceInquiry => None,
            Trade::Sale { amount }
            | Trade::Void { amount, .. }
            | Trade::Refund { amount, .. }
            | Trade::PreAuth { amount }
            | Trade::PreAuthCancel { amount, .. }
            | Trade::Completion { amount, .. }
            | Trade::CompletionVoid { amount, .. }
            | Trade::CompletionAdvice { amount, .. }
            | Trade::OfflineSale { amount, .. }
            | Trade::ECash { amount, .. } => Some(*amount),
        }
    }

    /// The void of a trade of the current batch: a completion void (F25
    /// 06, 60.1 21) when the original was a completion, else a sale void.
    pub fn void_of(
        completion: bool,
        amount: AmountFen,
        original_rrn: Rrn,
        original_auth: Option<AuthCode>,
        original_batch: BatchNo,
        original_stan: Stan,
    ) -> Trade {
        if completion {
            Trade::CompletionVoid {
                amount,
                original_rrn,
                original_auth,
                original_batch,
                original_stan,
            }
        } else {
            Trade::Void { amount, original_rrn, original_auth, original_batch, original_stan }
        }
    }
}

/// Security control (field 53) sent with a PIN: ANSI X9.8 format, double-length key.
const SECURITY_CONTROL: &[u8; 16] = b"2600000000000000";
/// PIN capture code (field 26): up to 12 digits.
const PIN_CAPTURE: &[u8; 2] = b"12";
/// Currency (field 49): renminbi.
pub const CURRENCY_CNY: &[u8; 3] = b"156";

/// A trade request from a terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinancialRequest {
    pub trade: Trade,
    pub card: CardRead,
    pub pin_block: Option<[u8; 8]>,
    pub stan: Stan,
    pub batch: BatchNo,
    pub terminal: TerminalId,
    pub merchant: MerchantId,
}

impl FinancialRequest {
    pub fn kind(&self) -> TradeKind {
        self.trade.kind()
    }

    fn field_60(&self) -> Field60 {
        Field60::new(self.kind().message_type(), self.batch, 0)
    }

    /// The message, without MAC (seal it with [`super::mac::MacKey::seal`]).
    pub fn to_message(&self) -> Message {
        let kind = self.kind();
        let mut message = Message::new(kind.mti());
        self.write_common(&mut message, true);
        message
    }

    /// Fields shared by the request and its reversal; `with_secrets` adds
    /// PIN and track data, which a reversal never repeats.
    fn write_common(&self, message: &mut Message, with_secrets: bool) {
        let kind = self.kind();
        put(message, 2, self.card.pan.as_bytes());
        put_number(message, 3, u64::from(kind.processing_code()));
        if let Some(amount) = self.trade.amount() {
            put_number(message, 4, amount.fen());
        }
        put_number(message, 11, u64::from(self.stan.value()));
        if let Trade::OfflineSale { time, date, .. } | Trade::ECash { time, date, .. } = &self.trade
        {
            put_number(message, 12, time.number());
            put_number(message, 13, date.number());
        }
        if let Some(expiry) = self.card.expiry {
            put_number(message, 14, expiry.number());
        }
        put_number(message, 22, u64::from(self.card.entry_mode.code()));
        if let Some(sequence) = self.card.sequence {
            put_number(message, 23, u64::from(sequence));
        }
        put_number(message, 25, u64::from(kind.condition_code()));
        if with_secrets {
            if self.pin_block.is_some() {
                put(message, 26, PIN_CAPTURE);
            }
            if let Some(track) = &self.card.track2 {
                put(message, 35, track.as_str().as_bytes());
            }
            if let Some(track) = &self.card.track3 {
                put(message, 36, track.as_str().as_bytes());
            }
        }
        match &self.trade {
            Trade::Void { original_rrn, original_auth, .. }
            | Trade::CompletionVoid { original_rrn, original_auth, .. } => {
                put(message, 37, original_rrn.as_bytes());
                if let Some(auth) = original_auth {
                    put(message, 38, auth.as_bytes());
                }
            }
            Trade::Refund { original_rrn, .. } => put(message, 37, original_rrn.as_bytes()),
            Trade::Completion { original_auth, .. }
            | Trade::PreAuthCancel { original_auth, .. }
            | Trade::CompletionAdvice { original_auth, .. } => {
                put(message, 38, original_auth.as_bytes())
            }
            _ => {}
        }
        put_ids(message, &self.terminal, &self.merchant);
        put(message, 49, CURRENCY_CNY);
        if with_secrets {
            if let Some(pin) = &self.pin_block {
                put(message, 52, pin);
                put(message, 53, SECURITY_CONTROL);
            }
        }
        let icc = match &self.trade {
            Trade::ECash { certificate, .. } => Some(certificate),
            _ => self.card.icc.as_ref(),
        };
        if let Some(icc) = icc {
            put(message, 55, icc.as_bytes());
        }
        put_60(message, &self.field_60());
        let original = match &self.trade {
            Trade::Void { original_batch, original_stan, .. }
            | Trade::CompletionVoid { original_batch, original_stan, .. } => Some(Field61 {
                batch: original_batch.value(),
                stan: original_stan.value(),
                date: None,
            }),
            Trade::Refund { original_date, .. }
            | Trade::Completion { original_date, .. }
            | Trade::PreAuthCancel { original_date, .. }
            | Trade::CompletionAdvice { original_date, .. } => {
                Some(Field61 { batch: 0, stan: 0, date: Some(*original_date) })
            }
            _ => None,
        };
        if let Some(original) = original {
            put(message, 61, original.to_digits().as_bytes());
        }
    }

    pub fn from_message(message: &Message) -> Result<FinancialRequest, MessageError> {
        FinancialRequest::read(message, message.mti(), "a financial request")
    }

    /// Reads a request (or the original inside a reversal, with `mti` the
    /// original's message type).
    fn read(
        message: &Message,
        mti: Mti,
        name: &'static str,
    ) -> Result<FinancialRequest, MessageError> {
        let reader = Reader::new(message, name);
        let (field_60, batch) = batch_of(&reader)?;
        let kind =
            TradeKind::identify(mti, reader.number(3)?, reader.number(25)?, field_60.message_type)
                .ok_or_else(|| MessageError::WrongKind {
                    mti,
                    detail: format!(
                        "processing code {}, condition {}, 60.1 {:02}",
                        reader.message.get_str(3).unwrap_or("?"),
                        reader.message.get_str(25).unwrap_or("?"),
                        field_60.message_type
                    ),
                    expected: "a trade in the CUP catalogue",
                })?;
        let amount = || -> Result<AmountFen, MessageError> {
            Ok(AmountFen::new(reader.number(4)?).expect("twelve digits fit"))
        };
        let field_61 = || -> Result<Field61, MessageError> {
            Field61::parse(reader.raw(61)?).map_err(|reason| invalid(61, reason))
        };
        let original_date = || -> Result<MonthDay, MessageError> {
            field_61()?.date.ok_or_else(|| invalid(61, "61.3, the original date, is missing"))
        };
        let rrn = || reader.rrn()?.ok_or(MessageError::Missing { message: name, field: 37 });
        // The card's chip data, unless an e-cash upload takes it as its certificate.
        let mut card_icc = reader.optional(55, |b| IccData::new(b.to_vec()), "ICC data")?;
        let trade = match kind {
            TradeKind::BalanceInquiry => Trade::BalanceInquiry,
            TradeKind::Sale => Trade::Sale { amount: amount()? },
            TradeKind::Void | TradeKind::CompletionVoid => {
                let original = field_61()?;
                let amount = amount()?;
                let original_rrn = rrn()?;
                let original_auth = reader.auth_code()?;
                let original_batch = BatchNo::new(original.batch).expect("six digits");
                let original_stan = Stan::new(original.stan)
                    .ok_or_else(|| invalid(61, "61.2, the original trace number, is 000000"))?;
                Trade::void_of(
                    kind == TradeKind::CompletionVoid,
                    amount,
                    original_rrn,
                    original_auth,
                    original_batch,
                    original_stan,
                )
            }
            TradeKind::Refund => Trade::Refund {
                amount: amount()?,
                original_rrn: rrn()?,
                original_date: original_date()?,
            },
            TradeKind::PreAuth => Trade::PreAuth { amount: amount()? },
            TradeKind::Completion | TradeKind::PreAuthCancel | TradeKind::CompletionAdvice => {
                let amount = amount()?;
                let original_auth = reader
                    .auth_code()?
                    .ok_or(MessageError::Missing { message: name, field: 38 })?;
                let original_date = original_date()?;
                match kind {
                    TradeKind::Completion => {
                        Trade::Completion { amount, original_auth, original_date }
                    }
                    TradeKind::PreAuthCancel => {
                        Trade::PreAuthCancel { amount, original_auth, original_date }
                    }
                    _ => Trade::CompletionAdvice { amount, original_auth, original_date },
                }
            }
            TradeKind::OfflineSaleUpload => {
                Trade::OfflineSale { amount: amount()?, time: reader.time()?, date: reader.date()? }
            }
            TradeKind::ECashUpload => Trade::ECash {
                amount: amount()?,
                time: reader.time()?,
                date: reader.date()?,
                certificate: card_icc
                    .take()
                    .ok_or(MessageError::Missing { message: name, field: 55 })?,
            },
        };
        let pin_block = match reader.message.get(52) {
            None => None,
            Some(bytes) => {
                if !reader.message.has(53) {
                    return Err(MessageError::Missing { message: name, field: 53 });
                }
                Some(<[u8; 8]>::try_from(bytes).expect("field 52 is fixed at 8 bytes"))
            }
        };
        let card = CardRead {
            pan: reader.pan()?,
            expiry: reader.expiry()?,
            entry_mode: EntryMode::new(reader.number(22)? as u16).expect("three digits"),
            sequence: reader.message.get_number(23).map(|n| n as u16),
            track2: reader.optional(35, |b| Track::new(std::str::from_utf8(b).ok()?), "track 2")?,
            track3: reader.optional(36, |b| Track::new(std::str::from_utf8(b).ok()?), "track 3")?,
            icc: card_icc,
        };
        Ok(FinancialRequest {
            trade,
            card,
            pin_block,
            stan: reader.stan()?,
            batch,
            terminal: reader.terminal()?,
            merchant: reader.merchant()?,
        })
    }
}

/// A reversal (0400): the original trade, repeated without PIN or track data,
/// with the reason in field 39 (98 timeout, A0 bad MAC, 06 garbled answer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReversalRequest {
    original: FinancialRequest,
    pub reason: ResponseCode,
}

impl ReversalRequest {
    /// Builds the reversal of `original`; PIN and track data are dropped.
    pub fn new(original: &FinancialRequest, reason: ResponseCode) -> ReversalRequest {
        assert!(original.kind().is_reversible(), "{} is never reversed", original.kind().label());
        let mut original = original.clone();
        original.pin_block = None;
        original.card.track2 = None;
        original.card.track3 = None;
        ReversalRequest { original, reason }
    }

    /// The reversal of any trade, reversible or not: only the terminal's
    /// `reverse_every_trade` mutation builds one (hosts refuse it).
    pub fn new_unchecked(original: &FinancialRequest, reason: ResponseCode) -> ReversalRequest {
        let mut original = original.clone();
        original.pin_block = None;
        original.card.track2 = None;
        original.card.track3 = None;
        ReversalRequest { original, reason }
    }

    /// The original trade (same STAN, amount and card).
    pub fn original(&self) -> &FinancialRequest {
        &self.original
    }

    pub fn to_message(&self) -> Message {
        let mut message = Message::new(Mti::REVERSAL);
        self.original.write_common(&mut message, false);
        put(&mut message, 39, self.reason.as_bytes());
        message
    }

    pub fn from_message(message: &Message) -> Result<ReversalRequest, MessageError> {
        if message.mti() != Mti::REVERSAL {
            return Err(MessageError::WrongKind {
                mti: message.mti(),
                detail: String::new(),
                expected: "a reversal 0400",
            });
        }
        let reader = Reader::new(message, "a reversal");
        let reason = reader.response_code()?;
        // The original's MTI is not on the wire: F3, F25 and 60.1 name the
        // reversible kind, and so its MTI; anything else reads as an 0200
        // and is refused below or by the catalogue.
        let (field_60, _) = batch_of(&reader)?;
        let original_mti = TradeKind::identify_reversed(
            reader.number(3)?,
            reader.number(25)?,
            field_60.message_type,
        )
        .map_or(Mti::FINANCIAL, TradeKind::mti);
        let original = FinancialRequest::read(message, original_mti, "a reversal")?;
        if !original.kind().is_reversible() {
            return Err(MessageError::WrongKind {
                mti: Mti::REVERSAL,
                detail: original.kind().label().into(),
                expected: "the reversal of a reversible trade",
            });
        }
        Ok(ReversalRequest::new(&original, reason))
    }
}

/// The answer to a trade (0110, 0210, 0230, 0330) or to a reversal (0410).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeResponse {
    pub kind: TradeKind,
    pub reversal: bool,
    pub pan: Pan,
    pub amount: Option<AmountFen>,
    pub stan: Stan,
    pub time: TimeOfDay,
    pub date: MonthDay,
    pub settlement_date: Option<MonthDay>,
    pub rrn: Option<Rrn>,
    pub auth_code: Option<AuthCode>,
    pub response_code: ResponseCode,
    pub terminal: TerminalId,
    pub merchant: MerchantId,
    pub batch: BatchNo,
    /// Field 54 for a balance inquiry: the available balance in fen (negative: overdrawn).
    pub balance: Option<i64>,
}

impl TradeResponse {
    /// An answer echoing `request`, with the host's time and verdict filled in
    /// by the caller.
    pub fn answering(
        request: &FinancialRequest,
        response_code: ResponseCode,
        time: TimeOfDay,
        date: MonthDay,
    ) -> TradeResponse {
        TradeResponse {
            kind: request.kind(),
            reversal: false,
            pan: request.card.pan,
            amount: request.trade.amount(),
            stan: request.stan,
            time,
            date,
            settlement_date: None,
            rrn: None,
            auth_code: None,
            response_code,
            terminal: request.terminal,
            merchant: request.merchant,
            batch: request.batch,
            balance: None,
        }
    }

    /// The answer to a reversal of `reversal`'s original.
    pub fn answering_reversal(
        reversal: &ReversalRequest,
        response_code: ResponseCode,
        time: TimeOfDay,
        date: MonthDay,
    ) -> TradeResponse {
        TradeResponse {
            reversal: true,
            ..TradeResponse::answering(reversal.original(), response_code, time, date)
        }
    }

    /// Whether this is an answer to `request`: its STAN, kind, terminal,
    /// merchant and (when the answer carries one) amount. A frame damaged on
    /// its way to the host is answered as the host read it, so a STAN alone
    /// does not make an answer the request's.
    pub fn answers(&self, request: &FinancialRequest) -> bool {
        self.stan == request.stan
            && self.kind == request.kind()
            && self.terminal == request.terminal
            && self.merchant == request.merchant
            && (self.amount.is_none() || self.amount == request.trade.amount())
    }

    pub fn mti(&self) -> Mti {
        if self.reversal {
            Mti::REVERSAL_RESPONSE
        } else {
            self.kind.mti().response()
        }
    }

    pub fn to_message(&self) -> Message {
        let mut message = Message::new(self.mti());
        put(&mut message, 2, self.pan.as_bytes());
        put_number(&mut message, 3, u64::from(self.kind.processing_code()));
        if let Some(amount) = self.amount {
            put_number(&mut message, 4, amount.fen());
        }
        put_number(&mut message, 11, u64::from(self.stan.value()));
        put_number(&mut message, 12, self.time.number());
        put_number(&mut message, 13, self.date.number());
        if let Some(date) = self.settlement_date {
            put_number(&mut message, 15, date.number());
        }
        put_number(&mut message, 25, u64::from(self.kind.condition_code()));
        if let Some(rrn) = &self.rrn {
            put(&mut message, 37, rrn.as_bytes());
        }
        if let Some(auth) = &self.auth_code {
            put(&mut message, 38, auth.as_bytes());
        }
        put(&mut message, 39, self.response_code.as_bytes());
        put_ids(&mut message, &self.terminal, &self.merchant);
        put(&mut message, 49, CURRENCY_CNY);
        if let Some(balance) = self.balance {
            put(&mut message, 54, format_balance(balance).as_bytes());
        }
        put_60(&mut message, &Field60::new(self.kind.message_type(), self.batch, 0));
        message
    }

    pub fn from_message(message: &Message) -> Result<TradeResponse, MessageError> {
        let reader = Reader::new(message, "a trade response");
        let (field_60, batch) = batch_of(&reader)?;
        let processing = reader.number(3)?;
        let condition = reader.number(25)?;
        let (reversal, request_mti) = if message.mti() == Mti::REVERSAL_RESPONSE {
            let mti = TradeKind::identify_reversed(processing, condition, field_60.message_type)
                .map_or(Mti::FINANCIAL, TradeKind::mti);
            (true, mti)
        } else if message.mti().is_response() && message.mti().value() >= 10 {
            (false, Mti::new(message.mti().value() - 10).expect("smaller"))
        } else {
            return Err(MessageError::WrongKind {
                mti: message.mti(),
                detail: String::new(),
                expected: "a trade response",
            });
        };
        let kind = TradeKind::identify(request_mti, processing, condition, field_60.message_type)
            .ok_or_else(|| MessageError::WrongKind {
            mti: message.mti(),
            detail: format!("60.1 {:02}", field_60.message_type),
            expected: "the answer to a trade in the CUP catalogue",
        })?;
        Ok(TradeResponse {
            kind,
            reversal,
            pan: reader.pan()?,
            amount: message.get_number(4).map(|fen| AmountFen::new(fen).expect("twelve digits")),
            stan: reader.stan()?,
            time: reader.time()?,
            date: reader.date()?,
            settlement_date: reader.optional(15, MonthDay::from_digits, "a date MMDD")?,
            rrn: reader.rrn()?,
            auth_code: reader.auth_code()?,
            response_code: reader.response_code()?,
            terminal: reader.terminal()?,
            merchant: reader.merchant()?,
            batch,
            balance: reader.optional(54, parse_balance, "a balance")?,
        })
    }
}

/// Field 54: account type n2 ("10"), amount type n2 ("02" available),
/// currency n3, sign C or D, amount n12: 20 characters.
fn format_balance(fen: i64) -> String {
    assert!(fen.unsigned_abs() <= AmountFen::MAX, "field 54 carries twelve digits: {fen}");
    let sign = if fen < 0 { 'D' } else { 'C' };
    format!("1002156{}{:012}", sign, fen.unsigned_abs())
}

fn parse_balance(bytes: &[u8]) -> Option<i64> {
    if bytes.len() != 20 || !bytes[8..].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let magnitude: i64 = std::str::from_utf8(&bytes[8..]).ok()?.parse().ok()?;
    match bytes[7] {
        b'C' => Some(magnitude),
        b'D' => Some(-magnitude),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identify_covers_the_whole_catalogue() {
        for kind in TradeKind::ALL {
            let found = TradeKind::identify(
                kind.mti(),
                u64::from(kind.processing_code()),
                u64::from(kind.condition_code()),
                kind.message_type(),
            );
            assert_eq!(found, Some(kind));
        }
    }

    #[test]
    fn only_the_six_reversible_kinds_reverse() {
        let reversible: Vec<_> = TradeKind::ALL.into_iter().filter(|k| k.is_reversible()).collect();
        assert_eq!(
            reversible,
            [
                TradeKind::Sale,
                TradeKind::Void,
                TradeKind::PreAuth,
                TradeKind::PreAuthCancel,
                TradeKind::Completion,
                TradeKind::CompletionVoid
            ]
        );
        for kind in reversible {
            let found = TradeKind::identify_reversed(
                u64::from(kind.processing_code()),
                u64::from(kind.condition_code()),
                kind.message_type(),
            );
            assert_eq!(found, Some(kind), "a 0400 names {}", kind.label());
        }
    }

    #[test]
    fn advices_are_the_uploads_the_refund_and_the_completion_advice_and_none_is_reversible() {
        let advices: Vec<_> = TradeKind::ALL.into_iter().filter(|k| k.is_advice()).collect();
        assert_eq!(
            advices,
            [
                TradeKind::Refund,
                TradeKind::CompletionAdvice,
                TradeKind::OfflineSaleUpload,
                TradeKind::ECashUpload
            ]
        );
        assert!(advices.iter().all(|kind| !kind.is_reversible()));
        assert_eq!(TradeKind::Refund.mti(), Mti::ADVICE);
        assert_eq!(TradeKind::Refund.message_type(), 25);
    }

    /// The three pre-auth members added with their CUP codes: each request,
    /// its reversal (where reversible) and its answer read back as written,
    /// with the F3, F25 and 60.1 of the catalogue on the wire.
    #[test]
    fn pre_auth_family_round_trips_with_its_codes() {
        let amount = AmountFen::new(12_345).unwrap();
        let auth = AuthCode::new("A1B2C3").unwrap();
        let date = MonthDay::new(12, 7).unwrap();
        let cases = [
            (
                Trade::PreAuthCancel { amount, original_auth: auth, original_date: date },
                "0100",
                "200000",
                11,
            ),
            (
                Trade::CompletionVoid {
                    amount,
                    original_rrn: Rrn::new("000000000042").unwrap(),
                    original_auth: Some(auth),
                    original_batch: BatchNo::new(3).unwrap(),
                    original_stan: Stan::new(17).unwrap(),
                },
                "0200",
                "200000",
                21,
            ),
            (
                Trade::CompletionAdvice { amount, original_auth: auth, original_date: date },
                "0220",
                "000000",
                24,
            ),
        ];
        for (trade, mti, processing, message_type) in cases {
            let request = FinancialRequest {
                trade,
                card: CardRead::swiped(Pan::new("6222021234567890123").unwrap()),
                pin_block: None,
                stan: Stan::new(5).unwrap(),
                batch: BatchNo::new(3).unwrap(),
                terminal: TerminalId::new("12345678").unwrap(),
                merchant: MerchantId::new("123456789012345").unwrap(),
            };
            let kind = request.kind();
            let message = request.to_message();
            assert_eq!(message.mti().to_string(), mti, "{}", kind.label());
            assert_eq!(message.get_str(3), Some(processing), "{}", kind.label());
            assert_eq!(message.get_str(25), Some("06"), "{}", kind.label());
            assert_eq!(kind.message_type(), message_type);
            assert_eq!(FinancialRequest::from_message(&message).unwrap(), request);
            let answer = TradeResponse::answering(
                &request,
                ResponseCode::APPROVED,
                TimeOfDay::new(10, 0, 0).unwrap(),
                date,
            );
            assert_eq!(TradeResponse::from_message(&answer.to_message()).unwrap(), answer);
            if kind.is_reversible() {
                let reversal = ReversalRequest::new(&request, ResponseCode::new(*b"98"));
                let read = ReversalRequest::from_message(&reversal.to_message()).unwrap();
                assert_eq!(read, reversal, "{}", kind.label());
                let reversed = TradeResponse::answering_reversal(
                    &reversal,
                    ResponseCode::APPROVED,
                    TimeOfDay::new(10, 0, 0).unwrap(),
                    date,
                );
                let read = TradeResponse::from_message(&reversed.to_message()).unwrap();
                assert_eq!(read, reversed, "{}", kind.label());
            }
        }
    }

    #[test]
    fn balance_field_round_trips_both_signs() {
        assert_eq!(parse_balance(format_balance(-12345).as_bytes()), Some(-12345));
        assert_eq!(parse_balance(format_balance(500).as_bytes()), Some(500));
    }
}
