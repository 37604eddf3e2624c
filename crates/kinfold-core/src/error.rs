//! Core's error type, and the one table from each error to its HTTP status and stable code
//! ([`CoreError::kind`]). The server only turns the number into a status line; the console shows
//! the same code. Messages here are safe to show to the client; internal detail travels in
//! `Store`/`Crypto`/`Internal` and is logged, never sent.

use crate::mail::reports::ReportError;
use kinfold_crypto::password::Weakness;

/// How an error is answered: the HTTP status and the stable, snake_case code clients match on.
/// Kept beside the errors so a new variant cannot compile without both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorKind {
    pub status: u16,
    pub code: &'static str,
}

impl ErrorKind {
    pub const fn new(status: u16, code: &'static str) -> Self {
        Self { status, code }
    }

    /// The answer to every internal failure: its detail goes to the log only.
    pub const INTERNAL: Self = Self::new(500, "internal");
    // The kinds both core's errors and the HTTP layer's own refusals answer with, spelled once.
    pub const UNAUTHENTICATED: Self = Self::new(401, "unauthenticated");
    pub const FORBIDDEN: Self = Self::new(403, "forbidden");
    pub const NOT_FOUND: Self = Self::new(404, "not_found");
    pub const INVALID_INPUT: Self = Self::new(422, "invalid_input");
    pub const THROTTLED: Self = Self::new(429, "throttled");
    pub const UNAVAILABLE: Self = Self::new(503, "unavailable");

    /// Whether the detail behind this answer must stay in the log.
    pub fn is_internal(self) -> bool {
        self == Self::INTERNAL
    }
}

/// The `Retry-After` of every `503`, whichever layer answers it (O1): the store out of reach,
/// a commit whose outcome is unknown, a request past its time, a node not ready.
pub const UNAVAILABLE_RETRY_SECS: u64 = 2;

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("the tenant, email or password is not right")]
    InvalidCredentials,
    #[error("this account must enroll a second factor through its enrollment link first")]
    MfaEnrollmentRequired,
    #[error("the sign-in step has expired or was already used; sign in again")]
    InvalidMfaToken,
    #[error("the code is not right, or was already used")]
    InvalidCode,
    #[error("the enrollment link is invalid, expired or already used")]
    InvalidEnrollment,
    #[error("the password reset link is invalid, expired or already used; ask for a new one")]
    InvalidResetLink,
    #[error("too many attempts; try again in {retry_after_secs} s")]
    Throttled { retry_after_secs: u64 },
    #[error("the server is busy; try again shortly")]
    Busy { retry_after_secs: u64 },
    #[error("sign in first")]
    Unauthenticated,
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("password: {}", .0.message())]
    WeakPassword(Weakness),
    #[error("{0} already exists")]
    Conflict(&'static str),
    #[error("{0}")]
    WrongState(&'static str),
    #[error("sending is paused: {bounce_pct:.2}% of this center's recent email bounced and {complaint_pct:.3}% drew spam complaints, above this server's limits. Remove addresses that bounce; sending resumes when the rates fall")]
    SendingPaused { bounce_pct: f64, complaint_pct: f64 },
    #[error("pickup refused: {0}")]
    PickupRefused(crate::attendance::Refusal),
    /// A bounce or complaint report that was refused (bad or stale signature, malformed). An
    /// `Ignored` report is answered 200 by the webhook before it could become an error.
    #[error(transparent)]
    Report(#[from] ReportError),
    /// The database cannot be reached or take the write just now
    /// ([`kinfold_store::StoreError::is_unavailable`]): nothing was committed, and the same
    /// request may succeed shortly. The source is logged, like an internal failure's.
    #[error("the database is unavailable just now; try again shortly")]
    Unavailable(#[source] kinfold_store::StoreError),
    /// The database connection failed while a change was being committed: it may or may not
    /// have been saved ([`kinfold_store::StoreError::CommitUnknown`]). `Retry-After` says when
    /// to look (the database is expected back by then); the body says to look before sending
    /// the change again. Logged, like an internal failure.
    #[error("the change may or may not have been saved (the database connection failed while committing it); check before sending it again")]
    OutcomeUnknown(#[source] kinfold_store::StoreError),
    #[error("storage failure")]
    Store(#[source] kinfold_store::StoreError),
    #[error("cryptographic failure")]
    Crypto(#[from] kinfold_crypto::CryptoError),
    /// The text is the detail for the log; the client only ever sees the code.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<kinfold_store::StoreError> for CoreError {
    fn from(e: kinfold_store::StoreError) -> Self {
        match e {
            kinfold_store::StoreError::Conflict(what) => CoreError::Conflict(what),
            kinfold_store::StoreError::NotFound(what) => CoreError::NotFound(what),
            kinfold_store::StoreError::WrongState(why) => CoreError::WrongState(why),
            other @ kinfold_store::StoreError::CommitUnknown(_) => CoreError::OutcomeUnknown(other),
            other if other.is_unavailable() => CoreError::Unavailable(other),
            other => CoreError::Store(other),
        }
    }
}

impl CoreError {
    /// An edit made from version `sent` of a record now at `stored`: refused (`409 conflict`,
    /// [`kinfold_store::STALE_RECORD`]) rather than saved over a change the editor never saw.
    /// No version sent: the edit applies to the record as it is (the store still writes only
    /// over the version read).
    pub(crate) fn unless_current(sent: Option<i64>, stored: i64) -> Result<(), CoreError> {
        match sent {
            Some(v) if v != stored => Err(CoreError::stale()),
            _ => Ok(()),
        }
    }

    /// A change made from a record someone has changed since (`409 conflict`): reload it.
    pub fn stale() -> Self {
        CoreError::WrongState(kinfold_store::STALE_RECORD)
    }

    /// Whether this is the stale-record refusal ([`Self::stale`]), from core or the store.
    pub fn is_stale(&self) -> bool {
        matches!(self, CoreError::WrongState(m) if *m == kinfold_store::STALE_RECORD)
    }

    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        CoreError::Invalid {
            field,
            message: message.into(),
        }
    }

    /// The one table: this error's HTTP status and stable code.
    pub fn kind(&self) -> ErrorKind {
        match self {
            CoreError::InvalidCredentials => ErrorKind::new(401, "invalid_credentials"),
            CoreError::MfaEnrollmentRequired => ErrorKind::new(403, "mfa_enrollment_required"),
            CoreError::InvalidMfaToken => ErrorKind::new(401, "invalid_mfa_token"),
            CoreError::InvalidCode => ErrorKind::new(401, "invalid_code"),
            CoreError::InvalidEnrollment => ErrorKind::new(400, "invalid_enrollment"),
            CoreError::InvalidResetLink => ErrorKind::new(400, "invalid_reset_link"),
            CoreError::Throttled { .. } => ErrorKind::THROTTLED,
            CoreError::Busy { .. } => ErrorKind::new(503, "busy"),
            CoreError::Unavailable(_) => ErrorKind::UNAVAILABLE,
            CoreError::OutcomeUnknown(_) => ErrorKind::new(503, "outcome_unknown"),
            CoreError::Unauthenticated => ErrorKind::UNAUTHENTICATED,
            CoreError::Forbidden(_) => ErrorKind::FORBIDDEN,
            CoreError::NotFound(_) => ErrorKind::NOT_FOUND,
            CoreError::Invalid { .. } => ErrorKind::INVALID_INPUT,
            CoreError::WeakPassword(_) => ErrorKind::new(422, "weak_password"),
            // A record that already exists and a request that does not fit the record's state
            // look the same to a client: try something else.
            CoreError::Conflict(_) | CoreError::WrongState(_) => ErrorKind::new(409, "conflict"),
            CoreError::SendingPaused { .. } => ErrorKind::new(409, "sending_paused"),
            CoreError::PickupRefused(_) => ErrorKind::new(403, "pickup_refused"),
            CoreError::Report(ReportError::Signature) => ErrorKind::new(401, "invalid_signature"),
            CoreError::Report(ReportError::Stale) => ErrorKind::new(401, "stale_signature"),
            CoreError::Report(ReportError::Malformed(_) | ReportError::Ignored(_)) => {
                ErrorKind::INVALID_INPUT
            }
            CoreError::Store(_) | CoreError::Crypto(_) | CoreError::Internal(_) => {
                ErrorKind::INTERNAL
            }
        }
    }

    /// Whether the detail must stay in the log.
    pub fn is_internal(&self) -> bool {
        self.kind().is_internal()
    }

    /// Whether the edge logs this error's detail with the request's ID: every internal
    /// failure, and a database that is unavailable (the operator needs to know).
    pub fn is_logged(&self) -> bool {
        self.is_internal()
            || matches!(
                self,
                CoreError::Unavailable(_) | CoreError::OutcomeUnknown(_)
            )
    }

    /// How long the client should wait before trying again, when it should.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            CoreError::Throttled { retry_after_secs } | CoreError::Busy { retry_after_secs } => {
                Some(*retry_after_secs)
            }
            CoreError::Unavailable(_) | CoreError::OutcomeUnknown(_) => {
                Some(UNAVAILABLE_RETRY_SECS)
            }
            _ => None,
        }
    }

    /// The error and each of its sources, as `Display` writes them, joined by `": "`: what the
    /// log keeps of an internal failure. A source its parent already quoted is not repeated.
    /// Display, not Debug: a database error's Debug form can carry row values (its `detail`),
    /// which must never reach the log.
    pub fn detail(&self) -> String {
        let me: &(dyn std::error::Error + 'static) = self;
        joined(std::iter::successors(Some(me), |e| e.source()))
    }
}

/// An error and its causes (`chain`, outermost first), as `Display` writes them, joined by
/// `": "`, each once: a cause the text so far already ends with (quoted by its parent, as
/// object storage's and sqlx's errors do) is left out. One rule for the log and the command
/// line.
pub fn joined<'a>(
    chain: impl IntoIterator<Item = &'a (dyn std::error::Error + 'static)>,
) -> String {
    let mut out = String::new();
    for e in chain {
        let text = e.to_string();
        if out.ends_with(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One of each variant. The `match` in [`CoreError::kind`] has no catch-all, so a new variant
    /// must be given its status and code there; this list must name it too, or the count below
    /// fails.
    fn one_of_each() -> Vec<(CoreError, u16, &'static str)> {
        vec![
            (CoreError::InvalidCredentials, 401, "invalid_credentials"),
            (
                CoreError::MfaEnrollmentRequired,
                403,
                "mfa_enrollment_required",
            ),
            (CoreError::InvalidMfaToken, 401, "invalid_mfa_token"),
            (CoreError::InvalidCode, 401, "invalid_code"),
            (CoreError::InvalidEnrollment, 400, "invalid_enrollment"),
            (CoreError::InvalidResetLink, 400, "invalid_reset_link"),
            (
                CoreError::Throttled {
                    retry_after_secs: 3,
                },
                429,
                "throttled",
            ),
            (
                CoreError::Busy {
                    retry_after_secs: 1,
                },
                503,
                "busy",
            ),
            (
                CoreError::Unavailable(kinfold_store::StoreError::Database(
                    sqlx::Error::PoolTimedOut,
                )),
                503,
                "unavailable",
            ),
            (
                CoreError::OutcomeUnknown(kinfold_store::StoreError::CommitUnknown(
                    sqlx::Error::PoolTimedOut,
                )),
                503,
                "outcome_unknown",
            ),
            (CoreError::Unauthenticated, 401, "unauthenticated"),
            (CoreError::Forbidden("no"), 403, "forbidden"),
            (CoreError::NotFound("child"), 404, "not_found"),
            (CoreError::invalid("name", "too long"), 422, "invalid_input"),
            (
                CoreError::WeakPassword(Weakness::TooShort),
                422,
                "weak_password",
            ),
            (CoreError::Conflict("classroom"), 409, "conflict"),
            (CoreError::WrongState("already checked in"), 409, "conflict"),
            (
                CoreError::SendingPaused {
                    bounce_pct: 9.0,
                    complaint_pct: 0.5,
                },
                409,
                "sending_paused",
            ),
            (
                CoreError::PickupRefused(crate::attendance::Refusal::WrongPassphrase),
                403,
                "pickup_refused",
            ),
            (
                CoreError::Report(ReportError::Signature),
                401,
                "invalid_signature",
            ),
            (
                CoreError::Report(ReportError::Stale),
                401,
                "stale_signature",
            ),
            (
                CoreError::Report(ReportError::Malformed("no recipient")),
                422,
                "invalid_input",
            ),
            (
                CoreError::Report(ReportError::Ignored("opened".into())),
                422,
                "invalid_input",
            ),
            (
                CoreError::Store(kinfold_store::StoreError::Corrupt("row")),
                500,
                "internal",
            ),
            (
                CoreError::Crypto(kinfold_crypto::CryptoError::Open),
                500,
                "internal",
            ),
            (CoreError::Internal("hash task".into()), 500, "internal"),
        ]
    }

    /// The variants of [`CoreError`], as the compiler sees them: adding one breaks this match.
    fn variant(e: &CoreError) -> &'static str {
        match e {
            CoreError::InvalidCredentials => "InvalidCredentials",
            CoreError::MfaEnrollmentRequired => "MfaEnrollmentRequired",
            CoreError::InvalidMfaToken => "InvalidMfaToken",
            CoreError::InvalidCode => "InvalidCode",
            CoreError::InvalidEnrollment => "InvalidEnrollment",
            CoreError::InvalidResetLink => "InvalidResetLink",
            CoreError::Throttled { .. } => "Throttled",
            CoreError::Busy { .. } => "Busy",
            CoreError::Unavailable(_) => "Unavailable",
            CoreError::OutcomeUnknown(_) => "OutcomeUnknown",
            CoreError::Unauthenticated => "Unauthenticated",
            CoreError::Forbidden(_) => "Forbidden",
            CoreError::NotFound(_) => "NotFound",
            CoreError::Invalid { .. } => "Invalid",
            CoreError::WeakPassword(_) => "WeakPassword",
            CoreError::Conflict(_) => "Conflict",
            CoreError::WrongState(_) => "WrongState",
            CoreError::SendingPaused { .. } => "SendingPaused",
            CoreError::PickupRefused(_) => "PickupRefused",
            CoreError::Report(_) => "Report",
            CoreError::Store(_) => "Store",
            CoreError::Crypto(_) => "Crypto",
            CoreError::Internal(_) => "Internal",
        }
    }

    #[test]
    fn every_variant_has_one_status_and_one_code() {
        let all = one_of_each();
        let variants: std::collections::BTreeSet<_> =
            all.iter().map(|(e, ..)| variant(e)).collect();
        assert_eq!(
            variants.len(),
            23,
            "one_of_each names every variant: {variants:?}"
        );
        let mut status_of_code = std::collections::BTreeMap::new();
        for (e, status, code) in &all {
            let kind = e.kind();
            assert_eq!((kind.status, kind.code), (*status, *code), "{}", variant(e));
            assert_eq!(kind, e.kind(), "the same answer every time");
            assert!((400..600).contains(&kind.status), "{code}: an error status");
            assert!(
                !code.is_empty() && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{code}: snake_case"
            );
            // A code means one status, whichever variant answers it.
            let first = *status_of_code.entry(*code).or_insert(*status);
            assert_eq!(first, *status, "{code} answers one status");
            assert_eq!(
                e.is_internal(),
                *status == 500,
                "{}: internal exactly when 500",
                variant(e)
            );
            // Issue 15 (O1): a failed request gets a clean 503 that says when to come back,
            // `outcome_unknown` included (whose message says to look before resending).
            if *status == 503 {
                assert!(e.retry_after_secs().is_some(), "{code}: Retry-After");
            }
        }
    }

    #[test]
    fn an_internal_error_keeps_its_detail_and_sources_for_the_log() {
        let e = CoreError::Store(kinfold_store::StoreError::Corrupt("audit row"));
        assert_eq!(
            e.detail(),
            "storage failure: stored data is malformed: audit row"
        );
        let e = CoreError::Internal("hash task: cancelled".into());
        assert_eq!(e.detail(), "internal error: hash task: cancelled");
    }
}
