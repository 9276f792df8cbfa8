//! `citygrid grid seed-reference` and the demo seed of `citygrid demo`.
//!
//! The default reference data of a new installation, from grid-mgmt's catalogue seed:
//! departments, major classes, categories, time limits, one routing rule per category
//! (its default department, city-wide) and China's working calendar. Idempotent: rows
//! that exist are left as they are.

use citygrid_grid_mgmt::calendar::WorkingCalendar;
use citygrid_grid_mgmt::catalog::{Catalog, Stage};
use citygrid_grid_mgmt::routing;
use citygrid_store::seed as store;
use serde_json::json;
use sqlx::PgPool;

use citygrid_grid_mgmt::reference::{stage_name, unit_name};

/// What [`reference`] inserted.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct SeedReport {
    /// Departments.
    pub departments: u64,
    /// Categories.
    pub categories: u64,
    /// Time-limit rules.
    pub time_limits: u64,
    /// Routing rules.
    pub routing_rules: u64,
}

const STAGES: [Stage; 4] = [
    Stage::Registration,
    Stage::Dispatch,
    Stage::Handling,
    Stage::Checking,
];

/// Inserts the default reference data (missing rows only), in one transaction.
pub async fn reference(pool: &PgPool) -> Result<SeedReport, sqlx::Error> {
    let catalog = Catalog::default_seed();
    let mut report = SeedReport::default();
    let mut tx = pool.begin().await?;
    for d in &catalog.departments {
        report.departments +=
            store::insert_department(&mut *tx, &d.code, &d.name_zh, &d.name_en).await?;
    }
    for m in &catalog.majors {
        store::insert_major_class(&mut *tx, &m.class.to_string(), &m.name_zh, &m.name_en).await?;
    }
    for c in &catalog.categories {
        let code = c.code.to_string();
        let kind = c.code.kind.to_string();
        report.categories += store::insert_category(
            &mut *tx,
            store::NewCategory {
                code: &code,
                kind: &kind,
                name_zh: &c.name_zh,
                name_en: &c.name_en,
                register_condition: &c.register_condition,
                close_condition: &c.close_condition,
                default_department: c.default_department.as_deref(),
                attributes: json!(c.attributes),
            },
        )
        .await?;
        if let Some(limits) = c.limits {
            for stage in STAGES {
                let l = limits.get(stage);
                if l == catalog.default_limits.get(stage) {
                    continue;
                }
                report.time_limits += insert_limit(&mut tx, &c.code.to_string(), stage, l).await?;
            }
        }
    }
    for stage in STAGES {
        report.time_limits +=
            insert_limit(&mut tx, "*", stage, catalog.default_limits.get(stage)).await?;
    }
    for r in routing::seed_rules(&catalog) {
        report.routing_rules += store::insert_routing_rule(
            &mut *tx,
            store::NewRoutingRule {
                id: &r.id,
                department: &r.department,
                category: json!(r.category),
                area: json!(r.area),
                priority: r.priority,
            },
        )
        .await?;
    }
    store::insert_default_calendar(&mut *tx, json!(WorkingCalendar::china_default())).await?;
    tx.commit().await?;
    Ok(report)
}

async fn insert_limit(
    conn: &mut sqlx::PgConnection,
    scope: &str,
    stage: Stage,
    limit: citygrid_grid_mgmt::deadline::TimeLimit,
) -> Result<u64, sqlx::Error> {
    store::insert_time_limit(
        conn,
        scope,
        stage_name(stage),
        i32::try_from(limit.amount).unwrap_or(i32::MAX),
        unit_name(limit.unit),
    )
    .await
}

// ----------------------------------------------------------------------------- demo

use citygrid_grid_mgmt::workflow;

use citygrid_spatial_api::mgmt::cases::{perform, ActionBody, Visibility};
use citygrid_spatial_api::mgmt::common::ActorInfo;
use citygrid_spatial_api::mgmt::intake::{intake, IntakeInput};

use super::gridstore;

/// A demo seed step that failed.
#[derive(Debug, thiserror::Error)]
#[error("demo seed: {0}")]
pub struct DemoError(pub String);

impl From<sqlx::Error> for DemoError {
    fn from(e: sqlx::Error) -> Self {
        DemoError(e.to_string())
    }
}

/// Admin code of the demo district (the OSM import numbers components with it).
pub const DEMO_ADMIN: &str = "420102";
/// The demo street.
pub const DEMO_STREET: &str = "001";
/// The sample city's box (central Helsinki) when no OSM layer says otherwise.
const DEMO_BOX: [f64; 4] = [24.935, 60.164, 24.953, 60.179];

/// Seeds the demo (see the module documentation).
pub async fn demo(pool: &PgPool) -> Result<(), DemoError> {
    reference(pool).await?;
    let grids =
        citygrid_store::places::count_street_grids(pool, &format!("{DEMO_ADMIN}{DEMO_STREET}"))
            .await?;
    if grids == 0 {
        let bounds = store::osm_bounds(pool).await?;
        let b = bounds.filter(|b| b.len() == 4).unwrap_or(DEMO_BOX.to_vec());
        let area = geo::MultiPolygon(vec![geo::Rect::new(
            geo::coord! {x: b[0], y: b[1]},
            geo::coord! {x: b[2], y: b[3]},
        )
        .to_polygon()]);
        let opts = gridstore::GenerateOptions {
            admin: DEMO_ADMIN.parse().map_err(|e| DemoError(format!("{e}")))?,
            street: DEMO_STREET.parse().map_err(|e| DemoError(format!("{e}")))?,
            community: None,
            cell_m: 100.0,
            replace: false,
            admin_name: Some("江岸区 (demo: central Helsinki)".into()),
            street_name: Some("Kluuvi 街道".into()),
            default_department: Some("city_appearance".into()),
        };
        let r = gridstore::generate(pool, area, &opts)
            .await
            .map_err(|e| DemoError(format!("generating the demo unit grids: {e}")))?;
        tracing::info!(
            grids = r.grids,
            communities = r.communities,
            "demo unit grids generated"
        );
    }
    let has_osm = store::has_osm_components(pool).await?;
    let components = store::count_components(pool).await?;
    if has_osm && components == 0 {
        let n = gridstore::import_components(pool, "osm_components")
            .await
            .map_err(|e| DemoError(e.to_string()))?;
        tracing::info!(components = n, "demo components loaded");
    }
    demo_cases(pool).await
}

async fn demo_cases(pool: &PgPool) -> Result<(), DemoError> {
    let existing = store::count_demo_cases(pool).await?;
    if existing > 0 {
        return Ok(());
    }
    let reference = citygrid_store::reference::load(pool)
        .await
        .map_err(|e| DemoError(e.to_string()))?;
    let actor = ActorInfo {
        actor: workflow::Actor::new("demo", workflow::Role::Admin, None),
        user_id: None,
        label: "demo".into(),
        role: Some(citygrid_spatial_api::auth::Role::Admin),
    };
    // (category, lon, lat, description, steps)
    let cases: [(&str, f64, f64, &str, &[&str]); 6] = [
        (
            "E0102",
            24.9440,
            60.1700,
            "Exposed rubbish next to the market hall",
            &[],
        ),
        ("P0111", 24.9465, 60.1712, "Street lamp out", &["register"]),
        (
            "E0104",
            24.9410,
            60.1682,
            "Dirty pavement after the weekend",
            &["register", "dispatch"],
        ),
        (
            "P0102",
            24.9480,
            60.1730,
            "Sewage cover rattles",
            &["register", "dispatch", "accept"],
        ),
        (
            "P0401",
            24.9395,
            60.1745,
            "Broken branch over the path",
            &["register", "dispatch", "accept", "feedback"],
        ),
        (
            "E0102",
            24.9500,
            60.1665,
            "Rubbish bags by the harbour",
            &[
                "register",
                "dispatch",
                "accept",
                "feedback",
                "request_check",
                "check_pass",
                "close",
            ],
        ),
    ];
    let now = chrono::Utc::now().fixed_offset();
    for (i, (cat, lon, lat, text, steps)) in cases.iter().enumerate() {
        let input = IntakeInput {
            category: cat.parse().map_err(|e| DemoError(format!("{e}")))?,
            lon: *lon,
            lat: *lat,
            description: Some((*text).to_string()),
            address: None,
            source: if i % 2 == 0 {
                "inspector".into()
            } else {
                "hotline".into()
            },
            component_id: None,
            reporter_name: None,
            reporter_contact: None,
            api_key_id: None,
            reported_at: now - chrono::Duration::hours(2 + i as i64),
            attributes: json!({"demo": true}),
            media_url: None,
            actor: actor.clone(),
            token: None,
            visible_to: citygrid_store::cases::Visibility::All,
        };
        let created = match intake(pool, None, &reference, input, None).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "demo case skipped");
                continue;
            }
        };
        for step in steps.iter() {
            let body = ActionBody {
                action: (*step).to_string(),
                note: Some("demo".into()),
                department: (*step == "dispatch")
                    .then(|| "sanitation".to_string())
                    .filter(|_| cat.starts_with('E')),
                ..ActionBody::default()
            };
            perform(
                pool,
                &reference,
                &actor,
                &Visibility::All,
                created.id,
                &body,
            )
            .await
            .map_err(|e| DemoError(format!("demo case {}: {step}: {e}", created.case_no)))?;
        }
    }
    Ok(())
}
