//! Time in CQL2 filters: `DATE('…')` and `TIMESTAMP('…')` literals compared as
//! instants (a timestamp's UTC offset is applied, so `10:00+01:00` equals `09:00Z`),
//! `INTERVAL(start, end)` with `'..'` for an open end, and the temporal functions
//! (`T_AFTER`, `T_BEFORE`, `T_DURING`, … OGC 21-065 §7.11).
//!
//! Values are microseconds since 1970-01-01T00:00Z. A property's text value is read
//! as RFC 3339 (`2024-05-01T10:00:00+08:00`), the same with a space for the `T`, or
//! a bare date; a value with no offset is taken as UTC (say so in the layer's
//! documentation when the data is local time). A date is the interval from its first
//! to its last microsecond, a timestamp an instant (an interval of one point).

use chrono::{DateTime, NaiveDate, NaiveDateTime};

/// Microseconds in a day.
pub const DAY_US: i64 = 86_400_000_000;

/// A temporal relation (OGC 21-065 table 7, Allen's interval algebra).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemporalOp {
    /// `T_AFTER`: a starts after b ends.
    After,
    /// `T_BEFORE`: a ends before b starts.
    Before,
    /// `T_CONTAINS`: b lies strictly inside a.
    Contains,
    /// `T_DISJOINT`: no common instant.
    Disjoint,
    /// `T_DURING`: a lies strictly inside b.
    During,
    /// `T_EQUALS`: same start and end.
    Equals,
    /// `T_FINISHEDBY`: a starts before b, both end together.
    FinishedBy,
    /// `T_FINISHES`: a starts after b, both end together.
    Finishes,
    /// `T_INTERSECTS`: at least one common instant.
    Intersects,
    /// `T_MEETS`: a ends where b starts.
    Meets,
    /// `T_METBY`: a starts where b ends.
    MetBy,
    /// `T_OVERLAPPEDBY`: b starts first, a ends last, they overlap.
    OverlappedBy,
    /// `T_OVERLAPS`: a starts first, b ends last, they overlap.
    Overlaps,
    /// `T_STARTEDBY`: same start, a ends after b.
    StartedBy,
    /// `T_STARTS`: same start, a ends before b.
    Starts,
}

impl TemporalOp {
    /// The operator for a function name (`T_AFTER`, any case), or `None`.
    pub fn from_name(name: &str) -> Option<TemporalOp> {
        Some(match name.to_ascii_uppercase().as_str() {
            "T_AFTER" => TemporalOp::After,
            "T_BEFORE" => TemporalOp::Before,
            "T_CONTAINS" => TemporalOp::Contains,
            "T_DISJOINT" => TemporalOp::Disjoint,
            "T_DURING" => TemporalOp::During,
            "T_EQUALS" => TemporalOp::Equals,
            "T_FINISHEDBY" => TemporalOp::FinishedBy,
            "T_FINISHES" => TemporalOp::Finishes,
            "T_INTERSECTS" => TemporalOp::Intersects,
            "T_MEETS" => TemporalOp::Meets,
            "T_METBY" => TemporalOp::MetBy,
            "T_OVERLAPPEDBY" => TemporalOp::OverlappedBy,
            "T_OVERLAPS" => TemporalOp::Overlaps,
            "T_STARTEDBY" => TemporalOp::StartedBy,
            "T_STARTS" => TemporalOp::Starts,
            _ => return None,
        })
    }

    /// The function name, as written in CQL2 text.
    pub fn name(self) -> &'static str {
        match self {
            TemporalOp::After => "T_AFTER",
            TemporalOp::Before => "T_BEFORE",
            TemporalOp::Contains => "T_CONTAINS",
            TemporalOp::Disjoint => "T_DISJOINT",
            TemporalOp::During => "T_DURING",
            TemporalOp::Equals => "T_EQUALS",
            TemporalOp::FinishedBy => "T_FINISHEDBY",
            TemporalOp::Finishes => "T_FINISHES",
            TemporalOp::Intersects => "T_INTERSECTS",
            TemporalOp::Meets => "T_MEETS",
            TemporalOp::MetBy => "T_METBY",
            TemporalOp::OverlappedBy => "T_OVERLAPPEDBY",
            TemporalOp::Overlaps => "T_OVERLAPS",
            TemporalOp::StartedBy => "T_STARTEDBY",
            TemporalOp::Starts => "T_STARTS",
        }
    }

    /// Whether interval `a` stands in this relation to interval `b` (both closed,
    /// `(start, end)` with `start <= end`).
    pub fn holds(self, a: (i64, i64), b: (i64, i64)) -> bool {
        let ((a0, a1), (b0, b1)) = (a, b);
        match self {
            TemporalOp::After => a0 > b1,
            TemporalOp::Before => a1 < b0,
            TemporalOp::Contains => a0 < b0 && a1 > b1,
            TemporalOp::Disjoint => a1 < b0 || a0 > b1,
            TemporalOp::During => a0 > b0 && a1 < b1,
            TemporalOp::Equals => a0 == b0 && a1 == b1,
            TemporalOp::FinishedBy => a0 < b0 && a1 == b1,
            TemporalOp::Finishes => a0 > b0 && a1 == b1,
            TemporalOp::Intersects => a0 <= b1 && a1 >= b0,
            TemporalOp::Meets => a1 == b0,
            TemporalOp::MetBy => a0 == b1,
            TemporalOp::OverlappedBy => a0 > b0 && a0 < b1 && a1 > b1,
            TemporalOp::Overlaps => a0 < b0 && a1 > b0 && a1 < b1,
            TemporalOp::StartedBy => a0 == b0 && a1 > b1,
            TemporalOp::Starts => a0 == b0 && a1 < b1,
        }
    }
}

/// Parses a timestamp: RFC 3339 (`T` or a space between date and time, `Z` or an
/// offset; no offset means UTC), or a bare date (its midnight, UTC). Microseconds
/// since the epoch.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.len() > 64 {
        return None;
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp_micros());
    }
    let mut spaced = s.replacen(' ', "T", 1);
    // PostgreSQL writes whole-hour offsets as `+08`: make them `+08:00`
    let b = spaced.as_bytes();
    if b.len() > 13
        && matches!(b[b.len() - 3], b'+' | b'-')
        && b[b.len() - 2].is_ascii_digit()
        && b[b.len() - 1].is_ascii_digit()
        && b[b.len() - 4].is_ascii_digit()
        && spaced.contains('T')
    {
        spaced.push_str(":00");
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(&spaced) {
        return Some(t.timestamp_micros());
    }
    // offsets written without a colon (+0800), or no offset at all
    for f in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M%z"] {
        if let Ok(t) = DateTime::parse_from_str(&spaced, f) {
            return Some(t.timestamp_micros());
        }
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(&spaced, f) {
            return Some(t.and_utc().timestamp_micros());
        }
    }
    parse_date(s).map(|d| i64::from(d) * DAY_US)
}

/// Parses a date `YYYY-MM-DD`: days since 1970-01-01.
pub fn parse_date(s: &str) -> Option<i32> {
    let d = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()?;
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1)?;
    i32::try_from((d - epoch).num_days()).ok()
}

/// The UTC day of a text value (a date, or a timestamp's day in UTC).
pub fn text_date(s: &str) -> Option<i32> {
    parse_date(s).or_else(|| parse_timestamp(s).map(|t| t.div_euclid(DAY_US) as i32))
}

/// The interval a text value stands for: a bare date is its whole day, a timestamp
/// one instant.
pub fn text_interval(s: &str) -> Option<(i64, i64)> {
    if let Some(d) = parse_date(s) {
        return Some(date_interval(d));
    }
    parse_timestamp(s).map(|t| (t, t))
}

/// The interval of a date: its first to its last microsecond.
pub fn date_interval(d: i32) -> (i64, i64) {
    let start = i64::from(d) * DAY_US;
    (start, start + DAY_US - 1)
}

/// Formats microseconds since the epoch as RFC 3339 in UTC (for messages and
/// printing filters back).
pub fn format_instant(t: i64) -> String {
    DateTime::from_timestamp_micros(t)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_else(|| t.to_string())
}

/// Formats a date (days since the epoch) as `YYYY-MM-DD`.
pub fn format_date(d: i32) -> String {
    DateTime::from_timestamp(i64::from(d) * 86_400, 0)
        .map(|t| t.date_naive().format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| d.to_string())
}

/// Midnight of a date, as an instant (for comparing a date with a timestamp).
pub fn date_start(d: i32) -> i64 {
    i64::from(d) * DAY_US
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_applied() {
        let a = parse_timestamp("2024-05-01T10:00:00+01:00").unwrap();
        let b = parse_timestamp("2024-05-01T09:00:00Z").unwrap();
        assert_eq!(a, b);
        let c = parse_timestamp("2024-05-01 17:00:00+08:00").unwrap();
        assert_eq!(c, b);
        let d = parse_timestamp("2024-05-01T17:00:00+0800").unwrap();
        assert_eq!(d, b);
        // as PostgreSQL prints a timestamptz
        assert_eq!(parse_timestamp("2024-05-01 17:00:00+08").unwrap(), b);
        assert_eq!(
            parse_timestamp("2024-05-01 09:00:00.5+00").unwrap(),
            b + 500_000
        );
        assert_eq!(parse_timestamp("2024-05-01T09:00:00").unwrap(), b);
        assert_eq!(parse_timestamp("2024-05-01T09:00").unwrap(), b);
        assert_eq!(format_instant(b), "2024-05-01T09:00:00Z");
    }

    #[test]
    fn dates_are_whole_days() {
        let d = parse_date("2024-05-01").unwrap();
        assert_eq!(format_date(d), "2024-05-01");
        let (s, e) = date_interval(d);
        assert_eq!(e - s, DAY_US - 1);
        assert_eq!(text_interval("2024-05-01"), Some((s, e)));
        // 2024-05-01T23:30-02:00 is 2024-05-02T01:30Z
        assert_eq!(text_date("2024-05-01T23:30:00-02:00"), Some(d + 1));
        assert!(parse_date("2024-13-01").is_none());
        assert!(parse_timestamp("yesterday").is_none());
    }

    #[test]
    fn allen_relations() {
        use TemporalOp::*;
        let i = |a, b| (a, b);
        assert!(After.holds(i(5, 5), i(1, 4)));
        assert!(!After.holds(i(4, 4), i(1, 4)));
        assert!(Before.holds(i(0, 0), i(1, 4)));
        assert!(During.holds(i(2, 3), i(1, 4)));
        assert!(!During.holds(i(1, 3), i(1, 4)));
        assert!(Contains.holds(i(1, 4), i(2, 3)));
        assert!(Intersects.holds(i(4, 6), i(1, 4)));
        assert!(Disjoint.holds(i(5, 6), i(1, 4)));
        assert!(Meets.holds(i(1, 4), i(4, 6)));
        assert!(MetBy.holds(i(4, 6), i(1, 4)));
        assert!(Overlaps.holds(i(1, 5), i(3, 8)));
        assert!(OverlappedBy.holds(i(3, 8), i(1, 5)));
        assert!(Starts.holds(i(1, 3), i(1, 5)));
        assert!(StartedBy.holds(i(1, 5), i(1, 3)));
        assert!(Finishes.holds(i(3, 5), i(1, 5)));
        assert!(FinishedBy.holds(i(1, 5), i(3, 5)));
        assert!(Equals.holds(i(1, 5), i(1, 5)));
        for op in [After, Before, During, Equals, Meets, Overlaps] {
            assert_eq!(TemporalOp::from_name(op.name()), Some(op));
        }
    }
}
