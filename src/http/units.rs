//! Reference data: `GET /units`, `GET /units/{code}`.

use actix_web::{web, HttpResponse};

use crate::access::caller::Caller;
use crate::base::error::{ApiError, Problem};
use crate::domain::records::Page;
use crate::domain::units::{self, Unit, UnitDetail, UnitQuery};
use crate::http::responses::{BadQuery, Unauthorized};
use crate::http::state::AppState;

/// Commune-level units of Vietnam (reference data; every signed-in role).
#[utoipa::path(
    get, path = "/api/v1/units", tag = "units", params(UnitQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Units by code", body = Page<Unit>),
        (status = 400, response = BadQuery),
        (status = 401, response = Unauthorized),
        (status = 422, description = "Bad filter", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_units(state: web::Data<AppState>, _caller: Caller, query: web::Query<UnitQuery>) -> Result<HttpResponse, ApiError> {
    let page = state.db.run(move |conn| units::list_units(conn, query.into_inner())).await?;
    Ok(HttpResponse::Ok().json(page))
}

/// One unit, with the number of hamlets, teams, classes and trainees in it. Only inside the
/// caller's scope (404 otherwise): the counts describe people of the unit.
#[utoipa::path(
    get, path = "/api/v1/units/{code}", tag = "units",
    params(("code" = String, Path, description = "Unit code (5 digits)")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The unit and its counts", body = UnitDetail),
        (status = 401, response = Unauthorized),
        (status = 404, description = "No such unit in the caller's scope", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_unit(state: web::Data<AppState>, caller: Caller, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let code = path.into_inner();
    let detail = state.db.run(move |conn| units::get_unit(conn, &caller, &code)).await?;
    Ok(HttpResponse::Ok().json(detail))
}
