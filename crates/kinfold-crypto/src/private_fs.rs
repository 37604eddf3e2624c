//! Owner-only files under the data directory. Everything Kinfold keeps there (the key, the
//! database, TLS keys, DNS records, the `.eml` outbox with its password-reset links) is for the
//! service's own user: directories are forced to 0700 and files written 0600, whether or not
//! they existed before, since the umask or an operator's `mkdir` may have left them open.

use std::io::Write;
use std::path::Path;

/// Creates `dir` (and any missing parent) with mode 0700, or forces an existing one to 0700.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        builder.mode(0o700);
        builder.create(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
    }
    #[cfg(not(unix))]
    builder.create(dir)
}

/// Creates `path` for writing, mode 0600 from its first moment; fails if anything (a file, a
/// link planted under its name) is there already.
pub fn create_new(path: &Path) -> std::io::Result<std::fs::File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
}

/// Writes `path` whole or not at all: a 0600 temporary file beside it (`.NAME.tmp`), synced,
/// then renamed over `path`. A reader never sees half a file, nor a moment it is readable by
/// others.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "no file name"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut f = create_new(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0)
    }

    #[test]
    fn existing_open_directories_and_files_end_owner_only() -> std::io::Result<()> {
        let root = tempfile::tempdir()?;
        let open = root.path().join("made-by-the-operator");
        std::fs::create_dir(&open)?;
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755))?;
        private_dir(&open)?;
        assert_eq!(mode(&open), 0o700);
        let nested = root.path().join("a/b/c");
        private_dir(&nested)?;
        assert_eq!(mode(&nested), 0o700);
        assert_eq!(mode(&root.path().join("a")), 0o700);

        let file = open.join("x.eml");
        std::fs::write(&file, b"old")?;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644))?;
        std::fs::write(open.join(".x.eml.tmp"), b"left over")?;
        write_atomic(&file, b"new")?;
        assert_eq!(std::fs::read(&file)?, b"new");
        assert_eq!(mode(&file), 0o600);
        assert!(!open.join(".x.eml.tmp").exists());
        Ok(())
    }
}
