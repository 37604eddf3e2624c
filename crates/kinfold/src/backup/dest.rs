//! Where backups go: a local path (an NFS mount or a second disk), or S3-compatible object
//! storage (`s3://BUCKET/PREFIX`, [`super::s3`]).

use std::fs::File;
use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::{bail, Context};
use kinfold_crypto::private_fs;

use super::manifest::{Manifest, DATA_PART};
use super::s3::S3;

pub enum Dest {
    Local(PathBuf),
    S3(S3),
}

/// A backup being written.
pub enum Writing {
    /// Parts go into a hidden directory that takes the backup's name only when the manifest
    /// is in.
    Local { partial: PathBuf, done: PathBuf },
    /// Parts are sealed into unnamed temporary files (ciphertext only), uploaded with the
    /// manifest at [`Writing::finish`].
    S3 {
        id: String,
        parts: Mutex<Vec<(String, File)>>,
    },
}

impl Dest {
    pub fn parse(s: &str) -> anyhow::Result<Self> {
        if s.starts_with("s3://") {
            return Ok(Dest::S3(S3::parse(s)?));
        }
        if s.is_empty() || s.contains("://") {
            bail!("a backup destination is a local path or s3://BUCKET/PREFIX");
        }
        Ok(Dest::Local(PathBuf::from(s)))
    }

    /// Makes an upload under way stop, and remove what it wrote, once `stop` turns true (S3;
    /// a local backup is written to a hidden directory that is removed when cut short).
    pub fn stop_on(&mut self, stop: super::Stop) {
        if let Dest::S3(s3) = self {
            s3.stop_on(stop);
        }
    }

    /// Whether the destination is `dir` or inside it (a backup must not be written into the
    /// data it copies). Compared by the nearest existing ancestor, so a path yet to be made
    /// counts too.
    pub fn is_inside(&self, dir: &std::path::Path) -> bool {
        let Dest::Local(root) = self else {
            return false;
        };
        let Ok(dir) = dir.canonicalize() else {
            return false;
        };
        let mut p = root.as_path();
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

    fn dir(root: &std::path::Path, id: &str) -> anyhow::Result<PathBuf> {
        checked_id(id)?;
        Ok(root.join(id))
    }

    /// Complete backups, oldest first.
    pub async fn list(&self) -> anyhow::Result<Vec<String>> {
        let root = match self {
            Dest::Local(root) => root,
            Dest::S3(s3) => return s3.list().await,
        };
        if !root.exists() {
            return Ok(Vec::new());
        }
        let mut ids = Vec::new();
        for entry in
            std::fs::read_dir(root).with_context(|| format!("reading {}", root.display()))?
        {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            // A directory itself, not a link planted under a backup's name.
            if is_backup_id(&name)
                && entry.file_type()?.is_dir()
                && entry.path().join("manifest.json").is_file()
            {
                ids.push(name);
            }
        }
        ids.sort();
        Ok(ids)
    }

    pub fn begin(&self, id: &str) -> anyhow::Result<Writing> {
        let root = match self {
            Dest::Local(root) => root,
            Dest::S3(_) => {
                return Ok(Writing::S3 {
                    id: checked_id(id)?.to_owned(),
                    parts: Mutex::new(Vec::new()),
                })
            }
        };
        let done = Self::dir(root, id)?;
        private_fs::private_dir(root).with_context(|| format!("creating {}", root.display()))?;
        let partial = root.join(format!(".partial-{id}"));
        // Made here, now: a directory (or a link) planted under this name beforehand is an
        // error, not a place to write into.
        std::fs::create_dir(&partial).with_context(|| format!("creating {}", partial.display()))?;
        private_fs::private_dir(&partial)?;
        Ok(Writing::Local { partial, done })
    }

    pub async fn manifest(&self, id: &str) -> anyhow::Result<(Vec<u8>, String)> {
        let root = match self {
            Dest::Local(root) => root,
            Dest::S3(s3) => {
                checked_id(id)?;
                let bytes = s3.get(id, "manifest.json").await?;
                let sig = String::from_utf8(s3.get(id, "manifest.sig").await?)
                    .with_context(|| format!("backup {id}: the manifest signature is not text"))?;
                return Ok((bytes, sig));
            }
        };
        let dir = Self::dir(root, id)?;
        let bytes = std::fs::read(dir.join("manifest.json"))
            .with_context(|| format!("backup {id}: no manifest in {}", dir.display()))?;
        let sig = std::fs::read_to_string(dir.join("manifest.sig"))
            .with_context(|| format!("backup {id}: no manifest signature"))?;
        Ok((bytes, sig))
    }

    /// The data part of a backup whose manifest was checked, to read from its start. A part
    /// larger than the manifest says is refused before it is read (from S3, before more than
    /// that is downloaded).
    pub async fn read(&self, m: &Manifest) -> anyhow::Result<File> {
        let id = m.id.as_str();
        let max = m
            .data_part()
            .with_context(|| format!("backup {id}: the manifest lists no data part"))?
            .bytes;
        match self {
            Dest::Local(root) => {
                let path = Self::dir(root, id)?.join(DATA_PART);
                let file = File::open(&path)
                    .with_context(|| format!("backup {id}: cannot open {}", path.display()))?;
                if file.metadata()?.len() > max {
                    bail!(
                        "backup {id}: {} is larger than the {max} bytes its manifest allows; it was changed or replaced",
                        path.display()
                    );
                }
                Ok(file)
            }
            Dest::S3(s3) => s3.download(checked_id(id)?, DATA_PART, max).await,
        }
    }
}

impl Dest {
    /// Removes a backup: its manifest first, so that a removal cut short leaves no backup
    /// behind, only parts that are not listed.
    pub async fn remove(&self, id: &str) -> anyhow::Result<()> {
        checked_id(id)?;
        match self {
            Dest::Local(root) => {
                let dir = root.join(id);
                std::fs::remove_file(dir.join("manifest.json"))
                    .with_context(|| format!("removing backup {id}"))?;
                std::fs::remove_dir_all(&dir).with_context(|| format!("removing backup {id}"))
            }
            Dest::S3(s3) => s3.remove(id).await,
        }
    }
}

fn checked_id(id: &str) -> anyhow::Result<&str> {
    if !is_backup_id(id) {
        bail!("`{id}` is not a backup ID");
    }
    Ok(id)
}

impl std::fmt::Display for Dest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dest::Local(p) => write!(f, "{}", p.display()),
            Dest::S3(s3) => f.write_str(s3.url()),
        }
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
        let partial = match self {
            Writing::Local { partial, .. } => partial,
            Writing::S3 { parts, .. } => {
                let file = tempfile::tempfile()?;
                let mut parts = parts
                    .lock()
                    .map_err(|_| std::io::Error::other("a backup part's writer failed"))?;
                parts.push((name.to_owned(), file.try_clone()?));
                return Ok(file);
            }
        };
        private_fs::create_new(&partial.join(name))
    }

    /// Writes the manifest and its signature, then gives the backup its name (local), or
    /// uploads the parts, the signature and last the manifest (S3).
    pub async fn finish(self, dest: &Dest, manifest: &[u8], signature: &str) -> anyhow::Result<()> {
        match (&self, dest) {
            (Writing::Local { partial, done }, _) => {
                private_fs::write_atomic(&partial.join("manifest.json"), manifest)?;
                private_fs::write_atomic(&partial.join("manifest.sig"), signature.as_bytes())?;
                std::fs::rename(partial, done)
                    .with_context(|| format!("naming {}", done.display()))?;
                // The new name survives a crash once the directory holding it is synced.
                if let Some(root) = done.parent() {
                    std::fs::File::open(root)?.sync_all()?;
                }
                Ok(())
            }
            (Writing::S3 { id, parts }, Dest::S3(s3)) => {
                let parts = std::mem::take(
                    &mut *parts
                        .lock()
                        .map_err(|_| anyhow::anyhow!("a backup part's writer failed"))?,
                );
                s3.upload(id, parts, manifest, signature).await
            }
            (Writing::S3 { .. }, Dest::Local(_)) => {
                bail!("a backup begun for S3 cannot end on a local path")
            }
        }
    }
}

impl Drop for Writing {
    fn drop(&mut self) {
        // An unfinished backup leaves nothing under a backup's name.
        if let Writing::Local { partial, .. } = self {
            if partial.exists() {
                let _ = std::fs::remove_dir_all(&*partial);
            }
        }
    }
}
