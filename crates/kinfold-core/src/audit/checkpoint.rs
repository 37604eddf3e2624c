//! Signed checkpoints (L1): after each batch, and every `checkpoint_interval`, chains that grew
//! by `checkpoint_every` entries (or at all, on the timer) get an Ed25519-signed checkpoint.

use std::sync::Arc;

use kinfold_audit::Checkpoint;
use kinfold_store::{Chain, Store};

use crate::keys::Keyring;
use crate::{Clock, CoreError, HashMap};

/// Signs checkpoints for chains that need one.
#[derive(Clone)]
pub struct Checkpointer {
    pub(super) store: Arc<dyn Store>,
    pub(super) keys: Keyring,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) every: i64,
    /// Each chain's last checkpointed seq as this node knows it (read from the store once).
    /// Another node's newer checkpoint only makes this node sign a little early.
    pub(super) last: Arc<std::sync::Mutex<HashMap<Chain, i64>>>,
}

impl Checkpointer {
    /// With `any_growth`, checkpoints every chain that grew at all; otherwise only chains that
    /// grew by `every` entries since their last checkpoint.
    pub async fn run(&self, any_growth: bool) -> Result<usize, CoreError> {
        let chains = self.store.audit_chains().await?;
        self.run_for(&chains, any_growth).await
    }

    pub async fn run_for(&self, chains: &[Chain], any_growth: bool) -> Result<usize, CoreError> {
        let mut made = 0;
        for chain in chains {
            let Some((seq, hash)) = self.store.audit_head(chain).await? else {
                continue;
            };
            let last_cp = self.store.last_checkpoint_seq(chain).await?;
            let grown = seq - last_cp;
            if grown <= 0 || (!any_growth && grown < self.every) {
                continue;
            }
            self.sign(chain, seq, &hash).await?;
            made += 1;
        }
        Ok(made)
    }

    /// After a batch: signs a checkpoint when `chain`, whose new last entry is `head`, grew by
    /// `every` entries since its last one.
    pub(super) async fn after_append(
        &self,
        chain: &Chain,
        head: &kinfold_audit::Entry,
    ) -> Result<(), CoreError> {
        let known = self.last.lock().ok().and_then(|l| l.get(chain).copied());
        let last = match known {
            Some(last) => last,
            None => {
                let last = self.store.last_checkpoint_seq(chain).await?;
                self.remember(chain, last);
                last
            }
        };
        if head.seq - last >= self.every {
            self.sign(chain, head.seq, &head.hash).await?;
        }
        Ok(())
    }

    fn remember(&self, chain: &Chain, seq: i64) {
        if let Ok(mut l) = self.last.lock() {
            l.insert(chain.to_owned(), seq);
        }
    }

    async fn sign(&self, chain: &Chain, seq: i64, hash: &str) -> Result<(), CoreError> {
        let signer = self.keys.signer().await?;
        let at_ms = self.clock.now_ms();
        let cp = Checkpoint {
            chain: chain.to_string(),
            seq,
            hash: hash.to_owned(),
            at_ms,
            public_key: signer.public_base64(),
            signature: signer.sign(&Checkpoint::message(chain.as_str(), seq, hash, at_ms)),
        };
        self.store.insert_checkpoint(cp).await?;
        self.remember(chain, seq);
        Ok(())
    }
}
