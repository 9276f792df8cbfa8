//! Evaluation figures: the case rows and, from their events, the persons involved.

use chrono::{DateTime, FixedOffset, Utc};
use serde_json::Value;
use sqlx::PgExecutor;

use crate::Result;

/// One case as the evaluation reads it: `case_no`, `grid_code`, `department`,
/// `reported_at`, `registered_at`, `dispatched_at`, `dispatch_due`, `handling_due`,
/// `handled_at`, `checking_due`, `closed_at`, `return_count`, `rework_count`,
/// `extended`, and an object of the persons (`reporter`, `acceptor`, `dispatcher`,
/// `handler`: event actors) and `suspended` (whether the case was suspended at `to`).
pub type EvaluationRow = (
    String,
    Option<String>,
    Option<String>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    i32,
    i32,
    bool,
    Value,
);

/// The cases reported before `to` (at most `limit`, oldest first).
pub async fn evaluation_rows(
    db: impl PgExecutor<'_>,
    to: DateTime<FixedOffset>,
    limit: i64,
) -> Result<Vec<EvaluationRow>> {
    sqlx::query_as(
        "SELECT c.case_no, c.grid_code, c.department, c.reported_at, c.registered_at, c.dispatched_at, \
                c.dispatch_due, c.handling_due, c.handled_at, c.checking_due, c.closed_at, \
                c.return_count, c.rework_count, c.extended, \
                jsonb_build_object( \
                  'reporter', (SELECT actor FROM case_events e WHERE e.case_id = c.id AND e.action = 'report' ORDER BY id LIMIT 1), \
                  'acceptor', (SELECT actor FROM case_events e WHERE e.case_id = c.id AND e.action = 'register' ORDER BY id LIMIT 1), \
                  'dispatcher', (SELECT actor FROM case_events e WHERE e.case_id = c.id AND e.action = 'dispatch' ORDER BY id LIMIT 1), \
                  'handler', (SELECT actor FROM case_events e WHERE e.case_id = c.id AND e.action = 'feedback' ORDER BY id DESC LIMIT 1), \
                  'suspended', coalesce((SELECT action = 'suspend' FROM case_events e WHERE e.case_id = c.id \
                       AND e.action IN ('suspend', 'resume') AND e.at < $1 ORDER BY e.at DESC, e.id DESC LIMIT 1), false)) \
         FROM cases c WHERE c.reported_at < $1 ORDER BY c.id LIMIT $2",
    )
    .bind(to)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// The supervision hall's figures at a glance (the big screen), over every case.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LiveFigures {
    /// Reported since the start of today.
    pub reported_today: i64,
    /// Neither closed nor voided.
    pub open: i64,
    /// Open, not suspended, past the current deadline.
    pub overdue: i64,
    /// Closed since the start of today.
    pub closed_today: i64,
    /// Of those, closed by the closing deadline (`checking_due`), or without one.
    pub closed_on_time_today: i64,
    /// Reported since the start of today, by source (`inspector`, `public`…); sources
    /// without reports are left out.
    pub by_source: std::collections::BTreeMap<String, i64>,
}

/// [`LiveFigures`] with today starting at `day_start` and the overdue test at `now`.
pub async fn live_figures(
    db: &sqlx::PgPool,
    day_start: DateTime<FixedOffset>,
    now: DateTime<FixedOffset>,
) -> Result<LiveFigures> {
    let (reported_today, open, overdue, closed_today, closed_on_time_today): (
        i64,
        i64,
        i64,
        i64,
        i64,
    ) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE reported_at >= $1), \
                count(*) FILTER (WHERE status NOT IN ('closed', 'voided')), \
                count(*) FILTER (WHERE status NOT IN ('suspended', 'closed', 'voided') AND due_at < $2), \
                count(*) FILTER (WHERE status = 'closed' AND closed_at >= $1), \
                count(*) FILTER (WHERE status = 'closed' AND closed_at >= $1 \
                                 AND (checking_due IS NULL OR closed_at <= checking_due)) \
         FROM cases",
    )
    .bind(day_start)
    .bind(now)
    .fetch_one(db)
    .await?;
    let by_source: Vec<(String, i64)> = sqlx::query_as(
        "SELECT source, count(*) FROM cases WHERE reported_at >= $1 GROUP BY source ORDER BY source",
    )
    .bind(day_start)
    .fetch_all(db)
    .await?;
    Ok(LiveFigures {
        reported_today,
        open,
        overdue,
        closed_today,
        closed_on_time_today,
        by_source: by_source.into_iter().collect(),
    })
}
