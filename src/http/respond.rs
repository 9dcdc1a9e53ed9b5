//! Response helpers shared by the record endpoints: status and `ETag` from a write's
//! outcome.

use actix_web::http::{header, StatusCode};
use actix_web::HttpResponse;
use serde::Serialize;

use crate::domain::records::{etag, CreateOutcome};

/// 201 for a new record, 200 for a replay; the ETag carries the version.
pub fn created(outcome: CreateOutcome, version: i64, body: &impl Serialize) -> HttpResponse {
    let status = match outcome {
        CreateOutcome::New => StatusCode::CREATED,
        CreateOutcome::Replay => StatusCode::OK,
    };
    with_etag(status, version, body)
}

/// `status` with the record's version as its `ETag`.
pub fn with_etag(status: StatusCode, version: i64, body: &impl Serialize) -> HttpResponse {
    HttpResponse::build(status).insert_header((header::ETAG, etag(version))).json(body)
}

/// 200 with the record's version as its `ETag`.
pub fn ok_with_etag(version: i64, body: &impl Serialize) -> HttpResponse {
    with_etag(StatusCode::OK, version, body)
}
