//! Layer administration (admin only): `GET`/`PUT /api/admin/layers/{layer}/tile-properties`,
//! a vector layer's tile schema (`citygrid_tiles::tileprops`). The same as `citygrid
//! layer show --json` and `citygrid layer set-tile-properties`: both read and write
//! the catalogue through `citygrid_store::catalog`, which announces a change to every
//! server (each reloads its catalogue and drops the layer's cached tiles).

use axum::extract::{Path, State};
use axum::http::Method;
use axum::routing::get;
use axum::Json;
use citygrid_store::catalog::{self, TilePropertiesChange};
use citygrid_tiles::tileprops::TileProperties;
use serde_json::Value;

use crate::auth::{Access, Role};
use crate::error::{ApiError, ApiResult};
use crate::router::RouteTable;
use crate::state::AppState;

/// The path of a layer's tile schema.
pub const TILE_PROPERTIES: &str = "/api/admin/layers/{layer}/tile-properties";

/// The layer administration routes.
pub fn routes(t: RouteTable) -> RouteTable {
    let admin = Access::Roles(&[Role::Admin]);
    t.add(Method::GET, TILE_PROPERTIES, admin, get(show)).add(
        Method::PUT,
        TILE_PROPERTIES,
        admin,
        axum::routing::put(set),
    )
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
