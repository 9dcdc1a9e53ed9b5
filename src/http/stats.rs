//! Statistics: `GET /stats/overview`, `GET /stats/units`, `GET /stats/breakdown`,
//! `PUT /units/{code}/population`.

use actix_web::{web, HttpResponse};

use crate::access::caller::{Caller, RequestMeta};
use crate::base::error::{ApiError, Problem};
use crate::domain::stats::perturb::CellKeys;
use crate::domain::stats::query::{self as stats, Breakdown, BreakdownQuery, Measures, Population, StatsQuery, UnitTable, UnitsQuery};
use crate::http::responses::Unauthorized;
use crate::http::state::AppState;

/// Measures of the caller's scope (analysts, officers, admins).
#[utoipa::path(
    get, path = "/api/v1/stats/overview", tag = "stats", operation_id = "get_stats_overview", params(StatsQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The measures; for analysts, every count of people is perturbed (cell-key method: the same people always give the same value, never 1 or 2; docs/STATS.md)", body = Measures),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Team members do not read statistics", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "A province or commune outside the scope, or unknown", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad dates; a commune not in the province given", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_overview(state: web::Data<AppState>, caller: Caller, query: web::Query<StatsQuery>) -> Result<HttpResponse, ApiError> {
    let keys = CellKeys::from_secret(&state.config.id_hash_secret);
    let body = state.db.run(move |conn| stats::get_overview(conn, &caller, &keys, query.into_inner())).await?;
    Ok(HttpResponse::Ok().json(body))
}

/// One row per unit of the scope, with the same measures and the participation rate.
#[utoipa::path(
    get, path = "/api/v1/stats/units", tag = "stats", operation_id = "get_stats_by_unit", params(StatsQuery, UnitsQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Rows and the total (for analysts, counts of people perturbed, the total on its own)", body = UnitTable),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Team members do not read statistics", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "A province or commune outside the scope, or unknown", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad dates or level; a commune not in the province given", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_units(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<StatsQuery>,
    level: web::Query<UnitsQuery>,
) -> Result<HttpResponse, ApiError> {
    let keys = CellKeys::from_secret(&state.config.id_hash_secret);
    let body = state.db.run(move |conn| stats::get_units(conn, &caller, &keys, query.into_inner(), level.into_inner())).await?;
    Ok(HttpResponse::Ok().json(body))
}

/// Measures broken down by one or two dimensions. Ethnicity cells below 5 are withheld.
#[utoipa::path(
    get, path = "/api/v1/stats/breakdown", tag = "stats", operation_id = "get_stats_breakdown", params(StatsQuery, BreakdownQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Cells and the total (for analysts, counts of people perturbed; ethnicity cells below 5 absent and named in `suppressed`)", body = Breakdown),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Team members do not read statistics", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "A province or commune outside the scope, or unknown", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad dimensions or dates; a commune not in the province given", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_breakdown(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<StatsQuery>,
    by: web::Query<BreakdownQuery>,
) -> Result<HttpResponse, ApiError> {
    let keys = CellKeys::from_secret(&state.config.id_hash_secret);
    let body = state.db.run(move |conn| stats::get_breakdown(conn, &caller, &keys, query.into_inner(), by.into_inner())).await?;
    Ok(HttpResponse::Ok().json(body))
}

/// Set a commune-level unit's adult population (admins).
#[utoipa::path(
    put, path = "/api/v1/units/{code}/population", tag = "stats", operation_id = "put_unit_population", request_body = Population,
    params(("code" = String, Path, description = "Unit code (5 digits)")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Stored", body = Population),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Admins only", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such unit", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid figures", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn put_population(
    state: web::Data<AppState>,
    caller: Caller,
    meta: RequestMeta,
    path: web::Path<String>,
    form: web::Json<Population>,
) -> Result<HttpResponse, ApiError> {
    let body = state.db.run(move |conn| stats::put_population(conn, &caller, &meta, &path, form.into_inner())).await?;
    Ok(HttpResponse::Ok().json(body))
}
