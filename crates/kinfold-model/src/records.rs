//! Tenants, people, sessions and the evidence the audit trail keeps about them.

use serde::Serialize;

use crate::ids::{SessionId, TenantId, UserId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Administrator,
    Teacher,
    FrontDesk,
    Parent,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Role::Administrator,
        Role::Teacher,
        Role::FrontDesk,
        Role::Parent,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Administrator => "administrator",
            Role::Teacher => "teacher",
            Role::FrontDesk => "front_desk",
            Role::Parent => "parent",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Staff must have a second factor (A2).
    pub fn is_staff(self) -> bool {
        !matches!(self, Role::Parent)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Tenant {
    pub id: TenantId,
    pub slug: String,
    pub name: String,
    pub created_ms: i64,
    /// What the center set of its session policy; every request's session is held to it.
    #[serde(skip)]
    pub sessions: CenterSessionPolicy,
}

/// What a center sets of its own session policy (A4), within the operator's: each part left
/// unset (`None`) follows the operator's setting, and a part set above the operator's is held
/// to it. A center may make sessions stricter, never looser.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CenterSessionPolicy {
    /// A session idle this long is refused, in seconds.
    pub idle_timeout_secs: Option<i64>,
    /// Each person may have this many sessions at once; the oldest is ended at sign-in.
    pub max_sessions: Option<i64>,
}

impl CenterSessionPolicy {
    /// The sessions each person of the center may have at once: the center's own cap, held
    /// within the operator's `operator` (and at least 1). The one rule, read by the sign-in's
    /// own transaction and by every page that shows the figure.
    pub fn cap_within(&self, operator: u32) -> u32 {
        let operator = operator.max(1);
        self.max_sessions
            .and_then(|n| u32::try_from(n).ok())
            .map_or(operator, |n| n.clamp(1, operator))
    }
}

/// What a center states about itself: its legal identity and postal address (the footer of
/// every email it sends), the time zone its days are counted in, and its hosting region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantDetails {
    pub legal_name: Option<String>,
    pub postal_address: Option<String>,
    /// An IANA time-zone name.
    pub time_zone: String,
    pub region: String,
    /// The center's session policy, changed with the details and under their version.
    pub sessions: CenterSessionPolicy,
    /// Moves on by one with each change: a change is written only over the version it was
    /// made from.
    pub version: i64,
}

#[derive(Debug, Clone)]
pub struct NewTenant {
    pub slug: String,
    pub name: String,
    pub created_ms: i64,
}

#[derive(Clone)]
pub struct SigningKeyRecord {
    pub id: String,
    pub wrapped: Vec<u8>,
    pub public_key: String,
    pub created_ms: i64,
    pub active: bool,
}

impl std::fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("id", &self.id)
            .field("public_key", &self.public_key)
            .field("active", &self.active)
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
pub struct User {
    pub id: UserId,
    pub tenant_id: TenantId,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub password_hash: Option<String>,
    pub totp_sealed: Option<Vec<u8>>,
    pub totp_last_step: Option<i64>,
    pub pending_totp: Option<Vec<u8>>,
    pub created_ms: i64,
    /// When an administrator deactivated the account; it cannot sign in since.
    pub deactivated_ms: Option<i64>,
}

impl User {
    /// Whether the account may sign in (it was not deactivated).
    pub fn is_active(&self) -> bool {
        self.deactivated_ms.is_none()
    }

    pub fn has_mfa(&self) -> bool {
        self.totp_sealed.is_some()
    }

    /// Whether the account was taken up from its invitation: a staff member enrolls a
    /// password and a second factor, a parent at least a password. Until then an invitation
    /// may be sent again.
    pub fn enrolled(&self) -> bool {
        self.has_mfa() || (!self.role.is_staff() && self.password_hash.is_some())
    }
}

/// Leaves out the password hash and the sealed secrets.
impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("role", &self.role)
            .field("has_mfa", &self.has_mfa())
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
pub struct NewUser {
    pub email: String,
    pub name: String,
    pub role: Role,
    pub password_hash: Option<String>,
    pub created_ms: i64,
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// Where a request came from: what the access log records.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// SHA-256 (truncated) over stable client hints.
    pub device: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    SignedOut,
    Revoked,
    Evicted,
    IdleTimeout,
    MaxLifetime,
    PasswordChanged,
    MfaReset,
    /// An administrator changed the user's role: what the session allowed no longer holds.
    RoleChanged,
    /// An administrator deactivated the account.
    Deactivated,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::SignedOut => "signed_out",
            EndReason::Revoked => "revoked",
            EndReason::Evicted => "evicted",
            EndReason::IdleTimeout => "idle_timeout",
            EndReason::MaxLifetime => "max_lifetime",
            EndReason::PasswordChanged => "password_changed",
            EndReason::MfaReset => "mfa_reset",
            EndReason::RoleChanged => "role_changed",
            EndReason::Deactivated => "deactivated",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Session {
    pub id: SessionId,
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub created_ms: i64,
    pub last_seen_ms: i64,
    pub expires_ms: i64,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub device: Option<String>,
    pub ended_ms: Option<i64>,
    pub end_reason: Option<String>,
}

impl Session {
    pub fn duration_secs(&self, now_ms: i64) -> i64 {
        (self.ended_ms.unwrap_or(now_ms) - self.created_ms) / 1000
    }
}

/// Filters for reading a chain, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub category: Option<String>,
    /// Only entries by this actor (a user ID).
    pub actor: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    /// Return entries with `seq` below this (the cursor).
    pub before_seq: Option<i64>,
    pub limit: u32,
}

/// One authenticated API request (L4). Cheap to build on the request path: no field needs a
/// fresh allocation but the IP.
#[derive(Debug, Clone)]
pub struct ApiAccess {
    pub tenant_id: TenantId,
    pub at_ms: i64,
    /// `api-data` or `api-other`.
    pub category: &'static str,
    pub method: &'static str,
    /// The route template, e.g. `/api/v1/children/{id}`.
    pub route: std::sync::Arc<str>,
    pub status: u16,
    pub actor: UserId,
    pub ip: Option<String>,
}

impl ApiAccess {
    /// The methods an entry names: a request's method, or `OTHER`.
    pub const METHODS: [&'static str; 8] = [
        "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "OTHER",
    ];
    /// Data-API access (kept 12 months), then other API access (kept 30 days).
    pub const CATEGORIES: [&'static str; 2] = ["api-data", "api-other"];

    /// Entries that differ only in their time, as runs: each run's first entry and the time of
    /// every entry in it, in the order runs first appear. What both the stored API access log
    /// and the audit journal write, so a busy client's batch is one run, not an object per
    /// request.
    pub fn runs<'a>(
        list: impl IntoIterator<Item = &'a ApiAccess>,
    ) -> Vec<(&'a ApiAccess, Vec<i64>)> {
        type Key<'a> = (
            TenantId,
            &'static str,
            &'static str,
            &'a str,
            u16,
            UserId,
            Option<&'a str>,
        );
        let mut runs: Vec<(&ApiAccess, Vec<i64>)> = Vec::new();
        // foldhash, not SipHash: this runs once per API request in a batch.
        let mut index: std::collections::HashMap<Key<'a>, usize, foldhash::quality::RandomState> =
            Default::default();
        for e in list {
            let key = (
                e.tenant_id,
                e.category,
                e.method,
                &*e.route,
                e.status,
                e.actor,
                e.ip.as_deref(),
            );
            match index.get(&key).and_then(|&i| runs.get_mut(i)) {
                Some((_, times)) => times.push(e.at_ms),
                None => {
                    index.insert(key, runs.len());
                    runs.push((e, vec![e.at_ms]));
                }
            }
        }
        runs
    }

    /// `name` as one of `known` (the constants above), for an entry read back from outside
    /// the process.
    pub fn interned(name: &str, known: &[&'static str]) -> Option<&'static str> {
        known.iter().find(|k| **k == name).copied()
    }
}

/// An API access entry as read back.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct StoredApiAccess {
    pub at_ms: i64,
    pub category: String,
    pub method: String,
    pub route: String,
    pub status: u16,
    pub actor: String,
    pub ip: Option<String>,
}

/// A sending domain and its two DKIM keys (PKCS#8 DER, sealed).
#[derive(Clone)]
pub struct MailDomain {
    pub domain: String,
    pub rsa_selector: String,
    pub rsa_key: Vec<u8>,
    pub ed25519_selector: String,
    pub ed25519_key: Vec<u8>,
    pub created_ms: i64,
}

/// Leaves out the (sealed) keys.
impl std::fmt::Debug for MailDomain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailDomain")
            .field("domain", &self.domain)
            .field("rsa_selector", &self.rsa_selector)
            .field("ed25519_selector", &self.ed25519_selector)
            .finish_non_exhaustive()
    }
}
