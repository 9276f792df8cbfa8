//! `GET /api/cases/events`: the live queue of the console as Server-Sent Events.
//!
//! Driven by the change notices the service already follows: every write to `cases`
//! queues a layer change that the announcer sends as `NOTIFY citygrid_layers,
//! 'cases:<id>,…'` (about every 100 ms), which the catalogue's listener rebroadcasts
//! in the process ([`crate::catalog::Registry::subscribe`]). Each stream reads the
//! changed cases that its user may see (the list's rule,
//! [`super::cases::visibility`]) and sends one `case` event per case:
//! `{"kind": "new" | "changed", "case": {…as in the list…}}`. When the process
//! missed notices (a slow stream), it sends `resync` (reload the list).
//!
//! Bounded: [`MAX_PER_USER`] streams per user and [`MAX_TOTAL`] in all (429 beyond);
//! a comment line every [`HEARTBEAT`] keeps proxies from closing an idle stream; the
//! session is checked every [`SESSION_CHECK`] and the stream ends (after an `end`
//! event) once it was signed out, revoked or expired, or the account disabled.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use citygrid_store::cases::Visibility;
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc};

use super::cases::visibility;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::AppState;

/// The most open streams of one user.
pub const MAX_PER_USER: usize = 4;
/// The most open streams of the process.
pub const MAX_TOTAL: usize = 256;
/// The interval of heartbeat comments.
pub const HEARTBEAT: Duration = Duration::from_secs(15);
/// The interval of session checks.
pub const SESSION_CHECK: Duration = Duration::from_secs(5);
/// The most cases read for one notice (a notice names at most 500).
const MAX_IDS: usize = 500;

/// The open streams by user id.
fn open_streams() -> &'static Mutex<HashMap<i64, usize>> {
    static OPEN: OnceLock<Mutex<HashMap<i64, usize>>> = OnceLock::new();
    OPEN.get_or_init(Mutex::default)
}

/// A place among the open streams, given back when dropped.
struct Slot {
    user: i64,
}

impl Slot {
    fn take(user: i64) -> Result<Slot, ApiError> {
        let mut open = open_streams()
            .lock()
            .map_err(|_| ApiError::Internal("the stream table is poisoned".into()))?;
        let total: usize = open.values().sum();
        let mine = open.get(&user).copied().unwrap_or(0);
        if mine >= MAX_PER_USER {
            return Err(ApiError::TooManyRequests {
                message: format!(
                    "at most {MAX_PER_USER} open event streams per user: close another console"
                ),
                scope: "event streams",
                retry_after_secs: 10,
            });
        }
        if total >= MAX_TOTAL {
            return Err(ApiError::TooManyRequests {
                message: "too many open event streams: try again later".into(),
                scope: "event streams",
                retry_after_secs: 10,
            });
        }
        *open.entry(user).or_insert(0) += 1;
        Ok(Slot { user })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut open) = open_streams().lock() {
            if let Some(n) = open.get_mut(&self.user) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    open.remove(&self.user);
                }
            }
        }
    }
}

/// The case ids of a `cases:<id>,…` notice (none for other layers' notices).
pub fn case_ids(notice: &str) -> Vec<i64> {
    match notice.strip_prefix("cases:") {
        Some(list) => list
            .split(',')
            .filter_map(|x| x.trim().parse().ok())
            .take(MAX_IDS)
            .collect(),
        None => Vec::new(),
    }
}

/// The event of one changed case: `new` while it has only its report event.
fn case_event(mut case: Value) -> Event {
    let events = case
        .as_object_mut()
        .and_then(|o| o.remove("event_count"))
        .and_then(|v| v.as_i64())
        .unwrap_or(0);
    let kind = if events <= 1 && case["status"] == "reported" {
        "new"
    } else {
        "changed"
    };
    Event::default()
        .event("case")
        .data(json!({"kind": kind, "case": case}).to_string())
}

/// `GET /api/cases/events`: the live queue (see the module's documentation).
pub async fn stream(State(state): State<AppState>, principal: Principal) -> Response {
    match open(state, principal) {
        Ok(sse) => sse.into_response(),
        Err(e) => e.into_response(),
    }
}

fn open(
    state: AppState,
    principal: Principal,
) -> Result<Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let vis = visibility(&principal)?;
    let user = principal
        .user()
        .ok_or_else(|| ApiError::Unauthorized("sign in first".into()))?;
    let slot = Slot::take(user.id)?;
    let token_hash = user.token_hash.clone();
    let changes = state.catalog.subscribe();
    let (tx, rx) = mpsc::channel::<Event>(64);
    tokio::spawn(feed(state, vis, token_hash, changes, tx, slot));
    let events = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|e| (Ok::<_, Infallible>(e), rx))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(HEARTBEAT).text("heartbeat")))
}

/// Sends the events of one stream until the client goes, the session ends or the
/// service stops.
async fn feed(
    state: AppState,
    vis: Visibility,
    token_hash: Vec<u8>,
    mut changes: broadcast::Receiver<String>,
    tx: mpsc::Sender<Event>,
    _slot: Slot,
) {
    if tx
        .send(Event::default().event("ready").data("{}"))
        .await
        .is_err()
    {
        return;
    }
    let mut check = tokio::time::interval(SESSION_CHECK);
    check.tick().await;
    loop {
        tokio::select! {
            _ = tx.closed() => return,
            _ = check.tick() => {
                match citygrid_store::accounts::session_user(&state.pool, &token_hash).await {
                    Ok(Some(_)) => {}
                    Ok(None) => {
                        let _ = tx.send(Event::default().event("end")
                            .data(json!({"reason": "the session ended: sign in again"}).to_string())).await;
                        return;
                    }
                    // The database is away: keep the stream, check again later.
                    Err(e) => tracing::debug!(error = %e, "cannot check an event stream's session"),
                }
            }
            notice = changes.recv() => match notice {
                Ok(notice) => {
                    let ids = case_ids(&notice);
                    if ids.is_empty() {
                        continue;
                    }
                    match citygrid_store::case_search::visible_summaries(&state.pool, &vis, &ids).await {
                        Ok(cases) => {
                            for case in cases {
                                if tx.send(case_event(case)).await.is_err() {
                                    return;
                                }
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot read changed cases for an event stream");
                            if tx.send(Event::default().event("resync").data("{}")).await.is_err() {
                                return;
                            }
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    if tx.send(Event::default().event("resync").data("{}")).await.is_err() {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_name_cases() {
        assert_eq!(case_ids("cases:3,5, 8"), vec![3, 5, 8]);
        assert!(case_ids("roads:3").is_empty());
        assert!(case_ids("cases").is_empty());
        let long = format!("cases:{}", vec!["1"; 900].join(","));
        assert_eq!(case_ids(&long).len(), MAX_IDS);
    }

    #[test]
    fn slots_are_bounded_and_given_back() {
        let user = -42;
        let slots: Vec<Slot> = (0..MAX_PER_USER)
            .map(|_| Slot::take(user).unwrap())
            .collect();
        assert!(Slot::take(user).is_err());
        drop(slots);
        assert!(Slot::take(user).is_ok());
    }
}
