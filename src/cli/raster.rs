//! `citygrid import raster`: an orthophoto/GeoTIFF into a Web Mercator tile
//! pyramid stored in PostGIS (see `citygrid_importers::raster`).

use citygrid_db::Config;
use citygrid_importers::raster::{self, ImportOptions, MatrixSet, Resampling, TileFormat};
use clap::Args;

/// `citygrid import raster FILE --layer ID [...]`.
#[derive(Args)]
pub struct RasterArgs {
    /// The GeoTIFF (or any raster GDAL reads, in any CRS).
    pub file: std::path::PathBuf,
    /// The layer id to create (a-z, 0-9, _).
    #[arg(long)]
    pub layer: String,
    /// Tile format: png, jpeg or webp [default: png when the image has transparency, else jpeg].
    #[arg(long, value_parser = parse_format)]
    pub format: Option<TileFormat>,
    /// Lowest zoom [default: where the whole image fits one tile].
    #[arg(long)]
    pub min_zoom: Option<u8>,
    /// Highest zoom [default: the source resolution].
    #[arg(long)]
    pub max_zoom: Option<u8>,
    /// Replace the layer if it exists.
    #[arg(long)]
    pub replace: bool,
    /// The layer title [default: the file name].
    #[arg(long)]
    pub title: Option<String>,
    /// Resampling into the max-zoom tiles: nearest, bilinear, cubic, average.
    #[arg(long, default_value = "bilinear", value_parser = parse_resampling)]
    pub resampling: Resampling,
    /// Worker threads [default: all cores].
    #[arg(long)]
    pub threads: Option<usize>,
    /// No progress display.
    #[arg(long, short)]
    pub quiet: bool,
    /// Tile matrix sets, comma-separated: WebMercatorQuad, WorldCRS84Quad,
    /// CGCS2000Quad [default: all; WebMercatorQuad is always built].
    #[arg(long, value_parser = parse_tms)]
    pub tms: Option<TmsList>,
}

/// The `--tms` list.
#[derive(Clone, Debug)]
pub struct TmsList(pub Vec<MatrixSet>);

fn parse_tms(s: &str) -> Result<TmsList, String> {
    let mut sets = Vec::new();
    for id in s.split(',').map(str::trim) {
        let set = MatrixSet::parse(id).ok_or_else(|| {
            format!(
                "unknown tile matrix set {:?}: use {}",
                id.chars().take(40).collect::<String>(),
                MatrixSet::ALL.map(MatrixSet::id).join(", ")
            )
        })?;
        if !sets.contains(&set) {
            sets.push(set);
        }
    }
    Ok(TmsList(sets))
}

fn parse_format(s: &str) -> Result<TileFormat, String> {
    s.parse()
}

fn parse_resampling(s: &str) -> Result<Resampling, String> {
    s.parse()
}

/// Runs `import raster`.
pub async fn run(args: RasterArgs, config: Config) -> anyhow::Result<()> {
    // Cheap checks first: bad arguments fail before the database is touched.
    raster::store::check_layer_id(&args.layer)?;
    raster::check_zoom_args(args.min_zoom, args.max_zoom)?;
    if !args.file.exists() {
        anyhow::bail!("{}: no such file", args.file.display());
    }
    let pool = super::database(&config).await?;
    let options = ImportOptions {
        file: args.file,
        layer: args.layer,
        title: args.title,
        format: args.format,
        min_zoom: args.min_zoom,
        max_zoom: args.max_zoom,
        replace: args.replace,
        resampling: args.resampling,
        threads: args.threads,
        quiet: args.quiet,
        tms: args.tms.map_or_else(|| MatrixSet::ALL.to_vec(), |l| l.0),
    };
    let summary = raster::import_raster(&pool, options).await?;
    let per_zoom: Vec<String> = summary
        .per_zoom
        .iter()
        .map(|(z, n)| format!("z{z}:{n}"))
        .collect();
    let [w, s, e, n] = summary.bounds;
    println!(
        "raster layer {}: {} {} tiles, zoom {}-{} ({}), {} empty skipped, {:.2}s; bounds {w:.6},{s:.6},{e:.6},{n:.6} from {}",
        summary.layer,
        summary.tiles,
        summary.format,
        summary.min_zoom,
        summary.max_zoom,
        per_zoom.join(" "),
        summary.skipped,
        summary.seconds,
        summary.source_crs,
    );
    Ok(())
}
