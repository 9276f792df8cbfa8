//! One complete workflow step (案卷流转) on a stored case: everything the service must
//! write, decided from the case, the request, the actor and the reference rules.
//!
//! [`step`] checks the step's time and photos, picks the dispatch department (the one
//! asked for, else the routed one), runs [`workflow::apply`], and
//! returns a [`Step`]: the new case (state, department, counters, extension, suspension),
//! its timestamps ([`Stamps`]), every stage deadline and the current one
//! ([`Deadlines`]), the event with its detail, the field-task change
//! ([`FieldTaskIntent`]) and the delivery to the department's own system
//! ([`OutboxIntent`]). Nothing is read or written here: the caller loads the case (under
//! a lock) and stores the step in one transaction.
//!
//! The deadlines (domain.md §5):
//!
//! | step | sets |
//! |---|---|
//! | `register` | registered at (first time only); dispatch deadline from now |
//! | `return` | the current deadline: a new dispatch deadline from now (the first one stays for the evaluation) |
//! | `dispatch` | dispatched at (first time only); handling deadline from now |
//! | `check_fail` | handling deadline from now (rework) |
//! | `feedback` | handled at; checking deadline from now |
//! | `suspend` | suspended since |
//! | `resume` | handling deadline moved by the (working) time the case was suspended |
//! | `approve_extension` | handling deadline = the approved one |
//! | `close`, `self_handle` | closed at |
//!
//! The current deadline (`due_at`) is the deadline of the stage of the new state
//! ([`stage_of`]); closed and voided cases have none.
//!
//! ```
//! use chrono::DateTime;
//! use citygrid_grid_mgmt::catalog::Catalog;
//! use citygrid_grid_mgmt::reference::Reference;
//! use citygrid_grid_mgmt::step::{step, CaseRecord, StepRequest};
//! use citygrid_grid_mgmt::workflow::{Action, Actor, CaseSnapshot, CaseState, Role};
//!
//! let reference = Reference::new(Catalog::default_seed());
//! let now = DateTime::parse_from_rfc3339("2025-05-12T09:00:00+08:00").unwrap();
//! let case = CaseRecord::new(1, "2025-000001", "E0505".parse().unwrap(),
//!                            CaseSnapshot::new(CaseState::Reported));
//! let shift_leader = Actor::new("3", Role::ShiftLeader, None);
//! let s = step(&reference, &case, &StepRequest::new(Action::Register), &shift_leader,
//!              "lee", now).unwrap();
//! assert_eq!(s.case.state, CaseState::Registered);
//! assert_eq!(s.stamps.registered_at, Some(now));
//! // the current deadline is the dispatch deadline just set
//! assert_eq!(s.deadlines.current, s.deadlines.dispatch);
//! assert!(s.deadlines.dispatch.unwrap() > now);
//! ```

use chrono::{DateTime, Duration, FixedOffset};
use serde_json::{json, Value};

use crate::catalog::Stage;
use crate::codes::CategoryCode;
use crate::deadline::DeadlineError;
use crate::reference::Reference;
use crate::workflow::{self, Action, ActionInput, Actor, CaseEvent, CaseSnapshot, CaseState};

/// The most photos one step may attach.
pub const MAX_PHOTOS: usize = 20;

/// A stored case as a step needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseRecord {
    /// `cases.id`.
    pub id: i64,
    /// The case number (`2025-000123`).
    pub case_no: String,
    /// Its category.
    pub category: CategoryCode,
    /// The department routing found at intake.
    pub routed_department: Option<String>,
    /// What the workflow needs (state, department, counters, handling deadline,
    /// extension, reporter, open field task).
    pub snapshot: CaseSnapshot,
    /// Since when it is suspended.
    pub suspended_since: Option<DateTime<FixedOffset>>,
    /// When its last step happened.
    pub last_at: Option<DateTime<FixedOffset>>,
    /// Timestamps so far.
    pub stamps: Stamps,
    /// Registration deadline.
    pub registration_due: Option<DateTime<FixedOffset>>,
    /// (First) dispatch deadline.
    pub dispatch_due: Option<DateTime<FixedOffset>>,
    /// Checking deadline.
    pub checking_due: Option<DateTime<FixedOffset>>,
    /// Of the photos the request attaches, those uploaded to this case (each once).
    pub photos: Vec<i64>,
}

impl CaseRecord {
    /// A case with `snapshot` and nothing else set.
    pub fn new(id: i64, case_no: &str, category: CategoryCode, snapshot: CaseSnapshot) -> Self {
        Self {
            id,
            case_no: case_no.into(),
            category,
            routed_department: None,
            snapshot,
            suspended_since: None,
            last_at: None,
            stamps: Stamps::default(),
            registration_due: None,
            dispatch_due: None,
            checking_due: None,
            photos: Vec::new(),
        }
    }
}

/// The timestamps of a case's stages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stamps {
    /// First registration.
    pub registered_at: Option<DateTime<FixedOffset>>,
    /// First dispatch.
    pub dispatched_at: Option<DateTime<FixedOffset>>,
    /// Last feedback.
    pub handled_at: Option<DateTime<FixedOffset>>,
    /// Closing.
    pub closed_at: Option<DateTime<FixedOffset>>,
}

/// The deadlines of a case after a step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deadlines {
    /// Registration.
    pub registration: Option<DateTime<FixedOffset>>,
    /// Dispatch (the first one: a return sets only [`Deadlines::current`]).
    pub dispatch: Option<DateTime<FixedOffset>>,
    /// Handling.
    pub handling: Option<DateTime<FixedOffset>>,
    /// Checking.
    pub checking: Option<DateTime<FixedOffset>>,
    /// The deadline of the current stage (`None`: closed or voided).
    pub current: Option<DateTime<FixedOffset>>,
}

/// The step asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRequest {
    /// The action.
    pub action: Action,
    /// When it happened, if recorded offline (else now).
    pub at: Option<DateTime<FixedOffset>>,
    /// Note.
    pub note: Option<String>,
    /// Whether the note may be shown to the public.
    pub public_note: bool,
    /// Target department of `dispatch` as given (default: the routed one).
    pub department: Option<String>,
    /// Requested / approved deadline (extensions).
    pub deadline: Option<DateTime<FixedOffset>>,
    /// Photos of this case to attach.
    pub photo_ids: Vec<i64>,
}

impl StepRequest {
    /// `action` now, with nothing else.
    pub fn new(action: Action) -> Self {
        Self {
            action,
            at: None,
            note: None,
            public_note: false,
            department: None,
            deadline: None,
            photo_ids: Vec::new(),
        }
    }
}

/// The kind of a field task (an inspector's errand on site).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldTaskKind {
    /// 核实: verify a report.
    Verify,
    /// 核查: check a fix.
    Check,
}

impl FieldTaskKind {
    /// The name stored.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldTaskKind::Verify => "verify",
            FieldTaskKind::Check => "check",
        }
    }

    /// The open field task an action finishes (`verify`, `check_pass`, `check_fail`):
    /// the one whose assignee may take the step ([`workflow::field_task_owner`]).
    pub fn done_by(action: Action) -> Option<FieldTaskKind> {
        match action {
            Action::Verify | Action::CheckPass | Action::CheckFail => Self::of(action),
            _ => None,
        }
    }

    /// The field task an action opens or finishes.
    pub fn of(action: Action) -> Option<FieldTaskKind> {
        match action {
            Action::RequestVerification | Action::Verify => Some(FieldTaskKind::Verify),
            Action::RequestCheck | Action::CheckPass | Action::CheckFail => {
                Some(FieldTaskKind::Check)
            }
            _ => None,
        }
    }
}

/// What a step does to the case's field tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldTaskIntent {
    /// Open a task, for the active inspector responsible for the case's unit grid (a
    /// pool task when there is none).
    Open(FieldTaskKind),
    /// The open task of this kind is done by the actor, with `result` (the action).
    Done {
        /// Which task.
        kind: FieldTaskKind,
        /// The action that did it.
        result: Action,
    },
    /// Every open task is cancelled (the case ended).
    CancelOpen,
}

/// A delivery to the department's own system (through the outbox).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxIntent {
    /// The department told.
    pub department: String,
    /// Its webhook.
    pub url: String,
}

/// Everything one step writes.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// `cases.id`.
    pub case_id: i64,
    /// The case number.
    pub case_no: String,
    /// The category.
    pub category: CategoryCode,
    /// When the step happened.
    pub at: DateTime<FixedOffset>,
    /// The actor's label in the event row and deliveries.
    pub actor_label: String,
    /// The case after the step (its handling deadline is [`Deadlines::handling`]).
    pub case: CaseSnapshot,
    /// Since when the case is suspended after the step.
    pub suspended_since: Option<DateTime<FixedOffset>>,
    /// Timestamps after the step.
    pub stamps: Stamps,
    /// Deadlines after the step.
    pub deadlines: Deadlines,
    /// The new public note of the case (`None`: unchanged).
    pub public_note: Option<String>,
    /// The event to append.
    pub event: CaseEvent,
    /// The event's detail (assigned department, rework, deadline change, routing, …).
    pub detail: Value,
    /// The field-task change.
    pub field_task: Option<FieldTaskIntent>,
    /// The delivery to queue.
    pub outbox: Option<OutboxIntent>,
}

impl Step {
    /// The body of the delivery of event `event_id` of this step.
    pub fn outbox_payload(&self, event_id: i64) -> Value {
        let ev = &self.event;
        json!({
            "event_id": event_id,
            "case": {
                "id": self.case_id,
                "case_no": self.case_no,
                "status": self.case.state.as_str(),
                "category": self.category.to_string(),
                "department": self.case.department,
                "handling_due": self.deadlines.handling,
            },
            "event": {
                "action": ev.action.as_str(),
                "from": ev.from.as_str(),
                "to": ev.to.as_str(),
                "at": self.at,
                "actor": self.actor_label,
                "role": ev.role.as_str(),
                "note": ev.note,
                "attachments": ev.attachments,
            },
        })
    }

    /// The idempotency key of the delivery of event `event_id` to `department`.
    pub fn idempotency_key(&self, event_id: i64, department: &str) -> String {
        format!("citygrid-{}-{event_id}-{department}", self.case_id)
    }
}

/// A refused step.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    /// The workflow refuses it (role, state, ownership, input).
    #[error(transparent)]
    Workflow(#[from] workflow::WorkflowError),
    /// The step's time is not acceptable.
    #[error(transparent)]
    Time(#[from] TimeError),
    /// `dispatch` without a department and no routed one.
    #[error("no department given and routing found none: send \"department\"")]
    NoDepartment,
    /// `dispatch` to a department that is not in the catalogue.
    #[error("department {0:?} does not exist or is not active")]
    UnknownDepartment(String),
    /// Photos that were not uploaded to this case.
    #[error("photo_ids must be photos uploaded to this case")]
    ForeignPhotos,
    /// A stage deadline cannot be computed.
    #[error("cannot compute the deadline: {0}")]
    Deadline(DeadlineError),
    /// The handling deadline after a suspension cannot be computed.
    #[error("{0}")]
    ResumedDeadline(DeadlineError),
}

/// A time given for a past event that is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// Later than now (one minute of clock skew allowed).
    #[error("{0} is in the future")]
    Future(&'static str),
    /// More than 366 days ago.
    #[error("{0} is more than 366 days ago")]
    TooOld(&'static str),
    /// Before the case's previous step.
    #[error("{0} is before the previous step of this case")]
    BeforePrevious(&'static str),
}

/// Checks a backdated time (a report, an offline step) called `field`: not in the
/// future (one minute of skew allowed), at most 366 days before `now`.
pub fn check_past(
    field: &'static str,
    t: DateTime<FixedOffset>,
    now: DateTime<FixedOffset>,
) -> Result<(), TimeError> {
    if t > now + Duration::seconds(60) {
        return Err(TimeError::Future(field));
    }
    if t < now - Duration::days(366) {
        return Err(TimeError::TooOld(field));
    }
    Ok(())
}

/// The stage whose deadline is current in `state` (`None`: closed or voided).
pub fn stage_of(state: CaseState) -> Option<Stage> {
    match state {
        CaseState::Reported | CaseState::Verifying | CaseState::Verified => {
            Some(Stage::Registration)
        }
        CaseState::Registered | CaseState::Returned => Some(Stage::Dispatch),
        CaseState::Dispatched | CaseState::Handling | CaseState::Suspended => Some(Stage::Handling),
        CaseState::Handled | CaseState::Checking | CaseState::Checked => Some(Stage::Checking),
        CaseState::Closed | CaseState::Voided => None,
    }
}

/// The attachment reference of a photo.
pub fn photo_ref(id: i64) -> String {
    format!("/api/photos/{id}")
}

/// Takes one step on `case` (see the module documentation). `actor_label` names the
/// actor in deliveries; `now` is the clock.
///
/// The checks run in this order: the step's time ([`TimeError`]), the photos, the
/// dispatch department, then the workflow's own checks, then the deadlines.
pub fn step(
    reference: &Reference,
    case: &CaseRecord,
    request: &StepRequest,
    actor: &Actor,
    actor_label: &str,
    now: DateTime<FixedOffset>,
) -> Result<Step, StepError> {
    let action = request.action;
    let at = match request.at {
        Some(t) => {
            check_past("at", t, now)?;
            if case.last_at.is_some_and(|l| t < l) {
                return Err(TimeError::BeforePrevious("at").into());
            }
            t
        }
        None => now,
    };
    let mut attachments = Vec::new();
    if !request.photo_ids.is_empty() {
        let mut wanted = request.photo_ids.clone();
        wanted.sort_unstable();
        wanted.dedup();
        let mut found = case.photos.clone();
        found.sort_unstable();
        found.dedup();
        if found != wanted {
            return Err(StepError::ForeignPhotos);
        }
        attachments = request.photo_ids.iter().map(|p| photo_ref(*p)).collect();
    }
    let category = &case.category;
    let stage_deadline = |stage, from| {
        reference
            .stage_deadline(category, stage, from)
            .map_err(StepError::Deadline)
    };
    let mut input = ActionInput::new(action, at);
    input.note = request.note.clone().filter(|n| !n.trim().is_empty());
    input.public_note = request.public_note;
    input.attachments = attachments;
    input.deadline = request.deadline;
    let mut routing_note = None;
    match action {
        Action::Dispatch => {
            let dep = request
                .department
                .clone()
                .filter(|d| !d.trim().is_empty())
                .or_else(|| case.routed_department.clone())
                .ok_or(StepError::NoDepartment)?;
            if reference.catalog.department(&dep).is_none() {
                return Err(StepError::UnknownDepartment(dep));
            }
            if request.department.is_none() {
                routing_note = Some(json!({"department": dep, "from": "routing"}));
            }
            input.department = Some(dep);
            input.deadline = Some(stage_deadline(Stage::Handling, at)?);
        }
        Action::CheckFail => {
            input.deadline = Some(stage_deadline(Stage::Handling, at)?);
        }
        _ => {}
    }
    let transition = workflow::apply(&case.snapshot, &input, actor)?;
    let mut next = transition.case;
    let ev = transition.event;

    // timestamps and deadlines of the new stage
    let mut stamps = case.stamps;
    let mut dispatch_due = case.dispatch_due;
    let mut checking_due = case.checking_due;
    let mut redispatch_due = None;
    let mut handling_due = next.handling_deadline;
    let mut suspended_since = case.suspended_since;
    match action {
        Action::Register => {
            stamps.registered_at = stamps.registered_at.or(Some(at));
            dispatch_due = Some(stage_deadline(Stage::Dispatch, at)?);
        }
        Action::Return => {
            // the first dispatch deadline stays for the evaluation; the new one is the
            // current stage's deadline
            redispatch_due = Some(stage_deadline(Stage::Dispatch, at)?);
        }
        Action::Dispatch => stamps.dispatched_at = stamps.dispatched_at.or(Some(at)),
        Action::Feedback => {
            stamps.handled_at = Some(at);
            checking_due = Some(stage_deadline(Stage::Checking, at)?);
        }
        Action::Suspend => suspended_since = Some(at),
        Action::Resume => {
            if let (Some(due), Some(since)) = (handling_due, suspended_since) {
                handling_due = Some(
                    reference
                        .resumed_deadline(category, due, since, at)
                        .map_err(StepError::ResumedDeadline)?,
                );
            }
            suspended_since = None;
        }
        Action::Close | Action::SelfHandle => stamps.closed_at = Some(at),
        _ => {}
    }
    next.handling_deadline = handling_due;
    let current = redispatch_due.or(match stage_of(next.state) {
        Some(Stage::Registration) => case.registration_due,
        Some(Stage::Dispatch) => dispatch_due,
        Some(Stage::Handling) => handling_due,
        Some(Stage::Checking) => checking_due,
        None => None,
    });
    let deadlines = Deadlines {
        registration: case.registration_due,
        dispatch: dispatch_due,
        handling: handling_due,
        checking: checking_due,
        current,
    };
    let public_note = if input.public_note {
        input.note.clone()
    } else {
        None
    };

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

    let field_task = match action {
        Action::RequestVerification | Action::RequestCheck => {
            FieldTaskKind::of(action).map(FieldTaskIntent::Open)
        }
        Action::Verify | Action::CheckPass | Action::CheckFail => {
            FieldTaskKind::of(action).map(|kind| FieldTaskIntent::Done {
                kind,
                result: action,
            })
        }
        Action::Void | Action::Close | Action::SelfHandle => Some(FieldTaskIntent::CancelOpen),
        _ => None,
    };

    // delivery to the department's own system
    let told = next
        .department
        .clone()
        .or_else(|| case.snapshot.department.clone());
    let outbox = told.and_then(|dep| {
        reference.channels.get(&dep).map(|channel| OutboxIntent {
            url: channel.url.clone(),
            department: dep,
        })
    });

    Ok(Step {
        case_id: case.id,
        case_no: case.case_no.clone(),
        category: *category,
        at,
        actor_label: actor_label.into(),
        case: next,
        suspended_since,
        stamps,
        deadlines,
        public_note,
        event: ev,
        detail,
        field_task,
        outbox,
    })
}

#[cfg(test)]
mod tests;
