//! Address parsing: Chinese structured addresses and Western forms.
//!
//! Chinese addresses follow one grammar, coarse to fine, each part optional:
//!
//! ```text
//! [省][市][区/县]  [街道/镇/乡]  [社区/村]  road(路|街|大道|大街|巷|道|胡同|弄|里)
//! number 号  [building 栋|幢|座|号楼]  [unit 单元]  [floor 楼|层]  [room 室]
//! ```
//!
//! The division prefix is recognised against GB/T 2260 ([`crate::divisions`]); the
//! rest is split on its markers, so no word segmentation is needed. Western addresses
//! are `road number[, postcode city]` (`Kaivokatu 2, 00100 Helsinki`) or
//! `number road[, city]` (`2 Main Street, Springfield`).

use crate::divisions::{Divisions, Level};
use crate::normalize::{has_cjk, normalize};
use crate::ParsedAddress;

/// Road-type endings of Chinese road names, longest first.
pub const ROAD_SUFFIXES: &[&str] = &["大道", "大街", "胡同", "路", "街", "巷", "道", "弄", "里"];

/// Parses an address (normalised first) into its parts.
pub fn parse(s: &str, divisions: &Divisions) -> ParsedAddress {
    parse_in(s, divisions, &[])
}

/// Parses an address with division context (codes of the area the addresses are in,
/// e.g. `["420100"]` for Wuhan): short or ambiguous division names are resolved
/// within it.
pub fn parse_in(s: &str, divisions: &Divisions, context: &[String]) -> ParsedAddress {
    let n = normalize(s);
    if has_cjk(&n) {
        parse_chinese(&n, divisions, context)
    } else {
        parse_western(&n)
    }
}

fn some(s: &str) -> Option<String> {
    let t = s.trim().trim_matches(|c| c == ',' || c == ' ');
    (!t.is_empty()).then(|| t.to_string())
}

/// The byte range of the first house number: ASCII digits (with `-digits` and a
/// letter) followed by 号 and not by 楼 (that is a building). Returns (start, end of
/// digits, end after 号).
fn find_number(s: &str) -> Option<(usize, usize, usize)> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            let start = i;
            let mut j = i;
            while j < b.len()
                && (b[j].is_ascii_digit() || b[j] == b'-' || b[j].is_ascii_alphabetic())
            {
                j += 1;
            }
            let after = &s[j..];
            if let Some(t) = after.strip_prefix('号') {
                if !t.starts_with('楼') && !t.starts_with("院") {
                    return Some((start, j, j + '号'.len_utf8()));
                }
            }
            i = j;
        } else {
            i += 1;
        }
    }
    None
}

/// Finds `value marker` in `s` (e.g. `3栋`; the value ASCII letters, digits and `-`,
/// at most 8): (what comes before the value, the value, what follows the marker).
fn take_marked<'a>(s: &'a str, markers: &[&str]) -> Option<(&'a str, String, &'a str)> {
    for m in markers {
        if let Some(pos) = s.find(m) {
            let head = &s[..pos];
            let len = head
                .bytes()
                .rev()
                .take_while(|b| b.is_ascii_alphanumeric() || *b == b'-')
                .count();
            if (1..=8).contains(&len) {
                let value = &head[pos - len..];
                return Some((&head[..pos - len], value.to_string(), &s[pos + m.len()..]));
            }
        }
    }
    None
}

fn parse_chinese(n: &str, divisions: &Divisions, context: &[String]) -> ParsedAddress {
    let mut p = ParsedAddress::default();
    let prefix = divisions.match_prefix(n, context);
    for d in &prefix.chain {
        match d.level() {
            Level::Province => {
                p.province = Some(d.name.clone());
                if d.name.ends_with('市') {
                    p.city = Some(d.name.clone());
                }
            }
            Level::Prefecture => p.city = Some(d.name.clone()),
            Level::County => p.district = Some(d.name.clone()),
        }
    }
    p.division_code = prefix.chain.last().map(|d| d.code.clone());
    if let Some(u) = &prefix.unresolved {
        p.district = Some(u.clone());
    }
    let mut rest = &n[prefix.consumed..];

    // sub-district and community markers before the road
    for (marker, is_street) in [("街道", true), ("镇", true), ("乡", true), ("社区", false)] {
        if let Some(pos) = rest.find(marker) {
            let name = &rest[..pos + marker.len()];
            let after = &rest[pos + marker.len()..];
            let name_chars = name.chars().count();
            let road_next =
                ROAD_SUFFIXES.iter().any(|r| after.starts_with(r)) || after.starts_with('号');
            // a street or community name holds no house number
            let numbered = name.contains(|c: char| c.is_ascii_digit() || c == '号');
            if name_chars > marker.chars().count()
                && name_chars <= 12
                && !after.is_empty()
                && !road_next
                && !numbered
            {
                if is_street {
                    if p.street.is_none() {
                        p.street = Some(name.to_string());
                        rest = after;
                    }
                } else {
                    p.community = Some(name.to_string());
                    rest = after;
                }
            }
        }
    }

    match find_number(rest) {
        Some((start, digits_end, end)) => {
            p.road = some(&rest[..start]);
            p.number = Some(rest[start..digits_end].to_string());
            let mut tail = &rest[end..];
            let mut other: Vec<&str> = Vec::new();
            for (markers, field) in [
                (&["号楼", "栋", "幢", "座"][..], &mut p.building),
                (&["单元"][..], &mut p.unit),
                (&["室"][..], &mut p.room),
            ] {
                if let Some((before, value, after)) = take_marked(tail, markers) {
                    other.push(before);
                    *field = Some(value);
                    tail = after;
                }
            }
            other.push(tail);
            p.rest = some(&other.concat());
        }
        None => {
            // no 号: a road alone, or road + trailing digits (沿江大道188)
            let digits_at = rest
                .char_indices()
                .find(|(_, c)| c.is_ascii_digit())
                .map(|(i, _)| i);
            match digits_at {
                Some(i) if i > 0 => {
                    p.road = some(&rest[..i]);
                    let num: String = rest[i..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                        .collect();
                    let tail = &rest[i + num.len()..];
                    match ["号楼", "栋", "幢", "座"]
                        .iter()
                        .find_map(|m| tail.strip_prefix(m))
                    {
                        Some(after) => {
                            p.building = some(&num);
                            p.rest = some(after);
                        }
                        None => {
                            p.number = some(&num);
                            p.rest = some(tail);
                        }
                    }
                }
                _ => p.road = some(rest),
            }
        }
    }
    p
}

/// True for a word that can be a house number: starts with a digit and is short.
fn is_number_word(w: &str) -> bool {
    w.chars().next().is_some_and(|c| c.is_ascii_digit()) && w.len() <= 12
}

/// True for a postcode-like word (four or more digits only).
fn is_postcode(w: &str) -> bool {
    w.len() >= 4 && w.bytes().all(|b| b.is_ascii_digit())
}

fn parse_western(n: &str) -> ParsedAddress {
    let mut p = ParsedAddress::default();
    let parts: Vec<&str> = n
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if parts.is_empty() {
        return p;
    }
    // the street part: the first part holding a house-number word, else the first
    let street_idx = parts
        .iter()
        .position(|part| {
            part.split(' ')
                .any(|w| is_number_word(w) && !is_postcode(w))
        })
        .unwrap_or(0);
    let words: Vec<&str> = parts[street_idx].split(' ').collect();
    if words.len() > 1 && is_number_word(words[0]) {
        // 2 main street, 15 b aleksanterinkatu
        let letter = words.len() > 2
            && words[1].chars().count() == 1
            && words[1].chars().all(char::is_alphabetic);
        let start = if letter { 2 } else { 1 };
        p.number = Some(words[..start].concat());
        p.road = some(&words[start..].join(" "));
    } else if let Some(k) = words
        .iter()
        .skip(1)
        .position(|w| is_number_word(w))
        .map(|k| k + 1)
    {
        // kaivokatu 2 [a] [12]
        p.road = some(&words[..k].join(" "));
        let mut number = words[k].to_string();
        let mut next = k + 1;
        if let Some(letter) = words
            .get(next)
            .filter(|w| w.len() == 1 && w.chars().all(char::is_alphabetic))
        {
            number.push_str(letter);
            next += 1;
        }
        p.number = Some(number);
        if let Some(u) = words.get(next) {
            p.unit = Some((*u).to_string());
            next += 1;
        }
        p.rest = some(&words[next.min(words.len())..].join(" "));
    } else {
        p.road = some(&words.join(" "));
    }
    // the other parts: a city (postcodes dropped) and whatever else
    let others: Vec<&str> = parts
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != street_idx)
        .map(|(_, s)| *s)
        .collect();
    if let Some(last) = others.last() {
        let city: Vec<&str> = last.split(' ').filter(|w| !is_postcode(w)).collect();
        p.city = some(&city.join(" "));
    }
    if others.len() > 1 {
        let extra = others[..others.len() - 1].join(", ");
        p.rest = match p.rest.take() {
            Some(r) => some(&format!("{r}, {extra}")),
            None => some(&extra),
        };
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> ParsedAddress {
        parse(s, Divisions::bundled())
    }

    fn wuhan(s: &str) -> ParsedAddress {
        parse_in(s, Divisions::bundled(), &["420100".to_string()])
    }

    #[test]
    fn full_chinese_address() {
        let a = p("湖北省武汉市江岸区沿江大道188号");
        assert_eq!(a.division_code.as_deref(), Some("420102"));
        assert_eq!(a.province.as_deref(), Some("湖北省"));
        assert_eq!(a.city.as_deref(), Some("武汉市"));
        assert_eq!(a.district.as_deref(), Some("江岸区"));
        assert_eq!(a.road.as_deref(), Some("沿江大道"));
        assert_eq!(a.number.as_deref(), Some("188"));
    }

    #[test]
    fn province_omitted() {
        let a = p("武汉市江汉区解放大道690号");
        assert_eq!(a.division_code.as_deref(), Some("420103"));
        assert_eq!(a.province, None);
        assert_eq!(
            (a.road.as_deref(), a.number.as_deref()),
            (Some("解放大道"), Some("690"))
        );
        let a = p("硚口区中山大道1号");
        assert_eq!(a.division_code.as_deref(), Some("420104"));
        assert_eq!(a.road.as_deref(), Some("中山大道"));
    }

    #[test]
    fn district_short_forms() {
        for (q, code, road, num) in [
            ("江岸沿江大道188号", "420102", "沿江大道", "188"),
            ("武汉汉阳龙阳大道8号", "420105", "龙阳大道", "8"),
            ("武昌中北路9号", "420106", "中北路", "9"),
            ("青山和平大道1299号", "420107", "和平大道", "1299"),
            ("洪山珞喻路129号", "420111", "珞喻路", "129"),
        ] {
            let a = wuhan(q);
            assert_eq!(a.division_code.as_deref(), Some(code), "{q}");
            assert_eq!(a.road.as_deref(), Some(road), "{q}");
            assert_eq!(a.number.as_deref(), Some(num), "{q}");
        }
        // 江汉路 is a road, 汉阳大道 too
        let a = wuhan("江汉路118号");
        assert_eq!((a.division_code, a.road.as_deref()), (None, Some("江汉路")));
        let a = wuhan("汉阳大道140号");
        assert_eq!(
            (a.division_code, a.road.as_deref()),
            (None, Some("汉阳大道"))
        );
    }

    #[test]
    fn building_unit_room() {
        let a = p("武汉市洪山区关山街道关山社区珞喻路1037号3栋2单元1203室");
        assert_eq!(a.division_code.as_deref(), Some("420111"));
        assert_eq!(a.street.as_deref(), Some("关山街道"));
        assert_eq!(a.community.as_deref(), Some("关山社区"));
        assert_eq!(a.road.as_deref(), Some("珞喻路"));
        assert_eq!(a.number.as_deref(), Some("1037"));
        assert_eq!(a.building.as_deref(), Some("3"));
        assert_eq!(a.unit.as_deref(), Some("2"));
        assert_eq!(a.room.as_deref(), Some("1203"));
        let a = p("江岸区沿江大道188号大智社区3栋");
        assert_eq!(
            (a.road.as_deref(), a.number.as_deref()),
            (Some("沿江大道"), Some("188"))
        );
        assert_eq!((a.community, a.building.as_deref()), (None, Some("3")));
        assert_eq!(a.rest.as_deref(), Some("大智社区"));
        let a = p("江岸区胜利街5号楼");
        assert_eq!((a.road.as_deref(), a.number), (Some("胜利街"), None));
        assert_eq!(a.building.as_deref(), Some("5"));
        let a = p("武昌区中南路7号A座");
        assert_eq!(a.building.as_deref(), Some("a"));
    }

    #[test]
    fn full_width_traditional_and_numerals() {
        let a = p("武漢市江岸區沿江大道１８８號");
        assert_eq!(a.division_code.as_deref(), Some("420102"));
        assert_eq!(
            (a.road.as_deref(), a.number.as_deref()),
            (Some("沿江大道"), Some("188"))
        );
        let a = p("江岸区沿江大道一百八十八号二栋");
        assert_eq!(
            (a.number.as_deref(), a.building.as_deref()),
            (Some("188"), Some("2"))
        );
        let a = p("江岸区 沿江大道 188");
        assert_eq!(
            (a.road.as_deref(), a.number.as_deref()),
            (Some("沿江大道"), Some("188"))
        );
    }

    #[test]
    fn western_forms() {
        let a = p("Kaivokatu 2, Helsinki");
        assert_eq!(
            (a.road.as_deref(), a.number.as_deref()),
            (Some("kaivokatu"), Some("2"))
        );
        assert_eq!(a.city.as_deref(), Some("helsinki"));
        let a = p("15 B Aleksanterinkatu, Helsinki");
        assert_eq!(a.road.as_deref(), Some("aleksanterinkatu"));
        assert_eq!(a.number.as_deref(), Some("15b"));
        let a = p("2 Main Street");
        assert_eq!(
            (a.road.as_deref(), a.number.as_deref()),
            (Some("main street"), Some("2"))
        );
        let a = p("Mannerheimintie 5 A 12, 00100 Helsinki");
        assert_eq!(
            (a.road.as_deref(), a.number.as_deref()),
            (Some("mannerheimintie"), Some("5a"))
        );
        assert_eq!(
            (a.unit.as_deref(), a.city.as_deref()),
            (Some("12"), Some("helsinki"))
        );
        let a = p("Alvar Aallon katu 1");
        assert_eq!(a.road.as_deref(), Some("alvar aallon katu"));
        let a = p("Kaivokatu");
        assert_eq!((a.road.as_deref(), a.number), (Some("kaivokatu"), None));
        let a = p("12 Oak Rd., Springfield");
        assert_eq!(
            (a.road.as_deref(), a.city.as_deref()),
            (Some("oak road"), Some("springfield"))
        );
    }
}
