//! The layer catalogue (`layer_catalog`): what the service serves at `/catalog`, and
//! what an import checks before it writes a layer and swaps in with its row.
//!
//! Layer ids are `[a-z0-9_]+` (the table's constraint, checked again by callers)
//! and quoted into the statements that name a layer's table.

use citygrid_tiles::tileprops::{self, TileProperties, TilePropertiesError};
use citygrid_tiles::LayerKind;
use serde::Serialize;
use serde_json::Value;

/// One layer of the catalogue.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LayerMeta {
    /// `[a-z0-9_]+`
    pub id: String,
    /// A human title.
    pub title: String,
    /// `vector` or `raster`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub kind: LayerKind,
    /// The geometry type of a vector layer.
    pub geometry_type: Option<String>,
    /// Number of features (vector) or stored tiles (raster).
    pub feature_count: i64,
    /// `[west, south, east, north]` in degrees.
    pub bounds: Option<Vec<f64>>,
    /// Lowest zoom at which the layer is drawn.
    pub min_zoom: i32,
    /// Highest zoom with own detail.
    pub max_zoom: i32,
    /// Raster tile format: png, jpeg or webp.
    pub tile_format: Option<String>,
    /// The attribute fields: `[{"name", "type"}]`.
    pub fields: Value,
    /// The CRS the data came in.
    pub source_crs: Option<String>,
    /// Bumped on every change of the layer's data.
    pub version: i64,
    /// The tile schema set for the layer (`None`: the default rule, see
    /// [`LayerMeta::effective_tile_properties`]); not part of `/catalog`.
    #[serde(skip)]
    pub tile_properties: Option<TileProperties>,
    /// Bumped on every change of `tile_properties` (part of the tile cache keys).
    #[serde(skip)]
    pub tile_properties_version: i64,
}

impl LayerMeta {
    /// The layer's `(field name, SQL type)` pairs, from `fields`.
    pub fn field_types(&self) -> Vec<(&str, &str)> {
        self.fields
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| {
                let name = f.get("name")?.as_str()?;
                Some((
                    name,
                    f.get("type").and_then(Value::as_str).unwrap_or("text"),
                ))
            })
            .collect()
    }

    /// The tile schema in force: the one set, or else the default rule's
    /// ([`tileprops::default_for`] of the fields and the feature count).
    pub fn effective_tile_properties(&self) -> TileProperties {
        match &self.tile_properties {
            Some(set) => set.clone(),
            None => tileprops::default_for(&self.field_types(), self.feature_count),
        }
    }

    /// The tile schema as `citygrid layer show --json` and the admin API show it:
    /// `{"layer", "default" (none set: the default rule), "tile_properties" (the
    /// schema in force), "fields": [{"name", "type", "in_tiles", "min_zoom"}]}`.
    pub fn tile_properties_json(&self) -> Value {
        let props = self.effective_tile_properties();
        let fields: Vec<Value> = self
            .field_types()
            .into_iter()
            .map(|(name, ty)| {
                serde_json::json!({
                    "name": name,
                    "type": ty,
                    "in_tiles": props.includes(name),
                    "min_zoom": props.property_min_zoom(name),
                })
            })
            .collect();
        serde_json::json!({
            "layer": self.id,
            "default": self.tile_properties.is_none(),
            "tile_properties": props,
            "fields": fields,
        })
    }
}

/// A catalogue row as read (the columns of [`LayerMeta`], `kind` as text).
type Row = (
    String,
    String,
    String,
    Option<String>,
    i64,
    Option<Vec<f64>>,
    i32,
    i32,
    Option<String>,
    Value,
    Option<String>,
    i64,
    Option<Value>,
    i64,
);

/// The columns of a [`Row`].
const COLUMNS: &str = "id, title, kind, geometry_type, feature_count, bounds, min_zoom, max_zoom, \
                       tile_format, fields, source_crs, version, tile_properties, tile_properties_version";

/// Every layer of the catalogue, raster layers first, then by id (rows of a kind this
/// build does not know are skipped with a warning).
pub async fn load(executor: impl sqlx::PgExecutor<'_>) -> Result<Vec<LayerMeta>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM layer_catalog ORDER BY kind DESC, id"
    ))
    .fetch_all(executor)
    .await?;
    Ok(rows.into_iter().filter_map(from_row).collect())
}

/// One catalogue row as a layer; `None` (with a warning) for a kind this build does
/// not know, e.g. one a newer citygrid wrote: such a layer is skipped, not fatal.
fn from_row(
    (
        id,
        title,
        kind,
        geometry_type,
        feature_count,
        bounds,
        min_zoom,
        max_zoom,
        tile_format,
        fields,
        source_crs,
        version,
        tile_properties,
        tile_properties_version,
    ): Row,
) -> Option<LayerMeta> {
    let kind = match kind.parse::<LayerKind>() {
        Ok(kind) => kind,
        Err(e) => {
            tracing::warn!(layer = %id, error = %e, "skipping a layer of unknown kind");
            return None;
        }
    };
    // Written only through `set_tile_properties`, which checks it; a hand-edited
    // value that is not a tile schema falls back to the default rule.
    let tile_properties = match tile_properties.map(TileProperties::from_json) {
        None => None,
        Some(Ok(set)) => set,
        Some(Err(e)) => {
            tracing::warn!(layer = %id, error = %e, "ignoring the layer's tile properties");
            None
        }
    };
    Some(LayerMeta {
        id,
        title,
        kind,
        geometry_type,
        feature_count,
        bounds,
        min_zoom,
        max_zoom,
        tile_format,
        fields,
        source_crs,
        version,
        tile_properties,
        tile_properties_version,
    })
}

/// One layer of the catalogue (`None`: no such layer, or of a kind this build does
/// not know).
pub async fn get(
    executor: impl sqlx::PgExecutor<'_>,
    id: &str,
) -> Result<Option<LayerMeta>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM layer_catalog WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(executor)
    .await?;
    Ok(row.and_then(from_row))
}

/// What [`set_tile_properties`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum TilePropertiesChange {
    /// No layer by that id.
    NoLayer,
    /// The layer is not a vector layer (its kind).
    NotVector(LayerKind),
    /// The schema does not fit the layer's fields; nothing changed.
    Invalid(TilePropertiesError),
    /// Stored and announced: the layer with its new schema.
    Saved(Box<LayerMeta>),
}

/// Sets the tile schema of vector layer `id` (`None`: back to the default rule)
/// after checking it against the layer's fields, bumps `tile_properties_version`
/// and announces the change on [`citygrid_db::LAYER_CHANNEL`], which makes every
/// server reload the catalogue and drop the layer's cached tiles. The row is locked
/// while it is checked: run it in a transaction (the notice goes out at commit).
pub async fn set_tile_properties(
    conn: &mut sqlx::PgConnection,
    id: &str,
    props: Option<&TileProperties>,
) -> Result<TilePropertiesChange, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM layer_catalog WHERE id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(mut meta) = row.and_then(from_row) else {
        return Ok(TilePropertiesChange::NoLayer);
    };
    if meta.kind != LayerKind::Vector {
        return Ok(TilePropertiesChange::NotVector(meta.kind));
    }
    if let Some(props) = props {
        let names: Vec<&str> = meta.field_types().into_iter().map(|(n, _)| n).collect();
        if let Err(e) = props.validate(&meta.id, &names) {
            return Ok(TilePropertiesChange::Invalid(e));
        }
    }
    let (version,): (i64,) = sqlx::query_as(
        "WITH up AS (
             UPDATE layer_catalog
                SET tile_properties = $2,
                    tile_properties_version = tile_properties_version + 1,
                    updated_at = now()
              WHERE id = $1
          RETURNING tile_properties_version)
         SELECT up.tile_properties_version FROM up
          CROSS JOIN LATERAL (SELECT pg_notify($3, $1)) AS announced",
    )
    .bind(id)
    .bind(props.map(sqlx::types::Json))
    .bind(citygrid_db::LAYER_CHANNEL)
    .fetch_one(&mut *conn)
    .await?;
    meta.tile_properties = props.cloned();
    meta.tile_properties_version = version;
    Ok(TilePropertiesChange::Saved(Box::new(meta)))
}

/// Whether the catalogue has layer `id`.
pub async fn exists(executor: impl sqlx::PgExecutor<'_>, id: &str) -> Result<bool, sqlx::Error> {
    let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM layer_catalog WHERE id = $1")
        .bind(id)
        .fetch_optional(executor)
        .await?;
    Ok(found.is_some())
}

/// What goes by a layer id, as stored: the catalogue row's kind, the table
/// `layers."<id>"` if it exists, and that table's comment (imports mark theirs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Occupant {
    /// `layer_catalog.kind` of the id, if it has a row.
    pub kind: Option<String>,
    /// The table's name, if it exists.
    pub table: Option<String>,
    /// The table's comment.
    pub comment: Option<String>,
}

/// What goes by layer id `id` (one round trip).
pub async fn occupant(
    executor: impl sqlx::PgExecutor<'_>,
    id: &str,
) -> Result<Occupant, sqlx::Error> {
    let (kind, table, comment): (Option<String>, Option<String>, Option<String>) = sqlx::query_as(
        "SELECT (SELECT kind FROM layer_catalog WHERE id = $1),
                to_regclass($2)::text,
                obj_description(to_regclass($2), 'pg_class')",
    )
    .bind(id)
    .bind(layer_table(id))
    .fetch_one(executor)
    .await?;
    Ok(Occupant {
        kind,
        table,
        comment,
    })
}

/// Takes the transaction's lock on layer id `id` (imports of one id one at a time).
pub async fn lock_layer(executor: impl sqlx::PgExecutor<'_>, id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('citygrid.layer'), hashtext($1))")
        .bind(id)
        .execute(executor)
        .await?;
    Ok(())
}

/// A staged layer table, written by an import under a temporary name.
#[derive(Debug, Clone, Copy)]
pub struct StagedTable<'a> {
    /// Its name in schema `layers`.
    pub table: &'a str,
    /// Its primary-key index.
    pub pkey_index: &'a str,
    /// Its geometry index.
    pub geom_index: &'a str,
}

/// Replaces the table of layer `id` with `staged` (dropping the old one) and renames
/// the staged indexes to `<id>:pkey` and `<id>:geom`, in one round trip (simple
/// query protocol: run it inside the caller's transaction).
pub async fn replace_table(
    conn: &mut sqlx::PgConnection,
    id: &str,
    staged: StagedTable<'_>,
) -> Result<(), sqlx::Error> {
    let sql = format!(
        "DROP TABLE IF EXISTS {old};
         ALTER TABLE {staged} RENAME TO {name};
         ALTER INDEX layers.{pkey} RENAME TO {new_pkey};
         ALTER INDEX layers.{gist} RENAME TO {new_gist}",
        old = layer_table(id),
        staged = layer_table(staged.table),
        name = quote_ident(id),
        pkey = quote_ident(staged.pkey_index),
        new_pkey = quote_ident(&format!("{id}:pkey")),
        gist = quote_ident(staged.geom_index),
        new_gist = quote_ident(&format!("{id}:geom")),
    );
    sqlx::raw_sql(&sql).execute(conn).await?;
    Ok(())
}

/// The catalogue row of an imported vector layer.
#[derive(Debug, Clone)]
pub struct VectorLayerRow<'a> {
    /// Layer id.
    pub id: &'a str,
    /// A title given for this import, kept over any previous title.
    pub title: Option<&'a str>,
    /// The title of a new layer without one.
    pub default_title: &'a str,
    /// `Point`, …, `Geometry`.
    pub geometry_type: &'a str,
    /// The file, as given.
    pub source_file: &'a str,
    /// `EPSG:4547`, `gcj02`…
    pub source_crs: &'a str,
    /// The attribute fields: `[{"name", "type"}]`.
    pub fields: Value,
    /// Rows.
    pub feature_count: i64,
    /// `[west, south, east, north]`.
    pub bounds: Option<Vec<f64>>,
    /// Lowest zoom drawn.
    pub min_zoom: i32,
    /// Highest zoom with own detail.
    pub max_zoom: i32,
    /// The import's statistics.
    pub import_stats: Value,
}

/// Upserts the catalogue row of an imported vector layer (version + 1) and announces
/// the change on [`citygrid_db::LAYER_CHANNEL`] (delivered at commit), in one
/// statement. Returns the new version.
pub async fn upsert_vector(
    executor: impl sqlx::PgExecutor<'_>,
    row: &VectorLayerRow<'_>,
) -> Result<i64, sqlx::Error> {
    let (version,): (i64,) = sqlx::query_as(
        "WITH up AS (
         INSERT INTO layer_catalog (id, title, kind, geometry_type, source_file, source_crs, srid,
                                    fields, feature_count, bounds, min_zoom, max_zoom, import_stats,
                                    version, imported_at, updated_at)
         VALUES ($1, COALESCE($2, $3), 'vector', $4, $5, $6, 4326, $7, $8, $9, $10, $11, $12, 1, now(), now())
         ON CONFLICT (id) DO UPDATE SET
             title = COALESCE($2, layer_catalog.title),
             kind = 'vector',
             geometry_type = EXCLUDED.geometry_type,
             source_file = EXCLUDED.source_file,
             source_crs = EXCLUDED.source_crs,
             srid = 4326,
             fields = EXCLUDED.fields,
             feature_count = EXCLUDED.feature_count,
             bounds = EXCLUDED.bounds,
             min_zoom = EXCLUDED.min_zoom,
             max_zoom = EXCLUDED.max_zoom,
             import_stats = EXCLUDED.import_stats,
             version = layer_catalog.version + 1,
             imported_at = now(),
             updated_at = now()
         RETURNING version)
         SELECT up.version FROM up CROSS JOIN LATERAL (SELECT pg_notify($13, $1)) AS announced",
    )
    .bind(row.id)
    .bind(row.title)
    .bind(row.default_title)
    .bind(row.geometry_type)
    .bind(row.source_file)
    .bind(row.source_crs)
    .bind(&row.fields)
    .bind(row.feature_count)
    .bind(&row.bounds)
    .bind(row.min_zoom)
    .bind(row.max_zoom)
    .bind(&row.import_stats)
    .bind(citygrid_db::LAYER_CHANNEL)
    .fetch_one(executor)
    .await?;
    Ok(version)
}

/// `"name"`, with embedded quotes doubled.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The quoted table of layer `id`: `layers."<id>"`.
pub fn layer_table(id: &str) -> String {
    format!("layers.{}", quote_ident(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_tables_are_quoted() {
        assert_eq!(layer_table("roads"), "layers.\"roads\"");
        assert_eq!(layer_table("a\"b"), "layers.\"a\"\"b\"");
    }

    fn row(kind: &str) -> Row {
        (
            "roads".into(),
            "Roads".into(),
            kind.into(),
            Some("LineString".into()),
            3,
            None,
            0,
            14,
            None,
            Value::Array(Vec::new()),
            None,
            1,
            None,
            0,
        )
    }

    #[test]
    fn known_kinds_load_and_serialise_as_before() {
        for (name, kind) in [("vector", LayerKind::Vector), ("raster", LayerKind::Raster)] {
            let meta = from_row(row(name)).expect("a known kind loads");
            assert_eq!(meta.kind, kind);
            let json = serde_json::to_value(&meta).expect("serialises");
            assert_eq!(json["kind"], Value::String(name.into()));
        }
    }

    #[test]
    fn tile_properties_load_and_a_bad_one_falls_back_to_the_default() {
        let mut r = row("vector");
        r.9 = serde_json::json!([
            {"name": "osm_id", "type": "bigint"},
            {"name": "name", "type": "text"},
            {"name": "tags", "type": "jsonb"}
        ]);
        let meta = from_row(r.clone()).expect("loads");
        assert_eq!(meta.tile_properties, None);
        assert_eq!(meta.effective_tile_properties().exclude, ["tags"]);
        assert!(serde_json::to_value(&meta)
            .expect("serialises")
            .get("tile_properties")
            .is_none());
        r.12 = Some(serde_json::json!({"include": ["name", "tags"], "min_zoom": {"name": 15}}));
        r.13 = 3;
        let meta = from_row(r.clone()).expect("loads");
        let set = meta.tile_properties.clone().expect("set");
        assert_eq!(
            set.include,
            Some(vec!["name".to_string(), "tags".to_string()])
        );
        assert_eq!(meta.effective_tile_properties(), set);
        assert_eq!(meta.tile_properties_version, 3);
        r.12 = Some(serde_json::json!({"include": "name"}));
        let meta = from_row(r).expect("loads");
        assert_eq!(meta.tile_properties, None);
    }

    #[test]
    fn an_unknown_kind_is_skipped_not_fatal() {
        assert_eq!(from_row(row("pmtiles")), None);
        assert_eq!(from_row(row("")), None);
    }
}
