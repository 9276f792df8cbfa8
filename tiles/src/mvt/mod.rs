//! Mapbox Vector Tile 2.1 encoder.
//!
//! Pipeline per feature: Web Mercator → global tile units → clip to the buffered tile
//! (Liang–Barsky for lines, Sutherland–Hodgman for rings) → Douglas–Peucker in tile
//! units (never points) → round to integers, drop consecutive duplicates → polygons
//! rebuilt valid on the integer grid and wound per MVT 2.1 (exterior area > 0 by the
//! surveyor's formula in tile coordinates, holes < 0) → MoveTo/LineTo/ClosePath with
//! zigzag deltas. Lines shorter and polygons smaller than `min_feature_size` (whole
//! feature, so neighbouring tiles agree) are dropped. Features are written in id order;
//! negative ids are left out (MVT ids are unsigned); a geometry collection becomes one
//! feature per geometry type with the same id; features with NaN/infinite coordinates
//! are skipped.
//!
//! **Size cap.** When a tile would exceed [`EncodeOptions::max_tile_bytes`], it is
//! re-encoded at thinning level 1, 2, … until it fits. At level `L` (1 ≤ L ≤ 12):
//! point features are clustered on an aligned grid of `min(extent, extent/256 · 2^(L-1))`
//! tile units (a cluster is the representative feature – smallest id in the cell – at
//! the members' mean position with a `point_count` property; single points stay as
//! they are); lines shorter than `min_feature_size · 2^L` and polygons smaller than
//! `(min_feature_size · 2^L)²` are dropped; the simplification tolerance is
//! `simplify_tolerance · 2^(L/2)`. After level 12 – or as soon as a size step would
//! leave nothing, going back to the previous step – each further level `k` keeps only
//! the features (clusters: their representative) whose id hash is in the lowest `2^-k`
//! fraction; [`EncodedTile::level`] counts all steps. Every choice depends on ids and
//! global positions only, never on input order. A level is given up as soon as the
//! bytes written for it (a lower bound of the finished tile) pass the cap, so a level
//! that cannot fit costs at most one chunk of features more than the cap, not a whole
//! encoding.
//!
//! ```
//! use citygrid_tiles::index::{Feature, LayerIndex};
//! use citygrid_tiles::mvt::{encode_tile, query_bounds, EncodeOptions, TileLayer};
//! use citygrid_tiles::schema::{FieldType, Schema};
//! use citygrid_geo::tms::TileCoord;
//! use geo::{point, Geometry};
//!
//! let schema = Schema::new([("name", FieldType::String)]);
//! let f = Feature::from_lonlat(7, Geometry::Point(point!(x: 0.5, y: 0.5)), vec!["x".into()]);
//! let index = LayerIndex::build(schema, vec![f]).unwrap();
//! let tile = TileCoord::new(8, 128, 127).unwrap();
//! let opts = EncodeOptions::default();
//! let features = index.query_bbox_merc(&query_bounds(tile, &opts));
//! let layer = TileLayer { name: "pois", schema: index.schema(), features: &features, properties: None };
//! let out = encode_tile(tile, &[layer], &opts).unwrap();
//! assert!(!out.bytes.is_empty() && out.level == 0 && out.features == 1);
//! ```

mod clip;
mod cluster;
mod minzoom;
mod pbf;
mod polygon;
mod prepare;

pub use minzoom::{default_min_zoom, GeometryKind};

use i_overlay::i_float::int::point::IntPoint;
use rayon::prelude::*;
use thiserror::Error;

use crate::aggregate::Agg;
use crate::index::{FeatureRef, LayerIndex};
use crate::schema::Schema;
use citygrid_geo::matrixset::Grid as TileGrid;
use citygrid_geo::tms::{Bbox, TileCoord};
use cluster::Grid;
use pbf::{GeomType, LayerWriter};
use prepare::{Frame, PGeom, Prepared};

/// The media type of Mapbox Vector Tiles.
pub const MVT_TYPE: &str = "application/vnd.mapbox-vector-tile";

/// The property added to point clusters.
pub const POINT_COUNT_KEY: &str = "point_count";

/// Levels that raise size thresholds / cluster cells; later levels thin by id hash.
const SIZE_LEVELS: u32 = 12;
/// No encoded feature is smaller than this (see the lower-bound skip).
const MIN_FEATURE_BYTES: usize = 9;
/// Prepare/encode features in parallel above this many.
const PAR_THRESHOLD: usize = 2048;

/// Encoder settings. All sizes are in tile units unless said otherwise.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodeOptions {
    /// Tile units per side; a power of two in `16..=1<<20` (default 4096).
    pub extent: u32,
    /// Geometry buffer around the tile, at most `extent` (default 64).
    pub buffer: u32,
    /// Douglas–Peucker tolerance (default 1.0 = one unit, about one pixel of a
    /// 4096-px rendering; 0 disables simplification).
    pub simplify_tolerance: f64,
    /// Lines shorter than this and polygons with area below its square are dropped
    /// (whole feature, default 1.0).
    pub min_feature_size: f64,
    /// Size cap of the encoded tile in bytes (default 500 000).
    pub max_tile_bytes: usize,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions {
            extent: 4096,
            buffer: 64,
            simplify_tolerance: 1.0,
            min_feature_size: 1.0,
            max_tile_bytes: 500_000,
        }
    }
}

impl EncodeOptions {
    fn validate(&self) -> Result<(), MvtError> {
        if !self.extent.is_power_of_two() || !(16..=1 << 20).contains(&self.extent) {
            return Err(MvtError::InvalidOptions(
                "extent must be a power of two between 16 and 1048576",
            ));
        }
        if self.buffer > self.extent {
            return Err(MvtError::InvalidOptions("buffer must not exceed extent"));
        }
        if !(self.simplify_tolerance >= 0.0 && self.simplify_tolerance.is_finite()) {
            return Err(MvtError::InvalidOptions(
                "simplify_tolerance must be a finite number >= 0",
            ));
        }
        if !(self.min_feature_size >= 0.0 && self.min_feature_size.is_finite()) {
            return Err(MvtError::InvalidOptions(
                "min_feature_size must be a finite number >= 0",
            ));
        }
        Ok(())
    }
}

/// Errors of the encoder (bad arguments only: geometry problems never fail a tile,
/// offending features are skipped).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MvtError {
    /// An option out of range.
    #[error("invalid encoder options: {0}")]
    InvalidOptions(&'static str),
    /// A layer without a name.
    #[error("a vector tile layer needs a non-empty name")]
    EmptyLayerName,
    /// Two layers with the same name in one tile.
    #[error("layer '{0}' appears twice in one tile; layer names must be unique")]
    DuplicateLayerName(String),
    /// A selected property that is not in the schema.
    #[error("layer '{layer}' has no field '{field}'")]
    UnknownProperty {
        /// Layer name.
        layer: String,
        /// Requested field.
        field: String,
    },
}

/// One layer of a tile: the features the caller selected (typically
/// `index.query_bbox_merc(&query_bounds(tile, &opts))`) and the properties to include.
#[derive(Debug, Clone, Copy)]
pub struct TileLayer<'a> {
    /// Layer name in the tile.
    pub name: &'a str,
    /// Schema of `Feature::props`.
    pub schema: &'a Schema,
    /// The candidate features (any order; envelope candidates are fine).
    pub features: &'a [FeatureRef<'a>],
    /// Field names to include; `None` = all fields.
    pub properties: Option<&'a [&'a str]>,
}

/// An encoded tile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedTile {
    /// The protobuf bytes; empty when no feature survived (serve 204).
    pub bytes: Vec<u8>,
    /// Thinning steps taken (0 = none; size steps plus id-hash steps, see the module
    /// docs).
    pub level: u32,
    /// Features written over all layers.
    pub features: usize,
}

/// The Web Mercator box to query for a tile: its bounds plus the buffer.
pub fn query_bounds(tile: TileCoord, opts: &EncodeOptions) -> Bbox {
    tile.buffered_bounds(opts.buffer, opts.extent)
}

/// The Web Mercator box to query for a tile address of `grid` (its bounds plus the
/// buffer, for a geographic tile converted to Web Mercator).
pub fn query_bounds_in(grid: TileGrid, tile: TileCoord, opts: &EncodeOptions) -> Bbox {
    grid.buffered_bounds_merc(tile, opts.buffer, opts.extent)
}

/// [`encode_tile`] for a tile address of `grid`: in a geographic grid the features'
/// lon/lat geometries are clipped, simplified and quantised in degrees (the tile's
/// own CRS), with the same extent, buffer and size cap.
pub fn encode_tile_in(
    grid: TileGrid,
    tile: TileCoord,
    layers: &[TileLayer<'_>],
    opts: &EncodeOptions,
) -> Result<EncodedTile, MvtError> {
    opts.validate()?;
    encode_framed(
        Frame::in_grid(grid, tile, opts.extent, opts.buffer),
        layers,
        &[],
        opts,
    )
}

/// Thinning parameters of one level.
#[derive(Debug, Clone, Copy)]
struct LevelPlan {
    /// Cluster cell in tile units; `None` = no clustering.
    cell: Option<i64>,
    tolerance: f64,
    min_len: f64,
    min_area: f64,
    /// Keep features with `prio <= keep`.
    keep: u64,
}

impl LevelPlan {
    fn new(size_level: u32, hash_level: u32, opts: &EncodeOptions) -> Self {
        let l = size_level.min(SIZE_LEVELS);
        let factor = f64::from(1u32 << l);
        let min_len = opts.min_feature_size * factor;
        let extent = i64::from(opts.extent);
        let base = (extent / 256).max(1);
        LevelPlan {
            cell: (l > 0).then(|| (base << (l - 1)).min(extent)),
            tolerance: opts.simplify_tolerance * f64::from(1u32 << (l / 2)),
            min_len,
            min_area: min_len * min_len,
            keep: u64::MAX.checked_shr(hash_level).unwrap_or(0),
        }
    }

    fn keeps(&self, p: &Prepared<'_>) -> bool {
        if p.prio > self.keep {
            return false;
        }
        match p.geom {
            PGeom::Point(_) | PGeom::Points(_) => true,
            PGeom::Lines(_) => p.size >= self.min_len,
            PGeom::Polygons(_) => p.size >= self.min_area,
        }
    }
}

/// One layer after preparation.
struct PreparedLayer<'a> {
    name: &'a str,
    /// `(field index, key)` of the properties to write.
    props: Vec<(usize, &'a str)>,
    features: Vec<Prepared<'a>>,
    has_points: bool,
    /// Cluster grids by level (index `L - 1`), built on demand.
    grids: Vec<Grid>,
    /// For a layer given as point cells: the points they hold (`features` are
    /// then the cells' representatives and `grids[0]` the cells).
    points_total: Option<u64>,
}

/// The first-level cluster grid of a layer given as point cells (`features`: their
/// representatives, prepared).
fn cells_grid(
    cells: &PointCells<'_>,
    features: &[Prepared<'_>],
    frame: &Frame,
    opts: &EncodeOptions,
) -> Grid {
    let at: std::collections::HashMap<i64, usize> = features
        .iter()
        .enumerate()
        .map(|(i, p)| (p.feature.id(), i))
        .collect();
    let base = (i64::from(opts.extent) / 256).max(1);
    Grid::from_cells(
        features,
        frame,
        base,
        cells.cells.iter().filter_map(|(kx, ky, a, rep)| {
            Some((
                *kx,
                *ky,
                cluster::Cell {
                    count: u64::from(a.count),
                    sx: i128::from(a.sx),
                    sy: i128::from(a.sy),
                    rep: *at.get(&rep.id())?,
                },
            ))
        }),
    )
}

impl PreparedLayer<'_> {
    /// Builds the cluster grids up to the plan's cell size.
    fn ensure_grid(&mut self, plan: &LevelPlan, frame: &Frame) {
        let Some(cell) = plan.cell else { return };
        if !self.has_points {
            return;
        }
        while self.grids.last().is_none_or(|g| g.cell < cell) {
            let next = match self.grids.last() {
                None => Grid::from_points(&self.features, frame, cell),
                Some(g) => g.coarser(&self.features, frame),
            };
            self.grids.push(next);
        }
    }

    fn grid(&self, plan: &LevelPlan) -> Option<&Grid> {
        let cell = plan.cell?;
        self.grids.iter().find(|g| g.cell == cell)
    }

    /// A lower bound of the features this level writes: points and clusters are exact,
    /// lines and polygons may vanish in simplification so they count zero.
    fn min_count(&mut self, plan: &LevelPlan, frame: &Frame) -> usize {
        self.ensure_grid(plan, frame);
        let points = if let (None, Some(n)) = (plan.cell, self.points_total) {
            usize::try_from(n).unwrap_or(usize::MAX)
        } else if plan.cell.is_none() {
            self.features
                .iter()
                .filter(|p| p.geom.is_point() && plan.keeps(p))
                .count()
        } else {
            0
        };
        let clusters = self.grid(plan).map_or(0, |g| {
            g.complete_cells(&self.features, frame)
                .iter()
                .filter(|(_, _, c)| self.features[c.rep].prio <= plan.keep)
                .count()
        });
        points + clusters
    }

    /// True when some feature would survive this level's filters.
    fn any_kept(&self, plan: &LevelPlan) -> bool {
        self.features.iter().any(|p| plan.keeps(p))
    }
}

/// Encodes one tile from one or more layers (see the module docs for the pipeline and
/// the size cap). Layers without surviving features are left out; the bytes are empty
/// when no layer has any.
pub fn encode_tile(
    tile: TileCoord,
    layers: &[TileLayer<'_>],
    opts: &EncodeOptions,
) -> Result<EncodedTile, MvtError> {
    opts.validate()?;
    encode_framed(
        Frame::new(tile, opts.extent, opts.buffer),
        layers,
        &[],
        opts,
    )
}

/// A tile's precomputed point cells (`crate::aggregate`), ready for
/// [`encode_tile_with_cells`]: `(kx, ky)` global cell, the cell, its representative
/// feature. Made by [`point_cells`].
#[derive(Debug, Clone)]
pub struct PointCells<'a> {
    cells: Vec<(i64, i64, Agg, FeatureRef<'a>)>,
    total: u64,
}

impl PointCells<'_> {
    /// The number of points the cells hold.
    pub fn points(&self) -> u64 {
        self.total
    }

    /// The number of cells.
    pub fn len(&self) -> usize {
        self.cells.len()
    }

    /// Whether there is no cell.
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }
}

/// The precomputed point cells of `tile` of `index`'s layer for
/// [`encode_tile_with_cells`]: only when the layer has them at the tile's zoom, `opts`
/// are those they were made for (extent [`crate::aggregate::EXTENT`], a buffer that
/// is a multiple of the cell) and the tile holds more points than an unclustered
/// tile can (`max_tile_bytes / 9`), so that the tile made from the cells is the tile
/// made from the points. `None` otherwise: query the points.
pub fn point_cells<'a>(
    index: &'a LayerIndex,
    tile: TileCoord,
    opts: &EncodeOptions,
) -> Option<PointCells<'a>> {
    use crate::aggregate::{CELL, EXTENT};
    let points = index.point_aggregates()?;
    if opts.extent != EXTENT || i64::from(opts.buffer) % CELL != 0 || opts.buffer > opts.extent {
        return None;
    }
    let cells = points.cells_of(tile, opts.buffer)?;
    let total: u64 = cells.iter().map(|(_, _, a)| u64::from(a.count)).sum();
    if total.saturating_mul(MIN_FEATURE_BYTES as u64) <= opts.max_tile_bytes as u64 {
        return None;
    }
    let mut out = Vec::with_capacity(cells.len());
    for (kx, ky, a) in cells {
        out.push((kx, ky, a, index.get(a.rep)?));
    }
    Some(PointCells { cells: out, total })
}

/// [`encode_tile`] where some layers come as their precomputed point cells
/// (`cells[i]` for `layers[i]`, whose `features` are then not read; see
/// [`point_cells`]): the same tile as from the layers' points, made from at most a
/// few tens of thousands of cells instead.
pub fn encode_tile_with_cells(
    tile: TileCoord,
    layers: &[TileLayer<'_>],
    cells: &[Option<PointCells<'_>>],
    opts: &EncodeOptions,
) -> Result<EncodedTile, MvtError> {
    opts.validate()?;
    encode_framed(
        Frame::new(tile, opts.extent, opts.buffer),
        layers,
        cells,
        opts,
    )
}

fn encode_framed(
    frame: Frame,
    layers: &[TileLayer<'_>],
    cells: &[Option<PointCells<'_>>],
    opts: &EncodeOptions,
) -> Result<EncodedTile, MvtError> {
    let mut prepared = Vec::with_capacity(layers.len());
    for (i, l) in layers.iter().enumerate() {
        if l.name.is_empty() {
            return Err(MvtError::EmptyLayerName);
        }
        if layers[..i].iter().any(|o| o.name == l.name) {
            return Err(MvtError::DuplicateLayerName(l.name.to_owned()));
        }
        let props = resolve_props(l)?;
        let layer_cells = cells.get(i).and_then(Option::as_ref);
        let reps: Vec<FeatureRef<'_>>;
        let mut features = match layer_cells {
            Some(c) => {
                reps = c.cells.iter().map(|(_, _, _, rep)| *rep).collect();
                prepare_all(&reps, &frame)
            }
            None => prepare_all(l.features, &frame),
        };
        // The output order (by id, then part type), sorted once here rather than
        // at every thinning level tried.
        if features.len() < PAR_THRESHOLD {
            features.sort_by_key(|p| (p.feature.id(), p.geom.rank()));
        } else {
            features.par_sort_by_key(|p| (p.feature.id(), p.geom.rank()));
        }
        let has_points = features.iter().any(|p| p.geom.is_point());
        let (grids, points_total) = match layer_cells {
            Some(c) => (vec![cells_grid(c, &features, &frame, opts)], Some(c.total)),
            None => (Vec::new(), None),
        };
        prepared.push(PreparedLayer {
            name: l.name,
            props,
            features,
            has_points,
            grids,
            points_total,
        });
    }
    let (mut size_level, mut hash_level) = (0u32, 0u32);
    loop {
        let plan = LevelPlan::new(size_level, hash_level, opts);
        let level = size_level + hash_level;
        if !prepared.iter().any(|l| l.any_kept(&plan)) {
            if hash_level == 0 && size_level > 0 {
                // The size step dropped everything: thin the previous step by id instead.
                size_level -= 1;
                hash_level = 1;
                continue;
            }
            return Ok(EncodedTile {
                bytes: Vec::new(),
                level,
                features: 0,
            });
        }
        let min_count: usize = prepared
            .iter_mut()
            .map(|l| l.min_count(&plan, &frame))
            .sum();
        if min_count.saturating_mul(MIN_FEATURE_BYTES) <= opts.max_tile_bytes {
            let mut bytes = Vec::new();
            let mut features = Some(0);
            for layer in prepared.iter_mut() {
                features = features
                    .and_then(|n| Some(n + encode_layer(layer, &plan, &frame, opts, &mut bytes)?));
            }
            if let Some(features) = features.filter(|_| bytes.len() <= opts.max_tile_bytes) {
                return Ok(EncodedTile {
                    bytes,
                    level,
                    features,
                });
            }
        }
        if hash_level == 0 && size_level < SIZE_LEVELS {
            size_level += 1;
        } else {
            // Terminates: at hash level 64 nothing is kept.
            hash_level += 1;
        }
    }
}

fn resolve_props<'a>(l: &TileLayer<'a>) -> Result<Vec<(usize, &'a str)>, MvtError> {
    match l.properties {
        None => Ok(l
            .schema
            .fields
            .iter()
            .enumerate()
            .map(|(i, f)| (i, f.name.as_str()))
            .collect()),
        Some(sel) => sel
            .iter()
            .map(|name| {
                l.schema
                    .position(name)
                    .map(|i| (i, l.schema.fields[i].name.as_str()))
                    .ok_or_else(|| MvtError::UnknownProperty {
                        layer: l.name.to_owned(),
                        field: (*name).to_owned(),
                    })
            })
            .collect(),
    }
}

fn prepare_all<'a>(features: &[FeatureRef<'a>], frame: &Frame) -> Vec<Prepared<'a>> {
    if features.len() < PAR_THRESHOLD {
        let mut out = Vec::with_capacity(features.len());
        for f in features {
            prepare::prepare(*f, frame, &mut out);
        }
        return out;
    }
    features
        .par_chunks(PAR_THRESHOLD)
        .map(|chunk| {
            let mut out = Vec::with_capacity(chunk.len());
            for f in chunk {
                prepare::prepare(*f, frame, &mut out);
            }
            out
        })
        .flatten_iter()
        .collect()
}

/// A geometry type with its command integers.
type Encoded = (GeomType, Vec<u32>);

/// Features whose geometry is encoded (in parallel) before the size so far is checked
/// against the cap.
const ENCODE_CHUNK: usize = 8 * PAR_THRESHOLD;

/// Point clusters written between two checks of the size so far against the cap.
const CLUSTER_CHUNK: usize = 1024;

/// Writes one layer at one level; returns the number of features written, or `None`
/// as soon as what is written makes the tile exceed `opts.max_tile_bytes` (a level
/// that cannot fit is given up after at most one chunk too many, not encoded whole).
fn encode_layer<'a>(
    layer: &mut PreparedLayer<'a>,
    plan: &LevelPlan,
    frame: &Frame,
    opts: &EncodeOptions,
    tile: &mut Vec<u8>,
) -> Option<usize> {
    let clustering = plan.cell.is_some();
    let point_cell = plan.cell.unwrap_or(frame.extent);
    let over = |w: &LayerWriter<'_>, tile: &Vec<u8>| {
        tile.len().saturating_add(w.bytes_so_far()) > opts.max_tile_bytes
    };
    let encode_one = |p: &Prepared<'_>| -> Option<(GeomType, Vec<u32>)> {
        if !plan.keeps(p) || (clustering && p.geom.is_point()) {
            return None;
        }
        encode_geometry(&p.geom, plan, frame, point_cell)
    };
    // Output order: by id (then part type), independent of the input order (the
    // features are sorted so when prepared).
    let order: Vec<usize> = (0..layer.features.len())
        .filter(|&i| {
            let p = &layer.features[i];
            plan.keeps(p) && !(clustering && p.geom.is_point())
        })
        .collect();
    layer.ensure_grid(plan, frame);
    let cells = match layer.grid(plan) {
        Some(g) => g.complete_cells(&layer.features, frame),
        None => Vec::new(),
    };
    let layer: &PreparedLayer<'a> = layer;
    let mut w = LayerWriter::new(layer.name, opts.extent);
    let keys: &[(usize, &'a str)] = &layer.props;
    let props_of = |f: FeatureRef<'a>, skip_count: bool| {
        keys.iter()
            .filter(move |(_, k)| !(skip_count && *k == POINT_COUNT_KEY))
            .filter_map(move |&(i, k)| f.prop(i).map(|v| (k, v)))
    };
    for chunk in order.chunks(ENCODE_CHUNK) {
        let geoms: Vec<(usize, Option<Encoded>)> = if chunk.len() >= PAR_THRESHOLD {
            chunk
                .par_iter()
                .map(|&i| (i, encode_one(&layer.features[i])))
                .collect()
        } else {
            chunk
                .iter()
                .map(|&i| (i, encode_one(&layer.features[i])))
                .collect()
        };
        for (i, g) in &geoms {
            let p = &layer.features[*i];
            if let Some((ty, cmds)) = g {
                w.add_feature(
                    feature_id(p.feature),
                    props_of(p.feature, false),
                    None,
                    *ty,
                    cmds,
                );
            }
        }
        if over(&w, tile) {
            return None;
        }
    }
    for (n, (kx, ky, c)) in cells.into_iter().enumerate() {
        // Clusters too are given up on as soon as they pass the cap (what is written
        // only grows), not after every cell of the level is written.
        if n % CLUSTER_CHUNK == CLUSTER_CHUNK - 1 && over(&w, tile) {
            return None;
        }
        let rep = &layer.features[c.rep];
        if rep.prio > plan.keep {
            continue;
        }
        if c.count == 1 {
            if let Some((ty, cmds)) = encode_geometry(&rep.geom, plan, frame, point_cell) {
                w.add_feature(
                    feature_id(rep.feature),
                    props_of(rep.feature, false),
                    None,
                    ty,
                    cmds.as_slice(),
                );
            }
            continue;
        }
        let n = i128::from(c.count);
        let cell = point_cell;
        // The floored mean of integer positions lies in the cell; clamp anyway.
        let gx = (c.sx.div_euclid(n) as i64).clamp(kx * cell, kx * cell + cell - 1);
        let gy = (c.sy.div_euclid(n) as i64).clamp(ky * cell, ky * cell + cell - 1);
        let mut cmds = CommandWriter::default();
        cmds.points(&[[gx - frame.ox, gy - frame.oy]]);
        w.add_feature(
            feature_id(rep.feature),
            props_of(rep.feature, true),
            Some((POINT_COUNT_KEY, i64::try_from(c.count).unwrap_or(i64::MAX))),
            GeomType::Point,
            &cmds.out,
        );
    }
    if over(&w, tile) {
        return None;
    }
    let n = w.len();
    w.finish_into(tile);
    Some(n)
}

/// MVT ids are unsigned: negative ids are left out.
fn feature_id(f: FeatureRef<'_>) -> Option<u64> {
    u64::try_from(f.id()).ok()
}

/// Rounds a global coordinate, keeping it in the same `cell` (tile or cluster cell) as
/// its floor so that a point is drawn inside exactly one tile.
fn quantise_point_axis(g: f64, cell: i64) -> i64 {
    let f = g.floor() as i64;
    let r = g.round() as i64;
    if r.div_euclid(cell) == f.div_euclid(cell) {
        r
    } else {
        f
    }
}

/// Simplifies, quantises and encodes one prepared geometry; `None` when nothing is left.
fn encode_geometry(
    geom: &PGeom,
    plan: &LevelPlan,
    frame: &Frame,
    point_cell: i64,
) -> Option<(GeomType, Vec<u32>)> {
    let mut cmds = CommandWriter::default();
    match geom {
        PGeom::Point(g) => {
            cmds.points(&[[
                quantise_point_axis(g[0], point_cell) - frame.ox,
                quantise_point_axis(g[1], point_cell) - frame.oy,
            ]]);
            Some((GeomType::Point, cmds.out))
        }
        PGeom::Points(pts) => {
            let q: Vec<[i64; 2]> = pts
                .iter()
                .map(|g| {
                    [
                        quantise_point_axis(g[0], point_cell) - frame.ox,
                        quantise_point_axis(g[1], point_cell) - frame.oy,
                    ]
                })
                .collect();
            if q.is_empty() {
                return None;
            }
            cmds.points(&q);
            Some((GeomType::Point, cmds.out))
        }
        PGeom::Lines(parts) => {
            for part in parts {
                let s = clip::simplify(part, plan.tolerance);
                let mut q: Vec<[i64; 2]> = Vec::with_capacity(s.len());
                for p in &s {
                    let v = [p[0].round() as i64, p[1].round() as i64];
                    if q.last() != Some(&v) {
                        q.push(v);
                    }
                }
                if q.len() >= 2 {
                    cmds.line(&q);
                }
            }
            (!cmds.out.is_empty()).then_some((GeomType::LineString, cmds.out))
        }
        PGeom::Polygons(rings) => {
            let q: Vec<Vec<IntPoint>> = rings
                .iter()
                .map(|r| polygon::quantise_ring(&clip::simplify_ring(r, plan.tolerance)))
                .filter(|r| r.len() >= 3)
                .collect();
            for poly in polygon::clean_polygons(q) {
                for ring in poly {
                    let r: Vec<[i64; 2]> = ring
                        .iter()
                        .map(|p| [i64::from(p.x), i64::from(p.y)])
                        .collect();
                    cmds.ring(&r);
                }
            }
            (!cmds.out.is_empty()).then_some((GeomType::Polygon, cmds.out))
        }
    }
}

/// MVT geometry command writer with a running cursor.
#[derive(Default)]
struct CommandWriter {
    out: Vec<u32>,
    cx: i64,
    cy: i64,
}

const MOVE_TO: u32 = 1;
const LINE_TO: u32 = 2;
const CLOSE_PATH: u32 = 7;
/// Largest command count (29 bits).
const MAX_COUNT: usize = (1 << 29) - 1;

impl CommandWriter {
    fn command(&mut self, id: u32, count: usize) {
        self.out.push((id & 0x7) | ((count as u32) << 3));
    }

    fn params(&mut self, pts: &[[i64; 2]]) {
        for p in pts {
            // Coordinates are within the buffered tile, so deltas fit 32 bits.
            self.out.push(pbf::zigzag(p[0] - self.cx) as u32);
            self.out.push(pbf::zigzag(p[1] - self.cy) as u32);
            self.cx = p[0];
            self.cy = p[1];
        }
    }

    fn repeated(&mut self, id: u32, pts: &[[i64; 2]]) {
        for chunk in pts.chunks(MAX_COUNT) {
            self.command(id, chunk.len());
            self.params(chunk);
        }
    }

    fn points(&mut self, pts: &[[i64; 2]]) {
        self.repeated(MOVE_TO, pts);
    }

    fn line(&mut self, pts: &[[i64; 2]]) {
        self.repeated(MOVE_TO, &pts[..1]);
        self.repeated(LINE_TO, &pts[1..]);
    }

    fn ring(&mut self, pts: &[[i64; 2]]) {
        self.line(pts);
        self.command(CLOSE_PATH, 1);
    }
}
