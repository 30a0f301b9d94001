//! The matrix: every case run clean and under guards, as a Markdown table.
//! A case earns its place when it passes clean and fails under at least
//! one of its own guards (the unsafe policies and faults it names).
//!
//! ```
//! use possim_sim::certify::matrix::{Cell, Row};
//! let row = Row {
//!     id: "CT-01".into(),
//!     title: "t".into(),
//!     clean: None,
//!     cells: vec![Cell { guard: "reversal_persist: after_send".into(), own: true,
//!                        result: Some(Some("step 3: ...".into())) }],
//! };
//! assert!(row.certified());
//! ```

use rayon::prelude::*;

use super::case::Guard;
use super::runner::{run_case, LoadedCase};

/// One case under one guard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    pub guard: String,
    /// Whether the case names this guard.
    pub own: bool,
    /// `None`: the guard does not apply to this case's scenario;
    /// `Some(None)`: the case passed under it (the guard went unnoticed);
    /// `Some(Some(deviation))`: the case failed, at this deviation.
    pub result: Option<Option<String>>,
}

impl Cell {
    pub fn caught(&self) -> bool {
        matches!(self.result, Some(Some(_)))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub id: String,
    pub title: String,
    /// The clean run's deviation; `None`: it passed.
    pub clean: Option<String>,
    pub cells: Vec<Cell>,
}

impl Row {
    /// Passes clean and fails under at least one of its own guards.
    pub fn certified(&self) -> bool {
        self.clean.is_none() && self.cells.iter().any(|cell| cell.own && cell.caught())
    }

    /// Why `certify --matrix` must exit 1 for this row: it fails clean, an
    /// own guard went unnoticed (**PASSES**), or an own guard could not run
    /// (shown `–`, which must not hide an own guard). Empty: the row holds.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(deviation) = &self.clean {
            problems.push(format!("{} fails clean: {deviation}", self.id));
        }
        if !self.cells.iter().any(|cell| cell.own) {
            problems.push(format!("{} names no guard, so the matrix checks nothing", self.id));
        }
        for cell in self.cells.iter().filter(|cell| cell.own) {
            match &cell.result {
                Some(Some(_)) => {}
                Some(None) => problems
                    .push(format!("{} passes under its own guard `{}`", self.id, cell.guard)),
                None => problems.push(format!(
                    "{} could not be run under its own guard `{}`",
                    self.id, cell.guard
                )),
            }
        }
        problems
    }
}

/// Every distinct guard the cases name, in the order first named.
pub fn columns(cases: &[LoadedCase]) -> Vec<Guard> {
    let mut columns: Vec<Guard> = Vec::new();
    for loaded in cases {
        for guard in &loaded.case.guards {
            if !columns.iter().any(|seen| seen.label() == guard.label()) {
                columns.push(guard.clone());
            }
        }
    }
    columns
}

fn cell(loaded: &LoadedCase, guard: &Guard) -> Cell {
    let own = loaded.case.guards.iter().any(|mine| mine.label() == guard.label());
    let result = run_case(loaded, Some(guard)).ok().map(|verdict| verdict.deviation);
    Cell { guard: guard.label(), own, result }
}

/// Runs every case clean and under `guards` (each case's own guards when
/// `guards` is `None`), in parallel; rows in the cases' order.
pub fn rows(cases: &[LoadedCase], guards: Option<&[Guard]>) -> Vec<Row> {
    cases
        .par_iter()
        .map(|loaded| {
            let clean = match run_case(loaded, None) {
                Ok(verdict) => verdict.deviation,
                Err(error) => Some(error),
            };
            let columns = guards.unwrap_or(&loaded.case.guards);
            let cells = columns.iter().map(|guard| cell(loaded, guard)).collect();
            Row { id: loaded.case.id.clone(), title: loaded.case.title.clone(), clean, cells }
        })
        .collect()
}

/// The table: one row per case, one column per guard. **fails**: a guard
/// the case names made it fail (as it must); fails: another guard it also
/// catches; `·`: the case passed under it; `–`: the guard does not apply to
/// the case's scenario; **PASSES**: a guard the case names went unnoticed.
pub fn markdown(rows: &[Row], guards: &[Guard]) -> String {
    let mut out = String::new();
    out.push_str("| case | clean |");
    for (index, _) in guards.iter().enumerate() {
        out.push_str(&format!(" G{} |", index + 1));
    }
    out.push_str("\n|---|---|");
    out.push_str(&"---|".repeat(guards.len()));
    out.push('\n');
    for row in rows {
        let clean = if row.clean.is_none() { "pass" } else { "**FAIL**" };
        out.push_str(&format!("| {} {} | {clean} |", row.id, row.title));
        for guard in guards {
            let label = guard.label();
            let shown = match row.cells.iter().find(|cell| cell.guard == label) {
                None => "–",
                Some(cell) => match (&cell.result, cell.own) {
                    (None, _) => "–",
                    (Some(Some(_)), true) => "**fails**",
                    (Some(Some(_)), false) => "fails",
                    (Some(None), true) => "**PASSES**",
                    (Some(None), false) => "·",
                },
            };
            out.push_str(&format!(" {shown} |"));
        }
        out.push('\n');
    }
    out.push('\n');
    for (index, guard) in guards.iter().enumerate() {
        out.push_str(&format!("- G{}: `{}`\n", index + 1, guard.label()));
    }
    out
}
