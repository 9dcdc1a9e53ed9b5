//! Responses many operations share, declared once for the OpenAPI document (they appear
//! under `components/responses`). An operation lists them by status, e.g.
//! `(status = 401, response = Unauthorized)`; where an operation has something specific
//! to say, it keeps its own description.

use utoipa::ToResponse;

use crate::base::error::Problem;

/// 400: the JSON body is malformed or has the wrong shape (`malformed_json`, `invalid_body`).
#[derive(ToResponse)]
#[response(
    description = "Malformed JSON, or a body of the wrong shape (`malformed_json`, `invalid_body`)",
    content_type = "application/problem+json"
)]
pub struct MalformedBody(#[allow(dead_code)] Problem);

/// 400: a query parameter or cursor is malformed (`invalid_query`, `invalid_cursor`).
#[derive(ToResponse)]
#[response(
    description = "A malformed query parameter or cursor (`invalid_query`, `invalid_cursor`)",
    content_type = "application/problem+json"
)]
pub struct BadQuery(#[allow(dead_code)] Problem);

/// 401: no valid token.
#[derive(ToResponse)]
#[response(
    description = "Not signed in, or the token no longer counts (`missing_token`, `invalid_token`, `token_expired`, `session_revoked`, `account_inactive`)",
    content_type = "application/problem+json"
)]
pub struct Unauthorized(#[allow(dead_code)] Problem);

/// 412: `If-Match` names an older version.
#[derive(ToResponse)]
#[response(
    description = "Stale If-Match (`precondition_failed`): the body's `current_version` and the ETag header give the current version",
    content_type = "application/problem+json"
)]
pub struct StaleVersion(#[allow(dead_code)] Problem);

/// 415: the body is not JSON.
#[derive(ToResponse)]
#[response(description = "The body is not JSON (`unsupported_media_type`)", content_type = "application/problem+json")]
pub struct NotJson(#[allow(dead_code)] Problem);

/// 422: fields break the rules; `errors` names each.
#[derive(ToResponse)]
#[response(
    description = "Invalid fields (`validation_failed`): `errors` lists every failing field",
    content_type = "application/problem+json"
)]
pub struct InvalidFields(#[allow(dead_code)] Problem);

/// 428: `If-Match` is required.
#[derive(ToResponse)]
#[response(description = "If-Match missing (`precondition_required`)", content_type = "application/problem+json")]
pub struct MissingIfMatch(#[allow(dead_code)] Problem);
