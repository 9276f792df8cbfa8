//! `POST /api/auth/login`, `POST /api/auth/logout`, `GET /api/auth/me`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use chrono::{Duration, Utc};
use citygrid_db::Config;
use citygrid_store::accounts;
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::auth::backoff::LoginBackoff;
use crate::auth::password::{dummy_hash, verify_password};
use crate::auth::secret::{new_secret, secret_hash};
use crate::auth::{CredentialCache, CredentialKind, Principal};
use crate::error::{ApiError, ApiResult};
use crate::ratelimit::ClientAddress;

/// The login form.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct Login {
    username: String,
    password: String,
}

/// Checks the password and returns a new bearer token with its expiry.
pub async fn login(
    State(pool): State<PgPool>,
    State(backoff): State<Arc<LoginBackoff>>,
    State(config): State<Arc<Config>>,
    client: Option<Extension<ClientAddress>>,
    Json(form): Json<Login>,
) -> ApiResult<Json<Value>> {
    if form.username.len() > 64 || form.password.len() > 1024 {
        return Err(ApiError::BadRequest(
            "user name or password too long".into(),
        ));
    }
    // The account's back-off, whichever address the guesses come from (the
    // per-address limit is the rate limiter's): refused before the password is read.
    let address = client.map(|Extension(ClientAddress(a))| a);
    if let Err(wait) = backoff.check(&form.username, address, std::time::Instant::now()) {
        let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
        tracing::info!(username = %form.username, retry_after_secs = secs, "sign-in refused: the account's failed sign-ins");
        return Err(ApiError::TooManyRequests {
            message: format!("too many failed sign-ins for this account: retry after {secs} s"),
            scope: "account",
            retry_after_secs: secs,
        });
    }
    let row = accounts::sign_in(&pool, &form.username).await?;
    let hash = row
        .as_ref()
        .map(|r| r.password_hash.clone())
        .unwrap_or_else(|| dummy_hash().to_string());
    let password = form.password.clone();
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash)).await?;
    let known_user = row.is_some();
    let Some(accounts::SignIn {
        id: user_id,
        role,
        department_code: department,
        ..
    }) = row.filter(|_| ok)
    else {
        let window = backoff.failed(&form.username, std::time::Instant::now());
        tracing::info!(username = %form.username, window_secs = window.as_secs(), "failed login");
        let detail = json!({"user": form.username, "known_user": known_user});
        crate::audit::record(&pool, &form.username, "login_failed", detail).await?;
        return Err(ApiError::Unauthorized("wrong user name or password".into()));
    };
    backoff.succeeded(&form.username, address, std::time::Instant::now());
    let token = new_secret("cgt");
    let expires_at = Utc::now() + Duration::minutes(config.token_ttl_minutes.max(1));
    accounts::insert_session(&pool, &secret_hash(&token), user_id, expires_at).await?;
    let detail = json!({"user_id": user_id, "role": role, "expires_at": expires_at.to_rfc3339()});
    crate::audit::record(&pool, &form.username, "login", detail).await?;
    Ok(Json(json!({
        "token": token,
        "token_type": "Bearer",
        "role": role,
        "username": form.username,
        "department": department,
        "expires_at": expires_at.to_rfc3339(),
    })))
}

/// Revokes the token used for this request.
pub async fn logout(
    State(pool): State<PgPool>,
    State(credentials): State<Arc<CredentialCache>>,
    principal: Principal,
) -> ApiResult<StatusCode> {
    let user = principal
        .user()
        .ok_or_else(|| ApiError::Unauthorized("not signed in".into()))?;
    accounts::revoke_session(&pool, &user.token_hash).await?;
    credentials.forget(CredentialKind::Token, &user.token_hash);
    let detail = json!({"user_id": user.id});
    crate::audit::record(&pool, &user.username, "logout", detail).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Who the token belongs to.
pub async fn me(principal: Principal) -> ApiResult<Json<Value>> {
    let user = principal
        .user()
        .ok_or_else(|| ApiError::Unauthorized("not signed in".into()))?;
    Ok(Json(json!({
        "id": user.id,
        "username": user.username,
        "role": user.role,
        "department": user.department,
    })))
}
