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
use ayni_mirror::{Applied, Mirror};
use ayni_node::feed::Change;
use serde_json::json;

use crate::output::Out;
use crate::{control, runtime};

/// Records written per transaction at most (a batch waits for nothing: it
/// takes what has arrived).
const BATCH: usize = 2000;

/// Runs the mirror; with `once`, until it has caught up.
pub fn run(home: &Path, url: &str, once: bool, out: &mut Out) -> Result<ExitCode> {
    let target = ayni_mirror::target(url)?;
    let projection = ayni_mirror::projection::Projection::of(ayni_node::schema::schemas()?);
    let rt = runtime()?;
    if control::serving(home) {
        let node_id = serving_node_id(home)?;
        let mut mirror = rt.block_on(Mirror::connect(&target, &node_id, projection))?;
        said_migration(&mirror);
        rt.block_on(follow(home, &target, &mut mirror, once, out))
    } else {
        // nothing else writes this home while we hold it: what there is, then exit
        let node = ayni_node::Node::open(home)?;
        let mut mirror = rt.block_on(Mirror::connect(&target, &node.id().to_string(), projection))?;
        said_migration(&mirror);
        let mut total = Applied { position: mirror.position(), ..Applied::default() };
        loop {
            let at = mirror.position();
            let (changes, resume) = node.changes_since(at, None, BATCH)?;
            if resume == at {
                break;
            }
            let applied = rt.block_on(mirror.apply(&changes, resume))?;
            add(&mut total, &applied);
        }
        summary(out, &target, &total, if once { None } else { Some("no node serves this home: mirrored what it holds; with `ayni serve` running, `ayni mirror` follows its changes live") })?;
        Ok(ExitCode::SUCCESS)
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

/// Follows the serving node's feed from the mirror's position: a reader
/// thread turns the `watch --json` stream into batches, each applied in
/// one transaction.
async fn follow(home: &Path, target: &ayni_mirror::Target, mirror: &mut Mirror, once: bool, out: &mut Out) -> Result<ExitCode> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Vec<Change>>>(8);
    let mut args = vec!["--json".to_string(), "watch".into(), "--since".into(), mirror.position().to_string()];
    if once {
        args.push("--once".into());
    }
    let home = home.to_path_buf();
    // a thread, not a blocking task: a runtime waits for those on exit
    std::thread::spawn(move || {
        let mut pending = Vec::new();
        let sender = tx.clone();
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
            sender.blocking_send(changes).map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))
        });
        let end = match result {
            None => Err(anyhow::anyhow!("the serving node stopped")),
            Some(Ok((0, _))) => return,
            Some(Ok((_, error))) => Err(anyhow::anyhow!("the serving node's feed: {}", error.unwrap_or_default())),
            Some(Err(e)) => Err(e),
        };
        let _ = tx.blocking_send(end);
    });
    let mut total = Applied { position: mirror.position(), ..Applied::default() };
    loop {
        let first = tokio::select! {
            next = rx.recv() => next,
            _ = tokio::signal::ctrl_c() => break,
        };
        let Some(first) = first else { break };
        let mut batch = first?;
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(more) => batch.extend(more?),
                Err(_) => break,
            }
        }
        let resume = batch.iter().map(|c| c.position).max().unwrap_or(mirror.position());
        let applied = mirror.apply(&batch, resume).await?;
        add(&mut total, &applied);
        if !once {
            out.text_or_json(
                &format!("position {}: {} records written, {} deleted\n", applied.position, applied.records, applied.deleted),
                &json!(applied),
            )?;
        }
    }
    if once {
        summary(out, target, &total, None)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn add(total: &mut Applied, applied: &Applied) {
    total.records += applied.records;
    total.deleted += applied.deleted;
    total.position = applied.position;
}

/// Says on stderr how the tables were migrated, if they were.
fn said_migration(mirror: &Mirror) {
    if let Some(m) = &mirror.migrated {
        eprintln!("ayni: migrated: {m}");
    }
}

fn summary(out: &mut Out, target: &ayni_mirror::Target, total: &Applied, note: Option<&str>) -> Result<()> {
    if let Some(n) = note {
        eprintln!("ayni: {n}");
    }
    out.text_or_json(
        &format!(
            "mirrored to {target}: {} records written, {} deleted; feed position {}\n",
            total.records, total.deleted, total.position
        ),
        &json!({"database": target.to_string(), "records": total.records, "deleted": total.deleted, "position": total.position}),
    )
}
