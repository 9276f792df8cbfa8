//! Reading a whole vector layer fast, for loading it into memory: the attribute
//! columns selected typed (`bigint`, `float8`, `boolean`, `text`), so neither
//! PostgreSQL nor the server builds or parses a JSON object per row. Only a column
//! of another type (e.g. `jsonb`, `date`) is sent as JSON, so that its value reads
//! exactly as through [`crate::layers::features`].
//!
//! The rows are returned undecoded ([`PgRow`]) so that the caller can decode them on
//! many threads with [`decode`].

use serde_json::Value;
use sqlx::postgres::PgRow;
use sqlx::Row;

use crate::layers::LayerId;

/// How an attribute column is selected and decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// Selected as `bigint`.
    Int,
    /// Selected as `float8`.
    Double,
    /// Selected as `boolean`.
    Bool,
    /// A text column, selected as `text`.
    Text,
    /// Any other column, selected as `to_jsonb(column)`.
    Json,
}

impl ColumnKind {
    /// The kind for a catalogue field: its tile type (`int`, `double`, `bool`,
    /// `string`) and its PostgreSQL type name as the catalogue records it.
    pub fn for_field(pg_type: &str, tile_type_is: TileType) -> ColumnKind {
        match tile_type_is {
            TileType::Int => ColumnKind::Int,
            TileType::Double => ColumnKind::Double,
            TileType::Bool => ColumnKind::Bool,
            TileType::String => match pg_type {
                "text" | "varchar" | "character varying" | "character" | "char" | "bpchar"
                | "name" | "citext" => ColumnKind::Text,
                // ISO `YYYY-MM-DD` as text (the pool's DateStyle is ISO), as in JSON.
                "date" => ColumnKind::Text,
                _ => ColumnKind::Json,
            },
        }
    }
}

/// The tile type of a field (as the tile schema has it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TileType {
    /// Integer.
    Int,
    /// Floating point.
    Double,
    /// Boolean.
    Bool,
    /// Text (or anything else).
    String,
}

/// One attribute value as read.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// SQL NULL.
    Null,
    /// An integer.
    Int(i64),
    /// A float.
    Double(f64),
    /// A boolean.
    Bool(bool),
    /// Text.
    Text(String),
    /// Another type, as JSON.
    Json(Value),
}

/// `name` as a quoted SQL identifier.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The SELECT of every feature of layer `id` with `columns` typed.
fn select_sql(id: LayerId<'_>, columns: &[(&str, ColumnKind)]) -> String {
    let mut sql = String::from("SELECT fid::bigint, ST_AsBinary(geom)");
    for (name, kind) in columns {
        let col = format!("t.{}", quote_ident(name));
        let expr = match kind {
            ColumnKind::Int => format!("{col}::bigint"),
            ColumnKind::Double => format!("{col}::float8"),
            ColumnKind::Bool => format!("{col}::boolean"),
            ColumnKind::Text => format!("{col}::text"),
            ColumnKind::Json => format!("to_jsonb({col})"),
        };
        sql.push_str(", ");
        sql.push_str(&expr);
    }
    sql.push_str(&format!(" FROM layers.\"{}\" t", id.as_str()));
    sql
}

/// Every row of vector layer `id`, with the attribute `columns` (not `fid` or
/// `geom`) selected as their kind says. Errors as the database gives them (e.g.
/// 42703 when a column does not exist, 22P02/42846 when it does not cast): the
/// caller may then read the layer through [`crate::layers::features`].
pub async fn rows(
    pool: &sqlx::PgPool,
    id: LayerId<'_>,
    columns: &[(&str, ColumnKind)],
) -> Result<Vec<PgRow>, sqlx::Error> {
    sqlx::query(&select_sql(id, columns)).fetch_all(pool).await
}

/// One decoded row: its id, its WKB geometry (`None`: NULL) and its attribute values.
pub type Decoded<'r> = (i64, Option<&'r [u8]>, Vec<Cell>);

/// One row of [`rows`] decoded, the attribute values in `columns` order.
pub fn decode<'r>(
    row: &'r PgRow,
    columns: &[(&str, ColumnKind)],
) -> Result<Decoded<'r>, sqlx::Error> {
    let fid: i64 = row.try_get(0)?;
    let wkb: Option<&[u8]> = row.try_get(1)?;
    let mut cells = Vec::with_capacity(columns.len());
    for (i, (_, kind)) in columns.iter().enumerate() {
        let at = i + 2;
        let cell = match kind {
            ColumnKind::Int => row.try_get::<Option<i64>, _>(at)?.map(Cell::Int),
            ColumnKind::Double => row.try_get::<Option<f64>, _>(at)?.map(Cell::Double),
            ColumnKind::Bool => row.try_get::<Option<bool>, _>(at)?.map(Cell::Bool),
            ColumnKind::Text => row
                .try_get::<Option<&str>, _>(at)?
                .map(|s| Cell::Text(s.to_owned())),
            ColumnKind::Json => row.try_get::<Option<Value>, _>(at)?.map(Cell::Json),
        };
        cells.push(cell.unwrap_or(Cell::Null));
    }
    Ok((fid, wkb, cells))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_cast_to_their_kind_and_quoted() {
        let id = LayerId::new("poi").unwrap();
        let sql = select_sql(
            id,
            &[
                ("n", ColumnKind::Int),
                ("odd \"col", ColumnKind::Text),
                ("tags", ColumnKind::Json),
                ("h", ColumnKind::Double),
                ("b", ColumnKind::Bool),
            ],
        );
        assert_eq!(
            sql,
            "SELECT fid::bigint, ST_AsBinary(geom), t.\"n\"::bigint, t.\"odd \"\"col\"::text, \
             to_jsonb(t.\"tags\"), t.\"h\"::float8, t.\"b\"::boolean FROM layers.\"poi\" t"
        );
        assert_eq!(
            ColumnKind::for_field("character varying", TileType::String),
            ColumnKind::Text
        );
        assert_eq!(
            ColumnKind::for_field("jsonb", TileType::String),
            ColumnKind::Json
        );
        assert_eq!(
            ColumnKind::for_field("date", TileType::String),
            ColumnKind::Text
        );
        assert_eq!(
            ColumnKind::for_field("timestamp with time zone", TileType::String),
            ColumnKind::Json
        );
        assert_eq!(
            ColumnKind::for_field("integer", TileType::Int),
            ColumnKind::Int
        );
    }
}
