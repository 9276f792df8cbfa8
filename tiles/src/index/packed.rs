//! A static packed R-tree over the rows of a layer (the rows sorted along a Hilbert
//! curve by the index build, as in flatbush): the leaves are the rows themselves —
//! their boxes read from the rows' geometries — and above them only the boxes of
//! groups of [`FAN`] nodes are held, level by level: about 2 bytes per feature,
//! where a dynamic R-tree holds a 64-byte node per feature.
//!
//! Searches take the leaf boxes from the caller (`leaf_box(row)`, `None` for a row
//! without geometry or no longer in the layer).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Children per node.
pub(crate) const FAN: usize = 16;

/// `[min_x, min_y, max_x, max_y]`.
pub(crate) type Box2 = [f64; 4];

/// The box of nothing: intersects no box, and the union with it is the other box.
const EMPTY: Box2 = [
    f64::INFINITY,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::NEG_INFINITY,
];

fn union(a: &Box2, b: &Box2) -> Box2 {
    [
        a[0].min(b[0]),
        a[1].min(b[1]),
        a[2].max(b[2]),
        a[3].max(b[3]),
    ]
}

pub(crate) fn intersects(a: &Box2, b: &Box2) -> bool {
    a[0] <= b[2] && a[2] >= b[0] && a[1] <= b[3] && a[3] >= b[1]
}

/// Squared distance from `p` to the box (0 inside).
pub(crate) fn distance_2(b: &Box2, p: [f64; 2]) -> f64 {
    let dx = (b[0] - p[0]).max(0.0).max(p[0] - b[2]);
    let dy = (b[1] - p[1]).max(0.0).max(p[1] - b[3]);
    dx * dx + dy * dy
}

/// The packed tree over rows `0..leaves`.
#[derive(Debug, Clone, Default)]
pub(crate) struct PackedTree {
    leaves: usize,
    /// Node boxes above the leaves, level 1 (groups of `FAN` rows) first; the last
    /// level holds one node, the root.
    levels: Vec<Vec<Box2>>,
}

impl PackedTree {
    /// Packs rows `0..leaves` (in their order: sort them spatially first) with their
    /// exact boxes (`None`: no geometry); a search may then test a row with a box
    /// that holds its exact one (rounded outwards), and must confirm what it finds.
    pub(crate) fn build(leaves: usize, leaf_box: impl Fn(usize) -> Option<Box2> + Sync) -> Self {
        use rayon::prelude::*;
        let mut levels: Vec<Vec<Box2>> = Vec::new();
        if leaves == 0 {
            return PackedTree { leaves, levels };
        }
        let first: Vec<Box2> = (0..leaves.div_ceil(FAN))
            .into_par_iter()
            .map(|j| {
                (j * FAN..((j + 1) * FAN).min(leaves))
                    .filter_map(&leaf_box)
                    .fold(EMPTY, |acc, b| union(&acc, &b))
            })
            .collect();
        levels.push(first);
        while levels.last().is_some_and(|l| l.len() > 1) {
            let below = levels.last().map(Vec::as_slice).unwrap_or_default();
            let next: Vec<Box2> = below
                .chunks(FAN)
                .map(|c| c.iter().fold(EMPTY, |acc, b| union(&acc, b)))
                .collect();
            levels.push(next);
        }
        PackedTree { leaves, levels }
    }

    /// Rows covered.
    pub(crate) fn leaves(&self) -> usize {
        self.leaves
    }

    /// The box of every row's geometry (`None` when there is none).
    pub(crate) fn bounds(&self) -> Option<Box2> {
        let root = self.levels.last()?.first()?;
        (root[0] <= root[2]).then_some(*root)
    }

    /// Calls `visit(row)` for every row whose box intersects `q`, in row order within
    /// each node; stops when `visit` returns false.
    pub(crate) fn search(
        &self,
        q: &Box2,
        leaf_box: impl Fn(usize) -> Option<Box2>,
        mut visit: impl FnMut(usize) -> bool,
    ) {
        let Some(top) = self.levels.len().checked_sub(1) else {
            return;
        };
        // (level index into `levels`, node)
        let mut stack: Vec<(usize, usize)> = vec![(top, 0)];
        while let Some((level, node)) = stack.pop() {
            let Some(b) = self.levels[level].get(node) else {
                continue;
            };
            if !intersects(b, q) {
                continue;
            }
            if level == 0 {
                for row in node * FAN..((node + 1) * FAN).min(self.leaves) {
                    if leaf_box(row).is_some_and(|lb| intersects(&lb, q)) && !visit(row) {
                        return;
                    }
                }
            } else {
                let below = self.levels[level - 1].len();
                let children = node * FAN..((node + 1) * FAN).min(below);
                stack.extend(children.rev().map(|c| (level - 1, c)));
            }
        }
    }

    /// The rows by increasing distance of their box from `p` (squared, in the boxes'
    /// units), lazily.
    pub(crate) fn nearest<F: Fn(usize) -> Option<Box2>>(
        &self,
        p: [f64; 2],
        leaf_box: F,
    ) -> Nearest<'_, F> {
        let mut heap = BinaryHeap::new();
        if let Some(top) = self.levels.len().checked_sub(1) {
            if let Some(b) = self.levels[top].first() {
                if b[0] <= b[2] {
                    heap.push(Reverse((distance_2(b, p).to_bits(), Entry::Node(top, 0))));
                }
            }
        }
        Nearest {
            tree: self,
            p,
            leaf_box,
            heap,
        }
    }

    /// Heap bytes held.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.levels
            .iter()
            .map(|l| l.capacity() * std::mem::size_of::<Box2>())
            .sum()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Entry {
    Node(usize, usize),
    Row(usize),
}

/// See [`PackedTree::nearest`]. Distances are non-negative floats, ordered by their
/// bits.
pub(crate) struct Nearest<'a, F> {
    tree: &'a PackedTree,
    p: [f64; 2],
    leaf_box: F,
    heap: BinaryHeap<Reverse<(u64, Entry)>>,
}

impl<F: Fn(usize) -> Option<Box2>> Iterator for Nearest<'_, F> {
    type Item = (usize, f64);

    fn next(&mut self) -> Option<(usize, f64)> {
        while let Some(Reverse((d2, entry))) = self.heap.pop() {
            match entry {
                Entry::Row(row) => return Some((row, f64::from_bits(d2))),
                Entry::Node(0, node) => {
                    for row in node * FAN..((node + 1) * FAN).min(self.tree.leaves) {
                        if let Some(b) = (self.leaf_box)(row) {
                            self.heap
                                .push(Reverse((distance_2(&b, self.p).to_bits(), Entry::Row(row))));
                        }
                    }
                }
                Entry::Node(level, node) => {
                    let below = &self.tree.levels[level - 1];
                    let first = node * FAN;
                    let children = below.iter().enumerate().skip(first).take(FAN);
                    for (c, b) in children {
                        if b[0] <= b[2] {
                            self.heap.push(Reverse((
                                distance_2(b, self.p).to_bits(),
                                Entry::Node(level - 1, c),
                            )));
                        }
                    }
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxes(n: usize) -> Vec<Option<Box2>> {
        (0..n)
            .map(|i| {
                if i % 97 == 5 {
                    return None;
                }
                let (x, y) = ((i * 7919 % 1000) as f64, (i * 104_729 % 1000) as f64);
                Some([x, y, x + (i % 3) as f64, y + (i % 5) as f64])
            })
            .collect()
    }

    #[test]
    fn search_and_nearest_agree_with_brute_force() {
        for n in [0, 1, 15, 16, 17, 255, 256, 257, 5000] {
            let b = boxes(n);
            let tree = PackedTree::build(n, |r| b[r]);
            for q in [
                [0.0, 0.0, 1000.0, 1000.0],
                [100.0, 200.0, 180.0, 260.0],
                [2000.0; 4],
            ] {
                let mut got = Vec::new();
                tree.search(
                    &q,
                    |r| b[r],
                    |r| {
                        got.push(r);
                        true
                    },
                );
                got.sort_unstable();
                let want: Vec<usize> = (0..n)
                    .filter(|&r| b[r].is_some_and(|lb| intersects(&lb, &q)))
                    .collect();
                assert_eq!(got, want, "n={n} q={q:?}");
            }
            let p = [500.5, 499.5];
            let got: Vec<f64> = tree.nearest(p, |r| b[r]).map(|(_, d)| d).take(20).collect();
            let mut want: Vec<f64> = b.iter().flatten().map(|lb| distance_2(lb, p)).collect();
            want.sort_by(f64::total_cmp);
            want.truncate(20);
            assert_eq!(got, want, "n={n}");
            assert_eq!(
                tree.nearest(p, |r| b[r]).count(),
                b.iter().flatten().count()
            );
        }
        // Stopping early visits no further row.
        let b = boxes(1000);
        let tree = PackedTree::build(1000, |r| b[r]);
        let mut seen = 0;
        tree.search(
            &[0.0, 0.0, 1000.0, 1000.0],
            |r| b[r],
            |_| {
                seen += 1;
                seen < 3
            },
        );
        assert_eq!(seen, 3);
        assert!(PackedTree::build(0, |_| None).bounds().is_none());
        assert!(PackedTree::build(3, |_| None).bounds().is_none());
    }
}
