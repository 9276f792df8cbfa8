//! `citygrid db start|stop|status|url|migrate`.

use anyhow::{bail, Context};
use citygrid_db::{cluster, Config, LocalCluster};
use clap::Subcommand;

/// The local cluster's commands.
#[derive(Subcommand)]
pub enum DbCommand {
    /// Create (first time) and start the local PostGIS cluster; a no-op when it runs.
    Start,
    /// Stop the local cluster; a no-op when it is stopped.
    Stop,
    /// Print whether the local cluster runs.
    Status,
    /// Print the database URL citygrid uses.
    Url,
    /// Apply pending schema migrations; a no-op when the schema is current.
    Migrate,
}

fn local_only(config: &Config, what: &str) -> anyhow::Result<LocalCluster> {
    if config.database_url.is_some() {
        bail!("DATABASE_URL is set, so citygrid uses that server and does not {what} a local cluster; unset it to manage the local one");
    }
    Ok(LocalCluster::new(&config.home))
}

/// Runs one `db` command.
pub async fn run(command: DbCommand, config: Config) -> anyhow::Result<()> {
    match command {
        DbCommand::Start => {
            let cluster = local_only(&config, "start")?;
            let root = cluster.root().to_path_buf();
            let url = citygrid_db::resolve_url(&config).await?;
            let pool = citygrid_db::connect(&url, 2, false).await?;
            citygrid_db::migrate(&pool).await?;
            let port = cluster.port()?;
            println!(
                "local PostGIS running on 127.0.0.1:{port} (data in {})",
                root.display()
            );
        }
        DbCommand::Stop => {
            let cluster = local_only(&config, "stop")?;
            let stopped = tokio::task::spawn_blocking(move || cluster.stop()).await??;
            println!(
                "{}",
                if stopped {
                    "local PostGIS stopped"
                } else {
                    "local PostGIS was not running"
                }
            );
        }
        DbCommand::Status => match &config.database_url {
            Some(url) => {
                let redacted = citygrid_db::redact_url(url);
                match citygrid_db::connect(url, 1, false).await {
                    Ok(_) => println!("external database {redacted}: reachable"),
                    Err(e) => bail!("external database {redacted} is not reachable: {e}"),
                }
            }
            None => {
                let cluster = LocalCluster::new(&config.home);
                let root = cluster.root().to_path_buf();
                let status = tokio::task::spawn_blocking(move || cluster.status()).await??;
                println!("local PostGIS {status} (data in {})", root.display());
            }
        },
        DbCommand::Url => match &config.database_url {
            Some(url) => println!("{url}"),
            None => {
                let cluster = LocalCluster::new(&config.home);
                let url = cluster
                    .url(cluster::DEFAULT_DATABASE)
                    .context("run `citygrid db start` first")?;
                println!("{url}");
            }
        },
        DbCommand::Migrate => {
            let pool = super::database(&config).await?;
            let version = citygrid_store::health::schema_version(&pool).await?;
            println!("schema is at version {}", version.unwrap_or(0));
        }
    }
    Ok(())
}
