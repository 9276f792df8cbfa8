//! Reading a vector layer out of PostGIS into a [`LayerIndex`].

use citygrid_store::layers::{self as store, LayerId};
use citygrid_tiles::index::{Feature, LayerIndex};
use citygrid_tiles::schema::{FieldType, PropValue, Schema};
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
        (Some(Value::String(s)), _) => PropValue::String(s.clone()),
        (Some(Value::Number(n)), _) => PropValue::String(n.to_string()),
        (Some(other), _) => PropValue::String(other.to_string()),
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

/// Loads every feature of a vector layer and builds its index (CPU work on rayon).
pub async fn load_layer(pool: &PgPool, meta: &LayerMeta) -> Result<LayerIndex, LoadError> {
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
