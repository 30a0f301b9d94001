//! Short labels and hover details for the events a chart draws, read off
//! their JSON form so every event kind gets one without a table to keep in
//! step with the models: `reversal queued rc 98`, `moved -1,625.28`.

use serde::Serialize;

/// (label, detail) of an event kind (`crate::logs::event_label`, which the
/// log lines use too).
pub(crate) fn event<T: Serialize>(kind: &T, tag: Option<&str>) -> (String, String) {
    crate::logs::event_label(kind, tag)
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
