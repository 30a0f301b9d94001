//! The operator script of `possim certify --serve`: what possim tells the
//! person or harness at the real terminal (JSON Lines on stdout, or
//! sentences with `--operator console`), and the parser of the answers a
//! harness writes back on stdin. docs/CERTIFICATION.md, "A real terminal",
//! fixes the protocol; both sides implement exactly it.
//!
//! ```
//! use possim_sim::certify::live::operator::{parse_answer, Answer, AckResult};
//! assert_eq!(parse_answer(r#"{"ready":"CT-04"}"#), Ok(Answer::Ready { case: "CT-04".into() }));
//! assert_eq!(
//!     parse_answer(r#"{"ack":1,"result":"done"}"#),
//!     Ok(Answer::Ack { seq: 1, result: AckResult::Done })
//! );
//! assert!(parse_answer("not json").is_err());
//! ```

use serde_json::{json, Map, Value};

/// The protocol's version, in the `hello` line.
pub const PROTOCOL: u32 = 1;
/// The longest operator line read; a longer one is an error, not a buffer.
pub const LINE_BYTES_MAX: usize = 65_536;

/// One answer of the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The terminal is set up for this case.
    Ready { case: String },
    /// Instruction `seq` is finished, or the terminal cannot do it.
    Ack { seq: u64, result: AckResult },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckResult {
    Done,
    Unsupported { why: String },
}

/// An operator line that is not an answer; its message says what was
/// expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    #[error("not JSON ({0}); expected one JSON object a line")]
    NotJson(String),
    #[error("expected {{\"ready\":CASE}} or {{\"ack\":SEQ,\"result\":\"done\"|\"unsupported\"}}")]
    NotAnAnswer,
    #[error("expected `ack` to be a positive integer seq")]
    BadSeq,
    #[error("expected `result` \"done\" or \"unsupported\", not {0}")]
    UnknownResult(String),
    #[error("expected `ready` to name a case id (a string)")]
    BadReady,
    #[error("a line of more than {LINE_BYTES_MAX} bytes")]
    TooLong,
}

/// Parses one operator line (without its `\n`).
pub fn parse_answer(line: &str) -> Result<Answer, LineError> {
    if line.len() > LINE_BYTES_MAX {
        return Err(LineError::TooLong);
    }
    let value: Value =
        serde_json::from_str(line.trim()).map_err(|error| LineError::NotJson(error.to_string()))?;
    let Value::Object(map) = value else { return Err(LineError::NotAnAnswer) };
    match (map.get("ready"), map.get("ack")) {
        (Some(ready), None) => match ready {
            Value::String(case) => Ok(Answer::Ready { case: case.clone() }),
            _ => Err(LineError::BadReady),
        },
        (None, Some(ack)) => {
            let seq = ack.as_u64().filter(|seq| *seq > 0).ok_or(LineError::BadSeq)?;
            let result = match map.get("result") {
                Some(Value::String(result)) if result == "done" => AckResult::Done,
                Some(Value::String(result)) if result == "unsupported" => {
                    let why = map.get("why").and_then(Value::as_str).unwrap_or("").to_string();
                    AckResult::Unsupported { why }
                }
                Some(other) => return Err(LineError::UnknownResult(other.to_string())),
                None => return Err(LineError::UnknownResult("nothing".into())),
            };
            Ok(Answer::Ack { seq, result })
        }
        _ => Err(LineError::NotAnAnswer),
    }
}

/// A card as the case line gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardLine {
    pub pan: String,
    pub pin: Option<String>,
}

/// What the operator sets the terminal up with for one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseSetup {
    pub case: String,
    pub title: String,
    pub terminal: String,
    pub merchant: String,
    pub tmk: String,
    pub key_mode: String,
    pub response_timeout_ms: u64,
    pub cards: Vec<CardLine>,
    /// The device settings the case sets away from a terminal's defaults
    /// (a STAN wrap case's `stan_start`, a `journal_max`, ...), by name;
    /// the others are omitted.
    pub settings: Map<String, Value>,
}

pub fn hello(listen: &str) -> Value {
    json!({"op": "hello", "protocol": PROTOCOL, "listen": listen})
}

pub fn case_line(setup: &CaseSetup) -> Value {
    let cards: Vec<Value> = setup
        .cards
        .iter()
        .map(|card| {
            let mut line = Map::new();
            line.insert("pan".into(), json!(card.pan));
            if let Some(pin) = &card.pin {
                line.insert("pin".into(), json!(pin));
            }
            Value::Object(line)
        })
        .collect();
    let mut line = json!({
        "op": "case",
        "case": setup.case,
        "title": setup.title,
        "terminal": setup.terminal,
        "merchant": setup.merchant,
        "tmk": setup.tmk,
        "key_mode": setup.key_mode,
        "response_timeout_ms": setup.response_timeout_ms,
        "cards": cards,
    });
    for (key, value) in &setup.settings {
        line[key.as_str()] = value.clone();
    }
    line
}

/// One instruction: `action` and its own fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Instruction {
    pub action: String,
    pub fields: Map<String, Value>,
}

pub fn do_line(seq: u64, case: &str, instruction: &Instruction, deadline_ms: u64) -> Value {
    let mut line = Map::new();
    line.insert("op".into(), json!("do"));
    line.insert("seq".into(), json!(seq));
    line.insert("case".into(), json!(case));
    line.insert("action".into(), json!(instruction.action));
    for (key, value) in &instruction.fields {
        line.insert(key.clone(), value.clone());
    }
    line.insert("deadline_ms".into(), json!(deadline_ms));
    Value::Object(line)
}

pub fn end_line(case: &str, verdict: &str, why: &str) -> Value {
    json!({"op": "end", "case": case, "verdict": verdict, "why": why})
}

pub fn bye_line(compliant: bool, passed: usize, failed: usize, not_exercised: usize) -> Value {
    json!({
        "op": "bye", "compliant": compliant, "passed": passed, "failed": failed,
        "not_exercised": not_exercised,
    })
}

fn yuan(fen: u64) -> String {
    format!("{}.{:02} yuan", fen / 100, fen % 100)
}

/// A card number as a person reads it off a test card: `6222…0001`.
fn card_words(pan: &str) -> String {
    if pan.len() > 8 {
        format!("{}…{}", &pan[..4], &pan[pan.len() - 4..])
    } else {
        pan.to_string()
    }
}

/// An instruction as a sentence for a person at the terminal.
pub fn sentence(case: &str, terminal: &str, instruction: &Instruction, deadline_ms: u64) -> String {
    let field = |key: &str| instruction.fields.get(key);
    let card = field("card").and_then(Value::as_str).map(card_words);
    let amount = field("amount_fen").and_then(Value::as_u64).map(yuan);
    let what = match instruction.action.as_str() {
        "sign_in" => "sign the terminal in".to_string(),
        "sign_off" => "sign the terminal off".to_string(),
        "echo" => "run the echo test".to_string(),
        "settle" => "settle the batch".to_string(),
        "send_pending" => "choose \"send pending\"".to_string(),
        "power_off" => match field("why").and_then(Value::as_str) {
            Some(why) => format!("cut the terminal's power NOW ({why})"),
            None => "cut the terminal's power NOW".to_string(),
        },
        "power_on" => "switch the terminal on".to_string(),
        "void" => "void the last sale".to_string(),
        action => {
            let mut words = format!("key in a {}", action.replace('_', " "));
            if let Some(amount) = &amount {
                words.push_str(&format!(" of {amount}"));
            }
            if let Some(card) = &card {
                words.push_str(&format!(" with card {card}"));
            }
            words
        }
    };
    format!("{case}: {what} on terminal {terminal} (within {} s)", deadline_ms.div_ceil(1000))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn answers_parse_and_what_is_not_one_says_what_was_expected() {
        assert_eq!(
            parse_answer(r#"{"ack":3,"result":"unsupported","why":"no e-cash"}"#),
            Ok(Answer::Ack { seq: 3, result: AckResult::Unsupported { why: "no e-cash".into() } })
        );
        assert_eq!(parse_answer(r#"{"ack":0,"result":"done"}"#), Err(LineError::BadSeq));
        assert_eq!(parse_answer(r#"{"ack":"1","result":"done"}"#), Err(LineError::BadSeq));
        assert!(matches!(
            parse_answer(r#"{"ack":1,"result":"maybe"}"#),
            Err(LineError::UnknownResult(_))
        ));
        assert_eq!(parse_answer(r#"{"ready":4}"#), Err(LineError::BadReady));
        assert_eq!(parse_answer(r#"{"ready":"A","ack":1}"#), Err(LineError::NotAnAnswer));
        assert_eq!(parse_answer("[1]"), Err(LineError::NotAnAnswer));
        assert!(matches!(parse_answer("{"), Err(LineError::NotJson(_))));
        assert_eq!(parse_answer(&"x".repeat(LINE_BYTES_MAX + 1)), Err(LineError::TooLong));
    }

    #[test]
    fn a_sale_reads_as_a_sentence() {
        let sale = Instruction {
            action: "sale".into(),
            fields: json!({"card": "6222020000000001", "amount_fen": 10000})
                .as_object()
                .unwrap()
                .clone(),
        };
        assert_eq!(
            sentence("CT-04", "CT040001", &sale, 60_000),
            "CT-04: key in a sale of 100.00 yuan with card 6222…0001 on terminal CT040001 \
             (within 60 s)"
        );
        let line = do_line(1, "CT-04", &sale, 60_000);
        assert_eq!(
            line.to_string(),
            r#"{"op":"do","seq":1,"case":"CT-04","action":"sale","card":"6222020000000001","amount_fen":10000,"deadline_ms":60000}"#
        );
    }

    #[test]
    fn the_case_line_omits_what_the_case_does_not_set() {
        let mut settings = Map::new();
        settings.insert("stan_start".into(), json!(999_999));
        let setup = CaseSetup {
            case: "CT-19".into(),
            title: "t".into(),
            terminal: "CT190001".into(),
            merchant: "898100000000001".into(),
            tmk: "0123456789ABCDEF".into(),
            key_mode: "001".into(),
            response_timeout_ms: 20_000,
            cards: vec![CardLine { pan: "6222020000000001".into(), pin: None }],
            settings,
        };
        let line = case_line(&setup);
        assert_eq!(line["stan_start"], 999_999);
        assert_eq!(line["cards"], json!([{"pan": "6222020000000001"}]));
        assert!(line.get("journal_max").is_none());
    }

    proptest! {
        /// Whatever the line, the parser answers (never panics).
        #[test]
        fn any_line_parses_or_is_a_typed_error(line in ".{0,200}") {
            let _ = parse_answer(&line);
        }

        /// JSON-ish noise: objects with the protocol's keys and odd values.
        #[test]
        fn odd_objects_are_typed_errors(
            key in prop::sample::select(vec!["ready", "ack", "result", "why", "op"]),
            value in prop_oneof![
                Just("null".to_string()), Just("-1".to_string()), Just("1.5".to_string()),
                Just("[]".to_string()), Just("{}".to_string()), "\"[a-z]{0,8}\"",
                (0u64..u64::MAX).prop_map(|n| n.to_string()),
            ],
        ) {
            let line = format!("{{\"{key}\":{value}}}");
            let _ = parse_answer(&line);
        }

        /// Every well-formed answer parses back to itself.
        #[test]
        fn well_formed_answers_round_trip(seq in 1u64..u64::MAX, why in "[ -~]{0,30}", done: bool) {
            let (line, expected) = if done {
                (json!({"ack": seq, "result": "done"}), AckResult::Done)
            } else {
                (
                    json!({"ack": seq, "result": "unsupported", "why": why}),
                    AckResult::Unsupported { why: why.clone() },
                )
            };
            prop_assert_eq!(parse_answer(&line.to_string()), Ok(Answer::Ack { seq, result: expected }));
        }
    }
}
