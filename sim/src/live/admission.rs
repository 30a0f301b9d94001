//! Who holds `possim serve`'s connection slots, and for how long. The
//! table is finite (`connections_max`), so a slot must be earned: a client
//! that never proves it is a terminal (a frame the switch's gate passes,
//! see [`bindings`](super::bindings)) cannot keep one.
//!
//! - **Per peer** (IP address): at most `connections_per_peer_max` slots.
//!   A new connection from a peer at its cap takes the place of that
//!   peer's oldest unauthenticated connection, so one address churns only
//!   its own slots; if all of them are authenticated it is refused.
//! - **Table full**: a new connection takes the place of the oldest
//!   unauthenticated one anywhere; refused only when every slot is held by
//!   an authenticated terminal. A real terminal's new connection therefore
//!   always gets in, and is safe until its first MAC'd frame for as long
//!   as it takes `connections_max` newer connections to arrive.
//! - **Progress**: a connection not authenticated within `auth_deadline_ms`
//!   of opening is closed, whatever it sends: sign-in and echo need no
//!   keys, so they cannot earn a slot for long.
//! - **Idle**: `idle_timeout_ms` after the last frame the host *accepted*.
//!   Garbage, refusals (97, 77, A0, 30) and frames claiming another
//!   connection's terminal do not count, so a frame every 299 s holds
//!   nothing.
//! - **Bad MACs**: the host answers each A0 as the switch does, and the
//!   [`BAD_MACS_PER_CONNECTION_MAX`]th closes the connection after its
//!   answer.
//!
//! Sans-IO: connections are numbers, time is passed in, and every decision
//! comes back with its reason for the log.
//!
//! ```
//! use possim_models::time::Instant;
//! use possim_sim::live::admission::{Admission, AdmissionOptions, Admit};
//! let options = AdmissionOptions { connections_max: 2, connections_per_peer_max: 2,
//!     idle_timeout_ms: 1_000, auth_deadline_ms: 500 };
//! let mut admission = Admission::new(options);
//! let peer = "127.0.0.2".parse().unwrap();
//! let now = Instant::from_millis(0);
//! assert_eq!(admission.admit(now, 1, peer), Admit::Accept { evicted: None });
//! assert_eq!(admission.admit(now, 2, peer), Admit::Accept { evicted: None });
//! assert!(matches!(admission.admit(now, 3, peer), Admit::Accept { evicted: Some((1, _)) }));
//! assert_eq!(admission.poll_timeout(), Some(Instant::from_millis(500)));
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

use possim_models::time::Instant;

use super::host::{ConnId, FrameVerdict};

/// Bad MACs one connection may send. A terminal whose keys went stale gets
/// A0, which means "sign in again"; one that signs in and still fails twice
/// more is not going to succeed, and a client that never signs in at all is
/// guessing MACs. Three answers are enough for a real terminal to notice.
pub const BAD_MACS_PER_CONNECTION_MAX: u32 = 3;

/// The bounds; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionOptions {
    pub connections_max: usize,
    pub connections_per_peer_max: usize,
    pub idle_timeout_ms: u64,
    pub auth_deadline_ms: u64,
}

/// What to do with a connection just accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admit {
    /// Serve it; first close `evicted` (its id and why).
    Accept { evicted: Option<(ConnId, String)> },
    /// Close it at once, for this reason.
    Refuse(String),
}

#[derive(Debug, Clone)]
struct Slot {
    peer: IpAddr,
    opened: Instant,
    authenticated: bool,
    bad_macs: u32,
    /// When the connection is closed unless something moves it; its key in
    /// `deadlines`.
    deadline: Instant,
    /// Which bound `deadline` is.
    why: Deadline,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Deadline {
    Idle,
    Auth,
}

/// The connection table.
#[derive(Debug)]
pub struct Admission {
    options: AdmissionOptions,
    slots: BTreeMap<ConnId, Slot>,
    /// Oldest first: connection ids only grow.
    unauthenticated: BTreeSet<ConnId>,
    /// Per peer: its slots, and which are unauthenticated.
    peers: BTreeMap<IpAddr, (usize, BTreeSet<ConnId>)>,
    deadlines: BTreeSet<(Instant, ConnId)>,
}

impl Admission {
    pub fn new(options: AdmissionOptions) -> Admission {
        assert!(options.connections_max >= 1 && options.connections_per_peer_max >= 1);
        assert!(options.idle_timeout_ms >= 1 && options.auth_deadline_ms >= 1);
        Admission {
            options,
            slots: BTreeMap::new(),
            unauthenticated: BTreeSet::new(),
            peers: BTreeMap::new(),
            deadlines: BTreeSet::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn contains(&self, conn: ConnId) -> bool {
        self.slots.contains_key(&conn)
    }

    /// `conn` (numbered above every earlier one) was accepted from `peer`.
    pub fn admit(&mut self, now: Instant, conn: ConnId, peer: IpAddr) -> Admit {
        assert!(self.slots.keys().next_back().is_none_or(|&last| last < conn), "ids only grow");
        let peer_slots = self.peers.get(&peer).map_or(0, |(count, _)| *count);
        let mut evicted = None;
        if peer_slots >= self.options.connections_per_peer_max {
            let oldest = self.peers.get(&peer).and_then(|(_, waiting)| waiting.first().copied());
            let Some(oldest) = oldest else {
                return Admit::Refuse(format!(
                    "peer {peer} holds {} authenticated connections, its most",
                    self.options.connections_per_peer_max
                ));
            };
            self.remove(oldest);
            evicted = Some((
                oldest,
                format!(
                    "evicted: its peer {peer} opened connection {conn} over its {} and this was \
                     its oldest not authenticated",
                    self.options.connections_per_peer_max
                ),
            ));
        } else if self.slots.len() >= self.options.connections_max {
            let Some(oldest) = self.unauthenticated.first().copied() else {
                return Admit::Refuse(format!(
                    "all {} connections are authenticated terminals",
                    self.options.connections_max
                ));
            };
            self.remove(oldest);
            evicted = Some((
                oldest,
                format!(
                    "evicted: the table of {} was full when connection {conn} came, and this was \
                     the oldest not authenticated",
                    self.options.connections_max
                ),
            ));
        }
        let auth_at = now + Duration::from_millis(self.options.auth_deadline_ms);
        let idle_at = now + Duration::from_millis(self.options.idle_timeout_ms);
        let (deadline, why) =
            if auth_at <= idle_at { (auth_at, Deadline::Auth) } else { (idle_at, Deadline::Idle) };
        let slot = Slot { peer, opened: now, authenticated: false, bad_macs: 0, deadline, why };
        self.slots.insert(conn, slot);
        self.unauthenticated.insert(conn);
        let entry = self.peers.entry(peer).or_default();
        entry.0 += 1;
        entry.1.insert(conn);
        self.deadlines.insert((deadline, conn));
        self.check();
        Admit::Accept { evicted }
    }

    /// The host judged a frame of `conn`. Returns why to close it, if so.
    pub fn on_verdict(
        &mut self,
        now: Instant,
        conn: ConnId,
        verdict: FrameVerdict,
    ) -> Option<String> {
        let slot = self.slots.get_mut(&conn)?;
        match verdict {
            FrameVerdict::Refused => return None,
            FrameVerdict::BadMac => {
                slot.bad_macs += 1;
                if slot.bad_macs >= BAD_MACS_PER_CONNECTION_MAX {
                    return Some(format!(
                        "{} bad MACs on one connection (each answered A0)",
                        slot.bad_macs
                    ));
                }
                return None;
            }
            FrameVerdict::Accepted => {}
            FrameVerdict::Authenticated => {
                if !slot.authenticated {
                    slot.authenticated = true;
                    self.unauthenticated.remove(&conn);
                    let peer = slot.peer;
                    if let Some((_, waiting)) = self.peers.get_mut(&peer) {
                        waiting.remove(&conn);
                    }
                }
            }
        }
        let slot = self.slots.get_mut(&conn).expect("looked up above");
        let idle_at = now + Duration::from_millis(self.options.idle_timeout_ms);
        let auth_at = slot.opened + Duration::from_millis(self.options.auth_deadline_ms);
        let (deadline, why) = if !slot.authenticated && auth_at <= idle_at {
            (auth_at, Deadline::Auth)
        } else {
            (idle_at, Deadline::Idle)
        };
        self.deadlines.remove(&(slot.deadline, conn));
        slot.deadline = deadline;
        slot.why = why;
        self.deadlines.insert((deadline, conn));
        None
    }

    /// The connection is gone (closed by either side); idempotent.
    pub fn on_closed(&mut self, conn: ConnId) {
        self.remove(conn);
    }

    fn remove(&mut self, conn: ConnId) {
        let Some(slot) = self.slots.remove(&conn) else { return };
        self.unauthenticated.remove(&conn);
        self.deadlines.remove(&(slot.deadline, conn));
        if let Some((count, waiting)) = self.peers.get_mut(&slot.peer) {
            *count -= 1;
            waiting.remove(&conn);
            if *count == 0 {
                self.peers.remove(&slot.peer);
            }
        }
        self.check();
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.first().map(|(at, _)| *at)
    }

    /// Connections whose deadline passed, removed, each with why.
    pub fn on_timeout(&mut self, now: Instant) -> Vec<(ConnId, String)> {
        let mut closed = Vec::new();
        // Each pass removes one slot.
        for _ in 0..=self.options.connections_max {
            let Some(&(at, conn)) = self.deadlines.first() else { break };
            if at > now {
                break;
            }
            let slot = self.slots.get(&conn).expect("every deadline has its slot");
            let reason = match slot.why {
                Deadline::Auth => format!(
                    "not authenticated within {} ms (no frame with a MAC the switch accepts)",
                    self.options.auth_deadline_ms
                ),
                Deadline::Idle => format!(
                    "no frame accepted within {} ms (garbage and refusals do not count)",
                    self.options.idle_timeout_ms
                ),
            };
            self.remove(conn);
            closed.push((conn, reason));
        }
        closed
    }

    fn check(&self) {
        assert!(self.slots.len() <= self.options.connections_max, "the table overflowed");
        assert_eq!(self.deadlines.len(), self.slots.len(), "one deadline per slot");
        assert!(self
            .peers
            .values()
            .all(|(count, _)| *count <= self.options.connections_per_peer_max));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn options() -> AdmissionOptions {
        AdmissionOptions {
            connections_max: 4,
            connections_per_peer_max: 2,
            idle_timeout_ms: 1_000,
            auth_deadline_ms: 3_000,
        }
    }

    #[test]
    fn a_full_table_evicts_the_oldest_unauthenticated_never_a_terminal() {
        let mut admission = Admission::new(options());
        admission.admit(at(0), 1, ip("127.0.0.1"));
        assert_eq!(admission.on_verdict(at(1), 1, FrameVerdict::Authenticated), None);
        for (conn, peer) in [(2, "127.0.0.2"), (3, "127.0.0.3"), (4, "127.0.0.4")] {
            assert_eq!(admission.admit(at(2), conn, ip(peer)), Admit::Accept { evicted: None });
        }
        let Admit::Accept { evicted: Some((2, why)) } = admission.admit(at(3), 5, ip("127.0.0.5"))
        else {
            panic!("the oldest unauthenticated goes")
        };
        assert!(why.contains("table of 4 was full"), "{why}");
        assert!(admission.contains(1));
        for conn in 3..=5 {
            admission.on_verdict(at(4), conn, FrameVerdict::Authenticated);
        }
        let Admit::Refuse(why) = admission.admit(at(5), 6, ip("127.0.0.6")) else {
            panic!("every slot is a terminal's")
        };
        assert!(why.contains("all 4 connections are authenticated"), "{why}");
    }

    #[test]
    fn a_peer_at_its_cap_churns_only_its_own_slots() {
        let mut admission = Admission::new(options());
        admission.admit(at(0), 1, ip("10.0.0.1"));
        admission.admit(at(0), 2, ip("10.0.0.2"));
        admission.admit(at(0), 3, ip("10.0.0.2"));
        let Admit::Accept { evicted: Some((2, why)) } = admission.admit(at(1), 4, ip("10.0.0.2"))
        else {
            panic!("its own oldest goes")
        };
        assert!(why.contains("peer 10.0.0.2"), "{why}");
        assert!(admission.contains(1), "another peer's slot is untouched");
        admission.on_verdict(at(2), 3, FrameVerdict::Authenticated);
        admission.on_verdict(at(2), 4, FrameVerdict::Authenticated);
        assert!(matches!(admission.admit(at(3), 5, ip("10.0.0.2")), Admit::Refuse(_)));
        assert_eq!(admission.len(), 3);
    }

    #[test]
    fn only_accepted_frames_move_the_idle_deadline_and_auth_is_not_moved_at_all() {
        let mut admission = Admission::new(options());
        admission.admit(at(0), 1, ip("127.0.0.1"));
        assert_eq!(admission.poll_timeout(), Some(at(1_000)));
        admission.on_verdict(at(900), 1, FrameVerdict::Refused);
        admission.on_verdict(at(900), 1, FrameVerdict::BadMac);
        assert_eq!(admission.poll_timeout(), Some(at(1_000)), "refusals hold nothing");
        admission.on_verdict(at(900), 1, FrameVerdict::Accepted);
        assert_eq!(admission.poll_timeout(), Some(at(1_900)));
        admission.on_verdict(at(2_500), 1, FrameVerdict::Accepted);
        assert_eq!(admission.poll_timeout(), Some(at(3_000)), "the auth bound stands");
        assert!(admission.on_timeout(at(2_999)).is_empty());
        let closed = admission.on_timeout(at(3_000));
        assert_eq!(closed.len(), 1);
        assert!(closed[0].1.contains("not authenticated within 3000 ms"), "{closed:?}");
        assert!(admission.is_empty());
        admission.admit(at(4_000), 2, ip("127.0.0.1"));
        admission.on_verdict(at(4_500), 2, FrameVerdict::Authenticated);
        admission.on_verdict(at(9_000), 2, FrameVerdict::Refused);
        let closed = admission.on_timeout(at(10_000));
        assert!(closed[0].1.contains("no frame accepted within 1000 ms"), "{closed:?}");
    }

    #[test]
    fn the_third_bad_mac_closes() {
        let mut admission = Admission::new(options());
        admission.admit(at(0), 1, ip("127.0.0.1"));
        assert_eq!(admission.on_verdict(at(1), 1, FrameVerdict::BadMac), None);
        assert_eq!(admission.on_verdict(at(2), 1, FrameVerdict::BadMac), None);
        let why = admission.on_verdict(at(3), 1, FrameVerdict::BadMac).unwrap();
        assert!(why.contains("3 bad MACs"), "{why}");
    }
}
