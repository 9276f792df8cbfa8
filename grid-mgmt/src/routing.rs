//! Which department handles a case (domain.md §4), and why.
//!
//! [`route`] decides in three steps:
//!
//! 1. **Component.** The case names a component: its maintaining (养护) department, else its
//!    owning (权属) department. A component with neither falls through to step 2.
//! 2. **Rules.** Among the [`RoutingRule`]s that are valid at the case's time, match its
//!    category and contain its place, the most specific wins. Specificity is compared
//!    lexicographically, the category first (*what* decides the specialty department,
//!    *where* refines it), then the area, then the rule's `priority` (higher wins), and
//!    finally the smaller rule id so that the result never depends on the input order:
//!    - category: subclass (3) > major class (2) > kind only (1);
//!    - area: unit grids (5) > community (4) > street (3) > polygon (2) > district (1) >
//!      anywhere (0). A polygon ranks below administrative areas because it is usually
//!      drawn for a broad zone (a development zone, a river corridor); for a small special
//!      zone list its unit grids, or use priority.
//! 3. **Territorial default** (属地兜底): the default department of the case's street.
//!
//! The returned [`RoutingDecision`] says which step and which rule decided, for the
//! case timeline.
//!
//! ```
//! use chrono::DateTime;
//! use citygrid_grid_mgmt::codes::Place;
//! use citygrid_grid_mgmt::routing::*;
//!
//! let rules = vec![RoutingRule::new("lamps", "lighting",
//!     CategoryScope::Major("P01".parse().unwrap()), AreaScope::Anywhere)];
//! let defaults = vec![TerritorialDefault {
//!     admin: "420102".parse().unwrap(), street: "001".parse().unwrap(),
//!     department: "street_001".into() }];
//! let place = Place::from_grid("420102001002007".parse().unwrap());
//! let at = DateTime::parse_from_rfc3339("2025-05-12T09:00:00+08:00").unwrap();
//!
//! let req = RoutingRequest::new("P0111".parse().unwrap(), &place, at);
//! let d = route(&req, &rules, &defaults).unwrap();
//! assert_eq!(d.department, "lighting");
//! assert!(matches!(d.reason, RoutingReason::Rule { ref rule_id, .. } if rule_id == "lamps"));
//!
//! let req = RoutingRequest::new("E0505".parse().unwrap(), &place, at);
//! assert_eq!(route(&req, &rules, &defaults).unwrap().department, "street_001");
//! ```

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, FixedOffset};
use geo::{Intersects, MultiPolygon, Point};
use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;
use crate::codes::{
    AdminCode, CategoryCode, CategoryKind, CommunityCode, ComponentId, GridCode, MajorClass, Place,
    StreetCode,
};

/// Which categories a rule applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "level", content = "code", rename_all = "snake_case")]
pub enum CategoryScope {
    /// Every category of a kind.
    Kind(CategoryKind),
    /// Every subclass of a major class.
    Major(MajorClass),
    /// One subclass.
    Sub(CategoryCode),
}

impl CategoryScope {
    /// Specificity: subclass 3, major 2, kind 1.
    pub fn level(&self) -> u8 {
        match self {
            CategoryScope::Kind(_) => 1,
            CategoryScope::Major(_) => 2,
            CategoryScope::Sub(_) => 3,
        }
    }
    /// Whether `code` is in scope.
    pub fn matches(&self, code: &CategoryCode) -> bool {
        match self {
            CategoryScope::Kind(k) => *k == code.kind,
            CategoryScope::Major(m) => *m == code.major_class(),
            CategoryScope::Sub(c) => c == code,
        }
    }
}

/// Where a rule applies.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AreaScope {
    /// A set of unit grids.
    Grids {
        /// The grids.
        grids: BTreeSet<GridCode>,
    },
    /// One community.
    Community {
        /// Its admin division.
        admin: AdminCode,
        /// Its street.
        street: StreetCode,
        /// The community.
        community: CommunityCode,
    },
    /// One street.
    Street {
        /// Its admin division.
        admin: AdminCode,
        /// The street.
        street: StreetCode,
    },
    /// A polygon in lon/lat; matches when the case point is inside or on its boundary.
    Polygon {
        /// The area.
        geometry: MultiPolygon<f64>,
    },
    /// A whole county-level division.
    District {
        /// The division.
        admin: AdminCode,
    },
    /// Everywhere.
    Anywhere,
}

impl AreaScope {
    /// Specificity: grids 5 > community 4 > street 3 > polygon 2 > district 1 > anywhere 0.
    pub fn level(&self) -> u8 {
        match self {
            AreaScope::Grids { .. } => 5,
            AreaScope::Community { .. } => 4,
            AreaScope::Street { .. } => 3,
            AreaScope::Polygon { .. } => 2,
            AreaScope::District { .. } => 1,
            AreaScope::Anywhere => 0,
        }
    }
    /// Whether a case at `place` / `point` lies in this area. Unknown parts of the place
    /// never match.
    pub fn contains(&self, place: &Place, point: Option<Point<f64>>) -> bool {
        match self {
            AreaScope::Grids { grids } => place.grid.as_ref().is_some_and(|g| grids.contains(g)),
            AreaScope::Community {
                admin,
                street,
                community,
            } => {
                place.admin.as_ref() == Some(admin)
                    && place.street.as_ref() == Some(street)
                    && place.community.as_ref() == Some(community)
            }
            AreaScope::Street { admin, street } => {
                place.admin.as_ref() == Some(admin) && place.street.as_ref() == Some(street)
            }
            AreaScope::Polygon { geometry } => point.is_some_and(|p| geometry.intersects(&p)),
            AreaScope::District { admin } => place.admin.as_ref() == Some(admin),
            AreaScope::Anywhere => true,
        }
    }
}

/// A routing rule: category scope + area scope → department.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoutingRule {
    /// Stable id, shown in the timeline.
    pub id: String,
    /// Department code.
    pub department: String,
    /// Categories covered.
    pub category: CategoryScope,
    /// Area covered.
    pub area: AreaScope,
    /// Tie-breaker among equally specific rules; higher wins.
    #[serde(default)]
    pub priority: i32,
    /// Valid from this instant (inclusive); `None` = always.
    #[serde(default)]
    pub valid_from: Option<DateTime<FixedOffset>>,
    /// Valid until this instant (exclusive); `None` = forever.
    #[serde(default)]
    pub valid_to: Option<DateTime<FixedOffset>>,
}

impl RoutingRule {
    /// A rule with priority 0, valid forever.
    pub fn new(id: &str, department: &str, category: CategoryScope, area: AreaScope) -> Self {
        Self {
            id: id.into(),
            department: department.into(),
            category,
            area,
            priority: 0,
            valid_from: None,
            valid_to: None,
        }
    }

    /// Whether the rule is in force at `at` (`valid_from <= at < valid_to`).
    pub fn is_valid_at(&self, at: DateTime<FixedOffset>) -> bool {
        self.valid_from.is_none_or(|f| f <= at) && self.valid_to.is_none_or(|t| at < t)
    }

    /// `(category level, area level, priority)`: larger is more specific.
    pub fn specificity(&self) -> (u8, u8, i32) {
        (self.category.level(), self.area.level(), self.priority)
    }
}

/// The departments recorded on a component.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ComponentDepartments {
    /// The component's id, for the timeline.
    pub id: Option<ComponentId>,
    /// Maintaining department (养护单位).
    pub maintaining: Option<String>,
    /// Owning department (权属单位).
    pub owning: Option<String>,
}

/// The default department of a street (属地兜底).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerritorialDefault {
    /// Admin division of the street.
    pub admin: AdminCode,
    /// The street.
    pub street: StreetCode,
    /// Its default department.
    pub department: String,
}

/// What is known about the case when routing it.
#[derive(Debug, Clone)]
pub struct RoutingRequest<'a> {
    /// The case's category.
    pub category: CategoryCode,
    /// Where the case is.
    pub place: &'a Place,
    /// The case point in lon/lat (for polygon rules).
    pub point: Option<Point<f64>>,
    /// The linked component's departments, if any.
    pub component: Option<&'a ComponentDepartments>,
    /// The instant rules must be valid at (usually the dispatch time).
    pub at: DateTime<FixedOffset>,
}

impl<'a> RoutingRequest<'a> {
    /// A request without point or component.
    pub fn new(category: CategoryCode, place: &'a Place, at: DateTime<FixedOffset>) -> Self {
        Self {
            category,
            place,
            point: None,
            component: None,
            at,
        }
    }
}

/// Which of the component's departments decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComponentRole {
    /// The maintaining department.
    Maintaining,
    /// The owning department (no maintaining department recorded).
    Owning,
}

/// Why a department was chosen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum RoutingReason {
    /// Step 1: the linked component.
    Component {
        /// The component, if its id is known.
        component_id: Option<ComponentId>,
        /// Which of its departments.
        role: ComponentRole,
    },
    /// Step 2: a rule.
    Rule {
        /// The rule's id.
        rule_id: String,
        /// Category level (3 subclass, 2 major, 1 kind).
        category_level: u8,
        /// Area level (5 grids … 0 anywhere).
        area_level: u8,
        /// The rule's priority.
        priority: i32,
        /// How many rules matched in all.
        candidates: usize,
    },
    /// Step 3: the street's default.
    TerritorialDefault {
        /// `admin + street`.
        street_key: String,
    },
}

impl fmt::Display for RoutingReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RoutingReason::Component { component_id, role } => {
                let role = match role {
                    ComponentRole::Maintaining => "maintaining",
                    ComponentRole::Owning => "owning",
                };
                match component_id {
                    Some(id) => write!(f, "{role} department of component {id}"),
                    None => write!(f, "{role} department of the linked component"),
                }
            }
            RoutingReason::Rule {
                rule_id,
                candidates,
                ..
            } => write!(
                f,
                "routing rule {rule_id} (most specific of {candidates} matching)"
            ),
            RoutingReason::TerritorialDefault { street_key } => {
                write!(f, "territorial default of street {street_key}")
            }
        }
    }
}

/// The chosen department and the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingDecision {
    /// Department code.
    pub department: String,
    /// Why.
    pub reason: RoutingReason,
}

/// No department could be found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoutingError {
    /// No component department, no rule, and no default for the street.
    #[error("no department for {category}: no routing rule matches and {}", match street_key {
        Some(s) => format!("street {s} has no territorial default"),
        None => "the case's street is unknown".to_owned(),
    })]
    NoDepartment {
        /// The case's category.
        category: CategoryCode,
        /// The case's street, if known.
        street_key: Option<String>,
    },
}

/// Pick the responsible department (see the module documentation for the order).
pub fn route(
    req: &RoutingRequest<'_>,
    rules: &[RoutingRule],
    defaults: &[TerritorialDefault],
) -> Result<RoutingDecision, RoutingError> {
    if let Some(c) = req.component {
        let pick = |d: &Option<String>| d.as_ref().filter(|s| !s.is_empty()).cloned();
        let found = pick(&c.maintaining)
            .map(|d| (d, ComponentRole::Maintaining))
            .or_else(|| pick(&c.owning).map(|d| (d, ComponentRole::Owning)));
        if let Some((department, role)) = found {
            return Ok(RoutingDecision {
                department,
                reason: RoutingReason::Component {
                    component_id: c.id.clone(),
                    role,
                },
            });
        }
    }

    let matching: Vec<&RoutingRule> = rules
        .iter()
        .filter(|r| {
            r.is_valid_at(req.at)
                && r.category.matches(&req.category)
                && r.area.contains(req.place, req.point)
        })
        .collect();
    let best = matching.iter().copied().max_by(|a, b| {
        a.specificity()
            .cmp(&b.specificity())
            // on a full tie the smaller id wins, i.e. is "greater" here
            .then_with(|| b.id.cmp(&a.id))
    });
    if let Some(r) = best {
        let (category_level, area_level, priority) = r.specificity();
        return Ok(RoutingDecision {
            department: r.department.clone(),
            reason: RoutingReason::Rule {
                rule_id: r.id.clone(),
                category_level,
                area_level,
                priority,
                candidates: matching.len(),
            },
        });
    }

    let street_key = req.place.street_key();
    if let (Some(admin), Some(street)) = (&req.place.admin, &req.place.street) {
        if let Some(d) = defaults
            .iter()
            .find(|d| &d.admin == admin && &d.street == street)
        {
            return Ok(RoutingDecision {
                department: d.department.clone(),
                reason: RoutingReason::TerritorialDefault {
                    street_key: street_key.unwrap_or_default(),
                },
            });
        }
    }
    Err(RoutingError::NoDepartment {
        category: req.category,
        street_key,
    })
}

/// City-wide rules from each category's default department in the catalogue (subclass
/// level, area anywhere, priority 0): the seed rule set of a new installation.
pub fn seed_rules(catalog: &Catalog) -> Vec<RoutingRule> {
    catalog
        .categories
        .iter()
        .filter_map(|c| {
            let dep = c.default_department.as_ref()?;
            Some(RoutingRule::new(
                &format!("seed-{}", c.code),
                dep,
                CategoryScope::Sub(c.code),
                AreaScope::Anywhere,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::polygon;

    fn at(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }
    const NOW: &str = "2025-05-12T09:00:00+08:00";

    fn place() -> Place {
        Place::from_grid("420102001002007".parse().unwrap())
    }
    fn defaults() -> Vec<TerritorialDefault> {
        vec![TerritorialDefault {
            admin: "420102".parse().unwrap(),
            street: "001".parse().unwrap(),
            department: "street_001".into(),
        }]
    }
    fn rule(id: &str, dep: &str, c: CategoryScope, a: AreaScope) -> RoutingRule {
        RoutingRule::new(id, dep, c, a)
    }
    fn kind(k: CategoryKind) -> CategoryScope {
        CategoryScope::Kind(k)
    }
    fn major(s: &str) -> CategoryScope {
        CategoryScope::Major(s.parse().unwrap())
    }
    fn sub(s: &str) -> CategoryScope {
        CategoryScope::Sub(s.parse().unwrap())
    }
    fn street() -> AreaScope {
        AreaScope::Street {
            admin: "420102".parse().unwrap(),
            street: "001".parse().unwrap(),
        }
    }
    fn community() -> AreaScope {
        AreaScope::Community {
            admin: "420102".parse().unwrap(),
            street: "001".parse().unwrap(),
            community: "002".parse().unwrap(),
        }
    }
    fn grids(g: &[&str]) -> AreaScope {
        AreaScope::Grids {
            grids: g.iter().map(|s| s.parse().unwrap()).collect(),
        }
    }
    fn square() -> AreaScope {
        AreaScope::Polygon {
            geometry: MultiPolygon(vec![polygon![
                (x: 114.0, y: 30.0), (x: 115.0, y: 30.0), (x: 115.0, y: 31.0), (x: 114.0, y: 31.0)
            ]]),
        }
    }
    fn decide(cat: &str, rules: &[RoutingRule]) -> RoutingDecision {
        let p = place();
        let mut req = RoutingRequest::new(cat.parse().unwrap(), &p, at(NOW));
        req.point = Some(Point::new(114.3, 30.6));
        route(&req, rules, &defaults()).unwrap()
    }

    #[test]
    fn component_maintaining_then_owning_then_rules() {
        let p = place();
        let rules = vec![rule(
            "r",
            "roads",
            kind(CategoryKind::Component),
            AreaScope::Anywhere,
        )];
        let mut comp = ComponentDepartments {
            id: Some("4201020101000001".parse().unwrap()),
            maintaining: Some("water_maint".into()),
            owning: Some("water".into()),
        };
        let mut req = RoutingRequest::new("P0101".parse().unwrap(), &p, at(NOW));
        req.component = Some(&comp);
        let d = route(&req, &rules, &defaults()).unwrap();
        assert_eq!(d.department, "water_maint");
        assert_eq!(
            d.reason.to_string(),
            "maintaining department of component 4201020101000001"
        );
        comp.maintaining = None;
        let mut req = RoutingRequest::new("P0101".parse().unwrap(), &p, at(NOW));
        req.component = Some(&comp);
        let d = route(&req, &rules, &defaults()).unwrap();
        assert_eq!(
            (d.department.as_str(), d.reason.to_string().as_str()),
            ("water", "owning department of component 4201020101000001")
        );
        comp.owning = Some(String::new());
        let mut req = RoutingRequest::new("P0101".parse().unwrap(), &p, at(NOW));
        req.component = Some(&comp);
        assert_eq!(
            route(&req, &rules, &defaults()).unwrap().department,
            "roads"
        );
    }

    #[test]
    fn category_specificity_beats_area_specificity() {
        let rules = vec![
            rule(
                "kind-grid",
                "a",
                kind(CategoryKind::Event),
                grids(&["420102001002007"]),
            ),
            rule("major-any", "b", major("E05"), AreaScope::Anywhere),
            rule(
                "sub-district",
                "c",
                sub("E0505"),
                AreaScope::District {
                    admin: "420102".parse().unwrap(),
                },
            ),
        ];
        assert_eq!(decide("E0505", &rules).department, "c");
        assert_eq!(decide("E0504", &rules).department, "b");
        assert_eq!(decide("E0101", &rules).department, "a");
    }

    #[test]
    fn area_order_grid_community_street_polygon_district_anywhere() {
        let all = [
            rule("any", "anywhere", major("E05"), AreaScope::Anywhere),
            rule(
                "dist",
                "district",
                major("E05"),
                AreaScope::District {
                    admin: "420102".parse().unwrap(),
                },
            ),
            rule("poly", "polygon", major("E05"), square()),
            rule("street", "street", major("E05"), street()),
            rule("comm", "community", major("E05"), community()),
            rule(
                "grid",
                "grid",
                major("E05"),
                grids(&["420102001002007", "420102001002008"]),
            ),
        ];
        // drop the most specific one at a time: the next in the documented order wins
        for (n, expect) in [
            (6, "grid"),
            (5, "community"),
            (4, "street"),
            (3, "polygon"),
            (2, "district"),
            (1, "anywhere"),
        ] {
            let d = decide("E0505", &all[..n]);
            assert_eq!(d.department, expect);
            if let RoutingReason::Rule { candidates, .. } = d.reason {
                assert_eq!(candidates, n);
            } else {
                panic!("rule expected");
            }
        }
    }

    #[test]
    fn non_matching_areas_are_skipped() {
        let rules = vec![
            rule("other-grid", "x", major("E05"), grids(&["420102001002008"])),
            rule(
                "other-street",
                "y",
                major("E05"),
                AreaScope::Street {
                    admin: "420102".parse().unwrap(),
                    street: "002".parse().unwrap(),
                },
            ),
            rule(
                "poly-far",
                "z",
                major("E05"),
                AreaScope::Polygon {
                    geometry: MultiPolygon(vec![
                        polygon![(x: 0.0, y: 0.0), (x: 1.0, y: 0.0), (x: 1.0, y: 1.0)],
                    ]),
                },
            ),
        ];
        let d = decide("E0505", &rules);
        assert_eq!(d.department, "street_001");
        assert_eq!(
            d.reason.to_string(),
            "territorial default of street 420102001"
        );
        // a polygon rule never matches a case without a point
        let p = place();
        let req = RoutingRequest::new("E0505".parse().unwrap(), &p, at(NOW));
        assert_eq!(
            route(&req, &[rule("p", "p", major("E05"), square())], &defaults())
                .unwrap()
                .department,
            "street_001"
        );
    }

    #[test]
    fn priority_then_id_break_ties() {
        let mut hi = rule("b-hi", "hi", major("E05"), street());
        hi.priority = 5;
        let rules = vec![rule("a-lo", "lo", major("E05"), street()), hi];
        assert_eq!(decide("E0505", &rules).department, "hi");
        let tie = vec![
            rule("b", "second", major("E05"), street()),
            rule("a", "first", major("E05"), street()),
        ];
        assert_eq!(decide("E0505", &tie).department, "first");
    }

    #[test]
    fn validity_period() {
        let mut r = rule("temp", "temp", sub("E0505"), AreaScope::Anywhere);
        r.valid_from = Some(at("2025-05-01T00:00:00+08:00"));
        r.valid_to = Some(at("2025-05-12T09:00:00+08:00")); // exclusive: expired exactly now
        assert_eq!(decide("E0505", &[r.clone()]).department, "street_001");
        r.valid_to = Some(at("2025-06-01T00:00:00+08:00"));
        assert_eq!(decide("E0505", &[r.clone()]).department, "temp");
        r.valid_from = Some(at("2025-05-12T09:00:01+08:00"));
        assert_eq!(decide("E0505", &[r]).department, "street_001");
    }

    #[test]
    fn no_department_is_a_clear_error() {
        let p = Place::default();
        let req = RoutingRequest::new("E0505".parse().unwrap(), &p, at(NOW));
        assert_eq!(
            route(&req, &[], &defaults()).unwrap_err().to_string(),
            "no department for E0505: no routing rule matches and the case's street is unknown"
        );
        let p = Place::from_grid("420102009002007".parse().unwrap());
        let req = RoutingRequest::new("E0505".parse().unwrap(), &p, at(NOW));
        assert_eq!(
            route(&req, &[], &defaults()).unwrap_err().to_string(),
            "no department for E0505: no routing rule matches and street 420102009 has no territorial default"
        );
    }

    #[test]
    fn seed_rules_and_serde() {
        let rules = seed_rules(&Catalog::default_seed());
        assert_eq!(decide("P0111", &rules).department, "lighting");
        assert_eq!(decide("E0504", &rules).department, "traffic");
        let json = serde_json::to_value(&rules[0]).unwrap();
        assert_eq!(
            json["category"],
            serde_json::json!({"level": "sub", "code": "P0101"})
        );
        assert_eq!(json["area"], serde_json::json!({"type": "anywhere"}));
        let back: RoutingRule = serde_json::from_value(json).unwrap();
        assert_eq!(back, rules[0]);
        let poly = rule("p", "p", major("E05"), square());
        let back: RoutingRule =
            serde_json::from_str(&serde_json::to_string(&poly).unwrap()).unwrap();
        assert_eq!(back, poly);
    }
}
