//! # citygrid-spatial-api
//!
//! The HTTP service of citygrid (axum): the layer catalogue and, as the features
//! land, tiles, OGC API, spatial queries and case management — every route behind
//! the role model of [`auth`], with JSON errors, body limits, Prometheus metrics
//! and graceful shutdown.
//!
//! The database is PostGIS, the source of truth; the service keeps what it serves
//! in memory and keeps answering reads while the database is away.

pub mod accounts;
pub mod audit;
pub mod auth;
pub mod basemap;
pub mod catalog;
pub mod clock;
pub mod db_health;
pub mod edge;
pub mod error;
pub mod error_zh;
pub mod extract;
pub mod geocode;
pub mod geojson;
pub mod home;
pub mod html;
pub mod layers;
pub mod metrics;
pub mod mgmt;
pub mod ogc;
pub mod openapi;
pub mod pages;
pub mod query;
pub mod ratelimit;
pub mod router;
pub mod routes;
pub mod search;
pub mod state;
pub mod tiles;
pub mod wmts;

use std::sync::Arc;

use axum::http::Method;
use axum::routing::{get, post, put};
use axum::Router;
use citygrid_db::Config;
use sqlx::PgPool;
use tokio::net::TcpListener;

pub use state::AppState;

use auth::{Access, Role};
use router::RouteTable;

/// Every route of the service with its access policy: the crate root assembles the
/// features' routes (each feature module adds its own), so no feature module imports
/// another's to build the table.
pub fn table() -> RouteTable {
    RouteTable::default()
        .add(
            Method::GET,
            "/health",
            Access::Public,
            get(routes::system::health),
        )
        .add(
            Method::GET,
            "/metrics",
            Access::Public,
            get(routes::system::metrics),
        )
        .add(
            Method::GET,
            openapi::PATH,
            Access::Public,
            get(openapi::serve),
        )
        .add(
            Method::GET,
            "/catalog",
            Access::Layers,
            get(routes::system::catalog),
        )
        .add(
            Method::GET,
            "/catalog/{id}",
            Access::Layers,
            get(routes::system::catalog_layer),
        )
        .add(
            Method::GET,
            "/tiles/{ids}",
            Access::Layers,
            get(routes::maps::tilejson),
        )
        .add(
            Method::GET,
            "/tiles/{ids}/{z}/{x}/{y}",
            Access::Layers,
            get(routes::tiles::tile),
        )
        .add(
            Method::GET,
            "/styles/{name}",
            Access::Layers,
            get(routes::maps::style),
        )
        .add(
            Method::POST,
            "/api/auth/login",
            Access::Public,
            post(routes::auth::login),
        )
        .add(
            Method::POST,
            "/api/auth/logout",
            Access::Authenticated,
            post(routes::auth::logout),
        )
        .add(
            Method::GET,
            "/api/auth/me",
            Access::Authenticated,
            get(routes::auth::me),
        )
        .add(
            Method::GET,
            "/api/routes",
            Access::Roles(&[Role::Admin]),
            get(routes::route_list),
        )
        .add(Method::GET, "/api/home", Access::Public, get(home::serve))
        .add(
            Method::PUT,
            "/api/admin/layers/{layer}/titles",
            Access::Roles(&[Role::Admin]),
            put(routes::titles::put),
        )
        .with(pages::routes)
        .with(basemap::routes)
        .with(mgmt::routes)
        .with(ogc::routes)
        .with(query::routes)
        .with(search::routes)
        .with(geocode::routes)
        .with(routes::layer_admin::routes)
        .with(wmts::routes)
}

/// The complete application for `state`.
pub fn app(state: AppState) -> Router {
    table().finish(state)
}

/// Applies migrations and loads the catalogue when the database is reachable;
/// when it is not, logs and carries on (the background tasks retry).
async fn prepare(state: &AppState) {
    match citygrid_db::migrate(&state.pool).await {
        Ok(()) => {
            if let Err(e) = state.catalog.reload(&state.pool, "*").await {
                tracing::warn!(error = %e, "cannot load the layer catalogue");
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "database unavailable at start; serving what is in memory and retrying")
        }
    }
}

/// The standbys of `database_read_urls` (lazy pools: one that is away at start is
/// tried again on use), or the primary alone.
fn read_source(state: &AppState) -> anyhow::Result<Arc<citygrid_store::replication::ReadSource>> {
    let config = &state.config;
    if config.database_read_urls.is_empty() {
        return Ok(citygrid_store::replication::ReadSource::primary_only(
            state.pool.clone(),
        ));
    }
    let per_standby = (config.db_max_connections / 2).max(2);
    let mut standbys = Vec::new();
    for url in &config.database_read_urls {
        let pool = citygrid_db::connect_lazy(url, per_standby)?;
        standbys.push((citygrid_db::redact_url(url), pool));
    }
    tracing::info!(
        standbys = standbys.len(),
        "reading layers from hot standbys"
    );
    Ok(citygrid_store::replication::ReadSource::new(
        state.pool.clone(),
        standbys,
        std::time::Duration::from_millis(config.read_wait_ms),
    ))
}

/// Serves on `listener` until SIGTERM or Ctrl-C, then drains open requests.
pub async fn serve(config: Config, pool: PgPool, listener: TcpListener) -> anyhow::Result<()> {
    clock::init_from_env()?;
    let mut state = AppState::new(pool, config);
    state.reads = read_source(&state)?;
    db_health::ping(&state.pool).await;
    tokio::spawn(db_health::watch(state.pool.clone()));
    prepare(&state).await;
    tokio::spawn(layers::follow_changes(
        Arc::clone(&state.layers),
        Arc::clone(&state.catalog),
        Arc::clone(&state.reads),
    ));
    if state.reads.has_standbys() {
        let reads = Arc::clone(&state.reads);
        tokio::spawn(async move {
            loop {
                reads.probe().await;
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            }
        });
    }
    tokio::spawn(catalog::follow_changes(
        Arc::clone(&state.catalog),
        state.pool.clone(),
    ));
    tokio::spawn(geocode::follow_changes(
        Arc::clone(&state.geocoder),
        state.pool.clone(),
    ));
    mgmt::spawn_tasks(&state)?;
    tokio::spawn(ogc::edit::prune_history(state.clone()));
    {
        let basemap = Arc::clone(&state.basemap);
        tokio::spawn(async move { basemap.prewarm().await });
    }
    let addr = listener.local_addr()?;
    let app = app(state.clone());
    // Scripts and tests read this line to learn the address.
    println!("citygrid listening on http://{addr}");
    tracing::info!(%addr, "serving");
    // The peer address is recorded for the per-address rate limits.
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    state.pool.close().await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: finishing open requests");
}
