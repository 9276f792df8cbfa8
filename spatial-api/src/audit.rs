//! The audit trail of administrative and security events: sign-ins (and failed
//! ones), sign-outs, accounts, API keys, session revocations and the admin API's
//! writes. Rows go to `audit_log`, which refuses UPDATE and DELETE
//! (`migrations/0006_audit_append_only.sql`). Case workflow steps have their own
//! append-only trail in `case_events`.

/// Appends one row to `audit_log` (the statement is the store's).
pub use citygrid_store::audit::record;

/// Middleware: records every successful write (POST, PUT, PATCH, DELETE answered
/// 2xx) made by an administrator — accounts of departments, categories, routing
/// rules, time limits, calendars, grid assignments — as `admin_write` with the
/// method, route and path (never the body, which may hold webhook secrets). The row
/// is written after the change itself; if the database refuses it, the change
/// stands and a warning is logged.
pub async fn admin_writes(
    axum::extract::State(pool): axum::extract::State<sqlx::PgPool>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::Method;
    let method = request.method().clone();
    if matches!(method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(request).await;
    }
    let admin = request
        .extensions()
        .get::<crate::auth::Principal>()
        .and_then(|p| p.user())
        .filter(|u| u.role == crate::auth::Role::Admin)
        .map(|u| (u.username.clone(), u.id));
    let Some((username, user_id)) = admin else {
        return next.run(request).await;
    };
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|m| m.as_str().to_string());
    let path = request.uri().path().to_string();
    if path.starts_with("/api/auth/") {
        // Sign-in and sign-out have audit rows of their own.
        return next.run(request).await;
    }
    let response = next.run(request).await;
    if response.status().is_success() {
        let detail = serde_json::json!({
            "user_id": user_id, "method": method.as_str(), "route": route, "path": path,
            "status": response.status().as_u16(),
        });
        if let Err(e) = record(&pool, &username, "admin_write", detail).await {
            tracing::warn!(error = %e, %path, "admin write not recorded in the audit log");
        }
    }
    response
}
