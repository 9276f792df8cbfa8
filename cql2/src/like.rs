//! SQL `LIKE` patterns (`%` any run, `_` one character, `\` escapes the next one),
//! compiled once per filter and matched without backtracking.
//!
//! A pattern is cut at its `%`s into segments of fixed length (literal characters and
//! `_`). The first segment must match at the start of the text, the last one at its
//! end, and each middle segment is placed at its leftmost occurrence after the
//! previous one: with fixed-length segments the leftmost placement leaves the most
//! room for the rest, so one pass decides the match (no backtracking). A segment
//! without `_` is found with the standard library's substring search (linear); one
//! with `_` is tried at each position (at most text × segment length). So a match
//! costs at most O(text × pattern), and O(text + pattern) for the common patterns
//! (`%word%`, `abc%`), whatever the pattern's shape.
//!
//! Every step is counted against a [`Fuel`] allowance, so that a filter's total work
//! can be bounded (see [`crate::eval::Meter`]).

use std::fmt;

/// The longest `LIKE` pattern accepted (characters).
pub const MAX_LIKE_PATTERN_CHARS: usize = 256;

/// A `LIKE` pattern longer than [`MAX_LIKE_PATTERN_CHARS`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a LIKE pattern has at most {MAX_LIKE_PATTERN_CHARS} characters; this one has {0}")]
pub struct PatternTooLong(pub usize);

/// The work allowance ran out before the match was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfFuel;

/// A work allowance: each character compared or scanned costs one unit.
#[derive(Debug, Clone, Copy)]
pub struct Fuel {
    left: u64,
    used: u64,
}

impl Fuel {
    /// An allowance of `units`.
    pub fn new(units: u64) -> Fuel {
        Fuel {
            left: units,
            used: 0,
        }
    }

    /// Spends `n` units, or fails (spending what was left) when fewer remain.
    pub fn spend(&mut self, n: u64) -> Result<(), OutOfFuel> {
        if n > self.left {
            self.used += self.left;
            self.left = 0;
            return Err(OutOfFuel);
        }
        self.left -= n;
        self.used += n;
        Ok(())
    }

    /// The units spent so far.
    pub fn used(&self) -> u64 {
        self.used
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Lit(char),
    One,
}

/// A run of the pattern between two `%`s.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Segment {
    toks: Vec<Tok>,
    /// The segment as a string when it has no `_` (found by substring search).
    literal: Option<String>,
}

impl Segment {
    fn new(toks: Vec<Tok>) -> Segment {
        let literal = toks
            .iter()
            .map(|t| match t {
                Tok::Lit(c) => Some(*c),
                Tok::One => None,
            })
            .collect::<Option<String>>();
        Segment { toks, literal }
    }

    /// The byte end of this segment matched at byte `pos` of `text`, if it matches.
    fn match_at(
        &self,
        text: &str,
        pos: usize,
        fuel: &mut Fuel,
    ) -> Result<Option<usize>, OutOfFuel> {
        let mut chars = text[pos..].char_indices();
        for t in &self.toks {
            fuel.spend(1)?;
            match (chars.next(), t) {
                (None, _) => return Ok(None),
                (Some((_, c)), Tok::Lit(l)) if c != *l => return Ok(None),
                _ => {}
            }
        }
        Ok(Some(chars.next().map_or(text.len(), |(i, _)| pos + i)))
    }

    /// The leftmost match at or after byte `from`: (start, end).
    fn find(
        &self,
        text: &str,
        from: usize,
        fuel: &mut Fuel,
    ) -> Result<Option<(usize, usize)>, OutOfFuel> {
        let rest = &text[from..];
        if let Some(lit) = &self.literal {
            // Two-way search: linear in the text it reads (up to the match) and in
            // the segment.
            let found = rest.find(lit.as_str());
            let read = found.map_or(rest.len(), |i| i + lit.len());
            fuel.spend((read + lit.len()) as u64)?;
            return Ok(found.map(|i| (from + i, from + i + lit.len())));
        }
        for (i, _) in rest.char_indices() {
            if let Some(end) = self.match_at(text, from + i, fuel)? {
                return Ok(Some((from + i, end)));
            }
        }
        Ok(None)
    }
}

/// A compiled `LIKE` pattern. It dereferences to its source text.
#[derive(Clone)]
pub struct LikePattern {
    source: String,
    /// The segments between `%`s (consecutive `%`s leave no empty segment in the
    /// middle); without any `%`, exactly one.
    segments: Vec<Segment>,
    /// Whether the pattern has at least one `%`.
    has_any: bool,
}

impl LikePattern {
    /// Compiles `source`; refuses patterns over [`MAX_LIKE_PATTERN_CHARS`] characters.
    pub fn new(source: &str) -> Result<LikePattern, PatternTooLong> {
        let n = source.chars().count();
        if n > MAX_LIKE_PATTERN_CHARS {
            return Err(PatternTooLong(n));
        }
        Ok(Self::compile(source))
    }

    fn compile(source: &str) -> LikePattern {
        let mut segments = Vec::new();
        let mut current = Vec::new();
        let mut has_any = false;
        let mut chars = source.chars();
        while let Some(c) = chars.next() {
            match c {
                '%' => {
                    has_any = true;
                    segments.push(Segment::new(std::mem::take(&mut current)));
                }
                '_' => current.push(Tok::One),
                '\\' => current.push(Tok::Lit(chars.next().unwrap_or('\\'))),
                c => current.push(Tok::Lit(c)),
            }
        }
        segments.push(Segment::new(current));
        // Empty middle segments (from `%%`) match anywhere: drop them.
        if segments.len() > 2 {
            let last = segments.pop();
            let mut kept = vec![segments.remove(0)];
            kept.extend(segments.into_iter().filter(|s| !s.toks.is_empty()));
            kept.extend(last);
            segments = kept;
        }
        LikePattern {
            source: source.to_string(),
            segments,
            has_any,
        }
    }

    /// Compiles `source` in lower case (`ILIKE`): the limit applies to `source` as
    /// written (lower case may have more characters).
    pub fn new_lowercase(source: &str) -> Result<LikePattern, PatternTooLong> {
        let n = source.chars().count();
        if n > MAX_LIKE_PATTERN_CHARS {
            return Err(PatternTooLong(n));
        }
        Ok(Self::compile(&source.to_lowercase()))
    }

    /// Whether `text` matches, spending `fuel`.
    pub fn matches(&self, text: &str, fuel: &mut Fuel) -> Result<bool, OutOfFuel> {
        let first = &self.segments[0];
        if !self.has_any {
            return Ok(first.match_at(text, 0, fuel)? == Some(text.len()));
        }
        let Some(mut pos) = first.match_at(text, 0, fuel)? else {
            return Ok(false);
        };
        let last = &self.segments[self.segments.len() - 1];
        for seg in &self.segments[1..self.segments.len() - 1] {
            match seg.find(text, pos, fuel)? {
                Some((_, end)) => pos = end,
                None => return Ok(false),
            }
        }
        // The last segment ends the text and may not overlap what came before.
        let n = last.toks.len();
        fuel.spend(n as u64)?;
        let start = if n == 0 {
            text.len()
        } else {
            match text.char_indices().rev().nth(n - 1) {
                Some((i, _)) => i,
                None => return Ok(false),
            }
        };
        if start < pos {
            return Ok(false);
        }
        Ok(last.match_at(text, start, fuel)? == Some(text.len()))
    }
}

impl std::ops::Deref for LikePattern {
    type Target = str;
    fn deref(&self) -> &str {
        &self.source
    }
}

impl PartialEq for LikePattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl fmt::Debug for LikePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.source, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference: dynamic programming over (pattern, text) prefixes.
    fn oracle(text: &str, pattern: &str) -> bool {
        #[derive(Clone, Copy)]
        enum P {
            Any,
            One,
            Lit(char),
        }
        let mut pat = Vec::new();
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            pat.push(match c {
                '%' => P::Any,
                '_' => P::One,
                '\\' => P::Lit(chars.next().unwrap_or('\\')),
                c => P::Lit(c),
            });
        }
        let text: Vec<char> = text.chars().collect();
        let mut row = vec![false; text.len() + 1];
        row[0] = true;
        for p in &pat {
            let mut next = vec![false; text.len() + 1];
            for j in 0..=text.len() {
                next[j] = match p {
                    P::Any => row[j] || (j > 0 && next[j - 1]),
                    P::One => j > 0 && row[j - 1],
                    P::Lit(c) => j > 0 && row[j - 1] && text[j - 1] == *c,
                };
            }
            row = next;
        }
        row[text.len()]
    }

    fn like(text: &str, pattern: &str) -> bool {
        LikePattern::new(pattern)
            .unwrap()
            .matches(text, &mut Fuel::new(u64::MAX))
            .unwrap()
    }

    #[test]
    fn like_patterns() {
        assert!(like("building", "b%"));
        assert!(like("building", "%ild%"));
        assert!(like("b1", "b_"));
        assert!(!like("b12", "b_"));
        assert!(like("50%", "50\\%"));
        assert!(!like("500", "50\\%"));
        assert!(like("a_b", "a\\_b"));
        assert!(!like("axb", "a\\_b"));
        assert!(like("", "%"));
        assert!(like("", ""));
        assert!(!like("a", ""));
        assert!(!like("abc", "ABC"));
        assert!(like("aXbXc", "a%b%c"));
        assert!(!like("ab", "a%b%c"));
        // overlapping segments: "aba" must not be matched by both ends
        assert!(!like("aba", "ab%ba"));
        assert!(like("abba", "ab%ba"));
        // multi-byte characters: `_` is one character, not one byte
        assert!(like("武汉市", "武_市"));
        assert!(like("武汉市江岸区", "%汉_江%"));
        assert!(!like("武汉", "武__"));
        assert!(like("x\\", "x\\"));
        assert_eq!(&*LikePattern::new("a%b").unwrap(), "a%b");
    }

    /// Every pattern of up to 5 symbols over {a, b, %, _, \} against every text of up
    /// to 6 letters over {a, b}: the same answer as the reference.
    #[test]
    fn agrees_with_the_reference_exhaustively() {
        let pat_alphabet = ['a', 'b', '%', '_', '\\'];
        let mut patterns = vec![String::new()];
        let mut frontier = vec![String::new()];
        for _ in 0..5 {
            let mut next = Vec::new();
            for p in &frontier {
                for c in pat_alphabet {
                    next.push(format!("{p}{c}"));
                }
            }
            patterns.extend(next.iter().cloned());
            frontier = next;
        }
        let mut texts = vec![String::new()];
        let mut frontier = vec![String::new()];
        for _ in 0..6 {
            let mut next = Vec::new();
            for t in &frontier {
                for c in ['a', 'b'] {
                    next.push(format!("{t}{c}"));
                }
            }
            texts.extend(next.iter().cloned());
            frontier = next;
        }
        let mut checked = 0;
        for p in &patterns {
            let compiled = LikePattern::new(p).unwrap();
            for t in &texts {
                let got = compiled.matches(t, &mut Fuel::new(u64::MAX)).unwrap();
                assert_eq!(got, oracle(t, p), "{t:?} LIKE {p:?}");
                checked += 1;
            }
        }
        assert_eq!(checked, 3906 * 127);
    }

    /// Patterns that make a backtracking matcher (or the former dynamic programming
    /// over a long pattern) work hard: the work stays linear in the text for literal
    /// segments and within text × pattern with `_`.
    #[test]
    fn adversarial_patterns_cost_little() {
        let text = "a".repeat(100_000);
        let n = text.len() as u64;
        let cases: Vec<(String, bool, u64)> = vec![
            // 128 one-letter segments, then one that never comes
            (format!("{}%b", "%a".repeat(127)), false, 4 * n),
            (format!("{}%", "%a".repeat(127)), true, 4 * n),
            ("%a%".repeat(85), true, 4 * n),
            (format!("%{}b%", "a".repeat(253)), false, 4 * n),
            // `_` segments: at most text × segment length
            (format!("%{}b%", "_a".repeat(126)), false, 256 * n),
            (format!("{}%", "_".repeat(255)), true, 4 * n),
            (format!("%{}", "_".repeat(255)), true, 4 * n),
            ("_".repeat(256), false, 4 * n),
        ];
        for (p, want, bound) in cases {
            assert!(p.chars().count() <= MAX_LIKE_PATTERN_CHARS, "{p}");
            let mut fuel = Fuel::new(u64::MAX);
            let got = LikePattern::new(&p)
                .unwrap()
                .matches(&text, &mut fuel)
                .unwrap();
            assert_eq!(got, want, "{p}");
            assert!(fuel.used() <= bound, "{p}: {} units", fuel.used());
            let small = &text[..300];
            assert_eq!(
                LikePattern::new(&p)
                    .unwrap()
                    .matches(small, &mut Fuel::new(u64::MAX))
                    .unwrap(),
                oracle(small, &p),
                "{p}"
            );
        }
    }

    #[test]
    fn limits() {
        assert!(LikePattern::new(&"a".repeat(MAX_LIKE_PATTERN_CHARS)).is_ok());
        let e = LikePattern::new(&"a".repeat(16 * 1024)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "a LIKE pattern has at most 256 characters; this one has 16384"
        );
        // 257 characters, some of them multi-byte: counted in characters
        assert!(LikePattern::new(&"汉".repeat(256)).is_ok());
        assert!(LikePattern::new(&"汉".repeat(257)).is_err());
        // ILIKE: the limit is on the pattern as written ('İ' is two characters in
        // lower case)
        let dotted = "İ".repeat(256);
        let lower = LikePattern::new_lowercase(&dotted).unwrap();
        assert_eq!(lower.chars().count(), 512);
        assert!(lower
            .matches(&dotted.to_lowercase(), &mut Fuel::new(u64::MAX))
            .unwrap());
        assert!(LikePattern::new_lowercase(&"İ".repeat(257)).is_err());
        // the fuel runs out: an error, never a wrong answer
        let p = LikePattern::new(&format!("%{}b%", "_a".repeat(100))).unwrap();
        let text = "a".repeat(10_000);
        let mut fuel = Fuel::new(1000);
        assert_eq!(p.matches(&text, &mut fuel), Err(OutOfFuel));
        assert_eq!(fuel.used(), 1000);
    }
}
