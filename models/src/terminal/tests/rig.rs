//! A terminal on a bench: the fake host, a clock the test moves, and every
//! event kept for assertions.

use crate::actor::{Actor, Node, Transmit};
use crate::iso8583::cup::CupMessage;
use crate::iso8583::keys::KeyMode;
use crate::iso8583::subfields::SettlementResult;
use crate::iso8583::trade::{CardRead, FinancialRequest, ReversalRequest};
use crate::iso8583::values::{AmountFen, Pan, Stan};
use crate::iso8583::ResponseCode;
pub use crate::terminal::reasons::{
    FailureReason, FrameDropReason, OwedSlip, Recovery, RefusalReason, SignInReason,
};
use crate::terminal::{Terminal, TerminalCommand, TerminalConfig, TerminalEventKind};
use crate::time::Instant;

use super::host::{Host, TMK_DOUBLE, TMK_SINGLE};

pub fn card() -> CardRead {
    CardRead::swiped(Pan::new("6222021234567890123").unwrap())
}

pub fn fen(amount: u64) -> AmountFen {
    AmountFen::new(amount).unwrap()
}

pub fn stan(value: u32) -> Stan {
    Stan::new(value).unwrap()
}

pub fn code(text: &str) -> ResponseCode {
    ResponseCode::from_wire(text.as_bytes()).unwrap()
}

pub fn sale(amount: u64) -> TerminalCommand {
    TerminalCommand::Sale { card: card(), amount: fen(amount), pin: Some("123456".into()) }
}

/// The MTI of a frame as four digits.
pub fn mti(transmit: &Transmit) -> String {
    format!("{:02X}{:02X}", transmit.bytes[13], transmit.bytes[14])
}

#[derive(Debug)]
pub struct Rig {
    pub terminal: Terminal,
    pub host: Host,
    pub config: TerminalConfig,
    pub now: Instant,
    pub events: Vec<TerminalEventKind>,
    /// Every frame the terminal sent, in order.
    pub wire: Vec<Transmit>,
    unread: usize,
}

impl Rig {
    /// Powered on, operator signed in, terminal not signed in.
    pub fn new(config: TerminalConfig) -> Rig {
        let tmk = match config.key_mode {
            KeyMode::Single => TMK_SINGLE,
            _ => TMK_DOUBLE,
        };
        let config = TerminalConfig { tmk: tmk.into(), ..config };
        let host = Host::new(tmk, config.key_mode);
        let terminal = Terminal::new(config.clone(), Instant::ZERO).unwrap();
        let mut rig = Rig {
            terminal,
            host,
            config,
            now: Instant::ZERO,
            events: Vec::new(),
            wire: Vec::new(),
            unread: 0,
        };
        rig.operator();
        rig
    }

    /// Powered on, operator and terminal signed in.
    pub fn signed_in(config: TerminalConfig) -> Rig {
        let mut rig = Rig::new(config);
        rig.sign_in();
        rig
    }

    pub fn operator(&mut self) {
        let (operator, password) =
            (self.config.operator.clone(), self.config.operator_password.clone());
        self.command(TerminalCommand::OperatorSignIn { operator, password });
    }

    pub fn sign_in(&mut self) {
        self.command(TerminalCommand::SignIn);
        let CupMessage::Network(request) = self.next_message() else { panic!("expected an 0800") };
        let answer = self.host.sign_in_answer(&request, ResponseCode::APPROVED);
        self.deliver(&answer);
        assert!(self.terminal.persistent().signed_in(), "{:?}", self.events);
    }

    fn pump(&mut self) {
        while let Some(transmit) = self.terminal.poll_transmit() {
            assert_eq!(transmit.to, Node::Switch);
            self.wire.push(transmit);
        }
        while let Some(event) = self.terminal.poll_event() {
            assert_eq!(event.at, self.now);
            self.events.push(event.kind);
        }
    }

    pub fn command(&mut self, command: TerminalCommand) {
        self.terminal.handle_command(self.now, command);
        self.pump();
    }

    pub fn deliver(&mut self, bytes: &[u8]) {
        self.terminal.handle_message(self.now, Node::Switch, bytes);
        self.pump();
    }

    pub fn advance_ms(&mut self, ms: u64) {
        self.now = Instant::from_millis(self.now.as_millis() + ms);
    }

    /// Lets the terminal's deadline pass.
    pub fn time_out(&mut self) {
        let deadline = self.terminal.poll_timeout().expect("a deadline is set");
        self.now = deadline;
        self.terminal.handle_timeout(self.now);
        self.pump();
    }

    /// The next frame sent and not yet looked at.
    pub fn next_frame(&mut self) -> Transmit {
        let frame = self.wire.get(self.unread).cloned().expect("the terminal sent a frame");
        self.unread += 1;
        frame
    }

    pub fn nothing_sent(&self) -> bool {
        self.unread == self.wire.len()
    }

    pub fn next_message(&mut self) -> CupMessage {
        let frame = self.next_frame();
        self.host.read(&frame)
    }

    pub fn next_trade(&mut self) -> FinancialRequest {
        match self.next_message() {
            CupMessage::Trade(request) => request,
            other => panic!("expected a trade request, got {other:?}"),
        }
    }

    pub fn next_reversal(&mut self) -> ReversalRequest {
        match self.next_message() {
            CupMessage::Reversal(reversal) => reversal,
            other => panic!("expected a reversal, got {other:?}"),
        }
    }

    /// A sale the host approves; returns its request.
    pub fn approved_sale(&mut self, amount: u64) -> FinancialRequest {
        self.command(sale(amount));
        let request = self.next_trade();
        let answer = self.host.answer_trade(&request, ResponseCode::APPROVED);
        self.deliver(&answer);
        request
    }

    /// A sale whose answer never comes; returns its request.
    pub fn unanswered_sale(&mut self, amount: u64) -> FinancialRequest {
        self.command(sale(amount));
        let request = self.next_trade();
        self.time_out();
        request
    }

    /// Answers whatever the terminal sends as a healthy host would, until
    /// it sends nothing more; returns the MTIs answered.
    pub fn answer_all(&mut self) -> Vec<String> {
        let mut seen = Vec::new();
        for _ in 0..64 {
            if self.nothing_sent() {
                return seen;
            }
            let frame = self.next_frame();
            seen.push(mti(&frame));
            let answer = match self.host.read(&frame) {
                CupMessage::Trade(request) => {
                    self.host.answer_trade(&request, ResponseCode::APPROVED)
                }
                CupMessage::Reversal(reversal) => {
                    self.host.answer_reversal(&reversal, ResponseCode::APPROVED)
                }
                CupMessage::Settlement(request) => {
                    self.host.answer_settlement(&request, SettlementResult::Balanced)
                }
                CupMessage::BatchUpload(request) => self.host.answer_batch(
                    request.stan,
                    request.batch,
                    request.terminal,
                    request.merchant,
                    201,
                ),
                CupMessage::BatchUploadEnd(end) => self.host.answer_batch(
                    end.stan,
                    end.batch,
                    end.terminal,
                    end.merchant,
                    end.network_code(),
                ),
                CupMessage::Network(request) => {
                    let answer = self.host.network_answer(&request, ResponseCode::APPROVED);
                    crate::wire::seal(
                        &CupMessage::NetworkAnswer(answer),
                        crate::iso8583::Tpdu::new(0, 3),
                        None,
                    )
                }
                other => panic!("a terminal does not send {other:?}"),
            };
            self.deliver(&answer);
        }
        panic!("the terminal kept sending");
    }

    /// Every MTI sent so far, in order.
    pub fn mtis(&self) -> Vec<String> {
        self.wire.iter().map(mti).collect()
    }

    pub fn saw(&self, check: impl Fn(&TerminalEventKind) -> bool) -> bool {
        self.events.iter().any(check)
    }

    pub fn count(&self, check: impl Fn(&TerminalEventKind) -> bool) -> usize {
        self.events.iter().filter(|event| check(event)).count()
    }

    /// Power cut: drop the terminal, keep its store, boot it again.
    pub fn power_cut_and_reboot(&mut self) {
        self.pump();
        let store = self.terminal.persistent().clone();
        self.advance_ms(1000);
        self.terminal = Terminal::restart(self.config.clone(), store, self.now).unwrap();
        self.pump();
        self.operator();
    }
}
