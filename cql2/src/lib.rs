//! CQL2 filters (OGC 21-065) for citygrid: the text encoding ([`text`]) and the JSON
//! encoding ([`json`]) parsed into one [`Expr`], with property names resolved and
//! types checked while parsing, and the metered evaluation of an [`Expr`] against the
//! in-memory features of a layer ([`eval`]), with `LIKE` patterns in [`like`].
//!
//! No SQL, no HTTP, no file I/O: the service parses a request's `filter` with this
//! crate and turns an [`Error`] into its HTTP answer.
//!
//! ```
//! use citygrid_cql2::{text, Property, Resolver};
//! struct R;
//! impl Resolver for R {
//!     fn resolve(&self, name: &str) -> Option<Property> {
//!         (name == "rank").then_some(Property::Field { index: 0, numeric: true })
//!     }
//! }
//! assert!(text::parse("rank BETWEEN 1 AND 3", &R).is_ok());
//! let e: citygrid_cql2::Error = text::parse("rank = 'x'", &R).unwrap_err().into();
//! assert_eq!(
//!     e.to_string(),
//!     "invalid filter at character 7: cannot compare a number with text (check the quotes)"
//! );
//! ```

pub mod eval;
pub mod geojson;
pub mod json;
pub mod like;
pub mod temporal;
pub mod text;

pub use eval::{CancelOnDrop, Meter, Stopped, MAX_WORK};
pub use json::Cql2JsonError;
pub use like::LikePattern;
pub use temporal::TemporalOp;
pub use text::{
    Bound, CmpOp, Cql2Error, Expr, GeomOperand, Property, Resolver, Scalar, SpatialOp,
    TemporalOperand, MAX_DEPTH, MAX_FILTER_BYTES, MAX_IN_ITEMS, MAX_VERTICES,
};

/// Why a filter was refused or its evaluation stopped.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// A CQL2-text filter does not parse or does not type-check.
    #[error(transparent)]
    Text(#[from] Cql2Error),
    /// A CQL2-JSON filter does not parse or does not type-check.
    #[error(transparent)]
    Json(#[from] Cql2JsonError),
    /// The evaluation stopped early (work budget spent, or cancelled).
    #[error(transparent)]
    Stopped(#[from] Stopped),
}
