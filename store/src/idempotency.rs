//! `Idempotency-Key`: the responses of requests that succeeded, per principal and key.
//!
//! A key is claimed in the statement that creates the case ([`crate::cases::insert`])
//! or the photo ([`crate::photos::insert`]), with `ON CONFLICT DO NOTHING` on the
//! primary key (principal, key): the common case (a new key) costs no extra round
//! trip, and of two requests with one key at the same moment the second waits on the
//! index until the first commits, then finds the key taken and reads [`stored`].

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgExecutor;

use crate::Result;

/// How long a key is kept (and a replay answered): 7 days. The service prunes older
/// rows ([`prune`]) every hour.
pub const RETENTION_DAYS: i32 = 7;

/// A key to claim with a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim<'a> {
    /// `user:<users.id>` or `key:<api_keys.id>`.
    pub principal: &'a str,
    /// The `Idempotency-Key` header.
    pub key: &'a str,
    /// SHA-256 of the canonical request.
    pub request_hash: &'a [u8],
}

/// A stored response.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Stored {
    /// SHA-256 of the canonical request that used the key first.
    pub request_hash: Vec<u8>,
    /// Its HTTP status.
    pub status: i16,
    /// The case it created, if any.
    pub case_id: Option<i64>,
    /// The photo it stored, if any.
    pub photo_id: Option<i64>,
    /// The response body.
    pub response: Value,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// The response stored for `key` of `principal`, if any.
pub async fn stored(db: impl PgExecutor<'_>, principal: &str, key: &str) -> Result<Option<Stored>> {
    sqlx::query_as(
        "SELECT request_hash, status, case_id, photo_id, response, created_at \
         FROM idempotency_keys WHERE principal = $1 AND key = $2",
    )
    .bind(principal)
    .bind(key)
    .fetch_optional(db)
    .await
}

/// Removes the keys older than [`RETENTION_DAYS`]; returns how many.
pub async fn prune(db: impl PgExecutor<'_>) -> Result<u64> {
    let done = sqlx::query(
        "DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(days => $1)",
    )
    .bind(RETENTION_DAYS)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}
