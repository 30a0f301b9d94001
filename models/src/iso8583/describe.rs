//! Human descriptions of composite fields, for frame dumps: field 60, 61, 48
//! (by message type), 54 and 62 split into their parts.
//!
//! ```
//! use possim_models::iso8583::describe::parts;
//! use possim_models::iso8583::{Message, Mti};
//! let mut message = Message::new(Mti::FINANCIAL);
//! message.set(60, b"22000001000").unwrap();
//! let lines = parts(&message, 60);
//! assert_eq!(lines[0], ("60.1 message type".to_string(), "22".to_string()));
//! assert_eq!(lines[1], ("60.2 batch number".to_string(), "000001".to_string()));
//! ```

use super::message::Message;
use super::mti::Mti;
use super::settlement::NETWORK_CODE_SETTLEMENT;
use super::subfields::{BatchDetail, SettlementResult};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn split(value: &[u8], layout: &[(&str, usize)]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut at = 0;
    for (name, width) in layout {
        if at + width > value.len() {
            break;
        }
        out.push(((*name).to_string(), text(&value[at..at + width])));
        at += width;
    }
    if at < value.len() {
        out.push(("rest".to_string(), text(&value[at..])));
    }
    out
}

/// The parts of field `field` of `message`, each as (label, value). Empty
/// when the field is absent or has no parts worth showing.
pub fn parts(message: &Message, field: u8) -> Vec<(String, String)> {
    let Some(value) = message.get(field) else {
        return Vec::new();
    };
    match field {
        60 => split(
            value,
            &[
                ("60.1 message type", 2),
                ("60.2 batch number", 6),
                ("60.3 network management code", 3),
                ("60.4 terminal read capability", 1),
                ("60.5 IC card condition", 1),
                ("60.6 partial approval", 1),
                ("60.7 account type", 3),
            ],
        ),
        61 => split(
            value,
            &[
                ("61.1 original batch", 6),
                ("61.2 original trace number", 6),
                ("61.3 original date MMDD", 4),
                ("61.4 original authorization method", 2),
                ("61.5 original authorizing institution", 11),
            ],
        ),
        48 => field_48(message, value),
        54 => split(
            value,
            &[
                ("account type", 2),
                ("amount type", 2),
                ("currency", 3),
                ("sign", 1),
                ("amount", 12),
            ],
        ),
        62 => {
            let slot = match value.len() {
                24 => 8,
                40 | 60 => 16,
                _ => return Vec::new(),
            };
            let names = ["PIK", "MAK", "TDK"];
            value
                .chunks_exact(slot + 4)
                .zip(names)
                .flat_map(|(chunk, name)| {
                    [
                        (format!("{name} under TMK"), super::hex::encode_upper(&chunk[..slot])),
                        (format!("{name} check value"), super::hex::encode_upper(&chunk[slot..])),
                    ]
                })
                .collect()
        }
        _ => Vec::new(),
    }
}

fn field_48(message: &Message, value: &[u8]) -> Vec<(String, String)> {
    let network_code = message.get(60).and_then(|v| v.get(8..11)).map(text);
    let settlement_half = [
        ("debit amount", 12),
        ("debit count", 3),
        ("credit amount", 12),
        ("credit count", 3),
        ("result flag", 1),
    ];
    match message.mti() {
        Mti::SETTLEMENT | Mti::SETTLEMENT_RESPONSE if value.len() == 31 || value.len() == 62 => {
            let mut out: Vec<(String, String)> = split(&value[..31], &settlement_half)
                .into_iter()
                .map(|(name, v)| (format!("domestic {name}"), v))
                .collect();
            if let Some((_, flag)) = out.last_mut() {
                let meaning = match SettlementResult::from_digit(flag.as_bytes()[0]) {
                    Some(SettlementResult::NotChecked) => " (not checked)",
                    Some(SettlementResult::Balanced) => " (balanced)",
                    Some(SettlementResult::NotBalanced) => " (not balanced)",
                    Some(SettlementResult::Error) => " (error)",
                    None => " (unknown)",
                };
                flag.push_str(meaning);
            }
            if value.len() == 62 {
                out.extend(
                    split(&value[31..], &settlement_half)
                        .into_iter()
                        .map(|(name, v)| (format!("foreign {name}"), v)),
                );
            }
            out
        }
        Mti::BATCH if network_code.as_deref() == Some(&format!("{NETWORK_CODE_SETTLEMENT:03}")) => {
            match BatchDetail::parse(value) {
                Ok(detail) => detail
                    .entries
                    .iter()
                    .enumerate()
                    .map(|(index, entry)| {
                        (
                            format!("trade {}", index + 1),
                            format!(
                                "org {:02} trace {} card {} amount {}",
                                entry.card_organisation,
                                entry.stan,
                                entry.pan,
                                entry.amount.fen()
                            ),
                        )
                    })
                    .collect(),
                Err(reason) => vec![("batch detail".to_string(), format!("unreadable: {reason}"))],
            }
        }
        Mti::BATCH if value.len() == 4 => vec![("trades uploaded".to_string(), text(value))],
        _ => Vec::new(),
    }
}
