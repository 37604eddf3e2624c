//! D4 off site, a wrong credential: against moto with signatures checked, a backup whose key
//! the storage refuses fails clearly and leaves nothing behind.

use crate::backup_s3::{bucket_and_deployment, cli, Moto};

/// A wrong credential (issue 15, item 2): storage that checks signatures refuses the backup's
/// first request; the command fails with the storage's own reason, said once, and leaves
/// nothing in the bucket, no object and no unfinished upload; `list` fails too, rather than
/// answering that there is no backup.
#[tokio::test]
async fn a_credential_the_storage_refuses_is_a_clear_error_and_leaves_nothing() {
    // moto answers one request unsigned (the bucket's creation), then checks every signature
    // against its IAM, which knows no key: the tests' key is refused as a stolen or revoked
    // one would be.
    let moto = Moto::start_with(&[("INITIAL_NO_AUTH_ACTION_COUNT", "1")]);
    let (_tmp, data) = bucket_and_deployment(&moto).await;
    let d = data.to_str().unwrap();
    let to = "s3://kinfold-backups/nightly";

    let (ok, out) = cli(&moto.url, &["backup", "create", "--data", d, "--to", to]);
    assert!(!ok, "a refused credential must fail the backup: {out}");
    // The error, to the end of what the command said (the storage's XML spans lines).
    let error = &out[out
        .find("error: ")
        .unwrap_or_else(|| panic!("no error: {out}"))..];
    assert!(
        error.contains("uploading db.kfb") && error.contains("403 Forbidden"),
        "{error}"
    );
    // The storage's reason, once (its client quotes each cause in the next).
    assert_eq!(
        error.matches("<Code>InvalidAccessKeyId</Code>").count(),
        1,
        "{error}"
    );
    assert!(!out.contains("kinfold-test-secret"), "{out}");

    // moto's own view of the bucket (its state API needs no signature): nothing was stored,
    // and no multipart upload was left open.
    let state: serde_json::Value = reqwest::get(format!("{}/moto-api/data.json", moto.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let buckets = state["s3"]["FakeBucket"].as_array().unwrap();
    let bucket = buckets
        .iter()
        .find(|b| b["name"] == "kinfold-backups")
        .unwrap();
    assert_eq!(
        bucket["keys"],
        serde_json::json!({}),
        "objects left: {bucket}"
    );
    assert_eq!(
        bucket["multiparts"],
        serde_json::json!({}),
        "uploads left: {bucket}"
    );

    let (ok, out) = cli(&moto.url, &["backup", "list", "--data", d, "--from", to]);
    assert!(!ok && out.contains("InvalidAccessKeyId"), "{out}");
}
