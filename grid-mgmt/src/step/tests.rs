//! The complete step table and the rules around it, with a fixed clock: Monday
//! 2025-05-12 23:30 in Shanghai (+08:00), half an hour before local midnight.

use std::collections::HashMap;

use chrono::{DateTime, FixedOffset};

use super::*;
use crate::calendar::WorkingCalendar;
use crate::catalog::Catalog;
use crate::reference::Channel;
use crate::workflow::{Role, WorkflowError};

use CaseState as S;

fn t(s: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(s).unwrap()
}

/// The clock.
const NOW: &str = "2025-05-12T23:30:00+08:00";
/// The stored deadlines and suspension of the case before the step.
const R0: &str = "2025-05-12T10:00:00+08:00";
const D0: &str = "2025-05-12T11:00:00+08:00";
const H0: &str = "2025-05-14T17:30:00+08:00";
const C0: &str = "2025-05-11T12:00:00+08:00";
const S0: &str = "2025-05-12T09:00:00+08:00";
/// The pending extension.
const E0: &str = "2025-05-20T17:30:00+08:00";
/// The default limits counted from NOW in the default calendar (08:30–12:00,
/// 13:30–17:30): dispatch 1 working hour, handling 3 working days, checking 4 working
/// hours.
const T_DISPATCH: &str = "2025-05-13T09:30:00+08:00";
const T_HANDLING: &str = "2025-05-15T17:30:00+08:00";
const T_CHECKING: &str = "2025-05-13T14:00:00+08:00";
/// H0 after a suspension from S0 to NOW: 22 working hours were left (Mon 7, Tue 7.5,
/// Wed 7.5), counted again from Tuesday 08:30.
const T_RESUMED: &str = "2025-05-15T17:00:00+08:00";

fn reference() -> Reference {
    let mut r = Reference::new(Catalog::default_seed());
    r.channels = HashMap::from([
        (
            "water".to_string(),
            Channel {
                url: "https://water.example/hook".into(),
                secret: None,
            },
        ),
        (
            "power".to_string(),
            Channel {
                url: "https://power.example/hook".into(),
                secret: Some("s".into()),
            },
        ),
    ]);
    r
}

/// A case in `state`, assigned to `water`, routed to `power`, with every stage deadline
/// set, suspended since S0 when suspended, and an extension pending when `action`
/// decides one.
fn case_in(state: CaseState, action: Action) -> CaseRecord {
    let mut snapshot = CaseSnapshot::new(state);
    snapshot.department = Some("water".into());
    snapshot.handling_deadline = Some(t(H0));
    if matches!(action, Action::ApproveExtension | Action::RejectExtension) {
        snapshot.pending_extension = Some(t(E0));
    }
    let mut c = CaseRecord::new(7, "2025-000007", "P0101".parse().unwrap(), snapshot);
    c.routed_department = Some("power".into());
    c.registration_due = Some(t(R0));
    c.dispatch_due = Some(t(D0));
    c.checking_due = Some(t(C0));
    c.suspended_since = (state == S::Suspended).then(|| t(S0));
    c
}

fn request(action: Action) -> StepRequest {
    let mut r = StepRequest::new(action);
    r.note = Some("n".into());
    if action == Action::RequestExtension {
        r.deadline = Some(t(E0));
    }
    r
}

fn admin() -> Actor {
    Actor::new("1", Role::Admin, None)
}

fn run(case: &CaseRecord, req: &StepRequest, actor: &Actor) -> Result<Step, StepError> {
    step(&reference(), case, req, actor, "someone", t(NOW))
}

/// Which stamp a step sets.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Stamp {
    No,
    Registered,
    Dispatched,
    Handled,
    Closed,
}

/// Which deadline a step sets.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Due {
    No,
    /// dispatch = T_DISPATCH
    Dispatch,
    /// only the current deadline = T_DISPATCH (the first dispatch deadline stays)
    Redispatch,
    /// handling = T_HANDLING
    Handling,
    /// checking = T_CHECKING
    Checking,
    /// handling = T_RESUMED
    Resumed,
    /// handling = E0
    Extended,
}

use FieldTaskIntent as F;
use FieldTaskKind as K;

/// One allowed step: action, from, to, the stamp and the deadline it sets, its
/// field-task change.
type Row = (
    Action,
    CaseState,
    CaseState,
    Stamp,
    Due,
    Option<FieldTaskIntent>,
);

/// Independent statement of every allowed step.
#[rustfmt::skip]
const TABLE: &[Row] = &[
    (Action::RequestVerification, S::Reported, S::Verifying, Stamp::No, Due::No, Some(F::Open(K::Verify))),
    (Action::Verify, S::Verifying, S::Verified, Stamp::No, Due::No, Some(F::Done { kind: K::Verify, result: Action::Verify })),
    (Action::Register, S::Reported, S::Registered, Stamp::Registered, Due::Dispatch, None),
    (Action::Register, S::Verified, S::Registered, Stamp::Registered, Due::Dispatch, None),
    (Action::Void, S::Reported, S::Voided, Stamp::No, Due::No, Some(F::CancelOpen)),
    (Action::Void, S::Verifying, S::Voided, Stamp::No, Due::No, Some(F::CancelOpen)),
    (Action::Void, S::Verified, S::Voided, Stamp::No, Due::No, Some(F::CancelOpen)),
    (Action::SelfHandle, S::Reported, S::Closed, Stamp::Closed, Due::No, Some(F::CancelOpen)),
    (Action::Dispatch, S::Registered, S::Dispatched, Stamp::Dispatched, Due::Handling, None),
    (Action::Dispatch, S::Returned, S::Dispatched, Stamp::Dispatched, Due::Handling, None),
    (Action::Return, S::Dispatched, S::Returned, Stamp::No, Due::Redispatch, None),
    (Action::Return, S::Handling, S::Returned, Stamp::No, Due::Redispatch, None),
    (Action::Accept, S::Dispatched, S::Handling, Stamp::No, Due::No, None),
    (Action::Feedback, S::Handling, S::Handled, Stamp::Handled, Due::Checking, None),
    (Action::Suspend, S::Handling, S::Suspended, Stamp::No, Due::No, None),
    (Action::Resume, S::Suspended, S::Handling, Stamp::No, Due::Resumed, None),
    (Action::RequestExtension, S::Dispatched, S::Dispatched, Stamp::No, Due::No, None),
    (Action::RequestExtension, S::Handling, S::Handling, Stamp::No, Due::No, None),
    (Action::ApproveExtension, S::Dispatched, S::Dispatched, Stamp::No, Due::Extended, None),
    (Action::ApproveExtension, S::Handling, S::Handling, Stamp::No, Due::Extended, None),
    (Action::ApproveExtension, S::Suspended, S::Suspended, Stamp::No, Due::Extended, None),
    (Action::RejectExtension, S::Dispatched, S::Dispatched, Stamp::No, Due::No, None),
    (Action::RejectExtension, S::Handling, S::Handling, Stamp::No, Due::No, None),
    (Action::RejectExtension, S::Suspended, S::Suspended, Stamp::No, Due::No, None),
    (Action::RequestCheck, S::Handled, S::Checking, Stamp::No, Due::No, Some(F::Open(K::Check))),
    (Action::CheckPass, S::Checking, S::Checked, Stamp::No, Due::No, Some(F::Done { kind: K::Check, result: Action::CheckPass })),
    (Action::CheckFail, S::Checking, S::Dispatched, Stamp::No, Due::Handling, Some(F::Done { kind: K::Check, result: Action::CheckFail })),
    (Action::Close, S::Checked, S::Closed, Stamp::Closed, Due::No, Some(F::CancelOpen)),
];

/// Independent statement of the current deadline of each state.
const CURRENT: &[(CaseState, Option<Stage>)] = &[
    (S::Reported, Some(Stage::Registration)),
    (S::Verifying, Some(Stage::Registration)),
    (S::Verified, Some(Stage::Registration)),
    (S::Registered, Some(Stage::Dispatch)),
    (S::Voided, None),
    (S::Dispatched, Some(Stage::Handling)),
    (S::Handling, Some(Stage::Handling)),
    (S::Suspended, Some(Stage::Handling)),
    (S::Handled, Some(Stage::Checking)),
    (S::Checking, Some(Stage::Checking)),
    (S::Checked, Some(Stage::Checking)),
    (S::Returned, Some(Stage::Dispatch)),
    (S::Closed, None),
];

fn current_of(state: CaseState, d: &Deadlines) -> Option<DateTime<FixedOffset>> {
    match CURRENT.iter().find(|c| c.0 == state).unwrap().1 {
        Some(Stage::Registration) => d.registration,
        Some(Stage::Dispatch) => d.dispatch,
        Some(Stage::Handling) => d.handling,
        Some(Stage::Checking) => d.checking,
        None => None,
    }
}

/// Every action from every state, as admin: refused with `InvalidTransition` unless the
/// table lists it; an allowed step gives exactly the listed state, stamp, deadlines,
/// suspension, field task and delivery.
#[test]
fn complete_step_table() {
    let mut allowed = 0;
    for state in CaseState::ALL {
        assert_eq!(
            stage_of(state),
            CURRENT.iter().find(|c| c.0 == state).unwrap().1
        );
        for action in Action::ALL {
            let case = case_in(state, action);
            let r = run(&case, &request(action), &admin());
            let row = TABLE.iter().find(|e| e.0 == action && e.1 == state);
            let (to, stamp, due, task) = match (action, row) {
                (Action::Comment, _) => (state, Stamp::No, Due::No, None),
                (_, Some(&(_, _, to, stamp, due, task))) => (to, stamp, due, task),
                (_, None) => {
                    assert_eq!(
                        r.unwrap_err(),
                        StepError::Workflow(WorkflowError::InvalidTransition { action, state }),
                        "{action} from {state}"
                    );
                    continue;
                }
            };
            allowed += 1;
            let s = r.unwrap_or_else(|e| panic!("{action} from {state}: {e}"));
            let what = format!("{action} from {state}");
            assert_eq!(s.case.state, to, "{what}");
            assert_eq!((s.event.from, s.event.to), (state, to), "{what}");
            assert_eq!(s.event.action, action, "{what}");
            assert_eq!(s.at, t(NOW), "{what}");

            let now = Some(t(NOW));
            let stamps = Stamps {
                registered_at: (stamp == Stamp::Registered).then_some(t(NOW)),
                dispatched_at: (stamp == Stamp::Dispatched).then_some(t(NOW)),
                handled_at: (stamp == Stamp::Handled).then_some(t(NOW)),
                closed_at: (stamp == Stamp::Closed).then_some(t(NOW)),
            };
            assert_eq!(s.stamps, stamps, "{what}");

            let mut d = Deadlines {
                registration: Some(t(R0)),
                dispatch: Some(t(D0)),
                handling: Some(t(H0)),
                checking: Some(t(C0)),
                current: None,
            };
            match due {
                Due::No | Due::Redispatch => {}
                Due::Dispatch => d.dispatch = Some(t(T_DISPATCH)),
                Due::Handling => d.handling = Some(t(T_HANDLING)),
                Due::Checking => d.checking = Some(t(T_CHECKING)),
                Due::Resumed => d.handling = Some(t(T_RESUMED)),
                Due::Extended => d.handling = Some(t(E0)),
            }
            d.current = if due == Due::Redispatch {
                Some(t(T_DISPATCH))
            } else {
                current_of(to, &d)
            };
            assert_eq!(s.deadlines, d, "{what}");
            assert_eq!(s.case.handling_deadline, d.handling, "{what}");

            let suspended = match action {
                Action::Suspend => now,
                Action::Resume => None,
                _ => (state == S::Suspended).then(|| t(S0)),
            };
            assert_eq!(s.suspended_since, suspended, "{what}");
            assert_eq!(s.field_task, task, "{what}");

            // the department told: the one assigned after the step, else before it
            let told = match action {
                Action::Dispatch => "power",
                _ => "water",
            };
            assert_eq!(
                s.outbox,
                Some(OutboxIntent {
                    department: told.into(),
                    url: format!("https://{told}.example/hook"),
                }),
                "{what}"
            );
            // the note is not public unless asked
            assert_eq!(s.public_note, None, "{what}");
            assert_eq!(s.event.note.as_deref(), Some("n"), "{what}");
            // the event's detail
            assert_eq!(
                s.detail["assigned_department"],
                serde_json::to_value(&s.event.assigned_department).unwrap(),
                "{what}"
            );
            assert_eq!(
                s.detail["deadline_change"],
                serde_json::to_value(&s.event.deadline_change).unwrap(),
                "{what}"
            );
            assert_eq!(
                s.detail.get("handling_due").is_some(),
                action == Action::Resume,
                "{what}"
            );
            assert_eq!(
                s.detail.get("routing").is_some(),
                action == Action::Dispatch,
                "{what}"
            );
        }
    }
    assert_eq!(allowed, TABLE.len() + CaseState::ALL.len());
}

/// Who may take which step: the step refuses exactly what the workflow's role table
/// refuses, and nothing else.
#[test]
fn refused_roles() {
    for row in TABLE {
        let (action, from) = (row.0, row.1);
        for role in Role::EVERY {
            let actor = Actor::new("5", role, (role == Role::Department).then_some("water"));
            let r = run(&case_in(from, action), &request(action), &actor);
            if workflow::role_may(role, action) {
                let s = r.unwrap_or_else(|e| panic!("{role} may {action}: {e}"));
                assert_eq!(s.event.role, role);
            } else {
                assert!(
                    matches!(r, Err(StepError::Workflow(WorkflowError::Forbidden { .. }))),
                    "{role} must not {action}: {r:?}"
                );
            }
        }
    }
    // a department acting on another department's case
    let other = Actor::new("5", Role::Department, Some("gas"));
    let e = run(
        &case_in(S::Dispatched, Action::Accept),
        &request(Action::Accept),
        &other,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "forbidden: department may not accept this case (the case is not assigned to the actor's department)"
    );
}

#[test]
fn the_time_of_a_step() {
    let case = case_in(S::Reported, Action::Register);
    let at = |s: &str| {
        let mut r = request(Action::Register);
        r.at = Some(t(s));
        run(&case, &r, &admin())
    };
    // recorded offline: the stamps and deadlines count from then
    let s = at("2025-05-12T00:10:00+08:00").unwrap();
    assert_eq!(s.at, t("2025-05-12T00:10:00+08:00"));
    assert_eq!(s.stamps.registered_at, Some(s.at));
    assert_eq!(s.deadlines.dispatch, Some(t("2025-05-12T09:30:00+08:00")));
    // a minute of clock skew is allowed, more is not
    assert!(at("2025-05-12T23:31:00+08:00").is_ok());
    let e = at("2025-05-12T23:31:01+08:00").unwrap_err();
    assert_eq!(e, StepError::Time(TimeError::Future("at")));
    assert_eq!(e.to_string(), "at is in the future");
    // the same instant in UTC is the same instant
    assert!(at("2025-05-12T15:31:00+00:00").is_ok());
    assert!(at("2025-05-12T15:31:01+00:00").is_err());
    // at most 366 days ago
    assert!(at("2024-05-11T23:30:00+08:00").is_ok());
    let e = at("2024-05-11T23:29:59+08:00").unwrap_err();
    assert_eq!(e.to_string(), "at is more than 366 days ago");
    // not before the previous step
    let mut case = case;
    case.last_at = Some(t("2025-05-12T22:00:00+08:00"));
    let mut r = request(Action::Register);
    r.at = Some(t("2025-05-12T21:59:59+08:00"));
    let e = run(&case, &r, &admin()).unwrap_err();
    assert_eq!(e.to_string(), "at is before the previous step of this case");
    r.at = Some(t("2025-05-12T22:00:00+08:00"));
    assert!(run(&case, &r, &admin()).is_ok());
    // the time is checked before anything else, even the role
    r.at = Some(t("2025-05-13T09:00:00+08:00"));
    let public = Actor::new("public", Role::Public, None);
    assert!(matches!(
        run(&case, &r, &public),
        Err(StepError::Time(TimeError::Future("at")))
    ));
}

#[test]
fn photos_must_be_of_the_case() {
    let mut case = case_in(S::Handling, Action::Comment);
    let mut r = StepRequest::new(Action::Comment);
    r.photo_ids = vec![5, 6, 5];
    case.photos = vec![6, 5];
    // a comment with photos and no note is fine; the photos keep the request's order
    let s = run(&case, &r, &admin()).unwrap();
    assert_eq!(
        s.event.attachments,
        ["/api/photos/5", "/api/photos/6", "/api/photos/5"]
    );
    case.photos = vec![5];
    let e = run(&case, &r, &admin()).unwrap_err();
    assert_eq!(e, StepError::ForeignPhotos);
    assert_eq!(
        e.to_string(),
        "photo_ids must be photos uploaded to this case"
    );
    // without photos or note a comment is refused by the workflow
    let e = run(&case, &StepRequest::new(Action::Comment), &admin()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "comment: a comment needs a note or an attachment"
    );
}

#[test]
fn dispatch_goes_to_the_department_asked_for_else_the_routed_one() {
    let dispatcher = Actor::new("4", Role::Dispatcher, None);
    let case = case_in(S::Registered, Action::Dispatch);
    // routed
    let s = run(&case, &StepRequest::new(Action::Dispatch), &dispatcher).unwrap();
    assert_eq!(s.case.department.as_deref(), Some("power"));
    assert_eq!(
        s.detail["routing"],
        serde_json::json!({"department": "power", "from": "routing"})
    );
    assert_eq!(s.detail["assigned_department"], "power");
    // the deadline a dispatcher sends is replaced by the handling limit
    let mut r = StepRequest::new(Action::Dispatch);
    r.department = Some("water".into());
    r.deadline = Some(t("2025-06-30T00:00:00+08:00"));
    let s = run(&case, &r, &dispatcher).unwrap();
    assert_eq!(s.case.department.as_deref(), Some("water"));
    assert!(s.detail.get("routing").is_none());
    assert_eq!(s.deadlines.handling, Some(t(T_HANDLING)));
    assert_eq!(s.deadlines.current, Some(t(T_HANDLING)));
    // a blank department: the routed one, but it is not recorded as routing's choice
    r.department = Some("  ".into());
    let s = run(&case, &r, &dispatcher).unwrap();
    assert_eq!(s.case.department.as_deref(), Some("power"));
    assert!(s.detail.get("routing").is_none());
    // unknown department
    r.department = Some("nobody".into());
    let e = run(&case, &r, &dispatcher).unwrap_err();
    assert_eq!(
        e.to_string(),
        "department \"nobody\" does not exist or is not active"
    );
    // nothing to go by; checked before the role
    let mut unrouted = case.clone();
    unrouted.routed_department = None;
    let e = run(&unrouted, &StepRequest::new(Action::Dispatch), &dispatcher).unwrap_err();
    assert_eq!(e, StepError::NoDepartment);
    assert_eq!(
        e.to_string(),
        "no department given and routing found none: send \"department\""
    );
    let inspector = Actor::new("2", Role::Inspector, None);
    assert_eq!(
        run(&unrouted, &StepRequest::new(Action::Dispatch), &inspector).unwrap_err(),
        StepError::NoDepartment
    );
    assert!(matches!(
        run(&case, &StepRequest::new(Action::Dispatch), &inspector),
        Err(StepError::Workflow(WorkflowError::Forbidden { .. }))
    ));
}

#[test]
fn first_registration_and_dispatch_stay_last_feedback_wins() {
    let old = t("2025-05-01T10:00:00+08:00");
    let mut case = case_in(S::Verified, Action::Register);
    case.stamps = Stamps {
        registered_at: Some(old),
        dispatched_at: Some(old),
        handled_at: Some(old),
        closed_at: None,
    };
    let s = run(&case, &request(Action::Register), &admin()).unwrap();
    assert_eq!(s.stamps.registered_at, Some(old));
    // the dispatch deadline is set again all the same
    assert_eq!(s.deadlines.dispatch, Some(t(T_DISPATCH)));
    case.snapshot.state = S::Returned;
    let s = run(&case, &request(Action::Dispatch), &admin()).unwrap();
    assert_eq!(s.stamps.dispatched_at, Some(old));
    case.snapshot.state = S::Handling;
    let s = run(&case, &request(Action::Feedback), &admin()).unwrap();
    assert_eq!(s.stamps.handled_at, Some(t(NOW)));
    assert_eq!(s.stamps.registered_at, Some(old));
}

#[test]
fn return_and_rework() {
    let water = Actor::new("9", Role::Department, Some("water"));
    let case = case_in(S::Handling, Action::Return);
    let s = run(&case, &request(Action::Return), &water).unwrap();
    assert_eq!(s.case.department, None);
    assert_eq!(s.case.return_count, 1);
    // the first dispatch deadline stays for the evaluation, the current one is new
    assert_eq!(s.deadlines.dispatch, Some(t(D0)));
    assert_eq!(s.deadlines.current, Some(t(T_DISPATCH)));
    // the department that returned it is still told
    assert_eq!(s.outbox.as_ref().unwrap().department, "water");
    // a later step in the returned state has the first dispatch deadline as its current
    // one (the stored behaviour: only the return itself sets the new one)
    let mut returned = case.clone();
    returned.snapshot = s.case.clone();
    returned.dispatch_due = s.deadlines.dispatch;
    let s2 = run(&returned, &request(Action::Comment), &admin()).unwrap();
    assert_eq!(s2.deadlines.current, Some(t(D0)));
    // nobody is assigned any more: the delivery goes nowhere
    assert_eq!(s2.outbox, None);

    // a failed check: back to the department with a fresh handling deadline
    let inspector = Actor::new("2", Role::Inspector, None);
    let mut checking = case_in(S::Checking, Action::CheckFail);
    checking.snapshot.rework_count = 1;
    let s = run(&checking, &request(Action::CheckFail), &inspector).unwrap();
    assert_eq!(
        (s.case.state, s.case.rework_count, s.event.rework),
        (S::Dispatched, 2, Some(2))
    );
    assert_eq!(s.detail["rework"], 2);
    assert_eq!(s.detail["assigned_department"], "water");
    assert_eq!(s.deadlines.handling, Some(t(T_HANDLING)));
    assert_eq!(s.deadlines.current, Some(t(T_HANDLING)));
    let change = s.event.deadline_change.unwrap();
    assert_eq!((change.old, change.new), (Some(t(H0)), Some(t(T_HANDLING))));
}

#[test]
fn extension_suspension_and_resumption() {
    let water = Actor::new("9", Role::Department, Some("water"));
    let dispatcher = Actor::new("4", Role::Dispatcher, None);
    let case = case_in(S::Handling, Action::RequestExtension);
    let mut r = StepRequest::new(Action::RequestExtension);
    r.deadline = Some(t(E0));
    let s = run(&case, &r, &water).unwrap();
    assert_eq!(s.case.pending_extension, Some(t(E0)));
    assert_eq!(s.deadlines.handling, Some(t(H0)));
    assert!(s.event.deadline_change.is_none());
    // approved with another deadline than asked
    let mut pending = case.clone();
    pending.snapshot = s.case.clone();
    let mut r = StepRequest::new(Action::ApproveExtension);
    r.deadline = Some(t("2025-05-22T17:30:00+08:00"));
    let s = run(&pending, &r, &dispatcher).unwrap();
    assert!(s.case.extended && s.case.pending_extension.is_none());
    assert_eq!(s.deadlines.handling, Some(t("2025-05-22T17:30:00+08:00")));
    assert_eq!(s.deadlines.current, s.deadlines.handling);
    assert_eq!(
        s.detail["deadline_change"]["new"],
        "2025-05-22T17:30:00+08:00"
    );
    // suspended: the deadline stays as it is until resumed
    let mut handling = case.clone();
    handling.snapshot = s.case.clone();
    let s = run(&handling, &request(Action::Suspend), &dispatcher).unwrap();
    assert_eq!(s.suspended_since, Some(t(NOW)));
    assert_eq!(s.deadlines.current, Some(t("2025-05-22T17:30:00+08:00")));
    // resumed on Tuesday 00:05 (just after midnight) after 35 minutes of night: no
    // working time passed, so the deadline does not move
    let mut suspended = handling.clone();
    suspended.snapshot = s.case.clone();
    suspended.suspended_since = s.suspended_since;
    let mut r = request(Action::Resume);
    r.at = Some(t("2025-05-13T00:05:00+08:00"));
    let s = step(
        &reference(),
        &suspended,
        &r,
        &dispatcher,
        "d",
        t("2025-05-13T00:06:00+08:00"),
    )
    .unwrap();
    assert_eq!(s.deadlines.handling, Some(t("2025-05-22T17:30:00+08:00")));
    assert_eq!(s.suspended_since, None);
    assert_eq!(s.detail["handling_due"], "2025-05-22T17:30:00+08:00");
    // resumed on Wednesday 23:59 after a whole working Tuesday and Wednesday: two
    // working days later
    let s = step(
        &reference(),
        &suspended,
        &request(Action::Resume),
        &dispatcher,
        "d",
        t("2025-05-14T23:59:00+08:00"),
    )
    .unwrap();
    assert_eq!(s.deadlines.handling, Some(t("2025-05-26T17:30:00+08:00")));
    assert_eq!(s.deadlines.current, s.deadlines.handling);
    assert_eq!(s.case.handling_deadline, s.deadlines.handling);
    // a suspended case without a handling deadline resumes without one
    let mut bare = suspended.clone();
    bare.snapshot.handling_deadline = None;
    let s = run(&bare, &request(Action::Resume), &dispatcher).unwrap();
    assert_eq!(s.deadlines.handling, None);
    assert_eq!(s.detail["handling_due"], serde_json::Value::Null);
}

#[test]
fn deadlines_that_cannot_be_computed() {
    let mut r = reference();
    let mut spec = r.calendar.spec().clone();
    spec.working_weekdays.clear();
    spec.makeup_workdays.clear();
    r.calendar = WorkingCalendar::new(spec).unwrap();
    let e = step(
        &r,
        &case_in(S::Reported, Action::Register),
        &request(Action::Register),
        &admin(),
        "a",
        t(NOW),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot compute the deadline: the working calendar has no working time (no periods or no working days)"
    );
    let e = step(
        &r,
        &case_in(S::Suspended, Action::Resume),
        &request(Action::Resume),
        &admin(),
        "a",
        t(NOW),
    )
    .unwrap_err();
    assert_eq!(
        e,
        StepError::ResumedDeadline(crate::deadline::DeadlineError::NoWorkingTime)
    );
    assert_eq!(
        e.to_string(),
        "the working calendar has no working time (no periods or no working days)"
    );
}

#[test]
fn public_notes_and_the_delivery() {
    let mut r = request(Action::Comment);
    r.public_note = true;
    let case = case_in(S::Handling, Action::Comment);
    let s = run(&case, &r, &admin()).unwrap();
    assert_eq!(s.public_note.as_deref(), Some("n"));
    // a blank note is no note
    r.note = Some("  ".into());
    r.photo_ids = vec![3];
    let mut with_photo = case.clone();
    with_photo.photos = vec![3];
    let s = run(&with_photo, &r, &admin()).unwrap();
    assert_eq!((s.public_note, s.event.note), (None, None));

    let s = run(
        &case_in(S::Handling, Action::Feedback),
        &request(Action::Feedback),
        &Actor::new("9", Role::Department, Some("water")),
    )
    .unwrap();
    assert_eq!(s.idempotency_key(41, "water"), "citygrid-7-41-water");
    assert_eq!(
        s.outbox_payload(41),
        serde_json::json!({
            "event_id": 41,
            "case": {
                "id": 7,
                "case_no": "2025-000007",
                "status": "handled",
                "category": "P0101",
                "department": "water",
                "handling_due": H0,
            },
            "event": {
                "action": "feedback",
                "from": "handling",
                "to": "handled",
                "at": NOW,
                "actor": "someone",
                "role": "department",
                "note": "n",
                "attachments": [],
            },
        })
    );
    // a department without a channel gets nothing in the outbox
    let mut quiet = case_in(S::Handling, Action::Feedback);
    quiet.snapshot.department = Some("gas".into());
    let s = run(&quiet, &request(Action::Feedback), &admin()).unwrap();
    assert_eq!(s.outbox, None);
}

#[test]
fn check_past_bounds() {
    let now = t(NOW);
    assert_eq!(check_past("reported_at", now, now), Ok(()));
    assert_eq!(
        check_past("reported_at", t("2025-05-13T00:00:00+08:00"), now),
        Err(TimeError::Future("reported_at"))
    );
    assert_eq!(
        check_past("reported_at", t("2024-01-01T00:00:00+08:00"), now)
            .unwrap_err()
            .to_string(),
        "reported_at is more than 366 days ago"
    );
}
