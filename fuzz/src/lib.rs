//! Helpers shared by the citygrid fuzz targets: a CQL2-text printer (to check that
//! a parsed filter re-prints and re-parses to the same expression), a strict MVT
//! 2.1 checker, and a shape-and-coordinate comparison of geometries.

pub mod cql2print;
pub mod geomcmp;
pub mod mvtcheck;

use citygrid_cql2::{Property, Resolver};

/// The queryables the CQL2 targets resolve against: a text field `name`, a number
/// field `rank`, the feature `id` and the `geometry`.
pub struct FuzzResolver;

impl Resolver for FuzzResolver {
    fn resolve(&self, name: &str) -> Option<Property> {
        match name {
            "name" => Some(Property::Field {
                index: 0,
                numeric: false,
            }),
            "rank" => Some(Property::Field {
                index: 1,
                numeric: true,
            }),
            "id" => Some(Property::Id),
            "geometry" => Some(Property::Geometry),
            _ => None,
        }
    }
}
