//! `kinfold audit verify`: recompute a chain and check its signed checkpoints (L6).

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use kinfold_audit::{Checkpoint, SYSTEM_CHAIN};
use serde::Deserialize;

use crate::cli::say;
use crate::runtime::Runtime;

#[derive(Deserialize)]
struct Export {
    chain: String,
    #[serde(default)]
    public_keys: Vec<String>,
    checkpoints: Vec<Checkpoint>,
}

pub async fn verify_audit(
    rt: &Runtime,
    tenant: &str,
    exported: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let chain = if tenant == SYSTEM_CHAIN {
        kinfold_store::Chain::system()
    } else {
        let (_, scope) = rt
            .core
            .tenants()
            .tenant(tenant)
            .await
            .with_context(|| format!("tenant `{tenant}`"))?;
        scope.chain()
    };
    let store = &rt.store;
    let entries = store.audit_chain(&chain).await?;
    let mut checkpoints = store.checkpoints(&chain).await?;
    // Keys are trusted when their private half opens with the master key; exported checkpoints
    // must be signed by one of them.
    let keys = rt.core.keys().public_keys().await?;
    if let Some(path) = exported {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let export: Export =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        anyhow::ensure!(
            export.chain == chain.as_str(),
            "{} holds checkpoints of another chain",
            path.display()
        );
        for k in &export.public_keys {
            anyhow::ensure!(
                keys.contains(k),
                "{} names a signing key this database never had",
                path.display()
            );
        }
        for cp in export.checkpoints {
            if !checkpoints.contains(&cp) {
                checkpoints.push(cp);
            }
        }
    }
    match kinfold_audit::chain::verify(&entries, &checkpoints, &keys) {
        Ok(r) => {
            say(format!(
                "ok: {} entries (seq {}..{}), {} signed checkpoints verified for {tenant}",
                r.entries,
                r.first_seq.unwrap_or(0),
                r.last_seq.unwrap_or(0),
                r.checkpoints
            ));
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            say(format!("FAILED at entry {}: {e}", e.seq()));
            Ok(ExitCode::from(2))
        }
    }
}
