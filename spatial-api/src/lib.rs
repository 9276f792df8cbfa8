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
pub mod catalog;
pub mod clock;
pub mod db_health;
pub mod edge;
pub mod error;
pub mod extract;
pub mod geojson;
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
pub mod state;

use std::sync::Arc;

use axum::Router;
use citygrid_db::Config;
use sqlx::PgPool;
use tokio::net::TcpListener;

pub use state::AppState;

/// The complete application for `state`.
pub fn app(state: AppState) -> Router {
    routes::table().finish(state)
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

/// Serves on `listener` until SIGTERM or Ctrl-C, then drains open requests.
pub async fn serve(config: Config, pool: PgPool, listener: TcpListener) -> anyhow::Result<()> {
    clock::init_from_env()?;
    let state = AppState::new(pool, config);
    db_health::ping(&state.pool).await;
    tokio::spawn(db_health::watch(state.pool.clone()));
    prepare(&state).await;
    tokio::spawn(layers::follow_changes(
        Arc::clone(&state.layers),
        Arc::clone(&state.catalog),
        state.pool.clone(),
    ));
    tokio::spawn(catalog::follow_changes(
        Arc::clone(&state.catalog),
        state.pool.clone(),
    ));
    mgmt::spawn_tasks(&state)?;
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
