//! The database's health as the service and the command line read it: the ping and
//! the schema version.

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
