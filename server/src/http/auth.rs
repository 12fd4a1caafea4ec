//! Who is calling: the `Authorization: Bearer <token>` header turned into a device.
//!
//! The token is hashed and looked up by the store; it is never logged, never echoed in an
//! error. A missing or unknown token is `401 unauthorized`; a revoked device is `403 revoked`
//! (with `"wipe": true`) on every endpoint.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::{blocking, AppError, AppState};
use crate::accounts::Device;
use crate::error::Error;

/// An authenticated, not revoked device.
pub struct Caller(pub Device);

impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.len() <= 256)
            .ok_or(Error::Unauthorized)?
            .to_string();
        let device = blocking(state, move |s| s.authenticate(&token))
            .await?
            .ok_or(Error::Unauthorized)?;
        if device.revoked {
            tracing::info!(device = %device.id, user = %device.member.user, "revoked device refused");
            return Err(Error::Revoked.into());
        }
        Ok(Caller(device))
    }
}
