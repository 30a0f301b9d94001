//! **sign-off-ends-session**: once a terminal's sign-off is acknowledged,
//! nothing but a sign-in (or an echo test) leaves it until it has signed in
//! again. DOMAIN.md, Terminal life cycle: "Sign-off (0820), automatic after
//! settlement if so configured; the next day starts with sign-in again" —
//! the host has closed the session and its working keys with it, so a
//! message under them is one the host must refuse or, worse, take.
//!
//! Read from the terminal's line:
//!
//! - *A sign-off*: an 0820 with network management code 002 (field 60.3)
//!   leaving the terminal, and *acknowledged*: an intact 0830 with 00 and
//!   its STAN reaching it. An 0830 a delay fault held is left out: the log
//!   does not say when it reached the terminal, so it can only excuse. So
//!   is one that reached it while it was off (its power went as the answer
//!   came): the terminal never read it and still holds its session.
//! - *Until it has signed in*: its next 0800.
//! - Any other request leaving it in between (a trade, a reversal, an
//!   advice, a settlement, an upload) is a violation, reported once per
//!   sign-off. `mutation: sign_off_keeps_session` breaks it.
//!
//! ```
//! use possim_sim::oracle::{check_one, Invariant};
//! use possim_sim::trace::Trace;
//! let verdict = check_one(&Trace::new(), Invariant::SignOffEndsSession);
//! assert!(verdict.passed());
//! assert_eq!(verdict.judged, 0);
//! ```

use std::collections::BTreeMap;

use possim_models::iso8583::response_code::ResponseCode;
use possim_models::iso8583::values::{Stan, TerminalId};

use super::declines_are_final;
use super::index::TraceIndex;
use super::wire::{field, WireFrame};
use super::{Invariant, TradeRef, Violation};
use crate::trace::Fate;

const INVARIANT: Invariant = Invariant::SignOffEndsSession;

/// Field 60.3 of a sign-off.
const SIGN_OFF_CODE: &str = "002";

/// Where one terminal's session stands, as its line shows it.
#[derive(Debug, Clone, Copy)]
enum Session {
    /// Open, or not known to be closed.
    Open,
    /// A sign-off with this STAN left (seq); its answer not yet seen.
    SigningOff { stan: Stan, seq: u64 },
    /// The sign-off was acknowledged (entry `found` of the list): closed
    /// until an 0800.
    Closed { found: usize },
}

fn is_sign_off(frame: &WireFrame) -> bool {
    frame.mti == Some("0820")
        && field(&frame.record.fields, 60).and_then(|value| value.get(8..11)) == Some(SIGN_OFF_CODE)
}

/// The acknowledged sign-offs (terminal, the 0820's seq, the 0830's seq),
/// each with the first message that broke it.
fn sign_offs(index: &TraceIndex) -> Vec<(TerminalId, u64, u64, Option<u64>)> {
    let mut sessions: BTreeMap<TerminalId, Session> = BTreeMap::new();
    let mut found: Vec<(TerminalId, u64, u64, Option<u64>)> = Vec::new();
    for frame in &index.frames {
        let Some(terminal) = frame.terminal else { continue };
        let session = sessions.entry(terminal).or_insert(Session::Open);
        if frame.from_terminal() && frame.is_request() {
            match (frame.mti, *session) {
                (Some("0800"), _) => *session = Session::Open,
                (Some("0820"), _) if is_sign_off(frame) => {
                    if let Some(stan) = frame.stan {
                        *session = Session::SigningOff { stan, seq: frame.seq };
                    }
                }
                (Some("0820"), _) => {}
                (_, Session::Closed { found: entry }) => {
                    found[entry].3 = Some(frame.seq);
                    // Reported once: judged again after its next sign-off.
                    *session = Session::Open;
                }
                _ => {}
            }
        } else if frame.to_terminal() && frame.mti == Some("0830") && frame.intact() {
            let held = matches!(frame.fate, Fate::Delayed { by_ms } if by_ms > 0);
            if let Session::SigningOff { stan, seq } = *session {
                let acknowledged = frame.stan == Some(stan)
                    && frame.code == Some(ResponseCode::APPROVED)
                    && !held
                    && !declines_are_final::off_at(index, terminal, frame.seq);
                if acknowledged {
                    *session = Session::Closed { found: found.len() };
                    found.push((terminal, seq, frame.seq, None));
                }
            }
        }
    }
    found
}

pub fn check(index: &TraceIndex) -> Vec<Violation> {
    let mut violations = Vec::new();
    for (terminal, sign_off, acknowledged, broken_by) in sign_offs(index) {
        let Some(message) = broken_by else { continue };
        let mti = index
            .frames
            .iter()
            .find(|frame| frame.seq == message)
            .and_then(|frame| frame.mti)
            .unwrap_or("????");
        violations.push(Violation::new(
            INVARIANT,
            Some(TradeRef::terminal(terminal)),
            format!("the host acknowledged its sign-off; it sent an {mti} before signing in again"),
            index.evidence_of([sign_off, acknowledged, message]),
        ));
    }
    violations
}

/// Acknowledged sign-offs judged.
pub(crate) fn judged(index: &TraceIndex) -> usize {
    sign_offs(index).len()
}
