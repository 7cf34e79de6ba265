//! The machine a report ran on, and the OpenSSL it compares with.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::model::Machine;

/// An OpenSSL 4 `openssl` binary, run without any system configuration.
#[derive(Debug)]
pub(super) struct OpenSsl {
    pub(super) path: PathBuf,
    pub(super) version: String,
    /// An empty configuration file, so that no system openssl.cnf changes what it offers.
    conf: PathBuf,
}

impl OpenSsl {
    /// `given`, else `QTLS_OPENSSL`, else `openssl` on PATH, if it runs and is OpenSSL 4 or
    /// later (the first with ML-KEM and ML-DSA in TLS 1.3 and with SecP384r1MLKEM1024);
    /// otherwise why not.
    pub(super) fn find(given: Option<&Path>, work: &Path) -> Result<Self, String> {
        let path = given
            .map(Path::to_path_buf)
            .or_else(|| {
                std::env::var_os("QTLS_OPENSSL")
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from)
            })
            .unwrap_or_else(|| PathBuf::from("openssl"));
        let conf = work.join("openssl-empty.cnf");
        std::fs::write(&conf, "").map_err(|e| format!("{}: {e}", conf.display()))?;
        let output = Command::new(&path)
            .env("OPENSSL_CONF", &conf)
            .arg("version")
            .output()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let version = String::from_utf8_lossy(&output.stdout).trim().to_string();
        let major = version
            .strip_prefix("OpenSSL ")
            .and_then(|v| v.split('.').next())
            .and_then(|m| m.parse::<u32>().ok());
        match major {
            Some(major) if major >= 4 && output.status.success() => Ok(Self {
                path,
                version,
                conf,
            }),
            _ => Err(format!(
                "{} is {:?}, not OpenSSL 4 or later (give one with --openssl or QTLS_OPENSSL)",
                path.display(),
                version
            )),
        }
    }

    pub(super) fn command(&self) -> Command {
        let mut cmd = Command::new(&self.path);
        cmd.env("OPENSSL_CONF", &self.conf);
        cmd
    }
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn first_line_of(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program).args(args).output().ok()?;
    output.status.success().then(|| {
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_string()
    })
}

pub(super) fn describe(openssl: Option<&OpenSsl>) -> Machine {
    let cpu = read("/proc/cpuinfo")
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, model)| model.trim().to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let os = read("/etc/os-release")
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|name| name.trim_matches('"').to_string())
        .unwrap_or_else(|| std::env::consts::OS.to_string());
    Machine {
        cpu,
        cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
        kernel: format!("Linux {}", read("/proc/sys/kernel/osrelease")),
        os,
        rustc: first_line_of("rustc", &["--version"])
            .map(|v| format!("{v} (on PATH)"))
            .unwrap_or_else(|| "unknown (no rustc on PATH)".into()),
        openssl: openssl.map(|o| o.version.clone()),
        qtls: env!("CARGO_PKG_VERSION").to_string(),
        build: if cfg!(debug_assertions) {
            "debug (unoptimised: CPU times are several times a release build's)"
        } else {
            "release"
        },
        load_average: read("/proc/loadavg")
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    }
}
