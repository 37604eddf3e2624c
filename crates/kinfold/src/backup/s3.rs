//! S3-compatible object storage as a backup destination (D4): `s3://BUCKET/PREFIX`.
//!
//! Settings come from the standard variables: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_REGION` and `AWS_ENDPOINT_URL` (for storage other than AWS; `http://` is allowed only
//! when the endpoint says so). Requests are signed (SigV4) and retried a few times with
//! backoff, then fail with the storage's own message.
//!
//! A backup is the objects `PREFIX/ID/PART` and, written last, `PREFIX/ID/manifest.sig` and
//! `PREFIX/ID/manifest.json`: a backup without its manifest is not listed, verified or
//! restored, so an upload cut short is never taken for a backup. Parts go up in 8 MiB
//! multipart chunks from the sealed archive (ciphertext only; never the snapshot).

use std::io::{Seek, SeekFrom};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use futures_util::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{ObjectStore, RetryConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::dest::is_backup_id;

const CHUNK: usize = 8 << 20;

/// The most a manifest or its signature may hold: both are well under a kilobyte.
const SMALL_OBJECT_MAX: u64 = 1 << 20;

pub struct S3 {
    store: Arc<AmazonS3>,
    url: String,
    prefix: Path,
    /// Turns true when the server is stopping: an upload under way then stops between two
    /// chunks and removes what it wrote, rather than being cut off with an unfinished
    /// multipart upload left in the bucket.
    stop: Option<super::Stop>,
}

/// Why an upload ended early: the server is stopping.
const STOPPED: &str = "the server is stopping; the upload was abandoned and what it wrote removed";

impl S3 {
    /// `s3://BUCKET/PREFIX`, with its settings from the environment.
    pub fn parse(s: &str) -> anyhow::Result<Self> {
        // The address is never repeated in an error: it might hold a credential.
        let url = url::Url::parse(s)
            .map_err(|_| anyhow::anyhow!("the backup destination is not an s3:// address"))?;
        let bucket = match url.host_str() {
            Some(b) if url.scheme() == "s3" && !b.is_empty() => b.to_owned(),
            _ => bail!("the backup destination is not s3://BUCKET/PREFIX"),
        };
        if url.query().is_some()
            || url.fragment().is_some()
            || !url.username().is_empty()
            || url.password().is_some()
        {
            bail!("an s3:// backup destination is a bucket and a prefix, nothing else (credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)");
        }
        let prefix = Path::parse(url.path().trim_matches('/'))
            .map_err(|_| anyhow::anyhow!("s3://{bucket}: the prefix is not a valid object path"))?;
        let mut b = AmazonS3Builder::from_env()
            .with_bucket_name(&bucket)
            .with_retry(RetryConfig {
                max_retries: 3,
                retry_timeout: Duration::from_secs(60),
                ..RetryConfig::default()
            });
        if std::env::var("AWS_ENDPOINT_URL").is_ok_and(|e| e.starts_with("http://")) {
            b = b.with_allow_http(true);
        }
        let store = b
            .build()
            .with_context(|| format!("S3 settings for s3://{bucket} (AWS_* variables)"))?;
        Ok(Self {
            store: Arc::new(store),
            url: format!("s3://{bucket}/{prefix}"),
            prefix,
            stop: None,
        })
    }

    /// Uploads stop (see [`S3::upload`]) once `stop` turns true.
    pub fn stop_on(&mut self, stop: super::Stop) {
        self.stop = Some(stop);
    }

    fn check_stop(&self) -> anyhow::Result<()> {
        if self.stop.as_ref().is_some_and(|s| *s.borrow()) {
            bail!(STOPPED);
        }
        Ok(())
    }

    /// The next part of `in_flight` to finish, or [`STOPPED`] as soon as the server stops,
    /// whichever comes first: a slow part (or one being retried) does not hold a stop up.
    async fn next_part(
        &self,
        in_flight: &mut tokio::task::JoinSet<object_store::Result<()>>,
    ) -> anyhow::Result<()> {
        super::unless_stopped(self.stop.clone(), STOPPED, async {
            part_done(in_flight.join_next().await)
        })
        .await
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    fn object(&self, id: &str, name: &str) -> Path {
        self.prefix.child(id).child(name)
    }

    /// Complete backups (those with a manifest directly under the prefix: `PREFIX/ID/
    /// manifest.json`, never deeper, which is another prefix's), oldest first.
    pub async fn list(&self) -> anyhow::Result<Vec<String>> {
        let depth = self.prefix.parts().count() + 2;
        let mut objects = self.store.list(Some(&self.prefix));
        let mut ids = Vec::new();
        while let Some(meta) = objects.next().await {
            let meta = meta.with_context(|| format!("listing {}", self.url))?;
            let parts: Vec<_> = meta.location.parts().collect();
            if let [.., id, file] = parts.as_slice() {
                if parts.len() == depth
                    && file.as_ref() == "manifest.json"
                    && is_backup_id(id.as_ref())
                {
                    ids.push(id.as_ref().to_owned());
                }
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// A manifest or its signature: a few hundred bytes, refused past [`SMALL_OBJECT_MAX`].
    pub async fn get(&self, id: &str, name: &str) -> anyhow::Result<Vec<u8>> {
        let mut out = Vec::new();
        self.fetch(id, name, SMALL_OBJECT_MAX, &mut out).await?;
        Ok(out)
    }

    /// Copies an object into `out`, refusing it (before or while reading) once it holds more
    /// than `max` bytes: a bucket that someone else can write cannot fill this machine's
    /// memory or disk with a part larger than its signed manifest says.
    async fn fetch(
        &self,
        id: &str,
        name: &str,
        max: u64,
        out: &mut (impl tokio::io::AsyncWrite + Unpin),
    ) -> anyhow::Result<()> {
        let got = self
            .store
            .get(&self.object(id, name))
            .await
            .with_context(|| format!("backup {id}: reading {name} from {}", self.url))?;
        let too_big = || {
            anyhow::anyhow!(
                "backup {id}: {name} in {} is larger than the {max} bytes its manifest allows; \
                 it was changed or replaced",
                self.url
            )
        };
        if got.meta.size > max {
            return Err(too_big());
        }
        let mut stream = got.into_stream();
        let mut total: u64 = 0;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.with_context(|| format!("backup {id}: reading {name}"))?;
            total = total.saturating_add(u64::try_from(chunk.len()).unwrap_or(u64::MAX));
            if total > max {
                return Err(too_big());
            }
            out.write_all(&chunk).await?;
        }
        out.flush().await?;
        Ok(())
    }

    /// Removes a backup's objects, the manifest first.
    pub async fn remove(&self, id: &str) -> anyhow::Result<()> {
        let manifest = self.object(id, "manifest.json");
        self.store
            .delete(&manifest)
            .await
            .with_context(|| format!("removing backup {id} from {}", self.url))?;
        let mut objects = self.store.list(Some(&self.prefix.child(id)));
        let mut rest = Vec::new();
        while let Some(meta) = objects.next().await {
            rest.push(meta?.location);
        }
        for path in rest {
            self.store
                .delete(&path)
                .await
                .with_context(|| format!("removing backup {id} from {}", self.url))?;
        }
        Ok(())
    }

    /// Downloads a part of at most `max` bytes (its size in the signed manifest) into an
    /// unnamed temporary file (it holds ciphertext only), ready to read from its start.
    pub async fn download(&self, id: &str, name: &str, max: u64) -> anyhow::Result<std::fs::File> {
        let mut file = tokio::fs::File::from_std(tempfile::tempfile()?);
        self.fetch(id, name, max, &mut file).await?;
        let mut file = file.into_std().await;
        file.seek(SeekFrom::Start(0))?;
        Ok(file)
    }

    /// Uploads each part (from the start of its file), then the signature and the manifest.
    /// On a failure, or when the server stops meanwhile, what was written is removed (as far
    /// as the storage lets it) and an unfinished multipart upload is aborted.
    pub async fn upload(
        &self,
        id: &str,
        parts: Vec<(String, std::fs::File)>,
        manifest: &[u8],
        signature: &str,
    ) -> anyhow::Result<()> {
        let mut written = Vec::new();
        let result = self
            .upload_all(id, parts, manifest, signature, &mut written)
            .await;
        if result.is_err() {
            // The manifest first, written or not as far as we know (a PUT that landed but
            // whose answer was lost): a backup without it is never listed.
            let manifest = self.object(id, "manifest.json");
            if let Err(e) = self.store.delete(&manifest).await {
                tracing::warn!(error = %e, object = %manifest, "removing the manifest of a failed backup upload");
            }
            for path in written.into_iter().filter(|p| *p != manifest) {
                if let Err(e) = self.store.delete(&path).await {
                    tracing::warn!(error = %e, object = %path, "removing part of a failed backup upload");
                }
            }
        }
        result
    }

    async fn upload_all(
        &self,
        id: &str,
        parts: Vec<(String, std::fs::File)>,
        manifest: &[u8],
        signature: &str,
        written: &mut Vec<Path>,
    ) -> anyhow::Result<()> {
        for (name, mut file) in parts {
            file.seek(SeekFrom::Start(0))?;
            let path = self.object(id, &name);
            // Counted as written before it is: an upload completed whose answer was lost is
            // removed too.
            written.push(path.clone());
            self.upload_file(&path, file)
                .await
                .with_context(|| format!("backup {id}: uploading {name} to {}", self.url))?;
        }
        // Not named a backup once the server is stopping: what went up is removed.
        self.check_stop()?;
        for (name, bytes) in [
            ("manifest.sig", signature.as_bytes().to_vec()),
            ("manifest.json", manifest.to_vec()),
        ] {
            let path = self.object(id, name);
            written.push(path.clone());
            self.store
                .put(&path, bytes.into())
                .await
                .with_context(|| format!("backup {id}: writing {name} to {}", self.url))?;
        }
        Ok(())
    }

    /// One multipart upload of `file`, in [`CHUNK`] parts, at most [`PARTS_IN_FLIGHT`] at a
    /// time. However it ends early (a read or a part failing, or the server stopping), the
    /// upload is aborted, so no unfinished upload's parts stay in the bucket.
    async fn upload_file(&self, path: &Path, file: std::fs::File) -> anyhow::Result<()> {
        let mut upload = self.store.put_multipart(path).await?;
        let mut file = tokio::fs::File::from_std(file);
        let mut in_flight = tokio::task::JoinSet::new();
        let sent: anyhow::Result<()> = async {
            loop {
                let chunk = read_chunk(&mut file).await?;
                if chunk.is_empty() {
                    break;
                }
                self.check_stop()?;
                while in_flight.len() >= PARTS_IN_FLIGHT {
                    self.next_part(&mut in_flight).await?;
                }
                in_flight.spawn(upload.put_part(chunk.into()));
            }
            while !in_flight.is_empty() {
                self.next_part(&mut in_flight).await?;
            }
            upload.complete().await?;
            Ok(())
        }
        .await;
        if sent.is_err() {
            in_flight.shutdown().await;
            if let Err(e) = upload.abort().await {
                tracing::warn!(error = %e, object = %path, "aborting an unfinished backup upload");
            }
        }
        sent
    }
}

/// How many parts of one upload go up at once.
const PARTS_IN_FLIGHT: usize = 4;

/// The next [`CHUNK`] bytes of `file` (fewer only at its end; none past it).
async fn read_chunk(file: &mut tokio::fs::File) -> std::io::Result<Vec<u8>> {
    let mut chunk = Vec::with_capacity(CHUNK);
    while chunk.len() < CHUNK {
        let want = CHUNK - chunk.len();
        let n = (&mut *file)
            .take(u64::try_from(want).unwrap_or(u64::MAX))
            .read_buf(&mut chunk)
            .await?;
        if n == 0 {
            break;
        }
    }
    Ok(chunk)
}

/// A finished part's outcome: its own error, or its task's.
fn part_done(
    joined: Option<Result<object_store::Result<()>, tokio::task::JoinError>>,
) -> anyhow::Result<()> {
    match joined {
        Some(Ok(Ok(()))) | None => Ok(()),
        Some(Ok(Err(e))) => Err(e.into()),
        Some(Err(e)) => Err(anyhow::anyhow!("a backup part's upload stopped: {e}")),
    }
}
