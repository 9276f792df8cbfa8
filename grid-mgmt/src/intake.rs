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
