use core::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cryptoki::context::Pkcs11;
use cryptoki::error::RvError;
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;

use crate::error::Error;
use crate::pin::Pin;
use crate::uri::Pkcs11Uri;

/// How a token is picked among a module's slots.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TokenSelector {
    /// The token whose label (CKA_LABEL of the token, 32 characters at most) is this.
    Label(String),
    /// The token with this serial number.
    Serial(String),
    /// The token in the slot with this ID.
    SlotId(u64),
}

impl fmt::Display for TokenSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Label(label) => write!(f, "label {label:?}"),
            Self::Serial(serial) => write!(f, "serial {serial:?}"),
            Self::SlotId(id) => write!(f, "slot {id}"),
        }
    }
}

/// One token: its module, how to find it, its PIN, and how many sessions to keep open.
///
/// ```no_run
/// use std::time::Duration;
/// use qtls_hsm::{Pin, TokenConfig};
///
/// let token = TokenConfig::builder("/usr/lib/softhsm/libsofthsm2.so")
///     .token_label("qtls")
///     .pin(Pin::from_env("QTLS_HSM_PIN")?)
///     .sessions(4)
///     .op_timeout(Duration::from_secs(2))
///     .build()?;
/// # Ok::<(), qtls_hsm::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct TokenConfig {
    module: PathBuf,
    token: TokenSelector,
    pin: Pin,
    sessions: usize,
    op_timeout: Duration,
}

impl TokenConfig {
    /// The default number of logged-in sessions kept open: 4.
    pub const DEFAULT_SESSIONS: usize = 4;
    /// The default time a token operation may take before the token is considered failed: 5 s.
    pub const DEFAULT_OP_TIMEOUT: Duration = Duration::from_secs(5);

    /// Starts a configuration for a token of the PKCS#11 module at `module`.
    pub fn builder(module: impl Into<PathBuf>) -> TokenConfigBuilder {
        TokenConfigBuilder {
            module: Some(module.into()),
            token: None,
            pin: None,
            sessions: Self::DEFAULT_SESSIONS,
            op_timeout: Self::DEFAULT_OP_TIMEOUT,
        }
    }

    /// Starts a configuration from a PKCS#11 URI: the module from `module-path`, the token
    /// from `token`, `serial` or `slot-id` (in that order of preference), the PIN from
    /// `pin-source`. Anything the URI lacks can still be set on the builder.
    pub fn builder_from_uri(uri: &Pkcs11Uri) -> Result<TokenConfigBuilder, Error> {
        let token = match (&uri.token, &uri.serial, uri.slot_id) {
            (Some(label), _, _) => Some(TokenSelector::Label(label.clone())),
            (None, Some(serial), _) => Some(TokenSelector::Serial(serial.clone())),
            (None, None, Some(slot)) => Some(TokenSelector::SlotId(slot)),
            (None, None, None) => None,
        };
        let pin = uri
            .pin_file()?
            .map(|path| Pin::from_file(&path))
            .transpose()?;
        Ok(TokenConfigBuilder {
            module: uri.module_path.clone(),
            token,
            pin,
            sessions: Self::DEFAULT_SESSIONS,
            op_timeout: Self::DEFAULT_OP_TIMEOUT,
        })
    }

    /// The module's path.
    pub fn module(&self) -> &Path {
        &self.module
    }

    /// How the token is found.
    pub fn token(&self) -> &TokenSelector {
        &self.token
    }

    /// How many sessions the pool keeps open.
    pub fn sessions(&self) -> usize {
        self.sessions
    }

    /// How long one operation may take.
    pub fn op_timeout(&self) -> Duration {
        self.op_timeout
    }

    pub(crate) fn pin(&self) -> &Pin {
        &self.pin
    }
}

/// Builds a [`TokenConfig`]; see [`TokenConfig::builder`].
#[derive(Clone, Debug)]
pub struct TokenConfigBuilder {
    module: Option<PathBuf>,
    token: Option<TokenSelector>,
    pin: Option<Pin>,
    sessions: usize,
    op_timeout: Duration,
}

impl TokenConfigBuilder {
    /// Sets (or replaces) the module's path.
    pub fn module(mut self, module: impl Into<PathBuf>) -> Self {
        self.module = Some(module.into());
        self
    }

    /// Picks the token by its label.
    pub fn token_label(mut self, label: impl Into<String>) -> Self {
        self.token = Some(TokenSelector::Label(label.into()));
        self
    }

    /// Picks the token by its serial number.
    pub fn token_serial(mut self, serial: impl Into<String>) -> Self {
        self.token = Some(TokenSelector::Serial(serial.into()));
        self
    }

    /// Picks the token by its slot ID.
    pub fn slot_id(mut self, slot_id: u64) -> Self {
        self.token = Some(TokenSelector::SlotId(slot_id));
        self
    }

    /// Sets the user PIN.
    ///
    /// PKCS#11 logs a whole process in to a token: while this process already has a logged-in
    /// session on the token (another pool, an admin session), logging in again is not needed
    /// and the PIN is not checked again.
    pub fn pin(mut self, pin: Pin) -> Self {
        self.pin = Some(pin);
        self
    }

    /// Sets how many logged-in sessions the pool keeps: the number of operations the token
    /// can run at once for this process. Default [`TokenConfig::DEFAULT_SESSIONS`].
    pub fn sessions(mut self, sessions: usize) -> Self {
        self.sessions = sessions;
        self
    }

    /// Sets how long one operation may take before the token counts as failed. Default
    /// [`TokenConfig::DEFAULT_OP_TIMEOUT`].
    pub fn op_timeout(mut self, op_timeout: Duration) -> Self {
        self.op_timeout = op_timeout;
        self
    }

    /// Checks and builds the configuration.
    pub fn build(self) -> Result<TokenConfig, Error> {
        let module = self
            .module
            .ok_or_else(|| Error::InvalidConfig("no PKCS#11 module given".into()))?;
        let token = self.token.ok_or_else(|| {
            Error::InvalidConfig(format!(
                "no token given for {} (a label, serial or slot ID)",
                module.display()
            ))
        })?;
        let pin = self.pin.ok_or_else(|| {
            Error::InvalidConfig(format!("no PIN given for the token with {token}"))
        })?;
        if self.sessions == 0 {
            return Err(Error::InvalidConfig(
                "a token needs at least one session".into(),
            ));
        }
        if self.op_timeout.is_zero() {
            return Err(Error::InvalidConfig(
                "the operation timeout must be positive".into(),
            ));
        }
        Ok(TokenConfig {
            module,
            token,
            pin,
            sessions: self.sessions,
            op_timeout: self.op_timeout,
        })
    }
}

/// The slot holding the token `selector` names.
pub(crate) fn find_slot(
    context: &Pkcs11,
    module: &Path,
    selector: &TokenSelector,
) -> Result<Slot, Error> {
    let failed = |operation: &str, e| Error::pkcs11(&module.display().to_string(), operation, e);
    let slots = context
        .get_slots_with_token()
        .map_err(|e| failed("C_GetSlotList", e))?;
    let mut present = Vec::new();
    for slot in slots {
        if let TokenSelector::SlotId(id) = selector {
            if slot.id() == *id {
                return Ok(slot);
            }
        }
        // A slot whose token cannot be described is skipped, not fatal: another slot may
        // hold the token we want.
        let Ok(info) = context.get_token_info(slot) else {
            continue;
        };
        if !info.token_initialized() {
            continue;
        }
        let matches = match selector {
            TokenSelector::Label(label) => info.label().trim_end() == label,
            TokenSelector::Serial(serial) => info.serial_number().trim_end() == serial,
            TokenSelector::SlotId(_) => false,
        };
        if matches {
            return Ok(slot);
        }
        present.push(format!("{:?}", info.label().trim_end()));
    }
    Err(Error::TokenNotFound {
        module: module.to_path_buf(),
        wanted: selector.to_string(),
        present,
    })
}

/// Logs the user in. Login state is per token for the whole process, so "already logged
/// in" (another session of ours did it) is success.
pub(crate) fn login(session: &Session, pin: &Pin, token: &str) -> Result<(), Error> {
    match session.login(UserType::User, Some(&pin.auth_pin())) {
        Ok(()) | Err(cryptoki::error::Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
        Err(e) => Err(Error::pkcs11(token, "C_Login", e)),
    }
}
