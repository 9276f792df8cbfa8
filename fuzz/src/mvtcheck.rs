//! A strict reader of Mapbox Vector Tile 2.1 bytes: protobuf decodes; every layer
//! has version 2, a unique non-empty name and the expected extent; tags are pairs
//! of valid key/value indices; geometry command streams follow the spec for their
//! type (points: one MoveTo; lines: MoveTo(1) LineTo(n ≥ 1) …, no zero-length
//! LineTo; polygons: MoveTo(1) LineTo(n ≥ 2) ClosePath, the first ring of each
//! polygon with positive area and holes negative, no zero-area ring); every
//! position stays within the buffered tile.

use geozero::mvt::{Message, Tile};

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

fn zigzag(v: u32) -> i64 {
    i64::from(v >> 1) ^ -i64::from(v & 1)
}

/// Twice the signed area by the surveyor's formula (tile coordinates, y down:
/// MVT 2.1 exterior rings are positive).
fn area2(ring: &[(i64, i64)]) -> i128 {
    let n = ring.len();
    (0..n)
        .map(|i| {
            let (x0, y0) = ring[i];
            let (x1, y1) = ring[(i + 1) % n];
            i128::from(x0) * i128::from(y1) - i128::from(x1) * i128::from(y0)
        })
        .sum()
}

/// Checks `bytes` against MVT 2.1 for a tile of `extent` units with `buffer`
/// units of margin; `Err` says what is wrong.
pub fn check(bytes: &[u8], extent: u32, buffer: u32) -> Result<Summary, String> {
    let tile = Tile::decode(bytes).map_err(|e| format!("not a protobuf tile: {e}"))?;
    let mut s = Summary::default();
    let lo = -i64::from(buffer) - 1;
    let hi = i64::from(extent) + i64::from(buffer) + 1;
    for layer in &tile.layers {
        if layer.version != 2 {
            return Err(format!("layer version {}", layer.version));
        }
        if layer.name.is_empty() || s.layers.contains(&layer.name) {
            return Err(format!("empty or duplicate layer name {:?}", layer.name));
        }
        s.layers.push(layer.name.clone());
        if layer.extent.unwrap_or(4096) != extent {
            return Err(format!("extent {:?} instead of {extent}", layer.extent));
        }
        if layer.features.is_empty() {
            return Err(format!("layer {:?} has no feature", layer.name));
        }
        for f in &layer.features {
            if f.tags.len() % 2 != 0 {
                return Err("odd number of tags".into());
            }
            for pair in f.tags.chunks(2) {
                if pair[0] as usize >= layer.keys.len() || pair[1] as usize >= layer.values.len() {
                    return Err(format!("tag {pair:?} out of range"));
                }
            }
            let kind = f.r#type.unwrap_or(0);
            geometry(kind, &f.geometry, lo, hi)?;
            s.features += 1;
            s.ids.push(f.id);
        }
    }
    Ok(s)
}

/// Decodes and checks one feature's command stream.
fn geometry(kind: i32, g: &[u32], lo: i64, hi: i64) -> Result<(), String> {
    let (mut x, mut y) = (0i64, 0i64);
    let mut i = 0;
    // Current ring/line and rings seen (polygons).
    let mut part: Vec<(i64, i64)> = Vec::new();
    let mut parts = 0usize;
    let mut in_polygon = false;
    let step = |i: &mut usize, x: &mut i64, y: &mut i64| -> Result<(i64, i64), String> {
        let (Some(&dx), Some(&dy)) = (g.get(*i), g.get(*i + 1)) else {
            return Err("command parameters run past the geometry".into());
        };
        *i += 2;
        *x += zigzag(dx);
        *y += zigzag(dy);
        if !(lo..=hi).contains(x) || !(lo..=hi).contains(y) {
            return Err(format!("position ({x}, {y}) outside the buffered tile"));
        }
        Ok((zigzag(dx), zigzag(dy)))
    };
    while i < g.len() {
        let cmd = g[i] & 7;
        let count = (g[i] >> 3) as usize;
        i += 1;
        match (kind, cmd) {
            (1, 1) => {
                if parts > 0 || count == 0 {
                    return Err("a point feature has one MoveTo with count ≥ 1".into());
                }
                for _ in 0..count {
                    step(&mut i, &mut x, &mut y)?;
                }
                parts = 1;
            }
            (2, 1) | (3, 1) => {
                if count != 1 {
                    return Err(format!("MoveTo with count {count} in a line/polygon"));
                }
                if kind == 2 && parts > 0 && part.len() < 2 {
                    return Err("a line part without LineTo".into());
                }
                if kind == 3 && !part.is_empty() {
                    return Err("a ring without ClosePath".into());
                }
                step(&mut i, &mut x, &mut y)?;
                part.clear();
                part.push((x, y));
                parts += 1;
            }
            (2, 2) | (3, 2) => {
                if part.len() != 1 || count == 0 {
                    return Err("LineTo must follow a MoveTo, with count ≥ 1".into());
                }
                for _ in 0..count {
                    let (dx, dy) = step(&mut i, &mut x, &mut y)?;
                    if dx == 0 && dy == 0 {
                        return Err("a LineTo of zero length".into());
                    }
                    part.push((x, y));
                }
                if kind == 3 && part.len() < 3 {
                    return Err("a ring with fewer than 3 positions".into());
                }
            }
            (3, 7) => {
                if count != 1 || part.len() < 3 {
                    return Err("ClosePath must close a ring of ≥ 3 positions".into());
                }
                let a = area2(&part);
                if a == 0 {
                    return Err(format!("a ring with zero area: {part:?}"));
                }
                if !in_polygon && a < 0 {
                    return Err(format!("the first ring is a hole (area {a}): {part:?}"));
                }
                in_polygon = true;
                part.clear();
            }
            _ => return Err(format!("command {cmd} in a geometry of type {kind}")),
        }
    }
    if parts == 0 {
        return Err(format!("an empty geometry of type {kind}"));
    }
    match kind {
        2 if part.len() < 2 => Err("a line part without LineTo".into()),
        3 if !part.is_empty() => Err("a ring without ClosePath".into()),
        _ => Ok(()),
    }
}
