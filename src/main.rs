//! The `citygrid` command line: parse the arguments, then call a crate.

mod cli;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// citygrid — GIS platform for digital city management.
#[derive(Parser)]
#[command(name = "citygrid", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Everything a newcomer needs: local PostGIS, migrations, the sample city, then serve.
    Demo(cli::demo::DemoArgs),
    /// Run the HTTP service.
    Serve(cli::serve::ServeArgs),
    /// Manage the local PostGIS cluster (used when DATABASE_URL is unset).
    #[command(subcommand)]
    Db(cli::db::DbCommand),
    /// Import survey data, OSM extracts or orthophotos into PostGIS.
    #[command(subcommand)]
    Import(cli::import::ImportCommand),
    /// Export a layer as a tile archive (PMTiles or MBTiles).
    Export(cli::export::ExportArgs),
    /// Manage user accounts.
    #[command(subcommand)]
    User(cli::user::UserCommand),
    /// Manage API keys for embedding maps.
    #[command(subcommand)]
    Key(cli::key::KeyCommand),
    /// Unit grids, components and the default reference data of grid management.
    #[command(subcommand)]
    Grid(cli::grid::GridCommand),
    /// Public holidays of the working calendar: import a year's arrangement, list them.
    #[command(subcommand)]
    Calendar(cli::calendar::CalendarCommand),
    /// Layers of the catalogue: show one, choose what its vector tiles carry.
    #[command(subcommand)]
    Layer(cli::layer::LayerCommand),
}

/// mimalloc (see the dependency's note in Cargo.toml).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli::init_tracing();
    let config = match citygrid_db::Config::load() {
        Ok(config) => config,
        Err(e) => return cli::fail(&e.into()),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return cli::fail(&anyhow::anyhow!("cannot start the async runtime: {e}")),
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Demo(args) => cli::demo::run(args, config).await,
            Command::Serve(args) => cli::serve::run(args, config).await,
            Command::Db(cmd) => cli::db::run(cmd, config).await,
            Command::Import(cmd) => cli::import::run(cmd, config).await,
            Command::Export(args) => cli::export::run(args, config).await,
            Command::User(cmd) => cli::user::run(cmd, config).await,
            Command::Key(cmd) => cli::key::run(cmd, config).await,
            Command::Grid(cmd) => cli::grid::run(cmd, config).await,
            Command::Calendar(cmd) => cli::calendar::run(cmd, config).await,
            Command::Layer(cmd) => cli::layer::run(cmd, config).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => cli::fail(&e),
    }
}
