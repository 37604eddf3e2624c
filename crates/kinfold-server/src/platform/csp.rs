//! CSP violation reports (`report-uri` and the Reporting API). Stored with limits: the body
//! limit is 16 KiB, and each client IP, each node and each write in flight has its limit
//! (`kinfold_core::csp`); beyond them reports are dropped with 429.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;

use crate::api::reply::NoContent;
use crate::error::ErrorBody;
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

#[utoipa::path(operation_id = "csp_report", post, path = "/csp-reports", tag = "health", security(()), request_body(content = Object, description = "a CSP violation report"), responses((status = 204, description = "stored"), (status = 400, description = "`invalid_json`: not a JSON report", body = ErrorBody), (status = 413, description = "over 16 KiB", body = ErrorBody), (status = 429, description = "too many reports", body = ErrorBody)))]
pub async fn report(
    State(st): State<AppState>,
    client: Client,
    body: Bytes,
) -> Result<NoContent, ApiError> {
    if body.len() > MAX_REPORT {
        return Err(ApiError::http(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "a report may be at most 16 KiB",
        ));
    }
    let Some(permit) = st.core.csp_report_permit(client.info().ip.as_deref()) else {
        return Err(too_many());
    };
    let mut parsed: serde_json::Value = serde_json::from_slice(&body).map_err(|_| {
        ApiError::http(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "a report must be JSON",
        )
    })?;
    redact_link_tokens(&mut parsed);
    tracing::warn!(report = %parsed, "CSP violation reported");
    st.core
        .record_csp_report(permit, parsed.to_string())
        .await?;
    Ok(NoContent)
}

fn too_many() -> ApiError {
    ApiError::http(
        StatusCode::TOO_MANY_REQUESTS,
        "throttled",
        "too many reports",
    )
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
}
