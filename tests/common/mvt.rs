//! Decoding MVT tiles in tests (geozero's protobuf types).

use geozero::mvt::{Message, Tile};

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

fn zigzag(v: u32) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Decodes every feature of a tile.
pub fn decode(bytes: &[u8]) -> Vec<DecodedFeature> {
    let tile = Tile::decode(bytes).expect("valid MVT protobuf");
    let mut out = Vec::new();
    for layer in &tile.layers {
        assert_eq!(layer.extent.unwrap_or(4096), 4096);
        for f in &layer.features {
            let mut parts: Vec<Vec<(i64, i64)>> = Vec::new();
            let (mut x, mut y) = (0i64, 0i64);
            let mut i = 0;
            let g = &f.geometry;
            while i < g.len() {
                let cmd = g[i] & 7;
                let count = (g[i] >> 3) as usize;
                i += 1;
                match cmd {
                    1 | 2 => {
                        for _ in 0..count {
                            x += zigzag(g[i]);
                            y += zigzag(g[i + 1]);
                            i += 2;
                            if cmd == 1 {
                                parts.push(vec![(x, y)]);
                            } else {
                                parts.last_mut().expect("LineTo after MoveTo").push((x, y));
                            }
                        }
                    }
                    7 => {}
                    other => panic!("bad command {other}"),
                }
            }
            if f.r#type.unwrap_or(0) == 1 {
                // MultiPoint: one MoveTo with count > 1 → split.
                parts = parts
                    .into_iter()
                    .flat_map(|p| p.into_iter().map(|c| vec![c]))
                    .collect();
            }
            let mut props = Vec::new();
            for kv in f.tags.chunks(2) {
                let key = layer.keys[kv[0] as usize].clone();
                let v = &layer.values[kv[1] as usize];
                let value = v
                    .string_value
                    .clone()
                    .or(v.int_value.map(|n| n.to_string()))
                    .or(v.sint_value.map(|n| n.to_string()))
                    .or(v.uint_value.map(|n| n.to_string()))
                    .or(v.double_value.map(|n| n.to_string()))
                    .or(v.float_value.map(|n| n.to_string()))
                    .or(v.bool_value.map(|n| n.to_string()))
                    .unwrap_or_default();
                props.push((key, value));
            }
            out.push(DecodedFeature {
                layer: layer.name.clone(),
                id: f.id.unwrap_or(0),
                geom_type: f.r#type.unwrap_or(0),
                parts,
                props,
            });
        }
    }
    out
}

/// Signed area (MVT convention: y down, exterior rings positive).
pub fn ring_area(ring: &[(i64, i64)]) -> f64 {
    let mut a = 0i64;
    for i in 0..ring.len() {
        let (x1, y1) = ring[i];
        let (x2, y2) = ring[(i + 1) % ring.len()];
        a += x1 * y2 - x2 * y1;
    }
    a as f64 / 2.0
}
