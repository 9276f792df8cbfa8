//! `citygrid import vector|osm|raster|addresses`.

use std::path::PathBuf;
use std::time::Duration;

use citygrid_db::Config;
use citygrid_importers::addresses::{import_addresses, AddressFields, AddressOptions};
use citygrid_importers::osm::{self, OsmOptions};
use citygrid_importers::vector;
use citygrid_importers::{Cancel, ImportError, ImportReport, ProgressMode, VectorOptions};
use clap::{Args, Subcommand};

/// What to import.
#[derive(Subcommand)]
pub enum ImportCommand {
    /// Any GDAL vector source (Shapefile, GeoPackage, GeoJSON, DXF, CSV, KML, FlatGeobuf, GML…) into PostGIS layers.
    Vector(VectorArgs),
    /// An OpenStreetMap extract into buildings, roads, water, landuse, POIs and city components.
    Osm(OsmArgs),
    /// An orthophoto/GeoTIFF into a Web Mercator tile pyramid.
    Raster(super::raster::RasterArgs),
    /// Standard addresses (门楼牌) from any GDAL source into the geocoder's address table.
    Addresses(Box<AddressArgs>),
}

/// `citygrid import addresses`.
#[derive(Args)]
pub struct AddressArgs {
    /// The file to import (any GDAL vector source; CSV with --x-field/--y-field).
    pub file: PathBuf,
    /// The source name whose addresses the import replaces (default: the file name without extension).
    #[arg(long)]
    pub source: Option<String>,
    /// The layer of a multi-layer source (GeoPackage, KML…).
    #[arg(long)]
    pub layer: Option<String>,
    /// Import the result of this OGR SQL query on the source instead of a layer (e.g. "SELECT * FROM mlp WHERE status = 'valid'").
    #[arg(long, conflicts_with = "layer")]
    pub sql: Option<String>,
    /// CRS of the coordinates, overriding the file's: EPSG:n (4490, 4547…), gcj02 or bd09.
    #[arg(long = "s-srs", alias = "source-crs")]
    pub s_srs: Option<String>,
    /// Text encoding of the file when it does not declare one (e.g. GBK, CP936, Big5).
    #[arg(long)]
    pub encoding: Option<String>,
    /// CSV: the column holding X / longitude.
    #[arg(long)]
    pub x_field: Option<String>,
    /// CSV: the column holding Y / latitude.
    #[arg(long)]
    pub y_field: Option<String>,
    /// The field holding the whole address (湖北省武汉市江岸区沿江大道188号).
    #[arg(long)]
    pub full_field: Option<String>,
    /// The field holding the road name.
    #[arg(long)]
    pub road_field: Option<String>,
    /// The field holding the house number.
    #[arg(long)]
    pub number_field: Option<String>,
    /// The field holding the building (栋/幢/座).
    #[arg(long)]
    pub building_field: Option<String>,
    /// The field holding the unit (单元).
    #[arg(long)]
    pub unit_field: Option<String>,
    /// The field holding the community (社区).
    #[arg(long)]
    pub community_field: Option<String>,
    /// The field holding the street office (街道).
    #[arg(long)]
    pub street_field: Option<String>,
    /// The field holding the district / county.
    #[arg(long)]
    pub district_field: Option<String>,
    /// The field holding the city.
    #[arg(long)]
    pub city_field: Option<String>,
    /// The field holding the 6-digit GB/T 2260 division code.
    #[arg(long)]
    pub division_code_field: Option<String>,
    /// Import even when the coordinates do not fit the source CRS.
    #[arg(long)]
    pub force: bool,
}

/// `citygrid import vector`.
#[derive(Args)]
pub struct VectorArgs {
    /// The file to import.
    pub file: PathBuf,
    /// Layer id (default: the file name, sanitised); the prefix of the ids of a multi-layer source.
    #[arg(long)]
    pub layer: Option<String>,
    /// CRS of the coordinates, overriding the file's: EPSG:n, gcj02 or bd09.
    #[arg(long)]
    pub source_crs: Option<String>,
    /// Import only this layer of a multi-layer source (GeoPackage, KML…).
    #[arg(long)]
    pub source_layer: Option<String>,
    /// Text encoding of the file when it does not declare one (e.g. GBK, CP936, Big5).
    #[arg(long)]
    pub encoding: Option<String>,
    /// CSV: the column holding X / longitude.
    #[arg(long)]
    pub x_field: Option<String>,
    /// CSV: the column holding Y / latitude.
    #[arg(long)]
    pub y_field: Option<String>,
    /// Replace the layer if it exists.
    #[arg(long)]
    pub replace: bool,
    /// Layer title for the catalogue.
    #[arg(long)]
    pub title: Option<String>,
    /// Import even when the coordinates do not fit the source CRS (lon/lat
    /// degrees declared as metres, outside the CRS's area of use).
    #[arg(long)]
    pub force: bool,
}

/// `citygrid import osm`.
#[derive(Args)]
pub struct OsmArgs {
    /// The extract (.osm.pbf or .osm).
    pub file: PathBuf,
    /// Prefix of the layer ids: <prefix>_buildings, _roads, _water, _landuse, _pois, _components.
    #[arg(long, default_value = "osm")]
    pub prefix: String,
    /// 6-digit GB/T 2260 code that component ids start with.
    #[arg(long, default_value = osm::DEFAULT_ADMIN_CODE)]
    pub admin_code: String,
    /// Replace the layers if they exist.
    #[arg(long)]
    pub replace: bool,
}

/// Runs one `import` command.
pub async fn run(command: ImportCommand, config: Config) -> anyhow::Result<()> {
    match command {
        ImportCommand::Raster(args) => super::raster::run(args, config).await,
        ImportCommand::Addresses(args) => {
            let args = *args;
            if !args.file.exists() {
                return Err(ImportError::NotFound(args.file).into());
            }
            let options = AddressOptions {
                file: args.file,
                source: args.source,
                layer: args.layer,
                sql: args.sql,
                source_crs: args.s_srs,
                encoding: args.encoding,
                x_field: args.x_field,
                y_field: args.y_field,
                fields: AddressFields {
                    full: args.full_field,
                    road: args.road_field,
                    number: args.number_field,
                    building: args.building_field,
                    unit: args.unit_field,
                    community: args.community_field,
                    street: args.street_field,
                    district: args.district_field,
                    city: args.city_field,
                    division_code: args.division_code_field,
                },
                force: args.force,
            };
            let pool = super::database(&config).await?;
            let cancel = Cancel::new();
            let watcher = {
                let cancel = cancel.clone();
                tokio::spawn(async move {
                    if tokio::signal::ctrl_c().await.is_ok() {
                        eprintln!("citygrid: interrupted, rolling back…");
                        cancel.cancel();
                    }
                })
            };
            let report = import_addresses(&pool, &options, &cancel, ProgressMode::detect()).await;
            watcher.abort();
            let r = report?;
            println!(
                "addresses {}: {} read, {} stored, {} skipped, {} replaced in {:.2} s",
                r.source, r.read, r.written, r.skipped, r.replaced, r.seconds
            );
            Ok(())
        }
        ImportCommand::Vector(args) => {
            if !args.file.exists() {
                return Err(ImportError::NotFound(args.file).into());
            }
            let options = VectorOptions {
                file: args.file,
                layer: args.layer,
                source_crs: args.source_crs,
                source_layer: args.source_layer,
                encoding: args.encoding,
                x_field: args.x_field,
                y_field: args.y_field,
                replace: args.replace,
                title: args.title,
                force: args.force,
            };
            // The file is opened and read while the writers connect, check the
            // migrations and their server processes load PostGIS: the two are
            // independent until the first COPY.
            let (source, writers) = tokio::join!(vector::open_source(&options), async {
                let pool = super::database_lazy(&config).await?;
                anyhow::Ok(vector::open_writers(&pool).await?)
            });
            let source = source?;
            let writers = writers?;
            let report = with_ctrl_c(|cancel| async move {
                vector::import_with_writers(
                    &options,
                    source,
                    writers,
                    &cancel,
                    ProgressMode::detect(),
                )
                .await
            })
            .await?;
            print_summary(&report);
            Ok(())
        }
        ImportCommand::Osm(args) => {
            if !args.file.exists() {
                return Err(ImportError::NotFound(args.file).into());
            }
            let options = OsmOptions {
                file: args.file,
                prefix: args.prefix,
                admin_code: args.admin_code,
                replace: args.replace,
            };
            let pool = super::database(&config).await?;
            let report = with_ctrl_c(|cancel| async move {
                osm::import_osm(&pool, &options, &cancel, ProgressMode::detect()).await
            })
            .await?;
            print_summary(&report);
            Ok(())
        }
    }
}

/// Runs an import that stops (and rolls back) on Ctrl-C.
async fn with_ctrl_c<F, Fut>(import: F) -> Result<ImportReport, ImportError>
where
    F: FnOnce(Cancel) -> Fut,
    Fut: std::future::Future<Output = Result<ImportReport, ImportError>>,
{
    let cancel = Cancel::new();
    let watcher = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("citygrid: interrupted, rolling back…");
                cancel.cancel();
            }
        })
    };
    let waiter = cancel.clone();
    let result = tokio::select! {
        result = import(cancel) => result,
        // The import notices the flag and rolls back by itself; this is the backstop
        // for a step that does not (dropping the transaction rolls it back too).
        _ = async { waiter.cancelled().await; tokio::time::sleep(Duration::from_secs(10)).await } => {
            Err(ImportError::Interrupted)
        }
    };
    watcher.abort();
    result
}

fn print_summary(report: &ImportReport) {
    println!(
        "{:<32} {:<16} {:>10} {:>10} {:>9} {:>9} {:>9} {:>8} {:>10}",
        "layer", "geometry", "read", "written", "repaired", "empty", "invalid", "seconds", "rows/s"
    );
    let mut total = 0;
    for l in &report.layers {
        let s = &l.stats;
        total += s.written;
        println!(
            "{:<32} {:<16} {:>10} {:>10} {:>9} {:>9} {:>9} {:>8.2} {:>10.0}",
            l.id,
            l.geometry_type,
            s.read,
            s.written,
            s.repaired,
            s.skipped_empty,
            s.skipped_invalid,
            s.seconds,
            s.rows_per_second
        );
    }
    let rate = if report.seconds > 0.0 {
        total as f64 / report.seconds
    } else {
        0.0
    };
    println!(
        "imported {} layer(s), {total} rows in {:.2} s ({rate:.0} rows/s)",
        report.layers.len(),
        report.seconds
    );
}
