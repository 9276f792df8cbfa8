//! Case lists, one case with its timeline, and workflow steps (one transaction each:
//! `SELECT … FOR UPDATE`, grid-mgmt's `workflow::apply`, the event row, the case row —
//! whose trigger updates the map row and sends the NOTIFY — field tasks and outbox rows).

use std::time::Duration;

use axum::extract::{Path, State};
use axum::Json;
use citygrid_grid_mgmt::codes::CategoryCode;
use citygrid_grid_mgmt::step::{self, CaseRecord, Stamps, StepError, StepRequest};
use citygrid_grid_mgmt::workflow::{
    self, Action, CaseSnapshot, CaseState, FieldTask, WorkflowError,
};
use citygrid_store::cases as store;
pub use citygrid_store::cases::Visibility;
use serde::Deserialize;
use serde_json::{json, Value};

use super::common::{bad, now, parse_time, ActorInfo};
use super::reference::Reference;
use crate::auth::{Principal, Role};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

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

/// The answer for a case that does not exist or that the caller may not see: the
/// same 404 either way, so that neither ids nor case numbers leak.
pub fn hidden() -> ApiError {
    ApiError::NotFound("no such case (or not yours to see)".into())
}

/// Resolves `{id}`: a numeric id or a case number `2025-000123`.
pub async fn case_id(pool: &citygrid_store::PgPool, id: &str) -> Result<i64, ApiError> {
    if let Ok(n) = id.parse::<i64>() {
        return Ok(n);
    }
    if id.len() > 32 {
        return Err(hidden());
    }
    store::id_by_number(pool, id).await?.ok_or_else(hidden)
}

/// Whether the caller may see case `id` (404 otherwise, so ids do not leak).
pub async fn require_visible(
    pool: &citygrid_store::PgPool,
    vis: &Visibility,
    id: i64,
) -> Result<(), ApiError> {
    if store::is_visible(pool, vis, id).await? {
        Ok(())
    } else {
        Err(hidden())
    }
}

/// The JSON of one case with its timeline, photos and field tasks.
pub async fn case_detail(
    pool: &citygrid_store::PgPool,
    id: i64,
    role: Option<Role>,
) -> Result<Value, ApiError> {
    let store::Detail {
        mut case,
        events,
        photos,
        tasks,
    } = store::detail(pool, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no case {id}")))?;
    let state = case
        .get("status")
        .and_then(Value::as_str)
        .and_then(|s| CaseState::ALL.into_iter().find(|c| c.as_str() == s));
    // Approving or rejecting an extension needs a pending request (the step would
    // fail with "there is no pending extension request"): offered only then.
    let pending_extension = case.get("pending_extension").is_some_and(|v| !v.is_null());
    let actions: Vec<&str> = match (state, role) {
        (Some(st), Some(r)) => workflow::actions_from(st)
            .into_iter()
            .filter(|a| workflow::role_may(r, *a))
            .filter(|a| {
                pending_extension
                    || !matches!(a, Action::ApproveExtension | Action::RejectExtension)
            })
            .map(|a| a.as_str())
            .collect(),
        _ => Vec::new(),
    };
    // Each step that opens a photo stage says so (`photo_stage`), and the photos'
    // ids are grouped by stage (`photo_stages`), so a timeline shows each photo under
    // its stage.
    let mut events = events;
    for e in &mut events {
        let stage = match e.get("action").and_then(Value::as_str) {
            Some("report") => Some("report"),
            Some("feedback") => Some("feedback"),
            Some("check_pass" | "check_fail") => Some("check"),
            _ => None,
        };
        if let (Some(stage), Some(o)) = (stage, e.as_object_mut()) {
            o.insert("photo_stage".into(), json!(stage));
        }
    }
    let mut by_stage = serde_json::Map::new();
    for stage in citygrid_grid_mgmt::photos::PhotoStage::ALL {
        let ids: Vec<Value> = photos
            .iter()
            .filter(|p| p.get("stage").and_then(Value::as_str) == Some(stage.as_str()))
            .filter_map(|p| p.get("id").cloned())
            .collect();
        by_stage.insert(stage.as_str().into(), Value::Array(ids));
    }
    if let Some(o) = case.as_object_mut() {
        o.insert("timeline".into(), Value::Array(events));
        o.insert("photos".into(), Value::Array(photos));
        o.insert("photo_stages".into(), Value::Object(by_stage));
        o.insert("field_tasks".into(), Value::Array(tasks));
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

fn step_error(e: StepError) -> ApiError {
    match e {
        StepError::Workflow(w) => workflow_error(w),
        StepError::Time(_) | StepError::NoDepartment => bad(e),
        StepError::UnknownDepartment(_)
        | StepError::ForeignPhotos
        | StepError::Deadline(_)
        | StepError::ResumedDeadline(_) => ApiError::Unprocessable(e.to_string()),
    }
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

/// The domain's view of a locked case row, with its open field task and the requested
/// photos that belong to it.
fn case_record(
    row: store::LockedCase,
    field_task: Option<FieldTask>,
    photos: Vec<i64>,
) -> Result<CaseRecord, ApiError> {
    let category: CategoryCode = row
        .category
        .parse()
        .map_err(|e: citygrid_grid_mgmt::codes::CodeError| ApiError::Internal(e.to_string()))?;
    let fixed = |t: Option<chrono::DateTime<chrono::Utc>>| t.map(|t| t.fixed_offset());
    Ok(CaseRecord {
        id: row.id,
        case_no: row.case_no,
        category,
        routed_department: row.routed_department,
        snapshot: CaseSnapshot {
            state: state_of(&row.status)?,
            department: row.department,
            rework_count: u32::try_from(row.rework_count).unwrap_or(0),
            return_count: u32::try_from(row.return_count).unwrap_or(0),
            handling_deadline: fixed(row.handling_due),
            pending_extension: fixed(row.pending_extension),
            extended: row.extended,
            reporter: row.reporter_user_id.map(|r| r.to_string()),
            field_task,
        },
        suspended_since: fixed(row.suspended_since),
        last_at: fixed(row.last_at),
        stamps: Stamps {
            registered_at: fixed(row.registered_at),
            dispatched_at: fixed(row.dispatched_at),
            handled_at: fixed(row.handled_at),
            closed_at: fixed(row.closed_at),
        },
        registration_due: fixed(row.registration_due),
        dispatch_due: fixed(row.dispatch_due),
        checking_due: fixed(row.checking_due),
        photos,
    })
}

/// One workflow step on case `id` in one transaction: validate the request, lock the
/// case, build the snapshot, take grid-mgmt's step, store it. Returns the event id and
/// whether a delivery was queued in the outbox.
pub async fn perform(
    pool: &citygrid_store::PgPool,
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
    if photo_ids.len() > step::MAX_PHOTOS {
        return Err(bad("at most 20 photos per step"));
    }
    let deadline = body
        .deadline
        .as_deref()
        .map(|s| parse_time("deadline", s))
        .transpose()?;
    let at = body
        .at
        .as_deref()
        .map(|s| parse_time("at", s))
        .transpose()?;
    let request = StepRequest {
        action,
        at,
        note: body.note.clone(),
        public_note: body.public_note.unwrap_or(false),
        department: body.department.clone(),
        deadline,
        photo_ids,
    };

    let mut tx = pool.begin().await?;
    let row = store::lock(&mut tx, id).await?.ok_or_else(hidden)?;
    // visibility after the lock (the check reads the same committed row): a case the
    // caller may not see is not there for him (404), whatever the step
    if *vis != Visibility::All && !store::is_visible(&mut *tx, vis, id).await? {
        return Err(hidden());
    }
    // the open field task of this step (verify, check) and who it belongs to now: the
    // grid's active responsible inspector, else the one it was assigned to (the same
    // rule as the inspectors' visibility); the case row is locked, so it cannot change
    let field_task = match step::FieldTaskKind::done_by(action) {
        Some(kind) => store::open_task_assignee(&mut *tx, id, kind.as_str())
            .await?
            .map(|assignee| FieldTask {
                assignee: assignee.map(|a| a.to_string()),
            }),
        None => None,
    };
    let photos = if request.photo_ids.is_empty() {
        Vec::new()
    } else {
        store::photos_among(&mut *tx, id, &request.photo_ids).await?
    };
    let case = case_record(row, field_task, photos)?;
    let step = step::step(reference, &case, &request, &info.actor, &info.label, now())
        .map_err(step_error)?;
    let written = store::write_step(&mut tx, &step, info.user_id).await?;
    tx.commit().await?;
    Ok(written)
}

/// Keeps the `overdue` flag of the cases layer current (deadlines pass without a
/// write): every 30 s, flips the rows whose flag is wrong and announces them.
pub async fn refresh_overdue(state: AppState) {
    loop {
        tokio::time::sleep(Duration::from_secs(30)).await;
        let result = store::refresh_overdue(&state.pool).await;
        if let Err(e) = result {
            tracing::debug!(error = %e, "overdue refresh skipped");
        }
    }
}

/// Announces queued layer changes (`layer_changes`, filled by the `cases` trigger) in
/// batches: one `NOTIFY citygrid_layers, '<layer>:<fid>,…'` per 500 features, in the
/// transaction that removes them from the queue. Runs every 100 ms.
pub async fn announce_changes(state: AppState) {
    loop {
        match store::announce_changes(&state.pool).await {
            Ok(n) if n >= 5000 => continue,
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "layer change announcement skipped"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
