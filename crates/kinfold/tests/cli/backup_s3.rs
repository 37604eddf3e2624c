//! D4 off site: `kinfold backup` to S3-compatible storage, against a real S3 server on
//! loopback (moto's, which speaks the S3 HTTP API with SigV4 and multipart uploads): a backup
//! goes up sealed (in several parts when larger than one), lists, verifies, restores and drills;
//! a changed object is refused; an upload without its manifest is never taken for a backup; an
//! unreachable store is a clear error; a part the store refuses, or a stop, aborts the upload.

use std::process::{Child, Command, Stdio};

use crate::harness::{bin, free_port, said};
use crate::s3_proxy::{proxy_to, Turn};

/// moto's S3 server on a free loopback port, stopped on drop.
pub(crate) struct Moto {
    child: Child,
    pub(crate) url: String,
}

impl Moto {
    pub(crate) fn start() -> Self {
        Self::start_with(&[])
    }

    /// With moto's own settings, for example `INITIAL_NO_AUTH_ACTION_COUNT`, after which every
    /// request must be signed with a key moto's IAM knows.
    pub(crate) fn start_with(env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let child = Command::new("python3")
            .envs(env.iter().copied())
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 -m moto.server (install it: python3 -m pip install 'moto[server]')");
        // Stopped (killed and waited for) on drop, from here on.
        let moto = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        for _ in 0..150 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return moto;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("moto's S3 server did not start (python3 -m pip install 'moto[server]')");
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn cli(endpoint: &str, args: &[&str]) -> (bool, String) {
    cli_with(endpoint, &[], args)
}

/// [`cli`] with more environment (a PostgreSQL deployment's).
pub(crate) fn cli_with(endpoint: &str, env: &[(&str, &str)], args: &[&str]) -> (bool, String) {
    let out = bin()
        .args(args)
        .envs(env.iter().copied())
        .envs(AWS_ENV)
        .env("AWS_ENDPOINT_URL", endpoint)
        .output()
        .unwrap();
    (out.status.success(), said(&out))
}

/// Writes an object into `kinfold-backups` with a signed request, as an attacker holding the
/// bucket's credentials would (moto refuses large unsigned uploads).
async fn signed_put(moto: &Moto, key: &str, body: Vec<u8>) {
    use object_store::ObjectStore;
    let store = object_store::aws::AmazonS3Builder::new()
        .with_endpoint(&moto.url)
        .with_allow_http(true)
        .with_bucket_name("kinfold-backups")
        .with_region("us-east-1")
        .with_access_key_id("kinfold-test")
        .with_secret_access_key("kinfold-test-secret")
        .build()
        .unwrap();
    store
        .put(&object_store::path::Path::from(key), body.into())
        .await
        .unwrap();
}

/// Every object key under `prefix` in `bucket` (moto answers unsigned requests).
async fn keys(moto: &Moto, bucket: &str, prefix: &str) -> Vec<String> {
    let xml = reqwest::get(format!("{}/{bucket}?list-type=2&prefix={prefix}", moto.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    xml.split("<Key>")
        .skip(1)
        .filter_map(|s| s.split("</Key>").next())
        .map(str::to_owned)
        .collect()
}

/// Creates the bucket `kinfold-backups` (unsigned: moto answers it) and a SQLite deployment
/// with one center, `maple`; returns the temporary directory and the deployment's data
/// directory in it.
pub(crate) async fn bucket_and_deployment(moto: &Moto) -> (tempfile::TempDir, std::path::PathBuf) {
    let status = reqwest::Client::new()
        .put(format!("{}/kinfold-backups", moto.url))
        .send()
        .await
        .unwrap()
        .status();
    assert!(status.is_success(), "creating the bucket: {status}");
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (ok, out) = cli(
        &moto.url,
        &[
            "tenant",
            "create",
            "--slug",
            "maple",
            "--name",
            "Maple Sprouts",
            "--data",
            data.to_str().unwrap(),
        ],
    );
    assert!(ok, "{out}");
    (tmp, data)
}

#[tokio::test]
async fn a_backup_to_s3_restores_and_a_changed_or_partial_one_is_refused() {
    let moto = Moto::start();
    let http = reqwest::Client::new();
    let (tmp, data) = bucket_and_deployment(&moto).await;
    let d = data.to_str().unwrap();
    let to = "s3://kinfold-backups/nightly";

    let (ok, out) = cli(&moto.url, &["backup", "create", "--data", d, "--to", to]);
    assert!(ok, "{out}");
    assert!(out.contains("in s3://kinfold-backups/nightly"), "{out}");
    let objects = keys(&moto, "kinfold-backups", "nightly/").await;
    assert_eq!(objects.len(), 3, "{objects:?}");
    let id = objects[0].split('/').nth(1).unwrap().to_owned();
    for name in ["db.kfb", "manifest.json", "manifest.sig"] {
        assert!(
            objects.contains(&format!("nightly/{id}/{name}")),
            "{objects:?}"
        );
    }
    // Sealed: neither the database's header nor a tenant's name is in the object.
    let part_url = format!("{}/kinfold-backups/nightly/{id}/db.kfb", moto.url);
    let sealed = reqwest::get(&part_url)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    for plain in [&b"SQLite format 3"[..], b"Maple Sprouts"] {
        assert!(!sealed.windows(plain.len()).any(|w| w == plain));
    }

    let (ok, out) = cli(&moto.url, &["backup", "list", "--data", d, "--from", to]);
    assert!(
        ok && out.contains(&id) && out.contains("1 tenant(s)"),
        "{out}"
    );
    let (ok, out) = cli(&moto.url, &["backup", "verify", "--data", d, "--from", to]);
    assert!(ok && out.contains("checksum matches"), "{out}");

    // An upload cut short (a part without its manifest) is not a backup: not listed, and not
    // the one picked as newest, though its ID sorts last.
    let partial = format!(
        "{}/kinfold-backups/nightly/29991231T235959Z-deadbeef/db.kfb",
        moto.url
    );
    http.put(&partial)
        .body(sealed.to_vec())
        .send()
        .await
        .unwrap();
    // A manifest under a deeper prefix (`nightly/staging/`) is another prefix's backup.
    let nested = format!(
        "{}/kinfold-backups/nightly/staging/29991231T235959Z-deadbeef/manifest.json",
        moto.url
    );
    http.put(&nested).body("{}").send().await.unwrap();
    let (ok, out) = cli(&moto.url, &["backup", "list", "--data", d, "--from", to]);
    assert!(ok && !out.contains("29991231T235959Z"), "{out}");

    // Restored from S3 into a new directory, with the deployment's key: every chain verified.
    let restored = tmp.path().join("restored");
    std::fs::create_dir(&restored).unwrap();
    std::fs::copy(data.join("master.key"), restored.join("master.key")).unwrap();
    let r = restored.to_str().unwrap();
    let (ok, out) = cli(&moto.url, &["backup", "restore", "--data", r, "--from", to]);
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("restored backup {id}")) && out.contains("1 tenant(s)"),
        "{out}"
    );
    let (ok, out) = cli(&moto.url, &["backup", "drill", "--data", d, "--from", to]);
    assert!(ok && out.contains("drill passed"), "{out}");

    // One flipped byte in the stored object: verify, restore and drill all refuse it, and the
    // restore leaves no database behind.
    let mut changed = sealed.to_vec();
    let mid = changed.len() / 2;
    changed[mid] ^= 1;
    http.put(&part_url).body(changed).send().await.unwrap();
    let (ok, out) = cli(&moto.url, &["backup", "verify", "--data", d, "--from", to]);
    assert!(!ok && out.contains(&id), "{out}");
    let again = tmp.path().join("again");
    std::fs::create_dir(&again).unwrap();
    std::fs::copy(data.join("master.key"), again.join("master.key")).unwrap();
    let (ok, out) = cli(
        &moto.url,
        &[
            "backup",
            "restore",
            "--data",
            again.to_str().unwrap(),
            "--from",
            to,
        ],
    );
    assert!(!ok, "{out}");
    assert!(!again.join("kinfold.db").exists());
    let (ok, out) = cli(&moto.url, &["backup", "drill", "--data", d, "--from", to]);
    assert!(!ok && out.contains("DRILL FAILED"), "{out}");

    // A part grown past its signed size (the real one and 1 MiB more) is refused before it
    // downloads, with a message that says so; so is a manifest of 2 MiB.
    let mut grown = sealed.to_vec();
    grown.extend(std::iter::repeat_n(0u8, 1 << 20));
    signed_put(&moto, &format!("nightly/{id}/db.kfb"), grown).await;
    let (ok, out) = cli(&moto.url, &["backup", "verify", "--data", d, "--from", to]);
    assert!(
        !ok && out.contains("larger than the") && out.contains("its manifest allows"),
        "{out}"
    );
    signed_put(&moto, &format!("nightly/{id}/db.kfb"), sealed.to_vec()).await;
    let (ok, out) = cli(&moto.url, &["backup", "verify", "--data", d, "--from", to]);
    assert!(ok, "{out}");
    let manifest_url = format!("{}/kinfold-backups/nightly/{id}/manifest.json", moto.url);
    let manifest = reqwest::get(&manifest_url)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    signed_put(
        &moto,
        &format!("nightly/{id}/manifest.json"),
        vec![b' '; 2 << 20],
    )
    .await;
    let (ok, out) = cli(&moto.url, &["backup", "verify", "--data", d, "--from", to]);
    assert!(!ok && out.contains("larger than the"), "{out}");
    signed_put(
        &moto,
        &format!("nightly/{id}/manifest.json"),
        manifest.to_vec(),
    )
    .await;

    // Unreachable storage: a clear error, after a few retries, and nothing new in the bucket.
    let before = keys(&moto, "kinfold-backups", "nightly/").await;
    let dead = format!("http://127.0.0.1:{}", free_port());
    let (ok, out) = cli(&dead, &["backup", "create", "--data", d, "--to", to]);
    assert!(
        !ok && out.contains("uploading") && out.contains("Connection refused"),
        "{out}"
    );
    // A bucket that does not exist is the storage's own clear answer.
    let (ok, out) = cli(
        &moto.url,
        &[
            "backup",
            "create",
            "--data",
            d,
            "--to",
            "s3://no-such-bucket/x",
        ],
    );
    assert!(!ok && out.contains("NoSuchBucket"), "{out}");
    assert_eq!(keys(&moto, "kinfold-backups", "nightly/").await, before);
    // Nothing of the secret key in any answer.
    assert!(!out.contains("kinfold-test-secret"));
}

#[test]
fn an_s3_address_is_a_bucket_and_a_prefix() {
    for bad in [
        "s3://",
        "s3:///prefix",
        "s3://user:pw@bucket/x",
        "s3://:pw-secret@bucket/x",
        "s3://bucket/x?acl=public",
        "https://bucket/x",
    ] {
        let (ok, out) = cli("http://127.0.0.1:9", &["backup", "list", "--from", bad]);
        assert!(!ok, "{bad}: {out}");
        assert!(!out.contains("panicked"), "{bad}: {out}");
        assert!(
            !out.contains("pw-secret") && !out.contains(":pw@"),
            "{bad}: {out}"
        );
    }
}

/// The AWS settings every command here runs with, for a server started by the test.
pub(crate) const AWS_ENV: [(&str, &str); 3] = [
    ("AWS_ACCESS_KEY_ID", "kinfold-test"),
    ("AWS_SECRET_ACCESS_KEY", "kinfold-test-secret"),
    ("AWS_REGION", "us-east-1"),
];

/// The filler's digest, past row-level security.
const FILLER: &str = "SELECT md5(string_agg(encode(b, 'hex'), '' ORDER BY n)) FROM kinfold.filler";

/// A PostgreSQL deployment (one tenant) whose snapshot is larger than one upload part: 12 MiB
/// of random bytes (24 MiB of hex in the dump) in a table of its schema, owned by its owner
/// role as its tables are, which neither `pg_dump` nor zstd can shrink. Its data directory
/// (the master key) is `data` under the returned directory.
async fn large_pg_deployment(moto: &Moto) -> (kinfold_testpg::TestDb, tempfile::TempDir) {
    let source = kinfold_testpg::fresh_database().await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (ok, out) = cli_with(
        &moto.url,
        &crate::backup_pg::pg_env(&source),
        &[
            "tenant",
            "create",
            "--slug",
            "maple",
            "--name",
            "Maple",
            "--data",
            data.to_str().unwrap(),
        ],
    );
    assert!(ok, "{out}");
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&source.url)
        .await
        .unwrap();
    for sql in [
        "CREATE TABLE kinfold.filler AS SELECT g AS n, \
         decode(md5(random()::text) || md5(random()::text), 'hex') AS b \
         FROM generate_series(1, 393216) g"
            .to_owned(),
        format!("ALTER TABLE kinfold.filler OWNER TO {}", source.owner_role),
    ] {
        sqlx::query(&sql).execute(&mut conn).await.unwrap();
    }
    (source, tmp)
}

/// Creates the bucket `kinfold-backups` on `moto`.
pub(crate) async fn bucket(moto: &Moto) {
    let status = reqwest::Client::new()
        .put(format!("{}/kinfold-backups", moto.url))
        .send()
        .await
        .unwrap()
        .status();
    assert!(status.is_success(), "creating the bucket: {status}");
}

/// The multipart uploads begun and neither completed nor aborted in `kinfold-backups`.
async fn unfinished_uploads(moto: &Moto) -> usize {
    let xml = reqwest::get(format!("{}/kinfold-backups?uploads", moto.url))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    xml.matches("<UploadId>").count()
}

/// A snapshot larger than one upload part goes up as a multipart upload of several parts
/// (moto's ETag for such an object is `"MD5-N"`, N the part count), verifies, and restores
/// byte for byte.
#[tokio::test(flavor = "multi_thread")]
async fn a_backup_larger_than_one_part_goes_up_in_parts_and_restores() {
    let moto = Moto::start();
    bucket(&moto).await;
    let (source, tmp) = large_pg_deployment(&moto).await;
    let env = crate::backup_pg::pg_env(&source);
    let data = tmp.path().join("data");
    let d = data.to_str().unwrap();
    let to = "s3://kinfold-backups/large";
    let (ok, out) = cli_with(
        &moto.url,
        &env,
        &["backup", "create", "--data", d, "--to", to],
    );
    assert!(ok, "{out}");
    let objects = keys(&moto, "kinfold-backups", "large/").await;
    let part = objects
        .iter()
        .find(|k| k.ends_with("/db.kfb"))
        .unwrap_or_else(|| panic!("no archive part in {objects:?}"));
    let head = reqwest::Client::new()
        .head(format!("{}/kinfold-backups/{part}", moto.url))
        .send()
        .await
        .unwrap();
    let size: u64 = head.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(size > 8 << 20, "the archive is {size} bytes: one part");
    let etag = head.headers()["etag"]
        .to_str()
        .unwrap()
        .trim_matches('"')
        .to_owned();
    let parts: u32 = etag
        .rsplit_once('-')
        .unwrap_or_else(|| panic!("not a multipart upload: ETag {etag}"))
        .1
        .parse()
        .unwrap();
    assert!(parts >= 2, "ETag {etag}");
    assert_eq!(unfinished_uploads(&moto).await, 0);

    let (ok, out) = cli_with(
        &moto.url,
        &env,
        &["backup", "verify", "--data", d, "--from", to],
    );
    assert!(ok && out.contains("checksum matches"), "{out}");
    let target = kinfold_testpg::fresh_database().await.unwrap();
    let restored = tmp.path().join("restored");
    std::fs::create_dir(&restored).unwrap();
    std::fs::copy(data.join("master.key"), restored.join("master.key")).unwrap();
    let (ok, out) = cli_with(
        &moto.url,
        &crate::backup_pg::pg_env(&target),
        &[
            "backup",
            "restore",
            "--data",
            restored.to_str().unwrap(),
            "--from",
            to,
        ],
    );
    assert!(ok, "{out}");
    let want = crate::backup_pg::digest(&source.url, FILLER).await;
    assert_eq!(want.len(), 32);
    assert_eq!(crate::backup_pg::digest(&target.url, FILLER).await, want);
}

/// A server stopped while its scheduled backup is going up to S3 stops the upload between
/// two parts, aborts the multipart upload and removes what it wrote, then exits cleanly:
/// no unfinished upload's parts stay in the bucket (billed, and unlisted), and nothing is
/// named a backup.
#[tokio::test(flavor = "multi_thread")]
async fn a_server_stopped_mid_upload_leaves_nothing_in_the_bucket() {
    let moto = Moto::start();
    bucket(&moto).await;
    let (source, tmp) = large_pg_deployment(&moto).await;
    let mut env = crate::backup_pg::pg_env(&source);
    env.extend(AWS_ENV);
    env.push(("AWS_ENDPOINT_URL", moto.url.as_str()));
    env.push(("KINFOLD_BACKUP_TO", "s3://kinfold-backups/scheduled"));
    let node = crate::harness::Running::serve(&tmp.path().join("data"), &env);
    // The first backup is due at once; stop the server as soon as its upload has begun.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while unfinished_uploads(&moto).await == 0 {
        assert!(
            keys(&moto, "kinfold-backups", "scheduled/")
                .await
                .is_empty(),
            "the backup went up whole before the test could stop the server mid-upload"
        );
        assert!(std::time::Instant::now() < deadline, "no upload began");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let status = node.stop();
    assert!(status.success(), "{status}");
    assert_eq!(
        unfinished_uploads(&moto).await,
        0,
        "an upload was left unfinished"
    );
    assert_eq!(
        keys(&moto, "kinfold-backups", "scheduled/").await,
        Vec::<String>::new()
    );
}

/// A proxy that answers `500` to every upload of part `fail_part` (each of the client's
/// retries too).
async fn failing_part_proxy(upstream: String, fail_part: u32) -> String {
    let failing = format!("partNumber={fail_part}");
    proxy_to(upstream, move |parts| {
        let query = parts.uri.query().unwrap_or_default();
        if parts.method == axum::http::Method::PUT && query.split('&').any(|q| q == failing) {
            Turn::Refuse
        } else {
            Turn::Forward
        }
    })
    .await
}

/// A part that the storage refuses, every retry included, fails the backup with a clear
/// error, and the upload is aborted: none of its parts stay in the bucket (billed, and
/// unlisted), and nothing is named a backup. The next backup, through the storage itself,
/// goes up whole.
#[tokio::test(flavor = "multi_thread")]
async fn a_part_the_storage_refuses_aborts_the_upload() {
    let moto = Moto::start();
    bucket(&moto).await;
    let (source, tmp) = large_pg_deployment(&moto).await;
    let env = crate::backup_pg::pg_env(&source);
    let d = tmp.path().join("data");
    let d = d.to_str().unwrap();
    let to = "s3://kinfold-backups/refused";
    let proxy = failing_part_proxy(moto.url.clone(), 2).await;
    let (ok, out) = cli_with(&proxy, &env, &["backup", "create", "--data", d, "--to", to]);
    assert!(!ok, "{out}");
    assert!(out.contains("uploading db.kfb"), "{out}");
    assert!(!out.contains("kinfold-test-secret"), "{out}");
    assert_eq!(
        unfinished_uploads(&moto).await,
        0,
        "the refused upload was left unfinished"
    );
    assert_eq!(
        keys(&moto, "kinfold-backups", "refused/").await,
        Vec::<String>::new()
    );
    let (ok, out) = cli_with(
        &moto.url,
        &env,
        &["backup", "create", "--data", d, "--to", to],
    );
    assert!(ok, "{out}");
    let (ok, out) = cli_with(
        &moto.url,
        &env,
        &["backup", "verify", "--data", d, "--from", to],
    );
    assert!(ok && out.contains("checksum matches"), "{out}");
}
