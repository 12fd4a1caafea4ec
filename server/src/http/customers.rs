//! `GET /v1/customers/{id}`: a customer's card, policies, visits, contacts, comments, conflicts
//! and full change history — for the agent it is assigned to and their team's managers.
//!
//! A customer outside the caller's reach is a `404`, exactly like one that does not exist.

use axum::extract::{Path, State};
use axum::Json;
use client_core::CustomerId;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::session::Viewer;
use super::{blocking, AppError, AppState};
use crate::access::{self, Access};
use crate::error::Error;
use crate::store::CustomerDetail;

/// The customer routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(customer))
}

/// A customer: card, policies, every visit and contact, managers' comments, conflicts and the
/// full change history (who changed what, when).
#[utoipa::path(
    get,
    path = "/customers/{id}",
    tag = "customers",
    params(("id" = String, Path, description = "The customer's UUID")),
    responses(
        (status = 200, description = "`customer`, `policies`, `visits`, `contacts`, `comments`, `conflicts`, `history`", body = serde_json::Value),
        (status = 404, description = "No such customer, or one outside the caller's reach"),
    )
)]
async fn customer(
    State(state): State<AppState>,
    Viewer(caller): Viewer,
    Path(id): Path<String>,
) -> Result<Json<CustomerDetail>, AppError> {
    let hidden = || Error::not_found("customer", &id);
    let cid: CustomerId = id.parse().map_err(|_| hidden())?;
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
