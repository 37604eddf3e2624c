/// Errors from this crate. They never carry key material or plaintext.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("master key: {0}")]
    MasterKey(String),
    #[error("sealed value could not be opened (wrong key, wrong binding, or tampered)")]
    Open,
    #[error("sealed value is malformed")]
    Malformed,
    #[error("encryption failed")]
    Seal,
    #[error("password hashing failed")]
    Hash,
    #[error("invalid key material")]
    KeyMaterial,
}
