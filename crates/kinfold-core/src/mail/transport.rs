//! Transports (E1): an SMTP relay through lettre (STARTTLS or implicit TLS, AUTH, pooled
//! connections), or a directory of `.eml` files for the demo.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use kinfold_crypto::private_fs;
use lettre::address::Envelope;
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::{Address, AsyncTransport, Tokio1Executor};

use super::MailError;

pub enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// Each message becomes `DIR/<message-id>.eml`, written atomically, mode 0600 in a 0700
    /// directory. Unencrypted: `serve` uses it only when told to (`email_transport = "file"`).
    File(PathBuf),
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Transport::Smtp(_) => f.write_str("Transport::Smtp(..)"),
            Transport::File(d) => write!(f, "Transport::File({})", d.display()),
        }
    }
}

/// Whether a plain `smtp://` URL points at this machine.
fn loopback(url: &str) -> bool {
    let rest = url.trim_start_matches("smtp://");
    let rest = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let host = rest
        .split(['/', '?'])
        .next()
        .unwrap_or_default()
        .trim_start_matches('[');
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
    .trim_end_matches(']');
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether a permanent SMTP refusal is about the recipient's address: enhanced status 5.1.x
/// (bad address) or 5.2.1 (mailbox disabled), or a 550/551/553 without an enhanced status.
/// Authentication (535), size (552), policy and content refusals (5.7.x) are not.
fn names_the_address(reply: &str) -> bool {
    let enhanced = reply
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == ':')
        .find(|w| {
            let parts: Vec<&str> = w.split('.').collect();
            parts.len() == 3
                && parts.first() == Some(&"5")
                && parts
                    .iter()
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        });
    match enhanced {
        Some(code) => code.starts_with("5.1.") || code == "5.2.1",
        None => ["550", "551", "553"].iter().any(|c| reply.contains(c)),
    }
}

impl Transport {
    /// An SMTP relay from lettre's URL syntax: `smtps://user:pass@host:465` (implicit TLS),
    /// `smtp://user:pass@host:587?tls=required` (STARTTLS). Plain `smtp://` without
    /// `tls=required` is allowed on loopback only.
    pub fn smtp(url: &str) -> Result<Self, MailError> {
        Self::smtp_pooled(url, 10)
    }

    /// Like [`Transport::smtp`], keeping up to `connections` connections open for reuse.
    pub fn smtp_pooled(url: &str, connections: u32) -> Result<Self, MailError> {
        let plain = url.starts_with("smtp://") && !url.contains("tls=required");
        if plain && !loopback(url) {
            return Err(MailError::Invalid {
                field: "smtp_url",
                reason: "plain SMTP is allowed on loopback only; use smtps:// or ?tls=required",
            });
        }
        let t = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|_| MailError::Invalid {
                field: "smtp_url",
                reason: "not an SMTP URL (smtp:// or smtps://)",
            })?
            .pool_config(lettre::transport::smtp::PoolConfig::new().max_size(connections.max(1)))
            .build();
        Ok(Transport::Smtp(t))
    }

    pub fn file(dir: &Path) -> Self {
        Transport::File(dir.to_path_buf())
    }

    /// Hands one signed message to the relay (or writes it). `message_id` is without brackets.
    pub async fn send(
        &self,
        from: &str,
        to: &str,
        message_id: &str,
        signed: &[u8],
    ) -> Result<(), MailError> {
        match self {
            Transport::Smtp(t) => {
                let parse = |field: &'static str, a: &str| {
                    a.parse::<Address>().map_err(|_| MailError::Invalid {
                        field,
                        reason: "not a well-formed email address",
                    })
                };
                let envelope = Envelope::new(Some(parse("from", from)?), vec![parse("to", to)?])
                    .map_err(|_| MailError::Invalid {
                        field: "to",
                        reason: "no recipient",
                    })?;
                t.send_raw(&envelope, signed).await.map_err(|e| {
                    let message = e.to_string();
                    if e.is_permanent() {
                        MailError::Rejected {
                            recipient: names_the_address(&message),
                            message,
                        }
                    } else {
                        MailError::Transport(message)
                    }
                })?;
                Ok(())
            }
            Transport::File(dir) => {
                let name: String = message_id
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || c == '-' {
                            c
                        } else {
                            '_'
                        }
                    })
                    .collect();
                // The files hold password-reset and enrollment links in the clear: the
                // directory is the service user's alone (0700), each file 0600.
                let io = |e: std::io::Error| MailError::Transport(e.to_string());
                private_fs::private_dir(dir).map_err(io)?;
                private_fs::write_atomic(&dir.join(format!("{name}.eml")), signed).map_err(io)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{loopback, names_the_address};

    #[test]
    fn only_refusals_of_the_address_are_hard_bounces() {
        for reply in [
            "permanent error (550): 5.1.1 no such mailbox",
            "permanent error (553): 5.1.3 bad address syntax",
            "permanent error (550): 5.2.1 mailbox disabled",
            "permanent error (550): user unknown",
        ] {
            assert!(names_the_address(reply), "{reply}");
        }
        for reply in [
            "permanent error (535): 5.7.8 authentication credentials invalid",
            "permanent error (552): 5.3.4 message too big",
            "permanent error (550): 5.7.1 rejected by DMARC policy",
            "permanent error (554): transaction failed",
        ] {
            assert!(!names_the_address(reply), "{reply}");
        }
    }

    #[test]
    fn plain_smtp_is_recognised_as_loopback_only_for_this_machine() {
        for url in [
            "smtp://127.0.0.1:2525",
            "smtp://localhost",
            "smtp://u:p@127.0.0.1:25",
            "smtp://[::1]:2525",
        ] {
            assert!(loopback(url), "{url}");
        }
        for url in [
            "smtp://relay.example:25",
            "smtp://127.0.0.1.evil.example:25",
            "smtp://u:p@10.0.0.5:25",
            "smtp://localhost.evil.example",
        ] {
            assert!(!loopback(url), "{url}");
        }
    }
}
