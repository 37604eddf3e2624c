//! One service per feature, over one shared context.
//!
//! [`Core`] is the context: the store, the clock, the keyring, the audit writer, the
//! throttles, the caches and the settings, with the helpers every feature uses (drafting an
//! audit entry, asking the policy table). Each feature's public operations are on its
//! service, a borrowed view of the context that costs nothing to make:
//! `core.children().child_view(&actor, id)`. A handler names the feature it works in, and a
//! feature's operations are found on one type, in the files of that feature.

use std::ops::Deref;

use crate::Core;

macro_rules! services {
    ($($(#[$doc:meta])* $name:ident => $accessor:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy)]
        pub struct $name<'c>(&'c Core);

        impl Deref for $name<'_> {
            type Target = Core;

            fn deref(&self) -> &Core {
                self.0
            }
        }

        impl std::fmt::Debug for $name<'_> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(stringify!($name))
            }
        }

        impl Core {
            $(#[$doc])*
            pub fn $accessor(&self) -> $name<'_> {
                $name(self)
            }
        }
    )*};
}

services! {
    /// Sign-in with a password and a second factor, enrollment links, TOTP and recovery
    /// codes, password changes and resets (`auth/`).
    Auth => auth;
    /// Sessions: who is signed in where, revoking them (`sessions/`).
    Sessions => sessions;
    /// Tenants and their people (`tenants.rs`).
    Tenants => tenants;
    /// Children, their sealed fields, guardians and authorized pickups (`children/`).
    Children => children;
    /// Classrooms and the staff assigned to them (`classrooms.rs`).
    Classrooms => classrooms;
    /// Check-in, check-out, the day's roster and each room's roster, refused pickups (`attendance/`).
    Attendance => attendance;
    /// Messages to families, their delivery, provider reports and unsubscribes (`mail/`).
    FamilyMail => mail;
    /// Reading a tenant's audit trail, its checkpoints and its API access log (`audit/log.rs`).
    AuditLog => audit_log;
    /// Operators' break-glass access to a tenant (`access.rs`).
    OperatorAccess => access;
}
