//! The decision log of a live run: one JSON object per line on stderr, and
//! the same lines kept (bounded) for the report. A real peer is not
//! deterministic, so every decision possim takes — a fault applied, an input
//! refused, a check failed — is written down with its reason. Past its
//! bound the kept list stops growing; every line still reaches stderr, and
//! the count of lines left out is reported with the verdict and at the end
//! of decisions.jsonl, so a short file never passes for a whole run.
//!
//! ```
//! use possim_sim::live::log::LiveLog;
//! let log = LiveLog::quiet();
//! log.line("reject", &[("conn", "3".into()), ("reason", "length 9000 over 2046".into())]);
//! let lines = log.lines();
//! assert!(lines[0].contains(r#""event":"reject""#));
//! assert!(lines[0].contains(r#""reason":"length 9000 over 2046""#));
//! ```

use std::sync::{Arc, Mutex};
use std::time::Instant as WallInstant;

/// Lines kept for the report by default; later ones still reach stderr.
pub const LOG_LINES_MAX: usize = 100_000;

/// A shareable, thread-safe log. Cloning shares the lines.
#[derive(Debug, Clone)]
pub struct LiveLog {
    inner: Arc<Mutex<Inner>>,
    started: WallInstant,
    to_stderr: bool,
}

#[derive(Debug)]
struct Inner {
    lines: Vec<String>,
    dropped: u64,
    lines_max: usize,
}

impl Inner {
    fn new(lines_max: usize) -> Arc<Mutex<Inner>> {
        assert!(lines_max >= 1);
        Arc::new(Mutex::new(Inner { lines: Vec::new(), dropped: 0, lines_max }))
    }
}

impl LiveLog {
    /// Writes each line to stderr as well.
    pub fn stderr() -> LiveLog {
        LiveLog { inner: Inner::new(LOG_LINES_MAX), started: WallInstant::now(), to_stderr: true }
    }

    /// Keeps lines only (tests).
    pub fn quiet() -> LiveLog {
        LiveLog::quiet_keeping(LOG_LINES_MAX)
    }

    /// Keeps at most `lines_max` lines only (tests of the bound).
    pub fn quiet_keeping(lines_max: usize) -> LiveLog {
        LiveLog { inner: Inner::new(lines_max), started: WallInstant::now(), to_stderr: false }
    }

    /// Milliseconds of wall time since the log began.
    pub fn elapsed_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// One structured line: `{"wall_ms":..,"event":..,<fields>}`.
    pub fn line(&self, event: &str, fields: &[(&str, serde_json::Value)]) {
        let mut object = serde_json::Map::new();
        object.insert("wall_ms".into(), self.elapsed_ms().into());
        object.insert("event".into(), event.into());
        for (key, value) in fields {
            object.insert((*key).into(), value.clone());
        }
        let text = serde_json::Value::Object(object).to_string();
        crate::logs::live_line(event, &text);
        if self.to_stderr {
            eprintln!("{text}");
        }
        let mut inner = self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if inner.lines.len() < inner.lines_max {
            inner.lines.push(text);
        } else {
            inner.dropped += 1;
        }
    }

    /// The lines kept so far.
    pub fn lines(&self) -> Vec<String> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).lines.clone()
    }

    /// Lines that reached stderr but not the kept list.
    pub fn dropped(&self) -> u64 {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).dropped
    }

    /// The kept list's bound.
    pub fn lines_max(&self) -> usize {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).lines_max
    }
}
