//! Throwaway PKCS#11 tokens for tests, made once per test process.
//!
//! Modules come from the environment (`scripts/test.sh` sets them up):
//! - `QTLS_TEST_PKCS11_MODULE`: Kryoptic (PKCS#11 3.2: ML-DSA, ECDSA, AES-GCM);
//! - `QTLS_TEST_PKCS11_BACKUP_MODULE`: a second copy of Kryoptic at another path, which the
//!   process loads as an independent module: the "backup HSM";
//! - `QTLS_SOFTHSM_MODULE`: SoftHSM2 (ECDSA, AES-GCM).
//!
//! Kryoptic reads its slots from `KRYOPTIC_CONF` and SoftHSM2 its token directory from
//! `SOFTHSM2_CONF`, each once per `C_Initialize`; the first call of [`tokens`] writes both
//! under a temporary directory, points the variables at them and initialises the tokens:
//! Kryoptic slots through PKCS#11 (`C_InitToken`, `C_InitPIN`), SoftHSM2 with
//! `softhsm2-util`. A test whose module is missing is skipped with a message naming what to
//! install, except under `CI=true`, where it fails.
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use qtls_hsm::{Pin, TokenConfig};

/// The user PIN of every test token.
pub const USER_PIN: &str = "qtls-test-user-4711";
/// The security officer PIN of every test token.
pub const SO_PIN: &str = "qtls-test-so-0815";

/// The primary Kryoptic token (labels are one slot each).
pub const PRIMARY: &str = "qtls-primary";
/// The Kryoptic token of the failover tests' backup.
pub const BACKUP: &str = "qtls-backup";
/// A Kryoptic token for tests that need one more.
pub const SPARE: &str = "qtls-spare";
/// A Kryoptic token no test logs in to (for wrong-PIN tests: login is per process).
pub const UNUSED: &str = "qtls-unused";
/// The label of two Kryoptic tokens (slots [`TWIN_SLOTS`]), made by [`twins`] on demand.
pub const TWIN: &str = "qtls-twin";
/// The slots of the [`TWIN`] tokens.
pub const TWIN_SLOTS: [u64; 2] = [5, 6];
/// The SoftHSM2 token.
pub const SOFTHSM: &str = "qtls-softhsm";
/// A second SoftHSM2 token.
pub const SOFTHSM_SPARE: &str = "qtls-softhsm-spare";

/// The tokens of this test process.
#[derive(Debug)]
pub struct Tokens {
    /// Where the token stores live (removed when the process ends is not guaranteed: it is
    /// under the system temporary directory).
    pub dir: PathBuf,
    /// The Kryoptic module, when configured.
    pub kryoptic: Option<PathBuf>,
    /// The second Kryoptic module (the backup device), when configured.
    pub kryoptic_backup: Option<PathBuf>,
    /// The SoftHSM2 module, when configured.
    pub softhsm: Option<PathBuf>,
    /// The Kryoptic store file of each slot, by label.
    pub kryoptic_stores: Vec<(String, PathBuf)>,
    /// SoftHSM2's token directory.
    pub softhsm_tokens: PathBuf,
}

fn module(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .filter(|p| p.is_file())
}

/// Makes this process's tokens on first use.
pub fn tokens() -> &'static Tokens {
    static TOKENS: OnceLock<Tokens> = OnceLock::new();
    TOKENS.get_or_init(|| {
        // Kept for the whole process (the modules may touch the stores until exit); stores
        // of test processes that are gone are removed here instead.
        remove_stale_token_dirs();
        let dir = tempfile::Builder::new()
            .prefix(&format!("qtls-hsm-tokens-{}-", std::process::id()))
            .tempdir()
            .expect("temporary directory")
            .keep();
        let kryoptic = module("QTLS_TEST_PKCS11_MODULE");
        let kryoptic_backup = module("QTLS_TEST_PKCS11_BACKUP_MODULE");
        let softhsm = module("QTLS_SOFTHSM_MODULE");

        let mut config = String::new();
        let mut kryoptic_stores = Vec::new();
        let slots = [(1, PRIMARY), (2, BACKUP), (3, SPARE), (4, UNUSED)];
        let twins = TWIN_SLOTS.map(|slot| (slot, TWIN));
        for (slot, label) in slots.into_iter().chain(twins) {
            let store = dir.join(format!("{label}-{slot}.sql"));
            config.push_str(&format!(
                "[[slots]]\nslot = {slot}\ndbtype = \"sqlite\"\ndbargs = \"{}\"\n\n",
                store.display()
            ));
            kryoptic_stores.push((label.to_string(), store));
        }
        let kryoptic_conf = dir.join("kryoptic.conf");
        std::fs::write(&kryoptic_conf, config).unwrap();
        let softhsm_tokens = dir.join("softhsm-tokens");
        std::fs::create_dir_all(&softhsm_tokens).unwrap();
        let softhsm_conf = dir.join("softhsm2.conf");
        std::fs::write(
            &softhsm_conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                softhsm_tokens.display()
            ),
        )
        .unwrap();
        // Before any module is loaded: both libraries read these in C_Initialize.
        std::env::set_var("KRYOPTIC_CONF", &kryoptic_conf);
        std::env::set_var("SOFTHSM2_CONF", &softhsm_conf);

        if let Some(kryoptic) = &kryoptic {
            let so = Pin::new(SO_PIN).unwrap();
            let user = Pin::new(USER_PIN).unwrap();
            for (slot, label) in [(1, PRIMARY), (2, BACKUP), (3, SPARE), (4, UNUSED)] {
                qtls_hsm::init_token(kryoptic, Some(slot), label, &so, &user)
                    .unwrap_or_else(|e| panic!("initialising Kryoptic slot {slot}: {e}"));
            }
        }
        if softhsm.is_some() {
            for label in [SOFTHSM, SOFTHSM_SPARE] {
                let status = Command::new("softhsm2-util")
                    .env("SOFTHSM2_CONF", &softhsm_conf)
                    .args(["--init-token", "--free", "--label", label])
                    .args(["--so-pin", SO_PIN, "--pin", USER_PIN])
                    .stdout(std::process::Stdio::null())
                    .status()
                    .expect("softhsm2-util (Debian package softhsm2)");
                assert!(status.success(), "softhsm2-util --init-token failed");
            }
        }
        Tokens {
            dir,
            kryoptic,
            kryoptic_backup,
            softhsm,
            kryoptic_stores,
            softhsm_tokens,
        }
    })
}

/// Removes the token directories of earlier test processes that no longer run.
fn remove_stale_token_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name
            .to_str()
            .and_then(|n| n.strip_prefix("qtls-hsm-tokens-"))
        else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Returns `found`; when it is `None`, fails under `CI=true`, else prints why the test is
/// skipped and how the token modules are set up ([`crate::require`]).
pub fn require<T>(what: &str, found: Option<T>) -> Option<T> {
    let how = "run the tests through ./scripts/test.sh, which builds Kryoptic \
               (scripts/kryoptic.sh, needs Debian clang libclang-dev libsqlite3-dev) and \
               installs softhsm2, and exports QTLS_TEST_PKCS11_MODULE, \
               QTLS_TEST_PKCS11_BACKUP_MODULE and QTLS_SOFTHSM_MODULE";
    crate::require(what, how, found)
}

/// The Kryoptic module, or `None` (skip) when it is not configured.
pub fn kryoptic() -> Option<PathBuf> {
    require(
        "Kryoptic (QTLS_TEST_PKCS11_MODULE)",
        tokens().kryoptic.clone(),
    )
}

/// The backup Kryoptic module, or `None` (skip).
pub fn kryoptic_backup() -> Option<PathBuf> {
    require(
        "the backup Kryoptic copy (QTLS_TEST_PKCS11_BACKUP_MODULE)",
        tokens().kryoptic_backup.clone(),
    )
}

/// The SoftHSM2 module, or `None` (skip).
pub fn softhsm() -> Option<PathBuf> {
    require("SoftHSM2 (QTLS_SOFTHSM_MODULE)", tokens().softhsm.clone())
}

/// A configuration for the token labelled `label` on `module`.
pub fn config(module: &Path, label: &str) -> qtls_hsm::TokenConfigBuilder {
    TokenConfig::builder(module)
        .token_label(label)
        .pin(Pin::new(USER_PIN).unwrap())
}

/// Initialises the two [`TWIN`] tokens on the Kryoptic module (once per process), or `None`
/// (skip). Their slots stay uninitialised, and so invisible to label lookups, until then.
pub fn twins() -> Option<PathBuf> {
    static TWINS: OnceLock<()> = OnceLock::new();
    let kryoptic = kryoptic()?;
    TWINS.get_or_init(|| {
        let so = Pin::new(SO_PIN).unwrap();
        let user = Pin::new(USER_PIN).unwrap();
        for slot in TWIN_SLOTS {
            qtls_hsm::init_token(&kryoptic, Some(slot), TWIN, &so, &user)
                .unwrap_or_else(|e| panic!("initialising Kryoptic slot {slot}: {e}"));
        }
    });
    Some(kryoptic)
}

/// The Kryoptic store file of the slot labelled `label`.
pub fn kryoptic_store(label: &str) -> PathBuf {
    tokens()
        .kryoptic_stores
        .iter()
        .find(|(l, _)| l == label)
        .map(|(_, p)| p.clone())
        .expect("a Kryoptic slot of that label")
}

/// A key label no other test of this process uses.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Writes the user PIN to `dir/pin`, readable by the owner only (qtls refuses a PIN file
/// others may read), and returns its path.
pub fn pin_file(dir: &Path) -> PathBuf {
    let pin_file = dir.join("pin");
    std::fs::write(&pin_file, USER_PIN).unwrap();
    std::fs::set_permissions(
        &pin_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    pin_file
}

/// Generates a `algorithm` key labelled `label` in `config`'s token and writes `chain`: its
/// `localhost` server leaf (valid for a day) and the intermediate of the PKI in `pki_dir`
/// (`intermediate.pem`, `intermediate.key`, as `qtls pki init` writes them), which signs it.
pub fn generate_with_chain(
    config: &TokenConfig,
    label: &str,
    algorithm: qtls_provider::KeyAlgorithm,
    pki_dir: &Path,
    chain: &Path,
) {
    let public = qtls_hsm::TokenAdmin::open(config)
        .unwrap()
        .generate(label, algorithm)
        .unwrap();
    let intermediate = qtls_pki::CertifiedKeyPair::read_pem_files(
        &pki_dir.join("intermediate.pem"),
        &pki_dir.join("intermediate.key"),
        qtls_pki::Backend::AwsLc,
    )
    .unwrap();
    let now = time::OffsetDateTime::now_utc();
    let leaf = qtls_pki::CertificateBuilder::new(qtls_pki::Usage::ServerLeaf, "localhost")
        .hosts(["localhost"])
        .validity(now, now + time::Duration::days(1))
        .signed_by_for_public_key(
            &qtls_pki::SubjectPublicKey::new(public.algorithm(), public.public_key()).unwrap(),
            &intermediate,
        )
        .unwrap();
    std::fs::write(
        chain,
        leaf.to_pem().unwrap() + &intermediate.certificate().to_pem().unwrap(),
    )
    .unwrap();
}

/// Environment for a child process (the `qtls` binary) that uses these tokens.
pub fn child_env() -> Vec<(&'static str, PathBuf)> {
    let tokens = tokens();
    vec![
        ("KRYOPTIC_CONF", tokens.dir.join("kryoptic.conf")),
        ("SOFTHSM2_CONF", tokens.dir.join("softhsm2.conf")),
    ]
}

/// Another process holding an exclusive lock on a Kryoptic token's SQLite store: the token's
/// calls block (SQLite retries for 5 s), as a hung HSM would. Released on drop.
pub struct StoreLock(Child);

impl StoreLock {
    /// Locks `store` for at most `seconds`; `None` (skip) without python3.
    pub fn hold(store: &Path, seconds: f32) -> Option<Self> {
        let python = require(
            "python3 (to lock a token's SQLite store)",
            crate::which("python3"),
        )?;
        let mut child = Command::new(python)
            .arg("-c")
            .arg(format!(
                "import sqlite3, time\n\
                 c = sqlite3.connect({store:?}, isolation_level=None)\n\
                 c.execute('BEGIN EXCLUSIVE')\n\
                 print('locked', flush=True)\n\
                 time.sleep({seconds})\n\
                 c.execute('ROLLBACK')\n",
                store = store.display().to_string()
            ))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        assert_eq!(line.trim(), "locked");
        Some(Self(child))
    }
}

impl Drop for StoreLock {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
