//! `GET /openapi.json`: the OpenAPI document of the `/v1` API, generated from the handlers'
//! `#[utoipa::path]` annotations as they are registered (utoipa-axum), so it cannot forget a
//! route that is served.

use std::sync::Arc;

use axum::routing::get;
use axum::{Json, Router};
use utoipa::openapi::{InfoBuilder, OpenApi, OpenApiBuilder};

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
