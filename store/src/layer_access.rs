//! Layer ownership and access (`layer_catalog.owner_department`, `read_access`,
//! `edit_departments`; migration 0015), read with the catalogue, set by an admin
//! (`citygrid layer set-access`, `PUT /api/admin/layers/{layer}/access`); and deleting
//! a layer (`citygrid layer delete`, `DELETE /api/admin/layers/{layer}`).
//!
//! Both announce the layer on [`citygrid_db::LAYER_CHANNEL`] (at commit): every server
//! reloads its catalogue, and for a deleted layer drops its in-memory index and its
//! cached tiles. The check itself is pure: `citygrid_grid_mgmt::layer_access`.

use std::collections::HashMap;

use citygrid_grid_mgmt::layer_access::{LayerPolicy, ReadPolicy};
use serde::Serialize;

use crate::catalog::{layer_table, lock_layer};

/// The layers grid management keeps (their tables are written by its triggers and
/// workflows): they cannot be deleted, only their access set.
pub const MANAGED_LAYERS: [&str; 6] = [
    "admin_divisions",
    "streets",
    "communities",
    "unit_grids",
    "components",
    "cases",
];

/// A layer's stored access: its owner, its read policy (`None`: the server's
/// default), the departments that may edit.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LayerAccess {
    /// The owning department (`None`: the platform's).
    pub owner: Option<String>,
    /// The read policy set (`None`: the server's default).
    pub read: Option<ReadPolicy>,
    /// The departments whose operators may edit (beside the owner's).
    pub edit: Vec<String>,
}

impl LayerAccess {
    /// The policy in force, with `default` for a layer without a read policy of its own.
    pub fn policy(&self, default: &ReadPolicy) -> LayerPolicy {
        LayerPolicy {
            owner: self.owner.clone(),
            read: self.read.clone().unwrap_or_else(|| default.clone()),
            edit: self.edit.clone(),
        }
    }
}

type Row = (String, Option<String>, Option<String>, Vec<String>);

fn from_row((id, owner, read, edit): Row) -> (String, LayerAccess) {
    let read = read.map(|text| {
        text.parse::<ReadPolicy>().unwrap_or_else(|e| {
            // Written only through `set`, which parses it; a hand-edited value that
            // does not parse lets nobody but admins read (fail closed).
            tracing::warn!(layer = %id, error = %e, "unreadable read policy: admins only");
            ReadPolicy::default()
        })
    });
    (id, LayerAccess { owner, read, edit })
}

/// The access of every layer of the catalogue.
pub async fn all(
    executor: impl sqlx::PgExecutor<'_>,
) -> Result<HashMap<String, LayerAccess>, sqlx::Error> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, owner_department, read_access, edit_departments FROM layer_catalog",
    )
    .fetch_all(executor)
    .await?;
    Ok(rows.into_iter().map(from_row).collect())
}

/// The access of layer `id` (`None`: no such layer).
pub async fn get(
    executor: impl sqlx::PgExecutor<'_>,
    id: &str,
) -> Result<Option<LayerAccess>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(
        "SELECT id, owner_department, read_access, edit_departments FROM layer_catalog WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(executor)
    .await?;
    Ok(row.map(|r| from_row(r).1))
}

/// A change of a layer's access: what is given replaces what was there.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccessChange {
    /// The new read policy (`Some(None)`: back to the server's default).
    pub read: Option<Option<ReadPolicy>>,
    /// The new editing departments.
    pub edit: Option<Vec<String>>,
    /// The new owner (`Some(None)`: the platform's).
    pub owner: Option<Option<String>>,
}

/// What [`set`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum AccessOutcome {
    /// No layer by that id.
    NoLayer,
    /// A department named does not exist (or is inactive); nothing changed. The
    /// message is one line naming it and the departments there are.
    Invalid(String),
    /// Stored and announced: the layer's access now.
    Saved(LayerAccess),
}

/// The codes of the active departments.
pub async fn department_codes(
    executor: impl sqlx::PgExecutor<'_>,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT code FROM departments WHERE active ORDER BY code")
        .fetch_all(executor)
        .await
}

/// Sets the access of layer `id` after checking that every department named exists
/// (roles are checked when the policy is parsed), and announces the change. Run it in
/// a transaction (the notice goes out at commit).
pub async fn set(
    conn: &mut sqlx::PgConnection,
    id: &str,
    change: &AccessChange,
) -> Result<AccessOutcome, sqlx::Error> {
    let Some(current) = get_for_update(&mut *conn, id).await? else {
        return Ok(AccessOutcome::NoLayer);
    };
    let known = department_codes(&mut *conn).await?;
    let mut named: Vec<&str> = Vec::new();
    if let Some(Some(read)) = &change.read {
        named.extend(read.departments.iter().map(String::as_str));
    }
    if let Some(edit) = &change.edit {
        named.extend(edit.iter().map(String::as_str));
    }
    if let Some(Some(owner)) = &change.owner {
        named.push(owner);
    }
    if let Some(unknown) = named.iter().find(|d| !known.iter().any(|k| k == *d)) {
        return Ok(AccessOutcome::Invalid(format!(
            "no department {unknown:?}: the departments are {}",
            if known.is_empty() {
                "none yet".to_string()
            } else {
                known.join(", ")
            }
        )));
    }
    let next = LayerAccess {
        read: change.read.clone().unwrap_or(current.read),
        edit: change.edit.clone().unwrap_or(current.edit),
        owner: change.owner.clone().unwrap_or(current.owner),
    };
    sqlx::query(
        "WITH up AS (
             UPDATE layer_catalog
                SET owner_department = $2, read_access = $3, edit_departments = $4,
                    updated_at = now()
              WHERE id = $1
          RETURNING id)
         SELECT pg_notify($5, up.id) FROM up",
    )
    .bind(id)
    .bind(&next.owner)
    .bind(next.read.as_ref().map(ToString::to_string))
    .bind(&next.edit)
    .bind(citygrid_db::LAYER_CHANNEL)
    .execute(&mut *conn)
    .await?;
    Ok(AccessOutcome::Saved(next))
}

async fn get_for_update(
    conn: &mut sqlx::PgConnection,
    id: &str,
) -> Result<Option<LayerAccess>, sqlx::Error> {
    let row: Option<Row> = sqlx::query_as(
        "SELECT id, owner_department, read_access, edit_departments FROM layer_catalog
          WHERE id = $1 FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|r| from_row(r).1))
}

/// What [`delete`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteOutcome {
    /// No layer by that id (neither a catalogue row nor a table).
    NoLayer,
    /// One of [`MANAGED_LAYERS`]: refused.
    Managed,
    /// The table and the catalogue row are gone; the kind the layer was.
    Deleted {
        /// `vector` or `raster` (`None`: only a table was left).
        kind: Option<String>,
    },
}

/// Deletes layer `id`: its table `layers."<id>"` (and a raster layer's
/// `layers."<id>#geographic"`) and its catalogue row, under the
/// layer's lock (an import of the same id waits), announcing it so that every server
/// forgets the layer and its cached tiles. Run it in a transaction.
pub async fn delete(conn: &mut sqlx::PgConnection, id: &str) -> Result<DeleteOutcome, sqlx::Error> {
    if MANAGED_LAYERS.contains(&id) {
        return Ok(DeleteOutcome::Managed);
    }
    lock_layer(&mut *conn, id).await?;
    let occupant = crate::catalog::occupant(&mut *conn, id).await?;
    if occupant.kind.is_none() && occupant.table.is_none() {
        return Ok(DeleteOutcome::NoLayer);
    }
    let drop = format!("DROP TABLE IF EXISTS {}", layer_table(id));
    sqlx::query(&drop).execute(&mut *conn).await?;
    // A raster layer's tiles of the geographic tile matrix sets (issue 23).
    let drop = format!(
        "DROP TABLE IF EXISTS {}",
        layer_table(&format!("{id}#geographic"))
    );
    sqlx::query(&drop).execute(&mut *conn).await?;
    sqlx::query("DELETE FROM layer_catalog WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(citygrid_db::LAYER_CHANNEL)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(DeleteOutcome::Deleted {
        kind: occupant.kind,
    })
}
