//! Creating accounts and API keys (used by the command line and admin routes).

use citygrid_store::accounts as store;
use sqlx::PgPool;

use crate::auth::password::hash_password;
use crate::auth::secret::{new_secret, secret_hash};
use crate::auth::{KeyScope, Role};

/// Why an account or key could not be created.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// Input that cannot be used; the message says what to fix.
    #[error("{0}")]
    Invalid(String),
    /// The database refused or is away.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

/// The smallest password length accepted.
pub const MIN_PASSWORD_LEN: usize = 8;

async fn check_department(pool: &PgPool, code: &str) -> Result<(), AccountError> {
    if !store::department_exists(pool, code).await? {
        return Err(AccountError::Invalid(format!(
            "no department with code {code:?}: create it first (see /api/departments)"
        )));
    }
    Ok(())
}

/// Creates a user, or updates role, department and password of an existing one
/// (a reset: every session of the user ends, so an old token stops working; a
/// running server honours it within its credential cache's seconds).
/// Returns the user's id.
pub async fn upsert_user(
    pool: &PgPool,
    username: &str,
    password: &str,
    role: Role,
    department: Option<&str>,
) -> Result<i64, AccountError> {
    let valid_name = !username.is_empty()
        && username.len() <= 64
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.@-".contains(c));
    if !valid_name {
        return Err(AccountError::Invalid(format!(
            "invalid user name {username:?}: use 1-64 letters, digits, _ . @ -"
        )));
    }
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(AccountError::Invalid(format!(
            "the password must have at least {MIN_PASSWORD_LEN} characters"
        )));
    }
    if role == Role::Department && department.is_none() {
        return Err(AccountError::Invalid(
            "a department user needs --department CODE".to_string(),
        ));
    }
    if let Some(code) = department {
        check_department(pool, code).await?;
    }
    let password = password.to_string();
    let hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| AccountError::Invalid(format!("hashing failed: {e}")))?
        .map_err(AccountError::Invalid)?;
    let mut tx = pool.begin().await?;
    let id = store::upsert_user(&mut *tx, username, &hash, role.as_str(), department).await?;
    let ended = store::end_sessions(&mut *tx, id).await?;
    crate::audit::record(
        &mut *tx,
        "cli",
        "user_upsert",
        serde_json::json!({"user": username, "user_id": id, "role": role.as_str(),
            "department": department, "sessions_ended": ended}),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// A newly created API key: the secret is shown once and never stored.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NewKey {
    /// `api_keys.id`
    pub id: i64,
    /// The secret to give to the embedding page.
    pub key: String,
}

/// Creates an API key limited to `layers` and `origins` (`None`: any) that may do
/// what `scopes` say (empty: `maps` only).
pub async fn create_key(
    pool: &PgPool,
    name: &str,
    department: Option<&str>,
    layers: Option<Vec<String>>,
    origins: Option<Vec<String>>,
    scopes: &[KeyScope],
) -> Result<NewKey, AccountError> {
    if name.trim().is_empty() || name.len() > 128 {
        return Err(AccountError::Invalid(
            "a key needs a name of 1-128 characters".to_string(),
        ));
    }
    let mut scope_names: Vec<&str> = Vec::new();
    for scope in if scopes.is_empty() {
        &[KeyScope::Maps][..]
    } else {
        scopes
    } {
        if !scope_names.contains(&scope.as_str()) {
            scope_names.push(scope.as_str());
        }
    }
    if let Some(code) = department {
        check_department(pool, code).await?;
    }
    if let Some(layers) = &layers {
        for layer in layers {
            let ok = citygrid_db::is_identifier(layer, usize::MAX);
            if !ok {
                return Err(AccountError::Invalid(format!(
                    "invalid layer id {layer:?}: layer ids are [a-z0-9_]+"
                )));
            }
        }
    }
    let origins = match origins {
        Some(list) => {
            let mut out = Vec::new();
            for origin in list {
                let o = crate::auth::principal_origin(&origin);
                let ok = (o.starts_with("http://") || o.starts_with("https://"))
                    && !o[o.find("://").map(|i| i + 3).unwrap_or(0)..].contains('/');
                if !ok {
                    return Err(AccountError::Invalid(format!(
                        "invalid origin {origin:?}: write it as scheme://host[:port], e.g. https://water.example.gov.cn"
                    )));
                }
                out.push(o);
            }
            Some(out)
        }
        None => None,
    };
    let key = new_secret("cgk");
    let prefix: String = key.chars().take(12).collect();
    let id = store::insert_key(
        pool,
        store::NewKeyRow {
            name,
            key_prefix: &prefix,
            key_hash: &secret_hash(&key),
            department_code: department,
            layers: layers.as_deref(),
            origins: origins.as_deref(),
            scopes: &scope_names,
        },
    )
    .await?;
    crate::audit::record(
        pool,
        "cli",
        "key_create",
        serde_json::json!({"key_id": id, "name": name, "prefix": prefix, "department": department,
            "layers": layers, "origins": origins, "scopes": scope_names}),
    )
    .await?;
    Ok(NewKey { id, key })
}

/// One API key as listed by `citygrid key list` (never the secret).
pub use citygrid_store::accounts::KeySummary;

/// Every API key, newest first.
pub async fn list_keys(pool: &PgPool) -> Result<Vec<KeySummary>, AccountError> {
    Ok(store::list_keys(pool).await?)
}

/// Revokes the API key with this id or secret prefix (e.g. `cgk_AbCdEfGh`); a running
/// server refuses it once its credential cache has expired (seconds). Returns the
/// key's id.
pub async fn revoke_key(pool: &PgPool, id_or_prefix: &str) -> Result<i64, AccountError> {
    let by_id = id_or_prefix.parse::<i64>().ok();
    let mut tx = pool.begin().await?;
    let ids = store::revoke_keys(&mut *tx, by_id, id_or_prefix).await?;
    let id = match ids.as_slice() {
        [id] => *id,
        [] => {
            return Err(AccountError::Invalid(format!(
                "no API key with id or prefix {id_or_prefix:?} (see `citygrid key list`)"
            )))
        }
        _ => {
            return Err(AccountError::Invalid(format!(
                "{} keys share the prefix {id_or_prefix:?}: revoke by id",
                ids.len()
            )))
        }
    };
    crate::audit::record(
        &mut *tx,
        "cli",
        "key_revoke",
        serde_json::json!({"key_id": id}),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}
