//! **authenticated-only**: no message with a bad MAC, or from an unsigned-in
//! or unregistered terminal, changes any balance.
//!
//! The log has no "this message was authentic" flag on a movement, so the
//! invariant is derived from what the actors log when they accept or refuse
//! a message. Every issuer `Moved` with a trade key (any purse, holds
//! included) must be explained:
//!
//! - *It traces back to a request the switch accepted*: the switch logged
//!   `Forwarded{key}` for that key (it forwards only after its registry, sign-in
//!   and MAC checks), or a reversal of it the switch or the network took on
//!   (`ReversalQueued` / `ReversalSent` at either). Clearing returns and a
//!   completion's release of its pre-auth's hold move money under keys that
//!   were forwarded, so they pass.
//! - *Not after the issuer refused its MAC*: an issuer `MacRejected{key}`
//!   followed by a `Moved` for that key, with no authenticated copy in
//!   between (`RequestReceived{key}`, which the issuer logs only for an
//!   authenticated, well-formed message), is a violation.
//! - *Not after the switch refused the terminal*: a switch `Rejected` with
//!   code 97 (unregistered), 77 (not signed in) or A0 (bad MAC) for a
//!   terminal and STAN, followed by a movement for that terminal and STAN
//!   with no `Forwarded` (or reversal taken on) of that STAN in between, is a violation.
//!
//! Movements without a key are operator commands (an e-cash load moves money
//! between a card's two purses), not messages, and are out of scope.
//!
//! ```
//! use possim_sim::oracle::{check_one, Invariant};
//! use possim_sim::trace::Trace;
//! assert!(check_one(&Trace::new(), Invariant::AuthenticatedOnly).passed());
//! ```

use std::collections::{BTreeMap, BTreeSet};

use possim_models::iso8583::values::{Stan, TerminalId};
use possim_models::issuer::IssuerEventKind;
use possim_models::network::NetworkEventKind;
use possim_models::switch::SwitchEventKind;

use crate::trace::TraceEvent;

use super::index::{TraceIndex, TradeId};
use super::{Invariant, Violation};

const INVARIANT: Invariant = Invariant::AuthenticatedOnly;

/// Switch refusals that say the sender is not who it claims to be.
const UNAUTHENTICATED: [&str; 3] = ["97", "77", "A0"];

pub fn check(index: &TraceIndex) -> Vec<Violation> {
    // Per trade, and per terminal and STAN: the seq of its last acceptance upstream.
    let mut accepted: BTreeMap<TradeId, u64> = BTreeMap::new();
    let mut forwarded_stan: BTreeMap<(TerminalId, Stan), u64> = BTreeMap::new();
    let mut refused_stan: BTreeMap<(TerminalId, Stan), u64> = BTreeMap::new();
    let mut mac_rejected: BTreeMap<TradeId, u64> = BTreeMap::new();
    let mut received: BTreeMap<TradeId, u64> = BTreeMap::new();
    let mut reported: BTreeSet<TradeId> = BTreeSet::new();
    let mut violations = Vec::new();
    for record in index.records {
        let seq = record.seq;
        match &record.event {
            TraceEvent::Switch(event) => match &event.kind {
                SwitchEventKind::Forwarded { key, .. } => {
                    accepted.insert(TradeId::of(key), seq);
                    forwarded_stan.insert((key.terminal, key.stan), seq);
                }
                SwitchEventKind::ReversalQueued { key, .. }
                | SwitchEventKind::ReversalSent { key, .. } => {
                    accepted.insert(TradeId::of(key), seq);
                    forwarded_stan.insert((key.terminal, key.stan), seq);
                }
                SwitchEventKind::Rejected { terminal, stan: Some(stan), code }
                    if UNAUTHENTICATED.contains(&code.as_str()) =>
                {
                    refused_stan.insert((*terminal, *stan), seq);
                }
                _ => {}
            },
            TraceEvent::Network(event) => match &event.kind {
                NetworkEventKind::ReversalQueued { key, .. }
                | NetworkEventKind::ReversalSent { key, .. } => {
                    accepted.insert(TradeId::of(key), seq);
                    forwarded_stan.insert((key.terminal, key.stan), seq);
                }
                _ => {}
            },
            TraceEvent::Issuer { event, .. } => match &event.kind {
                IssuerEventKind::RequestReceived { key, .. } => {
                    received.insert(TradeId::of(key), seq);
                }
                IssuerEventKind::MacRejected { key: Some(key) } => {
                    mac_rejected.insert(TradeId::of(key), seq);
                }
                IssuerEventKind::Moved { key: Some(key), .. } => {
                    let id = TradeId::of(key);
                    if reported.contains(&id) {
                        continue;
                    }
                    let stan = (key.terminal, key.stan);
                    let finding = if !accepted.contains_key(&id) {
                        Some((
                            "money moved for a trade the switch never forwarded".to_string(),
                            None,
                        ))
                    } else if let Some(&rejected) =
                        mac_rejected.get(&id).filter(|&&m| received.get(&id).is_none_or(|&r| r < m))
                    {
                        Some((
                            "money moved after the issuer rejected the trade's mac".to_string(),
                            Some(rejected),
                        ))
                    } else if let Some(&refused) = refused_stan
                        .get(&stan)
                        .filter(|&&r| forwarded_stan.get(&stan).is_none_or(|&f| f < r))
                    {
                        Some((
                            "money moved after the switch refused the terminal's message (97, 77 or a0)".to_string(),
                            Some(refused),
                        ))
                    } else {
                        None
                    };
                    if let Some((message, cause)) = finding {
                        reported.insert(id);
                        let seqs = [
                            accepted.get(&id).copied(),
                            cause,
                            received.get(&id).copied(),
                            Some(seq),
                        ];
                        violations.push(Violation::new(
                            INVARIANT,
                            Some(index.trade_ref(id)),
                            message,
                            index.evidence_of(seqs.into_iter().flatten()),
                        ));
                    }
                }
                _ => {}
            },
            _ => {}
        }
    }
    violations
}
