//! Case lists, one case with its timeline, and workflow steps (one transaction each:
//! `SELECT … FOR UPDATE`, grid-mgmt's `workflow::apply`, the event row, the case row —
//! whose trigger updates the map row and sends the NOTIFY — field tasks and outbox rows).

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::Json;
use chrono::{DateTime, FixedOffset, Utc};
use citygrid_grid_mgmt::catalog::Stage;
use citygrid_grid_mgmt::codes::CategoryCode;
use citygrid_grid_mgmt::deadline;
use citygrid_grid_mgmt::workflow::{
    self, Action, ActionInput, CaseSnapshot, CaseState, WorkflowError,
};
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::{Postgres, QueryBuilder};

use super::common::{bad, now, parse_time, ActorInfo, Page};
use super::intake::stage_deadline;
use super::reference::Reference;
use crate::auth::{Principal, Role};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// SQL: whether a case row `c` is overdue now.
pub const OVERDUE_SQL: &str =
    "(c.due_at IS NOT NULL AND c.due_at < now() AND c.status NOT IN ('suspended', 'closed', 'voided'))";

/// SQL: a case row `c` as JSON (without geometry, with lon/lat and overdue).
pub fn case_json_sql() -> String {
    format!(
        "(to_jsonb(c) - 'geom') || jsonb_build_object('lon', ST_X(c.geom), 'lat', ST_Y(c.geom), 'overdue', {OVERDUE_SQL})"
    )
}

/// Which cases a caller may see.
#[derive(Debug, Clone, PartialEq)]
pub enum Visibility {
    /// Every case (supervision and command centre, admins).
    All,
    /// The cases assigned to a department.
    Department(String),
    /// An inspector (`users.id`): see [`push_visibility`].
    Inspector(i64),
}

/// The visibility of a principal (routes guarantee a signed-in user).
pub fn visibility(principal: &Principal) -> Result<Visibility, ApiError> {
    let user = principal
        .user()
        .ok_or_else(|| ApiError::Unauthorized("sign in first".into()))?;
    Ok(match user.role {
        Role::Department => Visibility::Department(user.department.clone().ok_or_else(|| {
            ApiError::Forbidden("this department account has no department".into())
        })?),
        Role::Inspector => Visibility::Inspector(user.id),
        _ => Visibility::All,
    })
}

/// SQL: the `users.id` of the active inspector responsible for the unit grid of case
/// row `c` (`layers.unit_grids.responsible` names the user), NULL when there is none.
const GRID_INSPECTOR_SQL: &str = "(SELECT u.id FROM layers.unit_grids g \
     JOIN users u ON u.username = g.responsible AND u.role = 'inspector' AND u.active \
     WHERE g.code = c.grid_code LIMIT 1)";

/// Adds the visibility condition of `v` on case row `c`.
///
/// An inspector works the unit grids whose `responsible` is his user name (domain.md
/// §1: a set of unit grids is the responsibility area of one inspector). He sees
/// - the cases he reported;
/// - the cases of field tasks he finished (done or cancelled while his), as history;
/// - the cases with an open field task in one of his grids. When a case's grid has no
///   active responsible inspector, its open tasks go to the one they were assigned
///   to, or, unassigned, to every inspector (so that no task is stranded while the
///   grids are not assigned yet). Reassigning a grid moves its open tasks with it.
pub fn push_visibility(qb: &mut QueryBuilder<'_, Postgres>, v: &Visibility) {
    match v {
        Visibility::All => {}
        Visibility::Department(d) => {
            qb.push(" AND c.department = ").push_bind(d.clone());
        }
        Visibility::Inspector(id) => {
            qb.push(" AND (c.reporter_user_id = ")
                .push_bind(*id)
                .push(
                    " OR EXISTS (SELECT 1 FROM field_tasks t WHERE t.case_id = c.id AND \
                     ((t.status <> 'open' AND t.inspector_user_id = ",
                )
                .push_bind(*id)
                .push(") OR (t.status = 'open' AND coalesce(")
                .push(GRID_INSPECTOR_SQL)
                .push(", t.inspector_user_id, ")
                .push_bind(*id)
                .push(") = ")
                .push_bind(*id)
                .push("))))");
        }
    }
}

/// Query of `GET /api/cases`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Workflow states, comma-separated (`reported,registered`…).
    status: Option<String>,
    /// A department code (`mine`: the caller's own).
    department: Option<String>,
    /// A unit grid code.
    grid: Option<String>,
    /// A category code (`P0101`…).
    category: Option<String>,
    /// Only cases past (true) or within (false) their deadline.
    overdue: Option<bool>,
    /// `w,s,e,n` in degrees.
    bbox: Option<String>,
    /// Reported at or after (RFC 3339).
    from: Option<String>,
    /// Reported before (RFC 3339).
    to: Option<String>,
    /// Rows per page (default 100, at most 1000).
    limit: Option<i64>,
    /// Rows to skip.
    offset: Option<i64>,
}

/// `GET /api/cases`: filters status (comma list), department (`mine` for one's own),
/// grid, category, overdue, bbox (`w,s,e,n`), from/to (reported), limit/offset.
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(q) = q.map_err(bad)?;
    let vis = visibility(&principal)?;
    let (limit, offset) = Page {
        limit: q.limit,
        offset: q.offset,
    }
    .bounds()?;
    let mut qb: QueryBuilder<Postgres> = QueryBuilder::new(format!(
        "SELECT {} || jsonb_build_object('total', count(*) OVER ()) FROM cases c WHERE true",
        case_json_sql()
    ));
    push_visibility(&mut qb, &vis);
    if let Some(s) = q.status.as_deref().filter(|s| !s.is_empty()) {
        let states: Vec<String> = s.split(',').map(|x| x.trim().to_string()).collect();
        for st in &states {
            if !CaseState::ALL.iter().any(|c| c.as_str() == st) {
                return Err(bad(format!("unknown status {st:?}")));
            }
        }
        qb.push(" AND c.status = ANY(").push_bind(states).push(")");
    }
    if let Some(d) = q.department.as_deref().filter(|s| !s.is_empty()) {
        let dep = if d == "mine" {
            principal
                .user()
                .and_then(|u| u.department.clone())
                .ok_or_else(|| bad("department=mine needs an account with a department"))?
        } else {
            d.to_string()
        };
        if let Visibility::Department(own) = &vis {
            if own != &dep {
                return Err(ApiError::Forbidden(
                    "a department sees only its own cases".into(),
                ));
            }
        }
        qb.push(" AND c.department = ").push_bind(dep);
    }
    if let Some(g) = q.grid.as_deref().filter(|s| !s.is_empty()) {
        let code: citygrid_grid_mgmt::codes::GridCode = g.parse().map_err(bad)?;
        qb.push(" AND c.grid_code = ").push_bind(code.to_string());
    }
    if let Some(c) = q.category.as_deref().filter(|s| !s.is_empty()) {
        let code: CategoryCode = c.parse().map_err(bad)?;
        qb.push(" AND c.category = ").push_bind(code.to_string());
    }
    match q.overdue {
        Some(true) => {
            qb.push(format!(" AND {OVERDUE_SQL}"));
        }
        Some(false) => {
            qb.push(format!(" AND NOT {OVERDUE_SQL}"));
        }
        None => {}
    }
    if let Some(b) = q.bbox.as_deref().filter(|s| !s.is_empty()) {
        let v: Vec<f64> = b
            .split(',')
            .map(|x| x.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|_| bad("bbox must be w,s,e,n in degrees"))?;
        if v.len() != 4 || v.iter().any(|x| !x.is_finite()) || v[0] > v[2] || v[1] > v[3] {
            return Err(bad(
                "bbox must be w,s,e,n in degrees with w <= e and s <= n",
            ));
        }
        qb.push(" AND c.geom && ST_MakeEnvelope(")
            .push_bind(v[0])
            .push(", ")
            .push_bind(v[1])
            .push(", ")
            .push_bind(v[2])
            .push(", ")
            .push_bind(v[3])
            .push(", 4326)");
    }
    if let Some(f) = q.from.as_deref() {
        qb.push(" AND c.reported_at >= ")
            .push_bind(parse_time("from", f)?);
    }
    if let Some(t) = q.to.as_deref() {
        qb.push(" AND c.reported_at < ")
            .push_bind(parse_time("to", t)?);
    }
    qb.push(" ORDER BY c.id DESC LIMIT ")
        .push_bind(limit)
        .push(" OFFSET ")
        .push_bind(offset);
    let rows: Vec<(Value,)> = qb.build_query_as().fetch_all(&state.pool).await?;
    let total = rows
        .first()
        .and_then(|(v,)| v.get("total")?.as_i64())
        .unwrap_or(0);
    let cases: Vec<Value> = rows
        .into_iter()
        .map(|(mut v,)| {
            if let Some(o) = v.as_object_mut() {
                o.remove("total");
            }
            v
        })
        .collect();
    Ok(Json(json!({
        "cases": cases,
        "total": total,
        "limit": limit,
        "offset": offset,
    })))
}

/// The answer for a case that does not exist or that the caller may not see: the
/// same 404 either way, so that neither ids nor case numbers leak.
pub fn hidden() -> ApiError {
    ApiError::NotFound("no such case (or not yours to see)".into())
}

/// Resolves `{id}`: a numeric id or a case number `2025-000123`.
pub async fn case_id(pool: &sqlx::PgPool, id: &str) -> Result<i64, ApiError> {
    if let Ok(n) = id.parse::<i64>() {
        return Ok(n);
    }
    if id.len() > 32 {
        return Err(hidden());
    }
    let row: Option<(i64,)> = sqlx::query_as("SELECT id FROM cases WHERE case_no = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?;
    row.map(|(i,)| i).ok_or_else(hidden)
}

/// Whether the caller may see case `id` (404 otherwise, so ids do not leak).
pub async fn require_visible(
    pool: &sqlx::PgPool,
    vis: &Visibility,
    id: i64,
) -> Result<(), ApiError> {
    let mut qb: QueryBuilder<Postgres> =
        QueryBuilder::new("SELECT c.id FROM cases c WHERE c.id = ");
    qb.push_bind(id);
    push_visibility(&mut qb, vis);
    let row: Option<(i64,)> = qb.build_query_as().fetch_optional(pool).await?;
    row.map(|_| ()).ok_or_else(hidden)
}

/// The JSON of one case with its timeline, photos and field tasks.
pub async fn case_detail(
    pool: &sqlx::PgPool,
    id: i64,
    role: Option<Role>,
) -> Result<Value, ApiError> {
    let row: Option<(Value,)> = sqlx::query_as(&format!(
        "SELECT {} FROM cases c WHERE c.id = $1",
        case_json_sql()
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    let (mut case,) = row.ok_or_else(|| ApiError::NotFound(format!("no case {id}")))?;
    let events: Vec<(Value,)> = sqlx::query_as(
        "SELECT to_jsonb(e) - 'case_id' FROM case_events e WHERE case_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    let photos: Vec<(Value,)> = sqlx::query_as(
        "SELECT jsonb_build_object('id', id, 'content_type', content_type, 'size_bytes', size_bytes, \
                'uploaded_by', uploaded_by, 'uploaded_at', uploaded_at, 'url', '/api/photos/' || id) \
         FROM case_photos WHERE case_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    let tasks: Vec<(Value,)> =
        sqlx::query_as("SELECT to_jsonb(t) FROM field_tasks t WHERE case_id = $1 ORDER BY id")
            .bind(id)
            .fetch_all(pool)
            .await?;
    let state = case
        .get("status")
        .and_then(Value::as_str)
        .and_then(|s| CaseState::ALL.into_iter().find(|c| c.as_str() == s));
    let actions: Vec<&str> = match (state, role) {
        (Some(st), Some(r)) => workflow::actions_from(st)
            .into_iter()
            .filter(|a| workflow::role_may(super::common::workflow_role(r), *a))
            .map(|a| a.as_str())
            .collect(),
        _ => Vec::new(),
    };
    if let Some(o) = case.as_object_mut() {
        o.insert(
            "timeline".into(),
            Value::Array(events.into_iter().map(|(v,)| v).collect()),
        );
        o.insert(
            "photos".into(),
            Value::Array(photos.into_iter().map(|(v,)| v).collect()),
        );
        o.insert(
            "field_tasks".into(),
            Value::Array(tasks.into_iter().map(|(v,)| v).collect()),
        );
        o.insert("actions".into(), json!(actions));
    }
    Ok(case)
}

/// `GET /api/cases/{id}` (id or case number).
pub async fn one(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let vis = visibility(&principal)?;
    let id = case_id(&state.pool, &id).await?;
    require_visible(&state.pool, &vis, id).await?;
    let role = principal.user().map(|u| u.role);
    Ok(Json(case_detail(&state.pool, id, role).await?))
}

/// Body of `POST /api/cases/{id}/actions`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(Default, utoipa::ToSchema)]
pub struct ActionBody {
    /// The step (`register`, `dispatch`, …).
    pub action: String,
    /// Note.
    pub note: Option<String>,
    /// Whether the note may be shown to the public (Open311 status_notes).
    pub public_note: Option<bool>,
    /// Target department of `dispatch` (default: the routed one).
    pub department: Option<String>,
    /// Requested / approved deadline (extensions).
    pub deadline: Option<String>,
    /// Photos of this case to attach.
    pub photo_ids: Option<Vec<i64>>,
    /// When the step happened, if it was recorded offline (not before the previous step,
    /// not in the future).
    pub at: Option<String>,
}

#[derive(Debug, sqlx::FromRow)]
struct CaseRow {
    case_no: String,
    status: String,
    category: String,
    department: Option<String>,
    routed_department: Option<String>,
    rework_count: i32,
    return_count: i32,
    extended: bool,
    pending_extension: Option<DateTime<Utc>>,
    suspended_since: Option<DateTime<Utc>>,
    handling_due: Option<DateTime<Utc>>,
    last_at: Option<DateTime<Utc>>,
    reporter_user_id: Option<i64>,
}

fn state_of(s: &str) -> Result<CaseState, ApiError> {
    CaseState::ALL
        .into_iter()
        .find(|c| c.as_str() == s)
        .ok_or_else(|| ApiError::Internal(format!("unknown case state {s}")))
}

fn workflow_error(e: WorkflowError) -> ApiError {
    match e {
        WorkflowError::Forbidden { .. } => ApiError::Forbidden(e.to_string()),
        WorkflowError::InvalidTransition { .. } => ApiError::Conflict(e.to_string()),
        WorkflowError::BadInput { .. } | WorkflowError::UnknownAction(_) => bad(e),
    }
}

/// The deadline of the current stage for a state.
fn due_for(state: CaseState) -> &'static str {
    match state {
        CaseState::Reported | CaseState::Verifying | CaseState::Verified => "registration_due",
        CaseState::Registered | CaseState::Returned => "dispatch_due",
        CaseState::Dispatched | CaseState::Handling | CaseState::Suspended => "handling_due",
        CaseState::Handled | CaseState::Checking | CaseState::Checked => "checking_due",
        CaseState::Closed | CaseState::Voided => "NULL",
    }
}

/// The handling deadline after a suspension from `since` to `until`: the working time
/// that was left at `since` counts again from `until`.
fn resumed_deadline(
    reference: &Reference,
    category: &CategoryCode,
    due: DateTime<FixedOffset>,
    since: DateTime<FixedOffset>,
    until: DateTime<FixedOffset>,
) -> Result<DateTime<FixedOffset>, ApiError> {
    if due <= since {
        return Ok(due);
    }
    let unit = reference.time_limit(category, Stage::Handling).unit;
    let cal = &reference.calendar;
    let left = deadline::elapsed(since, due, unit, cal, &[])
        .map_err(|e| ApiError::Unprocessable(e.to_string()))?;
    deadline::advance(until, left, unit, cal, &[])
        .map_err(|e| ApiError::Unprocessable(e.to_string()))
}

/// `POST /api/cases/{id}/actions`: one workflow step.
pub async fn action(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Json(body): Json<ActionBody>,
) -> ApiResult<Json<Value>> {
    let info = ActorInfo::of(&principal);
    let vis = visibility(&principal)?;
    let id = case_id(&state.pool, &id).await?;
    let reference = state.mgmt.reference.get(&state.pool).await?;
    let (event_id, queued) = perform(&state.pool, &reference, &info, &vis, id, &body).await?;
    if queued {
        state.mgmt.outbox_wake.notify_one();
    }
    let role = principal.user().map(|u| u.role);
    let mut case = case_detail(&state.pool, id, role).await?;
    if let Some(o) = case.as_object_mut() {
        o.insert("event_id".into(), json!(event_id));
    }
    Ok(Json(case))
}

/// One workflow step on case `id` in one transaction; returns the event id and whether
/// a delivery was queued in the outbox.
pub async fn perform(
    pool: &sqlx::PgPool,
    reference: &Reference,
    info: &ActorInfo,
    vis: &Visibility,
    id: i64,
    body: &ActionBody,
) -> Result<(i64, bool), ApiError> {
    let action: Action = body.action.trim().parse().map_err(workflow_error)?;
    if let Some(n) = &body.note {
        if n.chars().count() > 4000 {
            return Err(bad("note must be at most 4000 characters"));
        }
    }
    let photo_ids = body.photo_ids.clone().unwrap_or_default();
    if photo_ids.len() > 20 {
        return Err(bad("at most 20 photos per step"));
    }
    let requested_deadline = body
        .deadline
        .as_deref()
        .map(|s| parse_time("deadline", s))
        .transpose()?;
    let at_given = body
        .at
        .as_deref()
        .map(|s| parse_time("at", s))
        .transpose()?;

    let mut tx = pool.begin().await?;
    let row: Option<CaseRow> = sqlx::query_as(
        "SELECT case_no, status, category, department, routed_department, rework_count, \
                return_count, extended, pending_extension, suspended_since, handling_due, \
                (SELECT max(at) FROM case_events e WHERE e.case_id = c.id) AS last_at, \
                reporter_user_id \
         FROM cases c WHERE id = $1 FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let row = row.ok_or_else(hidden)?;
    // visibility after the lock (the check reads the same committed row): a case the
    // caller may not see is not there for him (404), whatever the step
    if *vis != Visibility::All {
        let mut qb: QueryBuilder<Postgres> =
            QueryBuilder::new("SELECT c.id FROM cases c WHERE c.id = ");
        qb.push_bind(id);
        push_visibility(&mut qb, vis);
        let seen: Option<(i64,)> = qb.build_query_as().fetch_optional(&mut *tx).await?;
        if seen.is_none() {
            return Err(hidden());
        }
    }
    let at = match at_given {
        Some(t) => {
            super::intake::check_past("at", t)?;
            if row.last_at.is_some_and(|l| t < l) {
                return Err(bad("at is before the previous step of this case"));
            }
            t
        }
        None => now(),
    };
    let category: CategoryCode = row
        .category
        .parse()
        .map_err(|e: citygrid_grid_mgmt::codes::CodeError| ApiError::Internal(e.to_string()))?;
    let current = state_of(&row.status)?;
    // the open field task of this step (verify, check) and who it belongs to now: the
    // grid's active responsible inspector, else the one it was assigned to (the same
    // rule as the inspectors' visibility); the case row is locked, so it cannot change
    let field_task = match action {
        Action::Verify | Action::CheckPass | Action::CheckFail => {
            let kind = if action == Action::Verify {
                "verify"
            } else {
                "check"
            };
            let task: Option<(Option<i64>,)> = sqlx::query_as(&format!(
                "SELECT coalesce({GRID_INSPECTOR_SQL}, t.inspector_user_id) \
                 FROM field_tasks t JOIN cases c ON c.id = t.case_id \
                 WHERE t.case_id = $1 AND t.kind = $2 AND t.status = 'open' ORDER BY t.id LIMIT 1"
            ))
            .bind(id)
            .bind(kind)
            .fetch_optional(&mut *tx)
            .await?;
            task.map(|(assignee,)| workflow::FieldTask {
                assignee: assignee.map(|a| a.to_string()),
            })
        }
        _ => None,
    };
    let snapshot = CaseSnapshot {
        state: current,
        department: row.department.clone(),
        rework_count: u32::try_from(row.rework_count).unwrap_or(0),
        return_count: u32::try_from(row.return_count).unwrap_or(0),
        handling_deadline: row.handling_due.map(|t| t.fixed_offset()),
        pending_extension: row.pending_extension.map(|t| t.fixed_offset()),
        extended: row.extended,
        reporter: row.reporter_user_id.map(|r| r.to_string()),
        field_task,
    };
    let mut attachments = Vec::new();
    if !photo_ids.is_empty() {
        let found: Vec<(i64,)> =
            sqlx::query_as("SELECT id FROM case_photos WHERE case_id = $1 AND id = ANY($2)")
                .bind(id)
                .bind(&photo_ids)
                .fetch_all(&mut *tx)
                .await?;
        if found.len() != {
            let mut u = photo_ids.clone();
            u.sort_unstable();
            u.dedup();
            u.len()
        } {
            return Err(ApiError::Unprocessable(
                "photo_ids must be photos uploaded to this case".into(),
            ));
        }
        attachments = photo_ids
            .iter()
            .map(|p| format!("/api/photos/{p}"))
            .collect();
    }
    let mut input = ActionInput::new(action, at);
    input.note = body.note.clone().filter(|n| !n.trim().is_empty());
    input.public_note = body.public_note.unwrap_or(false);
    input.attachments = attachments;
    input.deadline = requested_deadline;
    let mut routing_note = None;
    match action {
        Action::Dispatch => {
            let dep = body
                .department
                .clone()
                .filter(|d| !d.trim().is_empty())
                .or_else(|| row.routed_department.clone())
                .ok_or_else(|| {
                    bad("no department given and routing found none: send \"department\"")
                })?;
            if reference.catalog.department(&dep).is_none() {
                return Err(ApiError::Unprocessable(format!(
                    "department {dep:?} does not exist or is not active"
                )));
            }
            if body.department.is_none() {
                routing_note = Some(json!({"department": dep, "from": "routing"}));
            }
            input.department = Some(dep);
            input.deadline = Some(stage_deadline(reference, &category, Stage::Handling, at)?);
        }
        Action::CheckFail => {
            input.deadline = Some(stage_deadline(reference, &category, Stage::Handling, at)?);
        }
        _ => {}
    }
    let transition = workflow::apply(&snapshot, &input, &info.actor).map_err(workflow_error)?;
    let next = &transition.case;

    // timestamps and deadlines of the new stage
    let mut registered_at = None;
    let mut dispatch_due = None;
    let mut redispatch_due = None;
    let mut dispatched_at = None;
    let mut handled_at = None;
    let mut checking_due = None;
    let mut closed_at = None;
    let mut handling_due = next.handling_deadline;
    let mut suspended_since = row.suspended_since.map(|t| t.fixed_offset());
    match action {
        Action::Register => {
            registered_at = Some(at);
            dispatch_due = Some(stage_deadline(reference, &category, Stage::Dispatch, at)?);
        }
        Action::Return => {
            // the first dispatch deadline stays for the evaluation; the new one is the
            // current stage's deadline
            redispatch_due = Some(stage_deadline(reference, &category, Stage::Dispatch, at)?);
        }
        Action::Dispatch => dispatched_at = Some(at),
        Action::Feedback => {
            handled_at = Some(at);
            checking_due = Some(stage_deadline(reference, &category, Stage::Checking, at)?);
        }
        Action::Suspend => suspended_since = Some(at),
        Action::Resume => {
            if let (Some(due), Some(since)) = (handling_due, suspended_since) {
                handling_due = Some(resumed_deadline(reference, &category, due, since, at)?);
            }
            suspended_since = None;
        }
        Action::Close | Action::SelfHandle => closed_at = Some(at),
        _ => {}
    }
    let public_note = (input.public_note && input.note.is_some()).then(|| input.note.clone());
    let due_col = due_for(next.state);
    sqlx::query(
        "UPDATE cases SET status = $2, department = $3, rework_count = $4, return_count = $5, \
            extended = $6, pending_extension = $7, suspended_since = $8, handling_due = $9, \
            registered_at = coalesce(registered_at, $10), \
            dispatch_due = coalesce($11, dispatch_due), \
            dispatched_at = coalesce(dispatched_at, $12), \
            handled_at = coalesce($13, handled_at), \
            checking_due = coalesce($14, checking_due), \
            closed_at = coalesce($15, closed_at), \
            last_public_note = coalesce($16, last_public_note), \
            updated_at = now() WHERE id = $1",
    )
    .bind(id)
    .bind(next.state.as_str())
    .bind(&next.department)
    .bind(i32::try_from(next.rework_count).unwrap_or(i32::MAX))
    .bind(i32::try_from(next.return_count).unwrap_or(i32::MAX))
    .bind(next.extended)
    .bind(next.pending_extension)
    .bind(suspended_since)
    .bind(handling_due)
    .bind(registered_at)
    .bind(dispatch_due)
    .bind(dispatched_at)
    .bind(handled_at)
    .bind(checking_due)
    .bind(closed_at)
    .bind(public_note.flatten())
    .execute(&mut *tx)
    .await?;
    // the current stage's deadline (after the update above set the stage columns)
    sqlx::query(&format!(
        "UPDATE cases SET due_at = coalesce($2, {due_col}) WHERE id = $1"
    ))
    .bind(id)
    .bind(redispatch_due)
    .execute(&mut *tx)
    .await?;

    let ev = &transition.event;
    let mut detail = json!({
        "assigned_department": ev.assigned_department,
        "rework": ev.rework,
        "deadline_change": ev.deadline_change,
    });
    if let Some(r) = routing_note {
        detail["routing"] = r;
    }
    if action == Action::Resume {
        detail["handling_due"] = json!(handling_due);
    }
    let (event_id,): (i64,) = sqlx::query_as(
        "INSERT INTO case_events (case_id, at, actor, actor_user_id, role, department, action, \
             from_state, to_state, note, public_note, attachments, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
    )
    .bind(id)
    .bind(at)
    .bind(&info.label)
    .bind(info.user_id)
    .bind(ev.role.as_str())
    .bind(&ev.actor_department)
    .bind(action.as_str())
    .bind(ev.from.as_str())
    .bind(ev.to.as_str())
    .bind(&ev.note)
    .bind(ev.public_note)
    .bind(json!(ev.attachments))
    .bind(&detail)
    .fetch_one(&mut *tx)
    .await?;

    // field tasks
    match action {
        Action::RequestVerification | Action::RequestCheck => {
            let kind = if action == Action::RequestVerification {
                "verify"
            } else {
                "check"
            };
            sqlx::query(
                "INSERT INTO field_tasks (case_id, kind, inspector_user_id) \
                 SELECT $1, $2, (SELECT u.id FROM users u JOIN cases c ON c.id = $1 \
                     JOIN layers.unit_grids g ON g.code = c.grid_code \
                     WHERE u.username = g.responsible AND u.role = 'inspector' AND u.active LIMIT 1)",
            )
            .bind(id)
            .bind(kind)
            .execute(&mut *tx)
            .await?;
        }
        Action::Verify | Action::CheckPass | Action::CheckFail => {
            let kind = if action == Action::Verify {
                "verify"
            } else {
                "check"
            };
            // the task records who did it (the workflow let only him do it)
            sqlx::query(
                "UPDATE field_tasks SET status = 'done', done_at = $3, result = $4, \
                     inspector_user_id = coalesce($5, inspector_user_id) \
                 WHERE case_id = $1 AND kind = $2 AND status = 'open'",
            )
            .bind(id)
            .bind(kind)
            .bind(at)
            .bind(action.as_str())
            .bind(info.user_id)
            .execute(&mut *tx)
            .await?;
        }
        Action::Void | Action::Close | Action::SelfHandle => {
            sqlx::query("UPDATE field_tasks SET status = 'cancelled', done_at = $2 WHERE case_id = $1 AND status = 'open'")
                .bind(id)
                .bind(at)
                .execute(&mut *tx)
                .await?;
        }
        _ => {}
    }

    // delivery to the department's own system
    let told = next.department.clone().or_else(|| row.department.clone());
    let mut queued = false;
    if let Some(dep) = told {
        if let Some(channel) = reference.channels.get(&dep) {
            let payload = json!({
                "event_id": event_id,
                "case": {
                    "id": id,
                    "case_no": row.case_no,
                    "status": next.state.as_str(),
                    "category": row.category,
                    "department": next.department,
                    "handling_due": handling_due,
                },
                "event": {
                    "action": action.as_str(),
                    "from": ev.from.as_str(),
                    "to": ev.to.as_str(),
                    "at": at,
                    "actor": info.label,
                    "role": ev.role.as_str(),
                    "note": ev.note,
                    "attachments": ev.attachments,
                },
            });
            sqlx::query(
                "INSERT INTO outbox (department, case_id, event_id, idempotency_key, url, payload) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&dep)
            .bind(id)
            .bind(event_id)
            .bind(format!("citygrid-{id}-{event_id}-{dep}"))
            .bind(&channel.url)
            .bind(&payload)
            .execute(&mut *tx)
            .await?;
            queued = true;
        }
    }
    tx.commit().await?;
    Ok((event_id, queued))
}

/// Keeps the `overdue` flag of the cases layer current (deadlines pass without a
/// write): every 30 s, flips the rows whose flag is wrong and announces them.
pub async fn refresh_overdue(state: AppState) {
    loop {
        tokio::time::sleep(Duration::from_secs(30)).await;
        let result = refresh_once(&state.pool).await;
        if let Err(e) = result {
            tracing::debug!(error = %e, "overdue refresh skipped");
        }
    }
}

async fn refresh_once(pool: &sqlx::PgPool) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    let fids: Vec<(i64,)> = sqlx::query_as(
        "UPDATE layers.cases l SET overdue = x.o \
         FROM (SELECT c.id, (c.due_at IS NOT NULL AND c.due_at < now() \
                  AND c.status NOT IN ('suspended', 'closed', 'voided')) AS o FROM cases c) x \
         WHERE l.fid = x.id AND l.overdue IS DISTINCT FROM x.o RETURNING l.fid",
    )
    .fetch_all(&mut *tx)
    .await?;
    for chunk in fids.chunks(500) {
        let ids: Vec<String> = chunk.iter().map(|(f,)| f.to_string()).collect();
        sqlx::query("SELECT pg_notify('citygrid_layers', $1)")
            .bind(format!("cases:{}", ids.join(",")))
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await
}

/// Announces queued layer changes (`layer_changes`, filled by the `cases` trigger) in
/// batches: one `NOTIFY citygrid_layers, '<layer>:<fid>,…'` per 500 features, in the
/// transaction that removes them from the queue. Runs every 100 ms.
pub async fn announce_changes(state: AppState) {
    loop {
        match announce_once(&state.pool).await {
            Ok(n) if n >= 5000 => continue,
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "layer change announcement skipped"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One batch of [`announce_changes`]; returns how many changes were announced.
pub async fn announce_once(pool: &sqlx::PgPool) -> Result<usize, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let rows: Vec<(String, Vec<i64>)> = sqlx::query_as(
        "WITH d AS (DELETE FROM layer_changes WHERE id IN \
             (SELECT id FROM layer_changes ORDER BY id LIMIT 5000 FOR UPDATE SKIP LOCKED) \
           RETURNING layer, fid) \
         SELECT layer, array_agg(DISTINCT fid) FROM d GROUP BY layer",
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut n = 0;
    for (layer, fids) in rows {
        n += fids.len();
        for chunk in fids.chunks(500) {
            let ids: Vec<String> = chunk.iter().map(i64::to_string).collect();
            sqlx::query("SELECT pg_notify('citygrid_layers', $1)")
                .bind(format!("{layer}:{}", ids.join(",")))
                .execute(&mut *tx)
                .await?;
        }
    }
    tx.commit().await?;
    Ok(n)
}
