//! `GET /api/stats/evaluation`: grid-mgmt's evaluation figures for a period, from the
//! case rows and their events.

use axum::extract::{Query, State};
use axum::Json;
use chrono::{DateTime, FixedOffset, NaiveDate, TimeZone, Utc};
use citygrid_grid_mgmt::codes::{GridCode, Place};
use citygrid_grid_mgmt::evaluation::{self, CasePersons, CaseRecord, Figures, GroupBy, Period};
use serde::Deserialize;
use serde_json::{json, Value};

use super::common::{bad, now, parse_time};
use crate::auth::{Principal, Role};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// At most this many cases are evaluated in one request.
pub const MAX_CASES: i64 = 500_000;

/// Query of the evaluation.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EvalQuery {
    /// First day (`YYYY-MM-DD` in the working calendar's time zone) or an RFC 3339
    /// instant; default: 29 days before today.
    from: Option<String>,
    /// Last day, inclusive (or an RFC 3339 instant, exclusive); default: today.
    to: Option<String>,
    /// `department` (default), `grid`, `community`, `street` or `person`.
    by: Option<String>,
}

/// Which end of a period a date stands for.
#[derive(Clone, Copy)]
enum End {
    /// From the start of the day.
    From,
    /// Through the end of the day (the period ends at the next day's start).
    To,
}

/// A period bound: a date (`2026-03-02`, a day in the city's time zone; "to" is
/// inclusive, as people read "1 to 31 March") or an RFC 3339 instant (taken as is).
fn instant(
    field: &str,
    s: &str,
    offset: FixedOffset,
    end: End,
) -> Result<DateTime<FixedOffset>, ApiError> {
    if let Ok(d) = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d") {
        let day = match end {
            End::From => Some(d),
            End::To => d.succ_opt(),
        };
        return day
            .and_then(|d| {
                offset
                    .from_local_datetime(&d.and_time(chrono::NaiveTime::MIN))
                    .single()
            })
            .ok_or_else(|| bad(format!("{field} is not a valid date")));
    }
    parse_time(field, s)
}

/// Today's date in the city's time zone, by the service's clock.
fn today(offset: FixedOffset) -> NaiveDate {
    now().with_timezone(&offset).date_naive()
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
) -> ApiResult<Json<Value>> {
    let Query(q) = q.map_err(bad)?;
    let reference = state.mgmt.reference.get(&state.pool).await?;
    let offset = reference.calendar.offset();
    // Without dates: the 30 days up to and including today in the city's time zone.
    let to = match q.to.as_deref() {
        Some(s) => instant("to", s, offset, End::To)?,
        None => instant("to", &today(offset).to_string(), offset, End::To)?,
    };
    let from = match q.from.as_deref() {
        Some(s) => instant("from", s, offset, End::From)?,
        None => to - chrono::Duration::days(30),
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
    let first_day = from.with_timezone(&offset).date_naive();
    let last_day = (to - chrono::Duration::nanoseconds(1))
        .with_timezone(&offset)
        .date_naive();
    Ok(Json(json!({
        "from": from,
        "to": to,
        "from_date": first_day.to_string(),
        "to_date": last_day.to_string(),
        "today": today(offset).to_string(),
        "by": q.by.as_deref().unwrap_or("department"),
        "groups": groups,
        "total": {"counts": total, "figures": Figures::from_counts(&total)},
    })))
}
