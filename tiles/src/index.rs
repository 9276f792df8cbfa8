//! The in-memory index of one vector layer: features in Web Mercator (lon/lat derived), an
//! R-tree of their Web Mercator envelopes (bulk loaded), bbox and k-nearest queries with
//! ground distances in metres, and cheap patch operations for edits.
//!
//! ```
//! use citygrid_tiles::index::{Feature, LayerIndex};
//! use citygrid_tiles::schema::{FieldType, PropValue, Schema};
//! use citygrid_geo::tms::Bbox;
//! use geo::{point, Geometry};
//!
//! let schema = Schema::new([("name", FieldType::String)]);
//! let f = Feature::from_lonlat(1, Geometry::Point(point!(x: 116.39, y: 39.91)), vec!["gate".into()]);
//! let mut idx = LayerIndex::build(schema, vec![f]).unwrap();
//! assert_eq!(idx.query_bbox_lonlat(&Bbox::new(116.0, 39.0, 117.0, 40.0)).len(), 1);
//! let near = idx.nearest_lonlat(116.39, 39.92, 1, 5_000.0).unwrap();
//! assert!((near[0].distance_m - 1110.0).abs() < 5.0);
//! idx.remove(1);
//! assert!(idx.is_empty());
//! ```

use std::borrow::Cow;
use std::collections::HashMap;

use geo::{Coord, Distance, Geodesic, Geometry, Intersects, MapCoords, Point};
use rayon::prelude::*;
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{RTree, AABB};
use thiserror::Error;

use crate::aggregate::PointAggregates;
use crate::geomutil::{self, PartRef};
use crate::schema::{PropValue, Schema};
use citygrid_geo::tms::{self, lonlat_to_mercator, mercator_to_lonlat, Bbox};

/// One feature of a layer.
///
/// The geometry is held once, in Web Mercator (what the tile encoder reads): a single
/// point as its two coordinates, any other geometry boxed. The lon/lat geometry is
/// derived on demand by [`Feature::geom_lonlat`]; only a feature beyond Web
/// Mercator's ±85.0511° keeps its exact lon/lat copy as well.
#[derive(Debug, Clone, PartialEq)]
pub struct Feature {
    /// Stable feature id (the database primary key).
    pub id: i64,
    shape: Shape,
    /// Values in schema order (`Null` where missing).
    pub props: Vec<PropValue>,
}

/// How a feature's geometry is held: 24 bytes inline.
#[derive(Debug, Clone, PartialEq)]
enum Shape {
    /// A single point in Web Mercator metres (no 56-byte `Geometry` enum).
    Point(Coord<f64>),
    /// Any other geometry in Web Mercator metres, and its exact lon/lat when Web
    /// Mercator cannot hold it (latitudes beyond ±85.0511° are clamped there).
    Other {
        merc: Box<Geometry<f64>>,
        lonlat: Option<Box<Geometry<f64>>>,
    },
}

impl Shape {
    fn of(merc: Geometry<f64>) -> Shape {
        match merc {
            Geometry::Point(p) => Shape::Point(p.0),
            g => Shape::Other {
                merc: Box::new(g),
                lonlat: None,
            },
        }
    }
}

/// Web Mercator metres to lon/lat degrees, snapped to the nearest 1e-9° when within
/// 1e-11° of it, so that a coordinate given with up to 9 decimals reads back exactly
/// as given (the round trip through Web Mercator differs from it in the last bits).
///
/// ```
/// use citygrid_tiles::index::lonlat_of;
/// use citygrid_geo::tms::lonlat_to_mercator;
/// let c = lonlat_of(lonlat_to_mercator(116.39, 39.91));
/// assert_eq!((c.x, c.y), (116.39, 39.91));
/// ```
pub fn lonlat_of(c: Coord<f64>) -> Coord<f64> {
    let ll = mercator_to_lonlat(c.x, c.y);
    Coord {
        x: snap_degrees(ll.x),
        y: snap_degrees(ll.y),
    }
}

fn snap_degrees(v: f64) -> f64 {
    let s = (v * 1e9).round() / 1e9;
    if (s - v).abs() <= 1e-11 {
        s
    } else {
        v
    }
}

fn beyond_mercator(g: &Geometry<f64>) -> bool {
    geomutil::envelope(g).is_some_and(|b| {
        b.min_y < -tms::MAX_LATITUDE || b.max_y > tms::MAX_LATITUDE || !b.min_y.is_finite()
    }) || !geomutil::all_finite(g)
}

impl Feature {
    /// A feature from a lon/lat geometry; the Web Mercator geometry is computed
    /// (latitudes clamped to ±85.0511°; such a feature keeps its exact lon/lat too).
    pub fn from_lonlat(id: i64, geom_lonlat: Geometry<f64>, props: Vec<PropValue>) -> Self {
        let merc = geom_lonlat.map_coords(|c| lonlat_to_mercator(c.x, c.y));
        let shape = if beyond_mercator(&geom_lonlat) {
            Shape::Other {
                merc: Box::new(merc),
                lonlat: Some(Box::new(geom_lonlat)),
            }
        } else {
            Shape::of(merc)
        };
        Feature { id, shape, props }
    }

    /// A feature from a Web Mercator geometry.
    pub fn from_mercator(id: i64, geom_merc: Geometry<f64>, props: Vec<PropValue>) -> Self {
        Feature {
            id,
            shape: Shape::of(geom_merc),
            props,
        }
    }

    /// The geometry in Web Mercator metres (EPSG:3857): borrowed, or for a single
    /// point made on the spot (16 bytes copied).
    pub fn geom_merc(&self) -> Cow<'_, Geometry<f64>> {
        match &self.shape {
            Shape::Point(c) => Cow::Owned(Geometry::Point(Point(*c))),
            Shape::Other { merc, .. } => Cow::Borrowed(merc),
        }
    }

    /// The Web Mercator position of a single-point feature (`None` for any other).
    pub fn point_merc(&self) -> Option<Coord<f64>> {
        match &self.shape {
            Shape::Point(c) => Some(*c),
            Shape::Other { merc, .. } => match **merc {
                Geometry::Point(p) => Some(p.0),
                _ => None,
            },
        }
    }

    /// The geometry in lon/lat degrees (EPSG:4326, x = lon), computed from the Web
    /// Mercator geometry (see [`lonlat_of`]): a coordinate given with up to 9 decimals
    /// reads back exactly, others within about 1e-13°.
    pub fn geom_lonlat(&self) -> Cow<'_, Geometry<f64>> {
        match &self.shape {
            Shape::Point(c) => Cow::Owned(Geometry::Point(Point(lonlat_of(*c)))),
            Shape::Other {
                lonlat: Some(g), ..
            } => Cow::Borrowed(g),
            Shape::Other { merc, lonlat: None } => Cow::Owned(merc.map_coords(lonlat_of)),
        }
    }

    /// Envelope of the Web Mercator geometry (`None` when empty).
    pub fn envelope_merc(&self) -> Option<Bbox> {
        match &self.shape {
            Shape::Point(c) => Some(Bbox::new(c.x, c.y, c.x, c.y)),
            Shape::Other { merc, .. } => geomutil::envelope(merc),
        }
    }

    /// Coordinates held (1 for a point).
    fn coords_count(&self) -> usize {
        match &self.shape {
            Shape::Point(_) => 1,
            Shape::Other { merc, .. } => geo::CoordsIter::coords_count(&**merc),
        }
    }

    fn heap_bytes(&self) -> usize {
        let boxed =
            |g: &Geometry<f64>| std::mem::size_of::<Geometry<f64>>() + geomutil::heap_bytes(g);
        let geometry = match &self.shape {
            Shape::Point(_) => 0,
            Shape::Other { merc, lonlat } => boxed(merc) + lonlat.as_deref().map_or(0, boxed),
        };
        geometry
            + self.props.capacity() * std::mem::size_of::<PropValue>()
            + self.props.iter().map(PropValue::heap_bytes).sum::<usize>()
    }
}

/// Why a feature cannot enter an index, or a query is malformed.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum IndexError {
    /// Two features share an id.
    #[error("feature id {0} appears more than once; ids must be unique within a layer")]
    DuplicateId(i64),
    /// NaN or infinite coordinates.
    #[error("feature {id} has NaN or infinite coordinates")]
    NonFinite {
        /// Feature id.
        id: i64,
    },
    /// A lon/lat coordinate outside ±180° / ±90°.
    #[error("feature {id} has lon/lat coordinates outside ±180°/±90°; is it really EPSG:4326?")]
    OutOfRange {
        /// Feature id.
        id: i64,
    },
    /// The number of properties differs from the schema.
    #[error("feature {id} has {got} properties but the layer schema has {expected} fields")]
    PropCount {
        /// Feature id.
        id: i64,
        /// Schema length.
        expected: usize,
        /// Property count.
        got: usize,
    },
    /// More features than the index can address.
    #[error("a layer index holds at most {} features", u32::MAX)]
    TooManyFeatures,
    /// A malformed query argument.
    #[error("invalid query: {0}")]
    InvalidQuery(&'static str),
}

/// One result of [`LayerIndex::nearest_lonlat`].
#[derive(Debug, Clone, Copy)]
pub struct Neighbor<'a> {
    /// The feature.
    pub feature: &'a Feature,
    /// Ground (WGS84 geodesic) distance in metres from the query point.
    pub distance_m: f64,
}

type Item = GeomWithData<Rectangle<[f64; 2]>, u32>;

/// An immutable-by-default, patchable index of one layer. `Send + Sync`: share it behind
/// an `Arc` and query it from many threads.
#[derive(Debug, Clone, Default)]
pub struct LayerIndex {
    schema: Schema,
    slots: Vec<Option<Feature>>,
    free: Vec<u32>,
    by_id: HashMap<i64, u32>,
    tree: RTree<Item>,
    /// Per-zoom point aggregates of a large point layer ([`crate::aggregate`]).
    points: Option<PointAggregates>,
}

fn item_for(env: &Bbox, slot: u32) -> Item {
    GeomWithData::new(
        Rectangle::from_corners([env.min_x, env.min_y], [env.max_x, env.max_y]),
        slot,
    )
}

fn aabb(b: &Bbox) -> AABB<[f64; 2]> {
    AABB::from_corners([b.min_x, b.min_y], [b.max_x, b.max_y])
}

impl LayerIndex {
    /// Builds an index from features, validating them and computing envelopes in
    /// parallel (rayon), then bulk-loading the R-tree.
    ///
    /// Errors: duplicate ids, non-finite or out-of-range coordinates, a property count
    /// that differs from the schema. Field types are advisory: a value of another type
    /// (e.g. text in an integer column) is kept and encoded with its own type.
    pub fn build(schema: Schema, features: Vec<Feature>) -> Result<Self, IndexError> {
        if features.len() >= u32::MAX as usize {
            return Err(IndexError::TooManyFeatures);
        }
        let envs: Vec<Option<Bbox>> = features
            .par_iter()
            .map(|f| validate(&schema, f))
            .collect::<Result<_, _>>()?;
        let mut by_id = HashMap::with_capacity(features.len());
        for (i, f) in features.iter().enumerate() {
            // `i < u32::MAX` was checked above.
            if by_id.insert(f.id, i as u32).is_some() {
                return Err(IndexError::DuplicateId(f.id));
            }
        }
        let mut features = features;
        share_texts(&mut features, schema.len());
        let items: Vec<Item> = envs
            .iter()
            .enumerate()
            .filter_map(|(i, e)| e.as_ref().map(|e| item_for(e, i as u32)))
            .collect();
        let (tree, points) = rayon::join(
            || RTree::bulk_load(items),
            || {
                if features.len() < crate::aggregate::MIN_POINTS {
                    return None;
                }
                let points: Vec<(i64, Option<Coord<f64>>)> =
                    features.iter().map(|f| (f.id, f.point_merc())).collect();
                PointAggregates::build(&points)
            },
        );
        Ok(LayerIndex {
            schema,
            slots: features.into_iter().map(Some).collect(),
            free: Vec::new(),
            by_id,
            tree,
            points,
        })
    }

    /// The layer schema.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Number of features.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// True when the layer has no feature.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// The feature with this id.
    pub fn get(&self, id: i64) -> Option<&Feature> {
        let slot = *self.by_id.get(&id)?;
        self.slots.get(slot as usize)?.as_ref()
    }

    /// All features (unspecified order).
    pub fn iter(&self) -> impl Iterator<Item = &Feature> {
        self.slots.iter().flatten()
    }

    /// Web Mercator bounds of all non-empty geometries.
    pub fn bounds_merc(&self) -> Option<Bbox> {
        if self.tree.size() == 0 {
            return None;
        }
        let e = self.tree.root().envelope();
        let (lo, hi) = (e.lower(), e.upper());
        Some(Bbox::new(lo[0], lo[1], hi[0], hi[1]))
    }

    /// Lon/lat bounds of all non-empty geometries.
    pub fn bounds_lonlat(&self) -> Option<Bbox> {
        let b = self.bounds_merc()?;
        let lo = mercator_to_lonlat(b.min_x, b.min_y);
        let hi = mercator_to_lonlat(b.max_x, b.max_y);
        Some(Bbox::new(lo.x, lo.y, hi.x, hi.y))
    }

    /// Inserts or replaces a feature (by id) and returns the previous version.
    /// Cost: `O(log n)` R-tree update.
    pub fn upsert(&mut self, feature: Feature) -> Result<Option<Feature>, IndexError> {
        let env = validate(&self.schema, &feature)?;
        let old = self.remove(feature.id);
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                if self.slots.len() >= u32::MAX as usize {
                    return Err(IndexError::TooManyFeatures);
                }
                self.slots.push(None);
                (self.slots.len() - 1) as u32
            }
        };
        if let Some(e) = env {
            self.tree.insert(item_for(&e, slot));
        }
        if self
            .points
            .as_mut()
            .is_some_and(|p| !p.add(feature.id, feature.point_merc()))
        {
            self.points = None;
        }
        self.by_id.insert(feature.id, slot);
        if let Some(s) = self.slots.get_mut(slot as usize) {
            *s = Some(feature);
        }
        Ok(old)
    }

    /// Removes a feature by id and returns it.
    pub fn remove(&mut self, id: i64) -> Option<Feature> {
        let slot = self.by_id.remove(&id)?;
        let old = self.slots.get_mut(slot as usize)?.take()?;
        if let Some(e) = old.envelope_merc() {
            self.tree.remove(&item_for(&e, slot));
        }
        self.free.push(slot);
        if let Some(mut points) = self.points.take() {
            let still = |b: &Bbox| -> Vec<(i64, Option<Coord<f64>>)> {
                self.query_bbox_merc(b)
                    .into_iter()
                    .map(|f| (f.id, f.point_merc()))
                    .collect()
            };
            if points.remove(old.id, old.point_merc(), still) {
                self.points = Some(points);
            }
        }
        Some(old)
    }

    /// The per-zoom point aggregates, if the layer has them (at least
    /// [`crate::aggregate::MIN_POINTS`] single points).
    pub fn point_aggregates(&self) -> Option<&PointAggregates> {
        self.points.as_ref()
    }

    /// Re-packs the R-tree by bulk loading (worth it after many patches).
    pub fn rebuild_tree(&mut self) {
        let items: Vec<Item> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, f)| {
                let env = f.as_ref()?.envelope_merc()?;
                Some(item_for(&env, i as u32))
            })
            .collect();
        self.tree = RTree::bulk_load(items);
    }

    /// Features whose Web Mercator envelope touches `bbox` (for points: exactly the
    /// points inside the closed box). Lines and polygons are envelope candidates: the
    /// MVT clipper or an exact predicate does the rest. Invalid boxes give nothing.
    pub fn query_bbox_merc(&self, bbox: &Bbox) -> Vec<&Feature> {
        if !bbox.is_valid() {
            return Vec::new();
        }
        self.tree
            .locate_in_envelope_intersecting(&aabb(bbox))
            .filter_map(|it| self.slots.get(it.data as usize)?.as_ref())
            .collect()
    }

    /// As [`query_bbox_merc`](Self::query_bbox_merc), but only while the features
    /// found hold at most `budget` coordinates in all (the budget is reduced by what
    /// they hold): `None` as soon as they hold more (the search stops there, so asking
    /// costs at most that much). For deciding cheaply whether a tile is small.
    ///
    /// ```
    /// use citygrid_tiles::index::{Feature, LayerIndex};
    /// use citygrid_tiles::schema::Schema;
    /// use citygrid_geo::tms::Bbox;
    /// use geo::{point, Geometry};
    ///
    /// let pts = (0..10).map(|i| Feature::from_mercator(i, Geometry::Point(point!(x: i as f64, y: 0.0)), vec![]));
    /// let idx = LayerIndex::build(Schema::default(), pts.collect()).unwrap();
    /// let all = Bbox::new(-1.0, -1.0, 100.0, 1.0);
    /// let mut budget = 12;
    /// assert_eq!(idx.query_bbox_merc_small(&all, &mut budget).map(|f| f.len()), Some(10));
    /// assert_eq!(budget, 2);
    /// assert!(idx.query_bbox_merc_small(&all, &mut 9).is_none());
    /// ```
    pub fn query_bbox_merc_small(&self, bbox: &Bbox, budget: &mut usize) -> Option<Vec<&Feature>> {
        if !bbox.is_valid() {
            return Some(Vec::new());
        }
        let mut out = Vec::new();
        for it in self.tree.locate_in_envelope_intersecting(&aabb(bbox)) {
            let Some(f) = self.slots.get(it.data as usize).and_then(Option::as_ref) else {
                continue;
            };
            let vertices = f.coords_count();
            *budget = budget.checked_sub(vertices)?;
            out.push(f);
        }
        Some(out)
    }

    /// Like [`query_bbox_merc`](Self::query_bbox_merc) for a lon/lat box. A box with
    /// `min_x > max_x` (built field by field) is read as crossing the antimeridian.
    /// Latitudes beyond ±85.05° are clamped.
    pub fn query_bbox_lonlat(&self, bbox: &Bbox) -> Vec<&Feature> {
        if bbox.min_x.is_nan()
            || bbox.max_x.is_nan()
            || bbox.min_y.is_nan()
            || bbox.max_y.is_nan()
            || bbox.min_y > bbox.max_y
        {
            return Vec::new();
        }
        if bbox.min_x <= bbox.max_x {
            return self.query_bbox_merc(&tms::lonlat_bbox_to_mercator(bbox));
        }
        let east = Bbox::new(bbox.min_x, bbox.min_y, 180.0, bbox.max_y);
        let west = Bbox::new(-180.0, bbox.min_y, bbox.max_x, bbox.max_y);
        let mut out = self.query_bbox_merc(&tms::lonlat_bbox_to_mercator(&east));
        let mut seen: std::collections::HashSet<i64> = out.iter().map(|f| f.id).collect();
        for f in self.query_bbox_merc(&tms::lonlat_bbox_to_mercator(&west)) {
            if seen.insert(f.id) {
                out.push(f);
            }
        }
        out
    }

    /// The `k` features nearest to a lon/lat point within `max_distance_m` ground metres,
    /// nearest first (ties by id), with WGS84 geodesic distances: exact for points; for
    /// lines and polygons the closest point is found in Web Mercator (conformal) and its
    /// geodesic distance taken; a point inside a polygon or on a line is at 0 m.
    ///
    /// The R-tree search stops with a provable lower bound on the ground distance
    /// (Mercator distance × cos of the highest latitude reachable, ×0.99 for the
    /// ellipsoid), so no candidate is missed except across the antimeridian.
    ///
    /// Errors: NaN/infinite lon/lat, |lat| > 90 or a NaN/negative `max_distance_m`.
    pub fn nearest_lonlat(
        &self,
        lon: f64,
        lat: f64,
        k: usize,
        max_distance_m: f64,
    ) -> Result<Vec<Neighbor<'_>>, IndexError> {
        if !lon.is_finite() || !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
            return Err(IndexError::InvalidQuery(
                "lon and lat must be finite degrees with |lat| <= 90",
            ));
        }
        if max_distance_m.is_nan() || max_distance_m < 0.0 {
            return Err(IndexError::InvalidQuery(
                "max_distance_m must be a non-negative number",
            ));
        }
        let mut best: Vec<Neighbor<'_>> = Vec::new();
        if k == 0 {
            return Ok(best);
        }
        let q_ll = Coord { x: lon, y: lat };
        let q = lonlat_to_mercator(lon, lat);
        for (item, d2) in self.tree.nearest_neighbor_iter_with_distance_2(&[q.x, q.y]) {
            let lower = ground_lower_bound(q.y, d2.max(0.0).sqrt());
            let worst = if best.len() >= k {
                best.last().map_or(f64::INFINITY, |n| n.distance_m)
            } else {
                f64::INFINITY
            };
            if lower > max_distance_m || lower > worst {
                break;
            }
            let Some(feature) = self.slots.get(item.data as usize).and_then(Option::as_ref) else {
                continue;
            };
            let Some(d) = ground_distance(feature, q, q_ll) else {
                continue;
            };
            if d > max_distance_m {
                continue;
            }
            let cand = Neighbor {
                feature,
                distance_m: d,
            };
            let pos = best.partition_point(|n| {
                (n.distance_m, n.feature.id) < (cand.distance_m, cand.feature.id)
            });
            if pos < k {
                best.insert(pos, cand);
                best.truncate(k);
            }
        }
        Ok(best)
    }

    /// Estimated heap + inline bytes held by the index (features, geometries,
    /// properties, id map and R-tree).
    pub fn memory_bytes(&self) -> usize {
        let features: usize = self.iter().map(Feature::heap_bytes).sum();
        let slots = self.slots.capacity() * std::mem::size_of::<Option<Feature>>();
        let map = self.by_id.capacity() * (std::mem::size_of::<(i64, u32)>() + 1);
        // rstar holds every leaf as an `RTreeNode` (the size of an inner node: 64
        // bytes, more than the 40-byte item), plus ~1/5 for inner nodes (at most 6
        // children per node by default).
        let tree = self.tree.size() * std::mem::size_of::<rstar::RTreeNode<Item>>() * 6 / 5;
        std::mem::size_of::<Self>()
            + features
            + slots
            + map
            + tree
            + self.free.capacity() * 4
            + self
                .points
                .as_ref()
                .map_or(0, PointAggregates::memory_bytes)
            + self
                .schema
                .fields
                .iter()
                .map(|f| f.name.capacity() + 32)
                .sum::<usize>()
    }
}

/// Makes equal texts of a column share one allocation (a column's dictionary), as
/// long as the column repeats its values: once a column has seen 4,096 texts of
/// which more than half distinct (names, addresses), it is left as it is.
fn share_texts(features: &mut [Feature], columns: usize) {
    const PROBE: usize = 4096;
    struct Column {
        dict: std::collections::HashSet<std::sync::Arc<str>>,
        seen: usize,
        on: bool,
    }
    let mut cols: Vec<Column> = (0..columns)
        .map(|_| Column {
            dict: Default::default(),
            seen: 0,
            on: true,
        })
        .collect();
    for f in features.iter_mut() {
        for (v, col) in f.props.iter_mut().zip(cols.iter_mut()) {
            let PropValue::String(s) = v else {
                continue;
            };
            if !col.on {
                continue;
            }
            col.seen += 1;
            match col.dict.get(&**s) {
                Some(shared) => *s = shared.clone(),
                None => {
                    col.dict.insert(s.clone());
                }
            }
            if col.seen == PROBE && col.dict.len() > PROBE / 2 {
                col.on = false;
                col.dict = Default::default();
            }
        }
    }
}

/// Checks a feature against the schema and returns its Mercator envelope.
fn validate(schema: &Schema, f: &Feature) -> Result<Option<Bbox>, IndexError> {
    let (merc, exact) = match &f.shape {
        Shape::Point(c) => (Cow::Owned(Geometry::Point(Point(*c))), None),
        Shape::Other { merc, lonlat } => (Cow::Borrowed(&**merc), lonlat.as_deref()),
    };
    if !geomutil::all_finite(&merc) || exact.is_some_and(|g| !geomutil::all_finite(g)) {
        return Err(IndexError::NonFinite { id: f.id });
    }
    let lonlat_env = match exact {
        Some(g) => geomutil::envelope(g),
        None => geomutil::envelope(&merc).map(|b| {
            let lo = mercator_to_lonlat(b.min_x, b.min_y);
            let hi = mercator_to_lonlat(b.max_x, b.max_y);
            Bbox::new(lo.x, lo.y, hi.x, hi.y)
        }),
    };
    if let Some(b) = lonlat_env {
        if b.min_x < -180.0 || b.max_x > 180.0 || b.min_y < -90.0 || b.max_y > 90.0 {
            return Err(IndexError::OutOfRange { id: f.id });
        }
    }
    if f.props.len() != schema.len() {
        return Err(IndexError::PropCount {
            id: f.id,
            expected: schema.len(),
            got: f.props.len(),
        });
    }
    Ok(geomutil::envelope(&merc))
}

/// A lower bound of the ground distance of any point at Mercator distance ≥ `d` from a
/// query point at Mercator `y = qy` (see [`LayerIndex::nearest_lonlat`]).
fn ground_lower_bound(qy: f64, d: f64) -> f64 {
    let y = (qy.abs() + d).min(tms::MERC_HALF_WORLD_M);
    let lat = mercator_to_lonlat(0.0, y).y;
    0.99 * d * lat.to_radians().cos().max(0.0)
}

fn geodesic(a: Coord<f64>, b: Coord<f64>) -> f64 {
    Geodesic::distance(Point(a), Point(b))
}

/// Geodesic metres from the query point to the feature (see `nearest_lonlat`).
fn ground_distance(f: &Feature, q_merc: Coord<f64>, q_ll: Coord<f64>) -> Option<f64> {
    // Points: exact geodesic on the lon/lat position.
    if let Shape::Point(c) = f.shape {
        return Some(geodesic(q_ll, lonlat_of(c)));
    }
    let geom = f.geom_merc();
    let mut only_points = true;
    let mut best_point: Option<f64> = None;
    geomutil::for_each_part(&geom, &mut |p| match p {
        PartRef::Point(c) => {
            let d = geodesic(q_ll, lonlat_of(c));
            best_point = Some(best_point.map_or(d, |b: f64| b.min(d)));
        }
        _ => only_points = false,
    });
    if only_points {
        return best_point;
    }
    if geom.intersects(&Point(q_merc)) {
        return Some(0.0);
    }
    let c = geomutil::closest_boundary_point(&geom, q_merc)?;
    let d = geodesic(q_ll, mercator_to_lonlat(c.x, c.y));
    Some(best_point.map_or(d, |b| b.min(d)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::FieldType;
    use geo::{line_string, point, polygon};

    fn schema() -> Schema {
        Schema::new([("kind", FieldType::String)])
    }

    #[test]
    fn validation_errors() {
        let bad = Feature::from_lonlat(1, Geometry::Point(point!(x: f64::NAN, y: 0.0)), vec![]);
        assert!(matches!(
            LayerIndex::build(Schema::default(), vec![bad]),
            Err(IndexError::NonFinite { id: 1 })
        ));
        let oob = Feature::from_lonlat(2, Geometry::Point(point!(x: 500.0, y: 0.0)), vec![]);
        assert!(matches!(
            LayerIndex::build(Schema::default(), vec![oob]),
            Err(IndexError::OutOfRange { id: 2 })
        ));
        let a = Feature::from_lonlat(3, Geometry::Point(point!(x: 1.0, y: 1.0)), vec![]);
        assert!(matches!(
            LayerIndex::build(Schema::default(), vec![a.clone(), a.clone()]),
            Err(IndexError::DuplicateId(3))
        ));
        assert!(matches!(
            LayerIndex::build(schema(), vec![a.clone()]),
            Err(IndexError::PropCount { .. })
        ));
        let typed = Feature {
            props: vec![PropValue::Int(1)],
            ..a
        };
        assert!(LayerIndex::build(schema(), vec![typed]).is_ok());
    }

    #[test]
    fn lonlat_is_derived_exactly_and_kept_beyond_mercator() {
        // Up to 9 decimals read back as given; the point is held without the enum.
        let f = Feature::from_lonlat(
            1,
            Geometry::Point(point!(x: 24.938_312_5, y: 60.169_857)),
            vec![],
        );
        assert_eq!(
            *f.geom_lonlat(),
            Geometry::Point(point!(x: 24.938_312_5, y: 60.169_857))
        );
        assert!(matches!(f.shape, Shape::Point(_)));
        assert_eq!(f.heap_bytes(), 0);
        // Beyond ±85.05° the Mercator geometry is clamped: the exact lon/lat is kept.
        let polar = Geometry::LineString(line_string![(x: 10.0, y: 80.0), (x: 10.5, y: 88.5)]);
        let f = Feature::from_lonlat(2, polar.clone(), vec![]);
        assert_eq!(*f.geom_lonlat(), polar);
        let pole = Feature::from_lonlat(3, Geometry::Point(point!(x: 10.0, y: 89.0)), vec![]);
        assert_eq!(
            *pole.geom_lonlat(),
            Geometry::Point(point!(x: 10.0, y: 89.0))
        );
        assert!(pole.point_merc().is_some());
        let idx = LayerIndex::build(Schema::default(), vec![f, pole]).unwrap();
        assert_eq!(idx.len(), 2);
        // Still out of range past ±90°.
        let bad = Feature::from_lonlat(4, Geometry::Point(point!(x: 10.0, y: 95.0)), vec![]);
        assert!(matches!(
            LayerIndex::build(Schema::default(), vec![bad]),
            Err(IndexError::OutOfRange { id: 4 })
        ));
    }

    #[test]
    fn repeated_texts_share_one_allocation() {
        let feats = (0..3)
            .map(|i| {
                Feature::from_lonlat(
                    i,
                    Geometry::Point(point!(x: 1.0, y: 1.0)),
                    vec![PropValue::from("park")],
                )
            })
            .collect();
        let idx = LayerIndex::build(schema(), feats).unwrap();
        let texts: Vec<&std::sync::Arc<str>> = idx
            .iter()
            .map(|f| match &f.props[0] {
                PropValue::String(s) => s,
                _ => unreachable!(),
            })
            .collect();
        assert!(
            std::sync::Arc::ptr_eq(texts[0], texts[1])
                && std::sync::Arc::ptr_eq(texts[1], texts[2])
        );
        // Each value counts its share of the one allocation.
        assert_eq!(idx.get(0).unwrap().props[0].heap_bytes(), (4 + 16) / 3);
    }

    #[test]
    fn empty_geometries_and_bad_queries() {
        let empty = Feature::from_lonlat(
            1,
            Geometry::LineString(line_string![]),
            vec![PropValue::Null],
        );
        let idx = LayerIndex::build(schema(), vec![empty]).unwrap();
        assert_eq!(idx.len(), 1);
        assert!(idx.bounds_merc().is_none());
        assert!(idx.query_bbox_merc(&Bbox::world_mercator()).is_empty());
        assert!(idx.nearest_lonlat(f64::NAN, 0.0, 3, 10.0).is_err());
        assert!(idx.nearest_lonlat(0.0, 91.0, 3, 10.0).is_err());
        assert!(idx.nearest_lonlat(0.0, 0.0, 3, f64::NAN).is_err());
        assert!(idx
            .nearest_lonlat(0.0, 0.0, 3, f64::INFINITY)
            .unwrap()
            .is_empty());
        let nan_box = Bbox {
            min_x: f64::NAN,
            min_y: 0.0,
            max_x: 1.0,
            max_y: 1.0,
        };
        assert!(idx.query_bbox_merc(&nan_box).is_empty());
        assert!(idx.query_bbox_lonlat(&nan_box).is_empty());
    }

    #[test]
    fn nearest_lines_polygons_and_patches() {
        // A road 0.01° north of the query point, a square around it, a far point.
        let road = Feature::from_lonlat(
            10,
            Geometry::LineString(line_string![(x: 9.99, y: 50.01), (x: 10.01, y: 50.01)]),
            vec!["road".into()],
        );
        let square = Feature::from_lonlat(
            11,
            Geometry::Polygon(polygon![
                (x: 9.9, y: 49.9), (x: 10.1, y: 49.9), (x: 10.1, y: 50.1), (x: 9.9, y: 50.1)
            ]),
            vec!["park".into()],
        );
        let far = Feature::from_lonlat(
            12,
            Geometry::Point(point!(x: 11.0, y: 50.0)),
            vec![PropValue::Null],
        );
        let mut idx = LayerIndex::build(schema(), vec![road, square, far]).unwrap();
        let n = idx.nearest_lonlat(10.0, 50.0, 3, 100_000.0).unwrap();
        assert_eq!(n.len(), 3);
        assert_eq!((n[0].feature.id, n[0].distance_m), (11, 0.0));
        assert_eq!(n[1].feature.id, 10);
        // 0.01° of latitude at 50°N is ≈ 1112 m on the ellipsoid.
        assert!(
            (n[1].distance_m - 1112.0).abs() < 3.0,
            "{}",
            n[1].distance_m
        );
        assert!(
            (n[2].distance_m - 71_700.0).abs() < 500.0,
            "{}",
            n[2].distance_m
        );
        assert_eq!(idx.nearest_lonlat(10.0, 50.0, 1, 1e9).unwrap().len(), 1);
        assert_eq!(idx.nearest_lonlat(10.0, 50.0, 5, 2_000.0).unwrap().len(), 2);

        let before = idx.memory_bytes();
        idx.remove(11);
        assert!(idx.memory_bytes() < before);
        let moved = Feature::from_lonlat(
            12,
            Geometry::Point(point!(x: 10.0, y: 50.0)),
            vec![PropValue::Null],
        );
        assert!(idx.upsert(moved).unwrap().is_some());
        let n = idx.nearest_lonlat(10.0, 50.0, 1, 10.0).unwrap();
        assert_eq!((n[0].feature.id, n[0].distance_m), (12, 0.0));
        assert_eq!(idx.len(), 2);
        idx.rebuild_tree();
        assert_eq!(
            idx.query_bbox_lonlat(&Bbox::new(9.0, 49.0, 11.0, 51.0))
                .len(),
            2
        );
        // Antimeridian-crossing query box built field by field.
        let across = Bbox {
            min_x: 170.0,
            min_y: -10.0,
            max_x: -170.0,
            max_y: 10.0,
        };
        assert!(idx.query_bbox_lonlat(&across).is_empty());
    }

    #[test]
    fn nearest_matches_brute_force() {
        let mut feats = Vec::new();
        let mut s = 12345u64;
        let mut rnd = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64
        };
        for id in 0..2000 {
            let (lon, lat) = (rnd() * 2.0 - 1.0, 60.0 + rnd() * 2.0);
            feats.push(Feature::from_lonlat(
                id,
                Geometry::Point(point!(x: lon, y: lat)),
                vec![],
            ));
        }
        let idx = LayerIndex::build(Schema::default(), feats.clone()).unwrap();
        let got = idx.nearest_lonlat(0.0, 61.0, 10, 1e7).unwrap();
        let mut all: Vec<(f64, i64)> = feats
            .iter()
            .map(|f| {
                let c = match &*f.geom_lonlat() {
                    Geometry::Point(p) => p.0,
                    _ => unreachable!(),
                };
                (geodesic(Coord { x: 0.0, y: 61.0 }, c), f.id)
            })
            .collect();
        all.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let want: Vec<i64> = all.iter().take(10).map(|x| x.1).collect();
        let got_ids: Vec<i64> = got.iter().map(|n| n.feature.id).collect();
        assert_eq!(got_ids, want);
    }
}
