//! Creating accounts and API keys (used by the command line and admin routes).

use sqlx::PgPool;

use crate::auth::password::hash_password;
use crate::auth::secret::{new_secret, secret_hash};
use crate::auth::Role;

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
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM departments WHERE code = $1")
        .bind(code)
        .fetch_optional(pool)
        .await?;
    if exists.is_none() {
        return Err(AccountError::Invalid(format!(
            "no department with code {code:?}: create it first (see /api/departments)"
        )));
    }
    Ok(())
}

/// Creates a user, or updates role, department and password of an existing one.
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
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO users (username, password_hash, role, department_code) \
         VALUES ($1, $2, $3, $4) \
         ON CONFLICT (username) DO UPDATE SET password_hash = EXCLUDED.password_hash, \
           role = EXCLUDED.role, department_code = EXCLUDED.department_code, active = true \
         RETURNING id",
    )
    .bind(username)
    .bind(&hash)
    .bind(role.as_str())
    .bind(department)
    .fetch_one(pool)
    .await?;
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

/// Creates an API key limited to `layers` and `origins` (`None`: any).
pub async fn create_key(
    pool: &PgPool,
    name: &str,
    department: Option<&str>,
    layers: Option<Vec<String>>,
    origins: Option<Vec<String>>,
) -> Result<NewKey, AccountError> {
    if name.trim().is_empty() || name.len() > 128 {
        return Err(AccountError::Invalid(
            "a key needs a name of 1-128 characters".to_string(),
        ));
    }
    if let Some(code) = department {
        check_department(pool, code).await?;
    }
    if let Some(layers) = &layers {
        for layer in layers {
            let ok = !layer.is_empty()
                && layer
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
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
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO api_keys (name, key_prefix, key_hash, department_code, layers, origins) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(name)
    .bind(&prefix)
    .bind(secret_hash(&key))
    .bind(department)
    .bind(layers)
    .bind(origins)
    .fetch_one(pool)
    .await?;
    Ok(NewKey { id, key })
}
