//! Message templates: the subject and bodies a center writes may name `{{guardian_name}}` and
//! `{{center_name}}`, filled in per recipient. Nothing else is a variable, and an unknown or
//! unclosed one is refused when the message is queued, never found at delivery.

use crate::CoreError;

/// The variables a message may use.
pub const VARIABLES: [&str; 2] = ["guardian_name", "center_name"];

/// Values for one recipient.
pub struct Values<'a> {
    pub guardian_name: &'a str,
    pub center_name: &'a str,
}

impl Values<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        match name {
            "guardian_name" => Some(self.guardian_name),
            "center_name" => Some(self.center_name),
            _ => None,
        }
    }
}

/// Pieces of a template: literal text, and variable names.
enum Piece<'a> {
    Text(&'a str),
    Var(&'a str),
}

fn pieces<'a>(field: &'static str, t: &'a str) -> Result<Vec<Piece<'a>>, CoreError> {
    let mut out = Vec::new();
    let mut rest = t;
    while let Some(open) = rest.find("{{") {
        out.push(Piece::Text(&rest[..open]));
        let after = &rest[open + 2..];
        let close = after
            .find("}}")
            .ok_or_else(|| CoreError::invalid(field, "has a `{{` without a closing `}}`"))?;
        let name = after[..close].trim();
        if !VARIABLES.contains(&name) {
            let shown: String = name.chars().take(40).collect();
            return Err(CoreError::invalid(
                field,
                format!(
                    "unknown template variable `{{{{{shown}}}}}`; known: {}",
                    VARIABLES.join(", ")
                ),
            ));
        }
        out.push(Piece::Var(name));
        rest = &after[close + 2..];
    }
    out.push(Piece::Text(rest));
    Ok(out)
}

/// Refuses unknown or unclosed variables.
pub fn check(field: &'static str, t: &str) -> Result<(), CoreError> {
    pieces(field, t).map(|_| ())
}

/// Fills in the variables; `escape` is applied to the values only (HTML bodies).
pub fn render(t: &str, v: &Values<'_>, escape: fn(&str) -> String) -> Result<String, CoreError> {
    let mut out = String::with_capacity(t.len() + 64);
    for p in pieces("template", t)? {
        match p {
            Piece::Text(s) => out.push_str(s),
            Piece::Var(name) => out.push_str(&escape(v.get(name).unwrap_or_default())),
        }
    }
    Ok(out)
}

pub fn plain(s: &str) -> String {
    s.to_owned()
}

pub use crate::mail::footer::escape_html;

/// The HTML body for a message written as text only: escaped, one paragraph per blank-line
/// separated block, line breaks kept.
pub fn html_from_text(text: &str, center_name: &str) -> String {
    let paragraphs: Vec<String> = text
        .replace("\r\n", "\n")
        .split("\n\n")
        .filter(|p| !p.trim().is_empty())
        .map(|p| format!("<p>{}</p>", escape_html(p.trim()).replace('\n', "<br>\n")))
        .collect();
    format!(
        "<!doctype html>\n<html><body style=\"font-family:sans-serif;line-height:1.5\">\n\
         <h2 style=\"font-size:18px\">{}</h2>\n{}\n</body></html>",
        escape_html(center_name),
        paragraphs.join("\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v() -> Values<'static> {
        Values {
            guardian_name: "Ana <B>",
            center_name: "Maple Grove",
        }
    }

    #[test]
    fn variables_are_filled_and_escaped_for_html() {
        let t = "Dear {{guardian_name}}, news from {{ center_name }}.";
        assert_eq!(
            render(t, &v(), plain).unwrap(),
            "Dear Ana <B>, news from Maple Grove."
        );
        assert_eq!(
            render(t, &v(), escape_html).unwrap(),
            "Dear Ana &lt;B&gt;, news from Maple Grove."
        );
    }

    #[test]
    fn unknown_and_unclosed_variables_are_refused() {
        for (t, says) in [
            ("Hi {{child_medical_notes}}", "unknown template variable"),
            ("Hi {{guardian_name", "without a closing"),
            ("{{}}", "unknown template variable"),
        ] {
            let e = check("text", t).unwrap_err();
            assert!(e.to_string().contains(says), "{t}: {e}");
            assert!(e.to_string().starts_with("text:"), "names the field: {e}");
        }
        assert!(check("text", "no variables, { single } braces").is_ok());
    }

    #[test]
    fn text_becomes_escaped_paragraphs() {
        let h = html_from_text("Line one\nline <two>\n\nSecond", "A&B");
        assert!(h.contains("<p>Line one<br>\nline &lt;two&gt;</p>"), "{h}");
        assert!(h.contains("<p>Second</p>"));
        assert!(h.contains("A&amp;B"));
    }
}
