//! Short labels and hover details for the events a chart draws, read off
//! their JSON form so every event kind gets one without a table to keep in
//! step with the models: `reversal queued rc 98`, `moved -1,625.28`.

use possim_reports::format::fen;
use serde::Serialize;

/// The variant's name and body of a serde enum value: internally tagged by
/// `tag` (terminal events) or externally tagged (everything else).
fn parts(value: &serde_json::Value, tag: Option<&str>) -> (String, serde_json::Value) {
    if let Some(tag) = tag {
        let name = value.get(tag).and_then(|n| n.as_str()).unwrap_or("event").to_string();
        return (name, value.clone());
    }
    match value {
        serde_json::Value::String(name) => (name.clone(), serde_json::Value::Null),
        serde_json::Value::Object(map) if map.len() == 1 => {
            let (name, body) = map.iter().next().expect("one entry");
            (name.clone(), body.clone())
        }
        other => ("event".to_string(), other.clone()),
    }
}

/// (label, detail) of an event kind.
pub(crate) fn event<T: Serialize>(kind: &T, tag: Option<&str>) -> (String, String) {
    let value = serde_json::to_value(kind).unwrap_or(serde_json::Value::Null);
    let (name, body) = parts(&value, tag);
    let mut label = name.replace('_', " ");
    let field = |key: &str| body.get(key);
    if let Some(code) = field("code").and_then(|c| c.as_str()) {
        label.push_str(&format!(" rc {code}"));
    }
    if let Some(reason) = field("reason").and_then(|r| r.as_str()) {
        label.push_str(&format!(" ({})", reason.replace('_', " ")));
    }
    if let Some(state) = field("state").and_then(|s| s.as_str()) {
        label.push_str(&format!(" {}", state.replace('_', " ")));
    }
    if let Some(attempt) = field("attempt").and_then(|a| a.as_u64()) {
        label.push_str(&format!(", try {attempt}"));
    }
    if let Some(delta) = field("delta_fen").and_then(|d| d.as_i64()) {
        let purse = field("purse").and_then(|p| p.as_str()).unwrap_or("");
        label.push_str(&format!(" {}{} ({purse})", if delta > 0 { "+" } else { "" }, fen(delta)));
    }
    let detail = if body.is_null() { String::new() } else { body.to_string() };
    (label, detail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use possim_models::iso8583::values::Stan;
    use possim_models::terminal::events::TerminalEventKind;

    #[test]
    fn labels_name_the_event_and_its_telling_fields() {
        let kind = TerminalEventKind::ReversalSent {
            stan: Stan::new(3).unwrap(),
            reason: possim_models::terminal::reversal::ReversalReason::Timeout,
            attempt: 2,
        };
        let (label, detail) = event(&kind, Some("event"));
        assert_eq!(label, "reversal sent (timeout), try 2");
        assert!(detail.contains("\"stan\":3"), "{detail}");
        let (label, _) = event(&TerminalEventKind::PowerLost, Some("event"));
        assert_eq!(label, "power lost");
    }
}
