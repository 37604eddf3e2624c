//! The DNS records a sending domain needs (E2), in zone-file syntax: a `$ORIGIN DOMAIN.` line,
//! then one `name ttl IN TXT "..."` record per line, long values split into quoted strings of
//! at most 255 characters inside parentheses.

use super::dkim::DkimRecord;

const TTL: u32 = 3600;

/// What goes into `DIR/dns/DOMAIN.zone`.
pub struct Zone<'a> {
    pub domain: &'a str,
    pub rsa: &'a DkimRecord,
    pub ed25519: &'a DkimRecord,
    /// The SPF record, e.g. `v=spf1 mx include:relay.example -all`.
    pub spf: &'a str,
    /// Where aggregate DMARC reports go, e.g. `mailto:dmarc@example.org`.
    pub dmarc_rua: &'a str,
}

fn quoted(value: &str) -> String {
    let parts: Vec<String> = value
        .as_bytes()
        .chunks(255)
        .map(|c| format!("\"{}\"", String::from_utf8_lossy(c)))
        .collect();
    if parts.len() == 1 {
        parts.concat()
    } else {
        format!("( {} )", parts.join(" "))
    }
}

impl Zone<'_> {
    pub fn render(&self) -> String {
        let dmarc = format!(
            "v=DMARC1; p=reject; rua={}; adkim=s; aspf=s; pct=100",
            self.dmarc_rua
        );
        let records = [
            (
                format!("{}._domainkey", self.rsa.selector),
                self.rsa.value.as_str(),
            ),
            (
                format!("{}._domainkey", self.ed25519.selector),
                self.ed25519.value.as_str(),
            ),
            ("@".to_owned(), self.spf),
            ("_dmarc".to_owned(), dmarc.as_str()),
        ];
        let mut out = format!("$ORIGIN {}.\n", self.domain);
        for (name, value) in records {
            out.push_str(&format!("{name} {TTL} IN TXT {}\n", quoted(value)));
        }
        out
    }
}

/// Reads the TXT records of a zone in the syntax above, as (fully qualified name with a
/// trailing dot, value with its strings joined). Lines it does not understand are skipped.
pub fn parse_txt(zone: &str) -> Vec<(String, String)> {
    let mut origin = String::new();
    let mut out = Vec::new();
    for line in zone.lines() {
        let line = line.trim();
        if let Some(o) = line.strip_prefix("$ORIGIN") {
            origin = o.trim().to_owned();
            continue;
        }
        let Some((head, rest)) = line.split_once(" IN TXT ") else {
            continue;
        };
        let Some(name) = head.split_whitespace().next() else {
            continue;
        };
        let fqdn = match name {
            "@" => origin.clone(),
            n if n.ends_with('.') => n.to_owned(),
            n => format!("{n}.{origin}"),
        };
        let mut value = String::new();
        let mut inside = false;
        for c in rest.chars() {
            match c {
                '"' => inside = !inside,
                c if inside => value.push(c),
                _ => {}
            }
        }
        out.push((fqdn.to_ascii_lowercase(), value));
    }
    out
}
