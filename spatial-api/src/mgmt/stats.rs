//! `GET /api/stats/evaluation`: grid-mgmt's evaluation figures for a period, from the
//! case rows and their events; as JSON, or the table as CSV or XLSX (`format=`).
//!
//! Dates are days in the city's time zone (configuration `timezone`, default
//! Asia/Shanghai), by the service's clock: "today", the presets (`period=today|week|
//! month|quarter|year`) and `from`/`to` dates; the period ends at the start of the day
//! after `to`, so the chosen last day is counted whole.

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use citygrid_grid_mgmt::codes::{GridCode, Place};
use citygrid_grid_mgmt::evaluation::{self, CasePersons, CaseRecord, Figures, GroupBy, Period};
use serde::Deserialize;
use serde_json::{json, Value};

use super::common::{bad, now, parse_time};
use crate::auth::{Principal, Role};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub mod export;
pub mod live;

/// At most this many cases are evaluated in one request.
pub const MAX_CASES: i64 = 500_000;

/// Query of the evaluation.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EvalQuery {
    /// First day (`YYYY-MM-DD` in the city's time zone) or an RFC 3339 instant;
    /// default: 29 days before today.
    from: Option<String>,
    /// Last day, inclusive (or an RFC 3339 instant, exclusive); default: today.
    to: Option<String>,
    /// A preset period up to and including today: `today`, `week` (from Monday),
    /// `month`, `quarter`, `year`; `custom` (the default) uses `from` and `to`.
    period: Option<String>,
    /// `department` (default), `grid`, `community`, `street` or `person`.
    by: Option<String>,
    /// `json` (default), `csv` or `xlsx`: the table of the groups and the total.
    format: Option<String>,
}

/// Which end of a period a date stands for.
#[derive(Clone, Copy)]
pub(crate) enum End {
    /// From the start of the day.
    From,
    /// Through the end of the day (the period ends at the next day's start).
    To,
}

/// A period bound: a date (`2026-03-02`, a day in the city's time zone; "to" is
/// inclusive, as people read "1 to 31 March") or an RFC 3339 instant (taken as is).
fn instant(field: &str, s: &str, tz: Tz, end: End) -> Result<DateTime<FixedOffset>, ApiError> {
    if let Ok(d) = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d") {
        return day_start(d, tz, end).ok_or_else(|| bad(format!("{field} is not a valid date")));
    }
    parse_time(field, s)
}

/// The first instant of a day (or of the next day, for the end of a period) in `tz`
/// (the earliest, should a time-zone change skip or repeat midnight).
pub(crate) fn day_start(d: NaiveDate, tz: Tz, end: End) -> Option<DateTime<FixedOffset>> {
    let day = match end {
        End::From => Some(d),
        End::To => d.succ_opt(),
    }?;
    tz.from_local_datetime(&day.and_time(chrono::NaiveTime::MIN))
        .earliest()
        .or_else(|| {
            tz.from_local_datetime(&day.and_hms_opt(1, 0, 0)?)
                .earliest()
        })
        .map(|t| t.fixed_offset())
}

/// Today's date in the city's time zone, by the service's clock.
pub(crate) fn today(tz: Tz) -> NaiveDate {
    now().with_timezone(&tz).date_naive()
}

/// The first day of a preset period that ends today.
fn preset_start(preset: &str, today: NaiveDate) -> Result<Option<NaiveDate>, ApiError> {
    let first = |m: u32| NaiveDate::from_ymd_opt(today.year(), m, 1);
    Ok(match preset {
        "today" => Some(today),
        "week" => today.checked_sub_signed(chrono::Duration::days(i64::from(
            today.weekday().num_days_from_monday(),
        ))),
        "month" => first(today.month()),
        "quarter" => first((today.month0() / 3) * 3 + 1),
        "year" => first(1),
        "custom" => None,
        other => {
            return Err(bad(format!(
                "period must be today, week, month, quarter, year or custom, got {other:?}"
            )))
        }
    })
}

/// The roles that may read evaluation figures by person.
const PERSON_FIGURES_ROLES: [Role; 4] = [
    Role::ShiftLeader,
    Role::Acceptor,
    Role::Dispatcher,
    Role::Admin,
];

/// `GET /api/stats/evaluation?from=&to=&by=department|grid|community|street|person`.
pub async fn evaluation(
    State(state): State<AppState>,
    principal: Principal,
    q: Result<Query<EvalQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let Query(q) = q.map_err(bad)?;
    let format = match q.format.as_deref().unwrap_or("json") {
        f @ ("json" | "csv" | "xlsx") => f,
        other => {
            return Err(bad(format!(
                "format must be json, csv or xlsx, got {other:?}"
            )))
        }
    };
    let reference = state.mgmt.reference.get(&state.pool).await?;
    let tz = state.config.tz();
    let today = today(tz);
    let preset = q.period.as_deref().unwrap_or("custom");
    let (from, to) = match preset_start(preset, today)? {
        Some(first) => {
            if q.from.is_some() || q.to.is_some() {
                return Err(bad(format!(
                    "period={preset} sets the dates: leave out from and to (or use period=custom)"
                )));
            }
            let from = day_start(first, tz, End::From);
            let to = day_start(today, tz, End::To);
            from.zip(to)
                .ok_or_else(|| bad("the period cannot be expressed in the city's time zone"))?
        }
        None => {
            // Without dates: the 30 days up to and including today in the city's zone.
            let to = match q.to.as_deref() {
                Some(s) => instant("to", s, tz, End::To)?,
                None => instant("to", &today.to_string(), tz, End::To)?,
            };
            let from = match q.from.as_deref() {
                Some(s) => instant("from", s, tz, End::From)?,
                None => to - chrono::Duration::days(30),
            };
            (from, to)
        }
    };
    if from >= to {
        return Err(bad("from must be before to"));
    }
    let by = match q.by.as_deref().unwrap_or("department") {
        "department" => GroupBy::Department,
        "grid" => GroupBy::Grid,
        "community" => GroupBy::Community,
        "street" => GroupBy::Street,
        "person" => {
            // Figures per person are for the supervision centre, not for every
            // department or inspector (domain.md §6: leaders read evaluations).
            let allowed = principal
                .user()
                .is_some_and(|u| PERSON_FIGURES_ROLES.contains(&u.role));
            if !allowed {
                return Err(ApiError::Forbidden(
                    "figures by person are for the supervision centre (shift_leader, acceptor, dispatcher, admin)".into(),
                ));
            }
            GroupBy::Person
        }
        other => {
            return Err(bad(format!(
                "by must be department, grid, community, street or person, got {other:?}"
            )))
        }
    };
    let rows = citygrid_store::stats::evaluation_rows(&state.pool, to, MAX_CASES).await?;
    let offset: FixedOffset = *to.offset();
    let fx = |t: Option<DateTime<Utc>>| t.map(|t| t.with_timezone(&offset));
    let records: Vec<CaseRecord> = rows
        .into_iter()
        .map(|r| {
            let extra = &r.14;
            let person = |k: &str| extra.get(k).and_then(Value::as_str).map(str::to_owned);
            let mut rec = CaseRecord::new(&r.0, r.3.with_timezone(&offset));
            rec.place =
                r.1.as_deref()
                    .and_then(|g| g.parse::<GridCode>().ok())
                    .map(Place::from_grid)
                    .unwrap_or_default();
            rec.department = r.2.clone();
            rec.persons = CasePersons {
                reporter: person("reporter"),
                acceptor: person("acceptor"),
                dispatcher: person("dispatcher"),
                handler: person("handler"),
            };
            rec.registered_at = fx(r.4);
            rec.dispatched_at = fx(r.5);
            rec.dispatch_deadline = fx(r.6);
            rec.handling_deadline = fx(r.7);
            rec.handled_at = fx(r.8);
            rec.closing_deadline = fx(r.9);
            rec.closed_at = fx(r.10);
            rec.returned = r.11 > 0;
            rec.rework_count = u32::try_from(r.12).unwrap_or(0);
            rec.extended = r.13;
            rec.suspended_at_period_end = extra
                .get("suspended")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            rec
        })
        .collect();
    let period = Period { from, to };
    let (groups, total) = tokio::task::spawn_blocking(move || {
        (
            evaluation::evaluate(&records, &period, by),
            evaluation::total(&records, &period),
        )
    })
    .await?;
    // The period as the city reads it: its first and last day (inclusive).
    let first_day = from.with_timezone(&tz).date_naive();
    let last_day = (to - chrono::Duration::nanoseconds(1))
        .with_timezone(&tz)
        .date_naive();
    let by_name = q.by.as_deref().unwrap_or("department");
    if format != "json" {
        let names = |key: &str| -> String {
            if by == GroupBy::Department {
                reference
                    .catalog
                    .departments
                    .iter()
                    .find(|d| d.code == key)
                    .map(|d| d.name_zh.clone())
                    .unwrap_or_default()
            } else {
                String::new()
            }
        };
        let table = export::table(&groups, &total, &names);
        let stem = format!("evaluation-{by_name}-{first_day}-{last_day}");
        return export::respond(format, &table, &stem);
    }
    Ok(Json(json!({
        "from": from,
        "to": to,
        "from_date": first_day.to_string(),
        "to_date": last_day.to_string(),
        "today": today.to_string(),
        "timezone": tz.name(),
        "period": preset,
        "by": by_name,
        "groups": groups,
        "total": {"counts": total, "figures": Figures::from_counts(&total)},
    }))
    .into_response())
}
