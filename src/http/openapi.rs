//! The OpenAPI 3.1 document, built from the handlers' annotations. `hocvuso openapi`
//! prints it; `openapi/openapi.json` is the committed copy (tests/openapi.rs keeps it true).

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::base::error;
use crate::http::{
    audit, auth, classes, enrollments, hamlets, ops, reports, responses, stats, sync, teams, topics, trainees, units, users,
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
        values::BreakdownDim, values::AgeBand, values::ReportFormat, values::ReportStatus,
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

/// The document as pretty JSON with a trailing newline (the committed form).
pub fn json() -> String {
    let mut s = ApiDoc::openapi().to_pretty_json().unwrap_or_default();
    s.push('\n');
    s
}
