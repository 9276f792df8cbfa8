//! The working calendar: working hours per day, weekly working days, public holidays and
//! make-up working days (调休), in one fixed UTC offset (China: +08:00).
//!
//! A date is a working day when it is a make-up working day, or else when it is not a
//! public holiday and its weekday is a working weekday. China moves weekends around
//! holidays, so a plain Monday–Friday rule is wrong. With `national_holidays` (the
//! default) the calendar follows China's public holidays ([`crate::holidays`]): the
//! statutory days of every year, computed, and the arrangement of each year an
//! administrator imported (its periods off and make-up days); a year without an
//! arrangement has the statutory days only, and [`WorkingCalendar::missing_arrangements`]
//! says so from 60 days before it starts. The spec's own `holidays` and
//! `makeup_workdays` come first (local days off, or corrections).
//!
//! ```
//! use chrono::NaiveDate;
//! use citygrid_grid_mgmt::calendar::WorkingCalendar;
//!
//! let cal = WorkingCalendar::china_default();
//! let d = |m, d| NaiveDate::from_ymd_opt(2025, m, d).unwrap();
//! assert!(cal.is_working_day(d(4, 27)));  // Sunday, but a make-up working day
//! assert!(!cal.is_working_day(d(5, 5)));  // Monday, but Labour Day holiday
//! assert!(!cal.is_working_day(d(5, 10))); // an ordinary Saturday
//! assert_eq!(cal.working_seconds_per_day(), 7 * 3600 + 1800); // 08:30–12:00 + 13:30–17:30
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{Datelike, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Weekday};
use serde::{Deserialize, Serialize};

use crate::holidays::{self, Arrangement};

/// How many days before a year starts its missing arrangement is reported.
pub const WARN_DAYS_BEFORE_YEAR: i64 = 60;

fn yes() -> bool {
    true
}

/// A calendar that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// A working period that ends before it starts, or overlaps the previous one.
    #[error("working period {index} ({start}–{end}) {reason}")]
    BadPeriod {
        /// 0-based index in the list.
        index: usize,
        /// Start time.
        start: NaiveTime,
        /// End time.
        end: NaiveTime,
        /// What is wrong.
        reason: &'static str,
    },
    /// A date listed both as a holiday and as a make-up working day.
    #[error("{0} is listed both as a public holiday and as a make-up working day")]
    HolidayAndMakeup(NaiveDate),
    /// The UTC offset is outside ±18 hours.
    #[error("UTC offset must be within ±18 hours, got {0} minutes")]
    BadOffset(i32),
}

/// One working period of a day, e.g. 08:30–12:00. `end` is exclusive and after `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WorkPeriod {
    /// Local start time.
    pub start: NaiveTime,
    /// Local end time (same day).
    pub end: NaiveTime,
}

impl WorkPeriod {
    /// A period from hours and minutes; `None` when a time is invalid.
    pub fn hm(start_h: u32, start_m: u32, end_h: u32, end_m: u32) -> Option<Self> {
        Some(Self {
            start: NaiveTime::from_hms_opt(start_h, start_m, 0)?,
            end: NaiveTime::from_hms_opt(end_h, end_m, 0)?,
        })
    }
}

/// The plain, serialisable description of a calendar (what is stored in configuration).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CalendarSpec {
    /// Offset of local time from UTC in minutes (+480 for China).
    pub utc_offset_minutes: i32,
    /// Working periods of a working day, in order, not overlapping.
    pub periods: Vec<WorkPeriod>,
    /// Weekdays that are working days unless a holiday (`Mon`, `Tue`, …).
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub working_weekdays: Vec<Weekday>,
    /// Public holidays (days off even on a working weekday).
    pub holidays: BTreeSet<NaiveDate>,
    /// Make-up working days (调休): working days even on a weekend.
    pub makeup_workdays: BTreeSet<NaiveDate>,
    /// Whether China's public holidays apply: the statutory days of every year and the
    /// imported yearly arrangements (default `true`).
    #[serde(default = "yes")]
    pub national_holidays: bool,
}

/// A validated working calendar. Build it from a [`CalendarSpec`] (also via serde) or use
/// [`WorkingCalendar::china_default`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "CalendarSpec", into = "CalendarSpec")]
pub struct WorkingCalendar {
    spec: CalendarSpec,
    offset: FixedOffset,
    /// The imported arrangements by year (used with `national_holidays`).
    #[serde(skip)]
    arrangements: BTreeMap<i32, Arc<Arrangement>>,
}

impl TryFrom<CalendarSpec> for WorkingCalendar {
    type Error = CalendarError;
    fn try_from(spec: CalendarSpec) -> Result<Self, CalendarError> {
        Self::new(spec)
    }
}

impl From<WorkingCalendar> for CalendarSpec {
    fn from(c: WorkingCalendar) -> Self {
        c.spec
    }
}

impl WorkingCalendar {
    /// Validate a spec: periods ordered, non-empty and non-overlapping; no date both a
    /// holiday and a make-up day; offset within ±18 h.
    pub fn new(mut spec: CalendarSpec) -> Result<Self, CalendarError> {
        let minutes = spec.utc_offset_minutes;
        let offset = FixedOffset::east_opt(minutes.saturating_mul(60))
            .filter(|_| minutes.abs() <= 18 * 60)
            .ok_or(CalendarError::BadOffset(minutes))?;
        let mut prev_end: Option<NaiveTime> = None;
        for (index, p) in spec.periods.iter().enumerate() {
            let bad = |reason| CalendarError::BadPeriod {
                index,
                start: p.start,
                end: p.end,
                reason,
            };
            if p.end <= p.start {
                return Err(bad("must end after it starts"));
            }
            if prev_end.is_some_and(|e| p.start < e) {
                return Err(bad("must start after the previous period ends"));
            }
            prev_end = Some(p.end);
        }
        if let Some(d) = spec.holidays.intersection(&spec.makeup_workdays).next() {
            return Err(CalendarError::HolidayAndMakeup(*d));
        }
        spec.working_weekdays
            .sort_by_key(|w| w.num_days_from_monday());
        spec.working_weekdays.dedup();
        Ok(Self {
            spec,
            offset,
            arrangements: BTreeMap::new(),
        })
    }

    /// This calendar with the given yearly arrangements (a later one of the same year
    /// replaces an earlier one).
    pub fn with_arrangements(
        mut self,
        arrangements: impl IntoIterator<Item = Arrangement>,
    ) -> Self {
        for a in arrangements {
            self.arrangements.insert(a.year(), Arc::new(a));
        }
        self
    }

    /// The years with an imported arrangement.
    pub fn arrangement_years(&self) -> Vec<i32> {
        self.arrangements.keys().copied().collect()
    }

    /// The arrangement of `year`, if imported.
    pub fn arrangement(&self, year: i32) -> Option<&Arrangement> {
        self.arrangements.get(&year).map(|a| a.as_ref())
    }

    /// The years whose arrangement is missing on `today`: this year, and next year from
    /// [`WARN_DAYS_BEFORE_YEAR`] days before it starts (none without `national_holidays`).
    pub fn missing_arrangements(&self, today: NaiveDate) -> Vec<i32> {
        if !self.spec.national_holidays {
            return Vec::new();
        }
        let year = today.year();
        let mut years = vec![year];
        if NaiveDate::from_ymd_opt(year + 1, 1, 1)
            .is_some_and(|next| (next - today).num_days() <= WARN_DAYS_BEFORE_YEAR)
        {
            years.push(year + 1);
        }
        years.retain(|y| !self.arrangements.contains_key(y));
        years
    }

    /// The default for mainland China: 08:30–12:00 and 13:30–17:30, Monday–Friday, UTC+8,
    /// China's public holidays, and the built-in arrangements of 2025 and 2026 as
    /// published by the State Council ([`holidays::builtin_arrangements`]; later years
    /// are imported with `citygrid calendar import`).
    pub fn china_default() -> Self {
        Self::new(CalendarSpec {
            utc_offset_minutes: 8 * 60,
            periods: vec![
                WorkPeriod::hm(8, 30, 12, 0).expect("valid"),
                WorkPeriod::hm(13, 30, 17, 30).expect("valid"),
            ],
            working_weekdays: vec![
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
            ],
            holidays: BTreeSet::new(),
            makeup_workdays: BTreeSet::new(),
            national_holidays: true,
        })
        .expect("the default calendar is valid")
        .with_arrangements(holidays::builtin_arrangements())
    }

    /// The plain description of this calendar.
    pub fn spec(&self) -> &CalendarSpec {
        &self.spec
    }

    /// The calendar's local UTC offset.
    pub fn offset(&self) -> FixedOffset {
        self.offset
    }

    /// Whether `date` is a working day: the spec's make-up days and holidays first, then
    /// (with `national_holidays`) the year's arrangement if imported, else its
    /// statutory days, then the weekday rule.
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        if self.spec.makeup_workdays.contains(&date) {
            return true;
        }
        if self.spec.holidays.contains(&date) {
            return false;
        }
        if self.spec.national_holidays {
            match self.arrangements.get(&date.year()) {
                Some(a) if a.makeup_workdays().contains(&date) => return true,
                Some(a) if a.days_off().contains(&date) => return false,
                Some(_) => {}
                None if holidays::is_statutory(date) => return false,
                None => {}
            }
        }
        self.spec.working_weekdays.contains(&date.weekday())
    }

    /// Working seconds in one working day (sum of the periods).
    pub fn working_seconds_per_day(&self) -> i64 {
        self.spec
            .periods
            .iter()
            .map(|p| (p.end - p.start).num_seconds())
            .sum()
    }

    /// The working intervals `[start, end)` of `date` in local time (empty on days off).
    pub fn working_intervals(&self, date: NaiveDate) -> Vec<(NaiveDateTime, NaiveDateTime)> {
        if !self.is_working_day(date) {
            return Vec::new();
        }
        self.spec
            .periods
            .iter()
            .map(|p| (date.and_time(p.start), date.and_time(p.end)))
            .collect()
    }

    /// Whether the calendar has any working time at all.
    pub fn has_working_time(&self) -> bool {
        !self.spec.periods.is_empty()
            && (!self.spec.working_weekdays.is_empty()
                || !self.spec.makeup_workdays.is_empty()
                || (self.spec.national_holidays
                    && self
                        .arrangements
                        .values()
                        .any(|a| !a.makeup_workdays().is_empty())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_specs() {
        let mut spec = WorkingCalendar::china_default().spec().clone();
        spec.periods.swap(0, 1);
        let e = WorkingCalendar::new(spec.clone()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "working period 1 (08:30:00–12:00:00) must start after the previous period ends"
        );
        spec.periods = vec![WorkPeriod::hm(9, 0, 8, 0).unwrap()];
        assert!(WorkingCalendar::new(spec.clone()).is_err());
        spec.periods = vec![WorkPeriod::hm(9, 0, 17, 0).unwrap()];
        let day = NaiveDate::from_ymd_opt(2025, 4, 27).unwrap();
        spec.makeup_workdays.insert(day);
        spec.holidays.insert(day);
        assert_eq!(
            WorkingCalendar::new(spec.clone()).unwrap_err(),
            CalendarError::HolidayAndMakeup(day)
        );
        spec.holidays.remove(&day);
        spec.utc_offset_minutes = 19 * 60;
        assert!(WorkingCalendar::new(spec).is_err());
    }

    #[test]
    fn serde_round_trip_validates() {
        let cal = WorkingCalendar::china_default();
        let json = serde_json::to_value(&cal).unwrap();
        assert_eq!(json["periods"][0]["start"], "08:30:00");
        assert_eq!(json["working_weekdays"][0], "Mon");
        assert_eq!(json["national_holidays"], true);
        let back: WorkingCalendar = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back.spec(), cal.spec());
        // a stored spec from before national_holidays existed follows them
        let mut old = json.clone();
        old.as_object_mut().unwrap().remove("national_holidays");
        let old: WorkingCalendar = serde_json::from_value(old).unwrap();
        assert!(old.spec().national_holidays);
        let mut bad = json;
        bad["periods"][0]["end"] = "07:00:00".into();
        assert!(serde_json::from_value::<WorkingCalendar>(bad).is_err());
    }

    #[test]
    fn knows_2026() {
        let cal = WorkingCalendar::china_default();
        let d = |m, day| NaiveDate::from_ymd_opt(2026, m, day).unwrap();
        // Spring Festival: Monday 16 Feb to Monday 23 Feb off; Saturdays 14 and 28 Feb worked.
        assert!(!cal.is_working_day(d(2, 16)));
        assert!(!cal.is_working_day(d(2, 23)));
        assert!(cal.is_working_day(d(2, 24)));
        assert!(cal.is_working_day(d(2, 14)));
        assert!(cal.is_working_day(d(2, 28)));
        // National Day: Thursday 1 Oct to Wednesday 7 Oct off; Sunday 20 Sep and Saturday 10 Oct worked.
        assert!(!cal.is_working_day(d(10, 7)));
        assert!(cal.is_working_day(d(9, 20)));
        assert!(cal.is_working_day(d(10, 10)));
        // An ordinary Friday and Saturday.
        assert!(cal.is_working_day(d(11, 20)));
        assert!(!cal.is_working_day(d(11, 21)));
    }

    #[test]
    fn day_rules() {
        let cal = WorkingCalendar::china_default();
        let d = |m, day| NaiveDate::from_ymd_opt(2025, m, day).unwrap();
        assert!(cal.is_working_day(d(10, 11))); // Saturday make-up
        assert!(!cal.is_working_day(d(10, 8))); // Wednesday holiday
        assert!(cal.is_working_day(d(10, 9))); // ordinary Thursday
        assert_eq!(cal.working_intervals(d(10, 8)), vec![]);
        assert_eq!(cal.working_intervals(d(10, 9)).len(), 2);
        assert!(cal.has_working_time());
    }
}
