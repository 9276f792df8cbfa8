//! # citygrid-db
//!
//! The database edge of citygrid, shared by the command line, the importers and the
//! HTTP service:
//!
//! - [`config`]: configuration from the environment, `citygrid.toml` and defaults
//!   (environment beats file beats defaults);
//! - [`cluster`]: the local PostGIS cluster kept under `$CITYGRID_HOME/pg`, run as a
//!   non-root user on 127.0.0.1 and a private socket; every operation is idempotent;
//! - [`connect`] and [`migrate`]: the connection pool and the schema's one home,
//!   the versioned SQL files in `migrations/`.
//!
//! With `DATABASE_URL` set, citygrid uses that server and never starts one.

pub mod cluster;
pub mod config;

use std::time::Duration;

pub use cluster::{ensure_database, ClusterError, ClusterOptions, ClusterStatus, LocalCluster};
pub use config::{Config, ConfigError};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

/// The schema's migrations, embedded from `migrations/` at build time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// The channel on which a change of a layer is announced (payload: the layer id).
pub const LAYER_CHANNEL: &str = "citygrid_layers";

/// Whether `s` is a safe SQL identifier of citygrid's own form — `[a-z0-9_]+`, at most
/// `max_len` bytes — so it may be quoted into SQL (layer, column, database names).
/// The one place this rule is written; callers pass their own length limit.
///
/// ```
/// assert!(citygrid_db::is_identifier("osm_roads", 48));
/// assert!(!citygrid_db::is_identifier("Roads", 48));
/// assert!(!citygrid_db::is_identifier("a\"; drop", 48));
/// assert!(!citygrid_db::is_identifier("", 48));
/// assert!(!citygrid_db::is_identifier("abc", 2));
/// ```
pub fn is_identifier(s: &str, max_len: usize) -> bool {
    !s.is_empty()
        && s.len() <= max_len
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Errors at the database edge.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database could not be reached or refused the connection.
    #[error("cannot connect to the database at {url}: {source}")]
    Connect {
        /// The URL with any password removed.
        url: String,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// A migration failed to apply.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The local cluster could not be managed.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// Any other database error.
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
}

/// Removes the password from a PostgreSQL URL so it can be printed or logged.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{}:***{}", &url[..scheme_end + 3], user, &url[at..])
        }
        _ => url.to_string(),
    }
}

/// How long a request waits for a database connection before it is refused with
/// 503 (`sqlx::Error::PoolTimedOut`). While PostgreSQL is away the pool keeps
/// retrying the connection until this deadline, so it also bounds how long a write
/// waits before it is told to retry. It is well above the wait of a healthy pool
/// (milliseconds) and of opening a connection on a busy two-core machine (which
/// has been seen to take 2.5 s), so load alone does not turn into 503s.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// A pooled connection idle at least this long is pinged before it is used again
/// (one in steady use is not: the ping would be a round trip per request).
pub const PING_AFTER_IDLE: Duration = Duration::from_millis(500);

/// Opens a connection pool to `url` with `max_connections` connections at most.
///
/// A request waits at most [`ACQUIRE_TIMEOUT`] for a connection. The pool connects
/// lazily when `lazy` is true (the service starts even while the database is down
/// and reports `db: down` on `/health`); otherwise the first connection is made now
/// and an unreachable server is an error.
pub async fn connect(url: &str, max_connections: u32, lazy: bool) -> Result<PgPool, DbError> {
    let options: PgConnectOptions = url.parse().map_err(|source| DbError::Connect {
        url: redact_url(url),
        source,
    })?;
    let options = options.application_name("citygrid");
    let pool_options = PgPoolOptions::new()
        .max_connections(max_connections.max(1))
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .idle_timeout(Duration::from_secs(300))
        // A ping before each use is a round trip per request (a case report is one
        // statement, so it was half of its round trips): a connection back in use
        // within [`PING_AFTER_IDLE`] is not pinged; one idle longer (after a quiet
        // spell or a database restart) is, and replaced when the ping fails.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_AFTER_IDLE {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        });
    if lazy {
        Ok(pool_options.connect_lazy_with(options))
    } else {
        pool_options
            .connect_with(options)
            .await
            .map_err(|source| DbError::Connect {
                url: redact_url(url),
                source,
            })
    }
}

/// A pool to `url` that connects on first use (a standby that is away at start is
/// tried again on each use); `max_connections` at most, the same acquire timeout as
/// [`connect`].
pub fn connect_lazy(url: &str, max_connections: u32) -> Result<PgPool, DbError> {
    let options: PgConnectOptions = url.parse().map_err(|source| DbError::Connect {
        url: redact_url(url),
        source,
    })?;
    Ok(PgPoolOptions::new()
        .max_connections(max_connections.max(1))
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .idle_timeout(Duration::from_secs(300))
        .connect_lazy_with(options.application_name("citygrid-read")))
}

/// Applies every pending migration; a no-op when the schema is current.
///
/// Every command calls this, so the common case — nothing to do — is answered by one
/// query comparing the applied versions and checksums with the built-in migrations;
/// only when they differ does the migrator run (and take its lock).
pub async fn migrate(pool: &PgPool) -> Result<(), DbError> {
    if schema_is_current(pool).await.unwrap_or(false) {
        return Ok(());
    }
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// [`migrate`] for a caller that holds a connection already (an import's first
/// writer): the check runs on `conn`, so the pool connects only when there is
/// something to migrate.
pub async fn migrate_using(pool: &PgPool, conn: &mut sqlx::PgConnection) -> Result<(), DbError> {
    if schema_is_current(conn).await.unwrap_or(false) {
        return Ok(());
    }
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// Whether exactly the built-in migrations have been applied successfully, with the
/// same checksums.
async fn schema_is_current<'c, E>(executor: E) -> Result<bool, sqlx::Error>
where
    E: sqlx::PgExecutor<'c>,
{
    let applied: Vec<(i64, Vec<u8>)> = sqlx::query_as(
        // Fails (→ not current) on a fresh database without the table.
        "SELECT version, checksum FROM _sqlx_migrations WHERE success ORDER BY version",
    )
    .fetch_all(executor)
    .await?;
    let expected: Vec<(i64, &[u8])> = MIGRATOR
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .map(|m| (m.version, m.checksum.as_ref()))
        .collect();
    Ok(applied.len() == expected.len()
        && applied
            .iter()
            .zip(&expected)
            .all(|((v, c), (ev, ec))| v == ev && c.as_slice() == *ec))
}

/// The database URL to use: `DATABASE_URL` when configured, otherwise the local
/// cluster's, which is started (and its database created) when it is not running.
pub async fn resolve_url(config: &Config) -> Result<String, DbError> {
    if let Some(url) = &config.database_url {
        return Ok(url.clone());
    }
    let cluster = LocalCluster::new(&config.home);
    let url = tokio::task::spawn_blocking(move || -> Result<String, ClusterError> {
        cluster.start()?;
        cluster.url(cluster::DEFAULT_DATABASE)
    })
    .await
    .map_err(|e| ClusterError::Command(format!("cluster task failed: {e}")))??;
    ensure_database(&url, cluster::DEFAULT_DATABASE)
        .await
        .map_err(|source| DbError::Connect {
            url: redact_url(&url),
            source,
        })?;
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn redacts_password() {
        assert_eq!(
            redact_url("postgres://u:secret@127.0.0.1:5432/db"),
            "postgres://u:***@127.0.0.1:5432/db"
        );
        assert_eq!(redact_url("postgres:///db"), "postgres:///db");
    }
}
