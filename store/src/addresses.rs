//! Standard addresses (门楼牌, issue 21) and what the geocoder reads besides them: the
//! named roads of road layers and the areas of grid management.
//!
//! Writes happen inside the caller's transaction: an import deletes the rows of its
//! `source` ([`delete_source`]), inserts the new ones in batches ([`insert_batch`]) and
//! commits. The table's statement triggers (migration 0014) announce every source a
//! statement touched on [`ADDRESS_CHANNEL`], delivered at commit, so each server
//! patches its index.

use serde::Deserialize;
use sqlx::{PgConnection, PgExecutor};

use crate::Result;

/// The notification channel of address changes; the payload is the changed source.
pub const ADDRESS_CHANNEL: &str = "citygrid_addresses";

/// Rows per [`insert_batch`] call that callers should not exceed (the statement
/// binds one array per column).
pub const BATCH_ROWS: usize = 5000;

/// An address to insert. `geom_ewkb` is any geometry in EPSG:4326 (EWKB); a
/// non-point is stored as a point on its surface (a building's address).
#[derive(Debug, Clone, Default)]
pub struct NewAddress {
    /// The whole address as written (`湖北省武汉市江岸区沿江大道188号`).
    pub full: Option<String>,
    /// Road name.
    pub road: Option<String>,
    /// House number.
    pub number: Option<String>,
    /// Building (栋/幢/座).
    pub building: Option<String>,
    /// Unit (单元).
    pub unit: Option<String>,
    /// Community (社区).
    pub community: Option<String>,
    /// Street office (街道).
    pub street: Option<String>,
    /// District / county.
    pub district: Option<String>,
    /// City.
    pub city: Option<String>,
    /// GB/T 2260 code of the county.
    pub division_code: Option<String>,
    /// The geometry, EWKB in EPSG:4326.
    pub geom_ewkb: Vec<u8>,
}

/// A stored address.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AddressRow {
    /// Row id.
    pub id: i64,
    /// The whole address.
    pub full_text: Option<String>,
    /// Road name.
    pub road: Option<String>,
    /// House number.
    pub number: Option<String>,
    /// Building.
    pub building: Option<String>,
    /// Unit.
    pub unit: Option<String>,
    /// Community.
    pub community: Option<String>,
    /// Street office.
    pub street: Option<String>,
    /// District.
    pub district: Option<String>,
    /// City.
    pub city: Option<String>,
    /// GB/T 2260 code.
    pub division_code: Option<String>,
    /// Where the row came from.
    pub source: String,
    /// Longitude.
    pub lon: f64,
    /// Latitude.
    pub lat: f64,
}

const ROW_SQL: &str = "SELECT id, full_text, road, number, building, unit, community, street, \
     district, city, division_code, source, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM addresses";

/// Deletes the rows of `source`; returns how many.
pub async fn delete_source(conn: &mut PgConnection, source: &str) -> Result<u64> {
    Ok(sqlx::query("DELETE FROM addresses WHERE source = $1")
        .bind(source)
        .execute(conn)
        .await?
        .rows_affected())
}

/// Inserts `rows` under `source` (at most [`BATCH_ROWS`] per call is sensible);
/// returns how many were stored (rows with neither a full address nor a road are
/// skipped).
pub async fn insert_batch(
    conn: &mut PgConnection,
    source: &str,
    rows: &[NewAddress],
) -> Result<u64> {
    if rows.is_empty() {
        return Ok(0);
    }
    fn col(rows: &[NewAddress], f: impl Fn(&NewAddress) -> &Option<String>) -> Vec<Option<String>> {
        rows.iter().map(|r| f(r).clone()).collect()
    }
    let geoms: Vec<Vec<u8>> = rows.iter().map(|r| r.geom_ewkb.clone()).collect();
    let done = sqlx::query(
        "INSERT INTO addresses (full_text, road, number, building, unit, community, street, \
             district, city, division_code, source, geom) \
         SELECT t.full_text, t.road, t.number, t.building, t.unit, t.community, t.street, \
             t.district, t.city, t.division_code, $11, \
             CASE WHEN GeometryType(g.g) = 'POINT' THEN g.g ELSE ST_PointOnSurface(g.g) END \
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
                     $7::text[], $8::text[], $9::text[], $10::text[], $12::bytea[]) \
              AS t(full_text, road, number, building, unit, community, street, district, city, \
                   division_code, geom), \
              LATERAL (SELECT ST_SetSRID(ST_GeomFromEWKB(t.geom), 4326) AS g) g \
         WHERE (t.full_text IS NOT NULL OR t.road IS NOT NULL) AND NOT ST_IsEmpty(g.g)",
    )
    .bind(col(rows, |r| &r.full))
    .bind(col(rows, |r| &r.road))
    .bind(col(rows, |r| &r.number))
    .bind(col(rows, |r| &r.building))
    .bind(col(rows, |r| &r.unit))
    .bind(col(rows, |r| &r.community))
    .bind(col(rows, |r| &r.street))
    .bind(col(rows, |r| &r.district))
    .bind(col(rows, |r| &r.city))
    .bind(col(rows, |r| &r.division_code))
    .bind(source)
    .bind(geoms)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// Every address, at most `limit` (by id).
pub async fn all(db: impl PgExecutor<'_>, limit: i64) -> Result<Vec<AddressRow>> {
    sqlx::query_as(&format!("{ROW_SQL} ORDER BY id LIMIT $1"))
        .bind(limit)
        .fetch_all(db)
        .await
}

/// The addresses of `source`, at most `limit`.
pub async fn of_source(
    db: impl PgExecutor<'_>,
    source: &str,
    limit: i64,
) -> Result<Vec<AddressRow>> {
    sqlx::query_as(&format!("{ROW_SQL} WHERE source = $1 ORDER BY id LIMIT $2"))
        .bind(source)
        .bind(limit)
        .fetch_all(db)
        .await
}

/// How many addresses `source` has.
pub async fn count_source(db: impl PgExecutor<'_>, source: &str) -> Result<i64> {
    sqlx::query_scalar("SELECT count(*) FROM addresses WHERE source = $1")
        .bind(source)
        .fetch_one(db)
        .await
}

/// A named road: its feature id in its layer, its name and its lines (lon/lat).
#[derive(Debug, Clone)]
pub struct RoadRow {
    /// `fid` of the feature.
    pub fid: i64,
    /// The layer it comes from.
    pub layer: String,
    /// The road's name.
    pub name: String,
    /// Its lines.
    pub lines: Vec<Vec<[f64; 2]>>,
}

/// The road layers of the catalogue: `configured` when given (those that exist), else
/// every line layer whose id ends in `_roads` and that has a `name` column.
pub async fn road_layers(
    db: impl PgExecutor<'_>,
    configured: &[String],
    public_by_default: bool,
) -> Result<Vec<String>> {
    // Only layers anyone may read: the geocoder's answers are public, so a road
    // layer restricted to some departments must not lend it its names.
    sqlx::query_scalar(
        "SELECT id FROM layer_catalog WHERE kind = 'vector' \
           AND geometry_type IN ('LineString', 'MultiLineString') \
           AND fields @> '[{\"name\": \"name\"}]'::jsonb \
           AND (CASE WHEN cardinality($1::text[]) > 0 THEN id = ANY($1) ELSE id LIKE '%\\_roads' END) \
           AND (read_access = 'public' OR (read_access IS NULL AND $2)) \
         ORDER BY id",
    )
    .bind(configured)
    .bind(public_by_default)
    .fetch_all(db)
    .await
}

#[derive(Deserialize)]
struct MultiLine {
    coordinates: Vec<Vec<[f64; 2]>>,
}

/// The named lines of road layer `layer`, at most `limit`.
pub async fn named_roads(db: impl PgExecutor<'_>, layer: &str, limit: i64) -> Result<Vec<RoadRow>> {
    if !citygrid_db::is_identifier(layer, 48) {
        return Err(sqlx::Error::Protocol(format!(
            "{layer:?} is not an identifier ([a-z0-9_]+)"
        )));
    }
    let rows: Vec<(i64, String, String)> = sqlx::query_as(&format!(
        "SELECT fid, name::text, ST_AsGeoJSON(ST_Multi(ST_Force2D(geom)), 7) FROM layers.\"{layer}\" \
         WHERE name IS NOT NULL AND name::text <> '' AND geom IS NOT NULL ORDER BY fid LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(fid, name, json)| {
            let lines = serde_json::from_str::<MultiLine>(&json).ok()?.coordinates;
            Some(RoadRow {
                fid,
                layer: layer.to_string(),
                name,
                lines,
            })
        })
        .collect())
}

/// The kind of an area row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AreaTable {
    /// `layers.unit_grids`.
    UnitGrid,
    /// `layers.communities`.
    Community,
    /// `layers.streets`.
    Street,
    /// `layers.admin_divisions`.
    Division,
}

/// An area of grid management: code, name and polygons (lon/lat rings).
#[derive(Debug, Clone)]
pub struct AreaRow {
    /// Which table.
    pub kind: AreaTable,
    /// Its code.
    pub code: String,
    /// Its name (a unit grid's is its code).
    pub name: String,
    /// Polygons → rings → points.
    pub polygons: Vec<Vec<Vec<[f64; 2]>>>,
}

#[derive(Deserialize)]
struct MultiPolygonJson {
    coordinates: Vec<Vec<Vec<[f64; 2]>>>,
}

/// Every unit grid, community, street and admin division, at most `limit` of each.
pub async fn areas(db: &sqlx::PgPool, limit: i64) -> Result<Vec<AreaRow>> {
    let tables = [
        (AreaTable::UnitGrid, "unit_grids", "code"),
        (AreaTable::Community, "communities", "name"),
        (AreaTable::Street, "streets", "name"),
        (AreaTable::Division, "admin_divisions", "name"),
    ];
    let mut out = Vec::new();
    for (kind, table, name) in tables {
        let rows: Vec<(String, String, String)> = sqlx::query_as(&format!(
            "SELECT code, {name}, ST_AsGeoJSON(ST_Multi(geom), 7) FROM layers.{table} \
             WHERE geom IS NOT NULL ORDER BY fid LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(db)
        .await?;
        out.extend(rows.into_iter().filter_map(|(code, name, json)| {
            Some(AreaRow {
                kind,
                code,
                name,
                polygons: serde_json::from_str::<MultiPolygonJson>(&json)
                    .ok()?
                    .coordinates,
            })
        }));
    }
    Ok(out)
}
