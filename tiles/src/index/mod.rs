//! The in-memory index of one vector layer: features in Web Mercator (lon/lat derived),
//! held by column (see below), a packed R-tree over them, bbox and k-nearest queries
//! with ground distances in metres, and cheap patch operations for edits.
//!
//! **How a layer is held** (issue 24: at most 1.5× the size of the feature's row in
//! PostgreSQL). A feature is a row number into per-layer columns, not a heap object:
//! - ids in one array, and the rows sorted by id beside it (4 bytes per feature) for
//!   lookups by id;
//! - geometries in Web Mercator, a single point as its two coordinates inline (24
//!   bytes), any other geometry boxed with its envelope;
//! - attribute values in [`columns`] by field: numbers as arrays, repeated values as
//!   dictionary codes, distinct texts in one buffer;
//! - the rows sorted along a Hilbert curve at build, so that the R-tree is packed
//!   ([`packed`]: the rows are its leaves, about 2 bytes per feature above them) and
//!   the features of one tile lie next to each other in memory.
//!
//! Edits append the new version of a feature (indexed in a small dynamic R-tree) and
//! leave the old row unreferenced; once such rows are a quarter of the layer (or 1,024)
//! the layer is packed again.
//!
//! Readers get a [`FeatureRef`]: the id, the geometry (borrowed, or a point made on the
//! spot) and the values ([`PropRef`], borrowed from the columns).
//!
//! ```
//! use citygrid_tiles::index::{Feature, LayerIndex};
//! use citygrid_tiles::schema::{FieldType, PropRef, Schema};
//! use citygrid_geo::tms::Bbox;
//! use geo::{point, Geometry};
//!
//! let schema = Schema::new([("name", FieldType::String)]);
//! let f = Feature::from_lonlat(1, Geometry::Point(point!(x: 116.39, y: 39.91)), vec!["gate".into()]);
//! let mut idx = LayerIndex::build(schema, vec![f]).unwrap();
//! let found = idx.query_bbox_lonlat(&Bbox::new(116.0, 39.0, 117.0, 40.0));
//! assert_eq!(found.len(), 1);
//! assert_eq!(found[0].prop(0), Some(PropRef::String("gate")));
//! let near = idx.nearest_lonlat(116.39, 39.92, 1, 5_000.0).unwrap();
//! assert!((near[0].distance_m - 1110.0).abs() < 5.0);
//! idx.remove(1);
//! assert!(idx.is_empty());
//! ```

mod columns;
mod packed;

use std::borrow::Cow;
use std::collections::HashMap;

use geo::{Coord, Distance, Geodesic, Geometry, Intersects, MapCoords, Point};
use rayon::prelude::*;
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{RTree, AABB};
use thiserror::Error;

use crate::aggregate::PointAggregates;
use crate::geomutil::{self, PartRef};
use crate::schema::{PropRef, PropValue, Schema};
use citygrid_geo::tms::{self, lonlat_to_mercator, mercator_to_lonlat, Bbox};
use columns::Column;
use packed::{Box2, PackedTree};

/// One feature of a layer, as given to [`LayerIndex::build`] and
/// [`LayerIndex::upsert`] (and returned by [`LayerIndex::remove`] and
/// [`FeatureRef::to_feature`]).
///
/// The geometry is held once, in Web Mercator (what the tile encoder reads): a single
/// point as its two coordinates, any other geometry boxed with its envelope. The
/// lon/lat geometry is derived on demand by [`Feature::geom_lonlat`]; only a feature
/// beyond Web Mercator's ±85.0511° keeps its exact lon/lat copy as well.
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
    /// Any other geometry.
    Other(Box<Other>),
    /// A row no longer in the layer (replaced or removed since the layer was packed).
    Gone,
}

/// A geometry other than a single point, in Web Mercator metres, and its exact
/// lon/lat when Web Mercator cannot hold it (latitudes beyond ±85.0511° are clamped
/// there). Its envelope is held by the layer ([`LayerIndex`]'s `boxes`).
#[derive(Debug, Clone, PartialEq)]
struct Other {
    merc: Geometry<f64>,
    lonlat: Option<Box<Geometry<f64>>>,
}

impl Shape {
    fn of(merc: Geometry<f64>, lonlat: Option<Geometry<f64>>) -> Shape {
        match (merc, lonlat) {
            (Geometry::Point(p), None) => Shape::Point(p.0),
            (merc, lonlat) => Shape::Other(Box::new(Other {
                merc,
                lonlat: lonlat.map(Box::new),
            })),
        }
    }

    fn geom_merc(&self) -> Cow<'_, Geometry<f64>> {
        match self {
            Shape::Point(c) => Cow::Owned(Geometry::Point(Point(*c))),
            Shape::Other(o) => Cow::Borrowed(&o.merc),
            Shape::Gone => Cow::Owned(Geometry::GeometryCollection(Default::default())),
        }
    }

    fn point_merc(&self) -> Option<Coord<f64>> {
        match self {
            Shape::Point(c) => Some(*c),
            Shape::Other(o) => match o.merc {
                Geometry::Point(p) => Some(p.0),
                _ => None,
            },
            Shape::Gone => None,
        }
    }

    fn geom_lonlat(&self) -> Cow<'_, Geometry<f64>> {
        match self {
            Shape::Point(c) => Cow::Owned(Geometry::Point(Point(lonlat_of(*c)))),
            Shape::Other(o) => match &o.lonlat {
                Some(g) => Cow::Borrowed(g),
                None => Cow::Owned(o.merc.map_coords(lonlat_of)),
            },
            Shape::Gone => Cow::Owned(Geometry::GeometryCollection(Default::default())),
        }
    }

    fn envelope_merc(&self) -> Option<Bbox> {
        match self {
            Shape::Point(c) => Some(Bbox::new(c.x, c.y, c.x, c.y)),
            Shape::Other(o) => geomutil::envelope(&o.merc),
            Shape::Gone => None,
        }
    }

    /// The envelope as the R-trees read it.
    fn box2(&self) -> Option<Box2> {
        match self {
            Shape::Point(c) => Some([c.x, c.y, c.x, c.y]),
            Shape::Other(o) => geomutil::envelope(&o.merc).map(|e| box2(&e)),
            Shape::Gone => None,
        }
    }

    fn coords_count(&self) -> usize {
        match self {
            Shape::Point(_) => 1,
            Shape::Other(o) => geo::CoordsIter::coords_count(&o.merc),
            Shape::Gone => 0,
        }
    }

    fn heap_bytes(&self) -> usize {
        match self {
            Shape::Point(_) | Shape::Gone => 0,
            Shape::Other(o) => {
                std::mem::size_of::<Other>()
                    + geomutil::heap_bytes(&o.merc)
                    + o.lonlat.as_deref().map_or(0, |g| {
                        std::mem::size_of::<Geometry<f64>>() + geomutil::heap_bytes(g)
                    })
            }
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
        let exact = beyond_mercator(&geom_lonlat).then_some(geom_lonlat);
        Feature {
            id,
            shape: Shape::of(merc, exact),
            props,
        }
    }

    /// A feature from a Web Mercator geometry.
    pub fn from_mercator(id: i64, geom_merc: Geometry<f64>, props: Vec<PropValue>) -> Self {
        Feature {
            id,
            shape: Shape::of(geom_merc, None),
            props,
        }
    }

    /// The geometry in Web Mercator metres (EPSG:3857): borrowed, or for a single
    /// point made on the spot (16 bytes copied).
    pub fn geom_merc(&self) -> Cow<'_, Geometry<f64>> {
        self.shape.geom_merc()
    }

    /// The Web Mercator position of a single-point feature (`None` for any other).
    pub fn point_merc(&self) -> Option<Coord<f64>> {
        self.shape.point_merc()
    }

    /// The geometry in lon/lat degrees (EPSG:4326, x = lon), computed from the Web
    /// Mercator geometry (see [`lonlat_of`]): a coordinate given with up to 9 decimals
    /// reads back exactly, others within about 1e-13°.
    pub fn geom_lonlat(&self) -> Cow<'_, Geometry<f64>> {
        self.shape.geom_lonlat()
    }

    /// Envelope of the Web Mercator geometry (`None` when empty).
    pub fn envelope_merc(&self) -> Option<Bbox> {
        self.shape.envelope_merc()
    }
}

/// One feature of a [`LayerIndex`], as its queries give it: a row of the layer's
/// columns (16 bytes, `Copy`).
#[derive(Clone, Copy)]
pub struct FeatureRef<'a> {
    index: &'a LayerIndex,
    row: u32,
}

impl std::fmt::Debug for FeatureRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeatureRef")
            .field("id", &self.id())
            .field("row", &self.row)
            .finish()
    }
}

impl PartialEq for FeatureRef<'_> {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.index, other.index) && self.row == other.row
    }
}

impl<'a> FeatureRef<'a> {
    fn shape(self) -> &'a Shape {
        &self.index.shapes[self.row as usize]
    }

    /// Stable feature id (the database primary key).
    pub fn id(self) -> i64 {
        self.index.ids[self.row as usize]
    }

    /// See [`Feature::geom_merc`].
    pub fn geom_merc(self) -> Cow<'a, Geometry<f64>> {
        self.shape().geom_merc()
    }

    /// See [`Feature::point_merc`].
    pub fn point_merc(self) -> Option<Coord<f64>> {
        self.shape().point_merc()
    }

    /// See [`Feature::geom_lonlat`].
    pub fn geom_lonlat(self) -> Cow<'a, Geometry<f64>> {
        self.shape().geom_lonlat()
    }

    /// See [`Feature::envelope_merc`].
    pub fn envelope_merc(self) -> Option<Bbox> {
        self.shape().envelope_merc()
    }

    /// The envelope of [`geom_lonlat`](Self::geom_lonlat), without making that
    /// geometry: [`lonlat_of`] is monotonic on each axis, so it is the envelope of the
    /// Web Mercator one taken to lon/lat corner by corner.
    pub fn envelope_lonlat(self) -> Option<Bbox> {
        match self.shape() {
            Shape::Point(c) => {
                let p = lonlat_of(*c);
                Some(Bbox::new(p.x, p.y, p.x, p.y))
            }
            Shape::Other(o) => match &o.lonlat {
                Some(g) => geomutil::envelope(g),
                None => {
                    let e = geomutil::envelope(&o.merc)?;
                    let lo = lonlat_of(Coord {
                        x: e.min_x,
                        y: e.min_y,
                    });
                    let hi = lonlat_of(Coord {
                        x: e.max_x,
                        y: e.max_y,
                    });
                    Some(Bbox::new(lo.x, lo.y, hi.x, hi.y))
                }
            },
            Shape::Gone => None,
        }
    }

    /// Coordinates held (1 for a point).
    pub fn coords_count(self) -> usize {
        self.shape().coords_count()
    }

    /// The value of field `i` of the schema (`None` past the schema's end).
    pub fn prop(self, i: usize) -> Option<PropRef<'a>> {
        Some(self.index.columns.get(i)?.get(self.row as usize))
    }

    /// The values in schema order.
    pub fn props(self) -> impl ExactSizeIterator<Item = PropRef<'a>> + Clone + 'a {
        let row = self.row as usize;
        self.index.columns.iter().map(move |c| c.get(row))
    }

    /// An owned copy of the feature.
    pub fn to_feature(self) -> Feature {
        Feature {
            id: self.id(),
            shape: self.shape().clone(),
            props: self.props().map(|v| v.to_value()).collect(),
        }
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
    #[error("a layer index holds at most {} features", u32::MAX - 1)]
    TooManyFeatures,
    /// A malformed query argument.
    #[error("invalid query: {0}")]
    InvalidQuery(&'static str),
}

/// One result of [`LayerIndex::nearest_lonlat`].
#[derive(Debug, Clone, Copy)]
pub struct Neighbor<'a> {
    /// The feature.
    pub feature: FeatureRef<'a>,
    /// Ground (WGS84 geodesic) distance in metres from the query point.
    pub distance_m: f64,
}

/// An entry of the dynamic R-tree of rows appended since the layer was packed.
type Item = GeomWithData<Rectangle<[f64; 2]>, u32>;

/// An index of one layer, packed at build and patchable. `Send + Sync`: share it
/// behind an `Arc` and query it from many threads.
#[derive(Debug, Clone, Default)]
pub struct LayerIndex {
    schema: Schema,
    /// Feature id of each row.
    ids: Vec<i64>,
    /// Geometry of each row ([`Shape::Gone`] once replaced or removed).
    shapes: Vec<Shape>,
    /// One column of values per schema field.
    columns: Vec<Column>,
    /// The rows' envelopes rounded outwards to `f32`, for the R-tree searches to
    /// test a row without reading its geometry; empty while the layer holds only
    /// points (a point's box is the point, in its row).
    boxes: Vec<[f32; 4]>,
    /// The packed rows (`0..tree.leaves()`) sorted by id.
    by_id: Vec<u32>,
    /// Rows appended since the layer was packed, by id.
    patched: HashMap<i64, u32>,
    /// The packed R-tree over rows `0..tree.leaves()`.
    tree: PackedTree,
    /// The rows appended since, in a dynamic R-tree.
    extra: RTree<Item>,
    /// Rows in the layer (not gone).
    live: usize,
    /// Per-zoom point aggregates of a large point layer ([`crate::aggregate`]).
    points: Option<PointAggregates>,
    /// Whether [`upsert`](LayerIndex::upsert) and [`remove`](LayerIndex::remove)
    /// pack the layer again themselves when it is worth it (see
    /// [`defer_repacks`](LayerIndex::defer_repacks)).
    repack_inline: bool,
}

fn item_for(b: &Box2, row: u32) -> Item {
    GeomWithData::new(Rectangle::from_corners([b[0], b[1]], [b[2], b[3]]), row)
}

fn box2(b: &Bbox) -> Box2 {
    [b.min_x, b.min_y, b.max_x, b.max_y]
}

/// `b` rounded outwards to `f32` (the box of nothing, inverted, for `None`).
fn box32(b: Option<Box2>) -> [f32; 4] {
    let Some(b) = b else {
        return [
            f32::INFINITY,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NEG_INFINITY,
        ];
    };
    let down = |v: f64| {
        let f = v as f32;
        if f64::from(f) > v {
            f.next_down()
        } else {
            f
        }
    };
    let up = |v: f64| {
        let f = v as f32;
        if f64::from(f) < v {
            f.next_up()
        } else {
            f
        }
    };
    [down(b[0]), down(b[1]), up(b[2]), up(b[3])]
}

/// The box a search tests for row `r` (`None` for a gone row or an empty geometry):
/// a point's own position, another geometry's `f32` box (or its envelope while the
/// layer keeps no boxes).
fn leaf_box(shapes: &[Shape], boxes: &[[f32; 4]], r: usize) -> Option<Box2> {
    match &shapes[r] {
        Shape::Point(c) => Some([c.x, c.y, c.x, c.y]),
        Shape::Gone => None,
        Shape::Other(o) => match boxes.get(r) {
            Some(b) if b[0] <= b[2] => Some(b.map(f64::from)),
            Some(_) => None,
            None => geomutil::envelope(&o.merc).map(|e| box2(&e)),
        },
    }
}

/// Whether row `r`'s envelope (not only its `f32` box) touches `q`.
fn touches(shapes: &[Shape], boxes: &[[f32; 4]], r: usize, q: &Box2) -> bool {
    let Shape::Other(o) = &shapes[r] else {
        // A point's box is exact; a gone row is never offered.
        return true;
    };
    // Inside the f32 box by a step, so inside the envelope: touching that settles it.
    if let Some(b) = boxes.get(r) {
        let inner = [
            f64::from(b[0].next_up()),
            f64::from(b[1].next_up()),
            f64::from(b[2].next_down()),
            f64::from(b[3].next_down()),
        ];
        if inner[0] <= inner[2] && inner[1] <= inner[3] && packed::intersects(&inner, q) {
            return true;
        }
    }
    geomutil::envelope(&o.merc).is_some_and(|e| packed::intersects(&box2(&e), q))
}

/// Rows replaced or removed since the layer was packed, beyond which it is packed
/// again (or a quarter of the layer, when more).
const REPACK_AFTER: usize = 1024;

/// Position of a box's centre along a Hilbert curve over `world` (16 bits a side).
fn hilbert_key(b: Option<Box2>, world: &Box2) -> u64 {
    let Some(b) = b else {
        return u64::MAX;
    };
    let side = 65_535.0;
    let scale = |v: f64, lo: f64, hi: f64| -> u32 {
        if hi > lo {
            (((v - lo) / (hi - lo)) * side).clamp(0.0, side) as u32
        } else {
            0
        }
    };
    let x = scale((b[0] + b[2]) / 2.0, world[0], world[2]);
    let y = scale((b[1] + b[3]) / 2.0, world[1], world[3]);
    u64::from(hilbert_d(x, y))
}

/// The Hilbert curve index of `(x, y)` on a 65,536 × 65,536 grid.
fn hilbert_d(mut x: u32, mut y: u32) -> u32 {
    const N: u32 = 1 << 16;
    let mut d: u32 = 0;
    let mut s: u32 = N / 2;
    while s > 0 {
        let rx = u32::from(x & s > 0);
        let ry = u32::from(y & s > 0);
        d += s * s * ((3 * rx) ^ ry);
        if ry == 0 {
            if rx == 1 {
                x = N - 1 - x;
                y = N - 1 - y;
            }
            std::mem::swap(&mut x, &mut y);
        }
        s /= 2;
    }
    d
}

impl LayerIndex {
    /// Builds an index from features, validating them in parallel (rayon), sorting
    /// them along a Hilbert curve, putting their values into columns and packing the
    /// R-tree.
    ///
    /// Errors: duplicate ids, non-finite or out-of-range coordinates, a property count
    /// that differs from the schema. Field types are advisory: a value of another type
    /// (e.g. text in an integer column) is kept and encoded with its own type.
    pub fn build(schema: Schema, mut features: Vec<Feature>) -> Result<Self, IndexError> {
        if features.len() >= u32::MAX as usize {
            return Err(IndexError::TooManyFeatures);
        }
        features.par_iter().try_for_each(|f| validate(&schema, f))?;
        let world = features.par_iter().filter_map(|f| f.shape.box2()).reduce(
            || {
                [
                    f64::INFINITY,
                    f64::INFINITY,
                    f64::NEG_INFINITY,
                    f64::NEG_INFINITY,
                ]
            },
            |a, b| {
                [
                    a[0].min(b[0]),
                    a[1].min(b[1]),
                    a[2].max(b[2]),
                    a[3].max(b[3]),
                ]
            },
        );
        features.par_sort_by_cached_key(|f| hilbert_key(f.shape.box2(), &world));
        let ids: Vec<i64> = features.iter().map(|f| f.id).collect();
        let mut by_id: Vec<u32> = (0..ids.len() as u32).collect();
        by_id.par_sort_unstable_by_key(|&r| ids[r as usize]);
        if let Some(w) = by_id
            .windows(2)
            .find(|w| ids[w[0] as usize] == ids[w[1] as usize])
        {
            return Err(IndexError::DuplicateId(ids[w[0] as usize]));
        }
        // Into vectors of their own (collecting in place would keep the features'
        // 56-byte slots for 24-byte shapes).
        let (shapes, props): (Vec<Shape>, Vec<Vec<PropValue>>) =
            features.into_par_iter().map(|f| (f.shape, f.props)).unzip();
        let columns: Vec<Column> = (0..schema.len())
            .into_par_iter()
            .map(|c| Column::build(props.iter().map(move |p| &p[c])))
            .collect();
        let boxes: Vec<[f32; 4]> = if shapes.iter().all(|s| matches!(s, Shape::Point(_))) {
            Vec::new()
        } else {
            shapes.par_iter().map(|s| box32(s.box2())).collect()
        };
        // The values as given are millions of small frees: made beside the tree.
        let ((tree, ()), points) = rayon::join(
            || {
                rayon::join(
                    // Nodes from the exact envelopes (the layer's bounds are the
                    // root's): a row whose envelope meets a query box is under a
                    // node that meets it, and its f32 box only ever adds candidates
                    // that the exact test then drops.
                    || PackedTree::build(shapes.len(), |r| shapes[r].box2()),
                    || props.into_par_iter().for_each(drop),
                )
            },
            || {
                if shapes.len() < crate::aggregate::MIN_POINTS {
                    return None;
                }
                let points: Vec<(i64, Option<Coord<f64>>)> = ids
                    .iter()
                    .zip(&shapes)
                    .map(|(id, s)| (*id, s.point_merc()))
                    .collect();
                PointAggregates::build(&points)
            },
        );
        Ok(LayerIndex {
            schema,
            live: ids.len(),
            ids,
            shapes,
            columns,
            boxes,
            by_id,
            patched: HashMap::new(),
            tree,
            extra: RTree::new(),
            points,
            repack_inline: true,
        })
    }

    /// The layer schema.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Number of features.
    pub fn len(&self) -> usize {
        self.live
    }

    /// True when the layer has no feature.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    fn feature(&self, row: u32) -> FeatureRef<'_> {
        FeatureRef { index: self, row }
    }

    /// The row holding `id`.
    fn row_of(&self, id: i64) -> Option<u32> {
        if let Some(&row) = self.patched.get(&id) {
            return Some(row);
        }
        let at = self
            .by_id
            .binary_search_by_key(&id, |&r| self.ids[r as usize])
            .ok()?;
        let row = self.by_id[at];
        (!matches!(self.shapes[row as usize], Shape::Gone)).then_some(row)
    }

    /// The feature with this id.
    pub fn get(&self, id: i64) -> Option<FeatureRef<'_>> {
        self.row_of(id).map(|r| self.feature(r))
    }

    /// All features (unspecified order).
    pub fn iter(&self) -> impl Iterator<Item = FeatureRef<'_>> {
        self.shapes
            .iter()
            .enumerate()
            .filter(|(_, s)| !matches!(s, Shape::Gone))
            .map(|(r, _)| self.feature(r as u32))
    }

    /// Web Mercator bounds of all non-empty geometries (after removals, possibly
    /// larger until the layer is packed again).
    pub fn bounds_merc(&self) -> Option<Bbox> {
        let packed = self.tree.bounds();
        let extra = (self.extra.size() > 0).then(|| {
            let e = self.extra.root().envelope();
            let (lo, hi) = (e.lower(), e.upper());
            [lo[0], lo[1], hi[0], hi[1]]
        });
        let b = match (packed, extra) {
            (Some(a), Some(b)) => [
                a[0].min(b[0]),
                a[1].min(b[1]),
                a[2].max(b[2]),
                a[3].max(b[3]),
            ],
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => return None,
        };
        Some(Bbox::new(b[0], b[1], b[2], b[3]))
    }

    /// Lon/lat bounds of all non-empty geometries.
    pub fn bounds_lonlat(&self) -> Option<Bbox> {
        let b = self.bounds_merc()?;
        let lo = mercator_to_lonlat(b.min_x, b.min_y);
        let hi = mercator_to_lonlat(b.max_x, b.max_y);
        Some(Bbox::new(lo.x, lo.y, hi.x, hi.y))
    }

    /// Inserts or replaces a feature (by id) and returns the previous version.
    /// Cost: `O(log n)` (the new version goes into the dynamic R-tree), and now and
    /// then the layer is packed again (see the module docs).
    pub fn upsert(&mut self, feature: Feature) -> Result<Option<Feature>, IndexError> {
        validate(&self.schema, &feature)?;
        if self.shapes.len() >= u32::MAX as usize - 1 {
            return Err(IndexError::TooManyFeatures);
        }
        let old = self.take(feature.id, Some(feature.point_merc()));
        let row = self.shapes.len() as u32;
        if let Some(b) = feature.shape.box2() {
            self.extra.insert(item_for(&b, row));
        }
        // A new feature joins the point aggregates (a replaced one was moved in them
        // by `take`).
        if old.is_none()
            && self
                .points
                .as_mut()
                .is_some_and(|p| !p.add(feature.id, feature.point_merc()))
        {
            self.points = None;
        }
        for (column, v) in self.columns.iter_mut().zip(&feature.props) {
            column.push(v);
        }
        if self.boxes.is_empty() && matches!(feature.shape, Shape::Other(_)) {
            self.boxes = self.shapes.iter().map(|s| box32(s.box2())).collect();
        }
        if !self.boxes.is_empty() {
            columns::grow(&mut self.boxes, 1);
            self.boxes.push(box32(feature.shape.box2()));
        }
        columns::grow(&mut self.ids, 1);
        self.ids.push(feature.id);
        columns::grow(&mut self.shapes, 1);
        self.shapes.push(feature.shape);
        self.patched.insert(feature.id, row);
        self.live += 1;
        self.repack_when_worth_it();
        Ok(old)
    }

    /// Removes a feature by id and returns it.
    pub fn remove(&mut self, id: i64) -> Option<Feature> {
        let old = self.take(id, None)?;
        self.repack_when_worth_it();
        Some(old)
    }

    /// Packs the layer again when [`wants_repack`](Self::wants_repack), unless the
    /// caller packs it ([`defer_repacks`](Self::defer_repacks)).
    fn repack_when_worth_it(&mut self) {
        if self.repack_inline && self.wants_repack() {
            self.rebuild_tree();
        }
    }

    /// Whether the rows appended or left since the layer was packed reach
    /// [`REPACK_AFTER`] or a quarter of the layer, so that packing it again pays.
    pub fn wants_repack(&self) -> bool {
        let appended = self.shapes.len() - self.tree.leaves();
        let gone = self.shapes.len() - self.live;
        appended + gone > REPACK_AFTER.max(self.live / 4)
    }

    /// From now on [`upsert`](Self::upsert) and [`remove`](Self::remove) leave the
    /// packing to the caller, who asks [`wants_repack`](Self::wants_repack) and swaps
    /// in a [`packed`](Self::packed) copy: a server builds the copy under a read lock,
    /// so tiles go on being drawn meanwhile, and holds the write lock only for the
    /// swap. The copy keeps this choice.
    pub fn defer_repacks(&mut self) {
        self.repack_inline = false;
    }

    /// Takes a feature out of the layer (its row stays, gone). `replacement`: the
    /// point position of the version about to replace it, if it is replaced (the
    /// point aggregates then move it rather than remove it).
    fn take(&mut self, id: i64, replacement: Option<Option<Coord<f64>>>) -> Option<Feature> {
        let row = self.row_of(id)?;
        let shape = std::mem::replace(self.shapes.get_mut(row as usize)?, Shape::Gone);
        let old = Feature {
            id,
            props: self
                .columns
                .iter()
                .map(|c| c.get(row as usize).to_value())
                .collect(),
            shape,
        };
        if self.patched.remove(&id).is_some() {
            if let Some(b) = old.shape.box2() {
                self.extra.remove(&item_for(&b, row));
            }
        }
        self.live -= 1;
        if let Some(mut points) = self.points.take() {
            let still = |b: &Bbox| -> Vec<(i64, Option<Coord<f64>>)> {
                self.query_bbox_merc(b)
                    .into_iter()
                    .map(|f| (f.id(), f.point_merc()))
                    .collect()
            };
            let kept = match replacement {
                Some(new) => points.replace(old.id, old.point_merc(), new, still),
                None => points.remove(old.id, old.point_merc(), still),
            };
            if kept {
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

    /// Packs the layer again: drops the rows replaced or removed since it was last
    /// packed and rebuilds it from the features it holds (done by itself after many
    /// patches).
    pub fn rebuild_tree(&mut self) {
        if let Some(packed) = self.packed() {
            *self = packed;
        }
    }

    /// The layer packed again: the same features and answers, without the rows
    /// replaced or removed since it was last packed. (The build counts the point
    /// aggregates afresh: the same cells the patches kept exact.)
    ///
    /// Every feature held passed the same checks when it came in, so the build does
    /// not fail; `None` if it did all the same (the layer then stays as it is).
    pub fn packed(&self) -> Option<LayerIndex> {
        let features: Vec<Feature> = self.iter().map(FeatureRef::to_feature).collect();
        let mut packed = LayerIndex::build(self.schema.clone(), features).ok()?;
        packed.repack_inline = self.repack_inline;
        Some(packed)
    }

    /// Calls `visit` for each feature whose envelope touches `b`; stops when it
    /// returns false.
    fn search<'a>(&'a self, b: &Box2, mut visit: impl FnMut(FeatureRef<'a>) -> bool) {
        let mut go = true;
        let (shapes, boxes) = (&self.shapes, &self.boxes);
        self.tree.search(
            b,
            |r| leaf_box(shapes, boxes, r),
            |r| {
                if touches(shapes, boxes, r, b) {
                    go = visit(self.feature(r as u32));
                }
                go
            },
        );
        if !go || self.extra.size() == 0 {
            return;
        }
        let q = AABB::from_corners([b[0], b[1]], [b[2], b[3]]);
        for it in self.extra.locate_in_envelope_intersecting(&q) {
            if !visit(self.feature(it.data)) {
                return;
            }
        }
    }

    /// Features whose Web Mercator envelope touches `bbox` (for points: exactly the
    /// points inside the closed box). Lines and polygons are envelope candidates: the
    /// MVT clipper or an exact predicate does the rest. Invalid boxes give nothing.
    pub fn query_bbox_merc(&self, bbox: &Bbox) -> Vec<FeatureRef<'_>> {
        let mut out = Vec::new();
        if bbox.is_valid() {
            self.search(&box2(bbox), |f| {
                out.push(f);
                true
            });
        }
        out
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
    pub fn query_bbox_merc_small(
        &self,
        bbox: &Bbox,
        budget: &mut usize,
    ) -> Option<Vec<FeatureRef<'_>>> {
        let mut out = Vec::new();
        if !bbox.is_valid() {
            return Some(out);
        }
        let mut within = true;
        self.search(&box2(bbox), |f| {
            match budget.checked_sub(f.coords_count()) {
                Some(left) => {
                    *budget = left;
                    out.push(f);
                }
                None => within = false,
            }
            within
        });
        within.then_some(out)
    }

    /// Like [`query_bbox_merc`](Self::query_bbox_merc) for a lon/lat box. A box with
    /// `min_x > max_x` (built field by field) is read as crossing the antimeridian.
    /// Latitudes beyond ±85.05° are clamped.
    pub fn query_bbox_lonlat(&self, bbox: &Bbox) -> Vec<FeatureRef<'_>> {
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
        let mut seen: std::collections::HashSet<u32> = out.iter().map(|f| f.row).collect();
        for f in self.query_bbox_merc(&tms::lonlat_bbox_to_mercator(&west)) {
            if seen.insert(f.row) {
                out.push(f);
            }
        }
        out
    }

    /// The rows by increasing Mercator distance² of their envelope from `q`.
    fn nearest_rows(&self, q: Coord<f64>) -> impl Iterator<Item = (u32, f64)> + '_ {
        let mut packed = self
            .tree
            .nearest([q.x, q.y], |r| leaf_box(&self.shapes, &self.boxes, r))
            .map(|(r, d2)| (r as u32, d2))
            .peekable();
        let mut extra = self
            .extra
            .nearest_neighbor_iter_with_distance_2(&[q.x, q.y])
            .map(|(it, d2)| (it.data, d2))
            .peekable();
        std::iter::from_fn(move || match (packed.peek(), extra.peek()) {
            (Some(a), Some(b)) if b.1 < a.1 => extra.next(),
            (Some(_), _) => packed.next(),
            (None, _) => extra.next(),
        })
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
        for (row, d2) in self.nearest_rows(q) {
            let lower = ground_lower_bound(q.y, d2.max(0.0).sqrt());
            let worst = if best.len() >= k {
                best.last().map_or(f64::INFINITY, |n| n.distance_m)
            } else {
                f64::INFINITY
            };
            if lower > max_distance_m || lower > worst {
                break;
            }
            let feature = self.feature(row);
            let Some(d) = ground_distance(feature.shape(), q, q_ll) else {
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
                (n.distance_m, n.feature.id()) < (cand.distance_m, cand.feature.id())
            });
            if pos < k {
                best.insert(pos, cand);
                best.truncate(k);
            }
        }
        Ok(best)
    }

    /// Estimated heap + inline bytes held by the index (ids, geometries, columns,
    /// the id lookups and the R-trees).
    pub fn memory_bytes(&self) -> usize {
        let geometries: usize = self.shapes.iter().map(Shape::heap_bytes).sum();
        let columns: usize = self.columns.iter().map(Column::heap_bytes).sum();
        let patched = self.patched.capacity() * (std::mem::size_of::<(i64, u32)>() + 1);
        // rstar holds every leaf as an `RTreeNode` (the size of an inner node: 64
        // bytes, more than the 40-byte item), plus ~1/5 for inner nodes.
        let extra = self.extra.size() * std::mem::size_of::<rstar::RTreeNode<Item>>() * 6 / 5;
        std::mem::size_of::<Self>()
            + self.ids.capacity() * std::mem::size_of::<i64>()
            + self.shapes.capacity() * std::mem::size_of::<Shape>()
            + geometries
            + columns
            + self.columns.capacity() * std::mem::size_of::<Column>()
            + self.boxes.capacity() * std::mem::size_of::<[f32; 4]>()
            + self.by_id.capacity() * std::mem::size_of::<u32>()
            + patched
            + self.tree.heap_bytes()
            + extra
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

/// Checks a feature against the schema.
fn validate(schema: &Schema, f: &Feature) -> Result<(), IndexError> {
    let (merc, exact) = match &f.shape {
        Shape::Point(c) => (Cow::Owned(Geometry::Point(Point(*c))), None),
        Shape::Other(o) => (Cow::Borrowed(&o.merc), o.lonlat.as_deref()),
        Shape::Gone => return Err(IndexError::NonFinite { id: f.id }),
    };
    if !geomutil::all_finite(&merc) || exact.is_some_and(|g| !geomutil::all_finite(g)) {
        return Err(IndexError::NonFinite { id: f.id });
    }
    let lonlat_env = match exact {
        Some(g) => geomutil::envelope(g),
        None => f.shape.envelope_merc().map(|b| {
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
    Ok(())
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

/// Geodesic metres from the query point to the geometry (see `nearest_lonlat`).
fn ground_distance(shape: &Shape, q_merc: Coord<f64>, q_ll: Coord<f64>) -> Option<f64> {
    // Points: exact geodesic on the lon/lat position.
    if let Shape::Point(c) = shape {
        return Some(geodesic(q_ll, lonlat_of(*c)));
    }
    let geom = shape.geom_merc();
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
        assert_eq!(f.shape.heap_bytes(), 0);
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
    fn values_are_held_by_column_and_read_back() {
        // 3,000 points: a repeated kind (dictionary), a distinct name (one text
        // buffer), a number, nulls here and there.
        let schema = Schema::new([
            ("kind", FieldType::String),
            ("name", FieldType::String),
            ("n", FieldType::Int),
        ]);
        let props = |i: i64| {
            vec![
                PropValue::from(["park", "gate"][i as usize % 2]),
                if i % 10 == 0 {
                    PropValue::Null
                } else {
                    format!("部件{i}").into()
                },
                PropValue::Int(i * 3),
            ]
        };
        let feats: Vec<Feature> = (0..3000)
            .map(|i| {
                let (x, y) = ((i % 60) as f64 * 0.001, (i / 60) as f64 * 0.001);
                Feature::from_lonlat(i, Geometry::Point(point!(x: x, y: y)), props(i))
            })
            .collect();
        let mut idx = LayerIndex::build(schema, feats).unwrap();
        let forms: Vec<&str> = idx.columns.iter().map(Column::form).collect();
        assert_eq!(forms, ["dict8", "texts", "ints"]);
        for i in [0, 1, 17, 2999] {
            let f = idx.get(i).unwrap();
            let got: Vec<PropValue> = f.props().map(|v| v.to_value()).collect();
            assert_eq!(got, props(i), "feature {i}");
            assert_eq!(f.to_feature().props, props(i));
        }
        // A few dozen bytes per point, far from a vector of values each.
        let per_point = idx.memory_bytes() / idx.len();
        assert!(per_point < 80, "{per_point} B per point");
        // An edit appends a row; reads and lookups follow it.
        let moved = Feature::from_lonlat(
            17,
            Geometry::Point(point!(x: 0.5, y: 0.5)),
            vec!["lake".into(), PropValue::Null, PropValue::from("seventeen")],
        );
        let old = idx.upsert(moved.clone()).unwrap().unwrap();
        assert_eq!(old.props, props(17));
        assert_eq!(idx.get(17).unwrap().to_feature(), moved);
        assert_eq!(idx.len(), 3000);
        let near = idx.query_bbox_lonlat(&Bbox::new(0.49, 0.49, 0.51, 0.51));
        assert_eq!(near.iter().map(|f| f.id()).collect::<Vec<_>>(), [17]);
        assert_eq!(idx.get(16).unwrap().to_feature().props, props(16));
    }

    #[test]
    fn many_edits_pack_the_layer_again_and_keep_every_answer() {
        let schema = Schema::new([("n", FieldType::Int)]);
        let at = |i: i64, round: i64| {
            let (x, y) = (((i * 7 + round) % 50) as f64 * 0.01, (i % 40) as f64 * 0.01);
            Feature::from_lonlat(
                i,
                Geometry::Point(point!(x: x, y: y)),
                vec![PropValue::Int(i + round)],
            )
        };
        let mut idx = LayerIndex::build(schema, (0..2000).map(|i| at(i, 0)).collect()).unwrap();
        let mut expected: HashMap<i64, Feature> = (0..2000).map(|i| (i, at(i, 0))).collect();
        for round in 1..4 {
            for i in (0..2000).filter(|i| i % 3 == round % 3) {
                idx.upsert(at(i, round)).unwrap();
                expected.insert(i, at(i, round));
            }
            for i in (0..2000).filter(|i| i % 97 == round) {
                assert!(idx.remove(i).is_some());
                expected.remove(&i);
            }
        }
        // Packed again at least once: fewer rows than were ever appended.
        assert!(idx.shapes.len() < 2000 + 3 * 667, "{}", idx.shapes.len());
        assert_eq!(idx.len(), expected.len());
        let all = Bbox::new(-1.0, -1.0, 2.0, 2.0);
        let mut ids: Vec<i64> = idx.query_bbox_lonlat(&all).iter().map(|f| f.id()).collect();
        ids.sort_unstable();
        let mut want: Vec<i64> = expected.keys().copied().collect();
        want.sort_unstable();
        assert_eq!(ids, want);
        for (id, f) in &expected {
            assert_eq!(&idx.get(*id).unwrap().to_feature(), f);
        }
        let small = Bbox::new(0.095, 0.095, 0.205, 0.155);
        let mut got: Vec<i64> = idx
            .query_bbox_lonlat(&small)
            .iter()
            .map(|f| f.id())
            .collect();
        got.sort_unstable();
        let mut brute: Vec<i64> = expected
            .values()
            .filter(|f| match &*f.geom_lonlat() {
                Geometry::Point(p) => small.contains_point(p.x(), p.y()),
                _ => false,
            })
            .map(|f| f.id)
            .collect();
        brute.sort_unstable();
        assert_eq!(got, brute);
    }

    #[test]
    fn deferred_repacks_are_left_to_the_caller_and_the_copy_answers_the_same() {
        let schema = Schema::new([("n", FieldType::Int)]);
        let at = |i: i64, round: i64| {
            Feature::from_lonlat(
                i,
                Geometry::Point(
                    point!(x: ((i + round) % 50) as f64 * 0.01, y: (i % 40) as f64 * 0.01),
                ),
                vec![PropValue::Int(i * 10 + round)],
            )
        };
        let mut idx = LayerIndex::build(schema, (0..2000).map(|i| at(i, 0)).collect()).unwrap();
        idx.defer_repacks();
        assert!(!idx.wants_repack());
        for i in 0..1500 {
            idx.upsert(at(i, 1)).unwrap();
        }
        assert!(idx.remove(1999).is_some());
        // Never packed by the edits: every appended row is still there.
        assert_eq!(idx.shapes.len(), 3500);
        assert!(idx.wants_repack());
        let packed = idx.packed().unwrap();
        assert_eq!(packed.shapes.len(), 1999);
        assert!(!packed.wants_repack());
        assert!(!packed.repack_inline, "the copy keeps the deferral");
        let all = Bbox::new(-1.0, -1.0, 2.0, 2.0);
        let answer = |ix: &LayerIndex| {
            let mut v: Vec<Feature> = ix
                .query_bbox_lonlat(&all)
                .iter()
                .map(|f| f.to_feature())
                .collect();
            v.sort_by_key(|f| f.id);
            v
        };
        assert_eq!(answer(&packed), answer(&idx));
        assert_eq!(packed.get(7).unwrap().to_feature(), at(7, 1));
        assert!(packed.get(1999).is_none());
    }

    #[test]
    fn the_lonlat_envelope_is_the_derived_geometrys() {
        use rand::{rngs::StdRng, Rng, SeedableRng};
        let mut rng = StdRng::seed_from_u64(99);
        let mut rnd = || rng.gen::<f64>();
        let feats: Vec<Feature> = (0..300)
            .map(|i| {
                let (x, y) = (114.0 + rnd(), 30.0 + rnd());
                let g = match i % 3 {
                    0 => Geometry::Point(point!(x: x, y: y)),
                    1 => Geometry::LineString(line_string![
                        (x: x, y: y), (x: x + rnd() * 0.01, y: y - rnd() * 0.01), (x: x - 0.003, y: y + 0.002)
                    ]),
                    _ => Geometry::Polygon(polygon![
                        (x: x, y: y), (x: x + 0.01, y: y), (x: x + 0.004, y: y + rnd() * 0.01)
                    ]),
                };
                Feature::from_lonlat(i, g, vec![])
            })
            .chain([Feature::from_lonlat(
                1000,
                Geometry::LineString(line_string![(x: 10.0, y: 80.0), (x: 10.5, y: 88.5)]),
                vec![],
            )])
            .collect();
        let idx = LayerIndex::build(Schema::default(), feats).unwrap();
        for f in idx.iter() {
            let want = geomutil::envelope(&f.geom_lonlat());
            assert_eq!(f.envelope_lonlat(), want, "feature {}", f.id());
        }
    }

    #[test]
    fn f32_boxes_never_widen_an_answer() {
        // A square whose east edge is at x = 1,000,000.3 m: the f32 steps there are
        // 0.125 m, so its f32 box reaches past the edge.
        let square = |id: i64, x0: f64, x1: f64| {
            Feature::from_mercator(
                id,
                Geometry::Polygon(polygon![
                    (x: x0, y: 0.0), (x: x1, y: 0.0), (x: x1, y: 10.0), (x: x0, y: 10.0)
                ]),
                vec![],
            )
        };
        let point = Feature::from_mercator(2, Geometry::Point(point!(x: 5.0, y: 5.0)), vec![]);
        let mut idx =
            LayerIndex::build(Schema::default(), vec![square(1, 1e6, 1_000_000.3), point]).unwrap();
        assert!(!idx.boxes.is_empty());
        // The layer's bounds are exact, not the f32 boxes'.
        assert_eq!(idx.bounds_merc().map(|b| b.max_x), Some(1_000_000.3));
        let ids = |found: Vec<FeatureRef<'_>>| found.iter().map(|f| f.id()).collect::<Vec<_>>();
        let beside = Bbox::new(1_000_000.31, 0.0, 1_000_001.0, 1.0);
        assert!(idx.query_bbox_merc(&beside).is_empty());
        let touching = Bbox::new(1_000_000.3, 0.0, 1_000_001.0, 1.0);
        assert_eq!(ids(idx.query_bbox_merc(&touching)), [1]);
        let mut budget = 100;
        assert_eq!(
            idx.query_bbox_merc_small(&beside, &mut budget).map(ids),
            Some(vec![])
        );
        // Nearest: the box is only a lower bound; the distance is the geometry's.
        let n = idx.nearest_lonlat(0.0, 0.0, 1, 1e7).unwrap();
        assert_eq!(n[0].feature.id(), 2);
        // An edit keeps the boxes in step.
        idx.upsert(square(3, 2e6, 2_000_000.3)).unwrap();
        assert!(idx
            .query_bbox_merc(&Bbox::new(2_000_000.31, 0.0, 2_000_001.0, 1.0))
            .is_empty());
        assert_eq!(
            ids(idx.query_bbox_merc(&Bbox::new(1_999_999.0, 0.0, 2_000_000.0, 1.0))),
            [3]
        );
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
        assert_eq!((n[0].feature.id(), n[0].distance_m), (11, 0.0));
        assert_eq!(n[1].feature.id(), 10);
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
        assert_eq!((n[0].feature.id(), n[0].distance_m), (12, 0.0));
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
        use rand::{rngs::StdRng, Rng, SeedableRng};
        let mut rng = StdRng::seed_from_u64(12345);
        let mut rnd = || rng.gen::<f64>();
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
        let got_ids: Vec<i64> = got.iter().map(|n| n.feature.id()).collect();
        assert_eq!(got_ids, want);
    }
}
