//! A child's guardians and authorized pickups.

use kinfold_audit::Event;
use kinfold_crypto::password::Password;
use kinfold_store::{
    ChildId, Custody, Guardian, GuardianId, GuardianLink, LinkChange, NewGuardian, NewLink,
    NewPickup, Pickup, PickupEdit, PickupId, Role,
};

use crate::policy::{self, Action};
use crate::services::Children;
use crate::{validate, Actor, Core, CoreError};

impl Children<'_> {
    /// Every guardian of the tenant (administrators only).
    pub async fn list_guardians(&self, actor: &Actor) -> Result<Vec<(Guardian, i64)>, CoreError> {
        Core::require_admin_scope(actor)?;
        Ok(self.store().guardians(&actor.scope).await?)
    }

    /// A child's guardians, for roles that may see the child's contacts. Outside the scope:
    /// not found.
    pub async fn child_guardians(
        &self,
        actor: &Actor,
        child: ChildId,
    ) -> Result<Vec<GuardianLink>, CoreError> {
        self.store()
            .child(
                &actor.scope,
                child,
                policy::visibility(actor, Action::ReadChildBasic),
            )
            .await?
            .ok_or(CoreError::NotFound("child"))?;
        if !policy::reaches_visible_child(actor.role, Action::ReadChildContacts) {
            return Err(CoreError::Forbidden(
                "your role may not see a child's contacts",
            ));
        }
        Ok(self.store().child_guardians(&actor.scope, child).await?)
    }

    /// Administrator: a guardian (with or without a login) linked to a child.
    #[allow(clippy::too_many_arguments)]
    pub async fn add_guardian(
        &self,
        actor: &Actor,
        child: ChildId,
        new: NewGuardian,
        relationship: &str,
        custody: Custody,
        may_pick_up: bool,
        primary_contact: bool,
    ) -> Result<Guardian, CoreError> {
        Core::require_admin_scope(actor)?;
        self.store()
            .child(&actor.scope, child, kinfold_store::Visibility::All)
            .await?
            .ok_or(CoreError::NotFound("child"))?;
        let new = NewGuardian {
            user_id: new.user_id,
            name: validate::name("name", &new.name)?,
            email: new
                .email
                .as_deref()
                .map(|e| validate::email("email", e))
                .transpose()?,
            phone: new
                .phone
                .as_deref()
                .map(|p| validate::phone("phone", p))
                .transpose()?,
        };
        if let Some(u) = new.user_id {
            let user = self
                .store()
                .user(&actor.scope, u)
                .await?
                .ok_or_else(|| CoreError::invalid("user_id", "no such user"))?;
            if user.role != Role::Parent {
                return Err(CoreError::invalid(
                    "user_id",
                    "a guardian's login must be a parent account",
                ));
            }
        }
        let relationship = validate::name("relationship", relationship)?;
        let id = GuardianId::new();
        let d = self.admin_draft(
            actor,
            Event::GuardianLinked {
                child_id: child.to_string(),
                guardian_id: id.to_string(),
                custody: custody.as_str().into(),
            },
        );
        let link = NewLink {
            child,
            guardian: id,
            relationship,
            custody,
            // A court-restricted guardian never picks up.
            may_pick_up: may_pick_up && custody != Custody::CourtRestricted,
            primary_contact,
        };
        let guardian = self
            .store()
            .create_guardian(actor.scope.tx().audit(d), new, link, self.now_ms())
            .await?;
        self.records_changed(&actor.scope);
        Ok(guardian)
    }

    /// Administrator: an authorized pickup with a verify-only passphrase (argon2id) and the
    /// photo ID the desk asks to see (may be empty).
    pub async fn add_pickup(
        &self,
        actor: &Actor,
        child: ChildId,
        who: PickupFields<'_>,
        passphrase: Password,
    ) -> Result<Pickup, CoreError> {
        Core::require_admin_scope(actor)?;
        self.store()
            .child(&actor.scope, child, kinfold_store::Visibility::All)
            .await?
            .ok_or(CoreError::NotFound("child"))?;
        let (name, relation, photo_id) = who.validated()?;
        let hash = self.hash_passphrase(passphrase).await?;
        let d = self.admin_draft(
            actor,
            Event::PickupAdded {
                child_id: child.to_string(),
                pickup_id: String::new(),
            },
        );
        let new = NewPickup {
            child,
            name,
            relation,
            photo_id,
            passphrase_hash: hash,
        };
        let pickup = self
            .store()
            .add_pickup(actor.scope.tx().audit(d), new, self.now_ms())
            .await?;
        self.records_changed(&actor.scope);
        Ok(pickup)
    }

    /// Administrator: edits an authorized pickup in place: name, relation and photo ID, and
    /// their passphrase when a new one is given (`None` keeps it). It holds from the next
    /// pickup on. With `version` (the pickup's, as the editor read it), a pickup edited since
    /// is refused (`WrongState`, 409); either way the edit is written only over the version
    /// read here, so the fields the chain names as changed are those that did.
    pub async fn edit_pickup(
        &self,
        actor: &Actor,
        child: ChildId,
        pickup: PickupId,
        who: PickupFields<'_>,
        passphrase: Option<Password>,
        version: Option<i64>,
    ) -> Result<(), CoreError> {
        Core::require_admin_scope(actor)?;
        let (name, relation, photo_id) = who.validated()?;
        let passphrase_hash = match passphrase {
            Some(p) => Some(self.hash_passphrase(p).await?),
            None => None,
        };
        // Which fields change, for the chain (never their values). The write itself is
        // refused if the pickup is gone by then.
        let now = self
            .store()
            .pickups(&actor.scope, child)
            .await?
            .into_iter()
            .find(|p| p.id == pickup)
            .ok_or(CoreError::NotFound("authorized pickup"))?;
        CoreError::unless_current(version, now.version)?;
        let changed = [
            ("name", now.name != name),
            ("relation", now.relation != relation),
            ("photo_id", now.photo_id != photo_id),
        ]
        .into_iter()
        .filter(|(_, differs)| *differs)
        .map(|(field, _)| field.to_owned())
        .collect();
        let event = Event::PickupChanged {
            child_id: child.to_string(),
            pickup_id: pickup.to_string(),
            passphrase_replaced: passphrase_hash.is_some(),
            changed,
        };
        let edit = PickupEdit {
            child,
            pickup,
            name,
            relation,
            photo_id,
            passphrase_hash,
            expected: Some(now.version),
        };
        self.apply(actor, LinkChange::EditPickup(edit), event).await
    }

    /// A pickup passphrase: at least 6 characters, kept as its argon2id hash only.
    async fn hash_passphrase(&self, passphrase: Password) -> Result<String, CoreError> {
        if passphrase.expose().chars().count() < 6 {
            return Err(CoreError::invalid(
                "passphrase",
                "must be at least 6 characters",
            ));
        }
        self.hash_password(passphrase).await
    }

    /// Administrator: changes who may take a child (a guardian's custody or pickup
    /// permission), unlinks a guardian, or removes an authorized pickup. It holds from the next
    /// pickup on: the desk reads the links at each check-out. An edit of a pickup goes through
    /// [`Children::edit_pickup`], which checks and hashes what it is given.
    pub async fn change_link(&self, actor: &Actor, change: LinkChange) -> Result<(), CoreError> {
        Core::require_admin_scope(actor)?;
        let event = match &change {
            LinkChange::Set {
                child,
                guardian,
                custody,
                may_pick_up,
                ..
            } => Event::GuardianLinkChanged {
                child_id: child.to_string(),
                guardian_id: guardian.to_string(),
                custody: custody.as_str().to_owned(),
                may_pick_up: *may_pick_up,
            },
            LinkChange::Unlink {
                child, guardian, ..
            } => Event::GuardianUnlinked {
                child_id: child.to_string(),
                guardian_id: guardian.to_string(),
            },
            LinkChange::RemovePickup { child, pickup, .. } => Event::PickupRemoved {
                child_id: child.to_string(),
                pickup_id: pickup.to_string(),
            },
            LinkChange::EditPickup(_) => {
                return Err(CoreError::Internal(
                    "an authorized pickup is edited through edit_pickup".into(),
                ))
            }
        };
        self.apply(actor, change, event).await
    }

    /// One link change and its audit entry, in one transaction.
    async fn apply(
        &self,
        actor: &Actor,
        change: LinkChange,
        event: Event,
    ) -> Result<(), CoreError> {
        Core::require_admin_scope(actor)?;
        let d = self.admin_draft(actor, event);
        self.store()
            .change_link(actor.scope.tx().audit(d), change)
            .await?;
        self.records_changed(&actor.scope);
        Ok(())
    }
}

/// What an administrator enters for an authorized pickup, before it is checked.
#[derive(Debug, Clone, Copy)]
pub struct PickupFields<'a> {
    pub name: &'a str,
    pub relation: &'a str,
    /// The photo ID the desk asks to see; empty for none.
    pub photo_id: &'a str,
}

impl PickupFields<'_> {
    /// The name and relation (as names), and the photo ID: one line of at most 120
    /// characters.
    fn validated(self) -> Result<(String, String, String), CoreError> {
        let name = validate::name("name", self.name)?;
        let relation = validate::name("relation", self.relation)?;
        let photo_id = validate::text("photo_id", self.photo_id, 120)?;
        if photo_id.contains(['\n', '\r', '\t']) {
            return Err(CoreError::invalid("photo_id", "must be one line"));
        }
        Ok((name, relation, photo_id))
    }
}
