//! `GET /v1/events`: live updates for open dashboards (server-sent events).
//!
//! A sync that stored changes, a comment or an answer tells [`Events`] which team's records
//! changed; every open dashboard of that team gets a `change` event and re-fetches the view it
//! shows. [`Events`] is a small type around a tokio broadcast channel. On one instance
//! (SQLite) a change goes straight to the channel. With several instances (PostgreSQL) it is
//! made with [`Events::published_by`]: a change is only published (`NOTIFY`), and the
//! instance's listener feeds what every instance published back in ([`Events::deliver`]), so
//! each dashboard hears a change once, whichever instance stored it. At shutdown [`Events::close`] ends every
//! stream, so a graceful stop does not wait for browsers to hang up. The answer carries
//! `X-Accel-Buffering: no`, so that nginx in front passes each event on as it comes.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderName;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::IntoResponse;
use futures_util::stream::{self, Stream};
use futures_util::StreamExt;
use tokio::sync::broadcast;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::session::Manager;
use super::{AppError, AppState};
use crate::accounts::TeamId;

/// What an open dashboard is told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// A team's records changed.
    Changed(TeamId),
    /// Any team's records may have changed (notices were missed): every dashboard refreshes.
    Everything,
    /// The server is stopping: end the stream.
    Closing,
}

/// Where a change goes when it is published rather than delivered in this process.
type Publish = std::sync::Arc<dyn Fn(&TeamId) + Send + Sync>;

/// The notifier: who changed, to whoever listens.
#[derive(Clone)]
pub struct Events {
    tx: broadcast::Sender<Notice>,
    publish: Option<Publish>,
}

impl Default for Events {
    fn default() -> Self {
        Self::new()
    }
}

impl Events {
    /// A notifier with nobody listening yet.
    pub fn new() -> Self {
        Events {
            tx: broadcast::channel(256).0,
            publish: None,
        }
    }

    /// A notifier whose changes go to `publish` (PostgreSQL's `NOTIFY`) instead of this
    /// process's dashboards; what reaches them is what the listener hands to
    /// [`Events::deliver`].
    pub fn published_by(publish: impl Fn(&TeamId) + Send + Sync + 'static) -> Self {
        Events {
            publish: Some(std::sync::Arc::new(publish)),
            ..Events::new()
        }
    }

    /// Tells listeners that `team`'s records changed: directly, or through the publisher.
    pub fn changed(&self, team: &TeamId) {
        match &self.publish {
            Some(publish) => publish(team),
            None => self.deliver(team),
        }
    }

    /// Tells this process's dashboards that `team`'s records changed.
    pub fn deliver(&self, team: &TeamId) {
        let _ = self.tx.send(Notice::Changed(team.clone()));
    }

    /// Tells this process's dashboards that any team's records may have changed.
    pub fn deliver_everything(&self) {
        let _ = self.tx.send(Notice::Everything);
    }

    /// Ends every open stream (the server is stopping).
    pub fn close(&self) {
        let _ = self.tx.send(Notice::Closing);
    }

    /// A new listener.
    pub fn subscribe(&self) -> broadcast::Receiver<Notice> {
        self.tx.subscribe()
    }
}

/// The `change` events of one team, until the server closes the stream.
fn team_stream(
    rx: broadcast::Receiver<Notice>,
    team: TeamId,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let hello = Event::default().event("ready").data(team.to_string());
    let changes = stream::unfold((rx, team), |(mut rx, team)| async move {
        loop {
            match rx.recv().await {
                Ok(Notice::Changed(t)) if t == team => {
                    let e = Event::default().event("change").data(team.to_string());
                    return Some((Ok(e), (rx, team)));
                }
                Ok(Notice::Everything) => {
                    let e = Event::default().event("change").data(team.to_string());
                    return Some((Ok(e), (rx, team)));
                }
                Ok(Notice::Changed(_)) => continue,
                // Missed notices: one change event covers them all.
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let e = Event::default().event("change").data(team.to_string());
                    return Some((Ok(e), (rx, team)));
                }
                Ok(Notice::Closing) | Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    stream::once(async move { Ok(hello) }).chain(changes)
}

/// Live updates of the caller's team: a `ready` event once connected, then a `change` event
/// whenever a sync, a comment or an answer changed the team's records (re-fetch the view).
#[utoipa::path(
    get,
    path = "/events",
    tag = "dashboard",
    responses(
        (status = 200, description = "An event stream (`text/event-stream`): `ready`, then `change` events whose data is the team", content_type = "text/event-stream", body = String),
        (status = 401, description = "No session or token"),
        (status = 403, description = "Not a manager"),
    )
)]
async fn events(
    State(state): State<AppState>,
    Manager(me): Manager,
) -> Result<impl IntoResponse, AppError> {
    let rx = state.events.subscribe();
    let sse = Sse::new(team_stream(rx, me.team))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)));
    // A reverse proxy (nginx) would otherwise hold events in its buffers (docs/deploy.md).
    Ok(([(HeaderName::from_static("x-accel-buffering"), "no")], sse))
}

/// The events route.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(events))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_team_hears_its_own_changes_only_and_closing_ends_the_stream() {
        let events = Events::new();
        let north: TeamId = "north".parse().unwrap();
        let south: TeamId = "south".parse().unwrap();
        let s = team_stream(events.subscribe(), north.clone());
        events.changed(&south);
        events.changed(&north);
        events.close();
        let got: Vec<_> = s.collect().await;
        assert_eq!(
            got.len(),
            2,
            "ready, then north's change; south's is not heard"
        );
    }

    #[tokio::test]
    async fn a_published_change_reaches_dashboards_only_when_delivered() {
        let published = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = published.clone();
        let events = Events::published_by(move |t| seen.lock().unwrap().push(t.clone()));
        let north: TeamId = "north".parse().unwrap();
        let s = team_stream(events.subscribe(), north.clone());
        events.changed(&north);
        assert_eq!(*published.lock().unwrap(), vec![north.clone()]);
        // What the listener hears comes in once, and a missed-notices refresh counts too.
        events.deliver(&north);
        events.deliver_everything();
        events.close();
        let got: Vec<_> = s.collect().await;
        assert_eq!(got.len(), 3, "ready, the delivered change, the refresh");
    }
}
