//! Open311 GeoReport v2 (JSON and XML, through grid-mgmt's `open311` module). Every
//! route is public; `POST requests` needs an `api_key` form field (a key from
//! `citygrid key create --scopes open311:write`), held to the key's origins and rate
//! limit like any other use of the key, and goes through the same intake as
//! `POST /api/cases`.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::DateTime;
use citygrid_grid_mgmt::codes::CategoryCode;
use citygrid_grid_mgmt::open311::{
    self as o311, CaseSummary, ErrorItem, Format, Lang, Open311Error, RequestCreated,
};
use citygrid_grid_mgmt::workflow::CaseState;
use citygrid_store::open311::{self as store, RequestFilter, Status, SummaryRow};
use serde::Deserialize;
use serde_json::json;

use super::common::{now, ActorInfo};
use super::idempotency::{self, KeyedRequest};
use super::intake::{intake, IntakeInput};
use crate::auth::secret::new_secret;
use crate::auth::{Access, KeyScope, Principal};
use crate::error::ApiError;
use crate::router::RouteTable;
use crate::state::AppState;

/// The Open311 routes.
pub fn routes(t: RouteTable) -> RouteTable {
    t.add(Method::GET, "/open311/v2/{file}", Access::Public, get(top))
        .add(
            Method::POST,
            "/open311/v2/{file}",
            Access::Public,
            axum::routing::post(post_request),
        )
        .add(
            Method::GET,
            "/open311/v2/services/{file}",
            Access::Public,
            get(service),
        )
        .add(
            Method::GET,
            "/open311/v2/requests/{file}",
            Access::Public,
            get(request),
        )
        .add(
            Method::GET,
            "/open311/v2/tokens/{file}",
            Access::Public,
            get(token),
        )
}

fn split(file: &str) -> Option<(&str, Format)> {
    let (stem, ext) = file.rsplit_once('.')?;
    Some((stem, Format::from_extension(ext)?))
}

fn reply(status: StatusCode, format: Format, body: String) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    r
}

fn error(format: Format, status: StatusCode, description: impl Into<String>) -> Response {
    let item = ErrorItem {
        code: status.as_u16(),
        description: description.into(),
    };
    reply(status, format, o311::render_errors(&[item], format))
}

fn api_error(format: Format, e: ApiError) -> Response {
    let status = match e.status() {
        StatusCode::UNPROCESSABLE_ENTITY | StatusCode::CONFLICT => StatusCode::BAD_REQUEST,
        s => s,
    };
    let text = e.to_string();
    if let ApiError::Internal(d) = &e {
        tracing::error!(detail = %d, "internal error in Open311");
    }
    error(format, status, text)
}

fn not_found(file: &str) -> Response {
    error(
        Format::Json,
        StatusCode::NOT_FOUND,
        format!("no Open311 resource {file:?}: use a .json or .xml suffix"),
    )
}

/// Query parameters of Open311 GETs.
#[derive(Debug, Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct O311Query {
    service_request_id: Option<String>,
    service_code: Option<String>,
    start_date: Option<String>,
    end_date: Option<String>,
    status: Option<String>,
    locale: Option<String>,
    jurisdiction_id: Option<String>,
}

fn lang(q: &O311Query) -> Lang {
    match q.locale.as_deref() {
        Some(l) if l.to_ascii_lowercase().starts_with("en") => Lang::En,
        _ => Lang::Zh,
    }
}

async fn top(
    State(state): State<AppState>,
    Path(file): Path<String>,
    headers: HeaderMap,
    q: Result<Query<O311Query>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Some((stem, format)) = split(&file) else {
        return not_found(&file);
    };
    let q = match q {
        Ok(Query(q)) => q,
        Err(e) => return error(format, StatusCode::BAD_REQUEST, e.body_text()),
    };
    let _ = &q.jurisdiction_id;
    match stem {
        "discovery" => {
            let base = crate::extract::base_url(&headers, &state);
            let d = o311::discovery(
                &format!("{base}/open311/v2"),
                "citygrid supervision centre",
                "API keys are issued by the city's administrators (citygrid key create)",
                DateTime::parse_from_rfc3339("2025-01-01T00:00:00+08:00").unwrap_or_else(|_| now()),
            );
            reply(StatusCode::OK, format, o311::render_discovery(&d, format))
        }
        "services" => match state.mgmt.reference.get(&state.pool).await {
            Ok(r) => reply(
                StatusCode::OK,
                format,
                o311::render_services(&o311::services(&r.catalog, lang(&q)), format),
            ),
            Err(e) => api_error(format, e),
        },
        "requests" => match list_requests(&state, &q, format).await {
            Ok(r) => r,
            Err(e) => api_error(format, e),
        },
        _ => not_found(&file),
    }
}

async fn service(State(state): State<AppState>, Path(file): Path<String>) -> Response {
    let Some((code, format)) = split(&file) else {
        return not_found(&file);
    };
    let Ok(code) = code.parse::<CategoryCode>() else {
        return error(format, StatusCode::NOT_FOUND, format!("no service {code}"));
    };
    match state.mgmt.reference.get(&state.pool).await {
        Ok(r) => match o311::service_definition(&r.catalog, &code) {
            Some(def) => reply(
                StatusCode::OK,
                format,
                o311::render_service_definition(&def, format),
            ),
            None => error(format, StatusCode::NOT_FOUND, format!("no service {code}")),
        },
        Err(e) => api_error(format, e),
    }
}

fn summary(r: SummaryRow) -> Option<CaseSummary> {
    let state = CaseState::ALL.into_iter().find(|s| s.as_str() == r.1)?;
    Some(CaseSummary {
        id: r.0,
        state,
        category: r.2.parse().ok()?,
        description: r.3,
        department_name: r.4,
        last_public_note: r.5,
        reported_at: r.6.fixed_offset(),
        updated_at: Some(r.7.fixed_offset()),
        handling_deadline: r.8.map(|t| t.fixed_offset()),
        address: r.9,
        lat: Some(r.10),
        lon: Some(r.11),
        media_url: r.12,
    })
}

async fn render_rows(
    state: &AppState,
    rows: Vec<SummaryRow>,
    format: Format,
    lang: Lang,
) -> Result<Response, ApiError> {
    let reference = state.mgmt.reference.get(&state.pool).await?;
    let requests: Vec<_> = rows
        .into_iter()
        .filter_map(summary)
        .map(|s| o311::service_request(&s, &reference.catalog, lang))
        .collect();
    Ok(reply(
        StatusCode::OK,
        format,
        o311::render_requests(&requests, format),
    ))
}

async fn list_requests(
    state: &AppState,
    q: &O311Query,
    format: Format,
) -> Result<Response, ApiError> {
    let filter = if let Some(ids) = q.service_request_id.as_deref().filter(|s| !s.is_empty()) {
        let ids: Vec<String> = ids
            .split(',')
            .map(|s| s.trim().to_string())
            .take(1000)
            .collect();
        RequestFilter::Ids(ids)
    } else {
        let end = q
            .end_date
            .as_deref()
            .map(|s| super::common::parse_time("end_date", s))
            .transpose()?
            .unwrap_or_else(now);
        let start = q
            .start_date
            .as_deref()
            .map(|s| super::common::parse_time("start_date", s))
            .transpose()?
            .unwrap_or(end - chrono::Duration::days(90));
        let mut categories = None;
        if let Some(codes) = q.service_code.as_deref().filter(|s| !s.is_empty()) {
            let mut list = Vec::new();
            for c in codes.split(',') {
                let code: CategoryCode = c.trim().parse().map_err(super::common::bad)?;
                list.push(code.to_string());
            }
            categories = Some(list);
        }
        let status = match q.status.as_deref() {
            None | Some("") => None,
            Some(s) => {
                let want_open = s.split(',').any(|x| x.trim() == "open");
                let want_closed = s.split(',').any(|x| x.trim() == "closed");
                if !want_open && !want_closed {
                    return Err(super::common::bad("status must be open or closed"));
                }
                match (want_open, want_closed) {
                    (false, true) => Some(Status::Closed),
                    (true, false) => Some(Status::Open),
                    _ => None,
                }
            }
        };
        RequestFilter::Period {
            start,
            end,
            categories,
            status,
        }
    };
    let rows = store::list(&state.pool, filter).await?;
    render_rows(state, rows, format, lang(q)).await
}

async fn request(
    State(state): State<AppState>,
    Path(file): Path<String>,
    q: Result<Query<O311Query>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Some((id, format)) = split(&file) else {
        return not_found(&file);
    };
    let q = match q {
        Ok(Query(q)) => q,
        Err(e) => return error(format, StatusCode::BAD_REQUEST, e.body_text()),
    };
    let result = async {
        let rows = store::by_case_no(&state.pool, id).await?;
        if rows.is_empty() {
            return Err(ApiError::NotFound(format!("no service request {id}")));
        }
        render_rows(&state, rows, format, lang(&q)).await
    }
    .await;
    result.unwrap_or_else(|e| api_error(format, e))
}

async fn token(State(state): State<AppState>, Path(file): Path<String>) -> Response {
    let Some((tok, format)) = split(&file) else {
        return not_found(&file);
    };
    let row = store::case_no_of_token(&state.pool, tok).await;
    match row {
        Ok(Some(case_no)) => {
            let created = RequestCreated {
                service_request_id: Some(case_no),
                token: Some(tok.to_string()),
                service_notice: None,
                account_id: None,
            };
            let body = match format {
                Format::Json => json!([{"service_request_id": created.service_request_id, "token": created.token}]).to_string(),
                Format::Xml => o311::render_created(&[created], format),
            };
            reply(StatusCode::OK, format, body)
        }
        Ok(None) => error(format, StatusCode::NOT_FOUND, format!("no token {tok}")),
        Err(e) => api_error(format, e.into()),
    }
}

async fn post_request(
    State(state): State<AppState>,
    Path(file): Path<String>,
    principal: Principal,
    headers: HeaderMap,
    limiter: Option<axum::Extension<crate::ratelimit::Limiter>>,
    body: String,
) -> Response {
    let Some(("requests", format)) = split(&file) else {
        return error(
            Format::Json,
            StatusCode::METHOD_NOT_ALLOWED,
            format!("POST is only for requests.json or requests.xml, not {file:?}"),
        );
    };
    let idempotency_key = match idempotency::key_from(&headers) {
        Ok(k) => k,
        Err(e) => return api_error(format, e),
    };
    let req = match o311::parse_new_request(&body) {
        Ok(r) => r,
        Err(e) => return o311_error(format, &e),
    };
    let Some(key) = req.api_key.as_deref() else {
        return error(format, StatusCode::BAD_REQUEST, "api_key is required");
    };
    // The form's key is resolved like `X-API-Key`: same cache, its origins checked.
    let key = match crate::auth::resolve_key(&state, key, &headers).await {
        Ok(k) => k,
        Err(ApiError::Unauthorized(_)) => {
            return error(format, StatusCode::FORBIDDEN, "invalid api_key")
        }
        Err(e) => return api_error(format, e),
    };
    if !key.has_scope(KeyScope::Open311Write) {
        return error(
            format,
            StatusCode::FORBIDDEN,
            "this api_key may not file requests (it has no `open311:write` scope)",
        );
    }
    // The key's own rate limit (the middleware charged it already when the same key
    // came as `X-API-Key`).
    let charged = matches!(&principal, Principal::Key(k) if k.id == key.id);
    if let (false, Some(axum::Extension(limiter))) = (charged, &limiter) {
        if let Err(refusal) = limiter.0.charge_key(key.id, &Method::POST) {
            return refusal.into_response();
        }
    }
    let (key_id, key_name) = (key.id, key.name);
    // Idempotency-Key: the key's, over the form's fields but api_key, sorted.
    let keyed = idempotency_key.map(|k| {
        let mut fields: Vec<(String, String)> =
            serde_urlencoded::from_str(&body).unwrap_or_default();
        fields.retain(|(name, _)| name != "api_key");
        fields.sort();
        let canonical = serde_json::to_vec(&fields).unwrap_or_default();
        KeyedRequest {
            principal: format!("key:{key_id}"),
            key: k,
            hash: idempotency::request_hash(&format!("POST /open311/v2/{file}"), &canonical),
        }
    });
    let reference = match state.mgmt.reference.get(&state.pool).await {
        Ok(r) => r,
        Err(e) => return api_error(format, e),
    };
    if let Err(e) = o311::validate_request(&req, &reference.catalog) {
        return o311_error(format, &e);
    }
    // Without lat/long the address is geocoded: one confident place or a 400 that
    // says why (not found, or the equally good candidates).
    let (lat, lon) = match (req.lat, req.long, req.address_string.as_deref()) {
        (Some(lat), Some(lon), _) => (lat, lon),
        (_, _, Some(address)) if !address.trim().is_empty() => {
            match crate::geocode::place_address(&state.geocoder, address) {
                Ok((lon, lat)) => (lat, lon),
                Err(why) => return error(format, StatusCode::BAD_REQUEST, why),
            }
        }
        _ => {
            return error(
                format,
                StatusCode::BAD_REQUEST,
                "a location is required: lat and long (WGS84) or address_string",
            )
        }
    };
    let mut actor = ActorInfo::of(&principal);
    actor.label = format!("open311:{key_name}");
    let name = [req.first_name.as_deref(), req.last_name.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let contact = [req.email.as_deref(), req.phone.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ");
    let token = new_secret("o311");
    let input = IntakeInput {
        category: req.service_code,
        lon,
        lat,
        description: req.description.clone(),
        address: req
            .address_string
            .clone()
            .or_else(|| crate::geocode::near_label(&state.geocoder, lon, lat)),
        source: "open311".into(),
        component_id: req
            .attributes
            .get("component_id")
            .and_then(|v| v.first())
            .and_then(|s| s.parse().ok()),
        reporter_name: (!name.is_empty()).then_some(name),
        reporter_contact: (!contact.is_empty()).then_some(contact),
        api_key_id: Some(key_id),
        reported_at: now(),
        attributes: json!({
            "open311": req.attributes,
            "device_id": req.device_id,
            "account_id": req.account_id,
        }),
        media_url: req.media_url.clone(),
        actor,
        token: Some(token.clone()),
        visible_to: super::cases::Visibility::All,
    };
    let source = input.source.clone();
    match intake(
        &state.pool,
        Some(&state.layers),
        &reference,
        input,
        keyed.as_ref(),
    )
    .await
    {
        Ok(result) => {
            if !result.replayed {
                state.metrics.case_reported(&source);
            }
            // a replay answers with the first request's token
            let token = result.body["token"]
                .as_str()
                .map(str::to_string)
                .unwrap_or(token);
            let dups = result.body["duplicates"]
                .as_array()
                .map(Vec::len)
                .unwrap_or(0);
            let created = RequestCreated {
                service_request_id: Some(result.case_no),
                token: Some(token),
                service_notice: (dups > 0)
                    .then(|| format!("{dups} open report(s) of the same kind nearby")),
                account_id: None,
            };
            let mut response = reply(
                StatusCode::CREATED,
                format,
                o311::render_created(&[created], format),
            );
            if result.replayed {
                idempotency::mark_replayed(response.headers_mut());
            }
            response
        }
        Err(e) => api_error(format, e),
    }
}

fn o311_error(format: Format, e: &Open311Error) -> Response {
    let status = StatusCode::from_u16(e.code()).unwrap_or(StatusCode::BAD_REQUEST);
    reply(status, format, o311::render_errors(&[e.to_item()], format))
}
