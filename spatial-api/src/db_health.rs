//! Whether PostGIS answers, as the service last saw it: a watcher pings it every
//! [`PING_EVERY`] and every request that failed to reach it marks it down at once.
//! `/health` and `/metrics` answer from this state without waiting on the database.

use std::sync::atomic::{AtomicI64, AtomicU8, Ordering};
use std::time::Duration;

use sqlx::PgPool;

/// How often the watcher pings the database.
pub const PING_EVERY: Duration = Duration::from_secs(2);
/// How long a ping may take before the database counts as down.
pub const PING_TIMEOUT: Duration = Duration::from_secs(2);

const UNKNOWN: u8 = 0;
const UP: u8 = 1;
const DOWN: u8 = 2;

static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);
/// When the state was last observed (milliseconds since the Unix epoch).
static OBSERVED_AT_MS: AtomicI64 = AtomicI64::new(0);

/// Records what a ping or a request found.
pub fn observe(up: bool) {
    STATE.store(if up { UP } else { DOWN }, Ordering::Relaxed);
    OBSERVED_AT_MS.store(chrono::Utc::now().timestamp_millis(), Ordering::Relaxed);
}

/// Whether the database answered when last seen (false before the first ping).
pub fn is_up() -> bool {
    STATE.load(Ordering::Relaxed) == UP
}

/// When the state was last observed, if ever.
pub fn observed_at() -> Option<chrono::DateTime<chrono::Utc>> {
    match OBSERVED_AT_MS.load(Ordering::Relaxed) {
        0 => None,
        ms => chrono::DateTime::from_timestamp_millis(ms),
    }
}

/// One ping.
pub async fn ping(pool: &PgPool) -> bool {
    let ping = sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(pool);
    let up = matches!(tokio::time::timeout(PING_TIMEOUT, ping).await, Ok(Ok(1)));
    observe(up);
    up
}

/// Pings the database every [`PING_EVERY`] until the pool is closed.
pub async fn watch(pool: PgPool) {
    while !pool.is_closed() {
        ping(&pool).await;
        tokio::time::sleep(PING_EVERY).await;
    }
}
