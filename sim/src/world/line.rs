//! The deterministic shim around one terminal's line. Every frame the
//! terminal sends, and every frame sent to it, passes here and gets a fate:
//! latency from the line's profile, and by the profile's odds a drop, a
//! duplicate or a flipped bit; nothing at all while the line is silent
//! (blackhole); and the protocol-placed faults, which land on an exact trade.
//!
//! The shim draws from its own seeded stream, a fixed number of draws per
//! frame, so one terminal's faults never shift another's or the workload's.

use std::collections::BTreeMap;

use possim_models::iso8583::cup::CupMessage;
use possim_models::iso8583::settlement::NETWORK_CODE_UPLOAD_END_UNBALANCED;
use possim_models::iso8583::values::TerminalId;
use possim_models::iso8583::{Message, Mti};
use possim_models::time::Instant;

use super::state::{PlacedTamper, PowerCut, Request};
use crate::day::placed::{self, AtMoment, Landed, Moment, OnTrade, Standing};
use crate::rng::Rng;
use crate::scenario::model::{FrameAction, LineDirection, LineProfile, ProtocolFault};
use crate::trace::{Fate, FaultCause, FaultKind, FaultRecord, FrameSlot};

/// What the shim decided for one frame.
#[derive(Debug)]
pub(crate) struct LineVerdict {
    /// Each copy to deliver, after its delay in milliseconds.
    pub copies: Vec<(u64, Vec<u8>)>,
    pub fate: Fate,
    pub faults: Vec<FaultRecord>,
    pub requests: Vec<Request>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AnswerFault {
    Drop,
    Corrupt,
    /// Arrive exactly at request sent + timeout + offset.
    DelayTo {
        offset_ms: i64,
    },
}

#[derive(Debug)]
pub(crate) struct Line {
    terminal: TerminalId,
    profile_name: String,
    profile: LineProfile,
    rng: Rng,
    /// Silent until then (exclusive).
    blackhole_until: Instant,
    protocol: Vec<ProtocolFault>,
    /// Online trade requests sent so far (see `is_online_trade`).
    trades_sent: u32,
    /// STAN -> what happens to its answer, and the placement's words.
    answer_faults: BTreeMap<u32, (AnswerFault, String)>,
    /// STAN -> a power cut when the issuer approves it, and its words.
    power_on_approval: BTreeMap<u32, (u64, String)>,
    /// When each online trade request left, for "delay to the timeout".
    sent_at: BTreeMap<u32, Instant>,
    response_timeout_ms: u64,
    /// STAN -> which online trade it was (1-based), for the faults placed
    /// on a trade's reversal.
    trade_of_stan: BTreeMap<u32, u32>,
    /// Frames sent so far of the phases counted per occurrence: 0500s,
    /// offline uploads, 0800s.
    settlements_sent: u32,
    /// Offline trades uploaded so far, each counted at its first 0320: a
    /// resend of an upload whose answer was lost is not another upload.
    uploads_sent: u32,
    /// STAN -> which offline upload it is (1-based), so a resend is the
    /// same occurrence (a placement on it has landed already). Bounded by
    /// the STAN space (999,999).
    upload_of_stan: BTreeMap<u32, u32>,
    sign_ins_sent: u32,
    /// Placed faults (by index into `protocol`) that land once and have.
    landed_once: Landed,
    settlement_answer_dropped: bool,
    settlement_disagreed: bool,
    healed: bool,
    /// Frames the line carried each way so far: the index of a frame fault.
    frames_up: u32,
    frames_down: u32,
}

/// Bound on remembered send times (one trade at a time per terminal; kept
/// small and pruned).
const SENT_AT_MAX: usize = 64;

/// What the shim needs to know of a frame, read from the one decode the
/// world already made for the trace (a frame is decoded once per hop).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FrameHeader {
    pub mti: Option<Mti>,
    pub stan: Option<u32>,
    /// Field 60.3, the network management code (sign-in, settlement, ...).
    pub network_code: Option<u16>,
    /// An online trade request (one that gets an answer and counts as "the
    /// Nth trade"): pre-auth, inquiry, sale, void, completion, refund; not
    /// the upload of an offline trade.
    pub online_trade: bool,
    /// An advice (refund, offline upload): the terminal sends it again,
    /// same STAN, until acknowledged; a refund sent again is the same
    /// trade, not the next one.
    pub advice: bool,
    /// The upload of an offline trade (an 0220 advice the cashier never
    /// waited for).
    pub offline_upload: bool,
    /// A decoded frame with no MAC (sign-in, settlement, batch upload):
    /// the line never flips a bit in it at random. A flipped bit stands
    /// for the corruption that gets past the link's own checksum, which in
    /// the field only a MAC catches; flipping the batch number of an 0810,
    /// which nothing can check, made a terminal trade in a batch the host
    /// never gave it (swarm seeds backbone 114, protocol 113, line 126).
    pub unauthenticated: bool,
}

impl FrameHeader {
    /// The header of a decoded message; the default (nothing known) for a
    /// frame that does not decode.
    pub fn of(message: Option<&Message>) -> FrameHeader {
        let Some(message) = message else { return FrameHeader::default() };
        let network_code = message
            .get(60)
            .and_then(|v| v.get(8..11))
            .and_then(|d| std::str::from_utf8(d).ok().and_then(|t| t.parse().ok()));
        let kind = match CupMessage::parse(message) {
            Ok(CupMessage::Trade(request)) => Some(request.kind()),
            _ => None,
        };
        FrameHeader {
            mti: Some(message.mti()),
            stan: message.get_number(11).map(|n| n as u32),
            network_code,
            online_trade: kind.is_some_and(|kind| !kind.is_offline_upload()),
            advice: kind.is_some_and(|kind| kind.is_advice()),
            offline_upload: kind.is_some_and(|kind| kind.is_offline_upload()),
            unauthenticated: !message.has(possim_models::iso8583::message::MAC_FIELD),
        }
    }
}

impl Line {
    pub fn new(
        terminal: TerminalId,
        profile_name: &str,
        profile: LineProfile,
        rng: Rng,
        protocol: Vec<ProtocolFault>,
        response_timeout_ms: u64,
    ) -> Line {
        Line {
            terminal,
            profile_name: profile_name.to_string(),
            profile,
            rng,
            blackhole_until: Instant::ZERO,
            protocol,
            trades_sent: 0,
            answer_faults: BTreeMap::new(),
            power_on_approval: BTreeMap::new(),
            sent_at: BTreeMap::new(),
            response_timeout_ms,
            trade_of_stan: BTreeMap::new(),
            settlements_sent: 0,
            uploads_sent: 0,
            upload_of_stan: BTreeMap::new(),
            sign_ins_sent: 0,
            landed_once: Default::default(),
            settlement_answer_dropped: false,
            settlement_disagreed: false,
            healed: false,
            frames_up: 0,
            frames_down: 0,
        }
    }

    /// Healing: a clean line from now on, no placed faults.
    pub fn heal(&mut self) {
        self.healed = true;
        self.blackhole_until = Instant::ZERO;
        self.profile =
            LineProfile { latency_ms: self.profile.latency_ms, ..LineProfile::default() };
        self.protocol.clear();
        self.answer_faults.clear();
        self.power_on_approval.clear();
    }

    pub fn blackhole(&mut self, until: Instant) {
        if !self.healed {
            self.blackhole_until = self.blackhole_until.max(until);
        }
    }

    pub fn profile(&self) -> &LineProfile {
        &self.profile
    }

    fn record(&self, kind: FaultKind, cause: FaultCause) -> FaultRecord {
        FaultRecord { kind, target: self.terminal.trimmed().to_string(), cause, frame: None }
    }

    /// The next frame's place in `direction`, counted from 1.
    fn next_slot(&mut self, direction: LineDirection) -> FrameSlot {
        let count = match direction {
            LineDirection::Up => &mut self.frames_up,
            LineDirection::Down => &mut self.frames_down,
        };
        *count = count.saturating_add(1);
        FrameSlot { direction, index: *count, flipped: None }
    }

    /// A random fault of the profile on this frame, marked with its place.
    fn random_record(&self, kind: FaultKind, slot: FrameSlot) -> FaultRecord {
        FaultRecord { frame: Some(slot), ..self.record(kind, self.profile_cause()) }
    }

    /// The placed frame faults (`kind: frame`) on this frame, after the
    /// line's own verdict: a frame already lost stays lost.
    fn placed_frame(&self, slot: FrameSlot, verdict: &mut LineVerdict) {
        if self.healed {
            return;
        }
        for fault in &self.protocol {
            let ProtocolFault::Frame { direction, frame, action, delay_ms, byte, bit, .. } = fault
            else {
                continue;
            };
            if *direction != slot.direction || *frame != slot.index || verdict.copies.is_empty() {
                continue;
            }
            let cause = FaultCause::Protocol(fault.placement());
            match action {
                FrameAction::Drop => {
                    verdict.copies.clear();
                    verdict.fate = Fate::Dropped;
                    verdict.faults.push(self.record(FaultKind::LineDropFrame, cause));
                }
                FrameAction::Duplicate => {
                    let (delay, copy) = verdict.copies[0].clone();
                    verdict.copies.push((delay + 1, copy));
                    verdict.fate = Fate::Duplicated;
                    verdict.faults.push(self.record(FaultKind::LineDuplicate, cause));
                }
                FrameAction::Corrupt => {
                    let mut flipped = None;
                    for (_, bytes) in &mut verdict.copies {
                        let Some(last) = bytes.len().checked_sub(1) else { continue };
                        let index = byte.map_or(last, |b| (b as usize).clamp(2.min(last), last));
                        let bit = bit.unwrap_or(0).min(7);
                        bytes[index] ^= 1 << bit;
                        flipped = Some((index as u32, bit));
                    }
                    verdict.fate = Fate::Corrupted;
                    // Which byte: the oracle asks whether the MAC covers it.
                    let slot = FrameSlot { flipped, ..slot };
                    verdict.faults.push(FaultRecord {
                        frame: Some(slot),
                        ..self.record(FaultKind::LineCorrupt, cause)
                    });
                }
                FrameAction::Delay => {
                    let by_ms = delay_ms.unwrap_or(0);
                    for copy in &mut verdict.copies {
                        copy.0 = by_ms;
                    }
                    verdict.fate = Fate::Delayed { by_ms };
                    verdict.faults.push(self.record(FaultKind::LineDelay, cause));
                }
            }
        }
    }

    fn profile_cause(&self) -> FaultCause {
        FaultCause::Profile(self.profile_name.clone())
    }

    /// The per-frame draws, always the same number of them.
    fn draws(&mut self) -> (u64, bool, bool, bool) {
        let latency = self.rng.between(self.profile.latency_ms.min, self.profile.latency_ms.max);
        let drop = self.rng.chance(self.profile.drop_per_frame);
        let duplicate = self.rng.chance(self.profile.duplicate_per_frame);
        let corrupt = self.rng.chance(self.profile.corrupt_per_frame);
        (latency, drop, duplicate, corrupt)
    }

    /// Flips one bit; returns which (byte index in the frame, bit).
    fn corrupt(&mut self, bytes: &mut [u8]) -> Option<(u32, u8)> {
        // Past the length prefix, so the frame still frames and the MAC (or
        // the decoder) has to catch it.
        if bytes.len() > 2 {
            let index = 2 + (self.rng.next_u64() as usize) % (bytes.len() - 2);
            let bit = (self.rng.next_u64() % 8) as u8;
            bytes[index] ^= 1 << bit;
            return Some((index as u32, bit));
        }
        None
    }

    fn verdict(
        &mut self,
        now: Instant,
        mut bytes: Vec<u8>,
        unauthenticated: bool,
        placed: Option<FaultRecord>,
        slot: FrameSlot,
    ) -> LineVerdict {
        // The draws are made whatever the frame, so the stream stays in step.
        let (latency, drop, duplicate, corrupt) = self.draws();
        let corrupt = corrupt && !unauthenticated;
        let mut faults: Vec<FaultRecord> = placed.into_iter().collect();
        if now < self.blackhole_until {
            return LineVerdict {
                copies: Vec::new(),
                fate: Fate::Dropped,
                faults,
                requests: Vec::new(),
            };
        }
        if drop {
            faults.push(self.random_record(FaultKind::LineDropFrame, slot));
            return LineVerdict {
                copies: Vec::new(),
                fate: Fate::Dropped,
                faults,
                requests: Vec::new(),
            };
        }
        let mut fate = Fate::Delivered;
        if corrupt {
            let flipped = self.corrupt(&mut bytes);
            faults.push(self.random_record(FaultKind::LineCorrupt, FrameSlot { flipped, ..slot }));
            fate = Fate::Corrupted;
        }
        let mut copies = vec![(latency, bytes.clone())];
        if duplicate {
            copies.push((latency + 1, bytes));
            faults.push(self.random_record(FaultKind::LineDuplicate, slot));
            fate = Fate::Duplicated;
        }
        LineVerdict { copies, fate, faults, requests: Vec::new() }
    }

    /// A frame the terminal sends.
    pub fn outbound(&mut self, now: Instant, header: FrameHeader, bytes: Vec<u8>) -> LineVerdict {
        let slot = self.next_slot(LineDirection::Up);
        let FrameHeader {
            mti,
            stan,
            network_code,
            online_trade,
            advice,
            offline_upload,
            unauthenticated,
        } = header;
        // The Nth trade is the Nth the cashier made: a refund's advice sent
        // again (its STAN already counted) lands no placed fault of its own.
        let resent = advice && stan.is_some_and(|stan| self.sent_at.contains_key(&stan));
        let online_trade = online_trade && !resent;
        let mut requests = Vec::new();
        let mut placed = None;
        let mut drop_placed = false;
        let mut duplicate_placed = false;
        let mut duplicate_after_ms = 1u64;
        let mut extra_faults = Vec::new();
        if online_trade && !self.healed {
            self.trades_sent += 1;
            let trade = self.trades_sent;
            if let Some(stan) = stan {
                if self.sent_at.len() >= SENT_AT_MAX {
                    self.sent_at.pop_first();
                }
                self.sent_at.insert(stan, now);
                if self.trade_of_stan.len() >= SENT_AT_MAX {
                    self.trade_of_stan.pop_first();
                }
                self.trade_of_stan.insert(stan, trade);
            }
            // Which faults fire: `day::placed`; how, below.
            for (index, action) in placed::on_online_trade(&self.protocol, trade) {
                let words = self.protocol[index].placement();
                match action {
                    OnTrade::DropRequest => {
                        drop_placed = true;
                        let cause = FaultCause::Protocol(words);
                        placed = Some(self.record(FaultKind::LineDropFrame, cause));
                    }
                    OnTrade::DuplicateRequest { after_ms } => {
                        duplicate_placed = true;
                        duplicate_after_ms = after_ms.max(1);
                        let cause = FaultCause::Protocol(words);
                        placed = Some(self.record(FaultKind::LineDuplicate, cause));
                    }
                    OnTrade::DropAnswer => {
                        if let Some(stan) = stan {
                            self.answer_faults.insert(stan, (AnswerFault::Drop, words));
                        }
                    }
                    OnTrade::CorruptAnswer => {
                        if let Some(stan) = stan {
                            self.answer_faults.insert(stan, (AnswerFault::Corrupt, words));
                        }
                    }
                    OnTrade::DelayAnswer { offset_ms } => {
                        if let Some(stan) = stan {
                            self.answer_faults
                                .insert(stan, (AnswerFault::DelayTo { offset_ms }, words));
                        }
                    }
                    OnTrade::PowerOffNow { off_ms } => requests.push(Request::PowerCut(PowerCut {
                        terminal: self.terminal,
                        off_ms,
                        why: words,
                    })),
                    OnTrade::TamperNow { unlock_after_ms } => {
                        requests.push(Request::Tamper(PlacedTamper {
                            terminal: self.terminal,
                            unlock_after_ms,
                            why: words,
                        }))
                    }
                    OnTrade::PowerOffOnApproval { off_ms } => {
                        if let Some(stan) = stan {
                            self.power_on_approval.insert(stan, (off_ms, words));
                        }
                    }
                    // Live only (`drive`): not the simulated line's to make.
                    OnTrade::CorruptRequest
                    | OnTrade::ResetAfterRequest
                    | OnTrade::ReverseUnknown => {}
                }
            }
        }
        if !self.healed {
            let drop_reversals = placed::standing(&self.protocol, Standing::DropReversals)
                .map(|index| &self.protocol[index]);
            if let (Some(Mti::REVERSAL), Some(fault)) = (mti, drop_reversals) {
                drop_placed = true;
                let cause = FaultCause::Protocol(fault.placement());
                placed = Some(self.record(FaultKind::LineDropFrame, cause));
            }
            if let (Some(Mti::SETTLEMENT), Some(stan), false) =
                (mti, stan, self.settlement_disagreed)
            {
                let disagree = placed::standing(&self.protocol, Standing::SettlementUnbalanced)
                    .map(|index| &self.protocol[index]);
                if let Some(fault) = disagree {
                    // Told to the switch now, before the 0500 can reach it.
                    let cause = FaultCause::Protocol(fault.placement());
                    extra_faults.push(self.record(FaultKind::HostTotalsDisagree, cause));
                    requests.push(Request::SettlementDisagree { terminal: self.terminal, stan });
                    self.settlement_disagreed = true;
                }
            }
            let batch_upload = mti == Some(Mti::BATCH) && network_code == Some(201);
            let upload_end =
                mti == Some(Mti::BATCH) && network_code == Some(NETWORK_CODE_UPLOAD_END_UNBALANCED);
            let moments = self.phase_moments(mti, stan, offline_upload, batch_upload, upload_end);
            requests.extend(moments);
        }
        let mut verdict = self.verdict(now, bytes, unauthenticated, placed, slot);
        verdict.faults.extend(extra_faults);
        if drop_placed {
            verdict.copies.clear();
            verdict.fate = Fate::Dropped;
        } else if duplicate_placed && verdict.copies.len() == 1 {
            let (delay, copy) = verdict.copies[0].clone();
            verdict.copies.push((delay + duplicate_after_ms, copy));
            verdict.fate = Fate::Duplicated;
        }
        self.placed_frame(slot, &mut verdict);
        verdict.requests.extend(requests);
        verdict
    }

    /// A frame sent to the terminal.
    pub fn inbound(&mut self, now: Instant, header: FrameHeader, bytes: Vec<u8>) -> LineVerdict {
        let slot = self.next_slot(LineDirection::Down);
        let FrameHeader { mti, stan, unauthenticated, .. } = header;
        let mut action = None;
        if !self.healed {
            if let (Some(mti), Some(stan)) = (mti, stan) {
                if mti == Mti::FINANCIAL_RESPONSE
                    || mti == Mti::AUTHORIZATION_RESPONSE
                    || mti == Mti::ADVICE_RESPONSE
                {
                    action = self.answer_faults.remove(&stan);
                }
                let drop_settlement_answer =
                    placed::standing(&self.protocol, Standing::DropSettlementAnswer)
                        .map(|index| &self.protocol[index]);
                if let (Mti::SETTLEMENT_RESPONSE, false, Some(fault)) =
                    (mti, self.settlement_answer_dropped, drop_settlement_answer)
                {
                    self.settlement_answer_dropped = true;
                    let cause = FaultCause::Protocol(fault.placement());
                    let record = self.record(FaultKind::LineDropFrame, cause);
                    let mut verdict = self.verdict(now, bytes, unauthenticated, Some(record), slot);
                    verdict.copies.clear();
                    verdict.fate = Fate::Dropped;
                    return verdict;
                }
            }
        }
        let mut verdict = match action {
            None => self.verdict(now, bytes, unauthenticated, None, slot),
            Some((AnswerFault::Drop, words)) => {
                let record = self.record(FaultKind::LineDropFrame, FaultCause::Protocol(words));
                let mut verdict = self.verdict(now, bytes, unauthenticated, Some(record), slot);
                verdict.copies.clear();
                verdict.fate = Fate::Dropped;
                verdict
            }
            Some((AnswerFault::Corrupt, words)) => {
                let mut bytes = bytes;
                // The last byte is inside the MAC: the frame decodes, the MAC fails.
                if let Some(last) = bytes.last_mut() {
                    *last ^= 0x01;
                }
                let record = self.record(FaultKind::LineCorrupt, FaultCause::Protocol(words));
                let mut verdict = self.verdict(now, bytes, unauthenticated, Some(record), slot);
                if !verdict.copies.is_empty() {
                    verdict.fate = Fate::Corrupted;
                }
                verdict
            }
            Some((AnswerFault::DelayTo { offset_ms }, words)) => {
                let sent = stan.and_then(|s| self.sent_at.get(&s).copied()).unwrap_or(now);
                let target = (sent.as_millis() + self.response_timeout_ms) as i64 + offset_ms;
                let delay = (target - now.as_millis() as i64).max(0) as u64;
                let record = self.record(FaultKind::LineDelay, FaultCause::Protocol(words));
                let mut verdict = self.verdict(now, bytes, unauthenticated, Some(record), slot);
                for copy in &mut verdict.copies {
                    copy.0 = delay;
                }
                if !verdict.copies.is_empty() {
                    verdict.fate = Fate::Delayed { by_ms: delay };
                }
                verdict
            }
        };
        self.placed_frame(slot, &mut verdict);
        verdict
    }

    /// The faults placed on a moment of a phase as this frame leaves: a
    /// reversal of a placement's trade, the Nth 0500, offline upload or
    /// 0800, a batch upload. Each lands once, on the first frame that
    /// matches (`day::placed::at_moment`); the power cut is made at the
    /// runner's next step, with the frame on its way and its answer not yet
    /// back.
    fn phase_moments(
        &mut self,
        mti: Option<Mti>,
        stan: Option<u32>,
        offline_upload: bool,
        batch_upload: bool,
        upload_end: bool,
    ) -> Vec<Request> {
        let settlement = mti == Some(Mti::SETTLEMENT);
        let sign_in = mti == Some(Mti::NETWORK);
        if settlement {
            self.settlements_sent = self.settlements_sent.saturating_add(1);
        }
        // The occurrence of an offline upload: a placement on the Nth lands
        // on its first send, never on a resend of an upload the host may
        // already have booked (a placed 79 on that would be a host
        // contradicting its own 00, not a fault of the terminal's).
        let upload_nth = if offline_upload {
            match stan {
                Some(stan) => *self.upload_of_stan.entry(stan).or_insert_with(|| {
                    self.uploads_sent = self.uploads_sent.saturating_add(1);
                    self.uploads_sent
                }),
                None => self.uploads_sent.saturating_add(1),
            }
        } else {
            0
        };
        if sign_in {
            self.sign_ins_sent = self.sign_ins_sent.saturating_add(1);
        }
        let moment = if mti == Some(Mti::REVERSAL) {
            let of_trade = stan.and_then(|s| self.trade_of_stan.get(&s).copied());
            Moment::Reversal { of_trade }
        } else if settlement {
            Moment::Settlement { nth: self.settlements_sent }
        } else if offline_upload {
            Moment::OfflineUpload { nth: upload_nth }
        } else if sign_in {
            Moment::SignIn { nth: self.sign_ins_sent }
        } else if batch_upload {
            Moment::BatchUpload
        } else if upload_end {
            Moment::BatchUploadEnd
        } else {
            return Vec::new();
        };
        let fired = placed::at_moment(&self.protocol, moment, &mut self.landed_once);
        fired
            .into_iter()
            .filter_map(|(index, action)| {
                let why = self.protocol[index].placement();
                Some(match action {
                    AtMoment::PowerOff { off_ms } => {
                        Request::PowerCut(PowerCut { terminal: self.terminal, off_ms, why })
                    }
                    // Recorded by the runner as it starts the window.
                    AtMoment::Cutoff { for_ms } => Request::Cutoff { for_ms, why },
                    // Recorded by the world as it tells the switch.
                    AtMoment::HostAnswers { code } => {
                        Request::HostAnswers { terminal: self.terminal, stan: stan?, code, why }
                    }
                })
            })
            .collect()
    }

    /// The issuer approved this terminal's trade `stan`: a placed power cut?
    pub fn on_issuer_approved(&mut self, stan: u32) -> Option<(u64, String)> {
        self.power_on_approval.remove(&stan)
    }
}
