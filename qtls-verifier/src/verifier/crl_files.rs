//! CRL files a verifier was configured with, re-read by a background thread when they change
//! (RFC 5280 §5: an issuer publishes a new CRL before the previous one's nextUpdate).

use std::io::Read;
use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateRevocationListDer;

use super::{Crl, Inner, MAX_CACHED_CRL_BYTES};
use crate::error::VerifierBuilderError;

/// What identifies a version of a file without reading it: modification time and size.
type Stamp = (Option<SystemTime>, u64);

/// The files, the version of each last read, and the CRLs read from it.
#[derive(Debug)]
pub(super) struct CrlFiles {
    files: Vec<CrlFile>,
}

#[derive(Debug)]
struct CrlFile {
    path: PathBuf,
    stamp: Option<Stamp>,
    crls: Vec<Crl>,
}

impl CrlFiles {
    pub(super) fn new(paths: Vec<PathBuf>) -> Self {
        Self {
            files: paths
                .into_iter()
                .map(|path| CrlFile {
                    path,
                    stamp: None,
                    crls: Vec::new(),
                })
                .collect(),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Reads every file; any that cannot be read or parsed is an error (at startup, a CRL
    /// that is missing must not pass for one that lists nothing).
    pub(super) fn load_all(&mut self) -> Result<Vec<Crl>, VerifierBuilderError> {
        for file in &mut self.files {
            let bad = |reason| VerifierBuilderError::CrlFile {
                path: file.path.clone(),
                reason,
            };
            let stamp = stamp(&file.path).map_err(bad)?;
            file.crls = read(&file.path).map_err(bad)?;
            file.stamp = Some(stamp);
        }
        Ok(self.all())
    }

    fn all(&self) -> Vec<Crl> {
        self.files
            .iter()
            .flat_map(|file| file.crls.iter().cloned())
            .collect()
    }

    /// Re-reads the files whose stamp changed; true when any CRLs were replaced.
    fn refresh(&mut self) -> bool {
        let mut changed = false;
        for file in &mut self.files {
            let stamp = match stamp(&file.path) {
                Ok(stamp) => stamp,
                Err(why) => {
                    if file.stamp.take().is_some() {
                        let path = file.path.display();
                        tracing::error!("CRL file {path}: {why}; its last CRLs stay in use");
                    }
                    continue;
                }
            };
            if file.stamp == Some(stamp) {
                continue;
            }
            match read(&file.path) {
                Ok(crls) => {
                    tracing::info!(
                        path = %file.path.display(),
                        crls = crls.len(),
                        revoked = crls.iter().map(|c| c.revoked_serials.len()).sum::<usize>(),
                        "CRL file re-read"
                    );
                    file.crls = crls;
                    file.stamp = Some(stamp);
                    changed = true;
                }
                // Not recorded as read: retried at the next check (a writer may not be done).
                Err(why) => tracing::error!(
                    "CRL file {}: {why}; its last CRLs stay in use",
                    file.path.display()
                ),
            }
        }
        changed
    }

    /// Checks the files every `interval` on a thread of its own, until the verifier is gone.
    pub(super) fn watch(mut self, inner: Weak<Inner>, interval: Duration) -> std::io::Result<()> {
        std::thread::Builder::new()
            .name("qtls-crl-files".into())
            .spawn(move || loop {
                std::thread::sleep(interval);
                let Some(inner) = inner.upgrade() else {
                    return;
                };
                if self.refresh() {
                    let crls: Vec<Crl> = inner
                        .static_crls
                        .iter()
                        .cloned()
                        .chain(self.all())
                        .collect();
                    *inner.crls.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(crls);
                }
            })
            .map(|_| ())
    }
}

/// The file's stamp; the error says why there is none.
fn stamp(path: &std::path::Path) -> Result<Stamp, String> {
    let metadata = std::fs::metadata(path).map_err(|e| e.to_string())?;
    Ok((metadata.modified().ok(), metadata.len()))
}

/// The CRLs in a PEM file (every X509 CRL block) or a DER file (one CRL), at most
/// [`MAX_CACHED_CRL_BYTES`] long; the error says what is wrong, without the path.
fn read(path: &std::path::Path) -> Result<Vec<Crl>, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    file.take(MAX_CACHED_CRL_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() > MAX_CACHED_CRL_BYTES {
        return Err(format!("longer than {MAX_CACHED_CRL_BYTES} bytes"));
    }
    let ders: Vec<CertificateRevocationListDer<'static>> = if bytes.starts_with(b"-----BEGIN") {
        CertificateRevocationListDer::pem_slice_iter(&bytes)
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?
    } else {
        vec![CertificateRevocationListDer::from(bytes)]
    };
    if ders.is_empty() {
        return Err("no X509 CRL block".into());
    }
    ders.iter().map(|der| Crl::parse(der.as_ref())).collect()
}
