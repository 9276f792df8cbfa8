//! The case workflow (案卷流转, domain.md §3) as a table-driven state machine.
//!
//! [`apply`] takes the current [`CaseSnapshot`], an [`ActionInput`] and the [`Actor`], and
//! returns a [`Transition`]: the new snapshot and the append-only [`CaseEvent`] to store.
//! Nothing is mutated; the caller writes the event and the new state in one transaction.
//!
//! The steps ([`TRANSITIONS`]):
//!
//! | action | from | to | roles |
//! |---|---|---|---|
//! | `request_verification` | reported | verifying | acceptor, shift leader |
//! | `verify` | verifying | verified | inspector |
//! | `register` | reported, verified | registered | acceptor, shift leader |
//! | `void` | reported, verifying, verified | voided | acceptor, shift leader |
//! | `self_handle` | reported | closed | inspector (自行处置) |
//! | `dispatch` | registered, returned | dispatched | dispatcher |
//! | `return` | dispatched, handling | returned | department |
//! | `accept` | dispatched | handling | department |
//! | `feedback` | handling | handled | department |
//! | `suspend` | handling | suspended | dispatcher, shift leader |
//! | `resume` | suspended | handling | dispatcher, shift leader |
//! | `request_extension` | dispatched, handling | (same) | department |
//! | `approve_extension` | dispatched, handling, suspended | (same) | dispatcher, shift leader |
//! | `reject_extension` | dispatched, handling, suspended | (same) | dispatcher, shift leader |
//! | `request_check` | handled | checking | acceptor, dispatcher, shift leader |
//! | `check_pass` | checking | checked | inspector |
//! | `check_fail` | checking | dispatched (rework + 1) | inspector |
//! | `close` | checked | closed | shift leader |
//! | `comment` | any | (same) | every role but public |
//!
//! `admin` may perform every step. A `department` operator may act only on cases
//! currently assigned to its own department. The checks run in this order, so that a
//! caller learns no more than it may: the role may never take this action →
//! [`WorkflowError::Forbidden`]; the action is not possible in the current state →
//! [`WorkflowError::InvalidTransition`]; a department acting on another department's
//! case → `Forbidden`; an inspector doing a field task that is not his
//! ([`field_task_owner`]) → `Forbidden`; missing or inconsistent input →
//! [`WorkflowError::BadInput`].
//!
//! An extension (延期) moves the handling deadline after approval; it is not a state.
//!
//! ```
//! use chrono::DateTime;
//! use citygrid_grid_mgmt::workflow::*;
//!
//! let at = DateTime::parse_from_rfc3339("2025-05-12T09:00:00+08:00").unwrap();
//! let case = CaseSnapshot::new(CaseState::Registered);
//! let dispatcher = Actor::new("u7", Role::Dispatcher, None);
//! let mut input = ActionInput::new(Action::Dispatch, at);
//! input.department = Some("lighting".into());
//! let t = apply(&case, &input, &dispatcher).unwrap();
//! assert_eq!(t.case.state, CaseState::Dispatched);
//! assert_eq!(t.case.department.as_deref(), Some("lighting"));
//!
//! // another department may not accept it
//! let water = Actor::new("u9", Role::Department, Some("water"));
//! let err = apply(&t.case, &ActionInput::new(Action::Accept, at), &water).unwrap_err();
//! assert!(matches!(err, WorkflowError::Forbidden { .. }));
//! ```

use std::fmt;

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

use crate::catalog::Stage;

/// The state of a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseState {
    /// Received, not yet registered (上报).
    Reported,
    /// An inspector was asked to verify it on site (核实中).
    Verifying,
    /// Verified on site, waiting for registration.
    Verified,
    /// Registered as a case (立案).
    Registered,
    /// Not a case (作废). Final.
    Voided,
    /// Sent to a department (派遣).
    Dispatched,
    /// Accepted by the department, being handled (处置中).
    Handling,
    /// Suspended (挂账): the clock stops.
    Suspended,
    /// The department reported back (反馈).
    Handled,
    /// An inspector was asked to check the fix (核查中).
    Checking,
    /// The fix was confirmed on site, waiting for closing.
    Checked,
    /// Returned by the department as not theirs (回退).
    Returned,
    /// Closed (结案). Final.
    Closed,
}

impl CaseState {
    /// Every state, in workflow order.
    pub const ALL: [CaseState; 13] = [
        CaseState::Reported,
        CaseState::Verifying,
        CaseState::Verified,
        CaseState::Registered,
        CaseState::Voided,
        CaseState::Dispatched,
        CaseState::Handling,
        CaseState::Suspended,
        CaseState::Handled,
        CaseState::Checking,
        CaseState::Checked,
        CaseState::Returned,
        CaseState::Closed,
    ];

    /// The snake_case name used in JSON and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            CaseState::Reported => "reported",
            CaseState::Verifying => "verifying",
            CaseState::Verified => "verified",
            CaseState::Registered => "registered",
            CaseState::Voided => "voided",
            CaseState::Dispatched => "dispatched",
            CaseState::Handling => "handling",
            CaseState::Suspended => "suspended",
            CaseState::Handled => "handled",
            CaseState::Checking => "checking",
            CaseState::Checked => "checked",
            CaseState::Returned => "returned",
            CaseState::Closed => "closed",
        }
    }

    /// Whether no further step is possible (closed or voided).
    pub fn is_final(self) -> bool {
        matches!(self, CaseState::Closed | CaseState::Voided)
    }
}

impl fmt::Display for CaseState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A workflow step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Ask an inspector to verify a report.
    RequestVerification,
    /// Inspector confirms the report on site.
    Verify,
    /// Register the case (立案).
    Register,
    /// Void the report (作废).
    Void,
    /// Inspector fixed a trivial problem himself (自行处置).
    SelfHandle,
    /// Send to a department (needs [`ActionInput::department`]).
    Dispatch,
    /// Department returns a case that is not theirs.
    Return,
    /// Department accepts the case.
    Accept,
    /// Department reports the case handled.
    Feedback,
    /// Suspend (挂账).
    Suspend,
    /// Resume a suspended case.
    Resume,
    /// Department asks for a later deadline (needs [`ActionInput::deadline`]).
    RequestExtension,
    /// Approve the pending extension (optionally with another deadline).
    ApproveExtension,
    /// Reject the pending extension.
    RejectExtension,
    /// Ask an inspector to check the fix.
    RequestCheck,
    /// Inspector confirms the fix.
    CheckPass,
    /// Inspector finds it not fixed: back to the department, rework + 1.
    CheckFail,
    /// Close the case (结案).
    Close,
    /// A note without a state change.
    Comment,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 19] = [
        Action::RequestVerification,
        Action::Verify,
        Action::Register,
        Action::Void,
        Action::SelfHandle,
        Action::Dispatch,
        Action::Return,
        Action::Accept,
        Action::Feedback,
        Action::Suspend,
        Action::Resume,
        Action::RequestExtension,
        Action::ApproveExtension,
        Action::RejectExtension,
        Action::RequestCheck,
        Action::CheckPass,
        Action::CheckFail,
        Action::Close,
        Action::Comment,
    ];

    /// The snake_case name used in the HTTP API.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::RequestVerification => "request_verification",
            Action::Verify => "verify",
            Action::Register => "register",
            Action::Void => "void",
            Action::SelfHandle => "self_handle",
            Action::Dispatch => "dispatch",
            Action::Return => "return",
            Action::Accept => "accept",
            Action::Feedback => "feedback",
            Action::Suspend => "suspend",
            Action::Resume => "resume",
            Action::RequestExtension => "request_extension",
            Action::ApproveExtension => "approve_extension",
            Action::RejectExtension => "reject_extension",
            Action::RequestCheck => "request_check",
            Action::CheckPass => "check_pass",
            Action::CheckFail => "check_fail",
            Action::Close => "close",
            Action::Comment => "comment",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Action {
    type Err = WorkflowError;
    fn from_str(s: &str) -> Result<Self, WorkflowError> {
        Action::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or_else(|| WorkflowError::UnknownAction(s.chars().take(64).collect()))
    }
}

/// Who acts: the roles of domain.md §3. The same enum is the role of a user account
/// in the HTTP service, where [`Role::Public`] is the absence of credentials: no account
/// has it ([`Role::ALL`] and parsing with [`str::parse`] know the account roles only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A member of the public (reports through Open311 or the web only).
    Public,
    /// Grid inspector (监督员): reports and checks in the street.
    Inspector,
    /// Acceptor (受理员): registers or voids reports.
    Acceptor,
    /// Shift leader (值班长): approves registration, closes cases.
    ShiftLeader,
    /// Dispatcher (派遣员): sends cases to departments.
    Dispatcher,
    /// Department operator (专业部门): handles the department's cases.
    Department,
    /// Administrator: may do every step; manages accounts, keys and reference data.
    Admin,
}

impl Role {
    /// Every role an account can have, in a stable order (every role but
    /// [`Role::Public`]).
    pub const ALL: [Role; 6] = [
        Role::Inspector,
        Role::Acceptor,
        Role::ShiftLeader,
        Role::Dispatcher,
        Role::Department,
        Role::Admin,
    ];

    /// Every role, [`Role::Public`] first.
    pub const EVERY: [Role; 7] = [
        Role::Public,
        Role::Inspector,
        Role::Acceptor,
        Role::ShiftLeader,
        Role::Dispatcher,
        Role::Department,
        Role::Admin,
    ];

    /// The snake_case name, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Public => "public",
            Role::Inspector => "inspector",
            Role::Acceptor => "acceptor",
            Role::ShiftLeader => "shift_leader",
            Role::Dispatcher => "dispatcher",
            Role::Department => "department",
            Role::Admin => "admin",
        }
    }
}

/// Parses an account role: `public` is not one.
impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown role {s:?}: use one of inspector, acceptor, shift_leader, dispatcher, department, admin"
                )
            })
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The user taking a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// User id.
    pub user_id: String,
    /// Role.
    pub role: Role,
    /// Department code (required for the department role).
    pub department: Option<String>,
}

impl Actor {
    /// An actor.
    pub fn new(user_id: &str, role: Role, department: Option<&str>) -> Self {
        Self {
            user_id: user_id.into(),
            role,
            department: department.map(Into::into),
        }
    }
}

/// What the workflow needs to know about a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseSnapshot {
    /// Current state.
    pub state: CaseState,
    /// Department the case is assigned to (set on dispatch, cleared on return).
    pub department: Option<String>,
    /// Failed checks so far.
    pub rework_count: u32,
    /// Returns by departments so far.
    pub return_count: u32,
    /// Current handling deadline.
    pub handling_deadline: Option<DateTime<FixedOffset>>,
    /// Deadline requested by a pending extension request.
    pub pending_extension: Option<DateTime<FixedOffset>>,
    /// Whether an extension was ever approved.
    pub extended: bool,
    /// The user who reported the case, when a signed-in user did ([`Actor::user_id`]).
    #[serde(default)]
    pub reporter: Option<String>,
    /// The open field task (`verify` while verifying, `check` while checking): who it
    /// belongs to. See [`field_task_owner`].
    #[serde(default)]
    pub field_task: Option<FieldTask>,
}

/// An open field task (核实 verify, 核查 check) of a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldTask {
    /// The inspector it belongs to ([`Actor::user_id`]): the active inspector responsible
    /// for the case's unit grid, else the one it was assigned to; `None` while the grid
    /// has no responsible inspector (a pool task, open to every inspector).
    pub assignee: Option<String>,
}

/// Whether `actor` may do the open field task of `case` with `action` (`verify`,
/// `check_pass`, `check_fail`); other actions and roles other than inspector pass.
///
/// - An assigned task is done by its assignee only: another inspector, even one who can
///   see the case (he reported it), is refused.
/// - A pool task (its grid has no responsible inspector) may be taken by any inspector
///   but the case's reporter: nobody confirms his own report, or the fix of it, from
///   outside the area he answers for. In his own grid the responsible inspector checks
///   the fixes of the problems he reported (that is his duty, and nobody else's).
pub fn field_task_owner(
    case: &CaseSnapshot,
    action: Action,
    actor: &Actor,
) -> Result<(), WorkflowError> {
    if actor.role != Role::Inspector
        || !matches!(
            action,
            Action::Verify | Action::CheckPass | Action::CheckFail
        )
    {
        return Ok(());
    }
    let forbidden = |reason| WorkflowError::Forbidden {
        role: actor.role,
        action,
        reason,
    };
    match case.field_task.as_ref().and_then(|t| t.assignee.as_ref()) {
        Some(a) if *a == actor.user_id => Ok(()),
        Some(_) => Err(forbidden("the field task is assigned to another inspector")),
        None if case.reporter.as_deref() == Some(actor.user_id.as_str()) => Err(forbidden(
            "the reporter may not do the field task of his own report outside his grids",
        )),
        None => Ok(()),
    }
}

impl CaseSnapshot {
    /// A case in `state` with nothing else set.
    pub fn new(state: CaseState) -> Self {
        Self {
            state,
            department: None,
            rework_count: 0,
            return_count: 0,
            handling_deadline: None,
            pending_extension: None,
            extended: false,
            reporter: None,
            field_task: None,
        }
    }
}

/// The step requested, with its payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionInput {
    /// The action.
    pub action: Action,
    /// When it happens.
    pub at: DateTime<FixedOffset>,
    /// Free text.
    #[serde(default)]
    pub note: Option<String>,
    /// Whether the note may be shown to the public (Open311 `status_notes`).
    #[serde(default)]
    pub public_note: bool,
    /// Attachment references (photo URLs or ids).
    #[serde(default)]
    pub attachments: Vec<String>,
    /// Target department of `dispatch`.
    #[serde(default)]
    pub department: Option<String>,
    /// The handling deadline set by `dispatch` / `check_fail`, requested by
    /// `request_extension`, or overriding the requested one in `approve_extension`.
    #[serde(default)]
    pub deadline: Option<DateTime<FixedOffset>>,
}

impl ActionInput {
    /// An input with no note, attachments, department or deadline.
    pub fn new(action: Action, at: DateTime<FixedOffset>) -> Self {
        Self {
            action,
            at,
            note: None,
            public_note: false,
            attachments: Vec::new(),
            department: None,
            deadline: None,
        }
    }
}

/// A deadline moved by a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadlineChange {
    /// Which stage's deadline.
    pub stage: Stage,
    /// Before.
    pub old: Option<DateTime<FixedOffset>>,
    /// After.
    pub new: Option<DateTime<FixedOffset>>,
}

/// The append-only record of one step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseEvent {
    /// The action.
    pub action: Action,
    /// Who.
    pub actor_id: String,
    /// In which role.
    pub role: Role,
    /// The actor's department.
    pub actor_department: Option<String>,
    /// When.
    pub at: DateTime<FixedOffset>,
    /// State before.
    pub from: CaseState,
    /// State after.
    pub to: CaseState,
    /// Note.
    pub note: Option<String>,
    /// Whether the note is public.
    pub public_note: bool,
    /// Attachments.
    pub attachments: Vec<String>,
    /// Department the case was assigned to by this step (dispatch, check_fail).
    pub assigned_department: Option<String>,
    /// The new rework count when this step changed it (check_fail).
    pub rework: Option<u32>,
    /// A deadline moved by this step.
    pub deadline_change: Option<DeadlineChange>,
}

/// The result of a successful step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    /// The case after the step.
    pub case: CaseSnapshot,
    /// The event to append.
    pub event: CaseEvent,
}

/// A refused step.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkflowError {
    /// The actor may not take this step.
    #[error("forbidden: {role} may not {action} this case ({reason})")]
    Forbidden {
        /// The actor's role.
        role: Role,
        /// The action.
        action: Action,
        /// Why.
        reason: &'static str,
    },
    /// The step is not possible from the current state.
    #[error("cannot {action} a case that is {state}")]
    InvalidTransition {
        /// The action.
        action: Action,
        /// The current state.
        state: CaseState,
    },
    /// Missing or inconsistent input.
    #[error("{action}: {reason}")]
    BadInput {
        /// The action.
        action: Action,
        /// What is wrong.
        reason: &'static str,
    },
    /// An action name that does not exist.
    #[error("unknown action {0:?}")]
    UnknownAction(String),
}

/// `to` of a row: a fixed state, or the current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Move to this state.
    To(CaseState),
    /// Stay.
    Same,
}

/// One row of the transition table.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// The action.
    pub action: Action,
    /// States it may start from.
    pub from: &'static [CaseState],
    /// Resulting state.
    pub to: Target,
    /// Roles allowed besides admin.
    pub roles: &'static [Role],
}

use CaseState as S;
use Role as R;

/// The transition table (see the module documentation).
pub const TRANSITIONS: &[Rule] = &[
    Rule {
        action: Action::RequestVerification,
        from: &[S::Reported],
        to: Target::To(S::Verifying),
        roles: &[R::Acceptor, R::ShiftLeader],
    },
    Rule {
        action: Action::Verify,
        from: &[S::Verifying],
        to: Target::To(S::Verified),
        roles: &[R::Inspector],
    },
    Rule {
        action: Action::Register,
        from: &[S::Reported, S::Verified],
        to: Target::To(S::Registered),
        roles: &[R::Acceptor, R::ShiftLeader],
    },
    Rule {
        action: Action::Void,
        from: &[S::Reported, S::Verifying, S::Verified],
        to: Target::To(S::Voided),
        roles: &[R::Acceptor, R::ShiftLeader],
    },
    Rule {
        action: Action::SelfHandle,
        from: &[S::Reported],
        to: Target::To(S::Closed),
        roles: &[R::Inspector],
    },
    Rule {
        action: Action::Dispatch,
        from: &[S::Registered, S::Returned],
        to: Target::To(S::Dispatched),
        roles: &[R::Dispatcher],
    },
    Rule {
        action: Action::Return,
        from: &[S::Dispatched, S::Handling],
        to: Target::To(S::Returned),
        roles: &[R::Department],
    },
    Rule {
        action: Action::Accept,
        from: &[S::Dispatched],
        to: Target::To(S::Handling),
        roles: &[R::Department],
    },
    Rule {
        action: Action::Feedback,
        from: &[S::Handling],
        to: Target::To(S::Handled),
        roles: &[R::Department],
    },
    Rule {
        action: Action::Suspend,
        from: &[S::Handling],
        to: Target::To(S::Suspended),
        roles: &[R::Dispatcher, R::ShiftLeader],
    },
    Rule {
        action: Action::Resume,
        from: &[S::Suspended],
        to: Target::To(S::Handling),
        roles: &[R::Dispatcher, R::ShiftLeader],
    },
    Rule {
        action: Action::RequestExtension,
        from: &[S::Dispatched, S::Handling],
        to: Target::Same,
        roles: &[R::Department],
    },
    Rule {
        action: Action::ApproveExtension,
        from: &[S::Dispatched, S::Handling, S::Suspended],
        to: Target::Same,
        roles: &[R::Dispatcher, R::ShiftLeader],
    },
    Rule {
        action: Action::RejectExtension,
        from: &[S::Dispatched, S::Handling, S::Suspended],
        to: Target::Same,
        roles: &[R::Dispatcher, R::ShiftLeader],
    },
    Rule {
        action: Action::RequestCheck,
        from: &[S::Handled],
        to: Target::To(S::Checking),
        roles: &[R::Acceptor, R::Dispatcher, R::ShiftLeader],
    },
    Rule {
        action: Action::CheckPass,
        from: &[S::Checking],
        to: Target::To(S::Checked),
        roles: &[R::Inspector],
    },
    Rule {
        action: Action::CheckFail,
        from: &[S::Checking],
        to: Target::To(S::Dispatched),
        roles: &[R::Inspector],
    },
    Rule {
        action: Action::Close,
        from: &[S::Checked],
        to: Target::To(S::Closed),
        roles: &[R::ShiftLeader],
    },
    Rule {
        action: Action::Comment,
        from: &CaseState::ALL,
        to: Target::Same,
        roles: &[
            R::Inspector,
            R::Acceptor,
            R::ShiftLeader,
            R::Dispatcher,
            R::Department,
        ],
    },
];

/// The table row of an action.
pub fn rule_of(action: Action) -> &'static Rule {
    TRANSITIONS
        .iter()
        .find(|r| r.action == action)
        .expect("every action has a row (checked by a test)")
}

/// Whether `role` may ever take `action` (ignoring state and department).
pub fn role_may(role: Role, action: Action) -> bool {
    role == Role::Admin || rule_of(action).roles.contains(&role)
}

/// The actions possible from `state` (for building buttons).
pub fn actions_from(state: CaseState) -> Vec<Action> {
    TRANSITIONS
        .iter()
        .filter(|r| r.from.contains(&state))
        .map(|r| r.action)
        .collect()
}

/// Take one step; see the module documentation for the order of checks.
pub fn apply(
    case: &CaseSnapshot,
    input: &ActionInput,
    actor: &Actor,
) -> Result<Transition, WorkflowError> {
    let action = input.action;
    let rule = rule_of(action);
    if !role_may(actor.role, action) {
        return Err(WorkflowError::Forbidden {
            role: actor.role,
            action,
            reason: "the role may not take this step",
        });
    }
    if !rule.from.contains(&case.state) {
        return Err(WorkflowError::InvalidTransition {
            action,
            state: case.state,
        });
    }
    if actor.role == Role::Department {
        let own = match (&actor.department, &case.department) {
            (Some(a), Some(c)) => a == c,
            _ => false,
        };
        if !own {
            return Err(WorkflowError::Forbidden {
                role: actor.role,
                action,
                reason: "the case is not assigned to the actor's department",
            });
        }
    }
    field_task_owner(case, action, actor)?;
    let bad = |reason| WorkflowError::BadInput { action, reason };

    let mut next = case.clone();
    let mut assigned_department = None;
    let mut rework = None;
    let mut deadline_change = None;
    let mut change_deadline = |next: &mut CaseSnapshot, new: Option<DateTime<FixedOffset>>| {
        if new != next.handling_deadline {
            deadline_change = Some(DeadlineChange {
                stage: Stage::Handling,
                old: next.handling_deadline,
                new,
            });
            next.handling_deadline = new;
        }
    };

    match action {
        Action::Dispatch => {
            let dep = input
                .department
                .clone()
                .filter(|d| !d.trim().is_empty())
                .ok_or(bad("the target department is required"))?;
            next.department = Some(dep.clone());
            assigned_department = Some(dep);
            next.pending_extension = None;
            if input.deadline.is_some() {
                change_deadline(&mut next, input.deadline);
            }
        }
        Action::Return => {
            next.department = None;
            next.return_count += 1;
            next.pending_extension = None;
        }
        Action::CheckFail => {
            next.rework_count += 1;
            rework = Some(next.rework_count);
            assigned_department = next.department.clone();
            if input.deadline.is_some() {
                change_deadline(&mut next, input.deadline);
            }
        }
        Action::RequestExtension => {
            if case.pending_extension.is_some() {
                return Err(bad("an extension request is already pending"));
            }
            let wanted = input
                .deadline
                .ok_or(bad("the requested deadline is required"))?;
            if case.handling_deadline.is_some_and(|d| wanted <= d) {
                return Err(bad("the requested deadline must be after the current one"));
            }
            next.pending_extension = Some(wanted);
        }
        Action::ApproveExtension => {
            let requested = case
                .pending_extension
                .ok_or(bad("there is no pending extension request"))?;
            let new = input.deadline.unwrap_or(requested);
            if case.handling_deadline.is_some_and(|d| new <= d) {
                return Err(bad("the new deadline must be after the current one"));
            }
            next.pending_extension = None;
            next.extended = true;
            change_deadline(&mut next, Some(new));
        }
        Action::RejectExtension => {
            if case.pending_extension.is_none() {
                return Err(bad("there is no pending extension request"));
            }
            next.pending_extension = None;
        }
        Action::Comment
            if input.note.as_deref().is_none_or(|n| n.trim().is_empty())
                && input.attachments.is_empty() =>
        {
            return Err(bad("a comment needs a note or an attachment"));
        }
        _ => {}
    }
    if let Target::To(s) = rule.to {
        next.state = s;
    }
    let event = CaseEvent {
        action,
        actor_id: actor.user_id.clone(),
        role: actor.role,
        actor_department: actor.department.clone(),
        at: input.at,
        from: case.state,
        to: next.state,
        note: input.note.clone(),
        public_note: input.public_note,
        attachments: input.attachments.clone(),
        assigned_department,
        rework,
        deadline_change,
    };
    Ok(Transition { case: next, event })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }
    const T0: &str = "2025-05-12T09:00:00+08:00";

    fn actor(role: Role) -> Actor {
        Actor::new("u1", role, (role == Role::Department).then_some("lighting"))
    }

    /// An input that satisfies the payload needs of any action in a suitable case.
    fn input(action: Action) -> ActionInput {
        let mut i = ActionInput::new(action, at(T0));
        i.department = Some("lighting".into());
        i.note = Some("n".into());
        if action == Action::RequestExtension {
            i.deadline = Some(at("2025-05-20T17:30:00+08:00"));
        }
        i
    }

    /// A case in `state`, assigned to `lighting`, with a pending extension where that is
    /// needed.
    fn case_in(state: CaseState, action: Action) -> CaseSnapshot {
        let mut c = CaseSnapshot::new(state);
        c.department = Some("lighting".into());
        c.handling_deadline = Some(at("2025-05-15T17:30:00+08:00"));
        if matches!(action, Action::ApproveExtension | Action::RejectExtension) {
            c.pending_extension = Some(at("2025-05-20T17:30:00+08:00"));
        }
        c
    }

    /// Independent statement of who may do what: one letter per role in the order
    /// public, inspector, acceptor, shift_leader, dispatcher, department, admin.
    const PERMISSIONS: &[(Action, &str)] = &[
        (Action::RequestVerification, "..AS..A"),
        (Action::Verify, ".I....A"),
        (Action::Register, "..AS..A"),
        (Action::Void, "..AS..A"),
        (Action::SelfHandle, ".I....A"),
        (Action::Dispatch, "....D.A"),
        (Action::Return, ".....PA"),
        (Action::Accept, ".....PA"),
        (Action::Feedback, ".....PA"),
        (Action::Suspend, "...SD.A"),
        (Action::Resume, "...SD.A"),
        (Action::RequestExtension, ".....PA"),
        (Action::ApproveExtension, "...SD.A"),
        (Action::RejectExtension, "...SD.A"),
        (Action::RequestCheck, "..ASD.A"),
        (Action::CheckPass, ".I....A"),
        (Action::CheckFail, ".I....A"),
        (Action::Close, "...S..A"),
        (Action::Comment, ".IASDPA"),
    ];

    /// Independent statement of the state machine: action, from, to.
    const EDGES: &[(Action, CaseState, CaseState)] = &[
        (Action::RequestVerification, S::Reported, S::Verifying),
        (Action::Verify, S::Verifying, S::Verified),
        (Action::Register, S::Reported, S::Registered),
        (Action::Register, S::Verified, S::Registered),
        (Action::Void, S::Reported, S::Voided),
        (Action::Void, S::Verifying, S::Voided),
        (Action::Void, S::Verified, S::Voided),
        (Action::SelfHandle, S::Reported, S::Closed),
        (Action::Dispatch, S::Registered, S::Dispatched),
        (Action::Dispatch, S::Returned, S::Dispatched),
        (Action::Return, S::Dispatched, S::Returned),
        (Action::Return, S::Handling, S::Returned),
        (Action::Accept, S::Dispatched, S::Handling),
        (Action::Feedback, S::Handling, S::Handled),
        (Action::Suspend, S::Handling, S::Suspended),
        (Action::Resume, S::Suspended, S::Handling),
        (Action::RequestExtension, S::Dispatched, S::Dispatched),
        (Action::RequestExtension, S::Handling, S::Handling),
        (Action::ApproveExtension, S::Dispatched, S::Dispatched),
        (Action::ApproveExtension, S::Handling, S::Handling),
        (Action::ApproveExtension, S::Suspended, S::Suspended),
        (Action::RejectExtension, S::Dispatched, S::Dispatched),
        (Action::RejectExtension, S::Handling, S::Handling),
        (Action::RejectExtension, S::Suspended, S::Suspended),
        (Action::RequestCheck, S::Handled, S::Checking),
        (Action::CheckPass, S::Checking, S::Checked),
        (Action::CheckFail, S::Checking, S::Dispatched),
        (Action::Close, S::Checked, S::Closed),
    ];

    #[test]
    fn every_action_has_exactly_one_row() {
        for a in Action::ALL {
            assert_eq!(
                TRANSITIONS.iter().filter(|r| r.action == a).count(),
                1,
                "{a}"
            );
            assert_eq!(a.as_str().parse::<Action>().unwrap(), a);
            assert_eq!(serde_json::to_value(a).unwrap(), a.as_str());
        }
        assert!(matches!(
            "fly".parse::<Action>(),
            Err(WorkflowError::UnknownAction(_))
        ));
    }

    /// One assertion per (role, action) pair: allowed pairs succeed from a valid state,
    /// forbidden pairs fail with `Forbidden`.
    #[test]
    fn role_action_matrix() {
        let mut checked = 0;
        for &(action, letters) in PERMISSIONS {
            let from = EDGES
                .iter()
                .find(|e| e.0 == action)
                .map_or(S::Handling, |e| e.1);
            for (role, letter) in Role::EVERY.into_iter().zip(letters.chars()) {
                let r = apply(&case_in(from, action), &input(action), &actor(role));
                if letter == '.' {
                    assert!(
                        matches!(r, Err(WorkflowError::Forbidden { .. })),
                        "{role} must not {action}: {r:?}"
                    );
                } else {
                    let t = r.unwrap_or_else(|e| panic!("{role} may {action}: {e}"));
                    assert_eq!(t.event.role, role);
                }
                checked += 1;
            }
        }
        assert_eq!(checked, 19 * 7);
    }

    #[test]
    fn account_roles_parse_and_public_is_not_one() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
            assert_eq!(serde_json::to_value(role).unwrap(), role.as_str());
        }
        assert_eq!(&Role::EVERY[1..], &Role::ALL[..]);
        assert_eq!(Role::EVERY[0], Role::Public);
        let e = "public".parse::<Role>().unwrap_err();
        assert_eq!(
            e,
            "unknown role \"public\": use one of inspector, acceptor, shift_leader, dispatcher, department, admin"
        );
        assert!("Admin".parse::<Role>().is_err());
        assert_eq!(Role::Public.to_string(), "public");
    }

    /// One assertion per (state, action) pair, as admin: the listed edges succeed with
    /// the listed target, every other pair is an `InvalidTransition`.
    #[test]
    fn state_action_matrix() {
        for state in CaseState::ALL {
            for action in Action::ALL {
                let r = apply(&case_in(state, action), &input(action), &actor(Role::Admin));
                if action == Action::Comment {
                    assert_eq!(r.unwrap().case.state, state);
                    continue;
                }
                match EDGES.iter().find(|e| e.0 == action && e.1 == state) {
                    Some(&(_, _, to)) => {
                        assert_eq!(r.unwrap().case.state, to, "{action} from {state}")
                    }
                    None => assert_eq!(
                        r.unwrap_err(),
                        WorkflowError::InvalidTransition { action, state },
                        "{action} from {state}"
                    ),
                }
            }
        }
        assert_eq!(actions_from(S::Voided), vec![Action::Comment]);
        assert!(S::Closed.is_final() && !S::Returned.is_final());
    }

    #[test]
    fn department_acts_only_on_own_cases() {
        let case = case_in(S::Dispatched, Action::Accept);
        let other = Actor::new("u2", Role::Department, Some("water"));
        let e = apply(&case, &input(Action::Accept), &other).unwrap_err();
        assert_eq!(
            e.to_string(),
            "forbidden: department may not accept this case (the case is not assigned to the actor's department)"
        );
        let none = Actor::new("u3", Role::Department, None);
        assert!(matches!(
            apply(&case, &input(Action::Accept), &none),
            Err(WorkflowError::Forbidden { .. })
        ));
        // role is checked before state: a forbidden role learns nothing about the state
        let e = apply(&case, &input(Action::Close), &actor(Role::Public)).unwrap_err();
        assert!(matches!(e, WorkflowError::Forbidden { .. }));
        // state is checked before ownership
        let e = apply(&case, &input(Action::Feedback), &other).unwrap_err();
        assert_eq!(e.to_string(), "cannot feedback a case that is dispatched");
    }

    #[test]
    fn inspectors_do_only_their_own_field_tasks() {
        let a = Actor::new("7", Role::Inspector, None);
        let b = Actor::new("8", Role::Inspector, None);
        let task = |assignee: Option<&str>, reporter: Option<&str>, state| {
            let mut c = CaseSnapshot::new(state);
            c.department = Some("lighting".into());
            c.reporter = reporter.map(Into::into);
            c.field_task = Some(FieldTask {
                assignee: assignee.map(Into::into),
            });
            c
        };
        for (state, action) in [
            (S::Verifying, Action::Verify),
            (S::Checking, Action::CheckPass),
            (S::Checking, Action::CheckFail),
        ] {
            // assigned to A, reported by B: only A
            let c = task(Some("7"), Some("8"), state);
            assert!(apply(&c, &input(action), &a).is_ok(), "{action}");
            let e = apply(&c, &input(action), &b).unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("forbidden: inspector may not {action} this case (the field task is assigned to another inspector)")
            );
            // the responsible inspector does the tasks of his own reports in his grid
            assert!(apply(&task(Some("7"), Some("7"), state), &input(action), &a).is_ok());
            // a pool task: anyone but the reporter
            let c = task(None, Some("8"), state);
            assert!(apply(&c, &input(action), &a).is_ok(), "{action}");
            assert!(matches!(
                apply(&c, &input(action), &b),
                Err(WorkflowError::Forbidden { .. })
            ));
            let c = task(None, None, state);
            assert!(apply(&c, &input(action), &b).is_ok(), "{action}");
            // an admin may do every step; state is still checked first
            assert!(apply(
                &task(Some("7"), Some("8"), state),
                &input(action),
                &actor(Role::Admin)
            )
            .is_ok());
            let e = apply(&task(Some("7"), None, S::Handling), &input(action), &b).unwrap_err();
            assert!(matches!(e, WorkflowError::InvalidTransition { .. }), "{e}");
        }
        // other inspector steps are not field tasks
        let c = task(Some("7"), Some("8"), S::Reported);
        assert!(apply(&c, &input(Action::Comment), &b).is_ok());
        assert!(apply(&c, &input(Action::SelfHandle), &b).is_ok());
    }

    #[test]
    fn full_path_with_return_rework_and_extension() {
        let adm = |role| Actor::new("x", role, None);
        let light = Actor::new("op", Role::Department, Some("lighting"));
        let water = Actor::new("op2", Role::Department, Some("water"));
        let step = |c: &CaseSnapshot, i: ActionInput, a: &Actor| apply(c, &i, a).unwrap();
        let mut c = CaseSnapshot::new(S::Reported);
        c = step(&c, input(Action::RequestVerification), &adm(Role::Acceptor)).case;
        c = step(&c, input(Action::Verify), &adm(Role::Inspector)).case;
        c = step(&c, input(Action::Register), &adm(Role::ShiftLeader)).case;
        let mut d = ActionInput::new(Action::Dispatch, at(T0));
        d.department = Some("water".into());
        d.deadline = Some(at("2025-05-15T09:00:00+08:00"));
        let t = step(&c, d, &adm(Role::Dispatcher));
        assert_eq!(t.event.assigned_department.as_deref(), Some("water"));
        assert_eq!(
            t.event.deadline_change.as_ref().unwrap().new,
            Some(at("2025-05-15T09:00:00+08:00"))
        );
        c = t.case;
        // wrong department: returned, then re-dispatched to lighting
        let t = step(&c, input(Action::Return), &water);
        assert_eq!(
            (t.case.state, t.case.department.clone(), t.case.return_count),
            (S::Returned, None, 1)
        );
        c = t.case;
        c = step(&c, input(Action::Dispatch), &adm(Role::Dispatcher)).case;
        c = step(&c, input(Action::Accept), &light).case;
        // extension: request, then approve with the requested deadline
        let t = step(&c, input(Action::RequestExtension), &light);
        assert_eq!(t.case.state, S::Handling);
        assert!(t.event.deadline_change.is_none());
        c = t.case;
        let again = apply(&c, &input(Action::RequestExtension), &light).unwrap_err();
        assert_eq!(
            again.to_string(),
            "request_extension: an extension request is already pending"
        );
        let t = step(
            &c,
            ActionInput::new(Action::ApproveExtension, at(T0)),
            &adm(Role::Dispatcher),
        );
        let ch = t.event.deadline_change.clone().unwrap();
        assert_eq!(
            (ch.stage, ch.old, ch.new),
            (
                Stage::Handling,
                Some(at("2025-05-15T09:00:00+08:00")),
                Some(at("2025-05-20T17:30:00+08:00"))
            )
        );
        assert!(t.case.extended && t.case.pending_extension.is_none());
        c = t.case;
        // suspend / resume
        c = step(&c, input(Action::Suspend), &adm(Role::Dispatcher)).case;
        assert_eq!(c.state, S::Suspended);
        c = step(&c, input(Action::Resume), &adm(Role::ShiftLeader)).case;
        c = step(&c, input(Action::Feedback), &light).case;
        c = step(&c, input(Action::RequestCheck), &adm(Role::Acceptor)).case;
        // failed check: back to the same department with rework + 1
        let t = step(&c, input(Action::CheckFail), &adm(Role::Inspector));
        assert_eq!(
            (t.case.state, t.event.rework, t.case.department.as_deref()),
            (S::Dispatched, Some(1), Some("lighting"))
        );
        assert_eq!((t.event.from, t.event.to), (S::Checking, S::Dispatched));
        c = t.case;
        c = step(&c, input(Action::Accept), &light).case;
        c = step(&c, input(Action::Feedback), &light).case;
        c = step(&c, input(Action::RequestCheck), &adm(Role::Dispatcher)).case;
        c = step(&c, input(Action::CheckPass), &adm(Role::Inspector)).case;
        let t = step(&c, input(Action::Close), &adm(Role::ShiftLeader));
        assert_eq!(
            (t.case.state, t.case.rework_count, t.case.return_count),
            (S::Closed, 1, 1)
        );
    }

    #[test]
    fn bad_inputs() {
        let disp = actor(Role::Dispatcher);
        let c = CaseSnapshot::new(S::Registered);
        let e = apply(&c, &ActionInput::new(Action::Dispatch, at(T0)), &disp).unwrap_err();
        assert_eq!(e.to_string(), "dispatch: the target department is required");
        let c = case_in(S::Handling, Action::Accept);
        let dep = actor(Role::Department);
        let e = apply(
            &c,
            &ActionInput::new(Action::RequestExtension, at(T0)),
            &dep,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "request_extension: the requested deadline is required"
        );
        let mut early = ActionInput::new(Action::RequestExtension, at(T0));
        early.deadline = Some(at("2025-05-14T00:00:00+08:00"));
        assert!(matches!(
            apply(&c, &early, &dep),
            Err(WorkflowError::BadInput { .. })
        ));
        let e = apply(
            &c,
            &ActionInput::new(Action::ApproveExtension, at(T0)),
            &disp,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "approve_extension: there is no pending extension request"
        );
        assert!(apply(
            &c,
            &ActionInput::new(Action::RejectExtension, at(T0)),
            &disp
        )
        .is_err());
        assert!(apply(&c, &ActionInput::new(Action::Comment, at(T0)), &disp).is_err());
        // reject clears the pending request without moving the deadline
        let c2 = case_in(S::Handling, Action::RejectExtension);
        let t = apply(
            &c2,
            &ActionInput::new(Action::RejectExtension, at(T0)),
            &disp,
        )
        .unwrap();
        assert!(
            t.case.pending_extension.is_none()
                && t.event.deadline_change.is_none()
                && !t.case.extended
        );
    }

    #[test]
    fn events_serialise() {
        let t = apply(
            &case_in(S::Checking, Action::CheckFail),
            &input(Action::CheckFail),
            &actor(Role::Inspector),
        )
        .unwrap();
        let v = serde_json::to_value(&t.event).unwrap();
        assert_eq!(v["action"], "check_fail");
        assert_eq!(v["from"], "checking");
        assert_eq!(v["to"], "dispatched");
        assert_eq!(v["rework"], 1);
        assert_eq!(v["at"], "2025-05-12T09:00:00+08:00");
    }
}
