//! `GET /api/search?q=&limit=`: one search for the viewer, the console and embedded
//! maps, answered from the layers in memory (no SQL, no query per layer).
//!
//! Each vector layer that holds something people look for by name or code is read into
//! [`citygrid_tiles::search::Entry`]s of one kind (unit grids by code, components by id
//! or name, cases by number, roads with their segments merged, POIs, buildings,
//! communities, administrative areas, other named features). The entries of a layer
//! are kept per loaded index and rebuilt when the layer was reloaded or patched since
//! (its [`LoadedLayer`] or its patch generation changed), at the next search.
//!
//! Access: an API key finds only its layers; cases are found only by signed-in users
//! who may see them (a department its own cases; inspectors, API keys and the public
//! none).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock, Weak};

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::Method;
use axum::routing::get;
use axum::Json;
use citygrid_tiles::index::LayerIndex;
use citygrid_tiles::schema::PropRef;
use citygrid_tiles::search::{self as text, Entry, Item, Kind};
use citygrid_tiles::LayerKind;
use geo::BoundingRect;
use serde::{Deserialize, Serialize};

use crate::auth::{Access, Principal, Role};
use crate::catalog::LayerMeta;
use crate::error::{ApiError, ApiResult};
use crate::layers::{LayerStore, LoadedLayer};
use crate::router::RouteTable;

/// Hits returned when `limit` is not given.
pub const DEFAULT_LIMIT: usize = 20;
/// The most hits of one answer.
pub const MAX_LIMIT: usize = 100;
/// The longest query, in characters.
pub const MAX_QUERY_CHARS: usize = 100;

/// The search route.
pub fn routes(t: RouteTable) -> RouteTable {
    t.add(Method::GET, "/api/search", Access::Layers, get(search))
}

/// The query of `GET /api/search`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// What to look for: a name, a road, a unit grid code, a component id, a case
    /// number (case-, accent- and width-insensitive; 1–100 characters).
    q: Option<String>,
    /// The most hits (1–100, default 20).
    limit: Option<usize>,
    /// Only these layers (comma-separated ids; an embedded map's own layers).
    layers: Option<String>,
}

/// One hit.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SearchHit {
    /// `unit_grid`, `component`, `case`, `road`, `poi`, `building`, `community`,
    /// `area` or `feature`.
    #[schema(value_type = String)]
    pub kind: Kind,
    /// The layer it is from.
    pub layer: String,
    /// What it is called.
    pub label: String,
    /// A short second line (a class, a status), if any.
    pub detail: Option<String>,
    /// The feature id (a road's first segment).
    pub fid: i64,
    /// Features it stands for (a road's segments).
    pub parts: usize,
    /// `[west, south, east, north]` of all of it: what to zoom to.
    pub bbox: [f64; 4],
    /// `exact`, `prefix`, `word_prefix` or `contains`.
    #[schema(value_type = String)]
    pub matched: text::Match,
}

/// Hits of one kind.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SearchGroup {
    /// The kind of its hits.
    #[schema(value_type = String)]
    pub kind: Kind,
    /// Best first.
    pub hits: Vec<SearchHit>,
}

/// The answer of `GET /api/search`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SearchAnswer {
    /// The query as given.
    pub q: String,
    /// Every match the caller may see (more than returned when `truncated`).
    pub total: usize,
    /// Whether hits were left out by `limit`.
    pub truncated: bool,
    /// The hits by kind; the group of the best hit first.
    pub groups: Vec<SearchGroup>,
}

/// A layer's entries, made from one loaded index at one patch generation.
struct Cached {
    layer: Weak<LoadedLayer>,
    generation: u64,
    entries: Arc<Vec<Entry>>,
}

/// The entries of every searchable layer, by layer id (one index per process: keyed by
/// the loaded layer itself, so several services in one process never mix).
fn cache() -> &'static RwLock<HashMap<String, Cached>> {
    static CACHE: OnceLock<RwLock<HashMap<String, Cached>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// How a layer is searched: its kind, the field that labels a feature, further
/// fields that find it, a detail field and an owner field.
struct Plan {
    kind: Kind,
    label: &'static [&'static str],
    keys: &'static [&'static str],
    detail: &'static [&'static str],
    owner: Option<&'static str>,
}

/// The plan for a layer, if it is searched.
fn plan(meta: &LayerMeta) -> Option<Plan> {
    if meta.kind != LayerKind::Vector {
        return None;
    }
    let has = |name: &str| {
        meta.fields.as_array().is_some_and(|fs| {
            fs.iter()
                .any(|f| f.get("name").and_then(|n| n.as_str()) == Some(name))
        })
    };
    let id = meta.id.as_str();
    let geometry = meta.geometry_type.as_deref().unwrap_or("");
    let p = |kind, label, keys, detail, owner| {
        Some(Plan {
            kind,
            label,
            keys,
            detail,
            owner,
        })
    };
    match id {
        "unit_grids" => p(Kind::UnitGrid, &["code"], &[], &["community_code"], None),
        "components" => p(
            Kind::Component,
            &["name", "component_id"],
            &["component_id"],
            &["category_code"],
            None,
        ),
        "cases" => p(
            Kind::Case,
            &["case_no"],
            &[],
            &["status"],
            Some("department"),
        ),
        "communities" => p(Kind::Community, &["name"], &["code"], &[], None),
        "admin_divisions" | "streets" => p(Kind::Area, &["name"], &["code"], &[], None),
        _ if !has("name") => None,
        _ if id.contains("road") || (geometry.contains("LineString") && has("highway")) => {
            p(Kind::Road, &["name"], &["ref"], &["highway"], None)
        }
        _ if id.contains("building") => p(
            Kind::Building,
            &["name"],
            &["addr_street"],
            &["building"],
            None,
        ),
        _ if id.contains("poi") || geometry.contains("Point") => {
            p(Kind::Poi, &["name"], &[], &["subclass", "class"], None)
        }
        _ => p(Kind::Feature, &["name"], &[], &["class"], None),
    }
}

fn text_of(value: PropRef<'_>) -> Option<String> {
    match value {
        PropRef::String(s) if !s.trim().is_empty() => Some(s.to_string()),
        PropRef::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

/// The entries of a loaded layer's index.
fn build(meta: &LayerMeta, plan: &Plan, index: &LayerIndex) -> Vec<Entry> {
    let schema = index.schema();
    let positions = |names: &[&str]| -> Vec<usize> {
        names.iter().filter_map(|n| schema.position(n)).collect()
    };
    let (label, keys, detail) = (
        positions(plan.label),
        positions(plan.keys),
        positions(plan.detail),
    );
    let owner = plan.owner.and_then(|o| schema.position(o));
    let first = |f: citygrid_tiles::index::FeatureRef<'_>, at: &[usize]| {
        at.iter().find_map(|&i| f.prop(i).and_then(text_of))
    };
    let items = index.iter().filter_map(|f| {
        let rect = f.geom_lonlat().bounding_rect()?;
        let (lo, hi) = (rect.min(), rect.max());
        Some(Item {
            fid: f.id(),
            label: first(f, &label).unwrap_or_default(),
            keys: keys
                .iter()
                .filter_map(|&i| f.prop(i).and_then(text_of))
                .collect(),
            detail: first(f, &detail),
            bbox: [lo.x, lo.y, hi.x, hi.y],
            owner: owner.and_then(|i| f.prop(i).and_then(text_of)),
        })
    });
    text::entries(&meta.id, plan.kind, items)
}

/// The entries of `layer`, from the cache or built now (and kept).
fn entries_of(layer: &Arc<LoadedLayer>) -> Option<Arc<Vec<Entry>>> {
    let plan = plan(&layer.meta)?;
    let generation = layer.generation();
    if let Ok(cached) = cache().read() {
        if let Some(c) = cached.get(&layer.meta.id) {
            if c.generation == generation && Weak::ptr_eq(&c.layer, &Arc::downgrade(layer)) {
                return Some(Arc::clone(&c.entries));
            }
        }
    }
    let built = {
        let index = layer.index.read().ok()?;
        Arc::new(build(&layer.meta, &plan, &index))
    };
    if let Ok(mut cached) = cache().write() {
        cached.insert(
            layer.meta.id.clone(),
            Cached {
                layer: Arc::downgrade(layer),
                generation,
                entries: Arc::clone(&built),
            },
        );
        cached.retain(|_, c| c.layer.strong_count() > 0);
    }
    Some(built)
}

/// Which cases `principal` may find: all, a department's, or none.
enum CaseAccess {
    All,
    Department(String),
    None,
}

fn case_access(principal: &Principal) -> CaseAccess {
    match principal.user() {
        None => CaseAccess::None,
        Some(u) => match u.role {
            Role::Inspector => CaseAccess::None,
            Role::Department => match &u.department {
                Some(d) => CaseAccess::Department(d.clone()),
                None => CaseAccess::None,
            },
            _ => CaseAccess::All,
        },
    }
}

/// Searches the layers `principal` may read in `layers` for `q`.
/// `only`: just these layers.
pub fn run(
    layers: &LayerStore,
    principal: &Principal,
    q: &str,
    limit: usize,
    only: Option<&[String]>,
) -> (usize, Vec<SearchHit>) {
    let folded = text::fold(q);
    let mut loaded: Vec<Arc<LoadedLayer>> = layers
        .all()
        .into_iter()
        .filter(|l| principal.may_read_layer(&l.meta.id))
        .filter(|l| only.is_none_or(|ids| ids.contains(&l.meta.id)))
        .collect();
    loaded.sort_by(|a, b| a.meta.id.cmp(&b.meta.id));
    let sets: Vec<Arc<Vec<Entry>>> = loaded.iter().filter_map(entries_of).collect();
    let cases = case_access(principal);
    let allow = |e: &Entry| {
        if e.kind != Kind::Case {
            return true;
        }
        match &cases {
            CaseAccess::All => true,
            CaseAccess::Department(d) => e.owner.as_deref() == Some(d.as_str()),
            CaseAccess::None => false,
        }
    };
    let found = text::search(sets.iter().map(|s| s.as_slice()), &folded, limit, allow);
    let hits = found
        .hits
        .iter()
        .map(|h| SearchHit {
            kind: h.entry.kind,
            layer: h.entry.layer.clone(),
            label: h.entry.label.clone(),
            detail: h.entry.detail.clone(),
            fid: h.entry.fid,
            parts: h.entry.parts,
            bbox: h.entry.bbox,
            matched: h.matched,
        })
        .collect();
    (found.total, hits)
}

/// `GET /api/search`.
pub async fn search(
    State(layers): State<Arc<LayerStore>>,
    State(catalog): State<Arc<crate::catalog::Registry>>,
    principal: Principal,
    query: Result<Query<SearchQuery>, QueryRejection>,
) -> ApiResult<Json<SearchAnswer>> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let q = query.q.unwrap_or_default();
    let q = q.trim();
    if q.is_empty() {
        return Err(ApiError::BadRequest(
            "q is required: what to look for".into(),
        ));
    }
    if q.chars().count() > MAX_QUERY_CHARS {
        return Err(ApiError::BadRequest(format!(
            "q is at most {MAX_QUERY_CHARS} characters"
        )));
    }
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::BadRequest(format!("limit is 1 to {MAX_LIMIT}")));
    }
    let only: Option<Vec<String>> = match query.layers.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(ids) => Some(crate::tiles::parse_ids(ids)?),
    };
    // Only the layers the caller may read (of those asked for).
    let only: Option<Vec<String>> = Some(
        catalog
            .layers()
            .iter()
            .filter(|m| catalog.may_read(&principal, &m.id))
            .filter(|m| only.as_ref().is_none_or(|o| o.contains(&m.id)))
            .map(|m| m.id.clone())
            .collect(),
    );
    let q_owned = q.to_string();
    let (total, hits) = {
        let principal = principal.clone();
        tokio::task::spawn_blocking(move || {
            run(&layers, &principal, &q_owned, limit, only.as_deref())
        })
        .await?
    };
    let truncated = total > hits.len();
    // Groups in the order of their best hit (the hits come best first).
    let mut groups: Vec<SearchGroup> = Vec::new();
    for hit in hits {
        match groups.iter_mut().find(|g| g.kind == hit.kind) {
            Some(g) => g.hits.push(hit),
            None => groups.push(SearchGroup {
                kind: hit.kind,
                hits: vec![hit],
            }),
        }
    }
    Ok(Json(SearchAnswer {
        q: q.to_string(),
        total,
        truncated,
        groups,
    }))
}
