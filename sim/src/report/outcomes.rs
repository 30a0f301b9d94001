//! How each trade ended, from the oracle's per-trade view: the label the
//! report counts it under and the colour its timeline mark gets.

use possim_models::iso8583::trade::TradeKind;
use possim_reports::timeline::TradeMark;

use crate::oracle::index::TradeView;

/// The outcome label and mark of one trade, judged at the end of the run.
pub(crate) fn classify(view: &TradeView) -> (&'static str, TradeMark) {
    if view.offline_queued.is_some() {
        return match (view.offline_uploaded, view.offline_failed) {
            (_, Some(_)) => ("offline, refused at upload", TradeMark::Declined),
            (Some(_), None) => ("offline, uploaded", TradeMark::Offline),
            (None, None) => ("offline, never uploaded", TradeMark::Unresolved),
        };
    }
    if view.advice_stored.is_some() {
        return match view.answered {
            Some((_, true)) => ("refund, acknowledged", TradeMark::Approved),
            Some((_, false)) => ("refund, refused", TradeMark::Declined),
            None => ("refund, never acknowledged", TradeMark::Unresolved),
        };
    }
    let reversed = view.reversal_acknowledged.is_some();
    match view.answered {
        Some((_, true)) if reversed => return ("approved, then reversed", TradeMark::Reversed),
        Some((_, true)) => return ("approved", TradeMark::Approved),
        Some((_, false)) => return ("declined", TradeMark::Declined),
        None => {}
    }
    if view.sent.is_none() {
        return ("never sent", TradeMark::Refused);
    }
    let unanswered = view.timed_out.is_some() || view.failed.is_some() || view.power_lost.is_some();
    if !unanswered {
        return ("in flight at the end", TradeMark::Unresolved);
    }
    if reversed {
        ("no usable answer, reversed", TradeMark::Reversed)
    } else if view.reversal_abandoned.is_some() {
        ("no usable answer, reversal abandoned", TradeMark::Unresolved)
    } else if !view.reversal_sent.is_empty() || view.reversal_armed.is_some() {
        ("no usable answer, reversal unacknowledged", TradeMark::Unresolved)
    } else if view.kind == Some(TradeKind::BalanceInquiry) {
        ("no usable answer, nothing to reverse", TradeMark::Declined)
    } else {
        ("no usable answer, never reversed", TradeMark::Unresolved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unanswered_sale_is_reversed_or_unresolved() {
        let mut view = TradeView {
            kind: Some(TradeKind::Sale),
            sent: Some(1),
            timed_out: Some(2),
            reversal_sent: vec![3],
            ..TradeView::default()
        };
        assert_eq!(
            classify(&view),
            ("no usable answer, reversal unacknowledged", TradeMark::Unresolved)
        );
        view.reversal_acknowledged = Some(4);
        assert_eq!(classify(&view), ("no usable answer, reversed", TradeMark::Reversed));
        view.answered = Some((5, true));
        assert_eq!(classify(&view).1, TradeMark::Reversed);
    }

    #[test]
    fn an_approved_sale_is_approved() {
        let view = TradeView {
            kind: Some(TradeKind::Sale),
            sent: Some(1),
            answered: Some((2, true)),
            ..TradeView::default()
        };
        assert_eq!(classify(&view), ("approved", TradeMark::Approved));
    }
}
