//! Reading a vector layer out of PostGIS into a [`LayerIndex`].

use citygrid_store::layer_rows::{self, Cell, ColumnKind, TileType};
use citygrid_store::layers::{self as store, LayerId};
use citygrid_tiles::index::{Feature, LayerIndex};
use citygrid_tiles::schema::{FieldType, PropValue, Schema};
use geo::{Geometry, Point};
use geozero::wkb::Wkb;
use geozero::ToGeo;
use rayon::prelude::*;
use serde_json::Value;
use sqlx::PgPool;

use crate::catalog::LayerMeta;

/// Why a layer could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The database failed.
    #[error("cannot read layer {layer}: {source}")]
    Db {
        /// The layer.
        layer: String,
        /// The error.
        source: sqlx::Error,
    },
    /// The index could not be built.
    #[error("cannot index layer {layer}: {message}")]
    Index {
        /// The layer.
        layer: String,
        /// Why.
        message: String,
    },
}

/// The tile schema of a catalogue entry's fields.
pub fn schema_of(meta: &LayerMeta) -> Schema {
    let fields = meta.fields.as_array().cloned().unwrap_or_default();
    Schema::new(fields.iter().filter_map(|f| {
        let name = f.get("name")?.as_str()?.to_string();
        let ty = match f.get("type").and_then(Value::as_str).unwrap_or("text") {
            "smallint" | "integer" | "bigint" | "int" | "int2" | "int4" | "int8" => FieldType::Int,
            "double precision" | "real" | "numeric" | "float4" | "float8" => FieldType::Double,
            "boolean" | "bool" => FieldType::Bool,
            _ => FieldType::String,
        };
        Some((name, ty))
    }))
}

/// Converts one JSON attribute value to the field's tile type.
pub fn prop_value(value: Option<&Value>, ty: FieldType) -> PropValue {
    match (value, ty) {
        (None | Some(Value::Null), _) => PropValue::Null,
        (Some(Value::Number(n)), FieldType::Int) => n
            .as_i64()
            .map(PropValue::Int)
            .or_else(|| n.as_f64().map(PropValue::Double))
            .unwrap_or(PropValue::Null),
        (Some(Value::Number(n)), FieldType::Double) => {
            n.as_f64().map(PropValue::Double).unwrap_or(PropValue::Null)
        }
        (Some(Value::Bool(b)), _) => PropValue::Bool(*b),
        (Some(Value::String(s)), _) => PropValue::from(s.as_str()),
        (Some(Value::Number(n)), _) => PropValue::from(n.to_string()),
        (Some(other), _) => PropValue::from(other.to_string()),
    }
}

/// A feature from its id, WKB geometry (lon/lat) and attribute object.
pub fn feature_from_row(schema: &Schema, fid: i64, wkb: &[u8], props: &Value) -> Option<Feature> {
    let geometry = Wkb(wkb.to_vec()).to_geo().ok()?;
    let values = schema
        .fields
        .iter()
        .map(|f| prop_value(props.get(&f.name), f.ty))
        .collect();
    Some(Feature::from_lonlat(fid, geometry, values))
}

/// The layer's id checked against `[a-z0-9_]+` (by the catalogue constraint and
/// again here, so the store may quote it into SQL).
fn layer_id(meta: &LayerMeta) -> Result<LayerId<'_>, LoadError> {
    LayerId::new(&meta.id).ok_or_else(|| LoadError::Index {
        layer: meta.id.clone(),
        message: "invalid layer id".into(),
    })
}

/// The catalogue's PostgreSQL type name of each field (`text` when not recorded).
fn pg_types(meta: &LayerMeta) -> std::collections::HashMap<String, String> {
    meta.fields
        .as_array()
        .map(|fields| {
            fields
                .iter()
                .filter_map(|f| {
                    let name = f.get("name")?.as_str()?.to_string();
                    let ty = f.get("type").and_then(Value::as_str).unwrap_or("text");
                    Some((name, ty.to_string()))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A lon/lat geometry from WKB: a 2D point read directly (most features of a big
/// layer), anything else through geozero. `None`: not readable.
fn geometry_from_wkb(wkb: &[u8]) -> Option<Geometry<f64>> {
    if wkb.len() == 21 {
        let le = wkb[0] == 1;
        let word = |at: usize| -> Option<[u8; 8]> { wkb.get(at..at + 8)?.try_into().ok() };
        let ty: [u8; 4] = wkb.get(1..5)?.try_into().ok()?;
        let ty = if le {
            u32::from_le_bytes(ty)
        } else {
            u32::from_be_bytes(ty)
        };
        if ty == 1 {
            let read = |b: [u8; 8]| {
                if le {
                    f64::from_le_bytes(b)
                } else {
                    f64::from_be_bytes(b)
                }
            };
            let (x, y) = (read(word(5)?), read(word(13)?));
            if x.is_finite() && y.is_finite() {
                return Some(Geometry::Point(Point::new(x, y)));
            }
        }
    }
    Wkb(wkb.to_vec()).to_geo().ok()
}

/// A tile value from a typed cell.
fn prop_of(cell: Cell, ty: FieldType) -> PropValue {
    match cell {
        Cell::Null => PropValue::Null,
        Cell::Int(v) => PropValue::Int(v),
        Cell::Double(v) => PropValue::Double(v),
        Cell::Bool(v) => PropValue::Bool(v),
        Cell::Text(s) => PropValue::from(s),
        Cell::Json(v) => prop_value(Some(&v), ty),
    }
}

/// Loads every feature of a vector layer and builds its index: the attribute
/// columns read typed ([`citygrid_store::layer_rows`]), the rows decoded and the
/// features built on rayon, the R-tree bulk loaded. A layer whose columns do not
/// read typed (a column missing or not castable to the catalogue's type) is read
/// through the JSON attribute object instead.
pub async fn load_layer(pool: &PgPool, meta: &LayerMeta) -> Result<LayerIndex, LoadError> {
    let schema = schema_of(meta);
    let id = layer_id(meta)?;
    if schema
        .fields
        .iter()
        .any(|f| f.name == "fid" || f.name == "geom")
    {
        return load_layer_json(pool, meta).await;
    }
    let types = pg_types(meta);
    let columns: Vec<(String, ColumnKind)> = schema
        .fields
        .iter()
        .map(|f| {
            let tile = match f.ty {
                FieldType::Int => TileType::Int,
                FieldType::Double => TileType::Double,
                FieldType::Bool => TileType::Bool,
                FieldType::String => TileType::String,
            };
            let pg = types.get(&f.name).map_or("text", String::as_str);
            (f.name.clone(), ColumnKind::for_field(pg, tile))
        })
        .collect();
    let borrowed: Vec<(&str, ColumnKind)> = columns.iter().map(|(n, k)| (n.as_str(), *k)).collect();
    let rows = match layer_rows::rows(pool, id, &borrowed).await {
        Ok(rows) => rows,
        Err(e) if e.as_database_error().is_some() => {
            tracing::warn!(layer = %meta.id, error = %e, "typed read failed, reading the layer as JSON");
            return load_layer_json(pool, meta).await;
        }
        Err(source) => {
            return Err(LoadError::Db {
                layer: meta.id.clone(),
                source,
            })
        }
    };
    let layer = meta.id.clone();
    let (tx, rx) = tokio::sync::oneshot::channel();
    rayon::spawn(move || {
        let borrowed: Vec<(&str, ColumnKind)> =
            columns.iter().map(|(n, k)| (n.as_str(), *k)).collect();
        let features: Result<Vec<Feature>, String> = rows
            .par_iter()
            .filter_map(|row| {
                let (fid, wkb, cells) = match layer_rows::decode(row, &borrowed) {
                    Ok(decoded) => decoded,
                    Err(e) => return Some(Err(e.to_string())),
                };
                let geometry = geometry_from_wkb(wkb?)?;
                // A fresh vector of exactly the schema's length: collecting from
                // `cells` would reuse its larger allocation (a `Cell` is bigger than
                // a `PropValue`) and keep ~40 B a feature of slack for good.
                let mut values = Vec::with_capacity(cells.len());
                values.extend(
                    cells
                        .into_iter()
                        .zip(&schema.fields)
                        .map(|(cell, f)| prop_of(cell, f.ty)),
                );
                Some(Ok(Feature::from_lonlat(fid, geometry, values)))
            })
            .collect();
        drop(rows);
        let built = features.and_then(|f| LayerIndex::build(schema, f).map_err(|e| e.to_string()));
        let _ = tx.send(built);
    });
    rx.await
        .map_err(|_| LoadError::Index {
            layer: layer.clone(),
            message: "the indexing task stopped".into(),
        })?
        .map_err(|message| LoadError::Index { layer, message })
}

/// Loads every feature of a vector layer through the JSON attribute object.
async fn load_layer_json(pool: &PgPool, meta: &LayerMeta) -> Result<LayerIndex, LoadError> {
    let schema = schema_of(meta);
    let fields: Vec<&str> = schema.fields.iter().map(|f| f.name.as_str()).collect();
    let rows = store::features(pool, layer_id(meta)?, Some(&fields))
        .await
        .map_err(|source| LoadError::Db {
            layer: meta.id.clone(),
            source,
        })?;
    let layer = meta.id.clone();
    let (tx, rx) = tokio::sync::oneshot::channel();
    rayon::spawn(move || {
        let features: Vec<Feature> = rows
            .par_iter()
            .filter_map(|(fid, wkb, props)| feature_from_row(&schema, *fid, wkb, props))
            .collect();
        let _ = tx.send(LayerIndex::build(schema, features).map_err(|e| e.to_string()));
    });
    rx.await
        .map_err(|_| LoadError::Index {
            layer: layer.clone(),
            message: "the indexing task stopped".into(),
        })?
        .map_err(|message| LoadError::Index { layer, message })
}

/// Loads the features with the given ids (for patching after an edit). Ids not
/// returned were deleted.
pub async fn load_features(
    pool: &PgPool,
    meta: &LayerMeta,
    fids: &[i64],
) -> Result<Vec<Feature>, LoadError> {
    let schema = schema_of(meta);
    let fields: Vec<&str> = schema.fields.iter().map(|f| f.name.as_str()).collect();
    let rows = store::features_by_id(pool, layer_id(meta)?, Some(&fields), fids)
        .await
        .map_err(|source| LoadError::Db {
            layer: meta.id.clone(),
            source,
        })?;
    Ok(rows
        .iter()
        .filter_map(|(fid, wkb, props)| feature_from_row(&schema, *fid, wkb, props))
        .collect())
}
