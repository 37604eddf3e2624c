//! Why a pickup was refused, and what the desk does next.
//!
//! The reason is what the API answers (`pickup_refused`, with the reason as the message); the
//! instruction is what the roster shows the person at the desk. Both live here so that the
//! API, the console and the administrators' alert say the same thing.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// Not a guardian or authorized pickup of the child (including "someone not on the list").
    NotListed,
    /// A guardian under a court order that restricts them.
    CourtOrder,
    /// A guardian whose link does not allow pickup.
    MayNotPickUp,
    /// An authorized pickup who gave no passphrase.
    PassphraseRequired,
    /// An authorized pickup who gave the wrong passphrase.
    WrongPassphrase,
}

impl Refusal {
    /// The reason, as the API and the audit entry state it.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::NotListed => "not a guardian or authorized pickup of this child",
            Refusal::CourtOrder => "a court order restricts this guardian",
            Refusal::MayNotPickUp => "this guardian is not allowed to pick up",
            Refusal::PassphraseRequired => "the pickup passphrase is required",
            Refusal::WrongPassphrase => "the pickup passphrase is wrong",
        }
    }

    /// What the person at the desk does now.
    pub fn what_to_do(self) -> &'static str {
        match self {
            Refusal::CourtOrder => {
                "Do not release the child. Keep the child in the room with a teacher, stay calm, \
                 and call the director now. If the person will not leave, call the police. \
                 The administrators have been alerted."
            }
            Refusal::NotListed | Refusal::MayNotPickUp => {
                "Do not release the child. Ask the person to wait, and call a guardian on file \
                 to confirm who may pick up today. Only an administrator can add someone to the \
                 list. The administrators have been alerted."
            }
            Refusal::PassphraseRequired => {
                "Ask the person for the pickup passphrase the family chose, and try again. \
                 Without it, do not release the child."
            }
            Refusal::WrongPassphrase => {
                "Do not release the child. Check the person's photo ID, and call a guardian on \
                 file to confirm. Repeated wrong passphrases lock this pickup for a while. \
                 The administrators have been alerted."
            }
        }
    }

    /// Whether the administrators are alerted: a missing passphrase is a desk's slip, not an
    /// event.
    pub fn alerts(self) -> bool {
        self != Refusal::PassphraseRequired
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reason())
    }
}
