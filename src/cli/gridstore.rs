//! Writing unit grids and components: generated grids (grid-mgmt's `gridgen`), a
//! city's own grid file, validation per community, and components from the OSM
//! import. Each write is one transaction that also fixes the layer catalogue (count,
//! bounds, version) and announces the layers, so a running service reloads them.

use std::collections::BTreeMap;
use std::path::Path;

use citygrid_grid_mgmt::codes::{AdminCode, CommunityCode, GridCode, StreetCode};
use citygrid_grid_mgmt::gridgen::{self, CommunityGrids, GridOptions};
use citygrid_store::places::{self as store, is_ident, Retire};
use geo::MultiPolygon;
use geozero::geojson::GeoJson;
use geozero::wkb::Wkb;
use geozero::{CoordDimensions, ToGeo, ToWkb};
use serde::Serialize;
use serde_json::Value;
use sqlx::{PgConnection, PgPool};

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
    let exists = store::is_vector_layer(pool, source).await?;
    if !exists {
        return Err(input(format!("no file and no vector layer named {source}")));
    }
    let filter = match &filter {
        Some((k, v)) if is_ident(k) => Some((k.as_str(), v.as_str())),
        Some((k, _)) => return Err(input(format!("filter field {k:?} must match [a-z0-9_]+"))),
        None => None,
    };
    let wkb = store::layer_union_wkb(pool, source, filter).await?;
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

async fn bump_layers(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    for layer in PLACE_LAYERS {
        store::refresh_catalog(conn, layer, true).await?;
    }
    Ok(())
}

async fn insert_grids(
    conn: &mut PgConnection,
    grids: &[(GridCode, Vec<u8>)],
) -> Result<(), GridStoreError> {
    store::insert_grids(conn, grids)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.code().as_deref() == Some("23505") => input(format!(
                "a grid code already exists ({}); use --replace",
                d.message()
            )),
            _ => GridStoreError::Db(e),
        })
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
    let existing = store::count_street_grids(&mut *tx, &street_key).await?;
    let mut replaced = 0;
    if existing > 0 {
        if !opts.replace {
            return Err(input(format!(
                "street {street_key} already has {} unit grids; pass --replace to replace them (they are kept in the history)",
                existing
            )));
        }
        replaced = store::retire_grids(&mut tx, Retire::Street(&street_key)).await?;
        store::delete_street_communities(&mut *tx, &street_key).await?;
    }
    let mut grids = Vec::new();
    let (mut min, mut max) = (f64::INFINITY, 0.0f64);
    for c in &generated {
        let key = format!("{street_key}{}", c.community);
        store::upsert_community(
            &mut *tx,
            store::NewCommunity {
                wkb: wkb_of(&c.area)?,
                key: &key,
                street_key: &street_key,
                admin: opts.admin.as_str(),
                name: format!("Community {}", c.community),
            },
        )
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
    store::upsert_street(
        &mut *tx,
        store::NewStreet {
            wkbs: &whole,
            key: &street_key,
            admin: opts.admin.as_str(),
            name: opts
                .street_name
                .clone()
                .unwrap_or_else(|| format!("Street {}", opts.street)),
            default_department: opts.default_department.as_deref(),
        },
    )
    .await?;
    store::fill_places(
        &mut tx,
        opts.admin_name.as_deref(),
        opts.street_name.as_deref(),
        opts.default_department.as_deref(),
    )
    .await?;
    let assigned = store::assign_components(&mut tx, None).await?;
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
        let rows = store::layer_codes(pool, source, code_field)
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
    let clash = store::count_grids_with_codes(&mut *tx, &codes).await?;
    let mut replaced = 0;
    if clash > 0 {
        if !replace {
            return Err(input(format!(
                "{} of these grid codes already exist; pass --replace",
                clash
            )));
        }
        for code in &codes {
            replaced += store::retire_grids(&mut tx, Retire::Code(code)).await?;
        }
    }
    let grids: Vec<(GridCode, Vec<u8>)> = by_code
        .iter()
        .map(|(c, g)| Ok((c.clone(), wkb_of(g)?)))
        .collect::<Result<_, GridStoreError>>()?;
    insert_grids(&mut tx, &grids).await?;
    store::fill_places(&mut tx, None, None, None).await?;
    let assigned = store::assign_components(&mut tx, None).await?;
    bump_layers(&mut tx).await?;
    let (min, max) = store::grid_area_range(&mut *tx, &codes).await?;
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
    let rows = store::grids_for_validation(pool, community).await?;
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
    let done = store::upsert_osm_components(&mut *tx, layer)
        .await
        .map_err(|e| input(format!("cannot read components from layer {layer}: {e}")))?;
    store::assign_components(&mut tx, None).await?;
    store::refresh_catalog(&mut tx, "components", true).await?;
    // One layer per thing users see: the source's features are now the components
    // layer, so the source leaves the catalogue (maps, OGC API, viewer). Its table
    // stays, for a later import from it.
    if layer != "components" {
        store::remove_from_catalog(&mut tx, layer).await?;
    }
    tx.commit().await?;
    Ok(done)
}
