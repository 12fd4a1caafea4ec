//! The managers' dashboard: one page of static HTML, CSS and JavaScript embedded in the binary
//! (no build step, no framework), served at `/` by the same server that answers the phones.
//!
//! The page logs in through `POST /v1/session`, reads the JSON views under `/v1/views`, and
//! listens to `/v1/events`: when a sync changes the team's records it re-fetches the view it
//! shows, without reloading. Everything it shows comes from the JSON API.

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use super::session;
use super::AppState;

const INDEX_HTML: &str = include_str!("index.html");
const APP_JS: &str = include_str!("app.js");
const STYLE_CSS: &str = include_str!("style.css");

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [(CONTENT_TYPE, content_type), (CACHE_CONTROL, "no-cache")],
        body,
    )
}

/// `/`, its assets and the login-link route.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }),
        )
        .route(
            "/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/style.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE_CSS) }),
        )
        .merge(session::link_router())
}
