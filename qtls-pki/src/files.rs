//! Files of a PKI directory: atomic replacement and the directory lock.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::Error;

/// The permission bits of `path` (`mode & 0o777`) when users other than its owner may read or
/// write it (any of the bits 077), as OpenSSH refuses for private keys; `None` when only the
/// owner may, and always on non-Unix platforms. The one check behind every "chmod 600 it"
/// refusal of a secret file (CA passphrases here; keys, PINs and passwords in `qtls`).
pub fn exposed_file_mode(path: &Path) -> std::io::Result<Option<u32>> {
    let meta = fs::metadata(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        Ok((mode & 0o077 != 0).then_some(mode))
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        Ok(None)
    }
}

/// Replaces `path` with `contents` atomically: a temporary file in the same directory,
/// flushed to disk, then renamed over `path`, so a reader (or a crash) sees the old file or
/// the new one, never a truncated one. A `secret` file is created with mode 0600 on Unix
/// (never wider, not even for a moment); other files get the process's default mode.
pub(crate) fn write_atomic(path: &Path, contents: &[u8], secret: bool) -> Result<(), Error> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| Error::Io { path, source }
    };
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = path.with_file_name(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        if secret {
            options.mode(0o600);
        }
    }
    #[cfg(not(unix))]
    let _ = secret;
    let result = options.open(&temporary).and_then(|mut file| {
        file.write_all(contents)?;
        file.sync_all()
    });
    if let Err(source) = result {
        let _ = fs::remove_file(&temporary);
        return Err(io(&temporary)(source));
    }
    if let Err(source) = fs::rename(&temporary, path) {
        let _ = fs::remove_file(&temporary);
        return Err(io(path)(source));
    }
    // The rename itself is durable only once the directory is synced; where directories
    // cannot be opened (Windows), the rename is still atomic.
    if let Some(parent) = path.parent() {
        let parent = if parent.as_os_str().is_empty() {
            Path::new(".")
        } else {
            parent
        };
        if let Ok(dir) = fs::File::open(parent) {
            let _ = dir.sync_all();
        }
    }
    Ok(())
}

/// An exclusive lock on a PKI directory, held until dropped: the `flock(2)`-style lock of
/// its [`PkiDirLock::FILE_NAME`], so `qtls pki` commands that change the directory's
/// revocation index or CRL number run one after the other, also across processes.
#[derive(Debug)]
pub struct PkiDirLock {
    dir: PathBuf,
    // Closing the descriptor releases the lock.
    _file: fs::File,
}

impl PkiDirLock {
    /// The lock file in a PKI directory (empty; it is never removed, so every process locks
    /// the same file).
    pub const FILE_NAME: &'static str = "pki.lock";

    /// Waits for the exclusive lock of `dir`, which must exist.
    pub fn acquire(dir: impl AsRef<Path>) -> Result<Self, Error> {
        let dir = dir.as_ref();
        let path = dir.join(Self::FILE_NAME);
        let io = |source| Error::Io {
            path: path.clone(),
            source,
        };
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        // fs4's, not std's File::lock: that needs Rust 1.89 and the workspace supports 1.88.
        fs4::FileExt::lock(&file).map_err(io)?;
        Ok(Self {
            dir: dir.to_owned(),
            _file: file,
        })
    }

    /// The locked directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn replaces_whole_files_and_keeps_secrets_private() {
        let dir = std::env::temp_dir().join(format!("qtls-pki-files-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.key");
        fs::write(&path, "old").unwrap();
        let link = dir.join("a.key.link");
        let _ = fs::remove_file(&link);
        fs::hard_link(&path, &link).unwrap();
        write_atomic(&path, b"new", true).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        assert_eq!(fs::read(&link).unwrap(), b"old");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let lock = PkiDirLock::acquire(&dir).unwrap();
        assert_eq!(lock.dir(), dir);
        drop(lock);
        fs::remove_dir_all(&dir).unwrap();
    }
}
