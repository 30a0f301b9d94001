//! What the wire has shown of a live case so far, read from the host's
//! records as they come: the terminal's online trade requests in order (the
//! `trade`-th of a placed fault), which power-cut cues landed (a trade's
//! request in, the issuer's approval of it), and whether a trade's answer
//! reached the terminal intact (the cashier's "send pending" after one that
//! did not).
//!
//! ```
//! use possim_sim::certify::live::wire::WireWatch;
//! let mut watch = WireWatch::new("CT080001");
//! assert_eq!(watch.look(&[], &[]), Vec::<usize>::new());
//! assert_eq!(watch.trades(), 0);
//! ```

use possim_models::actor::Node;

use super::plan::{CueWhen, PowerCue};
use crate::certify::matcher::event_of;
use crate::trace::{Fate, TraceEvent, TraceRecord};

/// Online trade requests a case may see; past it later trades are not
/// counted (a placed fault names one of the first few).
pub const TRADES_MAX: usize = 10_000;

#[derive(Debug, Clone)]
pub struct WireWatch {
    terminal: String,
    /// The STAN of each online trade request (0200, 0100), in order; a
    /// repeat of the one before is not another trade.
    trade_stans: Vec<u32>,
    /// Records read so far.
    scanned: usize,
}

impl WireWatch {
    pub fn new(terminal: &str) -> WireWatch {
        WireWatch { terminal: terminal.to_string(), trade_stans: Vec::new(), scanned: 0 }
    }

    /// Online trade requests seen.
    pub fn trades(&self) -> usize {
        self.trade_stans.len()
    }

    /// The indices of `cues` whose moment came in the records since the last
    /// look (`records` is the whole recording so far).
    pub fn look(&mut self, records: &[TraceRecord], cues: &[PowerCue]) -> Vec<usize> {
        let mut landed = Vec::new();
        for record in records.get(self.scanned..).unwrap_or(&[]) {
            let Some(event) = event_of(record) else { continue };
            let from_terminal = event.fields["from"].as_str() == Some(self.terminal.as_str());
            let online = event.name == "0200" || event.name == "0100";
            if event.source == "frame" && from_terminal && online {
                let stan = event.fields["stan"].as_u64().and_then(|s| u32::try_from(s).ok());
                if let Some(stan) = stan {
                    if self.trade_stans.last() != Some(&stan) && self.trade_stans.len() < TRADES_MAX
                    {
                        self.trade_stans.push(stan);
                        let trade = self.trade_stans.len() as u32;
                        landed.extend(
                            cues.iter()
                                .enumerate()
                                .filter(|(_, cue)| cue.when == CueWhen::RequestIn { trade })
                                .map(|(index, _)| index),
                        );
                    }
                }
            }
            if event.source == "issuer" && event.name == "approved" {
                let approved = event.fields["key"]["stan"].as_u64();
                for (index, cue) in cues.iter().enumerate() {
                    let CueWhen::Approved { trade } = cue.when else { continue };
                    let stan = self.trade_stans.get(trade as usize - 1).map(|s| u64::from(*s));
                    if stan.is_some() && stan == approved {
                        landed.push(index);
                    }
                }
            }
        }
        self.scanned = records.len();
        landed
    }

    /// Whether the latest online trade's answer (0210, 0110) reached the
    /// terminal intact; `None`: no trade yet. A bare 94 (a duplicate) is no
    /// verdict on a trade whose own answer did not come (DOMAIN.md,
    /// Response codes): the terminal times out on it, and the simulated
    /// cashier presses "send pending" after a timeout.
    pub fn last_trade_answered(&self, records: &[TraceRecord]) -> Option<bool> {
        let stan = *self.trade_stans.last()?;
        Some(records.iter().any(|record| match &record.event {
            TraceEvent::Frame(frame) => {
                matches!(&frame.to, Node::Terminal(id) if id.trimmed() == self.terminal)
                    && frame.stan == Some(stan)
                    && matches!(frame.mti.as_deref(), Some("0210" | "0110"))
                    && frame.fate == Fate::Delivered
                    && frame.code.is_none_or(|code| code.as_str() != "94")
            }
            _ => false,
        }))
    }
}
