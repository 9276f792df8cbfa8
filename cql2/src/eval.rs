//! Evaluating a parsed CQL2 [`Expr`] against an in-memory [`Feature`], with SQL's
//! three-valued logic: a comparison with a missing value is *unknown*, `NOT
//! unknown` is unknown, and only features for which the filter is *true* match.
//! Spatial predicates are planar in lon/lat (as PostGIS on `geometry(…, 4326)`),
//! `S_DWITHIN` is in ground metres.
//!
//! The work of one request's evaluation is metered ([`Meter`]): each feature looked
//! at, each character a `LIKE` compares and each pair of vertices a spatial test may
//! compare costs units, and the evaluation stops when the request's budget ([`MAX_WORK`]) is spent
//! or when the request is cancelled (it timed out or its client went away).

use std::cmp::Ordering;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering as AtomicOrdering};

use citygrid_tiles::index::FeatureRef;
use citygrid_tiles::schema::PropRef;
use geo::{BoundingRect, Coord, CoordsIter, Geometry, Intersects, Rect, Relate};

use crate::like::{Fuel, OutOfFuel};
use crate::temporal;
use crate::text::{Bound, TemporalOperand};
use crate::text::{CmpOp, Expr, GeomOperand, Property, Scalar, SpatialOp};
use citygrid_geo::measure::ground_distance_m;

/// The work one request's filter may do, in units (about a nanosecond or two
/// each): far above what a real question over a city's layers needs, far below
/// what a hostile filter would take.
pub const MAX_WORK: u64 = 250_000_000;

/// Units per pair of vertices a spatial test may compare (the exact tests of `geo`
/// and the ground distance are at most quadratic in the vertices of the two sides).
const SPATIAL_UNITS_PER_PAIR: u64 = 4;
/// The same for the relations built from the DE-9IM matrix (within, touches, …),
/// which build a whole topology graph.
const RELATE_UNITS_PER_PAIR: u64 = 16;

/// The units charged for a spatial test of `op` between geometries of `n` and `m`
/// vertices: an upper bound of its work, (n × m + n + m) pairs.
fn spatial_cost(op: SpatialOp, n: usize, m: usize) -> u64 {
    let (n, m) = (n as u64, m as u64);
    let pairs = n.saturating_mul(m).saturating_add(n).saturating_add(m);
    let per_pair = match op {
        SpatialOp::Intersects | SpatialOp::Disjoint | SpatialOp::DWithin => SPATIAL_UNITS_PER_PAIR,
        _ => RELATE_UNITS_PER_PAIR,
    };
    pairs.saturating_mul(per_pair)
}

/// Why an evaluation stopped before the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Stopped {
    /// The work budget is spent.
    #[error("the filter needs more work than one request may do ({0} units): narrow it with a bbox, fewer or shorter LIKE patterns, or simpler geometries")]
    Budget(u64),
    /// The request is gone (timed out, or the client closed the connection).
    #[error("the request was cancelled (it timed out or the client went away)")]
    Cancelled,
}

const RUNNING: u8 = 0;
const OVER_BUDGET: u8 = 1;
const CANCELLED: u8 = 2;

/// The work meter of one request's evaluation, shared by the threads that evaluate
/// it and by the request (which cancels it when it is dropped: [`CancelOnDrop`]).
#[derive(Debug)]
pub struct Meter {
    budget: u64,
    used: AtomicU64,
    state: AtomicU8,
}

impl Meter {
    /// A meter with a budget of `budget` units.
    pub fn new(budget: u64) -> Meter {
        Meter {
            budget,
            used: AtomicU64::new(0),
            state: AtomicU8::new(RUNNING),
        }
    }

    /// Stops the evaluation at the next feature (the request is gone).
    pub fn cancel(&self) {
        let _ = self.state.compare_exchange(
            RUNNING,
            CANCELLED,
            AtomicOrdering::Relaxed,
            AtomicOrdering::Relaxed,
        );
    }

    /// Whether the evaluation has to stop.
    pub fn is_stopped(&self) -> bool {
        self.state.load(AtomicOrdering::Relaxed) != RUNNING
    }

    /// The units spent.
    pub fn used(&self) -> u64 {
        self.used.load(AtomicOrdering::Relaxed)
    }

    fn remaining(&self) -> u64 {
        self.budget.saturating_sub(self.used())
    }

    fn charge(&self, units: u64, out_of_fuel: bool) {
        let used = self
            .used
            .fetch_add(units, AtomicOrdering::Relaxed)
            .saturating_add(units);
        if out_of_fuel || used > self.budget {
            let _ = self.state.compare_exchange(
                RUNNING,
                OVER_BUDGET,
                AtomicOrdering::Relaxed,
                AtomicOrdering::Relaxed,
            );
        }
    }

    /// `Ok` when the evaluation ran to the end; otherwise why it stopped (its
    /// results are then incomplete and must not be answered).
    pub fn outcome(&self) -> Result<(), Stopped> {
        match self.state.load(AtomicOrdering::Relaxed) {
            RUNNING => Ok(()),
            OVER_BUDGET => Err(Stopped::Budget(self.budget)),
            _ => Err(Stopped::Cancelled),
        }
    }
}

/// Cancels a [`Meter`] when dropped: held by a request handler's future, so that
/// work still queued or running on the thread pool stops when the request times out
/// (the timeout drops the future) or its client disconnects.
#[derive(Debug)]
pub struct CancelOnDrop(pub std::sync::Arc<Meter>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// Whether `f` satisfies `expr`, charging the work to `meter`; `false` once the
/// meter has stopped (check [`Meter::outcome`] after the loop).
pub fn matches(expr: &Expr, f: FeatureRef<'_>, meter: &Meter) -> bool {
    if meter.is_stopped() {
        return false;
    }
    let mut fuel = Fuel::new(meter.remaining());
    let r = eval(expr, f, &mut fuel);
    // one unit for looking at the feature at all
    meter.charge(fuel.used() + 1, r.is_err());
    r == Ok(Some(true))
}

/// A value seen by the evaluator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// Missing.
    Null,
    /// Text.
    Text(&'a str),
    /// Integer.
    Int(i64),
    /// Float.
    Num(f64),
    /// Boolean.
    Bool(bool),
    /// An instant (µs since the epoch, UTC): a `TIMESTAMP` literal.
    Instant(i64),
    /// A day (days since 1970-01-01): a `DATE` literal.
    Date(i32),
}

/// The value of property `p` of `f`.
pub fn prop<'a>(f: FeatureRef<'a>, p: Property) -> Value<'a> {
    match p {
        Property::Id => Value::Int(f.id()),
        Property::Geometry => Value::Null,
        Property::Field { index, .. } => match f.prop(index) {
            Some(PropRef::String(s)) => Value::Text(s),
            Some(PropRef::Int(i)) => Value::Int(i),
            Some(PropRef::Double(d)) => Value::Num(d),
            Some(PropRef::Bool(b)) => Value::Bool(b),
            Some(PropRef::Null) | None => Value::Null,
        },
    }
}

fn scalar<'a>(s: &'a Scalar, f: FeatureRef<'a>) -> Value<'a> {
    match s {
        Scalar::Prop(p) => prop(f, *p),
        Scalar::Text(t) => Value::Text(t),
        Scalar::Number(n) => Value::Num(*n),
        Scalar::Bool(b) => Value::Bool(*b),
        Scalar::Timestamp(t) => Value::Instant(*t),
        Scalar::Date(d) => Value::Date(*d),
    }
}

/// Compares two values; `None` when either is missing or the types differ.
pub fn compare(a: Value<'_>, b: Value<'_>) -> Option<Ordering> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(&y)),
        (Value::Int(x), Value::Num(y)) => (x as f64).partial_cmp(&y),
        (Value::Num(x), Value::Int(y)) => x.partial_cmp(&(y as f64)),
        (Value::Num(x), Value::Num(y)) => x.partial_cmp(&y),
        (Value::Text(x), Value::Text(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(&y)),
        // time: a property's text read as a timestamp (offset applied) or a date
        (Value::Instant(x), Value::Instant(y)) => Some(x.cmp(&y)),
        (Value::Date(x), Value::Date(y)) => Some(x.cmp(&y)),
        (Value::Text(s), Value::Instant(t)) => temporal::parse_timestamp(s).map(|x| x.cmp(&t)),
        (Value::Instant(t), Value::Text(s)) => temporal::parse_timestamp(s).map(|y| t.cmp(&y)),
        (Value::Text(s), Value::Date(d)) => temporal::text_date(s).map(|x| x.cmp(&d)),
        (Value::Date(d), Value::Text(s)) => temporal::text_date(s).map(|y| d.cmp(&y)),
        (Value::Instant(t), Value::Date(d)) => Some(t.cmp(&temporal::date_start(d))),
        (Value::Date(d), Value::Instant(t)) => Some(temporal::date_start(d).cmp(&t)),
        _ => None,
    }
}

/// The interval of a value seen as time: a text value read as a date (its whole
/// day) or a timestamp (one instant); `None` for anything else.
fn value_interval(v: Value<'_>) -> Option<(i64, i64)> {
    match v {
        Value::Text(s) => temporal::text_interval(s),
        Value::Instant(t) => Some((t, t)),
        Value::Date(d) => Some(temporal::date_interval(d)),
        _ => None,
    }
}

fn bound_value(b: &Bound, f: FeatureRef<'_>, open: i64) -> Option<(i64, i64)> {
    match b {
        Bound::Open => Some((open, open)),
        Bound::Prop(p) => value_interval(prop(f, *p)),
        Bound::Instant(t) => Some((*t, *t)),
        Bound::Date(d) => Some(temporal::date_interval(*d)),
    }
}

/// The interval of a temporal operand for feature `f`; `None` when a property is
/// missing or is not a time.
fn temporal_interval(o: &TemporalOperand, f: FeatureRef<'_>) -> Option<(i64, i64)> {
    match o {
        TemporalOperand::Prop(p) => value_interval(prop(f, *p)),
        TemporalOperand::Instant(t) => Some((*t, *t)),
        TemporalOperand::Date(d) => Some(temporal::date_interval(*d)),
        TemporalOperand::Interval(start, end) => {
            let (s, _) = bound_value(start, f, i64::MIN)?;
            let (_, e) = bound_value(end, f, i64::MAX)?;
            (s <= e).then_some((s, e))
        }
    }
}

fn eval(expr: &Expr, f: FeatureRef<'_>, fuel: &mut Fuel) -> Result<Option<bool>, OutOfFuel> {
    fuel.spend(1)?;
    Ok(match expr {
        Expr::Bool(b) => Some(*b),
        Expr::And(items) => {
            let mut unknown = false;
            // Attribute tests first, exact geometry tests last: the result of a
            // three-valued AND does not depend on the order, the cost does.
            for spatial_pass in [false, true] {
                for e in items.iter().filter(|e| is_spatial(e) == spatial_pass) {
                    match eval(e, f, fuel)? {
                        Some(false) => return Ok(Some(false)),
                        None => unknown = true,
                        Some(true) => {}
                    }
                }
            }
            if unknown {
                None
            } else {
                Some(true)
            }
        }
        Expr::Or(items) => {
            let mut unknown = false;
            for spatial_pass in [false, true] {
                for e in items.iter().filter(|e| is_spatial(e) == spatial_pass) {
                    match eval(e, f, fuel)? {
                        Some(true) => return Ok(Some(true)),
                        None => unknown = true,
                        Some(false) => {}
                    }
                }
            }
            if unknown {
                None
            } else {
                Some(false)
            }
        }
        Expr::Not(e) => eval(e, f, fuel)?.map(|b| !b),
        Expr::Cmp(op, a, b) => {
            let Some(o) = compare(scalar(a, f), scalar(b, f)) else {
                return Ok(None);
            };
            Some(match op {
                CmpOp::Eq => o == Ordering::Equal,
                CmpOp::Ne => o != Ordering::Equal,
                CmpOp::Lt => o == Ordering::Less,
                CmpOp::Le => o != Ordering::Greater,
                CmpOp::Gt => o == Ordering::Greater,
                CmpOp::Ge => o != Ordering::Less,
            })
        }
        Expr::Like {
            value,
            pattern,
            negated,
            case_insensitive,
        } => {
            let Value::Text(s) = scalar(value, f) else {
                return Ok(None);
            };
            let hit = if *case_insensitive {
                fuel.spend(s.len() as u64)?;
                pattern.matches(&s.to_lowercase(), fuel)?
            } else {
                pattern.matches(s, fuel)?
            };
            Some(hit != *negated)
        }
        Expr::Between {
            value,
            low,
            high,
            negated,
        } => {
            let v = scalar(value, f);
            let (Some(lo), Some(hi)) = (compare(v, scalar(low, f)), compare(v, scalar(high, f)))
            else {
                return Ok(None);
            };
            Some((lo != Ordering::Less && hi != Ordering::Greater) != *negated)
        }
        Expr::In {
            value,
            list,
            negated,
        } => {
            let v = scalar(value, f);
            if v == Value::Null {
                return Ok(None);
            }
            fuel.spend(list.len() as u64)?;
            let mut unknown = false;
            for item in list {
                match compare(v, scalar(item, f)) {
                    Some(Ordering::Equal) => return Ok(Some(!*negated)),
                    None => unknown = true,
                    _ => {}
                }
            }
            if unknown {
                None
            } else {
                Some(*negated)
            }
        }
        Expr::IsNull { value, negated } => Some((scalar(value, f) == Value::Null) != *negated),
        Expr::Temporal { op, a, b } => match (temporal_interval(a, f), temporal_interval(b, f)) {
            (Some(x), Some(y)) => Some(op.holds(x, y)),
            _ => None,
        },
        Expr::Spatial {
            op,
            a,
            b,
            distance_m,
        } => match by_envelope(*op, a, b, f) {
            Some(decided) => {
                fuel.spend(spatial_cost(*op, f.coords_count(), 5))?;
                Some(decided)
            }
            None => {
                let ga = geom(a, f);
                let gb = geom(b, f);
                fuel.spend(spatial_cost(*op, ga.coords_count(), gb.coords_count()))?;
                Some(spatial(*op, &ga, &gb, *distance_m))
            }
        },
    })
}

/// Whether an expression is a geometry test (costly) rather than an attribute one.
fn is_spatial(e: &Expr) -> bool {
    match e {
        Expr::Spatial { .. } => true,
        Expr::And(v) | Expr::Or(v) => v.iter().any(is_spatial),
        Expr::Not(e) => is_spatial(e),
        _ => false,
    }
}

/// The rectangle of an axis-aligned box polygon (as a `bbox` parameter or a CQL2
/// `BBOX(…)` becomes), so that intersection with it can often be decided from
/// the other geometry's envelope alone.
fn as_rect(g: &Geometry<f64>) -> Option<Rect<f64>> {
    let Geometry::Polygon(p) = g else {
        return None;
    };
    let c = &p.exterior().0;
    if !p.interiors().is_empty() || c.len() != 5 || c[0] != c[4] {
        return None;
    }
    let r = Rect::new(c[0], c[2]);
    let on_corner = |q: &Coord<f64>| {
        (q.x == r.min().x || q.x == r.max().x) && (q.y == r.min().y || q.y == r.max().y)
    };
    // Four distinct corners joined by axis-parallel edges: the whole rectangle.
    let axis_aligned = c.windows(2).all(|w| w[0].x == w[1].x || w[0].y == w[1].y);
    let distinct = (0..4).all(|i| (i + 1..4).all(|j| c[i] != c[j]));
    let solid = r.width() > 0.0 && r.height() > 0.0;
    (solid && distinct && axis_aligned && c.iter().all(on_corner)).then_some(r)
}

/// `INTERSECTS`/`DISJOINT` of the feature's geometry and a literal box (a `bbox`
/// parameter, CQL2 `BBOX`), decided from the feature's lon/lat envelope alone when it
/// lies wholly inside or outside the box — without making the lon/lat geometry (it is
/// derived from Web Mercator coordinate by coordinate). `None`: the full test decides.
fn by_envelope(op: SpatialOp, a: &GeomOperand, b: &GeomOperand, f: FeatureRef<'_>) -> Option<bool> {
    let wanted = match op {
        SpatialOp::Intersects => true,
        SpatialOp::Disjoint => false,
        _ => return None,
    };
    let literal = match (a, b) {
        (GeomOperand::Prop, GeomOperand::Literal(l))
        | (GeomOperand::Literal(l), GeomOperand::Prop) => l,
        _ => return None,
    };
    let r = as_rect(literal)?;
    let e = f.envelope_lonlat()?;
    let meets = settled_by_envelope(
        &r,
        Coord {
            x: e.min_x,
            y: e.min_y,
        },
        Coord {
            x: e.max_x,
            y: e.max_y,
        },
    )?;
    Some(meets == wanted)
}

/// Whether a geometry whose envelope is `lo`–`hi` meets box `r`, when the envelope
/// settles it: `Some(false)` wholly outside, `Some(true)` wholly inside, `None`
/// across the box's edge.
fn settled_by_envelope(r: &Rect<f64>, lo: Coord<f64>, hi: Coord<f64>) -> Option<bool> {
    let (rlo, rhi) = (r.min(), r.max());
    if hi.x < rlo.x || lo.x > rhi.x || hi.y < rlo.y || lo.y > rhi.y {
        Some(false)
    } else if lo.x >= rlo.x && hi.x <= rhi.x && lo.y >= rlo.y && hi.y <= rhi.y {
        Some(true)
    } else {
        None
    }
}

/// `a.intersects(b)`, decided from envelopes when one side is a box.
fn intersects(a: &Geometry<f64>, b: &Geometry<f64>) -> bool {
    let boxed = match (as_rect(b), as_rect(a)) {
        (Some(r), _) => Some((r, a)),
        (None, Some(r)) => Some((r, b)),
        (None, None) => None,
    };
    if let Some((r, other)) = boxed {
        let Some(e) = other.bounding_rect() else {
            return false;
        };
        if let Some(settled) = settled_by_envelope(&r, e.min(), e.max()) {
            return settled;
        }
    }
    a.intersects(b)
}

fn geom<'a>(g: &'a GeomOperand, f: FeatureRef<'a>) -> std::borrow::Cow<'a, Geometry<f64>> {
    match g {
        GeomOperand::Prop => f.geom_lonlat(),
        GeomOperand::Literal(l) => std::borrow::Cow::Borrowed(l),
    }
}

/// Whether `a op b` holds (planar in lon/lat; `S_DWITHIN` in ground metres).
pub fn spatial(op: SpatialOp, a: &Geometry<f64>, b: &Geometry<f64>, distance_m: f64) -> bool {
    match op {
        SpatialOp::Intersects => intersects(a, b),
        SpatialOp::Disjoint => !intersects(a, b),
        SpatialOp::DWithin => ground_distance_m(a, b) <= distance_m,
        _ => {
            if !a.intersects(b) {
                // Every remaining relation needs the two to meet.
                return false;
            }
            let m = a.relate(b);
            match op {
                SpatialOp::Within => m.is_within(),
                SpatialOp::Contains => m.is_contains(),
                SpatialOp::Equals => m.is_equal_topo(),
                SpatialOp::Touches => m.is_touches(),
                SpatialOp::Crosses => m.is_crosses(),
                SpatialOp::Overlaps => m.is_overlaps(),
                _ => false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use citygrid_tiles::index::{Feature, LayerIndex};
    use citygrid_tiles::schema::{FieldType, PropValue, Schema};

    /// Features as a layer holds them (one text field, `name`).
    fn layer(features: Vec<Feature>) -> LayerIndex {
        LayerIndex::build(Schema::new([("name", FieldType::String)]), features).unwrap()
    }

    #[test]
    fn box_intersection_matches_the_exact_test() {
        use geo::{line_string, point, polygon};
        let bx = Geometry::Polygon(polygon![
            (x: 0.0, y: 0.0), (x: 2.0, y: 0.0), (x: 2.0, y: 1.0), (x: 0.0, y: 1.0), (x: 0.0, y: 0.0)
        ]);
        assert!(as_rect(&bx).is_some());
        let tilted = Geometry::Polygon(polygon![
            (x: 0.0, y: 0.0), (x: 2.0, y: 0.5), (x: 2.0, y: 1.0), (x: 0.0, y: 1.0), (x: 0.0, y: 0.0)
        ]);
        assert!(as_rect(&tilted).is_none());
        let others = [
            Geometry::Point(point!(x: 1.0, y: 0.5)),
            Geometry::Point(point!(x: 2.0, y: 1.0)),
            Geometry::Point(point!(x: 3.0, y: 0.5)),
            Geometry::LineString(line_string![(x: -1.0, y: 2.0), (x: 3.0, y: -2.0)]),
            Geometry::LineString(line_string![(x: -1.0, y: 2.0), (x: -0.5, y: -2.0)]),
            // Envelope overlaps the box, the shape does not.
            Geometry::LineString(
                line_string![(x: 2.5, y: 0.5), (x: 3.0, y: 1.5), (x: 1.9, y: 1.5)],
            ),
            tilted.clone(),
        ];
        for g in &others {
            assert_eq!(intersects(&bx, g), bx.intersects(g), "{g:?}");
            assert_eq!(intersects(g, &bx), g.intersects(&bx), "{g:?}");
        }
    }

    struct R;
    impl crate::text::Resolver for R {
        fn resolve(&self, name: &str) -> Option<Property> {
            match name {
                "name" => Some(Property::Field {
                    index: 0,
                    numeric: false,
                }),
                "geometry" => Some(Property::Geometry),
                _ => None,
            }
        }
    }

    fn features(n: usize, name: &str) -> LayerIndex {
        layer(
            (0..n)
                .map(|i| {
                    Feature::from_lonlat(
                        i as i64,
                        Geometry::Point(geo::point!(x: 24.9, y: 60.1)),
                        vec![PropValue::from(format!("{name}{i}"))],
                    )
                })
                .collect(),
        )
    }

    fn count(expr: &str, fs: &LayerIndex, meter: &Meter) -> usize {
        let e = crate::text::parse(expr, &R).unwrap();
        fs.iter().filter(|f| matches(&e, *f, meter)).count()
    }

    #[test]
    fn the_meter_counts_and_stops_work() {
        let fs = features(100, &"a".repeat(2000));
        // an adversarial but allowed pattern: answered, at a cost near text × features
        let hard = format!("name LIKE '%{}b%'", "_a".repeat(100));
        let m = Meter::new(MAX_WORK);
        assert_eq!(count(&hard, &fs, &m), 0);
        assert_eq!(m.outcome(), Ok(()));
        let spent = m.used();
        assert!(spent > 100 * 2000, "{spent}");
        // the same filter with a tenth of that budget stops, and says why
        let m = Meter::new(spent / 10);
        assert_eq!(count(&hard, &fs, &m), 0);
        assert_eq!(m.outcome(), Err(Stopped::Budget(spent / 10)));
        assert!(m.used() <= spent / 10 + 1, "{}", m.used());
        assert!(m
            .outcome()
            .unwrap_err()
            .to_string()
            .contains("narrow it with a bbox"));
        // a simple filter costs little and finds what it should
        let m = Meter::new(MAX_WORK);
        assert_eq!(count("name LIKE '%a99'", &fs, &m), 1);
        assert_eq!(count("name ILIKE '%A9_'", &fs, &m), 10);
        assert_eq!(m.outcome(), Ok(()));
        assert!(m.used() < 2 * 2 * 100 * 2010, "{}", m.used());
        // a cancelled evaluation looks at nothing more
        let m = std::sync::Arc::new(Meter::new(MAX_WORK));
        drop(CancelOnDrop(std::sync::Arc::clone(&m)));
        assert_eq!(count("name LIKE 'a%'", &fs, &m), 0);
        assert_eq!(m.used(), 0);
        assert_eq!(m.outcome(), Err(Stopped::Cancelled));
        // cancelling after the end changes nothing, and an exhausted meter stays so
        let m = Meter::new(10);
        assert!(count("name LIKE 'a%'", &fs, &m) < 10);
        m.cancel();
        assert_eq!(m.outcome(), Err(Stopped::Budget(10)));
    }

    fn times(values: &[&str]) -> LayerIndex {
        layer(
            values
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    Feature::from_lonlat(
                        i as i64,
                        Geometry::Point(geo::point!(x: 24.9, y: 60.1)),
                        vec![PropValue::from(*v)],
                    )
                })
                .collect(),
        )
    }

    fn ids(expr: &str, fs: &LayerIndex) -> Vec<i64> {
        let m = Meter::new(MAX_WORK);
        let e = crate::text::parse(expr, &R).unwrap();
        let mut text = fs
            .iter()
            .filter(|f| matches(&e, *f, &m))
            .map(|f| f.id())
            .collect::<Vec<_>>();
        text.sort_unstable();
        text
    }

    #[test]
    fn timestamps_compare_as_instants_with_their_offsets() {
        // 10:00+01:00 is 09:00Z: before 09:30Z and 10:30Z
        let fs = times(&[
            "2024-05-01T10:00:00+01:00",
            "2024-05-01T09:30:00Z",
            "2024-05-01T10:30:00Z",
        ]);
        let ts = "TIMESTAMP('2024-05-01T10:00:00+01:00')";
        assert_eq!(ids(&format!("name = {ts}"), &fs), vec![0]);
        assert_eq!(ids(&format!("name < {ts}"), &fs), Vec::<i64>::new());
        assert_eq!(ids(&format!("name >= {ts}"), &fs), vec![0, 1, 2]);
        assert_eq!(ids(&format!("T_AFTER(name, {ts})"), &fs), vec![1, 2]);
        assert_eq!(
            ids(&format!("T_BEFORE(name, {ts})"), &fs),
            Vec::<i64>::new()
        );
        assert_eq!(ids(&format!("T_EQUALS(name, {ts})"), &fs), vec![0]);
        assert_eq!(
            ids(
                "T_DURING(name, INTERVAL('2024-05-01T09:15:00Z', '2024-05-01T11:00:00+01:00'))",
                &fs
            ),
            vec![1]
        );
        assert_eq!(
            ids(
                "T_INTERSECTS(name, INTERVAL('..', '2024-05-01T09:30:00Z'))",
                &fs
            ),
            vec![0, 1]
        );
        assert_eq!(
            ids("T_INTERSECTS(name, DATE('2024-05-01'))", &fs),
            vec![0, 1, 2]
        );
        assert_eq!(ids("name = DATE('2024-05-01')", &fs), vec![0, 1, 2]);
        assert_eq!(ids("name > DATE('2024-04-30')", &fs), vec![0, 1, 2]);
        // the JSON encoding says the same
        let m = Meter::new(MAX_WORK);
        let j = crate::json::parse(
            r#"{"op":"t_after","args":[{"property":"name"},{"timestamp":"2024-05-01T10:00:00+01:00"}]}"#,
            &R,
        )
        .unwrap();
        let mut hits: Vec<i64> = fs
            .iter()
            .filter(|f| matches(&j, *f, &m))
            .map(|f| f.id())
            .collect();
        hits.sort_unstable();
        assert_eq!(hits, vec![1, 2]);
        let j = crate::json::parse(
            r#"{"op":"t_during","args":[{"property":"name"},{"interval":["2024-05-01T09:15:00Z",".."]}]}"#,
            &R,
        )
        .unwrap();
        let mut hits: Vec<i64> = fs
            .iter()
            .filter(|f| matches(&j, *f, &m))
            .map(|f| f.id())
            .collect();
        hits.sort_unstable();
        assert_eq!(hits, vec![1, 2]);
        // text that is not a time is unknown, never a match
        let junk = times(&["soon"]);
        assert!(ids(&format!("name <> {ts}"), &junk).is_empty());
        assert!(ids(&format!("T_DISJOINT(name, {ts})"), &junk).is_empty());
    }

    #[test]
    fn bad_time_literals_say_what_is_expected() {
        let e = crate::text::parse("name = TIMESTAMP('tomorrow')", &R).unwrap_err();
        assert!(e.message.contains("is not a timestamp"), "{}", e.message);
        let e = crate::text::parse("name = DATE('2024-02-30')", &R).unwrap_err();
        assert!(e.message.contains("YYYY-MM-DD"), "{}", e.message);
        let e = crate::text::parse("T_AFTER(name, '..')", &R).unwrap_err();
        assert!(e.message.contains("INTERVAL"), "{}", e.message);
        let e = crate::text::parse("T_SOMETIME(name, DATE('2024-01-01'))", &R).unwrap_err();
        assert!(e.message.contains("unknown function"), "{}", e.message);
        let e = crate::json::parse(
            r#"{"op":"t_after","args":[{"property":"name"},{"date":"x"}]}"#,
            &R,
        )
        .unwrap_err();
        assert!(e.message.contains("DATE"), "{}", e.message);
    }

    #[test]
    fn box_tests_decided_by_envelope_agree_with_the_full_test() {
        use geo::{line_string, point, polygon};
        use rand::{rngs::StdRng, Rng, SeedableRng};
        let mut rng = StdRng::seed_from_u64(7);
        let mut rnd = || rng.gen::<f64>();
        let fs: Vec<Feature> = (0..200)
            .map(|i| {
                let (x, y) = (24.0 + rnd(), 60.0 + rnd());
                let g = match i % 3 {
                    0 => Geometry::Point(point!(x: x, y: y)),
                    1 => Geometry::LineString(line_string![(x: x, y: y), (x: x + 0.2, y: y + 0.1)]),
                    _ => Geometry::Polygon(polygon![
                        (x: x, y: y), (x: x + 0.15, y: y), (x: x + 0.1, y: y + 0.12)
                    ]),
                };
                Feature::from_lonlat(i, g, vec![PropValue::Null])
            })
            .collect();
        let idx = layer(fs);
        let m = Meter::new(MAX_WORK);
        let (mut inside, mut outside, mut across) = (0, 0, 0);
        for _ in 0..40 {
            let (x0, y0) = (24.0 + rnd(), 60.0 + rnd());
            let (x1, y1) = (x0 + rnd() * 0.4, y0 + rnd() * 0.3);
            let ring = format!("POLYGON(({x0} {y0}, {x1} {y0}, {x1} {y1}, {x0} {y1}, {x0} {y0}))");
            let hit = crate::text::parse(&format!("S_INTERSECTS(geometry, {ring})"), &R).unwrap();
            let miss = crate::text::parse(&format!("S_DISJOINT(geometry, {ring})"), &R).unwrap();
            let lit = Geometry::Polygon(polygon![
                (x: x0, y: y0), (x: x1, y: y0), (x: x1, y: y1), (x: x0, y: y1), (x: x0, y: y0)
            ]);
            for f in idx.iter() {
                let full = spatial(SpatialOp::Intersects, &f.geom_lonlat(), &lit, 0.0);
                assert_eq!(matches(&hit, f, &m), full, "feature {}", f.id());
                assert_eq!(matches(&miss, f, &m), !full, "feature {}", f.id());
                match by_envelope(
                    SpatialOp::Intersects,
                    &GeomOperand::Prop,
                    &GeomOperand::Literal(lit.clone()),
                    f,
                ) {
                    Some(true) => inside += 1,
                    Some(false) => outside += 1,
                    None => across += 1,
                }
            }
        }
        // Every way was taken.
        assert!(
            inside > 0 && outside > 0 && across > 0,
            "{inside} {outside} {across}"
        );
    }

    #[test]
    fn spatial_tests_are_charged_by_vertex_pairs() {
        let fs = features(10, "x");
        let m = Meter::new(MAX_WORK);
        assert_eq!(
            count(
                "S_INTERSECTS(geometry, POLYGON((24 60, 25 60, 25 61, 24 61, 24 60)))",
                &fs,
                &m
            ),
            10
        );
        // a point against a closed ring of 5 vertices: 5 + 1 + 5 pairs each
        assert!(m.used() >= 10 * 11 * SPATIAL_UNITS_PER_PAIR, "{}", m.used());
        assert_eq!(spatial_cost(SpatialOp::Within, 1000, 500), 501_500 * 16);
        // a huge literal against a layer of big polygons spends the budget quickly
        assert!(spatial_cost(SpatialOp::Intersects, 5000, 500) * 100 > MAX_WORK);
    }
}
