//! JUnit XML: one test case per [`CaseResult`], the failure text being the
//! reason and the repro command, so CI systems show them.

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::case::Suite;
use crate::error::ReportError;

/// Renders the suite as a JUnit XML document.
pub fn render(suite: &Suite) -> Result<String, ReportError> {
    let mut report = Report::new(format!("possim {}", suite.name));
    let mut test_suite = TestSuite::new(suite.name.clone());
    for case in &suite.cases {
        let status = if let Some(why) = &case.skipped {
            let mut status = TestCaseStatus::skipped();
            status.set_message(why.clone());
            status
        } else if case.passed {
            TestCaseStatus::success()
        } else {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            let reason = case.failure.clone().unwrap_or_else(|| "failed".to_string());
            status.set_message(reason.clone());
            let text = match &case.repro {
                Some(repro) => format!("{reason}\nrepro: {repro}"),
                None => reason,
            };
            status.set_description(text);
            status
        };
        let mut test_case = TestCase::new(format!("{} {}", case.id, case.title), status);
        test_case.set_classname(suite.name.clone());
        test_case.set_time(std::time::Duration::from_millis(case.wall_ms));
        test_suite.add_test_case(test_case);
    }
    report.add_test_suite(test_suite);
    report.to_string().map_err(|error| ReportError::Junit(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::CaseResult;

    #[test]
    fn a_failed_case_carries_its_reason_and_repro() {
        let suite = Suite {
            name: "sweep".into(),
            cases: vec![
                CaseResult::pass("seed 1", "quickstart", 3),
                CaseResult::fail("seed 2", "quickstart", "no-double-debit: card debited twice", 4)
                    .with_repro("possim replay q.yaml --seed 2"),
            ],
        };
        let xml = render(&suite).unwrap();
        assert!(xml.contains("tests=\"2\""), "{xml}");
        assert!(xml.contains("failures=\"1\""), "{xml}");
        assert!(xml.contains("no-double-debit: card debited twice"), "{xml}");
        assert!(xml.contains("possim replay q.yaml --seed 2"), "{xml}");
    }

    #[test]
    fn a_case_that_did_not_apply_is_skipped_not_passed() {
        let suite = Suite {
            name: "serve".into(),
            cases: vec![CaseResult::skipped("retries-reversal", "t", "no drop_reversals fault", 1)],
        };
        assert!(suite.passed());
        let xml = render(&suite).unwrap();
        assert!(xml.contains("<skipped"), "{xml}");
        assert!(xml.contains("no drop_reversals fault"), "{xml}");
    }
}
