//! Server assembly: start-up (migrations, reference data, first admin), the HTTP
//! application with its middleware (tests run exactly what `serve` runs), and the server
//! with its background jobs.

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::{from_fn, Compress};
use actix_web::{web, App, HttpServer};
use diesel::prelude::*;
use rand::Rng;

use crate::access::password::{self, Passwords};
use crate::access::policy::Scope;
use crate::access::token::JwtKeys;
use crate::base::config::{write_private_file, Config};
use crate::domain::units;
use crate::http::extract::{json_config, path_config, query_config, JSON_LIMIT};
use crate::http::state::AppState;
use crate::http::{middleware, routes};
use crate::store::db::Db;
use crate::store::schema::users;
use crate::store::settings::{self, KeptSecret};
use crate::store::values::Role;

/// Opens the database, applies migrations, loads reference data on first start and
/// creates the first admin on an empty database.
pub fn bootstrap(config: Config) -> Result<web::Data<AppState>, String> {
    let db = Db::connect(config.database_url.clone(), config.pool_size)?;
    let applied = db.migrate()?;
    if !applied.is_empty() {
        tracing::info!(migrations = ?applied, "applied migrations");
    }
    let mut conn = db.get().map_err(|e| e.to_string())?;
    settings::check_secrets(&mut conn, &kept_secrets(&config))?;
    if let Some(report) = units::seed_if_empty(&mut conn)? {
        tracing::info!(
            provinces = report.provinces_inserted,
            units = report.units_inserted,
            "loaded the official list of provinces and commune-level units"
        );
    }
    crate::domain::topics::seed_if_empty(&mut conn)?;
    crate::base::time::set_zone(config.time_zone);
    count_in_local_days(&mut conn, &config)?;
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let passwords = Passwords::new((cores / 2).max(1))?;
    ensure_initial_admin(&mut conn, &config)?;
    drop(conn);
    let jwt = JwtKeys::new(&config.jwt_secret);
    let metrics = crate::http::metrics::Metrics::new()?;
    Ok(web::Data::new(AppState { db, config: Arc::new(config), jwt, passwords, access_log: Default::default(), metrics }))
}

/// The secrets whose fingerprints the database keeps (README, "Backup and restore").
pub fn kept_secrets(config: &Config) -> Vec<KeptSecret<'_>> {
    vec![
        KeptSecret {
            setting: "secret_fingerprint_id_hash",
            variable: "HOCVUSO_ID_HASH_SECRET",
            file: config.data_dir.join("id-hash-secret"),
            meaning: "with another key, duplicate detection by ID number silently misses everyone recorded before, \
                      and analysts' statistics change; it cannot be rotated, because the ID numbers it hashed are not kept",
            secret: &config.id_hash_secret,
        },
        KeptSecret {
            setting: "secret_fingerprint_jwt",
            variable: "HOCVUSO_JWT_SECRET",
            file: config.data_dir.join("jwt-secret"),
            meaning: "with another secret, every sign-in, sync cursor, reset code and idempotency record made before \
                      stops being recognised, and instances with different secrets reject each other's tokens; to rotate \
                      it on purpose, set the new one on every instance and run `hocvuso secrets rotate-jwt` once",
            secret: &config.jwt_secret,
        },
    ]
}

/// The statistics counters count in the days of the configured zone, and keep their
/// people's key sums (cell-key perturbation, docs/STATS.md). When the zone they were
/// counted in (kept in `server_settings`) is not the configured one — an upgrade from
/// counting in UTC days, or a changed `HOCVUSO_TIME_ZONE` — or they were counted before
/// people had keys, they are counted again from the records, once, before the server serves.
fn count_in_local_days(conn: &mut crate::store::db::AnyConnection, config: &Config) -> Result<(), String> {
    use crate::store::schema::{classes, teams, trainees};
    const ZONE: &str = "stats_time_zone";
    const KEYS: &str = "stats_cell_keys";
    const KEYS_VERSION: &str = "1";
    let wanted = config.time_zone.to_string();
    let stored = settings::get(conn, ZONE).map_err(|e| format!("reading settings: {e}"))?;
    let keys = settings::get(conn, KEYS).map_err(|e| format!("reading settings: {e}"))?;
    if stored.as_deref() == Some(wanted.as_str()) && keys.as_deref() == Some(KEYS_VERSION) {
        return Ok(());
    }
    let records: i64 = trainees::table.count().get_result::<i64>(conn).map_err(|e| e.to_string())?
        + classes::table.count().get_result::<i64>(conn).map_err(|e| e.to_string())?
        + teams::table.count().get_result::<i64>(conn).map_err(|e| e.to_string())?;
    if records > 0 {
        tracing::warn!(
            from = stored.as_deref().unwrap_or("UTC days"),
            to = %wanted,
            zone = %config.time_zone_name,
            cell_keys = keys.is_some(),
            "statistics were counted in another calendar or without cell keys: counting them again from the records (once)"
        );
        crate::domain::stats::rebuild::rebuild(conn, true)
            .map_err(|e| format!("recounting statistics: {}", e.cause.as_deref().unwrap_or(e.code)))?;
    }
    settings::set(conn, ZONE, &wanted).map_err(|e| format!("writing settings: {e}"))?;
    settings::set(conn, KEYS, KEYS_VERSION).map_err(|e| format!("writing settings: {e}"))
}

/// On an empty database, creates `admin` (whole country). Its password comes from
/// HOCVUSO_ADMIN_PASSWORD, or is random, printed once and written to
/// DATA_DIR/initial-admin-password (mode 0600).
fn ensure_initial_admin(conn: &mut crate::store::db::AnyConnection, config: &Config) -> Result<(), String> {
    let count: i64 = users::table.count().get_result(conn).map_err(|e| format!("reading users: {e}"))?;
    if count > 0 {
        return Ok(());
    }
    let (pw, generated) = match &config.admin_password {
        Some(pw) => {
            let errors = password::check_policy("HOCVUSO_ADMIN_PASSWORD", pw, "admin");
            if let Some(e) = errors.first() {
                return Err(format!("HOCVUSO_ADMIN_PASSWORD is refused: {}", e.message.en));
            }
            (pw.clone(), false)
        }
        None => (random_password(), true),
    };
    let hash = password::hash_blocking(&pw)?;
    crate::domain::users::create_user_unchecked(conn, "admin", "Quản trị viên", Role::Admin, &Scope::Country, &hash)
        .map_err(|e| format!("creating the first admin: {e}"))?;
    if generated {
        let path = config.data_dir.join("initial-admin-password");
        write_private_file(&path, &format!("{pw}\n"))?;
        tracing::warn!(
            username = "admin",
            password = %pw,
            file = %path.display(),
            "created the first admin account; this password is shown once: sign in and change it"
        );
    } else {
        tracing::info!(username = "admin", "created the first admin account with HOCVUSO_ADMIN_PASSWORD");
    }
    Ok(())
}

fn random_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    (0..20).map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char).collect()
}

/// The HTTP application: routes, extractor configs and middleware.
pub fn build(
    state: web::Data<AppState>,
) -> App<
    impl ServiceFactory<ServiceRequest, Config = (), Response = ServiceResponse<impl MessageBody>, Error = actix_web::Error, InitError = ()>,
> {
    App::new()
        .app_data(state)
        .app_data(json_config(JSON_LIMIT))
        .app_data(web::PayloadConfig::new(JSON_LIMIT))
        .app_data(query_config())
        .app_data(path_config())
        .configure(routes::configure)
        .default_service(web::to(routes::unknown_route))
        .wrap(from_fn(crate::http::idempotency::middleware))
        .wrap(from_fn(crate::http::text_guard::middleware))
        .wrap(from_fn(crate::http::known_params::middleware))
        .wrap(from_fn(middleware::request_context))
        .wrap(Compress::default())
}

/// Serves until SIGTERM/SIGINT, then finishes in-flight requests (up to 30 s). With a
/// metrics listener (`HOCVUSO_METRICS_BIND`), a second, one-worker server answers only
/// `GET /metrics` there, without a token.
pub async fn serve(
    state: web::Data<AppState>,
    listener: std::net::TcpListener,
    metrics: Option<std::net::TcpListener>,
) -> std::io::Result<()> {
    let bind = state.config.bind.clone();
    let workers = match state.config.workers {
        0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
        n => n,
    };
    tracing::info!(%bind, workers, backend = state.db.url().backend_name(), "hocvuso is listening; API docs at /docs");
    // Blocking threads per worker: enough to keep every pooled connection busy, few enough
    // that a burst does not spawn dozens of threads that fight over two cores, and two more
    // than that: writers are at most all connections but two (`store::db`'s gate), so even
    // when one worker holds them all, reads and the response compressor (actix compresses
    // chunks over 1 KB on this pool) still find a thread.
    let blocking = (state.config.pool_size as usize).div_ceil(workers).max(2) + 3;
    // Write the access log once a second, and once more after the last request.
    let flusher = state.clone();
    actix_web::rt::spawn(async move {
        let mut tick = actix_web::rt::time::interval(std::time::Duration::from_secs(1));
        for second in 0u64.. {
            tick.tick().await;
            if let Err(e) = flusher.access_log.flush(&flusher.db).await {
                tracing::error!(cause = %e, "writing the access log failed; will retry");
            }
            if second % 300 == 0 {
                if let Err(e) = flusher.db.run(crate::domain::idempotency::purge).await {
                    tracing::error!(cause = %e, "purging expired idempotency keys failed");
                }
                let horizon = flusher.config.sync_horizon_days;
                if let Err(e) = flusher.db.run(move |conn| crate::domain::sync::push::purge(conn, horizon)).await {
                    tracing::error!(cause = %e, "purging old pushed-operation records failed");
                }
                if let Err(e) = flusher.db.run(crate::domain::imports::purge).await {
                    tracing::error!(cause = %e, "purging old import reports failed");
                }
            }
        }
    });
    let metrics_server = match metrics {
        Some(listener) => {
            let state = state.clone();
            tracing::info!(bind = %state.config.metrics_bind.as_deref().unwrap_or(""), "metrics at /metrics");
            let server = HttpServer::new(move || {
                App::new()
                    .app_data(state.clone())
                    .route("/metrics", web::get().to(crate::http::ops::get_metrics_open))
                    .default_service(web::to(routes::unknown_route))
                    .wrap(from_fn(middleware::request_context))
            })
            .workers(1)
            .shutdown_timeout(5)
            .listen(listener)?
            .run();
            let handle = server.handle();
            actix_web::rt::spawn(server);
            Some(handle)
        }
        None => None,
    };
    let last = state.clone();
    let server = HttpServer::new(move || build(state.clone()))
        .workers(workers)
        .worker_max_blocking_threads(blocking)
        .shutdown_timeout(30)
        .listen(listener)?
        .run();
    let result = server.await;
    if let Some(handle) = metrics_server {
        handle.stop(true).await;
    }
    if let Err(e) = last.access_log.flush(&last.db).await {
        tracing::error!(cause = %e, "writing the access log at shutdown failed");
    }
    result
}
