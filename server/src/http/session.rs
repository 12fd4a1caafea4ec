//! Who is looking at the dashboard, and how they log in.
//!
//! The read API and the dashboard accept either a **session cookie** (`doorstep_session`,
//! HttpOnly, SameSite=Strict: set by `POST /v1/session` with a password, or by an
//! admin-issued one-time link `GET /login/{token}`) or a device's **bearer token**. Both end
//! up as a [`Viewer`] (a member); [`Manager`] also requires a manager's role (`403` for an
//! agent). Session tokens are random, handed to the browser once and stored only hashed;
//! SameSite=Strict keeps other sites from riding on the cookie for the dashboard's writes.
//! A password login passes the [`super::login_guard::LoginGuard`] first (backoff per account
//! and address, bounded argon2 checks, the same work for names that do not exist); the cookie
//! is `Secure` when the browser came over HTTPS through a trusted proxy ([`Peer`]).

use axum::extract::{FromRequestParts, Path, State};
use axum::http::header::{AUTHORIZATION, COOKIE, LOCATION, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::Caller;
use super::language::Lang;
use super::peer::Peer;
use super::{blocking, AppError, AppState};
use crate::accounts::{new_token, token_hash, Member};
use crate::error::Error;
use crate::logins;

/// The session cookie's name.
pub const COOKIE_NAME: &str = "doorstep_session";

/// A logged-in member: by session cookie or by device token.
pub struct Viewer(pub Member);

/// A logged-in manager (supervisor, department or district manager).
pub struct Manager(pub Member);

fn session_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE_NAME)
        .map(|(_, v)| v.trim().to_string())
        .filter(|t| !t.is_empty() && t.len() <= 256)
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        // A bearer token wins: a device never carries the browser's cookie.
        if parts.headers.get(AUTHORIZATION).is_none() {
            if let Some(token) = session_token(&parts.headers) {
                let hash = token_hash(&token);
                let member = blocking(state, move |s| s.session_member(&hash)).await?;
                return member.map(Viewer).ok_or_else(|| Error::Unauthorized.into());
            }
        }
        let Caller(device) = Caller::from_request_parts(parts, state).await?;
        Ok(Viewer(device.member))
    }
}

impl FromRequestParts<AppState> for Manager {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let Viewer(member) = Viewer::from_request_parts(parts, state).await?;
        if !member.role.is_manager() {
            return Err(Error::Forbidden(format!(
                "{} is not a manager: the managers' views are closed to agents",
                member.user
            ))
            .into());
        }
        Ok(Manager(member))
    }
}

/// A member as the dashboard shows who is logged in.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// The member's id.
    pub user: String,
    /// Their name.
    pub name: String,
    /// Their role's code.
    pub role: String,
    /// Their team.
    pub team: String,
}

impl From<&Member> for Me {
    fn from(m: &Member) -> Self {
        Me {
            user: m.user.to_string(),
            name: m.name.clone(),
            role: m.role.code().to_string(),
            team: m.team.to_string(),
        }
    }
}

/// A login with a password.
#[derive(Debug, Deserialize, ToSchema)]
pub struct Login {
    /// The member's id.
    pub user: String,
    /// Their password (set with `doorstep admin user password`).
    pub password: String,
}

/// The session cookie; `Secure` when the browser reached us over HTTPS (through a proxy the
/// server trusts), so that it never travels in clear once HTTPS is in use, while a loopback
/// or LAN address over plain HTTP still works.
fn session_cookie(token: &str, max_age_secs: i64, secure: bool) -> Result<HeaderValue, Error> {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE_NAME}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age_secs}{secure}"
    ))
    .map_err(|e| Error::Internal(format!("cookie: {e}")))
}

/// Opens a session for `member` and returns its cookie.
async fn open_session(
    state: &AppState,
    member: &Member,
    secure: bool,
) -> Result<HeaderValue, AppError> {
    let token = new_token();
    let hash = token_hash(&token);
    let user = member.user.clone();
    let expires = logins::expiry(chrono::Utc::now(), logins::SESSION_HOURS * 60);
    blocking(state, move |s| s.create_session(&user, &hash, &expires)).await?;
    Ok(session_cookie(
        &token,
        logins::SESSION_HOURS * 3600,
        secure,
    )?)
}

/// Logs a manager in with their password: sets the session cookie.
#[utoipa::path(
    post,
    path = "/session",
    tag = "dashboard",
    request_body = Login,
    responses(
        (status = 200, description = "Logged in; the `doorstep_session` cookie is set", body = Me),
        (status = 400, description = "The body is not a login"),
        (status = 401, description = "Wrong user or password"),
        (status = 403, description = "Not a manager"),
        (status = 429, description = "Too many failed logins for this account or address; \
            `Retry-After` says when the next attempt is heard"),
        (status = 503, description = "Too many logins at once; `Retry-After`"),
    )
)]
async fn login(
    State(state): State<AppState>,
    peer: Peer,
    Json(body): Json<Login>,
) -> Result<Response, AppError> {
    let guard = state.logins.clone();
    guard.admit(&body.user, peer.addr).await?;
    let name = body.user.clone();
    let found = blocking(&state, move |s| {
        let Ok(user) = name.trim().parse() else {
            return Ok(None);
        };
        let Some(member) = s.member(&user)? else {
            return Ok(None);
        };
        let phc = s.password_hash(&user)?;
        Ok(Some((member, phc)))
    })
    .await?;
    let (member, phc) = match found {
        Some((member, phc)) => (Some(member), phc),
        None => (None, None),
    };
    // A name without a password is checked too (against a hash nothing matches): the answer
    // takes as long whether the name exists or not.
    let has_password = phc.is_some();
    let matched = guard
        .check(&body.user, peer.addr, phc, body.password)
        .await?;
    let member = match member {
        Some(member) if matched && has_password => member,
        _ => return Err(Error::LoginFailed.into()),
    };
    if !member.role.is_manager() {
        return Err(Error::Forbidden("the dashboard is for managers".into()).into());
    }
    tracing::info!(user = %member.user, "dashboard login");
    let cookie = open_session(&state, &member, peer.https).await?;
    Ok(([(SET_COOKIE, cookie)], Json(Me::from(&member))).into_response())
}

/// Who is logged in.
#[utoipa::path(
    get,
    path = "/session",
    tag = "dashboard",
    responses(
        (status = 200, description = "The member behind the cookie or token", body = Me),
        (status = 401, description = "Not logged in"),
    )
)]
async fn whoami(Viewer(me): Viewer) -> Json<Me> {
    Json(Me::from(&me))
}

/// Logs out: ends the session and clears the cookie.
#[utoipa::path(
    delete,
    path = "/session",
    tag = "dashboard",
    responses((status = 204, description = "Logged out"))
)]
async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, AppError> {
    if let Some(token) = session_token(&headers) {
        let hash = token_hash(&token);
        blocking(&state, move |s| s.delete_session(&hash)).await?;
    }
    Ok((
        StatusCode::NO_CONTENT,
        [(SET_COOKIE, session_cookie("", 0, false)?)],
    )
        .into_response())
}

/// `GET /login/{token}`: an admin-issued one-time link (`doorstep admin login-link`) opens a
/// session and goes to the dashboard.
async fn login_link(
    State(state): State<AppState>,
    peer: Peer,
    Lang(lang): Lang,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Result<Response, AppError> {
    let hash = token_hash(&token);
    let member = blocking(&state, move |s| match s.redeem_login_link(&hash)? {
        Some(user) => s.member(&user),
        None => Ok(None),
    })
    .await?
    .filter(|m| m.role.is_manager());
    let Some(member) = member else {
        // A person opened it: tell them in words, not in the API's JSON.
        if super::dashboard::wants_html(&headers) {
            return Ok(super::dashboard::notice(
                lang,
                StatusCode::UNAUTHORIZED,
                "link",
            ));
        }
        return Err(Error::LoginFailed.into());
    };
    tracing::info!(user = %member.user, "dashboard login by link");
    let cookie = open_session(&state, &member, peer.https).await?;
    Ok((
        StatusCode::SEE_OTHER,
        [
            (SET_COOKIE, cookie),
            (LOCATION, HeaderValue::from_static("/")),
        ],
    )
        .into_response())
}

/// The session routes under `/v1`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(login, whoami, logout))
}

/// The login-link route (outside `/v1`: it is a page a person opens).
pub fn link_router() -> Router<AppState> {
    Router::new().route("/login/{token}", get(login_link))
}
