//! The OpenAPI 3.1 document, built from the handlers' annotations. `hocvuso openapi`
//! prints it; `openapi/openapi.json` is the committed copy (tests/openapi.rs keeps it true).

use serde_json::Value;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::base::error;
use crate::http::{
    audit, auth, classes, enrollments, hamlets, imports, ops, reports, responses, stats, sync, teams, topics, trainees, units, users,
};
use crate::store::values;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "hocvuso",
        description = "REST API behind the field app of the \"Bình dân học vụ số\" (popular digital learning) movement: \
community digital technology teams, their classes, trainees, attendance and completion, with statistics for communes and provinces.\n\n\
Errors are RFC 9457 problem documents (`application/problem+json`) with a stable `code`. Texts are Vietnamese by default; \
send `Accept-Language: en` for English.\n\n\
Every POST (except sign-in, refresh, reset and password change) accepts an `Idempotency-Key` header: the first response is kept \
for 24 hours and replayed (with `Idempotency-Replayed: true`) for the same key and request; the same key with another request \
is 422 `idempotency_key_reused`, and 409 `idempotency_key_in_progress` while the first is still running.",
        license(name = "MIT"),
    ),
    paths(
        ops::healthz, ops::readyz, ops::get_metrics,
        auth::login, auth::refresh, auth::logout, auth::reset_password, auth::get_me, auth::change_password,
        users::list_users, users::create_user, users::get_user, users::update_user, users::issue_reset_code,
        units::list_units, units::get_unit,
        hamlets::list_hamlets, hamlets::create_hamlet, hamlets::update_hamlet, hamlets::delete_hamlet,
        topics::list_topics, topics::create_topic, topics::update_topic,
        teams::list_teams, teams::create_team, teams::get_team, teams::update_team, teams::delete_team,
        teams::list_members, teams::create_member, teams::update_member, teams::delete_member,
        classes::list_classes, classes::create_class, classes::get_class, classes::update_class, classes::cancel_class,
        classes::list_sessions, classes::create_session, classes::update_session, classes::delete_session,
        trainees::list_trainees, trainees::create_trainee, trainees::get_trainee, trainees::update_trainee, trainees::delete_trainee,
        trainees::merge_trainee, trainees::erase_trainee, trainees::export_trainee, trainees::withdraw_consent,
        trainees::list_completions, trainees::create_certificate,
        enrollments::list_enrollments, enrollments::create_enrollment, enrollments::drop_enrollment,
        enrollments::get_attendance, enrollments::put_attendance, enrollments::record_completion, enrollments::verify_completion,
        sync::list_changes, sync::push, sync::list_devices,
        sync::report_conflict, sync::list_conflicts, sync::resolve_conflict,
        stats::get_overview, stats::get_units, stats::get_breakdown, stats::put_population,
        reports::get_report, reports::close_report, reports::reopen_report,
        imports::create_import, imports::get_import, imports::get_template, imports::export_trainees, imports::export_teams,
        imports::export_classes,
        audit::list_audit,
    ),
    components(schemas(
        error::Problem, error::ProblemFieldError,
        // Every closed value set, also those only query parameters name.
        values::Role, values::ScopeKind, values::UnitKind, values::HamletKind, values::TeamKind, values::TeamLevel,
        values::MemberRole, values::Affiliation, values::ClassMode, values::ClassStatus, values::Gender, values::TargetGroup,
        values::ConsentMethod, values::ConsentKind, values::CompletionFilter, values::CompletionResult, values::Evidence,
        values::VerificationDecision, values::EnrollmentStatus, values::PushType, values::PushAction, values::OpStatus,
        values::ChangeType, values::ConflictStatus, values::ConflictDecision, values::UnitLevel, values::AreaKind,
        values::BreakdownDim, values::AgeBand, values::ReportFormat, values::ReportStatus, values::ImportKind, values::ImportOutcome,
    ), responses(
        responses::MalformedBody, responses::BadQuery, responses::Unauthorized, responses::StaleVersion, responses::NotJson,
        responses::InvalidFields, responses::MissingIfMatch,
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Sign-in, tokens, one's own account"),
        (name = "users", description = "Accounts, roles and scopes (admins; officers read and issue reset codes)"),
        (name = "units", description = "Vietnam's commune-level units (reference data)"),
        (name = "hamlets", description = "Hamlets and residential groups of a commune"),
        (name = "topics", description = "The catalogue of class topics"),
        (name = "teams", description = "Community digital technology teams and their members"),
        (name = "classes", description = "Bình dân học vụ số classes and their sessions"),
        (name = "trainees", description = "Trainees and their personal data: consent, duplicates, merge, export, erase (never analysts)"),
        (name = "enrollments", description = "Enrollment, attendance, completion and verification (never analysts)"),
        (name = "sync", description = "Offline sync for the field app: the delta feed, the batch push, devices and reported conflicts"),
        (name = "stats", description = "Statistics of the scope, from counters kept with every write (analysts, officers, admins)"),
        (name = "imports", description = "Lists from spreadsheets: templates, dry runs, imports safe to repeat, exports (officers and admins; docs/IMPORT.md)"),
        (name = "audit", description = "Who changed what (admins and officers)"),
        (name = "operations", description = "Liveness, readiness and metrics"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut http = Http::new(HttpAuthScheme::Bearer);
        http.bearer_format = Some("JWT".to_owned());
        http.description = Some("Access token from POST /api/v1/auth/login (15 minutes by default).".to_owned());
        components.add_security_scheme("bearer", SecurityScheme::Http(http));
        let mut token = Http::new(HttpAuthScheme::Bearer);
        token.description = Some("The operators' metrics token (HOCVUSO_METRICS_TOKEN); not an access token.".to_owned());
        components.add_security_scheme("metrics_token", SecurityScheme::Http(token));
    }
}

/// The document as served, checked against and committed: the annotations, completed by
/// [`complete`]. Kept as JSON: utoipa's types cannot hold shared headers and parameters
/// (`components/headers`, `components/parameters`).
pub fn document() -> Value {
    let mut spec = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    complete(&mut spec);
    spec
}

/// The document as pretty JSON with a trailing newline (the committed form, and what
/// `GET /api/v1/openapi.json` sends).
pub fn json() -> String {
    let mut s = serde_json::to_string_pretty(&document()).unwrap_or_default();
    s.push('\n');
    s
}

/// Operations whose successful answers carry the record's version as `ETag` (the handlers
/// answering through `respond::created`, `with_etag` or `ok_with_etag`; tests/api/openapi.rs
/// checks this list against the handlers' source).
pub const ETAG_OPERATIONS: &[&str] = &[
    "create_user",
    "get_user",
    "update_user",
    "update_hamlet",
    "create_hamlet",
    "create_topic",
    "update_topic",
    "create_team",
    "get_team",
    "update_team",
    "create_member",
    "update_member",
    "create_class",
    "get_class",
    "update_class",
    "cancel_class",
    "create_session",
    "update_session",
    "create_trainee",
    "get_trainee",
    "update_trainee",
    "merge_trainee",
    "erase_trainee",
    "withdraw_consent",
    "create_certificate",
    "create_enrollment",
    "drop_enrollment",
    "get_attendance",
    "put_attendance",
    "record_completion",
    "verify_completion",
    "report_conflict",
    "resolve_conflict",
];

/// Creates that take the client's own id and answer a replay with the stored record
/// (`respond::created`): a replay of a record deleted since is 410 `record_deleted`
/// (tests/api/openapi.rs checks this list against the handlers' source).
pub const REPLAYABLE_CREATES: &[&str] = &[
    "create_hamlet",
    "create_team",
    "create_member",
    "create_class",
    "create_session",
    "create_trainee",
    "create_certificate",
    "create_enrollment",
    "report_conflict",
];

/// POST paths that take no `Idempotency-Key` (their answers carry secrets that are never
/// stored, or, for an import, the upload is too large to buffer and the import is safe to
/// repeat by itself; the idempotency middleware skips them).
fn takes_idempotency_key(path: &str) -> bool {
    !(path.starts_with("/api/v1/auth/") || path == "/api/v1/me/password" || path == "/api/v1/imports")
}

/// What every operation can answer besides what its annotation says, added to the document
/// in one place so that no operation forgets one: the request-wide refusals (an unknown or
/// malformed query parameter, a body that is not JSON or too large, control characters),
/// the server's own troubles (500, 503, 507 on writes), `If-Match` and `Idempotency-Key`
/// answers, and the headers the responses carry. Also the `servers` entry, and a
/// description on every operation that has only a summary.
fn complete(spec: &mut Value) {
    use serde_json::json;
    spec["servers"] = json!([{"url": "/", "description": "This server (the API is under /api/v1; operations endpoints at the root)"}]);
    let problem = |description: &str, headers: Value| {
        json!({"description": description, "headers": headers,
               "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}})
    };
    let request_id = json!({"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}});
    let with_retry = json!({"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"},
                            "Retry-After": {"$ref": "#/components/headers/Retry-After"}});
    let components = &mut spec["components"];
    components["headers"] = json!({
        "X-Request-Id": {"description": "The request's id: the client's own `X-Request-Id` if it sent a sane one (1–64 of \
            `A-Za-z0-9._-`), otherwise a new UUID. Quote it when reporting a problem.", "schema": {"type": "string"}},
        "ETag": {"description": "The record's version, e.g. `\"v3\"`: send it back as `If-Match` to change the record.",
            "schema": {"type": "string", "example": "\"v3\""}},
        "Retry-After": {"description": "Seconds to wait before trying again.", "schema": {"type": "integer", "minimum": 0}},
        "Idempotency-Replayed": {"description": "`true` when this is the stored answer to an earlier request with the same \
            `Idempotency-Key`.", "schema": {"type": "string", "enum": ["true"]}},
    });
    components["parameters"] = json!({
        "Idempotency-Key": {"name": "Idempotency-Key", "in": "header", "required": false,
            "description": "Makes the POST safe to retry: the first answer is kept for 24 hours and replayed for the same \
                key and request (with `Idempotency-Replayed: true`); the same key with another request is 422 \
                `idempotency_key_reused`, and 409 `idempotency_key_in_progress` while the first still runs.",
            "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"}},
    });
    let shared = [
        (
            "BadRequest",
            problem(
                "A query parameter the operation does not take (`unknown_parameter`), a malformed one or cursor \
            (`invalid_query`, `invalid_cursor`), malformed JSON or a body of the wrong shape (`malformed_json`, `invalid_body`), \
            or a bad `Idempotency-Key` (`invalid_idempotency_key`)",
                request_id.clone(),
            ),
        ),
        (
            "NotFound",
            problem("No such record in the caller's scope, or a path that names none (`not_found`, `route_not_found`)", request_id.clone()),
        ),
        ("PayloadTooLarge", problem("The body is over the limit (`payload_too_large`)", request_id.clone())),
        (
            "IdempotencyInProgress",
            problem(
                "An earlier request with this `Idempotency-Key` is still running \
            (`idempotency_key_in_progress`), or the record conflicts with what is stored",
                request_id.clone(),
            ),
        ),
        (
            "RecordGone",
            problem(
                "The record was deleted (`record_deleted`): a replayed create of a record deleted since, or a \
            decision about a record deleted since the report",
                request_id.clone(),
            ),
        ),
        ("InternalError", problem("An error of the server (`internal_error`); the body names no cause, the log does", request_id.clone())),
        (
            "Unavailable",
            problem(
                "The database cannot be reached or is busy (`service_unavailable`); retry after `Retry-After` seconds",
                with_retry.clone(),
            ),
        ),
        (
            "StorageFull",
            problem(
                "The server's storage is full (`storage_full`): nothing was stored; retry after `Retry-After` seconds",
                with_retry.clone(),
            ),
        ),
    ];
    let responses = &mut components["responses"];
    for (name, response) in shared {
        responses[name] = response;
    }
    if let Some(all) = responses.as_object_mut() {
        for (name, r) in all.iter_mut() {
            let headers = &mut r["headers"];
            headers["X-Request-Id"] = json!({"$ref": "#/components/headers/X-Request-Id"});
            if name == "StaleVersion" {
                headers["ETag"] = json!({"$ref": "#/components/headers/ETag"});
            }
        }
    }
    type_free_bodies(&mut spec["components"]["schemas"]);
    // A page names its item schema instead of carrying a copy of it.
    if let Some(schemas) = spec["components"]["schemas"].as_object_mut() {
        let names: Vec<String> = schemas.keys().cloned().collect();
        for name in names {
            let Some(item) = name.strip_prefix("Page_") else { continue };
            if schemas.contains_key(item) {
                let page = &mut schemas[&name];
                page["properties"]["items"]["items"] = serde_json::json!({"$ref": format!("#/components/schemas/{item}")});
            }
        }
    }
    if let Some(responses) = spec["components"]["responses"].as_object_mut() {
        for r in responses.values_mut() {
            problem_example(r, None);
        }
    }
    let Some(paths) = spec["paths"].as_object_mut() else { return };
    for (path, item) in paths.iter_mut() {
        for method in ["get", "put", "post", "delete", "patch"] {
            let Some(op) = item.get_mut(method) else { continue };
            complete_operation(path, method, op);
        }
    }
}

/// The record views the sync feed and the push carry (as the REST GETs return them).
const RECORD_VIEWS: &[&str] = &["Hamlet", "Team", "Member", "Topic", "Class", "Session", "Trainee", "Enrollment", "Attendance"];

/// Types for the bodies the handlers pass through as JSON (the feed's records, a pushed
/// operation's body, a conflict's records, a breakdown cell's key), so a generated client
/// gets union types instead of "any object" and a tombstone's `null` is allowed.
fn type_free_bodies(schemas: &mut Value) {
    use serde_json::json;
    let refs = |names: &[&str]| names.iter().map(|n| json!({"$ref": format!("#/components/schemas/{n}")})).collect::<Vec<_>>();
    let record_or_null = |description: &str| {
        let mut any = refs(RECORD_VIEWS);
        any.push(json!({"type": "null"}));
        json!({"description": description, "anyOf": any})
    };
    schemas["Change"]["properties"]["body"] = record_or_null(
        "The record as the API's GET returns it (by `type`: hamlet → Hamlet, team → Team, team_member → Member, topic → \
         Topic, class → Class, class_session → Session, trainee → Trainee, enrollment → Enrollment, attendance → \
         Attendance); `null` on a tombstone or a removal.",
    );
    if let Some(required) = schemas["Change"]["required"].as_array_mut() {
        required.retain(|r| r != "body");
    }
    schemas["OpResult"]["properties"]["current"] = record_or_null(
        "`conflict`: the record as the server has it (a record view, by the operation's `type`); `null` when it was deleted.",
    );
    schemas["Conflict"]["properties"]["current"] =
        record_or_null("The record as the server has it now (a record view, by `type`); `null` when deleted or out of reach.");
    // The bodies a push carries: the REST forms, some naming the class they belong to.
    let with_class = |form: &str, required: bool, schemas: &Value| {
        let mut s = schemas[form].clone();
        s["properties"]["class_id"] = json!({"type": "string", "description": "The class the record belongs to."});
        if required {
            if let Some(r) = s["required"].as_array_mut() {
                r.push(json!("class_id"));
            }
        }
        s["description"] = json!(format!("{} In a push: also names its `class_id`.", s["description"].as_str().unwrap_or_default()));
        s
    };
    schemas["PushNewSession"] = with_class("NewSession", true, schemas);
    schemas["PushNewEnrollment"] = with_class("NewEnrollment", true, schemas);
    schemas["PushDrop"] = with_class("DropForm", false, schemas);
    schemas["PushAttendance"] = with_class("AttendanceForm", false, schemas);
    // A pushed operation is one of five kinds, told apart by `type`; each names the bodies
    // it takes (by `action`, and for an upsert by whether it has a `base_version`).
    let base = schemas["Operation"].clone();
    let kinds: [(&str, &str, &[&str], &str); 5] = [
        (
            "class",
            "ClassOperation",
            &["NewClass", "ClassPatch", "CancelForm"],
            "upsert: NewClass (new) or ClassPatch (with `base_version`); delete: CancelForm (the class is cancelled, never deleted)",
        ),
        (
            "class_session",
            "ClassSessionOperation",
            &["PushNewSession", "SessionPatch"],
            "upsert: PushNewSession (new) or SessionPatch; delete: no body",
        ),
        ("trainee", "TraineeOperation", &["NewTrainee", "TraineePatch"], "upsert: NewTrainee (new) or TraineePatch; delete: no body"),
        (
            "enrollment",
            "EnrollmentOperation",
            &["PushNewEnrollment", "PushDrop"],
            "upsert: PushNewEnrollment; delete: PushDrop (the trainee leaves the class)",
        ),
        (
            "attendance",
            "AttendanceOperation",
            &["PushAttendance"],
            "upsert: PushAttendance (the session's whole list; `id` is the session's id)",
        ),
    ];
    let mut mapping = serde_json::Map::new();
    let mut variants = Vec::new();
    for (kind, name, bodies, says) in kinds {
        let mut variant = base.clone();
        variant["description"] = json!(format!("A `{kind}` operation of the outbox."));
        variant["properties"]["type"] = json!({"type": "string", "enum": [kind]});
        let mut any = refs(bodies);
        any.push(json!({"type": "null"}));
        variant["properties"]["body"] =
            json!({"description": format!("The record's fields, as the REST endpoint takes them. {says}."), "anyOf": any});
        if let Some(o) = variant.as_object_mut() {
            o.remove("example");
        }
        schemas[name] = variant;
        mapping.insert(kind.to_owned(), json!(format!("#/components/schemas/{name}")));
        variants.push(json!({"$ref": format!("#/components/schemas/{name}")}));
    }
    schemas["Operation"] = json!({
        "description": "One operation of the outbox: its `type` says which of five kinds it is, and so which bodies it takes.",
        "oneOf": variants,
        "discriminator": {"propertyName": "type", "mapping": mapping},
        "example": base["example"].clone(),
    });
    let mut key = json!({"type": "object", "additionalProperties": false, "properties": {},
        "description": "The cell's value of each dimension of `by` (e.g. `{\"gender\": \"female\", \"age_band\": \"60+\"}`)."});
    for dim in <crate::store::values::BreakdownDim as crate::store::values::ClosedSet>::NAMES {
        key["properties"][*dim] = json!({"type": "string"});
    }
    if let Some(parts) = schemas["BreakdownCell"]["allOf"].as_array_mut() {
        for part in parts.iter_mut().filter(|p| p["properties"].get("key").is_some()) {
            part["properties"]["key"] = key.clone();
        }
    }
}

/// An example body for a problem response, of its own status and with the first code its
/// description names (otherwise the problem schema's one example, a 422, shows under
/// every status).
fn problem_example(r: &mut Value, status: Option<u16>) {
    use serde_json::json;
    let description = r["description"].as_str().unwrap_or_default().to_owned();
    // (`get_mut`, not indexing: indexing a JSON object inserts the key.)
    let Some(content) = r.get_mut("content").and_then(|c| c.get_mut("application/problem+json")) else { return };
    if content.get("example").is_some() {
        return;
    }
    let named = description.split('`').nth(1).filter(|c| c.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_'));
    let status = status.or_else(|| {
        // Shared responses carry no status: read it from the code they name.
        named.map(|c| match c {
            "malformed_json" | "invalid_body" | "invalid_query" | "invalid_cursor" | "unknown_parameter" => 400,
            "missing_token" => 401,
            "not_found" => 404,
            "record_deleted" => 410,
            "payload_too_large" => 413,
            "unsupported_media_type" => 415,
            "idempotency_key_in_progress" => 409,
            "precondition_failed" => 412,
            "precondition_required" => 428,
            "service_unavailable" => 503,
            "storage_full" => 507,
            "internal_error" => 500,
            _ => 422,
        })
    });
    let Some(status) = status else { return };
    let code = named.map(str::to_owned).unwrap_or_else(|| match status {
        400 => "malformed_json".into(),
        401 => "missing_token".into(),
        403 => "forbidden".into(),
        404 => "not_found".into(),
        409 => "conflict".into(),
        422 => "validation_failed".into(),
        500 => "internal_error".into(),
        _ => "error".into(),
    });
    let mut example = json!({"type": format!("urn:hocvuso:problem:{code}"), "title": "…", "status": status,
        "detail": description, "code": code, "request_id": "0f9d5c1e-2b7a-4c3d-8e9f-1a2b3c4d5e6f"});
    if status == 422 && code == "validation_failed" {
        example["errors"] = json!([{"field": "full_name", "code": "required", "message": "Cần nhập họ tên."}]);
    }
    content["example"] = example;
}

fn complete_operation(path: &str, method: &str, op: &mut Value) {
    use serde_json::json;
    let id = op["operationId"].as_str().unwrap_or_default().to_owned();
    let params: Vec<Value> = op["parameters"].as_array().cloned().unwrap_or_default();
    let has = |place: &str| params.iter().any(|p| p["in"] == place);
    let (has_query, has_path) = (has("query"), has("path"));
    let if_match = params.iter().find(|p| p["in"] == "header" && p["name"].as_str().is_some_and(|n| n.eq_ignore_ascii_case("if-match")));
    let (has_if_match, needs_if_match) = (if_match.is_some(), if_match.is_some_and(|p| p["required"] == true));
    let has_body = op.get("requestBody").is_some();
    let secured = op.get("security").is_some();
    let idempotent = method == "post" && path.starts_with("/api/v1/") && takes_idempotency_key(path);
    if idempotent {
        let list = &mut op["parameters"];
        if !list.is_array() {
            *list = json!([]);
        }
        if let Some(list) = list.as_array_mut() {
            list.push(json!({"$ref": "#/components/parameters/Idempotency-Key"}));
        }
    }
    if op.get("description").is_none() {
        if let Some(summary) = op["summary"].as_str() {
            op["description"] = json!(summary);
        }
    }
    let reference = |name: &str| json!({"$ref": format!("#/components/responses/{name}")});
    let responses = &mut op["responses"];
    let mut add = |code: &str, name: &str| {
        if responses.get(code).is_none() {
            responses[code] = reference(name);
        }
    };
    add("400", "BadRequest");
    if secured {
        add("401", "Unauthorized");
    }
    if has_path {
        add("404", "NotFound");
    }
    if has_body {
        add("413", "PayloadTooLarge");
        add("415", "NotJson");
    }
    if has_body || has_query {
        add("422", "InvalidFields");
    }
    if has_if_match {
        add("412", "StaleVersion");
    }
    if needs_if_match {
        add("428", "MissingIfMatch");
    }
    if idempotent {
        add("409", "IdempotencyInProgress");
        add("422", "InvalidFields");
    }
    if REPLAYABLE_CREATES.contains(&id.as_str()) || id == "resolve_conflict" {
        add("410", "RecordGone");
    }
    add("500", "InternalError");
    add("503", "Unavailable");
    if method != "get" {
        add("507", "StorageFull");
    }
    let Some(all) = responses.as_object_mut() else { return };
    for (code, r) in all.iter_mut() {
        if r.get("$ref").is_some() {
            continue;
        }
        problem_example(r, code.parse().ok());
        let headers = &mut r["headers"];
        headers["X-Request-Id"] = json!({"$ref": "#/components/headers/X-Request-Id"});
        if code.starts_with('2') && ETAG_OPERATIONS.contains(&id.as_str()) {
            headers["ETag"] = json!({"$ref": "#/components/headers/ETag"});
        }
        if code.starts_with('2') && idempotent {
            headers["Idempotency-Replayed"] = json!({"$ref": "#/components/headers/Idempotency-Replayed"});
        }
        if code == "429" || code == "503" || code == "507" {
            headers["Retry-After"] = json!({"$ref": "#/components/headers/Retry-After"});
        }
        if code == "412" {
            headers["ETag"] = json!({"$ref": "#/components/headers/ETag"});
        }
    }
}
