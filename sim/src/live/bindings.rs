//! Which connection speaks for which terminal in `possim serve`. A terminal
//! id in field 41 is only a claim: anyone can type it. What a client cannot
//! type is a MAC under the terminal's working keys, so an id is bound to the
//! first connection that sends a frame the switch's gate passes
//! ([`Switch::authenticate`](possim_models::switch::Switch::authenticate)),
//! and from then on a frame claiming that id on any other connection is
//! refused, until the bound connection closes. Only registered, signed-in
//! terminals pass the gate, so the table holds at most the scenario's
//! terminals, however many ids clients invent.
//!
//! Sans-IO: connections are numbers.
//!
//! ```
//! use possim_models::iso8583::values::TerminalId;
//! use possim_sim::live::bindings::{Bindings, Claim};
//! let terminal = TerminalId::new("LV000001").unwrap();
//! let mut bindings = Bindings::new(1);
//! assert_eq!(bindings.claim(terminal, 7), Claim::Unbound);
//! bindings.bind(terminal, 7);
//! assert_eq!(bindings.claim(terminal, 7), Claim::Mine);
//! assert_eq!(bindings.claim(terminal, 8), Claim::Foreign { owner: 7 });
//! bindings.release(7);
//! assert_eq!(bindings.claim(terminal, 8), Claim::Unbound);
//! ```

use std::collections::BTreeMap;

use possim_models::iso8583::values::TerminalId;

use super::host::ConnId;

/// What a frame's terminal id is to the connection it came on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Nobody has proven this id yet: the frame may go on (a sign-in must,
    /// since it carries no MAC), but it binds nothing.
    Unbound,
    /// Bound to this very connection.
    Mine,
    /// Bound to another connection: the frame is an impostor's (or a
    /// replay of the terminal's own), and is refused.
    Foreign { owner: ConnId },
}

/// Terminal id -> the authenticated connection that speaks for it.
#[derive(Debug)]
pub struct Bindings {
    bound: BTreeMap<TerminalId, ConnId>,
    /// The scenario's terminals: no more ids can ever pass the gate.
    terminals_max: usize,
}

impl Bindings {
    pub fn new(terminals_max: usize) -> Bindings {
        Bindings { bound: BTreeMap::new(), terminals_max }
    }

    pub fn claim(&self, terminal: TerminalId, conn: ConnId) -> Claim {
        match self.bound.get(&terminal) {
            None => Claim::Unbound,
            Some(&owner) if owner == conn => Claim::Mine,
            Some(&owner) => Claim::Foreign { owner },
        }
    }

    /// `conn` sent a frame for `terminal` that passed the gate. The caller
    /// refused foreign claims first, so the id is free or already `conn`'s.
    pub fn bind(&mut self, terminal: TerminalId, conn: ConnId) {
        let previous = self.bound.insert(terminal, conn);
        assert!(previous.is_none_or(|owner| owner == conn), "a bound id was taken over");
        assert!(
            self.bound.len() <= self.terminals_max,
            "more ids bound than the scenario has terminals ({})",
            self.terminals_max
        );
    }

    pub fn owner(&self, terminal: TerminalId) -> Option<ConnId> {
        self.bound.get(&terminal).copied()
    }

    /// The connection closed: the ids it spoke for are free to bind again
    /// (the terminal dialling anew).
    pub fn release(&mut self, conn: ConnId) {
        self.bound.retain(|_, owner| *owner != conn);
    }

    pub fn len(&self) -> usize {
        self.bound.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bound.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_connection_may_speak_for_several_terminals_and_frees_them_all_on_close() {
        let one = TerminalId::new("LV000001").unwrap();
        let two = TerminalId::new("LV000002").unwrap();
        let mut bindings = Bindings::new(2);
        bindings.bind(one, 3);
        bindings.bind(two, 3);
        bindings.bind(one, 3);
        assert_eq!(bindings.len(), 2);
        assert_eq!(bindings.claim(two, 4), Claim::Foreign { owner: 3 });
        bindings.release(4);
        assert_eq!(bindings.len(), 2, "another connection's close frees nothing");
        bindings.release(3);
        assert!(bindings.is_empty());
    }

    #[test]
    #[should_panic(expected = "a bound id was taken over")]
    fn binding_a_foreign_claim_is_a_broken_invariant() {
        let one = TerminalId::new("LV000001").unwrap();
        let mut bindings = Bindings::new(1);
        bindings.bind(one, 3);
        bindings.bind(one, 4);
    }
}
