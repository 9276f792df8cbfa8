//! Case intake (信息收集, domain.md §3): what a new report is given before it is stored —
//! the department routing finds (with its reason, or why none was found), the
//! registration deadline, the year of its case number — and who may label a report
//! with which source.
//!
//! ```
//! use chrono::DateTime;
//! use citygrid_grid_mgmt::catalog::Catalog;
//! use citygrid_grid_mgmt::intake::{plan, IntakeRequest};
//! use citygrid_grid_mgmt::reference::Reference;
//! use citygrid_grid_mgmt::codes::Place;
//!
//! let reference = Reference::new(Catalog::default_seed());
//! let place = Place::default();
//! // New Year's Eve, 23:30 in Shanghai: the case number counts in 2025
//! let at = DateTime::parse_from_rfc3339("2025-12-31T23:30:00+08:00").unwrap();
//! let p = plan(&reference, &IntakeRequest {
//!     category: "E0505".parse().unwrap(),
//!     place: &place,
//!     point: None,
//!     component: None,
//!     reported_at: at,
//! }).unwrap();
//! assert_eq!(p.year, 2025);
//! assert!(p.routed_department.is_none());
//! assert!(p.registration_due > at);
//! ```

use chrono::{DateTime, Datelike, FixedOffset};
use geo::Point;
use serde_json::{json, Value};

use crate::catalog::Stage;
use crate::codes::{CategoryCode, Place};
use crate::deadline::DeadlineError;
use crate::reference::Reference;
use crate::routing::{self, ComponentDepartments, RoutingRequest};
use crate::workflow::Role;

/// A linked component is at most this far from the case point.
pub const COMPONENT_RADIUS_M: f64 = 15.0;
/// Open cases of the same category within this distance are reported as duplicates.
pub const DUPLICATE_RADIUS_M: f64 = 10.0;
/// The longest description (Open311's limit).
pub const MAX_DESCRIPTION: usize = 4000;

/// The sources a case can come from.
pub const SOURCES: [&str; 8] = [
    "inspector",
    "public",
    "hotline",
    "open311",
    "video",
    "sensor",
    "superior",
    "console",
];

/// Whether a caller of `role` (`None`: not signed in) may label its report with
/// `source`: `open311` is set only by Open311 requests, `inspector` only by inspectors,
/// who report what they saw themselves and nothing else; the supervision centre records
/// the other ways a report reached it.
pub fn may_label(role: Option<Role>, source: &str) -> Result<(), &'static str> {
    let inspector = role == Some(Role::Inspector);
    match source {
        "open311" => Err("the source open311 is set by Open311 requests only"),
        "inspector" if !inspector => Err("the source inspector is set by inspectors only"),
        "inspector" => Ok(()),
        _ if inspector => Err("an inspector's reports have the source inspector"),
        _ => Ok(()),
    }
}

/// What intake knows of a new report.
#[derive(Debug, Clone)]
pub struct IntakeRequest<'a> {
    /// Its category.
    pub category: CategoryCode,
    /// Where it is (unit grid, community, street, division).
    pub place: &'a Place,
    /// The point in lon/lat.
    pub point: Option<Point<f64>>,
    /// The departments of the component it names or the nearest one.
    pub component: Option<&'a ComponentDepartments>,
    /// When it was reported.
    pub reported_at: DateTime<FixedOffset>,
}

/// What intake decides for a new report.
#[derive(Debug, Clone, PartialEq)]
pub struct IntakePlan {
    /// The department routing found.
    pub routed_department: Option<String>,
    /// The routing explanation stored with the case: `department`, `reason`,
    /// `explanation`, or `department: null` and `error`.
    pub routing: Value,
    /// The registration deadline (the first current deadline).
    pub registration_due: DateTime<FixedOffset>,
    /// The year of the case number: the year of the report in the calendar's offset.
    pub year: i32,
}

/// Routes a new report and sets its registration deadline. A report that no rule
/// routes is still taken in (the dispatcher picks the department).
pub fn plan(reference: &Reference, req: &IntakeRequest<'_>) -> Result<IntakePlan, DeadlineError> {
    let request = RoutingRequest {
        category: req.category,
        place: req.place,
        point: req.point,
        component: req.component,
        at: req.reported_at,
    };
    let (routed_department, routing) = match routing::route(
        &request,
        &reference.rules,
        &reference.defaults,
    ) {
        Ok(d) => (
            Some(d.department.clone()),
            json!({"department": d.department, "reason": d.reason, "explanation": d.reason.to_string()}),
        ),
        Err(e) => (None, json!({"department": null, "error": e.to_string()})),
    };
    let registration_due =
        reference.stage_deadline(&req.category, Stage::Registration, req.reported_at)?;
    let year = req
        .reported_at
        .with_timezone(&reference.calendar.offset())
        .year();
    Ok(IntakePlan {
        routed_department,
        routing,
        registration_due,
        year,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use crate::codes::GridCode;
    use crate::routing::TerritorialDefault;

    fn t(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    #[test]
    fn who_labels_which_source() {
        let inspector = Some(Role::Inspector);
        for source in SOURCES {
            let expected = match source {
                "open311" => Err("the source open311 is set by Open311 requests only"),
                "inspector" => Ok(()),
                _ => Err("an inspector's reports have the source inspector"),
            };
            assert_eq!(may_label(inspector, source), expected, "{source}");
            for role in [
                None,
                Some(Role::Acceptor),
                Some(Role::Admin),
                Some(Role::Public),
            ] {
                let expected = match source {
                    "open311" => Err("the source open311 is set by Open311 requests only"),
                    "inspector" => Err("the source inspector is set by inspectors only"),
                    _ => Ok(()),
                };
                assert_eq!(may_label(role, source), expected, "{role:?} {source}");
            }
        }
    }

    #[test]
    fn routing_deadline_and_case_number_year() {
        let mut reference = Reference::new(Catalog::default_seed());
        let grid: GridCode = "420102001001001".parse().unwrap();
        let place = Place::from_grid(grid.clone());
        let request = |at| IntakeRequest {
            category: "E0505".parse().unwrap(),
            place: &place,
            point: Some(Point::new(114.3, 30.6)),
            component: None,
            reported_at: at,
        };
        // no rule and no street default: taken in without a department
        let p = plan(&reference, &request(t("2025-05-12T23:30:00+08:00"))).unwrap();
        assert_eq!(p.routed_department, None);
        assert_eq!(p.routing["department"], Value::Null);
        assert!(p.routing["error"]
            .as_str()
            .unwrap()
            .starts_with("no department for E0505"));
        // one working hour from Monday 23:30
        assert_eq!(p.registration_due, t("2025-05-13T09:30:00+08:00"));
        assert_eq!(p.year, 2025);
        // the street's default department
        reference.defaults.push(TerritorialDefault {
            admin: grid.admin(),
            street: grid.street(),
            department: "street_001".into(),
        });
        // 2025-12-31 16:30 UTC is already 2026 in Shanghai: the case number says 2026
        let p = plan(&reference, &request(t("2025-12-31T16:30:00+00:00"))).unwrap();
        assert_eq!(p.year, 2026);
        assert_eq!(p.routed_department.as_deref(), Some("street_001"));
        assert_eq!(p.routing["department"], "street_001");
        assert_eq!(
            p.routing["explanation"],
            "territorial default of street 420102001"
        );
        assert!(p.routing["reason"].is_object());
        // 1-3 January are holidays, Sunday 4 January 2026 a make-up working day; the
        // deadline keeps the offset the report came in
        assert_eq!(p.registration_due.to_rfc3339(), "2026-01-04T01:30:00+00:00");
        // one second before local midnight it is still 2025
        let p = plan(&reference, &request(t("2025-12-31T23:59:59+08:00"))).unwrap();
        assert_eq!(p.year, 2025);
        // the component's department wins over the street's default
        let component = ComponentDepartments {
            id: None,
            maintaining: Some("lighting".into()),
            owning: Some("power".into()),
        };
        let mut r = request(t("2025-05-12T10:00:00+08:00"));
        r.component = Some(&component);
        let p = plan(&reference, &r).unwrap();
        assert_eq!(p.routed_department.as_deref(), Some("lighting"));
        assert_eq!(
            p.routing["explanation"],
            "maintaining department of the linked component"
        );
    }
}
