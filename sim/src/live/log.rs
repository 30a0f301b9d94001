//! The decision log of a live run: one JSON object per line on stderr, and
//! the same lines kept (bounded) for the report. A real peer is not
//! deterministic, so every decision possim takes — a fault applied, an input
//! refused, a check failed — is written down with its reason.
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

/// Lines kept for the report; later ones still reach stderr.
pub const LOG_LINES_MAX: usize = 100_000;

/// A shareable, thread-safe log. Cloning shares the lines.
#[derive(Debug, Clone)]
pub struct LiveLog {
    inner: Arc<Mutex<Inner>>,
    started: WallInstant,
    to_stderr: bool,
}

#[derive(Debug, Default)]
struct Inner {
    lines: Vec<String>,
    dropped: u64,
}

impl LiveLog {
    /// Writes each line to stderr as well.
    pub fn stderr() -> LiveLog {
        LiveLog { inner: Arc::default(), started: WallInstant::now(), to_stderr: true }
    }

    /// Keeps lines only (tests).
    pub fn quiet() -> LiveLog {
        LiveLog { inner: Arc::default(), started: WallInstant::now(), to_stderr: false }
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
        if self.to_stderr {
            eprintln!("{text}");
        }
        let mut inner = self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if inner.lines.len() < LOG_LINES_MAX {
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
}
