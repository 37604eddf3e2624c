//! Typed audit events. Each one names its category; each category has its retention (L1-L4).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    /// Sign-ins, MFA, sessions (L1).
    Access,
    /// Account and permission changes (L2).
    Admin,
    /// Reads of sealed fields.
    DataAccess,
    /// Data-API requests (L4).
    ApiData,
    /// Other API requests (L4).
    ApiOther,
    /// Email delivery (E7).
    Email,
    /// Start-up, migrations, keys, settings (L3).
    System,
}

impl Category {
    pub const ALL: [Category; 7] = [
        Category::Access,
        Category::Admin,
        Category::DataAccess,
        Category::ApiData,
        Category::ApiOther,
        Category::Email,
        Category::System,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Access => "access",
            Category::Admin => "admin",
            Category::DataAccess => "data-access",
            Category::ApiData => "api-data",
            Category::ApiOther => "api-other",
            Category::Email => "email",
            Category::System => "system",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// Default retention in days (PROMISES.md L1-L4, E7).
    pub fn retention_days(self) -> u32 {
        match self {
            Category::ApiOther => 30,
            Category::Email => 90,
            _ => 365,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignInFailure {
    UnknownAccount,
    WrongPassword,
    MfaEnrollmentRequired,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MfaMethod {
    Totp,
    RecoveryCode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MfaFailure {
    WrongCode,
    ReusedCode,
    TooManyAttempts,
    ExpiredToken,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpiryReason {
    Idle,
    MaxLifetime,
}

/// Reads of one child's sealed fields, the same fields each time, inside
/// [`Event::ChildRecordsRead`]: when (the time of each read), which child, which fields. The
/// fields are declared in sorted order: the chain hashes this text as written (see
/// `chain::canonical_event`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordRead {
    pub at_ms: ReadTimes,
    pub child_id: String,
    /// Field names: static where the writer folds live reads, owned when read back.
    pub fields: Vec<std::borrow::Cow<'static, str>>,
}

/// When the reads in a [`RecordRead`] happened, in milliseconds since the epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ReadTimes {
    /// One read: `"at_ms": 1763800000123`. Entries written before reads of one child were
    /// grouped hold this form; it still reads and verifies.
    One(i64),
    /// Each read, in the order the writer received them: `"at_ms": [1763800000123, ...]`.
    Each(Vec<i64>),
}

impl ReadTimes {
    /// The time of every read.
    pub fn all(&self) -> &[i64] {
        match self {
            ReadTimes::One(t) => std::slice::from_ref(t),
            ReadTimes::Each(ts) => ts,
        }
    }
}

/// Every audit event. The serialized `kind` is the event's snake_case name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Event {
    SignInSucceeded {
        user_id: String,
        email: String,
    },
    SignInFailed {
        email: String,
        reason: SignInFailure,
    },
    MfaSucceeded {
        user_id: String,
        method: MfaMethod,
    },
    MfaFailed {
        user_id: String,
        reason: MfaFailure,
    },
    MfaEnrolled {
        user_id: String,
    },
    MfaReset {
        user_id: String,
        by: String,
    },
    SessionCreated {
        user_id: String,
        session_id: String,
    },
    SessionEvicted {
        user_id: String,
        session_id: String,
        duration_secs: i64,
    },
    SessionExpired {
        user_id: String,
        session_id: String,
        duration_secs: i64,
        reason: ExpiryReason,
    },
    SessionRevoked {
        user_id: String,
        session_id: String,
        duration_secs: i64,
        by: String,
    },
    SignedOut {
        user_id: String,
        session_id: String,
        duration_secs: i64,
    },
    PasswordChanged {
        user_id: String,
    },
    /// A reset link was emailed to the user (on their own request, from `ip`).
    PasswordResetRequested {
        user_id: String,
        expires_at: String,
    },
    /// The user set a new password through a reset link; every session ended (one
    /// `session_revoked` entry each).
    PasswordReset {
        user_id: String,
    },
    /// Attempts refused by a throttle: at most one entry per account a minute, `refused`
    /// counting the refusals it stands for (absent in entries written one per refusal).
    Throttled {
        email: String,
        retry_after_secs: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        refused: Option<u64>,
    },
    /// Requests from one address (an IPv6 /64) refused by its per-IP bucket, whatever
    /// account they named: at most one entry per address a minute, in the system chain (the
    /// entry's `ip` names the address).
    AddressThrottled {
        refused: u64,
        retry_after_secs: u64,
    },
    TenantCreated {
        slug: String,
    },
    /// The names of the fields that changed; their values are in the tenant record.
    TenantDetailsChanged {
        fields: Vec<String>,
    },
    /// A center's own session policy (A4) as it now stands, with a change of it: `None`
    /// follows the operator's setting. Sessions a lowered cap ended follow, each its own
    /// `session_evicted`.
    SessionPolicyChanged {
        idle_minutes: Option<i64>,
        max_per_user: Option<i64>,
    },
    UserCreated {
        user_id: String,
        role: String,
        by: String,
    },
    /// An administrator deactivated an account; its sessions and unused links ended with it.
    UserDeactivated {
        user_id: String,
    },
    /// An administrator let a deactivated account sign in again.
    UserReactivated {
        user_id: String,
    },
    /// An administrator changed a staff member's role; their sessions ended with it.
    RoleChanged {
        user_id: String,
        from: String,
        to: String,
    },
    EnrollmentIssued {
        user_id: String,
        by: String,
        expires_at: String,
    },
    SessionsRevokedForUser {
        user_id: String,
        by: String,
        count: u64,
    },
    ClassroomCreated {
        classroom_id: String,
        name: String,
    },
    StaffAssigned {
        user_id: String,
        classroom_id: String,
    },
    /// Names the settings that changed (name, age group, capacity), with their new values:
    /// none of them is about a child.
    ClassroomUpdated {
        classroom_id: String,
        name: String,
        changed: Vec<String>,
    },
    ClassroomArchived {
        classroom_id: String,
        name: String,
    },
    StaffUnassigned {
        user_id: String,
        classroom_id: String,
    },
    ChildCreated {
        child_id: String,
        by: String,
    },
    /// Names the fields that changed, never their values.
    ChildUpdated {
        child_id: String,
        by: String,
        changed: Vec<String>,
    },
    GuardianLinked {
        child_id: String,
        guardian_id: String,
        custody: String,
    },
    PickupAdded {
        child_id: String,
        pickup_id: String,
    },
    ChildCheckedIn {
        child_id: String,
        person: String,
    },
    ChildCheckedOut {
        child_id: String,
        person: String,
    },
    /// A staff member clocked in to a classroom: by themselves, or by an administrator with
    /// the reason (a correction).
    StaffClockedIn {
        user_id: String,
        classroom_id: String,
        reason: Option<String>,
    },
    StaffClockedOut {
        user_id: String,
        classroom_id: String,
        reason: Option<String>,
    },
    /// A guardian's custody or pickup permission changed.
    GuardianLinkChanged {
        child_id: String,
        guardian_id: String,
        custody: String,
        may_pick_up: bool,
    },
    GuardianUnlinked {
        child_id: String,
        guardian_id: String,
    },
    PickupRemoved {
        child_id: String,
        pickup_id: String,
    },
    /// An authorized pickup's name, relation or photo ID changed, or their passphrase was
    /// replaced (never recorded, only that it changed).
    PickupChanged {
        child_id: String,
        pickup_id: String,
        passphrase_replaced: bool,
        /// Which of `name`, `relation` and `photo_id` changed (never their values). Absent
        /// from entries written before it was kept.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        changed: Vec<String>,
    },
    /// A check-in or check-out time corrected by a new entry (the original stands).
    AttendanceCorrected {
        entry_id: String,
        corrects: String,
        child_id: String,
        at: String,
        reason: String,
    },
    /// A sign-in sheet was exported (L2: a data export): the days, the room (all rooms the
    /// actor works with when absent), the format and the number of rows.
    AttendanceExported {
        from: String,
        to: String,
        classroom_id: Option<String>,
        format: String,
        rows: u64,
    },
    /// The center's ratio table changed: the bands whose row now differs from the default.
    RatioRulesChanged {
        custom_bands: Vec<String>,
    },
    /// A pickup refused: not a guardian or authorized pickup, court-restricted, or a wrong
    /// passphrase.
    PickupRefused {
        child_id: String,
        reason: String,
    },
    /// A platform operator was granted time-boxed access to this tenant's data (A3).
    BreakGlassGranted {
        grant_id: String,
        operator: String,
        reason: String,
        expires_at: String,
    },
    /// A message entered the outbox (E1): how many recipients, how many were not queued
    /// because they unsubscribed or are suppressed.
    MessageQueued {
        message_id: String,
        category: String,
        by: String,
        recipients: u64,
        suppressed: u64,
    },
    /// A recipient unsubscribed from a category (E3); the proof of the request.
    EmailUnsubscribed {
        recipient_id: String,
        category: String,
    },
    /// O5: the tenant's bounce or complaint rate passed its limit; non-essential sending is
    /// paused until it falls back. Rates in parts per million of `sent`.
    SendingPaused {
        sent: i64,
        bounce_ppm: i64,
        complaint_ppm: i64,
    },
    /// E6: a message was held because this hour's volume is past the tenant's usual.
    SendingHeld {
        message_id: String,
        volume: i64,
        limit: i64,
        learned: bool,
    },
    /// E6: an administrator released (queued) or discarded a held message's deliveries.
    HeldResolved {
        message_id: String,
        released: bool,
        deliveries: u64,
    },
    /// The delivery log (E7): one entry per attempt's outcome.
    EmailDelivery {
        delivery_id: String,
        message_id: String,
        recipient: String,
        status: String,
        attempt: i64,
        response: String,
    },
    /// An operator read a child's record under a grant.
    OperatorRead {
        grant_id: String,
        operator: String,
        child_id: String,
        fields: Vec<String>,
    },
    /// An operator's read of a child was refused: no active grant issued to that operator on
    /// this tenant (another operator's grant does not count).
    OperatorReadRefused {
        operator: String,
        child_id: String,
    },
    /// A read of sealed fields: who (the entry's actor), which child, which fields. Chains
    /// written before reads were folded into [`Event::ChildRecordsRead`] hold it; nothing
    /// writes it now.
    ChildRecordRead {
        child_id: String,
        fields: Vec<String>,
    },
    /// The reads of sealed fields by one client (the entry's actor, IP, user agent and device)
    /// within one group commit of the audit writer: which child, which fields, and when. Each
    /// [`RecordRead`] holds the reads of one child's same fields, with the time of each.
    ChildRecordsRead {
        reads: Vec<RecordRead>,
    },
    Started {
        version: String,
        config_digest: String,
    },
    /// A backup was written (D4).
    BackupCreated {
        backup_id: String,
        bytes: u64,
        tenants: u64,
    },
    /// A restore drill ran (D5): the newest backup restored into a temporary place and
    /// verified. `detail` holds the chain heads, or why it failed.
    BackupDrill {
        backup_id: String,
        passed: bool,
        millis: u64,
        tenants: u64,
        children: u64,
        audit_entries: u64,
        detail: String,
    },
    /// A scheduled backup failed (the destination unreachable, a credential refused, the disk
    /// full): `detail` says why. The schedule tries again.
    BackupFailed {
        destination: String,
        detail: String,
    },
    /// Backups removed from a destination by the schedule's retention.
    BackupsPruned {
        destination: String,
        backup_ids: Vec<String>,
    },
    MigrationApplied {
        version: i64,
        description: String,
    },
    KeyCreated {
        purpose: String,
        key_version: u32,
    },
    /// A key version was destroyed, once it sealed nothing (D3).
    KeyRetired {
        purpose: String,
        key_version: u32,
    },
}

impl Event {
    pub fn category(&self) -> Category {
        use Event::*;
        match self {
            SignInSucceeded { .. }
            | SignInFailed { .. }
            | MfaSucceeded { .. }
            | MfaFailed { .. }
            | SessionCreated { .. }
            | SessionEvicted { .. }
            | SessionExpired { .. }
            | SessionRevoked { .. }
            | SignedOut { .. }
            | PasswordResetRequested { .. }
            | Throttled { .. }
            | AddressThrottled { .. } => Category::Access,
            MfaEnrolled { .. }
            | MfaReset { .. }
            | PasswordChanged { .. }
            | PasswordReset { .. }
            | TenantCreated { .. }
            | TenantDetailsChanged { .. }
            | SessionPolicyChanged { .. }
            | UserCreated { .. }
            | RoleChanged { .. }
            | UserDeactivated { .. }
            | UserReactivated { .. }
            | EnrollmentIssued { .. }
            | SessionsRevokedForUser { .. }
            | ClassroomCreated { .. }
            | StaffAssigned { .. }
            | ClassroomUpdated { .. }
            | ClassroomArchived { .. }
            | StaffUnassigned { .. }
            | ChildCreated { .. }
            | ChildUpdated { .. }
            | GuardianLinked { .. }
            | PickupAdded { .. }
            | ChildCheckedIn { .. }
            | ChildCheckedOut { .. }
            | StaffClockedIn { .. }
            | StaffClockedOut { .. }
            | RatioRulesChanged { .. }
            | AttendanceExported { .. }
            | AttendanceCorrected { .. }
            | GuardianLinkChanged { .. }
            | GuardianUnlinked { .. }
            | PickupRemoved { .. }
            | PickupChanged { .. }
            | PickupRefused { .. }
            | BreakGlassGranted { .. }
            | MessageQueued { .. }
            | EmailUnsubscribed { .. }
            | SendingPaused { .. }
            | SendingHeld { .. }
            | HeldResolved { .. } => Category::Admin,
            EmailDelivery { .. } => Category::Email,
            ChildRecordRead { .. }
            | ChildRecordsRead { .. }
            | OperatorRead { .. }
            | OperatorReadRefused { .. } => Category::DataAccess,
            Started { .. }
            | MigrationApplied { .. }
            | KeyCreated { .. }
            | KeyRetired { .. }
            | BackupCreated { .. }
            | BackupDrill { .. }
            | BackupFailed { .. }
            | BackupsPruned { .. } => Category::System,
        }
    }

    /// The snake_case name, as stored in the `kind` column.
    pub fn kind(&self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.get("kind").and_then(|k| k.as_str().map(str::to_owned)))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_snake_case() {
        let e = Event::SessionEvicted {
            user_id: "u".into(),
            session_id: "s".into(),
            duration_secs: 3,
        };
        assert_eq!(e.kind(), "session_evicted");
        assert_eq!(e.category(), Category::Access);
        assert_eq!(Category::parse("data-access"), Some(Category::DataAccess));
        assert_eq!(Category::ApiOther.retention_days(), 30);
    }
}
