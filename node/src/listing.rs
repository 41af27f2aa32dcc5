//! A listing of records, streamed: read on a thread of its own beside the
//! engine and handed to the caller in runs ([`RecordStream`]), so a long
//! `ayni list` or export holds up no write and never holds every record.
//!
//! Owns: the listing thread, the runs and the bound on what waits in them.
//! Must never: write, show a record its actor may not read, or let a slow
//! reader make the listing buffer more than a few runs.

use std::sync::Arc;

use serde_json::Value;

use crate::clients::Actor;
use crate::error::{Error, Result};
use crate::node::{Reader, Record};

/// How a listing names the records its records reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum References {
    /// By document ID, as stored.
    Ids,
    /// By `kind:key`, so that a dump means the same on any node.
    Keys,
}

/// The records of a listing, read on a thread beside the engine and
/// handed over in runs of up to [`RUN`] (bounded: a slow reader slows the
/// listing, it does not fill memory). Dropping it stops the listing.
pub struct RecordStream(tokio::sync::mpsc::Receiver<Result<Vec<Record>>>, std::vec::IntoIter<Record>);

/// Records handed over at a time: one thread wake-up per run, not per record.
const RUN: usize = 64;

impl RecordStream {
    /// Takes the next run of records (or the listing's error).
    fn take(&mut self, run: Result<Vec<Record>>) -> Result<()> {
        self.1 = run?.into_iter();
        Ok(())
    }

    /// The next record, waiting for it.
    pub async fn next(&mut self) -> Option<Result<Record>> {
        loop {
            if let Some(rec) = self.1.next() {
                return Some(Ok(rec));
            }
            let run = self.0.recv().await?;
            if let Err(e) = self.take(run) {
                return Some(Err(e));
            }
        }
    }
}

impl Iterator for RecordStream {
    type Item = Result<Record>;

    /// The next record, blocking this thread (never call it on an async
    /// worker).
    fn next(&mut self) -> Option<Result<Record>> {
        loop {
            if let Some(rec) = self.1.next() {
                return Some(Ok(rec));
            }
            let run = self.0.blocking_recv()?;
            if let Err(e) = self.take(run) {
                return Some(Err(e));
            }
        }
    }
}

/// Starts listing the live records of `kind` matching `filters` that
/// `actor` may read.
pub(crate) fn start(
    node: Arc<Reader>,
    actor: Actor,
    kind: String,
    filters: Vec<(String, Value)>,
    refs: References,
) -> RecordStream {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let spawned = std::thread::Builder::new().name("ayni-listing".into()).spawn(move || {
        let gone = || Error::Internal("the listing's reader went away".into());
        let mut run = Vec::with_capacity(RUN);
        let listed = node.list_each(&kind, &filters, |mut rec| {
            if !node.visible_to(&actor, &rec) {
                return Ok(());
            }
            if refs == References::Keys {
                rec.fields = node.keyed(&rec.fields)?;
            }
            run.push(rec);
            if run.len() == RUN {
                tx.blocking_send(Ok(std::mem::replace(&mut run, Vec::with_capacity(RUN)))).map_err(|_| gone())?;
            }
            Ok(())
        });
        // what was read before an error still reaches the reader, then the error
        if !run.is_empty() || listed.is_ok() {
            let _ = tx.blocking_send(Ok(run));
        }
        if let Err(e) = listed {
            let _ = tx.blocking_send(Err(e));
        }
    });
    let none = Vec::new().into_iter();
    if let Err(e) = spawned {
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        let _ = tx.try_send(Err(Error::io("a listing thread", e)));
        return RecordStream(rx, none);
    }
    RecordStream(rx, none)
}
