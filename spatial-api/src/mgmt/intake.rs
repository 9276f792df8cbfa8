//! Case intake: validate, locate, link the nearest component, find duplicates, route,
//! set the registration deadline, and insert the case with its first event in one
//! statement (the `cases` trigger writes the map row and queues the change notice).
//! The nearest-component search of a component category runs in that statement too
//! when the in-memory components layer has none: one round trip per case.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, FixedOffset};
use citygrid_grid_mgmt::codes::{CategoryCode, CategoryKind, ComponentId};
pub use citygrid_grid_mgmt::intake::{
    may_label, COMPONENT_RADIUS_M, DUPLICATE_RADIUS_M, MAX_DESCRIPTION, SOURCES,
};
use citygrid_grid_mgmt::intake::{plan, IntakeRequest};
use citygrid_grid_mgmt::routing::ComponentDepartments;
use citygrid_grid_mgmt::step;
use citygrid_store::cases as case_store;
use citygrid_store::PgPool;
use citygrid_tiles::schema::PropRef;
use geo::Point;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::cases::{visibility, Visibility};
use super::common::{bad, now, parse_time, ActorInfo};
use super::idempotency::{self, KeyedRequest};
use super::locate::{self, Located};
use super::reference::Reference;
use crate::auth::{Principal, Role};
use crate::error::{ApiError, ApiResult};
use crate::layers::LayerStore;
use crate::state::AppState;

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
    /// Who may open which cases: the new case's `duplicates` list only those.
    pub visible_to: Visibility,
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
    /// Whether this is the stored response of an earlier request with the same
    /// `Idempotency-Key` (nothing was written).
    pub replayed: bool,
}

/// The component found for a case.
#[derive(Debug, Clone)]
struct FoundComponent {
    id: String,
    maintaining: Option<String>,
    owning: Option<String>,
    distance_m: Option<f64>,
}

fn prop_text(p: Option<PropRef<'_>>) -> Option<String> {
    match p {
        Some(PropRef::String(s)) if !s.is_empty() => Some(s.to_string()),
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
            .find(|n| prop_text(n.feature.prop(cat)).as_deref() == Some(category))
            .and_then(|n| {
                Some(FoundComponent {
                    id: prop_text(n.feature.prop(cid))?,
                    maintaining: prop_text(n.feature.prop(maint)),
                    owning: prop_text(n.feature.prop(own)),
                    distance_m: Some(n.distance_m),
                })
            }),
    )
}

fn found(c: case_store::NearComponent) -> FoundComponent {
    FoundComponent {
        id: c.id,
        maintaining: c.maintaining,
        owning: c.owning,
        distance_m: Some(c.distance_m),
    }
}

async fn named_component(
    pool: &PgPool,
    id: &ComponentId,
    lon: f64,
    lat: f64,
) -> Result<FoundComponent, ApiError> {
    case_store::component_at_distance(pool, id.as_str(), lon, lat)
        .await?
        .map(found)
        .ok_or_else(|| {
            ApiError::Unprocessable(format!("component {id} is not in the component inventory"))
        })
}

/// The stored response of a key's first request, as an intake result.
fn replay(stored: citygrid_store::idempotency::Stored) -> IntakeResult {
    let case_no = stored.response["case_no"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    IntakeResult {
        id: stored
            .case_id
            .or_else(|| stored.response["id"].as_i64())
            .unwrap_or_default(),
        case_no,
        body: stored.response,
        replayed: true,
    }
}

/// Takes in one case (HTTP and Open311 share this path). With an `Idempotency-Key`
/// (`keyed`), the key is claimed in the case's statement; a key already taken by the
/// same request gives its stored response back (also when this attempt is refused
/// now, e.g. a category retired since), by another request 422.
pub async fn intake(
    pool: &PgPool,
    store: Option<&LayerStore>,
    reference: &Reference,
    input: IntakeInput,
    keyed: Option<&KeyedRequest>,
) -> Result<IntakeResult, ApiError> {
    match take_in(pool, store, reference, input, keyed).await {
        Ok(r) => Ok(r),
        Err(e) => match keyed {
            // refused now: was it taken in before?
            Some(k) if !matches!(e, ApiError::Unavailable) => {
                match idempotency::stored(pool, k).await {
                    Ok(Some(stored)) => Ok(replay(stored)),
                    Ok(None) => Err(e),
                    Err(other) => Err(other),
                }
            }
            _ => Err(e),
        },
    }
}

async fn take_in(
    pool: &PgPool,
    store: Option<&LayerStore>,
    reference: &Reference,
    input: IntakeInput,
    keyed: Option<&KeyedRequest>,
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

    let category_text = code.to_string();
    // The component: one named by the reporter (read from the inventory), else for a
    // component category the nearest one within the radius. The in-memory components
    // layer answers when it has one; when it has none (or is not loaded), the case is
    // planned without a component and the insert statement itself searches the
    // inventory: the case is written only if there is none there either, else the
    // statement returns the one it found and the case is planned again with it (the
    // second round trip happens only when the memory lags behind the inventory).
    let (mut component, mut unless_component) = match (&input.component_id, code.kind) {
        (Some(id), _) => (Some(named_component(pool, id, lon, lat).await?), None),
        (None, CategoryKind::Component) => {
            match store.and_then(|s| nearest_in_memory(s, &category_text, lon, lat)) {
                Some(Some(found)) => (Some(found), None),
                _ => (None, Some(category_text.as_str())),
            }
        }
        (None, CategoryKind::Event) => (None, None),
    };

    loop {
        let departments = component.as_ref().map(|c| ComponentDepartments {
            id: c.id.parse().ok(),
            maintaining: c.maintaining.clone(),
            owning: c.owning.clone(),
        });
        let planned = plan(
            reference,
            &IntakeRequest {
                category: code,
                place: &place,
                point: Some(Point::new(lon, lat)),
                component: departments.as_ref(),
                reported_at: input.reported_at,
            },
        )
        .map_err(|e| ApiError::Unprocessable(format!("cannot compute the deadline: {e}")))?;
        let (routed, routing_json, registration_due) = (
            planned.routed_department,
            planned.routing,
            planned.registration_due,
        );

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
        // The response, whose id, case number and duplicates the insert fills in (and
        // stores with the idempotency key).
        let mut body = json!({
            "id": null,
            "case_no": null,
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
            "duplicates": [],
            "routing": routing_json,
            "routed_department": routed,
            "reported_at": input.reported_at,
            "registration_due": registration_due,
            "token": input.token,
        });
        let inserted = case_store::insert(
            pool,
            &case_store::NewCase {
                lon,
                lat,
                category: &category_text,
                duplicate_radius_m: DUPLICATE_RADIUS_M,
                year: planned.year,
                source: &input.source,
                reporter_user_id: input.actor.user_id,
                reporter_name: input.reporter_name.as_deref(),
                reporter_contact: input.reporter_contact.as_deref(),
                api_key_id: input.api_key_id,
                description: input.description.as_deref(),
                address: input.address.as_deref(),
                attributes: &input.attributes,
                media_url: input.media_url.as_deref(),
                grid_code: grid.as_str(),
                community_code: grid.community_key(),
                street_code: grid.street_key(),
                admin_code: grid.admin().as_str(),
                component_id: component.as_ref().map(|c| c.id.as_str()),
                routed_department: routed.as_deref(),
                routing: &routing_json,
                reported_at: input.reported_at,
                registration_due,
                actor_label: &input.actor.label,
                role: &role,
                department: department.as_deref(),
                detail: &detail,
                token: input.token.as_deref(),
                idempotency: keyed.map(|k| (k.claim(), &body)),
                visible_to: &input.visible_to,
                unless_component: unless_component.map(|c| (c, COMPONENT_RADIUS_M)),
            },
        )
        .await
        .map_err(|e| super::common::constraint_error(e, "the case"))?;
        return match inserted {
            case_store::Inserted::Case {
                id,
                case_no,
                mut duplicates,
                visible_duplicates,
            } => {
                // The duplicates listed are only the cases the caller may open (the event
                // keeps them all).
                if let Some(list) = duplicates.as_array_mut() {
                    list.retain(|d| {
                        d["id"]
                            .as_i64()
                            .is_some_and(|id| visible_duplicates.contains(&id))
                    });
                }
                if let Some(o) = body.as_object_mut() {
                    o.insert("id".into(), json!(id));
                    o.insert("case_no".into(), json!(case_no));
                    o.insert("duplicates".into(), duplicates);
                }
                Ok(IntakeResult {
                    id,
                    case_no,
                    body,
                    replayed: false,
                })
            }
            case_store::Inserted::KeyTaken => match keyed {
                Some(k) => Ok(replay(idempotency::taken(pool, k).await?)),
                None => Err(ApiError::Internal(
                    "the case insert claimed no key yet found one taken".into(),
                )),
            },
            case_store::Inserted::ComponentFound(near) if unless_component.is_some() => {
                // the inventory has one the memory did not: plan again with it
                component = Some(found(near));
                unless_component = None;
                continue;
            }
            case_store::Inserted::ComponentFound(_) => Err(ApiError::Internal(
                "the case insert found a component it was not asked to search".into(),
            )),
        };
    }
}

/// Body of `POST /api/cases`.
#[derive(Debug, Deserialize, Serialize)]
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
fn check_past(field: &'static str, t: DateTime<FixedOffset>) -> Result<(), ApiError> {
    step::check_past(field, t, now()).map_err(bad)
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
    let open = case_store::visible_among(pool, visible, ids).await?;
    list.retain(|d| d["id"].as_i64().is_some_and(|id| open.contains(&id)));
    Ok(())
}

/// `POST /api/cases` (inspectors, acceptors, shift leaders, dispatchers, admins), with
/// an optional `Idempotency-Key` (see [`idempotency`]).
pub async fn create_case(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Json(body): Json<NewCase>,
) -> ApiResult<Response> {
    let keyed = match (
        idempotency::key_from(&headers)?,
        idempotency::owner(&principal),
    ) {
        (Some(key), Some(owner)) => {
            let canonical = serde_json::to_value(&body)
                .map(|v| idempotency::canonical_json(&v))
                .map_err(|e| ApiError::Internal(format!("case body as JSON: {e}")))?;
            Some(KeyedRequest {
                principal: owner,
                key,
                hash: idempotency::request_hash("POST /api/cases", &canonical),
            })
        }
        (Some(_), None) => {
            return Err(ApiError::Unauthorized(
                "Idempotency-Key needs a signed-in caller".into(),
            ))
        }
        (None, _) => None,
    };
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
        // A case reported without an address keeps what is near ("near 沿江大道188号").
        address: limited("address", body.address, 500)?
            .or_else(|| crate::geocode::near_label(&state.geocoder, lon, lat)),
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
        visible_to: visible.clone(),
    };
    if input.attributes.to_string().len() > 16 * 1024 {
        return Err(bad("attributes must be at most 16 KiB of JSON"));
    }
    let source = input.source.clone();
    let mut result = intake(
        &state.pool,
        Some(&state.layers),
        &reference,
        input,
        keyed.as_ref(),
    )
    .await?;
    // A replay's stored duplicates are all of them: only those the caller may open
    // (a new case's are filtered in its statement).
    if result.replayed {
        keep_visible_duplicates(&state.pool, &visible, &mut result.body).await?;
    }
    let mut response = (StatusCode::CREATED, Json(result.body)).into_response();
    if result.replayed {
        idempotency::mark_replayed(response.headers_mut());
    } else {
        state.metrics.case_reported(&source);
    }
    Ok(response)
}
