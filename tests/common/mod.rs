//! Test harness: each test gets a fresh database (a temporary SQLite file, or with
//! `TEST_DATABASE_URL=postgres://…` a new PostgreSQL database that is dropped afterwards)
//! and drives the real application in-process.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::header::HeaderMap;
use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use actix_web::web;
use diesel::prelude::*;
use hocvuso::base::config::DatabaseUrl;
use hocvuso::base::config::{Config, Secret};
use hocvuso::http::state::AppState;
use serde_json::{json, Value};

pub mod recount;

pub const ADMIN_PASSWORD: &str = "Thử-nghiệm-quản-trị-2026";
pub const JWT_SECRET: &[u8] = b"test-secret-that-is-long-enough-for-hs256-0123456789";

/// A fresh database for one test, removed when dropped.
pub struct TestDb {
    pub url: DatabaseUrl,
    pub dir: tempfile::TempDir,
    pg: Option<(String, String)>,
}

impl TestDb {
    pub fn new() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        match std::env::var("TEST_DATABASE_URL").ok().filter(|u| !u.is_empty()) {
            Some(base) if base.starts_with("postgres") => {
                let name = format!("hocvuso_t_{}", uuid::Uuid::new_v4().simple());
                let mut admin = diesel::PgConnection::establish(&base).expect("connect to TEST_DATABASE_URL");
                diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut admin).expect("create test database");
                let url = replace_db_name(&base, &name);
                TestDb { url: DatabaseUrl::Postgres(url), dir, pg: Some((base, name)) }
            }
            _ => {
                let path = dir.path().join("test.db");
                TestDb { url: DatabaseUrl::Sqlite(path), dir, pg: None }
            }
        }
    }

    /// Always SQLite, whatever TEST_DATABASE_URL says.
    pub fn new_sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("test.db");
        TestDb { url: DatabaseUrl::Sqlite(path), dir, pg: None }
    }

    pub fn is_postgres(&self) -> bool {
        self.pg.is_some()
    }
}

fn replace_db_name(url: &str, name: &str) -> String {
    let (before_query, query) = match url.find('?') {
        Some(i) => (&url[..i], &url[i..]),
        None => (url, ""),
    };
    let scheme_end = before_query.find("://").map(|i| i + 3).unwrap_or(0);
    match before_query[scheme_end..].find('/') {
        Some(slash) => format!("{}/{}{}", &before_query[..scheme_end + slash], name, query),
        None => format!("{before_query}/{name}{query}"),
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((base, name)) = &self.pg {
            if let Ok(mut admin) = diesel::PgConnection::establish(base) {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut admin);
            }
        }
    }
}

pub const ID_HASH_SECRET: &[u8] = b"test-id-hash-secret-long-enough-0123456789";

/// The cell keys of the test servers' statistics (derived from their privacy key, as the
/// server derives them), to compute what an analyst must read.
pub fn cell_keys() -> hocvuso::domain::stats::perturb::CellKeys {
    hocvuso::domain::stats::perturb::CellKeys::from_secret(&Secret::new(ID_HASH_SECRET.to_vec()))
}

pub fn test_config(db: &TestDb) -> Config {
    Config {
        database_url: db.url.clone(),
        time_zone: chrono::FixedOffset::east_opt(7 * 3600).unwrap(),
        time_zone_name: "Asia/Ho_Chi_Minh".into(),
        bind: "127.0.0.1:0".into(),
        data_dir: db.dir.path().join("data"),
        jwt_secret: Secret::new(JWT_SECRET.to_vec()),
        id_hash_secret: Secret::new(ID_HASH_SECRET.to_vec()),
        sync_horizon_days: 90,
        access_token_ttl: 900,
        refresh_token_ttl: 2_592_000,
        reset_code_ttl: 900,
        pool_size: 4,
        workers: 1,
        admin_password: Some(ADMIN_PASSWORD.into()),
        trust_proxy: false,
        throttle_user_failures: 5,
        throttle_addr_failures: 20,
        throttle_window: 900,
        metrics_bind: None,
        metrics_token: None,
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub raw: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).map(|v| v.to_str().unwrap().to_owned())
    }

    /// The problem body without its per-request id, for exact comparisons.
    pub fn problem(&self) -> Value {
        assert_eq!(self.header("content-type").as_deref(), Some("application/problem+json"), "body: {}", self.body);
        let mut b = self.body.clone();
        let rid = b.as_object_mut().unwrap().remove("request_id");
        assert!(rid.is_some(), "problem without request_id: {}", self.body);
        b
    }

    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }
}

pub struct TestApp<S> {
    pub svc: S,
    pub state: web::Data<AppState>,
    pub db: TestDb,
}

pub async fn app() -> TestApp<impl Service<actix_http::Request, Response = ServiceResponse<impl MessageBody>, Error = actix_web::Error>> {
    app_with(|_| {}).await
}

pub async fn app_with(
    tweak: impl FnOnce(&mut Config),
) -> TestApp<impl Service<actix_http::Request, Response = ServiceResponse<impl MessageBody>, Error = actix_web::Error>> {
    let db = TestDb::new();
    let mut config = test_config(&db);
    tweak(&mut config);
    let state = hocvuso::server::bootstrap(config).expect("bootstrap");
    let svc = test::init_service(hocvuso::server::build(state.clone())).await;
    TestApp { svc, state, db }
}

/// A second application instance on the same database (another server, or a restart).
pub async fn instance_on(
    db: &TestDb,
) -> (web::Data<AppState>, impl Service<actix_http::Request, Response = ServiceResponse<impl MessageBody>, Error = actix_web::Error>) {
    let state = hocvuso::server::bootstrap(test_config(db)).expect("bootstrap");
    let svc = test::init_service(hocvuso::server::build(state.clone())).await;
    (state, svc)
}

pub async fn send<S, B>(svc: &S, req: TestRequest) -> Resp
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let res = test::call_service(svc, req.to_request()).await;
    let status = res.status();
    let headers = res.headers().clone();
    let raw = test::read_body(res).await.to_vec();
    let body = if raw.is_empty() { Value::Null } else { serde_json::from_slice(&raw).unwrap_or(Value::Null) };
    Resp { status, headers, body, raw }
}

impl<S, B> TestApp<S>
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    pub async fn call(&self, req: TestRequest) -> Resp {
        send(&self.svc, req).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Resp {
        self.call(auth(TestRequest::get().uri(path), token)).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.call(auth(TestRequest::post().uri(path), token).set_json(body)).await
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, if_match: Option<&str>, body: Value) -> Resp {
        let mut req = auth(TestRequest::patch().uri(path), token).set_json(body);
        if let Some(tag) = if_match {
            req = req.insert_header(("If-Match", tag));
        }
        self.call(req).await
    }

    /// Signs in and returns the access token; panics unless it succeeds.
    pub async fn login(&self, username: &str, password: &str) -> String {
        let r = self.post("/api/v1/auth/login", None, json!({"username": username, "password": password})).await;
        assert_eq!(r.status, StatusCode::OK, "login {username}: {}", r.body);
        r.body["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn admin_token(&self) -> String {
        self.login("admin", ADMIN_PASSWORD).await
    }

    /// Creates an account through the API with the given admin token; returns its id.
    pub async fn create_user(&self, admin: &str, username: &str, role: &str, scope_kind: &str, scope_code: Option<&str>) -> String {
        let r = self
            .post(
                "/api/v1/users",
                Some(admin),
                json!({"username": username, "full_name": format!("Người dùng {username}"), "role": role,
                       "scope_kind": scope_kind, "scope_code": scope_code, "password": user_password(username)}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "create {username}: {}", r.body);
        r.body["user"]["id"].as_str().unwrap().to_owned()
    }

    /// Creates an account and signs it in; returns (id, token).
    pub async fn user_with_token(
        &self,
        admin: &str,
        username: &str,
        role: &str,
        scope_kind: &str,
        scope_code: Option<&str>,
    ) -> (String, String) {
        let id = self.create_user(admin, username, role, scope_kind, scope_code).await;
        let token = self.login(username, &user_password(username)).await;
        (id, token)
    }

    /// A direct database connection for checking effects.
    pub fn conn(&self) -> hocvuso::store::db::PooledConn {
        self.state.db.get().unwrap()
    }
}

/// The password `create_user` gives an account.
pub fn user_password(_username: &str) -> String {
    "Mây-trắng-Trường-Sơn-27".to_owned()
}

pub fn auth(req: TestRequest, token: Option<&str>) -> TestRequest {
    match token {
        Some(t) => req.insert_header(("Authorization", format!("Bearer {t}"))),
        None => req,
    }
}

/// Quảng Ngãi (51) communes used across tests, and one commune of Hà Nội (01).
pub const QN: &str = "51";
pub const QN_CAM_THANH: &str = "21025";
pub const QN_NGHIA_LO: &str = "21028";
pub const HN: &str = "01";
pub const HN_BA_DINH: &str = "00004";

/// A request helper usable from free functions (`impl App`).
#[allow(async_fn_in_trait)]
pub trait App {
    async fn req(&self, method: &str, path: &str, token: &str, if_match: Option<&str>, body: Option<Value>) -> Resp;
}

impl<S, B> App for TestApp<S>
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    async fn req(&self, method: &str, path: &str, token: &str, if_match: Option<&str>, body: Option<Value>) -> Resp {
        let mut r = match method {
            "GET" => TestRequest::get(),
            "POST" => TestRequest::post(),
            "PATCH" => TestRequest::patch(),
            "PUT" => TestRequest::put(),
            "DELETE" => TestRequest::delete(),
            _ => unreachable!(),
        }
        .uri(path)
        .insert_header(("Authorization", format!("Bearer {token}")));
        if let Some(tag) = if_match {
            r = r.insert_header(("If-Match", tag));
        }
        if let Some(b) = body {
            r = r.set_json(b);
        }
        self.call(r).await
    }
}

/// `SELECT COUNT(*) AS n …` run directly on the database, for checking effects.
pub fn sql_count(conn: &mut hocvuso::store::db::AnyConnection, sql: &str) -> i64 {
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::sql_query(sql).get_result::<N>(conn).unwrap().n
}

/// Every `table.column` whose text holds `needle` anywhere in the database: a privacy
/// check that does not trust any list of where personal data is kept.
pub fn columns_containing(conn: &mut hocvuso::store::db::AnyConnection, needle: &str) -> Vec<String> {
    #[derive(QueryableByName)]
    struct Col {
        #[diesel(sql_type = diesel::sql_types::Text)]
        t: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        c: String,
    }
    let cols: Vec<Col> = match conn {
        hocvuso::store::db::AnyConnection::Sqlite(_) => diesel::sql_query(
            "SELECT m.name AS t, p.name AS c FROM sqlite_master m JOIN pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '__diesel_schema_migrations'",
        )
        .load(conn)
        .unwrap(),
        hocvuso::store::db::AnyConnection::Postgresql(_) => diesel::sql_query(
            "SELECT table_name::text AS t, column_name::text AS c FROM information_schema.columns \
             WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations'",
        )
        .load(conn)
        .unwrap(),
    };
    let pattern = needle.replace('\'', "''");
    cols.into_iter()
        .filter(|col| {
            let sql = format!("SELECT COUNT(*) AS n FROM \"{}\" WHERE CAST(\"{}\" AS TEXT) LIKE '%{pattern}%'", col.t, col.c);
            sql_count(conn, &sql) > 0
        })
        .map(|col| format!("{}.{}", col.t, col.c))
        .collect()
}
