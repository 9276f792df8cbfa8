//! The moving parts between the reader and the database: the conversion workers that
//! turn [`RawBatch`]es into binary COPY rows (cancellation and counters are in
//! [`crate::control`]).
//!
//! ```text
//! reader thread ──RawBatch──► N conversion threads ──EncodedBatch──► COPY writer (async)
//!   (GDAL)        bounded        (WKB→EWKB, PROJ)      bounded         (one connection)
//! ```
//! Both channels are bounded, so memory stays flat and reading, converting and
//! writing overlap.

use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};

use crate::control::Counters;
use crate::copy;
use crate::crs::{SourceCrs, Transformer};
use crate::error::ImportError;
use crate::geometry::{self, GeomType, Outcome, Scratch};
use crate::reader::RawBatch;

/// Where a row's geometry sits in an [`EncodedBatch`].
#[derive(Debug, Clone, Copy)]
pub struct RowMeta {
    /// Offset of the row's tuple header.
    pub start: usize,
    /// Offset of the geometry field's length word.
    pub geom_at: usize,
    /// The geometry's type.
    pub kind: GeomType,
    /// The row's id.
    pub fid: i64,
    /// Whether the geometry is known to be valid ([`Scratch::proven`]).
    pub proven: bool,
}

/// What some rows cover, measured while they are encoded so that the layer's
/// catalogue entry needs no query when the database changes none of them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Extent {
    /// `[west, south, east, north]` of every geometry; `None` for no rows.
    pub bounds: Option<[f64; 4]>,
    /// Sum over the rows of √(area of the geometry's bounding box), degrees: the
    /// layer's typical feature size is this over the row count.
    pub size_sum: f64,
}

impl Extent {
    /// Adds one geometry's bounding box.
    pub fn add(&mut self, b: [f64; 4]) {
        self.cover(b);
        self.size_sum += ((b[2] - b[0]) * (b[3] - b[1])).max(0.0).sqrt();
    }

    /// Adds what `other` covers.
    pub fn merge(&mut self, other: &Extent) {
        if let Some(b) = other.bounds {
            self.cover(b);
            self.size_sum += other.size_sum;
        }
    }

    /// Widens the bounds to take in `b`.
    fn cover(&mut self, b: [f64; 4]) {
        self.bounds = Some(match self.bounds {
            None => b,
            Some(a) => [
                a[0].min(b[0]),
                a[1].min(b[1]),
                a[2].max(b[2]),
                a[3].max(b[3]),
            ],
        });
    }
}

/// Binary COPY rows, ready to send, with where each geometry is.
#[derive(Default)]
pub struct EncodedBatch {
    /// The tuples.
    pub buf: Vec<u8>,
    /// One entry per tuple.
    pub rows: Vec<RowMeta>,
    /// What the rows cover.
    pub extent: Extent,
}

impl EncodedBatch {
    /// Appends a row: `fid`, the geometry (converted from `wkb`), the encoded
    /// attribute fields. Returns what happened to the geometry; on anything but
    /// `Written` nothing is appended.
    pub fn push(
        &mut self,
        fields: usize,
        fid: i64,
        wkb: &[u8],
        attrs: &[u8],
        transformer: &mut Transformer,
        scratch: &mut Scratch,
    ) -> Outcome {
        let start = self.buf.len();
        copy::tuple(&mut self.buf, fields);
        copy::bigint(&mut self.buf, fid);
        let geom_at = self.buf.len();
        self.buf.extend_from_slice(&0i32.to_be_bytes());
        let outcome = geometry::normalise(wkb, transformer, scratch, &mut self.buf);
        match outcome {
            Outcome::Written { kind, .. } => {
                let len = (self.buf.len() - geom_at - 4) as i32;
                self.buf[geom_at..geom_at + 4].copy_from_slice(&len.to_be_bytes());
                self.buf.extend_from_slice(attrs);
                self.rows.push(RowMeta {
                    start,
                    geom_at,
                    kind,
                    fid,
                    proven: scratch.proven(),
                });
                self.extent.add(scratch.bbox());
            }
            _ => self.buf.truncate(start),
        }
        outcome
    }

    /// The same rows with every single geometry of `family` wrapped into its Multi type.
    pub fn promoted(&self, family: u8) -> EncodedBatch {
        let mut out = EncodedBatch {
            buf: Vec::with_capacity(self.buf.len() + self.rows.len() * 9),
            rows: Vec::with_capacity(self.rows.len()),
            extent: self.extent,
        };
        for (i, row) in self.rows.iter().enumerate() {
            let end = self.rows.get(i + 1).map_or(self.buf.len(), |r| r.start);
            let start = out.buf.len();
            if row.kind.is_single() && row.kind.family() == family {
                let len = i32::from_be_bytes([
                    self.buf[row.geom_at],
                    self.buf[row.geom_at + 1],
                    self.buf[row.geom_at + 2],
                    self.buf[row.geom_at + 3],
                ]) as usize;
                let geom = &self.buf[row.geom_at + 4..row.geom_at + 4 + len];
                out.buf.extend_from_slice(&self.buf[row.start..row.geom_at]);
                let geom_at = out.buf.len();
                out.buf.extend_from_slice(&((len + 9) as i32).to_be_bytes());
                geometry::promote_to_multi(geom, &mut out.buf);
                out.buf
                    .extend_from_slice(&self.buf[row.geom_at + 4 + len..end]);
                out.rows.push(RowMeta {
                    start,
                    geom_at,
                    kind: row.kind.multi(),
                    ..*row
                });
            } else {
                out.buf.extend_from_slice(&self.buf[row.start..end]);
                out.rows.push(RowMeta {
                    start,
                    geom_at: row.geom_at - row.start + start,
                    ..*row
                });
            }
        }
        out
    }
}

/// Records a converted row's outcome in `counters`.
pub fn count_outcome(counters: &Counters, outcome: &Outcome) {
    match outcome {
        Outcome::Written { fixed, .. } => {
            if *fixed {
                counters.repaired.fetch_add(1, Ordering::Relaxed);
            }
        }
        Outcome::Empty => {
            counters.skipped_empty.fetch_add(1, Ordering::Relaxed);
        }
        Outcome::Invalid(reason) => {
            counters.skipped_invalid.fetch_add(1, Ordering::Relaxed);
            if let Ok(mut first) = counters.first_invalid.lock() {
                if first.is_none() {
                    *first = Some(reason.clone());
                }
            }
        }
    }
}

/// How many conversion threads to run: one per core.
pub fn converter_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 8)
}

/// Starts `threads` conversion workers reading `input` and sending to `output`.
/// Each builds its own [`Transformer`] with its first batch (`crs` was validated by
/// the caller).
/// The workers end when `input` is closed; a reader error is passed on.
pub fn spawn_converters(
    threads: usize,
    crs: SourceCrs,
    swap_xy: bool,
    fields: usize,
    input: Receiver<Result<RawBatch, ImportError>>,
    output: tokio::sync::mpsc::Sender<Result<EncodedBatch, ImportError>>,
    counters: Arc<Counters>,
) -> Vec<std::thread::JoinHandle<()>> {
    let input = Arc::new(Mutex::new(input));
    (0..threads)
        .filter_map(|i| {
            let input = Arc::clone(&input);
            let output = output.clone();
            let counters = Arc::clone(&counters);
            let crs = crs.clone();
            std::thread::Builder::new()
                .name(format!("citygrid-convert-{i}"))
                .spawn(move || {
                    // Made with the first batch: a layer queued behind others costs
                    // nothing (PROJ set-up included) until its turn comes.
                    let mut transformer: Option<Transformer> = None;
                    let mut scratch = Scratch::default();
                    loop {
                        let next = match input.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        let raw = match next {
                            Ok(Ok(raw)) => raw,
                            Ok(Err(e)) => {
                                let _ = output.blocking_send(Err(e));
                                return;
                            }
                            Err(_) => return, // reader done
                        };
                        let transformer = match &mut transformer {
                            Some(t) => t,
                            None => match Transformer::new(&crs, swap_xy) {
                                Ok(t) => transformer.insert(t),
                                Err(e) => {
                                    let _ = output.blocking_send(Err(e));
                                    return;
                                }
                            },
                        };
                        let mut batch = EncodedBatch {
                            buf: Vec::with_capacity(
                                raw.wkb.len() + raw.attrs.len() + raw.len() * 32,
                            ),
                            rows: Vec::with_capacity(raw.len()),
                            extent: Extent::default(),
                        };
                        for i in 0..raw.len() {
                            let (fid, wkb, attrs) = raw.feature(i);
                            let outcome =
                                batch.push(fields, fid, wkb, attrs, transformer, &mut scratch);
                            count_outcome(&counters, &outcome);
                        }
                        if output.blocking_send(Ok(batch)).is_err() {
                            return; // writer gone
                        }
                    }
                })
                .ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::Extent;

    #[test]
    fn extent_merges_bounds_and_sizes() {
        let mut a = Extent::default();
        assert_eq!(a.bounds, None);
        a.add([0.0, 0.0, 2.0, 2.0]); // √4 = 2
        a.add([1.0, -1.0, 1.0, 5.0]); // a vertical line: size 0
        let mut b = Extent::default();
        b.add([-3.0, 1.0, 0.0, 4.0]); // √9 = 3
        let mut total = a;
        total.merge(&b);
        total.merge(&Extent::default());
        assert_eq!(total.bounds, Some([-3.0, -1.0, 2.0, 5.0]));
        assert!((total.size_sum - 5.0).abs() < 1e-12, "{}", total.size_sum);
    }
}
