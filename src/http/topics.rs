//! The topic catalogue: `/topics`, `/topics/{id}`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

use crate::access::caller::{Caller, RequestMeta};
use crate::base::error::{ApiError, Problem};
use crate::domain::records::IfMatch;
use crate::domain::topics::{self, NewTopic, Topic, TopicPatch, TopicQuery};
use crate::http::respond::{ok_with_etag, with_etag};
use crate::http::responses::{InvalidFields, MissingIfMatch, StaleVersion, Unauthorized};
use crate::http::state::AppState;

/// The topic catalogue (every signed-in role, analysts included: it is reference data).
#[utoipa::path(
    get, path = "/api/v1/topics", tag = "topics", params(TopicQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Topics by id", body = [Topic]),
        (status = 401, response = Unauthorized),
    )
)]
pub async fn list_topics(state: web::Data<AppState>, _caller: Caller, query: web::Query<TopicQuery>) -> Result<HttpResponse, ApiError> {
    let list = state.db.run(move |conn| topics::list_topics(conn, &_caller, query.into_inner())).await?;
    Ok(HttpResponse::Ok().json(list))
}

/// Add a topic (admins).
#[utoipa::path(
    post, path = "/api/v1/topics", tag = "topics", request_body = NewTopic,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = Topic),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A topic with this id exists", body = Problem, content_type = "application/problem+json"),
        (status = 422, response = InvalidFields),
    )
)]
pub async fn create_topic(
    state: web::Data<AppState>,
    caller: Caller,
    meta: RequestMeta,
    form: web::Json<NewTopic>,
) -> Result<HttpResponse, ApiError> {
    let topic = state.db.run(move |conn| topics::create_topic(conn, &caller, &meta, form.into_inner())).await?;
    Ok(with_etag(StatusCode::CREATED, topic.version, &topic))
}

/// Rename, retire or restore a topic (admins). Needs `If-Match`.
#[utoipa::path(
    patch, path = "/api/v1/topics/{id}", tag = "topics", request_body = TopicPatch,
    params(("id" = String, Path, description = "Topic id"), ("If-Match" = String, Header, description = "ETag you read")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Changed", body = Topic),
        (status = 401, response = Unauthorized),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such topic", body = Problem, content_type = "application/problem+json"),
        (status = 412, response = StaleVersion),
        (status = 422, response = InvalidFields),
        (status = 428, response = MissingIfMatch),
    )
)]
pub async fn update_topic(
    state: web::Data<AppState>,
    caller: Caller,
    meta: RequestMeta,
    if_match: IfMatch,
    path: web::Path<String>,
    patch: web::Json<TopicPatch>,
) -> Result<HttpResponse, ApiError> {
    let topic = state.db.run(move |conn| topics::update_topic(conn, &caller, &meta, &if_match, &path, patch.into_inner())).await?;
    Ok(ok_with_etag(topic.version, &topic))
}
