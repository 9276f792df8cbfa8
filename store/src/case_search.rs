//! The console's case search: free text (`q` over case number, description, address
//! and reporter), filters, sorting and paging with the number of matching cases, each
//! within what the caller may see ([`crate::cases::push_visibility`]).
//!
//! The text is matched with `ILIKE '%…%'` on one expression (the trigram index of
//! migration `0013_case_search.sql` serves it) and on the reporting user's name; the
//! pattern's `%`, `_` and `\` are escaped, so the text is matched literally.
//! Calendar days (`from`/`to` as `YYYY-MM-DD`) are days in the city's time zone,
//! turned into instants by PostgreSQL (`AT TIME ZONE`); `to` is inclusive.

use chrono::{DateTime, FixedOffset, NaiveDate};
use serde_json::Value;
use sqlx::{PgPool, Postgres, QueryBuilder};

use crate::cases::{case_json_sql, push_visibility, Visibility};
use crate::Result;

/// SQL: the searchable text of case row `c` (the same expression as the index of
/// migration `0013_case_search.sql`, fields joined by a line feed, which `q` may not
/// contain).
pub const SEARCH_DOC_SQL: &str = "(c.case_no || E'\\n' || coalesce(c.description, '') || E'\\n' \
     || coalesce(c.address, '') || E'\\n' || coalesce(c.reporter_name, ''))";

/// The states that have no running deadline.
const FINAL_SQL: &str = "c.status NOT IN ('suspended', 'closed', 'voided')";

/// The workflow order of the states (sorting by status).
const STATUS_ORDER: &str = "array_position(ARRAY['reported', 'verifying', 'verified', \
     'registered', 'dispatched', 'handling', 'suspended', 'handled', 'checking', 'checked', \
     'returned', 'closed', 'voided']::text[], c.status)";

/// One end of a period: an instant, or a calendar day in the city's time zone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bound {
    /// An instant.
    At(DateTime<FixedOffset>),
    /// A day in the city's time zone (`from`: its start; `to`: its end, inclusive).
    Day(NaiveDate),
}

/// What a list is sorted by (the case id breaks ties, in the same direction).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    /// Intake order.
    #[default]
    Id,
    /// Time reported.
    Reported,
    /// The current deadline (cases without one last).
    Deadline,
    /// Workflow state, in workflow order.
    Status,
}

/// A validated search.
#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    /// Free text (no control characters, at most 100 characters).
    pub q: Option<String>,
    /// Workflow states.
    pub states: Option<Vec<String>>,
    /// Category codes.
    pub categories: Option<Vec<String>>,
    /// Department code.
    pub department: Option<String>,
    /// Unit grid code.
    pub grid: Option<String>,
    /// Community code.
    pub community: Option<String>,
    /// Street code.
    pub street: Option<String>,
    /// Sources (`inspector`, `public`, `hotline`…).
    pub sources: Option<Vec<String>>,
    /// Only cases past (true) or within (false) their deadline at `now`.
    pub overdue: Option<bool>,
    /// Only cases whose deadline falls within this many hours after `now`.
    pub due_within_hours: Option<i64>,
    /// Only cases with (true) or without (false) a pending extension request.
    pub pending_extension: Option<bool>,
    /// `w, s, e, n` in degrees.
    pub bbox: Vec<[f64; 4]>,
    /// Reported at or after.
    pub from: Option<Bound>,
    /// Reported before (an instant) or on (a day).
    pub to: Option<Bound>,
    /// The city's time zone (an IANA name such as `Asia/Shanghai`), for days.
    pub time_zone: String,
    /// Now, by the service's clock (overdue, due within).
    pub now: DateTime<FixedOffset>,
    /// Sort key.
    pub sort: SortKey,
    /// Descending.
    pub descending: bool,
    /// Rows per page.
    pub limit: i64,
    /// Rows to skip.
    pub offset: i64,
}

/// Escapes `text` for use inside an `ILIKE … ESCAPE '\'` pattern.
pub fn like_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    for ch in text.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

fn push_bound(qb: &mut QueryBuilder<'_, Postgres>, b: Bound, tz: &str, end: bool) {
    match b {
        Bound::At(t) => {
            qb.push_bind(t);
        }
        Bound::Day(d) => {
            let day = if end { d.succ_opt().unwrap_or(d) } else { d };
            qb.push("(")
                .push_bind(day)
                .push("::date::timestamp AT TIME ZONE ")
                .push_bind(tz.to_string())
                .push(")");
        }
    }
}

fn push_filters(qb: &mut QueryBuilder<'_, Postgres>, vis: &Visibility, s: &Search) {
    push_visibility(qb, vis);
    if let Some(q) = s.q.as_deref().filter(|q| !q.is_empty()) {
        let pattern = format!("%{}%", like_escape(q));
        qb.push(format!(" AND ({SEARCH_DOC_SQL} ILIKE "))
            .push_bind(pattern.clone())
            .push(
                " ESCAPE '\\' OR c.reporter_user_id IN \
                 (SELECT u.id FROM users u WHERE u.username ILIKE ",
            )
            .push_bind(pattern)
            .push(" ESCAPE '\\'))");
    }
    if let Some(states) = &s.states {
        qb.push(" AND c.status = ANY(")
            .push_bind(states.clone())
            .push(")");
    }
    if let Some(c) = &s.categories {
        qb.push(" AND c.category = ANY(")
            .push_bind(c.clone())
            .push(")");
    }
    for (column, value) in [
        ("c.department", &s.department),
        ("c.grid_code", &s.grid),
        ("c.community_code", &s.community),
        ("c.street_code", &s.street),
    ] {
        if let Some(v) = value {
            qb.push(format!(" AND {column} = ")).push_bind(v.clone());
        }
    }
    if let Some(src) = &s.sources {
        qb.push(" AND c.source = ANY(")
            .push_bind(src.clone())
            .push(")");
    }
    match s.overdue {
        Some(true) => {
            qb.push(format!(" AND {FINAL_SQL} AND c.due_at < "))
                .push_bind(s.now);
        }
        Some(false) => {
            qb.push(format!(
                " AND NOT ({FINAL_SQL} AND c.due_at IS NOT NULL AND c.due_at < "
            ))
            .push_bind(s.now)
            .push(")");
        }
        None => {}
    }
    if let Some(h) = s.due_within_hours {
        qb.push(format!(" AND {FINAL_SQL} AND c.due_at >= "))
            .push_bind(s.now)
            .push(" AND c.due_at < ")
            .push_bind(s.now)
            .push(" + make_interval(hours => ")
            .push_bind(h as i32)
            .push(")");
    }
    match s.pending_extension {
        Some(true) => {
            qb.push(" AND c.pending_extension IS NOT NULL");
        }
        Some(false) => {
            qb.push(" AND c.pending_extension IS NULL");
        }
        None => {}
    }
    crate::places::push_bbox(qb, "c.geom", &s.bbox);
    if let Some(b) = s.from {
        qb.push(" AND c.reported_at >= ");
        push_bound(qb, b, &s.time_zone, false);
    }
    if let Some(b) = s.to {
        qb.push(" AND c.reported_at < ");
        push_bound(qb, b, &s.time_zone, true);
    }
}

/// One page of the cases `vis` may see that match `s`, as JSON (see
/// [`case_json_sql`]), and how many match in all.
pub async fn search(pool: &PgPool, vis: &Visibility, s: &Search) -> Result<(Vec<Value>, i64)> {
    let mut count: QueryBuilder<Postgres> =
        QueryBuilder::new("SELECT count(*) FROM cases c WHERE true");
    push_filters(&mut count, vis, s);
    let dir = if s.descending { "DESC" } else { "ASC" };
    let order = match s.sort {
        SortKey::Id => format!("c.id {dir}"),
        SortKey::Reported => format!("c.reported_at {dir}, c.id {dir}"),
        SortKey::Deadline => format!("c.due_at {dir} NULLS LAST, c.id {dir}"),
        SortKey::Status => format!("{STATUS_ORDER} {dir}, c.id {dir}"),
    };
    // The page's rows are chosen first and only they are turned into JSON (a deep
    // page does not build the JSON of the rows it skips).
    let mut page: QueryBuilder<Postgres> = QueryBuilder::new(format!(
        "SELECT {} FROM (SELECT c.* FROM cases c WHERE true",
        case_json_sql()
    ));
    push_filters(&mut page, vis, s);
    page.push(format!(" ORDER BY {order} LIMIT "))
        .push_bind(s.limit)
        .push(" OFFSET ")
        .push_bind(s.offset)
        .push(format!(") c ORDER BY {order}"));
    let (total, rows) = tokio::try_join!(
        count.build_query_scalar::<i64>().fetch_one(pool),
        page.build_query_scalar::<Value>().fetch_all(pool),
    )?;
    Ok((rows, total))
}

/// The cases `ids` that `vis` may see, as in the list, with their number of events
/// (`event_count`), by id (the live queue's events).
pub async fn visible_summaries(pool: &PgPool, vis: &Visibility, ids: &[i64]) -> Result<Vec<Value>> {
    let mut qb: QueryBuilder<Postgres> = QueryBuilder::new(format!(
        "SELECT {} || jsonb_build_object('event_count', \
         (SELECT count(*) FROM case_events e WHERE e.case_id = c.id)) \
         FROM cases c WHERE c.id = ANY(",
        case_json_sql()
    ));
    qb.push_bind(ids.to_vec()).push(")");
    push_visibility(&mut qb, vis);
    qb.push(" ORDER BY c.id");
    qb.build_query_scalar::<Value>().fetch_all(pool).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_are_literal() {
        assert_eq!(like_escape("50%_a\\b"), "50\\%\\_a\\\\b");
        assert_eq!(like_escape("路灯"), "路灯");
    }
}
