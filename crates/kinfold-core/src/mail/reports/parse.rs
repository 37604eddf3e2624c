//! Bounce and complaint reports (E5), from wherever they come:
//! - a Mailgun webhook (`signature.timestamp` + `signature.token`, HMAC-SHA256 with the
//!   webhook signing key, at most [`MAX_AGE_SECS`] old);
//! - Kinfold's generic signed JSON: the header `Kinfold-Signature: t=UNIX,v1=HEX`, HMAC-SHA256 of
//!   `t.BODY` with the shared secret (the same scheme signs raw reports posted over HTTP);
//! - raw mail: a DSN (RFC 3464, `multipart/report; report-type=delivery-status`) or an ARF
//!   complaint (RFC 5965, `report-type=feedback-report`).
//!
//! Signatures are checked in constant time before anything in the body is believed.

use hmac::{Hmac, Mac};
use mail_parser::{MessageParser, MimeHeaders, PartType};
use serde::Deserialize;
use sha2::Sha256;

/// How old a signed webhook may be, either way, in seconds.
pub const MAX_AGE_SECS: i64 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Permanent failure: the address is suppressed.
    HardBounce,
    /// Temporary failure, reported after the relay accepted the message: logged.
    SoftBounce,
    /// The recipient marked the message as spam: the address is suppressed.
    Complaint,
    Delivered,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::HardBounce => "hard_bounce",
            Kind::SoftBounce => "soft_bounce",
            Kind::Complaint => "complaint",
            Kind::Delivered => "delivered",
        }
    }
}

/// One recipient's outcome, as a report states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub kind: Kind,
    /// Lower-cased.
    pub recipient: String,
    /// The Message-ID of the message reported on, without angle brackets.
    pub message_id: Option<String>,
    /// What the report says, for the delivery log (at most 300 characters).
    pub detail: String,
}

/// Why a report was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    #[error("the signature does not match")]
    Signature,
    #[error("the timestamp is more than 5 minutes away from now")]
    Stale,
    #[error("malformed report: {0}")]
    Malformed(&'static str),
    /// A well-formed, genuine event Kinfold does not act on (opens, clicks...).
    #[error("ignored: {0}")]
    Ignored(String),
}

fn mac(key: &[u8]) -> Result<Hmac<Sha256>, ReportError> {
    Hmac::<Sha256>::new_from_slice(key).map_err(|_| ReportError::Signature)
}

fn fresh(timestamp: i64, now_secs: i64) -> Result<(), ReportError> {
    if (now_secs - timestamp).abs() > MAX_AGE_SECS {
        return Err(ReportError::Stale);
    }
    Ok(())
}

/// Checks the MAC; returns it in one canonical spelling (lower-case hex), for replay checks.
fn verify_hex(m: Hmac<Sha256>, hex_sig: &str) -> Result<String, ReportError> {
    let sig = hex::decode(hex_sig.trim()).map_err(|_| ReportError::Signature)?;
    m.verify_slice(&sig).map_err(|_| ReportError::Signature)?;
    Ok(hex::encode(sig))
}

fn clip(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(300).collect()
}

fn bare_id(s: &str) -> Option<String> {
    let id = s
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    (!id.is_empty() && id.len() <= 250).then(|| id.to_owned())
}

fn address(s: &str) -> Result<String, ReportError> {
    let a = s
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim();
    if a.len() > 254 || a.parse::<lettre::Address>().is_err() {
        return Err(ReportError::Malformed("recipient is not an email address"));
    }
    Ok(a.to_ascii_lowercase())
}

// --- Mailgun -----------------------------------------------------------------------------

#[derive(Deserialize)]
struct MailgunBody {
    signature: MailgunSignature,
    #[serde(rename = "event-data")]
    event: MailgunEvent,
}

#[derive(Deserialize)]
struct MailgunSignature {
    timestamp: String,
    token: String,
    signature: String,
}

#[derive(Deserialize)]
struct MailgunEvent {
    /// The event's own ID: Mailgun sends one event again with a new token when it retries.
    #[serde(default)]
    id: Option<String>,
    event: String,
    #[serde(default)]
    severity: Option<String>,
    recipient: String,
    #[serde(default)]
    message: Option<MailgunMessage>,
    #[serde(default, rename = "delivery-status")]
    status: Option<MailgunStatus>,
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Deserialize)]
struct MailgunMessage {
    headers: MailgunHeaders,
}

#[derive(Deserialize)]
struct MailgunHeaders {
    #[serde(rename = "message-id")]
    message_id: Option<String>,
}

#[derive(Deserialize)]
struct MailgunStatus {
    code: Option<serde_json::Value>,
    description: Option<String>,
    message: Option<String>,
}

/// What makes one signed webhook request unique, so that it is taken once: the keys to remember
/// and the signed timestamp. A key needs remembering only until the freshness window after
/// `signed_at` has passed; after that the signature itself is refused as stale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayKeys {
    /// Unix seconds, as signed.
    pub signed_at: i64,
    /// Each spelled `kind:value`; a request is a replay when any of them was seen.
    pub keys: Vec<String>,
}

impl ReplayKeys {
    /// Unix milliseconds until which the keys are kept: the freshness window once more past
    /// its end, so a node whose clock runs fast (and purges early) cannot reopen the window
    /// on a node whose clock runs slow.
    pub fn expires_ms(&self) -> i64 {
        self.signed_at
            .saturating_add(2 * MAX_AGE_SECS)
            .saturating_add(1)
            .saturating_mul(1000)
    }
}

/// A Mailgun webhook body. Mailgun signs only the timestamp and token, not the event data, so
/// the replay keys are the token and the event's ID: a captured signature carrying other event
/// data is the same token.
pub fn mailgun(
    body: &[u8],
    key: &[u8],
    now_secs: i64,
) -> Result<(Report, ReplayKeys), ReportError> {
    let b: MailgunBody =
        serde_json::from_slice(body).map_err(|_| ReportError::Malformed("not a Mailgun event"))?;
    let ts: i64 = b
        .signature
        .timestamp
        .parse()
        .map_err(|_| ReportError::Malformed("signature.timestamp"))?;
    let mut m = mac(key)?;
    m.update(b.signature.timestamp.as_bytes());
    m.update(b.signature.token.as_bytes());
    verify_hex(m, &b.signature.signature)?;
    fresh(ts, now_secs)?;
    let e = b.event;
    let kind = match (e.event.as_str(), e.severity.as_deref()) {
        ("failed", Some("permanent")) => Kind::HardBounce,
        ("failed", _) => Kind::SoftBounce,
        ("complained", _) => Kind::Complaint,
        ("delivered", _) => Kind::Delivered,
        (other, _) => return Err(ReportError::Ignored(clip(other))),
    };
    let detail = match &e.status {
        Some(s) => format!(
            "{} {}",
            s.code.as_ref().map(|c| c.to_string()).unwrap_or_default(),
            s.description
                .as_deref()
                .filter(|d| !d.is_empty())
                .or(s.message.as_deref())
                .unwrap_or_default()
        ),
        None => e.reason.clone().unwrap_or_default(),
    };
    let report = Report {
        kind,
        recipient: address(&e.recipient)?,
        message_id: e
            .message
            .and_then(|m| m.headers.message_id)
            .and_then(|m| bare_id(&m)),
        detail: clip(&format!("mailgun {}: {}", e.event, detail.trim())),
    };
    let mut keys = vec![format!("token:{}", b.signature.token)];
    if let Some(id) = e.id.filter(|id| !id.is_empty()) {
        keys.push(format!("event:{id}"));
    }
    Ok((
        report,
        ReplayKeys {
            signed_at: ts,
            keys,
        },
    ))
}

// --- Kinfold's signed JSON ------------------------------------------------------------------

/// Checks `Kinfold-Signature: t=UNIX,v1=HEX` over `t.BODY`. Returns the timestamp and the
/// MAC in canonical hex: however the header is spelled, one signed request has one replay key.
pub fn check_signature(
    body: &[u8],
    header: &str,
    key: &[u8],
    now_secs: i64,
) -> Result<(i64, String), ReportError> {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = Some(v),
            Some(("v1", v)) => v1 = Some(v),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return Err(ReportError::Signature);
    };
    let ts: i64 = t.parse().map_err(|_| ReportError::Signature)?;
    let mut m = mac(key)?;
    m.update(t.as_bytes());
    m.update(b".");
    m.update(body);
    let mac = verify_hex(m, v1)?;
    fresh(ts, now_secs)?;
    Ok((ts, mac))
}

/// The `Kinfold-Signature` value for `body` at `now_secs`, for senders of generic events.
pub fn sign(body: &[u8], key: &[u8], now_secs: i64) -> Option<String> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).ok()?;
    m.update(now_secs.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    Some(format!(
        "t={now_secs},v1={}",
        hex::encode(m.finalize().into_bytes())
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GenericBody {
    event: String,
    recipient: String,
    message_id: Option<String>,
    detail: Option<String>,
}

/// `{"event": "bounce" | "soft_bounce" | "complaint" | "delivered", "recipient", "message_id"?,
/// "detail"?}`, after [`check_signature`].
pub fn generic(body: &[u8]) -> Result<Report, ReportError> {
    let b: GenericBody = serde_json::from_slice(body)
        .map_err(|_| ReportError::Malformed("expected {event, recipient, message_id, detail}"))?;
    let kind = match b.event.as_str() {
        "bounce" | "hard_bounce" => Kind::HardBounce,
        "soft_bounce" => Kind::SoftBounce,
        "complaint" => Kind::Complaint,
        "delivered" => Kind::Delivered,
        _ => return Err(ReportError::Malformed("event")),
    };
    Ok(Report {
        kind,
        recipient: address(&b.recipient)?,
        message_id: b.message_id.as_deref().and_then(bare_id),
        detail: clip(&format!(
            "report {}: {}",
            b.event,
            b.detail.unwrap_or_default()
        )),
    })
}

// --- Raw DSN and ARF ------------------------------------------------------------------------

/// Header-style fields, in blocks separated by blank lines; folded lines joined, names
/// lower-cased.
fn field_blocks(text: &str) -> Vec<Vec<(String, String)>> {
    let mut blocks: Vec<Vec<(String, String)>> = vec![Vec::new()];
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            if blocks.last().is_some_and(|b| !b.is_empty()) {
                blocks.push(Vec::new());
            }
            continue;
        }
        let Some(block) = blocks.last_mut() else {
            continue;
        };
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = block.last_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            block.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    blocks.retain(|b| !b.is_empty());
    blocks
}

fn field<'a>(block: &'a [(String, String)], name: &str) -> Option<&'a str> {
    block
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// `rfc822; user@example.org` -> the address.
fn typed_address(v: &str) -> &str {
    v.split_once(';').map_or(v, |(_, a)| a).trim()
}

fn part_text(body: &PartType<'_>) -> Option<String> {
    match body {
        PartType::Text(t) | PartType::Html(t) => Some(t.to_string()),
        PartType::Binary(b) | PartType::InlineBinary(b) => {
            Some(String::from_utf8_lossy(b).into_owned())
        }
        _ => None,
    }
}

/// A DSN or an ARF report, one [`Report`] per recipient it names.
pub fn raw(mail: &[u8]) -> Result<Vec<Report>, ReportError> {
    let msg = MessageParser::new()
        .parse(mail)
        .ok_or(ReportError::Malformed("not a mail message"))?;
    let mut status = None;
    let mut feedback = None;
    let mut original_id = None;
    let mut original_to = None;
    for part in &msg.parts {
        if part.is_content_type("message", "delivery-status")
            || part.is_content_type("message", "global-delivery-status")
        {
            status = part_text(&part.body);
        } else if part.is_content_type("message", "feedback-report") {
            feedback = part_text(&part.body);
        } else if part.is_content_type("text", "rfc822-headers") {
            if let Some(t) = part_text(&part.body) {
                let block = field_blocks(&t).into_iter().next().unwrap_or_default();
                original_id = field(&block, "message-id").and_then(bare_id);
                original_to = field(&block, "to").map(str::to_owned);
            }
        } else if let PartType::Message(inner) = &part.body {
            original_id = inner.message_id().and_then(bare_id);
            original_to = inner
                .to()
                .and_then(|a| a.first())
                .and_then(|a| a.address())
                .map(str::to_owned);
        }
    }
    if let Some(text) = feedback {
        let blocks = field_blocks(&text);
        let block = blocks
            .first()
            .ok_or(ReportError::Malformed("empty feedback report"))?;
        let ftype = field(block, "feedback-type")
            .unwrap_or("abuse")
            .to_ascii_lowercase();
        if ftype == "not-spam" {
            return Err(ReportError::Ignored("not-spam feedback".into()));
        }
        let rcpt = field(block, "original-rcpt-to")
            .map(typed_address)
            .or(original_to.as_deref())
            .ok_or(ReportError::Malformed(
                "no recipient in the feedback report",
            ))?;
        return Ok(vec![Report {
            kind: Kind::Complaint,
            recipient: address(rcpt)?,
            message_id: original_id,
            detail: clip(&format!("feedback report: {ftype}")),
        }]);
    }
    let text = status.ok_or(ReportError::Malformed(
        "neither a delivery status notification nor a feedback report",
    ))?;
    let mut out = Vec::new();
    for block in field_blocks(&text) {
        let Some(rcpt) = field(&block, "final-recipient").or(field(&block, "original-recipient"))
        else {
            continue;
        };
        let action = field(&block, "action")
            .unwrap_or_default()
            .to_ascii_lowercase();
        let code = field(&block, "status").unwrap_or_default();
        let kind = match (action.as_str(), code.chars().next()) {
            ("failed", Some('4')) | ("delayed", _) => Kind::SoftBounce,
            ("failed", _) => Kind::HardBounce,
            ("delivered" | "relayed" | "expanded", _) => Kind::Delivered,
            _ => continue,
        };
        let diagnostic = field(&block, "diagnostic-code")
            .map(typed_address)
            .unwrap_or_default();
        out.push(Report {
            kind,
            recipient: address(typed_address(rcpt))?,
            message_id: original_id.clone(),
            detail: clip(&format!("dsn {action} {code} {diagnostic}")),
        });
    }
    if out.is_empty() {
        return Err(ReportError::Malformed(
            "the delivery status names no recipient",
        ));
    }
    Ok(out)
}
