//! Polygon assembly as GDAL's OSM driver does it for multipolygon relations:
//! open member ways are joined into rings by `OGRBuildPolygonFromEdges` (exact end
//! point matches, no auto-closing), then every ring is handed as its own polygon
//! to `OGRGeometryFactory::organizePolygons` (default method), which nests them.

use std::collections::HashMap;

/// A point, degrees.
pub(crate) type Pt = (f64, f64);
/// A ring or a line.
pub(crate) type Path = Vec<Pt>;

/// Bit pattern of a point, for exact matching (like GDAL's `==` on coordinates;
/// `-0.0` and `0.0` cannot both occur: positions come from integers).
fn key(p: Pt) -> (u64, u64) {
    (p.0.to_bits(), p.1.to_bits())
}

/// The edges starting (or ending) at a point, in list order, with a cursor past
/// the used ones.
#[derive(Default)]
struct Candidates {
    edges: Vec<usize>,
    next: usize,
}

impl Candidates {
    fn first_unused(&mut self, used: &[bool]) -> Option<usize> {
        while self.next < self.edges.len() && used[self.edges[self.next]] {
            self.next += 1;
        }
        self.edges.get(self.next).copied()
    }
}

/// `OGRBuildPolygonFromEdges(lines, bBestEffort=TRUE, bAutoClose=FALSE, 0)`: the
/// rings, largest envelope first then the others in build order. Rings that could
/// not be closed are included (GDAL warns "Non closed ring detected").
///
/// GDAL appends to a ring's loose end the first unused edge, in member order, that
/// starts there (or ends there, reversed; an edge that does both is reversed);
/// endpoint indexes find that edge without GDAL's scan of every edge.
pub(crate) fn rings_from_edges(lines: Vec<Path>) -> Vec<Path> {
    let edges: Vec<Path> = lines.into_iter().filter(|l| l.len() >= 2).collect();
    let mut starts: HashMap<(u64, u64), Candidates> = HashMap::new();
    let mut ends: HashMap<(u64, u64), Candidates> = HashMap::new();
    for (i, e) in edges.iter().enumerate() {
        starts.entry(key(e[0])).or_default().edges.push(i);
        ends.entry(key(e[e.len() - 1])).or_default().edges.push(i);
    }
    let mut rings: Vec<Path> = Vec::new();
    let mut used = vec![false; edges.len()];
    for start in 0..edges.len() {
        if used[start] {
            continue;
        }
        used[start] = true;
        let mut ring: Path = Vec::new();
        add_edge(&mut ring, &edges[start], false);
        while !is_closed(&ring) {
            let end = key(ring[ring.len() - 1]);
            let forward = starts.get_mut(&end).and_then(|c| c.first_unused(&used));
            let backward = ends.get_mut(&end).and_then(|c| c.first_unused(&used));
            let (i, reverse) = match (forward, backward) {
                (Some(f), Some(b)) if f < b => (f, false),
                (_, Some(b)) => (b, true),
                (Some(f), None) => (f, false),
                (None, None) => break,
            };
            used[i] = true;
            add_edge(&mut ring, &edges[i], reverse);
        }
        rings.push(ring);
    }
    let mut max_area = 0.0;
    let mut max_ring: Option<usize> = None;
    for (i, r) in rings.iter().enumerate() {
        let e = envelope(r);
        let a = (e.2 - e.0) * (e.3 - e.1);
        if a > max_area {
            max_area = a;
            max_ring = Some(i);
        }
    }
    let Some(m) = max_ring else {
        return Vec::new();
    };
    let first = rings.remove(m);
    let mut out = Vec::with_capacity(rings.len() + 1);
    out.push(first);
    out.extend(rings);
    out
}

fn is_closed(ring: &Path) -> bool {
    ring[0] == ring[ring.len() - 1]
}

/// `AddEdgeToRing`: appends an edge, skipping its first point if it repeats the
/// ring's last one.
fn add_edge(ring: &mut Path, edge: &Path, reverse: bool) {
    let mut pts: Box<dyn Iterator<Item = &Pt>> = if reverse {
        Box::new(edge.iter().rev())
    } else {
        Box::new(edge.iter())
    };
    if let Some(last) = ring.last().copied() {
        let first = if reverse {
            edge[edge.len() - 1]
        } else {
            edge[0]
        };
        if first == last {
            pts.next();
        }
    }
    ring.extend(pts);
}

/// `(min_x, min_y, max_x, max_y)`.
pub(crate) fn envelope(p: &[Pt]) -> (f64, f64, f64, f64) {
    let mut e = (
        f64::INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
    );
    for &(x, y) in p {
        e.0 = e.0.min(x);
        e.1 = e.1.min(y);
        e.2 = e.2.max(x);
        e.3 = e.3.max(y);
    }
    e
}

fn contains(a: &(f64, f64, f64, f64), b: &(f64, f64, f64, f64)) -> bool {
    a.0 <= b.0 && a.1 <= b.1 && a.2 >= b.2 && a.3 >= b.3
}

/// `OGRSimpleCurve::get_LinearArea` (absolute shoelace area).
fn area(r: &[Pt]) -> f64 {
    let n = r.len();
    if n < 2 {
        return 0.0;
    }
    let mut sum = r[0].0 * (r[1].1 - r[n - 1].1);
    for i in 1..n - 1 {
        sum += r[i].0 * (r[i + 1].1 - r[i - 1].1);
    }
    sum += r[n - 1].0 * (r[0].1 - r[n - 2].1);
    0.5 * sum.abs()
}

/// `OGRLinearRing::isPointInRing` (strict, ray casting).
fn point_in_ring(r: &[Pt], p: Pt) -> bool {
    if r.len() < 4 {
        return false;
    }
    let mut crossings = 0;
    let (mut px, mut py) = (r[0].0 - p.0, r[0].1 - p.1);
    for q in &r[1..] {
        let x1 = q.0 - p.0;
        let y1 = q.1 - p.1;
        let (x2, y2) = (px, py);
        if (y1 > 0.0 && y2 <= 0.0) || (y2 > 0.0 && y1 <= 0.0) {
            let t = (x1 * y2 - x2 * y1) / (y2 - y1);
            if 0.0 < t {
                crossings += 1;
            }
        }
        px = x1;
        py = y1;
    }
    crossings % 2 == 1
}

/// `OGRLinearRing::isPointOnRingBoundary`.
fn point_on_boundary(r: &[Pt], p: Pt) -> bool {
    if r.len() < 4 {
        return false;
    }
    let (mut pdx, mut pdy) = (p.0 - r[0].0, p.1 - r[0].1);
    for i in 1..r.len() {
        let dx1 = p.0 - r[i].0;
        let dy1 = p.1 - r[i].1;
        let (dx2, dy2) = (pdx, pdy);
        if dx1 * dy2 - dx2 * dy1 == 0.0 && !(dx1 == dx2 && dy1 == dy2) {
            let sx = r[i].0 - r[i - 1].0;
            let sy = r[i].1 - r[i - 1].1;
            let dot = dx2 * sx + dy2 * sy;
            if dot >= 0.0 && dot <= sx * sx + sy * sy {
                return true;
            }
        }
        pdx = dx1;
        pdy = dy1;
    }
    false
}

/// Whether ring `i` lies in ring `j` (the fast test of `organizePolygons`).
fn inside(i: &[Pt], j: &[Pt]) -> bool {
    let a = i[0];
    if !point_on_boundary(j, a) {
        return point_in_ring(j, a);
    }
    let n = i.len();
    let mut k = 1;
    while k < n {
        let p = i[k];
        if point_on_boundary(j, p) {
            k += 1;
            continue;
        }
        return point_in_ring(j, p);
    }
    if n > 2 {
        for k in 0..n - 1 {
            let m = ((i[k].0 + i[k + 1].0) / 2.0, (i[k].1 + i[k + 1].1) / 2.0);
            if point_on_boundary(j, m) {
                continue;
            }
            return point_in_ring(j, m);
        }
    }
    false
}

/// `organizePolygons(METHOD=DEFAULT)` on single-ring polygons: the polygons
/// (each a list of rings, exterior first). A ring with fewer than 4 points makes
/// GDAL give up ("received an unexpected geometry") and return every ring as its
/// own polygon, in input order.
pub(crate) fn organize(rings: Vec<Path>) -> Vec<Vec<Path>> {
    let n = rings.len();
    if n <= 1 {
        return rings.into_iter().map(|r| vec![r]).collect();
    }
    if rings.iter().any(|r| r.len() < 4) {
        return rings.into_iter().map(|r| vec![r]).collect();
    }
    let envs: Vec<_> = rings.iter().map(|r| envelope(r)).collect();
    let areas: Vec<f64> = rings.iter().map(|r| area(r)).collect();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| {
        areas[b]
            .partial_cmp(&areas[a])
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    // For each ring (by initial index): None = top level, Some(j) = hole of j.
    let mut enclosing: Vec<Option<usize>> = vec![None; n];
    let mut top_level = vec![false; n];
    top_level[order[0]] = true;
    for si in 1..n {
        let i = order[si];
        let mut found = false;
        for sj in (0..si).rev() {
            let j = order[sj];
            if contains(&envs[j], &envs[i]) && inside(&rings[i], &rings[j]) {
                if top_level[j] {
                    enclosing[i] = Some(j);
                } else {
                    top_level[i] = true;
                }
                found = true;
                break;
            }
        }
        if !found {
            top_level[i] = true;
        }
    }
    let mut polys: Vec<Option<Vec<Path>>> = vec![None; n];
    let mut rings: Vec<Option<Path>> = rings.into_iter().map(Some).collect();
    for i in 0..n {
        if top_level[i] {
            polys[i] = Some(vec![rings[i].take().unwrap_or_default()]);
        }
    }
    for i in 0..n {
        if let Some(j) = enclosing[i] {
            if let (Some(p), Some(r)) = (polys[j].as_mut(), rings[i].take()) {
                p.push(r);
            }
        }
    }
    polys.into_iter().flatten().collect()
}
