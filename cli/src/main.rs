//! The `ayni` command: parses arguments, calls `ayni-node`, renders the
//! result (a table by default, one JSON document with `--json`).
//!
//! Owns: argument syntax, reading input files, exit codes. Must never: hold
//! domain logic; everything a command does happens in `ayni_node`.
//!
//! Exit codes (the one place they are decided is [`exit_code`]):
//! 0 success, 1 runtime failure, 2 bad usage or invalid input.

mod args;
mod control;
mod export;
mod files;
mod intake;
mod mirror;
mod output;
mod qr;
mod serve;
mod values;

use args::{
    BlobCommand, BundleCommand, CatalogueCommand, Cli, ClientCommand, Command, FormCommand, Format, NetworkCommand,
};
use serve::{http_address, serve, Tls};
use values::{resolve_addr, split_assignment, sync_address};

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};

/// The allocator: mimalloc, where glibc's malloc and free took a fifth of
/// a sync's CPU. Built without transparent huge pages (the `no_thp`
/// feature): with them, one run in three of a short command spent tens of
/// milliseconds zeroing 2 MiB pages (BENCHMARKS.md, issue 27, "Eighth
/// session").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use ayni_node::clients::Actor;
use ayni_node::node::{assign, parse_path, parse_value};
use ayni_node::NodeHandle as Node;
use clap::{CommandFactory, Parser};
use serde_json::Value;

use files::{
    outside_home, read_input, read_limited, writable_target, write_file_atomically, write_private_file_atomically,
    MAX_INPUT_BYTES,
};
use output::Out;

/// Bad usage or invalid input found by the CLI itself (exit 2).
#[derive(Debug)]
struct Usage(String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

fn usage(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Usage(msg.into()))
}

fn main() -> ExitCode {
    // every error reads `ayni: error: …`, clap's as the node's; --help and
    // --version print what was asked for
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => return ExitCode::from(u8::from(e.print().is_err())),
        Err(e) => {
            eprint!("ayni: error: {}", e.render().to_string().trim_start_matches("error: "));
            return ExitCode::from(2);
        }
    };
    let default_level = if matches!(cli.command, Command::Serve { .. }) { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("AYNI_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("ayni_node={default_level},ayni={default_level},warn"))
    });
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
    let mut out = Out::new(cli.json);
    if cli.progress || std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        out = out.with_stderr_progress();
    }
    match run(cli, &mut out) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ayni: error: {}", render_error(&e));
            exit_code(&e)
        }
    }
}

/// The error and its causes on one line. The library's errors already name
/// their cause in their message, so a cause is shown only when the message
/// before it does not end with it.
fn render_error(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !out.ends_with(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
    }
    out
}

/// Whether an error is bad usage or invalid input (exit 2), not a runtime
/// failure (exit 1).
fn is_invalid_input(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<Usage>().is_some()
            || c.downcast_ref::<ayni_node::Error>().is_some_and(|n| n.is_invalid_input())
            || c.downcast_ref::<ayni_mirror::Error>().is_some_and(|m| m.is_invalid_input())
            || c.downcast_ref::<ayni_forms::Error>().is_some_and(|f| f.is_invalid_input())
            || c.downcast_ref::<ayni_node::net::NetError>()
                .is_some_and(|n| matches!(n, ayni_node::net::NetError::NotReady(_)))
    })
}

/// The one place errors become exit codes.
fn exit_code(e: &anyhow::Error) -> ExitCode {
    ExitCode::from(if is_invalid_input(e) { 2 } else { 1 })
}

/// Crash tests set `AYNI_TEST_HOLD_MS` to keep the process (and its open
/// store) alive after the result is printed, so that a `kill -9` lands
/// between the acknowledgement and any clean-up: a write must already be
/// durable when it is reported, not when the store is closed.
fn hold_for_crash_tests() {
    if let Some(ms) = std::env::var("AYNI_TEST_HOLD_MS").ok().and_then(|v| v.parse().ok()) {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

fn home(cli_home: Option<PathBuf>) -> Result<PathBuf> {
    // AYNI_HOME is read here rather than by clap, whose usage lines would
    // then show `--home <DIR>` as if it were required
    let from_env = std::env::var_os("AYNI_HOME").filter(|h| !h.is_empty()).map(PathBuf::from);
    match cli_home.or(from_env) {
        Some(h) => Ok(h),
        None => dirs::data_dir()
            .map(|d| d.join("ayni"))
            .ok_or_else(|| usage("no home directory: pass --home DIR or set AYNI_HOME")),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")
}

/// Closes the node as the command ends.
fn close(node: Node) {
    if let Err(e) = node.close() {
        // closed before the process ends, so that the store keeps what the
        // next process reads cheaply (the replication summary) whole; a
        // handle still held elsewhere closes the store itself, later
        tracing::debug!("the store is left to close with its last handle: {e}");
    }
}

/// The node's answer to a command: commands run on a thread of their own
/// (the main thread, or one per control-socket client), never on an async
/// worker, inside the runtime the node's handle uses.
fn wait<T>(answer: impl std::future::Future<Output = ayni_node::Result<T>>) -> ayni_node::Result<T> {
    tokio::runtime::Handle::current().block_on(answer)
}

/// Who the command line acts as: the node itself (its operator).
const NODE: Actor = Actor::Node;

fn run(cli: Cli, out: &mut Out) -> Result<ExitCode> {
    if let Command::Completions { shell } = cli.command {
        let mut buf = vec![];
        clap_complete::generate(shell, &mut Cli::command(), "ayni", &mut buf);
        out.text_or_json(
            &String::from_utf8_lossy(&buf),
            &serde_json::json!({"shell": shell.to_string(), "script": String::from_utf8_lossy(&buf)}),
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Command::Demo = cli.command {
        let dir = tempfile::tempdir().context("creating the demo's temporary directory")?;
        let report = runtime()?.block_on(ayni_node::demo::run(dir.path()))?;
        out.demo(&report)?;
        return Ok(if report.converged { ExitCode::SUCCESS } else { ExitCode::from(1) });
    }
    if let Command::Roles { kind } = &cli.command {
        out.roles(&ayni_node::permits::permits()?.describe(kind.as_deref())?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let home = home(cli.home)?;
    // a node serving this home runs the command itself (see `control`),
    // before this process starts a runtime it would not use; `init` and
    // `mirror` never run inside a serving node
    let forwarded = match cli.command {
        Command::Init { .. } | Command::Mirror { .. } => None,
        _ => control::forward(&home, std::env::args_os().skip(1).collect()),
    };
    if let Some(forwarded) = forwarded {
        let (code, error) = forwarded?;
        if let Some(e) = error {
            eprintln!("ayni: error: {e}");
        }
        if code == 0 {
            hold_for_crash_tests();
        }
        return Ok(ExitCode::from(code));
    }
    let rt = runtime()?;
    let _inside = rt.enter();
    if let Command::Init { name } = &cli.command {
        let node = Node::init(&home, name)?;
        out.init(&node)?;
        return Ok(ExitCode::SUCCESS);
    }
    // the mirror reads a serving node's feed itself; it never runs inside it
    if let Command::Mirror { url, once } = &cli.command {
        return mirror::run(&home, url, *once, out);
    }
    if let Command::Check { repair: true } = cli.command {
        let report = Node::repair(&home)?;
        out.repair(&report)?;
        return Ok(if report.check.problems.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) });
    }
    let node = Node::open(&home)?;
    match cli.command {
        Command::Serve {
            listen,
            no_mdns,
            stall_timeout,
            resync,
            http,
            http_insecure,
            tls_cert,
            tls_key,
            max_blob_mb,
            blobs,
        } => {
            let blob_limits = ayni_node::blobs::Limits { max_bytes: max_blob_mb * 1_000_000, ..Default::default() };
            let http = match http {
                Some(a) => {
                    let addr = http_address(&a)?;
                    let tls = match (tls_cert, tls_key) {
                        (Some(cert), Some(key)) => Tls::Files(cert, key),
                        _ if addr.ip().is_loopback() || http_insecure => Tls::None,
                        _ => Tls::NodeCertificate,
                    };
                    Some((addr, tls, ayni_api::Options { blob_limits: blob_limits.clone() }))
                }
                None => None,
            };
            let config = ayni_node::net::NetConfig {
                stall_timeout: std::time::Duration::from_secs(stall_timeout),
                blobs: blobs.into(),
                blob_limits,
                ..Default::default()
            };
            serve(node, &listen, no_mdns, config, resync, http, out)
        }
        Command::Sync { peer, stall_timeout, blobs } => {
            let addr = sync_address(&peer, &wait(node.peers())?)?;
            let config = ayni_node::net::NetConfig {
                stall_timeout: std::time::Duration::from_secs(stall_timeout),
                blobs: blobs.into(),
                ..Default::default()
            };
            let report = rt.block_on(async {
                let endpoint =
                    ayni_node::net::Endpoint::bind(&node, std::net::SocketAddr::from(([0, 0, 0, 0], 0)), config)?;
                let progress = if out.json { None } else { output::progress(endpoint.progress()) };
                let report = endpoint.sync_with(addr).await;
                if let Some(p) = progress {
                    p.finish_and_clear();
                }
                endpoint.close().await;
                drop(endpoint);
                report
            })?;
            close(node);
            out.synced(&report)?;
            hold_for_crash_tests();
            Ok(ExitCode::SUCCESS)
        }
        Command::Status => {
            out.status(&output::Status { serving: None, node: wait(node.status())? })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Watch { kind, since, once: _ } => {
            // no serving node: nothing else writes this home while we hold it
            let mut at = since;
            loop {
                let (changes, resume) = wait(node.changes_since(at, kind.clone(), 1000))?;
                for c in &changes {
                    out.change(c)?;
                }
                if resume == at {
                    break;
                }
                at = resume;
            }
            Ok(ExitCode::SUCCESS)
        }
        command => {
            let code = dispatch(&node, command, out, Path::new(""))?;
            close(node);
            if code == 0 {
                hold_for_crash_tests();
            }
            Ok(ExitCode::from(code))
        }
    }
}

/// The address to sync with: HOST:PORT, or the node ID of a known peer.
/// How the serving process runs a command line that came through the
/// control socket: parsed as a direct run parses it, relative paths taken
/// against the client's directory when files are opened (messages name
/// them as typed). Errors are (exit code, message).
fn plan(args: Vec<String>, cwd: &Path) -> std::result::Result<(control::Render, control::Run), (u8, String)> {
    let cli = Cli::try_parse_from(std::iter::once("ayni".to_string()).chain(args)).map_err(|e| (2, e.to_string()))?;
    let serving = format!("`ayni serve` (pid {}) holds this home", std::process::id());
    let run = match cli.command {
        Command::Serve { .. } => control::Run::Refuse(format!("a node is already serving this home: {serving}")),
        Command::Check { repair: true } => control::Run::Refuse(format!(
            "{serving}: stop it before `ayni check --repair`, which needs the store closed"
        )),
        Command::Init { .. } | Command::Demo | Command::Completions { .. } | Command::Mirror { .. } => {
            control::Run::Refuse("this command does not run through a serving node".into())
        }
        Command::Sync { peer, stall_timeout, blobs } => control::Run::Sync { peer, stall_timeout, blobs: blobs.into() },
        Command::Status => control::Run::Status,
        Command::Watch { kind, since, once } => control::Run::Watch { kind, since, once },
        command => {
            let cwd = cwd.to_path_buf();
            control::Run::Command(Box::new(move |node, out| dispatch(node, command, out, &cwd)))
        }
    };
    Ok((control::Render { json: cli.json, progress: cli.progress }, run))
}

/// Hands each record of a listing to `each`; how many there were.
fn stream(
    records: ayni_node::RecordStream,
    each: &mut dyn FnMut(ayni_node::Record) -> ayni_node::Result<()>,
) -> ayni_node::Result<usize> {
    let mut n = 0;
    for rec in records {
        each(rec?)?;
        n += 1;
    }
    Ok(n)
}

/// Runs one command on an open node: the same code whether the store was
/// opened by this process or the command came through the control socket.
/// Returns the exit code.
fn dispatch(node: &Node, command: Command, out: &mut Out, cwd: &Path) -> Result<u8> {
    match command {
        Command::Init { .. }
        | Command::Completions { .. }
        | Command::Roles { .. }
        | Command::Demo
        | Command::Serve { .. }
        | Command::Sync { .. }
        | Command::Watch { .. }
        | Command::Mirror { .. }
        | Command::Status => unreachable!("handled by the caller"),
        Command::Network { command: NetworkCommand::Create { name } } => {
            let (info, _) = wait(node.create_network(&name))?;
            out.network(&info, &wait(node.members())?)?;
        }
        Command::Network { command: NetworkCommand::Show } => {
            let info = wait(node.network())?.ok_or_else(|| usage("this node belongs to no network"))?;
            out.network(&info, &wait(node.members())?)?;
        }
        Command::Enroll { node_id, role, name, addr, team } => {
            let id: ayni_node::identity::NodeId = node_id.parse()?;
            let role: ayni_node::network::Role = role.parse()?;
            out.token(&wait(node.enroll(id, role, name.as_deref().unwrap_or(""), addr, team))?)?;
        }
        Command::Revoke { node_id, reason } => {
            let id: ayni_node::identity::NodeId = node_id.parse()?;
            out.revoked(&wait(node.revoke(id, &reason))?)?;
        }
        Command::Join { token } => out.joined(&wait(node.join(&token))?)?,
        Command::Peers => out.peers(&wait(node.peers())?)?,
        Command::Client { command: ClientCommand::Add { name, role, team, entity, expires, qr, app_url, output } } => {
            let role: ayni_node::clients::ClientRole = role.parse()?;
            let expires_in = expires.map(|e| ayni_node::clients::parse_duration(&e)).transpose()?;
            // where the QR code leads is settled before any client exists
            let app = match qr {
                true => {
                    let served = wait(node.served())?.http;
                    let served = served
                        .as_deref()
                        .and_then(|s| s.split_once("://"))
                        .and_then(|(scheme, addr)| Some((scheme, addr.parse().ok()?)));
                    Some(qr::app_url(app_url.as_deref(), served)?)
                }
                false => None,
            };
            if let Some(file) = &output {
                outside_home(node, file, cwd)?;
                // the file is written after the client exists: nothing it can refuse is left for then
                writable_target(file, cwd)?;
            }
            let (client, token) = wait(node.add_client(&name, role, team, entity, expires_in))?;
            let link = app.map(|a| ayni_api::signin::link(&a, &token));
            if let (Some(link), Some(file)) = (&link, &output) {
                write_private_file_atomically(file, cwd, &qr::png(link)?)?;
            }
            out.client_token(&client, &token, link.as_deref())?;
        }
        Command::Client { command: ClientCommand::List } => out.clients(&wait(node.clients())?)?,
        Command::Client { command: ClientCommand::Revoke { name } } => {
            out.clients(&[wait(node.revoke_client(&name))?])?
        }
        Command::Audit => out.audit(&wait(node.audit())?)?,
        Command::Url { entity } => {
            let scope = match entity {
                Some(e) => ayni_node::repo::index::Scope::Entity(wait(node.entity_id(&e))?),
                None => ayni_node::repo::index::Scope::All,
            };
            out.index(&wait(node.index_listing(scope))?)?;
        }
        Command::Amendment { decision, reference, change } => {
            out.record(&wait(node.decide_amendment(&NODE, &reference, &change, decision == "accept"))?)?
        }
        Command::Bundle { command: BundleCommand::Export { file, since, all: _, with_blobs } } => {
            let since = since.map(|s| s.parse::<ayni_node::identity::NodeId>()).transpose()?;
            outside_home(node, &file, cwd)?;
            let (bytes, report) = wait(node.export_bundle(since, with_blobs, out.progress_sink()))?;
            write_file_atomically(&file, cwd, &bytes)?;
            out.bundle(&report, "exported")?;
        }
        Command::Bundle { command: BundleCommand::Import { file } } => {
            let bytes = read_limited(&file, cwd, MAX_INPUT_BYTES)?;
            let report =
                wait(node.import_bundle(bytes, out.progress_sink())).with_context(|| format!("{}", file.display()))?;
            out.bundle(&report, "imported")?;
        }
        Command::Id => out.id(node)?,
        Command::Add { kind, key, sets, file } => {
            let mut fields = match &file {
                Some(f) => serde_json::from_str(&read_input(f, cwd, ayni_node::schema::MAX_RECORD_BYTES as u64)?)
                    .map_err(|e| usage(format!("{}: invalid JSON: {e}", f.display())))?,
                None => Value::Object(Default::default()),
            };
            if !fields.is_object() {
                return Err(usage("the --file must hold one JSON object"));
            }
            for s in &sets {
                let (path, value) = split_assignment(s)?;
                assign(&mut fields, &parse_path(&path)?, value)?;
            }
            out.added(&wait(node.create(&NODE, &kind, key.as_deref(), fields))?)?;
        }
        Command::Set { reference, assignments } => {
            let pairs = assignments.iter().map(|a| split_assignment(a)).collect::<Result<Vec<_>>>()?;
            out.record(&wait(node.set(&NODE, &reference, pairs))?)?;
        }
        Command::Unset { reference, path } => out.record(&wait(node.unset(&NODE, &reference, vec![path]))?)?,
        Command::Get { reference } => {
            let rec = wait(node.get(&NODE, &reference))?;
            out.record_named(&rec, &wait(node.names_in(rec.fields.clone()))?)?
        }
        Command::List { kind, filters } => {
            let filters = filters.iter().map(|f| split_assignment(f)).collect::<Result<Vec<_>>>()?;
            let records = node.records(&NODE, &kind, filters, ayni_node::References::Ids);
            if out.json {
                out.stream_records(false, |each| stream(records, each))?;
            } else {
                let title = node.kind(&kind)?.title_field.clone();
                out.list(records, title.as_deref())?;
            }
        }
        Command::Delete { reference } => out.record(&wait(node.delete(&NODE, &reference))?)?,
        Command::Transition { reference, state, note } => {
            out.record(&wait(node.transition(&NODE, &reference, &state, note))?)?
        }
        Command::History { reference } => {
            let entries = wait(node.history(&NODE, &reference))?;
            let names = wait(node.names_of(entries.iter().map(|e| e.message.clone()).collect()))?;
            out.history(&entries, &names)?
        }
        Command::Conflicts => out.conflicts(&wait(node.conflicts(&NODE))?)?,
        Command::Resolve { reference, path, value } => {
            out.record(&wait(node.resolve(&NODE, &reference, &path, parse_value(&value)))?)?
        }
        Command::Import { kind, file, media } if kind == "odk" || kind == "kobo" => {
            intake::import_form(node, &kind, &file, media.as_deref(), out, cwd)?;
        }
        Command::Import { media: Some(_), .. } => return Err(usage("--media is for `ayni import kobo`")),
        Command::Import { kind, file, media: None } => {
            let text = read_input(&file, cwd, MAX_INPUT_BYTES)?;
            let report = wait(node.import(&kind, text, out.progress_sink()))
                .with_context(|| format!("import of {}", file.display()))?;
            out.imported(&report)?;
        }
        Command::Export { kind, format, table: None, output: None, dialect: None }
            if out.json || matches!(format, Format::Json | Format::Jsonl) =>
        {
            let lines = format == Format::Jsonl && !out.json;
            // references by key: the dump means the same on any node
            node.kind(&kind)?;
            let records = node.records(&NODE, &kind, vec![], ayni_node::References::Keys);
            out.stream_records(lines, |each| stream(records, each))?
        }
        Command::Export { kind, format, table, dialect, output } => {
            export::export(node, export::Request { kind, format, table, dialect, output }, out, cwd)?
        }
        Command::Check { .. } => {
            let report = wait(node.check())?;
            out.check(&report)?;
            if !report.problems.is_empty() || !report.damaged_blobs.is_empty() {
                return Ok(1);
            }
        }
        Command::Compact => out.compact(&wait(node.compact())?)?,
        Command::Seed => out.seed(&wait(node.seed())?)?,
        Command::Form { command: FormCommand::Xlsform { kind, output } } => {
            intake::xlsform(node, &kind, &output, out, cwd)?
        }
        Command::Attach { reference, file, field, caption, max_blob_mb } => {
            let limits = ayni_node::blobs::Limits { max_bytes: max_blob_mb * 1_000_000, ..Default::default() };
            intake::attach(node, &reference, &file, &field, caption, limits, out, cwd)?;
        }
        Command::Blob { command: BlobCommand::List } => out.blobs(&wait(node.blob_listing())?)?,
        Command::Blob { command: BlobCommand::Get { hash, output } } => {
            intake::blob_get(node, &hash, &output, out, cwd)?
        }
        Command::Catalogue { command: CatalogueCommand::Publish { format: _, edition, output } } => {
            outside_home(node, &output, cwd)?;
            let catalogue = wait(node.catalogue(edition))?;
            files::write_dir_atomically(&output, cwd, &ayni_export::catalogue::site(&catalogue))?;
            out.published(&catalogue, &output)?;
        }
        Command::Report { subject, reference, format: asked, year, output } => {
            let format = if out.json { args::ReportFormat::Json } else { asked.unwrap_or(args::ReportFormat::Md) };
            let whole = match (subject.as_str(), reference) {
                ("event", Some(event)) if year.is_none() => {
                    export::Report::Event(wait(node.event_report(&NODE, &event))?)
                }
                ("event", None) => return Err(usage("report event needs the event: ayni report event KEY")),
                ("cooperation", None) => {
                    let today = time::OffsetDateTime::now_utc().date();
                    export::Report::Cooperation(wait(node.cooperation_report(&NODE, year, today))?)
                }
                (_, Some(extra)) if subject != "event" => {
                    return Err(usage(format!("unexpected argument '{extra}': ayni report edan:KEY")))
                }
                (_, _) if year.is_some() => return Err(usage("--year is for `ayni report cooperation`")),
                (edan, None) if output.is_none() && asked.is_none() => {
                    out.report(&wait(node.edan_report(&NODE, edan))?)?;
                    return Ok(0);
                }
                _ => {
                    return Err(usage("--format and -o are for `ayni report event KEY` and `ayni report cooperation`"))
                }
            };
            export::report(node, &whole, format, output.as_deref(), out, cwd)?
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::render_error;

    /// An error that names its cause in its message and also returns it as
    /// its source, as the library's errors do.
    #[derive(Debug)]
    struct Wrapping(std::io::Error);

    impl std::fmt::Display for Wrapping {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "sync with X: {}", self.0)
        }
    }

    impl std::error::Error for Wrapping {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        let e = anyhow::Error::new(Wrapping(std::io::Error::other("connection lost"))).context("syncing");
        assert_eq!(render_error(&e), "syncing: sync with X: connection lost");
    }

    #[test]
    fn a_cause_not_in_the_message_is_shown() {
        let e = anyhow::Error::new(std::io::Error::other("disk full")).context("writing out.bundle");
        assert_eq!(render_error(&e), "writing out.bundle: disk full");
    }
}
