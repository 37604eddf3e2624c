//! Start-up checks and operator commands.

use crate::harness::{bin, run};

#[test]
fn an_unknown_env_variable_stops_startup() {
    let tmp = tempfile::tempdir().unwrap();
    let out = bin()
        .env("KINFOLD_SESION_IDLE_TIMEOUT", "1h")
        .args([
            "serve",
            "--data",
            tmp.path().to_str().unwrap(),
            "--addr",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown environment variable KINFOLD_SESION_IDLE_TIMEOUT"),
        "{err}"
    );
    assert!(
        err.contains("KINFOLD_SESSION_IDLE_TIMEOUT"),
        "lists the right names: {err}"
    );
    assert!(
        !tmp.path().join("kinfold.db").exists(),
        "stopped before touching the data"
    );
}

#[test]
fn an_unknown_config_key_or_bad_value_stops_startup() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("kinfold.toml");
    std::fs::write(&cfg, "max_sesions_per_user = 3\n").unwrap();
    let out = bin()
        .args([
            "serve",
            "--config",
            cfg.to_str().unwrap(),
            "--data",
            tmp.path().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown setting `max_sesions_per_user`"));
    let out = bin()
        .env("KINFOLD_SESSION_IDLE_TIMEOUT", "forever")
        .args(["config", "show"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn plain_http_is_refused_off_loopback_without_a_proxy() {
    let tmp = tempfile::tempdir().unwrap();
    let out = bin()
        .env("KINFOLD_EMAIL_TRANSPORT", "file")
        .args([
            "serve",
            "--data",
            tmp.path().to_str().unwrap(),
            "--addr",
            "0.0.0.0:0",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("refusing to serve plain HTTP"));
}

#[test]
fn config_show_masks_secrets() {
    let out = bin()
        .env(
            "KINFOLD_MASTER_KEY",
            "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ=",
        )
        .env("KINFOLD_SESSION_IDLE_TIMEOUT", "2h")
        .args(["config", "show"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("master_key = \"********\""), "{text}");
    assert!(!text.contains("c2VjcmV0"), "{text}");
    assert!(text.contains("session_idle_timeout = \"2h\""), "{text}");
}

#[test]
fn operators_create_tenants_and_staff_with_enrollment_links() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().to_str().unwrap();
    let out = run(&["migrate", "--data", d]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let again = run(&["migrate", "--data", d]);
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("0 migration(s) applied"),
        "migrate is idempotent"
    );
    let out = run(&[
        "tenant",
        "create",
        "--slug",
        "oak-tree",
        "--name",
        "Oak Tree Preschool",
        "--data",
        d,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dup = run(&[
        "tenant",
        "create",
        "--slug",
        "oak-tree",
        "--name",
        "Oak Tree Again",
        "--data",
        d,
    ]);
    assert!(!dup.status.success(), "a duplicate slug is refused");
    let bad = run(&[
        "tenant",
        "create",
        "--slug",
        "Oak Tree!",
        "--name",
        "x",
        "--data",
        d,
    ]);
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("slug"),
        "names the field"
    );
    let out = run(&[
        "user",
        "create",
        "--tenant",
        "oak-tree",
        "--email",
        "ms.park@oak.example",
        "--name",
        "Ms Park",
        "--role",
        "teacher",
        "--data",
        d,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "enrollment link (single use, expires in 72 h): http://127.0.0.1:8080/enroll/"
        ),
        "{text}"
    );
    let bad_role = run(&[
        "user",
        "create",
        "--tenant",
        "oak-tree",
        "--email",
        "x@oak.example",
        "--name",
        "X",
        "--role",
        "janitor",
        "--data",
        d,
    ]);
    assert!(!bad_role.status.success());
    let no_pw = run(&[
        "user",
        "create",
        "--tenant",
        "oak-tree",
        "--email",
        "p@oak.example",
        "--name",
        "P",
        "--role",
        "parent",
        "--data",
        d,
    ]);
    // A parent without a password is invited: the enrollment link sets one.
    assert!(
        no_pw.status.success(),
        "{}",
        String::from_utf8_lossy(&no_pw.stderr)
    );
    assert!(
        String::from_utf8_lossy(&no_pw.stdout).contains("enrollment link"),
        "a parent without a password gets an enrollment link"
    );
    let listed = run(&["tenant", "list", "--data", d]);
    assert!(String::from_utf8_lossy(&listed.stdout).contains("oak-tree\tOak Tree Preschool"));
}

#[test]
fn a_wrong_master_key_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().to_str().unwrap();
    assert!(run(&["migrate", "--data", d]).status.success());
    let out = bin()
        .env(
            "KINFOLD_MASTER_KEY",
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        )
        .args(["tenant", "list", "--data", d])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is the master key right?"), "{err}");
}

#[test]
fn keys_rotate_reports_progress() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().to_str().unwrap();
    assert!(run(&[
        "tenant",
        "create",
        "--slug",
        "elm-street",
        "--name",
        "Elm Street Nursery",
        "--data",
        d
    ])
    .status
    .success());
    let out = run(&["keys", "rotate", "--tenant", "elm-street", "--data", d]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("elm-street: data key version 2 is current"),
        "{text}"
    );
    let again = run(&["keys", "rotate", "--data", d]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("data key version 3 is current"));
    let unknown = run(&["keys", "rotate", "--tenant", "nope", "--data", d]);
    assert!(!unknown.status.success());
}

#[test]
fn keys_status_counts_per_version_and_retire_destroys_only_an_empty_old_one() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().to_str().unwrap();
    let create = [
        "tenant",
        "create",
        "--slug",
        "oak",
        "--name",
        "Oak Nursery",
        "--data",
        d,
    ];
    assert!(run(&create).status.success());
    let text = |o: &std::process::Output| String::from_utf8_lossy(&o.stdout).into_owned();
    let status = run(&["keys", "status", "--tenant", "oak", "--data", d]);
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert!(
        text(&status).contains("oak: data key version 1 seals"),
        "{}",
        text(&status)
    );
    assert!(text(&status).contains("(current)"), "{}", text(&status));

    // The current version is refused, as are junk and unknown versions and tenants.
    let retire = |v: &str| {
        run(&[
            "keys",
            "retire",
            "--tenant",
            "oak",
            "--version",
            v,
            "--data",
            d,
        ])
    };
    let current = retire("1");
    assert!(!current.status.success());
    assert!(
        String::from_utf8_lossy(&current.stderr).contains("current data key version"),
        "{}",
        String::from_utf8_lossy(&current.stderr)
    );
    for v in ["-1", "x", "99999999999", "7"] {
        assert!(!retire(v).status.success(), "{v}");
    }
    let nope = run(&[
        "keys",
        "retire",
        "--tenant",
        "nope",
        "--version",
        "1",
        "--data",
        d,
    ]);
    assert!(!nope.status.success());

    // After rotation, version 1 seals nothing and is destroyed, once.
    assert!(run(&["keys", "rotate", "--data", d]).status.success());
    let status = run(&["keys", "status", "--data", d]);
    assert!(
        text(&status).contains("oak: data key version 1 seals 0 values (can be retired)"),
        "{}",
        text(&status)
    );
    let done = retire("1");
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert!(text(&done).contains("oak: data key version 1 destroyed"));
    assert!(!retire("1").status.success(), "retired once");
    let status = text(&run(&["keys", "status", "--data", d]));
    assert!(!status.contains("version 1 "), "{status}");
    assert!(status.contains("oak: data key version 2 seals"), "{status}");
}

#[test]
fn email_domain_add_writes_the_zone_and_refuses_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().to_str().unwrap();
    let out = run(&[
        "email",
        "domain",
        "add",
        "Mail.Example.ORG",
        "--spf",
        "v=spf1 include:relay.example -all",
        "--data",
        d,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let zone = std::fs::read_to_string(tmp.path().join("dns/mail.example.org.zone")).unwrap();
    assert!(zone.starts_with("$ORIGIN mail.example.org.\n"), "{zone}");
    assert!(
        zone.contains("._domainkey 3600 IN TXT ( \"v=DKIM1; k=rsa; p=MIIB"),
        "{zone}"
    );
    assert!(zone.contains("k=ed25519; p="), "{zone}");
    assert!(zone.contains("@ 3600 IN TXT \"v=spf1 include:relay.example -all\""));
    assert!(zone.contains(
        "_dmarc 3600 IN TXT \"v=DMARC1; p=reject; rua=mailto:dmarc-reports@mail.example.org;"
    ));
    assert!(String::from_utf8_lossy(&out.stdout).contains("$ORIGIN mail.example.org."));
    let listed = run(&["email", "domain", "list", "--data", d]);
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.contains("mail.example.org  rsa=kf-rsa-"), "{listed}");

    // Nothing is published for this domain: the doctor names each missing record (or the failed
    // lookup, where this machine has no DNS) and exits 1.
    let doctor = run(&[
        "email",
        "doctor",
        "--domain",
        "mail.example.org",
        "--data",
        d,
    ]);
    assert_eq!(doctor.status.code(), Some(1));
    let report = String::from_utf8_lossy(&doctor.stdout);
    for check in ["SPF", "DKIM kf-rsa-", "DKIM kf-ed-", "DMARC"] {
        assert!(
            report
                .lines()
                .any(|l| l.starts_with("error") && l.contains(check)),
            "{check}: {report}"
        );
    }
    let unknown = run(&[
        "email",
        "doctor",
        "--domain",
        "other.example.org",
        "--data",
        d,
    ]);
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("is not a sending domain"));

    for (args, says) in [
        (vec!["mail.example.org"], "already a sending domain"),
        (vec!["not a domain"], "is not a domain name"),
        (vec!["evil.example\"; v=spf1 +all"], "is not a domain name"),
        (vec!["ok.example.org", "--spf", "+all"], "v=spf1"),
        (
            vec!["ok.example.org", "--dmarc-rua", "mailto:a@b.c; p=none"],
            "single mailto",
        ),
    ] {
        let out = bin()
            .args(["email", "domain", "add"])
            .args(&args)
            .args(["--data", d])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
}
