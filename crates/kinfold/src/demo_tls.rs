//! The demo's local CA and server certificate (rcgen, ring): `DIR/tls/ca.pem` (CA:TRUE), and a
//! server certificate for `localhost`, `127.0.0.1` and `::1` signed by it. The CA's private key
//! is not kept: once the server certificate exists, nothing else is signed.

use std::path::{Path, PathBuf};

use anyhow::Context;
use kinfold_crypto::private_fs;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub fn ensure(dir: &Path) -> anyhow::Result<TlsFiles> {
    let files = TlsFiles {
        ca: dir.join("ca.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server-key.pem"),
    };
    private_fs::private_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
    if files.ca.exists() && files.cert.exists() && files.key.exists() {
        return Ok(files);
    }
    let now = time::OffsetDateTime::now_utc();

    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "Kinfold demo local CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca.not_before = now - time::Duration::days(1);
    ca.not_after = now + time::Duration::days(3650);
    let ca_cert = ca.self_signed(&ca_key)?;

    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ])?;
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.not_before = now - time::Duration::days(1);
    // Browsers refuse leaf certificates valid for more than 398 days.
    params.not_after = now + time::Duration::days(397);
    let cert = params.signed_by(&key, &ca_cert, &ca_key)?;

    private_fs::write_atomic(&files.ca, ca_cert.pem().as_bytes())
        .with_context(|| format!("writing {}", files.ca.display()))?;
    private_fs::write_atomic(
        &files.cert,
        format!("{}{}", cert.pem(), ca_cert.pem()).as_bytes(),
    )
    .with_context(|| format!("writing {}", files.cert.display()))?;
    let _ = std::fs::remove_file(&files.key);
    kinfold_crypto::keyring::write_private(&files.key, key.serialize_pem().as_bytes())?;
    Ok(files)
}
