//! Turning a request's credentials into a [`Principal`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use citygrid_db::Config;
use citygrid_store::accounts;
use sqlx::PgPool;

use super::secret::secret_hash;
use super::{KeyScope, PublicLayers, Role};
use crate::error::ApiError;
use crate::state::AppState;

/// A signed-in user.
#[derive(Debug, Clone, PartialEq)]
pub struct UserPrincipal {
    /// `users.id`
    pub id: i64,
    /// The login name.
    pub username: String,
    /// The user's role.
    pub role: Role,
    /// The department of a department operator (or of any user who has one).
    pub department: Option<String>,
    /// The SHA-256 of the bearer token used (for logout).
    pub token_hash: Vec<u8>,
}

/// An embedding client with an API key.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyPrincipal {
    /// `api_keys.id`
    pub id: i64,
    /// The key's name.
    pub name: String,
    /// The department the key was issued to.
    pub department: Option<String>,
    /// The layers the key may read (`None`: all).
    pub layers: Option<Vec<String>>,
    /// The browser origins the key may be used from (`None`: any).
    pub origins: Option<Vec<String>>,
    /// What the key may do (`maps`: read map layers; `open311:write`: file
    /// Open311 requests).
    pub scopes: Vec<KeyScope>,
}

impl KeyPrincipal {
    /// Whether the key was given `scope`.
    pub fn has_scope(&self, scope: KeyScope) -> bool {
        self.scopes.contains(&scope)
    }
}

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Principal {
    /// No credentials: the public.
    #[default]
    Anonymous,
    /// A signed-in user.
    User(UserPrincipal),
    /// An API key.
    Key(KeyPrincipal),
}

impl Principal {
    /// Whether this principal may read layer `id` (API keys are limited to their
    /// layers; everybody else who passed the route's policy may read every layer).
    pub fn may_read_layer(&self, id: &str) -> bool {
        match self {
            Principal::Key(key) => key
                .layers
                .as_ref()
                .is_none_or(|layers| layers.iter().any(|l| l == id)),
            _ => true,
        }
    }

    /// Refuses with 403 unless every layer in `ids` may be read.
    pub fn require_layers<'a>(
        &self,
        ids: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), ApiError> {
        for id in ids {
            if !self.may_read_layer(id) {
                return Err(ApiError::Forbidden(format!(
                    "this API key may not read layer {id:?}"
                )));
            }
        }
        Ok(())
    }

    /// The signed-in user, if any.
    pub fn user(&self) -> Option<&UserPrincipal> {
        match self {
            Principal::User(u) => Some(u),
            _ => None,
        }
    }

    /// A short name for logs and the audit trail.
    pub fn label(&self) -> String {
        match self {
            Principal::Anonymous => "public".to_string(),
            Principal::User(u) => format!("user:{}", u.username),
            Principal::Key(k) => format!("key:{}", k.name),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Principal>()
            .cloned()
            .unwrap_or_default())
    }
}

enum Credential {
    Bearer(String),
    Key(String),
}

fn credential(headers: &HeaderMap, query: Option<&str>) -> Result<Option<Credential>, ApiError> {
    if let Some(value) = headers.get(axum::http::header::AUTHORIZATION) {
        let text = value
            .to_str()
            .map_err(|_| ApiError::Unauthorized("malformed Authorization header".into()))?;
        let token = text
            .strip_prefix("Bearer ")
            .or_else(|| text.strip_prefix("bearer "))
            .ok_or_else(|| ApiError::Unauthorized("use `Authorization: Bearer <token>`".into()))?;
        return Ok(Some(Credential::Bearer(token.trim().to_string())));
    }
    if let Some(value) = headers.get("x-api-key") {
        let key = value
            .to_str()
            .map_err(|_| ApiError::Unauthorized("malformed X-API-Key header".into()))?;
        return Ok(Some(Credential::Key(key.trim().to_string())));
    }
    if let Some(query) = query {
        for pair in query.split('&') {
            if let Some(key) = pair.strip_prefix("key=") {
                return Ok(Some(Credential::Key(key.to_string())));
            }
        }
    }
    Ok(None)
}

/// The origin (`scheme://host[:port]`) a browser request comes from: the `Origin`
/// header, else the origin part of `Referer`.
pub fn request_origin(headers: &HeaderMap) -> Option<String> {
    if let Some(origin) = headers.get("origin").and_then(|v| v.to_str().ok()) {
        if origin != "null" {
            return Some(normalize_origin(origin));
        }
    }
    let referer = headers.get("referer")?.to_str().ok()?;
    let scheme_end = referer.find("://")? + 3;
    let path_start = referer[scheme_end..]
        .find('/')
        .map(|i| i + scheme_end)
        .unwrap_or(referer.len());
    Some(normalize_origin(&referer[..path_start]))
}

/// Lower-case, no trailing slash.
pub fn normalize_origin(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// What a secret was presented as. The cache keeps the kinds apart, so that a key
/// is never taken for a token (nor a token for a key) because the same secret was
/// resolved the other way a moment ago.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CredentialKind {
    /// A bearer token (`Authorization: Bearer`), looked up in `sessions`.
    Token,
    /// An API key (`X-API-Key`, `?key=`, an Open311 `api_key`), looked up in `api_keys`.
    Key,
}

impl CredentialKind {
    /// Whether `principal` is what a credential of this kind resolves to.
    fn fits(self, principal: &Principal) -> bool {
        matches!(
            (self, principal),
            (CredentialKind::Token, Principal::User(_)) | (CredentialKind::Key, Principal::Key(_))
        )
    }
}

type CacheKey = (CredentialKind, Vec<u8>);

struct Cached {
    principal: Principal,
    /// When the token itself expires (None for API keys).
    expires_at: Option<DateTime<Utc>>,
    /// When it was last used without asking the database (fresh for the TTL).
    fetched: Instant,
    /// When the database last confirmed it.
    verified: Instant,
}

/// While the database is away, a credential the database confirmed within this time
/// keeps working (map reads go on from memory); older ones get 503.
pub const STALE_CREDENTIAL_SECS: u64 = 24 * 3600;

/// How long a resolved credential is used without asking the database again: a
/// session revoked or an account disabled outside this process (`citygrid user
/// revoke`, SQL) stops working within this time.
pub const CREDENTIAL_CACHE_SECS: u64 = 10;

/// A short-lived cache of resolved credentials, so that tiles and reads keep
/// working from memory when the database is away (a credential seen before stays
/// valid until the token expires). Logout removes its entry at once; revocations
/// made elsewhere apply within [`CREDENTIAL_CACHE_SECS`].
pub struct CredentialCache {
    entries: Mutex<HashMap<CacheKey, Cached>>,
    ttl: Duration,
}

impl Default for CredentialCache {
    fn default() -> Self {
        CredentialCache {
            entries: Mutex::new(HashMap::new()),
            ttl: Duration::from_secs(CREDENTIAL_CACHE_SECS),
        }
    }
}

impl CredentialCache {
    /// The cached principal of a credential whose lookup failed because the
    /// database is away: any age will do (until the token expires), and the entry
    /// counts as fresh again, so that the requests that follow do not each wait for
    /// the database before falling back.
    fn get_stale(&self, kind: CredentialKind, hash: &[u8]) -> Option<Principal> {
        let principal = self.get(kind, hash, true)?;
        if let Ok(mut entries) = self.entries.lock() {
            if let Some(cached) = entries.get_mut(&(kind, hash.to_vec())) {
                if cached.verified.elapsed() > Duration::from_secs(STALE_CREDENTIAL_SECS) {
                    return None;
                }
                cached.fetched = Instant::now();
            }
        }
        Some(principal)
    }

    fn get(&self, kind: CredentialKind, hash: &[u8], allow_stale: bool) -> Option<Principal> {
        let entries = self.entries.lock().ok()?;
        let cached = entries.get(&(kind, hash.to_vec()))?;
        if cached.expires_at.is_some_and(|e| e <= Utc::now()) || !kind.fits(&cached.principal) {
            return None;
        }
        if allow_stale || cached.fetched.elapsed() < self.ttl {
            Some(cached.principal.clone())
        } else {
            None
        }
    }

    fn put(
        &self,
        kind: CredentialKind,
        hash: Vec<u8>,
        principal: Principal,
        expires_at: Option<DateTime<Utc>>,
    ) {
        if !kind.fits(&principal) {
            return;
        }
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() > 10_000 {
                entries.clear();
            }
            entries.insert(
                (kind, hash),
                Cached {
                    principal,
                    expires_at,
                    fetched: Instant::now(),
                    verified: Instant::now(),
                },
            );
        }
    }

    /// Forgets one credential (after logout or revocation).
    pub fn forget(&self, kind: CredentialKind, hash: &[u8]) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(&(kind, hash.to_vec()));
        }
    }

    /// Forgets every credential.
    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }
}

/// Where a credential is looked up: the cache first, then the database.
#[derive(Clone, Copy)]
struct Lookup<'a> {
    pool: &'a PgPool,
    credentials: &'a CredentialCache,
}

async fn lookup_token(state: Lookup<'_>, token: &str) -> Result<Principal, ApiError> {
    if token.starts_with("cgk_") {
        return Err(ApiError::Unauthorized(
            "an API key is not a bearer token: send it as `X-API-Key` or `?key=`".into(),
        ));
    }
    let hash = secret_hash(token);
    if let Some(p) = state.credentials.get(CredentialKind::Token, &hash, false) {
        return Ok(p);
    }
    if !crate::db_health::is_up() {
        // The database is known to be away: answer from the last confirmation at
        // once instead of waiting for the pool to give up.
        return state
            .credentials
            .get_stale(CredentialKind::Token, &hash)
            .ok_or(ApiError::Unavailable);
    }
    let row = accounts::session_user(state.pool, &hash).await;
    let row = match row {
        Ok(row) => row,
        Err(e) => {
            // The database is away: a token seen recently stays valid until it expires.
            return state
                .credentials
                .get_stale(CredentialKind::Token, &hash)
                .ok_or_else(|| ApiError::from(e));
        }
    };
    let Some(accounts::SessionUser {
        id,
        username,
        role,
        department_code: department,
        expires_at,
    }) = row
    else {
        return Err(ApiError::Unauthorized(
            "the token is unknown, expired or revoked: sign in again".into(),
        ));
    };
    let role: Role = role.parse().map_err(|e: String| ApiError::Internal(e))?;
    let principal = Principal::User(UserPrincipal {
        id,
        username,
        role,
        department,
        token_hash: hash.clone(),
    });
    state.credentials.put(
        CredentialKind::Token,
        hash,
        principal.clone(),
        Some(expires_at),
    );
    Ok(principal)
}

async fn lookup_key(state: Lookup<'_>, key: &str) -> Result<Principal, ApiError> {
    if key.starts_with("cgt_") {
        return Err(ApiError::Unauthorized(
            "a bearer token is not an API key: send it as `Authorization: Bearer`".into(),
        ));
    }
    let hash = secret_hash(key);
    if let Some(p) = state.credentials.get(CredentialKind::Key, &hash, false) {
        return Ok(p);
    }
    if !crate::db_health::is_up() {
        // The database is known to be away: a key confirmed before keeps reading
        // maps from memory at once (its origins and scopes are still checked).
        return state
            .credentials
            .get_stale(CredentialKind::Key, &hash)
            .ok_or(ApiError::Unavailable);
    }
    let row = accounts::active_key(state.pool, &hash).await;
    let row = match row {
        Ok(row) => row,
        Err(e) => {
            return state
                .credentials
                .get_stale(CredentialKind::Key, &hash)
                .ok_or_else(|| ApiError::from(e))
        }
    };
    let Some(accounts::ApiKey {
        id,
        name,
        department_code: department,
        layers,
        origins,
        scopes,
    }) = row
    else {
        return Err(ApiError::Unauthorized(
            "the API key is unknown or revoked".into(),
        ));
    };
    // A scope this build does not know (a newer version's) grants nothing here.
    let scopes = scopes.iter().filter_map(|s| s.parse().ok()).collect();
    let principal = Principal::Key(KeyPrincipal {
        id,
        name,
        department,
        layers,
        origins,
        scopes,
    });
    state
        .credentials
        .put(CredentialKind::Key, hash, principal.clone(), None);
    Ok(principal)
}

/// Resolves an API key that came in a request's body (an Open311 form's `api_key`)
/// exactly as the middleware resolves `X-API-Key`: through the same cache, and
/// refused (403) when the request's `Origin`/`Referer` is not one of the key's.
pub async fn resolve_key(
    state: &AppState,
    key: &str,
    headers: &HeaderMap,
) -> Result<KeyPrincipal, ApiError> {
    let lookup = Lookup {
        pool: &state.pool,
        credentials: &state.credentials,
    };
    let principal = lookup_key(lookup, key).await?;
    check_origin(&principal, headers)?;
    match principal {
        Principal::Key(k) => Ok(k),
        _ => Err(ApiError::Unauthorized("not an API key".into())),
    }
}

fn check_origin(principal: &Principal, headers: &HeaderMap) -> Result<(), ApiError> {
    if let Principal::Key(key) = principal {
        // `Origin: null` comes from sandboxed frames and other opaque origins: a page
        // could hide its origin that way (with no Referer either), so a key limited
        // to some origins refuses it.
        let opaque = headers
            .get("origin")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"null"));
        if key.origins.is_some() && opaque {
            return Err(ApiError::Forbidden(
                "this API key may not be used from an opaque origin (Origin: null)".into(),
            ));
        }
        if let (Some(allowed), Some(origin)) = (&key.origins, request_origin(headers)) {
            if !allowed.iter().any(|a| normalize_origin(a) == origin) {
                return Err(ApiError::Forbidden(format!(
                    "this API key may not be used from {origin}"
                )));
            }
        }
    }
    Ok(())
}

/// Middleware on every request: resolves the credentials into a [`Principal`]
/// request extension. Credentials that are present but invalid are refused (401);
/// an API key used from an origin it does not allow is refused (403).
pub async fn resolve(
    State(pool): State<PgPool>,
    State(credentials): State<Arc<CredentialCache>>,
    State(config): State<Arc<Config>>,
    mut request: Request,
    next: Next,
) -> Response {
    let lookup = Lookup {
        pool: &pool,
        credentials: &credentials,
    };
    let credential = credential(request.headers(), request.uri().query());
    let result = async {
        let principal = match credential? {
            None => Principal::Anonymous,
            Some(Credential::Bearer(token)) => lookup_token(lookup, &token).await?,
            Some(Credential::Key(key)) => lookup_key(lookup, &key).await?,
        };
        Ok::<_, ApiError>(principal)
    }
    .await
    // Every request made with a key, resolved from the cache or not.
    .and_then(|principal| {
        check_origin(&principal, request.headers())?;
        Ok(principal)
    });
    match result {
        Ok(principal) => {
            request.extensions_mut().insert(principal);
            request
                .extensions_mut()
                .insert(PublicLayers(config.public_layers));
            next.run(request).await
        }
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_from_headers() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "referer",
            "http://Example.org:8080/page?x=1".parse().unwrap(),
        );
        assert_eq!(
            request_origin(&headers).as_deref(),
            Some("http://example.org:8080")
        );
        headers.insert("origin", "https://a.example/".parse().unwrap());
        assert_eq!(
            request_origin(&headers).as_deref(),
            Some("https://a.example")
        );
    }

    #[test]
    fn cache_is_fresh_for_a_while_and_stale_only_when_asked() {
        let cache = CredentialCache::default();
        let age = |cache: &CredentialCache, key: &CacheKey, by: Duration| {
            let mut entries = cache.entries.lock().unwrap();
            let e = entries.get_mut(key).unwrap();
            e.fetched = e.fetched.checked_sub(by).unwrap();
        };
        let ttl = Duration::from_secs(CREDENTIAL_CACHE_SECS);
        use CredentialKind::Token;
        let user = Principal::User(UserPrincipal {
            id: 7,
            username: "u".into(),
            role: Role::Inspector,
            department: None,
            token_hash: b"a".to_vec(),
        });
        cache.put(Token, b"a".to_vec(), user.clone(), None);
        assert!(cache.get(Token, b"a", false).is_some());
        age(&cache, &(Token, b"a".to_vec()), ttl * 2);
        assert!(
            cache.get(Token, b"a", false).is_none(),
            "older than the TTL"
        );
        assert!(
            cache.get_stale(Token, b"a").is_some(),
            "the database is away"
        );
        assert!(
            cache.get(Token, b"a", false).is_some(),
            "counted as fresh again"
        );
        // an expired token is never served, stale or not
        cache.put(
            Token,
            b"b".to_vec(),
            user.clone(),
            Some(Utc::now() - chrono::Duration::seconds(1)),
        );
        assert!(cache.get(Token, b"b", false).is_none());
        assert!(cache.get_stale(Token, b"b").is_none());
        cache.forget(Token, b"a");
        assert!(cache.get_stale(Token, b"a").is_none());
    }

    #[test]
    fn tokens_and_keys_are_kept_apart() {
        use CredentialKind::{Key, Token};
        let cache = CredentialCache::default();
        let key = Principal::Key(KeyPrincipal {
            id: 1,
            name: "k".into(),
            department: None,
            layers: None,
            origins: Some(vec!["https://a.example".into()]),
            scopes: vec![KeyScope::Maps],
        });
        cache.put(Key, b"s".to_vec(), key.clone(), None);
        assert_eq!(cache.get(Key, b"s", false), Some(key.clone()));
        assert!(cache.get(Token, b"s", false).is_none(), "a key as a token");
        assert!(cache.get_stale(Token, b"s").is_none());
        // a principal of the other kind is never stored under a kind
        cache.put(Token, b"t".to_vec(), key, None);
        assert!(cache.get(Token, b"t", false).is_none());
    }

    #[test]
    fn key_origins() {
        let key = |origins: Option<Vec<String>>| {
            Principal::Key(KeyPrincipal {
                id: 1,
                name: "k".into(),
                department: None,
                layers: None,
                origins,
                scopes: vec![KeyScope::Maps],
            })
        };
        let limited = key(Some(vec!["https://a.example".into()]));
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, v.parse().unwrap());
            }
            h
        };
        assert!(check_origin(&limited, &headers(&[("origin", "https://a.example")])).is_ok());
        assert!(check_origin(&limited, &headers(&[])).is_ok(), "no browser");
        for bad in [
            headers(&[("origin", "https://b.example")]),
            headers(&[("referer", "https://b.example/page")]),
            headers(&[("origin", "null")]),
            headers(&[("origin", "null"), ("referer", "https://a.example/x")]),
        ] {
            assert!(
                matches!(check_origin(&limited, &bad), Err(ApiError::Forbidden(_))),
                "{bad:?}"
            );
        }
        assert!(check_origin(&key(None), &headers(&[("origin", "null")])).is_ok());
    }

    #[test]
    fn key_layers() {
        let key = Principal::Key(KeyPrincipal {
            id: 1,
            name: "k".into(),
            department: None,
            layers: Some(vec!["a".into()]),
            origins: None,
            scopes: vec![KeyScope::Maps],
        });
        assert!(key.may_read_layer("a"));
        assert!(!key.may_read_layer("b"));
        assert!(key.require_layers(["a", "b"]).is_err());
        assert!(Principal::Anonymous.may_read_layer("b"));
    }
}
