//! The one error type of the raster importer and exporter.

use std::path::PathBuf;

/// Everything that can go wrong while importing or exporting raster tiles.
///
/// Each message is one line that tells the user what is wrong and, where it
/// helps, what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum RasterError {
    /// GDAL could not open the file as a raster.
    #[error("{path}: not a raster GDAL can read ({detail})")]
    NotRaster {
        /// The file given.
        path: PathBuf,
        /// GDAL's explanation.
        detail: String,
    },
    /// The raster has no geotransform / GCPs or no coordinate system.
    #[error("{path}: no georeferencing ({detail}); assign one first, e.g. with gdal_translate -a_srs/-a_ullr or gdal_edit.py")]
    NoGeoreference {
        /// The file given.
        path: PathBuf,
        /// What is missing.
        detail: String,
    },
    /// The raster's bands cannot be shown as an image.
    #[error("{path}: unsupported raster: {detail}")]
    Unsupported {
        /// The file given.
        path: PathBuf,
        /// Why.
        detail: String,
    },
    /// The zoom range asked for makes no sense.
    #[error("invalid zoom range: {0}")]
    Zoom(String),
    /// A layer id that does not match `[a-z0-9_]{1,48}`.
    #[error("invalid layer id {0:?}: use 1 to 48 characters of a-z, 0-9 and _")]
    LayerId(String),
    /// The layer exists and `--replace` was not given.
    #[error("layer {0:?} already exists; pass --replace to overwrite it")]
    LayerExists(String),
    /// No such layer.
    #[error("layer {0:?} does not exist")]
    NoLayer(String),
    /// Another import of the same layer is running.
    #[error("another import of layer {0:?} is running; try again when it has finished")]
    Busy(String),
    /// GDAL failed while reading or warping the raster (e.g. a truncated file).
    #[error("{path}: reading the raster failed: {detail}")]
    Read {
        /// The file given.
        path: PathBuf,
        /// GDAL's explanation.
        detail: String,
    },
    /// Encoding or decoding a tile image failed.
    #[error("tile image: {0}")]
    Image(#[from] image::ImageError),
    /// The database refused something.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// Writing the tile archive failed.
    #[error("{path}: {detail}")]
    Archive {
        /// The archive file.
        path: PathBuf,
        /// What failed.
        detail: String,
    },
    /// A request that is valid but not supported (yet).
    #[error("{0}")]
    NotAvailable(String),
    /// The import was interrupted (a worker stopped unexpectedly).
    #[error("import interrupted: {0}")]
    Interrupted(String),
}

/// Shorthand for results of this module.
pub type Result<T, E = RasterError> = std::result::Result<T, E>;
