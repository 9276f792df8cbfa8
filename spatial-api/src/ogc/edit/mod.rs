//! Editing through OGC API – Features – Part 4 (Create, Replace, Update, Delete) and
//! the history of each feature.
//!
//! | route | does |
//! |---|---|
//! | `POST /ogc/collections/{id}/items` | a new feature (GeoJSON Feature): 201, `Location`, `ETag` |
//! | `PUT /ogc/collections/{id}/items/{fid}` | replaces it whole (`If-Match` required) |
//! | `PATCH /ogc/collections/{id}/items/{fid}` | JSON merge patch of `geometry`/`properties` (`If-Match`) |
//! | `DELETE /ogc/collections/{id}/items/{fid}` | deletes it (`If-Match`): 204 |
//! | `GET …/items/{fid}/history` | its edits: who, when, before and after |
//! | `POST …/items/{fid}/history/{version}/restore` | writes the feature of an edit back (an edit itself) |
//!
//! Rules: the caller must be allowed by the layer's edit policy (administrators, and
//! the department operators of its owning and editing departments:
//! `citygrid layer set-access LAYER --edit departments:A`); only layers an import wrote
//! are edited (grid management's tables answer 405); `ETag` is strong, a hash of the feature as `GET …/items/{fid}` shows it, and
//! `If-Match` is required to change a feature (428 without, 412 when it does not
//! match); `Content-Crs` gives the CRS of the body's geometry (default CRS84; any CRS
//! of `crs=`, EPSG:4513–4554 through PROJ); the geometry must fit the layer's
//! geometry type (a single part is made a multi of one for a multi layer) and be valid
//! (`ST_IsValidReason` says why not), unless the layer is set to repair it
//! (`ST_MakeValid`); properties must be fields of the layer, of their type. Each edit is
//! one transaction under the layer's lock (shared with imports) with its history row
//! and its `NOTIFY citygrid_layers, '<layer>:<fid>'`, on which every server patches
//! that one feature into its index and drops the tiles it touches.

pub mod rules;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use citygrid_geo::crs::{check_lonlat, Crs};
use citygrid_store::edits;
use citygrid_store::history::{self, NewEntry};
use citygrid_store::layers::{FeatureRow, LayerId};
use citygrid_tiles::index::{Feature, FeatureRef};
use citygrid_tiles::schema::{PropRef, PropValue, Schema};
use geo::{Coord, Geometry, MapCoordsInPlace};
use geozero::wkb::Wkb;
use geozero::{CoordDimensions, ToGeo, ToJson, ToWkb};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::{OgcBase, GEOJSON_TYPE};
use crate::auth::Principal;
use crate::catalog::LayerMeta;
use crate::error::{ApiError, ApiResult};
use crate::extract::Collection;
use crate::geojson::read_geometry;
use crate::layers::load::{feature_from_row, schema_of};
use crate::state::AppState;

/// The most positions of a geometry in an edit.
pub const MAX_VERTICES: usize = 250_000;

/// The media type of a JSON merge patch.
pub const MERGE_PATCH_TYPE: &str = "application/merge-patch+json";

fn bad(m: impl Into<String>) -> ApiError {
    ApiError::BadRequest(m.into())
}

/// The strong `ETag` of a feature as the index holds it (and `GET …/items/{fid}`
/// shows it): a hash of its id, lon/lat geometry and attribute values with their
/// field names.
pub fn etag(schema: &Schema, f: FeatureRef<'_>) -> String {
    etag_of(schema, f.id(), &f.geom_lonlat(), f.props())
}

/// [`etag`] of a feature's parts (the same tag for a stored row and the index's copy).
fn etag_of<'a>(
    schema: &Schema,
    id: i64,
    geometry: &geo::Geometry<f64>,
    props: impl Iterator<Item = PropRef<'a>>,
) -> String {
    use std::fmt::Write;
    let mut text = format!("{}\n{:?}\n", id, geometry);
    for (field, value) in schema.fields.iter().zip(props) {
        let _ = writeln!(text, "{:?}={:?}", field.name, value);
    }
    let digest = Sha256::digest(text.as_bytes());
    format!("\"{}\"", hex::encode(&digest[..16]))
}

/// Whether `principal` may edit layer `id` (the layer's edit policy:
/// administrators, and the department operators of the departments it lists or owns
/// it); the user's name for the history.
fn may_edit(state: &AppState, principal: &Principal, id: &str) -> ApiResult<String> {
    match principal {
        Principal::Anonymous => Err(ApiError::Unauthorized("sign in to edit layers".into())),
        Principal::Key(_) => Err(ApiError::Forbidden("API keys may not edit layers".into())),
        Principal::User(u) if state.catalog.may_edit(principal, id) => Ok(u.username.clone()),
        Principal::User(u) => Err(ApiError::Forbidden(format!(
            "{} ({}) may not edit layer {id:?}: administrators and the department operators of its owning and editing departments may (citygrid layer set-access {id} --edit departments:…)",
            u.username, u.role
        ))),
    }
}

/// The layer's id, checked safe for SQL.
fn layer_id(id: &str) -> ApiResult<LayerId<'_>> {
    LayerId::new(id).ok_or_else(|| ApiError::NotFound(format!("no collection {id:?}")))
}

fn fid_of(id: &str, fid: &str) -> ApiResult<i64> {
    fid.parse().map_err(|_| {
        ApiError::NotFound(format!(
            "no feature {:?} in collection {id:?}",
            fid.chars().take(40).collect::<String>()
        ))
    })
}

/// Database errors of the values written (SQLSTATE classes 22 and 23) are the
/// caller's: 400 with PostgreSQL's words.
fn db_error(e: sqlx::Error) -> ApiError {
    if let sqlx::Error::Database(db) = &e {
        if let Some(code) = db.code() {
            if code.starts_with("22") || code.starts_with("23") {
                return bad(format!("the layer refused the values: {}", db.message()));
            }
        }
    }
    e.into()
}

/// The CRS of a `Content-Crs` header (`<uri>` or a bare URI/code; default CRS84).
fn content_crs(headers: &HeaderMap) -> ApiResult<Crs> {
    match headers.get("content-crs") {
        None => Ok(Crs::Crs84),
        Some(v) => {
            let text = v
                .to_str()
                .map_err(|_| bad("Content-Crs: not a CRS URI"))?
                .trim();
            let text = text
                .strip_prefix('<')
                .and_then(|t| t.strip_suffix('>'))
                .unwrap_or(text);
            Crs::parse(text).map_err(|e| bad(format!("Content-Crs: {e}")))
        }
    }
}

/// Checks the body's media type: JSON or GeoJSON, or a merge patch where allowed.
fn check_media_type(headers: &HeaderMap, merge_patch: bool) -> ApiResult<()> {
    let ty = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let ok = matches!(ty.as_str(), "application/geo+json" | "application/json")
        || (merge_patch && ty == MERGE_PATCH_TYPE);
    if ok {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(format!(
            "send the feature as application/geo+json{}",
            if merge_patch {
                " or application/merge-patch+json"
            } else {
                ""
            }
        )))
    }
}

fn parse_body(body: &Bytes) -> ApiResult<Value> {
    serde_json::from_slice(body).map_err(|e| bad(format!("the body is not JSON: {e}")))
}

/// A stored row as a feature of the index and its GeoJSON (lon/lat geometry, the
/// attributes as PostgreSQL gives them), with its `ETag`.
struct Stored {
    geojson: Value,
    etag: String,
    feature: Feature,
}

fn stored(schema: &Schema, (fid, wkb, props): &FeatureRow) -> ApiResult<Stored> {
    let feature = feature_from_row(schema, *fid, wkb, props)
        .ok_or_else(|| ApiError::Internal(format!("feature {fid}: unreadable geometry")))?;
    let geometry: Value = Wkb(wkb.clone())
        .to_json()
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or(Value::Null);
    Ok(Stored {
        geojson: json!({"type": "Feature", "id": fid, "geometry": geometry, "properties": props}),
        etag: etag_of(
            schema,
            feature.id,
            &feature.geom_lonlat(),
            feature.props.iter().map(PropValue::as_prop),
        ),
        feature,
    })
}

/// A feature to write: its geometry (WKB, EPSG:4326, fitted to the layer and valid)
/// and its checked attributes.
struct Input {
    wkb: Vec<u8>,
    attributes: Map<String, Value>,
}

/// Reads a GeoJSON Feature in `crs` against the layer: geometry to lon/lat and
/// fitted to the layer's type, attributes checked. Validity is checked by
/// [`check_validity`] in the transaction.
fn read_input(meta: &LayerMeta, feature: &Value, crs: Crs) -> ApiResult<Input> {
    let obj = feature
        .as_object()
        .ok_or_else(|| bad("the body must be a GeoJSON Feature object"))?;
    if obj.get("type").and_then(Value::as_str) != Some("Feature") {
        return Err(bad(
            "the body must be a GeoJSON Feature (\"type\": \"Feature\")",
        ));
    }
    let geometry = obj
        .get("geometry")
        .filter(|g| !g.is_null())
        .ok_or_else(|| bad("the feature has no geometry"))?;
    let mut g = read_geometry(geometry, MAX_VERTICES).map_err(|e| bad(format!("geometry: {e}")))?;
    if crs.lat_first() {
        g.map_coords_in_place(|c| Coord { x: c.y, y: c.x });
    }
    crs.geometry_to_lonlat(&mut g)
        .map_err(|e| bad(format!("geometry: {e}")))?;
    check_lonlat(&g).map_err(|e| bad(format!("geometry: {e}")))?;
    if geo::HasDimensions::is_empty(&g) {
        return Err(bad("geometry: empty geometries are not stored"));
    }
    let g = rules::fit_geometry(g, meta.geometry_type.as_deref())
        .map_err(|e| bad(format!("geometry: {e}")))?;
    let attributes =
        rules::check_attributes(obj.get("properties"), &meta.field_types()).map_err(bad)?;
    Ok(Input {
        wkb: wkb_of(&g)?,
        attributes,
    })
}

fn wkb_of(g: &Geometry<f64>) -> ApiResult<Vec<u8>> {
    g.to_wkb(CoordDimensions::xy())
        .map_err(|e| bad(format!("geometry: {e}")))
}

/// Refuses an invalid geometry with PostGIS's reason, or repairs it when the layer
/// says so (the repair must still fit the layer's type).
async fn check_validity(
    conn: &mut sqlx::PgConnection,
    meta: &LayerMeta,
    repair: bool,
    input: &mut Input,
) -> ApiResult<()> {
    let check = edits::check_geometry(&mut *conn, &input.wkb).await?;
    if check.valid {
        return Ok(());
    }
    if !repair {
        return Err(bad(format!(
            "invalid geometry: {} (the layer refuses invalid geometries; an administrator may set it to repair them)",
            check.reason
        )));
    }
    let fixed = check
        .repaired
        .and_then(|w| Wkb(w).to_geo().ok())
        .filter(|g| !geo::HasDimensions::is_empty(g))
        .ok_or_else(|| {
            bad(format!(
                "invalid geometry: {}; it cannot be repaired",
                check.reason
            ))
        })?;
    let fixed = rules::fit_geometry(fixed, meta.geometry_type.as_deref())
        .map_err(|e| bad(format!("invalid geometry: {}; repaired, {e}", check.reason)))?;
    input.wkb = wkb_of(&fixed)?;
    Ok(())
}

/// Starts an edit: the transaction, the layer's lock, the check that the layer is
/// one an import wrote, and its settings.
async fn begin(
    state: &AppState,
    id: &str,
) -> ApiResult<(
    sqlx::Transaction<'static, sqlx::Postgres>,
    edits::EditSettings,
)> {
    let mut tx = state.pool.begin().await?;
    citygrid_store::catalog::lock_layer(&mut *tx, id).await?;
    if !edits::editable(&mut *tx, id).await? {
        return Err(ApiError::MethodNotAllowed(format!(
            "collection {id:?} is maintained by citygrid itself (grid management) and is not edited through the OGC API: use its own API"
        )));
    }
    let settings = edits::settings(&mut *tx, id).await?;
    Ok((tx, settings))
}

/// The `If-Match` of a request: 428 when missing.
fn required_if_match(headers: &HeaderMap) -> ApiResult<String> {
    headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| {
            ApiError::PreconditionRequired(
                "send If-Match with the feature's ETag (from GET …/items/{fid}) to change it"
                    .into(),
            )
        })
}

fn check_if_match(header: &str, current: &str) -> ApiResult<()> {
    if rules::if_match(header, current) {
        Ok(())
    } else {
        Err(ApiError::PreconditionFailed(format!(
            "the feature changed since you read it (its ETag is now {current}): read it again"
        )))
    }
}

/// After commit: this server patches the feature at once (the NOTIFY does it again,
/// here and on every other server), so the caller reads its own write.
async fn patch_here(state: &AppState, id: &str, fid: i64) {
    let started = std::time::Instant::now();
    match state.layers.patch(&state.pool, id, &[fid]).await {
        Ok(tiles) => tracing::debug!(
            layer = %id, fid, tiles, us = started.elapsed().as_micros() as u64,
            "feature patched after an edit"
        ),
        Err(e) => tracing::warn!(layer = %id, fid, error = %e, "feature not patched after an edit"),
    }
}

fn feature_response(status: StatusCode, stored: &Stored, location: Option<String>) -> Response {
    let body = serde_json::to_vec(&stored.geojson).unwrap_or_default();
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(GEOJSON_TYPE));
    if let Ok(v) = HeaderValue::from_str(&stored.etag) {
        h.insert(header::ETAG, v);
    }
    if let Some(l) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        h.insert(header::LOCATION, l);
    }
    r
}

/// What a write does.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Create,
    Replace,
    Update,
    Restore,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Replace => "replace",
            Op::Update => "update",
            Op::Restore => "restore",
        }
    }
}

/// Writes `input` as feature `fid` (a new row when `before` is `None`), records the
/// edit and announces it, then commits; the feature as stored.
#[allow(clippy::too_many_arguments)]
async fn write_and_commit(
    state: &AppState,
    mut tx: sqlx::Transaction<'static, sqlx::Postgres>,
    meta: &LayerMeta,
    fid: i64,
    input: &Input,
    before: Option<&Value>,
    op: Op,
    actor: &str,
) -> ApiResult<Stored> {
    let lid = layer_id(&meta.id)?;
    let columns: Vec<&str> = meta.field_types().into_iter().map(|(n, _)| n).collect();
    let attributes = Value::Object(input.attributes.clone());
    edits::write(
        &mut *tx,
        lid,
        fid,
        &input.wkb,
        &columns,
        &attributes,
        before.is_none(),
    )
    .await
    .map_err(db_error)?;
    let row = edits::row_for_update(&mut *tx, lid, fid)
        .await?
        .ok_or_else(|| ApiError::Internal(format!("feature {fid} not found after writing it")))?;
    let after = stored(&schema_of(meta), &row)?;
    history::record(
        &mut *tx,
        NewEntry {
            layer: &meta.id,
            fid,
            op: op.as_str(),
            actor,
            at: crate::clock::now().with_timezone(&chrono::Utc),
            before,
            after: Some(&after.geojson),
        },
    )
    .await?;
    edits::announce(&mut *tx, lid, fid).await?;
    tx.commit().await?;
    patch_here(state, &meta.id, fid).await;
    Ok(after)
}

/// `POST /ogc/collections/{id}/items`: a new feature.
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    Collection { id, meta, .. }: Collection,
    OgcBase(base): OgcBase,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let actor = may_edit(&state, &principal, &id)?;
    check_media_type(&headers, false)?;
    let crs = content_crs(&headers)?;
    let mut input = read_input(&meta, &parse_body(&body)?, crs)?;
    let (mut tx, settings) = begin(&state, &id).await?;
    check_validity(&mut tx, &meta, settings.repair_invalid, &mut input).await?;
    let fid = edits::next_fid(&mut *tx, layer_id(&id)?).await?;
    let after = write_and_commit(&state, tx, &meta, fid, &input, None, Op::Create, &actor).await?;
    let location = format!("{base}/collections/{id}/items/{fid}");
    Ok(feature_response(
        StatusCode::CREATED,
        &after,
        Some(location),
    ))
}

/// Reads feature `fid` for a change under `If-Match`: 404, 412 as due.
async fn current(
    tx: &mut sqlx::PgConnection,
    meta: &LayerMeta,
    fid: i64,
    if_match: Option<&str>,
) -> ApiResult<Option<Stored>> {
    let row = edits::row_for_update(&mut *tx, layer_id(&meta.id)?, fid).await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let now = stored(&schema_of(meta), &row)?;
    if let Some(h) = if_match {
        check_if_match(h, &now.etag)?;
    }
    Ok(Some(now))
}

fn no_feature(id: &str, fid: i64) -> ApiError {
    ApiError::NotFound(format!("no feature {fid} in collection {id:?}"))
}

/// `PUT /ogc/collections/{id}/items/{fid}`: replaces the feature whole.
pub async fn replace(
    State(state): State<AppState>,
    principal: Principal,
    Collection { id, meta, .. }: Collection,
    Path((_, fid)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let actor = may_edit(&state, &principal, &id)?;
    let fid = fid_of(&id, &fid)?;
    check_media_type(&headers, false)?;
    let if_match = required_if_match(&headers)?;
    let crs = content_crs(&headers)?;
    let mut input = read_input(&meta, &parse_body(&body)?, crs)?;
    let (mut tx, settings) = begin(&state, &id).await?;
    let before = current(&mut tx, &meta, fid, Some(&if_match))
        .await?
        .ok_or_else(|| no_feature(&id, fid))?;
    check_validity(&mut tx, &meta, settings.repair_invalid, &mut input).await?;
    let after = write_and_commit(
        &state,
        tx,
        &meta,
        fid,
        &input,
        Some(&before.geojson),
        Op::Replace,
        &actor,
    )
    .await?;
    Ok(feature_response(StatusCode::OK, &after, None))
}

/// `PATCH /ogc/collections/{id}/items/{fid}`: a JSON merge patch of the feature
/// (`geometry` and/or `properties`; a property set to null is cleared).
pub async fn update(
    State(state): State<AppState>,
    principal: Principal,
    Collection { id, meta, .. }: Collection,
    Path((_, fid)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let actor = may_edit(&state, &principal, &id)?;
    let fid = fid_of(&id, &fid)?;
    check_media_type(&headers, true)?;
    let if_match = required_if_match(&headers)?;
    let crs = content_crs(&headers)?;
    let patch = parse_body(&body)?;
    let Some(p) = patch.as_object() else {
        return Err(bad("a merge patch is a JSON object"));
    };
    if let Some(k) = p
        .keys()
        .find(|k| !matches!(k.as_str(), "type" | "geometry" | "properties" | "id"))
    {
        return Err(bad(format!(
            "a patch changes geometry and properties only; {:?} is not one of them",
            k.chars().take(40).collect::<String>()
        )));
    }
    let (mut tx, settings) = begin(&state, &id).await?;
    let before = current(&mut tx, &meta, fid, Some(&if_match))
        .await?
        .ok_or_else(|| no_feature(&id, fid))?;
    // The patch's geometry is in Content-Crs; the stored one is kept as it is.
    let mut doc = json!({"type": "Feature", "properties": before.geojson["properties"].clone()});
    if let Some(props) = p.get("properties") {
        let mut merged = doc["properties"].take();
        rules::merge_patch(&mut merged, props);
        doc["properties"] = merged;
    }
    let mut input = match p.get("geometry") {
        Some(Value::Null) => return Err(bad("the geometry cannot be removed")),
        Some(g) => {
            doc["geometry"] = g.clone();
            let mut input = read_input(&meta, &doc, crs)?;
            check_validity(&mut tx, &meta, settings.repair_invalid, &mut input).await?;
            input
        }
        None => {
            doc["geometry"] = before.geojson["geometry"].clone();
            let mut input = read_input(&meta, &doc, Crs::Crs84)?;
            input.wkb = wkb_of(&before.feature.geom_lonlat())?;
            input
        }
    };
    input.attributes =
        rules::check_attributes(doc.get("properties"), &meta.field_types()).map_err(bad)?;
    let after = write_and_commit(
        &state,
        tx,
        &meta,
        fid,
        &input,
        Some(&before.geojson),
        Op::Update,
        &actor,
    )
    .await?;
    Ok(feature_response(StatusCode::OK, &after, None))
}

/// `DELETE /ogc/collections/{id}/items/{fid}`: 204.
pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    Collection { id, meta, .. }: Collection,
    Path((_, fid)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let actor = may_edit(&state, &principal, &id)?;
    let fid = fid_of(&id, &fid)?;
    let if_match = required_if_match(&headers)?;
    let (mut tx, _) = begin(&state, &id).await?;
    let before = current(&mut tx, &meta, fid, Some(&if_match))
        .await?
        .ok_or_else(|| no_feature(&id, fid))?;
    let lid = layer_id(&id)?;
    edits::delete(&mut *tx, lid, fid).await?;
    history::record(
        &mut *tx,
        NewEntry {
            layer: &id,
            fid,
            op: "delete",
            actor: &actor,
            at: crate::clock::now().with_timezone(&chrono::Utc),
            before: Some(&before.geojson),
            after: None,
        },
    )
    .await?;
    edits::announce(&mut *tx, lid, fid).await?;
    tx.commit().await?;
    patch_here(&state, &id, fid).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /ogc/collections/{id}/items/{fid}/history`: the feature's edits, oldest first.
pub async fn history_list(
    State(state): State<AppState>,
    principal: Principal,
    Collection { id, .. }: Collection,
    OgcBase(base): OgcBase,
    Path((_, fid)): Path<(String, String)>,
) -> ApiResult<Response> {
    may_edit(&state, &principal, &id)?;
    let fid = fid_of(&id, &fid)?;
    let entries = history::list(&state.pool, &id, fid).await?;
    if entries.is_empty() {
        return Err(ApiError::NotFound(format!(
            "feature {fid} of collection {id:?} has no recorded edits"
        )));
    }
    let item = format!("{base}/collections/{id}/items/{fid}");
    let versions: Vec<Value> = entries
        .iter()
        .map(|e| {
            json!({
                "version": e.version,
                "op": e.op,
                "actor": e.actor,
                "at": e.at,
                "before": e.before,
                "after": e.after,
                "restore": format!("{item}/history/{}/restore", e.version),
            })
        })
        .collect();
    let body = json!({
        "collection": id,
        "id": fid,
        "versions": versions,
        "links": [
            {"href": format!("{item}/history"), "rel": "self", "type": "application/json"},
            {"href": item, "rel": "item", "type": GEOJSON_TYPE},
        ],
    });
    Ok(super::json_response(&body, "application/json"))
}

/// `POST /ogc/collections/{id}/items/{fid}/history/{version}/restore`: writes the
/// feature as edit `version` left it (re-creating it if it was deleted since); an
/// `If-Match`, when sent, must match the current feature.
pub async fn restore(
    State(state): State<AppState>,
    principal: Principal,
    Collection { id, meta, .. }: Collection,
    Path((_, fid, version)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let actor = may_edit(&state, &principal, &id)?;
    let fid = fid_of(&id, &fid)?;
    let version: i32 = version
        .parse()
        .map_err(|_| ApiError::NotFound(format!("no version {version:?}")))?;
    let if_match = headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (mut tx, settings) = begin(&state, &id).await?;
    let entry = history::get(&mut *tx, &id, fid, version)
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "feature {fid} of collection {id:?} has no version {version}"
            ))
        })?;
    let Some(feature) = entry.after else {
        return Err(bad(format!(
            "version {version} deleted the feature; restore version {} to bring it back",
            version - 1
        )));
    };
    let before = current(&mut tx, &meta, fid, if_match.as_deref()).await?;
    let mut input = read_input(&meta, &feature, Crs::Crs84)
        .map_err(|e| bad(format!("version {version} no longer fits the layer: {e}")))?;
    check_validity(&mut tx, &meta, settings.repair_invalid, &mut input).await?;
    let before_json = before.map(|b| b.geojson);
    let after = write_and_commit(
        &state,
        tx,
        &meta,
        fid,
        &input,
        before_json.as_ref(),
        Op::Restore,
        &actor,
    )
    .await?;
    let location = format!(
        "{}/collections/{id}/items/{fid}",
        super::ogc_base(&headers, &state)
    );
    Ok(feature_response(StatusCode::OK, &after, Some(location)))
}

/// Adds the editing operations to the OpenAPI 3.0 document of `/ogc/api`.
pub fn document(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    let id = json!({"name": "collectionId", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^[a-z0-9_]+$"}});
    let fid =
        json!({"name": "featureId", "in": "path", "required": true, "schema": {"type": "integer"}});
    let if_match = json!({"name": "If-Match", "in": "header", "required": true, "description": "the feature's ETag (from GET …/items/{featureId}); 428 without, 412 when it changed meanwhile", "schema": {"type": "string"}});
    let content_crs = json!({"name": "Content-Crs", "in": "header", "required": false, "description": "the CRS of the body's geometry, as <URI> (default CRS84)", "schema": {"type": "string"}});
    let err = json!({"$ref": "#/components/responses/Error"});
    let feature = json!({"$ref": "#/components/schemas/Feature"});
    let errors = |mut m: serde_json::Map<String, Value>, codes: &[&str]| {
        for c in codes {
            m.insert((*c).to_string(), err.clone());
        }
        Value::Object(m)
    };
    let body = |types: &[&str]| {
        let content: serde_json::Map<String, Value> = types
            .iter()
            .map(|t| ((*t).to_string(), json!({"schema": feature.clone()})))
            .collect();
        json!({"required": true, "content": content})
    };
    let edited = || {
        let mut m = serde_json::Map::new();
        m.insert(
            "200".into(),
            json!({"description": "the feature as stored (header ETag)", "content": {GEOJSON_TYPE: {"schema": feature.clone()}}}),
        );
        m
    };
    let common = ["400", "401", "403", "404", "405", "415"];
    if let Some(items) = paths
        .get_mut("/collections/{collectionId}/items")
        .and_then(Value::as_object_mut)
    {
        let mut created = serde_json::Map::new();
        created.insert(
            "201".into(),
            json!({"description": "created; Location and ETag name it", "content": {GEOJSON_TYPE: {"schema": feature.clone()}}}),
        );
        items.insert("post".into(), json!({
            "summary": "add a feature (OGC API – Features – Part 4); administrators and department staff",
            "operationId": "createFeature",
            "parameters": [id.clone(), content_crs.clone()],
            "requestBody": body(&[GEOJSON_TYPE, "application/json"]),
            "responses": errors(created, &common),
        }));
    }
    if let Some(item) = paths
        .get_mut("/collections/{collectionId}/items/{featureId}")
        .and_then(Value::as_object_mut)
    {
        let params = json!([
            id.clone(),
            fid.clone(),
            if_match.clone(),
            content_crs.clone()
        ]);
        let precond = ["400", "401", "403", "404", "405", "412", "415", "428"];
        item.insert(
            "put".into(),
            json!({
                "summary": "replace a feature whole",
                "operationId": "replaceFeature",
                "parameters": params.clone(),
                "requestBody": body(&[GEOJSON_TYPE, "application/json"]),
                "responses": errors(edited(), &precond),
            }),
        );
        item.insert("patch".into(), json!({
            "summary": "change a feature by a JSON merge patch of geometry and properties (a property set to null is cleared)",
            "operationId": "updateFeature",
            "parameters": params,
            "requestBody": {"required": true, "content": {
                MERGE_PATCH_TYPE: {"schema": {"type": "object"}},
                GEOJSON_TYPE: {"schema": {"type": "object"}}}},
            "responses": errors(edited(), &precond),
        }));
        let mut gone = serde_json::Map::new();
        gone.insert("204".into(), json!({"description": "deleted"}));
        item.insert(
            "delete".into(),
            json!({
                "summary": "delete a feature",
                "operationId": "deleteFeature",
                "parameters": [id.clone(), fid.clone(), if_match],
                "responses": errors(gone, &["401", "403", "404", "405", "412", "428"]),
            }),
        );
    }
    let mut listed = serde_json::Map::new();
    listed.insert(
        "200".into(),
        json!({"description": "the edits, oldest first: version, op, actor, at, before, after", "content": {"application/json": {"schema": {"type": "object"}}}}),
    );
    paths.insert(
        "/collections/{collectionId}/items/{featureId}/history".into(),
        json!({"get": {
            "summary": "the edits of a feature (editors of the layer)",
            "operationId": "getFeatureHistory",
            "parameters": [id.clone(), fid.clone()],
            "responses": errors(listed, &["401", "403", "404"]),
        }}),
    );
    paths.insert(
        "/collections/{collectionId}/items/{featureId}/history/{version}/restore".into(),
        json!({"post": {
            "summary": "write back the feature as an edit left it (recorded as an edit)",
            "operationId": "restoreFeature",
            "parameters": [id, fid, {"name": "version", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 1}}],
            "responses": errors(edited(), &["400", "401", "403", "404", "405", "412"]),
        }}),
    );
}

/// How often the server prunes the history.
const PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// Prunes the history at start and then hourly: edits and replaced layer tables older
/// than their layer's retention (`citygrid layer set-retention`; else the configuration's
/// `history_retention_days`) at the service's clock. Every server
/// does it; the statements are idempotent.
pub async fn prune_history(state: AppState) {
    loop {
        let now = crate::clock::now().with_timezone(&chrono::Utc);
        match history::prune(&state.pool, now, state.config.history_retention_days).await {
            Ok(p) if p.edits > 0 || p.tables > 0 => {
                tracing::info!(edits = p.edits, tables = p.tables, "history pruned")
            }
            Ok(_) => {}
            Err(sqlx::Error::PoolClosed) => return,
            Err(e) => tracing::debug!(error = %e, "history not pruned (retrying later)"),
        }
        tokio::time::sleep(PRUNE_EVERY).await;
    }
}
