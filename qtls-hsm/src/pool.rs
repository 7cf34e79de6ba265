//! A pool of logged-in sessions on one token, each owned by its own thread.
//!
//! A PKCS#11 session may be used by one thread at a time, and a call into a token may block
//! for as long as the device likes. So every session lives on a dedicated worker thread and
//! callers hand it work through a queue, waiting at most the operation timeout for the answer.
//! A call that hangs in the token costs its worker, never the caller: the caller gets a
//! timeout, the token is taken out of service, and the worker exits whenever the call
//! returns.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use cryptoki::session::Session;

use crate::error::Error;
use crate::key::{self, KeyRef, TokenKey};
use crate::module::{Module, ModuleUser};
use crate::token::{self, TokenConfig};

type Job = Box<dyn FnOnce(&Session) + Send>;

/// Progress of one job, as its caller sees it.
enum Progress<T> {
    Started,
    Done(Result<T, Error>),
}

/// The sessions of one token, opened and logged in once, and the keys found there.
pub(crate) struct Pool {
    name: String,
    id: u64,
    queue: Mutex<Option<mpsc::Sender<Job>>>,
    /// Set on shutdown: workers drop the jobs still queued instead of running them.
    closed: Arc<AtomicBool>,
    jobs: Arc<Mutex<mpsc::Receiver<Job>>>,
    op_timeout: Duration,
    keys: Mutex<HashMap<KeyRef, Arc<TokenKey>>>,
}

impl Pool {
    /// Opens `config.sessions()` sessions on the token, logs in, and starts one worker
    /// thread per session.
    pub(crate) fn start(config: &TokenConfig, name: String) -> Result<Arc<Self>, Error> {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);

        let module = Module::load(config.module())?;
        // Registered before any session exists, so the module is not re-initialised under us.
        let user = Arc::new(module.user());
        let (context, generation) = module.context();
        let slot = token::find_slot(&context, config.module(), config.token())?;
        let mut sessions = Vec::with_capacity(config.sessions());
        for _ in 0..config.sessions() {
            // Sessions are closed by their worker (see `worker`), not on drop: after a
            // module re-initialisation a stale handle may name someone else's session.
            match context.open_ro_session_no_drop(slot) {
                Ok(session) => sessions.push(session),
                Err(e) => {
                    close_all(sessions, &module, generation);
                    return Err(Error::pkcs11(&name, "C_OpenSession", e));
                }
            }
        }
        if let Err(e) = sessions
            .first()
            .map_or(Ok(()), |first| token::login(first, config.pin(), &name))
        {
            close_all(sessions, &module, generation);
            return Err(e);
        }

        let (sender, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        let closed = Arc::new(AtomicBool::new(false));
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        for (i, session) in sessions.into_iter().enumerate() {
            let receiver = Arc::clone(&receiver);
            let user = Arc::clone(&user);
            let closed = Arc::clone(&closed);
            let spawned = thread::Builder::new()
                .name(format!("qtls-hsm-{id}-{i}"))
                .spawn(move || worker(session, receiver, closed, user, generation));
            if let Err(e) = spawned {
                // The sessions already handed to workers close when the queue closes.
                return Err(Error::InvalidConfig(format!(
                    "cannot start a session thread: {e}"
                )));
            }
        }
        tracing::debug!(token = %name, sessions = config.sessions(), "session pool started");
        Ok(Arc::new(Self {
            name,
            id,
            queue: Mutex::new(Some(sender)),
            closed,
            jobs: receiver,
            op_timeout: config.op_timeout(),
            keys: Mutex::new(HashMap::new()),
        }))
    }

    /// The token's name in messages, e.g. `primary token "qtls"`.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// A number no other pool of this process has.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// Runs `operation` on a free session and waits for it: at most twice the operation
    /// timeout for a session to become free ([`Error::Busy`]), then at most the operation
    /// timeout for the token to answer ([`Error::Timeout`]).
    ///
    /// The queue wait is the longer one so that, behind calls hanging in a failed token, a
    /// caller learns that the token was taken out of service ([`Error::TokenDown`], as soon
    /// as the hanging calls time out) rather than that it was merely busy.
    pub(crate) fn run<T, F>(&self, what: &str, operation: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&Session, &str) -> Result<T, Error> + Send + 'static,
    {
        let (progress, updates) = mpsc::sync_channel::<Progress<T>>(2);
        let cancelled = Arc::new(AtomicBool::new(false));
        let job_cancelled = Arc::clone(&cancelled);
        let name = self.name.clone();
        let job: Job = Box::new(move |session| {
            // A caller that gave up waiting in the queue does not want the operation run.
            if job_cancelled.load(Ordering::Acquire) {
                return;
            }
            let _ = progress.send(Progress::Started);
            let _ = progress.send(Progress::Done(operation(session, &name)));
        });
        let sent = match &*self.queue.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(queue) => queue.send(job).is_ok(),
            None => false,
        };
        if !sent {
            return Err(self.down());
        }
        match updates.recv_timeout(self.op_timeout * 2) {
            Ok(Progress::Started) => {}
            Ok(Progress::Done(result)) => return result,
            Err(RecvTimeoutError::Timeout) => {
                cancelled.store(true, Ordering::Release);
                return Err(Error::Busy {
                    token: self.name.clone(),
                });
            }
            // The job was dropped unrun: the pool was shut down.
            Err(RecvTimeoutError::Disconnected) => return Err(self.down()),
        }
        match updates.recv_timeout(self.op_timeout) {
            Ok(Progress::Done(result)) => result,
            Ok(Progress::Started) | Err(RecvTimeoutError::Disconnected) => Err(self.down()),
            Err(RecvTimeoutError::Timeout) => Err(Error::Timeout {
                token: self.name.clone(),
                operation: what.to_owned(),
                after: self.op_timeout,
            }),
        }
    }

    fn down(&self) -> Error {
        Error::TokenDown {
            token: self.name.clone(),
        }
    }

    /// The key `key` in this token, looked up once per pool.
    pub(crate) fn key(&self, key: &KeyRef) -> Result<Arc<TokenKey>, Error> {
        if let Some(found) = self.keys.lock().unwrap_or_else(|p| p.into_inner()).get(key) {
            return Ok(Arc::clone(found));
        }
        let wanted = key.clone();
        let found = Arc::new(self.run("finding the key", move |session, name| {
            key::resolve(session, name, &wanted)
        })?);
        self.keys
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.clone(), Arc::clone(&found));
        Ok(found)
    }

    /// Stops taking work. Queued jobs are dropped (their callers see the token down); the
    /// workers close their sessions and exit once their current call returns.
    pub(crate) fn shut_down(&self) {
        self.closed.store(true, Ordering::Release);
        self.queue.lock().unwrap_or_else(|p| p.into_inner()).take();
        // With every worker stuck in the token nobody would take the queued jobs: drop them
        // here. (An idle worker holds the lock instead, and drops them itself.)
        if let Ok(jobs) = self.jobs.try_lock() {
            while jobs.try_recv().is_ok() {}
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shut_down();
    }
}

fn worker(
    session: Session,
    jobs: Arc<Mutex<mpsc::Receiver<Job>>>,
    closed: Arc<AtomicBool>,
    user: Arc<ModuleUser>,
    generation: u64,
) {
    loop {
        // The lock is held while waiting: one idle worker waits on the queue, the others on
        // the lock, and each job goes to exactly one of them.
        let job = match jobs.lock().unwrap_or_else(|p| p.into_inner()).recv() {
            Ok(job) => job,
            Err(_) => break,
        };
        if closed.load(Ordering::Acquire) {
            // Dropped unrun: its caller learns at once that the token is down.
            drop(job);
            continue;
        }
        job(&session);
    }
    close_all(vec![session], user.module(), generation);
    // `user` drops here: the last worker of a pool lets the module be re-initialised.
}

fn close_all(sessions: Vec<Session>, module: &Module, generation: u64) {
    for session in sessions {
        if module.generation() == generation {
            // A failed close means the session is already gone with its token.
            let _ = session.close();
        }
    }
}
