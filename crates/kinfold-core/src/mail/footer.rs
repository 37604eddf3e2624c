//! The footer every message carries (E4, CAN-SPAM): the center's legal name and postal address,
//! and a link to unsubscribe or change preferences. A center without a legal name and a postal
//! address cannot send.

use super::MailError;

/// Who the message is from, as the law requires it to be stated.
pub struct Sender<'a> {
    pub legal_name: Option<&'a str>,
    pub postal_address: Option<&'a str>,
}

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The text and HTML bodies with the footer appended.
pub fn with_footer<'a>(
    text: &str,
    html: &str,
    sender: &Sender<'a>,
    preferences_url: &str,
) -> Result<(String, String), MailError> {
    let missing = || MailError::Invalid {
        field: "tenant",
        reason: "set the center's legal name and postal address before sending (CAN-SPAM)",
    };
    let present = |v: Option<&'a str>| v.map(str::trim).filter(|s| !s.is_empty());
    let legal = present(sender.legal_name).ok_or_else(missing)?;
    let address = present(sender.postal_address).ok_or_else(missing)?;
    if !preferences_url.starts_with("https://") && !preferences_url.starts_with("http://") {
        return Err(MailError::Invalid {
            field: "preferences_url",
            reason: "must be an http(s) URL",
        });
    }
    let text = format!(
        "{}\n\n-- \n{legal}\n{address}\nUnsubscribe or change your email preferences: {preferences_url}\n",
        text.trim_end()
    );
    let address_html = address
        .lines()
        .map(escape_html)
        .collect::<Vec<_>>()
        .join("<br>");
    let html = format!(
        "{html}\n<hr>\n<p style=\"font-size:12px;color:#555\">{}<br>{address_html}<br>\
         <a href=\"{}\">Unsubscribe or change your email preferences</a></p>\n",
        escape_html(legal),
        escape_html(preferences_url)
    );
    Ok((text, html))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_footer_names_the_center_and_links_the_preferences() {
        let s = Sender {
            legal_name: Some("Maple Grove <Early> Learning, LLC"),
            postal_address: Some("1200 Example Avenue\nSpringfield, OR 97477"),
        };
        let (text, html) = with_footer("Hello.", "<p>Hello.</p>", &s, "https://k.example/u/abc")
            .unwrap_or_default();
        assert!(text.ends_with(
            "-- \nMaple Grove <Early> Learning, LLC\n1200 Example Avenue\nSpringfield, OR 97477\nUnsubscribe or change your email preferences: https://k.example/u/abc\n"
        ));
        assert!(html.contains("Maple Grove &lt;Early&gt; Learning, LLC<br>1200 Example Avenue<br>Springfield, OR 97477"));
        assert!(html.contains("<a href=\"https://k.example/u/abc\">"));
    }

    #[test]
    fn a_center_without_legal_name_or_address_cannot_send() {
        for (legal, address) in [
            (None, Some("1 Main St")),
            (Some("X LLC"), None),
            (Some(" "), Some("1 Main St")),
        ] {
            let s = Sender {
                legal_name: legal,
                postal_address: address,
            };
            assert!(matches!(
                with_footer("t", "h", &s, "https://k.example/u/a"),
                Err(MailError::Invalid {
                    field: "tenant",
                    ..
                })
            ));
        }
        let s = Sender {
            legal_name: Some("X LLC"),
            postal_address: Some("1 Main St"),
        };
        assert!(with_footer("t", "h", &s, "javascript:alert(1)").is_err());
    }
}
