//! Safe names: layer ids (`[a-z0-9_]+`, at most 48 characters) and column names
//! (the source's field name, lower-cased, in Unicode identifier characters: `名称`
//! stays `名称`), always used as quoted identifiers.

use std::collections::HashSet;

/// Longest layer id the catalogue accepts.
pub const MAX_LAYER_ID: usize = 48;
/// Longest column name we produce, in bytes: PostgreSQL silently truncates
/// identifiers to 63 bytes (`NAMEDATALEN - 1`), which would merge two long names.
pub const MAX_COLUMN_BYTES: usize = 63;

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

/// Lower-cases `text` and replaces every run of characters that are not Unicode
/// identifier characters (`XID_Continue`: letters and digits of any script,
/// combining marks, `_`) by one `_`, trimming `_` at both ends. ASCII text gives
/// the same as [`sanitise`]; `名称` stays `名称`, `面积(亩)` becomes `面积_亩`.
pub fn column_base(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars().flat_map(char::to_lowercase) {
        if c != '_' && unicode_ident::is_xid_continue(c) {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out.trim_matches('_').to_string()
}

/// Cuts `text` to at most `max` bytes at a character boundary, then drops `_`s
/// left at its end.
fn truncate_bytes(text: &mut String, max: usize) {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        while text.ends_with('_') {
            text.pop();
        }
    }
}

/// Makes column names from source field names. A column name is the field name
/// lower-cased, with every run of characters that are not Unicode identifier
/// characters replaced by `_` ([`column_base`]), so Chinese (or any script's)
/// names are kept: `名称` → `名称`, `Name` → `name`, `addr:street` →
/// `addr_street`. Then, deterministically, in field order:
/// - a name that does not start with a letter gets `f_` in front (`1st` → `f_1st`);
/// - a name with no usable character becomes `field_<n>` (1-based position);
/// - `fid`, `geom` and SQL reserved words get `_` appended (`order` → `order_`);
/// - at most [`MAX_COLUMN_BYTES`] bytes, cut at a character boundary;
/// - duplicates (after all of the above) get `_2`, `_3`…, the name cut shorter
///   where needed so that the suffix still fits in 63 bytes.
///
/// The catalogue keeps each field's exact `source_name` beside it.
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
        let mut base = column_base(source);
        if base.is_empty() {
            base = format!("field_{}", position + 1);
        }
        if !base.starts_with(unicode_ident::is_xid_start) {
            base.insert_str(0, "f_");
        }
        truncate_bytes(&mut base, MAX_COLUMN_BYTES);
        if RESERVED_COLUMNS.contains(&base.as_str()) || SQL_RESERVED.contains(&base.as_str()) {
            base.push('_');
        }
        let mut name = base.clone();
        let mut n = 2u64;
        while self.used.contains(&name) {
            let suffix = format!("_{n}");
            let mut stem = base.clone();
            truncate_bytes(&mut stem, MAX_COLUMN_BYTES - suffix.len());
            name = stem + &suffix;
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
        assert_eq!(n.name("名称", 4), "名称");
        assert_eq!(n.name("order", 5), "order_");
        assert_eq!(n.name("1st", 6), "f_1st");
        assert_eq!(n.name("addr:street", 7), "addr_street");
        assert_eq!(n.name("面积(亩)", 8), "面积_亩");
        assert_eq!(n.name("权属 单位", 9), "权属_单位");
        assert_eq!(n.name("名称", 10), "名称_2");
        assert_eq!(n.name("Название", 11), "название");
        assert_eq!(n.name("１号", 12), "f_１号");
        assert_eq!(n.name("（）", 13), "field_14");
        assert_eq!(n.name("\"; DROP TABLE x; --", 14), "drop_table_x");
    }

    #[test]
    fn long_column_names_fit_postgresql_and_stay_distinct() {
        let mut n = ColumnNamer::new();
        // 30 three-byte characters: 90 bytes, cut to 21 characters (63 bytes).
        let long = "长".repeat(30);
        let first = n.name(&long, 0);
        assert_eq!(first, "长".repeat(21));
        // Same first 21 characters: the suffix fits by cutting the name shorter.
        let second = n.name(&format!("{long}甲"), 1);
        assert_eq!(second, format!("{}_2", "长".repeat(20)));
        let mut names = vec![first, second];
        for i in 2..120 {
            names.push(n.name(&format!("{long}{i}"), i));
        }
        assert!(
            names.iter().all(|c| c.len() <= MAX_COLUMN_BYTES),
            "{names:?}"
        );
        let distinct: HashSet<&String> = names.iter().collect();
        assert_eq!(distinct.len(), names.len());
        // ASCII: 63 bytes kept, the 100th duplicate still fits.
        let mut n = ColumnNamer::new();
        let a = "a".repeat(70);
        assert_eq!(n.name(&a, 0), "a".repeat(63));
        let mut last = String::new();
        for i in 1..=100 {
            last = n.name(&a, i);
        }
        assert_eq!(last, format!("{}_101", "a".repeat(59)));
        // Same input, same names.
        let again: Vec<String> = {
            let mut m = ColumnNamer::new();
            (0..3).map(|i| m.name(&long, i)).collect()
        };
        assert_eq!(again[2], format!("{}_3", "长".repeat(20)));
    }
}
