//! `kinfold bench`: authenticated `GET /api/v1/me` and `GET /api/v1/children/{id}` requests/s
//! beside a hello-world axum route, measured the same way in the same run, and their ratios.
//!
//! Each server runs in its own process pinned to CPU 0 (`taskset`), with one Tokio worker; the
//! load generator, wrk, runs pinned to CPU 1 with 64 connections over loopback. Figures on a
//! shared machine drift between runs; the ratio, measured back to back, is what to quote.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;

use anyhow::{bail, Context};
use kinfold_core::auth::SignIn;
use kinfold_core::children::{Allergy, ChildInput, EmergencyContact, Severity};
use kinfold_core::tenants::UserDraft;
use kinfold_core::{Core, SystemClock};
use kinfold_crypto::keyring::{Key, MasterKey};
use kinfold_crypto::password::Password;
use kinfold_store::{ClientInfo, Custody, NewGuardian, Role, Store};

use crate::cli::{say, BenchArgs};
use crate::config::Config;

struct Target {
    child: Child,
    /// The server's stdout (after `READY`) and stdin: `reads` asks it to count the reads of
    /// sealed fields in the audit chain.
    out: BufReader<ChildStdout>,
    input: Option<ChildStdin>,
    url: String,
    cookie: Option<String>,
    record: Option<String>,
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn need(tool: &str, package: &str) -> anyhow::Result<()> {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .stdout(Stdio::null())
        .status()?
        .success();
    if !found {
        bail!("`{tool}` is missing: install the Debian package `{package}` (apt-get install -y {package})");
    }
    Ok(())
}

fn start(mode: &str, env: &[(&str, String)]) -> anyhow::Result<Target> {
    let exe = std::env::current_exe()?;
    let mut child = Command::new("taskset")
        .args(["-c", "0"])
        .arg(exe)
        .args(["bench-server", "--mode", mode])
        // SQLite unless told otherwise, whatever this process's environment says.
        .env_remove("KINFOLD_DATABASE_URL")
        .env_remove("KINFOLD_MIGRATE_DATABASE_URL")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting the bench server")?;
    let mut out = BufReader::new(child.stdout.take().context("bench server stdout")?);
    let input = child.stdin.take();
    let mut line = String::new();
    out.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (Some("READY"), Some(url)) = (parts.next(), parts.next()) else {
        let _ = child.kill();
        bail!("bench server did not start: {line}");
    };
    let cookie = parts.next().filter(|c| *c != "-").map(str::to_owned);
    let record = parts.next().map(str::to_owned);
    Ok(Target {
        child,
        out,
        input,
        url: url.to_owned(),
        cookie,
        record,
    })
}

#[derive(Debug, Default)]
struct Figures {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    non_2xx: u64,
    requests: u64,
    /// Reads of sealed fields in the audit chain after the run, and the group commits that
    /// wrote them (the children read only).
    audited: Option<(u64, u64)>,
}

/// Asks the server for the number of reads of sealed fields in its audit chain, after it has
/// written everything queued.
/// Also gives the entries they are folded into: one per group commit, as one client reads.
fn reads_in_chain(t: &mut Target) -> anyhow::Result<(u64, u64)> {
    let input = t.input.as_mut().context("bench server stdin")?;
    input.write_all(b"reads\n")?;
    input.flush()?;
    let mut line = String::new();
    t.out.read_line(&mut line)?;
    match line.split_whitespace().collect::<Vec<_>>().as_slice() {
        ["READS", n, "IN", entries] => Ok((n.parse()?, entries.parse()?)),
        _ => bail!("the bench server could not count audited reads: {line}"),
    }
}

fn parse_ms(s: &str) -> f64 {
    let s = s.trim();
    let (num, mult) = if let Some(v) = s.strip_suffix("us") {
        (v, 0.001)
    } else if let Some(v) = s.strip_suffix("ms") {
        (v, 1.0)
    } else if let Some(v) = s.strip_suffix('s') {
        (v, 1000.0)
    } else {
        (s, 1.0)
    };
    num.parse::<f64>().unwrap_or(f64::NAN) * mult
}

fn wrk(t: &Target, path: &str, args: &BenchArgs) -> anyhow::Result<Figures> {
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", "1", "wrk", "-t1", "--latency"])
        .arg(format!("-c{}", args.connections))
        .arg(format!("-d{}s", args.seconds));
    if let Some(c) = &t.cookie {
        cmd.arg("-H").arg(format!("Cookie: kinfold_session={c}"));
    }
    let out = cmd
        .arg(format!("{}{path}", t.url))
        .output()
        .context("running wrk")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut f = Figures::default();
    for line in text.lines() {
        let l = line.trim();
        if let Some(v) = l.strip_prefix("Requests/sec:") {
            f.rps = v.trim().parse().unwrap_or(0.0);
        } else if let Some(v) = l.strip_prefix("Non-2xx or 3xx responses:") {
            f.non_2xx = v.trim().parse().unwrap_or(0);
        } else if let Some(v) = l.strip_prefix("50%") {
            f.p50_ms = parse_ms(v);
        } else if let Some(v) = l.strip_prefix("99%") {
            f.p99_ms = parse_ms(v);
        } else if l.contains("requests in") {
            f.requests = l
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
        }
    }
    if f.rps == 0.0 {
        bail!(
            "wrk printed no figures:\n{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(f)
}

/// One round: hello-world, then Kinfold's `/api/v1/me` and child read, back to back.
fn round(args: &BenchArgs) -> anyhow::Result<(Figures, Figures, Figures)> {
    let hello = start("hello", &[])?;
    let h = wrk(&hello, "/", args)?;
    drop(hello);
    let mut kin = start("kinfold", &[])?;
    let k = wrk(&kin, "/api/v1/me", args)?;
    let child_path = format!(
        "/api/v1/children/{}",
        kin.record.clone().unwrap_or_default()
    );
    let mut c = wrk(&kin, &child_path, args)?;
    // Every read wrk saw answered is in the chain (group commit never drops one); a few more
    // may be, answered after wrk stopped counting.
    let (audited, commits) = reads_in_chain(&mut kin)?;
    if audited < c.requests.saturating_sub(c.non_2xx) {
        bail!(
            "{audited} reads of sealed fields in the audit chain, but {} answered",
            c.requests.saturating_sub(c.non_2xx)
        );
    }
    c.audited = Some((audited, commits));
    drop(kin);
    Ok((h, k, c))
}

/// With `pg`, also measures the children read on PostgreSQL (an empty database; its server
/// should run on CPU 0 too, beside Kinfold's, for a like-for-like figure).
pub async fn run(args: BenchArgs, pg: Option<&Config>) -> anyhow::Result<()> {
    if let Some(mb) = args.backup_mb {
        return crate::backup::bench::run(mb, args.rounds).await;
    }
    need("taskset", "util-linux")?;
    if args.mail {
        return mail(&args);
    }
    need("wrk", "wrk")?;
    let mut rounds = Vec::new();
    for _ in 0..args.rounds.max(1) {
        rounds.push(round(&args)?);
    }
    let on_pg = match pg.and_then(|c| c.database_url.as_ref().map(|u| (c, u))) {
        Some((c, url)) => {
            let env = [
                ("KINFOLD_DATABASE_URL", url.expose().to_owned()),
                ("KINFOLD_DB_OWNER_ROLE", c.db_owner_role.clone()),
                ("KINFOLD_DB_APP_ROLE", c.db_app_role.clone()),
            ];
            let kin = start("kinfold", &env)?;
            let path = format!(
                "/api/v1/children/{}",
                kin.record.clone().unwrap_or_default()
            );
            Some(wrk(&kin, &path, &args)?)
        }
        None => None,
    };
    say(format!(
        "kinfold bench: {} connections, {} s each, {} round(s), server on CPU 0, wrk on CPU 1",
        args.connections,
        args.seconds,
        rounds.len()
    ));
    for (i, (h, k, c)) in rounds.iter().enumerate() {
        if rounds.len() > 1 {
            say(format!("round {}:", i + 1));
        }
        say(format!(
            "  hello-world axum GET /       : {:>10.0} req/s  p50 {:.2} ms  p99 {:.2} ms  non-2xx {}",
            h.rps, h.p50_ms, h.p99_ms, h.non_2xx
        ));
        say(format!("  kinfold GET /api/v1/me (auth): {:>10.0} req/s  p50 {:.2} ms  p99 {:.2} ms  non-2xx {} of {}", k.rps, k.p50_ms, k.p99_ms, k.non_2xx, k.requests));
        say(format!(
            "  ratio kinfold / hello-world  : {:.3}",
            k.rps / h.rps
        ));
        say(format!(
            "  kinfold GET /api/v1/children/{{id}} (session, policy, 3 sealed fields opened, data-access event): {:.0} req/s  p50 {:.2} ms  p99 {:.2} ms  non-2xx {} of {}",
            c.rps, c.p50_ms, c.p99_ms, c.non_2xx, c.requests
        ));
        say(format!(
            "  ratio children / hello-world : {:.3}",
            c.rps / h.rps
        ));
        if let Some((n, commits)) = c.audited {
            say(format!(
                "  reads in the audit chain     : {n} (wrk counted {} answered), in {commits} group commits ({:.1} reads each)",
                c.requests.saturating_sub(c.non_2xx),
                n as f64 / commits.max(1) as f64
            ));
        }
    }
    if rounds.len() > 1 {
        let median = |f: &dyn Fn(&(Figures, Figures, Figures)) -> f64| {
            let mut v: Vec<f64> = rounds.iter().map(f).collect();
            v.sort_by(f64::total_cmp);
            v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
        };
        say(format!(
            "median of {} rounds: kinfold / hello-world {:.3}, children / hello-world {:.3}",
            rounds.len(),
            median(&|(h, k, _)| k.rps / h.rps),
            median(&|(h, _, c)| c.rps / h.rps)
        ));
    }
    let h = rounds.last().map(|r| r.0.rps).unwrap_or(f64::NAN);
    if let Some(p) = on_pg {
        say(format!(
            "  on PostgreSQL, GET /api/v1/children/{{id}}: {:.0} req/s  p50 {:.2} ms  p99 {:.2} ms  non-2xx {} of {}",
            p.rps, p.p50_ms, p.p99_ms, p.non_2xx, p.requests
        ));
        say(format!(
            "  ratio children on PostgreSQL / hello-world (last round's) : {:.3}",
            p.rps / h
        ));
    }
    Ok(())
}

/// One pinned server for the bench. Prints `READY <url> <cookie or ->` and serves until killed.
/// Runs the mail bench in a process pinned to CPU 0 and prints its figures.
fn mail(args: &BenchArgs) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    let out = Command::new("taskset")
        .args(["-c", "0"])
        .arg(exe)
        .args(["bench-server", "--mode", &format!("mail:{}", args.seconds)])
        .stderr(Stdio::inherit())
        .output()
        .context("running the mail bench")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut parts = text.split_whitespace();
    let (Some("MAIL"), Some(rsa), Some(mps), Some(n)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        bail!("the mail bench printed no figures: {text}");
    };
    let rsa: f64 = rsa.parse()?;
    let mps: f64 = mps.parse()?;
    say(format!(
        "kinfold bench --mail: {} s each, one process on CPU 0",
        args.seconds
    ));
    say(format!(
        "  raw RSA-2048 signatures (ring)        : {rsa:>8.0} /s"
    ));
    say(format!(
        "  composed + RSA & Ed25519 signed + sent over SMTP to a loopback sink: {mps:>8.0} messages/s ({n} messages)"
    ));
    say(format!(
        "  ratio end-to-end / RSA signing limit  : {:.3}",
        mps / rsa
    ));
    Ok(())
}

pub async fn server(mode: &str, config: &Config) -> anyhow::Result<()> {
    if let Some(secs) = mode.strip_prefix("mail:") {
        let f = kinfold_core::mail::bench::run(secs.parse::<f64>().unwrap_or(5.0)).await?;
        say(format!(
            "MAIL {:.1} {:.1} {}",
            f.rsa_signs_per_sec, f.messages_per_sec, f.messages
        ));
        return Ok(());
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    match mode {
        "hello" => {
            let app =
                axum::Router::new().route("/", axum::routing::get(|| async { "Hello, World!" }));
            say(format!("READY {url} -"));
            axum::serve(listener, app).await?;
        }
        "kinfold" => {
            let dir = tempfile::tempdir()?;
            let key = MasterKey::from_key(Key::generate());
            let store: Arc<dyn Store> = match config.postgres() {
                Some(pg) => {
                    Arc::new(kinfold_store::postgres::PgStore::open(&pg, dir.path(), &key).await?)
                }
                None => Arc::new(
                    kinfold_store::sqlite::SqliteStore::open(dir.path(), &key, config.db_readers)
                        .await?,
                ),
            };
            let core = Core::new(
                store.clone(),
                key.clone(),
                Arc::new(SystemClock),
                Default::default(),
            );
            core.start("bench", "-").await?;
            // As `Runtime::start`: on SQLite, answers wait for the audit journal.
            if config.postgres().is_none() {
                core.audit().resume_journal(dir.path(), &key).await?;
            }
            let (_, scope) = core
                .tenants()
                .create_tenant("bench", "Bench Center")
                .await?;
            let pw = "bench-violet-anchor-47";
            let draft = UserDraft {
                email: "parent@bench.example".into(),
                name: "Bench Parent".into(),
                role: Role::Parent,
                password: Some(Password::new(pw.into())),
            };
            let (parent, _) = core.tenants().create_user(&scope, draft, "bench").await?;
            let admin_draft = UserDraft {
                email: "admin@bench.example".into(),
                name: "Bench Admin".into(),
                role: Role::Administrator,
                password: None,
            };
            let (admin, _) = core
                .tenants()
                .create_user(&scope, admin_draft, "bench")
                .await?;
            let admin = core.operator_actor(&scope, admin.id).await?;
            let room = core
                .classrooms()
                .create_classroom(&admin, &kinfold_store::ClassroomFields::named("Bench Room"))
                .await?;
            let input = ChildInput {
                given_name: "Bench".into(),
                family_name: "Child".into(),
                preferred_name: None,
                date_of_birth: "2022-05-06".into(),
                classroom_id: Some(room.id.to_string()),
                enrollment_status: None,
                enrolled_on: None,
                left_on: None,
                allergies: vec![Allergy {
                    name: "Peanuts".into(),
                    severity: Severity::LifeThreatening,
                }],
                medical_notes: "Epinephrine auto-injector in the office.".into(),
                emergency_contacts: vec![EmergencyContact {
                    name: "Gran Child".into(),
                    relation: "Grandparent".into(),
                    phone: "+14155550111".into(),
                }],
            };
            let child = core.children().create_child(&admin, input).await?;
            let guardian = NewGuardian {
                user_id: Some(parent.id),
                name: "Bench Parent".into(),
                email: None,
                phone: None,
            };
            core.children()
                .add_guardian(
                    &admin,
                    child.id,
                    guardian,
                    "Parent",
                    Custody::Full,
                    true,
                    true,
                )
                .await?;
            let SignIn::SignedIn(issued) = core
                .auth()
                .sign_in(
                    "bench",
                    "parent@bench.example",
                    Password::new(pw.into()),
                    &ClientInfo::default(),
                )
                .await?
            else {
                bail!("bench parent should not need MFA");
            };
            tokio::spawn(answer_counts(core.clone(), store, scope.chain()));
            let app = kinfold_server::app(kinfold_server::AppState::new(core, Default::default()));
            say(format!(
                "READY {url} {} {}",
                issued.token.expose(),
                child.id
            ));
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .await?;
        }
        other => bail!("unknown bench mode {other}"),
    }
    Ok(())
}

/// Answers `reads` on stdin with `READS <n> IN <entries>`: the reads of sealed fields in the
/// bench tenant's audit chain, and the `child_records_read` entries they are folded into (one
/// per group commit, as one client reads), once everything queued is written.
async fn answer_counts(core: Core, store: Arc<dyn Store>, chain: kinfold_store::Chain) {
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if line.trim() != "reads" {
            continue;
        }
        core.audit().flush().await;
        match store.audit_chain(&chain).await {
            Ok(entries) => {
                let per_entry: Vec<usize> = entries
                    .iter()
                    .filter_map(|e| serde_json::from_str::<kinfold_audit::Event>(&e.event).ok())
                    .filter_map(|e| match e {
                        kinfold_audit::Event::ChildRecordsRead { reads } => {
                            Some(reads.iter().map(|r| r.at_ms.all().len()).sum())
                        }
                        _ => None,
                    })
                    .collect();
                let n: usize = per_entry.iter().sum();
                say(format!("READS {n} IN {}", per_entry.len()));
            }
            Err(e) => say(format!("ERROR {e}")),
        }
    }
}
