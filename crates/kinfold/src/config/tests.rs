use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn fields_table_matches_struct() {
    let v = toml::Value::try_from(Config {
        tls_cert: Some("c".into()),
        tls_key: Some("k".into()),
        redirect_addr: Some("r".into()),
        public_url: Some("u".into()),
        master_key_file: Some("m".into()),
        master_key: Some(Secret("x".into())),
        database_url: Some(Secret("postgres://".into())),
        migrate_database_url: Some(Secret("postgres://".into())),
        smtp_url: Some(Secret("smtp://127.0.0.1:25".into())),
        email_transport: Some(EmailTransport::Smtp),
        mail_domain: Some("mail.example.org".into()),
        mailgun_webhook_key: Some(Secret("k".into())),
        email_webhook_secret: Some(Secret("s".into())),
        backup_to: Some("/mnt/backup".into()),
        ..Default::default()
    });
    let keys: Vec<String> = v
        .ok()
        .and_then(|v| v.as_table().map(|t| t.keys().cloned().collect()))
        .unwrap_or_default();
    let mut expected: Vec<String> = FIELDS.iter().map(|(f, _)| f.to_string()).collect();
    expected.sort();
    let mut keys = keys;
    keys.sort();
    assert_eq!(keys, expected);
}

#[test]
fn env_overrides_and_typos() -> anyhow::Result<()> {
    let c = load(
        None,
        env(&[
            ("KINFOLD_SESSION_IDLE_TIMEOUT", "3s"),
            ("KINFOLD_MAX_SESSIONS_PER_USER", "2"),
            ("KINFOLD_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.1"),
            ("PATH", "/bin"),
        ]),
        toml::Table::new(),
    )?;
    assert_eq!(c.session_idle_timeout, Duration::from_secs(3));
    assert_eq!(c.max_sessions_per_user, 2);
    assert_eq!(c.proxies()?.len(), 2);
    let err = load(
        None,
        env(&[("KINFOLD_SESSION_IDLE_TIMOUT", "3s")]),
        toml::Table::new(),
    );
    assert!(
        format!("{:?}", err.err()).contains("KINFOLD_SESSION_IDLE_TIMOUT"),
        "error lists the known names"
    );
    assert!(load(
        None,
        env(&[("KINFOLD_MAX_SESSIONS_PER_USER", "many")]),
        toml::Table::new()
    )
    .is_err());
    assert!(load(
        None,
        env(&[("KINFOLD_SESSION_IDLE_TIMEOUT", "soon")]),
        toml::Table::new()
    )
    .is_err());
    Ok(())
}

#[test]
fn file_typos_stop_startup() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let p = dir.path().join("k.toml");
    std::fs::write(&p, "session_idle_timout = \"1h\"\n")?;
    let err = load(Some(&p), Vec::new(), toml::Table::new())
        .err()
        .map(|e| format!("{e:#}"))
        .unwrap_or_default();
    assert!(
        err.contains("unknown setting `session_idle_timout`"),
        "{err}"
    );
    std::fs::write(
        &p,
        "session_idle_timeout = \"1h\"\nmaster_key = \"c2VjcmV0\"\n",
    )?;
    let c = load(Some(&p), Vec::new(), toml::Table::new())?;
    assert_eq!(c.session_idle_timeout, Duration::from_secs(3600));
    assert!(!c.masked_toml().contains("c2VjcmV0"));
    assert!(c.masked_toml().contains("********"));
    assert!(
        !format!("{c:?}").contains("c2VjcmV0"),
        "Debug hides the key"
    );
    Ok(())
}
