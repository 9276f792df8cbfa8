//! The state shared by every handler.

use std::sync::Arc;

use citygrid_db::Config;
use sqlx::PgPool;

use crate::auth::CredentialCache;
use crate::catalog::Registry;
use crate::layers::LayerStore;
use crate::metrics::Metrics;

/// Shared state: cheap to clone (everything behind `Arc`).
#[derive(Clone)]
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
    pub mgmt: Arc<crate::mgmt::MgmtState>,
    /// Vector tiles being encoded or recently encoded (shared encodes, stale-while-revalidate).
    pub tile_flights: Arc<crate::layers::flights::TileFlights>,
}

impl AppState {
    /// New state around a pool and a configuration.
    pub fn new(pool: PgPool, config: Config) -> AppState {
        AppState {
            pool,
            credentials: Arc::new(CredentialCache::default()),
            login_backoff: Arc::default(),
            metrics: Arc::new(Metrics::default()),
            catalog: Arc::new(Registry::default()),
            layers: Arc::new(LayerStore::new(config.tile_cache_bytes)),
            mgmt: Arc::new(crate::mgmt::MgmtState::default()),
            tile_flights: Arc::default(),
            config: Arc::new(config),
        }
    }
}
