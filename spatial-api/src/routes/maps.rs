//! TileJSON 3.0.0 (`/tiles/{ids}.json`) and MapLibre styles (`/styles/{name}.json`).

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::Json;
use citygrid_tiles::LayerKind;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::auth::Principal;
use crate::basemap;
use crate::basemap::style::{Lang, VectorLayer};
use crate::catalog::LayerMeta;
use crate::error::{ApiError, ApiResult};
use crate::extract::base_url;
use crate::state::AppState;
use crate::tiles::{parse_ids, resolve_layers, source_for, CannotCombine, TileSource};

/// `?key=` carried into the URLs of the document, so embedded maps keep using it.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KeyQuery {
    key: Option<String>,
}

/// `?key=` and `?lang=` of a style: the key carried into its URLs, the labels'
/// language (`zh`, the default, or `en`).
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StyleQuery {
    key: Option<String>,
    /// `zh` (default) or `en`: the language of the labels.
    lang: Option<String>,
}

fn key_suffix(key: &Option<String>) -> String {
    match key {
        Some(k) if k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') => format!("?key={k}"),
        _ => String::new(),
    }
}

fn union_bounds(metas: &[LayerMeta]) -> Vec<f64> {
    let mut b = [180.0f64, 85.0511, -180.0, -85.0511];
    let mut any = false;
    for m in metas {
        if let Some(mb) = m.bounds.as_ref().filter(|v| v.len() == 4) {
            b[0] = b[0].min(mb[0]);
            b[1] = b[1].min(mb[1]);
            b[2] = b[2].max(mb[2]);
            b[3] = b[3].max(mb[3]);
            any = true;
        }
    }
    if any {
        b.to_vec()
    } else {
        vec![-180.0, -85.0511, 180.0, 85.0511]
    }
}

/// `GET /tiles/{ids}.json`: TileJSON 3.0.0 for one or more layers.
pub async fn tilejson(
    State(state): State<AppState>,
    principal: Principal,
    Path(ids): Path<String>,
    Query(query): Query<KeyQuery>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let ids = ids.strip_suffix(".json").ok_or_else(|| {
        ApiError::NotFound(
            "use /tiles/{ids}.json for TileJSON or /tiles/{ids}/{z}/{x}/{y} for a tile".into(),
        )
    })?;
    let ids = parse_ids(ids)?;
    let metas = resolve_layers(&state, &principal, &ids)?;
    let source = source_for(&metas).map_err(|CannotCombine| {
        ApiError::BadRequest("a raster layer cannot be combined with other layers".into())
    })?;
    let base = base_url(&headers, &state);
    // The layers the caller may read (the others of a composite are left out).
    let joined = metas
        .iter()
        .map(|m| m.id.as_str())
        .collect::<Vec<_>>()
        .join(",");
    let suffix = key_suffix(&query.key);
    let bounds = union_bounds(&metas);
    let minzoom = metas.iter().map(|m| m.min_zoom).min().unwrap_or(0);
    let maxzoom = metas.iter().map(|m| m.max_zoom).max().unwrap_or(22);
    let center_zoom = (minzoom + 2).clamp(minzoom, maxzoom);
    let mut doc = json!({
        "tilejson": "3.0.0",
        "name": joined,
        "description": metas.iter().map(|m| m.title.as_str()).collect::<Vec<_>>().join(", "),
        "version": "1.0.0",
        "scheme": "xyz",
        "tiles": [format!("{base}/tiles/{joined}/{{z}}/{{x}}/{{y}}{suffix}")],
        "minzoom": minzoom,
        "maxzoom": maxzoom,
        "bounds": bounds,
        "center": [(bounds[0] + bounds[2]) / 2.0, (bounds[1] + bounds[3]) / 2.0, center_zoom],
        "attribution": "citygrid",
    });
    source.tilejson(&mut doc);
    Ok(Json(doc))
}

/// A colour per layer: by well-known names, else from a hash of the id.
fn colour_of(id: &str) -> String {
    let known = [
        ("building", "#c9b8a6"),
        ("road", "#f2a541"),
        ("water", "#6fa8dc"),
        ("landuse", "#b6d7a8"),
        ("park", "#93c47d"),
        ("grid", "#7b61ff"),
        ("component", "#e06666"),
        ("poi", "#674ea7"),
        ("case", "#cc0000"),
        ("district", "#45818e"),
    ];
    for (k, c) in known {
        if id.contains(k) {
            return c.to_string();
        }
    }
    let h = citygrid_tiles::hash::hash_bytes(id.as_bytes());
    format!("hsl({}, 55%, 45%)", h % 360)
}

/// Layers that change all day (every case report moves the `cases` layer): the
/// default style gives them a tile source of their own, so the big tiles of the
/// static layers stay cached while cases come in, and a case re-encodes only its
/// small tile.
pub const LIVE_LAYERS: [&str; 1] = ["cases"];

/// The style source a vector layer is drawn from.
fn source_of(id: &str) -> &'static str {
    if LIVE_LAYERS.contains(&id) {
        "citygrid-live"
    } else {
        "citygrid"
    }
}

/// `GET /styles/{name}.json`: a MapLibre style; `default` shows every layer the
/// caller may read, raster layers under vector layers.
pub async fn style(
    State(state): State<AppState>,
    principal: Principal,
    Path(name): Path<String>,
    Query(query): Query<StyleQuery>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let lang = match query.lang.as_deref() {
        None | Some("") => Lang::Zh,
        Some(l) => Lang::parse(l).ok_or_else(|| {
            ApiError::BadRequest("lang is zh or en (the language of the labels)".into())
        })?,
    };
    let name = name
        .strip_suffix(".json")
        .ok_or_else(|| ApiError::NotFound("styles are at /styles/{name}.json".into()))?;
    if name != "default" {
        return Err(ApiError::NotFound(format!(
            "no style {name:?}: the available style is default"
        )));
    }
    let base = base_url(&headers, &state);
    let suffix = key_suffix(&query.key);
    let readable: Vec<LayerMeta> = state
        .catalog
        .layers()
        .iter()
        .filter(|m| state.catalog.may_read(&principal, &m.id))
        .cloned()
        .collect();
    let mut sources = Map::new();
    let mut layers = vec![json!({
        "id": "background", "type": "background", "paint": {"background-color": "#f4f3ef"}
    })];
    let mut rasters: Vec<&LayerMeta> = Vec::new();
    let mut vectors: Vec<&LayerMeta> = Vec::new();
    for m in &readable {
        match m.kind {
            LayerKind::Raster => rasters.push(m),
            LayerKind::Vector => vectors.push(m),
        }
    }
    for m in rasters {
        sources.insert(
            format!("raster-{}", m.id),
            json!({
                "type": "raster",
                "url": format!("{base}/tiles/{}.json{suffix}", m.id),
                "tileSize": 256,
            }),
        );
        layers.push(json!({
            "id": format!("{}-raster", m.id), "type": "raster", "source": format!("raster-{}", m.id),
            "minzoom": m.min_zoom,
        }));
    }
    if !vectors.is_empty() {
        for name in ["citygrid", "citygrid-live"] {
            let ids: Vec<&str> = vectors
                .iter()
                .map(|m| m.id.as_str())
                .filter(|id| source_of(id) == name)
                .collect();
            if !ids.is_empty() {
                sources.insert(
                    name.to_string(),
                    json!({
                        "type": "vector",
                        "url": format!("{base}/tiles/{}.json{suffix}", ids.join(",")),
                    }),
                );
            }
        }
        let drawn: Vec<VectorLayer> = vectors
            .iter()
            .map(|m| VectorLayer::from_meta(m, source_of(&m.id)))
            .collect();
        layers.extend(basemap::style::vector_layers(&drawn, lang, colour_of));
    }
    // The city's home view (configured, else the city's own areas): never the union
    // of every layer, so a layer far away does not move the start view.
    let home = crate::home::home_view(&state, &principal);
    Ok(Json(json!({
        "version": 8,
        "name": "citygrid default",
        "metadata": {"citygrid:lang": lang.as_str()},
        "center": home.center,
        "zoom": home.zoom,
        "glyphs": format!("{base}/fonts/{{fontstack}}/{{range}}.pbf{suffix}"),
        "sprite": format!("{base}/sprites/default{suffix}"),
        "sources": sources,
        "layers": layers,
    })))
}
