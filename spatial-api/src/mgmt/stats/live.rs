//! `GET /api/stats/live`: the supervision hall's figures at a glance for the big
//! screen (`/bigscreen`): today's reports (by source), open and overdue cases, cases
//! closed today and the share closed on time. "Today" is the day in the city's time
//! zone (configuration `timezone`) by the service's clock. For the supervision centre
//! only (shift leaders, acceptors, dispatchers, admins), who see every case.

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::{day_start, today, End};
use crate::auth::Role;
use crate::error::{ApiError, ApiResult};
use crate::mgmt::common::now;
use crate::state::AppState;

/// The roles that may read the hall's figures (and open the big screen).
pub const LIVE_ROLES: &[Role] = &[
    Role::ShiftLeader,
    Role::Acceptor,
    Role::Dispatcher,
    Role::Admin,
];

/// `GET /api/stats/live`.
pub async fn live(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let tz = state.config.tz();
    let now = now();
    let today = today(tz);
    let start = day_start(today, tz, End::From)
        .ok_or_else(|| ApiError::Internal("today has no start in the city's time zone".into()))?;
    let f = citygrid_store::stats::live_figures(&state.pool, start, now).await?;
    let on_time_rate =
        (f.closed_today > 0).then(|| f.closed_on_time_today as f64 / f.closed_today as f64);
    Ok(Json(json!({
        "now": now,
        "today": today.to_string(),
        "timezone": tz.name(),
        "day_start": start,
        "reported_today": f.reported_today,
        "open": f.open,
        "overdue": f.overdue,
        "closed_today": f.closed_today,
        "closed_on_time_today": f.closed_on_time_today,
        "closed_on_time_rate": on_time_rate,
        "by_source": f.by_source,
    })))
}
