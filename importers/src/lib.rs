//! # citygrid-importers
//!
//! Getting data into citygrid's PostGIS:
//!
//! - [`vector`]: any GDAL vector source (Shapefile, GeoPackage, GeoJSON, DXF, CSV with
//!   coordinates, KML, FlatGeobuf, GML…) into layers `layers."<id>"` + `layer_catalog`;
//! - [`osm`]: an OSM extract into standard layers and city components;
//! - [`addresses`]: standard addresses (门楼牌) from any GDAL source into `addresses`;
//! - [`crs`]: source CRSs through PROJ, GCJ-02 and BD-09 by hand (`citygrid_geo::chinacrs`);
//! - `raster`: orthophoto tile pyramids.
//!
//! The vector path: [`reader`] (GDAL on its own thread) → [`pipeline`] (conversion
//! workers: [`geometry`] normalisation, [`fields`] and [`copy`] encoding) → [`stage`]
//! (binary COPY into a staging table, repair, index) → [`catalog`] (atomic swap,
//! catalogue row, NOTIFY). See `importers/README.md`.

// Links the GDAL/PROJ trampolines, so both libraries load on first use (lazylib/README.md).
use citygrid_lazylib as _;

pub mod addresses;
pub mod catalog;
pub mod control;
pub mod copy;
pub mod crs;
pub mod defaults;
pub mod error;
pub mod fields;
pub mod geometry;
pub mod load;
pub mod naming;
pub mod osm;
pub mod pipeline;
pub mod progress;
pub mod reader;
pub mod stage;
pub mod vector;

pub use control::Cancel;
pub use error::ImportError;
pub use load::{ImportReport, LayerReport};
pub use progress::ProgressMode;
pub use vector::{import_vector, VectorOptions};
pub mod raster;
