//! D1, W1: `demo --tls` serves TLS 1.3 with a local CA, HSTS, `__Host-` cookies, and a plain
//! HTTP listener on the next port that only redirects.

use serde_json::json;

use crate::harness::Running;

fn client(ca: &[u8], max12: bool) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca).unwrap())
        .redirect(reqwest::redirect::Policy::none());
    if max12 {
        b = b.max_tls_version(reqwest::tls::Version::TLS_1_2);
    }
    b.build().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_tls_serves_https_with_a_local_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let demo = Running::demo(&dir, &["--tls"]);
    let ca_path = dir.join("tls").join("ca.pem");
    assert!(
        demo.lines
            .iter()
            .any(|l| l.contains(ca_path.to_str().unwrap())),
        "prints the CA path: {:?}",
        demo.lines
    );
    let ca = std::fs::read(&ca_path).unwrap();
    assert!(String::from_utf8_lossy(&ca).starts_with("-----BEGIN CERTIFICATE-----"));
    let text = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in", ca_path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("CA:TRUE"),
        "the CA is marked CA:TRUE"
    );
    let leaf = std::process::Command::new("openssl")
        .args([
            "x509",
            "-noout",
            "-ext",
            "subjectAltName",
            "-in",
            dir.join("tls").join("server.pem").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let sans = String::from_utf8_lossy(&leaf.stdout);
    for san in [
        "DNS:localhost",
        "IP Address:127.0.0.1",
        "IP Address:0:0:0:0:0:0:0:1",
    ] {
        assert!(sans.contains(san), "SAN {san}: {sans}");
    }

    let port = demo.port;
    let https = client(&ca, false);
    let r = https
        .get(format!("https://localhost:{port}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["strict-transport-security"],
        "max-age=63072000; includeSubDomains; preload"
    );
    let nf = https
        .get(format!("https://localhost:{port}/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(nf.status(), 404);
    assert!(
        nf.headers().contains_key("strict-transport-security"),
        "HSTS on a 404 too"
    );

    let creds = demo.credentials();
    assert_eq!(creds["base_url"], format!("https://localhost:{port}"));
    let parent = &creds["tenants"][0]["users"][3];
    let r = https
        .post(format!("https://localhost:{port}/api/v1/sessions"))
        .json(&json!({"tenant": "maple-grove", "email": parent["email"], "password": parent["password"]}))
        .send()
        .await
        .unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.starts_with("__Host-kinfold_session=")
            && cookie.contains("; Secure")
            && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    let name_value = cookie.split(';').next().unwrap();
    let me = https
        .get(format!("https://localhost:{port}/api/v1/me"))
        .header("cookie", name_value)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);

    // TLS 1.3 only: a client capped at TLS 1.2 cannot connect.
    assert!(client(&ca, true)
        .get(format!("https://localhost:{port}/healthz"))
        .send()
        .await
        .is_err());

    // Plain HTTP on the next port only redirects, to a host we serve.
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = plain
        .get(format!("http://127.0.0.1:{}/login?next=%2F", port + 1))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 301);
    assert_eq!(
        r.headers()["location"],
        format!("https://127.0.0.1:{port}/login?next=%2F")
    );
    assert!(r.headers().contains_key("content-security-policy"));
    let r = plain
        .get(format!("http://127.0.0.1:{}/", port + 1))
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["location"],
        format!("https://localhost:{port}/"),
        "unknown hosts go to the canonical one"
    );
    assert!(demo.stop().success());
}
