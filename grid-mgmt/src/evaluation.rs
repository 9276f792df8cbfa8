//! Evaluation figures (绩效评价, domain.md §6) for a period, from plain case records.
//!
//! The work is split in two so that the city-specific parts are in one place:
//!
//! 1. [`membership`] decides, for one case and one period, which counters it adds to
//!    (is it "reported in the period", "due for handling in the period", …). Every
//!    denominator and numerator is defined there, once, with its documentation.
//! 2. [`figures`] turns the summed [`Counts`] into rates, one function per figure.
//!
//! Rates are fractions (0.75, not 75 %) and `None` when the denominator is zero. The
//! period is half-open: `from <= t < to`.
//!
//! ```
//! use chrono::DateTime;
//! use citygrid_grid_mgmt::evaluation::*;
//!
//! let t = |s| DateTime::parse_from_rfc3339(s).unwrap();
//! let period = Period { from: t("2025-05-01T00:00:00+08:00"), to: t("2025-06-01T00:00:00+08:00") };
//! let mut case = CaseRecord::new("c1", t("2025-05-05T10:00:00+08:00"));
//! case.registered_at = Some(t("2025-05-05T10:30:00+08:00"));
//! let rows = evaluate(&[case], &period, GroupBy::Department);
//! assert_eq!(rows[0].figures.registration_rate, Some(1.0));
//! assert_eq!(rows[0].figures.on_time_dispatch_rate, None); // nothing dispatched
//! ```

use std::collections::BTreeMap;
use std::ops::AddAssign;

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

use crate::codes::Place;

/// A half-open period `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    /// Start (inclusive).
    pub from: DateTime<FixedOffset>,
    /// End (exclusive).
    pub to: DateTime<FixedOffset>,
}

impl Period {
    /// Whether `t` lies in the period.
    pub fn contains(&self, t: DateTime<FixedOffset>) -> bool {
        self.from <= t && t < self.to
    }
    fn contains_opt(&self, t: Option<DateTime<FixedOffset>>) -> bool {
        t.is_some_and(|t| self.contains(t))
    }
}

/// The people who took part in a case, for grouping by person.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CasePersons {
    /// Who reported it (inspector or staff taking a public report).
    pub reporter: Option<String>,
    /// The acceptor who registered it.
    pub acceptor: Option<String>,
    /// The dispatcher.
    pub dispatcher: Option<String>,
    /// The department operator who handled it.
    pub handler: Option<String>,
}

/// One case as the evaluation sees it (the caller derives it from the case and its
/// events; deadlines are the final ones, after extensions and suspensions).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseRecord {
    /// Case id.
    pub id: String,
    /// Where the case is.
    pub place: Place,
    /// The department the case is (or was last) assigned to.
    pub department: Option<String>,
    /// People involved.
    pub persons: CasePersons,
    /// When it was reported.
    pub reported_at: DateTime<FixedOffset>,
    /// When it was registered (立案); `None` if voided or not yet.
    pub registered_at: Option<DateTime<FixedOffset>>,
    /// When it was first dispatched.
    pub dispatched_at: Option<DateTime<FixedOffset>>,
    /// Dispatch deadline.
    pub dispatch_deadline: Option<DateTime<FixedOffset>>,
    /// Handling deadline (final, after extensions).
    pub handling_deadline: Option<DateTime<FixedOffset>>,
    /// When the department last reported it handled.
    pub handled_at: Option<DateTime<FixedOffset>>,
    /// Deadline for closing the case.
    pub closing_deadline: Option<DateTime<FixedOffset>>,
    /// When it was closed.
    pub closed_at: Option<DateTime<FixedOffset>>,
    /// Whether a department ever returned it (wrong dispatch).
    pub returned: bool,
    /// Failed checks (返工次数).
    pub rework_count: u32,
    /// Whether an extension was approved.
    pub extended: bool,
    /// Whether it is suspended at the end of the evaluated period.
    pub suspended_at_period_end: bool,
}

impl CaseRecord {
    /// A record reported at `reported_at` with nothing else known.
    pub fn new(id: &str, reported_at: DateTime<FixedOffset>) -> Self {
        Self {
            id: id.into(),
            place: Place::default(),
            department: None,
            persons: CasePersons::default(),
            reported_at,
            registered_at: None,
            dispatched_at: None,
            dispatch_deadline: None,
            handling_deadline: None,
            handled_at: None,
            closing_deadline: None,
            closed_at: None,
            returned: false,
            rework_count: 0,
            extended: false,
            suspended_at_period_end: false,
        }
    }
}

/// The counters every figure is computed from (see [`membership`] for their meaning).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Counts {
    /// Reported in the period.
    pub reported: u64,
    /// Of those, registered before the period end.
    pub registered: u64,
    /// Dispatched (first dispatch) in the period.
    pub dispatched: u64,
    /// Of those, dispatched by the dispatch deadline.
    pub dispatched_in_time: u64,
    /// Of those, never returned.
    pub dispatched_without_return: u64,
    /// Due for handling in the period.
    pub due_for_handling: u64,
    /// Of those, handled by the handling deadline.
    pub handled_in_time: u64,
    /// Of those, with an approved extension.
    pub extended: u64,
    /// Handled (last feedback) in the period.
    pub handled: u64,
    /// Failed checks of the cases handled in the period.
    pub failed_checks: u64,
    /// Due for closing in the period.
    pub due_for_closing: u64,
    /// Of those, suspended at the period end.
    pub due_for_closing_suspended: u64,
    /// Of those not suspended, closed before the period end.
    pub closed: u64,
    /// Of those, closed by the closing deadline.
    pub closed_in_time: u64,
    /// Cases suspended at the period end.
    pub suspended: u64,
}

impl AddAssign for Counts {
    fn add_assign(&mut self, o: Counts) {
        self.reported += o.reported;
        self.registered += o.registered;
        self.dispatched += o.dispatched;
        self.dispatched_in_time += o.dispatched_in_time;
        self.dispatched_without_return += o.dispatched_without_return;
        self.due_for_handling += o.due_for_handling;
        self.handled_in_time += o.handled_in_time;
        self.extended += o.extended;
        self.handled += o.handled;
        self.failed_checks += o.failed_checks;
        self.due_for_closing += o.due_for_closing;
        self.due_for_closing_suspended += o.due_for_closing_suspended;
        self.closed += o.closed;
        self.closed_in_time += o.closed_in_time;
        self.suspended += o.suspended;
    }
}

/// Which counters of one case belong to which stage (for grouping by person).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StageCounts {
    /// reported, registered — credited to the reporter.
    pub intake: Counts,
    /// dispatched, in time, without return, suspended — credited to the dispatcher.
    pub dispatch: Counts,
    /// due for handling, in time, extended, handled, failed checks — to the handler.
    pub handling: Counts,
    /// due for closing, suspended, closed, in time — credited to the acceptor.
    pub closing: Counts,
}

/// The definitions of every counter, in one place.
pub mod membership {
    use super::*;

    /// The instant a stage "falls due": the earlier of its completion and its deadline
    /// (whichever exist). A case thus falls due in exactly one period: the one where it
    /// was finished early, or the one where its deadline passed.
    pub fn due_instant(
        done: Option<DateTime<FixedOffset>>,
        deadline: Option<DateTime<FixedOffset>>,
    ) -> Option<DateTime<FixedOffset>> {
        match (done, deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Done by the deadline (`done <= deadline`; no deadline counts as in time).
    pub fn in_time(
        done: Option<DateTime<FixedOffset>>,
        deadline: Option<DateTime<FixedOffset>>,
    ) -> bool {
        match (done, deadline) {
            (Some(d), Some(l)) => d <= l,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }

    /// The counters one case adds for one period, by stage:
    ///
    /// - **reported**: `reported_at` in the period; **registered**: reported in the period
    ///   and registered before the period end.
    /// - **dispatched**: first dispatch in the period; **in time**: by the dispatch
    ///   deadline; **without return**: never returned by a department.
    /// - **due for handling**: dispatched, and [`due_instant`]`(handled_at,
    ///   handling_deadline)` in the period; **handled in time**: of those, handled by the
    ///   deadline; **extended**: of those, with an approved extension.
    /// - **handled**: `handled_at` in the period; **failed checks**: the sum of their
    ///   rework counts.
    /// - **due for closing**: registered, and `due_instant(closed_at, closing_deadline)`
    ///   in the period; **suspended**: of those, suspended at the period end; **closed**:
    ///   of the due and not suspended, closed before the period end; **closed in time**:
    ///   of those, by the closing deadline.
    /// - **suspended (count)**: every case suspended at the period end.
    pub fn stage_counts(r: &CaseRecord, p: &Period) -> StageCounts {
        let b = u64::from;
        let mut s = StageCounts::default();

        let reported = p.contains(r.reported_at);
        s.intake.reported = b(reported);
        s.intake.registered = b(reported && r.registered_at.is_some_and(|t| t < p.to));

        let dispatched = p.contains_opt(r.dispatched_at);
        s.dispatch.dispatched = b(dispatched);
        s.dispatch.dispatched_in_time = b(dispatched
            && (r.dispatch_deadline.is_none() || in_time(r.dispatched_at, r.dispatch_deadline)));
        s.dispatch.dispatched_without_return = b(dispatched && !r.returned);
        s.dispatch.suspended = b(r.suspended_at_period_end);

        let due_h = r.dispatched_at.is_some()
            && p.contains_opt(due_instant(r.handled_at, r.handling_deadline));
        s.handling.due_for_handling = b(due_h);
        s.handling.handled_in_time = b(due_h && in_time(r.handled_at, r.handling_deadline));
        s.handling.extended = b(due_h && r.extended);
        let handled = p.contains_opt(r.handled_at);
        s.handling.handled = b(handled);
        s.handling.failed_checks = if handled {
            u64::from(r.rework_count)
        } else {
            0
        };

        let due_c = r.registered_at.is_some()
            && p.contains_opt(due_instant(r.closed_at, r.closing_deadline));
        let susp = due_c && r.suspended_at_period_end;
        let closed = due_c && !susp && r.closed_at.is_some_and(|t| t < p.to);
        s.closing.due_for_closing = b(due_c);
        s.closing.due_for_closing_suspended = b(susp);
        s.closing.closed = b(closed);
        s.closing.closed_in_time = b(closed && in_time(r.closed_at, r.closing_deadline));
        s
    }
}

/// The figures, one function each; `None` when the denominator is zero.
pub mod figures {
    use super::Counts;

    fn ratio(n: u64, d: u64) -> Option<f64> {
        (d > 0).then(|| n as f64 / d as f64)
    }

    /// 立案率 registration rate = registered / reported.
    pub fn registration_rate(c: &Counts) -> Option<f64> {
        ratio(c.registered, c.reported)
    }
    /// 按时派遣率 on-time dispatch rate = dispatched in time / dispatched.
    pub fn on_time_dispatch_rate(c: &Counts) -> Option<f64> {
        ratio(c.dispatched_in_time, c.dispatched)
    }
    /// 准确派遣率 accurate dispatch rate = dispatched without return / dispatched.
    pub fn accurate_dispatch_rate(c: &Counts) -> Option<f64> {
        ratio(c.dispatched_without_return, c.dispatched)
    }
    /// 按期处置率 on-time handling rate = handled in time / due for handling.
    pub fn on_time_handling_rate(c: &Counts) -> Option<f64> {
        ratio(c.handled_in_time, c.due_for_handling)
    }
    /// 结案率 closing rate = closed / (due for closing − suspended).
    pub fn closing_rate(c: &Counts) -> Option<f64> {
        ratio(c.closed, c.due_for_closing - c.due_for_closing_suspended)
    }
    /// 按期结案率 on-time closing rate = closed in time / (due for closing − suspended).
    pub fn on_time_closing_rate(c: &Counts) -> Option<f64> {
        ratio(
            c.closed_in_time,
            c.due_for_closing - c.due_for_closing_suspended,
        )
    }
    /// 返工率 rework rate = failed checks / handled (can exceed 1: a case may fail twice).
    pub fn rework_rate(c: &Counts) -> Option<f64> {
        ratio(c.failed_checks, c.handled)
    }
    /// 延期率 extension rate = extended / due for handling.
    pub fn extension_rate(c: &Counts) -> Option<f64> {
        ratio(c.extended, c.due_for_handling)
    }
    /// 挂账数 suspended count = cases suspended at the period end.
    pub fn suspended_count(c: &Counts) -> u64 {
        c.suspended
    }
}

/// All figures of one group.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Figures {
    /// 立案率.
    pub registration_rate: Option<f64>,
    /// 按时派遣率.
    pub on_time_dispatch_rate: Option<f64>,
    /// 准确派遣率.
    pub accurate_dispatch_rate: Option<f64>,
    /// 按期处置率.
    pub on_time_handling_rate: Option<f64>,
    /// 结案率.
    pub closing_rate: Option<f64>,
    /// 按期结案率.
    pub on_time_closing_rate: Option<f64>,
    /// 返工率.
    pub rework_rate: Option<f64>,
    /// 延期率.
    pub extension_rate: Option<f64>,
    /// 挂账数.
    pub suspended_count: u64,
}

impl Figures {
    /// Every figure from the counts.
    pub fn from_counts(c: &Counts) -> Self {
        Self {
            registration_rate: figures::registration_rate(c),
            on_time_dispatch_rate: figures::on_time_dispatch_rate(c),
            accurate_dispatch_rate: figures::accurate_dispatch_rate(c),
            on_time_handling_rate: figures::on_time_handling_rate(c),
            closing_rate: figures::closing_rate(c),
            on_time_closing_rate: figures::on_time_closing_rate(c),
            rework_rate: figures::rework_rate(c),
            extension_rate: figures::extension_rate(c),
            suspended_count: figures::suspended_count(c),
        }
    }
}

/// How to group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// By the assigned department.
    Department,
    /// By unit grid code.
    Grid,
    /// By community key (admin + street + community, 12 digits).
    Community,
    /// By street key (admin + street, 9 digits).
    Street,
    /// By person: each stage is credited to the person responsible for it — intake
    /// (reported, registered) to the reporter, dispatch figures and suspensions to the
    /// dispatcher, handling figures to the handler, closing figures to the acceptor.
    Person,
}

/// The figures of one group. `key` is `None` for cases where the grouping attribute
/// is unknown (e.g. not yet dispatched when grouping by department).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupFigures {
    /// Group key.
    pub key: Option<String>,
    /// The counters.
    pub counts: Counts,
    /// The figures.
    pub figures: Figures,
}

/// The counters of a set of cases over a period, ungrouped.
pub fn total(records: &[CaseRecord], period: &Period) -> Counts {
    let mut c = Counts::default();
    for r in records {
        let s = membership::stage_counts(r, period);
        c += s.intake;
        c += s.dispatch;
        c += s.handling;
        c += s.closing;
    }
    c
}

/// The figures of `records` for `period`, grouped, sorted by key (unknown first).
/// Groups whose counters are all zero are left out.
pub fn evaluate(records: &[CaseRecord], period: &Period, by: GroupBy) -> Vec<GroupFigures> {
    let mut groups: BTreeMap<Option<String>, Counts> = BTreeMap::new();
    for r in records {
        let s = membership::stage_counts(r, period);
        let key_of = |person: &Option<String>| -> Option<String> {
            match by {
                GroupBy::Department => r.department.clone(),
                GroupBy::Grid => r.place.grid.as_ref().map(|g| g.to_string()),
                GroupBy::Community => r.place.community_key(),
                GroupBy::Street => r.place.street_key(),
                GroupBy::Person => person.clone(),
            }
        };
        let p = &r.persons;
        for (counts, person) in [
            (s.intake, &p.reporter),
            (s.dispatch, &p.dispatcher),
            (s.handling, &p.handler),
            (s.closing, &p.acceptor),
        ] {
            if counts != Counts::default() {
                *groups.entry(key_of(person)).or_default() += counts;
            }
        }
    }
    groups
        .into_iter()
        .map(|(key, counts)| GroupFigures {
            key,
            figures: Figures::from_counts(&counts),
            counts,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    //! One hand-made month with seven cases, every figure worked out by hand.
    //!
    //! Period: May 2025. Departments lighting (A, D, E), water (B, F, G), none (C).
    //!
    //! | case | reported | registered | dispatched (deadline) | handling deadline / handled | closing deadline / closed | notes |
    //! |---|---|---|---|---|---|---|
    //! | A | 05-05 | 05-05 | 05-05 11:00 (11:30) | 05-08 / 05-07 | 05-09 / 05-08 | all on time |
    //! | B | 05-10 | 05-10 | 05-10 14:00 (12:00) late | 05-20 / 05-22 late | 05-23 / 05-26 late | returned, rework 1 |
    //! | C | 05-12 | — (voided) | | | | |
    //! | D | 05-20 | 05-20 | 05-20 (23:00) | 06-10 / — | 06-12 / — | extended, suspended at end |
    //! | E | 04-25 | 04-25 | 04-26 | 05-06 / — | 05-08 / — | extended |
    //! | F | 05-28 | 05-28 | 05-29 09:00 (12:00) | 06-05 / 05-30 | 06-06 / — | rework 1 |
    //! | G | 05-15 | 05-15 | 05-15 10:00 (12:00) | 05-18 / — | 05-25 / — | suspended at end |
    use super::*;

    fn t(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(&format!("2025-{s}:00+08:00")).unwrap()
    }
    fn ot(s: &str) -> Option<DateTime<FixedOffset>> {
        Some(t(s))
    }
    fn period() -> Period {
        Period {
            from: t("05-01T00:00"),
            to: t("06-01T00:00"),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn rec(
        id: &str,
        grid: &str,
        dep: Option<&str>,
        reporter: &str,
        dispatcher: &str,
        reported: &str,
        registered: Option<&str>,
        dispatched: Option<(&str, &str)>,
        handling: Option<(&str, Option<&str>)>,
        closing: Option<(&str, Option<&str>)>,
    ) -> CaseRecord {
        let mut r = CaseRecord::new(id, t(reported));
        r.place = Place::from_grid(grid.parse().unwrap());
        r.department = dep.map(Into::into);
        r.persons = CasePersons {
            reporter: Some(reporter.into()),
            acceptor: Some("acc1".into()),
            dispatcher: Some(dispatcher.into()),
            handler: dep.map(|d| format!("h_{d}")),
        };
        r.registered_at = registered.map(t);
        if let Some((at, dl)) = dispatched {
            r.dispatched_at = ot(at);
            r.dispatch_deadline = ot(dl);
        }
        if let Some((dl, done)) = handling {
            r.handling_deadline = ot(dl);
            r.handled_at = done.map(t);
        }
        if let Some((dl, done)) = closing {
            r.closing_deadline = ot(dl);
            r.closed_at = done.map(t);
        }
        r
    }

    fn scenario() -> Vec<CaseRecord> {
        let g1 = "420102001001001";
        let g2 = "420102001001002";
        let g3 = "420102001002001";
        let g4 = "420102002001001";
        let a = rec(
            "A",
            g1,
            Some("lighting"),
            "insp1",
            "d1",
            "05-05T10:00",
            Some("05-05T10:30"),
            Some(("05-05T11:00", "05-05T11:30")),
            Some(("05-08T17:30", Some("05-07T10:00"))),
            Some(("05-09T17:30", Some("05-08T10:00"))),
        );
        let mut b = rec(
            "B",
            g2,
            Some("water"),
            "insp1",
            "d2",
            "05-10T09:00",
            Some("05-10T09:30"),
            Some(("05-10T14:00", "05-10T12:00")),
            Some(("05-20T17:30", Some("05-22T10:00"))),
            Some(("05-23T17:30", Some("05-26T10:00"))),
        );
        b.returned = true;
        b.rework_count = 1;
        let c = rec(
            "C",
            g3,
            None,
            "insp2",
            "d1",
            "05-12T09:00",
            None,
            None,
            None,
            None,
        );
        let mut d = rec(
            "D",
            g4,
            Some("lighting"),
            "insp1",
            "d1",
            "05-20T09:00",
            Some("05-20T09:30"),
            Some(("05-20T10:00", "05-20T23:00")),
            Some(("06-10T17:30", None)),
            Some(("06-12T17:30", None)),
        );
        d.extended = true;
        d.suspended_at_period_end = true;
        let mut e = rec(
            "E",
            g3,
            Some("lighting"),
            "insp1",
            "d1",
            "04-25T09:00",
            Some("04-25T09:30"),
            Some(("04-26T10:00", "04-26T12:00")),
            Some(("05-06T17:30", None)),
            Some(("05-08T17:30", None)),
        );
        e.extended = true;
        let mut f = rec(
            "F",
            g1,
            Some("water"),
            "insp2",
            "d2",
            "05-28T09:00",
            Some("05-28T09:30"),
            Some(("05-29T09:00", "05-29T12:00")),
            Some(("06-05T17:30", Some("05-30T10:00"))),
            Some(("06-06T17:30", None)),
        );
        f.rework_count = 1;
        let mut g = rec(
            "G",
            g4,
            Some("water"),
            "insp1",
            "d2",
            "05-15T09:00",
            Some("05-15T09:30"),
            Some(("05-15T10:00", "05-15T12:00")),
            Some(("05-18T17:30", None)),
            Some(("05-25T17:30", None)),
        );
        g.suspended_at_period_end = true;
        vec![a, b, c, d, e, f, g]
    }

    fn group<'a>(rows: &'a [GroupFigures], key: Option<&str>) -> &'a GroupFigures {
        rows.iter().find(|r| r.key.as_deref() == key).unwrap()
    }

    #[test]
    fn totals_every_figure() {
        let c = total(&scenario(), &period());
        // reported in May: A B C D F G (E was April) = 6; registered: A B D F G = 5
        assert_eq!((c.reported, c.registered), (6, 5));
        // dispatched in May: A B D F G = 5; in time: all but B = 4; not returned: all but B = 4
        assert_eq!(
            (
                c.dispatched,
                c.dispatched_in_time,
                c.dispatched_without_return
            ),
            (5, 4, 4)
        );
        // due for handling: A (handled 05-07), B (deadline 05-20), E (05-06), F (handled
        // 05-30), G (05-18) = 5; D's deadline is in June. In time: A F = 2. Extended: E = 1.
        assert_eq!(
            (c.due_for_handling, c.handled_in_time, c.extended),
            (5, 2, 1)
        );
        // handled in May: A B F = 3; failed checks 0 + 1 + 1 = 2
        assert_eq!((c.handled, c.failed_checks), (3, 2));
        // due for closing: A (closed 05-08), B (deadline 05-23), E (05-08), G (05-25) = 4,
        // G suspended; closed: A B = 2; in time: A = 1
        assert_eq!(
            (
                c.due_for_closing,
                c.due_for_closing_suspended,
                c.closed,
                c.closed_in_time
            ),
            (4, 1, 2, 1)
        );
        // suspended at the end of May: D G
        assert_eq!(c.suspended, 2);

        let f = Figures::from_counts(&c);
        assert_eq!(f.registration_rate, Some(5.0 / 6.0));
        assert_eq!(f.on_time_dispatch_rate, Some(0.8));
        assert_eq!(f.accurate_dispatch_rate, Some(0.8));
        assert_eq!(f.on_time_handling_rate, Some(0.4));
        assert_eq!(f.closing_rate, Some(2.0 / 3.0));
        assert_eq!(f.on_time_closing_rate, Some(1.0 / 3.0));
        assert_eq!(f.rework_rate, Some(2.0 / 3.0));
        assert_eq!(f.extension_rate, Some(0.2));
        assert_eq!(f.suspended_count, 2);
    }

    #[test]
    fn by_department() {
        let rows = evaluate(&scenario(), &period(), GroupBy::Department);
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].key, None); // unknown first
                                       // lighting: A D E. reported A D (2), registered 2; dispatched A D both in time, none
                                       // returned; due for handling A E, in time A, extended E; handled A with 0 rework;
                                       // due for closing A E, closed A in time; suspended D.
        let l = group(&rows, Some("lighting")).figures;
        assert_eq!(l.registration_rate, Some(1.0));
        assert_eq!(l.on_time_dispatch_rate, Some(1.0));
        assert_eq!(l.accurate_dispatch_rate, Some(1.0));
        assert_eq!(l.on_time_handling_rate, Some(0.5));
        assert_eq!(l.extension_rate, Some(0.5));
        assert_eq!(l.rework_rate, Some(0.0));
        assert_eq!(l.closing_rate, Some(0.5));
        assert_eq!(l.on_time_closing_rate, Some(0.5));
        assert_eq!(l.suspended_count, 1);
        // water: B F G. dispatched 3, in time F G, not returned F G; due for handling B F G,
        // in time F, none extended; handled B F, rework 1 + 1; due for closing B G, G
        // suspended → denominator 1, closed B late.
        let w = group(&rows, Some("water")).figures;
        assert_eq!(w.registration_rate, Some(1.0));
        assert_eq!(w.on_time_dispatch_rate, Some(2.0 / 3.0));
        assert_eq!(w.accurate_dispatch_rate, Some(2.0 / 3.0));
        assert_eq!(w.on_time_handling_rate, Some(1.0 / 3.0));
        assert_eq!(w.extension_rate, Some(0.0));
        assert_eq!(w.rework_rate, Some(1.0));
        assert_eq!(w.closing_rate, Some(1.0));
        assert_eq!(w.on_time_closing_rate, Some(0.0));
        assert_eq!(w.suspended_count, 1);
        // no department: C only, reported but voided
        let n = rows[0].figures;
        assert_eq!(n.registration_rate, Some(0.0));
        assert_eq!(n.on_time_dispatch_rate, None);
        assert_eq!(n.closing_rate, None);
    }

    #[test]
    fn by_street_community_grid() {
        let rows = evaluate(&scenario(), &period(), GroupBy::Street);
        assert_eq!(rows.len(), 2);
        // street 420102002: D G. registered 2/2; dispatched 2 in time; due for handling G
        // late; due for closing G suspended → no closing rate; suspended D G.
        let s = group(&rows, Some("420102002")).figures;
        assert_eq!(s.registration_rate, Some(1.0));
        assert_eq!(s.on_time_dispatch_rate, Some(1.0));
        assert_eq!(s.on_time_handling_rate, Some(0.0));
        assert_eq!(s.closing_rate, None);
        assert_eq!(s.suspended_count, 2);
        // community 420102001002: C E. reported C (voided) → 0/1; due for handling E late
        let rows = evaluate(&scenario(), &period(), GroupBy::Community);
        let c = group(&rows, Some("420102001002")).figures;
        assert_eq!(c.registration_rate, Some(0.0));
        assert_eq!(c.on_time_handling_rate, Some(0.0));
        assert_eq!(c.extension_rate, Some(1.0));
        // grid 420102001001001: A F. handled A F, failed checks 0 + 1 → 0.5
        let rows = evaluate(&scenario(), &period(), GroupBy::Grid);
        assert_eq!(rows.len(), 4);
        let g = group(&rows, Some("420102001001001")).figures;
        assert_eq!(g.rework_rate, Some(0.5));
        assert_eq!(g.on_time_handling_rate, Some(1.0));
    }

    #[test]
    fn by_person_credits_each_stage_to_its_person() {
        let rows = evaluate(&scenario(), &period(), GroupBy::Person);
        // reporter insp1: A B D G reported, all registered; insp2: C F, F registered
        assert_eq!(
            group(&rows, Some("insp1")).figures.registration_rate,
            Some(1.0)
        );
        assert_eq!(
            group(&rows, Some("insp2")).figures.registration_rate,
            Some(0.5)
        );
        // dispatcher d1: A D in May, both in time; suspended D. d2: B F G, B late.
        let d1 = group(&rows, Some("d1"));
        assert_eq!(d1.figures.on_time_dispatch_rate, Some(1.0));
        assert_eq!(d1.counts.suspended, 1);
        assert_eq!(
            group(&rows, Some("d2")).figures.on_time_dispatch_rate,
            Some(2.0 / 3.0)
        );
        // handler h_water: due B F G, in time F
        assert_eq!(
            group(&rows, Some("h_water")).figures.on_time_handling_rate,
            Some(1.0 / 3.0)
        );
        // acceptor acc1 has all closing figures: 2 closed of 3 not suspended
        let acc = group(&rows, Some("acc1"));
        assert_eq!(acc.figures.closing_rate, Some(2.0 / 3.0));
        assert_eq!(acc.counts.reported, 0);
        // the sum over persons equals the total
        let mut sum = Counts::default();
        for r in &rows {
            sum += r.counts;
        }
        assert_eq!(sum, total(&scenario(), &period()));
    }

    #[test]
    fn boundaries_are_half_open() {
        let p = period();
        let mut r = CaseRecord::new("x", p.to);
        assert_eq!(total(&[r.clone()], &p).reported, 0);
        r.reported_at = p.from;
        assert_eq!(total(&[r.clone()], &p).reported, 1);
        // registered exactly at the period end does not count for this period
        r.registered_at = Some(p.to);
        assert_eq!(total(&[r.clone()], &p).registered, 0);
        // handled exactly at the deadline is in time
        r.dispatched_at = Some(p.from);
        r.handling_deadline = ot("05-10T17:30");
        r.handled_at = ot("05-10T17:30");
        let c = total(&[r], &p);
        assert_eq!((c.due_for_handling, c.handled_in_time), (1, 1));
        assert!(evaluate(&[], &p, GroupBy::Grid).is_empty());
    }
}
