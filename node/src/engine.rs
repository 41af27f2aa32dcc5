//! The engine: one thread that does a running node's store work, driven
//! through [`crate::NodeHandle`], the node's one public door.
//!
//! Owns: the engine thread and the order of the work sent to it. Must
//! never: run on an async worker thread, or let a panic in one job take
//! the node down with it.
//!
//! Everything that reads or writes the store on behalf of a sync session,
//! a bundle, or a command from the control socket is a job here: a closure
//! given `&Node`, run on the engine thread one after another in the order
//! they were sent, its result handed back through a oneshot channel. So
//! the store's fsyncs, automerge merges and signature checks never block the
//! async runtime, and writes from different sources never interleave (the
//! model is iroh-docs' `SyncHandle` and actor thread). While jobs queue up,
//! their writes share one flush and fdatasync (group commit), and no job's
//! result is handed back before its writes are durable. The thread ends
//! when the last handle is dropped, after finishing the jobs already sent.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};

use crate::node::{Node, Reader};

/// A job runs and hands back how to deliver its result: at once, or once
/// what the job wrote is durable.
type Job = Box<dyn FnOnce(&Node) -> (Durability, Deliver) + Send>;
type Deliver = Box<dyn FnOnce() + Send>;

/// Most results held back for one group commit.
const GROUP: usize = 64;

/// When a write's caller is answered: a parameter of each write, not of
/// the thread that runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Durability {
    /// Once what it wrote is on disk (its group's flush): every write a
    /// person, a client or a peer asked for.
    OnDisk,
    /// At once; what it wrote reaches the disk with the next group's flush
    /// (bookkeeping a crash may lose: when a peer was last seen, where the
    /// node is served).
    Deferred,
}

/// A running node's engine. Cloning it is cheap; every clone sends to the
/// same thread, which ends when the last clone is dropped (after the jobs
/// already sent).
#[derive(Clone)]
pub(crate) struct Engine {
    jobs: mpsc::Sender<Job>,
    reader: Arc<Reader>,
    thread: Arc<std::sync::Mutex<Option<std::thread::JoinHandle<Node>>>>,
}

/// The engine stopped (its thread is gone) before a job's reply came.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the node's engine {0}")]
pub struct EngineGone(&'static str);

impl From<EngineGone> for crate::Error {
    fn from(e: EngineGone) -> crate::Error {
        crate::Error::Stopped(e.0)
    }
}

impl Engine {
    /// Starts the engine thread, which owns `node` (and so its writes)
    /// until it stops.
    pub(crate) fn spawn(mut node: Node) -> std::io::Result<Engine> {
        node.set_flush(crate::store::Flush::ByOwner);
        let reader = node.reader().clone();
        let (jobs, queue) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new().name("ayni-engine".into()).spawn(move || run(node, &queue))?;
        Ok(Engine { jobs, reader, thread: Arc::new(std::sync::Mutex::new(Some(thread))) })
    }

    /// Stops the engine once its jobs are done and hands back the node,
    /// when this was its last clone.
    pub(crate) fn stop(self) -> Option<Node> {
        let Engine { jobs, reader, thread } = self;
        drop((jobs, reader));
        let thread = Arc::try_unwrap(thread).ok()?.into_inner().unwrap_or_else(|e| e.into_inner())?;
        let mut node = thread.join().ok()?;
        node.set_flush(crate::store::Flush::EachWrite);
        Some(node)
    }

    /// Runs the write `f` on the engine thread and waits, without blocking
    /// the async runtime, for its result — once it is durable as
    /// `durability` says.
    pub(crate) async fn call<R, F>(&self, durability: Durability, f: F) -> Result<R, EngineGone>
    where
        R: Send + 'static,
        F: FnOnce(&Node) -> R + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.send(durability, f, move |r| {
            let _ = tx.send(r);
        })?;
        rx.await.map_err(|_| EngineGone("failed while running a job"))
    }

    /// [`Engine::call`] from a thread that may block (never an async
    /// worker), answered once the write is on disk.
    pub(crate) fn call_blocking<R, F>(&self, f: F) -> Result<R, EngineGone>
    where
        R: Send + 'static,
        F: FnOnce(&Node) -> R + Send + 'static,
    {
        let (tx, rx) = mpsc::sync_channel(1);
        self.send(Durability::OnDisk, f, move |r| {
            let _ = tx.send(r);
        })?;
        rx.recv().map_err(|_| EngineGone("failed while running a job"))
    }

    fn send<R: Send + 'static, F>(
        &self,
        durability: Durability,
        f: F,
        reply: impl FnOnce(R) + Send + 'static,
    ) -> Result<(), EngineGone>
    where
        F: FnOnce(&Node) -> R + Send + 'static,
    {
        self.jobs
            .send(Box::new(move |node| {
                let result = f(node);
                (durability, Box::new(move || reply(result)))
            }))
            .map_err(|_| EngineGone("has stopped"))
    }

    /// Runs a read on a blocking thread beside the engine, not on it, so a
    /// long read (a listing, a status over every view) holds up no write.
    /// It gets the node's [`Reader`], which cannot write. Store reads (a
    /// redb snapshot each) are safe beside the engine's writes; a read may see a write of the
    /// engine's current group a few milliseconds before it is durable (its
    /// writer has not been answered yet).
    pub(crate) async fn read<R, F>(&self, f: F) -> Result<R, EngineGone>
    where
        R: Send + 'static,
        F: FnOnce(&Reader) -> R + Send + 'static,
    {
        // polled outside any task — by a thread that blocks on it anyway (the
        // CLI's, a control-socket command's) — the read runs right here; a
        // task's would block an async worker, so it goes to the blocking pool
        if tokio::task::try_id().is_none() {
            return Ok(f(&self.reader));
        }
        let reader = self.reader.clone();
        tokio::task::spawn_blocking(move || f(&reader)).await.map_err(|_| EngineGone("failed while running a read"))
    }

    /// The node as readers see it, for what needs no store work: its ID,
    /// home and key.
    pub(crate) fn reader(&self) -> &Arc<Reader> {
        &self.reader
    }
}

/// The engine thread: runs jobs in order; while more are waiting (up to
/// [`GROUP`]), the results of [`Durability::OnDisk`] writes are held as one
/// group (a [`Durability::Deferred`] one is answered at once). A group that
/// wrote goes to the flusher thread, which makes it durable (one flush and
/// fdatasync) and only then delivers its results, in order, while the
/// engine already runs the next jobs: flushing one group overlaps with
/// running the next (a pipeline of two; a third group waits for the
/// flusher). A group that wrote nothing is delivered at once — after the
/// groups before it, so no answer overtakes an earlier one. If a flush
/// fails, its results and every later group's are dropped (their callers
/// see [`EngineGone`]: nothing is reported done that is not durable) and
/// the engine stops. Returns the node when the last handle is gone.
fn run(node: Node, queue: &mpsc::Receiver<Job>) -> Node {
    let failed = Arc::new(AtomicBool::new(false));
    let (groups, flusher_queue) = mpsc::sync_channel::<(bool, Vec<Deliver>)>(1);
    let flusher = {
        let (reader, failed) = (node.reader().clone(), failed.clone());
        std::thread::Builder::new()
            .name("ayni-flusher".into())
            .spawn(move || flush_groups(&reader, &flusher_queue, &failed))
    };
    let Ok(flusher) = flusher else {
        tracing::error!("the node's engine stops: its flusher thread could not start");
        return node;
    };
    let unflushed = || node.store().take_unflushed();
    let mut held: Vec<Deliver> = vec![];
    loop {
        if failed.load(Ordering::Acquire) {
            break;
        }
        let job = if held.is_empty() {
            match queue.recv() {
                Ok(job) => job,
                Err(_) => break,
            }
        } else {
            match queue.try_recv() {
                Ok(job) => job,
                Err(waiting) => {
                    if groups.send((unflushed(), std::mem::take(&mut held))).is_err()
                        || waiting == mpsc::TryRecvError::Disconnected
                    {
                        break;
                    }
                    continue;
                }
            }
        };
        // a panicking job loses only its own result (its caller sees
        // `EngineGone`); the next job runs as usual
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&node))) {
            Ok((Durability::OnDisk, deliver)) => held.push(deliver),
            Ok((Durability::Deferred, deliver)) => deliver(),
            Err(_) => {}
        }
        if held.len() >= GROUP && groups.send((unflushed(), std::mem::take(&mut held))).is_err() {
            break;
        }
    }
    if !failed.load(Ordering::Acquire) {
        // the last group, and any deferred write after it
        let _ = groups.send((unflushed(), held));
    }
    drop(groups);
    let _ = flusher.join();
    node
}

/// The flusher thread: makes each group durable, then delivers its results.
fn flush_groups(reader: &Reader, groups: &mpsc::Receiver<(bool, Vec<Deliver>)>, failed: &AtomicBool) {
    for (wrote, delivers) in groups.iter() {
        if failed.load(Ordering::Acquire) {
            continue; // drop: nothing after a failed flush is reported done
        }
        if wrote {
            if let Err(e) = reader.store().flush_now() {
                tracing::error!("the node's engine stops: its writes could not be made durable: {e}");
                failed.store(true, Ordering::Release);
                continue;
            }
        }
        for deliver in delivers {
            deliver();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn jobs_run_in_order_off_the_runtime_and_survive_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let handle = Engine::spawn(Node::init(dir.path(), "engine").unwrap()).unwrap();
        let (thread, id) = handle
            .call(Durability::OnDisk, |n| (std::thread::current().name().map(String::from), n.id()))
            .await
            .unwrap();
        assert_eq!(thread.as_deref(), Some("ayni-engine"));
        assert_eq!(id, handle.reader().id());
        let order = Arc::new(std::sync::Mutex::new(vec![]));
        let calls: Vec<_> = (0..50)
            .map(|i| {
                let (h, order) = (handle.clone(), order.clone());
                tokio::spawn(async move { h.call(Durability::OnDisk, move |_| order.lock().unwrap().push(i)).await })
            })
            .collect();
        for c in calls {
            c.await.unwrap().unwrap();
        }
        assert_eq!(order.lock().unwrap().len(), 50);
        let panicked = handle.call(Durability::OnDisk, |_| -> u8 { panic!("a bad job") }).await;
        assert!(panicked.is_err());
        let h = handle.clone();
        let after = tokio::task::spawn_blocking(move || h.call_blocking(|n| n.id())).await.unwrap();
        assert_eq!(after.unwrap(), id);
    }
}
