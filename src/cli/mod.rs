//! One module per subcommand; shared helpers here.

pub mod calendar;
pub mod db;
pub mod demo;
pub mod export;
pub mod grid;
pub mod gridstore;
pub mod import;
pub mod key;
pub mod layer;
pub mod logfmt;
pub mod raster;
pub mod seed;
pub mod serve;
pub mod user;

use std::io::IsTerminal;
use std::process::ExitCode;

use citygrid_db::Config;
use sqlx::PgPool;

/// Logs to stderr; `RUST_LOG` overrides the default level (info for citygrid, and the
/// access log `citygrid_access`); `CITYGRID_LOG_FORMAT=json` writes one JSON object a
/// line (for a log collector) instead of text.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,citygrid=info,citygrid_access=info,citygrid_spatial_api=info,citygrid_importers=info,citygrid_db=info,tower_http=warn"));
    let json = std::env::var("CITYGRID_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        // Control characters in values are escaped: no value can forge a line.
        builder
            .with_ansi(std::io::stderr().is_terminal())
            .fmt_fields(logfmt::EscapedFields)
            .try_init()
    };
}

/// Prints the error as one line on stderr and returns a failing exit code.
pub fn fail(error: &anyhow::Error) -> ExitCode {
    let mut message = error.to_string();
    for cause in error.chain().skip(1) {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
    }
    eprintln!("citygrid: error: {}", message.replace('\n', " "));
    ExitCode::FAILURE
}

/// Connects to the configured database (starting the local cluster when
/// `DATABASE_URL` is unset) and applies pending migrations.
pub async fn database(config: &Config) -> anyhow::Result<PgPool> {
    let url = citygrid_db::resolve_url(config).await?;
    let pool = citygrid_db::connect(&url, config.db_max_connections, false).await?;
    citygrid_db::migrate(&pool).await?;
    Ok(pool)
}

/// [`database`] for a command that checks the migrations on a connection of its
/// own ([`citygrid_importers::vector::open_writers`]): the pool connects only when
/// it is used.
pub async fn database_lazy(config: &Config) -> anyhow::Result<PgPool> {
    let url = citygrid_db::resolve_url(config).await?;
    Ok(citygrid_db::connect(&url, config.db_max_connections, true).await?)
}
