//! Every route of the service, in one place. The OpenAPI document lists the same
//! handlers in `openapi.rs`; a test checks the committed copy matches.

use actix_web::web::{delete, get, patch, post, put, resource};
use actix_web::{web, HttpResponse};
use utoipa_swagger_ui::SwaggerUi;

use crate::base::error::{self, ApiError};
use crate::http::extract::{json_config, PUSH_LIMIT};
use crate::http::{
    audit, auth, classes, enrollments, hamlets, imports, openapi, ops, reports, stats, sync, teams, topics, trainees, units, users,
};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", get().to(ops::healthz))
        .route("/readyz", get().to(ops::readyz))
        .route("/metrics", get().to(ops::get_metrics))
        .route("/", get().to(|| async { HttpResponse::Found().insert_header(("Location", "/docs/")).finish() }))
        .route("/docs", get().to(|| async { HttpResponse::PermanentRedirect().insert_header(("Location", "/docs/")).finish() }))
        // The validator off: Swagger UI would otherwise send the server's address to
        // validator.swagger.io from every browser that opens /docs.
        .service(
            SwaggerUi::new("/docs/{_:.*}")
                .external_url_unchecked("/api/v1/openapi.json", openapi::document())
                .config(utoipa_swagger_ui::Config::default().validator_url("none")),
        )
        .service(
            web::scope("/api/v1")
                // sign-in and one's own account
                .service(resource("/auth/login").route(post().to(auth::login)))
                .service(resource("/auth/refresh").route(post().to(auth::refresh)))
                .service(resource("/auth/logout").route(post().to(auth::logout)))
                .service(resource("/auth/reset").route(post().to(auth::reset_password)))
                .service(resource("/me").route(get().to(auth::get_me)))
                .service(resource("/me/password").route(post().to(auth::change_password)))
                // accounts
                .service(resource("/users").route(get().to(users::list_users)).route(post().to(users::create_user)))
                .service(resource("/users/{id}").route(get().to(users::get_user)).route(patch().to(users::update_user)))
                .service(resource("/users/{id}/reset-code").route(post().to(users::issue_reset_code)))
                // reference data and hamlets
                .service(resource("/units").route(get().to(units::list_units)))
                .service(resource("/units/{code}").route(get().to(units::get_unit)))
                .service(resource("/units/{code}/hamlets").route(get().to(hamlets::list_hamlets)).route(post().to(hamlets::create_hamlet)))
                .service(resource("/hamlets/{id}").route(patch().to(hamlets::update_hamlet)).route(delete().to(hamlets::delete_hamlet)))
                .service(resource("/topics").route(get().to(topics::list_topics)).route(post().to(topics::create_topic)))
                .service(resource("/topics/{id}").route(patch().to(topics::update_topic)))
                // teams and members
                .service(resource("/teams").route(get().to(teams::list_teams)).route(post().to(teams::create_team)))
                .service(resource("/teams/export.xlsx").route(get().to(imports::export_teams)))
                .service(
                    resource("/teams/{id}")
                        .route(get().to(teams::get_team))
                        .route(patch().to(teams::update_team))
                        .route(delete().to(teams::delete_team)),
                )
                .service(resource("/teams/{id}/members").route(get().to(teams::list_members)).route(post().to(teams::create_member)))
                .service(
                    resource("/teams/{id}/members/{member_id}")
                        .route(patch().to(teams::update_member))
                        .route(delete().to(teams::delete_member)),
                )
                // classes and sessions
                .service(resource("/classes").route(get().to(classes::list_classes)).route(post().to(classes::create_class)))
                .service(resource("/classes/export.xlsx").route(get().to(imports::export_classes)))
                .service(resource("/classes/{id}").route(get().to(classes::get_class)).route(patch().to(classes::update_class)))
                .service(resource("/classes/{id}/cancel").route(post().to(classes::cancel_class)))
                .service(
                    resource("/classes/{id}/sessions").route(get().to(classes::list_sessions)).route(post().to(classes::create_session)),
                )
                .service(
                    resource("/classes/{id}/sessions/{session_id}")
                        .route(patch().to(classes::update_session))
                        .route(delete().to(classes::delete_session)),
                )
                // trainees, enrollments, attendance, completions
                .service(resource("/trainees").route(get().to(trainees::list_trainees)).route(post().to(trainees::create_trainee)))
                // before /trainees/{id}, which would take `export.xlsx` for an id
                .service(resource("/trainees/export.xlsx").route(get().to(imports::export_trainees)))
                .service(
                    resource("/trainees/{id}")
                        .route(get().to(trainees::get_trainee))
                        .route(patch().to(trainees::update_trainee))
                        .route(delete().to(trainees::delete_trainee)),
                )
                .service(resource("/trainees/{id}/merge").route(post().to(trainees::merge_trainee)))
                .service(resource("/trainees/{id}/erase").route(post().to(trainees::erase_trainee)))
                .service(resource("/trainees/{id}/export").route(get().to(trainees::export_trainee)))
                .service(resource("/trainees/{id}/consent/withdraw").route(post().to(trainees::withdraw_consent)))
                .service(resource("/trainees/{id}/completions").route(get().to(trainees::list_completions)))
                .service(resource("/trainees/{id}/platform-certificates").route(post().to(trainees::create_certificate)))
                .service(
                    resource("/classes/{id}/enrollments")
                        .route(get().to(enrollments::list_enrollments))
                        .route(post().to(enrollments::create_enrollment)),
                )
                .service(resource("/classes/{id}/enrollments/{enrollment_id}").route(delete().to(enrollments::drop_enrollment)))
                .service(
                    resource("/classes/{id}/sessions/{session_id}/attendance")
                        .route(get().to(enrollments::get_attendance))
                        .route(put().to(enrollments::put_attendance)),
                )
                .service(resource("/enrollments/{id}/completion").route(post().to(enrollments::record_completion)))
                .service(resource("/enrollments/{id}/verify").route(post().to(enrollments::verify_completion)))
                // roster import (docs/IMPORT.md)
                .service(resource("/imports").route(post().to(imports::create_import)))
                .service(resource("/imports/templates/{file}").route(get().to(imports::get_template)))
                .service(resource("/imports/{id}").route(get().to(imports::get_import)))
                // offline sync
                .service(resource("/sync/changes").route(get().to(sync::list_changes)))
                .service(
                    resource("/sync/push")
                        .app_data(json_config(PUSH_LIMIT))
                        .app_data(web::PayloadConfig::new(PUSH_LIMIT))
                        .route(post().to(sync::push)),
                )
                .service(resource("/sync/devices").route(get().to(sync::list_devices)))
                .service(resource("/sync/conflicts").route(get().to(sync::list_conflicts)).route(post().to(sync::report_conflict)))
                .service(resource("/sync/conflicts/{id}/resolve").route(post().to(sync::resolve_conflict)))
                // statistics
                .service(resource("/stats/overview").route(get().to(stats::get_overview)))
                .service(resource("/stats/units").route(get().to(stats::get_units)))
                .service(resource("/stats/breakdown").route(get().to(stats::get_breakdown)))
                .service(resource("/units/{code}/population").route(put().to(stats::put_population)))
                .service(resource("/reports/{period}").route(get().to(reports::get_report)))
                .service(resource("/reports/{period}/close").route(post().to(reports::close_report)))
                .service(resource("/reports/{period}/reopen").route(post().to(reports::reopen_report)))
                // audit
                .service(resource("/audit").route(get().to(audit::list_audit))),
        );
}

/// Anything no route matches.
pub async fn unknown_route() -> Result<HttpResponse, ApiError> {
    Err(error::route_not_found())
}
