//! Grid management over HTTP (docs/domain.md): places and inventory, reference data,
//! case intake and workflow, photos, evaluation, Open311 GeoReport v2 and delivery to
//! departments. The domain rules are grid-mgmt's and the SQL is citygrid-store's; this
//! module puts them behind the route table.
//!
//! | module | job |
//! |---|---|
//! | [`reference`] | cached categories, time limits, routing rules, calendar |
//! | [`locate`] | `/api/locate` and point-in-grid for intake |
//! | [`intake`] | `POST /api/cases` (and Open311's POST) |
//! | [`cases`] | case lists, timelines, workflow steps |
//! | [`search`] | `GET /api/cases`: search, filters, sorting, paging with a total |
//! | [`events`] | `GET /api/cases/events`: the live queue (Server-Sent Events) |
//! | [`photos`] | case photos (with their workflow stage) |
//! | [`idempotency`] | `Idempotency-Key` on intake and photo uploads |
//! | [`admin`] | departments, categories, routing and time-limit rules, calendars |
//! | [`holidays`] | public holidays: statutory days, the yearly arrangements (import) |
//! | [`places`] | unit grids and components |
//! | [`stats`] | evaluation figures |
//! | [`open311`] | Open311 GeoReport v2 |
//! | [`outbox`] | webhook deliveries with retries |

pub mod admin;
pub mod cases;
pub mod common;
pub mod events;
pub mod holidays;
pub mod idempotency;
pub mod intake;
pub mod locate;
pub mod open311;
pub mod outbox;
pub mod photos;
pub mod places;
pub mod reference;
pub mod search;
pub mod state;
pub mod stats;

use std::sync::Arc;
use std::time::Duration;

use axum::http::Method;
use axum::routing::{get, post};
use citygrid_store::notify::Listener;

use crate::auth::{Access, Role};
use crate::router::RouteTable;
use crate::state::AppState;

/// The notification channel of reference-data changes.
pub use citygrid_store::notify::MGMT_CHANNEL;

pub use state::MgmtState;

const REPORTERS: &[Role] = &[
    Role::Inspector,
    Role::Acceptor,
    Role::ShiftLeader,
    Role::Dispatcher,
];

/// The grid-management routes.
pub fn routes(t: RouteTable) -> RouteTable {
    let t = t
        .add(
            Method::GET,
            "/api/locate",
            Access::Public,
            get(locate::locate_handler),
        )
        .add(
            Method::POST,
            "/api/cases",
            Access::Roles(REPORTERS),
            post(intake::create_case),
        )
        .add(
            Method::GET,
            "/api/cases",
            Access::Authenticated,
            get(search::list),
        )
        .add(
            Method::GET,
            "/api/cases/events",
            Access::Authenticated,
            get(events::stream),
        )
        .add(
            Method::GET,
            "/api/cases/{id}",
            Access::Authenticated,
            get(cases::one),
        )
        .add(
            Method::POST,
            "/api/cases/{id}/actions",
            Access::Authenticated,
            post(cases::action),
        )
        .add(
            Method::POST,
            "/api/cases/{id}/photos",
            Access::Authenticated,
            // The router's limit_body bounds uploads by max_upload_bytes.
            post(photos::upload).layer(axum::extract::DefaultBodyLimit::max(
                crate::router::UPLOAD_CAP_BYTES,
            )),
        )
        .add(
            Method::GET,
            "/api/photos/{id}",
            Access::Authenticated,
            get(photos::download),
        )
        .add(
            Method::GET,
            "/api/stats/evaluation",
            Access::Authenticated,
            get(stats::evaluation),
        )
        .add(
            Method::GET,
            "/api/stats/live",
            Access::Roles(stats::live::LIVE_ROLES),
            get(stats::live::live),
        );
    let t = admin::routes(t);
    let t = holidays::routes(t);
    let t = places::routes(t);
    open311::routes(t)
}

/// Background tasks: the reference-data listener, the outbox deliverer, the overdue
/// refresher of the cases layer, the announcer of queued layer changes and the pruner
/// of expired idempotency keys.
pub fn spawn_tasks(state: &AppState) -> Result<(), outbox::ClientError> {
    let webhooks = outbox::client(state.config.webhook_ca_file.as_deref())?;
    tokio::spawn(follow_reference_changes(state.clone()));
    tokio::spawn(outbox::run(state.clone(), webhooks));
    tokio::spawn(cases::refresh_overdue(state.clone()));
    tokio::spawn(cases::announce_changes(state.clone()));
    tokio::spawn(idempotency::prune(state.clone()));
    Ok(())
}

async fn follow_reference_changes(state: AppState) {
    loop {
        match Listener::connect(&state.pool).await {
            Ok(mut listener) => {
                if listener.listen(MGMT_CHANNEL).await.is_ok() {
                    state.mgmt.reference.invalidate();
                    while let Ok(Some(_)) = listener.recv().await {
                        state.mgmt.reference.invalidate();
                    }
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "database unavailable for the reference listener")
            }
        }
        state.mgmt.reference.invalidate();
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Convenience for handlers: the shared grid-management state.
pub fn state_of(state: &AppState) -> &Arc<MgmtState> {
    &state.mgmt
}
