//! Reading the reference data (major classes, active categories and departments, time
//! limits, active routing rules, street defaults, the working calendar) into
//! `citygrid-grid-mgmt`'s [`Reference`].

use std::collections::HashMap;

use chrono::{DateTime, FixedOffset, Utc};
use citygrid_grid_mgmt::calendar::{CalendarSpec, WorkingCalendar};
use citygrid_grid_mgmt::catalog::{
    Catalog, Category, CategoryAttribute, Department, MajorClassInfo, StageLimits,
};
use citygrid_grid_mgmt::codes::{AdminCode, MajorClass, StreetCode};
use citygrid_grid_mgmt::deadline::TimeLimit;
use citygrid_grid_mgmt::reference::{parse_stage, parse_unit, Channel, LimitRule, Reference};
use citygrid_grid_mgmt::routing::{AreaScope, CategoryScope, RoutingRule, TerritorialDefault};
use serde_json::Value;
use sqlx::PgPool;

use crate::Result;

/// Reads everything. Rows that do not parse (a code or a scope the domain does not
/// know) are left out; a stored calendar that does not parse gives China's default.
pub async fn load(pool: &PgPool) -> Result<Reference> {
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
        .unwrap_or_else(WorkingCalendar::china_default)
        .with_arrangements(crate::arrangements::load(pool).await?);
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

/// A routing rule row: the rule, whether it is active, and its note.
pub type RuleRow = (RoutingRule, bool, Option<String>);

/// Reads the routing rules (only active ones when `active_only`).
pub async fn load_rules(pool: &PgPool, active_only: bool) -> Result<Vec<RuleRow>> {
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
