//! Reads from hot standbys (issue 24): layer data is read from a standby once it has
//! replayed the primary's WAL up to the moment a change was announced, so a server
//! never loads an old version of a layer after a change notice; when no standby
//! catches up within the bound, or none answers, the primary is read instead.
//!
//! PostgreSQL's `NOTIFY` reaches only sessions on the primary. A notice is sent at
//! commit, so the primary's `pg_current_wal_flush_lsn()` read after the notice arrives is
//! at or past the change's commit record: a standby whose
//! `pg_last_wal_replay_lsn()` has reached it holds the change.

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::PgPool;

/// How long a read waits for a standby to replay a change before it goes to the
/// primary.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(2);

/// How often a waiting read asks the standby again.
const POLL: Duration = Duration::from_millis(10);

/// What `/metrics` shows of one standby.
#[derive(Debug, Clone, Default)]
pub struct StandbyStatus {
    /// Its address as configured (password removed).
    pub url: String,
    /// Whether it answered the last probe.
    pub up: bool,
    /// Bytes of WAL it has still to replay (`None`: unknown).
    pub lag_bytes: Option<i64>,
    /// Seconds since the last transaction it replayed was committed on the primary
    /// (`None`: unknown, or nothing replayed yet).
    pub lag_seconds: Option<f64>,
}

/// The primary's address as the database reports it, and the standbys' lag.
#[derive(Debug, Clone, Default)]
pub struct ReplicationStatus {
    /// `host:port` of the server the write pool reaches (`None` while it is down).
    pub primary: Option<String>,
    /// Whether that server is a primary (not in recovery).
    pub primary_writable: bool,
    /// Each standby.
    pub standbys: Vec<StandbyStatus>,
}

/// Where layer data is read from: the primary, or standbys that have caught up.
#[derive(Debug)]
pub struct ReadSource {
    primary: PgPool,
    standbys: Vec<(String, PgPool)>,
    max_wait: Duration,
    next: AtomicUsize,
    /// Reads answered by a standby / by the primary after a notice (for /metrics).
    pub standby_reads: AtomicI64,
    /// Reads that fell back to the primary (no standby caught up or answered).
    pub primary_fallbacks: AtomicI64,
    status: Mutex<ReplicationStatus>,
}

impl ReadSource {
    /// Reads from `primary` only.
    pub fn primary_only(primary: PgPool) -> Arc<ReadSource> {
        ReadSource::new(primary, Vec::new(), DEFAULT_MAX_WAIT)
    }

    /// Reads from `standbys` (each `(redacted url, pool)`), falling back to
    /// `primary` after `max_wait`.
    pub fn new(
        primary: PgPool,
        standbys: Vec<(String, PgPool)>,
        max_wait: Duration,
    ) -> Arc<ReadSource> {
        let status = ReplicationStatus {
            standbys: standbys
                .iter()
                .map(|(url, _)| StandbyStatus {
                    url: url.clone(),
                    ..StandbyStatus::default()
                })
                .collect(),
            ..ReplicationStatus::default()
        };
        Arc::new(ReadSource {
            primary,
            standbys,
            max_wait,
            next: AtomicUsize::new(0),
            standby_reads: AtomicI64::new(0),
            primary_fallbacks: AtomicI64::new(0),
            status: Mutex::new(status),
        })
    }

    /// Whether any standby is configured.
    pub fn has_standbys(&self) -> bool {
        !self.standbys.is_empty()
    }

    /// The primary's pool.
    pub fn primary(&self) -> &PgPool {
        &self.primary
    }

    /// A pool that holds every change committed before this call: a standby that
    /// has replayed the primary's current WAL position (waiting up to the bound),
    /// else the primary. While the primary is down, a standby that answers (there
    /// are no new commits to wait for).
    pub async fn caught_up(&self) -> &PgPool {
        if self.standbys.is_empty() {
            return &self.primary;
        }
        let target: Option<String> = sqlx::query_scalar("SELECT pg_current_wal_flush_lsn()::text")
            .fetch_one(&self.primary)
            .await
            .ok();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let n = self.standbys.len();
        let Some(target) = target else {
            // The primary is away: a standby that answers is as current as it gets.
            for i in 0..n {
                let (_, pool) = &self.standbys[(start + i) % n];
                if sqlx::query("SELECT 1").execute(pool).await.is_ok() {
                    self.standby_reads.fetch_add(1, Ordering::Relaxed);
                    return pool;
                }
            }
            return &self.primary;
        };
        let deadline = Instant::now() + self.max_wait;
        loop {
            for i in 0..n {
                let (_, pool) = &self.standbys[(start + i) % n];
                if replayed(pool, &target).await == Some(true) {
                    self.standby_reads.fetch_add(1, Ordering::Relaxed);
                    return pool;
                }
            }
            if Instant::now() >= deadline {
                self.primary_fallbacks.fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    lsn = %target,
                    "no standby replayed the change in time: reading from the primary"
                );
                return &self.primary;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The primary's WAL position now (`None`: no standby configured, or the primary
    /// does not answer): what a read must wait for to see every change committed so
    /// far ([`ReadSource::replayed_to`]).
    pub async fn primary_lsn(&self) -> Option<String> {
        if self.standbys.is_empty() {
            return None;
        }
        sqlx::query_scalar("SELECT pg_current_wal_flush_lsn()::text")
            .fetch_one(&self.primary)
            .await
            .ok()
    }

    /// A pool that holds WAL up to `lsn` (from [`ReadSource::primary_lsn`], taken
    /// when a change was announced): a standby that has replayed it (waiting up to the
    /// bound), else the primary. `None`: any standby (round robin), nothing to wait
    /// for. Unlike [`ReadSource::caught_up`] it asks nothing of the primary, so it
    /// suits reads made per request (tiles of a layer served from the database); it
    /// is not counted in `standby_reads` / `primary_fallbacks` (layer loads).
    pub async fn replayed_to(&self, lsn: Option<&str>) -> &PgPool {
        if self.standbys.is_empty() {
            return &self.primary;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let n = self.standbys.len();
        let deadline = Instant::now() + self.max_wait;
        loop {
            for i in 0..n {
                let (_, pool) = &self.standbys[(start + i) % n];
                let ready = match lsn {
                    Some(lsn) => replayed(pool, lsn).await == Some(true),
                    None => true,
                };
                if ready {
                    return pool;
                }
            }
            if lsn.is_none() || Instant::now() >= deadline {
                return &self.primary;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Probes the primary and every standby once and keeps the result for
    /// [`ReadSource::status`].
    pub async fn probe(&self) {
        let primary: Option<(Option<String>, bool, Option<String>)> = sqlx::query_as(
            "SELECT coalesce(host(inet_server_addr()), 'local') || ':' || \
                    coalesce(inet_server_port()::text, current_setting('port')), \
                    NOT pg_is_in_recovery(), \
                    CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_flush_lsn()::text END",
        )
        .fetch_one(&self.primary)
        .await
        .ok();
        let primary_lsn = primary.as_ref().and_then(|p| p.2.clone());
        let mut standbys = Vec::with_capacity(self.standbys.len());
        for (url, pool) in &self.standbys {
            let row: Option<(Option<i64>, Option<f64>)> = sqlx::query_as(
                "SELECT CASE WHEN $1::text IS NULL OR pg_last_wal_replay_lsn() IS NULL THEN NULL \
                        ELSE greatest(pg_wal_lsn_diff($1::text::pg_lsn, pg_last_wal_replay_lsn()), 0)::bigint END, \
                        extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8",
            )
            .bind(primary_lsn.as_deref())
            .fetch_one(pool)
            .await
            .ok();
            standbys.push(StandbyStatus {
                url: url.clone(),
                up: row.is_some(),
                lag_bytes: row.as_ref().and_then(|r| r.0),
                lag_seconds: row.and_then(|r| r.1),
            });
        }
        let status = ReplicationStatus {
            primary: primary.as_ref().and_then(|p| p.0.clone()),
            primary_writable: primary.is_some_and(|p| p.1),
            standbys,
        };
        if let Ok(mut s) = self.status.lock() {
            *s = status;
        }
    }

    /// The last probe's result.
    pub fn status(&self) -> ReplicationStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

/// Whether the server behind `pool` has replayed WAL up to `lsn` (a primary has
/// everything it wrote: true); `None` when it does not answer.
async fn replayed(pool: &PgPool, lsn: &str) -> Option<bool> {
    sqlx::query_scalar(
        "SELECT coalesce(pg_last_wal_replay_lsn() >= $1::text::pg_lsn, NOT pg_is_in_recovery())",
    )
    .bind(lsn)
    .fetch_one(pool)
    .await
    .ok()
}
