//! Issue 27's side-by-side of stores, on the rows of a real Ayni store.
//!
//! sled cannot hold `ayni list edan --json` over 100,000 records under
//! 100 MB (BENCHMARKS.md, "Fourth session"); before changing Ayni's store,
//! this measures the candidates on the same bytes: sled configured as Ayni
//! configures it, redb and fjall, each with a 64 MiB cache (Ayni's;
//! `STORE_COMPARE_CACHE_MB=N` for another). Every row of a
//! store Ayni wrote (`STORE` is `HOME/store`, read once) is written into
//! each engine in one batch per document, made durable every 64 documents
//! (Ayni's first sync: one batch per document, the engine's group commit),
//! then each engine is opened and listed as `ayni list KIND --json` lists:
//! the `k:KIND` index in key order, each record's `v:` view read, parsed
//! and written out (to nowhere). Each phase runs in a process of its own,
//! which reports its wall time, CPU and peak RSS.
//!
//! Run: `cargo run --release --manifest-path benches/store-compare/Cargo.toml
//! -- STORE WORK [RUNS]` (WORK: an empty directory with room for three
//! copies). Prints a markdown table for BENCHMARKS.md.
//!
//! Owns: the copy of the rows, the three engines' write and read loops.
//! Must never: write to `STORE`, or compare engines on different bytes.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// Each engine's cache: Ayni's today, or `STORE_COMPARE_CACHE_MB`.
fn cache_bytes() -> u64 {
    std::env::var("STORE_COMPARE_CACHE_MB").ok().and_then(|m| m.parse::<u64>().ok()).unwrap_or(64) << 20
}
const DURABLE_EVERY: usize = 64;
/// Rows of no document written together (about as many as a document has).
const LOOSE_BATCH: usize = 10;
const ENGINES: [&str; 3] = ["sled", "redb", "fjall"];
const REDB_ROWS: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("rows");

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["copy", store, work] => report(|| {
            let (docs, rows, bytes) = copy_rows(Path::new(store), &Path::new(work).join("rows.bin"))?;
            eprintln!("{docs} batches, {rows} rows, {} MB", bytes >> 20);
            Ok(vec![])
        }),
        ["write", engine, work, per] => report(|| write(engine, Path::new(work), per.parse()?).map(|()| vec![])),
        ["open", engine, work] => report(|| open_only(engine, Path::new(work)).map(|()| vec![])),
        ["list", engine, work, kind] => report(|| list(engine, Path::new(work), kind).map(|()| vec![])),
        ["set", engine, work] => report(|| sets(engine, Path::new(work))),
        [store, work] => compare(Path::new(store), Path::new(work), 3),
        [store, work, runs] => compare(Path::new(store), Path::new(work), runs.parse()?),
        _ => Err("usage: store-compare STORE WORK [RUNS]".into()),
    }
}

/// Runs one phase and prints `wall cpu rss` (seconds, seconds, MiB) and
/// what the phase measured itself.
fn report(phase: impl FnOnce() -> Res<Vec<f64>>) -> Res<()> {
    let start = Instant::now();
    let own = phase()?;
    let wall = start.elapsed().as_secs_f64();
    // SAFETY: getrusage writes into the struct it is given.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        u
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let own: Vec<String> = own.iter().map(|x| format!("{x:.3}")).collect();
    println!(
        "{wall:.3} {:.3} {:.1} {}",
        secs(usage.ru_utime) + secs(usage.ru_stime),
        usage.ru_maxrss as f64 / 1024.0,
        own.join(" ")
    );
    Ok(())
}

/// One phase in a fresh process: wall, cpu, rss, then its own figures.
fn phase(args: &[&str]) -> Res<Vec<f64>> {
    let out = Command::new(std::env::current_exe()?).args(args).stderr(std::process::Stdio::inherit()).output()?;
    if !out.status.success() {
        return Err(format!("{args:?} failed").into());
    }
    let text = String::from_utf8(out.stdout)?;
    let v: Vec<f64> = text.split_whitespace().map(str::parse).collect::<Result<_, _>>()?;
    if v.len() < 3 {
        return Err(format!("{args:?} printed {text:?}").into());
    }
    Ok(v)
}

fn compare(store: &Path, work: &Path, runs: usize) -> Res<()> {
    std::fs::create_dir_all(work)?;
    let w = work.to_str().ok_or("WORK is not UTF-8")?;
    phase(&["copy", store.to_str().ok_or("STORE is not UTF-8")?, w])?;
    println!("| engine | write all, a batch per document: wall (s) / CPU (s) / peak RSS (MB) | the same, a batch per {DURABLE_EVERY} | on disk (MB) | open: wall (ms) / peak RSS (MB) | {SETS} durable document writes: first / p50 / p99 (ms) | list edan: wall (s) / CPU (s) / peak RSS (MB), median of {runs} |");
    println!("|---|---|---|---|---|---|---|");
    for engine in ENGINES {
        let _ = std::fs::remove_dir_all(work.join(engine));
        let _ = std::fs::remove_dir_all(work.join(engine));
        let grouped = phase(&["write", engine, w, &DURABLE_EVERY.to_string()])?;
        let _ = std::fs::remove_dir_all(work.join(engine));
        let wr = phase(&["write", engine, w, "1"])?;
        let disk = du(&work.join(engine))? as f64 / 1048576.0;
        let op = phase(&["open", engine, w])?;
        let mut lists = (0..runs).map(|_| phase(&["list", engine, w, "edan"])).collect::<Res<Vec<_>>>()?;
        lists.sort_by(|a, b| a[0].total_cmp(&b[0]));
        let l = &lists[lists.len() / 2];
        let st = phase(&["set", engine, w])?;
        println!(
            "| {engine} | {:.1} / {:.1} / {:.0} | {:.1} / {:.1} / {:.0} | {disk:.0} | {:.0} / {:.0} | {:.1} / {:.1} / {:.1} | {:.2} / {:.2} / {:.0} |",
            wr[0], wr[1], wr[2], grouped[0], grouped[1], grouped[2], op[0] * 1e3, op[2], st[3], st[4], st[5], l[0], l[1], l[2]
        );
    }
    Ok(())
}

fn du(dir: &Path) -> Res<u64> {
    let mut n = 0;
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let m = e.metadata()?;
        n += if m.is_dir() { du(&e.path())? } else { m.len() };
    }
    Ok(n)
}

/// The document a row belongs to (its 16-byte ID), so rows are written in
/// one batch per document as Ayni writes them; the rest (signatures by
/// change hash, the node's own tables) in batches of [`LOOSE_BATCH`].
fn document_of<'r>(k: &'r [u8], v: &'r [u8]) -> Option<&'r [u8]> {
    if k.starts_with(b"c:") {
        return k.get(2..18);
    }
    if k.starts_with(b"f:") {
        return Some(v).filter(|v| v.len() == 16);
    }
    let colon = k.iter().position(|&b| b == b':')?;
    (k.len() == colon + 17 || k.starts_with(b"k:")).then(|| &k[k.len() - 16..])
}

/// Every row of the sled store at `store`, grouped by document, into
/// `out`: `[n rows u32] ([klen u32][k][vlen u32][v])*` per batch.
fn copy_rows(store: &Path, out: &Path) -> Res<(usize, usize, u64)> {
    let db = sled::Config::new().path(store).cache_capacity(cache_bytes()).open()?;
    let mut all: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for row in db.iter() {
        let (k, v) = row?;
        all.push((k.to_vec(), v.to_vec()));
    }
    drop(db);
    all.sort_by(|a, b| document_of(&a.0, &a.1).cmp(&document_of(&b.0, &b.1)).then(a.0.cmp(&b.0)));
    let mut f = BufWriter::new(File::create(out)?);
    let (mut docs, mut bytes, mut i) = (0, 0u64, 0);
    while i < all.len() {
        let doc = document_of(&all[i].0, &all[i].1);
        let same = all[i..].iter().take_while(|r| document_of(&r.0, &r.1) == doc).count();
        let n = if doc.is_none() { same.min(LOOSE_BATCH) } else { same };
        f.write_all(&(n as u32).to_le_bytes())?;
        for (k, v) in &all[i..i + n] {
            for part in [k, v] {
                f.write_all(&(part.len() as u32).to_le_bytes())?;
                f.write_all(part)?;
                bytes += part.len() as u64;
            }
        }
        docs += 1;
        i += n;
    }
    f.flush()?;
    Ok((docs, all.len(), bytes))
}

/// The batches of `rows.bin`, read as they are written (the writer's RSS
/// is the engine's, not the copy's).
fn batches(work: &Path, mut each: impl FnMut(Vec<(Vec<u8>, Vec<u8>)>) -> Res<()>) -> Res<()> {
    let mut f = BufReader::new(File::open(work.join("rows.bin"))?);
    let mut word = [0u8; 4];
    let mut take = |f: &mut BufReader<File>| -> Res<Vec<u8>> {
        f.read_exact(&mut word)?;
        let mut b = vec![0; u32::from_le_bytes(word) as usize];
        f.read_exact(&mut b)?;
        Ok(b)
    };
    loop {
        let mut n = [0u8; 4];
        match f.read_exact(&mut n) {
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            r => r?,
        }
        let batch = (0..u32::from_le_bytes(n)).map(|_| Ok((take(&mut f)?, take(&mut f)?))).collect::<Res<_>>()?;
        each(batch)?;
    }
}

fn open_sled(work: &Path) -> Res<sled::Db> {
    // as Ayni opens a new store (store/src/lib.rs)
    Ok(sled::Config::new().path(work.join("sled")).mode(sled::Mode::LowSpace).cache_capacity(cache_bytes()).open()?)
}

fn open_redb(work: &Path) -> Res<redb::Database> {
    std::fs::create_dir_all(work.join("redb"))?;
    Ok(redb::Database::builder().set_cache_size(cache_bytes() as usize).create(work.join("redb").join("db"))?)
}

fn open_fjall(work: &Path) -> Res<(fjall::Keyspace, fjall::PartitionHandle)> {
    let ks = fjall::Config::new(work.join("fjall")).cache_size(cache_bytes()).open()?;
    let rows = ks.open_partition("rows", fjall::PartitionCreateOptions::default())?;
    Ok((ks, rows))
}

/// Writes every row: `per` documents to a batch (1: as Ayni's first sync
/// writes today; [`DURABLE_EVERY`]: one batch per group commit), made
/// durable every [`DURABLE_EVERY`] documents.
fn write(engine: &str, work: &Path, per: usize) -> Res<()> {
    let mut pending: Vec<(Vec<u8>, Vec<u8>)> = vec![];
    let mut n = 0usize;
    // the engine's commit of `pending`, made durable when `durable`
    let mut commit: Box<dyn FnMut(&mut Vec<(Vec<u8>, Vec<u8>)>, bool) -> Res<()>> = match engine {
        "sled" => {
            let db = open_sled(work)?;
            Box::new(move |rows, durable| {
                let mut b = sled::Batch::default();
                rows.drain(..).for_each(|(k, v)| b.insert(k, v));
                db.apply_batch(b)?;
                if durable {
                    db.flush()?;
                }
                Ok(())
            })
        }
        "redb" => {
            let db = open_redb(work)?;
            Box::new(move |rows, durable| {
                let mut tx = db.begin_write()?;
                if !durable {
                    tx.set_durability(redb::Durability::None);
                }
                {
                    let mut t = tx.open_table(REDB_ROWS)?;
                    for (k, v) in rows.drain(..) {
                        t.insert(k.as_slice(), v.as_slice())?;
                    }
                }
                tx.commit()?;
                Ok(())
            })
        }
        "fjall" => {
            let (ks, part) = open_fjall(work)?;
            Box::new(move |rows, durable| {
                let mut b = ks.batch();
                rows.drain(..).for_each(|(k, v)| b.insert(&part, k, v));
                b.commit()?;
                if durable {
                    ks.persist(fjall::PersistMode::SyncAll)?;
                }
                Ok(())
            })
        }
        other => return Err(format!("no engine {other}").into()),
    };
    batches(work, |rows| {
        pending.extend(rows);
        n += 1;
        if n % per == 0 {
            commit(&mut pending, n % DURABLE_EVERY == 0)?;
        }
        Ok(())
    })?;
    commit(&mut pending, true)
}

/// Durable writes of one document each, as `ayni set` makes them.
const SETS: usize = 200;

/// Opens the engine and writes [`SETS`] documents again (the first ones
/// of the store), each made durable before the next: the first write's
/// time (a no-op sync's one write), then the p50 and p99, in ms.
fn sets(engine: &str, work: &Path) -> Res<Vec<f64>> {
    let mut docs = vec![];
    batches(work, |rows| {
        if docs.len() < SETS && rows.len() > 1 {
            docs.push(rows);
        }
        Ok(())
    })?;
    let mut times = vec![];
    let mut timed = |write: &mut dyn FnMut() -> Res<()>| -> Res<()> {
        let t = Instant::now();
        write()?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
        Ok(())
    };
    match engine {
        "sled" => {
            let db = open_sled(work)?;
            for rows in &docs {
                timed(&mut || {
                    let mut b = sled::Batch::default();
                    rows.iter().for_each(|(k, v)| b.insert(k.as_slice(), v.as_slice()));
                    db.apply_batch(b)?;
                    db.flush()?;
                    Ok(())
                })?;
            }
        }
        "redb" => {
            let db = open_redb(work)?;
            for rows in &docs {
                timed(&mut || {
                    let tx = db.begin_write()?;
                    {
                        let mut t = tx.open_table(REDB_ROWS)?;
                        for (k, v) in rows {
                            t.insert(k.as_slice(), v.as_slice())?;
                        }
                    }
                    tx.commit()?;
                    Ok(())
                })?;
            }
        }
        "fjall" => {
            let (ks, part) = open_fjall(work)?;
            for rows in &docs {
                timed(&mut || {
                    let mut b = ks.batch();
                    rows.iter().for_each(|(k, v)| b.insert(&part, k.as_slice(), v.as_slice()));
                    b.commit()?;
                    ks.persist(fjall::PersistMode::SyncAll)?;
                    Ok(())
                })?;
            }
        }
        other => return Err(format!("no engine {other}").into()),
    }
    let first = times[0];
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    Ok(vec![first, at(0.5), at(0.99)])
}

/// Opens the engine and reads one row: what opening costs.
fn open_only(engine: &str, work: &Path) -> Res<()> {
    let found = match engine {
        "sled" => open_sled(work)?.get(b"m:format")?.is_some(),
        "redb" => open_redb(work)?.begin_read()?.open_table(REDB_ROWS)?.get(b"m:format".as_slice())?.is_some(),
        "fjall" => open_fjall(work)?.1.get(b"m:format")?.is_some(),
        other => return Err(format!("no engine {other}").into()),
    };
    if found {
        Ok(())
    } else {
        Err("m:format missing: not an Ayni store".into())
    }
}

/// `ayni list KIND --json`'s reads: the index in key order, each view
/// read, parsed and written out.
fn list(engine: &str, work: &Path, kind: &str) -> Res<()> {
    let mut prefix = b"k:".to_vec();
    prefix.extend_from_slice(kind.as_bytes());
    prefix.push(0);
    let mut out = std::io::sink();
    let mut n = 0usize;
    let mut show = |view: &[u8]| -> Res<()> {
        let rec: serde_json::Value = serde_json::from_slice(view.get(1..).ok_or("empty view")?)?;
        serde_json::to_writer(&mut out, &rec)?;
        n += 1;
        Ok(())
    };
    let view_key = |k: &[u8]| [b"v:".as_slice(), &k[k.len() - 16..]].concat();
    match engine {
        "sled" => {
            let db = open_sled(work)?;
            for k in db.scan_prefix(&prefix).keys() {
                if let Some(v) = db.get(view_key(&k?))? {
                    show(&v)?;
                }
            }
        }
        "redb" => {
            let db = open_redb(work)?;
            let tx = db.begin_read()?;
            let t = tx.open_table(REDB_ROWS)?;
            for row in t.range(prefix.as_slice()..)? {
                let (k, _) = row?;
                if !k.value().starts_with(&prefix) {
                    break;
                }
                if let Some(v) = t.get(view_key(k.value()).as_slice())? {
                    show(v.value())?;
                }
            }
        }
        "fjall" => {
            let (_ks, part) = open_fjall(work)?;
            for row in part.prefix(&prefix) {
                let (k, _) = row?;
                if let Some(v) = part.get(view_key(&k))? {
                    show(&v)?;
                }
            }
        }
        other => return Err(format!("no engine {other}").into()),
    }
    if n == 0 {
        return Err(format!("no {kind} listed").into());
    }
    eprintln!("{n} listed");
    Ok(())
}
