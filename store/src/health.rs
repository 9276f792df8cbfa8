//! The database's health as the service and the command line read it: the ping,
//! the schema version, the outbox backlog `/metrics` shows.

/// `SELECT 1`: the database answers (the value is 1).
pub async fn ping(executor: impl sqlx::PgExecutor<'_>) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar::<_, i32>("SELECT 1")
        .fetch_one(executor)
        .await
}

/// The highest migration applied successfully (`None`: none yet).
pub async fn schema_version(
    executor: impl sqlx::PgExecutor<'_>,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
        .fetch_one(executor)
        .await
}

/// The webhook deliveries not yet acknowledged, and those of them whose last
/// attempt failed (one indexed count).
pub async fn outbox_backlog(
    executor: impl sqlx::PgExecutor<'_>,
) -> Result<(i64, i64), sqlx::Error> {
    sqlx::query_as::<_, (i64, i64)>(
        "SELECT count(*), count(*) FILTER (WHERE attempts > 0) FROM outbox WHERE delivered_at IS NULL",
    )
    .fetch_one(executor)
    .await
}
