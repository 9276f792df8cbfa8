//! History: every edit of a feature (`feature_history`: who, when, the feature before
//! and after as GeoJSON) and the previous table of every re-imported layer
//! (`layer_snapshots`, tables in schema `layer_history`), kept for a retention and
//! pruned by the server ([`prune`]).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::catalog::layer_table;

/// The most history entries one listing returns.
pub const MAX_ENTRIES: i64 = 1000;

/// One edit of a feature.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    /// 1, 2, … per feature.
    pub version: i32,
    /// `create`, `replace`, `update`, `delete` or `restore`.
    pub op: String,
    /// Who: a user name.
    pub actor: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The feature before (GeoJSON, lon/lat; `None`: it did not exist).
    pub before: Option<Value>,
    /// The feature after (`None`: deleted).
    pub after: Option<Value>,
}

type EntryRow = (
    i32,
    String,
    String,
    DateTime<Utc>,
    Option<Value>,
    Option<Value>,
);

fn entry((version, op, actor, at, before, after): EntryRow) -> Entry {
    Entry {
        version,
        op,
        actor,
        at,
        before,
        after,
    }
}

/// One edit to record.
#[derive(Debug, Clone, Copy)]
pub struct NewEntry<'a> {
    /// The layer.
    pub layer: &'a str,
    /// The feature.
    pub fid: i64,
    /// `create`, `replace`, `update`, `delete` or `restore`.
    pub op: &'a str,
    /// Who.
    pub actor: &'a str,
    /// When (the service's clock).
    pub at: DateTime<Utc>,
    /// Before.
    pub before: Option<&'a Value>,
    /// After.
    pub after: Option<&'a Value>,
}

/// Records an edit (inside the edit's transaction, which holds the layer's lock);
/// returns its version.
pub async fn record(
    executor: impl sqlx::PgExecutor<'_>,
    e: NewEntry<'_>,
) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO feature_history (layer, fid, version, op, actor, at, before, after)
         SELECT $1, $2, COALESCE(max(version), 0) + 1, $3, $4, $5, $6, $7
           FROM feature_history WHERE layer = $1 AND fid = $2
         RETURNING version",
    )
    .bind(e.layer)
    .bind(e.fid)
    .bind(e.op)
    .bind(e.actor)
    .bind(e.at)
    .bind(e.before)
    .bind(e.after)
    .fetch_one(executor)
    .await
}

/// The edits of feature `fid` of `layer`, oldest first (at most [`MAX_ENTRIES`], the
/// newest ones).
pub async fn list(
    executor: impl sqlx::PgExecutor<'_>,
    layer: &str,
    fid: i64,
) -> Result<Vec<Entry>, sqlx::Error> {
    let rows: Vec<EntryRow> = sqlx::query_as(
        "SELECT * FROM (
             SELECT version, op, actor, at, before, after FROM feature_history
              WHERE layer = $1 AND fid = $2 ORDER BY version DESC LIMIT $3) h
          ORDER BY version",
    )
    .bind(layer)
    .bind(fid)
    .bind(MAX_ENTRIES)
    .fetch_all(executor)
    .await?;
    Ok(rows.into_iter().map(entry).collect())
}

/// Edit `version` of feature `fid` of `layer`.
pub async fn get(
    executor: impl sqlx::PgExecutor<'_>,
    layer: &str,
    fid: i64,
    version: i32,
) -> Result<Option<Entry>, sqlx::Error> {
    let row: Option<EntryRow> = sqlx::query_as(
        "SELECT version, op, actor, at, before, after FROM feature_history
          WHERE layer = $1 AND fid = $2 AND version = $3",
    )
    .bind(layer)
    .bind(fid)
    .bind(version)
    .fetch_optional(executor)
    .await?;
    Ok(row.map(entry))
}

/// Before an import replaces layer `id` (inside its transaction, under the layer's
/// lock): moves the current table, if any, to `layer_history."<id>@<n>"` with its
/// catalogue row in `layer_snapshots`, instead of letting it be dropped. Returns the
/// snapshot's table name.
pub async fn snapshot_previous(
    conn: &mut sqlx::PgConnection,
    id: &str,
) -> Result<Option<String>, sqlx::Error> {
    let exists: Option<String> = sqlx::query_scalar("SELECT to_regclass($1)::text")
        .bind(layer_table(id))
        .fetch_one(&mut *conn)
        .await?;
    if exists.is_none() {
        return Ok(None);
    }
    let n: i64 = sqlx::query_scalar("SELECT nextval('layer_snapshots_id_seq')")
        .fetch_one(&mut *conn)
        .await?;
    let name = format!("{id}@{n}");
    sqlx::query(
        "INSERT INTO layer_snapshots (id, layer, table_name, catalog)
         SELECT $1, $2, $3, COALESCE((SELECT to_jsonb(c) FROM layer_catalog c WHERE c.id = $2), '{}'::jsonb)",
    )
    .bind(n)
    .bind(id)
    .bind(&name)
    .execute(&mut *conn)
    .await?;
    let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    // Index names are unique per schema: rename them with the table, then move it.
    let sql = format!(
        "ALTER INDEX IF EXISTS layers.{old_pkey} RENAME TO {new_pkey};
         ALTER INDEX IF EXISTS layers.{old_gist} RENAME TO {new_gist};
         ALTER TABLE {old} RENAME TO {new};
         ALTER TABLE layers.{new} SET SCHEMA layer_history",
        old_pkey = q(&format!("{id}:pkey")),
        new_pkey = q(&format!("{name}:pkey")),
        old_gist = q(&format!("{id}:geom")),
        new_gist = q(&format!("{name}:geom")),
        old = layer_table(id),
        new = q(&name),
    );
    sqlx::raw_sql(&sql).execute(&mut *conn).await?;
    Ok(Some(name))
}

/// A kept previous version of a layer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    /// Its table in schema `layer_history`.
    pub table: String,
    /// When it was replaced.
    pub taken_at: DateTime<Utc>,
    /// Its catalogue `version`.
    pub version: Option<i64>,
}

/// The kept previous versions of layer `id`, newest first.
pub async fn snapshots(
    executor: impl sqlx::PgExecutor<'_>,
    id: &str,
) -> Result<Vec<Snapshot>, sqlx::Error> {
    let rows: Vec<(String, DateTime<Utc>, Option<i64>)> = sqlx::query_as(
        "SELECT table_name, taken_at, (catalog->>'version')::bigint FROM layer_snapshots
          WHERE layer = $1 ORDER BY taken_at DESC, id DESC",
    )
    .bind(id)
    .fetch_all(executor)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(table, taken_at, version)| Snapshot {
            table,
            taken_at,
            version,
        })
        .collect())
}

/// What [`prune`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Edits deleted.
    pub edits: u64,
    /// Previous layer tables dropped.
    pub tables: u64,
}

/// Deletes the edits and drops the previous layer tables older than their layer's
/// retention (`default_days` for a layer without its own) at `now`, in one
/// transaction.
pub async fn prune(
    pool: &sqlx::PgPool,
    now: DateTime<Utc>,
    default_days: i32,
) -> Result<Pruned, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let cutoff = "$1::timestamptz - make_interval(days => COALESCE(
                      (SELECT s.history_retention_days FROM layer_edit_settings s WHERE s.layer = h.layer), $2))";
    let edits = sqlx::query(&format!(
        "DELETE FROM feature_history h WHERE h.at < {cutoff}"
    ))
    .bind(now)
    .bind(default_days)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let old: Vec<String> = sqlx::query_scalar(&format!(
        "DELETE FROM layer_snapshots h WHERE h.taken_at < {cutoff} RETURNING table_name"
    ))
    .bind(now)
    .bind(default_days)
    .fetch_all(&mut *tx)
    .await?;
    for table in &old {
        sqlx::query(&format!(
            "DROP TABLE IF EXISTS layer_history.\"{}\"",
            table.replace('"', "\"\"")
        ))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(Pruned {
        edits,
        tables: old.len() as u64,
    })
}

/// What [`restore_snapshot`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestoreOutcome {
    /// No kept version of that name for that layer.
    NoSnapshot,
    /// The layer's catalogue row is gone (deleted layer): nothing to restore into.
    NoLayer,
    /// The layer's current table is not an import's (grid management's): refused.
    NotImported,
    /// Swapped in: the table the current version was kept as (if there was one) and
    /// the layer's new catalogue version.
    Restored {
        /// Where the replaced version went.
        kept: Option<String>,
        /// The catalogue version after the swap.
        version: i64,
    },
}

/// Inside the caller's transaction, under the layer's lock
/// ([`crate::catalog::lock_layer`]): makes kept version `table` layer `id`'s table again
/// (the current one is kept in its turn, as a re-import would), its catalogue entry as
/// it was (fields, geometry type, counts, bounds, zooms), the catalogue version + 1 and
/// the change notice (every server reloads the layer).
pub async fn restore_snapshot(
    conn: &mut sqlx::PgConnection,
    id: &str,
    table: &str,
) -> Result<RestoreOutcome, sqlx::Error> {
    let catalog: Option<Value> = sqlx::query_scalar(
        "SELECT catalog FROM layer_snapshots WHERE layer = $1 AND table_name = $2 FOR UPDATE",
    )
    .bind(id)
    .bind(table)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(catalog) = catalog else {
        return Ok(RestoreOutcome::NoSnapshot);
    };
    let o = crate::catalog::occupant(&mut *conn, id).await?;
    if o.kind.is_none() {
        return Ok(RestoreOutcome::NoLayer);
    }
    if o.table.is_some()
        && !o
            .comment
            .is_some_and(|c| c.starts_with(crate::edits::IMPORTED_MARK))
    {
        return Ok(RestoreOutcome::NotImported);
    }
    let kept = snapshot_previous(&mut *conn, id).await?;
    let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let sql = format!(
        "ALTER INDEX IF EXISTS layer_history.{old_pkey} RENAME TO {new_pkey};
         ALTER INDEX IF EXISTS layer_history.{old_gist} RENAME TO {new_gist};
         ALTER TABLE layer_history.{old} RENAME TO {new};
         ALTER TABLE layer_history.{new} SET SCHEMA layers",
        old_pkey = q(&format!("{table}:pkey")),
        new_pkey = q(&format!("{id}:pkey")),
        old_gist = q(&format!("{table}:geom")),
        new_gist = q(&format!("{id}:geom")),
        old = q(table),
        new = q(id),
    );
    sqlx::raw_sql(&sql).execute(&mut *conn).await?;
    sqlx::query("DELETE FROM layer_snapshots WHERE table_name = $1")
        .bind(table)
        .execute(&mut *conn)
        .await?;
    let version: i64 = sqlx::query_scalar(
        "WITH up AS (
             UPDATE layer_catalog SET
                 geometry_type = COALESCE($2->>'geometry_type', geometry_type),
                 fields = COALESCE($2->'fields', fields),
                 feature_count = COALESCE(($2->>'feature_count')::bigint, feature_count),
                 bounds = CASE WHEN jsonb_typeof($2->'bounds') = 'array'
                               THEN ARRAY(SELECT jsonb_array_elements_text($2->'bounds')::float8)
                               ELSE NULL END,
                 source_file = $2->>'source_file',
                 source_crs = $2->>'source_crs',
                 min_zoom = COALESCE(($2->>'min_zoom')::int, min_zoom),
                 max_zoom = COALESCE(($2->>'max_zoom')::int, max_zoom),
                 import_stats = COALESCE($2->'import_stats', import_stats),
                 version = version + 1,
                 updated_at = now()
              WHERE id = $1
          RETURNING version)
         SELECT up.version FROM up CROSS JOIN LATERAL (SELECT pg_notify($3, $1)) AS announced",
    )
    .bind(id)
    .bind(&catalog)
    .bind(citygrid_db::LAYER_CHANNEL)
    .fetch_one(&mut *conn)
    .await?;
    Ok(RestoreOutcome::Restored { kept, version })
}
