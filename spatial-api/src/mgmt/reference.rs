//! The reference data every intake and workflow step needs (categories, time limits,
//! routing rules, territorial defaults, the working calendar, departments), read from
//! PostGIS once and cached until it changes (`NOTIFY citygrid_mgmt` from the tables'
//! triggers, or an edit through this service).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, FixedOffset, Utc};
use citygrid_grid_mgmt::calendar::{CalendarSpec, WorkingCalendar};
use citygrid_grid_mgmt::catalog::{
    Catalog, Category, CategoryAttribute, Department, MajorClassInfo, Stage, StageLimits,
};
use citygrid_grid_mgmt::codes::{AdminCode, CategoryCode, MajorClass, StreetCode};
use citygrid_grid_mgmt::deadline::{TimeLimit, TimeUnit};
use citygrid_grid_mgmt::routing::{AreaScope, CategoryScope, RoutingRule, TerritorialDefault};
use serde_json::Value;
use sqlx::PgPool;

use crate::error::ApiError;

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

/// A department's delivery channel.
#[derive(Debug, Clone, PartialEq)]
pub struct Channel {
    /// Webhook URL.
    pub url: String,
    /// Secret for the signature header.
    pub secret: Option<String>,
}

/// The cached reference data.
#[derive(Debug, Clone)]
pub struct Reference {
    /// Major classes, active categories and departments as grid-mgmt's catalogue.
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

/// How specific a limit scope is for `code` (None: does not apply).
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
    /// The time limit of `stage` for `code`: the most specific rule, else the built-in
    /// default of grid-mgmt's catalogue.
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

    /// Reads everything.
    pub async fn load(pool: &PgPool) -> Result<Reference, ApiError> {
        let seed = Catalog::default_seed();
        let majors: Vec<(String, String, String)> =
            sqlx::query_as("SELECT code, name_zh, name_en FROM major_classes ORDER BY code")
                .fetch_all(pool)
                .await?;
        let majors: Vec<MajorClassInfo> = majors
            .into_iter()
            .filter_map(|(code, zh, en)| {
                Some(MajorClassInfo {
                    class: code.parse::<MajorClass>().ok()?,
                    name_zh: zh,
                    name_en: en,
                })
            })
            .collect();
        type CatRow = (
            String,
            String,
            String,
            String,
            String,
            Option<String>,
            Value,
        );
        let cats: Vec<CatRow> = sqlx::query_as(
            "SELECT code, name_zh, name_en, register_condition, close_condition, \
                    default_department, attributes \
             FROM categories WHERE active ORDER BY code",
        )
        .fetch_all(pool)
        .await?;
        let categories = cats
            .into_iter()
            .filter_map(|(code, zh, en, reg, close, dep, attrs)| {
                Some(Category {
                    code: code.parse().ok()?,
                    name_zh: zh,
                    name_en: en,
                    register_condition: reg,
                    close_condition: close,
                    default_department: dep,
                    limits: None,
                    attributes: serde_json::from_value::<Vec<CategoryAttribute>>(attrs)
                        .unwrap_or_default(),
                })
            })
            .collect();
        type DepRow = (
            String,
            String,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        let deps: Vec<DepRow> = sqlx::query_as(
            "SELECT code, name, name_en, webhook_url, webhook_secret FROM departments \
             WHERE active ORDER BY code",
        )
        .fetch_all(pool)
        .await?;
        let mut channels = HashMap::new();
        let departments = deps
            .into_iter()
            .map(|(code, name, name_en, url, secret)| {
                if let Some(url) = url {
                    channels.insert(code.clone(), Channel { url, secret });
                }
                Department {
                    name_en: name_en.unwrap_or_else(|| name.clone()),
                    name_zh: name,
                    code,
                }
            })
            .collect();
        let limit_rows: Vec<(String, String, i32, String)> =
            sqlx::query_as("SELECT scope, stage, amount, unit FROM time_limit_rules")
                .fetch_all(pool)
                .await?;
        let limits: Vec<LimitRule> = limit_rows
            .into_iter()
            .filter_map(|(scope, stage, amount, unit)| {
                Some(LimitRule {
                    scope,
                    stage: parse_stage(&stage)?,
                    limit: TimeLimit {
                        amount: u32::try_from(amount).ok()?,
                        unit: parse_unit(&unit)?,
                    },
                })
            })
            .collect();
        let rules = load_rules(pool, true)
            .await?
            .into_iter()
            .map(|(rule, _, _)| rule)
            .collect();
        let street_rows: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT code, default_department FROM layers.streets WHERE default_department IS NOT NULL",
        )
        .fetch_all(pool)
        .await?;
        let defaults = street_rows
            .into_iter()
            .filter_map(|(code, dep)| {
                Some(TerritorialDefault {
                    admin: code.get(0..6)?.parse::<AdminCode>().ok()?,
                    street: code.get(6..9)?.parse::<StreetCode>().ok()?,
                    department: dep?,
                })
            })
            .collect();
        let spec: Option<(Value,)> =
            sqlx::query_as("SELECT spec FROM calendars WHERE code = 'default'")
                .fetch_optional(pool)
                .await?;
        let calendar = spec
            .and_then(|(v,)| serde_json::from_value::<CalendarSpec>(v).ok())
            .and_then(|s| WorkingCalendar::new(s).ok())
            .unwrap_or_else(WorkingCalendar::china_default);
        let default_limits = StageLimits {
            registration: seed.default_limits.registration,
            dispatch: seed.default_limits.dispatch,
            handling: seed.default_limits.handling,
            checking: seed.default_limits.checking,
        };
        Ok(Reference {
            catalog: Catalog {
                majors,
                categories,
                departments,
                default_limits,
            },
            limits,
            rules,
            defaults,
            calendar,
            channels,
        })
    }
}

/// A routing rule row: the rule, whether it is active, and its note.
pub type RuleRow = (RoutingRule, bool, Option<String>);

/// Reads the routing rules (only active ones when `active_only`).
pub async fn load_rules(pool: &PgPool, active_only: bool) -> Result<Vec<RuleRow>, ApiError> {
    type Row = (
        String,
        String,
        Value,
        Value,
        i32,
        Option<DateTime<Utc>>,
        Option<DateTime<Utc>>,
        bool,
        Option<String>,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, department, category, area, priority, valid_from, valid_to, active, note \
         FROM routing_rules WHERE active OR NOT $1 ORDER BY id",
    )
    .bind(active_only)
    .fetch_all(pool)
    .await?;
    let utc = FixedOffset::east_opt(0).expect("zero offset");
    Ok(rows
        .into_iter()
        .filter_map(
            |(id, department, category, area, priority, from, to, active, note)| {
                let category: CategoryScope = serde_json::from_value(category).ok()?;
                let area: AreaScope = serde_json::from_value(area).ok()?;
                Some((
                    RoutingRule {
                        id,
                        department,
                        category,
                        area,
                        priority,
                        valid_from: from.map(|t| t.with_timezone(&utc)),
                        valid_to: to.map(|t| t.with_timezone(&utc)),
                    },
                    active,
                    note,
                ))
            },
        )
        .collect())
}

/// The cache.
#[derive(Default)]
pub struct ReferenceCache {
    current: RwLock<Option<(Arc<Reference>, Instant)>>,
    generation: AtomicU64,
}

/// How long a cached copy is trusted without a change notice (a safety net).
const MAX_AGE: Duration = Duration::from_secs(60);

impl ReferenceCache {
    /// The current reference data (loaded when missing or invalidated).
    pub async fn get(&self, pool: &PgPool) -> Result<Arc<Reference>, ApiError> {
        if let Ok(guard) = self.current.read() {
            if let Some((r, at)) = guard.as_ref() {
                if at.elapsed() < MAX_AGE {
                    return Ok(Arc::clone(r));
                }
            }
        }
        let generation = self.generation.load(Ordering::SeqCst);
        let fresh = Arc::new(Reference::load(pool).await?);
        if self.generation.load(Ordering::SeqCst) == generation {
            if let Ok(mut guard) = self.current.write() {
                *guard = Some((Arc::clone(&fresh), Instant::now()));
            }
        }
        Ok(fresh)
    }

    /// Forgets the cached copy (after a change).
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut guard) = self.current.write() {
            *guard = None;
        }
    }
}
