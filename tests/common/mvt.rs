//! Decoding MVT tiles in tests: the features of `citygrid_tiles::decode`, flattened.

use citygrid_tiles::decode as mvt;

/// A decoded feature: layer, id, geometry as tile-unit rings/lines/points.
#[derive(Debug, Clone)]
pub struct DecodedFeature {
    pub layer: String,
    pub id: u64,
    /// 1 point, 2 line, 3 polygon
    pub geom_type: i32,
    /// Each part: a list of (x, y) in tile units (rings closed implicitly).
    pub parts: Vec<Vec<(i64, i64)>>,
    pub props: Vec<(String, String)>,
}

impl DecodedFeature {
    /// The value of property `key`, as decoded (`None` if the feature has none).
    pub fn prop(&self, key: &str) -> Option<&str> {
        self.props
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Decodes every feature of a tile (with `citygrid_tiles::decode`).
pub fn decode(bytes: &[u8]) -> Vec<DecodedFeature> {
    let layers = mvt::decode(bytes).expect("valid MVT protobuf");
    let mut out = Vec::new();
    for layer in &layers {
        assert_eq!(layer.extent, 4096);
        for f in &layer.features {
            let mut parts = mvt::parts(f).unwrap_or_else(|e| panic!("{e}"));
            if f.ty == 1 {
                // MultiPoint: one MoveTo with count > 1 → split.
                parts = parts
                    .into_iter()
                    .flat_map(|p| p.into_iter().map(|c| vec![c]))
                    .collect();
            }
            let props = layer
                .props(f)
                .expect("valid tags")
                .into_iter()
                .map(|(k, v)| (k, v.to_string()))
                .collect();
            out.push(DecodedFeature {
                layer: layer.name.clone(),
                id: f.id.unwrap_or(0),
                geom_type: f.ty as i32,
                parts,
                props,
            });
        }
    }
    out
}

/// Signed area (MVT convention: y down, exterior rings positive).
pub fn ring_area(ring: &[(i64, i64)]) -> f64 {
    mvt::area2(ring) as f64 / 2.0
}
