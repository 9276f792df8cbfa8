//! Webhook deliveries: rows of the `outbox` table (written with the case event that
//! caused them), claimed by the deliverer under a lease and marked delivered or failed.

use serde_json::Value;
use sqlx::PgExecutor;

use crate::Result;

/// A claimed delivery: `id`, `department`, `url`, `payload`, `idempotency_key`,
/// `attempts` so far.
pub type Claimed = (i64, String, String, Value, String, i32);

/// Claims up to 20 due rows for 60 seconds (a lease: an unanswered claim comes due
/// again), the oldest first, and only the first undelivered row of each case and
/// department, so those go out in order. Rows another deliverer holds are skipped.
pub async fn claim_due(db: impl PgExecutor<'_>) -> Result<Vec<Claimed>> {
    sqlx::query_as(
        "UPDATE outbox SET next_attempt_at = now() + interval '60 seconds' \
         WHERE id IN ( \
           SELECT o.id FROM outbox o \
           WHERE o.delivered_at IS NULL AND o.next_attempt_at <= now() \
             AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.case_id = o.case_id \
                 AND p.department = o.department AND p.delivered_at IS NULL AND p.id < o.id) \
           ORDER BY o.id LIMIT 20 FOR UPDATE SKIP LOCKED) \
         RETURNING id, department, url, payload, idempotency_key, attempts",
    )
    .fetch_all(db)
    .await
}

/// Marks row `id` delivered (one more attempt, no error).
pub async fn mark_delivered(db: impl PgExecutor<'_>, id: i64) -> Result<()> {
    sqlx::query(
        "UPDATE outbox SET delivered_at = now(), attempts = attempts + 1, last_error = NULL WHERE id = $1",
    )
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}

/// Records a failed attempt of row `id` with its error and the next attempt in
/// `retry_in_secs` seconds.
pub async fn mark_failed(
    db: impl PgExecutor<'_>,
    id: i64,
    error: &str,
    retry_in_secs: f64,
) -> Result<()> {
    sqlx::query(
        "UPDATE outbox SET attempts = attempts + 1, last_error = $2, \
            next_attempt_at = now() + make_interval(secs => $3) WHERE id = $1",
    )
    .bind(id)
    .bind(error)
    .bind(retry_in_secs)
    .execute(db)
    .await?;
    Ok(())
}

/// The deliveries not yet acknowledged, and those of them whose last attempt failed
/// (what `/metrics` shows; one indexed count).
pub async fn backlog(db: impl PgExecutor<'_>) -> Result<(i64, i64)> {
    sqlx::query_as::<_, (i64, i64)>(
        "SELECT count(*), count(*) FILTER (WHERE attempts > 0) FROM outbox WHERE delivered_at IS NULL",
    )
    .fetch_one(db)
    .await
}
