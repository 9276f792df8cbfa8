//! `citygrid export LAYER FILE.pmtiles|FILE.mbtiles`. (Being written: the raster issue.)

use citygrid_db::Config;
use clap::Args;

/// `citygrid export`.
#[derive(Args)]
pub struct ExportArgs {
    /// The layer id.
    pub layer: String,
    /// The archive to write (.pmtiles or .mbtiles).
    pub file: std::path::PathBuf,
}

/// Runs `export`.
pub async fn run(args: ExportArgs, _config: Config) -> anyhow::Result<()> {
    anyhow::bail!(
        "exporting {} is not available in this build yet",
        args.layer
    )
}
