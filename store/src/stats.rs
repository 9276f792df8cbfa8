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
