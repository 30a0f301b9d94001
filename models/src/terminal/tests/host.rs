//! A fake switch, just enough to answer a terminal: it knows the TMK, hands
//! out working keys, MACs its answers, and can be told to misbehave.

use crate::actor::Transmit;
use crate::iso8583::cup::CupMessage;
use crate::iso8583::keys::{DesKey, KeyMode, WorkingKeys};
use crate::iso8583::mac::MacKey;
use crate::iso8583::network::{NetworkRequest, NetworkResponse};
use crate::iso8583::settlement::{BatchUploadResponse, SettlementRequest, SettlementResponse};
use crate::iso8583::subfields::SettlementResult;
use crate::iso8583::trade::{FinancialRequest, ReversalRequest, TradeResponse};
use crate::iso8583::values::{
    AuthCode, BatchNo, MerchantId, MonthDay, Rrn, Stan, TerminalId, TimeOfDay,
};
use crate::iso8583::{Header, ProcessingRequirement, ResponseCode, Tpdu};
use crate::wire::{receive, seal, seal_with_header, SOFTWARE_VERSION};

pub const TMK_SINGLE: &str = "1A2B3C4D5E6F7081";
pub const TMK_DOUBLE: &str = "1A2B3C4D5E6F70810F1E2D3C4B5A6978";

#[derive(Debug)]
pub struct Host {
    pub tmk: DesKey,
    pub mode: KeyMode,
    pub keys: WorkingKeys,
    /// The batch number the host puts in its 0810.
    pub batch: BatchNo,
    rrn_counter: u64,
}

fn reply_tpdu() -> Tpdu {
    Tpdu::new(0x0003, 0x0000).reply()
}

pub fn time() -> TimeOfDay {
    TimeOfDay::new(10, 0, 0).unwrap()
}

pub fn date() -> MonthDay {
    MonthDay::new(11, 21).unwrap()
}

impl Host {
    pub fn new(tmk_hex: &str, mode: KeyMode) -> Host {
        Host {
            tmk: DesKey::from_hex(tmk_hex).unwrap(),
            mode,
            keys: WorkingKeys {
                pik: DesKey::from_hex("0123456789ABCDEF").unwrap(),
                mak: DesKey::from_hex("FEDCBA9876543210").unwrap(),
                tdk: Some(DesKey::from_hex("0F1E2D3C4B5A6978").unwrap()),
            },
            batch: BatchNo::new(1).unwrap(),
            rrn_counter: 0,
        }
    }

    pub fn mak(&self) -> MacKey {
        MacKey::new(self.keys.mak.first_half())
    }

    /// What the terminal sent, decoded (MAC not checked here).
    pub fn read(&self, transmit: &Transmit) -> CupMessage {
        receive(&transmit.bytes, Some(&self.mak()))
            .expect("the terminal sends valid frames")
            .message
    }

    pub fn mac_valid(&self, transmit: &Transmit) -> bool {
        receive(&transmit.bytes, Some(&self.mak())).unwrap().mac.is_valid()
    }

    pub fn seal(&self, message: &CupMessage) -> Vec<u8> {
        seal(message, reply_tpdu(), Some(&self.mak()))
    }

    pub fn seal_asking_sign_in(&self, message: &CupMessage) -> Vec<u8> {
        let mut header = Header::new(SOFTWARE_VERSION);
        header.processing = ProcessingRequirement::SIGN_IN_AGAIN;
        seal_with_header(message, reply_tpdu(), header, Some(&self.mak()))
    }

    pub fn sign_in_answer(&self, request: &NetworkRequest, code: ResponseCode) -> Vec<u8> {
        let mut answer = self.network_answer(request, code);
        answer.keys = Some(self.keys.wrap(&self.tmk, self.mode));
        seal(&CupMessage::NetworkAnswer(answer), reply_tpdu(), None)
    }

    pub fn network_answer(&self, request: &NetworkRequest, code: ResponseCode) -> NetworkResponse {
        NetworkResponse {
            code: request.code,
            stan: request.stan,
            batch: self.batch,
            terminal: request.terminal,
            merchant: request.merchant,
            time: time(),
            date: date(),
            rrn: None,
            response_code: code,
            keys: None,
        }
    }

    pub fn trade_response(
        &mut self,
        request: &FinancialRequest,
        code: ResponseCode,
    ) -> TradeResponse {
        let mut answer = TradeResponse::answering(request, code, time(), date());
        if code.is_approved() {
            self.rrn_counter += 1;
            answer.rrn = Some(Rrn::new(&format!("01{:010}", self.rrn_counter)).unwrap());
            answer.auth_code = Some(AuthCode::new(&format!("{:06}", self.rrn_counter)).unwrap());
        }
        answer
    }

    pub fn answer_trade(&mut self, request: &FinancialRequest, code: ResponseCode) -> Vec<u8> {
        let answer = self.trade_response(request, code);
        self.seal(&CupMessage::TradeAnswer(answer))
    }

    /// An approval whose MAC was computed under another key.
    pub fn answer_trade_bad_mac(&mut self, request: &FinancialRequest) -> Vec<u8> {
        let answer = self.trade_response(request, ResponseCode::APPROVED);
        let wrong = MacKey::new(*b"\x13\x57\x9B\xDF\x02\x46\x8A\xCE");
        seal(&CupMessage::TradeAnswer(answer), reply_tpdu(), Some(&wrong))
    }

    pub fn answer_reversal(&self, reversal: &ReversalRequest, code: ResponseCode) -> Vec<u8> {
        let answer = TradeResponse::answering_reversal(reversal, code, time(), date());
        self.seal(&CupMessage::TradeAnswer(answer))
    }

    pub fn answer_settlement(
        &self,
        request: &SettlementRequest,
        result: SettlementResult,
    ) -> Vec<u8> {
        let answer = SettlementResponse {
            stan: request.stan,
            batch: request.batch,
            terminal: request.terminal,
            merchant: request.merchant,
            time: time(),
            date: date(),
            settlement_date: Some(date()),
            rrn: None,
            totals: request.totals,
            result,
        };
        seal(&CupMessage::SettlementAnswer(answer), reply_tpdu(), None)
    }

    pub fn answer_batch(
        &self,
        stan: Stan,
        batch: BatchNo,
        terminal: TerminalId,
        merchant: MerchantId,
        network_code: u16,
    ) -> Vec<u8> {
        self.answer_batch_with(
            stan,
            batch,
            terminal,
            merchant,
            network_code,
            ResponseCode::APPROVED,
        )
    }

    pub fn answer_batch_with(
        &self,
        stan: Stan,
        batch: BatchNo,
        terminal: TerminalId,
        merchant: MerchantId,
        network_code: u16,
        response_code: ResponseCode,
    ) -> Vec<u8> {
        let answer =
            BatchUploadResponse { stan, batch, terminal, merchant, network_code, response_code };
        seal(&CupMessage::BatchUploadAnswer(answer), reply_tpdu(), None)
    }
}
