//! Protocol-buffer primitives and the writer of one MVT 2.1 layer (key/value tables with
//! de-duplication, features with packed tags and geometry).

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use foldhash::fast::RandomState;

use crate::schema::PropRef;

/// Wire type of varints.
const VARINT: u32 = 0;
/// Wire type of 64-bit fixed values.
const FIXED64: u32 = 1;
/// Wire type of length-delimited values.
const LEN: u32 = 2;

/// Appends a base-128 varint.
pub(crate) fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Bytes of a varint.
pub(crate) fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

fn put_key(buf: &mut Vec<u8>, field: u32, wire: u32) {
    put_varint(buf, u64::from((field << 3) | wire));
}

/// Appends a length-delimited field.
pub(crate) fn put_bytes(buf: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_key(buf, field, LEN);
    put_varint(buf, bytes.len() as u64);
    buf.extend_from_slice(bytes);
}

fn put_packed(buf: &mut Vec<u8>, field: u32, vals: &[u32]) {
    if vals.is_empty() {
        return;
    }
    let len: usize = vals.iter().map(|&v| varint_len(u64::from(v))).sum();
    put_key(buf, field, LEN);
    put_varint(buf, len as u64);
    for &v in vals {
        put_varint(buf, u64::from(v));
    }
}

/// MVT zigzag encoding of a signed delta.
pub(crate) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// MVT geometry type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GeomType {
    Point = 1,
    LineString = 2,
    Polygon = 3,
}

/// A property value as a hashable table key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum ValueKey<'a> {
    Str(&'a str),
    Int(i64),
    Double(u64),
    Bool(bool),
}

/// Builds one layer message.
pub(crate) struct LayerWriter<'a> {
    name: &'a str,
    extent: u32,
    keys: Vec<&'a str>,
    key_idx: HashMap<&'a str, u32, RandomState>,
    values: Vec<ValueKey<'a>>,
    value_idx: HashMap<ValueKey<'a>, u32, RandomState>,
    features: Vec<u8>,
    count: usize,
    tags: Vec<u32>,
    scratch: Vec<u8>,
    /// Encoded bytes of `keys` and `values`.
    table_bytes: usize,
}

impl<'a> LayerWriter<'a> {
    pub(crate) fn new(name: &'a str, extent: u32) -> Self {
        LayerWriter {
            name,
            extent,
            keys: Vec::new(),
            key_idx: HashMap::default(),
            values: Vec::new(),
            // most tiles hold a few dozen values: no rehash below that
            value_idx: HashMap::with_capacity_and_hasher(32, RandomState::default()),
            features: Vec::new(),
            count: 0,
            tags: Vec::new(),
            scratch: Vec::new(),
            table_bytes: 0,
        }
    }

    /// Number of features written.
    pub(crate) fn len(&self) -> usize {
        self.count
    }

    /// Bytes of the features, keys and values written so far: a lower bound of the
    /// finished layer (which adds its name, extent and version).
    pub(crate) fn bytes_so_far(&self) -> usize {
        self.features.len() + self.table_bytes
    }

    fn key(&mut self, k: &'a str) -> u32 {
        if let Some(&i) = self.key_idx.get(k) {
            return i;
        }
        let i = self.keys.len() as u32;
        self.keys.push(k);
        self.key_idx.insert(k, i);
        self.table_bytes += 1 + varint_len(k.len() as u64) + k.len();
        i
    }

    fn value(&mut self, v: ValueKey<'a>) -> u32 {
        // One hash per value (most values of a tile are new: names, ids).
        let i = self.values.len() as u32;
        let slot = match self.value_idx.entry(v) {
            Entry::Occupied(e) => return *e.get(),
            Entry::Vacant(slot) => slot,
        };
        let v = slot.key().clone();
        slot.insert(i);
        let inner = match &v {
            ValueKey::Str(s) => 1 + varint_len(s.len() as u64) + s.len(),
            ValueKey::Double(_) => 9,
            ValueKey::Int(i) if *i >= 0 => 1 + varint_len(*i as u64),
            ValueKey::Int(i) => 1 + varint_len(zigzag(*i)),
            ValueKey::Bool(_) => 2,
        };
        self.table_bytes += 1 + varint_len(inner as u64) + inner;
        self.values.push(v);
        i
    }

    /// Adds a feature: optional id, `(key, value)` properties (`Null`s skipped), the
    /// geometry type and its command integers.
    pub(crate) fn add_feature(
        &mut self,
        id: Option<u64>,
        props: impl Iterator<Item = (&'a str, PropRef<'a>)>,
        extra: Option<(&'a str, i64)>,
        ty: GeomType,
        geometry: &[u32],
    ) {
        self.tags.clear();
        for (k, v) in props {
            let vk = match v {
                PropRef::Null => continue,
                PropRef::String(s) => ValueKey::Str(s),
                PropRef::Int(i) => ValueKey::Int(i),
                PropRef::Double(d) => ValueKey::Double(d.to_bits()),
                PropRef::Bool(b) => ValueKey::Bool(b),
            };
            let ki = self.key(k);
            let vi = self.value(vk);
            self.tags.push(ki);
            self.tags.push(vi);
        }
        if let Some((k, n)) = extra {
            let ki = self.key(k);
            let vi = self.value(ValueKey::Int(n));
            self.tags.push(ki);
            self.tags.push(vi);
        }
        // One buffer for every feature's message, not one allocation each.
        let mut f = std::mem::take(&mut self.scratch);
        f.clear();
        if let Some(id) = id {
            put_key(&mut f, 1, VARINT);
            put_varint(&mut f, id);
        }
        let tags = std::mem::take(&mut self.tags);
        put_packed(&mut f, 2, &tags);
        self.tags = tags;
        put_key(&mut f, 3, VARINT);
        put_varint(&mut f, ty as u64);
        put_packed(&mut f, 4, geometry);
        put_bytes(&mut self.features, 2, &f);
        self.scratch = f;
        self.count += 1;
    }

    /// Appends the finished layer (field 3 of `Tile`) to `tile`; nothing when empty.
    pub(crate) fn finish_into(self, tile: &mut Vec<u8>) {
        if self.count == 0 {
            return;
        }
        let mut l = Vec::with_capacity(self.features.len() + 64 + self.keys.len() * 8);
        put_bytes(&mut l, 1, self.name.as_bytes());
        l.extend_from_slice(&self.features);
        for k in &self.keys {
            put_bytes(&mut l, 3, k.as_bytes());
        }
        let mut v = Vec::new();
        for val in &self.values {
            v.clear();
            match val {
                ValueKey::Str(s) => put_bytes(&mut v, 1, s.as_bytes()),
                ValueKey::Double(bits) => {
                    put_key(&mut v, 3, FIXED64);
                    v.extend_from_slice(&bits.to_le_bytes());
                }
                ValueKey::Int(i) if *i >= 0 => {
                    put_key(&mut v, 5, VARINT);
                    put_varint(&mut v, *i as u64);
                }
                ValueKey::Int(i) => {
                    put_key(&mut v, 6, VARINT);
                    put_varint(&mut v, zigzag(*i));
                }
                ValueKey::Bool(b) => {
                    put_key(&mut v, 7, VARINT);
                    put_varint(&mut v, u64::from(*b));
                }
            }
            put_bytes(&mut l, 4, &v);
        }
        put_key(&mut l, 5, VARINT);
        put_varint(&mut l, u64::from(self.extent));
        put_key(&mut l, 15, VARINT);
        put_varint(&mut l, 2);
        put_bytes(tile, 3, &l);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::PropValue;

    #[test]
    fn the_size_so_far_is_exact_but_for_the_layer_header() {
        let values = [
            PropValue::String("kerrostalo".into()),
            PropValue::from("x".repeat(300)),
            PropValue::Int(7),
            PropValue::Int(-123_456),
            PropValue::Double(2.5),
            PropValue::Bool(true),
            PropValue::Null,
        ];
        let mut w = LayerWriter::new("buildings", 4096);
        for (i, v) in values.iter().enumerate() {
            // each value twice: the tables hold it once
            for _ in 0..2 {
                w.add_feature(
                    Some(i as u64),
                    [("k", v.as_prop()), ("name", v.as_prop())].into_iter(),
                    None,
                    GeomType::Point,
                    &[9, 2, 2],
                );
            }
        }
        let so_far = w.bytes_so_far();
        let mut tile = Vec::new();
        w.finish_into(&mut tile);
        // plus the name (tag, length, 9 bytes), the extent (tag, 2-byte varint), the
        // version (tag, 1), then the layer's own tag and length
        let layer = so_far + 11 + 3 + 2;
        assert_eq!(tile.len(), 1 + varint_len(layer as u64) + layer);
    }

    #[test]
    fn varints() {
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            assert_eq!(b.len(), varint_len(v), "{v}");
        }
        let mut b = Vec::new();
        put_varint(&mut b, 300);
        assert_eq!(b, [0xac, 0x02]);
        assert_eq!(zigzag(0), 0);
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
        assert_eq!(zigzag(-2), 3);
    }
}
