//! The kind of a layer: what sort of tile source serves it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The kind of a layer in the catalogue (`layer_catalog.kind`).
///
/// Serialised (JSON, database text) as its lowercase name: `vector` or `raster`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LayerKind {
    /// Features, served as vector tiles and OGC API features.
    Vector,
    /// Stored image tiles.
    Raster,
}

impl LayerKind {
    /// Every kind, in declaration order.
    pub const ALL: [LayerKind; 2] = [LayerKind::Vector, LayerKind::Raster];

    /// The lowercase name, as stored and serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            LayerKind::Vector => "vector",
            LayerKind::Raster => "raster",
        }
    }
}

impl fmt::Display for LayerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A layer kind that is not known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown layer kind {0:?}")]
pub struct UnknownLayerKind(pub String);

impl FromStr for LayerKind {
    type Err = UnknownLayerKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LayerKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownLayerKind(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in LayerKind::ALL {
            assert_eq!(kind.as_str().parse::<LayerKind>(), Ok(kind));
            assert_eq!(
                serde_json::to_value(kind).ok(),
                Some(serde_json::Value::String(kind.as_str().into()))
            );
            assert_eq!(kind.to_string(), kind.as_str());
        }
    }

    #[test]
    fn unknown_names_are_errors() {
        for bad in ["", "Vector", "RASTER", "pmtiles", " vector"] {
            assert_eq!(
                bad.parse::<LayerKind>(),
                Err(UnknownLayerKind(bad.to_string()))
            );
        }
    }
}
