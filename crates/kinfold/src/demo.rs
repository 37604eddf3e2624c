//! `kinfold demo`: a data directory with a master key, the encrypted database, two centers
//! with one user per role, and `demo-credentials.json`; then it serves like `serve`.

use std::path::Path;

use anyhow::Context;
use kinfold_core::tenants::UserDraft;
use kinfold_core::Core;
use kinfold_crypto::password::Password;
use kinfold_store::Role;
use serde::{Deserialize, Serialize};

use crate::config::{Config, EmailTransport};
use crate::runtime::{self, KeyPolicy};

pub const CREDENTIALS: &str = "demo-credentials.json";

#[derive(Debug, Serialize, Deserialize)]
pub struct Credentials {
    pub base_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_path: Option<String>,
    pub tenants: Vec<TenantCredentials>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct TenantCredentials {
    pub slug: String,
    pub name: String,
    pub users: Vec<UserCredentials>,
    /// A few of the tenant's children.
    #[serde(default)]
    pub child_ids: Vec<String>,
}

#[derive(Serialize, Deserialize)]
pub struct UserCredentials {
    pub role: String,
    pub name: String,
    pub email: String,
    pub password: String,
    pub totp_secret: Option<String>,
    /// For teachers: the classrooms they cover.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classroom_ids: Option<Vec<String>>,
}

impl std::fmt::Debug for UserCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserCredentials")
            .field("role", &self.role)
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

struct DemoCenter {
    slug: &'static str,
    name: &'static str,
    domain: &'static str,
    people: [(&'static str, &'static str, Role); 4],
}

const CENTERS: [DemoCenter; 2] = [
    DemoCenter {
        slug: "maple-grove",
        name: "Maple Grove Early Learning",
        domain: "maple-grove.example",
        people: [
            ("Alex Morgan", "alex.morgan", Role::Administrator),
            ("Priya Natarajan", "priya.natarajan", Role::Teacher),
            ("Sam Okafor", "sam.okafor", Role::FrontDesk),
            ("Jordan Lee", "jordan.lee", Role::Parent),
        ],
    },
    DemoCenter {
        slug: "harbor-lights",
        name: "Harbor Lights Montessori",
        domain: "harbor-lights.example",
        people: [
            ("Maria Santos", "maria.santos", Role::Administrator),
            ("Tomasz Nowak", "tomasz.nowak", Role::Teacher),
            ("Aisha Rahman", "aisha.rahman", Role::FrontDesk),
            ("Chris Walker", "chris.walker", Role::Parent),
        ],
    },
];

/// A random passphrase-style password: four groups of four base32 characters (80 bits).
fn demo_password() -> String {
    let raw = kinfold_crypto::token::random_bytes::<10>();
    let s = data_encoding::BASE32_NOPAD.encode(&raw).to_lowercase();
    s.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

async fn seed(core: &Core) -> anyhow::Result<Vec<TenantCredentials>> {
    let mut out = Vec::new();
    for c in &CENTERS {
        let (tenant, scope) = core
            .tenants()
            .create_tenant(c.slug, c.name)
            .await
            .with_context(|| format!("creating {}", c.slug))?;
        let mut users = Vec::new();
        let mut ids = Vec::new();
        for (name, local, role) in &c.people {
            let email = format!("{local}@{}", c.domain);
            let password = demo_password();
            let draft = UserDraft {
                email: email.clone(),
                name: (*name).into(),
                role: *role,
                password: Some(Password::new(password.clone())),
            };
            let (user, _) = core.tenants().create_user(&scope, draft, "demo").await?;
            let totp_secret = if role.is_staff() {
                let (secret, _codes) = core.auth().provision_totp(&scope, &user).await?;
                Some(secret.to_base32())
            } else {
                None
            };
            ids.push(user.id);
            users.push(UserCredentials {
                role: role.as_str().into(),
                name: (*name).into(),
                email,
                password,
                totp_secret,
                classroom_ids: None,
            });
        }
        let (Some(admin), Some(teacher), Some(desk), Some(parent)) =
            (ids.first(), ids.get(1), ids.get(2), ids.get(3))
        else {
            anyhow::bail!("demo users missing");
        };
        let staff = crate::demo_records::Staff {
            admin: core.operator_actor(&scope, *admin).await?,
            teacher: core.operator_actor(&scope, *teacher).await?,
            front_desk: core.operator_actor(&scope, *desk).await?,
        };
        let records = crate::demo_records::seed(core, &staff, *parent, out.len() * 7).await?;
        if let Some(t) = users.get_mut(1) {
            t.classroom_ids = Some(
                records
                    .teacher_classrooms
                    .iter()
                    .map(|c| c.to_string())
                    .collect(),
            );
        }
        let child_ids = records
            .child_ids
            .iter()
            .take(6)
            .map(|c| c.to_string())
            .collect();
        out.push(TenantCredentials {
            slug: tenant.slug,
            name: tenant.name,
            users,
            child_ids,
        });
    }
    Ok(out)
}

/// Writes a file atomically (temp file, then rename), readable only by its owner.
pub fn write_private_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    kinfold_crypto::private_fs::write_atomic(path, bytes)
        .with_context(|| format!("writing {}", path.display()))
}

pub async fn run(mut config: Config, tls: bool) -> anyhow::Result<()> {
    let mut banner = Vec::new();
    // The demo's point is to show what families would get: it keeps the file transport
    // unless given a relay.
    if config.smtp_url.is_none() {
        config.email_transport.get_or_insert(EmailTransport::File);
    }
    runtime::ensure_dir(&config.data)?;
    // The demo keeps its own backups (D4, D5) beside its data directory, so the administrator's
    // home page shows a real backup and restore drill: one at start, then on the usual
    // schedule.
    if config.backup_to.is_none() && config.database_url.is_none() {
        let data = config.data.canonicalize()?;
        let name = data
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "kinfold-data".into());
        let dest = data.with_file_name(format!("{name}-backups"));
        banner.push(format!(
            "Backups (encrypted, signed): {}, one now and daily, a restore drill now and weekly (set KINFOLD_BACKUP_TO to choose)",
            dest.display()
        ));
        config.backup_to = Some(dest.display().to_string());
    }
    if tls && !config.tls() {
        let dir = config.data.join("tls");
        let files = crate::demo_tls::ensure(&dir)?;
        config.tls_cert = Some(files.cert);
        config.tls_key = Some(files.key);
        let addr = config.socket_addr()?;
        if config.redirect_addr.is_none() {
            config.redirect_addr = Some(
                std::net::SocketAddr::new(addr.ip(), addr.port().saturating_add(1)).to_string(),
            );
        }
        if config.public_url.is_none() {
            config.public_url = Some(format!("https://localhost:{}", addr.port()));
        }
        banner.push(format!(
            "Local CA (trust it to avoid warnings): {}",
            files.ca.display()
        ));
    }
    let rt = runtime::open(config, KeyPolicy::CreateIfNew).await?;
    rt.start().await?;
    crate::email::ensure_demo_domain(&rt).await?;
    banner.push(format!(
        "Sending domain {}: DNS records in {}",
        crate::email::DEMO_DOMAIN,
        rt.config
            .data
            .join("dns")
            .join(format!("{}.zone", crate::email::DEMO_DOMAIN))
            .display()
    ));

    if rt.config.email_transport()? == EmailTransport::File {
        banner.push(format!(
            "Email to families is written, unencrypted, to {} (one .eml file per message; set KINFOLD_SMTP_URL to send)",
            rt.config.outbox_dir().display()
        ));
    }

    let path = rt.config.data.join(CREDENTIALS);
    let base_url = rt.config.public_url();
    let ca_path = rt.config.tls_cert.as_ref().map(|_| {
        rt.config
            .data
            .join("tls")
            .join("ca.pem")
            .display()
            .to_string()
    });
    let existing = rt.store.tenants().await?;
    let creds = if existing.is_empty() {
        tracing::info!("seeding the demo tenants");
        Some(Credentials {
            base_url,
            ca_path,
            tenants: seed(&rt.core).await?,
        })
    } else {
        match std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str::<Credentials>(&t).ok())
        {
            Some(mut c) => {
                c.base_url = base_url;
                c.ca_path = ca_path;
                Some(c)
            }
            None => {
                tracing::warn!(path = %path.display(), "the demo data exists but its credentials file is gone; passwords cannot be recovered");
                None
            }
        }
    };
    if let Some(c) = creds {
        write_private_atomic(&path, serde_json::to_string_pretty(&c)?.as_bytes())?;
        banner.push(format!("Demo sign-in credentials: {}", path.display()));
        if let Some(t) = c.tenants.first() {
            banner.push(format!(
                "Sign in at /login with center `{}` and a user from that file.",
                t.slug
            ));
        }
    }
    crate::serve::serve(rt, Some(banner)).await
}
