//! Attribute fields: GDAL field types → PostgreSQL column types, and the encoding of
//! one feature's values into binary COPY fields.
//!
//! | GDAL | column |
//! |---|---|
//! | Integer (Boolean subtype) | `boolean` |
//! | Integer, Integer64 | `bigint` |
//! | Real | `double precision` |
//! | String, Time, Binary (hex) | `text` |
//! | Date | `date` |
//! | DateTime | `timestamptz` (no time zone: taken as UTC) |
//! | IntegerList, Integer64List, RealList, StringList | `jsonb` array |

use std::ffi::{c_char, c_int, CStr, CString};

use chrono::{NaiveDate, NaiveDateTime};
use gdal_sys::{OGRFeatureH, OGRFieldSubType, OGRFieldType};
use serde::Serialize;

use crate::copy::{self, ColumnType};
use crate::naming::ColumnNamer;

/// How a source field is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Read {
    Boolean,
    Integer,
    Real,
    Text,
    Date,
    DateTime,
    IntegerList,
    RealList,
    StringList,
    Binary,
}

/// One attribute column: where it comes from and what it becomes.
#[derive(Debug, Clone)]
pub struct FieldPlan {
    /// GDAL field index.
    pub index: i32,
    /// Column name (see [`ColumnNamer`]: the source name lower-cased, in Unicode
    /// identifier characters; always quoted in SQL).
    pub name: String,
    /// Field name in the source.
    pub source_name: String,
    /// Column type.
    pub column_type: ColumnType,
    read: Read,
}

/// A field as the catalogue records it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CatalogField {
    /// Column name.
    pub name: String,
    /// SQL type.
    #[serde(rename = "type")]
    pub column_type: String,
    /// Name in the source.
    pub source_name: String,
}

impl FieldPlan {
    /// A column of a fixed type that is not read from GDAL (OSM layers).
    pub fn catalog(&self) -> CatalogField {
        CatalogField {
            name: self.name.clone(),
            column_type: self.column_type.sql().to_string(),
            source_name: self.source_name.clone(),
        }
    }
}

impl FieldPlan {
    /// A column filled by a native reader (not read from GDAL): a text or integer
    /// field named `source_name` in the source, at position `index`.
    pub fn native(
        index: usize,
        source_name: &str,
        integer: bool,
        namer: &mut ColumnNamer,
    ) -> FieldPlan {
        let (column_type, read) = if integer {
            (ColumnType::BigInt, Read::Integer)
        } else {
            (ColumnType::Text, Read::Text)
        };
        FieldPlan {
            index: index as i32,
            name: namer.name(source_name, index),
            source_name: source_name.to_string(),
            column_type,
            read,
        }
    }
}

/// Plans the columns of a layer from its GDAL field definitions
/// (`OGRFeatureDefnH`), naming them with `namer`. Field names are decoded like
/// text values (`--encoding` where GDAL did not recode them itself); a name that
/// still is not UTF-8 is read lossily.
///
/// # Safety
/// `defn` must be a valid feature definition handle.
pub unsafe fn plan_fields(
    defn: gdal_sys::OGRFeatureDefnH,
    namer: &mut ColumnNamer,
    decoder: &TextDecoder,
) -> Vec<FieldPlan> {
    let count = gdal_sys::OGR_FD_GetFieldCount(defn);
    let mut plans = Vec::with_capacity(count.max(0) as usize);
    for i in 0..count {
        let fd = gdal_sys::OGR_FD_GetFieldDefn(defn, i);
        if fd.is_null() {
            continue;
        }
        let raw = gdal_sys::OGR_Fld_GetNameRef(fd);
        let source_name = if raw.is_null() {
            String::new()
        } else {
            decoder
                .decode(CStr::from_ptr(raw))
                .unwrap_or_else(|NotUtf8| cstr(raw))
        };
        let subtype = gdal_sys::OGR_Fld_GetSubType(fd);
        let (column_type, read) = match gdal_sys::OGR_Fld_GetType(fd) {
            OGRFieldType::OFTInteger if subtype == OGRFieldSubType::OFSTBoolean => {
                (ColumnType::Boolean, Read::Boolean)
            }
            OGRFieldType::OFTInteger | OGRFieldType::OFTInteger64 => {
                (ColumnType::BigInt, Read::Integer)
            }
            OGRFieldType::OFTReal => (ColumnType::Double, Read::Real),
            OGRFieldType::OFTDate => (ColumnType::Date, Read::Date),
            OGRFieldType::OFTDateTime => (ColumnType::Timestamptz, Read::DateTime),
            OGRFieldType::OFTIntegerList | OGRFieldType::OFTInteger64List => {
                (ColumnType::Jsonb, Read::IntegerList)
            }
            OGRFieldType::OFTRealList => (ColumnType::Jsonb, Read::RealList),
            OGRFieldType::OFTStringList | OGRFieldType::OFTWideStringList => {
                (ColumnType::Jsonb, Read::StringList)
            }
            OGRFieldType::OFTBinary => (ColumnType::Text, Read::Binary),
            _ => (ColumnType::Text, Read::Text),
        };
        let name = namer.name(&source_name, i as usize);
        plans.push(FieldPlan {
            index: i,
            name,
            source_name,
            column_type,
            read,
        });
    }
    plans
}

unsafe fn cstr(p: *const c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

/// Text that is not valid UTF-8 and could not be recoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotUtf8;

/// Turns source text into UTF-8: checks it, or recodes it from a declared encoding
/// with GDAL's `CPLRecode` (iconv).
#[derive(Debug, Clone)]
pub struct TextDecoder {
    /// Recode from this encoding (when GDAL itself did not).
    from: Option<CString>,
}

impl TextDecoder {
    /// `from`: the encoding to recode from, `None` when the text is already UTF-8.
    pub fn new(from: Option<&str>) -> TextDecoder {
        TextDecoder {
            from: from.and_then(|e| CString::new(e).ok()),
        }
    }

    /// Decodes `raw`; `Err` when it is not UTF-8 and no encoding was declared.
    pub fn decode(&self, raw: &CStr) -> Result<String, NotUtf8> {
        match &self.from {
            None => raw.to_str().map(str::to_string).map_err(|_| NotUtf8),
            Some(from) => {
                if raw.to_bytes().is_ascii() {
                    return Ok(raw.to_string_lossy().into_owned());
                }
                // SAFETY: CPLRecode returns a new string that we free with VSIFree.
                unsafe {
                    let out = gdal_sys::CPLRecode(raw.as_ptr(), from.as_ptr(), c"UTF-8".as_ptr());
                    if out.is_null() {
                        return Err(NotUtf8);
                    }
                    let text = CStr::from_ptr(out).to_string_lossy().into_owned();
                    gdal_sys::VSIFree(out.cast());
                    Ok(text)
                }
            }
        }
    }
}

/// Why a value could not be encoded.
#[derive(Debug)]
pub struct FieldError {
    /// The source field.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// Appends the COPY fields of `feature`'s values for `plans` to `out`.
///
/// # Safety
/// `feature` must be a valid feature handle whose definition `plans` was made from.
pub unsafe fn encode_fields(
    feature: OGRFeatureH,
    plans: &[FieldPlan],
    decoder: &TextDecoder,
    out: &mut Vec<u8>,
) -> Result<(), FieldError> {
    for p in plans {
        let i = p.index;
        if gdal_sys::OGR_F_IsFieldSetAndNotNull(feature, i) == 0 {
            copy::null(out);
            continue;
        }
        match p.read {
            Read::Boolean => copy::boolean(out, gdal_sys::OGR_F_GetFieldAsInteger(feature, i) != 0),
            Read::Integer => copy::bigint(out, gdal_sys::OGR_F_GetFieldAsInteger64(feature, i)),
            Read::Real => copy::double(out, gdal_sys::OGR_F_GetFieldAsDouble(feature, i)),
            Read::Text => {
                let raw = gdal_sys::OGR_F_GetFieldAsString(feature, i);
                if raw.is_null() {
                    copy::null(out);
                    continue;
                }
                let text = decoder.decode(CStr::from_ptr(raw)).map_err(|NotUtf8| FieldError {
                    field: p.source_name.clone(),
                    message: "text is not valid UTF-8: pass --encoding with the file's encoding (e.g. --encoding GBK)".into(),
                })?;
                copy::text(out, &text);
            }
            Read::Date | Read::DateTime => {
                let (mut y, mut mo, mut d, mut h, mut mi, mut tz) = (0, 0, 0, 0, 0, 0);
                let mut s: f32 = 0.0;
                let ok = gdal_sys::OGR_F_GetFieldAsDateTimeEx(
                    feature, i, &mut y, &mut mo, &mut d, &mut h, &mut mi, &mut s, &mut tz,
                );
                if ok == 0 {
                    copy::null(out);
                } else if p.read == Read::Date {
                    copy::date(out, y, mo.max(0) as u32, d.max(0) as u32);
                } else {
                    let local = local_datetime(y, mo, d, h, mi, s);
                    // GDAL: 0 unknown, 1 local time (both taken as UTC), 100 = UTC,
                    // 100 ± n = UTC ± n quarter hours.
                    let offset = if tz > 1 {
                        i64::from(tz - 100) * 15 * 60
                    } else {
                        0
                    };
                    copy::timestamptz(out, local, offset);
                }
            }
            Read::IntegerList => {
                let mut n: c_int = 0;
                let ptr = gdal_sys::OGR_F_GetFieldAsInteger64List(feature, i, &mut n);
                let values = slice(ptr, n);
                copy::jsonb(
                    out,
                    &serde_json::to_string(values).unwrap_or_else(|_| "[]".into()),
                );
            }
            Read::RealList => {
                let mut n: c_int = 0;
                let ptr = gdal_sys::OGR_F_GetFieldAsDoubleList(feature, i, &mut n);
                let values: Vec<serde_json::Value> =
                    slice(ptr, n).iter().map(|v| serde_json::json!(v)).collect();
                copy::jsonb(out, &serde_json::Value::Array(values).to_string());
            }
            Read::StringList => {
                let mut list = gdal_sys::OGR_F_GetFieldAsStringList(feature, i);
                let mut values = Vec::new();
                while !list.is_null() && !(*list).is_null() {
                    let text =
                        decoder
                            .decode(CStr::from_ptr(*list))
                            .map_err(|NotUtf8| FieldError {
                                field: p.source_name.clone(),
                                message: "text is not valid UTF-8: pass --encoding".into(),
                            })?;
                    values.push(text);
                    list = list.add(1);
                }
                copy::jsonb(
                    out,
                    &serde_json::to_string(&values).unwrap_or_else(|_| "[]".into()),
                );
            }
            Read::Binary => {
                let mut n: c_int = 0;
                let ptr = gdal_sys::OGR_F_GetFieldAsBinary(feature, i, &mut n);
                let hex: String = slice(ptr, n).iter().map(|b| format!("{b:02x}")).collect();
                copy::text(out, &hex);
            }
        }
    }
    Ok(())
}

unsafe fn slice<'a, T>(ptr: *const T, n: c_int) -> &'a [T] {
    if ptr.is_null() || n <= 0 {
        &[]
    } else {
        std::slice::from_raw_parts(ptr, n as usize)
    }
}

fn local_datetime(y: i32, mo: i32, d: i32, h: i32, mi: i32, s: f32) -> Option<NaiveDateTime> {
    let date = NaiveDate::from_ymd_opt(y, u32::try_from(mo).ok()?, u32::try_from(d).ok()?)?;
    let whole = s.max(0.0).floor();
    let micros = ((s.max(0.0) - whole) * 1_000_000.0).round() as u32;
    date.and_hms_micro_opt(
        u32::try_from(h).ok()?,
        u32::try_from(mi).ok()?,
        whole as u32,
        micros.min(999_999),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_utf8_and_refuses_other_bytes() {
        let d = TextDecoder::new(None);
        assert_eq!(d.decode(c"江岸区").unwrap(), "江岸区");
        // "江岸区" in GBK.
        let gbk = CString::new(vec![0xbd, 0xad, 0xb0, 0xb6, 0xc7, 0xf8]).unwrap();
        assert!(d.decode(&gbk).is_err());
        assert_eq!(
            TextDecoder::new(Some("GBK")).decode(&gbk).unwrap(),
            "江岸区"
        );
    }

    #[test]
    fn datetimes() {
        assert!(local_datetime(2024, 2, 30, 0, 0, 0.0).is_none());
        assert_eq!(
            local_datetime(2024, 2, 29, 12, 30, 15.5)
                .unwrap()
                .to_string(),
            "2024-02-29 12:30:15.500"
        );
    }
}
