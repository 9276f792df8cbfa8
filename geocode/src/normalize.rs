//! Normalisation of address text before parsing and matching.
//!
//! [`normalize`] turns the many ways people type one address into one form:
//!
//! - Unicode NFKC: full-width digits, letters, spaces and punctuation become their
//!   half-width forms (`１８８号` → `188号`, `，` → `,`);
//! - traditional characters common in addresses become simplified (`號` → `号`,
//!   `區` → `区`, `棟` → `栋`, …);
//! - lower case, and Latin diacritics folded (`Hämeentie` → `hameentie`);
//! - spaces: runs collapsed to one, none next to a Chinese character
//!   (`江岸区 沿江大道 188 号` → `江岸区沿江大道188号`);
//! - Chinese numerals before 号/栋/幢/座/单元/室/楼/层 become digits
//!   (`一百八十八号` → `188号`);
//! - common Western abbreviations written out (`st` → `street`, `rd` → `road`,
//!   `ave` → `avenue`, …) and the Finnish `-k.` / `-t.` (`Fredrikink.` →
//!   `fredrikinkatu`, `Mannerheimint.` → `mannerheimintie`); full `-katu` / `-tie`
//!   words are kept as they are.
//!
//! [`road_key`] and [`number_key`] are the match keys of road names and house numbers.

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// Traditional → simplified forms of characters common in addresses.
const TRADITIONAL: &[(char, char)] = &[
    ('號', '号'),
    ('區', '区'),
    ('縣', '县'),
    ('鎮', '镇'),
    ('鄉', '乡'),
    ('單', '单'),
    ('棟', '栋'),
    ('樓', '楼'),
    ('層', '层'),
    ('門', '门'),
    ('廣', '广'),
    ('東', '东'),
    ('灣', '湾'),
    ('橋', '桥'),
    ('義', '义'),
    ('華', '华'),
    ('國', '国'),
    ('興', '兴'),
    ('園', '园'),
    ('龍', '龙'),
    ('陽', '阳'),
    ('漢', '汉'),
    ('長', '长'),
    ('島', '岛'),
    ('衛', '卫'),
    ('環', '环'),
    ('濱', '滨'),
    ('運', '运'),
    ('豐', '丰'),
    ('農', '农'),
    ('會', '会'),
    ('場', '场'),
    ('廠', '厂'),
    ('體', '体'),
    ('學', '学'),
    ('醫', '医'),
    ('鐵', '铁'),
    ('車', '车'),
    ('經', '经'),
    ('濟', '济'),
    ('開', '开'),
    ('發', '发'),
    ('嶺', '岭'),
    ('裏', '里'),
    ('裡', '里'),
    ('衚', '胡'),
    ('衕', '同'),
    ('岡', '冈'),
    ('崗', '岗'),
    ('灘', '滩'),
    ('溝', '沟'),
    ('莊', '庄'),
    ('觀', '观'),
    ('雲', '云'),
    ('鳳', '凤'),
    ('鶴', '鹤'),
    ('黃', '黄'),
    ('陝', '陕'),
    ('遼', '辽'),
    ('寧', '宁'),
    ('蘇', '苏'),
    ('貴', '贵'),
    ('臺', '台'),
    ('內', '内'),
    ('夢', '梦'),
    ('慶', '庆'),
    ('鄭', '郑'),
    ('瀋', '沈'),
    ('齊', '齐'),
    ('爾', '尔'),
    ('歲', '岁'),
    ('沒', '没'),
    ('邊', '边'),
    ('樂', '乐'),
    ('勝', '胜'),
    ('戰', '战'),
    ('鬥', '斗'),
    ('紅', '红'),
    ('綠', '绿'),
    ('藍', '蓝'),
    ('團', '团'),
    ('結', '结'),
    ('進', '进'),
    ('實', '实'),
    ('線', '线'),
    ('隊', '队'),
    ('組', '组'),
];

/// Western abbreviations written out (whole words only).
const ABBREVIATIONS: &[(&str, &str)] = &[
    ("st", "street"),
    ("str", "street"),
    ("rd", "road"),
    ("ave", "avenue"),
    ("av", "avenue"),
    ("blvd", "boulevard"),
    ("dr", "drive"),
    ("ln", "lane"),
    ("sq", "square"),
    ("pl", "place"),
    ("ct", "court"),
    ("hwy", "highway"),
    ("pkwy", "parkway"),
    ("cres", "crescent"),
    ("tce", "terrace"),
];

/// Characters that end a house number, building, unit, room or floor after a
/// Chinese numeral.
const NUMBER_MARKERS: &[char] = &['号', '栋', '幢', '座', '单', '室', '楼', '层'];

/// True for the CJK characters of Chinese addresses (unified ideographs and their
/// extensions, compatibility ideographs, CJK punctuation).
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3000..=0x303F | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F)
}

/// True when the text holds a CJK character.
pub fn has_cjk(s: &str) -> bool {
    s.chars().any(is_cjk)
}

/// The normalised form of an address string (see the module documentation).
pub fn normalize(s: &str) -> String {
    // NFKC (full width → half width), traditional → simplified, lower case, Latin
    // diacritics folded (NFD, combining marks dropped, NFC again).
    let folded: String = s
        .nfkc()
        .map(|c| {
            TRADITIONAL
                .iter()
                .find(|(t, _)| *t == c)
                .map(|(_, s)| *s)
                .unwrap_or(c)
        })
        .flat_map(char::to_lowercase)
        .collect::<String>()
        .nfd()
        .filter(|c| !is_combining_mark(*c))
        .nfc()
        .map(|c| {
            if c.is_whitespace() || c.is_control() {
                ' '
            } else {
                c
            }
        })
        .collect();
    let numerals = chinese_numerals(&folded);
    let spaced = spaces(&numerals);
    abbreviations(&spaced)
}

/// Collapses spaces, drops those next to a CJK character and around commas' left side.
fn spaces(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == ' ' {
            let mut j = i;
            while j < chars.len() && chars[j] == ' ' {
                j += 1;
            }
            let before = out.chars().last();
            let after = chars.get(j).copied();
            let drop = match (before, after) {
                (None, _) | (_, None) => true,
                (Some(b), Some(a)) => is_cjk(b) || is_cjk(a) || a == ',',
            };
            if !drop {
                out.push(' ');
            }
            i = j;
            continue;
        }
        out.push(c);
        if c == ',' {
            // exactly one space after a comma
            let mut j = i + 1;
            while j < chars.len() && chars[j] == ' ' {
                j += 1;
            }
            if j < chars.len() && !is_cjk(chars[j]) {
                out.push(' ');
            }
            i = j;
            continue;
        }
        i += 1;
    }
    out
}

/// The value of one Chinese digit.
fn digit(c: char) -> Option<u64> {
    Some(match c {
        '零' | '〇' | '○' => 0,
        '一' | '壹' => 1,
        '二' | '两' | '贰' => 2,
        '三' | '叁' => 3,
        '四' | '肆' => 4,
        '五' | '伍' => 5,
        '六' | '陆' => 6,
        '七' | '柒' => 7,
        '八' | '捌' => 8,
        '九' | '玖' => 9,
        _ => return None,
    })
}

fn is_numeral(c: char) -> bool {
    digit(c).is_some() || matches!(c, '十' | '拾' | '百' | '佰' | '千' | '仟')
}

/// The value of a run of Chinese numerals: positional (`一八八` = 188) or with
/// multipliers (`一百八十八` = 188, `十二` = 12). None when it makes no sense.
pub fn chinese_number(run: &str) -> Option<u64> {
    let chars: Vec<char> = run.chars().collect();
    if chars.is_empty() || chars.len() > 12 {
        return None;
    }
    if chars.iter().all(|c| digit(*c).is_some()) {
        return chars
            .iter()
            .try_fold(0u64, |acc, c| acc.checked_mul(10)?.checked_add(digit(*c)?));
    }
    let (mut total, mut current) = (0u64, None::<u64>);
    for c in chars {
        if let Some(d) = digit(c) {
            current = Some(d);
            continue;
        }
        let unit = match c {
            '十' | '拾' => 10,
            '百' | '佰' => 100,
            '千' | '仟' => 1000,
            _ => return None,
        };
        total += current.unwrap_or(1) * unit;
        current = None;
    }
    Some(total + current.unwrap_or(0))
}

/// Runs of Chinese numerals followed by a number marker become digits.
fn chinese_numerals(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        if is_numeral(chars[i]) {
            let mut j = i;
            while j < chars.len() && is_numeral(chars[j]) {
                j += 1;
            }
            let marked = chars.get(j).is_some_and(|c| NUMBER_MARKERS.contains(c));
            let run: String = chars[i..j].iter().collect();
            match chinese_number(&run).filter(|_| marked) {
                Some(n) => out.push_str(&n.to_string()),
                None => out.push_str(&run),
            }
            i = j;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// Western abbreviations and the Finnish `-k.` / `-t.` written out. A leading
/// `st` of a comma-separated part stays (Saint).
fn abbreviations(s: &str) -> String {
    if has_cjk(s) {
        return s.to_string();
    }
    let mut parts = Vec::new();
    for part in s.split(',') {
        let words: Vec<&str> = part.split(' ').filter(|w| !w.is_empty()).collect();
        let mut out: Vec<String> = Vec::with_capacity(words.len());
        for (i, w) in words.iter().enumerate() {
            let bare = w.trim_end_matches('.');
            let dotted = bare.len() != w.len();
            let long = bare.chars().count() >= 4;
            if long && dotted && bare.ends_with('k') {
                out.push(format!("{bare}atu"));
            } else if long && dotted && bare.ends_with('t') {
                out.push(format!("{bare}ie"));
            } else if let Some((_, full)) = ABBREVIATIONS
                .iter()
                .find(|(a, _)| *a == bare && (i > 0 || words.len() == 1))
            {
                out.push((*full).to_string());
            } else {
                out.push(if dotted && bare.chars().all(char::is_alphabetic) {
                    bare.to_string()
                } else {
                    (*w).to_string()
                });
            }
        }
        parts.push(out.join(" "));
    }
    parts.join(", ").trim().to_string()
}

/// The match key of a road name: normalised, without spaces, dots, hyphens and
/// apostrophes (`Alvar Aallon Katu` and `alvar aallon katu` → `alvaraallonkatu`).
pub fn road_key(name: &str) -> String {
    normalize(name)
        .chars()
        .filter(|c| !matches!(c, ' ' | '.' | '-' | '\'' | '’' | '·' | ','))
        .collect()
}

/// The match key of a house number: normalised, its first part (before a comma),
/// no spaces, no 号 (`13 A, 5. krs.` → `13a`, `１８８号` → `188`, `188-1` stays).
pub fn number_key(number: &str) -> String {
    let n = normalize(number);
    let first = n.split(',').next().unwrap_or("").trim();
    // digits, an optional range or sub-number, an optional letter
    let words: Vec<&str> = first.split(' ').collect();
    let mut key = String::new();
    for (i, w) in words.iter().enumerate() {
        if i == 0 {
            key.push_str(w);
        } else if w.chars().count() == 1 && w.chars().all(char::is_alphabetic) {
            key.push_str(w);
            break;
        } else {
            break;
        }
    }
    key.trim_end_matches('号').to_string()
}

/// The numeric part of a house number key (its leading digits): `188-1` → 188,
/// `13a` → 13.
pub fn number_value(key: &str) -> Option<u64> {
    let digits: String = key.chars().take_while(char::is_ascii_digit).collect();
    if digits.is_empty() || digits.len() > 9 {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_width_and_traditional() {
        assert_eq!(normalize("江岸區沿江大道１８８號"), "江岸区沿江大道188号");
        assert_eq!(normalize("ＫＡＩＶＯＫＡＴＵ　２"), "kaivokatu 2");
    }

    #[test]
    fn spaces_and_case() {
        assert_eq!(
            normalize("  江岸区 沿江大道  188 号 "),
            "江岸区沿江大道188号"
        );
        assert_eq!(
            normalize("  Kaivokatu    2 ,Helsinki "),
            "kaivokatu 2, helsinki"
        );
        assert_eq!(normalize("Hämeentie 3"), "hameentie 3");
    }

    #[test]
    fn chinese_numerals_in_numbers_only() {
        assert_eq!(normalize("沿江大道一百八十八号"), "沿江大道188号");
        assert_eq!(
            normalize("解放大道六九〇号三栋二单元"),
            "解放大道690号3栋2单元"
        );
        assert_eq!(normalize("十二号"), "12号");
        // not a number: 二环路 keeps its numeral
        assert_eq!(normalize("二环路5号"), "二环路5号");
        assert_eq!(chinese_number("两千零五"), Some(2005));
    }

    #[test]
    fn abbreviations() {
        assert_eq!(normalize("2 Main St"), "2 main street");
        assert_eq!(
            normalize("12 Oak Rd., Springfield"),
            "12 oak road, springfield"
        );
        assert_eq!(normalize("St Mary Ave 4"), "st mary avenue 4");
        assert_eq!(normalize("Fredrikink. 22"), "fredrikinkatu 22");
        assert_eq!(normalize("Mannerheimint. 5"), "mannerheimintie 5");
        assert_eq!(normalize("Kaivokatu 2"), "kaivokatu 2");
    }

    #[test]
    fn keys() {
        assert_eq!(road_key("Alvar Aallon Katu"), "alvaraallonkatu");
        assert_eq!(road_key("沿江大道"), "沿江大道");
        assert_eq!(number_key("13 A, 5. krs./Floor 5"), "13a");
        assert_eq!(number_key("１８８号"), "188");
        assert_eq!(number_key("188-1"), "188-1");
        assert_eq!(number_value("13a"), Some(13));
        assert_eq!(number_value("a"), None);
    }
}
