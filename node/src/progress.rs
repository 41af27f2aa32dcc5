//! Progress of long operations — an import, a bundle's export or import —
//! as they run, for a front end to show.
//!
//! Owns: what a progress report says. Must never: print, or be required
//! (every operation that reports progress has a form without it).

use serde::{Deserialize, Serialize};

/// How far a long operation got: `done` of `total` `unit` in its current
/// `step` (e.g. `writing` 4000 of 10000 records; `total` is unknown while
/// an input is still being read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// The operation, e.g. `import edan`, `bundle import`.
    pub task: String,
    /// Its current step, e.g. `checking`, `writing`, `reading`, `merging`.
    pub step: String,
    /// Items of this step done so far.
    pub done: u64,
    /// Items of this step in all, when known.
    pub total: Option<u64>,
    /// What the items are, e.g. `records`, `documents`.
    pub unit: String,
}

/// Where an operation sends its progress.
pub type Observer<'a> = &'a mut dyn FnMut(&Progress);

/// Where an operation run by the node's engine sends its progress (see
/// [`crate::NodeHandle`]): it is called on the engine's thread.
pub type Sink = Box<dyn FnMut(&Progress) + Send>;

/// Reports the progress of one task, at most every `every` items and at
/// the end of each step.
pub(crate) struct Reporter<'a> {
    task: String,
    unit: &'static str,
    every: u64,
    observer: Observer<'a>,
}

impl<'a> Reporter<'a> {
    pub(crate) fn new(task: impl Into<String>, unit: &'static str, every: u64, observer: Observer<'a>) -> Self {
        Reporter { task: task.into(), unit, every: every.max(1), observer }
    }

    /// `done` items of `step`: reported when it is a multiple of the
    /// reporting interval or the step's last (`done == total`).
    pub(crate) fn at(&mut self, step: &str, done: u64, total: Option<u64>) {
        if done % self.every == 0 || Some(done) == total {
            self.report(step, done, total);
        }
    }

    /// The end of `step`, after `done` items.
    pub(crate) fn finished(&mut self, step: &str, done: u64) {
        self.report(step, done, Some(done));
    }

    fn report(&mut self, step: &str, done: u64, total: Option<u64>) {
        (self.observer)(&Progress {
            task: self.task.clone(),
            step: step.to_string(),
            done,
            total,
            unit: self.unit.to_string(),
        });
    }
}

/// An observer that drops every report.
pub fn ignore(_: &Progress) {}
