//! Every route of the service, in one place. The OpenAPI document lists the same
//! handlers in `openapi.rs`; a test checks the committed copy matches.

use actix_web::{web, HttpResponse};
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::error::{self, ApiError};
use crate::{auth, openapi, ops, users};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(ops::healthz))
        .route("/readyz", web::get().to(ops::readyz))
        .route("/docs", web::get().to(|| async { HttpResponse::PermanentRedirect().insert_header(("Location", "/docs/")).finish() }))
        .service(SwaggerUi::new("/docs/{_:.*}").url("/api/v1/openapi.json", openapi::ApiDoc::openapi()))
        .service(
            web::scope("/api/v1")
                .service(web::resource("/auth/login").route(web::post().to(auth::login)))
                .service(web::resource("/auth/refresh").route(web::post().to(auth::refresh)))
                .service(web::resource("/auth/logout").route(web::post().to(auth::logout)))
                .service(web::resource("/auth/reset").route(web::post().to(auth::reset_password)))
                .service(web::resource("/me").route(web::get().to(auth::get_me)))
                .service(web::resource("/me/password").route(web::post().to(auth::change_password)))
                .service(web::resource("/users").route(web::get().to(users::list_users)).route(web::post().to(users::create_user)))
                .service(web::resource("/users/{id}").route(web::get().to(users::get_user)).route(web::patch().to(users::update_user)))
                .service(web::resource("/users/{id}/reset-code").route(web::post().to(users::issue_reset_code))),
        );
}

/// Anything no route matches.
pub async fn unknown_route() -> Result<HttpResponse, ApiError> {
    Err(error::route_not_found())
}
