//! Field 39: response codes, what they mean, and what a terminal does with them.
//!
//! ```
//! use possim_models::iso8583::response_code::{ResponseCode, TerminalAction};
//! assert_eq!(ResponseCode::APPROVED.action(), TerminalAction::Approve);
//! assert_eq!(ResponseCode::new(*b"A0").action(), TerminalAction::SignInAgain);
//! assert_eq!(ResponseCode::new(*b"Z9").meaning(), "unknown response code");
//! ```

use std::fmt;

/// Two characters of field 39. Unknown codes are kept, not rejected: a
/// terminal must still handle a code it has no entry for (as a decline).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResponseCode([u8; 2]);

/// What a terminal does on receiving a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TerminalAction {
    /// Print the slip.
    Approve,
    Decline,
    /// Decline and keep the card (pick-up, lost, stolen).
    DeclineKeepCard,
    /// Retry now (09, 19).
    Retry,
    /// Retry later (90, 91, 92, 96).
    RetryLater,
    /// Sign in again (22, 58, 77, 99, A0).
    SignInAgain,
    /// Upload the batch detail (95).
    BatchUpload,
    /// Upload the offline data again, then settle (79).
    ReUpload,
}

macro_rules! codes {
    ($($name:ident = $code:literal, $meaning:literal, $action:ident;)*) => {
        impl ResponseCode {
            $(pub const $name: ResponseCode = ResponseCode(*$code);)*

            /// What the code means, in words.
            pub fn meaning(self) -> &'static str {
                match &self.0 {
                    $($code => $meaning,)*
                    _ => "unknown response code",
                }
            }

            /// What a terminal does with it; an unknown code is a decline.
            pub fn action(self) -> TerminalAction {
                match &self.0 {
                    $($code => TerminalAction::$action,)*
                    _ => TerminalAction::Decline,
                }
            }

            /// Every code in the table, in table order.
            pub const KNOWN: &'static [ResponseCode] = &[$(ResponseCode(*$code),)*];
        }
    };
}

codes! {
    APPROVED = b"00", "approved", Approve;
    REFER_TO_ISSUER = b"01", "refer to card issuer", Decline;
    REFER_TO_ISSUER_SPECIAL = b"02", "refer to card issuer, special condition", Decline;
    INVALID_MERCHANT = b"03", "merchant not registered", Decline;
    PICK_UP = b"04", "pick up card", DeclineKeepCard;
    DO_NOT_HONOUR = b"05", "do not honour", Decline;
    ISSUER_ERROR = b"06", "error", Decline;
    PICK_UP_SPECIAL = b"07", "pick up card, special condition", DeclineKeepCard;
    IN_PROGRESS = b"09", "request in progress", Retry;
    UNSUPPORTED_BY_ISSUER = b"12", "invalid transaction", Decline;
    INVALID_AMOUNT = b"13", "invalid amount", Decline;
    INVALID_CARD = b"14", "invalid card number", Decline;
    NO_SUCH_ISSUER = b"15", "no such issuer", Decline;
    RE_ENTER = b"19", "re-enter transaction", Retry;
    INVALID_RESPONSE = b"20", "invalid response", Decline;
    NO_ACTION_TAKEN = b"21", "no action taken", Decline;
    STATE_MISMATCH = b"22", "terminal state disagrees with host", SignInAgain;
    UNACCEPTABLE_FEE = b"23", "unacceptable transaction fee", Decline;
    ORIGINAL_NOT_FOUND = b"25", "original transaction not found", Decline;
    FORMAT_ERROR = b"30", "format error", Decline;
    ISSUER_NOT_SUPPORTED = b"31", "issuer not supported by switch", Decline;
    EXPIRED_CARD_33 = b"33", "expired card", Decline;
    SUSPECTED_FRAUD_34 = b"34", "suspected fraud", DeclineKeepCard;
    CONTACT_ACQUIRER_35 = b"35", "card acceptor contact acquirer", DeclineKeepCard;
    RESTRICTED_36 = b"36", "restricted card", DeclineKeepCard;
    CALL_SECURITY_37 = b"37", "call acquirer security", DeclineKeepCard;
    PIN_TRIES_EXCEEDED_38 = b"38", "allowable PIN tries exceeded", Decline;
    NO_CREDIT_ACCOUNT = b"39", "no such account type", Decline;
    FUNCTION_NOT_SUPPORTED = b"40", "requested function not supported", Decline;
    LOST_CARD = b"41", "lost card", DeclineKeepCard;
    NO_SUCH_ACCOUNT = b"42", "no such account", Decline;
    STOLEN_CARD = b"43", "stolen card", DeclineKeepCard;
    READER_ERROR = b"44", "no such account type / reader error", Decline;
    INSUFFICIENT_FUNDS = b"51", "insufficient funds", Decline;
    NO_CHEQUE_ACCOUNT = b"52", "no cheque account", Decline;
    NO_SAVINGS_ACCOUNT = b"53", "no savings account", Decline;
    EXPIRED_CARD = b"54", "expired card", Decline;
    WRONG_PIN = b"55", "incorrect PIN", Decline;
    NO_CARD_RECORD = b"56", "no card record", Decline;
    NOT_PERMITTED_CARDHOLDER = b"57", "transaction not permitted to cardholder", Decline;
    NOT_PERMITTED_TERMINAL = b"58", "transaction not permitted to terminal", SignInAgain;
    SUSPECTED_FRAUD = b"59", "suspected fraud", Decline;
    EXCEEDS_AMOUNT_LIMIT = b"61", "exceeds withdrawal amount limit", Decline;
    RESTRICTED_CARD = b"62", "restricted card", Decline;
    SECURITY_VIOLATION = b"63", "security violation", Decline;
    ORIGINAL_AMOUNT_INCORRECT = b"64", "original amount incorrect", Decline;
    EXCEEDS_FREQUENCY_LIMIT = b"65", "exceeds withdrawal frequency limit", Decline;
    CONTACT_ACQUIRER = b"66", "card acceptor call acquirer", Decline;
    HARD_CAPTURE = b"67", "pick up card", DeclineKeepCard;
    RESPONSE_TOO_LATE = b"68", "response received too late", Decline;
    PIN_TRIES_EXCEEDED = b"75", "allowable PIN tries exceeded", Decline;
    SIGN_IN_TO_NETWORK = b"77", "sign in to the network centre", SignInAgain;
    OFFLINE_NOT_RECONCILED = b"79", "offline data did not reconcile", ReUpload;
    CUTOFF_IN_PROGRESS = b"90", "date cutoff in progress", RetryLater;
    ISSUER_INOPERATIVE = b"91", "issuer or switch inoperative", RetryLater;
    ROUTING_FAILURE = b"92", "routing or communication failure", RetryLater;
    VIOLATION_OF_LAW = b"93", "transaction cannot be completed", Decline;
    DUPLICATE = b"94", "duplicate transmission", Decline;
    RECONCILIATION_ERROR = b"95", "reconciliation error", BatchUpload;
    SYSTEM_MALFUNCTION = b"96", "system malfunction", RetryLater;
    TERMINAL_NOT_REGISTERED = b"97", "terminal not registered", Decline;
    ISSUER_TIMEOUT = b"98", "issuer did not answer in time", Decline;
    PIN_FORMAT_ERROR = b"99", "PIN block format error", SignInAgain;
    MAC_ERROR = b"A0", "MAC check failed", SignInAgain;
}

impl ResponseCode {
    /// Any two characters; field 39 is `an2`, so the caller checks the alphabet.
    pub const fn new(code: [u8; 2]) -> ResponseCode {
        ResponseCode(code)
    }

    pub fn from_wire(bytes: &[u8]) -> Option<ResponseCode> {
        let code: [u8; 2] = bytes.try_into().ok()?;
        code.iter().all(u8::is_ascii_alphanumeric).then_some(ResponseCode(code))
    }

    pub fn as_bytes(&self) -> &[u8; 2] {
        &self.0
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("??")
    }

    pub fn is_approved(self) -> bool {
        self == ResponseCode::APPROVED
    }

    /// Whether this answer to a reversal (0410) completes it: 00 (done), 12
    /// (nothing to reverse: the issuer does not support the original) or 25
    /// (original not found). Either way the issuer holds nothing of the
    /// original any more, which is all the reversal was for.
    pub fn completes_reversal(self) -> bool {
        matches!(
            self,
            ResponseCode::APPROVED
                | ResponseCode::UNSUPPORTED_BY_ISSUER
                | ResponseCode::ORIGINAL_NOT_FOUND
        )
    }

    /// Whether this answer to an offline upload leaves the upload pending:
    /// the host did not look at the trade (no session, busy, cutoff: sign in
    /// again or retry later) or cannot say what became of it (98: the issuer
    /// did not answer, and may hold it). The upload must go again, and a
    /// repeat must be forwarded rather than answered from a record of this.
    pub fn leaves_upload_pending(self) -> bool {
        matches!(self.action(), TerminalAction::SignInAgain | TerminalAction::RetryLater)
            || self == ResponseCode::ISSUER_TIMEOUT
    }
}

impl fmt::Debug for ResponseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ResponseCode({})", self.as_str())
    }
}

impl fmt::Display for ResponseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for ResponseCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for ResponseCode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<ResponseCode, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        ResponseCode::from_wire(text.as_bytes())
            .ok_or_else(|| serde::de::Error::custom("a response code is two letters or digits"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_code_has_a_meaning() {
        for code in ResponseCode::KNOWN {
            assert_ne!(code.meaning(), "unknown response code", "{code}");
        }
        assert!(ResponseCode::KNOWN.len() >= 60);
    }
}
