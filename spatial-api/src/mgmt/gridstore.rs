//! Writing unit grids and components: generated grids (grid-mgmt's `gridgen`), a
//! city's own grid file, validation per community, and components from the OSM
//! import. Each write is one transaction that also fixes the layer catalogue (count,
//! bounds, version) and announces the layers, so a running service reloads them.

use std::collections::BTreeMap;
use std::path::Path;

use citygrid_grid_mgmt::codes::{AdminCode, CommunityCode, GridCode, StreetCode};
use citygrid_grid_mgmt::gridgen::{self, CommunityGrids, GridOptions};
use geo::MultiPolygon;
use geozero::geojson::GeoJson;
use geozero::wkb::Wkb;
use geozero::{CoordDimensions, ToGeo, ToWkb};
use serde::Serialize;
use serde_json::Value;
use sqlx::{PgPool, Postgres, Transaction};

use super::common::is_ident;
use super::places::{assign_components, refresh_catalog};

/// Errors of grid storage.
#[derive(Debug, thiserror::Error)]
pub enum GridStoreError {
    /// Bad input (file, option, code).
    #[error("{0}")]
    Input(String),
    /// Grid generation failed.
    #[error("grid generation failed: {0}")]
    Generate(#[from] gridgen::GridGenError),
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

fn input(s: impl Into<String>) -> GridStoreError {
    GridStoreError::Input(s.into())
}

/// The layers grid writes touch.
pub const PLACE_LAYERS: [&str; 5] = [
    "admin_divisions",
    "streets",
    "communities",
    "unit_grids",
    "components",
];

fn to_multi(g: geo::Geometry<f64>) -> Option<MultiPolygon<f64>> {
    match g {
        geo::Geometry::Polygon(p) => Some(MultiPolygon(vec![p])),
        geo::Geometry::MultiPolygon(m) => Some(m),
        geo::Geometry::GeometryCollection(c) => {
            let mut out = MultiPolygon(Vec::new());
            for g in c {
                if let Some(m) = to_multi(g) {
                    out.0.extend(m.0);
                }
            }
            (!out.0.is_empty()).then_some(out)
        }
        _ => None,
    }
}

/// A feature of a GeoJSON file: properties and polygon geometry.
pub type FileFeature = (serde_json::Map<String, Value>, MultiPolygon<f64>);

/// Reads the polygon features of a GeoJSON file in EPSG:4326 / CRS84 / EPSG:4490
/// (CGCS2000 differs from WGS84 by centimetres). Other CRSs: import the file with
/// `citygrid import vector` first and pass the layer id.
pub fn read_geojson(path: &Path) -> Result<Vec<FileFeature>, GridStoreError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| input(format!("cannot read {}: {e}", path.display())))?;
    let doc: Value = serde_json::from_str(&text)
        .map_err(|e| input(format!("{} is not GeoJSON: {e}", path.display())))?;
    if let Some(name) = doc.pointer("/crs/properties/name").and_then(Value::as_str) {
        let n = name.to_ascii_uppercase();
        let ok = ["4326", "4490", "CRS84"].iter().any(|c| n.ends_with(c));
        if !ok {
            return Err(input(format!(
                "{} is in {name}; import it with `citygrid import vector` (which reprojects) and pass the layer id",
                path.display()
            )));
        }
    }
    let features: Vec<Value> = match doc.get("type").and_then(Value::as_str) {
        Some("FeatureCollection") => doc
            .get("features")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        Some("Feature") => vec![doc.clone()],
        Some(_) => vec![serde_json::json!({"type": "Feature", "properties": {}, "geometry": doc})],
        None => {
            return Err(input(format!(
                "{} is not GeoJSON (no type)",
                path.display()
            )))
        }
    };
    let mut out = Vec::new();
    for f in features {
        let props = f
            .get("properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let Some(g) = f.get("geometry").filter(|g| !g.is_null()) else {
            continue;
        };
        let geom = GeoJson(&g.to_string())
            .to_geo()
            .map_err(|e| input(format!("bad geometry in {}: {e}", path.display())))?;
        if let Some(m) = to_multi(geom) {
            out.push((props, m));
        }
    }
    Ok(out)
}

fn matches(props: &serde_json::Map<String, Value>, filter: Option<&(String, String)>) -> bool {
    match filter {
        None => true,
        Some((k, v)) => match props.get(k) {
            Some(Value::String(s)) => s == v,
            Some(other) => {
                let text = other.to_string();
                text == *v
            }
            None => false,
        },
    }
}

/// The area to grid: the union of the (filtered) polygons of a GeoJSON file or of a
/// layer in PostGIS (`filter` = `(field, value)`).
pub async fn load_area(
    pool: &PgPool,
    source: &str,
    filter: Option<(String, String)>,
) -> Result<MultiPolygon<f64>, GridStoreError> {
    let path = Path::new(source);
    if path.exists() {
        let features = read_geojson(path)?;
        let mut area = MultiPolygon(Vec::new());
        for (props, m) in features {
            if matches(&props, filter.as_ref()) {
                area.0.extend(m.0);
            }
        }
        if area.0.is_empty() {
            return Err(input(format!("no polygon in {source} matches the filter")));
        }
        return Ok(area);
    }
    if !is_ident(source) {
        return Err(input(format!(
            "{source} is neither a file nor a layer id ([a-z0-9_]+)"
        )));
    }
    let exists: Option<(String,)> =
        sqlx::query_as("SELECT id FROM layer_catalog WHERE id = $1 AND kind = 'vector'")
            .bind(source)
            .fetch_optional(pool)
            .await?;
    if exists.is_none() {
        return Err(input(format!("no file and no vector layer named {source}")));
    }
    let (where_sql, value) = match &filter {
        Some((k, v)) if is_ident(k) => (format!("WHERE \"{k}\"::text = $1"), Some(v.clone())),
        Some((k, _)) => return Err(input(format!("filter field {k:?} must match [a-z0-9_]+"))),
        None => (String::new(), None),
    };
    let sql = format!(
        "SELECT ST_AsBinary(ST_Multi(ST_CollectionExtract(ST_UnaryUnion(ST_Collect(ST_MakeValid(geom))), 3))) \
         FROM layers.\"{source}\" {where_sql}"
    );
    let mut q = sqlx::query_as::<_, (Option<Vec<u8>>,)>(&sql);
    if let Some(v) = value {
        q = q.bind(v);
    }
    let (wkb,) = q.fetch_one(pool).await?;
    let wkb =
        wkb.ok_or_else(|| input(format!("no polygon in layer {source} matches the filter")))?;
    let geom = Wkb(wkb)
        .to_geo()
        .map_err(|e| input(format!("bad geometry in {source}: {e}")))?;
    to_multi(geom).ok_or_else(|| input(format!("layer {source} has no polygons")))
}

fn wkb_of(m: &MultiPolygon<f64>) -> Result<Vec<u8>, GridStoreError> {
    geo::Geometry::MultiPolygon(m.clone())
        .to_wkb(CoordDimensions::xy())
        .map_err(|e| input(format!("cannot encode geometry: {e}")))
}

/// Options of [`generate`].
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// Admin division.
    pub admin: AdminCode,
    /// Street.
    pub street: StreetCode,
    /// One community (fails beyond 999 grids); `None`: split into community blocks.
    pub community: Option<CommunityCode>,
    /// Cell side in metres.
    pub cell_m: f64,
    /// Replace the street's existing grids (kept in the history).
    pub replace: bool,
    /// Name of the admin division when it is created.
    pub admin_name: Option<String>,
    /// Name of the street when it is created.
    pub street_name: Option<String>,
    /// Default department of the street (territorial default) when it is created.
    pub default_department: Option<String>,
}

/// What [`generate`] or [`import`] wrote.
#[derive(Debug, Clone, Serialize)]
pub struct GridReport {
    /// Communities written.
    pub communities: usize,
    /// Grids written.
    pub grids: usize,
    /// Smallest / largest grid area in m².
    pub min_area_m2: f64,
    /// Largest grid area in m².
    pub max_area_m2: f64,
    /// Grids moved to the history.
    pub replaced: u64,
    /// Components whose grid changed.
    pub components_assigned: usize,
}

async fn bump_layers(tx: &mut Transaction<'_, Postgres>) -> Result<(), sqlx::Error> {
    for layer in PLACE_LAYERS {
        refresh_catalog(tx, layer, true).await?;
    }
    Ok(())
}

async fn retire(
    tx: &mut Transaction<'_, Postgres>,
    where_sql: &str,
    value: &str,
) -> Result<u64, sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO unit_grid_history (code, community_code, geom, area_m2, valid_from, valid_to, responsible) \
         SELECT code, community_code, geom, area_m2, valid_from, current_date, responsible FROM layers.unit_grids WHERE {where_sql}"
    ))
    .bind(value)
    .execute(&mut **tx)
    .await?;
    Ok(
        sqlx::query(&format!("DELETE FROM layers.unit_grids WHERE {where_sql}"))
            .bind(value)
            .execute(&mut **tx)
            .await?
            .rows_affected(),
    )
}

async fn insert_grids(
    tx: &mut Transaction<'_, Postgres>,
    grids: &[(GridCode, Vec<u8>)],
) -> Result<(), GridStoreError> {
    for chunk in grids.chunks(2000) {
        let codes: Vec<String> = chunk.iter().map(|(c, _)| c.to_string()).collect();
        let wkbs: Vec<Vec<u8>> = chunk.iter().map(|(_, w)| w.clone()).collect();
        sqlx::query(
            "INSERT INTO layers.unit_grids (fid, geom, code, community_code, street_code, admin_code, area_m2) \
             SELECT coalesce((SELECT max(fid) FROM layers.unit_grids), 0) + n, g, code, left(code, 12), left(code, 9), left(code, 6), \
                    ST_Area(g::geography) \
             FROM (SELECT code, ST_Multi(ST_SetSRID(ST_GeomFromWKB(w), 4326)) AS g, n \
                   FROM unnest($1::text[], $2::bytea[]) WITH ORDINALITY AS u(code, w, n)) x",
        )
        .bind(&codes)
        .bind(&wkbs)
        .execute(&mut **tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.code().as_deref() == Some("23505") => {
                input(format!("a grid code already exists ({}); use --replace", d.message()))
            }
            _ => GridStoreError::Db(e),
        })?;
    }
    Ok(())
}

/// Creates the admin division, street and communities that grids refer to but that do
/// not exist yet, with the union of their grids as outline.
async fn fill_places(
    tx: &mut Transaction<'_, Postgres>,
    admin_name: Option<&str>,
    street_name: Option<&str>,
    default_department: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO layers.communities (fid, geom, code, street_code, admin_code, name) \
         SELECT coalesce((SELECT max(fid) FROM layers.communities), 0) + row_number() OVER (ORDER BY community_code), \
                ST_Multi(ST_CollectionExtract(ST_UnaryUnion(ST_Collect(geom)), 3)), community_code, \
                left(community_code, 9), left(community_code, 6), 'Community ' || right(community_code, 3) \
         FROM layers.unit_grids g WHERE NOT EXISTS (SELECT 1 FROM layers.communities c WHERE c.code = g.community_code) \
         GROUP BY community_code",
    )
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO layers.streets (fid, geom, code, admin_code, name, default_department) \
         SELECT coalesce((SELECT max(fid) FROM layers.streets), 0) + row_number() OVER (ORDER BY street_code), \
                ST_Multi(ST_CollectionExtract(ST_UnaryUnion(ST_Collect(geom)), 3)), street_code, left(street_code, 6), \
                coalesce($1, 'Street ' || right(street_code, 3)), $2 \
         FROM layers.communities c WHERE NOT EXISTS (SELECT 1 FROM layers.streets s WHERE s.code = c.street_code) \
         GROUP BY street_code",
    )
    .bind(street_name)
    .bind(default_department)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO layers.admin_divisions (fid, geom, code, name) \
         SELECT coalesce((SELECT max(fid) FROM layers.admin_divisions), 0) + row_number() OVER (ORDER BY admin_code), \
                ST_Multi(ST_CollectionExtract(ST_UnaryUnion(ST_Collect(geom)), 3)), admin_code, coalesce($1, admin_code) \
         FROM layers.streets s WHERE NOT EXISTS (SELECT 1 FROM layers.admin_divisions a WHERE a.code = s.admin_code) \
         GROUP BY admin_code",
    )
    .bind(admin_name)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Generates the unit grids of `area` and writes them (with their communities, street
/// and admin division when missing) in one transaction.
pub async fn generate(
    pool: &PgPool,
    area: MultiPolygon<f64>,
    opts: &GenerateOptions,
) -> Result<GridReport, GridStoreError> {
    let grid_opts = GridOptions {
        cell_size_m: opts.cell_m,
        ..GridOptions::default()
    };
    let (admin, street, community) = (
        opts.admin.clone(),
        opts.street.clone(),
        opts.community.clone(),
    );
    let generated: Vec<CommunityGrids> =
        tokio::task::spawn_blocking(move || -> Result<_, GridStoreError> {
            match community {
                Some(c) => {
                    let cells = gridgen::generate(&area, &admin, &street, &c, &grid_opts)?;
                    Ok(vec![CommunityGrids {
                        community: c,
                        area: area.clone(),
                        cells,
                    }])
                }
                None => Ok(gridgen::generate_communities(
                    &area, &admin, &street, 1, 30, &grid_opts,
                )?),
            }
        })
        .await
        .map_err(|e| input(format!("grid generation stopped: {e}")))??;

    let street_key = format!("{}{}", opts.admin, opts.street);
    let mut tx = pool.begin().await?;
    let existing: (i64,) =
        sqlx::query_as("SELECT count(*) FROM layers.unit_grids WHERE street_code = $1")
            .bind(&street_key)
            .fetch_one(&mut *tx)
            .await?;
    let mut replaced = 0;
    if existing.0 > 0 {
        if !opts.replace {
            return Err(input(format!(
                "street {street_key} already has {} unit grids; pass --replace to replace them (they are kept in the history)",
                existing.0
            )));
        }
        replaced = retire(&mut tx, "street_code = $1", &street_key).await?;
        sqlx::query("DELETE FROM layers.communities WHERE street_code = $1")
            .bind(&street_key)
            .execute(&mut *tx)
            .await?;
    }
    let mut grids = Vec::new();
    let (mut min, mut max) = (f64::INFINITY, 0.0f64);
    for c in &generated {
        let key = format!("{street_key}{}", c.community);
        sqlx::query(
            "INSERT INTO layers.communities (fid, geom, code, street_code, admin_code, name) \
             VALUES (coalesce((SELECT max(fid) FROM layers.communities), 0) + 1, \
                     ST_Multi(ST_SetSRID(ST_GeomFromWKB($1), 4326)), $2, $3, $4, $5) \
             ON CONFLICT (code) DO UPDATE SET geom = EXCLUDED.geom",
        )
        .bind(wkb_of(&c.area)?)
        .bind(&key)
        .bind(&street_key)
        .bind(opts.admin.as_str())
        .bind(format!("Community {}", c.community))
        .execute(&mut *tx)
        .await?;
        for cell in &c.cells {
            min = min.min(cell.area_m2);
            max = max.max(cell.area_m2);
            grids.push((cell.code.clone(), wkb_of(&cell.geometry)?));
        }
    }
    insert_grids(&mut tx, &grids).await?;
    let whole: Vec<Vec<u8>> = generated
        .iter()
        .map(|c| wkb_of(&c.area))
        .collect::<Result<_, _>>()?;
    sqlx::query(
        "INSERT INTO layers.streets (fid, geom, code, admin_code, name, default_department) \
         SELECT coalesce((SELECT max(fid) FROM layers.streets), 0) + 1, \
                ST_Multi(ST_CollectionExtract(ST_UnaryUnion(ST_Collect(ST_SetSRID(ST_GeomFromWKB(w), 4326))), 3)), $2, $3, $4, $5 \
         FROM unnest($1::bytea[]) AS u(w) \
         ON CONFLICT (code) DO UPDATE SET geom = EXCLUDED.geom, \
             default_department = coalesce(EXCLUDED.default_department, layers.streets.default_department)",
    )
    .bind(&whole)
    .bind(&street_key)
    .bind(opts.admin.as_str())
    .bind(opts.street_name.clone().unwrap_or_else(|| format!("Street {}", opts.street)))
    .bind(&opts.default_department)
    .execute(&mut *tx)
    .await?;
    fill_places(
        &mut tx,
        opts.admin_name.as_deref(),
        opts.street_name.as_deref(),
        opts.default_department.as_deref(),
    )
    .await?;
    let assigned = assign_components(&mut tx, None).await?;
    bump_layers(&mut tx).await?;
    tx.commit().await?;
    Ok(GridReport {
        communities: generated.len(),
        grids: grids.len(),
        min_area_m2: if grids.is_empty() { 0.0 } else { min },
        max_area_m2: max,
        replaced,
        components_assigned: assigned,
    })
}

/// Imports a city's own grids: every polygon feature of a GeoJSON file or a layer with
/// a 14- or 15-digit code in `code_field`. With `replace`, grids with the same codes are
/// moved to the history first.
pub async fn import(
    pool: &PgPool,
    source: &str,
    code_field: &str,
    replace: bool,
) -> Result<GridReport, GridStoreError> {
    let features: Vec<FileFeature> = if Path::new(source).exists() {
        read_geojson(Path::new(source))?
    } else {
        if !is_ident(source) || !is_ident(code_field) {
            return Err(input(format!(
                "{source} is neither a file nor a layer id, or the code field is not [a-z0-9_]+"
            )));
        }
        let rows: Vec<(Option<String>, Vec<u8>)> = sqlx::query_as(&format!(
            "SELECT \"{code_field}\"::text, ST_AsBinary(geom) FROM layers.\"{source}\" ORDER BY fid"
        ))
        .fetch_all(pool)
        .await
        .map_err(|e| {
            input(format!(
                "cannot read layer {source} with field {code_field}: {e}"
            ))
        })?;
        rows.into_iter()
            .filter_map(|(code, wkb)| {
                let geom = Wkb(wkb).to_geo().ok()?;
                let mut props = serde_json::Map::new();
                props.insert(code_field.to_string(), Value::from(code?));
                Some((props, to_multi(geom)?))
            })
            .collect()
    };
    let mut by_code: BTreeMap<GridCode, MultiPolygon<f64>> = BTreeMap::new();
    for (i, (props, geom)) in features.into_iter().enumerate() {
        let raw = match props.get(code_field) {
            Some(Value::String(s)) => s.trim().to_string(),
            Some(Value::Number(n)) => n.to_string(),
            _ => {
                return Err(input(format!(
                    "feature {} has no {code_field:?} property",
                    i + 1
                )))
            }
        };
        let code: GridCode = raw
            .parse()
            .map_err(|e| input(format!("feature {}: {e}", i + 1)))?;
        if by_code.insert(code.clone(), geom).is_some() {
            return Err(input(format!("grid code {code} appears twice")));
        }
    }
    if by_code.is_empty() {
        return Err(input("no grid polygons found"));
    }
    let mut tx = pool.begin().await?;
    let codes: Vec<String> = by_code.keys().map(|c| c.to_string()).collect();
    let clash: (i64,) =
        sqlx::query_as("SELECT count(*) FROM layers.unit_grids WHERE code = ANY($1)")
            .bind(&codes)
            .fetch_one(&mut *tx)
            .await?;
    let mut replaced = 0;
    if clash.0 > 0 {
        if !replace {
            return Err(input(format!(
                "{} of these grid codes already exist; pass --replace",
                clash.0
            )));
        }
        for code in &codes {
            replaced += retire(&mut tx, "code = $1", code).await?;
        }
    }
    let grids: Vec<(GridCode, Vec<u8>)> = by_code
        .iter()
        .map(|(c, g)| Ok((c.clone(), wkb_of(g)?)))
        .collect::<Result<_, GridStoreError>>()?;
    insert_grids(&mut tx, &grids).await?;
    fill_places(&mut tx, None, None, None).await?;
    let assigned = assign_components(&mut tx, None).await?;
    bump_layers(&mut tx).await?;
    let (min, max): (Option<f64>, Option<f64>) = sqlx::query_as(
        "SELECT min(area_m2), max(area_m2) FROM layers.unit_grids WHERE code = ANY($1)",
    )
    .bind(&codes)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    let communities: std::collections::BTreeSet<&str> =
        by_code.keys().map(|c| c.community_key()).collect();
    Ok(GridReport {
        communities: communities.len(),
        grids: grids.len(),
        min_area_m2: min.unwrap_or(0.0),
        max_area_m2: max.unwrap_or(0.0),
        replaced,
        components_assigned: assigned,
    })
}

/// The validation result of one community.
#[derive(Debug, Clone, Serialize)]
pub struct CommunityCheck {
    /// 12-digit community key.
    pub community: String,
    /// Grids in it.
    pub grids: usize,
    /// Overlapping pairs.
    pub overlaps: Vec<gridgen::Overlap>,
    /// Gaps: (area in m²).
    pub gaps_m2: Vec<f64>,
}

/// A community's outline and its grids.
type Community = (Option<MultiPolygon<f64>>, Vec<(String, MultiPolygon<f64>)>);

/// Checks every community (or one) for overlaps and gaps larger than `tolerance_m2`.
pub async fn validate(
    pool: &PgPool,
    community: Option<&str>,
    tolerance_m2: f64,
) -> Result<Vec<CommunityCheck>, GridStoreError> {
    type Row = (String, String, Vec<u8>, Option<Vec<u8>>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT g.community_code, g.code, ST_AsBinary(g.geom), ST_AsBinary(c.geom) \
         FROM layers.unit_grids g LEFT JOIN layers.communities c ON c.code = g.community_code \
         WHERE $1::text IS NULL OR g.community_code = $1 ORDER BY g.community_code, g.code",
    )
    .bind(community)
    .fetch_all(pool)
    .await?;
    let mut groups: BTreeMap<String, Community> = BTreeMap::new();
    for (comm, code, wkb, boundary) in rows {
        let entry = groups.entry(comm).or_insert_with(|| {
            let b = boundary
                .and_then(|w| Wkb(w).to_geo().ok())
                .and_then(to_multi);
            (b, Vec::new())
        });
        if let Some(g) = Wkb(wkb).to_geo().ok().and_then(to_multi) {
            entry.1.push((code, g));
        }
    }
    tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        for (comm, (boundary, cells)) in groups {
            let refs: Vec<(&str, &MultiPolygon<f64>)> =
                cells.iter().map(|(c, g)| (c.as_str(), g)).collect();
            let report = gridgen::validate(&refs, boundary.as_ref(), tolerance_m2)?;
            out.push(CommunityCheck {
                community: comm,
                grids: cells.len(),
                overlaps: report.overlaps,
                gaps_m2: report.gaps.iter().map(|g| g.area_m2).collect(),
            });
        }
        Ok(out)
    })
    .await
    .map_err(|e| input(format!("validation stopped: {e}")))?
}

/// Loads components from an OSM import's components layer (component_id, class_code,
/// name, osm_id): category `P` + class code, maintaining department = the category's
/// default department, grid from the point. Existing ids are updated. Returns how many
/// rows were written.
pub async fn import_components(pool: &PgPool, layer: &str) -> Result<u64, GridStoreError> {
    if !is_ident(layer) {
        return Err(input("the layer id must match [a-z0-9_]+"));
    }
    let mut tx = pool.begin().await?;
    let done = sqlx::query(&format!(
        "INSERT INTO layers.components (geom, component_id, category_code, name, state, maintaining_department, \
             grid_code, survey_date, change_date, source, note) \
         SELECT ST_PointOnSurface(o.geom), o.component_id, 'P' || o.class_code, o.name, 'intact', c.default_department, \
                NULL, current_date, current_date, 'osm', 'OSM ' || coalesce(o.osm_id::text, '') \
         FROM layers.\"{layer}\" o LEFT JOIN categories c ON c.code = 'P' || o.class_code \
         WHERE o.component_id ~ '^[0-9]{{16}}$' AND o.class_code ~ '^[0-9]{{4}}$' \
         ON CONFLICT (component_id) DO UPDATE SET geom = EXCLUDED.geom, name = EXCLUDED.name, \
             change_date = current_date"
    ))
    .execute(&mut *tx)
    .await
    .map_err(|e| input(format!("cannot read components from layer {layer}: {e}")))?;
    assign_components(&mut tx, None).await?;
    refresh_catalog(&mut tx, "components", true).await?;
    // One layer per thing users see: the source's features are now the components
    // layer, so the source leaves the catalogue (maps, OGC API, viewer). Its table
    // stays, for a later import from it.
    if layer != "components" {
        sqlx::query("DELETE FROM layer_catalog WHERE id = $1")
            .bind(layer)
            .execute(&mut *tx)
            .await?;
        sqlx::query("SELECT pg_notify('citygrid_layers', $1)")
            .bind(layer)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(done.rows_affected())
}
