//! The importers' one error type: every message says what went wrong and, where
//! there is one, what to do about it.

use std::path::PathBuf;

/// Why an import failed. The previous version of every layer is untouched whenever
/// one of these is returned.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The input file does not exist.
    #[error("{0}: no such file")]
    NotFound(PathBuf),
    /// GDAL could not open or read the source.
    #[error("cannot read {path}: {message}")]
    Source {
        /// The file.
        path: PathBuf,
        /// GDAL's explanation.
        message: String,
    },
    /// The source has no CRS and none was given.
    #[error("{0} declares no coordinate reference system: pass --source-crs (e.g. EPSG:4490, EPSG:4547, gcj02, bd09)")]
    NoCrs(String),
    /// A CRS PROJ does not know, or a malformed `--source-crs`.
    #[error("unknown coordinate reference system {crs}: {message}")]
    UnknownCrs {
        /// As given.
        crs: String,
        /// PROJ's explanation.
        message: String,
    },
    /// The coordinates do not fit the source CRS (degrees declared as metres,
    /// outside the CRS's area of use…); `--force` imports them anyway.
    #[error("{0}")]
    ImplausibleCrs(String),
    /// A command-line value that cannot be used.
    #[error("{0}")]
    Invalid(String),
    /// The target layer exists and `--replace` was not given.
    #[error("layer {0} already exists: use --replace to overwrite it")]
    Exists(String),
    /// Nothing to import.
    #[error("{0}")]
    Empty(String),
    /// The user pressed Ctrl-C.
    #[error("import interrupted; nothing was changed")]
    Interrupted,
    /// The database refused something.
    #[error("database error while {context}: {source}")]
    Db {
        /// What was being done.
        context: String,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// The database could not be reached, or its schema not migrated.
    #[error(transparent)]
    Database(#[from] citygrid_db::DbError),
    /// An internal worker failed (a bug).
    #[error("internal error: {0}")]
    Internal(String),
}

impl ImportError {
    /// A GDAL read error for `path`.
    pub fn source(path: impl Into<PathBuf>, message: impl Into<String>) -> ImportError {
        ImportError::Source {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// Adds context to database errors: `.db("creating the staging table")?`.
pub trait DbContext<T> {
    /// Wraps the error with what was being done.
    fn db(self, context: &str) -> Result<T, ImportError>;
}

impl<T> DbContext<T> for Result<T, sqlx::Error> {
    fn db(self, context: &str) -> Result<T, ImportError> {
        self.map_err(|source| ImportError::Db {
            context: context.to_string(),
            source,
        })
    }
}
