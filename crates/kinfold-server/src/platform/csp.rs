//! CSP violation reports (`report-uri` and the Reporting API). Stored with limits: the body
//! limit is 16 KiB, and each client IP, each node and each write in flight has its limit
//! (`kinfold_core::csp`); beyond them reports are dropped with 429.

use axum::extract::{Request, State};

use crate::api::reply::NoContent;
use crate::error::ErrorBody;
use crate::error::Refusal;
use crate::extract::Client;
use crate::{ApiError, AppState};

const MAX_REPORT: usize = 16 * 1024;

/// Pages whose path carries a bearer token: a report quotes the page's URL, and the token must
/// reach neither the log nor the report table.
const TOKEN_PATHS: [&str; 3] = ["/reset/", "/enroll/", "/u/"];

/// Replaces the token after each of [`TOKEN_PATHS`] in every string of a report.
pub fn redact_link_tokens(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) if TOKEN_PATHS.iter().any(|p| s.contains(p)) => {
            *s = redact(s);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact_link_tokens),
        serde_json::Value::Object(map) => map.values_mut().for_each(redact_link_tokens),
        _ => {}
    }
}

fn redact(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some((at, marker)) = TOKEN_PATHS
        .iter()
        .filter_map(|m| rest.find(m).map(|i| (i, *m)))
        .min_by_key(|(i, _)| *i)
    {
        let (head, tail) = rest.split_at(at + marker.len());
        out.push_str(head);
        let end = tail.find(['/', '?', '#', '"', ' ']).unwrap_or(tail.len());
        if end > 0 {
            out.push_str("REDACTED");
        }
        rest = tail.get(end..).unwrap_or("");
    }
    out.push_str(rest);
    out
}

#[utoipa::path(operation_id = "csp_report", post, path = "/csp-reports", tag = "health", security(()), request_body(content = Object, description = "a CSP violation report"), responses((status = 204, description = "stored"), (status = 400, description = "`invalid_json`: not a JSON report", body = ErrorBody), (status = 413, description = "over 16 KiB, as sent or once its link tokens are redacted", body = ErrorBody), (status = 429, description = "too many reports", body = ErrorBody)))]
pub async fn report(
    State(st): State<AppState>,
    client: Client,
    req: Request,
) -> Result<NoContent, ApiError> {
    // The address's own limit comes before its body is read; the body is read no further
    // than 16 KiB, whatever the server's body limit.
    if !st.core.csp_address_allowed(client.info().ip.as_deref()) {
        return Err(too_many());
    }
    let body = axum::body::to_bytes(req.into_body(), MAX_REPORT)
        .await
        .map_err(|_| too_large())?;
    let mut parsed: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|_| ApiError::refused(Refusal::InvalidJson, "a report must be JSON"))?;
    redact_link_tokens(&mut parsed);
    // Redaction can lengthen a report (`/u/a` becomes `/u/REDACTED`): the limit holds for
    // what is stored.
    let stored = parsed.to_string();
    if stored.len() > MAX_REPORT {
        return Err(too_large());
    }
    // The write in flight and the node's limit are spent only on a report that will be stored.
    let Some(permit) = st.core.csp_report_permit() else {
        return Err(too_many());
    };
    // The log gets a line, not the report: what was refused, where, cut short.
    tracing::warn!(
        directive = field(
            &parsed,
            &[
                "violated-directive",
                "effectiveDirective",
                "effective-directive"
            ]
        ),
        blocked = field(&parsed, &["blocked-uri", "blockedURL"]),
        page = field(&parsed, &["document-uri", "documentURL"]),
        "CSP violation reported"
    );
    st.core.record_csp_report(permit, stored).await?;
    Ok(NoContent)
}

/// The first of `names` found in a report (`report-uri`'s `csp-report` object, or the
/// Reporting API's list of `{type, body}`), cut to 200 characters.
fn field(report: &serde_json::Value, names: &[&str]) -> String {
    let bodies = [
        report.get("csp-report"),
        report.get(0).and_then(|r| r.get("body")),
        Some(report),
    ];
    let found = bodies
        .into_iter()
        .flatten()
        .find_map(|b| names.iter().find_map(|n| b.get(*n)?.as_str()))
        .unwrap_or("-");
    found.chars().take(200).collect()
}

fn too_large() -> ApiError {
    ApiError::refused(Refusal::PayloadTooLarge, "a report may be at most 16 KiB")
}

fn too_many() -> ApiError {
    ApiError::refused(Refusal::Throttled, "too many reports")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_tokens_are_redacted_everywhere_in_a_report() {
        let mut v = serde_json::json!({"csp-report": {
            "document-uri": "https://k.example/reset/AbC-123_x?y=1",
            "referrer": "https://k.example/enroll/tok/extra and /u/zzz",
            "blocked-uri": ["inline", "https://k.example/login"],
            "line-number": 3
        }});
        redact_link_tokens(&mut v);
        let r = &v["csp-report"];
        assert_eq!(r["document-uri"], "https://k.example/reset/REDACTED?y=1");
        assert_eq!(
            r["referrer"],
            "https://k.example/enroll/REDACTED/extra and /u/REDACTED"
        );
        assert_eq!(r["blocked-uri"][1], "https://k.example/login");
        assert_eq!(r["line-number"], 3);
        assert_eq!(redact("/reset/"), "/reset/");
    }

    #[test]
    fn the_log_line_takes_a_reports_fields_from_either_form_cut_short() {
        let old = serde_json::json!({"csp-report": {"violated-directive": "script-src", "blocked-uri": "x".repeat(500)}});
        assert_eq!(field(&old, &["violated-directive"]), "script-src");
        assert_eq!(field(&old, &["blocked-uri"]).len(), 200);
        let api = serde_json::json!([{"type": "csp-violation", "body": {"effectiveDirective": "img-src", "documentURL": "https://k.example/"}}]);
        assert_eq!(
            field(&api, &["violated-directive", "effectiveDirective"]),
            "img-src"
        );
        assert_eq!(
            field(&api, &["document-uri", "documentURL"]),
            "https://k.example/"
        );
        assert_eq!(field(&api, &["blocked-uri", "blockedURL"]), "-");
    }
}
