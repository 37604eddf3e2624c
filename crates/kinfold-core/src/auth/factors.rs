//! A user's second factor: binding a TOTP secret with fresh recovery codes, and a parent
//! adding or replacing theirs from a session, which takes proof entered with the request (A2).
//! Staff bind theirs through an enrollment link only (`auth.rs`).

use kinfold_audit::Event;
use kinfold_crypto::password::Password;
use kinfold_crypto::totp::TotpSecret;
use kinfold_store::{ClientInfo, TenantScope, User};

use crate::auth::{Enrolled, TotpOffer};
use crate::services::Auth;
use crate::throttle::Secret;
use crate::{Actor, Core, CoreError};

pub const RECOVERY_CODES: usize = 10;

/// What a factor change must carry besides the session.
pub enum FactorProof {
    None,
    /// A code of the current factor: TOTP or a recovery code.
    CurrentCode(String),
    /// The account's password, when it has no factor yet.
    Password(Password),
}

impl std::fmt::Debug for FactorProof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FactorProof::None => "FactorProof::None",
            FactorProof::CurrentCode(_) => "FactorProof::CurrentCode(..)",
            FactorProof::Password(_) => "FactorProof::Password(..)",
        })
    }
}

impl Core {
    /// Seals and binds a confirmed TOTP secret, with fresh recovery codes (returned once).
    pub(crate) async fn bind_totp(
        &self,
        scope: &TenantScope,
        user: &User,
        secret: &TotpSecret,
        step: i64,
        client: &ClientInfo,
    ) -> Result<Vec<String>, CoreError> {
        let sealed = self
            .seal_totp(scope, user.id, "totp_secret", secret)
            .await?;
        let codes = recovery_codes();
        let hashes = codes
            .iter()
            .map(|c| self.keys().recovery_code_hash(c))
            .collect();
        let d = self.draft(
            scope.chain(),
            Some(user.id),
            client,
            Event::MfaEnrolled {
                user_id: user.id.to_string(),
            },
        );
        self.store()
            .set_totp(scope.tx().audit(d), user.id, sealed, step, hashes)
            .await?;
        self.inner.sessions.forget_user(user.id);
        Ok(codes)
    }

    /// Checks the proof a factor change carries, through the same throttles as sign-in.
    async fn prove_account(
        &self,
        actor: &Actor,
        user: &User,
        proof: FactorProof,
        client: &ClientInfo,
    ) -> Result<(), CoreError> {
        let key = Self::throttle_key(&actor.tenant.slug, &user.email);
        let chain = actor.scope.chain();
        match (user.has_mfa(), proof) {
            (true, FactorProof::CurrentCode(code)) => {
                let tried = self
                    .reserve_attempt(Secret::SecondFactor, &key, &chain, &user.email, client)
                    .await?;
                match self.check_second_factor(&actor.scope, user, &code).await? {
                    Ok(_) => {
                        self.attempt_succeeded(Secret::SecondFactor, &key, client)
                            .await
                    }
                    Err(_) => {
                        self.second_factor_failed(&actor.scope, user, &key, tried)
                            .await;
                        Err(CoreError::InvalidCode)
                    }
                }
            }
            (true, _) => Err(CoreError::invalid(
                "current_code",
                "enter a code from your current authenticator app, or a recovery code",
            )),
            (false, FactorProof::Password(password)) => {
                self.reserve_attempt(Secret::Password, &key, &chain, &user.email, client)
                    .await?;
                if !self
                    .verify_password(password, user.password_hash.clone())
                    .await?
                {
                    return Err(CoreError::InvalidCredentials);
                }
                self.attempt_succeeded(Secret::Password, &key, client).await
            }
            (false, _) => Err(CoreError::invalid("password", "enter your password")),
        }
    }
}

impl Auth<'_> {
    /// Parents may add TOTP from a signed-in session. Staff enroll through their link only: a
    /// session alone never binds a new factor to a staff account.
    pub async fn totp_begin(&self, actor: &Actor) -> Result<TotpOffer, CoreError> {
        if actor.role.is_staff() {
            return Err(CoreError::Forbidden(
                "staff enroll a second factor through an enrollment link from an administrator",
            ));
        }
        let secret = TotpSecret::generate();
        let sealed = self
            .seal_totp(&actor.scope, actor.user.id, "pending_totp", &secret)
            .await?;
        self.store()
            .set_pending_totp(&actor.scope, actor.user.id, Some(sealed))
            .await?;
        let uri =
            secret.otpauth_uri(&format!("Kinfold {}", actor.tenant.name), &actor.user.email)?;
        Ok(TotpOffer {
            secret,
            otpauth_uri: uri,
            account: actor.user.email.clone(),
        })
    }

    /// Binds the offered secret. Replacing a factor takes proof entered with this request:
    /// a code of the current factor (TOTP or recovery code), or the password when the account
    /// has no factor yet. A signed-in session alone is not enough (a stolen cookie must not
    /// swap the factor), and the account is emailed about the change.
    pub async fn totp_confirm(
        &self,
        actor: &Actor,
        code: &str,
        proof: FactorProof,
        client: &ClientInfo,
    ) -> Result<Enrolled, CoreError> {
        if actor.role.is_staff() {
            return Err(CoreError::Forbidden(
                "staff enroll a second factor through an enrollment link from an administrator",
            ));
        }
        let user = self
            .store()
            .user(&actor.scope, actor.user.id)
            .await?
            .ok_or(CoreError::Unauthenticated)?;
        let sealed = user.pending_totp.as_ref().ok_or_else(|| {
            CoreError::invalid("code", "start enrollment first: no secret was offered")
        })?;
        let secret = self
            .open_totp(&actor.scope, user.id, "pending_totp", sealed)
            .await?;
        let Some(step) = secret.verify(code, u64::try_from(self.now_ms() / 1000).unwrap_or(0))
        else {
            return Err(CoreError::InvalidCode);
        };
        // Only now the proof, so a request that would fail anyway spends no code of it.
        self.prove_account(actor, &user, proof, client).await?;
        let codes = self
            .bind_totp(
                &actor.scope,
                &user,
                &secret,
                i64::try_from(step).unwrap_or(0),
                client,
            )
            .await?;
        self.email_factor_changed(&actor.scope, &user).await;
        Ok(Enrolled {
            recovery_codes: codes,
            session: None,
        })
    }

    /// Operator and demo path: binds a fresh TOTP secret directly and returns it.
    pub async fn provision_totp(
        &self,
        scope: &TenantScope,
        user: &User,
    ) -> Result<(TotpSecret, Vec<String>), CoreError> {
        let secret = TotpSecret::generate();
        let codes = self
            .bind_totp(scope, user, &secret, 0, &ClientInfo::default())
            .await?;
        Ok((secret, codes))
    }

    /// The number of unused recovery codes, for the account page.
    pub async fn recovery_codes_left(&self, actor: &Actor) -> Result<i64, CoreError> {
        Ok(self
            .store()
            .unused_recovery_codes(&actor.scope, actor.user.id)
            .await?)
    }
}

/// Ten codes of 50 random bits each, as `xxxxx-xxxxx` in lowercase base32.
fn recovery_codes() -> Vec<String> {
    (0..RECOVERY_CODES)
        .map(|_| {
            let raw = kinfold_crypto::token::random_bytes::<7>();
            let s = data_encoding::BASE32_NOPAD.encode(&raw).to_lowercase();
            let s: String = s.chars().take(10).collect();
            let (a, b) = s.split_at(5.min(s.len()));
            format!("{a}-{b}")
        })
        .collect()
}
