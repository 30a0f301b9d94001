//! Stories of the switch, told from the terminal's and the network's side of
//! its two links: frames in, frames and events out.

use std::time::Duration;

use super::*;
use crate::actor::{Actor, Node, TradeKey, Transmit};
use crate::iso8583::cup::CupMessage;
use crate::iso8583::keys::{DesKey, KeyMode, WorkingKeys};
use crate::iso8583::mac::MacKey;
use crate::iso8583::network::{NetworkCode, NetworkRequest, NetworkResponse};
use crate::iso8583::pin::{decrypt_pin, encrypt_pin};
use crate::iso8583::response_code::ResponseCode;
use crate::iso8583::settlement::{
    BatchUploadEnd, BatchUploadRequest, BatchUploadResponse, SettlementRequest, SettlementResponse,
};
use crate::iso8583::subfields::{BatchDetail, BatchDetailEntry, BatchTotals, SettlementResult};
use crate::iso8583::trade::{
    CardRead, EntryMode, FinancialRequest, ReversalRequest, Trade, TradeKind, TradeResponse,
};
use crate::iso8583::values::*;
use crate::iso8583::{Frame, Header, Tpdu};
use crate::time::Instant;
use crate::wire::{receive, seal, SOFTWARE_VERSION};

const ZONE_PIK: &str = "1C1C1C1C1C1C1C1C";
const ZONE_MAK: &str = "2A2A2A2A2A2A2A2A";
const KGK: &str = "0F0E0D0C0B0A0908";
const TMK_SINGLE: &str = "0123456789ABCDEF";
const TMK_DOUBLE: &str = "0123456789ABCDEFFEDCBA9876543210";
const PAN: &str = "6222021234567890123";
const PIN: &str = "123456";

fn key(hex: &str) -> DesKey {
    DesKey::from_hex(hex).unwrap()
}

fn zone_mac() -> MacKey {
    MacKey::new(key(ZONE_MAK).first_half())
}

fn at(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

/// A terminal as the tests play it: it knows its TMK, signs in, seals.
struct Pos {
    id: TerminalId,
    merchant: MerchantId,
    tmk: DesKey,
    keys: Option<WorkingKeys>,
    batch: BatchNo,
}

impl Pos {
    fn new(id: &str, tmk: &str) -> Pos {
        Pos {
            id: TerminalId::new(id).unwrap(),
            merchant: MerchantId::new("898110000000001").unwrap(),
            tmk: key(tmk),
            keys: None,
            batch: BatchNo::new(1).unwrap(),
        }
    }

    /// Another id holding the same working keys (a forger's best case).
    fn clone_with_keys(&self, other: &Pos) -> Pos {
        Pos {
            id: self.id,
            merchant: self.merchant,
            tmk: self.tmk,
            keys: other.keys,
            batch: self.batch,
        }
    }

    fn node(&self) -> Node {
        Node::Terminal(self.id)
    }

    fn registration(&self) -> RegisteredTerminal {
        RegisteredTerminal {
            terminal_id: self.id,
            merchant_id: self.merchant,
            tmk: HexKey(self.tmk),
        }
    }

    fn mak(&self) -> MacKey {
        MacKey::new(self.keys.expect("signed in").mak.first_half())
    }

    fn network(&self, code: NetworkCode, stan: u32) -> Vec<u8> {
        let request = NetworkRequest {
            code,
            stan: Stan::new(stan).unwrap(),
            batch: self.batch,
            terminal: self.id,
            merchant: self.merchant,
            operator: Some(*b"01 "),
        };
        seal(&CupMessage::Network(request), Tpdu::new(3, 0), None)
    }

    fn sale(&self, stan: u32, fen: u64, pin: Option<&str>) -> FinancialRequest {
        let pan = Pan::new(PAN).unwrap();
        let mut card = CardRead::swiped(pan);
        let pin_block = pin.map(|pin| {
            card.entry_mode = EntryMode::SWIPED_PIN;
            encrypt_pin(&self.keys.expect("signed in").pik, &pan, pin).unwrap()
        });
        FinancialRequest {
            trade: Trade::Sale { amount: AmountFen::new(fen).unwrap() },
            card,
            pin_block,
            stan: Stan::new(stan).unwrap(),
            batch: self.batch,
            terminal: self.id,
            merchant: self.merchant,
        }
    }

    fn offline_sale(&self, stan: u32, fen: u64) -> FinancialRequest {
        FinancialRequest {
            trade: Trade::OfflineSale {
                amount: AmountFen::new(fen).unwrap(),
                time: TimeOfDay::new(9, 30, 0).unwrap(),
                date: MonthDay::new(11, 21).unwrap(),
            },
            ..self.sale(stan, fen, None)
        }
    }

    fn seal(&self, message: &CupMessage) -> Vec<u8> {
        seal(message, Tpdu::new(3, 0), Some(&self.mak()))
    }

    fn trade(&self, request: &FinancialRequest) -> Vec<u8> {
        self.seal(&CupMessage::Trade(request.clone()))
    }

    fn reversal(&self, original: &FinancialRequest) -> Vec<u8> {
        self.seal(&CupMessage::Reversal(ReversalRequest::new(
            original,
            ResponseCode::ISSUER_TIMEOUT,
        )))
    }

    fn settlement(&self, stan: u32, totals: BatchTotals) -> Vec<u8> {
        let request = SettlementRequest {
            stan: Stan::new(stan).unwrap(),
            batch: self.batch,
            terminal: self.id,
            merchant: self.merchant,
            totals,
            operator: None,
        };
        seal(&CupMessage::Settlement(request), Tpdu::new(3, 0), None)
    }

    /// Reads an answer on the terminal's link, checking its MAC.
    fn read_trade_answer(&self, transmit: &Transmit) -> TradeResponse {
        assert_eq!(transmit.to, self.node());
        let inbound = receive(&transmit.bytes, Some(&self.mak())).unwrap();
        assert!(inbound.mac.is_valid(), "the answer's MAC checks under the terminal's MAK");
        assert_eq!(inbound.frame.tpdu, Tpdu::new(0, 3), "answers swap the TPDU");
        match inbound.message {
            CupMessage::TradeAnswer(answer) => answer,
            other => panic!("expected a trade answer, got {other:?}"),
        }
    }
}

struct World {
    switch: Switch,
    config: SwitchConfig,
}

fn config_for(terminals: &[&Pos]) -> SwitchConfig {
    let mut config =
        SwitchConfig::new(HexKey(key(ZONE_PIK)), HexKey(key(ZONE_MAK)), HexKey(key(KGK)));
    config.terminals = terminals.iter().map(|pos| pos.registration()).collect();
    config
}

impl World {
    fn new(terminals: &[&Pos]) -> World {
        World::with(config_for(terminals))
    }

    fn with(config: SwitchConfig) -> World {
        World { switch: Switch::new(config.clone(), Instant::ZERO).unwrap(), config }
    }

    fn send(&mut self, now: Instant, from: Node, bytes: &[u8]) -> Vec<Transmit> {
        self.switch.handle_message(now, from, bytes);
        self.drain()
    }

    fn tick(&mut self, now: Instant) -> Vec<Transmit> {
        self.switch.handle_timeout(now);
        self.drain()
    }

    fn drain(&mut self) -> Vec<Transmit> {
        std::iter::from_fn(|| self.switch.poll_transmit()).collect()
    }

    fn events(&mut self) -> Vec<SwitchEventKind> {
        std::iter::from_fn(|| self.switch.poll_event()).map(|event| event.kind).collect()
    }

    fn sign_in(&mut self, now: Instant, pos: &mut Pos, mode: KeyMode) -> NetworkResponse {
        let out = self.send(now, pos.node(), &pos.network(NetworkCode::SignIn(mode), 1));
        assert_eq!(out.len(), 1);
        let answer = read_network_answer(&out[0]);
        if answer.response_code.is_approved() {
            pos.keys =
                Some(WorkingKeys::unwrap(&pos.tmk, mode, answer.keys.as_deref().unwrap()).unwrap());
            pos.batch = answer.batch;
        }
        answer
    }

    /// The terminal sends a sale, the network approves it; returns the
    /// terminal's answer.
    fn approved_sale(
        &mut self,
        now: Instant,
        pos: &Pos,
        request: &FinancialRequest,
        code: ResponseCode,
    ) -> TradeResponse {
        let out = self.send(now, pos.node(), &pos.trade(request));
        assert_eq!(out.len(), 1, "forwarded");
        let forwarded = read_upstream_trade(&out[0]);
        let back = self.send(
            now + Duration::from_millis(200),
            Node::Network,
            &network_answer(&forwarded, code),
        );
        assert_eq!(back.len(), 1, "relayed");
        pos.read_trade_answer(&back[0])
    }
}

fn read_network_answer(transmit: &Transmit) -> NetworkResponse {
    match receive(&transmit.bytes, None).unwrap().message {
        CupMessage::NetworkAnswer(answer) => answer,
        other => panic!("expected an 0810/0830, got {other:?}"),
    }
}

fn read_upstream(transmit: &Transmit) -> CupMessage {
    assert_eq!(transmit.to, Node::Network);
    let inbound = receive(&transmit.bytes, Some(&zone_mac())).unwrap();
    assert!(inbound.mac.is_valid(), "upstream frames carry the zone MAC");
    assert_eq!(inbound.frame.tpdu, Tpdu::new(1, 3));
    inbound.message
}

fn read_upstream_trade(transmit: &Transmit) -> FinancialRequest {
    match read_upstream(transmit) {
        CupMessage::Trade(request) => request,
        other => panic!("expected a trade upstream, got {other:?}"),
    }
}

fn read_upstream_reversal(transmit: &Transmit) -> ReversalRequest {
    match read_upstream(transmit) {
        CupMessage::Reversal(reversal) => reversal,
        other => panic!("expected a reversal upstream, got {other:?}"),
    }
}

/// The network's answer, as the issuer would fill it in.
fn network_answer(request: &FinancialRequest, code: ResponseCode) -> Vec<u8> {
    let mut answer = TradeResponse::answering(
        request,
        code,
        TimeOfDay::new(0, 0, 1).unwrap(),
        MonthDay::new(11, 21).unwrap(),
    );
    answer.rrn = Some(Rrn::new("010000000001").unwrap());
    if code.is_approved() {
        answer.auth_code = Some(AuthCode::new("A00001").unwrap());
    }
    seal(&CupMessage::TradeAnswer(answer), Tpdu::new(3, 1), Some(&zone_mac()))
}

fn network_reversal_answer(reversal: &ReversalRequest, code: ResponseCode) -> Vec<u8> {
    let answer = TradeResponse::answering_reversal(
        reversal,
        code,
        TimeOfDay::new(0, 0, 1).unwrap(),
        MonthDay::new(11, 21).unwrap(),
    );
    seal(&CupMessage::TradeAnswer(answer), Tpdu::new(3, 1), Some(&zone_mac()))
}

fn read_settlement_answer(transmit: &Transmit) -> SettlementResponse {
    match receive(&transmit.bytes, None).unwrap().message {
        CupMessage::SettlementAnswer(answer) => answer,
        other => panic!("expected an 0510, got {other:?}"),
    }
}

fn read_upload_answer(transmit: &Transmit) -> BatchUploadResponse {
    match receive(&transmit.bytes, None).unwrap().message {
        CupMessage::BatchUploadAnswer(answer) => answer,
        other => panic!("expected an 0330, got {other:?}"),
    }
}

fn signed_in_world() -> (World, Pos) {
    let mut pos = Pos::new("10000001", TMK_SINGLE);
    let mut world = World::new(&[&pos]);
    assert!(world.sign_in(at(0), &mut pos, KeyMode::Single).response_code.is_approved());
    world.events();
    (world, pos)
}

fn rejected(events: &[SwitchEventKind]) -> Vec<ResponseCode> {
    events
        .iter()
        .filter_map(|event| match event {
            SwitchEventKind::Rejected { code, .. } => Some(*code),
            _ => None,
        })
        .collect()
}

// ---- sign-in ---------------------------------------------------------------

#[test]
fn a_registered_terminal_signs_in_with_single_keys_and_gets_its_batch() {
    let mut pos = Pos::new("10000001", TMK_SINGLE);
    let mut world = World::new(&[&pos]);
    let answer = world.sign_in(at(0), &mut pos, KeyMode::Single);
    assert_eq!(answer.response_code, ResponseCode::APPROVED);
    assert_eq!(answer.keys.as_ref().unwrap().len(), KeyMode::Single.field_62_bytes());
    assert_eq!(answer.batch.value(), 1);
    let keys = pos.keys.unwrap();
    assert!(matches!(keys.pik, DesKey::Single(_)) && matches!(keys.mak, DesKey::Single(_)));
    assert_ne!(keys.pik, keys.mak);
    assert!(keys.tdk.is_none());
    let events = world.events();
    assert!(
        matches!(events[..], [SwitchEventKind::SignedIn { batch, mode: KeyMode::Single, .. }] if batch.value() == 1)
    );
    assert_eq!(world.switch.terminal(&pos.id).unwrap().session.as_ref().unwrap().keys, keys);
}

#[test]
fn mode_004_delivers_three_double_length_keys_whose_check_values_hold() {
    let mut pos = Pos::new("10000004", TMK_DOUBLE);
    let mut world = World::new(&[&pos]);
    let answer = world.sign_in(at(0), &mut pos, KeyMode::DoubleWithTrackKey);
    assert_eq!(answer.response_code, ResponseCode::APPROVED);
    let field_62 = answer.keys.unwrap();
    assert_eq!(field_62.len(), 60);
    // WorkingKeys::unwrap already refused any wrong check value; check one by hand too.
    let keys = pos.keys.unwrap();
    assert_eq!(&field_62[36..40], &keys.mak.check_value());
    assert!(matches!(keys.tdk, Some(DesKey::Double(_))));
    // A second sign-in hands out fresh keys, never the same ones.
    let again = world.sign_in(at(1000), &mut pos, KeyMode::DoubleWithTrackKey);
    assert!(again.response_code.is_approved());
    assert_ne!(pos.keys.unwrap().mak, keys.mak);
}

#[test]
fn a_sign_in_mode_the_tmk_cannot_serve_is_refused_with_40() {
    let mut pos = Pos::new("10000001", TMK_SINGLE);
    let mut world = World::new(&[&pos]);
    let answer = world.sign_in(at(0), &mut pos, KeyMode::Double);
    assert_eq!(answer.response_code, ResponseCode::FUNCTION_NOT_SUPPORTED);
    assert!(answer.keys.is_none());
    assert_eq!(rejected(&world.events()), [ResponseCode::FUNCTION_NOT_SUPPORTED]);
}

#[test]
fn an_unregistered_terminal_gets_97_for_everything() {
    let registered = Pos::new("10000001", TMK_SINGLE);
    let mut stranger = Pos::new("66666666", TMK_SINGLE);
    let mut world = World::new(&[&registered]);
    let answer = world.sign_in(at(0), &mut stranger, KeyMode::Single);
    assert_eq!(answer.response_code, ResponseCode::TERMINAL_NOT_REGISTERED);
    assert!(answer.keys.is_none());
    // Even with keys of its own making, a sale from it goes nowhere.
    stranger.keys = Some(WorkingKeys { pik: key(TMK_SINGLE), mak: key(TMK_SINGLE), tdk: None });
    let out = world.send(at(10), stranger.node(), &stranger.trade(&stranger.sale(2, 1000, None)));
    assert_eq!(out.len(), 1);
    let answer = match receive(&out[0].bytes, None).unwrap().message {
        CupMessage::TradeAnswer(answer) => answer,
        other => panic!("{other:?}"),
    };
    assert_eq!(answer.response_code, ResponseCode::TERMINAL_NOT_REGISTERED);
    assert_eq!(rejected(&world.events()), [ResponseCode::TERMINAL_NOT_REGISTERED; 2]);
}

#[test]
fn a_trade_before_sign_in_gets_77() {
    let mut pos = Pos::new("10000001", TMK_SINGLE);
    let mut world = World::new(&[&pos]);
    pos.keys = Some(WorkingKeys { pik: key(TMK_SINGLE), mak: key(TMK_SINGLE), tdk: None });
    let out = world.send(at(0), pos.node(), &pos.trade(&pos.sale(1, 1000, None)));
    assert_eq!(out.len(), 1, "answered, nothing forwarded");
    let answer = receive(&out[0].bytes, None).unwrap();
    assert!(
        matches!(answer.message, CupMessage::TradeAnswer(ref a) if a.response_code == ResponseCode::SIGN_IN_TO_NETWORK)
    );
    assert_eq!(rejected(&world.events()), [ResponseCode::SIGN_IN_TO_NETWORK]);
}

#[test]
fn sign_off_forgets_the_keys_and_echo_is_answered_00() {
    let (mut world, pos) = signed_in_world();
    let echo = world.send(at(5), pos.node(), &pos.network(NetworkCode::Echo, 2));
    assert_eq!(read_network_answer(&echo[0]).response_code, ResponseCode::APPROVED);
    let off = world.send(at(6), pos.node(), &pos.network(NetworkCode::SignOff, 3));
    assert_eq!(read_network_answer(&off[0]).response_code, ResponseCode::APPROVED);
    assert!(world.events().contains(&SwitchEventKind::SignedOff { terminal: pos.id }));
    let out = world.send(at(7), pos.node(), &pos.trade(&pos.sale(4, 1000, None)));
    assert_eq!(out.len(), 1);
    assert_eq!(rejected(&world.events()), [ResponseCode::SIGN_IN_TO_NETWORK]);
}

// ---- authentication --------------------------------------------------------

#[test]
fn a_bad_mac_gets_a0_and_nothing_is_forwarded() {
    let (mut world, pos) = signed_in_world();
    let mut bytes = pos.trade(&pos.sale(1, 1000, None));
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01; // one bit of field 64
    let out = world.send(at(10), pos.node(), &bytes);
    assert_eq!(out.len(), 1);
    let answer = pos.read_trade_answer(&out[0]);
    assert_eq!(answer.response_code, ResponseCode::MAC_ERROR);
    assert_eq!(rejected(&world.events()), [ResponseCode::MAC_ERROR]);
    assert_eq!(world.switch.pending_count(), 0);
    assert!(world.switch.terminal(&pos.id).unwrap().current.trades.is_empty(), "no state change");
    // The same trade with a good MAC is not a duplicate of the forged one.
    let out = world.send(at(20), pos.node(), &pos.trade(&pos.sale(1, 1000, None)));
    assert_eq!(out[0].to, Node::Network);
}

/// The unsafe policy `mac_checked_on_0200_only`: a garbled reversal (one
/// bit of its MAC flipped on the line) is taken on and sent upstream, where
/// the safe switch refuses it A0 and sends nothing; the 0200 is still checked.
#[test]
fn mac_checked_on_0200_only_forwards_a_garbled_reversal_the_safe_switch_refuses() {
    let garbled_reversal = |pos: &Pos, sale: &FinancialRequest| {
        let mut bytes = pos.reversal(sale);
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01; // one bit of field 64
        bytes
    };
    // Safe: refused A0, nothing queued, nothing upstream.
    let (mut world, pos) = signed_in_world();
    let sale = pos.sale(6, 2500, None);
    world.approved_sale(at(10), &pos, &sale, ResponseCode::APPROVED);
    world.events();
    let out = world.send(at(500), pos.node(), &garbled_reversal(&pos, &sale));
    assert_eq!(out.len(), 1);
    assert!(out.iter().all(|t| t.to == pos.node()), "nothing upstream");
    assert_eq!(pos.read_trade_answer(&out[0]).response_code, ResponseCode::MAC_ERROR);
    assert!(world.switch.store_forward().is_empty());

    // Unsafe: the same garbled reversal is acknowledged and goes upstream.
    let mut pos = Pos::new("10000001", TMK_SINGLE);
    let mut config = config_for(&[&pos]);
    config.mac_checked_on_0200_only = true;
    let mut world = World::with(config);
    assert!(world.sign_in(at(0), &mut pos, KeyMode::Single).response_code.is_approved());
    world.approved_sale(at(10), &pos, &sale, ResponseCode::APPROVED);
    world.events();
    let out = world.send(at(500), pos.node(), &garbled_reversal(&pos, &sale));
    let upstream = out.iter().find(|t| t.to == Node::Network).expect("forwarded upstream");
    assert_eq!(TradeKey::of(read_upstream_reversal(upstream).original()), TradeKey::of(&sale));
    assert_eq!(world.switch.store_forward().len(), 1);
    // The 0200 is still checked under the policy.
    let mut bytes = pos.trade(&pos.sale(7, 1000, None));
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    let out = world.send(at(900), pos.node(), &bytes);
    assert_eq!(out.len(), 1);
    assert_eq!(pos.read_trade_answer(&out[0]).response_code, ResponseCode::MAC_ERROR);
}

/// The front end's question is the gate's own answer, asked without acting.
#[test]
fn authenticate_gives_the_gates_verdict_and_changes_nothing() {
    let mut pos = Pos::new("10000001", TMK_SINGLE);
    let mut world = World::new(&[&pos]);
    let stranger = Pos::new("10000009", TMK_SINGLE);
    assert_eq!(
        world.switch.authenticate(&pos.network(NetworkCode::SignIn(KeyMode::Single), 1)),
        Authentication::Unproven,
        "a sign-in carries no MAC"
    );
    assert_eq!(world.switch.authenticate(&[0x00, 0x03, 1, 2, 3]), Authentication::Unproven);
    assert!(world.sign_in(at(0), &mut pos, KeyMode::Single).response_code.is_approved());
    world.events();
    let good = pos.trade(&pos.sale(1, 1000, None));
    assert_eq!(world.switch.authenticate(&good), Authentication::Authentic(pos.id));
    let mut bad = good.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0x01;
    assert_eq!(
        world.switch.authenticate(&bad),
        Authentication::Refused(pos.id, ResponseCode::MAC_ERROR)
    );
    let unregistered = stranger.clone_with_keys(&pos);
    assert_eq!(
        world.switch.authenticate(&unregistered.trade(&unregistered.sale(2, 1000, None))),
        Authentication::Refused(stranger.id, ResponseCode::TERMINAL_NOT_REGISTERED)
    );
    assert!(world.events().is_empty(), "asking changed nothing");
    assert!(world.drain().is_empty());
    assert_eq!(world.switch.pending_count(), 0);
}

#[test]
fn a_pin_block_that_does_not_decrypt_gets_99() {
    let (mut world, pos) = signed_in_world();
    let mut sale = pos.sale(1, 1000, Some(PIN));
    sale.pin_block = Some([0x55; 8]);
    let out = world.send(at(10), pos.node(), &pos.trade(&sale));
    assert_eq!(pos.read_trade_answer(&out[0]).response_code, ResponseCode::PIN_FORMAT_ERROR);
    assert_eq!(rejected(&world.events()), [ResponseCode::PIN_FORMAT_ERROR]);
    assert_eq!(world.switch.pending_count(), 0);
}

// ---- routing -----------------------------------------------------------------

#[test]
fn a_sale_goes_upstream_with_its_pin_translated_and_the_approval_comes_back_macd() {
    let (mut world, pos) = signed_in_world();
    let sale = pos.sale(7, 12_345, Some(PIN));
    let out = world.send(at(100), pos.node(), &pos.trade(&sale));
    assert_eq!(out.len(), 1);
    let forwarded = read_upstream_trade(&out[0]);
    assert_eq!(
        TradeKey::of(&forwarded),
        TradeKey::of(&sale),
        "the terminal's identity travels unchanged"
    );
    assert_ne!(forwarded.pin_block, sale.pin_block, "re-encrypted for the zone");
    let pan = Pan::new(PAN).unwrap();
    assert_eq!(decrypt_pin(&key(ZONE_PIK), &pan, &forwarded.pin_block.unwrap()).unwrap(), PIN);
    assert_eq!(world.switch.poll_timeout(), Some(at(100 + 40_000)));

    let back =
        world.send(at(900), Node::Network, &network_answer(&forwarded, ResponseCode::APPROVED));
    let answer = pos.read_trade_answer(&back[0]);
    assert_eq!(answer.response_code, ResponseCode::APPROVED);
    assert_eq!(answer.auth_code, Some(AuthCode::new("A00001").unwrap()));
    assert_eq!(answer.stan, sale.stan);
    let key = TradeKey::of(&sale);
    assert_eq!(
        world.events(),
        [
            SwitchEventKind::Forwarded { key, kind: crate::iso8583::trade::TradeKind::Sale },
            SwitchEventKind::Answered { key, code: ResponseCode::APPROVED, reversal: false },
        ]
    );
    assert_eq!(world.switch.poll_timeout(), None, "nothing left to wait for");
}

/// A copy of an answered sale (its answer lost on the way back, the
/// terminal still waiting) gets the original's answer again, not a bare 94
/// that would tell the terminal nothing about its money.
#[test]
fn a_repeated_sale_gets_its_original_answer_again_and_is_forwarded_once() {
    let (mut world, pos) = signed_in_world();
    let sale = pos.sale(3, 5000, None);
    let first = world.approved_sale(at(100), &pos, &sale, ResponseCode::APPROVED);
    assert!(first.rrn.is_some() && first.auth_code.is_some());
    world.events();
    let again = world.send(at(2000), pos.node(), &pos.trade(&sale));
    assert_eq!(again.len(), 1, "nothing upstream");
    let replayed = pos.read_trade_answer(&again[0]);
    assert_eq!(replayed.response_code, ResponseCode::APPROVED);
    assert_eq!((replayed.rrn, replayed.auth_code), (first.rrn, first.auth_code), "the same answer");
    let key = TradeKey::of(&sale);
    assert_eq!(
        world.events(),
        [
            SwitchEventKind::Duplicate { key },
            SwitchEventKind::Answered { key, code: ResponseCode::APPROVED, reversal: false },
        ]
    );
    // The original stands in the batch, once.
    assert_eq!(world.switch.terminal(&pos.id).unwrap().current.totals().debit_amount, 5000);
}

#[test]
fn without_replay_a_repeated_sale_gets_a_bare_94_and_is_forwarded_once() {
    let mut pos = Pos::new("10000001", TMK_SINGLE);
    let mut config = config_for(&[&pos]);
    config.replay_duplicates = false;
    let mut world = World::with(config);
    world.sign_in(at(0), &mut pos, KeyMode::Single);
    let sale = pos.sale(3, 5000, None);
    world.approved_sale(at(100), &pos, &sale, ResponseCode::APPROVED);
    world.events();
    let again = world.send(at(2000), pos.node(), &pos.trade(&sale));
    assert_eq!(again.len(), 1, "nothing upstream");
    assert_eq!(pos.read_trade_answer(&again[0]).response_code, ResponseCode::DUPLICATE);
    assert!(world.events().contains(&SwitchEventKind::Duplicate { key: TradeKey::of(&sale) }));
    assert_eq!(world.switch.terminal(&pos.id).unwrap().current.totals().debit_amount, 5000);
}

/// Regression (found by `possim hunt` on faults/protocol.yaml with a bare-94
/// host, seed 58): a refund advice the issuer refused 64, its answer late
/// past the terminal's timer, was sent again; the bare 94 to the copy read
/// as "taken", and the terminal settled a credit nobody made. A copy of
/// what was refused gets the refusal again, even from a bare-94 host.
#[test]
fn without_replay_a_copy_of_a_declined_trade_gets_the_decline_again_not_94() {
    let mut pos = Pos::new("10000001", TMK_SINGLE);
    let mut config = config_for(&[&pos]);
    config.replay_duplicates = false;
    let mut world = World::with(config);
    world.sign_in(at(0), &mut pos, KeyMode::Single);
    let sale = pos.sale(3, 5000, None);
    world.approved_sale(at(100), &pos, &sale, ResponseCode::INSUFFICIENT_FUNDS);
    world.events();
    let again = world.send(at(2000), pos.node(), &pos.trade(&sale));
    assert_eq!(again.len(), 1, "nothing upstream");
    assert_eq!(pos.read_trade_answer(&again[0]).response_code, ResponseCode::INSUFFICIENT_FUNDS);
    assert!(world.events().contains(&SwitchEventKind::Duplicate { key: TradeKey::of(&sale) }));
    assert_eq!(world.switch.terminal(&pos.id).unwrap().current.totals().debit_amount, 0);
}

#[test]
fn with_duplicate_check_off_the_repeat_is_forwarded_again() {
    let mut pos = Pos::new("10000001", TMK_SINGLE);
    let mut config = config_for(&[&pos]);
    config.duplicate_check = false;
    let mut world = World::with(config);
    world.sign_in(at(0), &mut pos, KeyMode::Single);
    let sale = pos.sale(3, 5000, None);
    world.approved_sale(at(100), &pos, &sale, ResponseCode::APPROVED);
    let again = world.send(at(2000), pos.node(), &pos.trade(&sale));
    assert_eq!(again.len(), 1);
    assert_eq!(
        read_upstream_trade(&again[0]),
        sale,
        "the unsafe setting charges the card a second time"
    );
    let forwarded =
        world.events().iter().filter(|e| matches!(e, SwitchEventKind::Forwarded { .. })).count();
    assert_eq!(forwarded, 2);
}

#[test]
fn a_silent_network_gets_98_at_exactly_the_timeout_and_a_reversal_retried_until_acknowledged() {
    let (mut world, pos) = signed_in_world();
    let sale = pos.sale(9, 8000, Some(PIN));
    let key = TradeKey::of(&sale);
    world.send(at(1_000), pos.node(), &pos.trade(&sale));
    world.events();
    assert_eq!(world.switch.poll_timeout(), Some(at(41_000)));

    let out = world.tick(at(41_000));
    assert_eq!(out.len(), 2);
    let answer = pos.read_trade_answer(&out[0]);
    assert_eq!(answer.response_code, ResponseCode::ISSUER_TIMEOUT);
    let reversal = read_upstream_reversal(&out[1]);
    assert_eq!(reversal.reason, ResponseCode::ISSUER_TIMEOUT);
    assert_eq!(TradeKey::of(reversal.original()), key);
    assert_eq!(reversal.original().pin_block, None, "a reversal never repeats the PIN");
    assert_eq!(
        world.events(),
        [
            SwitchEventKind::UpstreamTimeout { key },
            SwitchEventKind::ReversalQueued { key, reason: ResponseCode::ISSUER_TIMEOUT },
            SwitchEventKind::Answered { key, code: ResponseCode::ISSUER_TIMEOUT, reversal: false },
            SwitchEventKind::ReversalSent { key, attempt: 1 },
        ]
    );

    // The network is busy: 96 is no acknowledgement; the retry comes on time.
    assert_eq!(world.switch.poll_timeout(), Some(at(51_000)));
    assert!(world
        .send(
            at(42_000),
            Node::Network,
            &network_reversal_answer(&reversal, ResponseCode::SYSTEM_MALFUNCTION)
        )
        .is_empty());
    let retry = world.tick(at(51_000));
    assert_eq!(read_upstream_reversal(&retry[0]), reversal);
    assert!(world.events().contains(&SwitchEventKind::ReversalSent { key, attempt: 2 }));

    world.send(
        at(51_500),
        Node::Network,
        &network_reversal_answer(&reversal, ResponseCode::APPROVED),
    );
    assert_eq!(
        world.events(),
        [SwitchEventKind::ReversalAcknowledged { key, code: ResponseCode::APPROVED }]
    );
    assert!(world.switch.store_forward().is_empty());
    assert_eq!(world.switch.poll_timeout(), None);
    assert_eq!(world.switch.terminal(&pos.id).unwrap().current.totals(), BatchTotals::default());
}

#[test]
fn a_late_approval_after_98_never_reaches_the_terminal() {
    let (mut world, pos) = signed_in_world();
    let sale = pos.sale(9, 8000, None);
    let key = TradeKey::of(&sale);
    let forwarded = read_upstream_trade(&world.send(at(0), pos.node(), &pos.trade(&sale))[0]);
    world.tick(at(40_000));
    world.events();
    let late =
        world.send(at(40_500), Node::Network, &network_answer(&forwarded, ResponseCode::APPROVED));
    assert!(late.is_empty(), "no approval for a trade being reversed");
    assert_eq!(
        world.events(),
        [SwitchEventKind::LateAnswerDropped { key, code: ResponseCode::APPROVED }]
    );
    assert!(world.switch.store_forward().contains(&key), "the reversal goes on");
    // The terminal's own reversal of it changes nothing more.
    let out = world.send(at(41_000), pos.node(), &pos.reversal(&sale));
    assert_eq!(out.len(), 1);
    assert_eq!(pos.read_trade_answer(&out[0]).response_code, ResponseCode::APPROVED);
    assert_eq!(world.switch.store_forward().len(), 1);
}

// ---- reversals from the terminal ---------------------------------------------

#[test]
fn a_reversal_of_a_trade_the_switch_never_saw_gets_25() {
    let (mut world, pos) = signed_in_world();
    let out = world.send(at(10), pos.node(), &pos.reversal(&pos.sale(40, 100, None)));
    assert_eq!(out.len(), 1, "nothing upstream");
    let answer = pos.read_trade_answer(&out[0]);
    assert!(answer.reversal);
    assert_eq!(answer.response_code, ResponseCode::ORIGINAL_NOT_FOUND);
    assert!(world.switch.store_forward().is_empty());
}

#[test]
fn a_reversal_of_a_declined_trade_gets_12() {
    let (mut world, pos) = signed_in_world();
    let sale = pos.sale(5, 100_000, None);
    let answer = world.approved_sale(at(10), &pos, &sale, ResponseCode::INSUFFICIENT_FUNDS);
    assert_eq!(answer.response_code, ResponseCode::INSUFFICIENT_FUNDS);
    let out = world.send(at(500), pos.node(), &pos.reversal(&sale));
    assert_eq!(out.len(), 1);
    assert_eq!(pos.read_trade_answer(&out[0]).response_code, ResponseCode::UNSUPPORTED_BY_ISSUER);
    assert!(world.switch.store_forward().is_empty());
}

#[test]
fn a_reversal_of_an_approved_trade_is_acknowledged_at_once_and_forwarded_once_however_often_repeated(
) {
    let (mut world, pos) = signed_in_world();
    let sale = pos.sale(6, 2500, None);
    let key = TradeKey::of(&sale);
    world.approved_sale(at(10), &pos, &sale, ResponseCode::APPROVED);
    world.events();

    let out = world.send(at(500), pos.node(), &pos.reversal(&sale));
    assert_eq!(out.len(), 2);
    let upstream = out.iter().find(|t| t.to == Node::Network).unwrap();
    let reversal = read_upstream_reversal(upstream);
    assert_eq!(TradeKey::of(reversal.original()), key);
    let answer = pos.read_trade_answer(out.iter().find(|t| t.to == pos.node()).unwrap());
    assert!(answer.reversal);
    assert_eq!(answer.response_code, ResponseCode::APPROVED);
    assert_eq!(
        world.switch.terminal(&pos.id).unwrap().current.totals(),
        BatchTotals::default(),
        "out of the totals"
    );

    // The terminal did not hear the 0410 and repeats; twice.
    for ms in [600, 700] {
        let again = world.send(at(ms), pos.node(), &pos.reversal(&sale));
        assert_eq!(again.len(), 1, "nothing new upstream");
        assert_eq!(pos.read_trade_answer(&again[0]).response_code, ResponseCode::APPROVED);
    }
    assert_eq!(world.switch.store_forward().len(), 1);
    let queued = world
        .events()
        .iter()
        .filter(|e| matches!(e, SwitchEventKind::ReversalQueued { .. }))
        .count();
    assert_eq!(queued, 1);

    world.send(at(800), Node::Network, &network_reversal_answer(&reversal, ResponseCode::APPROVED));
    assert!(world.switch.store_forward().is_empty());
    // Even after the acknowledgement, a repeat is still 00 and still nothing new.
    let again = world.send(at(900), pos.node(), &pos.reversal(&sale));
    assert_eq!(again.len(), 1);
    assert_eq!(pos.read_trade_answer(&again[0]).response_code, ResponseCode::APPROVED);
}

/// The unsafe policy `forward_repeated_reversals`: a repeat of a reversal
/// the network already acknowledged goes upstream again (where an issuer
/// that is not idempotent credits a second time); one still queued is not
/// queued twice. The terminal's answer is 00 either way.
#[test]
fn forward_repeated_reversals_sends_an_acknowledged_reversal_upstream_again() {
    let mut pos = Pos::new("10000001", TMK_SINGLE);
    let mut config = config_for(&[&pos]);
    config.forward_repeated_reversals = true;
    let mut world = World::with(config);
    assert!(world.sign_in(at(0), &mut pos, KeyMode::Single).response_code.is_approved());
    let sale = pos.sale(6, 2500, None);
    let key = TradeKey::of(&sale);
    world.approved_sale(at(10), &pos, &sale, ResponseCode::APPROVED);
    world.events();

    let out = world.send(at(500), pos.node(), &pos.reversal(&sale));
    assert_eq!(out.len(), 2);
    let reversal = read_upstream_reversal(out.iter().find(|t| t.to == Node::Network).unwrap());
    // Still queued: the repeat is the same reversal, nothing new upstream.
    let again = world.send(at(600), pos.node(), &pos.reversal(&sale));
    assert_eq!(again.len(), 1, "still queued: not queued twice");
    assert_eq!(pos.read_trade_answer(&again[0]).response_code, ResponseCode::APPROVED);

    world.send(at(800), Node::Network, &network_reversal_answer(&reversal, ResponseCode::APPROVED));
    assert!(world.switch.store_forward().is_empty());
    world.events();
    // Acknowledged upstream, then repeated: the safe switch sends nothing
    // (the test above); this one queues it and sends it again.
    let again = world.send(at(900), pos.node(), &pos.reversal(&sale));
    assert_eq!(again.len(), 2);
    let upstream = again.iter().find(|t| t.to == Node::Network).expect("forwarded again");
    assert_eq!(TradeKey::of(read_upstream_reversal(upstream).original()), key);
    let answer = again.iter().find(|t| t.to == pos.node()).unwrap();
    assert_eq!(pos.read_trade_answer(answer).response_code, ResponseCode::APPROVED);
    assert_eq!(world.switch.store_forward().len(), 1);
    let queued = world
        .events()
        .iter()
        .filter(
            |e| matches!(e, SwitchEventKind::ReversalQueued { key: queued, .. } if *queued == key),
        )
        .count();
    assert_eq!(queued, 1);
}

#[test]
fn a_reversal_while_the_original_is_still_in_flight_takes_over_from_it() {
    let (mut world, pos) = signed_in_world();
    let sale = pos.sale(8, 700, None);
    let key = TradeKey::of(&sale);
    let forwarded = read_upstream_trade(&world.send(at(0), pos.node(), &pos.trade(&sale))[0]);
    let out = world.send(at(100), pos.node(), &pos.reversal(&sale));
    assert_eq!(out.len(), 2);
    assert_eq!(world.switch.pending_count(), 0, "no 98 will follow");
    world.events();
    let late =
        world.send(at(200), Node::Network, &network_answer(&forwarded, ResponseCode::APPROVED));
    assert!(late.is_empty());
    assert_eq!(
        world.events(),
        [SwitchEventKind::LateAnswerDropped { key, code: ResponseCode::APPROVED }]
    );
}

// ---- offline uploads -----------------------------------------------------------

#[test]
fn an_offline_sale_upload_is_forwarded_counted_and_a_repeat_gets_its_answer_again() {
    let (mut world, pos) = signed_in_world();
    let upload = pos.offline_sale(11, 3300);
    let out = world.send(at(10), pos.node(), &pos.trade(&upload));
    let forwarded = read_upstream_trade(&out[0]);
    assert_eq!(forwarded, upload);
    let back =
        world.send(at(20), Node::Network, &network_answer(&forwarded, ResponseCode::APPROVED));
    assert_eq!(pos.read_trade_answer(&back[0]).response_code, ResponseCode::APPROVED);
    let again = world.send(at(30), pos.node(), &pos.trade(&upload));
    assert_eq!(again.len(), 1);
    assert_eq!(pos.read_trade_answer(&again[0]).response_code, ResponseCode::APPROVED, "replayed");
    let totals = world.switch.terminal(&pos.id).unwrap().current.totals();
    assert_eq!((totals.debit_amount, totals.debit_count), (3300, 1));
}

fn refund_of(pos: &Pos, stan: u32, fen: u64) -> FinancialRequest {
    FinancialRequest {
        trade: Trade::Refund {
            amount: AmountFen::new(fen).unwrap(),
            original_rrn: Rrn::new("000000000007").unwrap(),
            original_date: MonthDay::new(11, 20).unwrap(),
        },
        ..pos.sale(stan, fen, None)
    }
}

/// A refund is an advice (DOMAIN.md, Transactions): its answer 98 says
/// nothing, so the terminal's copy goes upstream again; the issuer's 94 to
/// it ("already taken") counts the credit once in the batch; a later copy
/// gets that answer again; nothing is ever reversed.
#[test]
fn a_refund_advice_answered_98_goes_upstream_again_and_its_94_counts_once() {
    let (mut world, pos) = signed_in_world();
    let refund = refund_of(&pos, 12, 2000);
    let out = world.send(at(10), pos.node(), &pos.trade(&refund));
    let forwarded = read_upstream_trade(&out[0]);
    assert_eq!(forwarded, refund);
    let back = world.send(
        at(30_000),
        Node::Network,
        &network_answer(&forwarded, ResponseCode::ISSUER_TIMEOUT),
    );
    assert_eq!(pos.read_trade_answer(&back[0]).response_code, ResponseCode::ISSUER_TIMEOUT);
    let again = world.send(at(90_000), pos.node(), &pos.trade(&refund));
    assert_eq!(again.len(), 1);
    assert_eq!(read_upstream_trade(&again[0]), refund, "the copy goes upstream again");
    let back =
        world.send(at(90_050), Node::Network, &network_answer(&refund, ResponseCode::DUPLICATE));
    assert_eq!(pos.read_trade_answer(&back[0]).response_code, ResponseCode::DUPLICATE);
    let third = world.send(at(150_000), pos.node(), &pos.trade(&refund));
    assert_eq!(third.len(), 1, "answered here, not forwarded");
    assert_eq!(pos.read_trade_answer(&third[0]).response_code, ResponseCode::DUPLICATE);
    let totals = world.switch.terminal(&pos.id).unwrap().current.totals();
    assert_eq!((totals.credit_amount, totals.credit_count), (2000, 1));
    assert!(world.switch.store_forward().is_empty(), "a refund is never reversed");
}

/// The network silent past the switch's timeout: the refund gets 98 and no
/// reversal; its copy is forwarded again, not answered 94 here.
#[test]
fn a_refund_advice_timed_out_upstream_is_never_reversed_and_its_copy_goes_again() {
    let (mut world, pos) = signed_in_world();
    let refund = refund_of(&pos, 13, 900);
    world.send(at(1_000), pos.node(), &pos.trade(&refund));
    let out = world.tick(at(41_000));
    assert_eq!(out.len(), 1, "the 98 only: nothing to reverse");
    assert_eq!(pos.read_trade_answer(&out[0]).response_code, ResponseCode::ISSUER_TIMEOUT);
    assert!(world.switch.store_forward().is_empty());
    let again = world.send(at(100_000), pos.node(), &pos.trade(&refund));
    assert_eq!(read_upstream_trade(&again[0]), refund);
}

#[test]
fn an_electronic_cash_upload_0320_is_forwarded_and_its_0330_relayed() {
    let (mut world, pos) = signed_in_world();
    let upload = FinancialRequest {
        trade: Trade::ECash {
            amount: AmountFen::new(1800).unwrap(),
            time: TimeOfDay::new(10, 0, 0).unwrap(),
            date: MonthDay::new(11, 21).unwrap(),
            certificate: crate::iso8583::trade::IccData::new(vec![
                0x9F, 0x26, 0x08, 1, 2, 3, 4, 5, 6, 7, 8,
            ])
            .unwrap(),
        },
        ..pos.sale(12, 1800, None)
    };
    let out = world.send(at(10), pos.node(), &pos.trade(&upload));
    let forwarded = read_upstream_trade(&out[0]);
    assert_eq!(forwarded, upload);
    let back =
        world.send(at(20), Node::Network, &network_answer(&forwarded, ResponseCode::APPROVED));
    let answer = pos.read_trade_answer(&back[0]);
    assert_eq!(answer.mti().to_string(), "0330");
    assert_eq!(answer.response_code, ResponseCode::APPROVED);
    assert_eq!(world.switch.terminal(&pos.id).unwrap().current.totals().debit_amount, 1800);
}

// ---- settlement ------------------------------------------------------------------

#[test]
fn a_balanced_settlement_closes_the_batch_and_the_next_sign_in_gives_the_next_batch() {
    let (mut world, mut pos) = signed_in_world();
    world.approved_sale(at(10), &pos, &pos.sale(1, 1000, None), ResponseCode::APPROVED);
    world.approved_sale(at(20), &pos, &pos.sale(2, 2500, None), ResponseCode::APPROVED);
    world.approved_sale(at(30), &pos, &pos.sale(3, 9999, None), ResponseCode::INSUFFICIENT_FUNDS);
    world.events();
    let totals = BatchTotals { debit_amount: 3500, debit_count: 2, ..Default::default() };
    let out = world.send(at(100), pos.node(), &pos.settlement(4, totals));
    let answer = read_settlement_answer(&out[0]);
    assert_eq!(answer.result, SettlementResult::Balanced);
    assert_eq!(answer.totals, totals);
    let one = BatchNo::new(1).unwrap();
    let two = BatchNo::new(2).unwrap();
    assert_eq!(
        world.events(),
        [
            SwitchEventKind::SettlementAnswered {
                terminal: pos.id,
                batch: one,
                balanced: true,
                switch_totals: totals,
                terminal_totals: totals,
            },
            SwitchEventKind::BatchClosed {
                terminal: pos.id,
                batch: one,
                next: two,
                reason: CloseReason::Balanced
            },
            SwitchEventKind::BatchFiled {
                terminal: pos.id,
                batch: one,
                filed: 2,
                by_upload: false,
                totals,
            },
        ]
    );
    // The 0510 was lost; the repeat gets the same answer and closes nothing more.
    let again = world.send(at(200), pos.node(), &pos.settlement(4, totals));
    assert_eq!(read_settlement_answer(&again[0]).result, SettlementResult::Balanced);
    assert_eq!(world.switch.terminal(&pos.id).unwrap().current.number, two);
    // A trade still on batch 1 is told the states disagree.
    let stale = world.send(at(300), pos.node(), &pos.trade(&pos.sale(5, 100, None)));
    assert_eq!(pos.read_trade_answer(&stale[0]).response_code, ResponseCode::STATE_MISMATCH);
    assert_eq!(world.sign_in(at(400), &mut pos, KeyMode::Single).batch, two);
}

#[test]
fn an_unbalanced_settlement_then_batch_upload_and_its_end_close_the_batch() {
    let (mut world, pos) = signed_in_world();
    world.approved_sale(at(10), &pos, &pos.sale(1, 1000, None), ResponseCode::APPROVED);
    world.events();
    // The terminal believes in a second sale the switch never approved.
    let claimed = BatchTotals { debit_amount: 1500, debit_count: 2, ..Default::default() };
    let out = world.send(at(100), pos.node(), &pos.settlement(2, claimed));
    assert_eq!(read_settlement_answer(&out[0]).result, SettlementResult::NotBalanced);
    let events = world.events();
    assert!(matches!(
        events[..],
        [SwitchEventKind::SettlementAnswered { balanced: false, switch_totals, .. }]
            if switch_totals == BatchTotals { debit_amount: 1000, debit_count: 1, ..Default::default() }
    ));
    assert_eq!(world.switch.terminal(&pos.id).unwrap().current.number.value(), 1, "still open");

    let pan = Pan::new(PAN).unwrap();
    let entry = |stan: u32, fen: u64| BatchDetailEntry {
        card_organisation: 0,
        stan: Stan::new(stan).unwrap(),
        pan,
        amount: AmountFen::new(fen).unwrap(),
    };
    let upload = BatchUploadRequest {
        stan: Stan::new(3).unwrap(),
        batch: pos.batch,
        terminal: pos.id,
        merchant: pos.merchant,
        detail: BatchDetail { entries: vec![entry(1, 1000), entry(77, 500)] },
    };
    let out = world.send(
        at(200),
        pos.node(),
        &seal(&CupMessage::BatchUpload(upload), Tpdu::new(3, 0), None),
    );
    assert_eq!(read_upload_answer(&out[0]).response_code, ResponseCode::APPROVED);
    let one = BatchNo::new(1).unwrap();
    assert_eq!(
        world.events(),
        [
            SwitchEventKind::UploadedTradeUnknown {
                terminal: pos.id,
                batch: one,
                stan: Stan::new(77).unwrap(),
                amount: AmountFen::new(500).unwrap(),
            },
            SwitchEventKind::BatchUploaded { terminal: pos.id, batch: one, entries: 2, unknown: 1 },
        ]
    );
    assert_eq!(
        world.switch.terminal(&pos.id).unwrap().current.totals().debit_amount,
        1000,
        "not added"
    );

    // An end message counting more entries than reached the switch: 95,
    // "reconciliation error | batch upload" (DOMAIN.md), and the batch stays
    // open for the terminal to upload it again.
    let short = BatchUploadEnd {
        stan: Stan::new(5).unwrap(),
        batch: pos.batch,
        terminal: pos.id,
        merchant: pos.merchant,
        total_count: 3,
        balanced: false,
    };
    let out = world.send(
        at(250),
        pos.node(),
        &seal(&CupMessage::BatchUploadEnd(short), Tpdu::new(3, 0), None),
    );
    assert_eq!(read_upload_answer(&out[0]).response_code, ResponseCode::RECONCILIATION_ERROR);
    assert_eq!(world.switch.terminal(&pos.id).unwrap().current.number.value(), 1, "still open");
    world.events();

    let end = BatchUploadEnd {
        stan: Stan::new(4).unwrap(),
        batch: pos.batch,
        terminal: pos.id,
        merchant: pos.merchant,
        total_count: 2,
        balanced: false,
    };
    let out = world.send(
        at(300),
        pos.node(),
        &seal(&CupMessage::BatchUploadEnd(end.clone()), Tpdu::new(3, 0), None),
    );
    let answer = read_upload_answer(&out[0]);
    assert_eq!((answer.response_code, answer.network_code), (ResponseCode::APPROVED, 202));
    let two = BatchNo::new(2).unwrap();
    // The acquirer files what the terminal uploaded: the unknown entry
    // too (an offline sale's upload that never reached the switch: a debit).
    let uploaded = BatchTotals { debit_amount: 1500, debit_count: 2, ..Default::default() };
    assert_eq!(
        world.events(),
        [
            SwitchEventKind::BatchClosed {
                terminal: pos.id,
                batch: one,
                next: two,
                reason: CloseReason::UploadEnd
            },
            SwitchEventKind::BatchFiled {
                terminal: pos.id,
                batch: one,
                filed: 2,
                by_upload: true,
                totals: uploaded,
            },
        ]
    );
    // Repeated after a lost 0330: 00 again, batch 2 stays open.
    let again = world.send(
        at(400),
        pos.node(),
        &seal(&CupMessage::BatchUploadEnd(end), Tpdu::new(3, 0), None),
    );
    assert_eq!(read_upload_answer(&again[0]).response_code, ResponseCode::APPROVED);
    assert_eq!(world.switch.terminal(&pos.id).unwrap().current.number, two);
}

// ---- crash and restart -------------------------------------------------------------

#[test]
fn a_restart_keeps_keys_batch_records_and_queued_reversals() {
    let (mut world, pos) = signed_in_world();
    world.approved_sale(at(10), &pos, &pos.sale(1, 1000, None), ResponseCode::APPROVED);
    let lost = pos.sale(2, 4000, None);
    let lost_key = TradeKey::of(&lost);
    world.send(at(20), pos.node(), &pos.trade(&lost));
    world.tick(at(40_020));
    world.events();
    let persistent = world.switch.persistent();

    let mut world = World {
        switch: Switch::restart(world.config.clone(), persistent, at(50_000)).unwrap(),
        config: world.config,
    };
    assert_eq!(
        world.events(),
        [SwitchEventKind::Recovered { reversals_queued: 0, store_forward: 1 }]
    );
    // The queued reversal goes again at once.
    assert_eq!(world.switch.poll_timeout(), Some(at(50_000)));
    let out = world.tick(at(50_000));
    assert_eq!(TradeKey::of(read_upstream_reversal(&out[0]).original()), lost_key);
    // The terminal's keys still work: its next sale is accepted and forwarded.
    let out = world.send(at(50_100), pos.node(), &pos.trade(&pos.sale(3, 10, None)));
    assert_eq!(out[0].to, Node::Network);
    // The batch record survived: the approved sale still balances the settlement.
    let totals = BatchTotals { debit_amount: 1000, debit_count: 1, ..Default::default() };
    let out = world.send(at(50_200), pos.node(), &pos.settlement(4, totals));
    assert_eq!(read_settlement_answer(&out[0]).result, SettlementResult::Balanced);
}

#[test]
fn a_trade_in_flight_at_the_crash_is_reversed_by_the_switch() {
    let (mut world, pos) = signed_in_world();
    let sale = pos.sale(1, 1000, None);
    let key = TradeKey::of(&sale);
    let forwarded = read_upstream_trade(&world.send(at(10), pos.node(), &pos.trade(&sale))[0]);
    let persistent = world.switch.persistent();

    let mut world = World {
        switch: Switch::restart(world.config.clone(), persistent, at(5_000)).unwrap(),
        config: world.config,
    };
    assert_eq!(
        world.events(),
        [SwitchEventKind::Recovered { reversals_queued: 1, store_forward: 1 }]
    );
    let out = world.tick(at(5_000));
    let reversal = read_upstream_reversal(&out[0]);
    assert_eq!(TradeKey::of(reversal.original()), key);
    world.events();
    // The approval that was in flight is not relayed to anyone.
    assert!(world
        .send(at(5_100), Node::Network, &network_answer(&forwarded, ResponseCode::APPROVED))
        .is_empty());
    assert_eq!(
        world.events(),
        [SwitchEventKind::LateAnswerDropped { key, code: ResponseCode::APPROVED }]
    );
    // The terminal timed out and reverses too: 00, nothing more queued.
    let out = world.send(at(5_200), pos.node(), &pos.reversal(&sale));
    assert_eq!(out.len(), 1);
    assert_eq!(pos.read_trade_answer(&out[0]).response_code, ResponseCode::APPROVED);
    assert_eq!(world.switch.store_forward().len(), 1);
}

// ---- hostile bytes -----------------------------------------------------------------

#[test]
fn garbage_is_dropped_without_an_answer_or_a_panic() {
    let (mut world, pos) = signed_in_world();
    let garbage: [&[u8]; 5] =
        [b"", b"\x00", b"\xff\xff\xff\xff", &[0u8; 40], b"\x00\x05\x60\x00\x03\x00\x00"];
    for bytes in garbage {
        assert!(world.send(at(1), pos.node(), bytes).is_empty());
        assert!(world.send(at(1), Node::Network, bytes).is_empty());
    }
    let events = world.events();
    assert_eq!(events.len(), 10);
    assert!(events
        .iter()
        .all(|e| matches!(e, SwitchEventKind::Dropped { reason: DropReason::Undecodable(_), .. })));
    // Every prefix of a real frame, too.
    let frame = pos.trade(&pos.sale(1, 1000, Some(PIN)));
    for cut in 0..frame.len() {
        world.switch.handle_message(at(2), pos.node(), &frame[..cut]);
    }
    assert!(world.drain().is_empty());
}

#[test]
fn a_frame_that_decodes_but_is_incomplete_gets_30() {
    let (mut world, pos) = signed_in_world();
    let mut message = pos.sale(1, 1000, None).to_message();
    assert!(message.remove(4), "a sale without its amount");
    let mut frame = Frame { tpdu: Tpdu::new(3, 0), header: Header::new(SOFTWARE_VERSION), message };
    let mut bytes = Vec::new();
    pos.mak().seal(&mut frame, &mut bytes);
    let out = world.send(at(10), pos.node(), &bytes);
    assert_eq!(out.len(), 1, "answered, nothing forwarded");
    let (answer, span) = Frame::decode_with_mac_span(&out[0].bytes).unwrap();
    assert_eq!(answer.message.mti().to_string(), "0210");
    assert_eq!(answer.message.get_str(39), Some("30"));
    assert_eq!(answer.message.get_str(11), Some("000001"));
    assert!(pos.mak().verify(&out[0].bytes, span, &answer).is_valid());
    assert_eq!(rejected(&world.events()), [ResponseCode::FORMAT_ERROR]);
    assert_eq!(world.switch.pending_count(), 0);
}

#[test]
fn a_network_frame_with_a_bad_zone_mac_is_ignored() {
    let (mut world, pos) = signed_in_world();
    let sale = pos.sale(1, 1000, None);
    let forwarded = read_upstream_trade(&world.send(at(10), pos.node(), &pos.trade(&sale))[0]);
    let mut bytes = network_answer(&forwarded, ResponseCode::APPROVED);
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    assert!(world.send(at(20), Node::Network, &bytes).is_empty());
    assert!(world.events().contains(&SwitchEventKind::Dropped {
        from: Node::Network,
        reason: DropReason::BadUpstreamMac
    }));
    assert_eq!(world.switch.pending_count(), 1, "still waiting for a real answer");
}

// ---- configuration -------------------------------------------------------------------

#[test]
fn the_configuration_is_checked_against_its_bounds() {
    let pos = Pos::new("10000001", TMK_SINGLE);
    let mut config = config_for(&[&pos, &pos]);
    assert_eq!(config.validate(), Err(SwitchConfigError::DuplicateTerminal { terminal: pos.id }));
    config.terminals.pop();
    config.trades_per_batch_max = 1000;
    assert!(matches!(config.validate(), Err(SwitchConfigError::BatchTooLarge { .. })));
    config.trades_per_batch_max = 999;
    config.pending_max = 0;
    assert_eq!(config.validate(), Err(SwitchConfigError::Zero { field: "pending_max" }));
    config.pending_max = 10_000;
    assert!(matches!(
        config.validate(),
        Err(SwitchConfigError::OutputTooSmall { field: "transmits_max", .. })
    ));
}

#[test]
fn a_full_pending_table_refuses_with_96_before_forwarding() {
    let mut pos = Pos::new("10000001", TMK_SINGLE);
    let mut config = config_for(&[&pos]);
    config.pending_max = 1;
    let mut world = World::with(config);
    world.sign_in(at(0), &mut pos, KeyMode::Single);
    world.send(at(10), pos.node(), &pos.trade(&pos.sale(1, 100, None)));
    let out = world.send(at(20), pos.node(), &pos.trade(&pos.sale(2, 100, None)));
    assert_eq!(out.len(), 1);
    assert_eq!(pos.read_trade_answer(&out[0]).response_code, ResponseCode::SYSTEM_MALFUNCTION);
}

// ---- properties --------------------------------------------------------------------

mod properties {
    use super::*;

    /// Whatever arrives on either link, the switch neither panics nor
    /// forwards anything upstream that did not pass the terminal's MAC:
    /// every byte of a sale flipped in turn, under several masks.
    #[test]
    fn a_corrupted_frame_never_panics_and_never_goes_upstream_unauthenticated() {
        let (_, pos) = signed_in_world();
        let length = pos.trade(&pos.sale(1, 1000, Some(PIN))).len();
        for index in 0..length {
            for mask in [0x01u8, 0x10, 0x80, 0xFF] {
                for from_network in [false, true] {
                    let (mut world, pos) = signed_in_world();
                    let mut bytes = pos.trade(&pos.sale(1, 1000, Some(PIN)));
                    bytes[index] ^= mask;
                    let from = if from_network { Node::Network } else { pos.node() };
                    let out = world.send(at(10), from, &bytes);
                    // A flip may leave the MAC'd bytes intact (the length,
                    // TPDU or header): only then may the sale go upstream.
                    let macd_region_intact = index < crate::iso8583::frame::MESSAGE_OFFSET;
                    if !macd_region_intact || from_network {
                        assert!(
                            out.iter().all(|t| t.to != Node::Network),
                            "byte {index} mask {mask:#x}"
                        );
                    }
                }
            }
        }
    }

    /// 512 seeded byte strings of random lengths, on both links.
    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut state = 0x5EED_u64;
        let mut next = move || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        for case in 0..512 {
            let length = (next() % 300) as usize;
            let bytes: Vec<u8> = (0..length).map(|_| next() as u8).collect();
            let from_network = case % 2 == 1;
            let (mut world, pos) = signed_in_world();
            let from = if from_network { Node::Network } else { pos.node() };
            let out = world.send(at(10), from, &bytes);
            assert!(out.iter().all(|t| t.to != Node::Network), "case {case}");
        }
    }
}

/// Two approved sales; the terminal, which gave the second's reversal up,
/// settles and uploads only the first. Returns the keys the clearing file
/// handed over at end of day.
fn clearing_file_after_a_sale_left_out(own_approvals: bool) -> (Vec<TradeKey>, [TradeKey; 2]) {
    let mut pos = Pos::new("10000001", TMK_SINGLE);
    let mut config = config_for(&[&pos]);
    config.clearing_from_own_approvals = own_approvals;
    let mut world = World::with(config);
    assert!(world.sign_in(at(0), &mut pos, KeyMode::Single).response_code.is_approved());
    let kept = pos.sale(1, 1000, None);
    let left_out = pos.sale(2, 2500, None);
    world.approved_sale(at(10), &pos, &kept, ResponseCode::APPROVED);
    world.approved_sale(at(20), &pos, &left_out, ResponseCode::APPROVED);
    let claimed = BatchTotals { debit_amount: 1000, debit_count: 1, ..Default::default() };
    let out = world.send(at(100), pos.node(), &pos.settlement(3, claimed));
    assert_eq!(read_settlement_answer(&out[0]).result, SettlementResult::NotBalanced);
    let entry = BatchDetailEntry {
        card_organisation: 0,
        stan: Stan::new(1).unwrap(),
        pan: Pan::new(PAN).unwrap(),
        amount: AmountFen::new(1000).unwrap(),
    };
    let upload = BatchUploadRequest {
        stan: Stan::new(4).unwrap(),
        batch: pos.batch,
        terminal: pos.id,
        merchant: pos.merchant,
        detail: BatchDetail { entries: vec![entry] },
    };
    world.send(at(200), pos.node(), &seal(&CupMessage::BatchUpload(upload), Tpdu::new(3, 0), None));
    let end = BatchUploadEnd {
        stan: Stan::new(5).unwrap(),
        batch: pos.batch,
        terminal: pos.id,
        merchant: pos.merchant,
        total_count: 1,
        balanced: false,
    };
    let out = world.send(
        at(300),
        pos.node(),
        &seal(&CupMessage::BatchUploadEnd(end), Tpdu::new(3, 0), None),
    );
    assert_eq!(read_upload_answer(&out[0]).response_code, ResponseCode::APPROVED);
    world.events();
    world.switch.handle_command(at(400), SwitchCommand::SubmitClearing);
    let events = world.events();
    let [SwitchEventKind::ClearingSubmitted { keys }] = &events[..] else {
        panic!("one clearing file: {events:?}")
    };
    // The file is handed over once: the next day's starts empty.
    world.switch.handle_command(at(500), SwitchCommand::SubmitClearing);
    assert_eq!(world.events(), [SwitchEventKind::ClearingSubmitted { keys: vec![] }]);
    (keys.clone(), [TradeKey::of(&kept), TradeKey::of(&left_out)])
}

#[test]
fn the_clearing_file_holds_what_the_terminal_settled_so_a_sale_it_left_out_goes_back() {
    let (filed, [kept, _left_out]) = clearing_file_after_a_sale_left_out(false);
    assert_eq!(filed, vec![kept]);
}

#[test]
fn an_acquirer_clearing_its_own_approvals_files_the_sale_the_terminal_left_out() {
    let (filed, [kept, left_out]) = clearing_file_after_a_sale_left_out(true);
    assert_eq!(filed, vec![kept, left_out]);
}

#[test]
fn the_clearing_file_survives_a_crash_and_a_full_file_says_what_it_left_out() {
    let (mut world, pos) = signed_in_world();
    world.approved_sale(at(10), &pos, &pos.sale(1, 1000, None), ResponseCode::APPROVED);
    world.approved_sale(at(20), &pos, &pos.sale(2, 2000, None), ResponseCode::APPROVED);
    let mut config = world.config.clone();
    config.clearing_max = 1;
    let mut switch =
        Switch::restart(config.clone(), world.switch.persistent(), at(30)).expect("recovers");
    while switch.poll_event().is_some() {}
    switch.handle_command(at(40), SwitchCommand::CloseBatch { terminal: pos.id });
    let mut events = Vec::new();
    while let Some(event) = switch.poll_event() {
        events.push(event.kind);
    }
    let one = BatchNo::new(1).unwrap();
    assert!(events.contains(&SwitchEventKind::ClearingFileFull {
        terminal: pos.id,
        batch: one,
        unfiled: 1
    }));
    assert_eq!(switch.persistent().clearing.len(), 1);
    let mut again = Switch::restart(config, switch.persistent(), at(50)).expect("recovers");
    while again.poll_event().is_some() {}
    again.handle_command(at(60), SwitchCommand::SubmitClearing);
    let Some(SwitchEvent { kind: SwitchEventKind::ClearingSubmitted { keys }, .. }) =
        again.poll_event()
    else {
        panic!("the file after two restarts")
    };
    assert_eq!(keys.len(), 1);
}

// ---- operations ---------------------------------------------------------------------

#[test]
fn a_host_side_close_settles_on_the_switch_totals_and_ends_the_session() {
    let (mut world, pos) = signed_in_world();
    world.approved_sale(at(10), &pos, &pos.sale(1, 1000, None), ResponseCode::APPROVED);
    world.events();
    world.switch.handle_command(at(100), SwitchCommand::CloseBatch { terminal: pos.id });
    let one = BatchNo::new(1).unwrap();
    let two = BatchNo::new(2).unwrap();
    assert_eq!(
        world.events(),
        [
            SwitchEventKind::SignedOff { terminal: pos.id },
            SwitchEventKind::BatchClosed {
                terminal: pos.id,
                batch: one,
                next: two,
                reason: CloseReason::HostSide
            },
            SwitchEventKind::BatchFiled {
                terminal: pos.id,
                batch: one,
                filed: 1,
                by_upload: false,
                totals: BatchTotals { debit_amount: 1000, debit_count: 1, ..Default::default() },
            },
        ]
    );
    let record = world.switch.terminal(&pos.id).unwrap();
    assert_eq!(record.current.number, two);
    assert_eq!(record.previous.as_ref().unwrap().totals().debit_amount, 1000);
    // The old device's keys are gone with its session: a sale now is refused.
    let out = world.send(at(200), pos.node(), &pos.trade(&pos.sale(2, 10, None)));
    assert_ne!(out[0].to, Node::Network, "not forwarded without a session");
}

#[test]
fn a_quirk_set_by_command_makes_that_settlement_unbalanced_and_only_that_one() {
    let (mut world, pos) = signed_in_world();
    world.approved_sale(at(10), &pos, &pos.sale(1, 1000, None), ResponseCode::APPROVED);
    world.events();
    let totals = BatchTotals { debit_amount: 1000, debit_count: 1, ..Default::default() };
    let quirk = crate::switch::SwitchQuirk {
        terminal: pos.id,
        stan: 2,
        answer: None,
        sign_in_again_header: false,
        bad_key_check: false,
        not_balanced: true,
    };
    world.switch.handle_command(at(50), SwitchCommand::Quirk(quirk));
    let out = world.send(at(100), pos.node(), &pos.settlement(2, totals));
    assert_eq!(read_settlement_answer(&out[0]).result, SettlementResult::NotBalanced);
    // The same totals under another STAN agree: the quirk named one request.
    let out = world.send(at(200), pos.node(), &pos.settlement(3, totals));
    assert_eq!(read_settlement_answer(&out[0]).result, SettlementResult::Balanced);
}

#[test]
fn a_quirk_past_the_bound_is_refused_with_an_event_not_dropped() {
    let (mut world, pos) = signed_in_world();
    world.events();
    let quirk = |stan| crate::switch::SwitchQuirk {
        terminal: pos.id,
        stan,
        answer: None,
        sign_in_again_header: false,
        bad_key_check: false,
        not_balanced: true,
    };
    let max = crate::switch::config::QUIRKS_MAX as u32;
    for stan in 1..=max {
        world.switch.handle_command(at(50), SwitchCommand::Quirk(quirk(stan)));
    }
    assert_eq!(world.events(), []);
    world.switch.handle_command(at(60), SwitchCommand::Quirk(quirk(max + 1)));
    assert_eq!(world.events(), [SwitchEventKind::QuirkRefused { terminal: pos.id, stan: max + 1 }]);
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

/// A trade of the pre-auth family as the terminal builds it: the cancel,
/// the completion and its advice name their pre-auth by auth code and date,
/// the completion void names its completion (the STAN before its own).
fn pre_auth_kind(pos: &Pos, kind: TradeKind, stan: u32, fen: u64) -> FinancialRequest {
    let amount = AmountFen::new(fen).unwrap();
    let original_auth = AuthCode::new("A00001").unwrap();
    let original_date = MonthDay::new(11, 21).unwrap();
    let trade = match kind {
        TradeKind::PreAuth => Trade::PreAuth { amount },
        TradeKind::PreAuthCancel => Trade::PreAuthCancel { amount, original_auth, original_date },
        TradeKind::Completion => Trade::Completion { amount, original_auth, original_date },
        TradeKind::CompletionVoid => Trade::void_of(
            true,
            amount,
            Rrn::new("010000000001").unwrap(),
            Some(original_auth),
            pos.batch,
            Stan::new(stan - 1).unwrap(),
        ),
        TradeKind::CompletionAdvice => {
            Trade::CompletionAdvice { amount, original_auth, original_date }
        }
        other => panic!("{} is not of the pre-auth family", other.label()),
    };
    FinancialRequest { trade, ..pos.sale(stan, fen, None) }
}

/// Each kind of the family (0100 pre-auth and cancel, 0200 completion and
/// completion void, 0220 completion advice) goes upstream as the terminal
/// sent it and its answer comes back under the answering MTI of its kind,
/// with its own F3, F25 and 60.1, so the terminal matches it.
#[test]
fn each_pre_auth_kind_goes_upstream_unchanged_and_its_answer_comes_back_as_that_kind() {
    let (mut world, pos) = signed_in_world();
    let answer_mtis = ["0110", "0110", "0210", "0210", "0230"];
    for (index, (kind, mti)) in PRE_AUTH_FAMILY.into_iter().zip(answer_mtis).enumerate() {
        let stan = 21 + index as u32;
        let request = pre_auth_kind(&pos, kind, stan, 10_000);
        let out = world.send(at(1_000 * u64::from(stan)), pos.node(), &pos.trade(&request));
        assert_eq!(out.len(), 1, "{}", kind.label());
        let forwarded = read_upstream_trade(&out[0]);
        assert_eq!(forwarded, request, "{} travels unchanged", kind.label());
        let back = world.send(
            at(1_000 * u64::from(stan) + 300),
            Node::Network,
            &network_answer(&forwarded, ResponseCode::APPROVED),
        );
        assert_eq!(back.len(), 1, "{}", kind.label());
        let answer = pos.read_trade_answer(&back[0]);
        assert_eq!(
            (answer.kind, answer.mti().to_string(), answer.response_code),
            (kind, mti.to_string(), ResponseCode::APPROVED)
        );
        assert!(answer.answers(&request), "{}: the terminal takes it as its answer", kind.label());
        let key = TradeKey::of(&request);
        assert_eq!(
            world.events(),
            [
                SwitchEventKind::Forwarded { key, kind },
                SwitchEventKind::Answered { key, code: ResponseCode::APPROVED, reversal: false },
            ]
        );
    }
    assert_eq!(world.switch.pending_count(), 0);
}

/// Settlement totals (DOMAIN.md, Terminal life cycle, 4) as the terminal
/// keeps them: a completion and a completion advice are debits, a
/// completion void a credit, a pre-auth and its cancel move no money; a
/// declined completion counts nowhere. The terminal's totals balance.
#[test]
fn the_batch_counts_a_completion_and_its_advice_as_debits_a_completion_void_as_a_credit_and_no_pre_auth_or_cancel(
) {
    let (mut world, pos) = signed_in_world();
    let approved = [
        (TradeKind::PreAuth, 1, 30_000),
        (TradeKind::PreAuthCancel, 2, 30_000),
        (TradeKind::PreAuth, 3, 20_000),
        (TradeKind::Completion, 4, 23_000),
        (TradeKind::CompletionVoid, 5, 23_000),
        (TradeKind::PreAuth, 6, 5_000),
        (TradeKind::CompletionAdvice, 7, 4_000),
        (TradeKind::PreAuth, 8, 9_000),
        (TradeKind::Completion, 9, 8_000),
    ];
    for (kind, stan, fen) in approved {
        let request = pre_auth_kind(&pos, kind, stan, fen);
        let answer =
            world.approved_sale(at(100 * u64::from(stan)), &pos, &request, ResponseCode::APPROVED);
        assert!(answer.response_code.is_approved());
    }
    let declined = pre_auth_kind(&pos, TradeKind::Completion, 10, 50_000);
    world.approved_sale(at(1_000), &pos, &declined, ResponseCode::INSUFFICIENT_FUNDS);
    world.events();
    let expected = BatchTotals {
        debit_amount: 23_000 + 4_000 + 8_000,
        debit_count: 3,
        credit_amount: 23_000,
        credit_count: 1,
    };
    assert_eq!(world.switch.terminal(&pos.id).unwrap().current.totals(), expected);
    let out = world.send(at(2_000), pos.node(), &pos.settlement(11, expected));
    assert_eq!(read_settlement_answer(&out[0]).result, SettlementResult::Balanced);
}

/// A copy of a request of the family still upstream is dropped (its answer
/// is on the way); a copy of one answered gets the original's answer again,
/// same RRN and auth code, and is not forwarded; each counts once.
#[test]
fn a_copy_of_each_pre_auth_kind_in_flight_is_dropped_and_once_answered_gets_its_answer_again() {
    let (mut world, pos) = signed_in_world();
    for (index, kind) in PRE_AUTH_FAMILY.into_iter().enumerate() {
        let stan = 31 + index as u32;
        let ms = 10_000 * u64::from(stan);
        let request = pre_auth_kind(&pos, kind, stan, 6_000);
        let key = TradeKey::of(&request);
        let forwarded =
            read_upstream_trade(&world.send(at(ms), pos.node(), &pos.trade(&request))[0]);
        world.events();
        assert!(world.send(at(ms + 100), pos.node(), &pos.trade(&request)).is_empty());
        assert_eq!(
            world.events(),
            [SwitchEventKind::DuplicateInFlight { key }],
            "{}",
            kind.label()
        );
        let back = world.send(
            at(ms + 200),
            Node::Network,
            &network_answer(&forwarded, ResponseCode::APPROVED),
        );
        let first = pos.read_trade_answer(&back[0]);
        world.events();
        let again = world.send(at(ms + 5_000), pos.node(), &pos.trade(&request));
        assert_eq!(again.len(), 1, "{}: nothing upstream", kind.label());
        let replayed = pos.read_trade_answer(&again[0]);
        assert_eq!(replayed, first, "{}: the original's answer again", kind.label());
        assert_eq!(
            world.events(),
            [
                SwitchEventKind::Duplicate { key },
                SwitchEventKind::Answered { key, code: ResponseCode::APPROVED, reversal: false },
            ]
        );
    }
    let totals = world.switch.terminal(&pos.id).unwrap().current.totals();
    assert_eq!(
        (totals.debit_count, totals.debit_amount, totals.credit_count, totals.credit_amount),
        (2, 12_000, 1, 6_000),
        "the completion and its advice once each, the completion void once"
    );
}

/// A host that answers copies with a bare 94 does so for every kind of the
/// family taken, and gives a refused one its refusal again.
#[test]
fn without_replay_a_copy_of_each_pre_auth_kind_gets_94_when_taken_and_its_refusal_when_refused() {
    let mut pos = Pos::new("10000001", TMK_SINGLE);
    let mut config = config_for(&[&pos]);
    config.replay_duplicates = false;
    let mut world = World::with(config);
    world.sign_in(at(0), &mut pos, KeyMode::Single);
    for (index, kind) in PRE_AUTH_FAMILY.into_iter().enumerate() {
        let stan = 2 * index as u32 + 2;
        let taken = pre_auth_kind(&pos, kind, stan, 1_000);
        let refused = pre_auth_kind(&pos, kind, stan + 1, 1_000);
        world.approved_sale(at(100), &pos, &taken, ResponseCode::APPROVED);
        world.approved_sale(at(200), &pos, &refused, ResponseCode::ORIGINAL_NOT_FOUND);
        let again = world.send(at(300), pos.node(), &pos.trade(&taken));
        assert_eq!(again.len(), 1, "{}: nothing upstream", kind.label());
        assert_eq!(pos.read_trade_answer(&again[0]).response_code, ResponseCode::DUPLICATE);
        let again = world.send(at(400), pos.node(), &pos.trade(&refused));
        assert_eq!(again.len(), 1, "{}: nothing upstream", kind.label());
        assert_eq!(
            pos.read_trade_answer(&again[0]).response_code,
            ResponseCode::ORIGINAL_NOT_FOUND,
            "{}: never 94 to a copy of a refusal",
            kind.label()
        );
    }
}

/// A pre-auth, a cancel, a completion and a completion void whose answer
/// does not come in time get 98, and the switch queues its own reversal
/// (reason 98) naming the kind by F3, F25 and 60.1, retried until the
/// network acknowledges it; a late approval is not relayed and nothing
/// counts in the batch.
#[test]
fn each_reversible_pre_auth_kind_unanswered_upstream_gets_98_and_the_switch_queues_its_reversal() {
    for kind in PRE_AUTH_FAMILY.into_iter().filter(|kind| kind.is_reversible()) {
        let (mut world, pos) = signed_in_world();
        let request = pre_auth_kind(&pos, kind, 41, 7_000);
        let key = TradeKey::of(&request);
        world.send(at(1_000), pos.node(), &pos.trade(&request));
        world.events();
        let out = world.tick(at(41_000));
        assert_eq!(out.len(), 2, "{}: the 98 and the reversal", kind.label());
        let answer = pos.read_trade_answer(&out[0]);
        assert_eq!((answer.kind, answer.response_code), (kind, ResponseCode::ISSUER_TIMEOUT));
        let reversal = read_upstream_reversal(&out[1]);
        assert_eq!(reversal, ReversalRequest::new(&request, ResponseCode::ISSUER_TIMEOUT));
        assert_eq!(reversal.original().kind(), kind);
        assert_eq!(
            world.events(),
            [
                SwitchEventKind::UpstreamTimeout { key },
                SwitchEventKind::ReversalQueued { key, reason: ResponseCode::ISSUER_TIMEOUT },
                SwitchEventKind::Answered {
                    key,
                    code: ResponseCode::ISSUER_TIMEOUT,
                    reversal: false
                },
                SwitchEventKind::ReversalSent { key, attempt: 1 },
            ],
            "{}",
            kind.label()
        );
        let late = world.send(
            at(41_500),
            Node::Network,
            &network_answer(&request, ResponseCode::APPROVED),
        );
        assert!(late.is_empty(), "{}: no approval for a trade being reversed", kind.label());
        let retry = world.tick(at(51_000));
        assert_eq!(read_upstream_reversal(&retry[0]), reversal, "{}: tried again", kind.label());
        world.send(
            at(51_200),
            Node::Network,
            &network_reversal_answer(&reversal, ResponseCode::APPROVED),
        );
        assert!(world.switch.store_forward().is_empty(), "{}", kind.label());
        assert_eq!(
            world.switch.terminal(&pos.id).unwrap().current.totals(),
            BatchTotals::default(),
            "{}",
            kind.label()
        );
    }
}

/// A completion advice is an advice (DOMAIN.md, Transactions): timed out
/// upstream it gets 98 and no reversal; its copy goes upstream again, and so
/// does the next after the network's own 98; the issuer's 94 to a copy
/// ("already taken") counts it once as a debit, and a later copy is
/// answered here with that 94.
#[test]
fn a_completion_advice_unanswered_upstream_is_never_reversed_and_its_copies_go_upstream_until_taken(
) {
    let (mut world, pos) = signed_in_world();
    let advice = pre_auth_kind(&pos, TradeKind::CompletionAdvice, 12, 4_500);
    world.send(at(1_000), pos.node(), &pos.trade(&advice));
    let out = world.tick(at(41_000));
    assert_eq!(out.len(), 1, "the 98 only: nothing to reverse");
    assert_eq!(pos.read_trade_answer(&out[0]).response_code, ResponseCode::ISSUER_TIMEOUT);
    assert!(world.switch.store_forward().is_empty());
    assert!(!world.events().iter().any(|e| matches!(e, SwitchEventKind::ReversalQueued { .. })));

    let again = world.send(at(60_000), pos.node(), &pos.trade(&advice));
    assert_eq!(read_upstream_trade(&again[0]), advice, "the copy goes upstream again");
    let back = world.send(
        at(90_000),
        Node::Network,
        &network_answer(&advice, ResponseCode::ISSUER_TIMEOUT),
    );
    assert_eq!(pos.read_trade_answer(&back[0]).response_code, ResponseCode::ISSUER_TIMEOUT);
    let third = world.send(at(120_000), pos.node(), &pos.trade(&advice));
    assert_eq!(read_upstream_trade(&third[0]), advice, "98 said nothing: upstream again");
    let back =
        world.send(at(120_100), Node::Network, &network_answer(&advice, ResponseCode::DUPLICATE));
    assert_eq!(pos.read_trade_answer(&back[0]).response_code, ResponseCode::DUPLICATE);
    let fourth = world.send(at(150_000), pos.node(), &pos.trade(&advice));
    assert_eq!(fourth.len(), 1, "answered here, not forwarded");
    assert_eq!(pos.read_trade_answer(&fourth[0]).response_code, ResponseCode::DUPLICATE);
    let totals = world.switch.terminal(&pos.id).unwrap().current.totals();
    assert_eq!((totals.debit_amount, totals.debit_count), (4_500, 1));
    assert!(world.switch.store_forward().is_empty(), "a completion advice is never reversed");
}

/// The terminal's own reversal of an approved kind of the family is
/// acknowledged 00 at once and goes upstream once, as that kind; the trade
/// leaves the batch totals (the completion its debit, the void its credit).
#[test]
fn a_terminal_reversal_of_each_approved_reversible_pre_auth_kind_is_acknowledged_and_goes_upstream_once(
) {
    for kind in PRE_AUTH_FAMILY.into_iter().filter(|kind| kind.is_reversible()) {
        let (mut world, pos) = signed_in_world();
        let request = pre_auth_kind(&pos, kind, 51, 3_000);
        world.approved_sale(at(10), &pos, &request, ResponseCode::APPROVED);
        let out = world.send(at(500), pos.node(), &pos.reversal(&request));
        assert_eq!(out.len(), 2, "{}", kind.label());
        let upstream = read_upstream_reversal(out.iter().find(|t| t.to == Node::Network).unwrap());
        assert_eq!(upstream.original().kind(), kind);
        let answer = pos.read_trade_answer(out.iter().find(|t| t.to == pos.node()).unwrap());
        assert!(answer.reversal && answer.response_code.is_approved(), "{}", kind.label());
        assert_eq!(answer.kind, kind);
        let again = world.send(at(600), pos.node(), &pos.reversal(&request));
        assert_eq!(again.len(), 1, "{}: nothing new upstream", kind.label());
        assert_eq!(world.switch.store_forward().len(), 1);
        assert_eq!(
            world.switch.terminal(&pos.id).unwrap().current.totals(),
            BatchTotals::default(),
            "{}",
            kind.label()
        );
    }
}

/// A crash with the family in flight: the reversible kinds (pre-auth,
/// cancel, completion, completion void) may have been approved upstream,
/// so the restarted switch reverses each itself (98); the completion
/// advice is forgotten, so the terminal's copy goes upstream again rather
/// than getting 94 from a record of it.
#[test]
fn a_restart_reverses_every_reversible_pre_auth_kind_in_flight_and_lets_a_completion_advice_go_again(
) {
    let (mut world, pos) = signed_in_world();
    let requests: Vec<FinancialRequest> = PRE_AUTH_FAMILY
        .into_iter()
        .enumerate()
        .map(|(index, kind)| pre_auth_kind(&pos, kind, 61 + index as u32, 2_000))
        .collect();
    for request in &requests {
        assert_eq!(world.send(at(10), pos.node(), &pos.trade(request)).len(), 1);
    }
    let persistent = world.switch.persistent();
    let mut world = World {
        switch: Switch::restart(world.config.clone(), persistent, at(5_000)).unwrap(),
        config: world.config,
    };
    assert_eq!(
        world.events(),
        [SwitchEventKind::Recovered { reversals_queued: 4, store_forward: 4 }]
    );
    let reversed: Vec<TradeKind> = world
        .tick(at(5_000))
        .iter()
        .map(|transmit| read_upstream_reversal(transmit).original().kind())
        .collect();
    assert_eq!(
        reversed,
        [
            TradeKind::PreAuth,
            TradeKind::PreAuthCancel,
            TradeKind::Completion,
            TradeKind::CompletionVoid
        ]
    );
    let advice = &requests[4];
    let again = world.send(at(6_000), pos.node(), &pos.trade(advice));
    assert_eq!(read_upstream_trade(&again[0]), *advice, "the advice goes upstream again");
}
