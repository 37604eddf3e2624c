//! Kinfold's cryptography, kept small and free of I/O beyond loading the master key and writing
//! owner-only files.
//!
//! - [`keyring`]: the master key (KEK), the SQLCipher key derived from it, and per-tenant data
//!   keys wrapped by it.
//! - [`seal`]: AES-256-GCM field sealing whose AAD binds a value to its tenant, table, column,
//!   row and key version.
//! - [`password`]: argon2id hashing (m=19456 KiB, t=2, p=1) and the NIST SP 800-63B checks.
//! - [`token`]: opaque random tokens, stored only as SHA-256 digests, compared in constant time.
//! - [`totp`]: RFC 6238 codes with the accepted time step returned, so callers can refuse replays.
//! - [`signing`]: Ed25519 keys for signed audit checkpoints.
//! - [`private_fs`]: directories forced to 0700 and files written 0600, atomically.

pub mod keyring;
pub mod password;
pub mod private_fs;
pub mod scram;
pub mod seal;
pub mod signing;
pub mod token;
pub mod totp;

mod error;
pub use error::CryptoError;
