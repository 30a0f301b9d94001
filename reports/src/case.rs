//! A suite of named cases, each passed or failed with the reason: one
//! certification case, one sweep seed, one live check.

use crate::evidence::CaseEvidence;

/// One case's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseResult {
    /// A stable identifier: `CERT-07`, `seed 1234`, `reverses-unanswered-sale`.
    pub id: String,
    pub title: String,
    pub passed: bool,
    /// Why it failed (the first deviating step, the violation); empty when
    /// it passed.
    pub failure: Option<String>,
    /// Why the case did not apply to this run (nothing in it could
    /// trigger the rule): neither passed nor failed, and it fails nothing.
    /// JUnit renders it as skipped.
    pub skipped: Option<String>,
    /// The one command that reproduces this case, when there is one.
    pub repro: Option<String>,
    /// Wall time the case took.
    pub wall_ms: u64,
    /// For a failed certification case: its steps beside the frames
    /// observed, shown by the HTML report.
    pub evidence: Option<CaseEvidence>,
}

impl CaseResult {
    pub fn pass(id: impl Into<String>, title: impl Into<String>, wall_ms: u64) -> Self {
        Self {
            id: id.into(),
            title: title.into(),
            passed: true,
            failure: None,
            skipped: None,
            repro: None,
            wall_ms,
            evidence: None,
        }
    }

    /// A case that did not apply to the run, and why; it fails nothing.
    pub fn skipped(
        id: impl Into<String>,
        title: impl Into<String>,
        why: impl Into<String>,
        wall_ms: u64,
    ) -> Self {
        Self { skipped: Some(why.into()), ..Self::pass(id, title, wall_ms) }
    }

    pub fn fail(
        id: impl Into<String>,
        title: impl Into<String>,
        failure: impl Into<String>,
        wall_ms: u64,
    ) -> Self {
        Self {
            id: id.into(),
            title: title.into(),
            passed: false,
            failure: Some(failure.into()),
            skipped: None,
            repro: None,
            wall_ms,
            evidence: None,
        }
    }

    #[must_use]
    pub fn with_evidence(mut self, evidence: CaseEvidence) -> Self {
        self.evidence = Some(evidence);
        self
    }

    #[must_use]
    pub fn with_repro(mut self, repro: impl Into<String>) -> Self {
        self.repro = Some(repro.into());
        self
    }
}

/// A named list of cases, in the order they ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suite {
    pub name: String,
    pub cases: Vec<CaseResult>,
}

impl Suite {
    pub fn passed(&self) -> bool {
        self.cases.iter().all(|case| case.passed)
    }

    pub fn failures(&self) -> usize {
        self.cases.iter().filter(|case| !case.passed).count()
    }

    /// Cases that did not apply (neither passed nor failed).
    pub fn skipped(&self) -> usize {
        self.cases.iter().filter(|case| case.skipped.is_some()).count()
    }
}
