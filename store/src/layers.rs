//! Reading layers: the features of a vector layer (into the in-memory index) and the
//! stored tiles of a raster layer.

use serde_json::Value;

/// A layer id checked to be `[a-z0-9_]+`, so it may be quoted into SQL as a table
/// name of schema `layers` (the catalogue's constraint, checked again here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerId<'a>(&'a str);

impl<'a> LayerId<'a> {
    /// `id` if it is a safe layer id.
    pub fn new(id: &'a str) -> Option<LayerId<'a>> {
        citygrid_db::is_identifier(id, usize::MAX).then_some(LayerId(id))
    }

    /// The id.
    pub fn as_str(&self) -> &'a str {
        self.0
    }
}

/// One feature as read: its id, its geometry as WKB (lon/lat) and its attributes
/// (every column but `fid` and `geom`, as a JSON object).
pub type FeatureRow = (i64, Vec<u8>, Value);

/// `name` as a quoted SQL identifier.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The SQL that reads a layer's features. With `fields` (the attribute columns the
/// caller wants, e.g. the catalogue's fields), the attribute object is built from
/// those columns only; without, from the whole row. The whole row costs far more:
/// `to_jsonb` turns the geometry into GeoJSON too (PostGIS's cast, ~40 µs a point)
/// before `- 'geom'` drops it again — 350 ms instead of 45 ms for 7,500 cases.
fn select_sql(id: LayerId<'_>, fields: Option<&[&str]>, filter: &str) -> String {
    let attributes = match fields {
        Some(fields) => {
            let columns: Vec<String> = fields
                .iter()
                .filter(|f| **f != "geom" && **f != "fid")
                .map(|f| format!("t.{}", quote_ident(f)))
                .collect();
            if columns.is_empty() {
                "'{}'::jsonb".to_string()
            } else {
                format!(
                    "(SELECT to_jsonb(a) FROM (SELECT {}) a)",
                    columns.join(", ")
                )
            }
        }
        None => "to_jsonb(t) - 'geom' - 'fid'".to_string(),
    };
    format!(
        "SELECT fid::bigint, ST_AsBinary(geom), {attributes} FROM layers.\"{}\" t {filter}",
        id.0
    )
}

/// SQLSTATE 42703: a column named does not exist.
fn undefined_column(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == "42703")
}

/// Every feature of vector layer `id`, with the attribute columns `fields` (`None`:
/// every column; a field the table does not have makes it read every column).
pub async fn features(
    pool: &sqlx::PgPool,
    id: LayerId<'_>,
    fields: Option<&[&str]>,
) -> Result<Vec<FeatureRow>, sqlx::Error> {
    match sqlx::query_as(&select_sql(id, fields, ""))
        .fetch_all(pool)
        .await
    {
        Err(e) if fields.is_some() && undefined_column(&e) => {
            sqlx::query_as(&select_sql(id, None, ""))
                .fetch_all(pool)
                .await
        }
        other => other,
    }
}

/// The features of vector layer `id` with ids `fids` (ids not returned were deleted),
/// with the attribute columns `fields` as in [`features`].
pub async fn features_by_id(
    pool: &sqlx::PgPool,
    id: LayerId<'_>,
    fields: Option<&[&str]>,
    fids: &[i64],
) -> Result<Vec<FeatureRow>, sqlx::Error> {
    let filter = "WHERE fid = ANY($1)";
    match sqlx::query_as(&select_sql(id, fields, filter))
        .bind(fids)
        .fetch_all(pool)
        .await
    {
        Err(e) if fields.is_some() && undefined_column(&e) => {
            sqlx::query_as(&select_sql(id, None, filter))
                .bind(fids)
                .fetch_all(pool)
                .await
        }
        other => other,
    }
}

/// The stored bytes of tile `z/x/y` of raster layer `id` (`None`: no tile there).
pub async fn raster_tile(
    executor: impl sqlx::PgExecutor<'_>,
    id: LayerId<'_>,
    z: u8,
    x: u32,
    y: u32,
) -> Result<Option<Vec<u8>>, sqlx::Error> {
    let sql = format!(
        "SELECT data FROM layers.\"{}\" WHERE z = $1 AND x = $2 AND y = $3",
        id.0
    );
    sqlx::query_scalar(&sql)
        .bind(i16::from(z))
        .bind(x as i32)
        .bind(y as i32)
        .fetch_optional(executor)
        .await
}

/// The stored bytes of tile `z/x/y` of the geographic grid (CGCS2000Quad levels,
/// `citygrid_geo::matrixset`) of raster layer `id`: `layers."<id>#geographic"`.
/// `None`: no tile there, or the layer has no geographic pyramid.
pub async fn raster_tile_geographic(
    executor: impl sqlx::PgExecutor<'_>,
    id: LayerId<'_>,
    z: u8,
    x: u32,
    y: u32,
) -> Result<Option<Vec<u8>>, sqlx::Error> {
    let sql = format!(
        "SELECT data FROM layers.\"{}#geographic\" WHERE z = $1 AND x = $2 AND y = $3",
        id.0
    );
    match sqlx::query_scalar(&sql)
        .bind(i16::from(z))
        .bind(x as i32)
        .bind(y as i32)
        .fetch_optional(executor)
        .await
    {
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P01") => Ok(None),
        other => other,
    }
}

/// Whether raster layer `id` has a pyramid in the geographic grid (imported with a
/// geographic tile matrix set).
pub async fn has_geographic_pyramid(
    executor: impl sqlx::PgExecutor<'_>,
    id: LayerId<'_>,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT to_regclass(format('layers.%I', $1::text || '#geographic')) IS NOT NULL",
    )
    .bind(id.0)
    .fetch_one(executor)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_safe_ids_reach_the_sql() {
        assert!(LayerId::new("osm_roads").is_some());
        for bad in ["", "Roads", "a\"; drop table x; --", "a b"] {
            assert!(LayerId::new(bad).is_none(), "{bad:?}");
        }
        let sql = select_sql(LayerId::new("roads").unwrap(), None, "WHERE fid = ANY($1)");
        assert!(
            sql.contains("FROM layers.\"roads\" t WHERE fid = ANY($1)"),
            "{sql}"
        );
    }

    #[test]
    fn attributes_from_the_named_columns_only() {
        let id = LayerId::new("poi").unwrap();
        let sql = select_sql(id, Some(&["name", "geom", "odd \"col", "fid"]), "");
        assert!(
            sql.contains(r#"(SELECT to_jsonb(a) FROM (SELECT t."name", t."odd ""col") a)"#),
            "{sql}"
        );
        assert!(!sql.contains("to_jsonb(t)"), "{sql}");
        assert!(select_sql(id, Some(&[]), "").contains("'{}'::jsonb"));
        assert!(select_sql(id, None, "WHERE fid = ANY($1)")
            .contains("to_jsonb(t) - 'geom' - 'fid' FROM layers.\"poi\" t WHERE fid = ANY($1)"));
    }
}
