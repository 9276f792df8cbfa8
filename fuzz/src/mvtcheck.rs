//! A strict reader of Mapbox Vector Tile 2.1 bytes: protobuf decodes; every layer
//! has version 2, a unique non-empty name and the expected extent; tags are pairs
//! of valid key/value indices; geometry command streams follow the spec for their
//! type (points: one MoveTo; lines: MoveTo(1) LineTo(n ≥ 1) …, no zero-length
//! LineTo; polygons: MoveTo(1) LineTo(n ≥ 2) ClosePath, the first ring of each
//! polygon with positive area and holes negative, no zero-area ring); every
//! position stays within the buffered tile.

use citygrid_tiles::decode::{decode, geometry, polygons, Geometry};

/// What a valid tile held.
#[derive(Debug, Default)]
pub struct Summary {
    /// Features over all layers.
    pub features: usize,
    /// Their ids (`None` when a feature has none).
    pub ids: Vec<Option<u64>>,
    /// Layer names in tile order.
    pub layers: Vec<String>,
}

/// Checks `bytes` against MVT 2.1 for a tile of `extent` units with `buffer`
/// units of margin; `Err` says what is wrong. Decoding and the command-stream
/// rules are `citygrid_tiles::decode`'s; the layer rules and the bounds are here.
pub fn check(bytes: &[u8], extent: u32, buffer: u32) -> Result<Summary, String> {
    let layers = decode(bytes).map_err(|e| format!("not a protobuf tile: {e}"))?;
    let mut s = Summary::default();
    let lo = -i64::from(buffer) - 1;
    let hi = i64::from(extent) + i64::from(buffer) + 1;
    for layer in &layers {
        if layer.version != 2 {
            return Err(format!("layer version {}", layer.version));
        }
        if layer.name.is_empty() || s.layers.contains(&layer.name) {
            return Err(format!("empty or duplicate layer name {:?}", layer.name));
        }
        s.layers.push(layer.name.clone());
        if layer.extent != u64::from(extent) {
            return Err(format!("extent {} instead of {extent}", layer.extent));
        }
        if layer.features.is_empty() {
            return Err(format!("layer {:?} has no feature", layer.name));
        }
        for f in &layer.features {
            layer.props(f).map_err(|e| e.to_string())?;
            let g = geometry(f).map_err(|e| format!("a geometry of type {}: {e}", f.ty))?;
            let positions: Vec<&(i64, i64)> = match &g {
                Geometry::Points(p) => p.iter().collect(),
                Geometry::Lines(parts) => parts.iter().flatten().collect(),
                Geometry::Rings(rings) => {
                    polygons(rings)?;
                    rings.iter().flatten().collect()
                }
            };
            if let Some((x, y)) = positions
                .into_iter()
                .find(|(x, y)| !(lo..=hi).contains(x) || !(lo..=hi).contains(y))
            {
                return Err(format!("position ({x}, {y}) outside the buffered tile"));
            }
            s.features += 1;
            s.ids.push(f.id);
        }
    }
    Ok(s)
}
