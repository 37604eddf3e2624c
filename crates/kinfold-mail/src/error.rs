/// Mail errors. Messages never include key material or message content.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("key generation failed: {0}")]
    KeyGeneration(&'static str),
    #[error("a stored DKIM key does not open with this master key")]
    KeyOpen,
    #[error("signing failed: {0}")]
    Sign(String),
    #[error("delivery failed: {0}")]
    Transport(String),
    /// The relay refused the message for good (a 5xx reply): a hard bounce.
    #[error("rejected: {0}")]
    Rejected(String),
    #[error("invalid {field}: {reason}")]
    Invalid {
        field: &'static str,
        reason: &'static str,
    },
}
