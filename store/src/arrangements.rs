//! The yearly holiday arrangements (`calendar_arrangements`): one row per year, the
//! validated [`ArrangementSpec`] as JSON with its source, when and by whom it was
//! imported.

use chrono::{DateTime, Utc};
use citygrid_grid_mgmt::holidays::{Arrangement, ArrangementSpec};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgExecutor;

use crate::Result;

/// One stored arrangement.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ArrangementRow {
    /// The year.
    pub year: i32,
    /// The arrangement as stored.
    pub spec: Value,
    /// Where it was published.
    pub source: String,
    /// When it was imported.
    pub imported_at: DateTime<Utc>,
    /// Who imported it (`built-in`, `cli`, or a user name).
    pub imported_by: Option<String>,
}

impl ArrangementRow {
    /// The validated arrangement (`None` when the stored JSON no longer validates).
    pub fn arrangement(&self) -> Option<Arrangement> {
        serde_json::from_value::<ArrangementSpec>(self.spec.clone())
            .ok()
            .and_then(|s| Arrangement::new(s).ok())
    }
}

/// Every stored arrangement, by year.
pub async fn list(db: impl PgExecutor<'_>) -> Result<Vec<ArrangementRow>> {
    sqlx::query_as::<_, ArrangementRow>(
        "SELECT year, spec, source, imported_at, imported_by FROM calendar_arrangements ORDER BY year",
    )
    .fetch_all(db)
    .await
}

/// The validated arrangements (rows that no longer validate are left out, logged).
pub async fn load(db: impl PgExecutor<'_>) -> Result<Vec<Arrangement>> {
    Ok(list(db)
        .await?
        .into_iter()
        .filter_map(|r| {
            let a = r.arrangement();
            if a.is_none() {
                tracing::warn!(
                    year = r.year,
                    "a stored holiday arrangement does not validate; the statutory days apply"
                );
            }
            a
        })
        .collect())
}

/// Stores a validated arrangement, replacing the year's; true when one was replaced.
pub async fn put(db: impl PgExecutor<'_>, a: &Arrangement, by: &str) -> Result<bool> {
    let spec = serde_json::to_value(a.spec()).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let (replaced,): (bool,) = sqlx::query_as(
        "INSERT INTO calendar_arrangements (year, spec, source, imported_by) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (year) DO UPDATE SET spec = EXCLUDED.spec, source = EXCLUDED.source, \
         imported_at = now(), imported_by = EXCLUDED.imported_by \
         RETURNING (xmax <> 0)",
    )
    .bind(a.year())
    .bind(spec)
    .bind(a.source())
    .bind(by)
    .fetch_one(db)
    .await?;
    Ok(replaced)
}

/// Removes a year's arrangement (its statutory days apply again); true when there was one.
pub async fn delete(db: impl PgExecutor<'_>, year: i32) -> Result<bool> {
    Ok(
        sqlx::query("DELETE FROM calendar_arrangements WHERE year = $1")
            .bind(year)
            .execute(db)
            .await?
            .rows_affected()
            > 0,
    )
}
