//! Editing the features of imported vector layers (OGC API – Features – Part 4): the
//! statements of one edit, which the caller runs in one transaction after
//! [`crate::catalog::lock_layer`] (edits of a layer and its imports one at a time).
//!
//! Only tables an import wrote (their comment starts with [`IMPORTED_MARK`]) are
//! edited: grid management's tables (cases, unit grids, components…) keep their own
//! rules and are refused by [`editable`].
//!
//! Attribute values go in as one JSON object through `jsonb_populate_record`, so
//! PostgreSQL casts each value to its column's type (a bad date is a data exception,
//! SQLSTATE class 22, which the service answers with 400); the geometry goes in as
//! WKB in EPSG:4326.

use serde_json::Value;

use crate::catalog::layer_table;
use crate::layers::{FeatureRow, LayerId};

/// The comment that marks a table in schema `layers` as written by an importer; only
/// such tables are ever replaced (by imports) or edited (here).
pub const IMPORTED_MARK: &str = "citygrid import";

/// Whether layer `id` has a table an import wrote (so it may be edited feature by
/// feature).
pub async fn editable(executor: impl sqlx::PgExecutor<'_>, id: &str) -> Result<bool, sqlx::Error> {
    let o = crate::catalog::occupant(executor, id).await?;
    Ok(o.kind.as_deref() == Some("vector")
        && o.table.is_some()
        && o.comment.is_some_and(|c| c.starts_with(IMPORTED_MARK)))
}

/// A layer's editing settings (`layer_edit_settings`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EditSettings {
    /// Repair invalid geometries with `ST_MakeValid` instead of refusing them.
    pub repair_invalid: bool,
    /// Days edits and replaced tables are kept (`None`: the server's default).
    pub retention_days: Option<i32>,
}

/// The editing settings of layer `id` (the defaults when it has none).
pub async fn settings(
    executor: impl sqlx::PgExecutor<'_>,
    id: &str,
) -> Result<EditSettings, sqlx::Error> {
    let row: Option<(String, Option<i32>)> = sqlx::query_as(
        "SELECT invalid_geometry, history_retention_days FROM layer_edit_settings WHERE layer = $1",
    )
    .bind(id)
    .fetch_optional(executor)
    .await?;
    Ok(row
        .map(|(g, days)| EditSettings {
            repair_invalid: g == "repair",
            retention_days: days,
        })
        .unwrap_or_default())
}

/// Sets whether invalid geometries of layer `id` are repaired; `false` when the
/// catalogue has no such vector layer.
pub async fn set_invalid_geometry(
    executor: impl sqlx::PgExecutor<'_>,
    id: &str,
    repair: bool,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO layer_edit_settings (layer, invalid_geometry)
         SELECT id, $2 FROM layer_catalog WHERE id = $1 AND kind = 'vector'
         ON CONFLICT (layer) DO UPDATE SET invalid_geometry = EXCLUDED.invalid_geometry,
                                           updated_at = now()",
    )
    .bind(id)
    .bind(if repair { "repair" } else { "refuse" })
    .execute(executor)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Sets how many days the history of layer `id` is kept (`None`: the server's
/// default); `false` when the catalogue has no such layer.
pub async fn set_retention(
    executor: impl sqlx::PgExecutor<'_>,
    id: &str,
    days: Option<i32>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO layer_edit_settings (layer, history_retention_days)
         SELECT id, $2 FROM layer_catalog WHERE id = $1
         ON CONFLICT (layer) DO UPDATE SET history_retention_days = EXCLUDED.history_retention_days,
                                           updated_at = now()",
    )
    .bind(id)
    .bind(days)
    .execute(executor)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Feature `fid` of layer `id`, locked for the rest of the transaction.
pub async fn row_for_update(
    executor: impl sqlx::PgExecutor<'_>,
    id: LayerId<'_>,
    fid: i64,
) -> Result<Option<FeatureRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT fid::bigint, ST_AsBinary(geom), to_jsonb(t) - 'geom' - 'fid' FROM {} t WHERE fid = $1 FOR UPDATE",
        layer_table(id.as_str())
    ))
    .bind(fid)
    .fetch_optional(executor)
    .await
}

/// What PostGIS says of a geometry.
#[derive(Debug, Clone, PartialEq)]
pub struct GeometryCheck {
    /// `ST_IsValid`.
    pub valid: bool,
    /// `ST_IsValidReason` (`Valid Geometry` when valid).
    pub reason: String,
    /// `ST_MakeValid` as WKB, for an invalid geometry.
    pub repaired: Option<Vec<u8>>,
    /// `GeometryType` of the repaired geometry (`POLYGON`, `MULTIPOLYGON`…).
    pub repaired_type: Option<String>,
}

/// Checks a WKB geometry (lon/lat) with `ST_IsValid` and, when it is not valid, its
/// reason and its `ST_MakeValid` repair.
pub async fn check_geometry(
    executor: impl sqlx::PgExecutor<'_>,
    wkb: &[u8],
) -> Result<GeometryCheck, sqlx::Error> {
    let (valid, reason, repaired, repaired_type): (bool, String, Option<Vec<u8>>, Option<String>) =
        sqlx::query_as(
            "SELECT v, reason,
                    CASE WHEN v THEN NULL ELSE ST_AsBinary(fixed) END,
                    CASE WHEN v THEN NULL ELSE GeometryType(fixed) END
               FROM (SELECT ST_IsValid(g) AS v, ST_IsValidReason(g) AS reason,
                            CASE WHEN ST_IsValid(g) THEN NULL
                                 ELSE ST_CollectionExtract(ST_MakeValid(g), ST_Dimension(g) + 1) END AS fixed
                       FROM (SELECT ST_GeomFromWKB($1, 4326) AS g) s) c",
        )
        .bind(wkb)
        .fetch_one(executor)
        .await?;
    Ok(GeometryCheck {
        valid,
        reason,
        repaired,
        repaired_type,
    })
}

/// The id a new feature of layer `id` gets (the transaction holds the layer's lock).
pub async fn next_fid(
    executor: impl sqlx::PgExecutor<'_>,
    id: LayerId<'_>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(&format!(
        "SELECT COALESCE(max(fid), 0)::bigint + 1 FROM {}",
        layer_table(id.as_str())
    ))
    .fetch_one(executor)
    .await
}

/// `"name"`, with embedded quotes doubled.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Writes feature `fid` of layer `id` whole: its geometry (WKB, EPSG:4326) and every
/// attribute column of `columns` from `attributes` (a JSON object; a missing key is
/// NULL). `insert`: a new row; otherwise the row is updated. Returns the rows written.
pub async fn write(
    executor: impl sqlx::PgExecutor<'_>,
    id: LayerId<'_>,
    fid: i64,
    wkb: &[u8],
    columns: &[&str],
    attributes: &Value,
    insert: bool,
) -> Result<u64, sqlx::Error> {
    let table = layer_table(id.as_str());
    let quoted: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
    let sql = if insert {
        let mut names = vec!["fid".to_string(), "geom".to_string()];
        names.extend(quoted.iter().cloned());
        let mut values = vec!["$2".to_string(), "ST_GeomFromWKB($3, 4326)".to_string()];
        values.extend(quoted.iter().map(|c| format!("r.{c}")));
        format!(
            "INSERT INTO {table} ({}) SELECT {} FROM jsonb_populate_record(NULL::{table}, $1) r",
            names.join(", "),
            values.join(", ")
        )
    } else {
        let mut sets = vec!["geom = ST_GeomFromWKB($3, 4326)".to_string()];
        sets.extend(quoted.iter().map(|c| format!("{c} = r.{c}")));
        format!(
            "UPDATE {table} t SET {} FROM jsonb_populate_record(NULL::{table}, $1) r WHERE t.fid = $2",
            sets.join(", ")
        )
    };
    let done = sqlx::query(&sql)
        .bind(attributes)
        .bind(fid)
        .bind(wkb)
        .execute(executor)
        .await?;
    Ok(done.rows_affected())
}

/// Deletes feature `fid` of layer `id`; the rows deleted (0 or 1).
pub async fn delete(
    executor: impl sqlx::PgExecutor<'_>,
    id: LayerId<'_>,
    fid: i64,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(&format!(
        "DELETE FROM {} WHERE fid = $1",
        layer_table(id.as_str())
    ))
    .bind(fid)
    .execute(executor)
    .await?;
    Ok(done.rows_affected())
}

/// Announces that feature `fid` of layer `id` changed (`NOTIFY citygrid_layers,
/// '<layer>:<fid>'`, delivered at commit): every server re-reads that feature into its
/// index and drops the cached tiles it touches.
pub async fn announce(
    executor: impl sqlx::PgExecutor<'_>,
    id: LayerId<'_>,
    fid: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(citygrid_db::LAYER_CHANNEL)
        .bind(format!("{}:{fid}", id.as_str()))
        .execute(executor)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_names_are_quoted() {
        assert_eq!(quote_ident("名称"), "\"名称\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
