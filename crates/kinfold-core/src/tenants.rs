//! Tenants (the centers) and their users.

use kinfold_audit::{Draft, Event};
use kinfold_crypto::password::{self, Password};
use kinfold_crypto::token::PlainToken;
use kinfold_store::{
    CenterSessionPolicy, LowerCap, NewTenant, NewTenantTx, NewUser, Role, Tenant, TenantDetails,
    TenantScope, User,
};
use serde::Deserialize;

use crate::policy::{self, Action};
use crate::services::Tenants;
use crate::settings::MIN_CENTER_IDLE;
use crate::{validate, Actor, Core, CoreError};

/// A change to the center's details; a field left out stays as it is.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantDetailsPatch {
    /// The center's legal name, for the footer of its email (CAN-SPAM).
    pub legal_name: Option<String>,
    /// The center's postal address, for the footer of its email (CAN-SPAM).
    pub postal_address: Option<String>,
    /// An IANA time-zone name: attendance days are counted in it.
    pub time_zone: Option<String>,
    /// Minutes without activity after which a session ends (A4), from 5 up to the operator's
    /// idle timeout: a center may make it shorter, never longer. `null` follows the
    /// operator's setting.
    #[serde(default, deserialize_with = "null_or_value")]
    #[schema(value_type = Option<u32>, nullable)]
    pub session_idle_minutes: Option<Option<u32>>,
    /// Sessions each person may have at once (A4), from 1 up to the operator's cap; a sign-in
    /// beyond it ends the person's oldest session. `null` follows the operator's setting.
    #[serde(default, deserialize_with = "null_or_value")]
    #[schema(value_type = Option<u32>, nullable)]
    pub max_sessions_per_user: Option<Option<u32>>,
    /// The details' `version` as you read them: a change made since is refused with `409
    /// conflict` rather than saved over. Without it, the change applies to the details as
    /// they are.
    #[serde(default)]
    pub version: Option<i64>,
}

/// One part of a center's session policy as a patch sets it, in `unit`s that are `scale`
/// stored units: left out, it stays as `stored`; `null` follows the operator; a value must be
/// within `allowed` (whose top is the operator's limit), unless it is the one stored (the
/// operator's limit, lowered since, still holds on every request, and a form saved for
/// another field is not refused for this one).
fn stricter(
    field: &'static str,
    sent: Option<Option<u32>>,
    stored: Option<i64>,
    (scale, unit): (i64, &str),
    allowed: std::ops::RangeInclusive<u64>,
) -> Result<Option<i64>, CoreError> {
    let Some(sent) = sent else {
        return Ok(stored);
    };
    let Some(v) = sent else {
        return Ok(None);
    };
    let value = i64::from(v) * scale;
    if Some(value) == stored || allowed.contains(&u64::from(v)) {
        return Ok(Some(value));
    }
    let (low, high) = (allowed.start(), allowed.end());
    Err(CoreError::invalid(
        field,
        if allowed.is_empty() {
            format!("cannot be set: the operator's limit is already under {low}{unit}")
        } else {
            format!("must be from {low} to {high}{unit} (the operator's limit)")
        },
    ))
}

/// A patch field that may be left out (`None`: unchanged), `null` (`Some(None)`: the
/// operator's setting) or a value.
fn null_or_value<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// A user to create. Staff get an enrollment link; a password is optional for them (they set
/// it through the link) and required for parents.
#[derive(Debug)]
pub struct UserDraft {
    pub email: String,
    pub name: String,
    pub role: Role,
    pub password: Option<Password>,
}

impl Tenants<'_> {
    /// Creates a tenant with its first data key. Operator command.
    pub async fn create_tenant(
        &self,
        slug: &str,
        name: &str,
    ) -> Result<(Tenant, TenantScope), CoreError> {
        let slug = validate::slug("slug", slug)?;
        let name = validate::name("name", name)?;
        let now = self.now_ms();
        let event = Draft::new("", now, Event::TenantCreated { slug: slug.clone() });
        let (tenant, scope) = self
            .store()
            .create_tenant(
                NewTenant {
                    slug,
                    name,
                    created_ms: now,
                },
                NewTenantTx::new().audit(event),
            )
            .await?;
        self.keys().ensure_data_key(&scope).await?;
        Ok((tenant, scope))
    }

    /// The center's details; every member of the tenant may read them.
    pub async fn tenant_details(&self, actor: &Actor) -> Result<TenantDetails, CoreError> {
        Ok(self.store().tenant_details(&actor.scope).await?)
    }

    /// The center's time zone, to show times as the center reads them; UTC when it cannot be
    /// read, so that a page still shows.
    pub async fn time_zone(&self, actor: &Actor) -> String {
        self.tenant_details(actor)
            .await
            .map(|d| d.time_zone)
            .unwrap_or_else(|_| "UTC".into())
    }

    /// Administrator: changes the center's details. The admin event names the fields that
    /// changed and commits with the change (L2).
    pub async fn update_tenant_details(
        &self,
        actor: &Actor,
        patch: TenantDetailsPatch,
    ) -> Result<TenantDetails, CoreError> {
        Core::require_admin_scope(actor)?;
        let mut details = self.store().tenant_details(&actor.scope).await?;
        CoreError::unless_current(patch.version, details.version)?;
        let mut changed = Vec::new();
        if let Some(v) = patch.legal_name {
            let v = Some(validate::name("legal_name", &v)?);
            if details.legal_name != v {
                details.legal_name = v;
                changed.push("legal_name".to_owned());
            }
        }
        if let Some(v) = patch.postal_address {
            let v = Some(validate::postal_address("postal_address", &v)?);
            if details.postal_address != v {
                details.postal_address = v;
                changed.push("postal_address".to_owned());
            }
        }
        if let Some(v) = patch.time_zone {
            let v = validate::time_zone("time_zone", &v)?;
            if details.time_zone != v {
                details.time_zone = v;
                changed.push("time_zone".to_owned());
            }
        }
        let sessions = self.session_policy(
            patch.session_idle_minutes,
            patch.max_sessions_per_user,
            details.sessions,
        )?;
        let before = details.sessions;
        if sessions.idle_timeout_secs != before.idle_timeout_secs {
            changed.push("session_idle_minutes".to_owned());
        }
        if sessions.max_sessions != before.max_sessions {
            changed.push("max_sessions_per_user".to_owned());
        }
        details.sessions = sessions;
        if changed.is_empty() {
            return Ok(details);
        }
        let mut drafts =
            vec![self.admin_draft(actor, Event::TenantDetailsChanged { fields: changed })];
        let mut lower_cap = None;
        if sessions != before {
            drafts.push(self.admin_draft(
                actor,
                Event::SessionPolicyChanged {
                    idle_minutes: sessions.idle_timeout_secs.map(|s| s / 60),
                    max_per_user: sessions.max_sessions,
                },
            ));
            let (cap, was) = (
                self.settings().session_cap_for(&sessions),
                self.settings().session_cap_for(&before),
            );
            // A lower cap ends each person's sessions beyond it now, not at their next
            // sign-in: a stolen session among five does not outlive a cap of one.
            if cap < was {
                lower_cap = Some(LowerCap {
                    cap,
                    at_ms: self.now_ms(),
                });
            }
        }
        // Written over the version read above only: a change landing in between is refused,
        // not undone by the fields merged here.
        let cap = lower_cap.as_ref().map(|l| l.cap);
        let (saved, ended) = self
            .store()
            .set_tenant_details(actor.scope.tx().audit_all(drafts), &details, lower_cap)
            .await?;
        if !ended.is_empty() {
            tracing::info!(tenant = %actor.tenant.id, cap = ?cap, ended = ended.len(), "sessions beyond a lowered cap ended");
        }
        // This node's sessions of the center follow the new policy from the next request;
        // another node's within its cache's second.
        self.inner.sessions.forget_tenant(actor.tenant.id);
        Ok(saved)
    }

    /// The session policy a patch asks for (each part: left out, `null` for the operator's,
    /// or a value), over the one the center has, checked against the operator's bounds (a
    /// center may make sessions stricter, never looser).
    fn session_policy(
        &self,
        idle_minutes: Option<Option<u32>>,
        max_sessions: Option<Option<u32>>,
        now: CenterSessionPolicy,
    ) -> Result<CenterSessionPolicy, CoreError> {
        let s = self.settings();
        let idle_min = MIN_CENTER_IDLE.as_secs() / 60;
        let idle_max = s.session_idle_timeout.as_secs() / 60;
        let idle_timeout_secs = stricter(
            "session_idle_minutes",
            idle_minutes,
            now.idle_timeout_secs,
            (60, " minutes"),
            idle_min..=idle_max,
        )?;
        let max_sessions = stricter(
            "max_sessions_per_user",
            max_sessions,
            now.max_sessions,
            (1, ""),
            1..=u64::from(s.max_sessions_per_user),
        )?;
        Ok(CenterSessionPolicy {
            idle_timeout_secs,
            max_sessions,
        })
    }

    pub async fn tenant(&self, slug: &str) -> Result<(Tenant, TenantScope), CoreError> {
        self.store()
            .tenant_by_slug(slug)
            .await?
            .ok_or(CoreError::NotFound("tenant"))
    }

    /// Creates a user. `by` is who did it ("operator", or an administrator's user ID). Returns
    /// the user and, when no password was given (an invitation), a single-use enrollment
    /// token, which is also emailed.
    pub async fn create_user(
        &self,
        scope: &TenantScope,
        draft: UserDraft,
        by: &str,
    ) -> Result<(User, Option<PlainToken>), CoreError> {
        let email = validate::email("email", &draft.email)?;
        let name = validate::name("name", &draft.name)?;
        let password_hash = match draft.password {
            Some(p) => {
                password::check_new(&p, &[&email, &name]).map_err(CoreError::WeakPassword)?;
                Some(self.hash_password(p).await?)
            }
            // No password: the account is invited, and sets one on its enrollment link.
            None => None,
        };
        let now = self.now_ms();
        let event = Draft::new(
            scope.chain(),
            now,
            Event::UserCreated {
                user_id: String::new(),
                role: draft.role.as_str().into(),
                by: by.into(),
            },
        );
        let user = self
            .store()
            .create_user(
                scope.tx().audit(event),
                NewUser {
                    email,
                    name,
                    role: draft.role,
                    password_hash,
                    created_ms: now,
                },
            )
            .await?;
        let link = if user.password_hash.is_none() {
            let token = self.auth().issue_enrollment(scope, user.id, by).await?;
            let link = self.auth().enrollment_link(&token);
            self.email_enrollment(scope, &user, &link, false).await;
            Some(token)
        } else {
            None
        };
        Ok((user, link))
    }
}

impl Tenants<'_> {
    /// The tenant's users (`ManageUsers`).
    pub async fn list_users(&self, actor: &Actor) -> Result<Vec<User>, CoreError> {
        policy::require_whole_tenant(actor, Action::ManageUsers)?;
        Ok(self.store().users(&actor.scope).await?)
    }
}
