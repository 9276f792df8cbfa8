//! Clipping to the buffered tile rectangle (Liang–Barsky per line segment,
//! Sutherland–Hodgman per polygon ring) and Douglas–Peucker simplification, all in
//! floating tile units.

/// A position in tile units.
pub(crate) type P = [f64; 2];

/// An axis-aligned clip rectangle `[lo, hi]²` in tile units.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rect {
    pub lo: f64,
    pub hi: f64,
}

impl Rect {
    pub(crate) fn contains(&self, p: P) -> bool {
        p[0] >= self.lo && p[0] <= self.hi && p[1] >= self.lo && p[1] <= self.hi
    }

    fn contains_all(&self, pts: &[P]) -> bool {
        pts.iter().all(|&p| self.contains(p))
    }
}

/// Liang–Barsky: the parameter interval `[t0, t1]` of segment `a`–`b` inside `r`.
fn clip_segment(a: P, b: P, r: &Rect) -> Option<(f64, f64)> {
    if !(a[0].is_finite() && a[1].is_finite() && b[0].is_finite() && b[1].is_finite()) {
        return None;
    }
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let mut t0 = 0.0f64;
    let mut t1 = 1.0f64;
    for (p, q) in [
        (-dx, a[0] - r.lo),
        (dx, r.hi - a[0]),
        (-dy, a[1] - r.lo),
        (dy, r.hi - a[1]),
    ] {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
        } else {
            let t = q / p;
            if p < 0.0 {
                if t > t1 {
                    return None;
                }
                t0 = t0.max(t);
            } else {
                if t < t0 {
                    return None;
                }
                t1 = t1.min(t);
            }
        }
    }
    (t0 <= t1).then_some((t0, t1))
}

fn lerp(a: P, b: P, t: f64) -> P {
    [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t]
}

/// Clips a polyline to `r`, returning the inside pieces (each with ≥ 2 points).
pub(crate) fn clip_line(pts: &[P], r: &Rect) -> Vec<Vec<P>> {
    if pts.len() < 2 {
        return Vec::new();
    }
    if r.contains_all(pts) {
        return vec![pts.to_vec()];
    }
    let mut out = Vec::new();
    let mut cur: Vec<P> = Vec::new();
    for w in pts.windows(2) {
        let (a, b) = (w[0], w[1]);
        match clip_segment(a, b, r) {
            None => {
                if cur.len() >= 2 {
                    out.push(std::mem::take(&mut cur));
                }
                cur.clear();
            }
            Some((t0, t1)) => {
                let p = if t0 > 0.0 { lerp(a, b, t0) } else { a };
                let q = if t1 < 1.0 { lerp(a, b, t1) } else { b };
                if cur.is_empty() || t0 > 0.0 {
                    if cur.len() >= 2 {
                        out.push(std::mem::take(&mut cur));
                    }
                    cur.clear();
                    cur.push(p);
                }
                cur.push(q);
                if t1 < 1.0 {
                    if cur.len() >= 2 {
                        out.push(std::mem::take(&mut cur));
                    }
                    cur.clear();
                }
            }
        }
    }
    if cur.len() >= 2 {
        out.push(cur);
    }
    out
}

/// Sutherland–Hodgman clip of a ring (given open or closed) against `r`; the result is
/// open (first point not repeated) and may be empty. Degenerate edges along the
/// rectangle border are removed later by the integer polygon clean-up.
pub(crate) fn clip_ring(ring: &[P], r: &Rect) -> Vec<P> {
    if ring.iter().any(|p| !(p[0].is_finite() && p[1].is_finite())) {
        return Vec::new();
    }
    let mut pts: Vec<P> = ring.to_vec();
    if pts.len() > 1 && pts.first() == pts.last() {
        pts.pop();
    }
    if pts.len() < 3 || r.contains_all(&pts) {
        return pts;
    }
    // Edges: (axis, bound, keep-if-greater).
    for (axis, bound, keep_ge) in [
        (0, r.lo, true),
        (0, r.hi, false),
        (1, r.lo, true),
        (1, r.hi, false),
    ] {
        if pts.is_empty() {
            break;
        }
        let inside = |p: &P| {
            if keep_ge {
                p[axis] >= bound
            } else {
                p[axis] <= bound
            }
        };
        let mut out = Vec::with_capacity(pts.len() + 4);
        let mut prev = pts[pts.len() - 1];
        for &cur in &pts {
            let (ci, pi) = (inside(&cur), inside(&prev));
            if ci != pi {
                let d = cur[axis] - prev[axis];
                let t = if d == 0.0 {
                    0.0
                } else {
                    (bound - prev[axis]) / d
                };
                let mut x = lerp(prev, cur, t.clamp(0.0, 1.0));
                x[axis] = bound;
                out.push(x);
            }
            if ci {
                out.push(cur);
            }
            prev = cur;
        }
        pts = out;
    }
    pts
}

/// Squared distance of `p` from segment `a`–`b`.
fn seg_dist2(p: P, a: P, b: P) -> f64 {
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let len2 = dx * dx + dy * dy;
    let t = if len2 > 0.0 {
        (((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let (ex, ey) = (a[0] + t * dx - p[0], a[1] + t * dy - p[1]);
    ex * ex + ey * ey
}

/// Douglas–Peucker (iterative) keeping the end points; `tol <= 0` keeps everything.
pub(crate) fn simplify(pts: &[P], tol: f64) -> Vec<P> {
    if pts.len() < 3 || tol.is_nan() || tol <= 0.0 {
        return pts.to_vec();
    }
    let tol2 = tol * tol;
    let mut keep = vec![false; pts.len()];
    keep[0] = true;
    keep[pts.len() - 1] = true;
    let mut stack = vec![(0usize, pts.len() - 1)];
    while let Some((s, e)) = stack.pop() {
        if e <= s + 1 {
            continue;
        }
        let (mut best, mut best_d) = (0usize, -1.0f64);
        for (i, &p) in pts.iter().enumerate().take(e).skip(s + 1) {
            let d = seg_dist2(p, pts[s], pts[e]);
            if d > best_d {
                best_d = d;
                best = i;
            }
        }
        if best_d > tol2 {
            keep[best] = true;
            stack.push((s, best));
            stack.push((best, e));
        }
    }
    pts.iter()
        .zip(keep)
        .filter_map(|(p, k)| k.then_some(*p))
        .collect()
}

/// Simplifies an open ring, anchoring at its first point; may return < 3 points when
/// the ring collapses.
pub(crate) fn simplify_ring(ring: &[P], tol: f64) -> Vec<P> {
    if ring.len() < 4 || tol.is_nan() || tol <= 0.0 {
        return ring.to_vec();
    }
    let mut closed = ring.to_vec();
    closed.push(ring[0]);
    let mut s = simplify(&closed, tol);
    s.pop();
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: Rect = Rect { lo: 0.0, hi: 10.0 };

    #[test]
    fn line_clipping() {
        let parts = clip_line(&[[-5.0, 5.0], [5.0, 5.0], [15.0, 5.0]], &R);
        assert_eq!(parts, vec![vec![[0.0, 5.0], [5.0, 5.0], [10.0, 5.0]]]);
        // Leaves and comes back: two pieces.
        let parts = clip_line(&[[2.0, 2.0], [2.0, 20.0], [4.0, 20.0], [4.0, 2.0]], &R);
        assert_eq!(parts.len(), 2);
        assert!(clip_line(&[[20.0, 20.0], [30.0, 30.0]], &R).is_empty());
        assert!(clip_line(&[[f64::NAN, 1.0], [2.0, 2.0]], &R).is_empty());
    }

    #[test]
    fn ring_clipping_and_simplify() {
        let ring = [
            [-5.0, -5.0],
            [5.0, -5.0],
            [5.0, 5.0],
            [-5.0, 5.0],
            [-5.0, -5.0],
        ];
        let c = clip_ring(&ring, &R);
        assert_eq!(c.len(), 4);
        assert!(c.iter().all(|p| R.contains(*p)));
        assert!(clip_ring(&[[20.0, 20.0], [30.0, 20.0], [30.0, 30.0]], &R).is_empty());
        let line: Vec<P> = (0..100).map(|i| [i as f64, (i % 2) as f64 * 0.1]).collect();
        assert_eq!(simplify(&line, 1.0).len(), 2);
        assert_eq!(simplify(&line, 0.0).len(), 100);
        let tiny = [[0.0, 0.0], [0.2, 0.0], [0.2, 0.2], [0.0, 0.2]];
        assert!(simplify_ring(&tiny, 1.0).len() < 3);
    }
}
