//! A change and the audit entries that record it (L2), handed to the store together.
//!
//! A store method that changes a tenant's records takes a [`TenantTx`], which only a
//! [`TenantScope`] opens. The entries added to it go to that tenant's chain, whatever chain a
//! draft names, and the store writes them in the same database transaction as the change, or
//! writes neither. Changes to the platform take a [`PlatformTx`] (the system chain), and the
//! creation of a tenant a [`NewTenantTx`] (the new tenant's chain). No store method takes loose
//! drafts, and no audit read takes a chain's name as a string: it takes a [`Chain`], which comes
//! from a scope, from [`Chain::system`], or from the store.

use kinfold_audit::{Draft, SYSTEM_CHAIN};

use crate::TenantScope;

/// One audit chain: a tenant's, or the platform's.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Chain(String);

impl Chain {
    /// The platform's chain: operator access, signing keys, sign-ins to no tenant.
    pub fn system() -> Self {
        Self(SYSTEM_CHAIN.to_owned())
    }

    /// A chain the store listed.
    pub(crate) fn stored(name: String) -> Self {
        Self(name)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Lets a map keyed by `Chain` be read with a chain's name, without building a `Chain`.
impl std::borrow::Borrow<str> for Chain {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A draft for the audit writer names its chain by this text.
impl From<Chain> for String {
    fn from(c: Chain) -> Self {
        c.0
    }
}

/// The entries a group commit linked and stored, as the store returned them. Only the store
/// makes one, so [`Written::heads`] names chains the store wrote to: no caller turns an
/// entry's chain text into a [`Chain`].
#[derive(Debug, Clone, Default)]
pub struct Written(Vec<kinfold_audit::Entry>);

impl Written {
    pub(crate) fn new(entries: Vec<kinfold_audit::Entry>) -> Self {
        Self(entries)
    }

    /// Each chain the write grew, with its new last entry.
    pub fn heads(&self) -> Vec<(Chain, &kinfold_audit::Entry)> {
        let mut heads: std::collections::BTreeMap<&str, &kinfold_audit::Entry> =
            std::collections::BTreeMap::new();
        for e in &self.0 {
            heads.insert(&e.chain, e);
        }
        heads
            .into_iter()
            .map(|(chain, head)| (Chain(chain.to_owned()), head))
            .collect()
    }
}

impl std::ops::Deref for Written {
    type Target = [kinfold_audit::Entry];
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl TenantScope {
    /// The audit chain this tenant's events go to.
    pub fn chain(&self) -> Chain {
        Chain(self.tenant_id().to_string())
    }

    /// Opens a change to this tenant's records.
    pub fn tx(&self) -> TenantTx<'_> {
        TenantTx {
            scope: self,
            audit: Vec::new(),
        }
    }
}

/// A change to one tenant's records, with the entries that record it.
#[must_use = "a change is written only when a store method takes it"]
#[derive(Debug)]
pub struct TenantTx<'s> {
    scope: &'s TenantScope,
    audit: Vec<Draft>,
}

impl<'s> TenantTx<'s> {
    /// Adds an entry; it goes to this tenant's chain.
    pub fn audit(mut self, draft: Draft) -> Self {
        self.audit.push(draft);
        self
    }

    /// Adds entries; they go to this tenant's chain.
    pub fn audit_all(mut self, drafts: impl IntoIterator<Item = Draft>) -> Self {
        self.audit.extend(drafts);
        self
    }

    pub fn scope(&self) -> &'s TenantScope {
        self.scope
    }

    /// The scope, and the entries on its chain.
    pub(crate) fn into_parts(self) -> (&'s TenantScope, Vec<Draft>) {
        let chain = self.scope.chain();
        (self.scope, on_chain(self.audit, chain.as_str()))
    }
}

/// A change whose entries go to a chain named by what it changes, not by a scope: the
/// platform's ([`PlatformTx`]) or a tenant's that the change creates ([`NewTenantTx`]).
#[must_use = "a change is written only when a store method takes it"]
#[derive(Debug)]
pub struct ChainTx<T> {
    audit: Vec<Draft>,
    target: std::marker::PhantomData<T>,
}

/// Entries on the system chain.
#[derive(Debug)]
pub enum Platform {}
/// Entries opening a new tenant's chain.
#[derive(Debug)]
pub enum Opening {}

/// A change to the platform (signing keys, sending domains), with the entries that record it
/// on the system chain.
pub type PlatformTx = ChainTx<Platform>;
/// The creation of a tenant, with the entries that open its chain: the caller cannot name a
/// chain that does not exist yet.
pub type NewTenantTx = ChainTx<Opening>;

impl<T> Default for ChainTx<T> {
    fn default() -> Self {
        Self {
            audit: Vec::new(),
            target: std::marker::PhantomData,
        }
    }
}

impl<T> ChainTx<T> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an entry; it goes to this change's chain.
    pub fn audit(mut self, draft: Draft) -> Self {
        self.audit.push(draft);
        self
    }

    /// Adds entries; they go to this change's chain.
    pub fn audit_all(mut self, drafts: impl IntoIterator<Item = Draft>) -> Self {
        self.audit.extend(drafts);
        self
    }
}

impl PlatformTx {
    pub(crate) fn into_audit(self) -> Vec<Draft> {
        on_chain(self.audit, SYSTEM_CHAIN)
    }
}

impl NewTenantTx {
    pub(crate) fn into_audit(self, scope: &TenantScope) -> Vec<Draft> {
        on_chain(self.audit, scope.chain().as_str())
    }
}

fn on_chain(mut drafts: Vec<Draft>, chain: &str) -> Vec<Draft> {
    for d in &mut drafts {
        if d.chain != chain {
            chain.clone_into(&mut d.chain);
        }
    }
    drafts
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::TenantId;
    use kinfold_audit::Event;

    fn draft(chain: &str) -> Draft {
        Draft::new(chain, 1, Event::TenantCreated { slug: "x".into() })
    }

    #[test]
    fn entries_go_to_the_chain_of_the_change_whatever_a_draft_names() {
        let a = TenantScope::new(TenantId::new());
        let b = TenantScope::new(TenantId::new());
        let (scope, audit) = a
            .tx()
            .audit(draft(b.chain().as_str()))
            .audit(draft(SYSTEM_CHAIN))
            .into_parts();
        assert_eq!(scope.tenant_id(), a.tenant_id());
        assert!(audit.iter().all(|d| d.chain == a.chain().as_str()));
        let platform = PlatformTx::new()
            .audit(draft(a.chain().as_str()))
            .into_audit();
        assert_eq!(platform[0].chain, SYSTEM_CHAIN);
        let opening = NewTenantTx::new().audit(draft("")).into_audit(&b);
        assert_eq!(opening[0].chain, b.chain().as_str());
    }

    #[test]
    fn a_writes_heads_are_each_grown_chains_last_entry() {
        let entry = |chain: &str, seq: i64| kinfold_audit::Entry {
            chain: chain.into(),
            seq,
            at_ms: 1,
            category: "access".into(),
            kind: "record_read".into(),
            actor: None,
            ip: None,
            user_agent: None,
            device: None,
            event: "{}".into(),
            prev_hash: String::new(),
            hash: format!("{chain}{seq}"),
        };
        let written = Written::new(vec![entry("a", 4), entry("b", 9), entry("a", 5)]);
        let heads: Vec<_> = written
            .heads()
            .into_iter()
            .map(|(c, e)| (c.as_str().to_owned(), e.seq))
            .collect();
        assert_eq!(heads, [("a".to_owned(), 5), ("b".to_owned(), 9)]);
        assert!(Written::default().heads().is_empty());
    }
}
