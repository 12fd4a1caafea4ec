//! `GET /v1/customers/{id}`: a customer's card, policies, visits, contacts, comments, conflicts
//! and full change history — for the agent it is assigned to and their team's managers.
//!
//! A customer outside the caller's reach is a `404`, exactly like one that does not exist.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use client_core::CustomerId;

use super::auth::Caller;
use super::{blocking, AppError, AppState};
use crate::access::{self, Access};
use crate::error::Error;
use crate::store::CustomerDetail;

/// The customer routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/customers/{id}", get(customer))
}

async fn customer(
    State(state): State<AppState>,
    Caller(device): Caller,
    Path(id): Path<String>,
) -> Result<Json<CustomerDetail>, AppError> {
    let hidden = || Error::not_found("customer", &id);
    let cid: CustomerId = id.parse().map_err(|_| hidden())?;
    let caller = device.member.clone();
    let detail = blocking(&state, move |s| {
        let Some(owner) = s.customer_agent(cid)? else {
            return Ok(None);
        };
        let owner = match owner {
            Some(u) => s.member(&u)?,
            None => None,
        };
        if access::customer(&caller, owner.as_ref()) != Access::Allowed {
            return Ok(None);
        }
        s.customer_detail(cid)
    })
    .await?;
    detail.map(Json).ok_or_else(|| hidden().into())
}
