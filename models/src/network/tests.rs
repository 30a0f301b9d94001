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
use crate::issuer::{CardAccount, CardStatus, Issuer, IssuerCommand, IssuerConfig};
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
            network: Network::new(config, Instant::ZERO).unwrap(),
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
    let mut issuer = Issuer::new(issuer_config, Instant::ZERO).unwrap();
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
fn clearing_lists_only_what_the_acquirer_filed_so_an_approval_its_terminal_never_settled_goes_back()
{
    let mut rig = Rig::new();
    let settled = sale(1);
    let never_settled = sale(2);
    for request in [&settled, &never_settled] {
        rig.request(request);
        rig.answer(2, request, ResponseCode::APPROVED);
    }
    rig.events();
    // The acquirer's file also names a trade the network never saw (an
    // offline upload lost on the way): it is counted, and listed nowhere.
    let unseen = TradeKey::of(&sale(3));
    let keys = vec![TradeKey::of(&settled), unseen];
    rig.network.handle_command(rig.now, NetworkCommand::FileClearing { keys });
    rig.network.handle_command(rig.now, NetworkCommand::Clear);
    assert_eq!(
        rig.events(),
        [
            NetworkEventKind::ClearingFiled { trades: 2, held: 1 },
            NetworkEventKind::ClearingList { issuer: 1, keys: vec![] },
            NetworkEventKind::ClearingList { issuer: 2, keys: vec![TradeKey::of(&settled)] },
        ]
    );
    // The file serves one clearing: the unfiled approval is not listed on a
    // later day either (its money went back at this one).
    rig.network.handle_command(rig.now, NetworkCommand::Clear);
    assert_eq!(
        rig.events(),
        [
            NetworkEventKind::ClearingList { issuer: 1, keys: vec![] },
            NetworkEventKind::ClearingList { issuer: 2, keys: vec![] },
        ]
    );
}

#[test]
fn a_clearing_file_past_its_bound_is_refused_whole() {
    let mut rig = Rig::with(|config| config.clearing_file_max = 3);
    let max = rig.network.config().clearing_file_max;
    let keys = (1..=max as u32 + 1).map(|stan| TradeKey::of(&sale(stan % 999_999 + 1))).collect();
    rig.network.handle_command(rig.now, NetworkCommand::FileClearing { keys });
    let events = rig.events();
    assert!(
        matches!(
            &events[..],
            [NetworkEventKind::CommandRefused {
                reason: crate::network::NetworkCommandRefusal::ClearingFileTooLarge { .. }
            }]
        ),
        "{events:?}"
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
        assert_eq!(Network::new(config, Instant::ZERO).unwrap_err().to_string(), expected);
    }
    let mut config = config();
    config.store_forward_max = 1_000_000;
    assert!(matches!(
        Network::new(config, Instant::ZERO).unwrap_err(),
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

// ---- the pre-authorisation family ---------------------------------------------------

/// The five kinds of the family, in the order a merchant meets them.
const PRE_AUTH_FAMILY: [TradeKind; 5] = [
    TradeKind::PreAuth,
    TradeKind::PreAuthCancel,
    TradeKind::Completion,
    TradeKind::CompletionVoid,
    TradeKind::CompletionAdvice,
];

/// A trade of the family on issuer 2's card: the cancel, the completion and
/// its advice name their pre-auth by `auth` and `date`, the completion void
/// its completion by `rrn` and the STAN before its own (1 for the first).
fn pre_auth_kind_with(
    kind: TradeKind,
    stan: u32,
    fen: u64,
    auth: AuthCode,
    date: MonthDay,
    rrn: Rrn,
) -> FinancialRequest {
    let amount = AmountFen::new(fen).unwrap();
    let (original_auth, original_date) = (auth, date);
    let trade = match kind {
        TradeKind::PreAuth => Trade::PreAuth { amount },
        TradeKind::PreAuthCancel => Trade::PreAuthCancel { amount, original_auth, original_date },
        TradeKind::Completion => Trade::Completion { amount, original_auth, original_date },
        TradeKind::CompletionVoid => Trade::void_of(
            true,
            amount,
            rrn,
            Some(original_auth),
            BatchNo::new(1).unwrap(),
            Stan::new(stan.max(2) - 1).unwrap(),
        ),
        TradeKind::CompletionAdvice => {
            Trade::CompletionAdvice { amount, original_auth, original_date }
        }
        other => panic!("{} is not of the pre-auth family", other.label()),
    };
    FinancialRequest { trade, ..sale_on(PAN_ISSUER_2, stan, fen) }
}

fn pre_auth_kind(kind: TradeKind, stan: u32) -> FinancialRequest {
    pre_auth_kind_with(
        kind,
        stan,
        10_000,
        AuthCode::new("A00001").unwrap(),
        MonthDay::new(11, 21).unwrap(),
        Rrn::new("020000000001").unwrap(),
    )
}

/// The kind, code and reversal flag of an answer the network sent the switch.
fn switch_answer(rig: &Rig, transmit: &Transmit) -> (TradeKind, ResponseCode, bool) {
    assert_eq!(transmit.to, Node::Switch);
    match rig.open(transmit) {
        CupMessage::TradeAnswer(response) => {
            (response.kind, response.response_code, response.reversal)
        }
        other => panic!("not an answer: {other:?}"),
    }
}

fn clearing_lists(events: Vec<NetworkEventKind>) -> Vec<NetworkEventKind> {
    events.into_iter().filter(|e| matches!(e, NetworkEventKind::ClearingList { .. })).collect()
}

/// Each kind of the family goes to the issuer its card's BIN names, as the
/// switch sent it, and the issuer's answer is relayed as that kind.
#[test]
fn each_pre_auth_kind_is_routed_to_its_cards_issuer_and_the_answer_relayed_as_that_kind() {
    let mut rig = Rig::new();
    for (index, kind) in PRE_AUTH_FAMILY.into_iter().enumerate() {
        let request = pre_auth_kind(kind, 1 + index as u32);
        let key = TradeKey::of(&request);
        let out = rig.request(&request);
        assert_eq!(out.iter().map(|t| t.to).collect::<Vec<_>>(), [Node::Issuer(2)]);
        assert_eq!(rig.open(&out[0]), CupMessage::Trade(request.clone()), "{}", kind.label());
        assert_eq!(rig.events(), [NetworkEventKind::Routed { key, kind, issuer: 2 }]);
        let out = rig.answer(2, &request, ResponseCode::APPROVED);
        assert_eq!(out.len(), 1);
        assert_eq!(switch_answer(&rig, &out[0]), (kind, ResponseCode::APPROVED, false));
        assert_eq!(
            rig.events(),
            [NetworkEventKind::AnswerRelayed {
                key,
                kind,
                issuer: 2,
                code: ResponseCode::APPROVED,
                reversal: false
            }]
        );
        assert_eq!(rig.network.pending_count(), 0, "{}", kind.label());
    }
}

/// Where the network answers a sale itself it answers each kind of the
/// family the same way, with that kind's answer: 90 in the date cutoff, 91
/// for an issuer marked down, 15 for a card no issuer holds; nothing goes
/// to an issuer and nothing is put on the clearing list.
#[test]
fn the_network_answers_each_pre_auth_kind_itself_90_in_the_cutoff_91_issuer_down_15_no_route() {
    let mut rig = Rig::new();
    let cases = [
        (NetworkCommand::CutoffStart, NetworkCommand::CutoffEnd, ResponseCode::CUTOFF_IN_PROGRESS),
        (
            NetworkCommand::IssuerDown(2),
            NetworkCommand::IssuerUp(2),
            ResponseCode::ISSUER_INOPERATIVE,
        ),
    ];
    let mut stan = 0;
    for (start, end, code) in cases {
        rig.network.handle_command(rig.now, start);
        for kind in PRE_AUTH_FAMILY {
            stan += 1;
            let request = pre_auth_kind(kind, stan);
            let out = rig.request(&request);
            assert_eq!(out.len(), 1, "{}: nothing to the issuer", kind.label());
            assert_eq!(switch_answer(&rig, &out[0]), (kind, code, false));
        }
        rig.network.handle_command(rig.now, end);
    }
    for kind in PRE_AUTH_FAMILY {
        stan += 1;
        let request = FinancialRequest {
            card: CardRead::swiped(Pan::new("4111111111111111").unwrap()),
            ..pre_auth_kind(kind, stan)
        };
        let out = rig.request(&request);
        assert_eq!(out.len(), 1);
        assert_eq!(switch_answer(&rig, &out[0]), (kind, ResponseCode::NO_SUCH_ISSUER, false));
    }
    let on_behalf = rig
        .events()
        .into_iter()
        .filter(|e| matches!(e, NetworkEventKind::AnsweredOnBehalf { reversal: false, .. }))
        .count();
    assert_eq!(on_behalf, 15);
    assert_eq!(rig.network.pending_count(), 0);
    rig.network.handle_command(rig.now, NetworkCommand::Clear);
    assert_eq!(
        clearing_lists(rig.events()),
        [
            NetworkEventKind::ClearingList { issuer: 1, keys: vec![] },
            NetworkEventKind::ClearingList { issuer: 2, keys: vec![] },
        ]
    );
}

/// A copy of a reversible kind still at the issuer is answered 94, as a
/// sale's; a copy of a completion advice is dropped, as a refund's: 94 to
/// an advice reads as "taken", and the issuer may yet refuse the first.
#[test]
fn a_copy_of_a_reversible_pre_auth_kind_still_at_the_issuer_is_94_and_a_completion_advice_copy_is_dropped(
) {
    let mut rig = Rig::new();
    for (index, kind) in PRE_AUTH_FAMILY.into_iter().enumerate() {
        let request = pre_auth_kind(kind, 1 + index as u32);
        assert_eq!(rig.request(&request).len(), 1, "{}: to the issuer", kind.label());
        rig.events();
        let copy = rig.request(&request);
        if kind.is_reversible() {
            assert_eq!(copy.len(), 1, "{}", kind.label());
            assert_eq!(switch_answer(&rig, &copy[0]), (kind, ResponseCode::DUPLICATE, false));
        } else {
            assert!(copy.is_empty(), "{}: nothing sent, no 94", kind.label());
            assert!(matches!(
                rig.events()[..],
                [NetworkEventKind::FrameDropped { from: Node::Switch, .. }]
            ));
        }
        let out = rig.answer(2, &request, ResponseCode::ORIGINAL_NOT_FOUND);
        assert_eq!(
            switch_answer(&rig, &out[0]),
            (kind, ResponseCode::ORIGINAL_NOT_FOUND, false),
            "the first copy's answer serves"
        );
    }
}

/// The issuer silent: a pre-auth, a cancel, a completion and a completion
/// void get 98 and the network's own reversal, kept in custody and retried
/// until acknowledged; a late approval is dropped and none is cleared. A
/// completion advice gets 98 and no reversal, and its late approval is
/// cleared (nothing will take it back).
#[test]
fn each_reversible_pre_auth_kind_the_issuer_leaves_unanswered_gets_98_and_its_reversal_in_custody()
{
    for kind in PRE_AUTH_FAMILY {
        let mut rig = Rig::new();
        let request = pre_auth_kind(kind, 1);
        let key = TradeKey::of(&request);
        rig.request(&request);
        rig.events();
        let out = rig.advance_to(30_000);
        assert_eq!(switch_answer(&rig, &out[0]), (kind, ResponseCode::ISSUER_TIMEOUT, false));
        if kind.is_reversible() {
            assert_eq!(out.len(), 2, "{}: the 98 and the reversal", kind.label());
            assert_eq!(out[1].to, Node::Issuer(2));
            let CupMessage::Reversal(reversal) = rig.open(&out[1]) else { panic!("a reversal") };
            assert_eq!(reversal, ReversalRequest::new(&request, ResponseCode::ISSUER_TIMEOUT));
            assert_eq!(reversal.original().kind(), kind);
            assert!(rig.events().contains(&NetworkEventKind::ReversalQueued {
                key,
                issuer: 2,
                origin: ReversalOrigin::IssuerTimeout
            }));
            assert_eq!(rig.network.custody_count(), 1);
        } else {
            assert_eq!(out.len(), 1, "{}: never reversed", kind.label());
            assert_eq!(rig.network.custody_count(), 0);
        }
        assert!(rig.answer(2, &request, ResponseCode::APPROVED).is_empty(), "late: dropped");
        if kind.is_reversible() {
            let retry = rig.advance_to(40_000);
            assert!(is_reversal_of(&rig.open(&retry[0]), &request, ResponseCode::ISSUER_TIMEOUT));
            rig.answer_reversal(2, &request, ResponseCode::APPROVED);
            assert_eq!(rig.network.custody_count(), 0, "{}", kind.label());
        }
        rig.events();
        rig.network.handle_command(rig.now, NetworkCommand::Clear);
        let expected = if kind.is_reversible() { vec![] } else { vec![key] };
        assert_eq!(
            clearing_lists(rig.events())[1],
            NetworkEventKind::ClearingList { issuer: 2, keys: expected },
            "{}",
            kind.label()
        );
    }
}

/// The switch's reversal of an approved pre-auth, cancel, completion or
/// completion void is forwarded at once and taken in custody like a
/// sale's: with the issuer slow the switch gets 00 at the issuer timeout,
/// the network keeps trying, and the reversed trade is off the clearing list.
#[test]
fn a_switch_reversal_of_each_reversible_pre_auth_kind_is_kept_in_custody_until_the_issuer_takes_it()
{
    for kind in PRE_AUTH_FAMILY.into_iter().filter(|kind| kind.is_reversible()) {
        let mut rig = Rig::new();
        let request = pre_auth_kind(kind, 1);
        let key = TradeKey::of(&request);
        rig.request(&request);
        rig.answer(2, &request, ResponseCode::APPROVED);
        rig.events();
        let out = rig.reversal(&request);
        assert_eq!(out.iter().map(|t| t.to).collect::<Vec<_>>(), [Node::Issuer(2)]);
        let CupMessage::Reversal(sent) = rig.open(&out[0]) else { panic!("a reversal") };
        assert_eq!(sent.original().kind(), kind);
        assert!(rig.events().contains(&NetworkEventKind::ReversalQueued {
            key,
            issuer: 2,
            origin: ReversalOrigin::Switch
        }));
        let out = rig.advance_to(30_000);
        let to_switch: Vec<_> = out.iter().filter(|t| t.to == Node::Switch).collect();
        assert_eq!(to_switch.len(), 1, "{}", kind.label());
        assert_eq!(switch_answer(&rig, to_switch[0]), (kind, ResponseCode::APPROVED, true));
        assert!(out.iter().any(|t| t.to == Node::Issuer(2)), "{}: retried", kind.label());
        assert_eq!(rig.network.custody_count(), 1, "{}: still the network's", kind.label());
        rig.answer_reversal(2, &request, ResponseCode::APPROVED);
        assert_eq!(rig.network.custody_count(), 0);
        rig.events();
        rig.network.handle_command(rig.now, NetworkCommand::Clear);
        assert_eq!(
            clearing_lists(rig.events())[1],
            NetworkEventKind::ClearingList { issuer: 2, keys: vec![] },
            "{}: reversed, not complete",
            kind.label()
        );
    }
}

/// A real issuer behind the network, for the end-of-day story.
struct Behind {
    issuer: Issuer,
    events: Vec<crate::issuer::IssuerEventKind>,
}

impl Behind {
    fn new(balance_fen: i64) -> Behind {
        let mut config = IssuerConfig::new(2, issuer_link(2));
        config.cards.push(CardAccount {
            pan: Pan::new(PAN_ISSUER_2).unwrap(),
            balance_fen,
            pin: "246810".into(),
            offline_balance_fen: 0,
            status: CardStatus::Active,
            expiry: None,
        });
        Behind { issuer: Issuer::new(config, Instant::ZERO).unwrap(), events: Vec::new() }
    }

    /// Hands the issuer what the network sent it and the network what the
    /// issuer answered; returns what the network sent the switch.
    fn serve(&mut self, rig: &mut Rig, to_issuer: Vec<Transmit>) -> Vec<Transmit> {
        let mut to_switch = Vec::new();
        for transmit in to_issuer {
            assert_eq!(transmit.to, Node::Issuer(2));
            self.issuer.handle_message(rig.now, Node::Network, &transmit.bytes);
            self.drain_events();
            while let Some(answer) = self.issuer.poll_transmit() {
                rig.network.handle_message(rig.now, Node::Issuer(2), &answer.bytes);
                to_switch.extend(rig.drain());
            }
        }
        to_switch
    }

    fn drain_events(&mut self) {
        self.events.extend(std::iter::from_fn(|| self.issuer.poll_event()).map(|e| e.kind));
    }

    fn ledger(&self) -> (i64, i64) {
        let card = self.issuer.card(&Pan::new(PAN_ISSUER_2).unwrap()).unwrap();
        (card.balance_fen, card.held_fen)
    }
}

/// The end of day of the whole family through the network and a real
/// issuer. The network's clearing list names the trades it considers
/// complete — approved and not reversed, of every kind — so the completion
/// and the completion advice are on it, and a completion reversed by the
/// switch is not. The issuer clears from it only debits (DESIGN.md, the
/// issuer, Clearing: "voids, refunds and holds are not touched"): the
/// completion and the advice are cleared and stand; no pre-auth hold,
/// cancel or completion void is cleared or returned, an open hold stays
/// held, and no money moves at clearing.
#[test]
fn clearing_lists_an_approved_completion_and_the_issuer_clears_only_the_debits_of_the_family() {
    let mut rig = Rig::new();
    let mut behind = Behind::new(100_000);
    let approve = |rig: &mut Rig, behind: &mut Behind, request: &FinancialRequest| {
        let out = rig.request(request);
        let back = behind.serve(rig, out);
        assert_eq!(back.len(), 1);
        match rig.open(&back[0]) {
            CupMessage::TradeAnswer(answer) => {
                assert_eq!(answer.response_code, ResponseCode::APPROVED, "{}", answer.kind.label());
                answer
            }
            other => panic!("not an answer: {other:?}"),
        }
    };
    let none = Rrn::new("000000000000").unwrap();
    let family = |kind, stan, fen, answer: &TradeResponse| {
        pre_auth_kind_with(
            kind,
            stan,
            fen,
            answer.auth_code.expect("an approval carries an auth code"),
            answer.date,
            answer.rrn.unwrap_or(none),
        )
    };
    let pre_auth = |stan, fen| FinancialRequest {
        trade: Trade::PreAuth { amount: AmountFen::new(fen).unwrap() },
        ..sale_on(PAN_ISSUER_2, stan, fen)
    };
    // Held, then captured at 110 %.
    let pre_auth_1 = pre_auth(1, 30_000);
    let held_1 = approve(&mut rig, &mut behind, &pre_auth_1);
    let completion = family(TradeKind::Completion, 2, 33_000, &held_1);
    approve(&mut rig, &mut behind, &completion);
    // Held, then cancelled.
    let pre_auth_3 = pre_auth(3, 20_000);
    let held_3 = approve(&mut rig, &mut behind, &pre_auth_3);
    let cancel = family(TradeKind::PreAuthCancel, 4, 20_000, &held_3);
    approve(&mut rig, &mut behind, &cancel);
    // Held, captured, the capture voided.
    let pre_auth_5 = pre_auth(5, 10_000);
    let held_5 = approve(&mut rig, &mut behind, &pre_auth_5);
    let voided = family(TradeKind::Completion, 6, 10_000, &held_5);
    let captured_6 = approve(&mut rig, &mut behind, &voided);
    let completion_void = family(TradeKind::CompletionVoid, 7, 10_000, &captured_6);
    approve(&mut rig, &mut behind, &completion_void);
    // Held, captured by an advice.
    let pre_auth_8 = pre_auth(8, 5_000);
    let held_8 = approve(&mut rig, &mut behind, &pre_auth_8);
    let advice = family(TradeKind::CompletionAdvice, 9, 4_000, &held_8);
    approve(&mut rig, &mut behind, &advice);
    // Held and left open.
    let open = pre_auth(10, 8_000);
    approve(&mut rig, &mut behind, &open);
    // Held, captured, the capture reversed by the switch: held again.
    let pre_auth_11 = pre_auth(11, 6_000);
    let held_11 = approve(&mut rig, &mut behind, &pre_auth_11);
    let reversed = family(TradeKind::Completion, 12, 6_000, &held_11);
    approve(&mut rig, &mut behind, &reversed);
    let out = rig.reversal(&reversed);
    let back = behind.serve(&mut rig, out);
    assert_eq!(
        switch_answer(&rig, &back[0]),
        (TradeKind::Completion, ResponseCode::APPROVED, true)
    );
    assert_eq!(behind.ledger(), (100_000 - 33_000 - 4_000, 8_000 + 6_000));

    rig.events();
    rig.network.handle_command(rig.now, NetworkCommand::Clear);
    let lists = clearing_lists(rig.events());
    let NetworkEventKind::ClearingList { issuer: 2, keys } = &lists[1] else {
        panic!("issuer 2's list second: {lists:?}")
    };
    let listed: Vec<u32> = keys.iter().map(|key| key.stan.value()).collect();
    assert_eq!(listed, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], "all approved, the reversed 12 not");
    assert!(keys.contains(&TradeKey::of(&completion)) && keys.contains(&TradeKey::of(&advice)));

    behind.events.clear();
    behind.issuer.handle_command(rig.now, IssuerCommand::Reconcile { complete: keys.clone() });
    behind.drain_events();
    let cleared: Vec<u32> = behind
        .events
        .iter()
        .filter_map(|event| match event {
            crate::issuer::IssuerEventKind::Cleared { key } => Some(key.stan.value()),
            _ => None,
        })
        .collect();
    assert_eq!(cleared, [2, 6, 9], "the debits of the family: the completions and the advice");
    assert!(
        !behind.events.iter().any(|e| matches!(
            e,
            crate::issuer::IssuerEventKind::ReturnedAtClearing { .. }
                | crate::issuer::IssuerEventKind::Moved { .. }
        )),
        "no money moves at clearing: {:?}",
        behind.events
    );
    assert_eq!(behind.ledger(), (63_000, 14_000), "the captures stand, the open holds stay held");
}
