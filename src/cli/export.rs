//! `citygrid export LAYER FILE.pmtiles|FILE.mbtiles`: a stored layer as a tile
//! archive (see `citygrid_importers::raster::archive`). Raster layers copy their
//! stored tiles; vector layers are loaded with the service's loader and encoded
//! as MVT by the tile engine.

use citygrid_db::Config;
use citygrid_importers::raster::archive::{self, ExportOptions};
use citygrid_tiles::LayerKind;
use clap::Args;

/// `citygrid export`.
#[derive(Args)]
pub struct ExportArgs {
    /// The layer id.
    pub layer: String,
    /// The archive to write (.pmtiles or .mbtiles); replaced if it exists.
    pub file: std::path::PathBuf,
    /// Lowest zoom to export [default: the layer's].
    #[arg(long)]
    pub min_zoom: Option<u8>,
    /// Highest zoom to export [default: the layer's; 14 for vector layers].
    #[arg(long)]
    pub max_zoom: Option<u8>,
    /// No progress display.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Runs `export`.
pub async fn run(args: ExportArgs, config: Config) -> anyhow::Result<()> {
    archive::ArchiveKind::from_path(&args.file)?;
    citygrid_importers::raster::check_zoom_args(args.min_zoom, args.max_zoom)?;
    let pool = super::database(&config).await?;
    let facts = citygrid_importers::raster::store::layer_facts(&pool, &args.layer).await?;
    if facts.kind == LayerKind::Vector {
        return export_vector(&pool, args).await;
    }
    let summary = archive::export_layer(
        &pool,
        ExportOptions {
            layer: args.layer.clone(),
            path: args.file.clone(),
            min_zoom: args.min_zoom,
            max_zoom: args.max_zoom,
            quiet: args.quiet,
        },
    )
    .await?;
    println!(
        "exported {}: {} tiles, zoom {}-{}, {} bytes to {} in {:.2}s",
        args.layer,
        summary.tiles,
        summary.min_zoom,
        summary.max_zoom,
        summary.bytes,
        args.file.display(),
        summary.seconds
    );
    Ok(())
}

/// Exports a vector layer: its index from PostGIS, then MVT tiles over its
/// extent (default zooms: the layer's min zoom up to 14; clients overzoom).
async fn export_vector(pool: &sqlx::PgPool, args: ExportArgs) -> anyhow::Result<()> {
    use citygrid_importers::raster::archive::vector::{
        export_vector, VectorLayer, DEFAULT_VECTOR_MAX_ZOOM,
    };
    let metas = citygrid_spatial_api::catalog::load(pool).await?;
    let meta = metas
        .into_iter()
        .find(|m| m.id == args.layer)
        .ok_or_else(|| anyhow::anyhow!("layer {:?} does not exist", args.layer))?;
    let min_zoom = args
        .min_zoom
        .unwrap_or_else(|| u8::try_from(meta.min_zoom.clamp(0, 24)).unwrap_or(0));
    let max_zoom = args
        .max_zoom
        .unwrap_or(DEFAULT_VECTOR_MAX_ZOOM.max(min_zoom));
    citygrid_importers::raster::check_zoom_args(Some(min_zoom), Some(max_zoom))?;
    let index = citygrid_spatial_api::layers::load::load_layer(pool, &meta).await?;
    let tile_properties = meta.effective_tile_properties();
    let (layer, title, file, quiet) = (
        args.layer.clone(),
        meta.title.clone(),
        args.file.clone(),
        args.quiet,
    );
    let summary = tokio::task::spawn_blocking(move || {
        let layer = VectorLayer {
            name: &layer,
            title: &title,
            index: &index,
            tile_properties: &tile_properties,
        };
        export_vector(&file, layer, min_zoom, max_zoom, quiet)
    })
    .await??;
    println!(
        "exported {}: {} vector tiles, zoom {}-{}, {} bytes to {} in {:.2}s",
        args.layer,
        summary.tiles,
        summary.min_zoom,
        summary.max_zoom,
        summary.bytes,
        args.file.display(),
        summary.seconds
    );
    Ok(())
}
