//! The role policy (A1): one table, role x action -> scope. Every service asks it; the docs
//! render it (`docs/security-model.md`), and the HTTP tests try each cell.

use kinfold_store::{Role, UserId, Visibility};

use crate::{Actor, CoreError};

/// How far an action reaches for a role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Not at all.
    No,
    /// The children the user is a guardian of (court-restricted links excluded), or the
    /// user's own records.
    Own,
    /// The classrooms the staff member is assigned to.
    OwnClassrooms,
    /// The whole tenant.
    WholeTenant,
}

impl Scope {
    fn label(self, own: &'static str) -> &'static str {
        match self {
            Scope::No => "—",
            Scope::Own => own,
            Scope::OwnClassrooms => "own classrooms",
            Scope::WholeTenant => "whole tenant",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A child's plain fields: names, date of birth, classroom, enrollment.
    ReadChildBasic,
    /// Allergies and medical notes (sealed).
    ReadChildMedical,
    /// Whether a child has an allergy, and whether one is severe, as an icon on the room's
    /// kiosk (the allergies themselves are not spelled out): for everyone who runs the kiosk.
    SeeAllergyFlag,
    /// Emergency contacts (sealed), authorized pickups and guardians (names, relations).
    ReadChildContacts,
    /// Create, edit and archive a child.
    ManageChild,
    /// Change a child's emergency contacts.
    EditChildContacts,
    CheckInOut,
    /// Guardians, staff, classrooms.
    Administer,
    /// The audit log: the tenant's, or (`Own`) the user's own access events.
    ReadAudit,
    /// Email guardians (E1): a classroom, or the whole center.
    SendMessage,
    /// The tenant's users: list them, reset their MFA, end their sessions.
    ManageUsers,
    /// See the break-glass grants operators gave themselves on this tenant (A3).
    ReadAccessGrants,
    /// Release or discard messages held by the anomaly check (E6).
    ResolveHeldMessages,
}

/// Columns: administrator, teacher, front_desk, parent (the order of [`Role::ALL`]).
pub const TABLE: [(Action, &str, &str, [Scope; 4]); 13] = {
    use Scope::*;
    [
        (
            Action::ReadChildBasic,
            "children, basic fields",
            "own children",
            [WholeTenant, OwnClassrooms, WholeTenant, Own],
        ),
        (
            Action::ReadChildMedical,
            "allergies, medical notes",
            "own children",
            [WholeTenant, OwnClassrooms, No, Own],
        ),
        (
            Action::SeeAllergyFlag,
            "allergy flag on the room kiosk (an icon, not the allergies)",
            "—",
            [WholeTenant, OwnClassrooms, WholeTenant, No],
        ),
        (
            Action::ReadChildContacts,
            "emergency contacts, authorized pickups (names, relations)",
            "own children",
            [WholeTenant, OwnClassrooms, WholeTenant, Own],
        ),
        (
            Action::ManageChild,
            "create, edit, archive a child",
            "—",
            [WholeTenant, No, No, No],
        ),
        (
            Action::EditChildContacts,
            "edit contact details of a child",
            "own children",
            [WholeTenant, No, No, Own],
        ),
        (
            Action::CheckInOut,
            "check-in and check-out",
            "—",
            [WholeTenant, OwnClassrooms, WholeTenant, No],
        ),
        (
            Action::Administer,
            "guardians, staff, classrooms (admin)",
            "—",
            [WholeTenant, No, No, No],
        ),
        (
            Action::ReadAudit,
            "tenant audit log",
            "own access events",
            [WholeTenant, No, No, Own],
        ),
        (
            Action::SendMessage,
            "email families (announcements, daily reports)",
            "—",
            [WholeTenant, OwnClassrooms, No, No],
        ),
        (
            Action::ManageUsers,
            "users: list, reset MFA, end sessions",
            "—",
            [WholeTenant, No, No, No],
        ),
        (
            Action::ReadAccessGrants,
            "break-glass grants to operators",
            "—",
            [WholeTenant, No, No, No],
        ),
        (
            Action::ResolveHeldMessages,
            "release or discard held messages",
            "—",
            [WholeTenant, No, No, No],
        ),
    ]
};

fn column(role: Role) -> usize {
    match role {
        Role::Administrator => 0,
        Role::Teacher => 1,
        Role::FrontDesk => 2,
        Role::Parent => 3,
    }
}

pub fn scope(role: Role, action: Action) -> Scope {
    TABLE
        .iter()
        .find(|(a, ..)| *a == action)
        .and_then(|(_, _, _, scopes)| scopes.get(column(role)).copied())
        .unwrap_or(Scope::No)
}

/// The children an action may reach, as a store query condition.
pub fn visibility(actor: &Actor, action: Action) -> Visibility {
    to_visibility(scope(actor.role, action), actor.user.id)
}

fn to_visibility(scope: Scope, user: UserId) -> Visibility {
    match scope {
        Scope::No => Visibility::None,
        Scope::Own => Visibility::GuardianUser(user),
        Scope::OwnClassrooms => Visibility::ClassroomsOf(user),
        Scope::WholeTenant => Visibility::All,
    }
}

/// For a child the actor can already see (under [`Action::ReadChildBasic`]), whether `action`
/// reaches it too. Exact because every field scope in [`TABLE`] is either `No`, `WholeTenant`,
/// or the same as the basic scope (a test holds the table to that).
pub fn reaches_visible_child(role: Role, action: Action) -> bool {
    let s = scope(role, action);
    s == Scope::WholeTenant || (s != Scope::No && s == scope(role, Action::ReadChildBasic))
}

/// Refuses with 403 when the role has no scope at all for the action (used for collection
/// routes; single records outside the scope answer 404 instead).
pub fn require(actor: &Actor, action: Action) -> Result<Scope, CoreError> {
    match scope(actor.role, action) {
        Scope::No => Err(CoreError::Forbidden("your role does not allow this")),
        s => Ok(s),
    }
}

/// Refuses with 403 unless the role reaches the whole tenant for the action: for pages and
/// exports that show the tenant's records as a whole (the audit log page, its checkpoints, the
/// API access log, the email delivery log; users, grants, held messages).
pub fn require_whole_tenant(actor: &Actor, action: Action) -> Result<(), CoreError> {
    match scope(actor.role, action) {
        Scope::WholeTenant => Ok(()),
        _ => Err(CoreError::Forbidden("your role does not allow this")),
    }
}

/// The table as Markdown, for `docs/security-model.md`.
pub fn markdown() -> String {
    let mut out = String::from(
        "| | administrator | teacher | front_desk | parent |\n|---|---|---|---|---|\n",
    );
    for (_, label, own, scopes) in TABLE {
        let cells: Vec<&str> = scopes.iter().map(|s| s.label(own)).collect();
        out.push_str(&format!("| {label} | {} |\n", cells.join(" | ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_scopes_are_whole_tenant_or_the_basic_scope() {
        for role in Role::ALL {
            let basic = scope(role, Action::ReadChildBasic);
            for a in [
                Action::ReadChildMedical,
                Action::ReadChildContacts,
                Action::EditChildContacts,
            ] {
                let s = scope(role, a);
                assert!(
                    matches!(s, Scope::No | Scope::WholeTenant) || s == basic,
                    "{role:?} {a:?}"
                );
            }
        }
    }

    #[test]
    fn the_table_matches_the_issue() {
        assert_eq!(scope(Role::FrontDesk, Action::ReadChildMedical), Scope::No);
        assert_eq!(
            scope(Role::Teacher, Action::ReadChildMedical),
            Scope::OwnClassrooms
        );
        assert_eq!(scope(Role::Parent, Action::CheckInOut), Scope::No);
        assert!(markdown().contains(
            "| allergies, medical notes | whole tenant | own classrooms | — | own children |"
        ));
    }

    #[test]
    fn every_action_has_one_row() {
        use std::collections::HashSet;
        let actions: HashSet<String> = TABLE.iter().map(|(a, ..)| format!("{a:?}")).collect();
        assert_eq!(actions.len(), TABLE.len());
        for action in [
            Action::ManageUsers,
            Action::ReadAccessGrants,
            Action::ResolveHeldMessages,
        ] {
            assert_eq!(scope(Role::Administrator, action), Scope::WholeTenant);
            for role in [Role::Teacher, Role::FrontDesk, Role::Parent] {
                assert_eq!(scope(role, action), Scope::No, "{role:?} {action:?}");
            }
        }
    }

    #[test]
    fn the_docs_show_this_table() {
        let docs = include_str!("../../../docs/security-model.md");
        assert!(
            docs.contains(&markdown()),
            "docs/security-model.md must contain policy::markdown():\n{}",
            markdown()
        );
    }
}
