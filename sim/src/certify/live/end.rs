//! When a live case may stop watching the wire. Once the script is done
//! and nothing is outstanding, the case waits for the terminal to be quiet:
//! the full `linger_ms` while anything is still open, or only
//! [`SETTLED_QUIET_MS`] once the case is decided, so a case that owes
//! nothing does not sit out a fixed wait.
//!
//! Decided means what a longer wait could not change:
//! - the wire shows nothing open ([`open_requests`]): every request the
//!   terminal sent was answered intact, and a trade whose answer did not
//!   reach it was reversed and the reversal acknowledged (otherwise the
//!   terminal still holds a reversal, or is still waiting for an answer);
//! - for the end itself (not the quiet before the day's closing
//!   settlement, after which the case goes on), the verdict on the records
//!   so far is a pass, and no step is a `never` without `until` (such a
//!   window runs to the end, so it keeps the full quiet).
//!
//! A case that is not decided keeps the full quiet; so every step is
//! judged on at least what the fixed wait showed.
//!
//! ```
//! use possim_sim::certify::live::end::{open_requests, SETTLED_QUIET_MS};
//! assert_eq!(open_requests(&[], "CT010001"), 0);
//! assert!(SETTLED_QUIET_MS < 3_000);
//! ```

use std::collections::BTreeSet;

use possim_models::actor::Node;

use crate::certify::case::Case;
use crate::trace::{Fate, TraceEvent, TraceRecord};

/// The quiet that ends a decided case: long enough for a frame the
/// terminal sends at once after its last answer (a loopback round trip and
/// the host's own latency are milliseconds), short beside the 3 s linger.
pub const SETTLED_QUIET_MS: u64 = 500;

/// Requests the terminal keeps open at once in any sane run; past it the
/// count saturates (the case is then not decided early).
const OPEN_MAX: usize = 10_000;

/// Requests from `terminal` the wire shows still open: sent (whatever
/// became of them) and not answered with a frame that reached the
/// terminal (the request's MTI plus 10, the same STAN, delivered); an
/// online trade request is also closed by an acknowledged reversal of its
/// STAN (a 0410 delivered).
pub fn open_requests(records: &[TraceRecord], terminal: &str) -> usize {
    let mut open: BTreeSet<(String, u32)> = BTreeSet::new();
    for record in records {
        let TraceEvent::Frame(frame) = &record.event else { continue };
        let (Some(mti), Some(stan)) = (frame.mti.as_deref(), frame.stan) else { continue };
        if mti.len() != 4 || !mti.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        // The MTI's third digit: a request, an advice or a notification
        // (0, 2, 4), or the answer to one (1, 3, 5).
        let function = mti.as_bytes()[2] - b'0';
        let from_terminal = matches!(&frame.from, Node::Terminal(id) if id.trimmed() == terminal);
        let to_terminal = matches!(&frame.to, Node::Terminal(id) if id.trimmed() == terminal);
        if from_terminal && matches!(function, 0 | 2 | 4) {
            if open.len() >= OPEN_MAX {
                return OPEN_MAX;
            }
            open.insert((mti.to_string(), stan));
        } else if to_terminal && matches!(function, 1 | 3 | 5) && frame.fate == Fate::Delivered {
            let request = format!("{}{}{}", &mti[..2], function - 1, &mti[3..]);
            open.remove(&(request, stan));
            if mti == "0410" {
                open.remove(&("0200".to_string(), stan));
                open.remove(&("0100".to_string(), stan));
            }
        }
    }
    open.len()
}

/// Whether a step of `case` watches to the end of the run (a `never`
/// without `until`).
pub fn watches_to_the_end(case: &Case) -> bool {
    case.steps.iter().any(|step| step.never.is_some() && step.until.is_none())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::FrameRecord;
    use possim_models::iso8583::values::TerminalId;
    use possim_models::time::Instant;

    const T: &str = "CT040001";

    fn frame(up: bool, mti: &str, stan: u32, fate: Fate) -> TraceRecord {
        let terminal = Node::Terminal(TerminalId::new(T).unwrap());
        let (from, to) = if up { (terminal, Node::Switch) } else { (Node::Switch, terminal) };
        let record = FrameRecord {
            from,
            to,
            mti: Some(mti.to_string()),
            stan: Some(stan),
            terminal: None,
            amount_fen: None,
            code: None,
            bytes: 0,
            fields: String::new(),
            fate,
        };
        TraceRecord { seq: 0, at: Instant::ZERO, event: TraceEvent::Frame(Box::new(record)) }
    }

    #[test]
    fn an_answered_exchange_leaves_nothing_open() {
        let records = [
            frame(true, "0800", 1, Fate::Delivered),
            frame(false, "0810", 1, Fate::Delivered),
            frame(true, "0200", 2, Fate::Delivered),
            frame(false, "0210", 2, Fate::Delivered),
        ];
        assert_eq!(open_requests(&records, T), 0);
    }

    #[test]
    fn a_trade_whose_answer_did_not_arrive_stays_open_until_its_reversal_is_acknowledged() {
        let mut records =
            vec![frame(true, "0200", 2, Fate::Delivered), frame(false, "0210", 2, Fate::Dropped)];
        assert_eq!(open_requests(&records, T), 1, "the terminal holds a reversal");
        records.push(frame(true, "0400", 2, Fate::Delivered));
        assert_eq!(open_requests(&records, T), 2, "and now waits for its answer");
        records.push(frame(false, "0410", 2, Fate::Corrupted));
        assert_eq!(open_requests(&records, T), 2, "a garbled 0410 acknowledges nothing");
        records.push(frame(false, "0410", 2, Fate::Delivered));
        assert_eq!(open_requests(&records, T), 0);
    }

    #[test]
    fn another_terminal_s_frames_and_an_answer_to_another_stan_close_nothing() {
        let records = [
            frame(true, "0200", 2, Fate::Delivered),
            frame(false, "0210", 3, Fate::Delivered),
            frame(false, "0410", 3, Fate::Delivered),
        ];
        assert_eq!(open_requests(&records, T), 1);
        assert_eq!(open_requests(&records, "CT990001"), 0);
    }

    #[test]
    fn only_a_never_without_until_watches_to_the_end() {
        let mut case: Case = serde_json::from_value(serde_json::json!({
            "id": "X", "title": "x", "rule": "r",
            "steps": [{"frame": "0200"}, {"never": {"frame": "0200"}, "until": {"frame": "0410"}}],
        }))
        .unwrap();
        assert!(!watches_to_the_end(&case));
        case.steps[1].until = None;
        assert!(watches_to_the_end(&case));
    }
}
