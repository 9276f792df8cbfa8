//! The reference data every intake and workflow step needs, and the rules read from it:
//! which time limit applies to a category and stage ([`Reference::time_limit`], most
//! specific scope wins, [`scope_rank`]), and the stage deadlines computed from it
//! ([`Reference::stage_deadline`], [`Reference::resumed_deadline`]).
//!
//! The data itself is read from the database by `citygrid-store` (`reference::load`);
//! this module holds only values and rules.
//!
//! ```
//! use chrono::DateTime;
//! use citygrid_grid_mgmt::catalog::{Catalog, Stage};
//! use citygrid_grid_mgmt::deadline::TimeLimit;
//! use citygrid_grid_mgmt::reference::{LimitRule, Reference};
//!
//! let mut reference = Reference::new(Catalog::default_seed());
//! reference.limits.push(LimitRule {
//!     scope: "E".into(),
//!     stage: Stage::Handling,
//!     limit: TimeLimit::working_hours(2),
//! });
//! let code = "E0505".parse().unwrap();
//! // Friday 16:00 + 2 working hours: Monday 09:00
//! let from = DateTime::parse_from_rfc3339("2025-05-09T16:00:00+08:00").unwrap();
//! let due = reference.stage_deadline(&code, Stage::Handling, from).unwrap();
//! assert_eq!(due.to_rfc3339(), "2025-05-12T09:00:00+08:00");
//! ```

use std::collections::HashMap;

use chrono::{DateTime, FixedOffset};

use crate::calendar::WorkingCalendar;
use crate::catalog::{Catalog, Category, Stage};
use crate::codes::CategoryCode;
use crate::deadline::{self, DeadlineError, TimeLimit, TimeUnit};
use crate::routing::{RoutingRule, TerritorialDefault};

/// One time-limit rule: scope `*`, `P`/`E`, `P01` or `P0101`.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitRule {
    /// The scope.
    pub scope: String,
    /// The stage.
    pub stage: Stage,
    /// The limit.
    pub limit: TimeLimit,
}

/// A department's delivery channel (a webhook of its own system, fed through the
/// outbox).
#[derive(Debug, Clone, PartialEq)]
pub struct Channel {
    /// Webhook URL.
    pub url: String,
    /// Secret for the signature header.
    pub secret: Option<String>,
}

/// The reference data of an installation.
#[derive(Debug, Clone)]
pub struct Reference {
    /// Major classes, active categories and departments as a catalogue.
    pub catalog: Catalog,
    /// Time-limit rules.
    pub limits: Vec<LimitRule>,
    /// Active routing rules.
    pub rules: Vec<RoutingRule>,
    /// Street defaults.
    pub defaults: Vec<TerritorialDefault>,
    /// The `default` working calendar (China's default when none is stored).
    pub calendar: WorkingCalendar,
    /// Webhooks by department.
    pub channels: HashMap<String, Channel>,
}

/// Parses a stage name.
pub fn parse_stage(s: &str) -> Option<Stage> {
    Some(match s {
        "registration" => Stage::Registration,
        "dispatch" => Stage::Dispatch,
        "handling" => Stage::Handling,
        "checking" => Stage::Checking,
        _ => return None,
    })
}

/// The name of a stage.
pub fn stage_name(s: Stage) -> &'static str {
    match s {
        Stage::Registration => "registration",
        Stage::Dispatch => "dispatch",
        Stage::Handling => "handling",
        Stage::Checking => "checking",
    }
}

/// Parses a time unit name.
pub fn parse_unit(s: &str) -> Option<TimeUnit> {
    Some(match s {
        "urgent_hours" => TimeUnit::UrgentHours,
        "working_hours" => TimeUnit::WorkingHours,
        "working_days" => TimeUnit::WorkingDays,
        "natural_days" => TimeUnit::NaturalDays,
        _ => return None,
    })
}

/// The name of a time unit.
pub fn unit_name(u: TimeUnit) -> &'static str {
    match u {
        TimeUnit::UrgentHours => "urgent_hours",
        TimeUnit::WorkingHours => "working_hours",
        TimeUnit::WorkingDays => "working_days",
        TimeUnit::NaturalDays => "natural_days",
    }
}

/// How specific a limit scope is for `code` (None: does not apply): the category
/// itself 4, its major class (`P01`) 3, its kind (`P`/`E`) 2, `*` 1.
pub fn scope_rank(scope: &str, code: &CategoryCode) -> Option<u8> {
    let full = code.to_string();
    if scope == full {
        Some(4)
    } else if scope == full[..3].to_string() {
        Some(3)
    } else if scope == full[..1].to_string() {
        Some(2)
    } else if scope == "*" {
        Some(1)
    } else {
        None
    }
}

impl Reference {
    /// Reference data with `catalog`, no limit or routing rules, no street defaults,
    /// China's default calendar and no delivery channels.
    pub fn new(catalog: Catalog) -> Self {
        Self {
            catalog,
            limits: Vec::new(),
            rules: Vec::new(),
            defaults: Vec::new(),
            calendar: WorkingCalendar::china_default(),
            channels: HashMap::new(),
        }
    }

    /// The time limit of `stage` for `code`: the most specific rule, else the built-in
    /// default of the catalogue.
    pub fn time_limit(&self, code: &CategoryCode, stage: Stage) -> TimeLimit {
        self.limits
            .iter()
            .filter(|r| r.stage == stage)
            .filter_map(|r| scope_rank(&r.scope, code).map(|rank| (rank, r.limit)))
            .max_by_key(|(rank, _)| *rank)
            .map(|(_, l)| l)
            .unwrap_or_else(|| self.catalog.default_limits.get(stage))
    }

    /// A category by code.
    pub fn category(&self, code: &CategoryCode) -> Option<&Category> {
        self.catalog.category(code)
    }

    /// The name of a department.
    pub fn department_name(&self, code: &str) -> Option<String> {
        self.catalog.department(code).map(|d| d.name_zh.clone())
    }

    /// The deadline of `stage` for `category` counted from `from` (no pauses).
    pub fn stage_deadline(
        &self,
        category: &CategoryCode,
        stage: Stage,
        from: DateTime<FixedOffset>,
    ) -> Result<DateTime<FixedOffset>, DeadlineError> {
        let limit = self.time_limit(category, stage);
        deadline::deadline(from, limit, &self.calendar, &[])
    }

    /// The handling deadline `due` after a suspension from `since` to `until`: the clock
    /// time (of the handling limit's unit) that was left at `since` counts again from
    /// `until`. A deadline already passed when the case was suspended stays.
    pub fn resumed_deadline(
        &self,
        category: &CategoryCode,
        due: DateTime<FixedOffset>,
        since: DateTime<FixedOffset>,
        until: DateTime<FixedOffset>,
    ) -> Result<DateTime<FixedOffset>, DeadlineError> {
        if due <= since {
            return Ok(due);
        }
        let unit = self.time_limit(category, Stage::Handling).unit;
        let cal = &self.calendar;
        let left = deadline::elapsed(since, due, unit, cal, &[])?;
        deadline::advance(until, left, unit, cal, &[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    fn code(s: &str) -> CategoryCode {
        s.parse().unwrap()
    }

    fn rule(scope: &str, stage: Stage, limit: TimeLimit) -> LimitRule {
        LimitRule {
            scope: scope.into(),
            stage,
            limit,
        }
    }

    #[test]
    fn scope_ranks() {
        let c = code("P0101");
        assert_eq!(scope_rank("P0101", &c), Some(4));
        assert_eq!(scope_rank("P01", &c), Some(3));
        assert_eq!(scope_rank("P", &c), Some(2));
        assert_eq!(scope_rank("*", &c), Some(1));
        for other in [
            "E", "E01", "P02", "P0102", "E0101", "", "p0101", "P010", "**",
        ] {
            assert_eq!(scope_rank(other, &c), None, "{other:?}");
        }
        let e = code("E0505");
        assert_eq!(scope_rank("E05", &e), Some(3));
        assert_eq!(scope_rank("P05", &e), None);
    }

    #[test]
    fn the_most_specific_rule_of_the_stage_wins() {
        let mut r = Reference::new(Catalog::default_seed());
        // no rule: the catalogue's defaults
        assert_eq!(
            r.time_limit(&code("P0101"), Stage::Handling),
            r.catalog.default_limits.handling
        );
        assert_eq!(
            r.time_limit(&code("P0101"), Stage::Registration),
            TimeLimit::working_hours(1)
        );
        r.limits = vec![
            rule("*", Stage::Handling, TimeLimit::working_days(5)),
            rule("P", Stage::Handling, TimeLimit::working_days(4)),
            rule("P01", Stage::Handling, TimeLimit::working_hours(6)),
            rule("P0101", Stage::Handling, TimeLimit::urgent_hours(2)),
            rule("P0101", Stage::Checking, TimeLimit::natural_days(1)),
            rule("E05", Stage::Dispatch, TimeLimit::urgent_hours(1)),
        ];
        // the order of the rules does not matter
        for _ in 0..2 {
            let h = |c| r.time_limit(&code(c), Stage::Handling);
            assert_eq!(h("P0101"), TimeLimit::urgent_hours(2));
            assert_eq!(h("P0102"), TimeLimit::working_hours(6));
            assert_eq!(h("P0201"), TimeLimit::working_days(4));
            assert_eq!(h("E0505"), TimeLimit::working_days(5));
            // a rule of another stage does not apply
            assert_eq!(
                r.time_limit(&code("P0101"), Stage::Checking),
                TimeLimit::natural_days(1)
            );
            assert_eq!(
                r.time_limit(&code("P0102"), Stage::Checking),
                r.catalog.default_limits.checking
            );
            assert_eq!(
                r.time_limit(&code("E0505"), Stage::Dispatch),
                TimeLimit::urgent_hours(1)
            );
            assert_eq!(
                r.time_limit(&code("E0405"), Stage::Dispatch),
                r.catalog.default_limits.dispatch
            );
            r.limits.reverse();
        }
    }

    #[test]
    fn stage_deadlines_around_local_midnight() {
        let mut r = Reference::new(Catalog::default_seed());
        let c = code("P0101");
        // Monday 23:30 + 1 working hour: Tuesday 09:30
        assert_eq!(
            r.stage_deadline(&c, Stage::Dispatch, at("2025-05-12T23:30:00+08:00"))
                .unwrap(),
            at("2025-05-13T09:30:00+08:00")
        );
        // the same instant given in UTC: the answer keeps the caller's offset
        assert_eq!(
            r.stage_deadline(&c, Stage::Dispatch, at("2025-05-12T15:30:00+00:00"))
                .unwrap()
                .to_rfc3339(),
            "2025-05-13T01:30:00+00:00"
        );
        // Tuesday 00:10 (just after midnight) + 4 working hours: 3.5 before lunch, 0.5
        // after
        assert_eq!(
            r.stage_deadline(&c, Stage::Checking, at("2025-05-13T00:10:00+08:00"))
                .unwrap(),
            at("2025-05-13T14:00:00+08:00")
        );
        // Monday 23:30 + 3 working days: Thursday 17:30
        assert_eq!(
            r.stage_deadline(&c, Stage::Handling, at("2025-05-12T23:30:00+08:00"))
                .unwrap(),
            at("2025-05-15T17:30:00+08:00")
        );
        // New Year's Eve 23:30 + 1 working hour: 1-3 January 2026 are holidays, Sunday
        // 4 January a make-up working day
        assert_eq!(
            r.stage_deadline(&c, Stage::Registration, at("2025-12-31T23:30:00+08:00"))
                .unwrap(),
            at("2026-01-04T09:30:00+08:00")
        );
        // urgent hours run through the night
        r.limits
            .push(rule("P01", Stage::Registration, TimeLimit::urgent_hours(2)));
        assert_eq!(
            r.stage_deadline(&c, Stage::Registration, at("2025-12-31T23:30:00+08:00"))
                .unwrap(),
            at("2026-01-01T01:30:00+08:00")
        );
        // a calendar without working time: no deadline for working limits
        let mut spec = r.calendar.spec().clone();
        spec.working_weekdays.clear();
        spec.makeup_workdays.clear();
        r.calendar = WorkingCalendar::new(spec).unwrap();
        assert_eq!(
            r.stage_deadline(&c, Stage::Dispatch, at("2025-05-12T23:30:00+08:00")),
            Err(DeadlineError::NoWorkingTime)
        );
    }

    #[test]
    fn suspension_moves_the_handling_deadline_by_the_time_it_lasted() {
        let mut r = Reference::new(Catalog::default_seed());
        let c = code("P0101");
        let due = at("2025-05-15T17:30:00+08:00");
        let since = at("2025-05-13T10:00:00+08:00");
        // 21 working hours were left (Tue 6, Wed 7.5, Thu 7.5); resumed on Friday
        // 23:50 they run from Monday 08:30: Mon 7.5, Tue 7.5, Wed 6 → Wed 16:00
        assert_eq!(
            r.resumed_deadline(&c, due, since, at("2025-05-16T23:50:00+08:00"))
                .unwrap(),
            at("2025-05-21T16:00:00+08:00")
        );
        // resumed the minute after midnight before National Day: 1-8 October are
        // holidays, Saturday 11 October a make-up working day
        assert_eq!(
            r.resumed_deadline(&c, due, since, at("2025-10-01T00:01:00+08:00"))
                .unwrap(),
            at("2025-10-11T16:00:00+08:00")
        );
        // resumed at once: nothing moves
        assert_eq!(r.resumed_deadline(&c, due, since, since).unwrap(), due);
        // suspended after the deadline had passed: it stays
        let late = at("2025-05-16T09:00:00+08:00");
        assert_eq!(
            r.resumed_deadline(&c, due, late, at("2025-05-20T09:00:00+08:00"))
                .unwrap(),
            due
        );
        // with a continuous limit the nights count: 10 hours left at 20:00 on the 12th,
        // resumed at 23:00 on the 14th → 09:00 on the 15th
        r.limits
            .push(rule("P", Stage::Handling, TimeLimit::urgent_hours(48)));
        assert_eq!(
            r.resumed_deadline(
                &c,
                at("2025-05-13T06:00:00+08:00"),
                at("2025-05-12T20:00:00+08:00"),
                at("2025-05-14T23:00:00+08:00"),
            )
            .unwrap(),
            at("2025-05-15T09:00:00+08:00")
        );
        // the limit of another category's scope does not change this one's unit
        let e = code("E0505");
        assert_eq!(
            r.resumed_deadline(&e, due, since, at("2025-05-16T23:50:00+08:00"))
                .unwrap(),
            at("2025-05-21T16:00:00+08:00")
        );
    }

    #[test]
    fn names_round_trip() {
        for s in [
            Stage::Registration,
            Stage::Dispatch,
            Stage::Handling,
            Stage::Checking,
        ] {
            assert_eq!(parse_stage(stage_name(s)), Some(s));
        }
        for u in [
            TimeUnit::UrgentHours,
            TimeUnit::WorkingHours,
            TimeUnit::WorkingDays,
            TimeUnit::NaturalDays,
        ] {
            assert_eq!(parse_unit(unit_name(u)), Some(u));
            assert_eq!(serde_json::to_value(u).unwrap(), unit_name(u));
        }
        assert_eq!(parse_stage("closing"), None);
        assert_eq!(parse_unit("hours"), None);
    }
}
