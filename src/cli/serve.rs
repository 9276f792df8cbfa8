//! `citygrid serve [--bind ADDR]`.

use anyhow::Context;
use citygrid_db::Config;
use clap::Args;

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
    citygrid_spatial_api::serve(config, pool, listener).await
}
