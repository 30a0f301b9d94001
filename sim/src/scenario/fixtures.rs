//! Scenario texts the loader's unit tests build on.

/// The smallest scenario that compiles: one merchant, issuer, terminal and
/// card, five lines, so a test's own lines start at line 6.
pub(crate) const ONE_TERMINAL: &str = "name: t\nmerchants: [{id: '898100000000001'}]\n\
    issuers: [{index: 0, bins: ['622202']}]\n\
    terminals: [{id: T0000001, merchant: '898100000000001', tmk: 0123456789ABCDEF}]\n\
    cards: [{pan: '6222020000000001', balance_fen: 100000}]\n";
