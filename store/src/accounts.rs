//! Accounts, sessions and API keys: what signing in, signing out, resolving a
//! credential and the `user`/`key` commands read and write. Secrets are never
//! stored, only their SHA-256 (`token_hash`, `key_hash`); passwords only as Argon2
//! hashes made by the caller.

use chrono::{DateTime, Utc};

/// Whether a department with this code exists.
pub async fn department_exists(
    executor: impl sqlx::PgExecutor<'_>,
    code: &str,
) -> Result<bool, sqlx::Error> {
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM departments WHERE code = $1")
        .bind(code)
        .fetch_optional(executor)
        .await?;
    Ok(exists.is_some())
}

/// The demo's department (`water`), unless it exists.
pub async fn ensure_demo_department(
    executor: impl sqlx::PgExecutor<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO departments (code, name, name_en) VALUES ('water', '供水公司', 'Water supply') \
         ON CONFLICT (code) DO NOTHING",
    )
    .execute(executor)
    .await?;
    Ok(())
}

/// Creates user `username`, or sets role, department and password of the existing
/// one (and makes it active again). Returns the user's id.
pub async fn upsert_user(
    executor: impl sqlx::PgExecutor<'_>,
    username: &str,
    password_hash: &str,
    role: &str,
    department: Option<&str>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO users (username, password_hash, role, department_code) \
         VALUES ($1, $2, $3, $4) \
         ON CONFLICT (username) DO UPDATE SET password_hash = EXCLUDED.password_hash, \
           role = EXCLUDED.role, department_code = EXCLUDED.department_code, active = true \
         RETURNING id",
    )
    .bind(username)
    .bind(password_hash)
    .bind(role)
    .bind(department)
    .fetch_one(executor)
    .await
}

/// Ends every open session of user `user_id` (a password reset, a lost phone).
/// Returns how many were ended.
pub async fn end_sessions(
    executor: impl sqlx::PgExecutor<'_>,
    user_id: i64,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE sessions SET revoked_at = now() \
         WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > now()",
    )
    .bind(user_id)
    .execute(executor)
    .await?
    .rows_affected())
}

/// Deactivates user `username` when `disable` (else leaves `active` as it is).
/// Returns the user's id, `None` when there is no such user.
pub async fn disable_user(
    executor: impl sqlx::PgExecutor<'_>,
    username: &str,
    disable: bool,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE users SET active = active AND NOT $2 WHERE username = $1 RETURNING id",
    )
    .bind(username)
    .bind(disable)
    .fetch_optional(executor)
    .await
}

/// What signing in needs of an active account.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SignIn {
    /// `users.id`
    pub id: i64,
    /// The Argon2 hash of the password.
    pub password_hash: String,
    /// The role's name.
    pub role: String,
    /// The department of the account, if any.
    pub department_code: Option<String>,
}

/// The active account named `username`, if any.
pub async fn sign_in(
    executor: impl sqlx::PgExecutor<'_>,
    username: &str,
) -> Result<Option<SignIn>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, password_hash, role, department_code FROM users WHERE username = $1 AND active",
    )
    .bind(username)
    .fetch_optional(executor)
    .await
}

/// Opens a session: the hash of its bearer token, whose it is and until when.
pub async fn insert_session(
    executor: impl sqlx::PgExecutor<'_>,
    token_hash: &[u8],
    user_id: i64,
    expires_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO sessions (token_hash, user_id, expires_at) VALUES ($1, $2, $3)")
        .bind(token_hash)
        .bind(user_id)
        .bind(expires_at)
        .execute(executor)
        .await?;
    Ok(())
}

/// Ends the session of one bearer token (sign-out).
pub async fn revoke_session(
    executor: impl sqlx::PgExecutor<'_>,
    token_hash: &[u8],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE sessions SET revoked_at = now() WHERE token_hash = $1 AND revoked_at IS NULL",
    )
    .bind(token_hash)
    .execute(executor)
    .await?;
    Ok(())
}

/// The account behind an open session.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionUser {
    /// `users.id`
    pub id: i64,
    /// The login name.
    pub username: String,
    /// The role's name.
    pub role: String,
    /// The department of the account, if any.
    pub department_code: Option<String>,
    /// When the session ends.
    pub expires_at: DateTime<Utc>,
}

/// The active account whose open, unexpired session has bearer token hash
/// `token_hash`.
pub async fn session_user(
    executor: impl sqlx::PgExecutor<'_>,
    token_hash: &[u8],
) -> Result<Option<SessionUser>, sqlx::Error> {
    sqlx::query_as(
        "SELECT u.id, u.username, u.role, u.department_code, s.expires_at \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.expires_at > now() \
               AND u.active",
    )
    .bind(token_hash)
    .fetch_optional(executor)
    .await
}

/// An API key as a request made with it sees it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiKey {
    /// `api_keys.id`
    pub id: i64,
    /// Who uses it.
    pub name: String,
    /// The department it was issued to.
    pub department_code: Option<String>,
    /// Layers it may read (`None`: all).
    pub layers: Option<Vec<String>>,
    /// Origins it may be used from (`None`: any).
    pub origins: Option<Vec<String>>,
    /// What it may do, by name (`maps`, `open311:write`).
    pub scopes: Vec<String>,
}

/// The unrevoked API key whose secret has hash `key_hash`.
pub async fn active_key(
    executor: impl sqlx::PgExecutor<'_>,
    key_hash: &[u8],
) -> Result<Option<ApiKey>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, name, department_code, layers, origins, scopes FROM api_keys \
         WHERE key_hash = $1 AND revoked_at IS NULL",
    )
    .bind(key_hash)
    .fetch_optional(executor)
    .await
}

/// A new API key's row (the secret itself is never stored).
#[derive(Debug, Clone, Copy)]
pub struct NewKeyRow<'a> {
    /// Who uses it.
    pub name: &'a str,
    /// The first characters of the secret, to recognise it.
    pub key_prefix: &'a str,
    /// The SHA-256 of the secret.
    pub key_hash: &'a [u8],
    /// The department it is issued to.
    pub department_code: Option<&'a str>,
    /// Layers it may read (`None`: all).
    pub layers: Option<&'a [String]>,
    /// Origins it may be used from (`None`: any).
    pub origins: Option<&'a [String]>,
    /// What it may do, by name.
    pub scopes: &'a [&'a str],
}

/// Stores a new API key. Returns its id.
pub async fn insert_key(
    executor: impl sqlx::PgExecutor<'_>,
    key: NewKeyRow<'_>,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO api_keys (name, key_prefix, key_hash, department_code, layers, origins, scopes) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(key.name)
    .bind(key.key_prefix)
    .bind(key.key_hash)
    .bind(key.department_code)
    .bind(key.layers)
    .bind(key.origins)
    .bind(key.scopes)
    .fetch_one(executor)
    .await
}

/// One API key as listed by `citygrid key list` (never the secret).
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct KeySummary {
    /// `api_keys.id`
    pub id: i64,
    /// Who uses it.
    pub name: String,
    /// The first characters of the secret, to recognise it.
    pub key_prefix: String,
    /// The department it was issued to.
    pub department_code: Option<String>,
    /// Layers it may read (`None`: all).
    pub layers: Option<Vec<String>>,
    /// Origins it may be used from (`None`: any).
    pub origins: Option<Vec<String>>,
    /// What it may do (`maps`, `open311:write`).
    pub scopes: Vec<String>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Every API key, newest first.
pub async fn list_keys(
    executor: impl sqlx::PgExecutor<'_>,
) -> Result<Vec<KeySummary>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, name, key_prefix, department_code, layers, origins, scopes, revoked_at \
         FROM api_keys ORDER BY id DESC",
    )
    .fetch_all(executor)
    .await
}

/// Revokes the API key with id `id`, or (when `id` is `None`) every key whose secret
/// starts with `prefix`; a key revoked before keeps its revocation time. Returns the
/// ids matched.
pub async fn revoke_keys(
    executor: impl sqlx::PgExecutor<'_>,
    id: Option<i64>,
    prefix: &str,
) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) \
         WHERE id = $1 OR ($1 IS NULL AND key_prefix = $2) RETURNING id",
    )
    .bind(id)
    .bind(prefix)
    .fetch_all(executor)
    .await
}
