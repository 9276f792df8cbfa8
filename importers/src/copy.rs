//! PostgreSQL binary COPY encoding (`COPY … FROM STDIN (FORMAT binary)`).
//!
//! A stream is the 19-byte [`HEADER`], then one tuple per row — a big-endian `i16`
//! field count, then per field an `i32` byte length (`-1` for NULL) and the value in
//! the type's binary *receive* format — then the [`TRAILER`]. Geometry is sent as
//! EWKB, which PostGIS's `geometry_recv` accepts.

use chrono::{NaiveDate, NaiveDateTime};

/// Signature, flags and header-extension length of a binary COPY stream.
pub const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// End of a binary COPY stream.
pub const TRAILER: &[u8] = &(-1i16).to_be_bytes();

/// The PostgreSQL types attribute columns get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// 64-bit integer (GDAL Integer and Integer64).
    BigInt,
    /// IEEE double (GDAL Real).
    Double,
    /// UTF-8 text (GDAL String, Time, Binary as hex).
    Text,
    /// Boolean (GDAL Integer with the Boolean subtype).
    Boolean,
    /// Calendar date.
    Date,
    /// Instant; values without a time zone are taken as UTC.
    Timestamptz,
    /// JSON (GDAL lists, OSM tags).
    Jsonb,
}

impl ColumnType {
    /// The SQL type name, as recorded in the catalogue's `fields`.
    pub fn sql(self) -> &'static str {
        match self {
            ColumnType::BigInt => "bigint",
            ColumnType::Double => "double precision",
            ColumnType::Text => "text",
            ColumnType::Boolean => "boolean",
            ColumnType::Date => "date",
            ColumnType::Timestamptz => "timestamptz",
            ColumnType::Jsonb => "jsonb",
        }
    }
}

/// 2000-01-01, PostgreSQL's epoch for dates and timestamps.
fn pg_epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default()
}

/// Starts a tuple of `fields` fields.
#[inline]
pub fn tuple(out: &mut Vec<u8>, fields: usize) {
    out.extend_from_slice(&(fields as i16).to_be_bytes());
}

/// A NULL field.
#[inline]
pub fn null(out: &mut Vec<u8>) {
    out.extend_from_slice(&(-1i32).to_be_bytes());
}

/// A `bigint` field.
#[inline]
pub fn bigint(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(&8i32.to_be_bytes());
    out.extend_from_slice(&v.to_be_bytes());
}

/// A `double precision` field.
#[inline]
pub fn double(out: &mut Vec<u8>, v: f64) {
    out.extend_from_slice(&8i32.to_be_bytes());
    out.extend_from_slice(&v.to_be_bytes());
}

/// A `boolean` field.
#[inline]
pub fn boolean(out: &mut Vec<u8>, v: bool) {
    out.extend_from_slice(&1i32.to_be_bytes());
    out.push(u8::from(v));
}

/// A field of raw bytes: `text` (valid UTF-8, no NUL) or `geometry` (EWKB).
#[inline]
pub fn bytes(out: &mut Vec<u8>, v: &[u8]) {
    out.extend_from_slice(&(v.len() as i32).to_be_bytes());
    out.extend_from_slice(v);
}

/// A `text` field; NUL characters, which PostgreSQL text cannot hold, are dropped.
pub fn text(out: &mut Vec<u8>, v: &str) {
    if v.as_bytes().contains(&0) {
        bytes(out, v.replace('\0', "").as_bytes());
    } else {
        bytes(out, v.as_bytes());
    }
}

/// A `jsonb` field (version byte 1, then the JSON text).
pub fn jsonb(out: &mut Vec<u8>, json: &str) {
    out.extend_from_slice(&((json.len() + 1) as i32).to_be_bytes());
    out.push(1);
    out.extend_from_slice(json.as_bytes());
}

/// A `date` field; NULL when the date does not exist (e.g. 0000-00-00).
pub fn date(out: &mut Vec<u8>, year: i32, month: u32, day: u32) {
    match NaiveDate::from_ymd_opt(year, month, day) {
        Some(d) => {
            let days = d.signed_duration_since(pg_epoch()).num_days() as i32;
            out.extend_from_slice(&4i32.to_be_bytes());
            out.extend_from_slice(&days.to_be_bytes());
        }
        None => null(out),
    }
}

/// A `timestamptz` field from a local date-time and its UTC offset in seconds.
pub fn timestamptz(out: &mut Vec<u8>, local: Option<NaiveDateTime>, utc_offset_s: i64) {
    match local {
        Some(t) => {
            let epoch = pg_epoch().and_hms_opt(0, 0, 0).unwrap_or_default();
            let micros = t
                .signed_duration_since(epoch)
                .num_microseconds()
                .unwrap_or(0)
                - utc_offset_s * 1_000_000;
            bigint(out, micros);
        }
        None => null(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_19_bytes() {
        assert_eq!(HEADER.len(), 19);
    }

    #[test]
    fn dates_count_from_2000() {
        let mut out = Vec::new();
        date(&mut out, 2000, 1, 2);
        assert_eq!(out, [0, 0, 0, 4, 0, 0, 0, 1]);
        out.clear();
        date(&mut out, 0, 0, 0);
        assert_eq!(out, (-1i32).to_be_bytes());
    }
}
