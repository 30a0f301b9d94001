//! Stories of the network, told through frames and events.

use std::collections::BTreeMap;

use super::*;
use crate::actor::{Actor, LinkKeys, Node, TradeKey, Transmit};
use crate::iso8583::cup::CupMessage;
use crate::iso8583::mac::MacKey;
use crate::iso8583::pin::{decrypt_pin, encrypt_pin};
use crate::iso8583::response_code::ResponseCode;
use crate::iso8583::trade::*;
use crate::iso8583::values::*;
use crate::iso8583::Tpdu;
use crate::issuer::{CardAccount, CardStatus, Issuer, IssuerConfig};
use crate::time::Instant;
use crate::wire::{receive, seal};

const PAN_ISSUER_1: &str = "6222991234567890123";
const PAN_ISSUER_2: &str = "6222021234567890123";
const SWITCH_TPDU: Tpdu = Tpdu::new(0x0001, 0x0003);

fn switch_link() -> LinkKeysConfig {
    LinkKeysConfig::from_hex("1111111111111111", "2222222222222222")
}

fn issuer_link(index: u16) -> LinkKeysConfig {
    let digit = char::from(b'2' + index as u8 * 2);
    let other = char::from(b'3' + index as u8 * 2);
    LinkKeysConfig::from_hex(&digit.to_string().repeat(16), &other.to_string().repeat(16))
}

fn config() -> NetworkConfig {
    let mut config = NetworkConfig::new(
        switch_link(),
        vec![
            IssuerLink { index: 1, link: issuer_link(1) },
            IssuerLink { index: 2, link: issuer_link(2) },
        ],
        vec![
            Route { bin_prefix: "6222".into(), issuer: 1 },
            Route { bin_prefix: "622202".into(), issuer: 2 },
        ],
    );
    config.issuer_timeout_ms = 30_000;
    config.reversal_retry_interval_ms = 10_000;
    config
}

fn sale_on(pan: &str, stan: u32, fen: u64) -> FinancialRequest {
    FinancialRequest {
        trade: Trade::Sale { amount: AmountFen::new(fen).unwrap() },
        card: CardRead::swiped(Pan::new(pan).unwrap()),
        pin_block: None,
        stan: Stan::new(stan).unwrap(),
        batch: BatchNo::new(1).unwrap(),
        terminal: TerminalId::new("T0000001").unwrap(),
        merchant: MerchantId::new("M00000000000001").unwrap(),
    }
}

fn sale(stan: u32) -> FinancialRequest {
    sale_on(PAN_ISSUER_2, stan, 1_000)
}

struct Rig {
    network: Network,
    switch: LinkKeys,
    issuers: BTreeMap<u16, LinkKeys>,
    now: Instant,
}

impl Rig {
    fn new() -> Rig {
        Rig::with(|_| {})
    }

    fn with(adjust: impl FnOnce(&mut NetworkConfig)) -> Rig {
        let mut config = config();
        adjust(&mut config);
        let issuers = config.issuers.iter().map(|i| (i.index, i.link.link_keys())).collect();
        Rig {
            switch: config.switch_link.link_keys(),
            issuers,
            network: Network::new(config).unwrap(),
            now: Instant::ZERO,
        }
    }

    fn mak(&self, node: Node) -> MacKey {
        match node {
            Node::Switch => self.switch.mac_key(),
            Node::Issuer(index) => self.issuers[&index].mac_key(),
            other => panic!("no link with {other}"),
        }
    }

    fn deliver_from_switch(&mut self, message: CupMessage) -> Vec<Transmit> {
        let bytes = seal(&message, SWITCH_TPDU, Some(&self.switch.mac_key()));
        self.network.handle_message(self.now, Node::Switch, &bytes);
        self.drain()
    }

    fn request(&mut self, request: &FinancialRequest) -> Vec<Transmit> {
        self.deliver_from_switch(CupMessage::Trade(request.clone()))
    }

    fn reversal(&mut self, original: &FinancialRequest) -> Vec<Transmit> {
        self.deliver_from_switch(CupMessage::Reversal(ReversalRequest::new(
            original,
            ResponseCode::ISSUER_TIMEOUT,
        )))
    }

    fn deliver_from_issuer(&mut self, index: u16, response: TradeResponse) -> Vec<Transmit> {
        let bytes = seal(
            &CupMessage::TradeAnswer(response),
            Tpdu::new(1, 2),
            Some(&self.mak(Node::Issuer(index))),
        );
        self.network.handle_message(self.now, Node::Issuer(index), &bytes);
        self.drain()
    }

    fn answer(
        &mut self,
        index: u16,
        request: &FinancialRequest,
        code: ResponseCode,
    ) -> Vec<Transmit> {
        let response = TradeResponse::answering(
            request,
            code,
            TimeOfDay::new(0, 0, 1).unwrap(),
            MonthDay::new(11, 21).unwrap(),
        );
        self.deliver_from_issuer(index, response)
    }

    fn answer_reversal(
        &mut self,
        index: u16,
        original: &FinancialRequest,
        code: ResponseCode,
    ) -> Vec<Transmit> {
        let reversal = ReversalRequest::new(original, ResponseCode::ISSUER_TIMEOUT);
        let response = TradeResponse::answering_reversal(
            &reversal,
            code,
            TimeOfDay::new(0, 0, 1).unwrap(),
            MonthDay::new(11, 21).unwrap(),
        );
        self.deliver_from_issuer(index, response)
    }

    /// Runs the clock to `ms` through every deadline on the way.
    fn advance_to(&mut self, ms: u64) -> Vec<Transmit> {
        let target = Instant::from_millis(ms);
        let mut out = Vec::new();
        while let Some(deadline) = self.network.poll_timeout().filter(|d| *d <= target) {
            assert!(deadline >= self.now, "deadlines never lie in the past");
            self.now = deadline;
            self.network.handle_timeout(deadline);
            out.extend(self.drain());
        }
        self.now = target;
        out
    }

    fn drain(&mut self) -> Vec<Transmit> {
        std::iter::from_fn(|| self.network.poll_transmit()).collect()
    }

    fn events(&mut self) -> Vec<NetworkEventKind> {
        std::iter::from_fn(|| self.network.poll_event()).map(|event| event.kind).collect()
    }

    /// Decodes a frame the network sent, checking its MAC under the link it went on.
    fn open(&self, transmit: &Transmit) -> CupMessage {
        let inbound = receive(&transmit.bytes, Some(&self.mak(transmit.to)))
            .expect("the network's frames decode");
        assert!(inbound.mac.is_valid(), "sealed under the MAK of the link to {}", transmit.to);
        if transmit.to == Node::Switch {
            assert_eq!(
                inbound.frame.tpdu,
                SWITCH_TPDU.reply(),
                "answers to the switch swap its TPDU"
            );
        }
        inbound.message
    }

    fn switch_code(&self, transmit: &Transmit) -> (ResponseCode, bool) {
        assert_eq!(transmit.to, Node::Switch);
        match self.open(transmit) {
            CupMessage::TradeAnswer(response) => (response.response_code, response.reversal),
            other => panic!("not an answer: {other:?}"),
        }
    }
}

fn is_reversal_of(message: &CupMessage, original: &FinancialRequest, reason: ResponseCode) -> bool {
    matches!(message, CupMessage::Reversal(r) if TradeKey::of(r.original()) == TradeKey::of(original) && r.reason == reason)
}

#[test]
fn routes_by_the_longest_bin_prefix() {
    let mut rig = Rig::new();
    let to_2 = rig.request(&sale_on(PAN_ISSUER_2, 1, 100));
    let to_1 = rig.request(&sale_on(PAN_ISSUER_1, 2, 100));
    assert_eq!(
        to_2.iter().map(|t| t.to).collect::<Vec<_>>(),
        [Node::Issuer(2)],
        "622202 beats 6222"
    );
    assert_eq!(to_1.iter().map(|t| t.to).collect::<Vec<_>>(), [Node::Issuer(1)]);
    assert_eq!(
        rig.open(&to_2[0]),
        CupMessage::Trade(sale_on(PAN_ISSUER_2, 1, 100)),
        "forwarded unchanged"
    );
    let events = rig.events();
    assert!(events.contains(&NetworkEventKind::Routed {
        key: TradeKey::of(&sale(1)),
        kind: TradeKind::Sale,
        issuer: 2
    }));
}

#[test]
fn an_unknown_bin_is_answered_15_and_nothing_is_forwarded() {
    let mut rig = Rig::new();
    let out = rig.request(&sale_on("4111111111111111", 1, 100));
    assert_eq!(out.len(), 1);
    assert_eq!(rig.switch_code(&out[0]), (ResponseCode::NO_SUCH_ISSUER, false));
    let events = rig.events();
    assert!(matches!(
        events[..],
        [NetworkEventKind::AnsweredOnBehalf { code: ResponseCode::NO_SUCH_ISSUER, .. }]
    ));
    // Its reversal ends with 25: nobody could have debited.
    let out = rig.reversal(&sale_on("4111111111111111", 1, 100));
    assert_eq!(rig.switch_code(&out[0]), (ResponseCode::ORIGINAL_NOT_FOUND, true));
}

#[test]
fn an_approval_is_relayed_to_the_switch_under_its_own_mac() {
    let mut rig = Rig::new();
    rig.request(&sale(1));
    let out = rig.answer(2, &sale(1), ResponseCode::APPROVED);
    assert_eq!(out.len(), 1);
    assert_eq!(rig.switch_code(&out[0]), (ResponseCode::APPROVED, false));
    assert_eq!(rig.network.pending_count(), 0);
    assert_eq!(rig.network.poll_timeout(), None, "nothing left to wait for");
    assert!(rig.events().iter().any(|e| matches!(
        e,
        NetworkEventKind::AnswerRelayed { code: ResponseCode::APPROVED, issuer: 2, .. }
    )));
}

#[test]
fn cutoff_answers_90_then_trades_flow_again_after_cutoff_end() {
    let mut rig = Rig::new();
    rig.request(&sale(1));
    rig.answer(2, &sale(1), ResponseCode::APPROVED);
    rig.network.handle_command(rig.now, NetworkCommand::CutoffStart);
    let out = rig.request(&sale(2));
    assert_eq!(rig.switch_code(&out[0]), (ResponseCode::CUTOFF_IN_PROGRESS, false));
    assert_eq!(out.len(), 1, "nothing went to the issuer");
    let out = rig.reversal(&sale(1));
    assert_eq!(
        out.iter().map(|t| t.to).collect::<Vec<_>>(),
        [Node::Issuer(2)],
        "reversals still pass"
    );
    rig.network.handle_command(rig.now, NetworkCommand::CutoffEnd);
    let out = rig.request(&sale(3));
    assert_eq!(out[0].to, Node::Issuer(2));
    let events = rig.events();
    assert!(
        events.contains(&NetworkEventKind::CutoffStarted)
            && events.contains(&NetworkEventKind::CutoffEnded)
    );
}

#[test]
fn a_down_issuer_is_answered_91_and_its_reversals_wait_in_custody() {
    let mut rig = Rig::new();
    rig.network.handle_command(rig.now, NetworkCommand::IssuerDown(2));
    let out = rig.request(&sale(1));
    assert_eq!(rig.switch_code(&out[0]), (ResponseCode::ISSUER_INOPERATIVE, false));
    let other = rig.request(&sale_on(PAN_ISSUER_1, 2, 100));
    assert_eq!(other[0].to, Node::Issuer(1), "only issuer 2 is down");

    let out = rig.reversal(&sale(5));
    assert_eq!(out.len(), 1);
    assert_eq!(
        rig.switch_code(&out[0]),
        (ResponseCode::APPROVED, true),
        "in the network's custody: done for the acquirer"
    );
    assert_eq!(rig.network.custody_count(), 1);
    assert!(rig.advance_to(25_000).is_empty(), "no sends to a down issuer");
    rig.network.handle_command(rig.now, NetworkCommand::IssuerUp(2));
    let out = rig.drain();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].to, Node::Issuer(2));
    assert!(is_reversal_of(&rig.open(&out[0]), &sale(5), ResponseCode::ISSUER_TIMEOUT));
    rig.answer_reversal(2, &sale(5), ResponseCode::ORIGINAL_NOT_FOUND);
    assert_eq!(rig.network.custody_count(), 0);
}

#[test]
fn a_silent_issuer_gets_98_to_the_switch_and_a_reversal_retried_until_acknowledged() {
    let mut rig = Rig::new();
    rig.request(&sale(1));
    rig.events();
    assert!(rig.advance_to(29_999).is_empty());
    let out = rig.advance_to(30_000);
    assert_eq!(out.len(), 2);
    assert_eq!(rig.switch_code(&out[0]), (ResponseCode::ISSUER_TIMEOUT, false));
    assert_eq!(out[1].to, Node::Issuer(2));
    assert!(is_reversal_of(&rig.open(&out[1]), &sale(1), ResponseCode::ISSUER_TIMEOUT));
    let key = TradeKey::of(&sale(1));
    let events = rig.events();
    assert_eq!(
        events,
        [
            NetworkEventKind::IssuerTimeout { key, issuer: 2 },
            NetworkEventKind::AnsweredOnBehalf {
                key,
                kind: TradeKind::Sale,
                code: ResponseCode::ISSUER_TIMEOUT,
                reversal: false
            },
            NetworkEventKind::ReversalQueued {
                key,
                issuer: 2,
                origin: ReversalOrigin::IssuerTimeout
            },
            NetworkEventKind::ReversalSent { key, issuer: 2, attempt: 1 },
        ]
    );
    // Still silent: sent again every 10 s.
    let retries = rig.advance_to(50_000);
    assert_eq!(retries.len(), 2);
    assert!(retries.iter().all(|t| t.to == Node::Issuer(2)
        && is_reversal_of(&rig.open(t), &sale(1), ResponseCode::ISSUER_TIMEOUT)));
    rig.events();
    // A refusal keeps it going; 00 ends it.
    rig.answer_reversal(2, &sale(1), ResponseCode::SYSTEM_MALFUNCTION);
    assert_eq!(rig.network.custody_count(), 1);
    let out = rig.answer_reversal(2, &sale(1), ResponseCode::APPROVED);
    assert!(out.is_empty(), "the switch already has its 98");
    assert_eq!(rig.network.custody_count(), 0);
    assert_eq!(rig.network.poll_timeout(), None);
    let events = rig.events();
    assert_eq!(
        events,
        [
            NetworkEventKind::ReversalRefused {
                key,
                issuer: 2,
                code: ResponseCode::SYSTEM_MALFUNCTION
            },
            NetworkEventKind::ReversalAcknowledged { key, issuer: 2, code: ResponseCode::APPROVED },
        ]
    );
}

#[test]
fn a_late_approval_after_98_is_dropped_and_the_reversal_still_goes() {
    let mut rig = Rig::new();
    rig.request(&sale(1));
    rig.advance_to(30_000);
    rig.events();
    let out = rig.answer(2, &sale(1), ResponseCode::APPROVED);
    assert!(out.is_empty(), "never relayed as an approval");
    let key = TradeKey::of(&sale(1));
    assert_eq!(
        rig.events(),
        [NetworkEventKind::LateAnswerDropped { key, issuer: 2, code: ResponseCode::APPROVED }]
    );
    let out = rig.advance_to(40_000);
    assert_eq!(out.len(), 1);
    assert!(is_reversal_of(&rig.open(&out[0]), &sale(1), ResponseCode::ISSUER_TIMEOUT));
    rig.answer_reversal(2, &sale(1), ResponseCode::APPROVED);
    rig.network.handle_command(rig.now, NetworkCommand::Clear);
    let lists: Vec<_> = rig
        .events()
        .into_iter()
        .filter(|e| matches!(e, NetworkEventKind::ClearingList { .. }))
        .collect();
    assert_eq!(
        lists[1],
        NetworkEventKind::ClearingList { issuer: 2, keys: vec![] },
        "reversed, so not complete"
    );
}

#[test]
fn a_bad_mac_from_the_switch_is_answered_a0_and_nothing_is_forwarded() {
    let mut rig = Rig::new();
    let mut bytes = seal(&CupMessage::Trade(sale(1)), SWITCH_TPDU, Some(&rig.switch.mac_key()));
    let last = bytes.len() - 1;
    bytes[last] ^= 0x20;
    rig.network.handle_message(rig.now, Node::Switch, &bytes);
    let out = rig.drain();
    assert_eq!(out.len(), 1);
    assert_eq!(rig.switch_code(&out[0]), (ResponseCode::MAC_ERROR, false));
    assert_eq!(
        rig.events(),
        [NetworkEventKind::MacRejected { from: Node::Switch, key: Some(TradeKey::of(&sale(1))) }]
    );
    assert_eq!(rig.network.pending_count(), 0);
    // Sealed under the issuer's key instead of the switch's: same verdict.
    let wrong_key = seal(&CupMessage::Trade(sale(2)), SWITCH_TPDU, Some(&rig.mak(Node::Issuer(2))));
    rig.network.handle_message(rig.now, Node::Switch, &wrong_key);
    let out = rig.drain();
    assert_eq!(rig.switch_code(&out[0]), (ResponseCode::MAC_ERROR, false));
}

#[test]
fn an_issuer_answer_with_a_bad_mac_counts_as_no_answer() {
    let mut rig = Rig::new();
    rig.request(&sale(1));
    let response = TradeResponse::answering(
        &sale(1),
        ResponseCode::APPROVED,
        TimeOfDay::new(0, 0, 1).unwrap(),
        MonthDay::new(11, 21).unwrap(),
    );
    let forged =
        seal(&CupMessage::TradeAnswer(response), Tpdu::new(1, 2), Some(&rig.switch.mac_key()));
    rig.network.handle_message(rig.now, Node::Issuer(2), &forged);
    assert!(rig.drain().is_empty());
    let out = rig.advance_to(30_000);
    assert_eq!(rig.switch_code(&out[0]), (ResponseCode::ISSUER_TIMEOUT, false));
    assert!(is_reversal_of(&rig.open(&out[1]), &sale(1), ResponseCode::ISSUER_TIMEOUT));
}

#[test]
fn the_pin_block_is_translated_so_the_issuer_can_decrypt_it() {
    let mut rig = Rig::new();
    let pan = Pan::new(PAN_ISSUER_2).unwrap();
    let mut request = sale(1);
    request.pin_block = Some(encrypt_pin(&rig.switch.pik, &pan, "246810").unwrap());
    request.card.entry_mode = EntryMode::SWIPED_PIN;
    let out = rig.request(&request);
    let CupMessage::Trade(forwarded) = rig.open(&out[0]) else {
        panic!("a trade goes to the issuer")
    };
    let block = forwarded.pin_block.expect("the PIN travels on");
    assert_ne!(Some(block), request.pin_block, "re-encrypted for the next link");
    assert_eq!(decrypt_pin(&rig.issuers[&2].pik, &pan, &block).unwrap(), "246810");

    // The whole path with a real issuer: it checks the PIN and approves.
    let mut issuer_config = IssuerConfig::new(2, issuer_link(2));
    issuer_config.cards.push(CardAccount {
        pan,
        balance_fen: 5_000,
        pin: "246810".into(),
        offline_balance_fen: 0,
        status: CardStatus::Active,
        expiry: None,
    });
    let mut issuer = Issuer::new(issuer_config).unwrap();
    issuer.handle_message(rig.now, Node::Network, &out[0].bytes);
    let answer = issuer.poll_transmit().unwrap();
    rig.network.handle_message(rig.now, Node::Issuer(2), &answer.bytes);
    let relayed = rig.drain();
    assert_eq!(rig.switch_code(&relayed[0]), (ResponseCode::APPROVED, false));
    assert_eq!(issuer.card(&pan).unwrap().balance_fen, 4_000);
}

#[test]
fn an_untranslatable_pin_is_99_and_the_same_trade_in_flight_is_94() {
    let mut rig = Rig::new();
    let mut garbled = sale(1);
    garbled.pin_block = Some([0xAB; 8]);
    let out = rig.request(&garbled);
    assert_eq!(rig.switch_code(&out[0]), (ResponseCode::PIN_FORMAT_ERROR, false));
    rig.request(&sale(2));
    let out = rig.request(&sale(2));
    assert_eq!(out.len(), 1);
    assert_eq!(
        rig.switch_code(&out[0]),
        (ResponseCode::DUPLICATE, false),
        "the first copy is still at the issuer"
    );
}

#[test]
fn a_switch_reversal_relays_the_issuer_answer_or_00_when_the_issuer_is_slow() {
    let mut rig = Rig::new();
    let out = rig.reversal(&sale(1));
    assert!(is_reversal_of(&rig.open(&out[0]), &sale(1), ResponseCode::ISSUER_TIMEOUT));
    let out = rig.answer_reversal(2, &sale(1), ResponseCode::ORIGINAL_NOT_FOUND);
    assert_eq!(rig.switch_code(&out[0]), (ResponseCode::ORIGINAL_NOT_FOUND, true));

    rig.reversal(&sale(2));
    let again = rig.reversal(&sale(2));
    assert_eq!(
        rig.switch_code(&again[0]),
        (ResponseCode::APPROVED, true),
        "already in custody: not sent twice"
    );
    let out = rig.advance_to(30_000);
    let to_switch: Vec<_> = out.iter().filter(|t| t.to == Node::Switch).collect();
    assert_eq!(to_switch.len(), 1);
    assert_eq!(rig.switch_code(to_switch[0]), (ResponseCode::APPROVED, true));
    assert_eq!(rig.network.custody_count(), 1, "and the network keeps trying");
}

#[test]
fn a_reversal_is_abandoned_after_reversal_tries_max_sends() {
    let mut rig = Rig::with(|config| config.reversal_tries_max = 3);
    rig.request(&sale(1));
    let out = rig.advance_to(100_000);
    assert_eq!(out.iter().filter(|t| t.to == Node::Issuer(2)).count(), 3);
    let key = TradeKey::of(&sale(1));
    assert!(rig.events().contains(&NetworkEventKind::ReversalAbandoned {
        key,
        issuer: 2,
        tries: 3
    }));
    assert_eq!(rig.network.custody_count(), 0);
    assert_eq!(rig.network.poll_timeout(), None);
}

#[test]
fn clearing_lists_only_approved_and_not_reversed_trades() {
    let mut rig = Rig::new();
    let approved = sale(1);
    let declined = sale(2);
    let reversed = sale(3);
    let timed_out = sale(4);
    let other_issuer = sale_on(PAN_ISSUER_1, 5, 100);
    for request in [&approved, &declined, &reversed, &timed_out, &other_issuer] {
        rig.request(request);
    }
    rig.answer(2, &approved, ResponseCode::APPROVED);
    rig.answer(2, &declined, ResponseCode::INSUFFICIENT_FUNDS);
    rig.answer(2, &reversed, ResponseCode::APPROVED);
    rig.answer(1, &other_issuer, ResponseCode::APPROVED);
    rig.reversal(&reversed);
    rig.answer_reversal(2, &reversed, ResponseCode::APPROVED);
    rig.advance_to(30_000);
    rig.answer_reversal(2, &timed_out, ResponseCode::ORIGINAL_NOT_FOUND);
    rig.events();
    rig.network.handle_command(rig.now, NetworkCommand::Clear);
    assert_eq!(
        rig.events(),
        [
            NetworkEventKind::ClearingList { issuer: 1, keys: vec![TradeKey::of(&other_issuer)] },
            NetworkEventKind::ClearingList { issuer: 2, keys: vec![TradeKey::of(&approved)] },
        ]
    );
    rig.network.handle_command(rig.now, NetworkCommand::Clear);
    assert_eq!(
        rig.events(),
        [
            NetworkEventKind::ClearingList { issuer: 1, keys: vec![] },
            NetworkEventKind::ClearingList { issuer: 2, keys: vec![] },
        ],
        "each trade is listed on one day only"
    );
}

#[test]
fn garbage_is_dropped_and_an_incomplete_message_from_the_switch_is_answered_30() {
    let mut rig = Rig::new();
    for garbage in [&b""[..], b"\x00\x01\x60", &[0x5A; 40]] {
        rig.network.handle_message(rig.now, Node::Switch, garbage);
        rig.network.handle_message(rig.now, Node::Issuer(2), garbage);
    }
    rig.network.handle_message(rig.now, Node::Issuer(9), &[0; 30]);
    assert!(rig.drain().is_empty());
    assert_eq!(
        rig.events().iter().filter(|e| matches!(e, NetworkEventKind::FrameDropped { .. })).count(),
        7
    );

    let mut message = sale(1).to_message();
    message.remove(4);
    let mut frame = crate::iso8583::Frame {
        tpdu: SWITCH_TPDU,
        header: crate::iso8583::Header::new(1),
        message,
    };
    let mut bytes = Vec::new();
    rig.switch.mac_key().seal(&mut frame, &mut bytes);
    rig.network.handle_message(rig.now, Node::Switch, &bytes);
    let out = rig.drain();
    assert_eq!(out.len(), 1);
    assert_eq!(
        rig.switch_code(&out[0]),
        (ResponseCode::FORMAT_ERROR, false),
        "the answer echoes field 11, 41, 42"
    );
    assert!(rig
        .events()
        .iter()
        .any(|e| matches!(e, NetworkEventKind::FormatRejected { answered: true, .. })));
}

#[test]
fn configuration_is_checked_before_the_network_starts() {
    let bad_route = |config: &mut NetworkConfig| {
        config.routes.push(Route { bin_prefix: "62x".into(), issuer: 1 })
    };
    let nowhere = |config: &mut NetworkConfig| {
        config.routes.push(Route { bin_prefix: "9".into(), issuer: 7 })
    };
    for (adjust, expected) in [
        (bad_route as fn(&mut NetworkConfig), "bin prefix \"62x\" is not 1 to 12 digits"),
        (nowhere, "bin prefix \"9\" routes to issuer 7, which has no link"),
    ] {
        let mut config = config();
        adjust(&mut config);
        assert_eq!(Network::new(config).unwrap_err().to_string(), expected);
    }
    let mut config = config();
    config.store_forward_max = 1_000_000;
    assert!(matches!(
        Network::new(config).unwrap_err(),
        NetworkConfigError::TooSmall { name: "transmits_max", .. }
    ));
}

#[test]
fn a_copy_of_a_trade_being_reversed_is_94_and_never_overtakes_its_reversal() {
    let mut rig = Rig::new();
    rig.request(&sale(1));
    rig.advance_to(30_000);
    assert_eq!(rig.network.custody_count(), 1);
    let out = rig.request(&sale(1));
    assert_eq!(out.len(), 1, "nothing goes to the issuer ahead of the reversal");
    assert_eq!(rig.switch_code(&out[0]), (ResponseCode::DUPLICATE, false));
}

#[test]
fn an_upload_timed_out_is_not_reversed_and_a_late_approval_counts_at_clearing() {
    let mut rig = Rig::new();
    let upload = FinancialRequest {
        trade: Trade::OfflineSale {
            amount: AmountFen::new(700).unwrap(),
            time: TimeOfDay::new(9, 0, 0).unwrap(),
            date: MonthDay::new(11, 21).unwrap(),
        },
        ..sale(1)
    };
    rig.request(&upload);
    let out = rig.advance_to(30_000);
    assert_eq!(out.len(), 1, "an upload has no reversal");
    assert_eq!(rig.switch_code(&out[0]), (ResponseCode::ISSUER_TIMEOUT, false));
    assert!(rig.answer(2, &upload, ResponseCode::APPROVED).is_empty(), "late: dropped");
    rig.events();
    rig.network.handle_command(rig.now, NetworkCommand::Clear);
    assert!(
        rig.events().contains(&NetworkEventKind::ClearingList {
            issuer: 2,
            keys: vec![TradeKey::of(&upload)]
        }),
        "nothing will take it back, so the issuer holds it"
    );
}

/// A copy of a refund advice that reaches the network while the first copy
/// is still at the issuer is dropped, not answered 94: 94 to an advice reads
/// as "taken" downstream, and the issuer may yet refuse the first copy. The
/// first copy's answer, refusal included, is what the switch gets.
#[test]
fn a_copy_of_a_refund_still_at_the_issuer_is_dropped_and_the_first_answer_serves() {
    let mut rig = Rig::new();
    let refund = FinancialRequest {
        trade: Trade::Refund {
            amount: AmountFen::new(1_000).unwrap(),
            original_rrn: Rrn::new("000000000001").unwrap(),
            original_date: MonthDay::new(11, 20).unwrap(),
        },
        ..sale(7)
    };
    assert_eq!(rig.request(&refund).len(), 1, "to the issuer");
    assert!(rig.request(&refund).is_empty(), "the copy: nothing sent, no 94");
    let out = rig.answer(2, &refund, ResponseCode::ORIGINAL_NOT_FOUND);
    assert_eq!(rig.switch_code(&out[0]), (ResponseCode::ORIGINAL_NOT_FOUND, false));
    assert_eq!(rig.network.custody_count(), 0, "a refund is never reversed");
}
