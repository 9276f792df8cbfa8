//! Time limits, deadlines and elapsed time (domain.md §5).
//!
//! A [`TimeLimit`] is an amount and a [`TimeUnit`]. The *clock* of a case runs
//!
//! - for [`TimeUnit::UrgentHours`] and [`TimeUnit::NaturalDays`]: continuously (nights,
//!   weekends and holidays included);
//! - for [`TimeUnit::WorkingHours`] and [`TimeUnit::WorkingDays`]: only inside the working
//!   periods of working days of the [`WorkingCalendar`];
//!
//! and in every unit it stops during suspensions ([`Pause`]). A limit is a budget of clock
//! time: `N` urgent hours = `N × 1 h`, `N` natural days = `N × 24 h`, `N` working hours =
//! `N × 1 h` of working time, and `N` working days = `N ×` the working time of one day
//! (7 h 30 min in the default calendar), so "2 working days" from Wednesday 10:00 ends on
//! the second working day after at 10:00.
//!
//! The deadline is the **earliest** instant at which the clock has used the whole budget:
//! a budget that runs out exactly at 12:00 gives 12:00, not 13:30. A case is overdue when
//! the current instant is after the deadline ([`is_overdue`]).
//!
//! ```
//! use chrono::DateTime;
//! use citygrid_grid_mgmt::calendar::WorkingCalendar;
//! use citygrid_grid_mgmt::deadline::{deadline, TimeLimit};
//!
//! let cal = WorkingCalendar::china_default();
//! // Friday 16:00 + 2 working hours: 1.5 h on Friday, then 0.5 h on Monday
//! let start = DateTime::parse_from_rfc3339("2025-05-09T16:00:00+08:00").unwrap();
//! let due = deadline(start, TimeLimit::working_hours(2), &cal, &[]).unwrap();
//! assert_eq!(due.to_rfc3339(), "2025-05-12T09:00:00+08:00");
//! ```

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, NaiveDateTime, TimeZone};
use serde::{Deserialize, Serialize};

use crate::calendar::WorkingCalendar;

/// The unit of a time limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeUnit {
    /// Continuous hours (紧急时限): nights and holidays count.
    UrgentHours,
    /// Hours of working time of the calendar.
    WorkingHours,
    /// Working days of the calendar (each worth one day's working time).
    WorkingDays,
    /// Continuous 24-hour days.
    NaturalDays,
}

impl TimeUnit {
    /// Whether the clock of this unit follows the working calendar.
    pub fn uses_calendar(self) -> bool {
        matches!(self, TimeUnit::WorkingHours | TimeUnit::WorkingDays)
    }
}

/// A time limit: an amount of a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TimeLimit {
    /// How many units.
    pub amount: u32,
    /// Which unit.
    pub unit: TimeUnit,
}

impl TimeLimit {
    /// `n` continuous hours.
    pub const fn urgent_hours(n: u32) -> Self {
        Self {
            amount: n,
            unit: TimeUnit::UrgentHours,
        }
    }
    /// `n` working hours.
    pub const fn working_hours(n: u32) -> Self {
        Self {
            amount: n,
            unit: TimeUnit::WorkingHours,
        }
    }
    /// `n` working days.
    pub const fn working_days(n: u32) -> Self {
        Self {
            amount: n,
            unit: TimeUnit::WorkingDays,
        }
    }
    /// `n` natural days.
    pub const fn natural_days(n: u32) -> Self {
        Self {
            amount: n,
            unit: TimeUnit::NaturalDays,
        }
    }

    /// The clock-time budget of this limit under `calendar`.
    ///
    /// ```
    /// # use citygrid_grid_mgmt::{calendar::WorkingCalendar, deadline::TimeLimit};
    /// let cal = WorkingCalendar::china_default();
    /// assert_eq!(TimeLimit::working_days(2).budget(&cal).num_minutes(), 2 * 450);
    /// assert_eq!(TimeLimit::natural_days(1).budget(&cal).num_hours(), 24);
    /// ```
    pub fn budget(&self, calendar: &WorkingCalendar) -> Duration {
        let n = i64::from(self.amount);
        Duration::seconds(match self.unit {
            TimeUnit::UrgentHours | TimeUnit::WorkingHours => n * 3600,
            TimeUnit::NaturalDays => n * 86_400,
            TimeUnit::WorkingDays => n * calendar.working_seconds_per_day(),
        })
    }
}

/// A suspension (挂账) interval: the clock stops from `from` to `to`.
///
/// For a suspension that is still going on, pass `to = now` (the deadline is then the one
/// the case would have if it resumed now).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pause {
    /// Start of the suspension.
    pub from: DateTime<FixedOffset>,
    /// End of the suspension (resume).
    pub to: DateTime<FixedOffset>,
}

/// Why a deadline cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeadlineError {
    /// A pause that ends before it starts.
    #[error("suspension ends ({to}) before it starts ({from})")]
    BadPause {
        /// Start.
        from: DateTime<FixedOffset>,
        /// End.
        to: DateTime<FixedOffset>,
    },
    /// The calendar has no working time, so working limits never run out.
    #[error("the working calendar has no working time (no periods or no working days)")]
    NoWorkingTime,
    /// The deadline would be more than 20 years after the start.
    #[error("the deadline is more than 20 years after the start; check the time limit")]
    TooFar,
}

/// The longest scan, in days.
const MAX_DAYS: i64 = 20 * 366;

type Span = (NaiveDateTime, NaiveDateTime);

fn local(t: DateTime<FixedOffset>, cal: &WorkingCalendar) -> NaiveDateTime {
    t.with_timezone(&cal.offset()).naive_local()
}

/// Pauses in calendar-local time, sorted and merged.
fn local_pauses(pauses: &[Pause], cal: &WorkingCalendar) -> Result<Vec<Span>, DeadlineError> {
    let mut v = Vec::with_capacity(pauses.len());
    for p in pauses {
        if p.to < p.from {
            return Err(DeadlineError::BadPause {
                from: p.from,
                to: p.to,
            });
        }
        v.push((local(p.from, cal), local(p.to, cal)));
    }
    v.sort();
    let mut merged: Vec<Span> = Vec::with_capacity(v.len());
    for (a, b) in v {
        match merged.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    Ok(merged)
}

/// The running spans of one day for a unit (before pauses).
fn day_spans(date: NaiveDate, unit: TimeUnit, cal: &WorkingCalendar) -> Vec<Span> {
    if unit.uses_calendar() {
        cal.working_intervals(date)
    } else {
        let start = date.and_time(chrono::NaiveTime::MIN);
        match start.checked_add_signed(Duration::days(1)) {
            Some(end) => vec![(start, end)],
            None => Vec::new(),
        }
    }
}

/// `span` minus the (sorted, merged) pauses.
fn minus_pauses(span: Span, pauses: &[Span], out: &mut Vec<Span>) {
    let (mut a, b) = span;
    for &(pa, pb) in pauses {
        if pb <= a {
            continue;
        }
        if pa >= b {
            break;
        }
        if pa > a {
            out.push((a, pa));
        }
        a = a.max(pb);
        if a >= b {
            return;
        }
    }
    if a < b {
        out.push((a, b));
    }
}

/// The clock-running spans intersecting `[from, ∞)`, day by day, for up to `MAX_DAYS`.
fn running_spans<'a>(
    from: NaiveDateTime,
    unit: TimeUnit,
    cal: &'a WorkingCalendar,
    pauses: &'a [Span],
) -> impl Iterator<Item = Span> + 'a {
    let first = from.date();
    (0..MAX_DAYS).flat_map(move |i| {
        let mut out = Vec::new();
        if let Some(date) = first.checked_add_signed(Duration::days(i)) {
            for (a, b) in day_spans(date, unit, cal) {
                if b > from {
                    minus_pauses((a.max(from), b), pauses, &mut out);
                }
            }
        }
        out
    })
}

/// The deadline of `limit` counted from `start` under `calendar`, with the clock stopped
/// during `pauses`. The result is in the offset of `start`.
///
/// Starting outside working time (night, weekend, holiday, lunch break) the working clock
/// starts at the next working period.
pub fn deadline(
    start: DateTime<FixedOffset>,
    limit: TimeLimit,
    calendar: &WorkingCalendar,
    pauses: &[Pause],
) -> Result<DateTime<FixedOffset>, DeadlineError> {
    advance(start, limit.budget(calendar), limit.unit, calendar, pauses)
}

/// The instant at which `budget` of `unit` clock time (working time for working units,
/// continuous time otherwise) has run from `start`, with the clock stopped during
/// `pauses`: [`deadline`] for a budget that is not a whole number of units, e.g. the
/// time a suspended case had left when it was suspended.
///
/// ```
/// # use chrono::{DateTime, Duration};
/// # use citygrid_grid_mgmt::{calendar::WorkingCalendar, deadline::{advance, TimeUnit}};
/// let cal = WorkingCalendar::china_default();
/// // Friday 2025-03-07 11:00 (+08:00) + 90 working minutes: 60 before lunch, 30 after
/// let start = DateTime::parse_from_rfc3339("2025-03-07T11:00:00+08:00").unwrap();
/// let t = advance(start, Duration::minutes(90), TimeUnit::WorkingHours, &cal, &[]).unwrap();
/// assert_eq!(t.to_rfc3339(), "2025-03-07T14:00:00+08:00");
/// ```
pub fn advance(
    start: DateTime<FixedOffset>,
    budget: Duration,
    unit: TimeUnit,
    calendar: &WorkingCalendar,
    pauses: &[Pause],
) -> Result<DateTime<FixedOffset>, DeadlineError> {
    if unit.uses_calendar() && !calendar.has_working_time() {
        return Err(DeadlineError::NoWorkingTime);
    }
    let pauses = local_pauses(pauses, calendar)?;
    let mut remaining = budget;
    if remaining <= Duration::zero() {
        return Ok(start);
    }
    let from = local(start, calendar);
    for (a, b) in running_spans(from, unit, calendar, &pauses) {
        let len = b - a;
        if remaining <= len {
            let naive = a
                .checked_add_signed(remaining)
                .ok_or(DeadlineError::TooFar)?;
            let t = calendar
                .offset()
                .from_local_datetime(&naive)
                .single()
                .ok_or(DeadlineError::TooFar)?;
            return Ok(t.with_timezone(&start.timezone()));
        }
        remaining -= len;
    }
    Err(DeadlineError::TooFar)
}

/// The clock time of `unit` that ran between `from` and `to` (zero if `to <= from`):
/// working time for working units, continuous time otherwise, minus `pauses`.
///
/// This is the inverse of [`deadline`]: `elapsed(start, deadline(start, l), l.unit) ==
/// l.budget()`.
pub fn elapsed(
    from: DateTime<FixedOffset>,
    to: DateTime<FixedOffset>,
    unit: TimeUnit,
    calendar: &WorkingCalendar,
    pauses: &[Pause],
) -> Result<Duration, DeadlineError> {
    if to <= from {
        return Ok(Duration::zero());
    }
    let pauses = local_pauses(pauses, calendar)?;
    let (f, t) = (local(from, calendar), local(to, calendar));
    let mut total = Duration::zero();
    for (a, b) in running_spans(f, unit, calendar, &pauses) {
        if a >= t {
            break;
        }
        total += b.min(t) - a;
    }
    Ok(total)
}

/// The clock time left before the deadline at `now` (negative once overdue: how much
/// clock time the case is late by).
pub fn remaining(
    start: DateTime<FixedOffset>,
    limit: TimeLimit,
    now: DateTime<FixedOffset>,
    calendar: &WorkingCalendar,
    pauses: &[Pause],
) -> Result<Duration, DeadlineError> {
    Ok(limit.budget(calendar) - elapsed(start, now, limit.unit, calendar, pauses)?)
}

/// Whether a case started at `start` with `limit` is overdue at `now` (`now` after the
/// deadline; a case finished exactly at the deadline is on time).
pub fn is_overdue(
    start: DateTime<FixedOffset>,
    limit: TimeLimit,
    now: DateTime<FixedOffset>,
    calendar: &WorkingCalendar,
    pauses: &[Pause],
) -> Result<bool, DeadlineError> {
    Ok(now > deadline(start, limit, calendar, pauses)?)
}

#[cfg(test)]
mod tests {
    //! All expected instants are worked out by hand with the default calendar:
    //! 08:30–12:00 + 13:30–17:30 (7.5 h/day), Mon–Fri, 2025 Chinese holidays:
    //! Labour Day Thu 2025-05-01 … Mon 2025-05-05 off, Sun 2025-04-27 a make-up working day.
    use super::*;
    use crate::calendar::{CalendarSpec, WorkPeriod};

    fn t(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }
    fn cal() -> WorkingCalendar {
        WorkingCalendar::china_default()
    }
    fn due(start: &str, limit: TimeLimit, pauses: &[Pause]) -> String {
        deadline(t(start), limit, &cal(), pauses)
            .unwrap()
            .to_rfc3339()
    }

    #[test]
    fn working_hours_cross_weekend_makeup_day_and_holiday() {
        // Fri 04-25 16:00–17:30 = 1.5 h (left 34.5); Sat 04-26 off;
        // Sun 04-27 make-up day 7.5 h (left 27); Mon 04-28 7.5 (19.5); Tue 04-29 7.5 (12);
        // Wed 04-30 7.5 (4.5); Thu 05-01 … Mon 05-05 holiday (05-03/04 weekend);
        // Tue 05-06 08:30–12:00 3.5 h (left 1) → 13:30 + 1 h = 14:30.
        assert_eq!(
            due(
                "2025-04-25T16:00:00+08:00",
                TimeLimit::working_hours(36),
                &[]
            ),
            "2025-05-06T14:30:00+08:00"
        );
        // one hour less ends exactly at the end of the morning period: 12:00, not 13:30
        assert_eq!(
            due(
                "2025-04-25T16:00:00+08:00",
                TimeLimit::working_hours(35),
                &[]
            ),
            "2025-05-06T12:00:00+08:00"
        );
        // and elapsed() inverts it
        let e = elapsed(
            t("2025-04-25T16:00:00+08:00"),
            t("2025-05-06T14:30:00+08:00"),
            TimeUnit::WorkingHours,
            &cal(),
            &[],
        )
        .unwrap();
        assert_eq!(e, Duration::hours(36));
    }

    #[test]
    fn start_outside_working_hours() {
        // Friday evening: next working time is the make-up Sunday 08:30
        assert_eq!(
            due(
                "2025-04-25T18:00:00+08:00",
                TimeLimit::working_hours(1),
                &[]
            ),
            "2025-04-27T09:30:00+08:00"
        );
        // ordinary Saturday → Monday 08:30 + 2 h
        assert_eq!(
            due(
                "2025-05-10T10:00:00+08:00",
                TimeLimit::working_hours(2),
                &[]
            ),
            "2025-05-12T10:30:00+08:00"
        );
        // lunch break → afternoon period
        assert_eq!(
            due(
                "2025-05-12T12:30:00+08:00",
                TimeLimit::working_hours(1),
                &[]
            ),
            "2025-05-12T14:30:00+08:00"
        );
        // early morning
        assert_eq!(
            due(
                "2025-05-12T06:00:00+08:00",
                TimeLimit::working_hours(3),
                &[]
            ),
            "2025-05-12T11:30:00+08:00"
        );
    }

    #[test]
    fn start_in_another_offset_gives_the_same_instant() {
        // 08:00Z is 16:00 in China; result keeps the caller's offset
        let d = deadline(
            t("2025-04-25T08:00:00Z"),
            TimeLimit::working_hours(36),
            &cal(),
            &[],
        )
        .unwrap();
        assert_eq!(d.to_rfc3339(), "2025-05-06T06:30:00+00:00");
    }

    #[test]
    fn working_days() {
        // Wed 04-30 10:00: 2 working days = 15 h. Wed 10–12 (2) + 13:30–17:30 (4) = 6, left 9;
        // Tue 05-06 7.5, left 1.5; Wed 05-07 08:30 + 1.5 h = 10:00 (same time 2 working days on)
        assert_eq!(
            due("2025-04-30T10:00:00+08:00", TimeLimit::working_days(2), &[]),
            "2025-05-07T10:00:00+08:00"
        );
    }

    #[test]
    fn suspension_pauses_the_clock() {
        // Mon 05-12 09:00, 8 working hours, suspended 10:00–14:00.
        // Runs 09:00–10:00 (1 h), 14:00–17:30 (3.5 h) = 4.5, left 3.5 → Tue 08:30–12:00.
        let p = [Pause {
            from: t("2025-05-12T10:00:00+08:00"),
            to: t("2025-05-12T14:00:00+08:00"),
        }];
        assert_eq!(
            due("2025-05-12T09:00:00+08:00", TimeLimit::working_hours(8), &p),
            "2025-05-13T12:00:00+08:00"
        );
        // without the pause: 09–12 (3) + 13:30–17:30 (4) = 7, left 1 → Tue 09:30
        assert_eq!(
            due(
                "2025-05-12T09:00:00+08:00",
                TimeLimit::working_hours(8),
                &[]
            ),
            "2025-05-13T09:30:00+08:00"
        );
        // elapsed over the day minus the pause
        let e = elapsed(
            t("2025-05-12T09:00:00+08:00"),
            t("2025-05-12T18:00:00+08:00"),
            TimeUnit::WorkingHours,
            &cal(),
            &p,
        )
        .unwrap();
        assert_eq!(e, Duration::minutes(270));
        // overlapping and unsorted pauses are merged; a reversed one is an error
        let p2 = [
            Pause {
                from: t("2025-05-12T11:00:00+08:00"),
                to: t("2025-05-12T14:00:00+08:00"),
            },
            p[0],
        ];
        assert_eq!(
            due(
                "2025-05-12T09:00:00+08:00",
                TimeLimit::working_hours(8),
                &p2
            ),
            "2025-05-13T12:00:00+08:00"
        );
        let bad = [Pause {
            from: p[0].to,
            to: p[0].from,
        }];
        assert!(matches!(
            deadline(
                t("2025-05-12T09:00:00+08:00"),
                TimeLimit::working_hours(1),
                &cal(),
                &bad
            ),
            Err(DeadlineError::BadPause { .. })
        ));
    }

    #[test]
    fn urgent_hours_and_natural_days_ignore_the_calendar() {
        // Sat 22:00 + 4 continuous hours, paused 23:00–01:00 → Sun 04:00
        let p = [Pause {
            from: t("2025-05-10T23:00:00+08:00"),
            to: t("2025-05-11T01:00:00+08:00"),
        }];
        assert_eq!(
            due("2025-05-10T22:00:00+08:00", TimeLimit::urgent_hours(4), &p),
            "2025-05-11T04:00:00+08:00"
        );
        // through the Labour Day holiday: 3 × 24 h
        assert_eq!(
            due("2025-04-30T10:00:00+08:00", TimeLimit::natural_days(3), &[]),
            "2025-05-03T10:00:00+08:00"
        );
        assert_eq!(
            due("2025-04-30T10:00:00+08:00", TimeLimit::urgent_hours(0), &[]),
            "2025-04-30T10:00:00+08:00"
        );
    }

    #[test]
    fn overdue_and_remaining() {
        let start = t("2025-04-25T16:00:00+08:00");
        let l = TimeLimit::working_hours(36);
        let c = cal();
        // exactly at the deadline: on time; one minute later: overdue
        assert!(!is_overdue(start, l, t("2025-05-06T14:30:00+08:00"), &c, &[]).unwrap());
        assert!(is_overdue(start, l, t("2025-05-06T14:31:00+08:00"), &c, &[]).unwrap());
        // a deadline at 17:30 Friday is overdue on Saturday although no working time passed
        let l2 = TimeLimit::working_hours(1);
        let s2 = t("2025-05-09T16:30:00+08:00");
        assert!(is_overdue(s2, l2, t("2025-05-10T09:00:00+08:00"), &c, &[]).unwrap());
        assert_eq!(
            remaining(s2, l2, t("2025-05-10T09:00:00+08:00"), &c, &[]).unwrap(),
            Duration::zero()
        );
        // Mon 05-12 10:00 is 1.5 working hours past it
        assert_eq!(
            remaining(s2, l2, t("2025-05-12T10:00:00+08:00"), &c, &[]).unwrap(),
            Duration::minutes(-90)
        );
        assert_eq!(
            remaining(start, l, t("2025-04-25T17:00:00+08:00"), &c, &[]).unwrap(),
            Duration::hours(35)
        );
    }

    #[test]
    fn calendar_without_working_time_is_an_error_not_a_hang() {
        let c = WorkingCalendar::new(CalendarSpec {
            utc_offset_minutes: 480,
            periods: vec![WorkPeriod::hm(9, 0, 17, 0).unwrap()],
            working_weekdays: vec![],
            holidays: Default::default(),
            makeup_workdays: Default::default(),
            national_holidays: true,
        })
        .unwrap();
        assert_eq!(
            deadline(
                t("2025-05-12T09:00:00+08:00"),
                TimeLimit::working_hours(1),
                &c,
                &[]
            ),
            Err(DeadlineError::NoWorkingTime)
        );
        // an absurd amount is refused quickly
        assert_eq!(
            deadline(
                t("2025-05-12T09:00:00+08:00"),
                TimeLimit::natural_days(u32::MAX),
                &cal(),
                &[]
            ),
            Err(DeadlineError::TooFar)
        );
    }
}
