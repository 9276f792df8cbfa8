//! Layer administration (admin only): `GET`/`PUT /api/admin/layers/{layer}/tile-properties`,
//! a vector layer's tile schema (`citygrid_tiles::tileprops`). The same as `citygrid
//! layer show --json` and `citygrid layer set-tile-properties`: both read and write
//! the catalogue through `citygrid_store::catalog`, which announces a change to every
//! server (each reloads its catalogue and drops the layer's cached tiles).
//!
//! Layer management (issue 22): `GET /api/admin/layers` (every layer with its owner
//! and access), `PUT /api/admin/layers/{layer}/access` (who may read and edit it,
//! `citygrid layer set-access`), `DELETE /api/admin/layers/{layer}` (its table, its
//! catalogue row, and on every server its index and cached tiles; `citygrid layer
//! delete`). The router's audit layer records each write.
//!
//! Where a vector layer's tiles come from (issue 24): `PUT
//! /api/admin/layers/{layer}/serve-from` (`{"serve_from": "memory" | "database"}`,
//! `citygrid layer set-serve-from`).

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::routing::{delete, get, put};
use axum::Json;
use citygrid_grid_mgmt::layer_access::{parse_edit, ReadPolicy};
use citygrid_store::catalog::{self, TilePropertiesChange};
use citygrid_store::layer_access::{self, AccessChange, AccessOutcome, DeleteOutcome};
use citygrid_store::layer_serve::{self, ServeFrom};
use citygrid_tiles::tileprops::TileProperties;
use serde_json::Value;

use crate::auth::{Access, Role};
use crate::error::{ApiError, ApiResult};
use crate::router::RouteTable;
use crate::state::AppState;

/// The path of a layer's tile schema.
pub const TILE_PROPERTIES: &str = "/api/admin/layers/{layer}/tile-properties";

/// The list of layers with their access.
pub const LAYERS: &str = "/api/admin/layers";
/// One layer (`DELETE`).
pub const LAYER: &str = "/api/admin/layers/{layer}";
/// A layer's owner and access.
pub const ACCESS: &str = "/api/admin/layers/{layer}/access";
/// Where a vector layer's tiles come from.
pub const SERVE_FROM: &str = "/api/admin/layers/{layer}/serve-from";

/// The layer administration routes.
pub fn routes(t: RouteTable) -> RouteTable {
    let admin = Access::Roles(&[Role::Admin]);
    t.add(Method::GET, TILE_PROPERTIES, admin, get(show))
        .add(Method::PUT, TILE_PROPERTIES, admin, put(set))
        .add(Method::GET, LAYERS, admin, get(list))
        .add(Method::DELETE, LAYER, admin, delete(remove))
        .add(Method::PUT, ACCESS, admin, put(set_access))
        .add(Method::PUT, SERVE_FROM, admin, put(set_serve_from))
}

/// A layer's owner and access as the admin API shows them: `owner` (null: the
/// platform's), `read` (the policy in force), `read_set` (what an admin set; null:
/// the server's default), `edit` (the departments whose operators may edit, beside
/// the owner's).
fn access_json(state: &AppState, id: &str) -> Value {
    let stored = state.catalog.access(id);
    let policy = state.catalog.policy(id);
    serde_json::json!({
        "owner": stored.owner,
        "read": policy.read.to_string(),
        "read_set": stored.read.map(|r| r.to_string()),
        "edit": stored.edit,
    })
}

/// `GET /api/admin/layers`: every layer of the catalogue with its owner and access.
async fn list(State(state): State<AppState>) -> Json<Value> {
    let layers: Vec<Value> = state
        .catalog
        .layers()
        .iter()
        .map(|m| {
            serde_json::json!({
                "id": m.id,
                "title": m.title,
                "kind": m.kind,
                "feature_count": m.feature_count,
                "version": m.version,
                "serve_from": state.catalog.serve_from(&m.id),
                "access": access_json(&state, &m.id),
            })
        })
        .collect();
    Json(serde_json::json!({ "layers": layers }))
}

/// Reads the body of `PUT …/access`: `{"read", "edit", "owner"}`, each optional.
fn access_change(body: &Value) -> Result<AccessChange, String> {
    let obj = body
        .as_object()
        .ok_or("the body is an object: {\"read\", \"edit\", \"owner\"}")?;
    if let Some(k) = obj
        .keys()
        .find(|k| !["read", "edit", "owner"].contains(&k.as_str()))
    {
        return Err(format!("unknown field {k:?}: use read, edit, owner"));
    }
    let mut change = AccessChange::default();
    match obj.get("read") {
        None => {}
        Some(Value::Null) => change.read = Some(None),
        Some(Value::String(s)) if s == "default" => change.read = Some(None),
        Some(Value::String(s)) => {
            change.read = Some(Some(s.parse::<ReadPolicy>().map_err(|e| e.to_string())?))
        }
        Some(_) => {
            return Err("read is a text such as \"departments:police;roles:dispatcher\"".into())
        }
    }
    match obj.get("edit") {
        None => {}
        Some(Value::Null) => change.edit = Some(Vec::new()),
        Some(Value::String(s)) => change.edit = Some(parse_edit(s).map_err(|e| e.to_string())?),
        Some(Value::Array(items)) => {
            let texts: Option<Vec<&str>> = items.iter().map(Value::as_str).collect();
            let texts = texts.ok_or("edit is a list of department codes")?;
            change.edit = Some(parse_edit(&texts.join(",")).map_err(|e| e.to_string())?);
        }
        Some(_) => return Err("edit is \"departments:A,B\" or a list of department codes".into()),
    }
    match obj.get("owner") {
        None => {}
        Some(Value::Null) => change.owner = Some(None),
        Some(Value::String(s)) => {
            let codes = parse_edit(s).map_err(|e| e.to_string())?;
            match codes.as_slice() {
                [one] => change.owner = Some(Some(one.clone())),
                _ => return Err("owner is one department code (or null: the platform's)".into()),
            }
        }
        Some(_) => return Err("owner is one department code (or null: the platform's)".into()),
    }
    if change == AccessChange::default() {
        return Err("nothing to change: give read, edit or owner".into());
    }
    Ok(change)
}

/// `PUT /api/admin/layers/{layer}/access`: sets what the body gives; 422 for a policy
/// that does not parse or a department that does not exist (the message lists them),
/// 404 for no such layer. Every server reloads its catalogue.
async fn set_access(
    State(state): State<AppState>,
    Path(layer): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> ApiResult<Json<Value>> {
    check_layer(&layer)?;
    let Json(body) = body.map_err(|e| ApiError::Unprocessable(e.body_text()))?;
    let change = access_change(&body).map_err(ApiError::Unprocessable)?;
    let mut tx = state.pool.begin().await?;
    match layer_access::set(&mut tx, &layer, &change).await? {
        AccessOutcome::Saved(_) => {}
        AccessOutcome::NoLayer => return Err(no_layer(&layer)),
        AccessOutcome::Invalid(e) => return Err(ApiError::Unprocessable(e)),
    }
    tx.commit().await?;
    if let Err(e) = state.catalog.reload(&state.pool, &layer).await {
        tracing::warn!(error = %e, "cannot reload the layer catalogue");
    }
    Ok(Json(serde_json::json!({
        "layer": layer,
        "access": access_json(&state, &layer),
    })))
}

/// `PUT /api/admin/layers/{layer}/serve-from`: `{"serve_from": "memory" | "database"}`;
/// 422 for another body, 404 for no such layer, 409 for a raster layer. Every server
/// reloads its catalogue and loads (memory) or forgets (database) the layer's index.
async fn set_serve_from(
    State(state): State<AppState>,
    Path(layer): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> ApiResult<Json<Value>> {
    check_layer(&layer)?;
    let Json(body) = body.map_err(|e| ApiError::Unprocessable(e.body_text()))?;
    let value = match body.as_object() {
        Some(obj) if obj.len() == 1 => obj.get("serve_from").and_then(Value::as_str),
        _ => None,
    }
    .ok_or_else(|| {
        ApiError::Unprocessable(
            "the body is {\"serve_from\": \"memory\"} or {\"serve_from\": \"database\"}".into(),
        )
    })?;
    let serve_from: ServeFrom = value
        .parse()
        .map_err(|e: layer_serve::BadServeFrom| ApiError::Unprocessable(e.to_string()))?;
    let mut tx = state.pool.begin().await?;
    match layer_serve::set(&mut tx, &layer, serve_from).await? {
        layer_serve::SetOutcome::Saved => {}
        layer_serve::SetOutcome::NoLayer => return Err(no_layer(&layer)),
        layer_serve::SetOutcome::NotVector(kind) => {
            return Err(ApiError::Conflict(format!(
                "layer {layer} is a {kind} layer: its tiles are always read from the database; \
                 serve_from is for vector layers"
            )))
        }
    }
    tx.commit().await?;
    if let Err(e) = state.catalog.reload(&state.pool, &layer).await {
        tracing::warn!(error = %e, "cannot reload the layer catalogue");
    }
    Ok(Json(serde_json::json!({
        "layer": layer,
        "serve_from": state.catalog.serve_from(&layer),
    })))
}

/// `DELETE /api/admin/layers/{layer}`: 204; 404 for no such layer, 409 for a layer of
/// grid management. Every server forgets the layer and its cached tiles.
async fn remove(State(state): State<AppState>, Path(layer): Path<String>) -> ApiResult<StatusCode> {
    check_layer(&layer)?;
    let mut tx = state.pool.begin().await?;
    match layer_access::delete(&mut tx, &layer).await? {
        DeleteOutcome::Deleted { .. } => {}
        DeleteOutcome::NoLayer => return Err(no_layer(&layer)),
        DeleteOutcome::Managed => {
            return Err(ApiError::Conflict(format!(
                "layer {layer} belongs to grid management and cannot be deleted"
            )))
        }
    }
    tx.commit().await?;
    if let Err(e) = state.catalog.reload(&state.pool, &layer).await {
        tracing::warn!(error = %e, "cannot reload the layer catalogue");
    }
    Ok(StatusCode::NO_CONTENT)
}

/// 404 for an id that cannot be a layer's.
fn check_layer(id: &str) -> ApiResult<()> {
    if citygrid_db::is_identifier(id, 48) {
        Ok(())
    } else {
        Err(no_layer(id))
    }
}

fn no_layer(id: &str) -> ApiError {
    ApiError::NotFound(format!(
        "no layer {:?} (see /catalog)",
        id.chars().take(64).collect::<String>()
    ))
}

/// `GET`: the schema in force (`default`: none set, the default rule's), and for each
/// field whether tiles carry it and from which zoom.
async fn show(State(state): State<AppState>, Path(layer): Path<String>) -> ApiResult<Json<Value>> {
    check_layer(&layer)?;
    let meta = catalog::get(&state.pool, &layer)
        .await?
        .ok_or_else(|| no_layer(&layer))?;
    Ok(Json(meta.tile_properties_json()))
}

/// `PUT`: a tile schema (`{"include", "exclude", "min_zoom", "feature_min_zoom"}`,
/// each optional) replaces the layer's, or `null` returns it to the default rule.
/// 422 when it is not a tile schema or names a field the layer does not have (the
/// message lists the layer's fields), 409 for a raster layer.
async fn set(
    State(state): State<AppState>,
    Path(layer): Path<String>,
    Json(body): Json<Value>,
) -> ApiResult<Json<Value>> {
    check_layer(&layer)?;
    let props = TileProperties::from_json(body).map_err(ApiError::Unprocessable)?;
    let mut tx = state.pool.begin().await?;
    let meta = match catalog::set_tile_properties(&mut tx, &layer, props.as_ref()).await? {
        TilePropertiesChange::Saved(meta) => meta,
        TilePropertiesChange::NoLayer => return Err(no_layer(&layer)),
        TilePropertiesChange::NotVector(kind) => {
            return Err(ApiError::Conflict(format!(
                "layer {layer} is a {kind} layer: tile properties are for vector layers"
            )))
        }
        TilePropertiesChange::Invalid(e) => return Err(ApiError::Unprocessable(e.to_string())),
    };
    tx.commit().await?;
    Ok(Json(meta.tile_properties_json()))
}
