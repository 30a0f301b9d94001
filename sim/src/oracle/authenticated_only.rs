//! **authenticated-only**: no message with a bad MAC, or from an unsigned-in
//! or unregistered terminal, changes any balance or is passed upstream.
//!
//! Judged from the frames as they travelled ([`super::wire`]), not from the
//! switch's word about what it forwarded (the switch under test may be the
//! liar: `mac_checked_on_0200_only` forwards what it never checked):
//!
//! - *Every request the switch sends upstream has an intact source.* A
//!   switch→network request naming a trade (MTI, terminal, 60.2 batch, STAN)
//!   is explained by the latest copy of that request from its terminal
//!   before it having arrived intact. A garbled copy (a bit flipped inside
//!   the MAC'd span) as the latest is a violation, and so is no copy at
//!   all. A reversal (0400) is also explained by the switch's own reversal
//!   duty: an earlier upstream request of the trade that the switch had
//!   not yet answered toward the terminal (it reverses a trade it gives up
//!   on, as it answers it 98; whether the network's answer reached it the
//!   frames cannot tell, since a backbone frame is recorded as it is
//!   written), or an earlier upstream 0400 of it (store-and-forward retries
//!   it).
//! - *No answer of 97, 77 or A0 and then the request upstream anyway.* A
//!   refusal the switch sent the terminal for a trade, later than the latest
//!   intact copy of the request, followed by that request upstream, is a
//!   violation.
//! - *Every movement of money has a frame that brought it.* An issuer
//!   `Moved` with a trade key needs a request of that trade delivered to an
//!   issuer before it (clearing returns and a completion's release move
//!   money under keys whose requests came that way).
//! - *Not after the issuer refused the trade's MAC.* Kept from the issuer's
//!   own `MacRejected`: the simulator never flips bits between network
//!   elements, so no frame there can show a bad MAC; the issuer, which holds
//!   the money, is the only witness. A `MacRejected{key}` followed by a
//!   `Moved` for that key with no authenticated copy (`RequestReceived`) in
//!   between is a violation.
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

use possim_models::issuer::IssuerEventKind;

use possim_models::actor::Node;

use crate::trace::TraceEvent;

use super::index::{TraceIndex, TradeId};
use super::wire::{WireFrame, WireKey};
use super::{Invariant, TradeRef, Violation};

const INVARIANT: Invariant = Invariant::AuthenticatedOnly;

/// Refusals that say the sender is not who it claims to be.
const UNAUTHENTICATED: [&str; 3] = ["97", "77", "A0"];

/// The latest copy of one request from its terminal.
#[derive(Debug, Clone, Copy)]
struct Copy {
    seq: u64,
    intact: bool,
}

pub fn check(index: &TraceIndex) -> Vec<Violation> {
    let mut violations = Vec::new();
    forwarded(index, &mut violations);
    moved(index, &mut violations);
    violations
}

/// Every upstream request against its source on the terminal's line.
fn forwarded(index: &TraceIndex, violations: &mut Vec<Violation>) {
    let mut latest_copy: BTreeMap<(String, WireKey), Copy> = BTreeMap::new();
    let mut refused: BTreeMap<(String, WireKey), u64> = BTreeMap::new();
    // Per trade: the latest upstream request (not a reversal), and the
    // latest answer to it the switch sent the terminal (written, whatever
    // the line then did with it): a switch that has answered no longer
    // reverses on its own.
    let mut upstream_original: BTreeMap<WireKey, u64> = BTreeMap::new();
    let mut upstream_reversal: BTreeSet<WireKey> = BTreeSet::new();
    let mut answered: BTreeMap<WireKey, u64> = BTreeMap::new();
    let mut reported: BTreeSet<(String, WireKey)> = BTreeSet::new();
    for frame in &index.frames {
        let (Some(key), Some(mti)) = (frame.trade(), frame.request_mti()) else { continue };
        if frame.from_terminal() && frame.is_request() {
            if frame.arrived() {
                latest_copy.insert((mti, key), Copy { seq: frame.seq, intact: frame.intact() });
            }
            continue;
        }
        if frame.from == Node::Switch && frame.to_terminal() && !frame.is_request() {
            if frame.code.is_some_and(|code| UNAUTHENTICATED.contains(&code.as_str())) {
                refused.insert((mti.clone(), key), frame.seq);
            }
            if mti != "0400" {
                answered.insert(key, frame.seq);
            }
            continue;
        }
        if !(frame.upstream() && frame.is_request()) {
            continue;
        }
        let reversal = mti == "0400";
        let copy = latest_copy.get(&(mti.clone(), key)).copied();
        let switch_duty = reversal
            && (upstream_reversal.contains(&key)
                || upstream_original
                    .get(&key)
                    .is_some_and(|&sent| answered.get(&key).is_none_or(|&told| told < sent)));
        if reversal {
            upstream_reversal.insert(key);
        } else {
            upstream_original.insert(key, frame.seq);
        }
        let finding = match copy {
            Some(copy) if copy.intact => refused
                .get(&(mti.clone(), key))
                .filter(|&&refusal| refusal > copy.seq)
                .map(|&refusal| (format!("{mti} passed upstream after the switch refused it (97, 77 or a0)"), Some(refusal), Some(copy.seq))),
            _ if switch_duty => None,
            Some(copy) => Some((
                format!("{mti} passed upstream from a copy garbled on the terminal's line (its mac could not verify)"),
                None,
                Some(copy.seq),
            )),
            None => Some((format!("{mti} passed upstream that no terminal sent intact"), None, None)),
        };
        let Some((message, cause, source)) = finding else { continue };
        if !reported.insert((mti, key)) {
            continue;
        }
        violations.push(Violation::new(
            INVARIANT,
            Some(trade_ref(index, &key)),
            message,
            index.evidence_of([cause, source, Some(frame.seq)].into_iter().flatten()),
        ));
    }
}

/// Every issuer movement against the frames and the issuer's MAC refusals.
fn moved(index: &TraceIndex, violations: &mut Vec<Violation>) {
    let mut delivered: BTreeMap<WireKey, u64> = BTreeMap::new();
    let mut frames = index.frames.iter().peekable();
    let mut mac_rejected: BTreeMap<TradeId, u64> = BTreeMap::new();
    let mut received: BTreeMap<TradeId, u64> = BTreeMap::new();
    let mut reported: BTreeSet<TradeId> = BTreeSet::new();
    for record in index.records {
        // The frames up to this record, in step with the log.
        while let Some(frame) = frames.next_if(|f: &&WireFrame| f.seq < record.seq) {
            if frame.to_issuer() && frame.is_request() && frame.arrived() {
                if let Some(key) = frame.trade() {
                    delivered.entry(key).or_insert(frame.seq);
                }
            }
        }
        let TraceEvent::Issuer { event, .. } = &record.event else { continue };
        match &event.kind {
            IssuerEventKind::RequestReceived { key, .. } => {
                received.insert(TradeId::of(key), record.seq);
            }
            IssuerEventKind::MacRejected { key: Some(key) } => {
                mac_rejected.insert(TradeId::of(key), record.seq);
            }
            IssuerEventKind::Moved { key: Some(key), .. } => {
                let id = TradeId::of(key);
                if reported.contains(&id) {
                    continue;
                }
                let wire =
                    WireKey { terminal: key.terminal, batch: Some(key.batch), stan: key.stan };
                let brought = delivered.get(&wire).copied();
                let finding = if brought.is_none() {
                    Some(("money moved for a trade no frame brought to its issuer", None))
                } else if let Some(&rejected) =
                    mac_rejected.get(&id).filter(|&&m| received.get(&id).is_none_or(|&r| r < m))
                {
                    Some(("money moved after the issuer rejected the trade's mac", Some(rejected)))
                } else {
                    None
                };
                if let Some((message, cause)) = finding {
                    reported.insert(id);
                    let seqs = [brought, cause, received.get(&id).copied(), Some(record.seq)];
                    violations.push(Violation::new(
                        INVARIANT,
                        Some(index.trade_ref(id)),
                        message.to_string(),
                        index.evidence_of(seqs.into_iter().flatten()),
                    ));
                }
            }
            _ => {}
        }
    }
}

fn trade_ref(index: &TraceIndex, key: &WireKey) -> TradeRef {
    index.trade_ref(TradeId { terminal: key.terminal, batch: key.batch, stan: key.stan })
}
