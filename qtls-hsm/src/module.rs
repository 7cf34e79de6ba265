//! Loaded PKCS#11 modules, one per path per process.
//!
//! A module can be `C_Initialize`d once per process, so every token on the same module shares
//! one [`Module`]. A module whose tokens have all failed can be re-initialised
//! (`C_Finalize` + `C_Initialize`): that is how a library recovers from a device it has given
//! up on (Kryoptic after its store became unreadable, SoftHSM2 after its token directory
//! vanished), and it is only done when nothing else in the process has a session open on the
//! module.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::RvError;

use crate::error::Error;

/// A loaded, initialised PKCS#11 module.
#[derive(Debug)]
pub(crate) struct Module {
    path: PathBuf,
    context: Mutex<Pkcs11>,
    /// Bumped by every re-initialisation: session handles from an older generation mean
    /// nothing (or, worse, someone else's session) and must not be closed.
    generation: AtomicU64,
    /// Session pools and admin handles that may hold sessions on this module.
    users: AtomicUsize,
}

impl Module {
    /// The module at `path`, loaded and initialised on first use.
    pub(crate) fn load(path: &Path) -> Result<Arc<Self>, Error> {
        static MODULES: OnceLock<Mutex<HashMap<PathBuf, Arc<Module>>>> = OnceLock::new();

        // Two spellings of one file must not load it twice; two copies of a module at
        // different paths are two independent modules (that is how a test gets two "devices").
        let key = path.canonicalize().map_err(|e| Error::Module {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let mut modules = MODULES
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(module) = modules.get(&key) {
            return Ok(Arc::clone(module));
        }
        let context = Pkcs11::new(&key).map_err(|e| Error::Module {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        initialize(&context, path)?;
        let module = Arc::new(Self {
            path: path.to_path_buf(),
            context: Mutex::new(context),
            generation: AtomicU64::new(0),
            users: AtomicUsize::new(0),
        });
        modules.insert(key, Arc::clone(&module));
        Ok(module)
    }

    /// The context to call the module through, and the generation it belongs to.
    pub(crate) fn context(&self) -> (Pkcs11, u64) {
        let context = self.context.lock().unwrap_or_else(|p| p.into_inner());
        (context.clone(), self.generation.load(Ordering::Acquire))
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Registers a holder of sessions; the module is not re-initialised while it lives.
    pub(crate) fn user(self: &Arc<Self>) -> ModuleUser {
        // Under the context lock, so that a re-initialisation cannot slip in between its
        // check for users and the finalisation.
        let _context = self.context.lock().unwrap_or_else(|p| p.into_inner());
        self.users.fetch_add(1, Ordering::AcqRel);
        ModuleUser(Arc::clone(self))
    }

    /// `C_Finalize` + `C_Initialize`, when nobody holds sessions on the module. Returns
    /// whether it happened.
    pub(crate) fn reinitialize_if_unused(&self) -> Result<bool, Error> {
        let context = self.context.lock().unwrap_or_else(|p| p.into_inner());
        if self.users.load(Ordering::Acquire) != 0 {
            return Ok(false);
        }
        // Sessions of the old generation are gone with the finalisation; bump first so that
        // no late closer mistakes a new session for its own.
        self.generation.fetch_add(1, Ordering::AcqRel);
        match context.clone().finalize() {
            Ok(()) | Err(cryptoki::error::Error::Pkcs11(RvError::CryptokiNotInitialized, _)) => {}
            Err(e) => {
                return Err(Error::Module {
                    path: self.path.clone(),
                    reason: format!("C_Finalize: {e}"),
                })
            }
        }
        initialize(&context, &self.path)?;
        tracing::info!(module = %self.path.display(), "PKCS#11 module re-initialised");
        Ok(true)
    }
}

fn initialize(context: &Pkcs11, path: &Path) -> Result<(), Error> {
    // OS locking: sessions are used from several threads at once (one thread per session).
    match context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        // Another component of the process initialised it first: share it.
        Ok(()) | Err(cryptoki::error::Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {
            Ok(())
        }
        Err(e) => Err(Error::Module {
            path: path.to_path_buf(),
            reason: format!("C_Initialize: {e}"),
        }),
    }
}

/// A registered holder of sessions on a [`Module`]; dropping it unregisters.
#[derive(Debug)]
pub(crate) struct ModuleUser(Arc<Module>);

impl ModuleUser {
    pub(crate) fn module(&self) -> &Arc<Module> {
        &self.0
    }
}

impl Drop for ModuleUser {
    fn drop(&mut self) {
        self.0.users.fetch_sub(1, Ordering::AcqRel);
    }
}
