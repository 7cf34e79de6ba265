//! A primary token and an optional backup holding the same keys, with failover.

use core::fmt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{mpsc, Arc, Mutex, RwLock, Weak};
use std::thread;
use std::time::{Duration, Instant};

use qtls_provider::CodePoints;

use crate::error::Error;
use crate::key::{HsmPublicKey, KeyRef, TokenKey};
use crate::module::Module;
use crate::pool::Pool;
use crate::sign::HsmSigningKey;
use crate::token::TokenConfig;

/// Which of the two tokens.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenRole {
    /// The token used whenever it is healthy.
    Primary,
    /// The token used while the primary is down.
    Backup,
}

impl TokenRole {
    fn name(self) -> &'static str {
        match self {
            Self::Primary => "primary",
            Self::Backup => "backup",
        }
    }
}

impl fmt::Display for TokenRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A snapshot of the tokens' health.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HsmStatus {
    /// The token new operations go to, if any is healthy.
    pub active: Option<TokenRole>,
    /// Whether the primary is in service.
    pub primary_up: bool,
    /// Whether the backup is in service (`None` without a backup).
    pub backup_up: Option<bool>,
    /// Why the primary is out of service (its last error), `None` while it is up.
    pub primary_error: Option<String>,
    /// Why the backup is out of service (its last error), `None` while it is up or absent.
    pub backup_error: Option<String>,
    /// The tokens that refused the PIN ([`Error::is_pin_error`]): they stay out of service
    /// and are not logged in to again until the process is restarted with a new
    /// configuration.
    pub pin_refused: Vec<TokenRole>,
}

/// Keys in a primary PKCS#11 token, with an optional backup token holding the same keys.
///
/// Each token has a pool of logged-in sessions ([`TokenConfig::sessions`]), so that many
/// handshakes sign at once. When an operation fails in a way that means the token itself
/// failed ([`Error::is_token_failure`]: CKR_DEVICE_ERROR, CKR_SESSION_HANDLE_INVALID,
/// CKR_TOKEN_NOT_PRESENT, a timeout, ...), that operation fails, the token is marked down and
/// later operations go to the backup. A background thread re-probes a token that is down
/// every [`HsmBuilder::probe_interval`], and puts it back in service once it opens sessions,
/// logs in and holds every key in use with the same public key; the primary is then preferred
/// again. Every transition is logged with `tracing`.
///
/// A token that refuses the PIN ([`Error::is_pin_error`]) is logged in to once: it is logged
/// at error level, stays out of service and is never probed again by this `Hsm`, since every
/// further attempt would bring the token closer to locking the PIN. [`Hsm::status`] says so.
///
/// Starting a token (opening its sessions, logging in) and probing it run on a thread of
/// their own: at most one per token at a time, so a token that hangs costs one thread however
/// long it hangs, and its next probe is skipped until the hung one returns. [`HsmBuilder::build`]
/// waits at most the operation timeout for the primary when another token is up.
///
/// Re-probing re-initialises the token's PKCS#11 module (`C_Finalize` + `C_Initialize`) when
/// no other token of this process uses that module: many libraries recover from a device
/// error only that way. A primary and backup on two different modules (two devices, or two
/// copies of a soft token's library) therefore recover independently.
///
/// Every PKCS#11 call runs on the pool's own threads (one per session); callers block for at
/// most the operation timeout. Async code should call into it (and into rustls handshakes
/// that sign with it) from a blocking context such as tokio's `spawn_blocking`.
///
/// Cloning is cheap and shares the pools. The background thread stops when the last clone
/// is dropped.
#[derive(Clone)]
pub struct Hsm {
    inner: Arc<Inner>,
}

struct Inner {
    tokens: Vec<Arc<Token>>,
    /// The public key first seen for each key in use; a token holding a different one is
    /// not used for it.
    reference: Mutex<HashMap<KeyRef, HsmPublicKey>>,
    /// The role new operations last went to, to log switches (0 none, 1 primary, 2 backup).
    last_active: AtomicU8,
    probe_interval: Duration,
    /// Operations handed to a token (signatures, ticket key work), for [`Hsm::operations`].
    operations: AtomicU64,
    /// Whether keys that can leave their token are used anyway.
    allow_exportable_keys: bool,
}

struct Token {
    role: TokenRole,
    name: String,
    config: TokenConfig,
    pool: RwLock<Option<Arc<Pool>>>,
    state: Mutex<TokenState>,
}

/// What is known about a token besides its pool.
#[derive(Default)]
struct TokenState {
    /// Why the token is out of service.
    error: Option<Error>,
    /// The token refused the PIN: it is never logged in to again.
    pin_refused: bool,
    /// When the start or probe still running began, and whether its hang was logged.
    in_flight: Option<(Instant, bool)>,
}

/// What an attempt to bring a token into service does.
enum Attempt {
    /// The first start, from [`HsmBuilder::build`].
    Start,
    /// A re-probe: re-initialise the module when unused, then check the keys in use.
    Probe {
        keys: Vec<(KeyRef, HsmPublicKey)>,
        allow_exportable_keys: bool,
    },
}

/// Builds an [`Hsm`]; see [`Hsm::builder`].
#[derive(Clone, Debug)]
pub struct HsmBuilder {
    primary: Option<TokenConfig>,
    backup: Option<TokenConfig>,
    probe_interval: Duration,
    allow_exportable_keys: bool,
}

impl HsmBuilder {
    /// The default interval between probes of a token that is down: 1 s.
    pub const DEFAULT_PROBE_INTERVAL: Duration = Duration::from_secs(1);

    /// Sets the primary token.
    pub fn primary(mut self, config: TokenConfig) -> Self {
        self.primary = Some(config);
        self
    }

    /// Sets the backup token, which must hold the same keys under the same names.
    pub fn backup(mut self, config: TokenConfig) -> Self {
        self.backup = Some(config);
        self
    }

    /// Sets how often a token that is down is probed.
    pub fn probe_interval(mut self, interval: Duration) -> Self {
        self.probe_interval = interval;
        self
    }

    /// Uses keys whose private key objects can leave the token (CKA_EXTRACTABLE true or
    /// CKA_SENSITIVE false), with a warning, instead of refusing them with
    /// [`Error::ExportableKey`]. Dangerous: anyone with the PIN can then copy the key out.
    pub fn danger_allow_exportable_keys(mut self, allowed: bool) -> Self {
        self.allow_exportable_keys = allowed;
        self
    }

    /// Opens the session pools. A token that fails to start is logged and left down for the
    /// prober; it is an error only when no token starts.
    ///
    /// The tokens start side by side. Once one is up, a token still starting is waited for
    /// at most its operation timeout and then left down (it enters service if its start
    /// returns later); with none up, the wait is at most four operation timeouts and a second.
    pub fn build(self) -> Result<Hsm, Error> {
        let primary = self
            .primary
            .ok_or_else(|| Error::InvalidConfig("no primary token".into()))?;
        if self.probe_interval.is_zero() {
            return Err(Error::InvalidConfig(
                "the probe interval must be positive".into(),
            ));
        }
        let mut tokens = vec![Arc::new(Token::new(TokenRole::Primary, primary))];
        if let Some(backup) = self.backup {
            tokens.push(Arc::new(Token::new(TokenRole::Backup, backup)));
        }
        let inner = Arc::new(Inner {
            tokens,
            reference: Mutex::new(HashMap::new()),
            last_active: AtomicU8::new(0),
            operations: AtomicU64::new(0),
            probe_interval: self.probe_interval,
            allow_exportable_keys: self.allow_exportable_keys,
        });
        let (done, finished) = mpsc::channel();
        let mut pending = 0;
        for token in &inner.tokens {
            if token.attempt(Attempt::Start, Some(done.clone())) {
                pending += 1;
            }
        }
        drop(done);
        let started = Instant::now();
        let some_up = inner
            .tokens
            .iter()
            .map(|t| t.config.op_timeout())
            .max()
            .unwrap_or(TokenConfig::DEFAULT_OP_TIMEOUT);
        let none_up = start_bound(some_up);
        while pending > 0 {
            let bound = if inner.tokens.iter().any(|t| t.is_up()) {
                some_up
            } else {
                none_up
            };
            let Some(left) = bound.checked_sub(started.elapsed()) else {
                break;
            };
            match finished.recv_timeout(left) {
                Ok(()) => pending -= 1,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        for token in &inner.tokens {
            token.note_still_starting(started.elapsed());
        }
        if inner.tokens.iter().all(|t| !t.is_up()) {
            return Err(inner
                .tokens
                .iter()
                .find_map(|t| t.lock_state().error.clone())
                .unwrap_or(Error::NoHealthyToken));
        }
        let weak = Arc::downgrade(&inner);
        thread::Builder::new()
            .name("qtls-hsm-prober".into())
            .spawn(move || prober(weak))
            .map_err(|e| Error::InvalidConfig(format!("cannot start the prober thread: {e}")))?;
        Ok(Hsm { inner })
    }
}

impl Token {
    fn new(role: TokenRole, config: TokenConfig) -> Self {
        let name = format!("{role} token with {}", config.token());
        Self {
            role,
            name,
            config,
            pool: RwLock::new(None),
            state: Mutex::new(TokenState::default()),
        }
    }

    fn lock_state(&self) -> std::sync::MutexGuard<'_, TokenState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts `attempt` on a thread of its own unless one is still running or the token
    /// refused the PIN; `done` hears when it has finished. Returns whether it was started.
    fn attempt(self: &Arc<Self>, attempt: Attempt, done: Option<mpsc::Sender<()>>) -> bool {
        {
            let mut state = self.lock_state();
            if state.pin_refused {
                return false;
            }
            if let Some((since, logged)) = &mut state.in_flight {
                let bound = start_bound(self.config.op_timeout());
                if !*logged && since.elapsed() > bound {
                    *logged = true;
                    tracing::warn!(
                        token = %self.name, ?bound,
                        "probe did not finish; token stays down and is not probed again until it returns"
                    );
                }
                return false;
            }
            state.in_flight = Some((Instant::now(), false));
        }
        let token = Arc::clone(self);
        let spawned = thread::Builder::new()
            .name("qtls-hsm-probe".into())
            .spawn(move || {
                let started = Instant::now();
                let result = token.run_attempt(&attempt);
                token.finish(&attempt, result, started);
                if let Some(done) = done {
                    let _ = done.send(());
                }
            });
        match spawned {
            Ok(_) => true,
            Err(e) => {
                let mut state = self.lock_state();
                state.in_flight = None;
                state.error = Some(Error::InvalidConfig(format!(
                    "cannot start a thread to probe the token: {e}"
                )));
                false
            }
        }
    }

    /// Opens a fresh pool on the token and, for a probe, checks it holds every key in use.
    fn run_attempt(&self, attempt: &Attempt) -> Result<Arc<Pool>, Error> {
        let Attempt::Probe {
            keys,
            allow_exportable_keys,
        } = attempt
        else {
            return Pool::start(&self.config, self.name.clone());
        };
        let module = Module::load(self.config.module())?;
        // Only when nothing else of ours has sessions there: a healthy token on the same
        // module would lose its sessions.
        module.reinitialize_if_unused()?;
        let pool = Pool::start(&self.config, self.name.clone())?;
        for (key, expected) in keys {
            let found = pool.key(key)?;
            if found.public != *expected {
                return Err(Error::KeyMismatch {
                    key: key.to_string(),
                    token: self.name.clone(),
                });
            }
            found.check_exposure(&self.name, key, *allow_exportable_keys)?;
        }
        Ok(pool)
    }

    /// Puts the pool of a successful attempt in service, or records why it failed.
    fn finish(&self, attempt: &Attempt, result: Result<Arc<Pool>, Error>, started: Instant) {
        let mut state = self.lock_state();
        state.in_flight = None;
        match result {
            Ok(pool) => {
                *self.pool.write().unwrap_or_else(|p| p.into_inner()) = Some(pool);
                state.error = None;
                match attempt {
                    Attempt::Start => tracing::debug!(token = %self.name, "token started"),
                    Attempt::Probe { .. } => tracing::info!(
                        token = %self.name,
                        after = ?started.elapsed(),
                        "token healthy again; back in service"
                    ),
                }
            }
            Err(e) => {
                if e.is_pin_error() {
                    state.pin_refused = true;
                    tracing::error!(
                        token = %self.name, error = %e,
                        "the token refused the PIN; it stays out of service and is not logged \
                         in to again (which could lock the PIN) until the configuration is \
                         fixed and the process restarted"
                    );
                } else if matches!(attempt, Attempt::Start) {
                    tracing::warn!(token = %self.name, error = %e, "token did not start; it stays down until a probe succeeds");
                } else {
                    tracing::debug!(token = %self.name, error = %e, "probe failed; token stays down");
                }
                state.error = Some(e);
            }
        }
    }

    /// Records and logs that the token's start has not returned after `waited`.
    fn note_still_starting(&self, waited: Duration) {
        let mut state = self.lock_state();
        if state.in_flight.is_some() && !self.is_up() {
            tracing::warn!(
                token = %self.name, ?waited,
                "token did not start in time; it stays down until its start returns or a probe succeeds"
            );
            state.error = Some(Error::Timeout {
                token: self.name.clone(),
                operation: "starting (C_OpenSession, C_Login)".into(),
                after: waited,
            });
        }
    }

    fn pool(&self) -> Option<Arc<Pool>> {
        self.pool.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn is_up(&self) -> bool {
        self.pool
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }
}

impl Hsm {
    /// Starts a configuration: [`HsmBuilder::primary`] is required.
    pub fn builder() -> HsmBuilder {
        HsmBuilder {
            primary: None,
            backup: None,
            probe_interval: HsmBuilder::DEFAULT_PROBE_INTERVAL,
            allow_exportable_keys: false,
        }
    }

    /// A rustls signing key for the key `key`, signing under the scheme `code_points` give
    /// its algorithm.
    ///
    /// The key is looked up in the active token; when a backup is in service too, it must
    /// hold the same public key under the same name ([`Error::KeyMismatch`] otherwise). A
    /// key that can leave its token is refused ([`Error::ExportableKey`]) unless allowed with
    /// [`HsmBuilder::danger_allow_exportable_keys`].
    pub fn signing_key(
        &self,
        key: &KeyRef,
        code_points: &CodePoints,
    ) -> Result<HsmSigningKey, Error> {
        let public = self.public_key(key)?;
        Ok(HsmSigningKey::new(
            self.clone(),
            key.clone(),
            public,
            code_points,
        ))
    }

    /// The public key of `key`, checked against every token in service.
    pub fn public_key(&self, key: &KeyRef) -> Result<HsmPublicKey, Error> {
        let (pool, _) = self.active()?;
        let found = self.guard(&pool, pool.key(key))?;
        self.check_exposure(key, &found, &pool)?;
        let public = found.public.clone();
        self.inner
            .reference
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key.clone())
            .or_insert_with(|| public.clone());
        for token in &self.inner.tokens {
            let Some(other) = token.pool() else { continue };
            if other.id() == pool.id() {
                continue;
            }
            match other.key(key) {
                Ok(theirs) if theirs.public == public => {
                    self.check_exposure(key, &theirs, &other)?;
                }
                Ok(_) => {
                    return Err(Error::KeyMismatch {
                        key: key.to_string(),
                        token: token.name.clone(),
                    })
                }
                Err(e) if e.is_token_failure() => self.inner.mark_down(&other, &e),
                Err(e) => return Err(e),
            }
        }
        Ok(public)
    }

    /// Signs `message` with `key` in the active token (see [`HsmSigningKey`] for the
    /// signature formats).
    pub(crate) fn sign(&self, key: &KeyRef, message: &[u8]) -> Result<Vec<u8>, Error> {
        let (pool, _) = self.active()?;
        self.count_operation();
        let found = self.guard(&pool, pool.key(key))?;
        self.check_reference(key, &found, &pool)?;
        // A backup that was down when the key was first looked up is checked here.
        found.check_exposure(pool.name(), key, self.inner.allow_exportable_keys)?;
        let message = message.to_vec();
        let result = pool.run("signing", move |session, name| {
            crate::key::sign(session, name, &found, &message)
        });
        self.guard(&pool, result)
    }

    /// Runs `operation` on the given pool, if it is still in service.
    pub(crate) fn run_on<T, F>(
        &self,
        pool: &Arc<Pool>,
        what: &str,
        operation: F,
    ) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&cryptoki::session::Session, &str) -> Result<T, Error> + Send + 'static,
    {
        self.count_operation();
        let result = pool.run(what, operation);
        self.guard(pool, result)
    }

    pub(crate) fn count_operation(&self) {
        self.inner.operations.fetch_add(1, Ordering::Relaxed);
    }

    /// Cryptographic operations handed to the tokens since this `Hsm` was built: signatures,
    /// and ticket key generation, encryption and decryption (key lookups and health probes
    /// not included). A server whose key is in the token makes one per full handshake and
    /// none per resumption.
    pub fn operations(&self) -> u64 {
        self.inner.operations.load(Ordering::Relaxed)
    }

    /// Takes `pool`'s token out of service after `error`.
    pub(crate) fn report_failure(&self, pool: &Arc<Pool>, error: &Error) {
        self.inner.mark_down(pool, error);
    }

    /// The pool new operations go to.
    pub(crate) fn active(&self) -> Result<(Arc<Pool>, TokenRole), Error> {
        let found = self
            .inner
            .tokens
            .iter()
            .find_map(|t| t.pool().map(|pool| (pool, t.role)));
        let code = match &found {
            Some((_, TokenRole::Primary)) => 1,
            Some((_, TokenRole::Backup)) => 2,
            None => 0,
        };
        let before = self.inner.last_active.swap(code, Ordering::AcqRel);
        if before != code && before != 0 {
            match &found {
                Some((pool, TokenRole::Primary)) => {
                    tracing::info!(token = %pool.name(), "operations go to the primary token again")
                }
                Some((pool, role)) => {
                    tracing::warn!(token = %pool.name(), "operations now go to the {role} token")
                }
                None => tracing::error!("no token is in service"),
            }
        }
        found.ok_or(Error::NoHealthyToken)
    }

    /// Passes `result` through, marking `pool`'s token down first when the error is a token
    /// failure.
    fn guard<T>(&self, pool: &Arc<Pool>, result: Result<T, Error>) -> Result<T, Error> {
        if let Err(e) = &result {
            if e.is_token_failure() {
                self.inner.mark_down(pool, e);
            }
        }
        result
    }

    /// Refuses a key that can leave `pool`'s token unless allowed; warns when allowed.
    fn check_exposure(&self, key: &KeyRef, found: &TokenKey, pool: &Pool) -> Result<(), Error> {
        found.check_exposure(pool.name(), key, self.inner.allow_exportable_keys)?;
        if let Some(attribute) = found.exposure {
            tracing::warn!(
                token = %pool.name(), key = %key, %attribute,
                "using a private key that can leave the token (exportable keys allowed)"
            );
        }
        Ok(())
    }

    fn check_reference(&self, key: &KeyRef, found: &TokenKey, pool: &Pool) -> Result<(), Error> {
        let reference = self
            .inner
            .reference
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match reference.get(key) {
            Some(expected) if *expected != found.public => Err(Error::KeyMismatch {
                key: key.to_string(),
                token: pool.name().to_owned(),
            }),
            _ => Ok(()),
        }
    }

    /// Which tokens are in service, and why the others are not.
    pub fn status(&self) -> HsmStatus {
        let find = |role| self.inner.tokens.iter().find(|t| t.role == role);
        let error = |role| {
            find(role)
                .filter(|t| !t.is_up())
                .and_then(|t| t.lock_state().error.as_ref().map(Error::to_string))
        };
        HsmStatus {
            active: self.inner.tokens.iter().find(|t| t.is_up()).map(|t| t.role),
            primary_up: find(TokenRole::Primary).is_some_and(|t| t.is_up()),
            backup_up: find(TokenRole::Backup).map(|t| t.is_up()),
            primary_error: error(TokenRole::Primary),
            backup_error: error(TokenRole::Backup),
            pin_refused: self
                .inner
                .tokens
                .iter()
                .filter(|t| t.lock_state().pin_refused)
                .map(|t| t.role)
                .collect(),
        }
    }
}

impl fmt::Debug for Hsm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hsm")
            .field(
                "tokens",
                &self
                    .inner
                    .tokens
                    .iter()
                    .map(|t| &t.name)
                    .collect::<Vec<_>>(),
            )
            .field("status", &self.status())
            .finish()
    }
}

impl Inner {
    fn mark_down(&self, pool: &Arc<Pool>, error: &Error) {
        for token in &self.tokens {
            let mut current = token.pool.write().unwrap_or_else(|p| p.into_inner());
            if current.as_ref().is_some_and(|p| Arc::ptr_eq(p, pool)) {
                *current = None;
                drop(current);
                token.lock_state().error = Some(error.clone());
                pool.shut_down();
                tracing::warn!(token = %token.name, %error, "token failed; taken out of service");
                return;
            }
        }
    }
}

/// Re-probes tokens that are down until the last [`Hsm`] clone is dropped (noticed within
/// one interval: no strong reference is held while sleeping).
fn prober(inner: Weak<Inner>) {
    loop {
        let interval = {
            let Some(strong) = inner.upgrade() else {
                return;
            };
            for token in strong.tokens.iter().filter(|t| !t.is_up()) {
                let keys = strong
                    .reference
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                // The attempt holds the token, not the `Hsm`: a probe hung in a token does
                // not keep a dropped `Hsm` alive.
                token.attempt(
                    Attempt::Probe {
                        keys,
                        allow_exportable_keys: strong.allow_exportable_keys,
                    },
                    None,
                );
            }
            strong.probe_interval
        };
        thread::sleep(interval);
    }
}

/// How long a start or probe may take when no other token serves meanwhile.
fn start_bound(op_timeout: Duration) -> Duration {
    op_timeout * 4 + Duration::from_secs(1)
}
