//! Where a vector layer's tiles come from (`layer_catalog.serve_from`, migration 0023,
//! issue 24): `memory` (the in-memory index) or `database` — a layer too big for
//! memory, not loaded, whose tiles PostGIS makes with `ST_AsMVT` ([`tile`]), on a
//! standby when one is configured, behind the service's tile cache.
//!
//! Set by an admin (`citygrid layer set-serve-from`,
//! `PUT /api/admin/layers/{layer}/serve-from`); [`set`] announces the layer on
//! [`citygrid_db::LAYER_CHANNEL`] at commit, so every server reloads its catalogue and
//! loads or forgets the layer's index.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use citygrid_tiles::tileprops::TileProperties;

use crate::catalog::{layer_table, LayerMeta};
use crate::layers::LayerId;

/// Where a vector layer's tiles come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ServeFrom {
    /// The in-memory index (the default).
    #[default]
    Memory,
    /// PostGIS, tile by tile (`ST_AsMVT`).
    Database,
}

impl ServeFrom {
    /// `memory` or `database`.
    pub fn as_str(self) -> &'static str {
        match self {
            ServeFrom::Memory => "memory",
            ServeFrom::Database => "database",
        }
    }
}

impl fmt::Display for ServeFrom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `serve_from` value that is neither `memory` nor `database`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("serve_from is memory or database, not {0:?}")]
pub struct BadServeFrom(pub String);

impl FromStr for ServeFrom {
    type Err = BadServeFrom;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "memory" => Ok(ServeFrom::Memory),
            "database" => Ok(ServeFrom::Database),
            other => Err(BadServeFrom(other.chars().take(64).collect())),
        }
    }
}

/// The ids of the layers served from the database.
pub async fn database_layers(
    executor: impl sqlx::PgExecutor<'_>,
) -> Result<HashSet<String>, sqlx::Error> {
    let ids: Vec<String> =
        sqlx::query_scalar("SELECT id FROM layer_catalog WHERE serve_from = 'database'")
            .fetch_all(executor)
            .await?;
    Ok(ids.into_iter().collect())
}

/// Where layer `id`'s tiles come from (`None`: no such layer).
pub async fn get(
    executor: impl sqlx::PgExecutor<'_>,
    id: &str,
) -> Result<Option<ServeFrom>, sqlx::Error> {
    let value: Option<String> =
        sqlx::query_scalar("SELECT serve_from FROM layer_catalog WHERE id = $1")
            .bind(id)
            .fetch_optional(executor)
            .await?;
    Ok(value.map(|v| v.parse().unwrap_or_default()))
}

/// What [`set`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetOutcome {
    /// No layer by that id.
    NoLayer,
    /// The layer is not a vector layer (its kind): a raster layer's tiles are always
    /// read from the database.
    NotVector(String),
    /// Stored and announced (also when it was already so).
    Saved,
}

/// Sets where layer `id`'s tiles come from and announces it (at commit: run it in a
/// transaction).
pub async fn set(
    conn: &mut sqlx::PgConnection,
    id: &str,
    serve_from: ServeFrom,
) -> Result<SetOutcome, sqlx::Error> {
    let kind: Option<String> =
        sqlx::query_scalar("SELECT kind FROM layer_catalog WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    match kind {
        None => return Ok(SetOutcome::NoLayer),
        Some(kind) if kind != "vector" => return Ok(SetOutcome::NotVector(kind)),
        Some(_) => {}
    }
    sqlx::query("UPDATE layer_catalog SET serve_from = $2, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(serve_from.as_str())
        .execute(&mut *conn)
        .await?;
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(citygrid_db::LAYER_CHANNEL)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(SetOutcome::Saved)
}

/// What a tile made by PostGIS is made with: the same extent and buffer as the
/// in-memory encoder (`citygrid_tiles::mvt::EncodeOptions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MvtOptions {
    /// Tile units per side (4096).
    pub extent: u32,
    /// Geometry buffer around the tile, in tile units (64).
    pub buffer: u32,
}

/// One layer of a tile made by PostGIS: the layer, the attribute columns its tiles
/// carry at the zoom ([`tile_columns`]) and its tile schema in force.
#[derive(Debug, Clone, Copy)]
pub struct TileLayer<'a> {
    /// The layer (its table `layers."<id>"`, and the MVT layer's name).
    pub id: LayerId<'a>,
    /// `(column, catalogue type)` of the properties.
    pub columns: &'a [(&'a str, &'a str)],
    /// The tile schema in force (its `feature_min_zoom` holds features back).
    pub props: &'a TileProperties,
}

/// A value bound after the five common parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Param {
    /// A text (an MVT layer's name).
    Text(String),
    /// A text array (the values of a field whose features are held back).
    Texts(Vec<String>),
}

/// One statement that makes a tile of zoom `z` of one or more layers (one MVT layer
/// each, concatenated), and the values it binds after the common ones.
#[derive(Debug, Clone, PartialEq)]
pub struct TileQuery {
    /// The SQL: `$1..$3` = z, x, y; `$4` = the buffer as a fraction of the extent;
    /// `$5` = extent; `$6..` = [`TileQuery::params`].
    pub sql: String,
    /// Per layer, its name, then for each field that holds features back at this
    /// zoom the values (as text) whose features are left out.
    pub params: Vec<Param>,
}

/// The attribute columns tiles of zoom `z` of `meta` carry under `props` (the layer's
/// tile schema in force), in catalogue order, with the SQL type they go out as.
pub fn tile_columns<'m>(
    meta: &'m LayerMeta,
    props: &TileProperties,
    z: u8,
) -> Vec<(&'m str, &'m str)> {
    meta.field_types()
        .into_iter()
        .filter(|(name, _)| *name != "fid" && *name != "geom")
        .filter(|(name, _)| props.includes(name) && props.property_min_zoom(name) <= z)
        .collect()
}

/// The SQL cast that makes a catalogue type go out as the in-memory tiles carry it:
/// integers and booleans as they are, other numbers as doubles, everything else as
/// text (a date, a JSON value: its text).
fn cast_for(pg_type: &str) -> &'static str {
    match pg_type {
        "smallint" | "integer" | "bigint" | "int" | "int2" | "int4" | "int8" => "::bigint",
        "double precision" | "real" | "numeric" | "float4" | "float8" => "::float8",
        "boolean" | "bool" => "::boolean",
        _ => "::text",
    }
}

/// `name` as a quoted SQL identifier.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The statement that makes tile `z` of `layers` (fields `columns`, features held
/// back by `props.feature_min_zoom` at `z` left out), one round trip for all of them.
/// Table and column names are quoted identifiers taken from the catalogue; every
/// value is a bound parameter.
pub fn tile_query(layers: &[TileLayer<'_>], z: u8) -> TileQuery {
    let mut params = Vec::new();
    let mut parts = Vec::with_capacity(layers.len());
    for layer in layers {
        let mut select = String::from("t.fid::bigint AS fid");
        for (name, ty) in layer.columns {
            let q = quote_ident(name);
            select.push_str(&format!(", t.{q}{} AS {q}", cast_for(ty)));
        }
        params.push(Param::Text(layer.id.as_str().to_string()));
        let name_param = 5 + params.len();
        let mut filter = String::new();
        for (field, values) in &layer.props.feature_min_zoom {
            if field == "fid" || field == "geom" {
                continue;
            }
            let later: Vec<String> = values
                .iter()
                .filter(|(_, zoom)| **zoom > z)
                .map(|(v, _)| v.clone())
                .collect();
            if later.is_empty() {
                continue;
            }
            params.push(Param::Texts(later));
            filter.push_str(&format!(
                " AND NOT coalesce(t.{}::text = ANY(${}::text[]), false)",
                quote_ident(field),
                5 + params.len()
            ));
        }
        parts.push(format!(
            "coalesce((SELECT ST_AsMVT(f.*, ${name_param}, $5, 'geom', 'fid') FROM (
                 SELECT {select},
                        ST_AsMVTGeom(ST_Transform(t.geom, 3857), ST_TileEnvelope($1, $2, $3),
                                     $5, ($4 * $5)::int, true) AS geom
                   FROM {table} t
                  WHERE t.geom && ST_Transform(ST_TileEnvelope($1, $2, $3, margin => $4), 4326)
                    AND t.fid >= 0{filter}) f
               WHERE f.geom IS NOT NULL), ''::bytea)",
            table = layer_table(layer.id.as_str()),
        ));
    }
    let sql = if parts.is_empty() {
        "SELECT ''::bytea WHERE $1::int IS NOT NULL AND $2::int IS NOT NULL AND $3::int IS NOT NULL \
         AND $4::float8 IS NOT NULL AND $5::int IS NOT NULL"
            .to_string()
    } else {
        format!("SELECT {}", parts.join(" || "))
    };
    TileQuery { sql, params }
}

/// Tile `z/x/y` of `layers` made by PostGIS in one statement (`ST_AsMVT`, one MVT
/// layer each; empty: no feature there).
pub async fn tile(
    executor: impl sqlx::PgExecutor<'_>,
    layers: &[TileLayer<'_>],
    (z, x, y): (u8, u32, u32),
    options: MvtOptions,
) -> Result<Vec<u8>, sqlx::Error> {
    let query = tile_query(layers, z);
    let mut q = sqlx::query_scalar::<_, Vec<u8>>(&query.sql)
        .bind(i32::from(z))
        .bind(x as i32)
        .bind(y as i32)
        .bind(f64::from(options.buffer) / f64::from(options.extent.max(1)))
        .bind(options.extent as i32);
    for param in query.params {
        q = match param {
            Param::Text(t) => q.bind(t),
            Param::Texts(v) => q.bind(v),
        };
    }
    q.fetch_one(executor).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse_and_print() {
        assert_eq!("memory".parse::<ServeFrom>(), Ok(ServeFrom::Memory));
        assert_eq!(" database ".parse::<ServeFrom>(), Ok(ServeFrom::Database));
        let e = "disk".parse::<ServeFrom>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "serve_from is memory or database, not \"disk\""
        );
        assert_eq!(ServeFrom::Database.to_string(), "database");
    }

    #[test]
    fn names_are_quoted_and_values_bound() {
        let poi = LayerId::new("poi").unwrap();
        let roads = LayerId::new("roads").unwrap();
        let props: TileProperties =
            serde_json::from_str(r#"{"feature_min_zoom": {"class": {"small": 14, "big": 3}}}"#)
                .unwrap();
        let none = TileProperties::default();
        let columns = [("name", "text"), ("odd \"col", "integer"), ("h", "numeric")];
        let layers = [
            TileLayer {
                id: poi,
                columns: &columns,
                props: &props,
            },
            TileLayer {
                id: roads,
                columns: &[],
                props: &none,
            },
        ];
        let q = tile_query(&layers, 10);
        assert!(
            q.sql.contains(r#"t."odd ""col"::bigint AS "odd ""col""#),
            "{}",
            q.sql
        );
        assert!(q.sql.contains(r#"t."h"::float8 AS "h""#), "{}", q.sql);
        assert!(q.sql.contains(r#"FROM layers."poi" t"#), "{}", q.sql);
        assert!(q.sql.contains(r#"FROM layers."roads" t"#), "{}", q.sql);
        assert!(q.sql.contains("ST_AsMVT(f.*, $6, $5"), "{}", q.sql);
        assert!(q
            .sql
            .contains(r#"NOT coalesce(t."class"::text = ANY($7::text[]), false)"#));
        assert!(q.sql.contains("ST_AsMVT(f.*, $8, $5"), "{}", q.sql);
        assert_eq!(
            q.params,
            vec![
                Param::Text("poi".into()),
                Param::Texts(vec!["small".to_string()]),
                Param::Text("roads".into()),
            ]
        );
        // Nothing held back at 14 and above.
        let q = tile_query(&layers[..1], 14);
        assert!(!q.sql.contains("ANY("), "{}", q.sql);
        assert_eq!(q.params, vec![Param::Text("poi".into())]);
    }
}
