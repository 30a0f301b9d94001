//! The cashier's habits: how long a cardholder waits for a busy terminal,
//! when the cashier presses "send pending" after a failed trade, and
//! signing in again when the terminal says it is not signed in. One
//! definition, for the simulated day and the live one.

use std::collections::BTreeSet;

use possim_models::iso8583::values::TerminalId;
use possim_models::terminal::events::TerminalEventKind;
use possim_models::terminal::{Terminal, TerminalCommand};

/// A busy terminal makes the next cardholder wait this long, this many
/// times (then a drawn cardholder leaves and the next one is drawn).
pub const BUSY_WAIT_MS: u64 = 5_000;
pub const BUSY_WAITS_MAX: u32 = 12;
/// The cashier notices "not signed in" and signs in again after this.
pub const SIGN_IN_AGAIN_MS: u64 = 10_000;
/// The first drawn cardholder comes this long after opening.
pub const FIRST_ARRIVAL_MS: u64 = 5_000;

/// Whether the terminal cannot take a cardholder now.
pub fn is_busy(terminal: &Terminal) -> bool {
    !terminal.is_powered() || terminal.is_busy() || terminal.persistent().settlement().is_some()
}

/// The operator's sign-in with the terminal's own credentials.
pub fn operator_sign_in(terminal: &Terminal) -> TerminalCommand {
    let config = terminal.config();
    TerminalCommand::OperatorSignIn {
        operator: config.operator.clone(),
        password: config.operator_password.clone(),
    }
}

/// What the cashier does about a terminal's event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reaction {
    /// Press "send pending" after the scenario's delay.
    SendPending,
    /// Sign in again after [`SIGN_IN_AGAIN_MS`], unless already doing so.
    SignInAgain,
    /// A sign-in answered: the terminal is no longer being signed in again.
    SignedIn,
}

/// What the cashier does about `kind`, in the safety phase or after it.
pub fn react(kind: &TerminalEventKind, safety: bool) -> Option<Reaction> {
    match kind {
        TerminalEventKind::TradeTimedOut { .. } | TerminalEventKind::TradeFailed { .. }
            if safety =>
        {
            Some(Reaction::SendPending)
        }
        TerminalEventKind::SignInRequired { .. } | TerminalEventKind::SignInFailed { .. }
            if safety =>
        {
            Some(Reaction::SignInAgain)
        }
        TerminalEventKind::Refused { why } if safety && why.is_not_signed_in() => {
            Some(Reaction::SignInAgain)
        }
        TerminalEventKind::SignedIn { .. } => Some(Reaction::SignedIn),
        _ => None,
    }
}

/// The terminals the cashier is signing in again, so one sign-in runs at a
/// time per terminal.
#[derive(Debug, Default)]
pub struct SigningIn {
    terminals: BTreeSet<TerminalId>,
}

impl SigningIn {
    /// Whether a sign-in again starts now (none was under way).
    pub fn start(&mut self, id: TerminalId) -> bool {
        self.terminals.insert(id)
    }

    pub fn done(&mut self, id: TerminalId) {
        self.terminals.remove(&id);
    }

    pub fn is_signing_in(&self, id: TerminalId) -> bool {
        self.terminals.contains(&id)
    }
}
