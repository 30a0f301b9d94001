//! The fleet's terminals: each one's slot (the model and what its placed
//! faults remember), driving a terminal (a command in, its frames out
//! through the fault plan, its events to the day), and the unregistered
//! probe that signs in once to see the host refuse it.

use std::collections::{BTreeMap, BTreeSet};

use possim_models::actor::{Actor, Node};
use possim_models::iso8583::values::TerminalId;
use possim_models::terminal::events::TerminalEventKind;
use possim_models::terminal::{Terminal, TerminalCommand};
use possim_models::time::Instant;

use super::{json, parse, Fleet, FleetOutput};
use crate::day::placed::Landed;
use crate::day::DayView;
use crate::live::host_checks::Sent;
use crate::scenario::model::ProtocolFault;
use crate::trace::TraceEvent;

/// Passes of a terminal's output loop per input.
const PUMP_PASSES_MAX: usize = 1_000;

#[derive(Debug)]
pub(super) struct Slot {
    pub terminal: Terminal,
    pub faults: Vec<ProtocolFault>,
    /// Online trade requests sent (the Nth trade of the fault plan).
    pub trades_sent: u32,
    /// STAN -> power off for this long when its answer approves it.
    pub power_on_approval: BTreeMap<u32, u64>,
    /// STAN -> the trade whose answer triggers a reversal of a trade never sent.
    pub ghost_after: BTreeMap<u32, u32>,
    /// STANs of ghost reversals sent: their answers are the watcher's only.
    pub ghosts: BTreeSet<u32>,
    /// STANs sent twice: the answers after the first are the watcher's only.
    pub repeated: BTreeMap<u32, u32>,
    /// The placed faults that fired on their moment (once each).
    pub landed: Landed,
    /// Frames sent and received on its line, for placed `frame` faults.
    pub frames_up: u32,
    pub frames_down: u32,
    /// STANs whose answer is lost on the line (`drop_answer`).
    pub drop_answers: BTreeSet<u32>,
}

/// The fleet's terminals, as the day reads them.
#[derive(Debug, Default)]
pub(super) struct Slots(BTreeMap<TerminalId, Slot>);

impl std::ops::Deref for Slots {
    type Target = BTreeMap<TerminalId, Slot>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Slots {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl DayView for Slots {
    fn terminal(&self, id: TerminalId) -> &Terminal {
        &self.0[&id].terminal
    }
    /// Commands reach a fleet's terminal as they are keyed in.
    fn trade_queued(&self, _: TerminalId) -> bool {
        false
    }
    /// The host is the one under test: its state is not possim's to see.
    fn hosts_pending(&self) -> Vec<String> {
        Vec::new()
    }
}

impl Fleet {
    pub(super) fn command(&mut self, now: Instant, id: TerminalId, command: TerminalCommand) {
        let Some(slot) = self.slots.get_mut(&id) else { return };
        slot.terminal.handle_command(now, command);
        self.pump(now, id);
    }

    pub(super) fn operator_sign_in(&mut self, now: Instant, id: TerminalId) {
        let Some(slot) = self.slots.get(&id) else { return };
        let config = slot.terminal.config();
        let command = TerminalCommand::OperatorSignIn {
            operator: config.operator.clone(),
            password: config.operator_password.clone(),
        };
        self.command(now, id, command);
    }

    pub(super) fn send(&mut self, terminal: TerminalId, bytes: Vec<u8>) {
        self.record_frame_sent(terminal, &bytes, crate::trace::Fate::Delivered);
        self.frames_sent += 1;
        self.output(FleetOutput::Send { terminal, bytes });
    }

    /// A frame up the line, as the simulator records it: its facts as
    /// sent, and what became of it.
    pub(super) fn record_frame_sent(
        &mut self,
        terminal: TerminalId,
        bytes: &[u8],
        fate: crate::trace::Fate,
    ) {
        let at = self.now_recorded;
        self.record_frame(at, terminal, true, bytes, fate);
    }

    /// Moves the terminal's frames out (through the fault plan) and its
    /// events to the cashier.
    pub(super) fn pump(&mut self, now: Instant, id: TerminalId) {
        for _ in 0..PUMP_PASSES_MAX {
            let Some(slot) = self.slots.get_mut(&id) else { return };
            let transmit = slot.terminal.poll_transmit();
            let event = slot.terminal.poll_event();
            if transmit.is_none() && event.is_none() {
                return;
            }
            // The terminal's event first, then its frame: the order the
            // simulator records them in (`settlement_started`, then the 0500).
            if let Some(event) = &event {
                self.record(now, TraceEvent::Terminal(event.clone()));
            }
            if let Some(transmit) = transmit {
                self.outgoing(now, id, transmit.bytes);
            }
            if let Some(event) = event {
                if crate::logs::actor_events_on() {
                    // drive's own terminals log their decisions as the
                    // simulator's do, in the span of the terminal.
                    let logged = TraceEvent::Terminal(event.clone());
                    crate::logs::in_actor(
                        Node::Terminal(id),
                        || "possim".into(),
                        || crate::trace::log::live_event(logged),
                    );
                }
                self.cashier(now, id, event.kind);
            }
        }
        panic!("terminal {id} kept producing output for {PUMP_PASSES_MAX} passes");
    }

    /// The cashier's habits, as in the simulated workload.
    fn cashier(&mut self, now: Instant, id: TerminalId, kind: TerminalEventKind) {
        // What the terminal did, for the log; frames are logged as they leave.
        if !matches!(kind, TerminalEventKind::RequestSent { .. }) {
            let text = serde_json::to_value(&kind).unwrap_or_default();
            self.log("terminal", vec![("terminal", json(id.trimmed())), ("what", text)]);
        }
        self.day.on_terminal_event(now, id, &kind, &self.slots);
    }

    /// The unregistered probe signs in once; the host must refuse it.
    pub(super) fn probe(&mut self, now: Instant) {
        if let Some(mut stranger) = self.stranger.take() {
            let config = stranger.config().clone();
            stranger.handle_command(
                now,
                TerminalCommand::OperatorSignIn {
                    operator: config.operator.clone(),
                    password: config.operator_password.clone(),
                },
            );
            stranger.handle_command(now, TerminalCommand::SignIn);
            while stranger.poll_event().is_some() {}
            while let Some(transmit) = stranger.poll_transmit() {
                if let Some((_, message)) = parse(&transmit.bytes) {
                    self.watch.on_request(now, config.terminal_id, &message, Sent::Unregistered);
                }
                self.send(config.terminal_id, transmit.bytes);
            }
            self.stranger = Some(stranger);
        }
    }
}
