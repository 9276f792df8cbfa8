//! `citygrid import osm`: an OSM extract (`.osm.pbf` or `.osm`) into standard layers
//! and city components, from the points, lines and multipolygons of GDAL's OSM
//! driver — built natively for `.osm.pbf` ([`pbf`] + [`ogr_layers`], the same
//! features; `CITYGRID_OSM_READER=gdal` uses GDAL's driver), read through GDAL for
//! `.osm` XML.
//!
//! | layer | from | geometry | columns (after fid, geom) |
//! |---|---|---|---|
//! | `<prefix>_buildings` | areas with `building` (≠ no) | MultiPolygon | osm_id, osm_type, name, name_zh, name_en, building, building_levels, height, addr_street, addr_housenumber, tags |
//! | `<prefix>_roads` | ways with `highway` | LineString | osm_id, osm_type, name, name_zh, name_en, highway, ref, oneway, maxspeed, lanes, surface, tags |
//! | `<prefix>_water` | areas with natural=water, waterway=riverbank/dock, landuse=reservoir/basin, water=* | MultiPolygon | osm_id, osm_type, name, name_zh, name_en, class, tags |
//! | `<prefix>_landuse` | areas with landuse, leisure=park/garden/…, natural=wood/grassland/… | MultiPolygon | osm_id, osm_type, name, name_zh, name_en, class, tags |
//! | `<prefix>_pois` | nodes with amenity, shop, tourism, leisure, office, craft, historic, healthcare | Point | osm_id, osm_type, name, name_zh, name_en, class, subclass, tags |
//! | `<prefix>_components` | nodes mapped by [`component_map`] | Point | component_id, class_code, class_name_zh, class_name_en, osm_id, name, name_zh, name_en, ref, operator, tags |
//!
//! `name_zh` is `name:zh-Hans`, else `name:zh`, else `name:zh-CN`; `name_en` is
//! `name:en`: the default style labels with them in Chinese and English, and as
//! columns they reach the vector tiles, which leave the `tags` bag out by default.
//! `class` is `key=value` of the tag that put the feature in the layer (`subclass`
//! the value for POIs); `tags` (jsonb) holds every OSM tag. `osm_type` is node, way or
//! relation. Components: `component_id` = admin code (6) + class code (4) + serial (6,
//! per class, in file order), e.g. `4201020111000001` for the first street lamp.
//!
//! The file is read in one pass (the driver's interleaved reading); converted rows are
//! kept in memory until the pass ends — fine for city extracts — then every layer is
//! staged and swapped in one transaction like `import vector`. The same transaction
//! replaces the standard addresses: every point and area of the driver with
//! `addr:street` and `addr:housenumber`, at the node or at a point inside the area
//! ([`address_point`]), under source `osm:<prefix>_buildings` (building areas),
//! `osm:<prefix>_pois` (POI nodes) or `osm:<prefix>_addresses` (the rest:
//! address-only nodes — an entrance, a house number on its own — and areas that are
//! not buildings).

pub mod address_point;
pub mod component_map;
pub mod native;
pub mod ogr_layers;
pub mod pbf;
pub mod tags;

use std::ffi::CStr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use gdal::{Dataset, DatasetOptions, GdalOpenFlags};
use sqlx::PgPool;

use crate::catalog;
use crate::control::{Cancel, Counters};
use crate::copy::{self, ColumnType};
use crate::crs::{SourceCrs, Transformer};
use crate::error::{DbContext, ImportError};
use crate::fields::CatalogField;
use crate::geometry::{GeomType, Scratch};
use crate::load::{self, ImportReport, Prepared};
use crate::naming;
use crate::pipeline::{self, EncodedBatch};
use crate::progress::{Progress, ProgressMode};
use crate::reader::{self, BATCH_FEATURES};
use crate::stage::{self, Column, StageSpec};
use tags::Tags;

/// Default admin code of components: 420102 江岸区 (Wuhan), the demo city's district.
pub const DEFAULT_ADMIN_CODE: &str = "420102";

/// What `citygrid import osm` was asked to do.
#[derive(Debug, Clone)]
pub struct OsmOptions {
    /// The extract.
    pub file: PathBuf,
    /// Layer id prefix (default `osm`).
    pub prefix: String,
    /// 6-digit GB/T 2260 code that component ids start with.
    pub admin_code: String,
    /// Overwrite existing layers.
    pub replace: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Buildings,
    Roads,
    Water,
    Landuse,
    Pois,
    Components,
}

const KINDS: [Kind; 6] = [
    Kind::Buildings,
    Kind::Roads,
    Kind::Water,
    Kind::Landuse,
    Kind::Pois,
    Kind::Components,
];

impl Kind {
    fn suffix(self) -> &'static str {
        match self {
            Kind::Buildings => "buildings",
            Kind::Roads => "roads",
            Kind::Water => "water",
            Kind::Landuse => "landuse",
            Kind::Pois => "pois",
            Kind::Components => "components",
        }
    }

    fn geometry(self) -> GeomType {
        match self {
            Kind::Buildings | Kind::Water | Kind::Landuse => GeomType::MultiPolygon,
            Kind::Roads => GeomType::LineString,
            Kind::Pois | Kind::Components => GeomType::Point,
        }
    }

    fn columns(self) -> Vec<(&'static str, ColumnType)> {
        use ColumnType::*;
        let mut c = match self {
            Kind::Components => vec![
                ("component_id", Text),
                ("class_code", Text),
                ("class_name_zh", Text),
                ("class_name_en", Text),
                ("osm_id", BigInt),
                ("name", Text),
                ("name_zh", Text),
                ("name_en", Text),
                ("ref", Text),
                ("operator", Text),
            ],
            _ => vec![
                ("osm_id", BigInt),
                ("osm_type", Text),
                ("name", Text),
                ("name_zh", Text),
                ("name_en", Text),
            ],
        };
        c.extend(match self {
            Kind::Buildings => vec![
                ("building", Text),
                ("building_levels", Text),
                ("height", Text),
                ("addr_street", Text),
                ("addr_housenumber", Text),
            ],
            Kind::Roads => vec![
                ("highway", Text),
                ("ref", Text),
                ("oneway", Text),
                ("maxspeed", Text),
                ("lanes", Text),
                ("surface", Text),
            ],
            Kind::Water | Kind::Landuse => vec![("class", Text)],
            Kind::Pois => vec![("class", Text), ("subclass", Text)],
            Kind::Components => vec![],
        });
        c.push(("tags", Jsonb));
        c
    }

    fn title(self) -> &'static str {
        match self {
            Kind::Buildings => "Buildings (OSM)",
            Kind::Roads => "Roads (OSM)",
            Kind::Water => "Water (OSM)",
            Kind::Landuse => "Land use (OSM)",
            Kind::Pois => "Points of interest (OSM)",
            Kind::Components => "City components (OSM)",
        }
    }
}

const POI_KEYS: [&str; 8] = [
    "amenity",
    "shop",
    "tourism",
    "leisure",
    "office",
    "craft",
    "historic",
    "healthcare",
];
const LANDUSE_LEISURE: [&str; 7] = [
    "park",
    "garden",
    "pitch",
    "playground",
    "nature_reserve",
    "golf_course",
    "common",
];
const LANDUSE_NATURAL: [&str; 8] = [
    "wood",
    "grassland",
    "scrub",
    "heath",
    "wetland",
    "beach",
    "sand",
    "bare_rock",
];

/// The `key=value` that puts an area in the water layer.
fn water_class(t: &Tags) -> Option<String> {
    let pairs = [
        ("natural", &["water"][..]),
        ("waterway", &["riverbank", "dock"][..]),
        ("landuse", &["reservoir", "basin"][..]),
    ];
    for (k, values) in pairs {
        if let Some(v) = t.get(k).filter(|v| values.contains(v)) {
            return Some(format!("{k}={v}"));
        }
    }
    t.get("water").map(|v| format!("water={v}"))
}

/// The `key=value` that puts an area in the land-use layer.
fn landuse_class(t: &Tags) -> Option<String> {
    if let Some(v) = t
        .get("landuse")
        .filter(|v| !matches!(*v, "reservoir" | "basin"))
    {
        return Some(format!("landuse={v}"));
    }
    if let Some(v) = t.get("leisure").filter(|v| LANDUSE_LEISURE.contains(v)) {
        return Some(format!("leisure={v}"));
    }
    t.get("natural")
        .filter(|v| LANDUSE_NATURAL.contains(v))
        .map(|v| format!("natural={v}"))
}

/// Where a feature came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Points,
    Lines,
    Areas,
    Other,
}

fn text_or_null(out: &mut Vec<u8>, v: Option<&str>) {
    match v {
        Some(v) => copy::text(out, v),
        None => copy::null(out),
    }
}

/// The Chinese name of a feature: `name:zh-Hans` (simplified, what mainland readers
/// use), else `name:zh`, else `name:zh-CN`.
fn name_zh(t: &Tags) -> Option<&str> {
    ["name:zh-Hans", "name:zh", "name:zh-CN"]
        .iter()
        .find_map(|k| t.get(k).filter(|v| !v.trim().is_empty()))
}

/// `name`, `name_zh` ([`name_zh`]) and `name_en` (`name:en`): the names the default
/// style labels with, as real columns so they reach the tiles while the tag bag stays
/// out of them.
fn names(out: &mut Vec<u8>, t: &Tags) {
    text_or_null(out, t.get("name"));
    text_or_null(out, name_zh(t));
    text_or_null(out, t.get("name:en").filter(|v| !v.trim().is_empty()));
}

/// Per-class serial numbers of components.
#[derive(Default)]
struct Serials(std::collections::HashMap<&'static str, u32>);

impl Serials {
    fn next(&mut self, code: &'static str) -> u32 {
        let n = self.0.entry(code).or_insert(0);
        *n += 1;
        *n
    }
}

/// Encodes the attribute fields of `kind` for a feature; `None` when it does not
/// belong to that layer.
fn encode(
    kind: Kind,
    source: Source,
    osm_type: &str,
    osm_id: Option<i64>,
    t: &Tags,
    admin: &str,
    serials: &mut Serials,
) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(128);
    let id = |out: &mut Vec<u8>| match osm_id {
        Some(id) => copy::bigint(out, id),
        None => copy::null(out),
    };
    let head = |out: &mut Vec<u8>| {
        id(out);
        copy::text(out, osm_type);
        names(out, t);
    };
    match kind {
        Kind::Buildings => {
            if source != Source::Areas || t.get("building").is_none_or(|v| v == "no") {
                return None;
            }
            head(&mut out);
            for k in [
                "building",
                "building:levels",
                "height",
                "addr:street",
                "addr:housenumber",
            ] {
                text_or_null(&mut out, t.get(k));
            }
        }
        Kind::Roads => {
            if source != Source::Lines || t.get("highway").is_none() {
                return None;
            }
            head(&mut out);
            for k in ["highway", "ref", "oneway", "maxspeed", "lanes", "surface"] {
                text_or_null(&mut out, t.get(k));
            }
        }
        Kind::Water | Kind::Landuse => {
            if source != Source::Areas || t.get("building").is_some() {
                return None;
            }
            let class = if kind == Kind::Water {
                water_class(t)
            } else {
                landuse_class(t)
            }?;
            head(&mut out);
            copy::text(&mut out, &class);
        }
        Kind::Pois => {
            if source != Source::Points {
                return None;
            }
            let (k, v) = POI_KEYS.iter().find_map(|k| t.get(k).map(|v| (*k, v)))?;
            head(&mut out);
            copy::text(&mut out, k);
            copy::text(&mut out, v);
        }
        Kind::Components => {
            if source != Source::Points {
                return None;
            }
            let rule = component_map::classify(|k| t.get(k))?;
            let serial = serials.next(rule.code);
            if serial > 999_999 {
                return None;
            }
            copy::text(&mut out, &format!("{admin}{}{serial:06}", rule.code));
            copy::text(&mut out, rule.code);
            copy::text(&mut out, rule.name_zh);
            copy::text(&mut out, rule.name_en);
            id(&mut out);
            names(&mut out, t);
            for k in ["ref", "operator"] {
                text_or_null(&mut out, t.get(k));
            }
        }
    }
    copy::jsonb(&mut out, &t.to_json());
    Some(out)
}

/// The rows of one output layer, converted.
#[derive(Default)]
struct Collected {
    batches: Vec<EncodedBatch>,
    counters: Counters,
    next_fid: i64,
}

unsafe fn feature_tags(
    feature: gdal_sys::OGRFeatureH,
    defn: gdal_sys::OGRFeatureDefnH,
) -> (Tags, Option<i64>, &'static str) {
    let mut tags = Tags::default();
    let mut osm_id = None;
    let mut osm_type = "node";
    let n = gdal_sys::OGR_FD_GetFieldCount(defn);
    for i in 0..n {
        if gdal_sys::OGR_F_IsFieldSetAndNotNull(feature, i) == 0 {
            continue;
        }
        let fd = gdal_sys::OGR_FD_GetFieldDefn(defn, i);
        let name = CStr::from_ptr(gdal_sys::OGR_Fld_GetNameRef(fd)).to_string_lossy();
        let value = CStr::from_ptr(gdal_sys::OGR_F_GetFieldAsString(feature, i)).to_string_lossy();
        match name.as_ref() {
            "osm_id" => osm_id = value.parse().ok(),
            "osm_way_id" => {
                osm_id = value.parse().ok();
                osm_type = "way";
            }
            "other_tags" | "all_tags" => tags::parse_other_tags(&value, &mut tags),
            "z_order" => {}
            _ => tags.push(name.into_owned(), value.into_owned()),
        }
    }
    (tags, osm_id, osm_type)
}

/// One feature of the driver's points, lines or multipolygons layer.
struct FeatureRef<'a> {
    source: Source,
    osm_type: &'static str,
    osm_id: Option<i64>,
    tags: &'a Tags,
    /// ISO WKB; `None` when the geometry is null or empty.
    wkb: Option<&'a [u8]>,
}

/// The OSM type of a driver feature: lines are ways; areas without `osm_way_id`
/// are relations.
fn layer_osm_type(source: Source, from_fields: &'static str) -> &'static str {
    match source {
        Source::Lines => "way",
        Source::Areas if from_fields == "node" => "relation",
        _ => from_fields,
    }
}

/// Address sources of an import, by the suffix after `osm:<prefix>_`.
const ADDRESS_SOURCES: [&str; 3] = ["buildings", "pois", "addresses"];

/// The standard address of a driver point or area (`addr:street` and
/// `addr:housenumber` both non-empty, a geometry with a place): the index of its
/// source in [`ADDRESS_SOURCES`] and the row, at [`address_point::address_point`].
fn osm_address(f: &FeatureRef) -> Option<(usize, citygrid_store::addresses::NewAddress)> {
    let t = f.tags;
    let source = match f.source {
        Source::Points if POI_KEYS.iter().any(|k| t.get(k).is_some()) => 1,
        Source::Areas if t.get("building").is_some_and(|v| v != "no") => 0,
        Source::Points | Source::Areas => 2,
        Source::Lines | Source::Other => return None,
    };
    let nonempty = |k: &str| t.get(k).filter(|v| !v.is_empty()).map(str::to_string);
    let road = nonempty("addr:street")?;
    let number = nonempty("addr:housenumber")?;
    let point = address_point::address_point(f.wkb?)?;
    Some((
        source,
        citygrid_store::addresses::NewAddress {
            road: Some(road),
            number: Some(number),
            city: t.get("addr:city").map(str::to_string),
            district: t
                .get("addr:district")
                .or_else(|| t.get("addr:suburb"))
                .map(str::to_string),
            geom_ewkb: address_point::point_wkb(point),
            ..Default::default()
        },
    ))
}

/// What the reading pass produced: the rows of each output layer, and the standard
/// addresses of each of [`ADDRESS_SOURCES`] ([`osm_address`]).
type Extract = (
    Vec<Collected>,
    Vec<Vec<citygrid_store::addresses::NewAddress>>,
);

/// The output layers being filled, and what converting into them needs.
struct Collector<'a> {
    out: Vec<Collected>,
    addresses: Vec<Vec<citygrid_store::addresses::NewAddress>>,
    admin: &'a str,
    serials: Serials,
    transformer: Transformer,
    scratch: Scratch,
}

impl<'a> Collector<'a> {
    fn new(admin: &'a str) -> Result<Collector<'a>, ImportError> {
        Ok(Collector {
            out: KINDS
                .iter()
                .map(|_| Collected {
                    next_fid: 1,
                    ..Default::default()
                })
                .collect(),
            addresses: vec![Vec::new(); ADDRESS_SOURCES.len()],
            admin,
            serials: Serials::default(),
            transformer: Transformer::new(&SourceCrs::epsg(4326), false)?,
            scratch: Scratch::default(),
        })
    }

    /// Converts a feature into every layer it belongs to.
    fn add(&mut self, f: &FeatureRef) -> Result<(), ImportError> {
        if let Some((source, a)) = osm_address(f) {
            self.addresses[source].push(a);
        }
        for (i, kind) in KINDS.iter().enumerate() {
            let Some(attrs) = encode(
                *kind,
                f.source,
                f.osm_type,
                f.osm_id,
                f.tags,
                self.admin,
                &mut self.serials,
            ) else {
                continue;
            };
            let target = &mut self.out[i];
            target.counters.read.fetch_add(1, Ordering::Relaxed);
            let Some(wkb) = f.wkb else {
                target
                    .counters
                    .skipped_empty
                    .fetch_add(1, Ordering::Relaxed);
                continue;
            };
            if target
                .batches
                .last()
                .is_none_or(|b| b.rows.len() >= BATCH_FEATURES)
            {
                target.batches.push(EncodedBatch::default());
            }
            let fields = 2 + kind.columns().len();
            let fid = target.next_fid;
            let batch = target
                .batches
                .last_mut()
                .ok_or_else(|| ImportError::Internal("no batch".into()))?;
            let outcome = batch.push(
                fields,
                fid,
                wkb,
                &attrs,
                &mut self.transformer,
                &mut self.scratch,
            );
            if matches!(outcome, crate::geometry::Outcome::Written { .. }) {
                target.next_fid += 1;
            }
            pipeline::count_outcome(&target.counters, &outcome);
        }
        Ok(())
    }
}

/// Tags, OSM id and type of a feature of a natively built driver layer (the same
/// split as [`feature_tags`] does for GDAL's features).
fn native_feature_tags(
    layer: &ogr_layers::OgrLayer,
    feature: &ogr_layers::OgrFeature,
) -> (Tags, Option<i64>, &'static str) {
    let mut tags = Tags::default();
    let mut osm_id = None;
    let mut osm_type = "node";
    for (field, value) in layer.fields.iter().zip(&feature.values) {
        let value = match value {
            Some(ogr_layers::OgrValue::Text(t)) => t.as_str(),
            Some(ogr_layers::OgrValue::Integer(_)) | None => continue,
        };
        match field.name {
            "osm_id" => osm_id = value.parse().ok(),
            "osm_way_id" => {
                osm_id = value.parse().ok();
                osm_type = "way";
            }
            "other_tags" | "all_tags" => tags::parse_other_tags(value, &mut tags),
            name => tags.push(name, value),
        }
    }
    (tags, osm_id, osm_type)
}

/// [`read_extract`] for an `.osm.pbf`, without GDAL: the extract decoded on every
/// core and the driver's layers built natively (see [`native`]).
fn read_extract_native(
    path: &Path,
    admin: &str,
    cancel: &Cancel,
    read: &Counters,
) -> Result<Extract, ImportError> {
    let data = pbf::read_file(path)?;
    let layers = ogr_layers::build_layers(&data);
    std::thread::spawn(move || drop(data));
    let mut collector = Collector::new(admin)?;
    for layer in &layers {
        read.read
            .fetch_add(layer.features.len() as u64, Ordering::Relaxed);
        let source = match layer.name {
            "points" => Source::Points,
            "lines" => Source::Lines,
            "multipolygons" => Source::Areas,
            _ => continue,
        };
        for feature in &layer.features {
            if cancel.is_cancelled() {
                return Err(ImportError::Interrupted);
            }
            let (tags, osm_id, osm_type) = native_feature_tags(layer, feature);
            collector.add(&FeatureRef {
                source,
                osm_type: layer_osm_type(source, osm_type),
                osm_id,
                tags: &tags,
                wkb: (!feature.wkb.is_empty()).then_some(feature.wkb.as_slice()),
            })?;
        }
    }
    Ok((collector.out, collector.addresses))
}

/// Reads the whole extract (blocking) and converts every feature into the layers it
/// belongs to.
fn read_extract(
    path: &Path,
    admin: &str,
    cancel: &Cancel,
    read: &Counters,
) -> Result<Extract, ImportError> {
    reader::quiet_gdal();
    if !path.exists() {
        return Err(ImportError::NotFound(path.to_path_buf()));
    }
    let drivers = ["OSM"];
    let ds = Dataset::open_ex(
        path,
        DatasetOptions {
            open_flags: GdalOpenFlags::GDAL_OF_VECTOR | GdalOpenFlags::GDAL_OF_READONLY,
            allowed_drivers: Some(&drivers),
            ..Default::default()
        },
    )
    .map_err(|e| {
        ImportError::source(
            path,
            reader::gdal_message(e, "not an OSM file (.osm.pbf or .osm)"),
        )
    })?;
    let mut collector = Collector::new(admin)?;
    let mut wkb = Vec::new();
    // SAFETY: GDAL C API on a dataset that lives for the whole loop; each feature is
    // destroyed once.
    unsafe {
        let h = ds.c_dataset();
        gdal_sys::GDALDatasetResetReading(h);
        loop {
            if cancel.is_cancelled() {
                return Err(ImportError::Interrupted);
            }
            let mut layer: gdal_sys::OGRLayerH = std::ptr::null_mut();
            gdal_sys::CPLErrorReset();
            let feature = gdal_sys::GDALDatasetGetNextFeature(
                h,
                &mut layer,
                std::ptr::null_mut(),
                None,
                std::ptr::null_mut(),
            );
            if feature.is_null() {
                if gdal_sys::CPLGetLastErrorType() >= gdal_sys::CPLErr::CE_Failure {
                    return Err(ImportError::source(
                        path,
                        reader::last_gdal_error("read error"),
                    ));
                }
                break;
            }
            read.read.fetch_add(1, Ordering::Relaxed);
            let source = if layer.is_null() {
                Source::Other
            } else {
                match CStr::from_ptr(gdal_sys::OGR_L_GetName(layer)).to_bytes() {
                    b"points" => Source::Points,
                    b"lines" => Source::Lines,
                    b"multipolygons" => Source::Areas,
                    _ => Source::Other,
                }
            };
            if source == Source::Other {
                gdal_sys::OGR_F_Destroy(feature);
                continue;
            }
            let (tags, osm_id, osm_type) =
                feature_tags(feature, gdal_sys::OGR_F_GetDefnRef(feature));
            wkb.clear();
            let has_geometry =
                reader::geometry_wkb(gdal_sys::OGR_F_GetGeometryRef(feature), &mut wkb);
            gdal_sys::OGR_F_Destroy(feature);
            collector.add(&FeatureRef {
                source,
                osm_type: layer_osm_type(source, osm_type),
                osm_id,
                tags: &tags,
                wkb: has_geometry.then_some(wkb.as_slice()),
            })?;
        }
    }
    Ok((collector.out, collector.addresses))
}

/// Imports an OSM extract. See the module documentation for the layers.
pub async fn import_osm(
    pool: &PgPool,
    options: &OsmOptions,
    cancel: &Cancel,
    mode: ProgressMode,
) -> Result<ImportReport, ImportError> {
    let started = Instant::now();
    if !naming::is_valid_layer_id(&options.prefix)
        || options.prefix.len() > naming::MAX_LAYER_ID - 11
    {
        return Err(ImportError::Invalid(format!(
            "invalid --prefix {:?}: use lower-case letters, digits and _ (at most {} characters)",
            options.prefix,
            naming::MAX_LAYER_ID - 11
        )));
    }
    if options.admin_code.len() != 6 || !options.admin_code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ImportError::Invalid(format!(
            "invalid --admin-code {:?}: a GB/T 2260 code has 6 digits, e.g. 420102",
            options.admin_code
        )));
    }
    if !options.file.exists() {
        return Err(ImportError::NotFound(options.file.clone()));
    }
    let ids: Vec<String> = KINDS
        .iter()
        .map(|k| format!("{}_{}", options.prefix, k.suffix()))
        .collect();
    let mut conn = stage::connect(pool).await?;
    let polygon_repair = stage::setup_session(&mut conn).await?;
    stage::cleanup_stale(&mut conn).await?;
    catalog::check_targets(&mut conn, &ids, options.replace).await?;

    let read_counters = Arc::new(Counters::default());
    let progress = Progress::start(mode, "OSM extract", None, Arc::clone(&read_counters));
    let (path, admin, c, rc) = (
        options.file.clone(),
        options.admin_code.clone(),
        cancel.clone(),
        Arc::clone(&read_counters),
    );
    let collected = tokio::task::spawn_blocking(move || {
        if native::applies_to(&path) {
            read_extract_native(&path, &admin, &c, &rc)
        } else {
            read_extract(&path, &admin, &c, &rc)
        }
    })
    .await
    .map_err(|e| ImportError::Internal(format!("the OSM reader failed: {e}")))?;
    progress.finish();
    let (collected, addresses) = collected?;
    let read_seconds = started.elapsed().as_secs_f64();

    let mut tx = sqlx::Connection::begin(&mut conn)
        .await
        .db("starting the transaction")?;
    let mut prepared = Vec::new();
    for ((kind, id), target) in KINDS.iter().zip(&ids).zip(collected) {
        let layer_started = Instant::now();
        let rows: usize = target.batches.iter().map(|b| b.rows.len()).sum();
        if rows == 0 {
            tracing::warn!(layer = %id, "the extract has nothing for this layer; skipped");
            continue;
        }
        let columns: Vec<Column> = kind
            .columns()
            .into_iter()
            .map(|(name, column_type)| Column {
                name: name.to_string(),
                column_type,
            })
            .collect();
        let spec = StageSpec {
            layer_id: id.clone(),
            columns: columns.clone(),
            declared: Some(kind.geometry()),
            polygon_repair,
        };
        let (tx_b, rx_b) = tokio::sync::mpsc::channel(4);
        let feeder = tokio::spawn(async move {
            for b in target.batches {
                if tx_b.send(Ok(b)).await.is_err() {
                    break;
                }
            }
        });
        let counters = target.counters;
        let staged = load::stage_layer(&mut tx, &spec, rx_b, cancel, &counters).await;
        feeder.abort();
        let staged = staged?;
        let fields: Vec<CatalogField> = columns
            .iter()
            .map(|c| CatalogField {
                name: c.name.clone(),
                column_type: c.column_type.sql().to_string(),
                source_name: if c.name == "tags" {
                    "(all OSM tags)".to_string()
                } else {
                    c.name
                        .replace("addr_", "addr:")
                        .replace("building_levels", "building:levels")
                },
            })
            .collect();
        let mut entry = load::catalog_entry(
            id,
            Some(kind.title().to_string()),
            kind.suffix(),
            &options.file.display().to_string(),
            "EPSG:4326",
            fields,
            &staged,
            &counters,
            read_seconds + layer_started.elapsed().as_secs_f64(),
        );
        entry.title = None;
        entry.default_title = kind.title().to_string();
        prepared.push(Prepared { staged, entry });
    }
    if prepared.is_empty() {
        return Err(ImportError::Empty(format!(
            "{} has no buildings, roads, water, land use, POIs or components",
            options.file.display()
        )));
    }
    let layers = load::swap_all(&mut tx, prepared, options.replace, cancel).await?;
    // The standard addresses of the extract, replaced with the layers in the same
    // transaction.
    for (suffix, rows) in ADDRESS_SOURCES.iter().zip(&addresses) {
        let source = format!("osm:{}_{suffix}", options.prefix);
        citygrid_store::addresses::delete_source(&mut tx, &source)
            .await
            .db("replacing the addresses")?;
        let mut n = 0;
        for chunk in rows.chunks(citygrid_store::addresses::BATCH_ROWS) {
            n += citygrid_store::addresses::insert_batch(&mut tx, &source, chunk)
                .await
                .db("filling the addresses")?;
        }
        tracing::info!(%source, addresses = n, "addresses from addr:* tags");
    }
    tx.commit().await.db("committing")?;
    let _ = sqlx::Connection::close(conn).await;
    Ok(ImportReport {
        layers,
        seconds: started.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> Tags {
        Tags(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn chinese_name_prefers_simplified() {
        let t = tags(&[("name:zh", "赫爾辛基"), ("name:zh-Hans", "赫尔辛基")]);
        assert_eq!(name_zh(&t), Some("赫尔辛基"));
        assert_eq!(name_zh(&tags(&[("name:zh", "中國樓")])), Some("中國樓"));
        assert_eq!(
            name_zh(&tags(&[("name:zh-Hans", " "), ("name:zh", "x")])),
            Some("x")
        );
        assert_eq!(name_zh(&tags(&[("name", "Helsinki")])), None);
    }

    #[test]
    fn routing() {
        let mut s = Serials::default();
        let lamp = tags(&[("highway", "street_lamp")]);
        assert!(encode(
            Kind::Components,
            Source::Points,
            "node",
            Some(1),
            &lamp,
            "420102",
            &mut s
        )
        .is_some());
        assert!(encode(
            Kind::Roads,
            Source::Points,
            "node",
            Some(1),
            &lamp,
            "420102",
            &mut s
        )
        .is_none());
        let b = tags(&[("building", "yes")]);
        assert!(encode(
            Kind::Buildings,
            Source::Areas,
            "way",
            Some(1),
            &b,
            "420102",
            &mut s
        )
        .is_some());
        assert!(encode(
            Kind::Landuse,
            Source::Areas,
            "way",
            Some(1),
            &b,
            "420102",
            &mut s
        )
        .is_none());
        assert_eq!(
            water_class(&tags(&[("natural", "water")])).as_deref(),
            Some("natural=water")
        );
        assert_eq!(
            landuse_class(&tags(&[("leisure", "park")])).as_deref(),
            Some("leisure=park")
        );
        assert_eq!(s.next("0111"), 2);
    }
}
