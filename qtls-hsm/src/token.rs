use core::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cryptoki::context::Pkcs11;
use cryptoki::error::RvError;
use cryptoki::session::{Session, UserType};
use cryptoki::slot::{Slot, TokenInfo};

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
    /// The token every token, slot and library attribute of this PKCS#11 URI matches
    /// (RFC 7512 §2.3); its object and query attributes play no part.
    Uri(Box<Pkcs11Uri>),
}

impl fmt::Display for TokenSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Label(label) => write!(f, "label {label:?}"),
            Self::Serial(serial) => write!(f, "serial {serial:?}"),
            Self::SlotId(id) => write!(f, "slot {id}"),
            Self::Uri(uri) => write!(f, "URI {}", uri.token_part()),
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
    /// from every token, slot and library attribute (`token`, `serial`, `manufacturer`,
    /// `model`, `slot-id`, `slot-description`, ...: all must match, and exactly one token
    /// may, as [`TokenSelector::Uri`]), the PIN from `pin-source`. Anything the URI lacks can
    /// still be set on the builder.
    pub fn builder_from_uri(uri: &Pkcs11Uri) -> Result<TokenConfigBuilder, Error> {
        let token = uri
            .names_token()
            .then(|| TokenSelector::Uri(Box::new(uri.token_part())));
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

/// The slot holding the one token `selector` names: none is [`Error::TokenNotFound`], more
/// than one [`Error::AmbiguousToken`].
pub(crate) fn find_slot(
    context: &Pkcs11,
    module: &Path,
    selector: &TokenSelector,
) -> Result<Slot, Error> {
    let failed = |operation: &str, e| Error::pkcs11(&module.display().to_string(), operation, e);
    let slots = context
        .get_slots_with_token()
        .map_err(|e| failed("C_GetSlotList", e))?;
    if let TokenSelector::Uri(uri) = selector {
        if !library_matches(context, uri).map_err(|e| failed("C_GetInfo", e))? {
            return Err(Error::TokenNotFound {
                module: module.to_path_buf(),
                wanted: format!("{selector} (the module's own attributes do not match)"),
                present: Vec::new(),
            });
        }
    }
    let mut found = Vec::new();
    let mut present = Vec::new();
    for slot in slots {
        // A slot whose token cannot be described is skipped, not fatal: another slot may
        // hold the token we want.
        let Ok(info) = context.get_token_info(slot) else {
            if matches!(selector, TokenSelector::SlotId(id) if *id == slot.id()) {
                found.push((slot, format!("slot {}", slot.id())));
            }
            continue;
        };
        let described = format!(
            "slot {}: {:?} (serial {:?})",
            slot.id(),
            info.label().trim_end(),
            info.serial_number().trim_end()
        );
        let matches = match selector {
            TokenSelector::SlotId(id) => slot.id() == *id,
            _ if !info.token_initialized() => false,
            TokenSelector::Label(label) => info.label().trim_end() == label,
            TokenSelector::Serial(serial) => info.serial_number().trim_end() == serial,
            TokenSelector::Uri(uri) => token_matches(context, slot, &info, uri),
        };
        if matches {
            found.push((slot, described));
        } else if info.token_initialized() {
            present.push(described);
        }
    }
    match found.len() {
        0 => Err(Error::TokenNotFound {
            module: module.to_path_buf(),
            wanted: selector.to_string(),
            present,
        }),
        1 => Ok(found.remove(0).0),
        _ => Err(Error::AmbiguousToken {
            module: module.to_path_buf(),
            wanted: selector.to_string(),
            matches: found.into_iter().map(|(_, described)| described).collect(),
        }),
    }
}

/// Whether the token in `slot` has every token and slot attribute `uri` gives. PKCS#11 pads
/// these fields with blanks; RFC 7512 §2.3 compares them without the padding.
fn token_matches(context: &Pkcs11, slot: Slot, info: &TokenInfo, uri: &Pkcs11Uri) -> bool {
    let same = |wanted: &Option<String>, have: &str| {
        wanted
            .as_ref()
            .is_none_or(|w| w.as_str() == have.trim_end())
    };
    if !(same(&uri.token, info.label())
        && same(&uri.manufacturer, info.manufacturer_id())
        && same(&uri.model, info.model())
        && same(&uri.serial, info.serial_number())
        && uri.slot_id.is_none_or(|id| id == slot.id()))
    {
        return false;
    }
    if uri.slot_description.is_none() && uri.slot_manufacturer.is_none() {
        return true;
    }
    // A slot that cannot be described cannot be shown to match.
    context.get_slot_info(slot).is_ok_and(|slot_info| {
        same(&uri.slot_description, slot_info.slot_description())
            && same(&uri.slot_manufacturer, slot_info.manufacturer_id())
    })
}

/// Whether the module has every library attribute `uri` gives.
fn library_matches(context: &Pkcs11, uri: &Pkcs11Uri) -> Result<bool, cryptoki::error::Error> {
    if uri.library_manufacturer.is_none()
        && uri.library_description.is_none()
        && uri.library_version.is_none()
    {
        return Ok(true);
    }
    let info = context.get_library_info()?;
    let same = |wanted: &Option<String>, have: &str| {
        wanted
            .as_ref()
            .is_none_or(|w| w.as_str() == have.trim_end())
    };
    let version = info.library_version();
    let version_matches = uri.library_version.as_deref().is_none_or(|wanted| {
        // "1" matches any 1.x; "1.5" only 1.5 (the parser checked both are decimal).
        match wanted.split_once('.') {
            Some((major, minor)) => {
                major.parse() == Ok(version.major()) && minor.parse() == Ok(version.minor())
            }
            None => wanted.parse() == Ok(version.major()),
        }
    });
    Ok(same(&uri.library_manufacturer, info.manufacturer_id())
        && same(&uri.library_description, info.library_description())
        && version_matches)
}

/// Logs the user in. Login state is per token for the whole process, so "already logged
/// in" (another session of ours did it) is success.
pub(crate) fn login(session: &Session, pin: &Pin, token: &str) -> Result<(), Error> {
    match session.login(UserType::User, Some(&pin.auth_pin())) {
        Ok(()) | Err(cryptoki::error::Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
        Err(e) => Err(Error::pkcs11(token, "C_Login", e)),
    }
}
