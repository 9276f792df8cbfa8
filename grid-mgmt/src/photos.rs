//! Which workflow stage a case photo belongs to, and who may add one when.
//!
//! A photo records the stage it documents: the problem as reported (`report`), the fix
//! as the department fed it back (`feedback`), or the fix as checked on site (`check`).
//! Photos may be added after the case exists (an inspector's upload that broke off, a
//! photo sent later from the offline outbox):
//!
//! | stage | who | when |
//! |---|---|---|
//! | `report` | the case's reporter (any role), acceptors | any state |
//! | `feedback` | the department the case is assigned to | dispatched, handling, suspended, handled |
//! | `check` | the inspector of the case's check task | checking, checked |
//!
//! Admins may add a photo of any stage in any state. Without an explicit stage the
//! upload gets [`default_stage`]: a department's photo is a feedback photo, the
//! checker's photo during the check a check photo, everybody else's a report photo.

use std::fmt;
use std::str::FromStr;

use crate::workflow::{CaseState, Role};

/// The workflow stage a photo documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PhotoStage {
    /// The problem as reported (上报).
    Report,
    /// The fix, fed back by the department (处置反馈).
    Feedback,
    /// The fix, checked on site (核查).
    Check,
}

impl PhotoStage {
    /// Every stage, in workflow order.
    pub const ALL: [PhotoStage; 3] = [PhotoStage::Report, PhotoStage::Feedback, PhotoStage::Check];

    /// The name in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            PhotoStage::Report => "report",
            PhotoStage::Feedback => "feedback",
            PhotoStage::Check => "check",
        }
    }
}

impl fmt::Display for PhotoStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stage name that is none of [`PhotoStage::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stage {0:?} is not one of report, feedback, check")]
pub struct UnknownStage(pub String);

impl FromStr for PhotoStage {
    type Err = UnknownStage;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PhotoStage::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownStage(s.chars().take(40).collect()))
    }
}

/// What decides whether a caller may add a photo to a case.
#[derive(Debug, Clone, PartialEq)]
pub struct PhotoContext<'a> {
    /// The case's state.
    pub state: CaseState,
    /// The department the case is assigned to.
    pub case_department: Option<&'a str>,
    /// Whether the caller reported the case.
    pub is_reporter: bool,
    /// Whether the caller is the inspector of the case's check task (the open task's
    /// assignee, a pool task's taker other than the reporter, or the inspector who did
    /// the finished check).
    pub is_checker: bool,
}

/// Why a photo may not be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhotoRefusal {
    /// This caller may never add photos of this stage to this case (403).
    #[error("{0}")]
    Forbidden(&'static str),
    /// Not in the case's current state (409).
    #[error("{stage} photos are added while the case is {allowed}; it is {state}")]
    WrongState {
        /// The stage asked for.
        stage: PhotoStage,
        /// The states the stage allows.
        allowed: &'static str,
        /// The case's state.
        state: &'static str,
    },
}

fn feedback_state(s: CaseState) -> bool {
    matches!(
        s,
        CaseState::Dispatched | CaseState::Handling | CaseState::Suspended | CaseState::Handled
    )
}

fn check_state(s: CaseState) -> bool {
    matches!(s, CaseState::Checking | CaseState::Checked)
}

/// The stage of a photo uploaded without one.
pub fn default_stage(role: Role, ctx: &PhotoContext<'_>) -> PhotoStage {
    match role {
        Role::Department => PhotoStage::Feedback,
        Role::Inspector if ctx.is_checker && check_state(ctx.state) => PhotoStage::Check,
        Role::Admin if check_state(ctx.state) => PhotoStage::Check,
        Role::Admin if feedback_state(ctx.state) => PhotoStage::Feedback,
        _ => PhotoStage::Report,
    }
}

/// Whether a caller of `role` (of `department`) may add a `stage` photo to the case.
pub fn may_add(
    role: Role,
    department: Option<&str>,
    stage: PhotoStage,
    ctx: &PhotoContext<'_>,
) -> Result<(), PhotoRefusal> {
    let admin = role == Role::Admin;
    match stage {
        PhotoStage::Report => {
            if admin || ctx.is_reporter || role == Role::Acceptor {
                Ok(())
            } else {
                Err(PhotoRefusal::Forbidden(
                    "report photos are added by the case's reporter or an acceptor",
                ))
            }
        }
        PhotoStage::Feedback => {
            let own = role == Role::Department
                && department.is_some()
                && department == ctx.case_department;
            if !(admin || own) {
                return Err(PhotoRefusal::Forbidden(
                    "feedback photos are added by the department the case is assigned to",
                ));
            }
            if feedback_state(ctx.state) {
                Ok(())
            } else {
                Err(PhotoRefusal::WrongState {
                    stage,
                    allowed: "dispatched, handling, suspended or handled",
                    state: ctx.state.as_str(),
                })
            }
        }
        PhotoStage::Check => {
            if !(admin || (role == Role::Inspector && ctx.is_checker)) {
                return Err(PhotoRefusal::Forbidden(
                    "check photos are added by the inspector who checks the case",
                ));
            }
            if check_state(ctx.state) {
                Ok(())
            } else {
                Err(PhotoRefusal::WrongState {
                    stage,
                    allowed: "checking or checked",
                    state: ctx.state.as_str(),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(state: CaseState) -> PhotoContext<'static> {
        PhotoContext {
            state,
            case_department: Some("water"),
            is_reporter: false,
            is_checker: false,
        }
    }

    #[test]
    fn names_round_trip() {
        for s in PhotoStage::ALL {
            assert_eq!(s.as_str().parse::<PhotoStage>(), Ok(s));
        }
        assert!("repair".parse::<PhotoStage>().is_err());
    }

    #[test]
    fn defaults() {
        let handling = ctx(CaseState::Handling);
        assert_eq!(
            default_stage(Role::Department, &handling),
            PhotoStage::Feedback
        );
        assert_eq!(
            default_stage(Role::Inspector, &handling),
            PhotoStage::Report
        );
        assert_eq!(default_stage(Role::Acceptor, &handling), PhotoStage::Report);
        assert_eq!(default_stage(Role::Admin, &handling), PhotoStage::Feedback);
        let checking = PhotoContext {
            is_checker: true,
            ..ctx(CaseState::Checking)
        };
        assert_eq!(default_stage(Role::Inspector, &checking), PhotoStage::Check);
        assert_eq!(
            default_stage(Role::Inspector, &ctx(CaseState::Checking)),
            PhotoStage::Report
        );
        assert_eq!(
            default_stage(Role::Admin, &ctx(CaseState::Reported)),
            PhotoStage::Report
        );
    }

    #[test]
    fn who_may_add_what() {
        let reported = ctx(CaseState::Reported);
        let mine = PhotoContext {
            is_reporter: true,
            ..reported.clone()
        };
        // report photos: the reporter, acceptors, admins; in any state
        assert!(may_add(Role::Inspector, None, PhotoStage::Report, &mine).is_ok());
        assert!(may_add(Role::Inspector, None, PhotoStage::Report, &reported).is_err());
        assert!(may_add(Role::Acceptor, None, PhotoStage::Report, &reported).is_ok());
        assert!(may_add(Role::Dispatcher, None, PhotoStage::Report, &reported).is_err());
        assert!(may_add(Role::ShiftLeader, None, PhotoStage::Report, &reported).is_err());
        let closed_mine = PhotoContext {
            state: CaseState::Closed,
            ..mine.clone()
        };
        assert!(may_add(Role::Inspector, None, PhotoStage::Report, &closed_mine).is_ok());
        // feedback: the case's own department while it is with the department
        let handling = ctx(CaseState::Handling);
        assert!(may_add(
            Role::Department,
            Some("water"),
            PhotoStage::Feedback,
            &handling
        )
        .is_ok());
        assert!(matches!(
            may_add(
                Role::Department,
                Some("roads"),
                PhotoStage::Feedback,
                &handling
            ),
            Err(PhotoRefusal::Forbidden(_))
        ));
        assert!(matches!(
            may_add(
                Role::Department,
                Some("water"),
                PhotoStage::Feedback,
                &reported
            ),
            Err(PhotoRefusal::WrongState { .. })
        ));
        assert!(may_add(
            Role::Department,
            Some("water"),
            PhotoStage::Report,
            &handling
        )
        .is_err());
        assert!(may_add(Role::Inspector, None, PhotoStage::Feedback, &mine).is_err());
        // check: the checker during the check
        let checking = PhotoContext {
            is_checker: true,
            ..ctx(CaseState::Checking)
        };
        assert!(may_add(Role::Inspector, None, PhotoStage::Check, &checking).is_ok());
        assert!(matches!(
            may_add(
                Role::Inspector,
                None,
                PhotoStage::Check,
                &ctx(CaseState::Checking)
            ),
            Err(PhotoRefusal::Forbidden(_))
        ));
        let later = PhotoContext {
            state: CaseState::Closed,
            ..checking.clone()
        };
        assert!(matches!(
            may_add(Role::Inspector, None, PhotoStage::Check, &later),
            Err(PhotoRefusal::WrongState { .. })
        ));
        // admins: any stage, in its states
        assert!(may_add(Role::Admin, None, PhotoStage::Report, &reported).is_ok());
        assert!(may_add(
            Role::Admin,
            None,
            PhotoStage::Check,
            &ctx(CaseState::Checked)
        )
        .is_ok());
    }
}
