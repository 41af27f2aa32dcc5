//! `ayni mirror URL`: the node's change feed into PostgreSQL.
//!
//! Owns: where the feed comes from — the node serving this home (its
//! control socket's `watch`, followed live) or, when none serves it, the
//! store opened here (what there is, then exit) — batching it, and saying
//! what was mirrored. Must never: write to the node; the database work is
//! `ayni_mirror`'s.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use ayni_mirror::projection::Batch;
use ayni_mirror::{Applied, Mirror};
use ayni_node::feed::Change;
use serde_json::json;

use crate::output::Out;
use crate::{control, runtime};

/// Records written per transaction at most (a batch waits for nothing: it
/// takes what has arrived).
const BATCH: usize = 2000;

/// Runs the mirror; with `once`, until it has caught up.
///
/// Three stages overlap: the feed is read (a thread), turned into batches
/// of rows (a thread), and written to PostgreSQL one transaction at a time
/// (here), so the node's work and the database's proceed side by side.
pub fn run(home: &Path, url: &str, once: bool, out: &mut Out) -> Result<ExitCode> {
    let target = ayni_mirror::target(url)?;
    let projection = ayni_mirror::projection::Projection::of(ayni_node::schema::schemas()?);
    let rt = runtime()?;
    let (feed_tx, feed_rx) = std::sync::mpsc::sync_channel::<Result<Vec<Change>>>(4);
    let serving = control::serving(home);
    let mut mirror = if serving {
        let node_id = serving_node_id(home)?;
        let mirror = rt.block_on(Mirror::connect(&target, &node_id, projection))?;
        follow_serving(home, mirror.position(), once, feed_tx);
        mirror
    } else {
        // nothing else writes this home while we hold it: what there is, then exit
        let node = ayni_node::NodeHandle::open(home)?;
        let mirror = rt.block_on(Mirror::connect(&target, &node.id().to_string(), projection))?;
        let mut at = mirror.position();
        let inside = rt.handle().clone();
        std::thread::spawn(move || loop {
            let read = inside.block_on(node.changes_since(at, None, BATCH)).map_err(anyhow::Error::from);
            let done = matches!(&read, Ok((_, resume)) if *resume == at);
            let chunk = read.map(|(changes, resume)| {
                at = resume;
                changes
            });
            if done || feed_tx.send(chunk).is_err() {
                return;
            }
        });
        mirror
    };
    eprintln!("ayni: {}", mirror.postgis.describe());
    if let Some(m) = &mirror.migrated {
        eprintln!("ayni: migrated: {m}");
    }
    let batches = batcher(mirror.projection().clone(), feed_rx);
    let total = rt.block_on(write_all(&mut mirror, batches, if once || !serving { None } else { Some(&mut *out) }))?;
    if !serving && !once {
        eprintln!("ayni: no node serves this home: mirrored what it holds; with `ayni serve` running, `ayni mirror` follows its changes live");
    }
    if once || !serving {
        out.text_or_json(
            &format!(
                "mirrored to {target}: {} records written, {} deleted; feed position {}\n",
                total.records, total.deleted, total.position
            ),
            &json!({
                "database": target.to_string(), "records": total.records, "deleted": total.deleted,
                "position": total.position, "postgis": postgis_version(&mirror.postgis),
            }),
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// PostGIS's version in `--json` output, `null` without it.
fn postgis_version(postgis: &ayni_mirror::geometry::Postgis) -> Option<&str> {
    match postgis {
        ayni_mirror::geometry::Postgis::Present { version, .. } => Some(version),
        ayni_mirror::geometry::Postgis::Absent(_) => None,
    }
}

fn serving_node_id(home: &Path) -> Result<String> {
    let mut text = Vec::new();
    let (code, error) = control::follow(home, vec!["id".into()], |b| {
        text.extend_from_slice(b);
        Ok(())
    })
    .ok_or_else(|| anyhow::anyhow!("the serving node stopped"))??;
    if code != 0 {
        anyhow::bail!("asking the serving node its ID: {}", error.unwrap_or_default());
    }
    Ok(String::from_utf8_lossy(&text).trim().to_string())
}

/// Reads the serving node's feed after `since` (its `watch --json`,
/// through the control socket) on a thread of its own, in chunks as they
/// arrive; an error or the node stopping ends it.
fn follow_serving(home: &Path, since: u64, once: bool, feed: std::sync::mpsc::SyncSender<Result<Vec<Change>>>) {
    let mut args = vec!["--json".to_string(), "watch".into(), "--since".into(), since.to_string()];
    if once {
        args.push("--once".into());
    }
    let home = home.to_path_buf();
    // a thread, not a blocking task: a runtime waits for those on exit
    std::thread::spawn(move || {
        let mut pending = Vec::new();
        let sender = feed.clone();
        let result = control::follow(&home, args, |bytes| {
            pending.extend_from_slice(bytes);
            let Some(end) = pending.iter().rposition(|b| *b == b'\n') else { return Ok(()) };
            let lines: Vec<u8> = pending.drain(..=end).collect();
            let changes: Result<Vec<Change>> = lines
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .map(|l| serde_json::from_slice(l).context("a malformed change from the serving node"))
                .collect();
            // the mirror stopped: stop reading
            sender.send(changes).map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))
        });
        let end = match result {
            None => Err(anyhow::anyhow!("the serving node stopped")),
            Some(Ok((0, _))) => return,
            Some(Ok((_, error))) => Err(anyhow::anyhow!("the serving node's feed: {}", error.unwrap_or_default())),
            Some(Err(e)) => Err(e),
        };
        let _ = feed.send(end);
    });
}

/// Turns chunks of the feed into batches of rows on a thread of its own:
/// what has arrived, up to [`BATCH`] records, waiting for nothing more.
fn batcher(
    projection: ayni_mirror::projection::Projection,
    feed: std::sync::mpsc::Receiver<Result<Vec<Change>>>,
) -> tokio::sync::mpsc::Receiver<Result<Batch>> {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    std::thread::spawn(move || {
        while let Ok(first) = feed.recv() {
            let mut changes = match first {
                Ok(c) => c,
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            };
            while changes.len() < BATCH {
                match feed.try_recv() {
                    Ok(Ok(more)) => changes.extend(more),
                    Ok(Err(e)) => {
                        let _ = tx.blocking_send(Err(e));
                        return;
                    }
                    Err(_) => break,
                }
            }
            let Some(resume) = changes.iter().map(|c| c.position).max() else { continue };
            if tx.blocking_send(Ok(projection.batch(&changes, resume))).is_err() {
                return;
            }
        }
    });
    rx
}

/// Writes batches in order until they end (or Ctrl-C, between two
/// transactions); with `live`, says what each did.
async fn write_all(
    mirror: &mut Mirror,
    mut batches: tokio::sync::mpsc::Receiver<Result<Batch>>,
    mut live: Option<&mut Out>,
) -> Result<Applied> {
    let mut total = Applied { position: mirror.position(), ..Applied::default() };
    loop {
        let next = tokio::select! {
            next = batches.recv() => next,
            _ = tokio::signal::ctrl_c() => break,
        };
        let Some(batch) = next else { break };
        let applied = mirror.write(batch?).await?;
        add(&mut total, &applied);
        if let Some(out) = live.as_deref_mut() {
            out.text_or_json(
                &format!(
                    "position {}: {} records written, {} deleted\n",
                    applied.position, applied.records, applied.deleted
                ),
                &json!(applied),
            )?;
        }
    }
    Ok(total)
}

fn add(total: &mut Applied, applied: &Applied) {
    total.records += applied.records;
    total.deleted += applied.deleted;
    total.position = applied.position;
}
