//! `email doctor` against DNS answered from a map: the records Kinfold wrote pass; each kind of
//! mistake is named.

use std::collections::HashMap;

use kinfold_core::mail::dkim::{generate, records};
use kinfold_core::mail::doctor::{check, Dns, Finding};
use kinfold_core::mail::zone::{parse_txt, Zone};
use kinfold_crypto::keyring::{Key, MasterKey};

#[derive(Default, Clone)]
struct MapDns {
    txt: HashMap<String, Vec<String>>,
    mx: HashMap<String, Vec<String>>,
}

impl Dns for MapDns {
    async fn txt(&self, name: &str) -> Result<Vec<String>, String> {
        Ok(self.txt.get(name).cloned().unwrap_or_default())
    }
    async fn mx(&self, name: &str) -> Result<Vec<String>, String> {
        Ok(self.mx.get(name).cloned().unwrap_or_default())
    }
}

fn errors(f: &[Finding]) -> Vec<String> {
    f.iter()
        .filter_map(|x| match x {
            Finding::Error(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn the_published_zone_passes_and_mistakes_are_named() {
    let master = MasterKey::from_key(Key::generate());
    let domain = "mail.kinfold.test";
    let new = generate(domain, &master, 1_795_329_000_000).unwrap();
    // What the doctor expects comes from the stored (sealed) keys.
    let (rsa, ed) = records(&new.stored, &master).unwrap();
    assert_eq!((&rsa, &ed), (&new.rsa, &new.ed25519));
    let zone = Zone {
        domain,
        rsa: &new.rsa,
        ed25519: &new.ed25519,
        spf: "v=spf1 mx -all",
        dmarc_rua: "mailto:dmarc@mail.kinfold.test",
    }
    .render();
    let mut good = MapDns::default();
    for (name, value) in parse_txt(&zone) {
        good.txt.entry(name).or_default().push(value);
    }
    good.txt
        .get_mut("mail.kinfold.test.")
        .unwrap()
        .push("google-site-verification=abc".into());
    good.mx.insert(
        "mail.kinfold.test.".into(),
        vec!["mx.mail.kinfold.test.".into()],
    );
    let want = [rsa, ed];
    let findings = check(&good, domain, &want).await;
    assert!(errors(&findings).is_empty(), "{findings:?}");
    assert_eq!(
        findings.len(),
        5,
        "SPF, two DKIM keys, DMARC, MX: {findings:?}"
    );

    // Everything missing.
    let empty = check(&MapDns::default(), domain, &want).await;
    let e = errors(&empty);
    assert_eq!(e.len(), 4, "{empty:?}");
    assert!(e[0].contains("no `v=spf1`"));
    assert!(e[1].contains("no key published") && e[2].contains("no key published"));
    assert!(e[3].contains("no `v=DMARC1`"));
    assert!(empty
        .iter()
        .any(|f| matches!(f, Finding::Warning(m) if m.starts_with("MX"))));

    // Wrong in each way.
    let mut bad = good.clone();
    bad.txt.insert(
        "mail.kinfold.test.".into(),
        vec!["v=spf1 mx ~all".into(), "v=spf1 a -all".into()],
    );
    let sel = format!("{}._domainkey.mail.kinfold.test.", new.rsa.selector);
    bad.txt.insert(sel, vec![new.ed25519.value.clone()]);
    bad.txt.insert(
        "_dmarc.mail.kinfold.test.".into(),
        vec!["v=DMARC1; p=none".into()],
    );
    let found = check(&bad, domain, &want).await;
    let e = errors(&found);
    assert!(e.iter().any(|m| m.contains("2 `v=spf1` records")), "{e:?}");
    assert!(e.iter().any(|m| m.contains("another key")), "{e:?}");
    assert!(
        e.iter()
            .any(|m| m.contains("p must be reject (found none)")),
        "{e:?}"
    );
    assert!(found
        .iter()
        .any(|f| matches!(f, Finding::Warning(m) if m.contains("no rua="))));
    let mut soft = good.clone();
    soft.txt
        .insert("mail.kinfold.test.".into(), vec!["v=spf1 mx +all".into()]);
    let e = errors(&check(&soft, domain, &want).await);
    assert!(e.iter().any(|m| m.contains("must end in -all")), "{e:?}");
}
