//! Text search over the layers in memory: the pure part of `GET /api/search`.
//!
//! - [`fold`]: the one text folding used for the index and the query —
//!   case-insensitive, accent-insensitive (`Pohjoisesplanadi` finds
//!   `Pohjoisesplanadi`, `Töölö` is found by `toolo`), width-insensitive (full-width
//!   digits and letters are their ASCII forms) and traditional Chinese characters are
//!   their simplified forms (`號` → `号`).
//! - [`entries`]: a layer's searchable features as [`Entry`]s of one [`Kind`]; the
//!   segments of a road (one name, many lines) become one entry with the whole road's
//!   box and its number of parts.
//! - [`search`]: the entries that match a folded query, ranked exact > prefix >
//!   contains, then by kind, shorter labels first; at most `limit`.
//!
//! The kinds are an open list ([`Kind`] is `non_exhaustive`): addresses (geocoding)
//! are meant to join as one more kind.
//!
//! ```
//! use citygrid_tiles::search::{entries, fold, search, Item, Kind};
//!
//! assert_eq!(fold("ＫＡＩＶＯＫＡＴＵ　１２號"), "kaivokatu 12号");
//! let road = |fid, x: f64| Item {
//!     fid,
//!     label: "Kaivokatu".into(),
//!     keys: vec![],
//!     detail: None,
//!     bbox: [x, 60.17, x + 0.001, 60.171],
//!     owner: None,
//! };
//! let roads = entries("osm_roads", Kind::Road, vec![road(1, 24.94), road(2, 24.941)]);
//! assert_eq!(roads.len(), 1);
//! assert_eq!(roads[0].parts, 2);
//! let hits = search([roads.as_slice()], &fold("kaivokatu"), 10, |_| true);
//! assert_eq!(hits.hits.len(), 1);
//! assert_eq!(hits.hits[0].entry.bbox, [24.94, 60.17, 24.942, 60.171]);
//! ```

use std::collections::HashMap;

use serde::Serialize;
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// What a search hit is; the order here is the order of groups of equal rank.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Kind {
    /// A unit grid (单元网格), by its code.
    UnitGrid,
    /// A city component (部件), by its id or name.
    Component,
    /// A case (案卷), by its number.
    Case,
    /// A road or street (all its segments together).
    Road,
    /// A point of interest.
    Poi,
    /// A building.
    Building,
    /// A community (社区).
    Community,
    /// An administrative division or a street office area (街道).
    Area,
    /// Any other named feature.
    Feature,
}

impl Kind {
    /// The name used in the API (`unit_grid`, `road`…).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::UnitGrid => "unit_grid",
            Kind::Component => "component",
            Kind::Case => "case",
            Kind::Road => "road",
            Kind::Poi => "poi",
            Kind::Building => "building",
            Kind::Community => "community",
            Kind::Area => "area",
            Kind::Feature => "feature",
        }
    }
}

/// Letters that do not decompose into a base letter and marks.
fn fold_letter(c: char) -> Option<&'static str> {
    Some(match c {
        'ø' => "o",
        'ß' => "ss",
        'æ' => "ae",
        'œ' => "oe",
        'đ' | 'ð' => "d",
        'ł' => "l",
        'ı' => "i",
        'þ' => "th",
        _ => return None,
    })
}

/// Folds text for matching: NFKC (full-width → ASCII, compatibility forms), traditional
/// → simplified Chinese characters, accents removed, lower case, runs of white space
/// as one space, trimmed.
pub fn fold(text: &str) -> String {
    let compat: String = text.nfkc().collect();
    let simplified = simplet2s::convert(&compat);
    let mut out = String::with_capacity(simplified.len());
    let mut space = false;
    for c in simplified.nfd().filter(|c| !is_combining_mark(*c)) {
        if c.is_whitespace() {
            space = !out.is_empty();
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        for l in c.to_lowercase() {
            match fold_letter(l) {
                Some(s) => out.push_str(s),
                None => out.push(l),
            }
        }
    }
    out
}

/// One searchable feature of a layer, as read from it.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// The feature id.
    pub fid: i64,
    /// What the hit is called (a name, a code, a case number).
    pub label: String,
    /// Further texts that find it (codes, ids, an address).
    pub keys: Vec<String>,
    /// A short second line (a class, a status).
    pub detail: Option<String>,
    /// `[west, south, east, north]`.
    pub bbox: [f64; 4],
    /// Whom the feature belongs to, for access (a case's department).
    pub owner: Option<String>,
}

/// One searchable thing: a feature, or a road's segments together.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// What it is.
    pub kind: Kind,
    /// The layer it is from.
    pub layer: String,
    /// What it is called.
    pub label: String,
    /// A short second line.
    pub detail: Option<String>,
    /// The first feature's id.
    pub fid: i64,
    /// How many features it stands for (a road's segments).
    pub parts: usize,
    /// `[west, south, east, north]` of all its features.
    pub bbox: [f64; 4],
    /// Whom it belongs to, for access.
    pub owner: Option<String>,
    /// The folded label and keys, matched against.
    texts: Vec<String>,
}

fn union(a: [f64; 4], b: [f64; 4]) -> [f64; 4] {
    [
        a[0].min(b[0]),
        a[1].min(b[1]),
        a[2].max(b[2]),
        a[3].max(b[3]),
    ]
}

fn entry(layer: &str, kind: Kind, item: Item) -> Option<Entry> {
    let mut texts: Vec<String> = std::iter::once(&item.label)
        .chain(item.keys.iter())
        .map(|t| fold(t))
        .filter(|t| !t.is_empty())
        .collect();
    texts.dedup();
    if texts.is_empty() || !item.bbox.iter().all(|v| v.is_finite()) {
        return None;
    }
    let label = if item.label.trim().is_empty() {
        item.keys.iter().find(|k| !k.trim().is_empty())?.clone()
    } else {
        item.label
    };
    Some(Entry {
        kind,
        layer: layer.to_string(),
        label,
        detail: item.detail,
        fid: item.fid,
        parts: 1,
        bbox: item.bbox,
        owner: item.owner,
        texts,
    })
}

/// The entries of layer `layer`, whose features are all of `kind`: one per item with
/// some text, except that the items of a road layer with the same folded label (the
/// segments of one road) become one entry with their boxes' union.
pub fn entries(layer: &str, kind: Kind, items: impl IntoIterator<Item = Item>) -> Vec<Entry> {
    let all = items.into_iter().filter_map(|i| entry(layer, kind, i));
    if kind != Kind::Road {
        return all.collect();
    }
    let mut out: Vec<Entry> = Vec::new();
    let mut by_name: HashMap<String, usize> = HashMap::new();
    for e in all {
        let name = e.texts[0].clone();
        match by_name.get(&name) {
            Some(&i) => {
                let road = &mut out[i];
                road.bbox = union(road.bbox, e.bbox);
                road.parts += 1;
                road.fid = road.fid.min(e.fid);
                for t in e.texts {
                    if !road.texts.contains(&t) {
                        road.texts.push(t);
                    }
                }
            }
            None => {
                by_name.insert(name, out.len());
                out.push(e);
            }
        }
    }
    out
}

/// How well an entry matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Match {
    /// The query occurs inside a text.
    Contains,
    /// A word of a text starts with the query.
    WordPrefix,
    /// A text starts with the query.
    Prefix,
    /// A text is the query.
    Exact,
}

/// How `entry` matches the folded query `q`, if it does.
pub fn matches(entry: &Entry, q: &str) -> Option<Match> {
    entry
        .texts
        .iter()
        .filter_map(|t| {
            if t == q {
                Some(Match::Exact)
            } else if t.starts_with(q) {
                Some(Match::Prefix)
            } else if let Some(at) = t.find(q) {
                let before = t[..at].chars().next_back();
                if before.is_some_and(|c| !c.is_alphanumeric()) {
                    Some(Match::WordPrefix)
                } else {
                    Some(Match::Contains)
                }
            } else {
                None
            }
        })
        .max()
}

/// One hit.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit<'a> {
    /// The entry found.
    pub entry: &'a Entry,
    /// How it matched.
    pub matched: Match,
}

/// The best hits and how many matched in all.
#[derive(Debug, Clone, PartialEq)]
pub struct Found<'a> {
    /// At most `limit` hits, best first.
    pub hits: Vec<Hit<'a>>,
    /// Every entry that matched (allowed ones only).
    pub total: usize,
}

/// The entries of `sources` that match the folded query `q` and that `allow` lets
/// through, best first (exact > prefix > word prefix > contains, then by [`Kind`],
/// shorter labels, the label, the layer), at most `limit`. An empty query finds nothing.
pub fn search<'a>(
    sources: impl IntoIterator<Item = &'a [Entry]>,
    q: &str,
    limit: usize,
    allow: impl Fn(&Entry) -> bool,
) -> Found<'a> {
    if q.is_empty() {
        return Found {
            hits: Vec::new(),
            total: 0,
        };
    }
    let mut hits: Vec<Hit<'a>> = sources
        .into_iter()
        .flat_map(|s| s.iter())
        .filter_map(|e| {
            matches(e, q).map(|m| Hit {
                entry: e,
                matched: m,
            })
        })
        .filter(|h| allow(h.entry))
        .collect();
    let total = hits.len();
    let key = |h: &Hit<'a>| {
        (
            std::cmp::Reverse(h.matched),
            h.entry.kind,
            h.entry.label.chars().count(),
        )
    };
    let by_rank = |a: &Hit<'a>, b: &Hit<'a>| {
        key(a)
            .cmp(&key(b))
            .then_with(|| a.entry.label.cmp(&b.entry.label))
            .then_with(|| a.entry.layer.cmp(&b.entry.layer))
            .then_with(|| a.entry.fid.cmp(&b.entry.fid))
    };
    if hits.len() > limit {
        if limit == 0 {
            hits.clear();
        } else {
            hits.select_nth_unstable_by(limit - 1, by_rank);
            hits.truncate(limit);
        }
    }
    hits.sort_by(by_rank);
    Found { hits, total }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(fid: i64, label: &str, bbox: [f64; 4]) -> Item {
        Item {
            fid,
            label: label.into(),
            keys: Vec::new(),
            detail: None,
            bbox,
            owner: None,
        }
    }

    #[test]
    fn folding_ignores_case_accents_width_and_traditional_forms() {
        assert_eq!(fold("Kaivokatu"), "kaivokatu");
        assert_eq!(fold("  TÖÖLÖNKATU  "), "toolonkatu");
        assert_eq!(fold("Søndre Gate"), "sondre gate");
        assert_eq!(fold("１２３ＡＢＣ"), "123abc");
        assert_eq!(fold("中山路１２號"), "中山路12号");
        assert_eq!(fold("中山路12号"), "中山路12号");
        assert_eq!(fold("a \t\n b"), "a b");
        assert_eq!(fold(""), "");
        assert_eq!(fold("Straße"), "strasse");
    }

    #[test]
    fn road_segments_merge_into_one_entry_with_the_whole_box() {
        let items = (0..14).map(|i| {
            let x = 24.94 + i as f64 * 0.001;
            item(100 - i, "Kaivokatu", [x, 60.17, x + 0.001, 60.1705])
        });
        let mut all: Vec<Item> = items.collect();
        all.push(item(7, "KAIVOKATU", [24.9, 60.1, 24.91, 60.11]));
        all.push(item(8, "Mannerheimintie", [24.93, 60.17, 24.94, 60.18]));
        all.push(item(9, "", [24.93, 60.17, 24.94, 60.18]));
        let roads = entries("roads", Kind::Road, all);
        assert_eq!(roads.len(), 2, "{roads:?}");
        let k = &roads[0];
        assert_eq!(k.label, "Kaivokatu");
        assert_eq!(k.parts, 15);
        assert_eq!(k.fid, 7);
        let want = [24.9, 60.1, 24.954, 60.1705];
        assert!(
            k.bbox.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-9),
            "{:?}",
            k.bbox
        );
        // Other kinds keep one entry per feature.
        let pois = entries(
            "pois",
            Kind::Poi,
            vec![item(1, "Cafe", [0.0; 4]), item(2, "Cafe", [1.0; 4])],
        );
        assert_eq!(pois.len(), 2);
    }

    #[test]
    fn ranking_is_exact_then_prefix_then_contains_and_bounded() {
        let pois = entries(
            "pois",
            Kind::Poi,
            vec![
                item(1, "Old Kaivokatu Bar", [0.0; 4]),
                item(2, "Kaivokatu 8", [0.0; 4]),
                item(3, "Xkaivokatu", [0.0; 4]),
            ],
        );
        let roads = entries("roads", Kind::Road, vec![item(4, "Kaivokatu", [0.0; 4])]);
        let found = search([pois.as_slice(), roads.as_slice()], "kaivokatu", 10, |_| {
            true
        });
        let labels: Vec<(&str, Match)> = found
            .hits
            .iter()
            .map(|h| (h.entry.label.as_str(), h.matched))
            .collect();
        assert_eq!(
            labels,
            [
                ("Kaivokatu", Match::Exact),
                ("Kaivokatu 8", Match::Prefix),
                ("Old Kaivokatu Bar", Match::WordPrefix),
                ("Xkaivokatu", Match::Contains),
            ]
        );
        assert_eq!(found.total, 4);
        let two = search([pois.as_slice(), roads.as_slice()], "kaivokatu", 2, |_| {
            true
        });
        assert_eq!(two.hits.len(), 2);
        assert_eq!(two.total, 4);
        assert_eq!(two.hits[0].entry.label, "Kaivokatu");
        assert_eq!(two.hits[1].entry.label, "Kaivokatu 8");
        // `allow` filters before counting; the empty query finds nothing.
        let none = search([pois.as_slice()], "kaivokatu", 10, |e| e.fid == 2);
        assert_eq!(none.total, 1);
        assert!(search([pois.as_slice()], "", 10, |_| true).hits.is_empty());
    }

    #[test]
    fn keys_find_entries_and_empty_items_are_skipped() {
        let grids = entries(
            "unit_grids",
            Kind::UnitGrid,
            vec![
                Item {
                    keys: vec!["420102001001001".into()],
                    ..item(1, "", [0.0; 4])
                },
                item(2, "", [0.0; 4]),
                item(3, "x", [f64::NAN; 4]),
            ],
        );
        assert_eq!(grids.len(), 1);
        assert_eq!(grids[0].label, "420102001001001");
        let found = search(
            [grids.as_slice()],
            &fold("４２０１０２００１００１００１"),
            5,
            |_| true,
        );
        assert_eq!(found.hits[0].matched, Match::Exact);
    }
}
