//! The city's home view: where every page (viewer, inspector, console, embedded
//! maps) and the default style open, and where the home button returns.
//!
//! In order: the configured box (`home_bbox`), the configured centre and zoom
//! (`home_center` + `home_zoom`), the bounds of the city's own areas from grid
//! management (administrative divisions, else unit grids, streets, communities), the
//! largest vector layer, the world. Never the union of every layer: one layer far
//! away (a second city, a test import) must not move the start view.

use axum::extract::State;
use axum::Json;
use citygrid_geo::view::HomeView;
use citygrid_tiles::LayerKind;
use serde::Serialize;

use crate::catalog::LayerMeta;
use crate::layers::LayerStore;
use crate::state::AppState;

/// The city's own areas, in the order their bounds are taken for the home view.
pub const CITY_AREAS: [&str; 4] = ["admin_divisions", "unit_grids", "streets", "communities"];

/// The home view and where it came from.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Home {
    /// `[longitude, latitude]`.
    pub center: [f64; 2],
    /// MapLibre zoom (512-pixel tiles).
    pub zoom: f64,
    /// `[west, south, east, north]` in degrees: the box to fit on the screen.
    pub bbox: [f64; 4],
    /// `config`, `layer:<id>` (a city area or the largest layer) or `world`.
    pub source: String,
}

impl Home {
    fn of(view: HomeView, source: String) -> Home {
        Home {
            center: view.center,
            zoom: view.zoom,
            bbox: view.bbox,
            source,
        }
    }

    /// The plain view.
    pub fn view(&self) -> HomeView {
        HomeView {
            center: self.center,
            zoom: self.zoom,
            bbox: self.bbox,
        }
    }
}

/// The bounds of a layer: its features in memory, else its catalogue row (when it
/// has features).
pub fn layer_bounds(layers: &LayerStore, meta: &LayerMeta) -> Option<[f64; 4]> {
    if let Some(loaded) = layers.get(&meta.id) {
        let index = loaded.index.read().ok()?;
        if index.is_empty() {
            return None;
        }
        let b = index.bounds_lonlat()?;
        return Some([b.min_x, b.min_y, b.max_x, b.max_y]);
    }
    if meta.feature_count == 0 {
        return None;
    }
    let b = meta.bounds.as_ref()?;
    <[f64; 4]>::try_from(b.as_slice()).ok()
}

/// The home view of the service in `state` (see the module documentation).
pub fn home_view(state: &AppState, principal: &crate::auth::Principal) -> Home {
    let config = &state.config;
    if let Some(b) = config.home_bbox {
        if let Ok(v) = HomeView::fit(b) {
            return Home::of(v, "config".into());
        }
    }
    if let (Some(c), Some(z)) = (config.home_center, config.home_zoom) {
        if let Ok(v) = HomeView::around(c, z) {
            return Home::of(v, "config".into());
        }
    }
    let catalog = state.catalog.layers();
    // Only layers the caller may read: the home view must not reveal where a
    // restricted layer lies.
    let vectors = || {
        catalog
            .iter()
            .filter(|m| m.kind == LayerKind::Vector && state.catalog.may_read(principal, &m.id))
    };
    for id in CITY_AREAS {
        if let Some(meta) = vectors().find(|m| m.id == id) {
            if let Some(v) = layer_bounds(&state.layers, meta).and_then(|b| HomeView::fit(b).ok()) {
                return Home::of(v, format!("layer:{id}"));
            }
        }
    }
    // The largest vector layer (by features; ties by id, so the choice is stable).
    let count = |m: &LayerMeta| {
        state
            .layers
            .get(&m.id)
            .map(|l| l.len() as i64)
            .unwrap_or(m.feature_count)
    };
    let mut candidates: Vec<(i64, &LayerMeta)> = vectors().map(|m| (count(m), m)).collect();
    candidates.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.id.cmp(&b.1.id)));
    for (_, meta) in candidates {
        if let Some(v) = layer_bounds(&state.layers, meta).and_then(|b| HomeView::fit(b).ok()) {
            return Home::of(v, format!("layer:{}", meta.id));
        }
    }
    let world = HomeView::fit([-180.0, -85.0, 180.0, 85.0]).unwrap_or(HomeView {
        center: [0.0, 0.0],
        zoom: 0.0,
        bbox: [-180.0, -85.0, 180.0, 85.0],
    });
    Home::of(world, "world".into())
}

/// The answer of `GET /api/home`: the home view and the city's time zone, which the
/// pages show and read every date and time in (not the browser's zone).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HomeAnswer {
    /// The home view.
    #[serde(flatten)]
    pub home: Home,
    /// The city's time zone (configuration `timezone`, an IANA name).
    #[schema(example = "Asia/Shanghai")]
    pub timezone: String,
}

/// `GET /api/home`: the home view and the city's time zone (public: the pages need
/// them before signing in).
pub async fn serve(
    State(state): State<AppState>,
    principal: crate::auth::Principal,
) -> Json<HomeAnswer> {
    Json(HomeAnswer {
        home: home_view(&state, &principal),
        timezone: state.config.timezone.clone(),
    })
}
