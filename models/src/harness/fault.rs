//! Faults the harness applies to frames in flight, placed exactly: "drop the
//! 2nd 0210 sent to terminal T1", "delay every 0410 by 70 s", "corrupt the
//! next answer's MAC".

use std::time::Duration;

use crate::actor::Node;
use crate::iso8583::Mti;

/// What happens to a frame a rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultAction {
    /// The frame never arrives.
    Drop,
    /// The frame arrives this much later than it would have.
    Delay(Duration),
    /// The frame arrives twice.
    Duplicate,
    /// One bit flips, `byte_from_end` bytes before the end (1 = the last
    /// byte, inside the MAC of a MAC'd frame).
    Corrupt { byte_from_end: usize },
}

/// Which frames a rule applies to; `None` matches anything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FrameMatch {
    pub from: Option<Node>,
    pub to: Option<Node>,
    pub mti: Option<Mti>,
    /// Field 11 of the frame.
    pub stan: Option<u32>,
}

impl FrameMatch {
    pub fn to(node: Node) -> FrameMatch {
        FrameMatch { to: Some(node), ..FrameMatch::default() }
    }

    pub fn from(node: Node) -> FrameMatch {
        FrameMatch { from: Some(node), ..FrameMatch::default() }
    }

    pub fn mti(mut self, mti: Mti) -> FrameMatch {
        self.mti = Some(mti);
        self
    }

    pub fn stan(mut self, stan: u32) -> FrameMatch {
        self.stan = Some(stan);
        self
    }

    pub(crate) fn matches(
        &self,
        from: Node,
        to: Node,
        mti: Option<Mti>,
        stan: Option<u32>,
    ) -> bool {
        self.from.is_none_or(|want| want == from)
            && self.to.is_none_or(|want| want == to)
            && self.mti.is_none_or(|want| Some(want) == mti)
            && self.stan.is_none_or(|want| Some(want) == stan)
    }
}

/// Applies `action` to matching frames: skips the first `skip` matches, then
/// acts on the next `times` (`usize::MAX`: every one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule {
    pub matching: FrameMatch,
    pub action: FaultAction,
    pub skip: usize,
    pub times: usize,
}

impl FaultRule {
    /// Acts on the next matching frame only.
    pub fn once(matching: FrameMatch, action: FaultAction) -> FaultRule {
        FaultRule { matching, action, skip: 0, times: 1 }
    }

    /// Acts on every matching frame.
    pub fn always(matching: FrameMatch, action: FaultAction) -> FaultRule {
        FaultRule { matching, action, skip: 0, times: usize::MAX }
    }

    /// Acts on the `nth` (1-based) matching frame only.
    pub fn nth(matching: FrameMatch, nth: usize, action: FaultAction) -> FaultRule {
        assert!(nth >= 1);
        FaultRule { matching, action, skip: nth - 1, times: 1 }
    }

    /// Counts one match; returns the action if this match is one to act on.
    pub(crate) fn fire(&mut self) -> Option<FaultAction> {
        if self.skip > 0 {
            self.skip -= 1;
            return None;
        }
        if self.times == 0 {
            return None;
        }
        if self.times != usize::MAX {
            self.times -= 1;
        }
        Some(self.action)
    }
}
