//! `GET /openapi.json`: the OpenAPI document of the `/v1` API, generated from the handlers'
//! `#[utoipa::path]` annotations as they are registered (utoipa-axum), so it cannot forget a
//! route that is served. [`finish`] adds what the annotations do not say once for all: the two
//! ways to authenticate (a device's bearer token, the dashboard's session cookie) and which
//! operation takes which, and the one error body on every error answer.

use std::sync::Arc;

use axum::routing::get;
use axum::{Json, Router};
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, SecurityRequirement};
use utoipa::openapi::security::{Http, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, ObjectBuilder, OpenApi, OpenApiBuilder, Ref,
    RefOr, ResponseBuilder, Schema, Type,
};

use super::AppState;

/// The document's head: title, version, description.
pub fn base() -> OpenApi {
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Doorstep API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "The sync protocol (POST /v1/sync, see docs/protocol.md) and the managers' \
                     JSON API (see docs/api.md). Authenticate with `Authorization: Bearer \
                     <device token>` or the dashboard's `doorstep_session` cookie.",
                ))
                .build(),
        )
        .build()
}

/// The security scheme of a device's `Authorization: Bearer <token>`.
pub const BEARER: &str = "bearer";
/// The security scheme of the dashboard's `doorstep_session` cookie.
pub const SESSION: &str = "session";

/// The schema of `{"error": {"code", "message"}}`.
fn error_schema() -> Schema {
    let string = || ObjectBuilder::new().schema_type(Type::String);
    Schema::Object(
        ObjectBuilder::new()
            .description(Some(
                "Every error answer's body (docs/api.md); a revoked device's also has \
                 `\"wipe\": true`.",
            ))
            .property(
                "error",
                ObjectBuilder::new()
                    .property(
                        "code",
                        string().description(Some(
                            "A stable code: `unauthorized`, `forbidden`, \
                             `not_found`, `malformed`, `invalid`, `too_large`, \
                             `too_many_attempts`, `internal`, …",
                        )),
                    )
                    .property(
                        "message",
                        string().description(Some("A sentence for people")),
                    )
                    .required("code")
                    .required("message"),
            )
            .required("error")
            .build(),
    )
}

/// Which ways to authenticate an operation takes: none for logging in and out and for the
/// public record schema, the bearer token only for the phones' sync, either otherwise.
fn security(path: &str, method: &str) -> Vec<SecurityRequirement> {
    let bearer = SecurityRequirement::new(BEARER, Vec::<String>::new());
    let session = SecurityRequirement::new(SESSION, Vec::<String>::new());
    match (path, method) {
        ("/v1/session", "post" | "delete") | ("/v1/schema/documents.json", "get") => {
            vec![SecurityRequirement::default()]
        }
        ("/v1/sync", _) => vec![bearer],
        _ => vec![bearer, session],
    }
}

/// Completes the generated document: security schemes and requirements, the error schema on
/// every error answer, and a `401` on every operation that needs a login.
pub fn finish(doc: &mut OpenApi) {
    let components = doc
        .components
        .get_or_insert_with(|| ComponentsBuilder::new().build());
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
    );
    components.add_security_scheme(
        SESSION,
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
            super::session::COOKIE_NAME,
        ))),
    );
    components
        .schemas
        .insert("Error".into(), RefOr::T(error_schema()));
    let error_content = || {
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("Error")))
            .build()
    };
    for (path, item) in doc.paths.paths.iter_mut() {
        let operations: [(&str, &mut Option<Operation>); 5] = [
            ("get", &mut item.get),
            ("put", &mut item.put),
            ("post", &mut item.post),
            ("delete", &mut item.delete),
            ("patch", &mut item.patch),
        ];
        for (method, op) in operations {
            let Some(op) = op.as_mut() else { continue };
            let security = security(path, method);
            let needs_login = security
                .iter()
                .any(|s| *s != SecurityRequirement::default());
            op.security = Some(security);
            let responses = &mut op.responses.responses;
            if needs_login && !responses.contains_key("401") {
                responses.insert(
                    "401".into(),
                    RefOr::T(ResponseBuilder::new().description("Not logged in").build()),
                );
            }
            for (status, response) in responses.iter_mut() {
                let is_error = status.starts_with('4') || status.starts_with('5');
                if let (true, RefOr::T(response)) = (is_error, response) {
                    response
                        .content
                        .insert("application/json".into(), error_content());
                }
            }
            responses.insert(
                "default".into(),
                RefOr::T(
                    ResponseBuilder::new()
                        .description("An error (any status), with the one error body")
                        .content("application/json", error_content())
                        .build(),
                ),
            );
        }
    }
}

/// The route serving `doc`.
pub fn router(doc: OpenApi) -> Router<AppState> {
    let doc = Arc::new(doc);
    Router::new().route(
        "/openapi.json",
        get(move || {
            let doc = doc.clone();
            async move { Json(doc.as_ref().clone()) }
        }),
    )
}
