//! The control socket: how `ayni` commands reach the node that a running
//! `ayni serve` holds, instead of failing because the store is in use.
//!
//! Owns: `HOME/control.sock`, its wire format, the client side (forward a
//! command, print what comes back) and the serving side (run it in the
//! serving process). Must never: let anyone but the home's owner connect
//! (the socket is made mode 0600), or make a command behave differently
//! through it than directly: the serving side runs the same dispatch as a
//! direct run, on a thread of its own over the serving node's handle, and
//! sends its output back byte for byte with the same exit code and error
//! message.
//!
//! # Wire format, version 1
//! Each side first sends one byte, the version (1). Then messages, each
//! `type u8, length u32 BE, payload`:
//!
//! | type | message | payload |
//! |---|---|---|
//! | 1 | `Request` (client) | JSON `{"args": [...], "cwd": "/abs/dir", "progress": bool}`: the command line after the program name, where relative paths in it are relative to, and whether the client's stderr is a terminal (progress wanted; absent = no) |
//! | 2 | `Stdout` (server) | bytes for the client's standard output |
//! | 3 | `Exit` (server, last) | JSON `{"code": 0-255, "error": null or "message"}` |
//! | 4 | `Progress` (server) | JSON of an `ayni_node::progress::Progress`, for the client to render on its stderr; sent only when progress is wanted (the client's terminal, or `--progress`) |
//!
//! A server that does not speak the client's version answers with an `Exit`
//! saying so (code 1).

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use ayni_node::NodeHandle;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::output::{HttpInfo, Serving, Status};
use crate::render_error;

const VERSION: u8 = 1;
const REQUEST: u8 = 1;
const STDOUT: u8 = 2;
const EXIT: u8 = 3;
const PROGRESS: u8 = 4;
/// Largest request accepted (a command line).
const MAX_REQUEST: u32 = 1024 * 1024;
/// The socket's file name in the home.
pub const SOCKET: &str = "control.sock";

#[derive(Serialize, Deserialize)]
struct Request {
    args: Vec<String>,
    cwd: PathBuf,
    #[serde(default)]
    progress: bool,
}

/// How a command's output is rendered, as its command line says.
pub struct Render {
    /// `--json`.
    pub json: bool,
    /// `--progress`: progress reports even when stderr is no terminal.
    pub progress: bool,
}

/// Turns a request's command line into how to render it and what to run.
pub type Plan = fn(Vec<String>, &Path) -> std::result::Result<(Render, Run), (u8, String)>;

#[derive(Serialize, Deserialize)]
struct Exit {
    code: u8,
    error: Option<String>,
}

fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 5);
    out.push(kind);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

// ------------------------------------------------------------------ client

/// Sends the command line `args` (without the program name) to the node
/// serving `home`, prints what it writes, and returns its exit code and
/// error. `None` when no node is serving there (no socket, or a stale one
/// left by a killed server): the caller opens the store itself.
pub fn forward(home: &Path, args: Vec<OsString>) -> Option<Result<(u8, Option<String>)>> {
    let path = home.join(SOCKET);
    let stream = std::os::unix::net::UnixStream::connect(&path).ok()?;
    let args: Option<Vec<String>> = args.into_iter().map(|a| a.into_string().ok()).collect();
    // a command line that is not UTF-8 cannot travel: run it directly (the
    // store is in use, which the direct run then says)
    let args = args?;
    let mut stdout = std::io::stdout().lock();
    let print = |bytes: &[u8]| stdout.write_all(bytes).and_then(|()| stdout.flush());
    Some(client(stream, args, print).with_context(|| format!("talking to the serving node through {}", path.display())))
}

/// Runs the command line `args` on the node serving `home`, handing what
/// it writes to standard output to `stdout` as it arrives (an error from
/// it stops the command). `None` when no node is serving there.
pub fn follow(
    home: &Path,
    args: Vec<String>,
    stdout: impl FnMut(&[u8]) -> std::io::Result<()>,
) -> Option<Result<(u8, Option<String>)>> {
    let path = home.join(SOCKET);
    let stream = std::os::unix::net::UnixStream::connect(&path).ok()?;
    Some(
        client(stream, args, stdout).with_context(|| format!("talking to the serving node through {}", path.display())),
    )
}

/// Whether a node serves `home` now.
pub fn serving(home: &Path) -> bool {
    std::os::unix::net::UnixStream::connect(home.join(SOCKET)).is_ok()
}

fn client(
    mut stream: std::os::unix::net::UnixStream,
    args: Vec<String>,
    mut stdout: impl FnMut(&[u8]) -> std::io::Result<()>,
) -> Result<(u8, Option<String>)> {
    let cwd = std::env::current_dir().context("reading the current directory")?;
    use std::io::IsTerminal;
    let terminal = std::io::stderr().is_terminal();
    let request = serde_json::to_vec(&Request { args, cwd, progress: terminal })?;
    let mut hello = vec![VERSION];
    hello.extend(frame(REQUEST, &request));
    stream.write_all(&hello)?;
    let mut version = [0u8; 1];
    stream.read_exact(&mut version)?;
    loop {
        let mut head = [0u8; 5];
        stream.read_exact(&mut head).context("the serving node closed the connection mid-command")?;
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        let mut payload = vec![0; len];
        stream.read_exact(&mut payload)?;
        match head[0] {
            STDOUT => match stdout(&payload) {
                // a closed pipe (`| head`): stop reading; the server stops writing
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok((0, None)),
                other => other?,
            },
            PROGRESS => {
                let p: ayni_node::progress::Progress =
                    serde_json::from_slice(&payload).context("a malformed progress message")?;
                let _ = std::io::stderr().write_all(crate::output::render_progress(&p, terminal).as_bytes());
            }
            EXIT => {
                let exit: Exit = serde_json::from_slice(&payload).context("a malformed exit message")?;
                return Ok((exit.code, exit.error));
            }
            other => anyhow::bail!("an unknown message type {other} from the serving node"),
        }
    }
}

// ------------------------------------------------------------------ server

/// What the serving side knows about the serve it belongs to.
pub struct Server {
    /// The serving node: every command goes through it.
    pub node: NodeHandle,
    /// The QUIC endpoint, for `sync` through the serving node.
    pub endpoint: Arc<ayni_node::net::Endpoint>,
    /// The socket's path.
    pub path: PathBuf,
    /// Since when it serves.
    pub since: String,
    running: AtomicUsize,
    http: Option<HttpInfo>,
}

/// A command's work on the node, writing its output to `out`.
pub type Job = Box<dyn FnOnce(&NodeHandle, &mut crate::output::Out) -> Result<u8> + Send>;

/// A command the serving side runs: how it is done there.
pub enum Run {
    /// A command line's dispatch, on a thread of its own (so a client
    /// reading its output slowly holds up nothing else), writing to `out`;
    /// the node's handle decides what runs on its engine.
    Command(Job),
    /// A sync with a peer, through the serving endpoint, dropping a peer
    /// that sends nothing for `stall_timeout` seconds.
    Sync { peer: String, stall_timeout: u64, blobs: ayni_node::net::BlobPolicy },
    /// `ayni status`.
    Status,
    /// `ayni watch`: the feed, then every change as it lands.
    Watch { kind: Option<String>, since: u64, once: bool },
    /// Refused, with the message.
    Refuse(String),
}

/// Binds the control socket in `home`, replacing a stale one (left by a
/// killed server). Another live server there is an error.
pub fn bind(home: &Path) -> Result<(tokio::net::UnixListener, PathBuf)> {
    // the socket is reachable only through its home: the home is its
    // owner's alone before the socket exists (a mode set after bind would
    // leave a moment when anyone could connect)
    ayni_node::node::restrict_to_owner(home).with_context(|| format!("restricting {} to its owner", home.display()))?;
    let path = home.join(SOCKET);
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(&path).is_ok() {
            anyhow::bail!("a node is already serving this home (its control socket {} answers)", path.display());
        }
        std::fs::remove_file(&path).with_context(|| format!("removing the stale socket {}", path.display()))?;
    }
    let listener = tokio::net::UnixListener::bind(&path)
        .with_context(|| format!("binding the control socket {}", path.display()))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("restricting {} to its owner", path.display()))?;
    Ok((listener, path))
}

impl Server {
    pub fn new(
        node: NodeHandle,
        endpoint: Arc<ayni_node::net::Endpoint>,
        path: PathBuf,
        http: Option<HttpInfo>,
    ) -> Server {
        Server { node, endpoint, path, since: ayni_node::node::now_rfc3339(), running: AtomicUsize::new(0), http }
    }

    /// Accepts clients until the listener fails; each on its own task.
    /// `plan` turns a request's command line into what to run.
    pub async fn accept(self: Arc<Self>, listener: tokio::net::UnixListener, plan: Plan) {
        loop {
            let Ok((stream, _)) = listener.accept().await else { break };
            let me = self.clone();
            tokio::spawn(async move {
                if let Err(e) = me.one(stream, plan).await {
                    tracing::debug!("control client: {e:#}");
                }
            });
        }
    }

    async fn one(&self, mut stream: tokio::net::UnixStream, plan: Plan) -> Result<()> {
        let version = stream.read_u8().await?;
        stream.write_all(&[VERSION]).await?;
        if version != VERSION {
            let msg = format!("control protocol version {version} is not spoken here (this node speaks {VERSION})");
            return exit(&mut stream, 1, Some(msg)).await;
        }
        let kind = stream.read_u8().await?;
        let len = stream.read_u32().await?;
        if kind != REQUEST || len > MAX_REQUEST {
            return exit(&mut stream, 2, Some("a malformed control request".into())).await;
        }
        let mut payload = vec![0; len as usize];
        stream.read_exact(&mut payload).await?;
        let request: Request = match serde_json::from_slice(&payload) {
            Ok(r) => r,
            Err(e) => return exit(&mut stream, 2, Some(format!("a malformed control request: {e}"))).await,
        };
        // counted until it ends, however it ends (a client that goes away
        // drops this future at an await, past any code after it)
        struct Running<'a>(&'a AtomicUsize);
        impl Drop for Running<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        self.running.fetch_add(1, Ordering::SeqCst);
        let _running = Running(&self.running);
        self.run(&mut stream, request, plan).await
    }

    async fn run(&self, stream: &mut tokio::net::UnixStream, request: Request, plan: Plan) -> Result<()> {
        let (render, run) = match plan(request.args, &request.cwd) {
            Ok(p) => p,
            Err((code, msg)) => return exit(stream, code, Some(msg)).await,
        };
        let json = render.json;
        let progress = render.progress || request.progress;
        match run {
            Run::Refuse(msg) => exit(stream, 1, Some(msg)).await,
            Run::Status => {
                let running = self.running.load(Ordering::SeqCst);
                let status = self.node.status().await;
                let text = match status {
                    Ok(node) => {
                        let serving = Serving {
                            pid: std::process::id(),
                            since: self.since.clone(),
                            listen: self.endpoint.local_addr().map(|a| vec![a.to_string()]).unwrap_or_default(),
                            control: self.path.display().to_string(),
                            commands_running: running,
                            http: self.http.clone(),
                        };
                        let buf = SharedBuf::default();
                        crate::output::Out::to(json, buf.clone()).status(&Status { serving: Some(serving), node })?;
                        buf.take()
                    }
                    Err(e) => {
                        let e = anyhow::Error::from(e);
                        return exit(stream, code_of(&e), Some(render_error(&e))).await;
                    }
                };
                send(stream, STDOUT, &text).await?;
                exit(stream, 0, None).await
            }
            Run::Watch { kind, since, once } => {
                let mut follower = match ayni_node::follow::Follower::new(&self.node, since, kind).await {
                    Ok(f) => f,
                    Err(e) => {
                        let e = anyhow::Error::from(e);
                        return exit(stream, code_of(&e), Some(render_error(&e))).await;
                    }
                };
                while let Some(changes) = follower.next(once).await? {
                    let buf = SharedBuf::default();
                    let mut out = crate::output::Out::to(json, buf.clone());
                    for c in &changes {
                        out.change(c)?;
                    }
                    // the client left (Ctrl-C): stop following
                    send(stream, STDOUT, &buf.take()).await?;
                }
                exit(stream, 0, None).await
            }
            Run::Sync { peer, stall_timeout, blobs } => {
                let peers = self.node.peers().await?;
                let stall = std::time::Duration::from_secs(stall_timeout);
                let outcome = match crate::sync_address(&peer, &peers) {
                    Ok(addr) => self.endpoint.sync_with_stall(addr, stall, blobs).await.map_err(anyhow::Error::from),
                    Err(e) => Err(e),
                };
                match outcome {
                    Ok(report) => {
                        let buf = SharedBuf::default();
                        crate::output::Out::to(json, buf.clone()).synced(&report)?;
                        send(stream, STDOUT, &buf.take()).await?;
                        exit(stream, 0, None).await
                    }
                    Err(e) => exit(stream, code_of(&e), Some(render_error(&e))).await,
                }
            }
            Run::Command(job) => {
                let (tx, mut rx) = tokio::sync::mpsc::channel::<(u8, Vec<u8>)>(16);
                let node = self.node.clone();
                let work = move || {
                    let mut out = crate::output::Out::to(json, ChannelWriter(tx.clone()));
                    if progress {
                        out = out.with_progress(move |p| {
                            if let Ok(bytes) = serde_json::to_vec(p) {
                                let _ = tx.blocking_send((PROGRESS, bytes));
                            }
                        });
                    }
                    match job(&node, &mut out) {
                        Ok(code) => (code, None),
                        Err(e) => (code_of(&e), Some(render_error(&e))),
                    }
                };
                // a thread of its own, outside any task: the command blocks on
                // the node's answers there, and its reads run on it directly
                // (no second hop to the blocking pool)
                let (finished, done) = tokio::sync::oneshot::channel();
                let rt = tokio::runtime::Handle::current();
                let spawned = std::thread::Builder::new().name("ayni-command".into()).spawn(move || {
                    let _runtime = rt.enter();
                    let _ = finished.send(work());
                });
                if let Err(e) = spawned {
                    let e = anyhow::anyhow!("starting the command's thread: {e}");
                    return exit(stream, 1, Some(render_error(&e))).await;
                }
                tokio::pin!(done);
                let mut client_gone = false;
                let (code, error) = loop {
                    tokio::select! {
                        chunk = rx.recv(), if !client_gone => match chunk {
                            Some((kind, bytes)) => {
                                if send(stream, kind, &bytes).await.is_err() {
                                    // the client went away: drop the rest of the output
                                    client_gone = true;
                                    rx.close();
                                }
                            }
                            None => client_gone = true,
                        },
                        result = &mut done => {
                            while let Ok((kind, bytes)) = rx.try_recv() {
                                send(stream, kind, &bytes).await?;
                            }
                            break result.unwrap_or_else(|_| (1, Some("the command failed".into())));
                        }
                    }
                };
                exit(stream, code, error).await
            }
        }
    }
}

fn code_of(e: &anyhow::Error) -> u8 {
    if crate::is_invalid_input(e) {
        2
    } else {
        1
    }
}

async fn send(stream: &mut tokio::net::UnixStream, kind: u8, payload: &[u8]) -> Result<()> {
    Ok(stream.write_all(&frame(kind, payload)).await?)
}

async fn exit(stream: &mut tokio::net::UnixStream, code: u8, error: Option<String>) -> Result<()> {
    send(stream, EXIT, &serde_json::to_vec(&Exit { code, error })?).await?;
    Ok(stream.shutdown().await?)
}

/// Output of a command on the engine thread, handed to the connection's
/// task chunk by chunk (bounded: a slow client slows the command down
/// rather than filling memory).
struct ChannelWriter(tokio::sync::mpsc::Sender<(u8, Vec<u8>)>);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send((STDOUT, buf.to_vec()))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Output collected in memory (short answers rendered on the runtime).
#[derive(Clone, Default)]
struct SharedBuf(Arc<std::sync::Mutex<Vec<u8>>>);

impl SharedBuf {
    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
