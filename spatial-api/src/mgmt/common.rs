//! Small helpers shared by the grid-management handlers.

use chrono::{DateTime, FixedOffset};
use citygrid_grid_mgmt::workflow;
use serde::Deserialize;

use crate::auth::{Principal, Role};
use crate::error::ApiError;

/// Now, by the service's clock ([`crate::clock`]), as a fixed-offset time (UTC).
pub fn now() -> DateTime<FixedOffset> {
    crate::clock::now()
}

/// A 400 with the error's message.
pub fn bad(e: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(e.to_string())
}

/// The `bbox` parameter of the management lists: `w,s,e,n` in degrees, by the one rule
/// (`citygrid_geo::bbox`); its envelopes (two for a box across the antimeridian), none
/// when the parameter is absent or empty.
pub fn lonlat_bbox(text: Option<&str>) -> Result<Vec<[f64; 4]>, ApiError> {
    match text.filter(|s| !s.is_empty()) {
        Some(t) => citygrid_geo::bbox::lonlat_envelopes(t).map_err(bad),
        None => Ok(Vec::new()),
    }
}

/// Whether `s` is a safe identifier (`[a-z0-9_]+`, at most 48 bytes).
pub fn is_ident(s: &str) -> bool {
    citygrid_db::is_identifier(s, 48)
}

/// Paging of list endpoints: `limit` (default 100, at most 1000) and `offset`.
#[derive(Debug, Deserialize, Default)]
pub struct Page {
    /// Rows per page.
    pub limit: Option<i64>,
    /// Rows to skip.
    pub offset: Option<i64>,
}

impl Page {
    /// The bounded `(limit, offset)`.
    pub fn bounds(&self) -> Result<(i64, i64), ApiError> {
        let limit = self.limit.unwrap_or(100);
        let offset = self.offset.unwrap_or(0);
        if !(1..=1000).contains(&limit) {
            return Err(bad("limit must be between 1 and 1000"));
        }
        if !(0..=10_000_000).contains(&offset) {
            return Err(bad("offset must be between 0 and 10000000"));
        }
        Ok((limit, offset))
    }
}

/// The grid-mgmt workflow role of an API role.
pub fn workflow_role(role: Role) -> workflow::Role {
    match role {
        Role::Public => workflow::Role::Public,
        Role::Inspector => workflow::Role::Inspector,
        Role::Acceptor => workflow::Role::Acceptor,
        Role::ShiftLeader => workflow::Role::ShiftLeader,
        Role::Dispatcher => workflow::Role::Dispatcher,
        Role::Department => workflow::Role::Department,
        Role::Admin => workflow::Role::Admin,
    }
}

/// Who acts, as the workflow and the event rows see it.
#[derive(Debug, Clone)]
pub struct ActorInfo {
    /// The workflow actor (user id as text, role, department).
    pub actor: workflow::Actor,
    /// `users.id` of a signed-in user.
    pub user_id: Option<i64>,
    /// A label for the event row: user name, `public` or `key:<name>`.
    pub label: String,
    /// The API role of a signed-in user.
    pub role: Option<Role>,
}

impl ActorInfo {
    /// From the request's principal.
    pub fn of(principal: &Principal) -> ActorInfo {
        match principal {
            Principal::User(u) => ActorInfo {
                actor: workflow::Actor::new(
                    &u.id.to_string(),
                    workflow_role(u.role),
                    u.department.as_deref(),
                ),
                user_id: Some(u.id),
                label: u.username.clone(),
                role: Some(u.role),
            },
            Principal::Key(k) => ActorInfo {
                actor: workflow::Actor::new(&format!("key:{}", k.id), workflow::Role::Public, None),
                user_id: None,
                label: format!("key:{}", k.name),
                role: None,
            },
            Principal::Anonymous => ActorInfo {
                actor: workflow::Actor::new("public", workflow::Role::Public, None),
                user_id: None,
                label: "public".into(),
                role: None,
            },
        }
    }
}

/// Parses an RFC 3339 time from a query or body field.
pub fn parse_time(field: &str, s: &str) -> Result<DateTime<FixedOffset>, ApiError> {
    DateTime::parse_from_rfc3339(s.trim()).map_err(|e| {
        bad(format!(
            "{field} must be an RFC 3339 time such as 2025-03-07T16:00:00+08:00 ({e})"
        ))
    })
}

/// Whether a PostgreSQL error is a unique or foreign-key violation / check failure, as
/// a clear 4xx.
pub fn constraint_error(e: sqlx::Error, what: &str) -> ApiError {
    if let sqlx::Error::Database(db) = &e {
        match db.code().as_deref() {
            Some("23505") => return ApiError::Conflict(format!("{what} already exists")),
            Some("23503") => {
                return ApiError::Unprocessable(format!(
                    "{what} refers to something that does not exist ({})",
                    db.message()
                ))
            }
            Some("23514") | Some("22P02") | Some("22023") => {
                return ApiError::Unprocessable(format!("{what} is not valid: {}", db.message()))
            }
            // not_null_violation: a field sent as null that the record must have.
            Some("23502") => {
                let field = db
                    .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                    .and_then(|pg| pg.column())
                    .unwrap_or("a required field");
                return ApiError::Unprocessable(format!("{what}: {field} must not be null"));
            }
            _ => {}
        }
    }
    ApiError::from(e)
}
