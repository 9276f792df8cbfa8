//! Safe names: layer ids (`[a-z0-9_]+`, at most 48 characters) and column names.

use std::collections::HashSet;

/// Longest layer id the catalogue accepts.
pub const MAX_LAYER_ID: usize = 48;
/// Longest column name we produce (PostgreSQL truncates at 63 bytes).
const MAX_COLUMN: usize = 60;

/// Columns every layer table has.
const RESERVED_COLUMNS: [&str; 2] = ["fid", "geom"];

/// PostgreSQL's reserved key words (SQL:2016 "reserved" in PostgreSQL's list): a
/// column with one of these names would need quoting in every hand-written query.
const SQL_RESERVED: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "both",
    "case",
    "cast",
    "check",
    "collate",
    "column",
    "constraint",
    "create",
    "current_catalog",
    "current_date",
    "current_role",
    "current_time",
    "current_timestamp",
    "current_user",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "false",
    "fetch",
    "for",
    "foreign",
    "from",
    "grant",
    "group",
    "having",
    "in",
    "initially",
    "intersect",
    "into",
    "lateral",
    "leading",
    "limit",
    "localtime",
    "localtimestamp",
    "not",
    "null",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "placing",
    "primary",
    "references",
    "returning",
    "select",
    "session_user",
    "some",
    "symmetric",
    "table",
    "then",
    "to",
    "trailing",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "variadic",
    "when",
    "where",
    "window",
    "with",
];

/// Lower-cases `text` and replaces every run of characters outside `[a-z0-9]` by
/// one `_`, trimming `_` at both ends.
pub fn sanitise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_matches('_').to_string()
}

/// Whether `id` is a valid layer id.
pub fn is_valid_layer_id(id: &str) -> bool {
    citygrid_db::is_identifier(id, MAX_LAYER_ID)
}

/// A layer id from a file stem or layer name: sanitised, never empty, at most 48
/// characters, starting with a letter (`l_` is put in front of a leading digit).
pub fn layer_id(text: &str) -> String {
    let mut id = sanitise(text);
    if id.is_empty() {
        id = "layer".to_string();
    }
    if id.starts_with(|c: char| c.is_ascii_digit()) {
        id.insert_str(0, "l_");
    }
    truncate(&mut id, MAX_LAYER_ID);
    id
}

/// The id of one layer of a multi-layer source: `<base>_<source layer>`.
pub fn sublayer_id(base: &str, source_layer: &str) -> String {
    let sub = sanitise(source_layer);
    let sub = if sub.is_empty() {
        "layer".to_string()
    } else {
        sub
    };
    let mut id = format!("{base}_{sub}");
    truncate(&mut id, MAX_LAYER_ID);
    id
}

fn truncate(text: &mut String, max: usize) {
    if text.len() > max {
        text.truncate(max);
        while text.ends_with('_') {
            text.pop();
        }
    }
}

/// Makes column names from source field names: safe (`[a-z0-9_]`, starting with a
/// letter), not `fid`/`geom` or an SQL reserved word (`_` appended), unique
/// (`_2`, `_3`… appended). A name with no usable character becomes `field_<n>`
/// (1-based position); the catalogue keeps the source name.
#[derive(Debug, Default)]
pub struct ColumnNamer {
    used: HashSet<String>,
}

impl ColumnNamer {
    /// A namer with `fid` and `geom` already taken.
    pub fn new() -> ColumnNamer {
        ColumnNamer {
            used: RESERVED_COLUMNS.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// The column name for source field number `position` (0-based) called `source`.
    pub fn name(&mut self, source: &str, position: usize) -> String {
        let mut base = sanitise(source);
        if base.is_empty() {
            base = format!("field_{}", position + 1);
        }
        if base.starts_with(|c: char| c.is_ascii_digit()) {
            base.insert_str(0, "f_");
        }
        truncate(&mut base, MAX_COLUMN);
        if RESERVED_COLUMNS.contains(&base.as_str()) || SQL_RESERVED.contains(&base.as_str()) {
            base.push('_');
        }
        let mut name = base.clone();
        let mut n = 2;
        while self.used.contains(&name) {
            name = format!("{base}_{n}");
            n += 1;
        }
        self.used.insert(name.clone());
        name
    }
}

/// Quotes an identifier for SQL (`"` doubled).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `layers."<table>"`.
pub fn layer_table(table: &str) -> String {
    format!("layers.{}", quote_ident(table))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_ids() {
        assert_eq!(
            layer_id("Wuhan Districts (CGCS2000)"),
            "wuhan_districts_cgcs2000"
        );
        assert_eq!(layer_id("武汉"), "layer");
        assert_eq!(layer_id("2024-roads"), "l_2024_roads");
        assert_eq!(layer_id(&"x".repeat(100)).len(), MAX_LAYER_ID);
        assert_eq!(
            sublayer_id("city", "Points Of Interest"),
            "city_points_of_interest"
        );
        assert!(is_valid_layer_id("a_1"));
        assert!(!is_valid_layer_id("A"));
        assert!(!is_valid_layer_id(""));
    }

    #[test]
    fn column_names() {
        let mut n = ColumnNamer::new();
        assert_eq!(n.name("Name", 0), "name");
        assert_eq!(n.name("NAME", 1), "name_2");
        assert_eq!(n.name("FID", 2), "fid_");
        assert_eq!(n.name("geom", 3), "geom_");
        assert_eq!(n.name("名称", 4), "field_5");
        assert_eq!(n.name("order", 5), "order_");
        assert_eq!(n.name("1st", 6), "f_1st");
        assert_eq!(n.name("addr:street", 7), "addr_street");
    }
}
