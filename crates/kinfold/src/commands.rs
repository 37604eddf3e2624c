//! Dispatch of each subcommand.

use std::io::Read;
use std::process::ExitCode;

use anyhow::Context;
use kinfold_core::tenants::UserDraft;
use kinfold_crypto::password::Password;
use kinfold_store::Role;

use crate::cli::{
    AccessCommand, AuditCommand, BackupCommand, ChildCommand, Cli, Command, ConfigCommand,
    DomainCommand, EmailCommand, KeysCommand, TenantCommand, UserCommand,
};
use crate::config::{self, Config};
use crate::runtime::{self, KeyPolicy};

/// Builds the config: file, then `KINFOLD_*`, then flags.
pub fn load_config(cli: &Cli, flags: toml::Table) -> anyhow::Result<Config> {
    let mut flags = flags;
    if let Some(d) = &cli.data {
        flags.insert("data".into(), toml::Value::String(d.display().to_string()));
    }
    put(&mut flags, "database_url", cli.database_url.clone());
    put(
        &mut flags,
        "migrate_database_url",
        cli.migrate_database_url.clone(),
    );
    config::load(cli.config.as_deref(), std::env::vars(), flags)
}

fn put(flags: &mut toml::Table, key: &str, value: Option<String>) {
    if let Some(v) = value {
        flags.insert(key.into(), toml::Value::String(v));
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut flags = toml::Table::new();
    match &cli.command {
        Command::Demo(a) => put(&mut flags, "addr", a.listen.addr.clone()),
        Command::Serve(a) => {
            put(&mut flags, "addr", a.listen.addr.clone());
            put(
                &mut flags,
                "tls_cert",
                a.tls_cert.as_ref().map(|p| p.display().to_string()),
            );
            put(
                &mut flags,
                "tls_key",
                a.tls_key.as_ref().map(|p| p.display().to_string()),
            );
            put(&mut flags, "redirect_addr", a.redirect_addr.clone());
            if let Some(p) = &a.trusted_proxies {
                flags.insert(
                    "trusted_proxies".into(),
                    toml::Value::Array(p.iter().cloned().map(toml::Value::String).collect()),
                );
            }
        }
        _ => {}
    }
    let config = load_config(&cli, flags)?;
    runtime::init_logging(&config.log);

    match cli.command {
        Command::Demo(a) => crate::demo::run(config, a.tls)
            .await
            .map(|_| ExitCode::SUCCESS),
        Command::Serve(_) => {
            // Before the data is touched: no silent plaintext outbox.
            config.email_transport()?;
            let rt = runtime::open(config, KeyPolicy::CreateIfNew).await?;
            rt.start().await?;
            crate::serve::serve(rt, None)
                .await
                .map(|_| ExitCode::SUCCESS)
        }
        Command::Migrate => {
            let rt = runtime::open(config, KeyPolicy::CreateIfNew).await?;
            let applied = rt.store.migrate().await.context("migrating")?;
            // One line each, so an upgrade shows which legacy steps ran and that the baseline
            // was recorded over them.
            for (version, description) in &applied {
                crate::cli::say(format!("applied {version:04} {description}"));
            }
            crate::cli::say(format!(
                "{} migration(s) applied; the database is up to date",
                applied.len()
            ));
            rt.close().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Tenant(TenantCommand::Create { slug, name }) => {
            let rt = started(config).await?;
            let (t, _) = rt.core.tenants().create_tenant(&slug, &name).await?;
            crate::cli::say(format!("created tenant {} ({})", t.slug, t.name));
            rt.close().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Tenant(TenantCommand::List) => {
            let rt = started(config).await?;
            for (t, _) in rt.store.tenants().await? {
                crate::cli::say(format!("{}\t{}", t.slug, t.name));
            }
            rt.close().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::User(UserCommand::Create {
            tenant,
            email,
            name,
            role,
            password_stdin,
        }) => {
            let role = Role::parse(&role).with_context(|| {
                format!("role `{role}`: use administrator, teacher, front_desk or parent")
            })?;
            let password = if password_stdin {
                let mut s = String::new();
                std::io::stdin()
                    .read_to_string(&mut s)
                    .context("reading the password")?;
                Some(Password::new(s.trim_end_matches(['\r', '\n']).to_owned()))
            } else {
                None
            };
            let rt = started(config).await?;
            let (_, scope) = rt.core.tenants().tenant(&tenant).await?;
            let (user, link) = rt
                .core
                .tenants()
                .create_user(
                    &scope,
                    UserDraft {
                        email,
                        name,
                        role,
                        password,
                    },
                    "operator",
                )
                .await?;
            crate::cli::say(format!(
                "created {} {} ({})",
                user.role.as_str(),
                user.email,
                user.id
            ));
            if let Some(token) = link {
                crate::cli::say(format!(
                    "enrollment link (single use, expires in 72 h): {}",
                    rt.core.auth().enrollment_link(&token)
                ));
            }
            rt.close().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Access(AccessCommand::Grant {
            tenant,
            reason,
            ttl,
            operator,
        }) => {
            let rt = started(config).await?;
            let (_, scope) = rt.core.tenants().tenant(&tenant).await?;
            let g = rt
                .core
                .access()
                .grant_access(&scope, &operator_name(operator), &reason, ttl)
                .await?;
            crate::cli::say(format!(
                "granted {} access to {tenant} until {} (grant {}); the tenant's administrators can see this",
                g.operator,
                kinfold_core::auth::rfc3339_ms(g.expires_ms),
                g.id
            ));
            rt.close().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Access(AccessCommand::List { tenant }) => {
            let rt = started(config).await?;
            let (_, scope) = rt.core.tenants().tenant(&tenant).await?;
            for g in rt.store.grants(&scope).await? {
                crate::cli::say(format!(
                    "{}\t{}\tuntil {}\t{}",
                    g.id,
                    g.operator,
                    kinfold_core::auth::rfc3339_ms(g.expires_ms),
                    g.reason
                ));
            }
            rt.close().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Child(ChildCommand::Show {
            tenant,
            id,
            operator,
        }) => {
            let rt = started(config).await?;
            let (_, scope) = rt.core.tenants().tenant(&tenant).await?;
            let child = kinfold_store::ChildId::parse(&id).context("not a child ID")?;
            let view = rt
                .core
                .access()
                .operator_child_view(&scope, &operator_name(operator), child)
                .await?;
            crate::cli::say(serde_json::to_string_pretty(
                &kinfold_server::api::view_json(&view),
            )?);
            rt.close().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys(KeysCommand::Rotate { tenant }) => {
            let rt = started(config).await?;
            let tenants = match tenant {
                Some(slug) => vec![rt.core.tenants().tenant(&slug).await?],
                None => rt.store.tenants().await?,
            };
            for (t, scope) in tenants {
                let slug = t.slug.clone();
                let report = rt
                    .core
                    .rotate_data_key(&scope, |n| {
                        crate::cli::say(format!("{slug}: {n} values re-encrypted..."))
                    })
                    .await?;
                crate::cli::say(format!(
                    "{slug}: data key version {} is current; {} values re-encrypted, {} changed meanwhile (already under the new key)",
                    report.new_version, report.resealed, report.skipped_changed
                ));
            }
            rt.close().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys(KeysCommand::Status { tenant }) => {
            let rt = started(config).await?;
            let tenants = match tenant {
                Some(slug) => vec![rt.core.tenants().tenant(&slug).await?],
                None => rt.store.tenants().await?,
            };
            for (t, scope) in tenants {
                for s in rt.core.data_key_status(&scope).await? {
                    let mark = match (s.current, s.stored) {
                        (true, _) => " (current)",
                        (false, true) if s.sealed == 0 => " (can be retired)",
                        (false, true) => "",
                        (false, false) => " (KEY MISSING: these values cannot be opened)",
                    };
                    crate::cli::say(format!(
                        "{}: data key version {} seals {} values{mark}",
                        t.slug, s.version, s.sealed
                    ));
                }
            }
            rt.close().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys(KeysCommand::Retire { tenant, version }) => {
            let rt = started(config).await?;
            let (t, scope) = rt.core.tenants().tenant(&tenant).await?;
            let done = rt.core.retire_data_key(&scope, version).await;
            rt.close().await;
            done?;
            crate::cli::say(format!(
                "{}: data key version {version} destroyed; nothing sealed under it remains",
                t.slug
            ));
            Ok(ExitCode::SUCCESS)
        }
        Command::Email(EmailCommand::Domain(DomainCommand::Add {
            domain,
            spf,
            dmarc_rua,
        })) => {
            let rt = started(config).await?;
            let added = crate::email::add_domain(&rt, &domain, &spf, dmarc_rua.as_deref()).await;
            rt.close().await;
            let (domain, path) = added?;
            crate::cli::say(std::fs::read_to_string(&path)?.trim_end());
            crate::cli::say(format!(
                "Publish these records in {domain}'s DNS zone (they are also in {}), then run `kinfold email doctor --domain {domain}`.",
                path.display()
            ));
            Ok(ExitCode::SUCCESS)
        }
        Command::Email(EmailCommand::Doctor { domain }) => {
            let rt = started(config).await?;
            let found = rt.store.mail_domains().await;
            let key = rt.key.clone();
            rt.close().await;
            let domain = kinfold_core::mail::domains::normalized(&domain);
            let Some(d) = found?.into_iter().find(|d| d.domain == domain) else {
                anyhow::bail!(
                    "`{domain}` is not a sending domain; add it with `kinfold email domain add`"
                );
            };
            let (rsa, ed) = kinfold_core::mail::dkim::records(&d, &key)?;
            let dns = kinfold_core::mail::doctor::SystemDns::new()
                .map_err(|e| anyhow::anyhow!("no DNS resolver: {e}"))?;
            let findings = kinfold_core::mail::doctor::check(&dns, &domain, &[rsa, ed]).await;
            for f in &findings {
                crate::cli::say(f);
            }
            Ok(if findings.iter().any(|f| f.is_error()) {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Email(EmailCommand::Domain(DomainCommand::List)) => {
            let rt = started(config).await?;
            let domains = rt.store.mail_domains().await;
            rt.close().await;
            for d in domains? {
                crate::cli::say(format!(
                    "{}  rsa={}  ed25519={}  added {}",
                    d.domain,
                    d.rsa_selector,
                    d.ed25519_selector,
                    kinfold_core::auth::rfc3339_ms(d.created_ms)
                ));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit(AuditCommand::Verify {
            tenant,
            checkpoints,
        }) => {
            let rt = runtime::open(config, KeyPolicy::MustExist).await?;
            let code = crate::verify::verify_audit(&rt, &tenant, checkpoints.as_deref()).await?;
            rt.close().await;
            Ok(code)
        }
        Command::Openapi => {
            use utoipa::OpenApi;
            let mut doc = kinfold_server::api::openapi::ApiDoc::openapi();
            doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
            crate::cli::say(serde_json::to_string_pretty(&doc)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Backup(BackupCommand::Create { to }) => crate::backup::create(config, &to).await,
        Command::Backup(BackupCommand::List { from }) => crate::backup::list(config, &from).await,
        Command::Backup(BackupCommand::Drill { from }) => crate::backup::drill(config, &from).await,
        Command::Backup(BackupCommand::Verify { from, id }) => {
            crate::backup::verify(config, &from, id.as_deref()).await
        }
        Command::Backup(BackupCommand::Restore { from, id }) => {
            crate::backup::restore(config, &from, id.as_deref()).await
        }
        Command::Config(ConfigCommand::Show) => {
            crate::cli::say(config.masked_toml().trim_end());
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(a) => crate::bench::run(a, Some(&config))
            .await
            .map(|_| ExitCode::SUCCESS),
        Command::BenchServer { mode } => crate::bench::server(&mode, &config)
            .await
            .map(|_| ExitCode::SUCCESS),
    }
}

async fn started(config: Config) -> anyhow::Result<runtime::Runtime> {
    let rt = runtime::open(config, KeyPolicy::CreateIfNew).await?;
    rt.start().await?;
    Ok(rt)
}

fn operator_name(given: Option<String>) -> String {
    given
        .or_else(|| std::env::var("USER").ok())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "operator".into())
}
