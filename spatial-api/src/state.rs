//! The state shared by every handler, and its parts.
//!
//! Each field is a substate: a handler that needs only the pool, the catalogue or
//! the layer store extracts just that (`State<PgPool>`, `State<Arc<Registry>>`,
//! `State<Arc<LayerStore>>`…), through the `FromRef` impls derived here. This module
//! imports only lower modules, never a handler's.

use std::sync::Arc;

use axum::extract::FromRef;
use citygrid_db::Config;
use sqlx::PgPool;

use crate::auth::CredentialCache;
use crate::basemap::store::Basemap;
use crate::catalog::Registry;
use crate::layers::flights::{FlightLimits, TileFlights};
use crate::layers::LayerStore;
use crate::metrics::Metrics;
use crate::mgmt::state::MgmtState;

/// Shared state: cheap to clone (everything behind `Arc`). Every field's type is
/// distinct, so each is a substate (`FromRef`).
#[derive(Clone, FromRef)]
pub struct AppState {
    /// The database pool (connects lazily: the service runs while PostGIS is away).
    pub pool: PgPool,
    /// The configuration the service started with.
    pub config: Arc<Config>,
    /// Recently resolved tokens and API keys.
    pub credentials: Arc<CredentialCache>,
    /// Failed sign-ins per account name (the per-account back-off).
    pub login_backoff: Arc<crate::auth::backoff::LoginBackoff>,
    /// Request counters and latencies for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// The layer catalogue, kept in memory and refreshed on change.
    pub catalog: Arc<Registry>,
    /// The vector layers in memory and the tile cache.
    pub layers: Arc<LayerStore>,
    /// Grid management: cached reference data and the outbox wake-up.
    pub mgmt: Arc<MgmtState>,
    /// Vector tiles being encoded or recently encoded (shared encodes, stale-while-revalidate).
    pub tile_flights: Arc<TileFlights>,
    /// Tiles of layers served from the database being made: concurrent misses share
    /// one statement and its answer (a 413 or 503 too); no stale serving.
    pub db_tile_flights: Arc<TileFlights<crate::error::ApiError>>,
    /// Map glyphs and sprites (made on first use, kept).
    pub basemap: Arc<Basemap>,
    /// The geocoding index (addresses, roads, areas), kept current.
    pub geocoder: Arc<crate::geocode::index::Geocoder>,
    /// Where layer data is read from: hot standbys that have caught up, else the
    /// primary (`database_read_urls`).
    pub reads: Arc<citygrid_store::replication::ReadSource>,
}

impl AppState {
    /// New state around a pool and a configuration.
    pub fn new(pool: PgPool, config: Config) -> AppState {
        AppState {
            reads: citygrid_store::replication::ReadSource::primary_only(pool.clone()),
            pool,
            credentials: Arc::new(CredentialCache::default()),
            login_backoff: Arc::default(),
            metrics: Arc::new(Metrics::default()),
            catalog: Arc::new(Registry::with_defaults(crate::catalog::AccessDefaults::of(
                &config,
            ))),
            layers: Arc::new(LayerStore::new(config.tile_cache_bytes)),
            mgmt: Arc::new(MgmtState::default()),
            tile_flights: Arc::new(TileFlights::new(FlightLimits {
                stale: std::time::Duration::from_secs(config.tile_stale_secs),
                ..FlightLimits::default()
            })),
            db_tile_flights: Arc::new(TileFlights::new(FlightLimits {
                stale: std::time::Duration::ZERO,
                ..FlightLimits::default()
            })),
            basemap: Arc::new(Basemap::new(config.font_dir.clone())),
            geocoder: Arc::new(crate::geocode::index::Geocoder::new(
                config.geocode_road_layers.clone(),
                config.public_layers,
            )),
            config: Arc::new(config),
        }
    }
}
