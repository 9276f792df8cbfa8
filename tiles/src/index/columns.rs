//! A layer's attribute values held by column, one column per schema field, each in
//! the most compact form its values allow: integers and floats as plain arrays with a
//! null bitmap, repeated values (a kind, a date, a flag) as small codes into a
//! dictionary, distinct texts (names, addresses) as one byte buffer with offsets, and
//! anything else (a column mixing types) as values. A feature is a row number, not a
//! heap object: a point of five values takes about 40 bytes of columns instead of the
//! ~150 it took as a vector of values.
//!
//! ```text
//! Ints     values: [i64]                        nulls: bitmap
//! Doubles  values: [f64]                        nulls: bitmap
//! Texts    text: one buffer, ends: [u32]        nulls: bitmap
//! Dict     codes: [u8 | u16 | u32] → values     (null is a value like any other)
//! Any      values: [PropValue]
//! ```
//!
//! Rows are only appended (an edit appends the new version of a feature and the old
//! row is left unreferenced until the layer is compacted); a value that does not fit
//! its column's form turns the column into a more general one.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use foldhash::fast::FixedState;

use crate::schema::{PropRef, PropValue};

/// A dictionary is used while a column has at most one distinct value per this many
/// rows (and for any column of at most [`DICT_ALWAYS`] distinct values).
const DICT_RATIO: usize = 8;
/// Up to this many distinct values a column is always dictionary coded.
const DICT_ALWAYS: usize = 256;

/// Makes room for `more` items in `v`, growing it by an eighth rather than doubling
/// it: a patch to a layer of millions of rows must not double its memory.
pub(crate) fn grow<T>(v: &mut Vec<T>, more: usize) {
    if v.capacity() - v.len() < more {
        v.reserve_exact((v.len() / 8).max(more).max(16));
    }
}

/// A bitmap of null rows (empty while no row is null).
#[derive(Debug, Clone, Default)]
pub(crate) struct Nulls(Vec<u64>);

impl Nulls {
    fn is_null(&self, row: usize) -> bool {
        self.0
            .get(row / 64)
            .is_some_and(|w| (w >> (row % 64)) & 1 == 1)
    }

    fn set(&mut self, row: usize) {
        let word = row / 64;
        if self.0.len() <= word {
            let more = word + 1 - self.0.len();
            grow(&mut self.0, more);
            self.0.resize(word + 1, 0);
        }
        self.0[word] |= 1 << (row % 64);
    }

    fn bytes(&self) -> usize {
        self.0.capacity() * 8
    }
}

/// Dictionary codes, as narrow as the dictionary allows.
#[derive(Debug, Clone)]
pub(crate) enum Codes {
    U8(Vec<u8>),
    U16(Vec<u16>),
    U32(Vec<u32>),
}

impl Codes {
    fn get(&self, row: usize) -> Option<usize> {
        match self {
            Codes::U8(c) => c.get(row).map(|&v| usize::from(v)),
            Codes::U16(c) => c.get(row).map(|&v| usize::from(v)),
            Codes::U32(c) => c.get(row).map(|&v| v as usize),
        }
    }

    fn len(&self) -> usize {
        match self {
            Codes::U8(c) => c.len(),
            Codes::U16(c) => c.len(),
            Codes::U32(c) => c.len(),
        }
    }

    /// Appends `code`, widening the codes first when needed.
    fn push(&mut self, code: usize) {
        if let Codes::U8(c) = self {
            if code > usize::from(u8::MAX) {
                let mut wide = Vec::with_capacity(c.capacity());
                wide.extend(c.iter().map(|&v| u16::from(v)));
                *self = Codes::U16(wide);
            }
        }
        if let Codes::U16(c) = self {
            if code > usize::from(u16::MAX) {
                let mut wide = Vec::with_capacity(c.capacity());
                wide.extend(c.iter().map(|&v| u32::from(v)));
                *self = Codes::U32(wide);
            }
        }
        match self {
            // The branches above made the codes wide enough.
            Codes::U8(c) => {
                grow(c, 1);
                c.push(code as u8)
            }
            Codes::U16(c) => {
                grow(c, 1);
                c.push(code as u16)
            }
            Codes::U32(c) => {
                grow(c, 1);
                c.push(code as u32)
            }
        }
    }

    fn bytes(&self) -> usize {
        match self {
            Codes::U8(c) => c.capacity(),
            Codes::U16(c) => c.capacity() * 2,
            Codes::U32(c) => c.capacity() * 4,
        }
    }
}

/// A value as a dictionary key (floats by their bits, so that every value has one).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Key {
    Null,
    String(Arc<str>),
    Int(i64),
    Double(u64),
    Bool(bool),
}

impl Key {
    fn of(v: &PropValue) -> Key {
        match v {
            PropValue::Null => Key::Null,
            PropValue::String(s) => Key::String(s.clone()),
            PropValue::Int(i) => Key::Int(*i),
            PropValue::Double(d) => Key::Double(d.to_bits()),
            PropValue::Bool(b) => Key::Bool(*b),
        }
    }
}

/// One attribute column of a layer.
#[derive(Debug, Clone)]
pub(crate) enum Column {
    /// Integers (and nulls).
    Ints { values: Vec<i64>, nulls: Nulls },
    /// Floats (and nulls).
    Doubles { values: Vec<f64>, nulls: Nulls },
    /// Distinct texts (and nulls): row `r` is `text[ends[r-1]..ends[r]]`.
    Texts {
        text: String,
        ends: Vec<u32>,
        nulls: Nulls,
    },
    /// Repeated values of any type: a code per row into `values`.
    Dict {
        codes: Codes,
        values: Vec<PropValue>,
        /// Made at the first appended row (a loaded layer never needs it).
        lookup: Option<HashMap<Key, u32, FixedState>>,
    },
    /// Anything else.
    Any(Vec<PropValue>),
}

impl Column {
    /// The column of `values` (one per row, in row order).
    pub(crate) fn build<'a>(values: impl Iterator<Item = &'a PropValue> + Clone) -> Column {
        let rows = values.clone().count();
        if let Some(dict) = dictionary(values.clone(), rows) {
            return dict;
        }
        let (mut ints, mut doubles, mut texts, mut other) = (true, true, true, false);
        for v in values.clone() {
            match v {
                PropValue::Null => {}
                PropValue::Int(_) => (doubles, texts) = (false, false),
                PropValue::Double(_) => (ints, texts) = (false, false),
                PropValue::String(_) => (ints, doubles) = (false, false),
                PropValue::Bool(_) => other = true,
            }
        }
        let mut column = if other {
            Column::Any(Vec::with_capacity(rows))
        } else if ints {
            Column::Ints {
                values: Vec::with_capacity(rows),
                nulls: Nulls::default(),
            }
        } else if doubles {
            Column::Doubles {
                values: Vec::with_capacity(rows),
                nulls: Nulls::default(),
            }
        } else if texts {
            let len: usize = values
                .clone()
                .map(|v| match v {
                    PropValue::String(s) => s.len(),
                    _ => 0,
                })
                .sum();
            Column::Texts {
                text: String::with_capacity(len),
                ends: Vec::with_capacity(rows),
                nulls: Nulls::default(),
            }
        } else {
            Column::Any(Vec::with_capacity(rows))
        };
        for v in values {
            column.push(v);
        }
        column
    }

    /// Rows held.
    pub(crate) fn len(&self) -> usize {
        match self {
            Column::Ints { values, .. } => values.len(),
            Column::Doubles { values, .. } => values.len(),
            Column::Texts { ends, .. } => ends.len(),
            Column::Dict { codes, .. } => codes.len(),
            Column::Any(values) => values.len(),
        }
    }

    /// The value of `row` (`Null` past the end).
    pub(crate) fn get(&self, row: usize) -> PropRef<'_> {
        match self {
            Column::Ints { values, nulls } => match values.get(row) {
                Some(&v) if !nulls.is_null(row) => PropRef::Int(v),
                _ => PropRef::Null,
            },
            Column::Doubles { values, nulls } => match values.get(row) {
                Some(&v) if !nulls.is_null(row) => PropRef::Double(v),
                _ => PropRef::Null,
            },
            Column::Texts { text, ends, nulls } => {
                let Some(&end) = ends.get(row) else {
                    return PropRef::Null;
                };
                if nulls.is_null(row) {
                    return PropRef::Null;
                }
                let start = if row == 0 { 0 } else { ends[row - 1] };
                // Whole texts were appended, so every range is on char boundaries
                // (checked in O(1) by the slicing).
                text.get(start as usize..end as usize)
                    .map_or(PropRef::Null, PropRef::String)
            }
            Column::Dict { codes, values, .. } => codes
                .get(row)
                .and_then(|c| values.get(c))
                .map_or(PropRef::Null, PropValue::as_prop),
            Column::Any(values) => values.get(row).map_or(PropRef::Null, PropValue::as_prop),
        }
    }

    /// Appends one row.
    pub(crate) fn push(&mut self, v: &PropValue) {
        let row = self.len();
        match (&mut *self, v) {
            (Column::Ints { values, nulls }, PropValue::Null) => {
                grow(values, 1);
                values.push(0);
                nulls.set(row);
            }
            (Column::Ints { values, .. }, PropValue::Int(i)) => {
                grow(values, 1);
                values.push(*i)
            }
            (Column::Doubles { values, nulls }, PropValue::Null) => {
                grow(values, 1);
                values.push(0.0);
                nulls.set(row);
            }
            (Column::Doubles { values, .. }, PropValue::Double(d)) => {
                grow(values, 1);
                values.push(*d)
            }
            (Column::Texts { ends, nulls, .. }, PropValue::Null) => {
                grow(ends, 1);
                ends.push(ends.last().copied().unwrap_or(0));
                nulls.set(row);
            }
            (Column::Texts { text, ends, .. }, PropValue::String(s))
                if text.len() + s.len() <= u32::MAX as usize =>
            {
                if text.capacity() - text.len() < s.len() {
                    text.reserve_exact((text.len() / 8).max(s.len()).max(16));
                }
                text.push_str(s);
                grow(ends, 1);
                ends.push(text.len() as u32);
            }
            (
                Column::Dict {
                    codes,
                    values,
                    lookup,
                },
                v,
            ) => {
                let lookup = lookup.get_or_insert_with(|| {
                    values
                        .iter()
                        .enumerate()
                        .map(|(i, v)| (Key::of(v), i as u32))
                        .collect()
                });
                let key = Key::of(v);
                let code = match lookup.get(&key) {
                    Some(&c) => c as usize,
                    None => {
                        values.push(v.clone());
                        let c = values.len() - 1;
                        lookup.insert(key, c as u32);
                        c
                    }
                };
                codes.push(code);
            }
            (Column::Any(values), v) => {
                grow(values, 1);
                values.push(v.clone())
            }
            (column, v) => {
                // The value does not fit the column's form: hold values as they are.
                let mut values: Vec<PropValue> =
                    (0..row).map(|r| column.get(r).to_value()).collect();
                values.push(v.clone());
                *column = Column::Any(values);
            }
        }
    }

    /// Heap bytes held.
    pub(crate) fn heap_bytes(&self) -> usize {
        match self {
            Column::Ints { values, nulls } => values.capacity() * 8 + nulls.bytes(),
            Column::Doubles { values, nulls } => values.capacity() * 8 + nulls.bytes(),
            Column::Texts { text, ends, nulls } => {
                text.capacity() + ends.capacity() * 4 + nulls.bytes()
            }
            Column::Dict {
                codes,
                values,
                lookup,
            } => {
                codes.bytes()
                    + values_bytes(values)
                    + lookup.as_ref().map_or(0, |l| l.capacity() * 48)
            }
            Column::Any(values) => values_bytes(values),
        }
    }

    /// The column's form, for tests and diagnostics.
    #[cfg(test)]
    pub(crate) fn form(&self) -> &'static str {
        match self {
            Column::Ints { .. } => "ints",
            Column::Doubles { .. } => "doubles",
            Column::Texts { .. } => "texts",
            Column::Dict {
                codes: Codes::U8(_),
                ..
            } => "dict8",
            Column::Dict {
                codes: Codes::U16(_),
                ..
            } => "dict16",
            Column::Dict { .. } => "dict32",
            Column::Any(_) => "any",
        }
    }
}

fn values_bytes(values: &Vec<PropValue>) -> usize {
    values.capacity() * std::mem::size_of::<PropValue>()
        + values.iter().map(PropValue::heap_bytes).sum::<usize>()
}

/// A value as a dictionary key while a column is built (borrowed; floats by bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum KeyRef<'a> {
    Null,
    String(&'a str),
    Int(i64),
    Double(u64),
    Bool(bool),
}

impl<'a> KeyRef<'a> {
    fn of(v: &'a PropValue) -> KeyRef<'a> {
        match v {
            PropValue::Null => KeyRef::Null,
            PropValue::String(s) => KeyRef::String(s),
            PropValue::Int(i) => KeyRef::Int(*i),
            PropValue::Double(d) => KeyRef::Double(d.to_bits()),
            PropValue::Bool(b) => KeyRef::Bool(*b),
        }
    }
}

/// Values looked at before a column is taken for a dictionary: more than half of
/// them distinct (names, measurements) and it is not one.
const PROBE: usize = 4096;

/// The dictionary column of `values` when they repeat enough (see [`DICT_RATIO`]).
fn dictionary<'a>(
    values: impl Iterator<Item = &'a PropValue> + Clone,
    rows: usize,
) -> Option<Column> {
    let limit = (rows / DICT_RATIO).max(DICT_ALWAYS);
    let mut probe: HashSet<KeyRef<'_>, FixedState> = HashSet::default();
    probe.extend(values.clone().take(PROBE).map(KeyRef::of));
    if probe.len() > limit.clamp(DICT_ALWAYS, PROBE / 2) {
        return None;
    }
    let mut lookup: HashMap<KeyRef<'_>, u32, FixedState> = HashMap::default();
    let mut dict: Vec<PropValue> = Vec::new();
    let mut codes = Codes::U8(Vec::with_capacity(rows));
    for v in values {
        let code = match lookup.entry(KeyRef::of(v)) {
            std::collections::hash_map::Entry::Occupied(e) => *e.get() as usize,
            std::collections::hash_map::Entry::Vacant(e) => {
                if dict.len() >= limit || dict.len() >= u32::MAX as usize {
                    return None;
                }
                dict.push(v.clone());
                let c = dict.len() - 1;
                e.insert(c as u32);
                c
            }
        };
        codes.push(code);
    }
    Some(Column::Dict {
        codes,
        values: dict,
        lookup: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(values: &[PropValue]) -> Column {
        let c = Column::build(values.iter());
        assert_eq!(c.len(), values.len());
        for (r, v) in values.iter().enumerate() {
            assert_eq!(c.get(r), v.as_prop(), "row {r}");
        }
        c
    }

    #[test]
    fn each_form_reads_back_what_it_was_given() {
        let n = 3000;
        let ints: Vec<PropValue> = (0..n)
            .map(|i| {
                if i % 7 == 0 {
                    PropValue::Null
                } else {
                    PropValue::Int(i * 31)
                }
            })
            .collect();
        assert_eq!(roundtrip(&ints).form(), "ints");
        let doubles: Vec<PropValue> = (0..n).map(|i| PropValue::Double(i as f64 / 3.0)).collect();
        assert_eq!(roundtrip(&doubles).form(), "doubles");
        let names: Vec<PropValue> = (0..n)
            .map(|i| {
                if i % 5 == 0 {
                    PropValue::Null
                } else {
                    format!("部件{i}").into()
                }
            })
            .collect();
        assert_eq!(roundtrip(&names).form(), "texts");
        let kinds: Vec<PropValue> = (0..n)
            .map(|i| ["井盖", "路灯"][i as usize % 2].into())
            .collect();
        assert_eq!(roundtrip(&kinds).form(), "dict8");
        let dates: Vec<PropValue> = (0..n)
            .map(|i| format!("2024-{:03}", i % 300).into())
            .collect();
        assert_eq!(roundtrip(&dates).form(), "dict16");
        let mixed: Vec<PropValue> = (0..n)
            .map(|i| match i % 3 {
                0 => PropValue::Int(i),
                1 => format!("t{i}").into(),
                _ => PropValue::Bool(true),
            })
            .collect();
        assert_eq!(roundtrip(&mixed).form(), "any");
        assert_eq!(roundtrip(&[]).len(), 0);
    }

    #[test]
    fn appending_a_value_of_another_type_generalises_the_column() {
        let mut ints: Vec<PropValue> = (0..600).map(PropValue::Int).collect();
        let mut c = Column::build(ints.iter());
        assert_eq!(c.form(), "ints");
        for v in [PropValue::Null, PropValue::Int(-4), PropValue::from("text")] {
            c.push(&v);
            ints.push(v);
        }
        assert_eq!(c.form(), "any");
        for (r, v) in ints.iter().enumerate() {
            assert_eq!(c.get(r), v.as_prop());
        }
        // A dictionary widens its codes when it outgrows them.
        let mut kinds: Vec<PropValue> = (0..1000).map(|i| PropValue::Int(i % 3)).collect();
        let mut d = Column::build(kinds.iter());
        assert_eq!(d.form(), "dict8");
        for i in 0..300 {
            let v = PropValue::from(format!("new {i}"));
            d.push(&v);
            kinds.push(v);
        }
        assert_eq!(d.form(), "dict16");
        for (r, v) in kinds.iter().enumerate() {
            assert_eq!(d.get(r), v.as_prop());
        }
        assert_eq!(d.get(10_000), PropRef::Null);
    }
}
