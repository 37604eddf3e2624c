//! Email's parts that need no server: DKIM keys and signatures, the DNS doctor, and bounce
//! and complaint reports.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod dkim;
mod doctor;
mod reports;
