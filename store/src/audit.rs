//! The audit trail of administrative and security events (`audit_log`, which refuses
//! UPDATE and DELETE: `migrations/0006_audit_append_only.sql`). Case workflow steps
//! have their own append-only trail in `case_events`.

use serde_json::Value;

/// Appends one row to `audit_log`: `actor` (a user name, `cli`, or `key:<id>`),
/// `action` (e.g. `login`, `login_failed`, `key_create`) and a JSON `detail`.
pub async fn record<'e, E>(
    executor: E,
    actor: &str,
    action: &str,
    detail: Value,
) -> Result<(), sqlx::Error>
where
    E: sqlx::PgExecutor<'e>,
{
    sqlx::query("INSERT INTO audit_log (actor, action, detail) VALUES ($1, $2, $3)")
        .bind(actor)
        .bind(action)
        .bind(detail)
        .execute(executor)
        .await?;
    Ok(())
}
