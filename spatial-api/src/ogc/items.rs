//! `GET /ogc/collections/{id}/items` and `…/items/{fid}`: GeoJSON features from the
//! in-memory index with `bbox`/`bbox-crs`, `crs`, `limit`/`offset` paging,
//! property equality filters, CQL2-text or CQL2-JSON `filter` and `sortby`.
//!
//! Semantics (documented in the OpenAPI document too):
//! - `bbox` selects features whose geometry intersects the box (exactly, not just
//!   by envelope); a lon/lat box with `minlon > maxlon` crosses the antimeridian.
//! - `limit` defaults to [`DEFAULT_LIMIT`]; larger values than [`MAX_LIMIT`] are
//!   clamped (Features Part 1 allows it), 0 or a non-number is a 400.
//! - Features are ordered by `sortby` keys (missing values last when ascending,
//!   first when descending, as PostgreSQL does) and then by id, so paging is stable.
//! - Any other query parameter that names a queryable is an equality filter; any
//!   other unknown parameter is a 400.

use std::cmp::Ordering;
use std::fmt::Write;
use std::sync::Arc;

use axum::extract::{Path, Query};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use citygrid_geo::tms::Bbox;
use citygrid_tiles::index::{FeatureRef, LayerIndex};
use citygrid_tiles::schema::{FieldType, Schema};
use geo::{BoundingRect, Coord, Geometry};
use rayon::prelude::*;

use super::{OgcBase, Queryables, GEOJSON_TYPE};
use crate::error::{ApiError, ApiResult};
use crate::extract::{crs_param, Bbox as BboxParam, Collection, JsonFormat, Paging};
use crate::geojson::{write_feature, write_feature_selected, write_str};
use citygrid_cql2::eval::{self, CancelOnDrop, Meter, Stopped, Value};
use citygrid_cql2::json as cql2json;
use citygrid_cql2::text as cql2;
use citygrid_cql2::{CmpOp, Expr, GeomOperand, Property, Resolver, Scalar, SpatialOp};
use citygrid_geo::crs::{check_lonlat, Crs, CrsError};
use citygrid_geo::measure::metres_per_degree;

pub use crate::extract::{bbox_geometry, DEFAULT_LIMIT, MAX_LIMIT, MAX_OFFSET};
/// The most `sortby` keys.
pub const MAX_SORT_KEYS: usize = 8;

/// A parsed items request.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Every condition (bbox, equality filters, CQL2) combined; lon/lat geometries.
    pub expr: Option<Expr>,
    /// A lon/lat box every match's envelope touches (for the R-tree).
    pub hint: Option<Bbox>,
    /// Sort keys: property and descending.
    pub sort: Vec<(Property, bool)>,
    /// Page size.
    pub limit: usize,
    /// Features skipped.
    pub offset: usize,
    /// The CRS of the output geometries.
    pub crs: Crs,
    /// `properties=`: the schema positions of the properties to return, in the
    /// order asked (`None`: all).
    pub properties: Option<Vec<usize>>,
    /// `datetime=` as given, applied to the collection's time field by
    /// [`Plan::apply_datetime`].
    pub datetime: Option<String>,
}

/// The SQL types of a layer's fields that make it a time field.
const TIME_TYPES: &[&str] = &[
    "date",
    "timestamptz",
    "timestamp",
    "timestamp with time zone",
    "timestamp without time zone",
];

/// The collection's time field: its first field of a date or timestamp type (as
/// the import declared it from the source's schema), if any.
pub fn time_field(meta: &crate::catalog::LayerMeta) -> Option<String> {
    meta.field_types()
        .into_iter()
        .find(|(_, ty)| TIME_TYPES.contains(&ty.to_ascii_lowercase().as_str()))
        .map(|(name, _)| name.to_string())
}

/// Parses a `datetime` value (OGC API – Features 1 §7.15.4): an instant
/// (`2024-05-01T10:00:00Z`, a date) or an interval `start/end` with `..` or an
/// empty side for an open end.
pub fn datetime_operand(value: &str) -> ApiResult<citygrid_cql2::TemporalOperand> {
    use citygrid_cql2::temporal::{parse_date, parse_timestamp};
    use citygrid_cql2::{Bound, TemporalOperand};
    let bound = |v: &str| -> ApiResult<Bound> {
        let v = v.trim();
        if v.is_empty() || v == ".." {
            return Ok(Bound::Open);
        }
        if let Some(d) = parse_date(v) {
            return Ok(Bound::Date(d));
        }
        parse_timestamp(v).map(Bound::Instant).ok_or_else(|| {
            bad(format!(
                "datetime: {:?} is not a date (2024-05-01), a timestamp (2024-05-01T10:00:00Z, or with an offset) or ..",
                v.chars().take(40).collect::<String>()
            ))
        })
    };
    match value.split_once('/') {
        Some((a, b)) => {
            let (start, end) = (bound(a)?, bound(b)?);
            if start == Bound::Open && end == Bound::Open {
                return Err(bad("datetime: an interval needs at least one end"));
            }
            Ok(TemporalOperand::Interval(start, end))
        }
        None => match bound(value)? {
            Bound::Open => Err(bad("datetime: give a date, a timestamp or an interval")),
            Bound::Date(d) => Ok(TemporalOperand::Date(d)),
            Bound::Instant(t) => Ok(TemporalOperand::Instant(t)),
            Bound::Prop(_) => Err(bad("datetime: give a date, a timestamp or an interval")),
        },
    }
}

impl Plan {
    /// Adds the `datetime` condition: features whose time field intersects the
    /// instant or interval. A collection without a time field refuses it (400).
    pub fn apply_datetime(
        &mut self,
        collection: &str,
        schema: &Schema,
        time_field: Option<&str>,
    ) -> ApiResult<()> {
        let Some(value) = self.datetime.take() else {
            return Ok(());
        };
        let Some(field) = time_field else {
            return Err(bad(format!(
                "datetime: collection {collection:?} has no date or time field; leave datetime out or filter on a property"
            )));
        };
        let index = schema
            .fields
            .iter()
            .position(|f| f.name == field)
            .ok_or_else(|| bad(format!("datetime: the time field {field:?} is not loaded")))?;
        let condition = Expr::Temporal {
            op: citygrid_cql2::TemporalOp::Intersects,
            a: citygrid_cql2::TemporalOperand::Prop(Property::Field {
                index,
                numeric: false,
            }),
            b: datetime_operand(&value)?,
        };
        self.expr = Some(match self.expr.take() {
            None => condition,
            Some(Expr::And(mut v)) => {
                v.push(condition);
                Expr::And(v)
            }
            Some(e) => Expr::And(vec![e, condition]),
        });
        Ok(())
    }
}

fn bad(m: impl Into<String>) -> ApiError {
    ApiError::BadRequest(m.into())
}

/// Parses the query parameters of an items request against a layer schema.
pub fn plan(params: &[(String, String)], schema: &Schema) -> ApiResult<Plan> {
    let paging = Paging::from_params(params)?;
    let bbox = BboxParam::from_params(params)?;
    plan_with(params, schema, paging, bbox)
}

/// Like [`plan`], with the paging and the bbox already read from `params`.
pub fn plan_with(
    params: &[(String, String)],
    schema: &Schema,
    paging: Paging,
    bbox: BboxParam,
) -> ApiResult<Plan> {
    let mut seen: Vec<&str> = Vec::new();
    seen.extend(Paging::PARAMS);
    seen.extend(BboxParam::PARAMS);
    let mut get = |name: &'static str| -> ApiResult<Option<&str>> {
        let mut found = None;
        for (k, v) in params {
            if k == name {
                if found.is_some() {
                    return Err(bad(format!("parameter {name} is given more than once")));
                }
                found = Some(v.as_str());
            }
        }
        seen.push(name);
        Ok(found)
    };
    let crs = get("crs")?
        .map(|c| crs_param(c, "crs"))
        .transpose()?
        .unwrap_or(Crs::Crs84);
    let filter_crs = get("filter-crs")?
        .map(|c| crs_param(c, "filter-crs"))
        .transpose()?
        .unwrap_or(Crs::Crs84);
    let filter = get("filter")?;
    let filter_lang = get("filter-lang")?;
    let sortby = get("sortby")?;
    let datetime = get("datetime")?.map(str::to_owned);
    let properties = get("properties")?
        .map(|list| select_properties(list, schema))
        .transpose()?;
    get("f")?;
    get("key")?;

    let resolver = Queryables(schema);
    let mut conditions: Vec<Expr> = Vec::new();
    if let BboxParam(Some(b)) = bbox {
        conditions.push(Expr::Spatial {
            op: SpatialOp::Intersects,
            a: GeomOperand::Prop,
            b: GeomOperand::Literal(b),
            distance_m: 0.0,
        });
    }
    for (k, v) in params {
        if seen.contains(&k.as_str()) {
            continue;
        }
        match resolver.resolve(k) {
            Some(p @ Property::Field { index, .. }) => {
                let literal = match schema.fields[index].ty {
                    FieldType::Int | FieldType::Double => {
                        Scalar::Number(v.trim().parse::<f64>().ok().filter(|n| n.is_finite()).ok_or_else(|| {
                            bad(format!("{k} is a number; {:?} is not", v.chars().take(40).collect::<String>()))
                        })?)
                    }
                    FieldType::Bool => match v.as_str() {
                        "true" => Scalar::Bool(true),
                        "false" => Scalar::Bool(false),
                        _ => return Err(bad(format!("{k} is true or false"))),
                    },
                    FieldType::String => Scalar::Text(v.clone()),
                };
                conditions.push(Expr::Cmp(CmpOp::Eq, Scalar::Prop(p), literal));
            }
            _ => {
                return Err(bad(format!(
                    "unknown parameter {:?}: use limit, offset, bbox, bbox-crs, crs, filter, filter-lang, filter-crs, sortby, properties or a queryable property",
                    k.chars().take(60).collect::<String>()
                )))
            }
        }
    }
    if let Some(text) = filter {
        let mut e = match filter_lang.unwrap_or("cql2-text") {
            // `cql-text` is the pre-standard name some clients (GDAL ≤ 3.6) send.
            "cql2-text" | "cql-text" => {
                cql2::parse(text, &resolver).map_err(citygrid_cql2::Error::from)?
            }
            "cql2-json" => cql2json::parse(text, &resolver).map_err(citygrid_cql2::Error::from)?,
            other => {
                return Err(bad(format!(
                    "filter-lang {:?} is not supported: use cql2-text or cql2-json",
                    other.chars().take(40).collect::<String>()
                )))
            }
        };
        let swap = filter_crs.lat_first();
        e.map_geometries(&mut |g: &mut Geometry<f64>| -> Result<(), CrsError> {
            if swap {
                use geo::MapCoordsInPlace;
                g.map_coords_in_place(|c| Coord { x: c.y, y: c.x });
            }
            filter_crs.geometry_to_lonlat(g)?;
            check_lonlat(g)
        })
        .map_err(|e| bad(format!("filter: {e}")))?;
        conditions.push(e);
    } else if filter_lang.is_some() {
        // filter-lang alone is harmless.
    }
    let sort = match sortby {
        Some(s) => parse_sortby(s, &resolver)?,
        None => Vec::new(),
    };
    let expr = match conditions.len() {
        0 => None,
        1 => conditions.pop(),
        _ => Some(Expr::And(conditions)),
    };
    let hint = expr.as_ref().and_then(spatial_hint);
    Ok(Plan {
        expr,
        hint,
        sort,
        limit: paging.limit,
        offset: paging.offset,
        crs,
        properties,
        datetime,
    })
}

/// The most names in `properties=`.
const MAX_SELECTED_PROPERTIES: usize = 256;

/// `properties=a,b`: the schema positions of the named properties (an empty value
/// selects none); a name the layer does not have is a 400 listing the ones it has.
fn select_properties(list: &str, schema: &Schema) -> ApiResult<Vec<usize>> {
    let mut out = Vec::new();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        if out.len() >= MAX_SELECTED_PROPERTIES {
            return Err(bad(format!(
                "properties: at most {MAX_SELECTED_PROPERTIES} names"
            )));
        }
        let Some(i) = schema.fields.iter().position(|f| f.name == name) else {
            let known: Vec<&str> = schema.fields.iter().map(|f| f.name.as_str()).collect();
            return Err(bad(format!(
                "properties: {:?} is not a property of this collection; it has {}",
                name.chars().take(60).collect::<String>(),
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            )));
        };
        if !out.contains(&i) {
            out.push(i);
        }
    }
    Ok(out)
}

/// `+a,-b,c` (a `+` decoded as a space counts as `+`).
fn parse_sortby(text: &str, resolver: &Queryables<'_>) -> ApiResult<Vec<(Property, bool)>> {
    let mut out = Vec::new();
    for key in text.split(',') {
        let key = key.trim_start_matches(' ');
        let (name, desc) = if let Some(n) = key.strip_prefix('-') {
            (n, true)
        } else {
            (key.strip_prefix('+').unwrap_or(key), false)
        };
        let name = name.trim();
        match resolver.resolve(name) {
            Some(p @ Property::Field { .. }) => out.push((p, desc)),
            _ => {
                return Err(bad(format!(
                    "sortby: {:?} is not a sortable property (see /queryables)",
                    name.chars().take(60).collect::<String>()
                )))
            }
        }
        if out.len() > MAX_SORT_KEYS {
            return Err(bad(format!("sortby: at most {MAX_SORT_KEYS} keys")));
        }
    }
    Ok(out)
}

/// A lon/lat box that every feature matching `expr` touches, when the
/// conjunction contains a spatial predicate against a literal.
pub fn spatial_hint(expr: &Expr) -> Option<Bbox> {
    let parts: Vec<&Expr> = match expr {
        Expr::And(v) => v.iter().collect(),
        e => vec![e],
    };
    let mut hint: Option<Bbox> = None;
    for p in parts {
        let Expr::Spatial {
            op,
            a,
            b,
            distance_m,
        } = p
        else {
            continue;
        };
        let literal = match (a, b) {
            (GeomOperand::Prop, GeomOperand::Literal(g))
            | (GeomOperand::Literal(g), GeomOperand::Prop) => g,
            _ => continue,
        };
        if *op == SpatialOp::Disjoint {
            continue;
        }
        let Some(r) = literal.bounding_rect() else {
            continue;
        };
        let mut b = Bbox::new(r.min().x, r.min().y, r.max().x, r.max().y);
        if *op == SpatialOp::DWithin {
            let lat = r.min().y.abs().max(r.max().y.abs()).min(89.0);
            let (mx, my) = metres_per_degree(lat);
            let dx = distance_m / mx.max(1.0) * 1.01;
            let dy = distance_m / my * 1.01;
            b = Bbox::new(
                (b.min_x - dx).max(-180.0),
                (b.min_y - dy).max(-90.0),
                (b.max_x + dx).min(180.0),
                (b.max_y + dy).min(90.0),
            );
        }
        hint = Some(match hint {
            None => b,
            Some(h) => Bbox {
                min_x: h.min_x.max(b.min_x),
                min_y: h.min_y.max(b.min_y),
                max_x: h.max_x.min(b.max_x),
                max_y: h.max_y.min(b.max_y),
            },
        });
    }
    hint
}

fn order(a: Value<'_>, b: Value<'_>) -> Ordering {
    let rank = |v: &Value<'_>| match v {
        Value::Bool(_) => 0,
        Value::Int(_) | Value::Num(_) => 1,
        Value::Text(_) | Value::Instant(_) | Value::Date(_) => 2,
        Value::Null => 3,
    };
    eval::compare(a, b).unwrap_or_else(|| rank(&a).cmp(&rank(&b)))
}

/// The features a plan has to look at: those near its spatial hint, or all.
pub fn candidates<'a>(index: &'a LayerIndex, plan: &Plan) -> Vec<FeatureRef<'a>> {
    match &plan.hint {
        Some(h) if h.min_x > h.max_x || h.min_y > h.max_y => Vec::new(),
        Some(h) => index.query_bbox_lonlat(h),
        None => index.iter().collect(),
    }
}

/// Runs a plan against an index: the number matched and the page, in order; the
/// filter's work is charged to `meter`, which may stop it.
pub fn select<'a>(
    index: &'a LayerIndex,
    plan: &Plan,
    meter: &Meter,
) -> Result<(usize, Vec<FeatureRef<'a>>), Stopped> {
    select_from(candidates(index, plan), plan, meter)
}

/// Like [`select`] on given candidates.
pub fn select_from<'a>(
    candidates: Vec<FeatureRef<'a>>,
    plan: &Plan,
    meter: &Meter,
) -> Result<(usize, Vec<FeatureRef<'a>>), Stopped> {
    let mut matched: Vec<FeatureRef<'_>> = match &plan.expr {
        None => candidates,
        Some(e) if candidates.len() > 20_000 => candidates
            .into_par_iter()
            .filter(|f| eval::matches(e, *f, meter))
            .collect(),
        Some(e) => candidates
            .into_iter()
            .filter(|f| eval::matches(e, *f, meter))
            .collect(),
    };
    meter.outcome()?;
    let n = matched.len();
    let cmp = |a: &FeatureRef<'_>, b: &FeatureRef<'_>| {
        for (p, desc) in &plan.sort {
            let o = order(eval::prop(*a, *p), eval::prop(*b, *p));
            let o = if *desc { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        a.id().cmp(&b.id())
    };
    let end = plan.offset.saturating_add(plan.limit).min(n);
    if plan.offset >= n {
        return Ok((n, Vec::new()));
    }
    if plan.sort.is_empty() && end < n / 4 {
        // Only the first `end` in id order are needed.
        matched.select_nth_unstable_by(end, cmp);
        matched.truncate(end);
    }
    if n > 20_000 {
        matched.par_sort_unstable_by(cmp);
    } else {
        matched.sort_unstable_by(cmp);
    }
    matched.truncate(end);
    Ok((n, matched.split_off(plan.offset)))
}

/// The answer to an evaluation that stopped early.
fn stopped(s: Stopped) -> ApiError {
    // Budget: 400 with the message; Cancelled: nobody reads this answer (the request
    // timed out or its client left).
    citygrid_cql2::Error::from(s).into()
}

fn query_string(params: &[(String, String)], offset: Option<usize>) -> String {
    let mut pairs: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| k != "offset")
        .cloned()
        .collect();
    if let Some(o) = offset {
        if o > 0 {
            pairs.push(("offset".into(), o.to_string()));
        }
    }
    serde_urlencoded::to_string(&pairs).unwrap_or_default()
}

fn geojson_response(body: String, crs: Crs) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(GEOJSON_TYPE));
    if let Ok(v) = HeaderValue::from_str(&format!("<{}>", crs.uri())) {
        h.insert("content-crs", v);
    }
    r
}

fn link_json(out: &mut String, href: &str, rel: &str, kind: &str) {
    out.push_str(r#"{"href":"#);
    write_str(out, href);
    let _ = write!(out, r#","rel":"{rel}","type":"{kind}"}}"#);
}

/// Selections with at most this many candidates are answered without leaving
/// the request's task.
const INLINE_CANDIDATES: usize = 256;

/// Filters, sorts and pages `found` (from [`candidates`]), then writes the page's
/// features as GeoJSON: (number matched, number returned, the features joined by
/// commas). A filter that spends `meter`'s budget is a 400; a cancelled one a 503
/// (nobody is waiting for it any more).
pub fn render(
    index: &LayerIndex,
    plan: &Plan,
    found: Vec<FeatureRef<'_>>,
    meter: &Meter,
) -> ApiResult<(usize, usize, String)> {
    let (matched, page) = select_from(found, plan, meter).map_err(stopped)?;
    let mut features = String::with_capacity(page.len() * 256 + 16);
    for (i, &f) in page.iter().enumerate() {
        if i > 0 {
            features.push(',');
        }
        write_feature_selected(
            &mut features,
            index.schema(),
            f,
            plan.crs,
            plan.crs.lat_first(),
            "",
            plan.properties.as_deref(),
        )
        .map_err(|e| bad(format!("crs: {e}")))?;
    }
    Ok((matched, page.len(), features))
}

/// `GET /ogc/collections/{id}/items`.
pub async fn items(
    _: JsonFormat,
    Collection { id, layer, meta }: Collection,
    paging: Paging,
    bbox: BboxParam,
    OgcBase(ogc_base): OgcBase,
    Query(params): Query<Vec<(String, String)>>,
) -> ApiResult<Response> {
    let plan = {
        let index = layer.index.read()?;
        let mut plan = plan_with(&params, index.schema(), paging, bbox)?;
        plan.apply_datetime(&id, index.schema(), time_field(&meta).as_deref())?;
        plan
    };
    let crs = plan.crs;
    // The filter's work is metered; when this handler's future is dropped (the
    // request timed out, or the client went away) the work on the pool stops too.
    let meter = Arc::new(Meter::new(eval::MAX_WORK));
    let _cancel = CancelOnDrop(Arc::clone(&meter));
    // Small selections (the common case: a box or a point) are answered on the
    // spot; anything bigger goes to the rayon pool, off the async runtime.
    let inline = {
        let index = layer.index.read()?;
        if plan.hint.is_some() || index.len() <= INLINE_CANDIDATES {
            let found = candidates(&index, &plan);
            if found.len() <= INLINE_CANDIDATES {
                Some(render(&index, &plan, found, &meter))
            } else {
                None
            }
        } else {
            None
        }
    };
    let result = match inline {
        Some(r) => r,
        None => {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let job_plan = plan.clone();
            let job_meter = Arc::clone(&meter);
            rayon::spawn(move || {
                // queued behind other work: nothing to do if the request is gone
                let result = if job_meter.is_stopped() {
                    Err(stopped(Stopped::Cancelled))
                } else {
                    match layer.index.read() {
                        Ok(index) => {
                            render(&index, &job_plan, candidates(&index, &job_plan), &job_meter)
                        }
                        Err(_) => Err(ApiError::Internal("layer index lock poisoned".into())),
                    }
                };
                let _ = tx.send(result);
            });
            rx.await?
        }
    };
    let (matched, returned, features) = result?;
    let base = format!("{ogc_base}/collections/{id}/items");
    let mut out = String::with_capacity(features.len() + 1024);
    write_collection(
        &mut out, &base, &params, &plan, matched, returned, &features,
    );
    Ok(geojson_response(out, crs))
}

/// Writes the FeatureCollection of an items answer: `base` is the items URL,
/// `params` the request's query (for the paging links), `features` the
/// comma-joined features from [`render`].
pub fn write_collection(
    out: &mut String,
    base: &str,
    params: &[(String, String)],
    plan: &Plan,
    matched: usize,
    returned: usize,
    features: &str,
) {
    let _ = write!(
        out,
        r#"{{"type":"FeatureCollection","numberMatched":{matched},"numberReturned":{returned},"timeStamp":"{}","links":["#,
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    let self_q = query_string(params, Some(plan.offset));
    let with_q = |q: String| {
        if q.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{q}")
        }
    };
    link_json(out, &with_q(self_q), "self", GEOJSON_TYPE);
    if plan.offset + returned < matched {
        out.push(',');
        let next = query_string(params, Some(plan.offset + returned));
        link_json(out, &with_q(next), "next", GEOJSON_TYPE);
    }
    if plan.offset > 0 {
        out.push(',');
        let prev = query_string(params, Some(plan.offset.saturating_sub(plan.limit)));
        link_json(out, &with_q(prev), "prev", GEOJSON_TYPE);
    }
    out.push(',');
    let collection_href = base.trim_end_matches("/items");
    link_json(out, collection_href, "collection", "application/json");
    out.push_str(r#"],"features":["#);
    out.push_str(features);
    out.push_str("]}");
}

/// `GET /ogc/collections/{id}/items/{fid}`.
pub async fn item(
    _: JsonFormat,
    Collection { id, layer, .. }: Collection,
    OgcBase(ogc_base): OgcBase,
    Path((_, fid)): Path<(String, String)>,
    Query(params): Query<Vec<(String, String)>>,
) -> ApiResult<Response> {
    let mut crs = Crs::Crs84;
    for (k, v) in &params {
        match k.as_str() {
            "crs" => crs = crs_param(v, "crs")?,
            "f" | "key" => {}
            other => {
                return Err(bad(format!(
                    "unknown parameter {:?}: only crs and f",
                    other.chars().take(60).collect::<String>()
                )))
            }
        }
    }
    let not_found = || {
        ApiError::NotFound(format!(
            "no feature {:?} in collection {id:?}",
            fid.chars().take(40).collect::<String>()
        ))
    };
    let fid_n: i64 = fid.parse().map_err(|_| not_found())?;
    let base = format!("{ogc_base}/collections/{id}");
    let mut extra = String::from(r#","links":["#);
    link_json(
        &mut extra,
        &format!("{base}/items/{fid_n}"),
        "self",
        GEOJSON_TYPE,
    );
    extra.push(',');
    link_json(&mut extra, &base, "collection", "application/json");
    extra.push(']');
    let mut out = String::new();
    let tag;
    {
        let index = layer.index.read()?;
        let f = index.get(fid_n).ok_or_else(not_found)?;
        // Part 4: the strong ETag an edit's If-Match is compared with.
        tag = super::edit::etag(index.schema(), f);
        write_feature(&mut out, index.schema(), f, crs, crs.lat_first(), &extra)
            .map_err(|e| bad(format!("crs: {e}")))?;
    }
    let mut r = geojson_response(out, crs);
    if let Ok(v) = HeaderValue::from_str(&tag) {
        r.headers_mut().insert(header::ETAG, v);
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::tests::p;
    use citygrid_tiles::schema::FieldType;

    fn schema() -> Schema {
        Schema::new([("name", FieldType::String), ("rank", FieldType::Int)])
    }

    #[test]
    fn plans_and_refusals() {
        let s = schema();
        let plan = plan(
            &p(&[
                ("limit", "99999999"),
                ("rank", "3"),
                ("sortby", " rank,-name"),
            ]),
            &s,
        )
        .unwrap();
        assert_eq!(plan.limit, MAX_LIMIT);
        assert_eq!(plan.sort.len(), 2);
        assert!(plan.sort[1].1);
        for bad in [
            vec![("limit", "0")],
            vec![("limit", "-1")],
            vec![("bbox", "NaN,0,1,1")],
            vec![("bbox", "0,0,1,91")],
            vec![("bbox", "0,0,1")],
            vec![("bbox", "0,0,1,1"), ("bbox-crs", "EPSG:1")],
            vec![("sortby", "name;drop table x")],
            vec![("password", "x")],
            vec![("name'--", "x")],
            vec![("rank", "1 OR 1=1")],
            vec![("filter", "name = 'a' OR 1=1; DROP TABLE layers")],
            vec![("filter", "name = 'a'"), ("filter-lang", "sql")],
            vec![("crs", "EPSG:2000")],
        ] {
            assert!(super::plan(&p(&bad), &s).is_err(), "{bad:?}");
        }
        // EPSG:4326 bboxes are lat,lon.
        let g = bbox_geometry("60.1,24.9,60.2,25.0", Crs::Epsg4326).unwrap();
        let r = g.bounding_rect().unwrap();
        assert_eq!((r.min().x, r.min().y), (24.9, 60.1));
    }
}
