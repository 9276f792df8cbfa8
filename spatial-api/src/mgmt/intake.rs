//! Case intake: validate, locate, link the nearest component, find duplicates, route,
//! set the registration deadline, and insert the case with its first event in one
//! statement (the `cases` trigger writes the map row and sends the NOTIFY).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Datelike, FixedOffset};
use citygrid_grid_mgmt::catalog::Stage;
use citygrid_grid_mgmt::codes::{CategoryCode, CategoryKind, ComponentId};
use citygrid_grid_mgmt::deadline;
use citygrid_grid_mgmt::routing::{self, ComponentDepartments, RoutingRequest};
use citygrid_tiles::schema::PropValue;
use geo::Point;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use sqlx::PgPool;

use super::cases::{push_visibility, visibility, Visibility};
use super::common::{bad, now, parse_time, ActorInfo};
use super::locate::{self, Located};
use super::reference::Reference;
use crate::auth::{Principal, Role};
use crate::error::{ApiError, ApiResult};
use crate::layers::LayerStore;
use crate::state::AppState;

/// A linked component is at most this far from the case point.
pub const COMPONENT_RADIUS_M: f64 = 15.0;
/// Open cases of the same category within this distance are reported as duplicates.
pub const DUPLICATE_RADIUS_M: f64 = 10.0;
/// The longest description (Open311's limit).
pub const MAX_DESCRIPTION: usize = 4000;

/// The sources a case can come from.
pub const SOURCES: [&str; 8] = [
    "inspector",
    "public",
    "hotline",
    "open311",
    "video",
    "sensor",
    "superior",
    "console",
];

/// Everything intake needs, already validated.
#[derive(Debug, Clone)]
pub struct IntakeInput {
    /// Category.
    pub category: CategoryCode,
    /// WGS84 longitude.
    pub lon: f64,
    /// WGS84 latitude.
    pub lat: f64,
    /// Free text.
    pub description: Option<String>,
    /// Address as given.
    pub address: Option<String>,
    /// One of [`SOURCES`].
    pub source: String,
    /// A component named by the reporter.
    pub component_id: Option<ComponentId>,
    /// Reporter's name.
    pub reporter_name: Option<String>,
    /// Reporter's contact (phone, email).
    pub reporter_contact: Option<String>,
    /// The API key of an Open311 client.
    pub api_key_id: Option<i64>,
    /// When it was reported.
    pub reported_at: DateTime<FixedOffset>,
    /// Extra attributes.
    pub attributes: Value,
    /// A photo URL (Open311 `media_url`).
    pub media_url: Option<String>,
    /// Who reports.
    pub actor: ActorInfo,
    /// An Open311 token to store with the case.
    pub token: Option<String>,
}

/// The outcome of intake.
#[derive(Debug, Clone)]
pub struct IntakeResult {
    /// `cases.id`.
    pub id: i64,
    /// `2025-000123`.
    pub case_no: String,
    /// The response body.
    pub body: Value,
}

/// Degrees of latitude that surely cover `m` metres (with a 20 % margin).
fn degrees_lat(m: f64) -> f64 {
    m / 111_000.0 * 1.2
}

/// Degrees of longitude that surely cover `m` metres at latitude `lat`.
fn degrees_lon(m: f64, lat: f64) -> f64 {
    let c = lat.to_radians().cos().max(0.01);
    (m / 111_000.0 * 1.2 / c).min(360.0)
}

/// The component found for a case.
#[derive(Debug, Clone)]
struct FoundComponent {
    id: String,
    maintaining: Option<String>,
    owning: Option<String>,
    distance_m: Option<f64>,
}

fn prop_text(p: Option<&PropValue>) -> Option<String> {
    match p {
        Some(PropValue::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

fn nearest_in_memory(
    store: &LayerStore,
    category: &str,
    lon: f64,
    lat: f64,
) -> Option<Option<FoundComponent>> {
    let layer = store.get("components")?;
    let index = layer.index.read().ok()?;
    let schema = index.schema();
    let (cid, cat, maint, own) = (
        schema.position("component_id")?,
        schema.position("category_code")?,
        schema.position("maintaining_department")?,
        schema.position("owning_department")?,
    );
    let near = index
        .nearest_lonlat(lon, lat, 32, COMPONENT_RADIUS_M)
        .ok()?;
    Some(
        near.into_iter()
            .find(|n| prop_text(n.feature.props.get(cat)).as_deref() == Some(category))
            .and_then(|n| {
                Some(FoundComponent {
                    id: prop_text(n.feature.props.get(cid))?,
                    maintaining: prop_text(n.feature.props.get(maint)),
                    owning: prop_text(n.feature.props.get(own)),
                    distance_m: Some(n.distance_m),
                })
            }),
    )
}

type ComponentRow = (String, Option<String>, Option<String>, f64);

async fn nearest_in_db(
    pool: &PgPool,
    category: &str,
    lon: f64,
    lat: f64,
) -> Result<Option<FoundComponent>, ApiError> {
    let row: Option<ComponentRow> = sqlx::query_as(
        "WITH pt AS (SELECT ST_SetSRID(ST_MakePoint($2, $3), 4326) AS g) \
         SELECT component_id, maintaining_department, owning_department, \
                ST_Distance(c.geom::geography, pt.g::geography) AS d \
         FROM layers.components c, pt \
         WHERE c.category_code = $1 AND c.geom && ST_Expand(pt.g, $5, $6) \
           AND ST_DWithin(c.geom::geography, pt.g::geography, $4) \
         ORDER BY d LIMIT 1",
    )
    .bind(category)
    .bind(lon)
    .bind(lat)
    .bind(COMPONENT_RADIUS_M)
    .bind(degrees_lon(COMPONENT_RADIUS_M, lat))
    .bind(degrees_lat(COMPONENT_RADIUS_M))
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(id, maintaining, owning, d)| FoundComponent {
        id,
        maintaining,
        owning,
        distance_m: Some(d),
    }))
}

async fn named_component(
    pool: &PgPool,
    id: &ComponentId,
    lon: f64,
    lat: f64,
) -> Result<FoundComponent, ApiError> {
    let row: Option<ComponentRow> = sqlx::query_as(
        "SELECT component_id, maintaining_department, owning_department, \
                ST_Distance(geom::geography, ST_SetSRID(ST_MakePoint($2, $3), 4326)::geography) \
         FROM layers.components WHERE component_id = $1",
    )
    .bind(id.as_str())
    .bind(lon)
    .bind(lat)
    .fetch_optional(pool)
    .await?;
    let (id, maintaining, owning, d) = row.ok_or_else(|| {
        ApiError::Unprocessable(format!("component {id} is not in the component inventory"))
    })?;
    Ok(FoundComponent {
        id,
        maintaining,
        owning,
        distance_m: Some(d),
    })
}

/// The deadline of `stage` for `category` counted from `from` (no pauses).
pub fn stage_deadline(
    reference: &Reference,
    category: &CategoryCode,
    stage: Stage,
    from: DateTime<FixedOffset>,
) -> Result<DateTime<FixedOffset>, ApiError> {
    let limit = reference.time_limit(category, stage);
    deadline::deadline(from, limit, &reference.calendar, &[])
        .map_err(|e| ApiError::Unprocessable(format!("cannot compute the deadline: {e}")))
}

/// Takes in one case (HTTP and Open311 share this path).
pub async fn intake(
    pool: &PgPool,
    store: Option<&LayerStore>,
    reference: &Reference,
    input: IntakeInput,
) -> Result<IntakeResult, ApiError> {
    let category = reference.category(&input.category).ok_or_else(|| {
        ApiError::Unprocessable(format!(
            "category {} is not in the catalogue (see GET /api/categories)",
            input.category
        ))
    })?;
    let code = category.code;
    let (lon, lat) = (input.lon, input.lat);
    let located: Located = locate::locate(store, pool, lon, lat).await?;
    let Some(grid) = located.grid_code() else {
        return Err(ApiError::Unprocessable(format!(
            "the point ({lon}, {lat}) lies outside every unit grid: this installation manages no area there"
        )));
    };
    let place = located.place();

    let component = match (&input.component_id, code.kind) {
        (Some(id), _) => Some(named_component(pool, id, lon, lat).await?),
        (None, CategoryKind::Component) => {
            let cat = code.to_string();
            match store.and_then(|s| nearest_in_memory(s, &cat, lon, lat)) {
                Some(Some(found)) => Some(found),
                _ => nearest_in_db(pool, &cat, lon, lat).await?,
            }
        }
        (None, CategoryKind::Event) => None,
    };

    let departments = component.as_ref().map(|c| ComponentDepartments {
        id: c.id.parse().ok(),
        maintaining: c.maintaining.clone(),
        owning: c.owning.clone(),
    });
    let request = RoutingRequest {
        category: code,
        place: &place,
        point: Some(Point::new(lon, lat)),
        component: departments.as_ref(),
        at: input.reported_at,
    };
    let (routed, routing_json) = match routing::route(
        &request,
        &reference.rules,
        &reference.defaults,
    ) {
        Ok(d) => (
            Some(d.department.clone()),
            json!({"department": d.department, "reason": d.reason, "explanation": d.reason.to_string()}),
        ),
        Err(e) => (None, json!({"department": null, "error": e.to_string()})),
    };
    let registration_due =
        stage_deadline(reference, &code, Stage::Registration, input.reported_at)?;
    let year = input
        .reported_at
        .with_timezone(&reference.calendar.offset())
        .year();

    let component_json = component
        .as_ref()
        .map(|c| json!({"component_id": c.id, "distance_m": c.distance_m.map(|d| (d * 100.0).round() / 100.0)}));
    let detail = json!({
        "routing": routing_json,
        "component": component_json,
        "registration_due": registration_due,
        "source": input.source,
    });
    let role = input
        .actor
        .role
        .map(|r| r.as_str().to_string())
        .unwrap_or_else(|| "public".into());
    let department = input.actor.actor.department.clone();
    let row: (i64, String, Value) = sqlx::query_as(
        "WITH pt AS (SELECT ST_SetSRID(ST_MakePoint($1, $2), 4326) AS g), \
         nid AS (SELECT nextval('cases_id_seq') AS id), \
         dup AS ( \
           SELECT coalesce(jsonb_agg(jsonb_build_object('id', c.id, 'case_no', c.case_no, \
                    'status', c.status, 'distance_m', \
                    round(ST_Distance(c.geom::geography, pt.g::geography)::numeric, 2)) \
                  ORDER BY ST_Distance(c.geom::geography, pt.g::geography)), '[]'::jsonb) AS list \
           FROM cases c, pt \
           WHERE c.category = $3 AND c.status NOT IN ('closed', 'voided') \
             AND c.geom && ST_Expand(pt.g, $29, $30) \
             AND ST_DWithin(c.geom::geography, pt.g::geography, $4)), \
         ins AS ( \
           INSERT INTO cases (id, case_no, source, reporter_user_id, reporter_name, reporter_contact, \
               api_key_id, description, address, attributes, media_url, geom, category, grid_code, \
               community_code, street_code, admin_code, component_id, routed_department, routing, \
               status, reported_at, registration_due, due_at, updated_at) \
           SELECT nid.id, \
               $5 || '-' || CASE WHEN nid.id >= 1000000 THEN nid.id::text ELSE lpad(nid.id::text, 6, '0') END, \
               $6, $7, $8, $9, $10, $11, $12, $13, $14, pt.g, $3, $15, $16, $17, $18, $19, $20, $21, \
               'reported', $22, $23, $23, now() \
           FROM nid, pt RETURNING id, case_no), \
         ev AS ( \
           INSERT INTO case_events (case_id, at, actor, actor_user_id, role, department, action, \
               from_state, to_state, note, detail) \
           SELECT id, $22, $24, $7, $25, $26, 'report', NULL, 'reported', $11, \
                  $27::jsonb || jsonb_build_object('duplicates', (SELECT list FROM dup)) \
           FROM ins RETURNING id), \
         tok AS (INSERT INTO open311_tokens (token, case_id) SELECT $28, id FROM ins \
                 WHERE $28::text IS NOT NULL RETURNING token) \
         SELECT ins.id, ins.case_no, dup.list FROM ins, dup \
         WHERE (SELECT count(*) FROM ev) = 1 AND (SELECT count(*) FROM tok) >= 0",
    )
    .bind(lon) // 1
    .bind(lat) // 2
    .bind(code.to_string()) // 3
    .bind(DUPLICATE_RADIUS_M) // 4
    .bind(year.to_string()) // 5
    .bind(&input.source) // 6
    .bind(input.actor.user_id) // 7
    .bind(&input.reporter_name) // 8
    .bind(&input.reporter_contact) // 9
    .bind(input.api_key_id) // 10
    .bind(&input.description) // 11
    .bind(&input.address) // 12
    .bind(&input.attributes) // 13
    .bind(&input.media_url) // 14
    .bind(grid.as_str()) // 15
    .bind(grid.community_key()) // 16
    .bind(grid.street_key()) // 17
    .bind(grid.admin().as_str().to_string()) // 18
    .bind(component.as_ref().map(|c| c.id.clone())) // 19
    .bind(&routed) // 20
    .bind(&routing_json) // 21
    .bind(input.reported_at) // 22
    .bind(registration_due) // 23
    .bind(&input.actor.label) // 24
    .bind(&role) // 25
    .bind(&department) // 26
    .bind(&detail) // 27
    .bind(&input.token) // 28
    .bind(degrees_lon(DUPLICATE_RADIUS_M, lat)) // 29
    .bind(degrees_lat(DUPLICATE_RADIUS_M)) // 30
    .fetch_one(pool)
    .await
    .map_err(|e| super::common::constraint_error(e, "the case"))?;
    let (id, case_no, duplicates) = row;
    let body = json!({
        "id": id,
        "case_no": case_no,
        "status": "reported",
        "category": code.to_string(),
        "lon": lon,
        "lat": lat,
        "grid_code": grid.as_str(),
        "community_code": grid.community_key(),
        "street_code": grid.street_key(),
        "admin_code": grid.admin().as_str(),
        "place": {
            "grid": located.grid,
            "community": located.community,
            "street": located.street,
            "admin_division": located.admin,
        },
        "component": component_json,
        "duplicates": duplicates,
        "routing": routing_json,
        "routed_department": routed,
        "reported_at": input.reported_at,
        "registration_due": registration_due,
        "token": input.token,
    });
    Ok(IntakeResult { id, case_no, body })
}

/// Body of `POST /api/cases`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[derive(utoipa::ToSchema)]
pub struct NewCase {
    /// `P0101`, `E0505`…
    pub category: String,
    /// Longitude.
    pub lon: f64,
    /// Latitude.
    pub lat: f64,
    /// CRS of lon/lat: EPSG:4326 (default), EPSG:4490, gcj02, bd09.
    pub crs: Option<String>,
    /// Free text (≤ 4000 characters).
    pub description: Option<String>,
    /// Address as told.
    pub address: Option<String>,
    /// Where it came from (default: inspector for inspectors, console for staff).
    pub source: Option<String>,
    /// A component id read from its label.
    pub component_id: Option<String>,
    /// Reporter's name (hotline calls).
    pub reporter_name: Option<String>,
    /// Reporter's contact.
    pub reporter_contact: Option<String>,
    /// When the problem was reported, if earlier than now (staff only; ≤ 366 days ago).
    pub reported_at: Option<String>,
    /// Extra attributes.
    pub attributes: Option<Map<String, Value>>,
}

fn limited(field: &str, v: Option<String>, max: usize) -> Result<Option<String>, ApiError> {
    match v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()) {
        Some(s) if s.chars().count() > max => {
            Err(bad(format!("{field} must be at most {max} characters")))
        }
        other => Ok(other),
    }
}

/// Checks a backdated report time: not in the future, at most 366 days ago.
pub fn check_past(field: &str, t: DateTime<FixedOffset>) -> Result<(), ApiError> {
    let n = now();
    if t > n + chrono::Duration::seconds(60) {
        return Err(bad(format!("{field} is in the future")));
    }
    if t < n - chrono::Duration::days(366) {
        return Err(bad(format!("{field} is more than 366 days ago")));
    }
    Ok(())
}

/// Whether a caller of `role` may label its report with `source`: `open311` is set
/// only by Open311 requests, `inspector` only by inspectors, who report what they
/// saw themselves and nothing else; the supervision centre records the other ways a
/// report reached it.
pub fn may_label(role: Option<Role>, source: &str) -> Result<(), &'static str> {
    let inspector = role == Some(Role::Inspector);
    match source {
        "open311" => Err("the source open311 is set by Open311 requests only"),
        "inspector" if !inspector => Err("the source inspector is set by inspectors only"),
        "inspector" => Ok(()),
        _ if inspector => Err("an inspector's reports have the source inspector"),
        _ => Ok(()),
    }
}

/// Drops from a new case's `duplicates` the cases the caller may not open.
async fn keep_visible_duplicates(
    pool: &PgPool,
    visible: &Visibility,
    body: &mut Value,
) -> Result<(), ApiError> {
    if matches!(visible, Visibility::All) {
        return Ok(());
    }
    let Some(list) = body.get_mut("duplicates").and_then(Value::as_array_mut) else {
        return Ok(());
    };
    let ids: Vec<i64> = list.iter().filter_map(|d| d["id"].as_i64()).collect();
    if ids.is_empty() {
        return Ok(());
    }
    let mut qb: sqlx::QueryBuilder<sqlx::Postgres> =
        sqlx::QueryBuilder::new("SELECT c.id FROM cases c WHERE c.id = ANY(");
    qb.push_bind(ids).push(")");
    push_visibility(&mut qb, visible);
    let open: Vec<i64> = qb.build_query_scalar().fetch_all(pool).await?;
    list.retain(|d| d["id"].as_i64().is_some_and(|id| open.contains(&id)));
    Ok(())
}

/// `POST /api/cases` (inspectors, acceptors, shift leaders, dispatchers, admins).
pub async fn create_case(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<NewCase>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let actor = ActorInfo::of(&principal);
    let category: CategoryCode = body.category.trim().parse().map_err(bad)?;
    let (lon, lat) = locate::to_wgs84(body.lon, body.lat, body.crs.as_deref())?;
    let source = match body.source.as_deref().map(str::trim) {
        Some(s) if SOURCES.contains(&s) => s.to_string(),
        Some(s) => {
            return Err(bad(format!(
                "source {s:?} is not one of {}",
                SOURCES.join(", ")
            )))
        }
        None if actor.role == Some(Role::Inspector) => "inspector".into(),
        None => "console".into(),
    };
    if let Err(why) = may_label(actor.role, &source) {
        return Err(ApiError::Forbidden(why.to_string()));
    }
    let visible = visibility(&principal)?;
    let reported_at = match body.reported_at.as_deref() {
        Some(s) => {
            if actor.role == Some(Role::Inspector) {
                return Err(ApiError::Forbidden(
                    "inspectors report with the current time; reported_at is for the supervision centre".into(),
                ));
            }
            let t = parse_time("reported_at", s)?;
            check_past("reported_at", t)?;
            t
        }
        None => now(),
    };
    let component_id = body
        .component_id
        .as_deref()
        .map(|s| s.trim().parse::<ComponentId>())
        .transpose()
        .map_err(bad)?;
    let reference = state.mgmt.reference.get(&state.pool).await?;
    let input = IntakeInput {
        category,
        lon,
        lat,
        description: limited("description", body.description, MAX_DESCRIPTION)?,
        address: limited("address", body.address, 500)?,
        source,
        component_id,
        reporter_name: limited("reporter_name", body.reporter_name, 200)?,
        reporter_contact: limited("reporter_contact", body.reporter_contact, 200)?,
        api_key_id: None,
        reported_at,
        attributes: Value::Object(body.attributes.unwrap_or_default()),
        media_url: None,
        actor,
        token: None,
    };
    if input.attributes.to_string().len() > 16 * 1024 {
        return Err(bad("attributes must be at most 16 KiB of JSON"));
    }
    let source = input.source.clone();
    let mut result = intake(&state.pool, Some(&state.layers), &reference, input).await?;
    // The duplicates listed are only the cases the caller may open.
    keep_visible_duplicates(&state.pool, &visible, &mut result.body).await?;
    state.metrics.case_reported(&source);
    Ok((StatusCode::CREATED, Json(result.body)))
}
