//! One-click unsubscribe (E3, RFC 8058) and the preferences it shows.
//!
//! The link's token names one tenant, one recipient and one category (HMAC, see
//! [`token`]). Looking at the page changes nothing, because link scanners
//! prefetch; the one-click POST opts the recipient out of that category at once. Essential
//! categories (account, security) cannot be switched off, and the page says so.

mod token;

use kinfold_audit::{Draft, Event};
use kinfold_store::TenantScope;
pub use token::{Subject, TokenKey};

use super::{category, CATEGORIES};
use crate::services::FamilyMail;
use crate::{Core, CoreError};

/// What the page shows.
#[derive(Debug, Clone)]
pub struct Preferences {
    pub center: String,
    /// The category the link is for.
    pub category: &'static str,
    pub category_label: &'static str,
    pub essential: bool,
    /// Every category: (slug, label, essential, opted out).
    pub categories: Vec<(&'static str, &'static str, bool, bool)>,
}

impl Preferences {
    pub fn unsubscribed(&self) -> bool {
        self.categories
            .iter()
            .any(|(slug, _, _, out)| *slug == self.category && *out)
    }
}

impl Core {
    async fn token_subject(
        &self,
        token: &str,
    ) -> Result<(Subject, TenantScope, String), CoreError> {
        let link = || CoreError::NotFound("unsubscribe link");
        let s = self.unsubscribe_key().verify(token).ok_or_else(link)?;
        let (tenant, scope) = self
            .store()
            .tenant_by_id(kinfold_store::TenantId(s.tenant))
            .await?
            .ok_or_else(link)?;
        Ok((s, scope, tenant.name))
    }

    async fn preferences_of(
        &self,
        s: &Subject,
        scope: &TenantScope,
        center: String,
    ) -> Result<Preferences, CoreError> {
        let cat = category(&s.category).ok_or(CoreError::NotFound("unsubscribe link"))?;
        let out = self
            .store()
            .opt_outs(scope, &s.recipient.to_string())
            .await?;
        Ok(Preferences {
            center,
            category: cat.slug,
            category_label: cat.label,
            essential: cat.essential,
            categories: CATEGORIES
                .iter()
                .map(|c| {
                    (
                        c.slug,
                        c.label,
                        c.essential,
                        !c.essential && out.iter().any(|o| o == c.slug),
                    )
                })
                .collect(),
        })
    }
}

impl FamilyMail<'_> {
    /// The page behind a link: reads only.
    pub async fn unsubscribe_preview(&self, token: &str) -> Result<Preferences, CoreError> {
        let (s, scope, center) = self.token_subject(token).await?;
        self.preferences_of(&s, &scope, center).await
    }

    /// The one-click POST: opts the recipient out of the link's category, once, audited.
    pub async fn unsubscribe(&self, token: &str) -> Result<Preferences, CoreError> {
        let (s, scope, center) = self.token_subject(token).await?;
        let cat = category(&s.category).ok_or(CoreError::NotFound("unsubscribe link"))?;
        if !cat.essential {
            let recipient = s.recipient.to_string();
            let d = Draft::new(
                scope.chain(),
                self.now_ms(),
                Event::EmailUnsubscribed {
                    recipient_id: recipient.clone(),
                    category: cat.slug.to_owned(),
                },
            );
            self.store()
                .opt_out(scope.tx().audit(d), &recipient, cat.slug, self.now_ms())
                .await?;
        }
        self.preferences_of(&s, &scope, center).await
    }
}
