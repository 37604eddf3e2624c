//! Where backups go: a local path (an NFS mount or a second disk). `s3://BUCKET/PREFIX` is
//! recognized and refused until it is built.

use std::fs::File;
use std::path::PathBuf;

use anyhow::{bail, Context};
use kinfold_crypto::private_fs;

pub enum Dest {
    Local(PathBuf),
}

/// A backup being written: parts go into a hidden directory that takes the backup's name only
/// when the manifest is in.
pub struct Writing {
    partial: PathBuf,
    done: PathBuf,
}

impl Dest {
    pub fn parse(s: &str) -> anyhow::Result<Self> {
        if s.starts_with("s3://") {
            bail!("S3 destinations are not built yet; give a local path (a mounted second disk or share)");
        }
        if s.is_empty() || s.contains("://") {
            bail!("a backup destination is a local path");
        }
        Ok(Dest::Local(PathBuf::from(s)))
    }

    /// Whether the destination is `dir` or inside it (a backup must not be written into the
    /// data it copies). Compared by the nearest existing ancestor, so a path yet to be made
    /// counts too.
    pub fn is_inside(&self, dir: &std::path::Path) -> bool {
        let Ok(dir) = dir.canonicalize() else {
            return false;
        };
        let mut p = self.root().as_path();
        loop {
            if let Ok(c) = p.canonicalize() {
                return c.starts_with(&dir);
            }
            match p.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => p = parent,
                _ => return std::env::current_dir().is_ok_and(|c| c.starts_with(&dir)),
            }
        }
    }

    fn root(&self) -> &PathBuf {
        match self {
            Dest::Local(p) => p,
        }
    }

    fn dir(&self, id: &str) -> anyhow::Result<PathBuf> {
        if !is_backup_id(id) {
            bail!("`{id}` is not a backup ID");
        }
        Ok(self.root().join(id))
    }

    /// Complete backups, oldest first.
    pub fn list(&self) -> anyhow::Result<Vec<String>> {
        let root = self.root();
        if !root.exists() {
            return Ok(Vec::new());
        }
        let mut ids = Vec::new();
        for entry in
            std::fs::read_dir(root).with_context(|| format!("reading {}", root.display()))?
        {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if is_backup_id(&name) && entry.path().join("manifest.json").is_file() {
                ids.push(name);
            }
        }
        ids.sort();
        Ok(ids)
    }

    pub fn begin(&self, id: &str) -> anyhow::Result<Writing> {
        let done = self.dir(id)?;
        private_fs::private_dir(self.root())
            .with_context(|| format!("creating {}", self.root().display()))?;
        let partial = self.root().join(format!(".partial-{id}"));
        // Made here, now: a directory (or a link) planted under this name beforehand is an
        // error, not a place to write into.
        std::fs::create_dir(&partial).with_context(|| format!("creating {}", partial.display()))?;
        private_fs::private_dir(&partial)?;
        Ok(Writing { partial, done })
    }

    pub fn manifest(&self, id: &str) -> anyhow::Result<(Vec<u8>, String)> {
        let dir = self.dir(id)?;
        let bytes = std::fs::read(dir.join("manifest.json"))
            .with_context(|| format!("backup {id}: no manifest in {}", dir.display()))?;
        let sig = std::fs::read_to_string(dir.join("manifest.sig"))
            .with_context(|| format!("backup {id}: no manifest signature"))?;
        Ok((bytes, sig))
    }

    pub fn read(&self, id: &str, part: &str) -> anyhow::Result<File> {
        let path = self.dir(id)?.join(part);
        File::open(&path).with_context(|| format!("backup {id}: cannot open {}", path.display()))
    }
}

/// Whether `name` is a backup ID as `create` makes them: `YYYYMMDDTHHMMSSZ-` and 8 hex digits.
pub fn is_backup_id(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() == 25
        && b.iter().enumerate().all(|(i, c)| match i {
            8 => *c == b'T',
            15 => *c == b'Z',
            16 => *c == b'-',
            0..=14 => c.is_ascii_digit(),
            _ => c.is_ascii_hexdigit() && !c.is_ascii_uppercase(),
        })
}

impl Writing {
    /// A new owner-only file for a part.
    pub fn part(&self, name: &str) -> std::io::Result<File> {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        opts.open(self.partial.join(name))
    }

    /// Writes the manifest and its signature, then gives the backup its name.
    pub fn finish(self, manifest: &[u8], signature: &str) -> anyhow::Result<()> {
        private_fs::write_atomic(&self.partial.join("manifest.json"), manifest)?;
        private_fs::write_atomic(&self.partial.join("manifest.sig"), signature.as_bytes())?;
        std::fs::rename(&self.partial, &self.done)
            .with_context(|| format!("naming {}", self.done.display()))?;
        // The new name survives a crash once the directory holding it is synced.
        if let Some(root) = self.done.parent() {
            std::fs::File::open(root)?.sync_all()?;
        }
        Ok(())
    }
}

impl Drop for Writing {
    fn drop(&mut self) {
        // An unfinished backup leaves nothing under a backup's name.
        if self.partial.exists() {
            let _ = std::fs::remove_dir_all(&self.partial);
        }
    }
}
