//! Frames both live watchers' tests feed in: a sale of one terminal and
//! its answers, built from the wire up so the tests go through the parser.

use possim_models::iso8583::cup::CupMessage;
use possim_models::iso8583::trade::{FinancialRequest, TradeResponse};
use possim_models::iso8583::values::{MonthDay, TerminalId, TimeOfDay};
use possim_models::iso8583::{Message, Mti, ResponseCode};

pub fn terminal() -> TerminalId {
    TerminalId::new("LV000001").unwrap()
}

pub fn sale(stan: u32, amount_fen: u64) -> FinancialRequest {
    let mut message = Message::new(Mti::FINANCIAL);
    message.set(2, b"6222020000000001").unwrap();
    message.set(3, b"000000").unwrap();
    message.set(4, format!("{amount_fen:012}").as_bytes()).unwrap();
    message.set(11, format!("{stan:06}").as_bytes()).unwrap();
    message.set(22, b"021").unwrap();
    message.set(25, b"00").unwrap();
    message.set(41, b"LV000001").unwrap();
    message.set(42, b"898100000000001").unwrap();
    message.set(49, b"156").unwrap();
    message.set(60, b"22000001000").unwrap();
    match CupMessage::parse(&message).unwrap() {
        CupMessage::Trade(request) => request,
        other => panic!("{other:?}"),
    }
}

pub fn answer(request: &FinancialRequest, code: &[u8; 2]) -> CupMessage {
    let time = TimeOfDay::new(9, 0, 0).unwrap();
    let date = MonthDay::new(11, 21).unwrap();
    CupMessage::TradeAnswer(TradeResponse::answering(request, ResponseCode::new(*code), time, date))
}
