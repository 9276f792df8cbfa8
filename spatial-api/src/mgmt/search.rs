//! `GET /api/cases`: the console's case list with server-side search (`q`), filters,
//! sorting and paging with a total, within what the caller may see. The parameters
//! are checked here (a clear 400 for each), the SQL is `citygrid_store::case_search`.

use axum::extract::{Query, State};
use axum::Json;
use chrono::NaiveDate;
use citygrid_grid_mgmt::codes::{CategoryCode, GridCode};
use citygrid_grid_mgmt::workflow::CaseState;
use citygrid_store::case_search::{self as store, Bound, SortKey};
use citygrid_store::cases::Visibility;
use serde::Deserialize;
use serde_json::{json, Value};

use super::cases::visibility;
use super::common::{bad, lonlat_bbox, now};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The most rows of one page.
pub const MAX_LIMIT: i64 = 200;
/// Rows of a page when `limit` is not given.
pub const DEFAULT_LIMIT: i64 = 100;
/// The longest search text, in characters.
pub const MAX_Q_CHARS: usize = 100;
/// The longest `due_within` window, in hours (30 days).
pub const MAX_DUE_WITHIN_HOURS: i64 = 720;
/// The case sources (`cases.source`).
pub const SOURCES: &[&str] = &[
    "inspector",
    "public",
    "hotline",
    "open311",
    "video",
    "sensor",
    "superior",
    "console",
];

/// The city's time zone (an IANA name, configuration `timezone`, default
/// `Asia/Shanghai`): the days of `from`/`to` are days there.
pub fn city_time_zone(state: &AppState) -> String {
    state.config.tz().name().to_string()
}

/// Query of `GET /api/cases`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Free text (at most 100 characters) found in the case number, description,
    /// address or reporter (name, or the reporting user's name); case-insensitive.
    q: Option<String>,
    /// Workflow states, comma-separated (`reported,registered`…).
    status: Option<String>,
    /// Category codes, comma-separated (`P0101,E0101`).
    category: Option<String>,
    /// A department code (`mine`: the caller's own).
    department: Option<String>,
    /// A unit grid code (15 digits).
    grid: Option<String>,
    /// A community code (12 digits).
    community: Option<String>,
    /// A street code (9 digits).
    street: Option<String>,
    /// Sources, comma-separated (`inspector`, `public`, `hotline`, `open311`, `video`,
    /// `sensor`, `superior`, `console`).
    source: Option<String>,
    /// Only cases past (true) or within (false) their current deadline.
    overdue: Option<bool>,
    /// Only cases whose current deadline falls within this many hours (1–720).
    due_within: Option<i64>,
    /// Only cases with (true) or without (false) a pending extension request.
    extension_pending: Option<bool>,
    /// `w,s,e,n` in degrees.
    bbox: Option<String>,
    /// Reported at or after: an RFC 3339 time, or a day `YYYY-MM-DD` in the city's
    /// time zone (from its start).
    from: Option<String>,
    /// Reported before an RFC 3339 time, or on or before a day `YYYY-MM-DD` in the
    /// city's time zone (inclusive).
    to: Option<String>,
    /// `reported`, `deadline`, `status` or `id` (default), `-` before it for
    /// descending (`-reported`); `id` and `-id`: intake order.
    sort: Option<String>,
    /// Rows per page (default 100, at most 200).
    limit: Option<i64>,
    /// Rows to skip (at most 10000000).
    offset: Option<i64>,
}

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn list_of(field: &str, text: &str) -> Result<Vec<String>, ApiError> {
    let items: Vec<String> = text
        .split(',')
        .map(|x| x.trim().to_string())
        .filter(|x| !x.is_empty())
        .collect();
    if items.is_empty() || items.len() > 50 {
        return Err(bad(format!("{field} must list 1 to 50 values")));
    }
    Ok(items)
}

fn digits(field: &str, text: &str, len: usize) -> Result<String, ApiError> {
    if text.len() == len && text.bytes().all(|b| b.is_ascii_digit()) {
        Ok(text.to_string())
    } else {
        Err(bad(format!("{field} must be a code of {len} digits")))
    }
}

fn bound(field: &str, text: &str) -> Result<Bound, ApiError> {
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(Bound::Day(day));
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .map(Bound::At)
        .map_err(|_| {
            bad(format!(
                "{field} must be a day (2026-03-07) or an RFC 3339 time such as 2026-03-07T16:00:00+08:00"
            ))
        })
}

fn sort_of(text: &str) -> Result<(SortKey, bool), ApiError> {
    let (descending, key) = match text.strip_prefix('-') {
        Some(k) => (true, k),
        None => (false, text),
    };
    let key =
        match key {
            "id" => SortKey::Id,
            "reported" => SortKey::Reported,
            "deadline" => SortKey::Deadline,
            "status" => SortKey::Status,
            _ => return Err(bad(
                "sort must be reported, deadline, status or id (with - before it for descending)",
            )),
        };
    Ok((key, descending))
}

/// Turns the query into a search within `vis` (department `mine` needs the
/// principal's department).
pub fn search_of(
    q: &ListQuery,
    principal: &Principal,
    vis: &Visibility,
    time_zone: String,
) -> Result<store::Search, ApiError> {
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(bad(format!("limit must be between 1 and {MAX_LIMIT}")));
    }
    let offset = q.offset.unwrap_or(0);
    if !(0..=10_000_000).contains(&offset) {
        return Err(bad("offset must be between 0 and 10000000"));
    }
    let text = match given(&q.q) {
        Some(t) => {
            if t.chars().count() > MAX_Q_CHARS {
                return Err(bad(format!("q is longer than {MAX_Q_CHARS} characters")));
            }
            if t.chars().any(char::is_control) {
                return Err(bad("q may not contain control characters"));
            }
            Some(t.to_string())
        }
        None => None,
    };
    let states = match given(&q.status) {
        Some(s) => {
            let states = list_of("status", s)?;
            for st in &states {
                if !CaseState::ALL.iter().any(|c| c.as_str() == st) {
                    return Err(bad(format!("unknown status {st:?}")));
                }
            }
            Some(states)
        }
        None => None,
    };
    let categories = match given(&q.category) {
        Some(s) => Some(
            list_of("category", s)?
                .iter()
                .map(|c| {
                    c.parse::<CategoryCode>()
                        .map(|c| c.to_string())
                        .map_err(bad)
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        None => None,
    };
    let department = match given(&q.department) {
        Some(d) => {
            let dep = if d == "mine" {
                principal
                    .user()
                    .and_then(|u| u.department.clone())
                    .ok_or_else(|| bad("department=mine needs an account with a department"))?
            } else if super::common::is_ident(d) {
                d.to_string()
            } else {
                return Err(bad("department must be a department code or mine"));
            };
            if let Visibility::Department(own) = vis {
                if own != &dep {
                    return Err(ApiError::Forbidden(
                        "a department sees only its own cases".into(),
                    ));
                }
            }
            Some(dep)
        }
        None => None,
    };
    let grid = match given(&q.grid) {
        Some(g) => Some(g.parse::<GridCode>().map_err(bad)?.to_string()),
        None => None,
    };
    let community = given(&q.community)
        .map(|c| digits("community", c, 12))
        .transpose()?;
    let street = given(&q.street)
        .map(|c| digits("street", c, 9))
        .transpose()?;
    let sources = match given(&q.source) {
        Some(s) => {
            let sources = list_of("source", s)?;
            for src in &sources {
                if !SOURCES.contains(&src.as_str()) {
                    return Err(bad(format!(
                        "unknown source {src:?} (one of {})",
                        SOURCES.join(", ")
                    )));
                }
            }
            Some(sources)
        }
        None => None,
    };
    if let Some(h) = q.due_within {
        if !(1..=MAX_DUE_WITHIN_HOURS).contains(&h) {
            return Err(bad(format!(
                "due_within must be between 1 and {MAX_DUE_WITHIN_HOURS} hours"
            )));
        }
    }
    let from = given(&q.from).map(|t| bound("from", t)).transpose()?;
    let to = given(&q.to).map(|t| bound("to", t)).transpose()?;
    let (sort, descending) = match given(&q.sort) {
        Some(s) => sort_of(s)?,
        None => (SortKey::Id, true),
    };
    Ok(store::Search {
        q: text,
        states,
        categories,
        department,
        grid,
        community,
        street,
        sources,
        overdue: q.overdue,
        due_within_hours: q.due_within,
        pending_extension: q.extension_pending,
        bbox: lonlat_bbox(q.bbox.as_deref())?,
        from,
        to,
        time_zone,
        now: now(),
        sort,
        descending,
        limit,
        offset,
    })
}

/// `GET /api/cases`: one page of the cases the caller may see that match the query,
/// `{cases, total, limit, offset}` (`total`: how many match in all).
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(q) = q.map_err(bad)?;
    let vis = visibility(&principal)?;
    let search = search_of(&q, &principal, &vis, city_time_zone(&state))?;
    let (cases, total) = store::search(&state.pool, &vis, &search).await?;
    Ok(Json(json!({
        "cases": cases,
        "total": total,
        "limit": search.limit,
        "offset": search.offset,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_and_bounds_parse() {
        assert_eq!(sort_of("-deadline").unwrap(), (SortKey::Deadline, true));
        assert_eq!(sort_of("status").unwrap(), (SortKey::Status, false));
        assert!(sort_of("name").is_err());
        assert!(matches!(bound("to", "2026-12-06"), Ok(Bound::Day(_))));
        assert!(matches!(
            bound("to", "2026-12-06T00:00:00+08:00"),
            Ok(Bound::At(_))
        ));
        assert!(bound("to", "yesterday").is_err());
        assert!(digits("street", "001", 9).is_err());
        assert_eq!(digits("street", "420102001", 9).unwrap(), "420102001");
    }
}
