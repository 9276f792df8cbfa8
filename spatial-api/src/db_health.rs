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
/// How long the last ping waited for a pool connection (microseconds).
static ACQUIRE_WAIT_US: AtomicI64 = AtomicI64::new(0);

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

/// How long the last ping waited for a connection from the pool: a pool that is
/// used up shows here before requests time out.
pub fn acquire_wait_seconds() -> f64 {
    ACQUIRE_WAIT_US.load(Ordering::Relaxed) as f64 / 1e6
}

/// One ping: a connection from the pool (the wait is recorded) and `SELECT 1`.
pub async fn ping(pool: &PgPool) -> bool {
    let ping = async {
        let started = std::time::Instant::now();
        let mut conn = pool.acquire().await?;
        let waited = i64::try_from(started.elapsed().as_micros()).unwrap_or(i64::MAX);
        ACQUIRE_WAIT_US.store(waited, Ordering::Relaxed);
        citygrid_store::health::ping(&mut *conn).await
    };
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
