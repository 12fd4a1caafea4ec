//! `GET /v1/schema/documents.json`: the record layout of both document kinds as a JSON
//! Schema, so that a client in another language can check what it writes before it syncs.
//!
//! The schema is client-core's (`layout::json_schema`): the same table the phone and the
//! server validate records with, published without authentication (it holds no data).

use axum::Json;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;

/// The schema route.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(documents_schema))
}

/// The JSON Schema (draft 2020-12) of every record of customer and day documents: fields,
/// types, required fields, text limits, enumerations, and which codes come from the playbook
/// (`x-playbook-codes`). Public.
#[utoipa::path(get, path = "/schema/documents.json", tag = "sync",
    responses((status = 200, description = "The JSON Schema", body = Object)))]
async fn documents_schema() -> Json<Value> {
    Json(client_core::layout::json_schema())
}
