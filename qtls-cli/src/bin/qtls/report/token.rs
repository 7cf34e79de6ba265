//! The PKCS#11 token that holds the scenarios' server key, so that the report can count HSM
//! operations: one given with `--hsm-module`/`--hsm-token`, or a throwaway Kryoptic
//! (`QTLS_TEST_PKCS11_MODULE`) or SoftHSM2 (`QTLS_SOFTHSM_MODULE`) token made for the run.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use qtls::Error;
use qtls_hsm::PIN_ENV_VAR;

use super::model::HsmInfo;

/// The label of a throwaway token.
const LABEL: &str = "qtls-report";

/// A key in a token and its certificate chain.
#[derive(Debug)]
pub(super) struct Token {
    pub(super) info: HsmInfo,
    pub(super) module: PathBuf,
    pub(super) label: String,
    pub(super) key_label: String,
    /// The key's chain (leaf, intermediate), issued by the hybrid chain's intermediate.
    pub(super) chain: PathBuf,
    /// What the children need to find the token and log in: its configuration variable and
    /// the PIN (in the environment, never on a command line).
    pub(super) env: Vec<(String, OsString)>,
}

/// Which token to use.
pub(super) enum Choice {
    Given { module: PathBuf, token: String },
    Auto,
    Off,
}

fn module(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .filter(|p| p.is_file())
}

fn random_pin() -> Result<String, Error> {
    use aws_lc_rs::rand::SecureRandom;
    let mut bytes = [0u8; 12];
    aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| Error::Config("no randomness for a token PIN".into()))?;
    Ok(hex::encode(bytes))
}

async fn run(what: &str, cmd: &mut tokio::process::Command) -> Result<(), Error> {
    let output = cmd
        .output()
        .await
        .map_err(|e| Error::Config(format!("{what}: {e}")))?;
    if output.status.success() {
        return Ok(());
    }
    Err(Error::Config(format!(
        "{what} failed ({}): {}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout).trim(),
        String::from_utf8_lossy(&output.stderr).trim()
    )))
}

/// Makes or opens the token, generates the key (`qtls hsm keygen`) and issues its chain
/// from `issuer_dir` (`qtls pki issue`); `Ok(None)` when there is no token to use, with the
/// reason.
pub(super) async fn prepare(
    choice: Choice,
    exe: &Path,
    work: &Path,
    issuer_dir: &Path,
) -> Result<Result<Token, String>, Error> {
    let (kind, module, label, algorithm, env, throwaway) = match choice {
        Choice::Off => return Ok(Err("--no-hsm".into())),
        Choice::Given { module, token } => {
            let pin = std::env::var_os(PIN_ENV_VAR).ok_or_else(|| {
                Error::Config(format!(
                    "--hsm-token {token}: give the token's user PIN in {PIN_ENV_VAR}"
                ))
            })?;
            let env = vec![(PIN_ENV_VAR.to_string(), pin)];
            ("given", module, token, "composite", env, false)
        }
        Choice::Auto => {
            if let Some(kryoptic) = module("QTLS_TEST_PKCS11_MODULE") {
                let env = kryoptic_token(exe, &kryoptic, work).await?;
                (
                    "Kryoptic",
                    kryoptic,
                    LABEL.to_string(),
                    "composite",
                    env,
                    true,
                )
            } else if let Some(softhsm) = module("QTLS_SOFTHSM_MODULE") {
                let env = softhsm_token(work).await?;
                // SoftHSM2 has no ML-DSA: its key is the composite's classical half.
                (
                    "SoftHSM2",
                    softhsm,
                    LABEL.to_string(),
                    "ecdsa-p384",
                    env,
                    true,
                )
            } else {
                return Ok(Err(
                    "no token: give --hsm-module and --hsm-token, or set \
                     QTLS_TEST_PKCS11_MODULE (Kryoptic) or QTLS_SOFTHSM_MODULE (SoftHSM2)"
                        .into(),
                ));
            }
        }
    };
    let key_label = format!(
        "qtls-report-{}-{}",
        std::process::id(),
        time::OffsetDateTime::now_utc().unix_timestamp()
    );
    let chain = work.join("hsm-chain.pem");
    let qtls = |args: &[&str]| {
        let mut cmd = tokio::process::Command::new(exe);
        cmd.args(args).envs(env.iter().map(|(k, v)| (k, v)));
        cmd
    };
    let module_str = module.to_string_lossy().into_owned();
    run(
        "qtls hsm keygen",
        &mut qtls(&[
            "hsm",
            "keygen",
            "--module",
            &module_str,
            "--token",
            &label,
            "--label",
            &key_label,
            "--alg",
            algorithm,
        ]),
    )
    .await?;
    run(
        "qtls pki issue",
        qtls(&[
            "pki",
            "issue",
            "--name",
            "localhost",
            "--hosts",
            "127.0.0.1",
            "--hsm-module",
            &module_str,
            "--hsm-token",
            &label,
            "--hsm-key",
            &key_label,
        ])
        .arg("--dir")
        .arg(issuer_dir)
        .arg("--out")
        .arg(&chain),
    )
    .await?;
    Ok(Ok(Token {
        info: HsmInfo {
            kind: kind.to_string(),
            module: module_str,
            token: label.clone(),
            key_algorithm: algorithm.to_string(),
            throwaway,
        },
        module,
        label,
        key_label,
        chain,
        env,
    }))
}

/// A Kryoptic token in `work`: one slot, initialised by `qtls hsm init-token` in a child
/// process. Kryoptic reads its slots from `KRYOPTIC_CONF` once, when a process first loads
/// it, so the variable goes to the children's environment only: this process, whose runtime
/// threads may read the environment at any time, never changes its own.
async fn kryoptic_token(
    exe: &Path,
    kryoptic: &Path,
    work: &Path,
) -> Result<Vec<(String, OsString)>, Error> {
    let conf = work.join("kryoptic.conf");
    let store = work.join("kryoptic-token.sql");
    std::fs::write(
        &conf,
        format!(
            "[[slots]]\nslot = 1\ndbtype = \"sqlite\"\ndbargs = \"{}\"\n",
            store.display()
        ),
    )
    .map_err(|source| Error::File {
        path: conf.clone(),
        source,
    })?;
    let user = random_pin()?;
    let so = random_pin()?;
    run(
        "qtls hsm init-token",
        tokio::process::Command::new(exe)
            .args([
                "hsm",
                "init-token",
                "--slot",
                "1",
                "--label",
                LABEL,
                "--module",
            ])
            .arg(kryoptic)
            .env("KRYOPTIC_CONF", &conf)
            .env(crate::hsm::SO_PIN_ENV_VAR, &so)
            .env(PIN_ENV_VAR, &user),
    )
    .await?;
    Ok(vec![
        ("KRYOPTIC_CONF".to_string(), conf.into_os_string()),
        (PIN_ENV_VAR.to_string(), OsString::from(user)),
    ])
}

/// A SoftHSM2 token in `work`, initialised by `softhsm2-util` (Debian package softhsm2).
async fn softhsm_token(work: &Path) -> Result<Vec<(String, OsString)>, Error> {
    let tokens = work.join("softhsm-tokens");
    std::fs::create_dir_all(&tokens).map_err(|source| Error::File {
        path: tokens.clone(),
        source,
    })?;
    let conf = work.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .map_err(|source| Error::File {
        path: conf.clone(),
        source,
    })?;
    let user = random_pin()?;
    // softhsm2-util takes the PINs on its command line only; they open a token that lives
    // in this run's temporary directory and goes with it.
    run(
        "softhsm2-util --init-token",
        tokio::process::Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", &conf)
            .args(["--init-token", "--free", "--label", LABEL])
            .args(["--so-pin", &random_pin()?, "--pin", &user]),
    )
    .await?;
    Ok(vec![
        ("SOFTHSM2_CONF".to_string(), conf.into_os_string()),
        (PIN_ENV_VAR.to_string(), OsString::from(user)),
    ])
}
