#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    dead_code
)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::Router;
use kinfold_core::tenants::UserDraft;
use kinfold_core::{Core, ManualClock, Settings};
use kinfold_crypto::keyring::{Key, MasterKey};
use kinfold_crypto::password::Password;
use kinfold_crypto::totp::TotpSecret;
use kinfold_server::{AppState, WebSettings};
use kinfold_store::sqlite::SqliteStore;
use kinfold_store::{Role, Store, TenantScope};
use serde_json::{json, Value};
use tower::ServiceExt;

pub struct TestApp {
    pub router: Router,
    pub core: Core,
    pub clock: Arc<ManualClock>,
    pub dir: tempfile::TempDir,
    pub store: Arc<SqliteStore>,
}

#[derive(Clone, Debug)]
pub struct TestUser {
    pub id: String,
    pub email: String,
    pub password: String,
    pub role: Role,
    pub totp: Option<String>,
}

pub struct Seeded {
    pub slug: String,
    pub scope: TenantScope,
    pub admin: TestUser,
    pub teacher: TestUser,
    pub front_desk: TestUser,
    pub parent: TestUser,
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Resp {
    /// The session cookie pair (`name=value`) this response set.
    pub fn cookie(&self) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.contains("kinfold_session=") && !v.contains("kinfold_session=;"))
            .map(|v| v.split(';').next().unwrap().to_owned())
    }

    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

pub const PASSWORD: &str = "violet-anchor-47-drizzle";

impl TestApp {
    pub async fn new() -> Self {
        Self::with(|_, _| {}).await
    }

    pub async fn with(f: impl FnOnce(&mut Settings, &mut WebSettings)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let key = MasterKey::from_key(Key::generate());
        let store = Arc::new(SqliteStore::open(dir.path(), &key, 4).await.unwrap());
        let clock = Arc::new(ManualClock::default());
        let mut settings = Settings::default();
        settings.audit.batch_delay = Duration::from_millis(20);
        let mut web = WebSettings {
            trusted_proxies: vec!["127.0.0.1/32".parse().unwrap()],
            ..Default::default()
        };
        f(&mut settings, &mut web);
        let dyn_store: Arc<dyn Store> = store.clone();
        let core = Core::new(dyn_store, key, clock.clone(), settings);
        core.start("test", "digest").await.unwrap();
        // As if every request came over loopback (the trusted proxy in these tests).
        let router =
            kinfold_server::app(AppState::new(core.clone(), web)).layer(axum::middleware::from_fn(
                |mut req: axum::extract::Request, next: axum::middleware::Next| async move {
                    req.extensions_mut()
                        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
                    next.run(req).await
                },
            ));
        Self {
            router,
            core,
            clock,
            dir,
            store,
        }
    }

    pub fn advance(&self, d: Duration) {
        self.clock.advance(d);
    }

    pub async fn send(&self, req: Request<Body>) -> Resp {
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 22)
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
            text,
        }
    }

    pub fn req(
        method: Method,
        path: &str,
        body: Option<Value>,
        cookie: Option<&str>,
    ) -> Request<Body> {
        let mut b = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "127.0.0.1:8080");
        if let Some(c) = cookie {
            b = b.header(header::COOKIE, c);
        }
        match body {
            Some(v) => b
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(v.to_string()))
                .unwrap(),
            None => b.body(Body::empty()).unwrap(),
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        cookie: Option<&str>,
    ) -> Resp {
        self.send(Self::req(method, path, body, cookie)).await
    }

    pub async fn get(&self, path: &str, cookie: Option<&str>) -> Resp {
        self.call(Method::GET, path, None, cookie).await
    }

    pub async fn post(&self, path: &str, body: Value, cookie: Option<&str>) -> Resp {
        self.call(Method::POST, path, Some(body), cookie).await
    }

    /// A tenant with one user per role; staff have TOTP.
    pub async fn seed_tenant(&self, slug: &str, name: &str) -> Seeded {
        let (_, scope) = self.core.create_tenant(slug, name).await.unwrap();
        let domain = format!("{slug}.example");
        let mut users = Vec::new();
        for role in Role::ALL {
            let email = format!("{}@{domain}", role.as_str().replace('_', "-"));
            let draft = UserDraft {
                email: email.clone(),
                name: format!("Test {}", role.as_str()),
                role,
                password: Some(Password::new(PASSWORD.into())),
            };
            let (user, _) = self.core.create_user(&scope, draft, "test").await.unwrap();
            let totp = if role.is_staff() {
                Some(
                    self.core
                        .provision_totp(&scope, &user)
                        .await
                        .unwrap()
                        .0
                        .to_base32(),
                )
            } else {
                None
            };
            users.push(TestUser {
                id: user.id.to_string(),
                email,
                password: PASSWORD.into(),
                role,
                totp,
            });
        }
        let mut it = users.into_iter();
        Seeded {
            slug: slug.into(),
            scope,
            admin: it.next().unwrap(),
            teacher: it.next().unwrap(),
            front_desk: it.next().unwrap(),
            parent: it.next().unwrap(),
        }
    }

    pub async fn seed(&self) -> Seeded {
        self.seed_tenant("maple-grove", "Maple Grove Early Learning")
            .await
    }

    /// The TOTP code for now (the test clock), after moving to a fresh 30 s step so codes are
    /// never reused by accident.
    pub fn fresh_code(&self, secret: &str) -> String {
        self.advance(Duration::from_secs(30));
        self.code_now(secret)
    }

    pub fn code_now(&self, secret: &str) -> String {
        use kinfold_core::Clock;
        let t = u64::try_from(self.clock.now_ms() / 1000).unwrap();
        TotpSecret::from_base32(secret).unwrap().code_at(t).unwrap()
    }

    pub async fn password_step(&self, slug: &str, u: &TestUser) -> Resp {
        self.post(
            "/api/v1/sessions",
            json!({"tenant": slug, "email": u.email, "password": u.password}),
            None,
        )
        .await
    }

    /// Signs in (with MFA for staff) and returns the cookie pair.
    pub async fn sign_in(&self, slug: &str, u: &TestUser) -> String {
        let r = self.password_step(slug, u).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        if let Some(secret) = &u.totp {
            assert_eq!(r.body["mfa_required"], true);
            let code = self.fresh_code(secret);
            let r2 = self
                .post(
                    "/api/v1/sessions/mfa",
                    json!({"mfa_token": r.body["mfa_token"], "code": code}),
                    None,
                )
                .await;
            assert_eq!(r2.status, StatusCode::OK, "{}", r2.text);
            r2.cookie().expect("cookie after MFA")
        } else {
            assert_eq!(r.body["mfa_required"], false);
            r.cookie().expect("cookie")
        }
    }

    /// Waits for the batching audit writer.
    pub async fn flush_audit(&self) {
        self.core.audit().flush().await;
    }

    /// All audit event kinds in a tenant's chain, oldest first.
    pub async fn audit_kinds(&self, scope: &TenantScope) -> Vec<String> {
        self.flush_audit().await;
        self.store
            .audit_chain(&scope.chain())
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect()
    }
}
