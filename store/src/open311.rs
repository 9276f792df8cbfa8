//! Open311 service requests: cases read as GeoReport v2 requests, and the tokens
//! handed out when a request is filed.

use chrono::{DateTime, FixedOffset, Utc};
use sqlx::{PgExecutor, Postgres, QueryBuilder};

use crate::Result;

/// A case as a service request: `case_no`, `status`, `category`, `description`, the
/// department's name, `last_public_note`, `reported_at`, `updated_at`, `handling_due`,
/// `address`, latitude, longitude, `media_url`.
pub type SummaryRow = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    DateTime<Utc>,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    Option<String>,
    f64,
    f64,
    Option<String>,
);

const SUMMARY_SQL: &str = "SELECT c.case_no, c.status, c.category, c.description, d.name, c.last_public_note, \
    c.reported_at, c.updated_at, c.handling_due, c.address, ST_Y(c.geom), ST_X(c.geom), c.media_url \
    FROM cases c LEFT JOIN departments d ON d.code = c.department WHERE true";

/// Open or closed requests (closed: `closed` or `voided` cases).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Not closed or voided.
    Open,
    /// Closed or voided.
    Closed,
}

/// Which requests to list.
#[derive(Debug, Clone)]
pub enum RequestFilter {
    /// These case numbers.
    Ids(Vec<String>),
    /// Reported within `start..=end`, of these categories (codes) and this status when
    /// given.
    Period {
        /// First instant.
        start: DateTime<FixedOffset>,
        /// Last instant.
        end: DateTime<FixedOffset>,
        /// Category codes.
        categories: Option<Vec<String>>,
        /// Open or closed only.
        status: Option<Status>,
    },
}

/// The requests `filter` selects, newest first, at most 1000.
pub async fn list(db: impl PgExecutor<'_>, filter: RequestFilter) -> Result<Vec<SummaryRow>> {
    let mut qb: QueryBuilder<Postgres> = QueryBuilder::new(SUMMARY_SQL);
    match filter {
        RequestFilter::Ids(ids) => {
            qb.push(" AND c.case_no = ANY(").push_bind(ids).push(")");
        }
        RequestFilter::Period {
            start,
            end,
            categories,
            status,
        } => {
            qb.push(" AND c.reported_at >= ")
                .push_bind(start)
                .push(" AND c.reported_at <= ")
                .push_bind(end);
            if let Some(list) = categories {
                qb.push(" AND c.category = ANY(").push_bind(list).push(")");
            }
            match status {
                None => {}
                Some(Status::Closed) => {
                    qb.push(" AND c.status IN ('closed', 'voided')");
                }
                Some(Status::Open) => {
                    qb.push(" AND c.status NOT IN ('closed', 'voided')");
                }
            }
        }
    }
    qb.push(" ORDER BY c.reported_at DESC LIMIT 1000");
    qb.build_query_as().fetch_all(db).await
}

/// The request of case number `case_no` (no row or one).
pub async fn by_case_no(db: impl PgExecutor<'_>, case_no: &str) -> Result<Vec<SummaryRow>> {
    sqlx::query_as(&format!("{SUMMARY_SQL} AND c.case_no = $1"))
        .bind(case_no)
        .fetch_all(db)
        .await
}

/// The case number a request token stands for.
pub async fn case_no_of_token(db: impl PgExecutor<'_>, token: &str) -> Result<Option<String>> {
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT c.case_no FROM open311_tokens t JOIN cases c ON c.id = t.case_id WHERE t.token = $1",
    )
    .bind(token)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|(c,)| c))
}
