//! Core's error type. The server maps each variant to a status and a stable code in one table
//! (`kinfold-server/src/error.rs`). Messages here are safe to show to the client; internal
//! detail travels in `Store`/`Crypto`/`Internal` and is logged, never sent.

use kinfold_crypto::password::Weakness;

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
    PickupRefused(&'static str),
    #[error("storage failure")]
    Store(#[source] kinfold_store::StoreError),
    #[error("cryptographic failure")]
    Crypto(#[from] kinfold_crypto::CryptoError),
    #[error("internal error")]
    Internal(String),
}

impl From<kinfold_store::StoreError> for CoreError {
    fn from(e: kinfold_store::StoreError) -> Self {
        match e {
            kinfold_store::StoreError::Conflict(what) => CoreError::Conflict(what),
            kinfold_store::StoreError::NotFound(what) => CoreError::NotFound(what),
            kinfold_store::StoreError::WrongState(why) => CoreError::WrongState(why),
            other => CoreError::Store(other),
        }
    }
}

impl CoreError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        CoreError::Invalid {
            field,
            message: message.into(),
        }
    }

    /// The stable, snake_case code clients match on.
    pub fn code(&self) -> &'static str {
        match self {
            CoreError::InvalidCredentials => "invalid_credentials",
            CoreError::MfaEnrollmentRequired => "mfa_enrollment_required",
            CoreError::InvalidMfaToken => "invalid_mfa_token",
            CoreError::InvalidCode => "invalid_code",
            CoreError::InvalidEnrollment => "invalid_enrollment",
            CoreError::InvalidResetLink => "invalid_reset_link",
            CoreError::Throttled { .. } => "throttled",
            CoreError::Busy { .. } => "busy",
            CoreError::Unauthenticated => "unauthenticated",
            CoreError::Forbidden(_) => "forbidden",
            CoreError::NotFound(_) => "not_found",
            CoreError::Invalid { .. } => "invalid_input",
            CoreError::WeakPassword(_) => "weak_password",
            CoreError::Conflict(_) => "conflict",
            CoreError::PickupRefused(_) => "pickup_refused",
            CoreError::WrongState(_) => "conflict",
            CoreError::SendingPaused { .. } => "sending_paused",
            CoreError::Store(_) | CoreError::Crypto(_) | CoreError::Internal(_) => "internal",
        }
    }

    /// Whether the detail must stay in the log.
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            CoreError::Store(_) | CoreError::Crypto(_) | CoreError::Internal(_)
        )
    }
}
