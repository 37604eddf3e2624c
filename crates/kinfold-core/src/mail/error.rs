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
    /// The relay refused the message for good (a 5xx reply). `recipient`: the refusal is about
    /// the address (a hard bounce), not the sender, size or policy.
    #[error("rejected: {message}")]
    Rejected { recipient: bool, message: String },
    #[error("invalid {field}: {reason}")]
    Invalid {
        field: &'static str,
        reason: &'static str,
    },
}
