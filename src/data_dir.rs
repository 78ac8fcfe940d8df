//! The data directory at rest: who may read it. The directory is 0700 and every file in it
//! 0600 — 0770 and 0660 when `data_dir_group` lets the directory's group in, as a volume shared
//! through a group (Kubernetes' `fsGroup`) needs — whatever the umask the server was started
//! with.
//!
//! [`secure`] runs before anything is created: it sets the process's file mode creation mask,
//! so every file made later (the log and its journal, the views, the ballot box, the token and
//! key files, a rebuilt view) is born with these modes; it creates the directory with its mode;
//! and it tightens what an earlier version or another tool left looser, one log line per file.
//! A data directory that others can still read after that (it belongs to another user, or its
//! file system ignores modes) is refused, with the command that fixes it.

use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use thiserror::Error;

/// The modes the data directory and its files are held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Modes {
    /// The directory's (and its subdirectories') permission bits.
    pub dir: u32,
    /// Every file's permission bits.
    pub file: u32,
}

impl Modes {
    /// 0700/0600, or 0770/0660 when the directory's group is let in.
    pub fn new(group: bool) -> Self {
        if group {
            Self {
                dir: 0o770,
                file: 0o660,
            }
        } else {
            Self {
                dir: 0o700,
                file: 0o600,
            }
        }
    }

    /// The file mode creation mask that gives new files and directories these modes.
    pub fn umask(&self) -> u32 {
        0o777 & !self.dir
    }
}

/// Why the data directory cannot be used.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DataDirError {
    /// It could not be created.
    #[error("cannot create data directory {path}: {source}")]
    Create {
        /// The directory.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Its modes (or a file's) could not be read.
    #[error("cannot read the mode of {path}: {source}")]
    Inspect {
        /// The directory or file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Other users can read it, and its mode could not be changed.
    #[error(
        "data directory {path} can be read by other users (mode {mode:04o}) and the server could not change that ({detail}); run `chmod {want:o} {path}` as its owner, or `chown` it to the user the server runs as, then start again"
    )]
    Open {
        /// The directory.
        path: PathBuf,
        /// Its mode.
        mode: u32,
        /// The mode it should have.
        want: u32,
        /// Why it could not be changed.
        detail: String,
    },
}

/// Sets the process's umask, creates `dir` if needed and tightens it and everything in it to
/// [`Modes::new`]`(group)`; refuses a directory that others can still read.
pub fn secure(dir: &Path, group: bool) -> Result<(), DataDirError> {
    let modes = Modes::new(group);
    set_umask(modes.umask());
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(modes.dir)
        .create(dir)
        .map_err(|source| DataDirError::Create {
            path: dir.to_path_buf(),
            source,
        })?;
    tighten(dir, modes, &|path, mode| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
    })
}

/// Sets the process's file mode creation mask.
fn set_umask(mask: u32) {
    // SAFETY: umask(2) cannot fail and touches nothing but the process's creation mask; the
    // mask is set before the server creates any file.
    unsafe {
        libc::umask(mask as libc::mode_t);
    }
}

/// The permission bits of `path` (not following a symbolic link).
fn mode_of(path: &Path) -> Result<(u32, std::fs::FileType), DataDirError> {
    let meta = std::fs::symlink_metadata(path).map_err(|source| DataDirError::Inspect {
        path: path.to_path_buf(),
        source,
    })?;
    Ok((meta.permissions().mode() & 0o7777, meta.file_type()))
}

/// Tightens `dir` and what it holds with `set`; refuses `dir` when others keep access to it.
fn tighten(
    dir: &Path,
    modes: Modes,
    set: &dyn Fn(&Path, u32) -> io::Result<()>,
) -> Result<(), DataDirError> {
    let (mode, _) = mode_of(dir)?;
    if let Err(detail) = narrow(dir, mode, modes.dir, set)
        && mode & 0o007 != 0
    {
        return Err(DataDirError::Open {
            path: dir.to_path_buf(),
            mode,
            want: modes.dir,
            detail,
        });
    }
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let entries = std::fs::read_dir(&current).map_err(|source| DataDirError::Inspect {
            path: current.clone(),
            source,
        })?;
        for entry in entries {
            let path = entry
                .map_err(|source| DataDirError::Inspect {
                    path: current.clone(),
                    source,
                })?
                .path();
            let (mode, kind) = mode_of(&path)?;
            if kind.is_dir() {
                if let Err(detail) = narrow(&path, mode, modes.dir, set) {
                    tracing::warn!(path = %path.display(), %detail, "cannot tighten a directory in the data directory");
                }
                pending.push(path);
            } else if kind.is_file()
                && let Err(detail) = narrow(&path, mode, modes.file, set)
            {
                tracing::warn!(path = %path.display(), %detail, "cannot tighten a file in the data directory");
            }
        }
    }
    Ok(())
}

/// Clears the permission bits of `path` that `allowed` does not hold, saying so.
fn narrow(
    path: &Path,
    mode: u32,
    allowed: u32,
    set: &dyn Fn(&Path, u32) -> io::Result<()>,
) -> Result<(), String> {
    let extra = mode & 0o777 & !allowed;
    if extra == 0 {
        return Ok(());
    }
    let tightened = mode & !extra;
    set(path, tightened).map_err(|e| e.to_string())?;
    tracing::info!(
        path = %path.display(),
        from = %format!("{mode:04o}"),
        to = %format!("{tightened:04o}"),
        "tightened the mode of the data directory's files: only the server's user (and its group when data_dir_group is set) may read them"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn a_loose_directory_and_its_files_are_tightened() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data");
        std::fs::create_dir_all(dir.join("views")).unwrap();
        std::fs::write(dir.join("oversight.redb"), b"").unwrap();
        std::fs::write(dir.join("views/registry.redb"), b"").unwrap();
        chmod(&dir, 0o755);
        chmod(&dir.join("views"), 0o775);
        chmod(&dir.join("oversight.redb"), 0o644);
        chmod(&dir.join("views/registry.redb"), 0o666);
        secure(&dir, false).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("views")), 0o700);
        assert_eq!(mode(&dir.join("oversight.redb")), 0o600);
        assert_eq!(mode(&dir.join("views/registry.redb")), 0o600);
        // The group is let in only when asked, and never the world.
        chmod(&dir, 0o2775);
        chmod(&dir.join("oversight.redb"), 0o664);
        secure(&dir, true).unwrap();
        assert_eq!(mode(&dir), 0o770);
        assert_eq!(mode(&dir.join("oversight.redb")), 0o660);
        // Files made afterwards get the modes whatever the umask was.
        std::fs::write(dir.join("later"), b"").unwrap();
        assert_eq!(mode(&dir.join("later")), 0o660);
        secure(&dir, false).unwrap();
        std::fs::write(dir.join("later-still"), b"").unwrap();
        assert_eq!(mode(&dir.join("later-still")), 0o600);
    }

    #[test]
    fn a_directory_others_keep_reading_is_refused_with_the_fix() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data");
        std::fs::create_dir_all(&dir).unwrap();
        chmod(&dir, 0o755);
        let refused = tighten(&dir, Modes::new(false), &|_, _| {
            Err(io::Error::from(io::ErrorKind::PermissionDenied))
        })
        .unwrap_err();
        let text = refused.to_string();
        assert!(
            text.contains("can be read by other users (mode 0755)"),
            "{text}"
        );
        assert!(
            text.contains(&format!("chmod 700 {}", dir.display())),
            "{text}"
        );
        // Only a group it cannot take back is not a refusal: the world is kept out.
        chmod(&dir, 0o750);
        tighten(&dir, Modes::new(false), &|_, _| {
            Err(io::Error::from(io::ErrorKind::PermissionDenied))
        })
        .unwrap();
    }
}
