//! Operational endpoints for load balancers and orchestrators.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::base::error::{self, ApiError, Problem};
use crate::http::metrics;
use crate::http::state::AppState;
use crate::store::db;

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"status": "ok"}))]
pub struct Health {
    /// `ok`.
    pub status: &'static str,
}

/// Liveness: the process answers. Touches nothing else.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "Alive", body = Health)))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// Readiness: one round trip to the database; after a write failed for lack of storage,
/// also a small write, until one succeeds again.
#[utoipa::path(
    get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Database reachable (and writable, if a write failed for lack of storage)", body = Health),
        (status = 503, description = "Database unreachable (`service_unavailable`), or writes fail because its storage is full \
                                      (`storage_full`)", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    use std::sync::atomic::Ordering;
    let unready = |e: ApiError| if e.is_server_error() { ApiError::unavailable(e.to_string()) } else { e };
    state.db.run(db::ping).await.map_err(unready)?;
    if error::STORAGE_FULL_SINCE.load(Ordering::SeqCst) != 0 {
        // A write the size of a large request (64 KiB), rolled back: the database must grow
        // to take it.
        enum Probe {
            Fits,
            Fails(ApiError),
        }
        impl From<diesel::result::Error> for Probe {
            fn from(e: diesel::result::Error) -> Self {
                Probe::Fails(e.into())
            }
        }
        let probe = state
            .db
            .run(|conn| {
                Ok(db::write_tx(conn, |conn| -> Result<(), Probe> {
                    crate::store::settings::set(conn, "readyz_write_probe", &"x".repeat(64 * 1024))?;
                    Err(Probe::Fits)
                }))
            })
            .await
            .map_err(unready)?;
        match probe {
            Err(Probe::Fits) | Ok(()) => error::STORAGE_FULL_SINCE.store(0, Ordering::SeqCst),
            Err(Probe::Fails(e)) if e.code == "storage_full" => return Err(error::storage_full_unready()),
            Err(Probe::Fails(e)) => return Err(unready(e)),
        }
    }
    Ok(HttpResponse::Ok().json(Health { status: "ok" }))
}

/// The metrics now, in Prometheus' text format.
async fn metrics_text(state: &AppState) -> Result<String, ApiError> {
    let lags = state.db.run(crate::domain::sync::devices::oldest_unsynced_by_province).await?;
    let (open, idle) = state.db.pool_state();
    state.metrics.render(lags, (open, idle, state.config.pool_size), state.access_log.buffered())
}

fn exposition(text: String) -> HttpResponse {
    HttpResponse::Ok().content_type(metrics::CONTENT_TYPE).insert_header((header::CACHE_CONTROL, "no-store")).body(text)
}

/// Prometheus metrics on the API's address, for `Authorization: Bearer <HOCVUSO_METRICS_TOKEN>`.
#[utoipa::path(
    get, path = "/metrics", tag = "operations",
    security(("metrics_token" = [])),
    responses(
        (status = 200, description = "The metrics in Prometheus' text format", body = String, content_type = "text/plain; version=0.0.4"),
        (status = 401, description = "No or another token (`missing_token`, `invalid_token`)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Metrics are not served on this address (`route_not_found`): no HOCVUSO_METRICS_TOKEN is set", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_metrics(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let Some(token) = &state.config.metrics_token else { return Err(error::route_not_found()) };
    let given = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.split_once(' '));
    match given {
        None => return Err(error::unauthorized("missing_token")),
        Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") && token.matches(t.trim().as_bytes()) => {}
        Some(_) => return Err(error::unauthorized("invalid_token")),
    }
    Ok(exposition(metrics_text(&state).await?))
}

/// Prometheus metrics on the separate metrics address (`HOCVUSO_METRICS_BIND`): no token,
/// the address itself is the access rule.
pub async fn get_metrics_open(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    Ok(exposition(metrics_text(&state).await?))
}
