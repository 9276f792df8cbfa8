//! China's public holidays of the working calendar (issue 20): the statutory days of
//! any year (computed) and the yearly arrangements an administrator imports.
//!
//! - `GET /api/holidays`: the imported arrangements and the years missing one;
//! - `GET /api/holidays/{year}`: a year's statutory days, its arrangement (or none)
//!   and the days off and make-up days the deadlines use;
//! - `PUT /api/holidays/{year}` (admin): import the year's arrangement, JSON
//!   (`ArrangementSpec`) or CSV (`# year:`/`# source:` lines, then `kind,from,to,name`);
//!   validated (422 with the reason), stored with its source;
//! - `DELETE /api/holidays/{year}` (admin): back to the statutory days.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::Json;
use chrono::NaiveDate;
use citygrid_grid_mgmt::holidays::{self, Arrangement, HolidayError};
use serde_json::{json, Value};

use crate::auth::{Access, Principal, Role};
use crate::error::{ApiError, ApiResult};
use crate::router::RouteTable;
use crate::state::AppState;

/// An arrangement file is at most this long (a real one is about 1 KiB).
pub const MAX_ARRANGEMENT_BYTES: usize = 64 * 1024;

/// The routes.
pub fn routes(t: RouteTable) -> RouteTable {
    const ADMIN: &[Role] = &[Role::Admin];
    t.add(
        axum::http::Method::GET,
        "/api/holidays",
        Access::Authenticated,
        get(list),
    )
    .add(
        axum::http::Method::GET,
        "/api/holidays/{year}",
        Access::Authenticated,
        get(one),
    )
    .add(
        axum::http::Method::PUT,
        "/api/holidays/{year}",
        Access::Roles(ADMIN),
        axum::routing::put(import),
    )
    .add(
        axum::http::Method::DELETE,
        "/api/holidays/{year}",
        Access::Roles(ADMIN),
        axum::routing::delete(remove),
    )
}

/// Today in the city's time zone, by the service's clock.
pub fn today(state: &AppState) -> NaiveDate {
    crate::clock::now()
        .with_timezone(&state.config.tz())
        .date_naive()
}

/// The years whose arrangement is missing today (this year, and next year from 60
/// days before it starts), from the cached reference data.
pub async fn missing_years(state: &AppState) -> ApiResult<Vec<i32>> {
    let reference = state.mgmt.reference.get(&state.pool).await?;
    Ok(reference.calendar.missing_arrangements(today(state)))
}

/// A 4xx for an arrangement that cannot be used: 400 for the file's shape, 422 for
/// what it says.
fn refused(e: HolidayError) -> ApiError {
    match e {
        HolidayError::Format(m) => ApiError::BadRequest(m),
        HolidayError::TooLarge(m) => ApiError::TooLarge(m),
        other => ApiError::Unprocessable(other.to_string()),
    }
}

fn year_of(text: &str) -> ApiResult<i32> {
    text.parse::<i32>()
        .ok()
        .filter(|y| (holidays::FIRST_YEAR..=holidays::LAST_YEAR).contains(y))
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "year must be a number from {} to {}, got {text:?}",
                holidays::FIRST_YEAR,
                holidays::LAST_YEAR
            ))
        })
}

fn arrangement_json(row: &citygrid_store::arrangements::ArrangementRow) -> Value {
    let bridged = row
        .arrangement()
        .map(|a| a.bridged_days())
        .unwrap_or_default();
    json!({
        "year": row.year,
        "source": row.source,
        "imported_at": row.imported_at,
        "imported_by": row.imported_by,
        "periods": row.spec.get("periods"),
        "makeup_workdays": row.spec.get("makeup_workdays"),
        "bridged_days": bridged,
    })
}

/// `GET /api/holidays`.
async fn list(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let rows = citygrid_store::arrangements::list(&state.pool).await?;
    Ok(Json(json!({
        "arrangements": rows.iter().map(arrangement_json).collect::<Vec<_>>(),
        "missing": missing_years(&state).await?,
        "today": today(&state).to_string(),
        "timezone": state.config.timezone,
    })))
}

/// `GET /api/holidays/{year}`.
async fn one(State(state): State<AppState>, Path(year): Path<String>) -> ApiResult<Json<Value>> {
    let year = year_of(&year)?;
    let statutory = holidays::statutory_holidays(year).map_err(refused)?;
    let reference = state.mgmt.reference.get(&state.pool).await?;
    let rows = citygrid_store::arrangements::list(&state.pool).await?;
    let row = rows.iter().find(|r| r.year == year);
    let cal = &reference.calendar;
    let (days_off, makeup): (Vec<NaiveDate>, Vec<NaiveDate>) = match cal.arrangement(year) {
        Some(a) => (
            a.days_off().iter().copied().collect(),
            a.makeup_workdays().iter().copied().collect(),
        ),
        None => (statutory.iter().map(|h| h.date).collect(), Vec::new()),
    };
    Ok(Json(json!({
        "year": year,
        "statutory": statutory.iter().map(|h| json!({
            "date": h.date, "festival": h.festival, "name_zh": h.festival.name_zh(), "name_en": h.festival.name_en(),
        })).collect::<Vec<_>>(),
        "arrangement": row.map(arrangement_json),
        "national_holidays": cal.spec().national_holidays,
        "days_off": days_off,
        "makeup_workdays": makeup,
    })))
}

/// `PUT /api/holidays/{year}`: the body is the arrangement, JSON or CSV.
async fn import(
    State(state): State<AppState>,
    principal: Principal,
    Path(year): Path<String>,
    body: String,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let year = year_of(&year)?;
    if body.len() > MAX_ARRANGEMENT_BYTES {
        return Err(ApiError::TooLarge(format!(
            "an arrangement is at most {MAX_ARRANGEMENT_BYTES} bytes"
        )));
    }
    let a = Arrangement::parse(&body).map_err(refused)?;
    if a.year() != year {
        return Err(ApiError::Unprocessable(format!(
            "the arrangement is for {}, not {year}",
            a.year()
        )));
    }
    let by = principal
        .user()
        .map(|u| u.username.clone())
        .unwrap_or_else(|| "admin".into());
    let replaced = citygrid_store::arrangements::put(&state.pool, &a, &by).await?;
    state.mgmt.reference.invalidate();
    let rows = citygrid_store::arrangements::list(&state.pool).await?;
    let row = rows
        .iter()
        .find(|r| r.year == year)
        .ok_or_else(|| ApiError::Internal("the stored arrangement is gone".into()))?;
    let status = if replaced {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(arrangement_json(row))))
}

/// `DELETE /api/holidays/{year}`.
async fn remove(State(state): State<AppState>, Path(year): Path<String>) -> ApiResult<StatusCode> {
    let year = year_of(&year)?;
    if !citygrid_store::arrangements::delete(&state.pool, year).await? {
        return Err(ApiError::NotFound(format!(
            "no arrangement for {year} (its statutory days apply)"
        )));
    }
    state.mgmt.reference.invalidate();
    Ok(StatusCode::NO_CONTENT)
}
