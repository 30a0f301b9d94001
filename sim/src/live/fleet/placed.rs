//! The fleet's faults, placed where the scenario says: on a terminal's
//! Nth online trade as it leaves (a corrupted MAC, a repeat, a reset, a
//! power cut), on an answer as it arrives (an approval that never reaches
//! the terminal, a reversal of a trade never sent after it), and the
//! scheduled terminal-side faults. The host's own faults are not possim's
//! to make against a host under test.

use std::time::Duration;

use possim_models::actor::{Actor, Node};
use possim_models::iso8583::cup::CupMessage;
use possim_models::iso8583::trade::{CardRead, EntryMode, ReversalRequest};
use possim_models::iso8583::values::{Stan, TerminalId};
use possim_models::iso8583::ResponseCode;
use possim_models::terminal::TerminalCommand;
use possim_models::time::Instant;
use possim_models::wire::seal_with_header;

use super::{json, line, parse, Chore, Fleet, FleetOutput, Phase, GHOST_STAN_BASE};
use crate::day::placed::{self, AtMoment, Moment, OnTrade, Standing};
use crate::live::host_checks::Sent;
use crate::scenario::model::{Fault, LineDirection, ProtocolFault};
use crate::trace::{Fate, FaultKind};

fn is_online_trade(message: &CupMessage) -> bool {
    matches!(message, CupMessage::Trade(request) if !request.kind().is_offline_upload())
}

impl Fleet {
    /// A whole frame arrived on `terminal`'s connection.
    pub fn on_frame(&mut self, now: Instant, terminal: TerminalId, bytes: &[u8]) {
        self.now_recorded = now;
        self.frames_received += 1;
        let mut owned = bytes.to_vec();
        let fate = self.line_down(now, terminal, &mut owned);
        self.record_frame(now, terminal, false, bytes, fate);
        if fate == Fate::Dropped {
            return;
        }
        let bytes = owned.as_slice();
        let Some((_, message)) = parse(bytes) else {
            self.log(
                "reject",
                vec![
                    ("terminal", json(terminal.trimmed())),
                    (
                        "reason",
                        json("an answer that is not a CUP message: given to the terminal as is"),
                    ),
                ],
            );
            if let Some(slot) = self.slots.get_mut(&terminal) {
                slot.terminal.handle_message(now, Node::Switch, bytes);
                self.pump(now, terminal);
            }
            return;
        };
        self.watch.on_answer(now, terminal, &message);
        if self.stranger.as_ref().is_some_and(|s| s.config().terminal_id == terminal) {
            let code = match &message {
                CupMessage::NetworkAnswer(answer) => answer.response_code.to_string(),
                _ => "-".into(),
            };
            self.log("probe", vec![("terminal", json(terminal.trimmed())), ("answer", json(code))]);
            return;
        }
        let Some(slot) = self.slots.get_mut(&terminal) else { return };
        let mut power_off_ms = None;
        let mut ghost = None;
        if let CupMessage::TradeAnswer(answer) = &message {
            let stan = answer.stan.value();
            if answer.reversal && slot.ghosts.contains(&stan) {
                return;
            }
            if !answer.reversal {
                if let Some(count) = slot.repeated.get_mut(&stan) {
                    *count += 1;
                    if *count > 1 {
                        // A repeat's answer: the terminal already has the original's.
                        return;
                    }
                }
                if answer.response_code.is_approved() {
                    power_off_ms = slot.power_on_approval.remove(&stan);
                }
                if let Some(trade) = slot.ghost_after.remove(&stan) {
                    ghost = Some(trade);
                }
            }
        }
        if let Some(off_ms) = power_off_ms {
            self.fault_log(
                terminal,
                format!(
                    "power_off: the approval of stan {} never reached the terminal",
                    message.stan().value()
                ),
            );
            self.power_off(now, terminal, off_ms);
            return;
        }
        let slot = self.slots.get_mut(&terminal).expect("looked up above");
        slot.terminal.handle_message(now, Node::Switch, bytes);
        self.pump(now, terminal);
        if let (Some(trade), CupMessage::TradeAnswer(answer)) = (ghost, &message) {
            self.plan_ghost(now, terminal, trade, answer.stan.value());
        }
    }

    /// The line's faults on a frame arriving for `terminal` (when the fleet
    /// plays them): its fate, the bytes changed if corrupted.
    fn line_down(&mut self, now: Instant, terminal: TerminalId, bytes: &mut [u8]) -> Fate {
        if !self.options.line_faults {
            return Fate::Delivered;
        }
        let Some(slot) = self.slots.get_mut(&terminal) else { return Fate::Delivered };
        slot.frames_down += 1;
        let index = slot.frames_down;
        let placed = line::frame_fate(&slot.faults, terminal, LineDirection::Down, index, bytes);
        if let Some((fate, words)) = placed {
            let kind = if fate == Fate::Dropped {
                FaultKind::LineDropFrame
            } else {
                FaultKind::LineCorrupt
            };
            self.record_fault(now, terminal, kind, words.clone());
            self.fault_log(terminal, words);
            return fate;
        }
        let answer = parse(bytes).and_then(|(_, message)| match message {
            CupMessage::TradeAnswer(answer) if !answer.reversal => Some(answer.stan.value()),
            _ => None,
        });
        if let Some(stan) = answer.filter(|stan| slot.drop_answers.remove(stan)) {
            let words = format!("drop the answer to stan {stan}");
            self.record_fault(now, terminal, FaultKind::LineDropFrame, words.clone());
            self.fault_log(terminal, words);
            return Fate::Dropped;
        }
        Fate::Delivered
    }

    /// A frame the terminal sends, through its fault plan.
    pub(super) fn outgoing(&mut self, now: Instant, id: TerminalId, mut bytes: Vec<u8>) {
        self.now_recorded = now;
        let mut line_fate = None;
        let original = bytes.clone();
        if self.options.line_faults {
            let slot = self.slots.get_mut(&id).expect("a terminal of the fleet");
            slot.frames_up += 1;
            let index = slot.frames_up;
            let placed = line::frame_fate(&slot.faults, id, LineDirection::Up, index, &mut bytes);
            if let Some((fate, words)) = placed {
                let kind = if fate == Fate::Dropped {
                    FaultKind::LineDropFrame
                } else {
                    FaultKind::LineCorrupt
                };
                self.record_fault(now, id, kind, words.clone());
                self.fault_log(id, words);
                line_fate = Some(fate);
            }
        }
        let Some((_, message)) = parse(&original) else {
            return self.send_through(id, bytes, &original, line_fate);
        };
        self.log(
            "request",
            vec![
                ("terminal", json(id.trimmed())),
                ("mti", json(message.to_message().mti().to_string())),
                ("stan", message.stan().value().into()),
            ],
        );
        let slot = self.slots.get_mut(&id).expect("a terminal of the fleet");
        let stan = message.stan().value();
        let mut sent = Sent::Normal;
        let mut twice = false;
        let mut reset = false;
        let mut power_off_ms = None;
        let mut fired = Vec::new();
        if is_online_trade(&message) {
            self.trades_sent += 1;
            slot.trades_sent += 1;
            let trade = slot.trades_sent;
            // Which faults fire: `day::placed`; how, below.
            for (index, action) in placed::on_online_trade(&slot.faults, trade) {
                match action {
                    OnTrade::CorruptRequest => {
                        let last = bytes.len() - 1;
                        bytes[last] ^= 0x01;
                        sent = Sent::BadMac;
                    }
                    OnTrade::DuplicateRequest { .. } => twice = true,
                    OnTrade::ResetAfterRequest => reset = true,
                    OnTrade::PowerOffNow { off_ms } => power_off_ms = Some(off_ms),
                    OnTrade::PowerOffOnApproval { off_ms } => {
                        slot.power_on_approval.insert(stan, off_ms);
                    }
                    OnTrade::ReverseUnknown => {
                        slot.ghost_after.insert(stan, trade);
                    }
                    OnTrade::DropRequest if self.options.line_faults => {
                        line_fate = Some(Fate::Dropped);
                    }
                    OnTrade::DropAnswer if self.options.line_faults => {
                        slot.drop_answers.insert(stan);
                    }
                    // The host's, or the simulated world's (refused as the
                    // scenario loads, or not asked for).
                    OnTrade::DropRequest
                    | OnTrade::DropAnswer
                    | OnTrade::CorruptAnswer
                    | OnTrade::DelayAnswer { .. }
                    | OnTrade::TamperNow { .. } => continue,
                }
                let name = slot.faults[index].kind_name();
                fired.push(format!("{name} on trade {trade} (stan {stan})"));
            }
        }
        if let CupMessage::Trade(request) = &message {
            let uploads_twice =
                placed::standing(&slot.faults, Standing::DuplicateUploads).is_some();
            if request.kind().is_offline_upload()
                && uploads_twice
                && !slot.repeated.contains_key(&stan)
            {
                twice = true;
                fired.push(format!("duplicate_uploads: stan {stan} sent twice"));
            }
        }
        if matches!(&message, CupMessage::BatchUpload(_)) {
            // The first such fault only: one power cut at a time.
            let mid = placed::at_moment(&slot.faults, Moment::BatchUpload, &mut slot.landed)
                .into_iter()
                .find_map(|(_, action)| match action {
                    AtMoment::PowerOff { off_ms } => Some(off_ms),
                    AtMoment::Cutoff { .. } | AtMoment::HostAnswers { .. } => None,
                });
            if let Some(off_ms) = mid {
                power_off_ms = Some(off_ms);
                fired.push("power_off in the middle of the batch upload".into());
            }
        }
        let reversal_lost = self.options.line_faults
            && matches!(&message, CupMessage::Reversal(_))
            && placed::standing(&slot.faults, Standing::DropReversals).is_some();
        if reversal_lost {
            line_fate = Some(Fate::Dropped);
            fired.push(format!("drop_reversals: the reversal of stan {stan} lost"));
        }
        if twice {
            slot.repeated.insert(stan, 0);
        }
        for what in fired {
            if let Some(kind) = fault_kind(&what) {
                self.record_fault(now, id, kind, what.clone());
            }
            self.fault_log(id, what);
        }
        if line_fate == Some(Fate::Dropped) {
            // Lost on the line: the host never sees it, so its checks do not
            // count it either.
            self.record_frame_sent(id, &original, Fate::Dropped);
            return;
        }
        self.watch.on_request(now, id, &message, sent);
        self.send_through(id, bytes.clone(), &original, line_fate);
        if twice {
            self.watch.on_request(now, id, &message, Sent::Repeat);
            self.send(id, bytes);
        }
        if reset {
            self.output(FleetOutput::Close {
                terminal: id,
                reason: "reset_after_request fault".into(),
            });
        }
        if let Some(off_ms) = power_off_ms {
            self.power_off(now, id, off_ms);
        }
    }

    /// Sends `bytes` (a line fault may have changed them) and records the
    /// frame by its `original` facts, as the simulated line does.
    fn send_through(
        &mut self,
        id: TerminalId,
        bytes: Vec<u8>,
        original: &[u8],
        fate: Option<Fate>,
    ) {
        match fate {
            None => self.send(id, bytes),
            Some(Fate::Dropped) => self.record_frame_sent(id, original, Fate::Dropped),
            Some(fate) => {
                self.record_frame_sent(id, original, fate);
                self.frames_sent += 1;
                self.output(FleetOutput::Send { terminal: id, bytes });
            }
        }
    }

    pub(super) fn power_off(&mut self, now: Instant, id: TerminalId, off_ms: u64) {
        let Some(slot) = self.slots.get_mut(&id) else { return };
        if !slot.terminal.is_powered() {
            return;
        }
        slot.terminal.handle_command(now, TerminalCommand::PowerOff);
        self.record_fault(now, id, FaultKind::PowerCut, format!("power off for {off_ms} ms"));
        self.fault_log(id, format!("power off for {off_ms} ms (scenario time)"));
        self.output(FleetOutput::Close { terminal: id, reason: "power off".into() });
        self.pump(now, id);
        let when = now + self.scaled(off_ms);
        self.at(when, Chore::PowerOn(id));
    }

    /// After `trade` was answered: a reversal of a trade never sent, sealed
    /// under the terminal's session key.
    fn plan_ghost(&mut self, now: Instant, id: TerminalId, trade: u32, stan: u32) {
        let _ = stan;
        let Some(slot) = self.slots.get_mut(&id) else { return };
        let Some(key) = slot.terminal.session_mac_key() else { return };
        let original =
            slot.terminal.persistent().journal().last().map(|e| (e.pan, e.amount, e.batch));
        let Some((pan, amount, batch)) = original else { return };
        let ghost_stan = GHOST_STAN_BASE + trade;
        let Some(ghost_stan_value) = Stan::new(ghost_stan) else { return };
        let request = possim_models::iso8583::trade::FinancialRequest {
            trade: possim_models::iso8583::trade::Trade::Sale { amount },
            card: CardRead {
                expiry: None,
                entry_mode: EntryMode::CHIP_PIN,
                ..CardRead::swiped(pan)
            },
            pin_block: None,
            stan: ghost_stan_value,
            batch,
            terminal: id,
            merchant: slot.terminal.config().merchant_id,
        };
        let reversal =
            CupMessage::Reversal(ReversalRequest::new(&request, ResponseCode::new(*b"98")));
        let bytes = seal_with_header(
            &reversal,
            possim_models::iso8583::Tpdu::new(0x0003, 0x0000),
            possim_models::iso8583::Header::new(possim_models::wire::SOFTWARE_VERSION),
            Some(&key),
        );
        slot.ghosts.insert(ghost_stan);
        self.fault_log(
            id,
            format!(
                "reverse_unknown after trade {trade}: reversal of stan {ghost_stan}, never sent"
            ),
        );
        self.at(now + Duration::from_millis(10), Chore::Ghost { terminal: id, bytes });
    }

    pub(super) fn scheduled_fault(&mut self, now: Instant, fault: Fault) {
        if self.phase != Phase::Workload {
            return;
        }
        match fault {
            Fault::Reset { terminal } => {
                self.fault_log(terminal, "reset: the connection is closed".into());
                self.output(FleetOutput::Close { terminal, reason: "reset fault".into() });
            }
            Fault::PowerCut { terminal, off_ms } => self.power_off(now, terminal, off_ms),
            other => {
                let kind = format!("{other:?}");
                let kind = kind.split([' ', '{']).next().unwrap_or("fault").to_string();
                self.log(
                    "fault-skipped",
                    vec![("kind", json(kind)), ("reason", json("not a terminal-side fault"))],
                );
            }
        }
    }
}

/// The trace's kind for a fault the fleet fired, by its description;
/// `None` for a fault that is a frame of its own (`reverse_unknown`: its
/// reversal is recorded as the frame it is).
fn fault_kind(what: &str) -> Option<FaultKind> {
    let kinds = [
        ("duplicate", FaultKind::LineDuplicate),
        ("corrupt", FaultKind::LineCorrupt),
        ("power", FaultKind::PowerCut),
        ("reset", FaultKind::LineReset),
        ("drop", FaultKind::LineDropFrame),
    ];
    kinds.iter().find(|(prefix, _)| what.starts_with(prefix)).map(|(_, kind)| *kind)
}

/// Whether `possim drive` applies a fault kind (the others are the host's:
/// an external host under test is not possim's to fault).
pub fn drive_applies(fault: &ProtocolFault) -> bool {
    matches!(
        fault,
        ProtocolFault::PowerOff { .. }
            | ProtocolFault::CorruptRequest { .. }
            | ProtocolFault::ReverseUnknown { .. }
            | ProtocolFault::DuplicateUploads { .. }
            | ProtocolFault::DuplicateRequest { .. }
            | ProtocolFault::ResetAfterRequest { .. }
    )
}
