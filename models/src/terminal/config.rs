//! The terminal's configuration and its policies.
//!
//! Every field has a safe default, so a scenario names only what it changes.
//! Where real terminals disagree, the behaviour is a named policy whose
//! default is the safe one; the unsafe settings reproduce field bugs that the
//! oracle must catch.
//!
//! ```
//! use possim_models::terminal::config::{ReversalPersist, TerminalConfig};
//! let config = TerminalConfig::default();
//! assert_eq!(config.response_timeout_ms, 60_000);
//! assert_eq!(config.reversal_persist, ReversalPersist::BeforeSend);
//! assert!(config.validate().is_ok());
//! ```

use crate::iso8583::keys::{DesKey, KeyMode};
use crate::iso8583::values::{MerchantId, TerminalId};
use crate::time::Calendar;

/// When the reversal of a reversible trade is written to persistent storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReversalPersist {
    /// Safe: written before the request leaves, so a power cut while the
    /// answer is awaited still leaves a reversal to send on reboot.
    BeforeSend,
    /// Unsafe: written only once the trade is known to have failed; a power
    /// cut after the request left loses the reversal (and maybe the money).
    AfterSend,
}

/// What happens when a reversal has used all its tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReversalExhausted {
    /// Safe: the reversal stays; every later online message tries it again
    /// first, and online trades are refused until it is acknowledged.
    KeepBlocking,
    /// Unsafe: the reversal is deleted; a debit it should have undone stays.
    Delete,
}

/// When offline trades (offline sale, electronic cash) are uploaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OfflineUpload {
    /// Default: before the next online message of any kind (and at the latest
    /// before settlement).
    WithNextOnline,
    /// Only before settlement: the host learns of offline trades late.
    BeforeSettlementOnly,
}

/// Field 60.3 of the batch-upload end message after an unbalanced settlement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadEndCode {
    /// Safe: 202, "uploaded, not balanced": the host reconciles.
    Code202,
    /// Unsafe: 207, "balanced", although the 0510 said it was not.
    Code207,
}

/// When the journal of the settled batch is cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JournalClear {
    /// Safe: after the settlement (and any batch upload) is answered.
    AfterSettlementAnswer,
    /// Unsafe: as the 0500 leaves; a lost 0510 loses the batch's detail.
    WhenSettlementSent,
}

/// A deliberately unsafe behaviour, one at a time, that exists only so the
/// certification matrix can show each case failing against the field bug
/// it guards against. `None` (the default) is the correct terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TerminalMutation {
    #[default]
    None,
    /// Inquiries and refunds get a reversal like sales (a 0400 for a trade
    /// that moves no money or is never reversed).
    ReverseEveryTrade,
    /// A "retry later" answer (90, 91, 92, 96) is taken as unusable and
    /// reversed, as if no answer had come.
    ReverseRetryLaterCodes,
    /// A decline (41, 51, 55, 61, ...: a final answer) is taken as unusable
    /// and reversed, as if no answer had come.
    ReverseDeclines,
    /// 77, 99, A0, 22 and header requirement 3 do not make it sign in again.
    IgnoreSignInAgain,
    /// Working keys are installed without checking their check values.
    AcceptBadKeyCheck,
    /// An offline upload answered 94 is listed as failed, not uploaded.
    UploadDuplicateAsFailed,
    /// Settlement sends the 0500 without uploading the offline trades first.
    SettleBeforeOfflineUpload,
    /// A tamper lock keeps the working keys; no sign-in after unlocking.
    TamperKeepsKeys,
    /// The STAN counter lives in memory: a power cut restarts it at `stan_start`.
    StanCounterVolatile,
    /// A void of another batch is not refused for its batch.
    VoidAnyBatch,
    /// A full journal overwrites its oldest trade instead of refusing sales.
    JournalOverwritesOldest,
    /// A 94 to a sale still awaiting its answer is taken as a final
    /// decline: the stored reversal is deleted while the original may stand.
    TakeDuplicateAsVerdict,
    /// A refund (or completion advice) whose advice gets no verdict (its
    /// answer lost, 98, 96, ...) is listed as failed and forgotten, never
    /// sent again — the old online behaviour, while the issuer may have
    /// booked it.
    RefundAdviceDroppedWhenUnanswered,
    /// The void of a completion goes as a sale void (F25 00, 60.1 23): the
    /// issuer finds no sale to void and the card stays debited.
    CompletionVoidAsSaleVoid,
    /// A completion is sent with no reversal stored: unanswered, it is
    /// taken as failed while the issuer may have captured the hold.
    CompletionNotReversed,
    /// Only 00 completes a reversal; 12 and 25 are taken as refusals.
    #[serde(rename = "reversal_done_on_00_only")]
    ReversalDoneOn00Only,
    /// Electronic cash is paid offline from the chip even when the chip's
    /// offline balance does not cover it: the chip goes below zero instead
    /// of the trade going online with a PIN.
    EcashOverdraws,
    /// A sign-off (0820, 60.3 = 002) leaves the terminal believing it is
    /// still signed in: its next trade goes out on a session the host has
    /// closed, instead of a sign-in first.
    SignOffKeepsSession,
    /// An upload answered 79 ("offline data did not reconcile") is kept
    /// queued and sent again, for ever: the same data gets 79 again, and no
    /// 0500 can leave while it waits.
    ReuploadNotReconciledForever,
    /// A 95 ("reconciliation error") to the batch upload's end message is
    /// taken as its answer: the settlement completes and the journal is
    /// cleared while the host never closed the batch.
    ReconciliationErrorEndsSettlement,
}

/// The terminal's configuration (deserialised from the scenario).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TerminalConfig {
    pub terminal_id: TerminalId,
    pub merchant_id: MerchantId,
    /// Terminal master key, hex: 16 digits for mode 001, 32 for 003 and 004.
    pub tmk: String,
    pub key_mode: KeyMode,
    /// Operator number, 1 to 3 characters (field 63 of the sign-in).
    pub operator: String,
    pub operator_password: String,
    /// The password that lifts a tamper lock.
    pub unlock_password: String,
    pub response_timeout_ms: u64,
    /// Tries of one reversal before the exhausted policy applies.
    pub reversal_tries_max: u32,
    /// Trades the journal holds; at most 999 (the settlement's count field).
    pub journal_max: usize,
    pub offline_queue_max: usize,
    /// Below this charge prints come out faint.
    pub battery_low_percent: u8,
    /// Charge of a new terminal.
    pub battery_start_percent: u8,
    /// Charge used per message sent, in thousandths of a full battery;
    /// 0 models a countertop on mains power.
    pub battery_drain_per_message_permille: u16,
    pub battery_drain_per_print_permille: u16,
    /// Sign off (0820/002) after each settlement.
    pub sign_off_after_settlement: bool,
    pub calendar: Calendar,
    pub reversal_persist: ReversalPersist,
    pub reversal_exhausted: ReversalExhausted,
    pub offline_upload: OfflineUpload,
    pub upload_end_code_when_unbalanced: UploadEndCode,
    pub journal_clear: JournalClear,
    /// Models the cashier, not the terminal: when a sale fails without an
    /// answer, the cashier swipes again at once and the retry (a new STAN)
    /// leaves before the first sale's reversal. Unsafe: a double debit.
    pub cashier_retry_after_failure: bool,
    /// The STAN of a new terminal's first message (1 to 999999): a case
    /// starts near 999999 to see the counter wrap to 1.
    pub stan_start: u32,
    /// Certification only: one deliberately unsafe behaviour (default none).
    pub mutation: TerminalMutation,
}

impl Default for TerminalConfig {
    fn default() -> TerminalConfig {
        TerminalConfig {
            terminal_id: TerminalId::new("10000001").expect("valid"),
            merchant_id: MerchantId::new("898100000000001").expect("valid"),
            tmk: "1A2B3C4D5E6F7081".into(),
            key_mode: KeyMode::Single,
            operator: "01".into(),
            operator_password: "0000".into(),
            unlock_password: "88888888".into(),
            response_timeout_ms: 60_000,
            reversal_tries_max: 3,
            journal_max: 500,
            offline_queue_max: 100,
            battery_low_percent: 10,
            battery_start_percent: 100,
            battery_drain_per_message_permille: 0,
            battery_drain_per_print_permille: 0,
            sign_off_after_settlement: false,
            calendar: Calendar::default(),
            reversal_persist: ReversalPersist::BeforeSend,
            reversal_exhausted: ReversalExhausted::KeepBlocking,
            offline_upload: OfflineUpload::WithNextOnline,
            upload_end_code_when_unbalanced: UploadEndCode::Code202,
            journal_clear: JournalClear::AfterSettlementAnswer,
            cashier_retry_after_failure: false,
            stan_start: 1,
            mutation: TerminalMutation::None,
        }
    }
}

/// Why a configuration cannot drive a terminal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TerminalConfigError {
    #[error("tmk is not a des key: {0}")]
    Tmk(#[from] crate::iso8583::keys::KeyError),
    #[error("key mode {mode} needs a {expected}-byte tmk, not {length}")]
    TmkLength { mode: u16, expected: usize, length: usize },
    #[error("operator number must be 1 to 3 printable characters, not {0:?}")]
    Operator(String),
    #[error("{name} must be between {min} and {max}, not {value}")]
    OutOfRange { name: &'static str, value: u64, min: u64, max: u64 },
}

/// The largest journal the settlement's three-digit counts can describe.
pub const JOURNAL_MAX_LIMIT: usize = 999;

/// A configuration checked once, with its keys parsed.
#[derive(Debug, Clone)]
pub(crate) struct Checked {
    pub config: TerminalConfig,
    pub tmk: DesKey,
    pub operator: [u8; 3],
}

fn range(name: &'static str, value: u64, min: u64, max: u64) -> Result<(), TerminalConfigError> {
    if value < min || value > max {
        return Err(TerminalConfigError::OutOfRange { name, value, min, max });
    }
    Ok(())
}

impl TerminalConfig {
    pub fn validate(&self) -> Result<(), TerminalConfigError> {
        self.check().map(|_| ())
    }

    pub(crate) fn check(&self) -> Result<Checked, TerminalConfigError> {
        let tmk = DesKey::from_hex(&self.tmk)?;
        let expected = match self.key_mode {
            KeyMode::Single => 8,
            KeyMode::Double | KeyMode::DoubleWithTrackKey => 16,
        };
        if tmk.as_bytes().len() != expected {
            return Err(TerminalConfigError::TmkLength {
                mode: self.key_mode.code(),
                expected,
                length: tmk.as_bytes().len(),
            });
        }
        let bytes = self.operator.as_bytes();
        if bytes.is_empty() || bytes.len() > 3 || !bytes.iter().all(|b| (0x20..=0x7E).contains(b)) {
            return Err(TerminalConfigError::Operator(self.operator.clone()));
        }
        let mut operator = [b' '; 3];
        operator[..bytes.len()].copy_from_slice(bytes);
        range("response_timeout_ms", self.response_timeout_ms, 1, 3_600_000)?;
        range("reversal_tries_max", u64::from(self.reversal_tries_max), 1, 99)?;
        range("journal_max", self.journal_max as u64, 1, JOURNAL_MAX_LIMIT as u64)?;
        range("stan_start", u64::from(self.stan_start), 1, 999_999)?;
        range("offline_queue_max", self.offline_queue_max as u64, 1, JOURNAL_MAX_LIMIT as u64)?;
        range("battery_low_percent", u64::from(self.battery_low_percent), 0, 100)?;
        range("battery_start_percent", u64::from(self.battery_start_percent), 0, 100)?;
        range(
            "battery_drain_per_message_permille",
            u64::from(self.battery_drain_per_message_permille),
            0,
            1000,
        )?;
        range(
            "battery_drain_per_print_permille",
            u64::from(self.battery_drain_per_print_permille),
            0,
            1000,
        )?;
        Ok(Checked { config: self.clone(), tmk, operator })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_double_length_mode_refuses_a_single_tmk() {
        let config = TerminalConfig { key_mode: KeyMode::Double, ..TerminalConfig::default() };
        assert!(matches!(
            config.validate(),
            Err(TerminalConfigError::TmkLength { expected: 16, .. })
        ));
    }

    #[test]
    fn unknown_fields_are_refused_and_policies_read_in_snake_case() {
        use serde::de::value::{Error, MapDeserializer, StrDeserializer};
        use serde::Deserialize;
        let fields = vec![("reversal_persistance", "after_send")];
        let result =
            TerminalConfig::deserialize(MapDeserializer::<_, Error>::new(fields.into_iter()));
        assert!(result.unwrap_err().to_string().contains("unknown field"));
        let policy = ReversalPersist::deserialize(StrDeserializer::<Error>::new("after_send"));
        assert_eq!(policy, Ok(ReversalPersist::AfterSend));
        let empty: Vec<(&str, &str)> = Vec::new();
        let defaults =
            TerminalConfig::deserialize(MapDeserializer::<_, Error>::new(empty.into_iter()));
        assert_eq!(defaults, Ok(TerminalConfig::default()), "every field has a default");
    }

    #[test]
    fn a_journal_over_999_is_refused() {
        let config = TerminalConfig { journal_max: 1000, ..TerminalConfig::default() };
        assert!(matches!(
            config.validate(),
            Err(TerminalConfigError::OutOfRange { name: "journal_max", .. })
        ));
    }
}
