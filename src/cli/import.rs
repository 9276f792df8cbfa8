//! `citygrid import vector|osm|raster`. (Being written: the importers issue.)

use citygrid_db::Config;
use clap::{Args, Subcommand};

/// What to import.
#[derive(Subcommand)]
pub enum ImportCommand {
    /// Any GDAL vector source into a PostGIS layer.
    Vector(VectorArgs),
    /// An orthophoto/GeoTIFF into a Web Mercator tile pyramid.
    Raster(super::raster::RasterArgs),
}

/// `citygrid import vector`.
#[derive(Args)]
pub struct VectorArgs {
    /// The file to import.
    pub file: std::path::PathBuf,
}

/// Runs one `import` command.
pub async fn run(command: ImportCommand, config: Config) -> anyhow::Result<()> {
    match command {
        ImportCommand::Raster(args) => super::raster::run(args, config).await,
        ImportCommand::Vector(args) => {
            anyhow::bail!(
                "importing {} is not available in this build yet",
                args.file.display()
            )
        }
    }
}
