//! The route table: every route is registered with its [`Access`] policy, so the
//! guard runs before any handler and the table can be listed and tested.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use axum::Router;
use serde::Serialize;
use serde_json::Value;

use crate::auth::{self, Access};
use crate::error::error_body;
use crate::state::AppState;

/// One row of the route table.
#[derive(Debug, Clone, Serialize)]
pub struct RouteEntry {
    /// GET, POST, PATCH, DELETE…
    pub method: String,
    /// The path pattern, e.g. `/tiles/{ids}/{z}/{x}/{y}`.
    pub path: String,
    /// Who may call it.
    #[serde(serialize_with = "describe")]
    pub access: Access,
}

fn describe<S: serde::Serializer>(access: &Access, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&access.describe())
}

/// Builds the router while recording each route's policy.
pub struct RouteTable {
    router: Router<AppState>,
    entries: Vec<RouteEntry>,
}

impl Default for RouteTable {
    fn default() -> Self {
        RouteTable {
            router: Router::new(),
            entries: Vec::new(),
        }
    }
}

impl RouteTable {
    /// Adds `handler` for `method` on `path`, guarded by `access`.
    pub fn add(
        mut self,
        method: Method,
        path: &str,
        access: Access,
        handler: MethodRouter<AppState>,
    ) -> Self {
        let guarded = handler.route_layer(middleware::from_fn(move |req: Request, next: Next| {
            auth::enforce(access, req, next)
        }));
        self.router = self.router.route(path, guarded);
        self.entries.push(RouteEntry {
            method: method.as_str().to_string(),
            path: path.to_string(),
            access,
        });
        self
    }

    /// Lets a feature module add its routes: `table.with(crate::ogc::routes)`.
    pub fn with(self, add: impl FnOnce(RouteTable) -> RouteTable) -> RouteTable {
        add(self)
    }

    /// The routes so far.
    pub fn entries(&self) -> &[RouteEntry] {
        &self.entries
    }

    /// Finishes the router: credentials, limits, JSON errors, metrics, fallback.
    pub fn finish(self, state: AppState) -> Router {
        let max_body = state.config.max_body_bytes;
        let timeout = Duration::from_secs(state.config.request_timeout_secs.max(1));
        self.router
            .fallback(not_found)
            .method_not_allowed_fallback(method_not_allowed)
            .layer(middleware::from_fn_with_state(state.clone(), auth::resolve))
            .layer(middleware::from_fn(crate::pages::edge))
            .layer(DefaultBodyLimit::max(max_body))
            .layer(middleware::from_fn_with_state(state.clone(), limit_body))
            .layer(middleware::from_fn(json_errors))
            .layer(middleware::from_fn(security_headers))
            // gzip when the client asks (tiles, JSON); images and tiny bodies are left as they are.
            .layer(tower_http::compression::CompressionLayer::new())
            .layer(tower_http::timeout::TimeoutLayer::with_status_code(
                StatusCode::SERVICE_UNAVAILABLE,
                timeout,
            ))
            .layer(middleware::from_fn_with_state(
                state.clone(),
                crate::metrics::track,
            ))
            .with_state(state)
    }
}

/// The hard cap on an upload route's body, whatever the configuration says.
pub const UPLOAD_CAP_BYTES: usize = 64 * 1024 * 1024;

/// Whether a route takes uploads (photos): its body may be `max_upload_bytes`.
pub fn is_upload_route(pattern: &str) -> bool {
    pattern.ends_with("/photos")
}

/// Refuses a declared body over the route's limit at once (413), before any of it
/// is read: `max_upload_bytes` on upload routes, `max_body_bytes` elsewhere. Bodies
/// without a length are bounded by the extractors' limits.
async fn limit_body(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let upload = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .is_some_and(|p| is_upload_route(p.as_str()));
    let limit = if upload {
        state.config.max_upload_bytes.min(UPLOAD_CAP_BYTES)
    } else {
        state.config.max_body_bytes
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            error_body(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body too large",
                serde_json::json!({ "limit_bytes": limit }),
            ),
        )
            .into_response();
    }
    next.run(request).await
}

async fn not_found(request: Request) -> Response {
    (
        StatusCode::NOT_FOUND,
        error_body(
            StatusCode::NOT_FOUND,
            &format!("no route {} {}", request.method(), request.uri().path()),
            Value::Null,
        ),
    )
        .into_response()
}

async fn method_not_allowed(request: Request) -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        error_body(
            StatusCode::METHOD_NOT_ALLOWED,
            &format!(
                "method {} is not allowed on {}",
                request.method(),
                request.uri().path()
            ),
            Value::Null,
        ),
    )
        .into_response()
}

/// Turns every error response that is not JSON yet (rejections of extractors,
/// body limits, timeouts) into `{"error": ..., "detail": ...}`.
async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if status.as_u16() < 400 {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json") || v.contains("xml") || v.contains("html"));
    if is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = match axum::body::to_bytes(body, 16 * 1024).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_string(),
        Err(_) => String::new(),
    };
    let message = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "request body too large".to_string(),
        StatusCode::SERVICE_UNAVAILABLE if text.is_empty() => {
            "the request took too long; retry later".to_string()
        }
        _ if text.is_empty() => status.canonical_reason().unwrap_or("error").to_lowercase(),
        _ => text.clone(),
    };
    let detail = if text.is_empty() || text == message {
        Value::Null
    } else {
        Value::String(text)
    };
    let body = serde_json::to_vec(&serde_json::json!({ "error": message, "detail": detail }))
        .unwrap_or_default();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    if status == StatusCode::SERVICE_UNAVAILABLE {
        parts
            .headers
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    Response::from_parts(parts, Body::from(body))
}

async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        "referrer-policy",
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    response
}
