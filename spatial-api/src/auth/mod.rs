//! The role model: who is asking ([`Principal`]) and what each route allows
//! ([`Access`]). Every request goes through [`resolve`] (credentials → principal,
//! 401 for bad ones) and every route through [`enforce`] with its own policy, so a
//! route cannot be added without saying who may call it.

pub mod backoff;
pub mod layer_access;
pub mod password;
mod principal;
pub mod secret;

pub use principal::{
    normalize_origin as principal_origin, request_origin, resolve, resolve_key, CredentialCache,
    CredentialKind, KeyPrincipal, Principal, UserPrincipal, CREDENTIAL_CACHE_SECS,
};

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// The roles of docs/domain.md §3: the domain's one role enum. "public" is the absence
/// of credentials: no account has it (`Role::ALL` lists the account roles, and parsing
/// a stored or given role refuses "public").
pub use citygrid_grid_mgmt::workflow::Role;

/// What an API key may do, chosen when it is created (`citygrid key create
/// --scopes …`); a key without `maps` reads no map layer, a key without
/// `open311:write` files no Open311 request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyScope {
    /// Read the map layers of its list (tiles, styles, OGC API, queries, embeds).
    Maps,
    /// File Open311 requests (`POST /open311/v2/requests.{json,xml}`).
    Open311Write,
}

impl KeyScope {
    /// Every scope, in a stable order.
    pub const ALL: [KeyScope; 2] = [KeyScope::Maps, KeyScope::Open311Write];

    /// The scope's name as stored and given on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyScope::Maps => "maps",
            KeyScope::Open311Write => "open311:write",
        }
    }
}

impl std::str::FromStr for KeyScope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        KeyScope::ALL
            .into_iter()
            .find(|k| k.as_str() == s.trim())
            .ok_or_else(|| format!("unknown key scope {s:?}: use maps or open311:write"))
    }
}

impl std::fmt::Display for KeyScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, with or without credentials (health, login, Open311 reads, pages).
    Public,
    /// Map data (catalog, tiles, styles, OGC API): anonymous callers when
    /// `public_layers` is on, any signed-in user, and API keys within their layers.
    Layers,
    /// Any signed-in user (not an API key).
    Authenticated,
    /// Signed-in users with one of these roles (admin is always allowed).
    Roles(&'static [Role]),
}

impl Access {
    /// A short description for the route table in the documentation.
    pub fn describe(self) -> String {
        match self {
            Access::Public => "public".to_string(),
            Access::Layers => "map data (public layers, users, API keys)".to_string(),
            Access::Authenticated => "any signed-in user".to_string(),
            Access::Roles(roles) => {
                let mut names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
                if !names.contains(&"admin") {
                    names.push("admin");
                }
                names.join(", ")
            }
        }
    }
}

/// Whether `principal` may call a route with `access`; the error says why not.
pub fn check(access: Access, principal: &Principal, public_layers: bool) -> Result<(), ApiError> {
    match (access, principal) {
        (Access::Public, _) => Ok(()),
        (Access::Layers, Principal::Anonymous) if public_layers => Ok(()),
        (Access::Layers, Principal::User(_)) => Ok(()),
        (Access::Layers, Principal::Key(key)) if key.has_scope(KeyScope::Maps) => Ok(()),
        (Access::Layers, Principal::Key(_)) => Err(ApiError::Forbidden(
            "this API key may not read map layers (it has no `maps` scope)".to_string(),
        )),
        (Access::Layers, Principal::Anonymous) => Err(ApiError::Unauthorized(
            "map layers are not public here: sign in or send an API key".to_string(),
        )),
        (_, Principal::Anonymous) => Err(ApiError::Unauthorized(
            "sign in first: send `Authorization: Bearer <token>` from POST /api/auth/login"
                .to_string(),
        )),
        (_, Principal::Key(_)) => Err(ApiError::Forbidden(
            "API keys may only read map layers".to_string(),
        )),
        (Access::Authenticated, Principal::User(_)) => Ok(()),
        (Access::Roles(roles), Principal::User(user)) => {
            if user.role == Role::Admin || roles.contains(&user.role) {
                Ok(())
            } else {
                Err(ApiError::Forbidden(format!(
                    "the role {} may not do this; allowed: {}",
                    user.role,
                    access.describe()
                )))
            }
        }
    }
}

/// The per-route guard: refuses the request unless its principal passes `access`.
pub async fn enforce(access: Access, request: Request, next: Next) -> Response {
    let public_layers = request
        .extensions()
        .get::<PublicLayers>()
        .map(|p| p.0)
        .unwrap_or(false);
    let principal = request
        .extensions()
        .get::<Principal>()
        .cloned()
        .unwrap_or(Principal::Anonymous);
    match check(access, &principal, public_layers) {
        Ok(()) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

/// Request extension: whether map layers are public on this server.
#[derive(Debug, Clone, Copy)]
pub struct PublicLayers(pub bool);

#[cfg(test)]
mod tests {
    use super::*;

    fn user(role: Role) -> Principal {
        Principal::User(UserPrincipal {
            id: 1,
            username: "u".into(),
            role,
            department: None,
            token_hash: vec![],
        })
    }

    #[test]
    fn policies() {
        let key = Principal::Key(KeyPrincipal {
            id: 1,
            name: "k".into(),
            department: None,
            layers: None,
            origins: None,
            scopes: vec![KeyScope::Maps],
        });
        let writer = Principal::Key(KeyPrincipal {
            scopes: vec![KeyScope::Open311Write],
            ..match &key {
                Principal::Key(k) => k.clone(),
                _ => unreachable!(),
            }
        });
        assert!(matches!(
            check(Access::Layers, &writer, true),
            Err(ApiError::Forbidden(_))
        ));
        assert!(check(Access::Public, &writer, false).is_ok());
        assert_eq!(
            "open311:write".parse::<KeyScope>(),
            Ok(KeyScope::Open311Write)
        );
        assert!("admin".parse::<KeyScope>().is_err());
        assert!(check(Access::Public, &Principal::Anonymous, false).is_ok());
        assert!(check(Access::Layers, &Principal::Anonymous, true).is_ok());
        assert!(matches!(
            check(Access::Layers, &Principal::Anonymous, false),
            Err(ApiError::Unauthorized(_))
        ));
        assert!(check(Access::Layers, &key, false).is_ok());
        assert!(matches!(
            check(Access::Authenticated, &key, true),
            Err(ApiError::Forbidden(_))
        ));
        let dispatch: &'static [Role] = &[Role::Dispatcher];
        assert!(check(Access::Roles(dispatch), &user(Role::Dispatcher), false).is_ok());
        assert!(check(Access::Roles(dispatch), &user(Role::Admin), false).is_ok());
        assert!(matches!(
            check(Access::Roles(dispatch), &user(Role::Inspector), false),
            Err(ApiError::Forbidden(_))
        ));
        assert!(matches!(
            check(Access::Roles(dispatch), &Principal::Anonymous, true),
            Err(ApiError::Unauthorized(_))
        ));
    }

    #[test]
    fn roles_round_trip() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert!("root".parse::<Role>().is_err());
    }
}
