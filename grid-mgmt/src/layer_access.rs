//! Who may read and who may edit a map layer (issue 22): the one check every path
//! that reveals layer data goes through, and every editing path.
//!
//! A layer has an owning department (none: the platform's, administered by admins)
//! and a [`LayerPolicy`]:
//!
//! - **read**: `public` (anyone, also without credentials — when the server serves
//!   anonymous clients at all, `public_layers`), `users` (any signed-in user or API
//!   key), `departments:A,B` (users and keys of those departments), `roles:R,S`
//!   (users with one of those roles); `departments` and `roles` combine (either
//!   grants), `admins` lets nobody but admins (and the layer's editors) read it;
//! - **edit**: `departments:A` — the department operators (role `department`) of
//!   those departments, and of the owning department.
//!
//! Admins may always read and edit. The departments that may edit may also read.
//! An API key reads as a signed-in client of its department with no role, and never
//! beyond the layers it was issued for: a key narrows, never widens. Keys never edit.
//!
//! ```
//! use citygrid_grid_mgmt::layer_access::{may_read, Caller, LayerPolicy, ReadPolicy};
//! use citygrid_grid_mgmt::workflow::Role;
//! let policy = LayerPolicy {
//!     read: "departments:police;roles:dispatcher".parse().unwrap(),
//!     ..LayerPolicy::default()
//! };
//! let police = Caller::User { role: Role::Inspector, department: Some("police") };
//! let land = Caller::User { role: Role::Inspector, department: Some("land") };
//! assert!(may_read(&police, "incidents", &policy));
//! assert!(!may_read(&land, "incidents", &policy));
//! assert!(!may_read(&Caller::Anonymous, "incidents", &policy));
//! assert_eq!(policy.read.to_string(), "departments:police;roles:dispatcher");
//! # let _ = ReadPolicy::public();
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::workflow::Role;

/// Who asks, as the check needs it (the HTTP service's principal, reduced).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller<'a> {
    /// No credentials.
    Anonymous,
    /// A signed-in user.
    User {
        /// The user's role.
        role: Role,
        /// The user's department, if any.
        department: Option<&'a str>,
    },
    /// An API key.
    Key {
        /// The department the key was issued to, if any.
        department: Option<&'a str>,
        /// The layers the key was issued for (`None`: every layer its department may read).
        layers: Option<&'a [String]>,
    },
}

/// Who may read a layer. The empty policy (no flag, no department, no role) is
/// `admins`: nobody but admins and the layer's editors.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadPolicy {
    /// Anyone, with or without credentials.
    pub public: bool,
    /// Any signed-in user or API key.
    pub users: bool,
    /// Users and keys of these departments.
    pub departments: Vec<String>,
    /// Users with one of these roles.
    pub roles: Vec<Role>,
}

impl ReadPolicy {
    /// `public`.
    pub fn public() -> ReadPolicy {
        ReadPolicy {
            public: true,
            ..ReadPolicy::default()
        }
    }

    /// `users`.
    pub fn users() -> ReadPolicy {
        ReadPolicy {
            users: true,
            ..ReadPolicy::default()
        }
    }

    /// Whether anonymous callers may read.
    pub fn is_public(&self) -> bool {
        self.public
    }
}

/// A layer's owner and policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerPolicy {
    /// The owning department (`None`: the platform's).
    pub owner: Option<String>,
    /// Who may read.
    pub read: ReadPolicy,
    /// The departments whose operators may edit (beside the owner's).
    pub edit: Vec<String>,
}

impl LayerPolicy {
    /// The departments whose operators may edit: `edit` and the owner's.
    pub fn editing_departments(&self) -> impl Iterator<Item = &str> {
        self.owner
            .as_deref()
            .into_iter()
            .chain(self.edit.iter().map(String::as_str))
    }
}

/// Whether `caller` may read layer `layer` under `policy`.
pub fn may_read(caller: &Caller<'_>, layer: &str, policy: &LayerPolicy) -> bool {
    let read = &policy.read;
    match *caller {
        Caller::Anonymous => read.public,
        Caller::User { role, department } => {
            role == Role::Admin
                || read.public
                || read.users
                || read.roles.contains(&role)
                || department.is_some_and(|d| {
                    read.departments.iter().any(|x| x == d)
                        || policy.editing_departments().any(|x| x == d)
                })
        }
        Caller::Key { department, layers } => {
            let listed = layers.is_none_or(|l| l.iter().any(|x| x == layer));
            listed
                && (read.public
                    || read.users
                    || department.is_some_and(|d| read.departments.iter().any(|x| x == d)))
        }
    }
}

/// Whether `caller` may edit the features of a layer under `policy`: admins, and the
/// department operators of the editing departments. Keys and anonymous callers never.
pub fn may_edit(caller: &Caller<'_>, policy: &LayerPolicy) -> bool {
    match *caller {
        Caller::User {
            role: Role::Admin, ..
        } => true,
        Caller::User {
            role: Role::Department,
            department: Some(d),
        } => policy.editing_departments().any(|x| x == d),
        _ => false,
    }
}

/// A policy text that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(pub String);

/// The form of a department code (`[a-z0-9_]+`, at most 48 characters).
fn is_code(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 48
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Parses `A,B` into department codes (each once, in order).
pub fn parse_departments(list: &str) -> Result<Vec<String>, PolicyError> {
    let mut out: Vec<String> = Vec::new();
    for code in list.split(',').map(str::trim) {
        if !is_code(code) {
            return Err(PolicyError(format!(
                "{:?} is not a department code (codes are [a-z0-9_]+)",
                code.chars().take(64).collect::<String>()
            )));
        }
        if !out.iter().any(|c| c == code) {
            out.push(code.to_string());
        }
    }
    Ok(out)
}

/// Parses `--edit`: `departments:A,B` (or just `A,B`), or `none` (admins and the owner's operators only).
pub fn parse_edit(text: &str) -> Result<Vec<String>, PolicyError> {
    let text = text.trim();
    if text.is_empty() || text == "none" {
        return Ok(Vec::new());
    }
    parse_departments(text.strip_prefix("departments:").unwrap_or(text))
}

/// Parses a read policy: terms joined by `;` (or `+`): `public`, `users`, `admins`,
/// `departments:A,B`, `roles:R,S`.
impl FromStr for ReadPolicy {
    type Err = PolicyError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut policy = ReadPolicy::default();
        let terms: Vec<&str> = text
            .split([';', '+'])
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .collect();
        if terms.is_empty() {
            return Err(PolicyError(
                "the read policy is empty: use public, users, departments:A,B, roles:R,S or admins"
                    .into(),
            ));
        }
        for term in terms {
            match term.split_once(':') {
                None if term == "public" => policy.public = true,
                None if term == "users" => policy.users = true,
                None if term == "admins" => {}
                Some(("departments", list)) => {
                    for code in parse_departments(list)? {
                        if !policy.departments.contains(&code) {
                            policy.departments.push(code);
                        }
                    }
                }
                Some(("roles", list)) => {
                    for name in list.split(',').map(str::trim) {
                        let role: Role = name.parse().map_err(PolicyError)?;
                        if !policy.roles.contains(&role) {
                            policy.roles.push(role);
                        }
                    }
                }
                _ => {
                    return Err(PolicyError(format!(
                        "unknown read policy {:?}: use public, users, departments:A,B, roles:R,S or admins (combine with ';')",
                        term.chars().take(64).collect::<String>()
                    )))
                }
            }
        }
        Ok(policy)
    }
}

/// The canonical text: `public`, `users`, `admins`, or `departments:A,B;roles:R,S`.
impl fmt::Display for ReadPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut terms: Vec<String> = Vec::new();
        if self.public {
            terms.push("public".into());
        }
        if self.users {
            terms.push("users".into());
        }
        if !self.departments.is_empty() {
            terms.push(format!("departments:{}", self.departments.join(",")));
        }
        if !self.roles.is_empty() {
            let roles: Vec<&str> = self.roles.iter().map(|r| r.as_str()).collect();
            terms.push(format!("roles:{}", roles.join(",")));
        }
        if terms.is_empty() {
            terms.push("admins".into());
        }
        f.write_str(&terms.join(";"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(role: Role, department: Option<&str>) -> Caller<'_> {
        Caller::User { role, department }
    }

    fn policy(read: &str, owner: Option<&str>, edit: &[&str]) -> LayerPolicy {
        LayerPolicy {
            owner: owner.map(str::to_string),
            read: read.parse().unwrap(),
            edit: edit.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn read_policies() {
        let public = policy("public", None, &[]);
        let users = policy("users", None, &[]);
        let police = policy("departments:police;roles:dispatcher", Some("police"), &[]);
        let admins = policy("admins", Some("land"), &["water"]);
        let anon = Caller::Anonymous;
        let a = user(Role::Inspector, Some("police"));
        let b = user(Role::Inspector, Some("land"));
        let disp = user(Role::Dispatcher, None);
        let admin = user(Role::Admin, None);
        let only_roads = ["roads".to_string()];
        let key_a = Caller::Key {
            department: Some("police"),
            layers: None,
        };
        let key_narrow = Caller::Key {
            department: Some("police"),
            layers: Some(&only_roads),
        };
        assert!(may_read(&anon, "x", &public));
        assert!(!may_read(&anon, "x", &users));
        assert!(may_read(&b, "x", &users));
        assert!(may_read(&a, "x", &police));
        assert!(!may_read(&b, "x", &police));
        assert!(may_read(&disp, "x", &police));
        assert!(may_read(&admin, "x", &police));
        assert!(!may_read(&anon, "x", &police));
        assert!(may_read(&key_a, "x", &police));
        assert!(!may_read(&key_narrow, "x", &police), "a key narrows");
        assert!(may_read(&key_narrow, "roads", &police));
        assert!(
            !may_read(
                &Caller::Key {
                    department: None,
                    layers: None
                },
                "x",
                &police
            ),
            "a key has no role"
        );
        assert!(
            !may_read(&key_narrow, "x", &public),
            "a key narrows public too"
        );
        // admins-only: admins and the editing departments
        assert!(may_read(&admin, "x", &admins));
        assert!(may_read(&b, "x", &admins), "the owner's department");
        assert!(may_read(
            &user(Role::Inspector, Some("water")),
            "x",
            &admins
        ));
        assert!(!may_read(&a, "x", &admins));
        assert!(!may_read(&key_a, "x", &admins));
    }

    #[test]
    fn edit_policies() {
        let p = policy("public", Some("land"), &["water"]);
        assert!(may_edit(&user(Role::Admin, None), &p));
        assert!(may_edit(&user(Role::Department, Some("land")), &p));
        assert!(may_edit(&user(Role::Department, Some("water")), &p));
        assert!(!may_edit(&user(Role::Department, Some("police")), &p));
        assert!(!may_edit(&user(Role::Inspector, Some("land")), &p));
        assert!(!may_edit(&Caller::Anonymous, &p));
        assert!(!may_edit(
            &Caller::Key {
                department: Some("land"),
                layers: None
            },
            &p
        ));
        let platform = policy("public", None, &[]);
        assert!(!may_edit(&user(Role::Department, Some("land")), &platform));
    }

    #[test]
    fn parse_and_print() {
        for (text, canonical) in [
            ("public", "public"),
            ("users", "users"),
            ("admins", "admins"),
            ("departments:b,a,b", "departments:b,a"),
            (
                "roles:dispatcher, shift_leader",
                "roles:dispatcher,shift_leader",
            ),
            (
                "roles:admin+departments:police",
                "departments:police;roles:admin",
            ),
        ] {
            let p: ReadPolicy = text.parse().unwrap();
            assert_eq!(p.to_string(), canonical);
            assert_eq!(canonical.parse::<ReadPolicy>().unwrap(), p);
        }
        for bad in [
            "",
            "everyone",
            "departments:",
            "departments:Police",
            "roles:root",
            "roles:public",
        ] {
            let e = bad.parse::<ReadPolicy>().unwrap_err();
            assert!(!e.0.contains('\n'), "{e}");
        }
        assert_eq!(parse_edit("departments:a,b").unwrap(), ["a", "b"]);
        assert_eq!(parse_edit("a").unwrap(), ["a"]);
        assert!(parse_edit("none").unwrap().is_empty());
        assert!(parse_edit("departments:a b").is_err());
    }
}
