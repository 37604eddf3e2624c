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
use kinfold_store::postgres::{PgOptions, PgStore};
use kinfold_store::sqlite::SqliteStore;
use kinfold_store::{Role, Store, TenantScope};
use serde_json::{json, Value};
use tower::ServiceExt;

pub use crate::harness_raw::Raw;

pub struct TestApp {
    pub router: Router,
    pub core: Core,
    pub clock: Arc<ManualClock>,
    pub dir: tempfile::TempDir,
    pub store: Arc<dyn Store>,
    pub key: MasterKey,
    /// The PostgreSQL database, when the suite runs on PostgreSQL.
    pub pg: Option<kinfold_testpg::TestDb>,
}

/// The store these tests run on: SQLite, or PostgreSQL with `KINFOLD_TEST_STORE=postgres`
/// (`scripts/test.sh` runs the suite both ways).
pub fn on_postgres() -> bool {
    std::env::var("KINFOLD_TEST_STORE").is_ok_and(|v| v == "postgres")
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
    /// The body as text, `<wbr>` hints removed.
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

    /// The version of the record a console page's form was drawn from: the first hidden
    /// `version` field, as a browser would send it back.
    pub fn drawn_version(&self) -> i64 {
        let marker = r#"name="version" value=""#;
        let at = self.text.find(marker).expect("a form with its version") + marker.len();
        self.text[at..].split('"').next().unwrap().parse().unwrap()
    }

    /// Where a redirect points (empty when there is none).
    pub fn location(&self) -> String {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
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
        let (store, pg): (Arc<dyn Store>, _) = if on_postgres() {
            let db = kinfold_testpg::fresh_database().await.unwrap();
            let mut o = PgOptions::new(db.url.clone());
            o.owner_role = db.owner_role.clone();
            o.app_role = db.app_role.clone();
            o.max_connections = 8;
            let store = PgStore::open(&o, dir.path(), &key).await.unwrap();
            (Arc::new(store), Some(db))
        } else {
            let store = SqliteStore::open(dir.path(), &key, 4).await.unwrap();
            (Arc::new(store), None)
        };
        let clock = Arc::new(ManualClock::default());
        let mut settings = Settings::default();
        settings.audit.batch_delay = Duration::from_millis(1);
        let mut web = WebSettings {
            trusted_proxies: vec!["127.0.0.1/32".parse().unwrap()],
            ..Default::default()
        };
        f(&mut settings, &mut web);
        let core = Core::new(store.clone(), key.clone(), clock.clone(), settings);
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
            key,
            pg,
        }
    }

    pub fn advance(&self, d: Duration) {
        self.clock.advance(d);
    }

    /// Sends a request, and checks the answer against the OpenAPI document when the request is
    /// to a documented operation (`contract::check`).
    pub async fn send(&self, req: Request<Body>) -> Resp {
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 22)
            .await
            .unwrap();
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        crate::contract::check(
            method.as_str(),
            &path,
            status.as_u16(),
            content_type,
            &bytes,
        );
        // As read: without the line-break hints pages put in email addresses (`name@<wbr>`),
        // so that a test looking for an address, or for its absence, sees it whole.
        let text = String::from_utf8_lossy(&bytes).replace("<wbr>", "");
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

    /// A JSON POST as sent from `ip` (loopback is a trusted proxy in these tests).
    pub fn post_from(path: &str, body: Value, ip: &str) -> Request<Body> {
        let mut r = Self::req(Method::POST, path, Some(body), None);
        r.headers_mut()
            .insert("x-forwarded-for", ip.parse().unwrap());
        r
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

    /// A console form's POST, as a same-site browser sends it (no `Origin` is sent by the
    /// tests' client, which the CSRF check takes as a non-browser; `csrf` tests add one).
    /// A form post; `cookie` empty: none sent (a mail client's one-click unsubscribe, say).
    pub fn form_req(path: &str, body: &str, cookie: &str) -> Request<Body> {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header("host", "127.0.0.1:8080")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if !cookie.is_empty() {
            req = req.header(header::COOKIE, cookie);
        }
        req.body(Body::from(body.to_owned())).unwrap()
    }

    pub async fn post_form(&self, path: &str, body: &str, cookie: &str) -> Resp {
        self.send(Self::form_req(path, body, cookie)).await
    }

    /// A console form's POST as another site's page would send it (its `Origin`).
    pub async fn post_form_cross_site(&self, path: &str, body: &str, cookie: &str) -> Resp {
        let mut req = Self::form_req(path, body, cookie);
        req.headers_mut()
            .insert("origin", "https://evil.example".parse().unwrap());
        self.send(req).await
    }

    pub async fn get(&self, path: &str, cookie: Option<&str>) -> Resp {
        self.call(Method::GET, path, None, cookie).await
    }

    pub async fn post(&self, path: &str, body: Value, cookie: Option<&str>) -> Resp {
        self.call(Method::POST, path, Some(body), cookie).await
    }

    /// A check-in or check-out (`way`: `in` or `out`) through the API, as `who`.
    pub async fn check(&self, way: &str, body: Value, who: &str) -> Resp {
        self.post(&format!("/api/v1/attendance/check-{way}"), body, Some(who))
            .await
    }

    /// A tenant with one user per role; staff have TOTP.
    pub async fn seed_tenant(&self, slug: &str, name: &str) -> Seeded {
        let (_, scope) = self.core.tenants().create_tenant(slug, name).await.unwrap();
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
            let (user, _) = self
                .core
                .tenants()
                .create_user(&scope, draft, "test")
                .await
                .unwrap();
            let totp = if role.is_staff() {
                Some(
                    self.core
                        .auth()
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

/// Records for the policy tests: three classrooms (the teacher covers A only), and children
/// `a` (room A, the parent's child), `b` (room B, not the parent's), `c` (room A, the parent's
/// through a court-restricted link only).
pub struct Records {
    pub rooms: Vec<String>,
    pub a: String,
    pub b: String,
    pub c: String,
}

impl TestApp {
    pub async fn seed_records(&self, t: &Seeded) -> Records {
        use kinfold_core::children::{Allergy, ChildInput, EmergencyContact, Severity};
        use kinfold_store::{Custody, NewGuardian, UserId};
        let admin = self
            .core
            .operator_actor(&t.scope, UserId::parse(&t.admin.id).unwrap())
            .await
            .unwrap();
        let mut rooms = Vec::new();
        for name in ["Room A", "Room B", "Room C"] {
            rooms.push(
                self.core
                    .classrooms()
                    .create_classroom(&admin, &kinfold_model::ClassroomFields::named(name))
                    .await
                    .unwrap()
                    .id,
            );
        }
        self.core
            .classrooms()
            .assign_teacher(&admin, UserId::parse(&t.teacher.id).unwrap(), rooms[0])
            .await
            .unwrap();
        let mut ids = Vec::new();
        for (i, (given, room)) in [("Ava", 0usize), ("Ben", 1), ("Cleo", 0)]
            .into_iter()
            .enumerate()
        {
            let input = ChildInput {
                given_name: given.into(),
                family_name: "Quill".into(),
                preferred_name: None,
                date_of_birth: "2022-03-04".into(),
                classroom_id: Some(rooms[room].to_string()),
                enrollment_status: None,
                enrolled_on: None,
                left_on: None,
                allergies: vec![Allergy {
                    name: format!("Kumquat{i}"),
                    severity: Severity::Severe,
                }],
                medical_notes: format!("ZEBRA-NOTE-{i}"),
                emergency_contacts: vec![EmergencyContact {
                    name: format!("Contact{i}"),
                    relation: "Aunt".into(),
                    phone: format!("+1415555020{i}"),
                }],
            };
            ids.push(
                self.core
                    .children()
                    .create_child(&admin, input)
                    .await
                    .unwrap()
                    .id,
            );
        }
        let parent = UserId::parse(&t.parent.id).unwrap();
        let g = |name: &str| NewGuardian {
            user_id: Some(parent),
            name: name.into(),
            email: None,
            phone: None,
        };
        self.core
            .children()
            .add_guardian(
                &admin,
                ids[0],
                g("Parent"),
                "Mother",
                Custody::Full,
                true,
                true,
            )
            .await
            .unwrap();
        self.core
            .children()
            .add_guardian(
                &admin,
                ids[2],
                g("Parent"),
                "Mother",
                Custody::CourtRestricted,
                true,
                false,
            )
            .await
            .unwrap();
        self.core
            .children()
            .add_pickup(
                &admin,
                ids[0],
                kinfold_core::children::PickupFields {
                    name: "Aunt Quill",
                    relation: "Aunt",
                    photo_id: "Driver's licence",
                },
                kinfold_crypto::password::Password::new("blue kite 7".into()),
            )
            .await
            .unwrap();
        Records {
            rooms: rooms.iter().map(|r| r.to_string()).collect(),
            a: ids[0].to_string(),
            b: ids[1].to_string(),
            c: ids[2].to_string(),
        }
    }

    /// A raw connection to the test's database, for tampering and for looking at what is
    /// stored. On PostgreSQL it is the superuser's, so row-level security does not apply.
    pub async fn raw(&self) -> Raw {
        use std::str::FromStr;
        if let Some(db) = &self.pg {
            let opts = sqlx::postgres::PgConnectOptions::from_str(&db.url)
                .unwrap()
                .options([("search_path", "kinfold")]);
            return Raw::Pg(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(1)
                    .connect_with(opts)
                    .await
                    .unwrap(),
            );
        }
        let opts = sqlx::sqlite::SqliteConnectOptions::from_str("sqlite://")
            .unwrap()
            .filename(self.dir.path().join("kinfold.db"))
            .pragma("key", format!("\"x'{}'\"", self.key.sqlcipher_key_hex()));
        Raw::Sqlite(
            sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(opts)
                .await
                .unwrap(),
        )
    }
}
