//! # citygrid-tiles
//!
//! The pure tile engine of citygrid: plain values in, plain values out, no I/O, no
//! async, safe to call from rayon threads.
//!
//!
//! The tile maths (WebMercatorQuad, `MAX_ZOOM`) is `citygrid_geo::tms`.
//! - [`schema`]: attribute values and layer schemas.
//! - [`index`]: the in-memory layer index (R-tree, bbox and nearest queries, patches).
//! - [`mvt`]: the Mapbox Vector Tile 2.1 encoder with clipping, simplification and a
//!   deterministic size cap.
//! - [`decode`]: a strict MVT reader apart from the encoder, for tests and fuzzing.
//! - [`cache`]: the byte-bounded tile cache with exact invalidation.
//! - [`hash`]: stable hashes for ETags and thinning priorities.
//! - [`kind`]: [`LayerKind`], the kind of a layer (`vector`, `raster`).
//! - [`search`]: text search over the layers in memory (folding, road segments merged,
//!   ranking) behind `GET /api/search`.
//! - [`tileprops`]: a layer's tile schema (which properties its tiles carry, from
//!   which zoom; which features appear from which zoom) and its compiled filter.

pub mod aggregate;
pub mod cache;
pub mod compress;
pub mod decode;
mod geomutil;
pub mod hash;
pub mod index;
pub mod kind;
pub mod mvt;
pub mod schema;
pub mod search;
pub mod tileprops;

pub use kind::LayerKind;
