//! Operational endpoints for load balancers and orchestrators.

use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use crate::base::error::{self, ApiError, Problem};
use crate::http::state::AppState;
use crate::store::db;

#[derive(Debug, Serialize, ToSchema)]
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
