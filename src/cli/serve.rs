//! `citygrid serve [--bind ADDR]`.
//!
//! Shutdown: on SIGTERM or Ctrl-C the server stops accepting connections and
//! finishes the requests it has (a write is acknowledged only after its commit, so
//! no acknowledged write is lost); the drain is bounded by the request timeout plus
//! a margin, after which the process exits with an error rather than hang.

use std::time::Duration;

use anyhow::{bail, Context};
use citygrid_db::Config;
use clap::Args;

/// Time allowed, beyond the request timeout, for open requests to finish and the
/// pool to close after a shutdown signal.
const DRAIN_MARGIN: Duration = Duration::from_secs(10);

/// `citygrid serve`.
#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on (default from CITYGRID_BIND or citygrid.toml, else 127.0.0.1:8080).
    #[arg(long)]
    pub bind: Option<String>,
}

/// Connects (lazily, so the service starts even while PostGIS is away) and serves.
pub async fn run(args: ServeArgs, mut config: Config) -> anyhow::Result<()> {
    if let Some(bind) = args.bind {
        config.bind = bind;
    }
    serve(config).await
}

/// Serves with `config` until SIGTERM or Ctrl-C.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let url = citygrid_db::resolve_url(&config).await?;
    let pool = citygrid_db::connect(&url, config.db_max_connections, true).await?;
    let listener = tokio::net::TcpListener::bind(&config.bind)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (is another server using it? choose another with --bind)",
                config.bind
            )
        })?;
    let drain = Duration::from_secs(config.request_timeout_secs.max(1)) + DRAIN_MARGIN;
    // Register for the signals before serving so that none is missed.
    let signalled = shutdown_requested()?;
    tokio::select! {
        result = citygrid_spatial_api::serve(config, pool, listener) => result,
        () = async {
            signalled.await;
            tokio::time::sleep(drain).await;
        } => bail!(
            "open requests did not finish within {} s of the shutdown signal; stopping anyway",
            drain.as_secs()
        ),
    }
}

/// A future that completes on the first SIGTERM or Ctrl-C (the server's own
/// graceful shutdown listens for the same signals).
fn shutdown_requested() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
    })
}
