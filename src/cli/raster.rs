//! `citygrid import raster`. (Being written: the raster issue.)

use citygrid_db::Config;
use clap::Args;

/// `citygrid import raster`.
#[derive(Args)]
pub struct RasterArgs {
    /// The GeoTIFF (or any raster GDAL reads).
    pub file: std::path::PathBuf,
}

/// Runs `import raster`.
pub async fn run(args: RasterArgs, _config: Config) -> anyhow::Result<()> {
    anyhow::bail!(
        "importing {} is not available in this build yet",
        args.file.display()
    )
}
