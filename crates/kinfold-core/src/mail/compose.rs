//! Composing a message (E1, E3, E4): `multipart/alternative` with text/plain first, then HTML;
//! `From` is the sending domain with the center's name, `Reply-To` the center, the Message-ID
//! on the sending domain, and the one-click unsubscribe headers (RFC 8058).

use std::time::SystemTime;

use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::{Address, Message};

use super::MailError;

pub struct Outgoing<'a> {
    /// The center's name, shown as the sender.
    pub from_name: &'a str,
    /// An address on the sending domain.
    pub from_address: &'a str,
    /// The center's own address.
    pub reply_to: Option<&'a str>,
    pub to: &'a str,
    pub subject: &'a str,
    pub text: String,
    pub html: String,
    /// Without angle brackets: `ID@SENDING-DOMAIN`.
    pub message_id: &'a str,
    /// `https://HOST/u/TOKEN`.
    pub unsubscribe_url: &'a str,
}

fn address(field: &'static str, raw: &str) -> Result<Address, MailError> {
    raw.parse().map_err(|_| MailError::Invalid {
        field,
        reason: "not a well-formed email address",
    })
}

/// Header values must be one line: a CR or LF would start a new header (injection).
fn one_line(field: &'static str, raw: &str) -> Result<String, MailError> {
    if raw.chars().any(|c| c == '\r' || c == '\n' || c == '\0') {
        return Err(MailError::Invalid {
            field,
            reason: "may not contain line breaks",
        });
    }
    Ok(raw.to_owned())
}

/// The message as sent, before signing (CRLF line endings).
pub fn compose(m: &Outgoing<'_>, date: SystemTime) -> Result<Vec<u8>, MailError> {
    let from = Mailbox::new(
        Some(one_line("from_name", m.from_name)?),
        address("from_address", m.from_address)?,
    );
    let to = Mailbox::new(None, address("to", m.to)?);
    let mut b = Message::builder()
        .from(from)
        .to(to)
        .subject(one_line("subject", m.subject)?)
        .date(date)
        .message_id(Some(format!("<{}>", one_line("message_id", m.message_id)?)))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("List-Unsubscribe"),
            format!("<{}>", one_line("unsubscribe_url", m.unsubscribe_url)?),
        ))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
            "List-Unsubscribe=One-Click".to_owned(),
        ));
    if let Some(r) = m.reply_to {
        b = b.reply_to(Mailbox::new(None, address("reply_to", r)?));
    }
    let msg = b
        .multipart(MultiPart::alternative_plain_html(
            m.text.clone(),
            m.html.clone(),
        ))
        .map_err(|_| MailError::Invalid {
            field: "message",
            reason: "cannot be built",
        })?;
    Ok(msg.formatted())
}
