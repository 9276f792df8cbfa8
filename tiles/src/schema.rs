//! Feature attribute values and the schema (field names and types) of a layer.

use std::sync::Arc;

/// The type of one attribute field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldType {
    /// UTF-8 text.
    String,
    /// 64-bit signed integer.
    Int,
    /// 64-bit float.
    Double,
    /// Boolean.
    Bool,
}

/// One named, typed attribute field.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Field {
    /// Field name (the MVT property key).
    pub name: String,
    /// Field type.
    pub ty: FieldType,
}

/// The ordered fields of a layer; `Feature::props[i]` is the value of `fields[i]`.
///
/// ```
/// use citygrid_tiles::schema::{FieldType, Schema};
/// let s = Schema::new([("name", FieldType::String), ("height", FieldType::Double)]);
/// assert_eq!(s.position("height"), Some(1));
/// assert_eq!(s.len(), 2);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Schema {
    /// The fields, in property order.
    pub fields: Vec<Field>,
}

impl Schema {
    /// A schema from `(name, type)` pairs.
    pub fn new<S: Into<String>>(fields: impl IntoIterator<Item = (S, FieldType)>) -> Self {
        Schema {
            fields: fields
                .into_iter()
                .map(|(n, ty)| Field { name: n.into(), ty })
                .collect(),
        }
    }

    /// Index of the field called `name`.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// True when the schema has no field.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

/// One attribute value. `Null` values are left out of vector tiles.
///
/// ```
/// use citygrid_tiles::schema::PropValue;
/// assert_eq!(PropValue::from("a"), PropValue::String("a".into()));
/// assert_eq!(PropValue::from(3i64), PropValue::Int(3));
/// assert!(PropValue::Null.is_null());
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub enum PropValue {
    /// No value.
    #[default]
    Null,
    /// Text: shared, so that a layer holds a repeated value (a kind, a date) once
    /// (`LayerIndex::build` makes equal texts of a column share one allocation).
    String(Arc<str>),
    /// Integer.
    Int(i64),
    /// Float.
    Double(f64),
    /// Boolean.
    Bool(bool),
}

impl PropValue {
    /// True for [`PropValue::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, PropValue::Null)
    }

    /// Heap bytes owned by the value (for memory estimates): a shared text counts
    /// its share (its allocation divided by the values holding it).
    pub fn heap_bytes(&self) -> usize {
        match self {
            PropValue::String(s) => (s.len() + 16) / Arc::strong_count(s).max(1),
            _ => 0,
        }
    }

    /// The value as a borrowed [`PropRef`].
    pub fn as_prop(&self) -> PropRef<'_> {
        match self {
            PropValue::Null => PropRef::Null,
            PropValue::String(s) => PropRef::String(s),
            PropValue::Int(i) => PropRef::Int(*i),
            PropValue::Double(d) => PropRef::Double(*d),
            PropValue::Bool(b) => PropRef::Bool(*b),
        }
    }
}

/// One attribute value as the layer index holds it: borrowed from the layer's column
/// (see [`crate::index::FeatureRef::prop`]), copied out with [`PropRef::to_value`].
///
/// ```
/// use citygrid_tiles::schema::{PropRef, PropValue};
/// let v = PropValue::from("park");
/// assert_eq!(v.as_prop(), PropRef::String("park"));
/// assert_eq!(v.as_prop().to_value(), v);
/// assert!(PropRef::Null.is_null());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum PropRef<'a> {
    /// No value.
    #[default]
    Null,
    /// Text.
    String(&'a str),
    /// Integer.
    Int(i64),
    /// Float.
    Double(f64),
    /// Boolean.
    Bool(bool),
}

impl PropRef<'_> {
    /// True for [`PropRef::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, PropRef::Null)
    }

    /// The text, for a text value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            PropRef::String(s) => Some(s),
            _ => None,
        }
    }

    /// An owned copy of the value.
    pub fn to_value(&self) -> PropValue {
        match *self {
            PropRef::Null => PropValue::Null,
            PropRef::String(s) => PropValue::String(Arc::from(s)),
            PropRef::Int(i) => PropValue::Int(i),
            PropRef::Double(d) => PropValue::Double(d),
            PropRef::Bool(b) => PropValue::Bool(b),
        }
    }
}

impl From<&str> for PropValue {
    fn from(v: &str) -> Self {
        PropValue::String(Arc::from(v))
    }
}

impl From<String> for PropValue {
    fn from(v: String) -> Self {
        PropValue::String(Arc::from(v))
    }
}

impl From<Arc<str>> for PropValue {
    fn from(v: Arc<str>) -> Self {
        PropValue::String(v)
    }
}

impl From<i64> for PropValue {
    fn from(v: i64) -> Self {
        PropValue::Int(v)
    }
}

impl From<f64> for PropValue {
    fn from(v: f64) -> Self {
        PropValue::Double(v)
    }
}

impl From<bool> for PropValue {
    fn from(v: bool) -> Self {
        PropValue::Bool(v)
    }
}
