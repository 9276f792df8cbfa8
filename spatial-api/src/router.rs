//! The route table: every route is registered with its [`Access`] policy, so the
//! guard runs before any handler and the table can be listed and tested.

use std::sync::Arc;
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
use crate::ratelimit::{self, Limits, RateLimiter};
use crate::state::AppState;

/// One row of the route table.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RouteEntry {
    /// GET, POST, PATCH, DELETE…
    pub method: String,
    /// The path pattern, e.g. `/tiles/{ids}/{z}/{x}/{y}`.
    pub path: String,
    /// Who may call it.
    #[serde(serialize_with = "describe")]
    #[schema(value_type = String)]
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
        let limiter = Arc::new(RateLimiter::new(Limits::from_config(&state.config)));
        let by_principal = Arc::clone(&limiter);
        let fast_limiter = Arc::clone(&limiter);
        let router = self
            .router
            .fallback(not_found)
            .method_not_allowed_fallback(method_not_allowed)
            .layer(middleware::from_fn_with_state(state.clone(), refuse_nul))
            // Administrators' writes go to the audit trail (needs the principal).
            .layer(middleware::from_fn_with_state(
                state.clone(),
                crate::audit::admin_writes,
            ))
            // Per user and per API key: after the credentials are known.
            .layer(middleware::from_fn(move |req: Request, next: Next| {
                ratelimit::by_principal(Arc::clone(&by_principal), req, next)
            }))
            .layer(middleware::from_fn_with_state(state.clone(), auth::resolve))
            // Per client address: before anything touches the database.
            .layer(middleware::from_fn(move |req: Request, next: Next| {
                ratelimit::by_address(Arc::clone(&limiter), req, next)
            }))
            .layer(middleware::from_fn(crate::edge::edge))
            .layer(DefaultBodyLimit::max(max_body))
            .layer(middleware::from_fn_with_state(state.clone(), limit_body))
            // Inside json_errors, so that a timed-out request gets a JSON 503 with Retry-After.
            .layer(tower_http::timeout::TimeoutLayer::with_status_code(
                StatusCode::SERVICE_UNAVAILABLE,
                timeout,
            ))
            .layer(middleware::from_fn(json_errors))
            .layer(middleware::from_fn(security_headers))
            // gzip when the client asks (JSON…); images and tiny bodies are left as they are,
            // and so are vector tiles: they are sent in the form the tile cache holds (gzip
            // or brotli, with Content-Encoding), or as they are when gzip did not make
            // them smaller (compressing those again would only make them bigger).
            .layer(
                tower_http::compression::CompressionLayer::new().compress_when({
                    use tower_http::compression::predicate::{
                        DefaultPredicate, NotForContentType, Predicate,
                    };
                    DefaultPredicate::new()
                        .and(NotForContentType::const_new(citygrid_tiles::mvt::MVT_TYPE))
                }),
            )
            .layer(middleware::from_fn_with_state(
                state.clone(),
                crate::metrics::track,
            ))
            .with_state(state.clone());
        // Cached (or small) vector tiles for anonymous gzip clients are answered in front of
        // the stack above, as it would answer them (crate::tiles::fast).
        crate::tiles::fast::wrap(router, state, fast_limiter, MAX_HEADER_BYTES)
    }
}

/// The hard cap on an upload route's body, whatever the configuration says.
pub const UPLOAD_CAP_BYTES: usize = 64 * 1024 * 1024;

/// Whether a route takes uploads (photos): its body may be `max_upload_bytes`.
pub fn is_upload_route(pattern: &str) -> bool {
    pattern.ends_with("/photos")
}

/// The most header bytes (names and values) a request may carry; more is 431.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// The longest path and query a request may have; more is 414. Room for the longest
/// filter ([`citygrid_cql2::MAX_FILTER_BYTES`]) percent-encoded, with the rest.
pub const MAX_URI_BYTES: usize = 32 * 1024;

/// At most this much of a refused body is read and discarded before the 413 is sent.
pub const DRAIN_CAP_BYTES: usize = 32 * 1024 * 1024;
/// ... and for at most this long.
pub const DRAIN_TIME: Duration = Duration::from_secs(10);

/// Reads and discards what is left of a refused body — at most [`DRAIN_CAP_BYTES`]
/// for at most [`DRAIN_TIME`] — while and after the 413 is sent (it runs on its own
/// task), so that a client that sends its whole body before it reads the answer gets
/// the 413 instead of a connection reset (the server would otherwise close a socket
/// holding unread data; nginx's lingering close does the same). A client that asked
/// `Expect: 100-continue` has sent nothing: nothing is read.
async fn drain_refused(expects_continue: bool, body: Body) {
    if expects_continue {
        return;
    }
    use futures_util::StreamExt;
    let mut stream = body.into_data_stream();
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        let mut seen = 0usize;
        while let Some(Ok(data)) = stream.next().await {
            seen = seen.saturating_add(data.len());
            if seen > DRAIN_CAP_BYTES {
                break;
            }
        }
    })
    .await;
}

fn expects_continue(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

/// A 413 that closes the connection after it (the rest of the body is not read).
fn refused_body(limit: usize, message: &str) -> Response {
    let mut r = too_large(StatusCode::PAYLOAD_TOO_LARGE, message, limit);
    r.headers_mut().insert(
        header::CONNECTION,
        axum::http::HeaderValue::from_static("close"),
    );
    r
}

fn too_large(status: StatusCode, message: &str, limit: usize) -> Response {
    (
        status,
        error_body(status, message, serde_json::json!({ "limit_bytes": limit })),
    )
        .into_response()
}

/// The body limit of the matched route: `max_upload_bytes` on upload routes,
/// `max_body_bytes` elsewhere.
fn body_limit(state: &AppState, request: &Request) -> usize {
    let upload = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .is_some_and(|p| is_upload_route(p.as_str()));
    if upload {
        state.config.max_upload_bytes.min(UPLOAD_CAP_BYTES)
    } else {
        state.config.max_body_bytes
    }
}

/// Refuses oversized requests at once, before any of the body is read: headers over
/// [`MAX_HEADER_BYTES`] (431), a URL over [`MAX_URI_BYTES`] (414), a declared body over the route's limit (413), and a
/// URL with an encoded NUL (`%00`, 400: no identifier or text may hold one). Bodies
/// without a length are bounded by the extractors' limits.
async fn limit_body(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len())
        .sum();
    if header_bytes > MAX_HEADER_BYTES {
        return too_large(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "request headers too large",
            MAX_HEADER_BYTES,
        );
    }
    if request
        .uri()
        .path_and_query()
        .is_some_and(|pq| pq.as_str().len() > MAX_URI_BYTES)
    {
        return too_large(
            StatusCode::URI_TOO_LONG,
            "the URL is too long",
            MAX_URI_BYTES,
        );
    }
    if request
        .uri()
        .path_and_query()
        .is_some_and(|pq| contains_nul_escape(pq.as_str().as_bytes(), b"%00"))
    {
        return (
            StatusCode::BAD_REQUEST,
            error_body(
                StatusCode::BAD_REQUEST,
                "the URL contains a NUL character (%00)",
                Value::Null,
            ),
        )
            .into_response();
    }
    let limit = body_limit(&state, &request);
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        let expects = expects_continue(request.headers());
        tokio::spawn(drain_refused(expects, request.into_body()));
        return refused_body(limit, "request body too large");
    }
    next.run(request).await
}

/// The whole body if it is at most `limit` bytes; `Err(Some(rest))` with the unread
/// rest when it is longer, `Err(None)` when it broke off.
async fn read_within(body: Body, limit: usize) -> Result<axum::body::Bytes, Option<Body>> {
    use futures_util::StreamExt;
    let mut stream = body.into_data_stream();
    let mut out = Vec::new();
    while let Some(next) = stream.next().await {
        let data = next.map_err(|_| None)?;
        if out.len() + data.len() > limit {
            return Err(Some(Body::from_stream(stream)));
        }
        out.extend_from_slice(&data);
    }
    Ok(out.into())
}

/// Whether `hay` contains `needle`, ASCII case-insensitively.
fn contains_nul_escape(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// Refuses JSON and form bodies that carry a NUL character (`\u0000`, `%00`): no
/// text column or JSONB value in PostgreSQL can hold one, so every handler would
/// otherwise fail on it deep inside. Runs after the credential check, so only
/// callers that passed it have their body read here (bounded by the route's limit).
async fn refuse_nul(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let escape: &[u8] = if content_type.contains("json") {
        b"\\u0000"
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        b"%00"
    } else {
        return next.run(request).await;
    };
    let limit = body_limit(&state, &request);
    let expects = expects_continue(request.headers());
    let (parts, body) = request.into_parts();
    let bytes = match read_within(body, limit).await {
        Ok(bytes) => bytes,
        Err(Some(rest)) => {
            tokio::spawn(drain_refused(expects, rest));
            return refused_body(limit, "request body too large");
        }
        Err(None) => {
            return too_large(
                StatusCode::BAD_REQUEST,
                "the request body broke off before its end",
                limit,
            )
        }
    };
    if bytes.contains(&0) || contains_nul_escape(&bytes, escape) {
        return (
            StatusCode::BAD_REQUEST,
            error_body(
                StatusCode::BAD_REQUEST,
                "the body contains a NUL character: text may not hold one",
                Value::Null,
            ),
        )
            .into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
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
/// body limits, timeouts) into `{"error": ..., "error_zh": ..., "detail": ...}`.
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
    let body = serde_json::to_vec(&serde_json::json!({
        "error": message,
        "error_zh": crate::error_zh::translate(status.as_u16(), &message),
        "detail": detail,
    }))
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

/// The policy of responses that are not pages (JSON, XML, text): nothing may load
/// from them and nobody may frame them.
const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// Headers on every response: no sniffing, a referrer policy; on data responses
/// (JSON, XML, text) that carry no policy of their own, a CSP that forbids
/// everything and framing; `Cache-Control: no-store` on JSON answered to signed-in
/// callers (and on logins), unless the handler chose its caching itself.
async fn security_headers(request: Request, next: Next) -> Response {
    let authenticated = request.headers().contains_key(header::AUTHORIZATION)
        || request.uri().path() == "/api/auth/login";
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
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let is_data = content_type.contains("json")
        || content_type.contains("xml")
        || content_type.starts_with("text/plain");
    if is_data && !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(API_CSP),
        );
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    if authenticated
        && content_type.contains("json")
        && !headers.contains_key(header::CACHE_CONTROL)
    {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_escapes() {
        assert!(contains_nul_escape(b"/a?b=%00", b"%00"));
        assert!(!contains_nul_escape(b"/a?b=%2500", b"%00"));
        assert!(contains_nul_escape(br#"{"a":"x\u0000"}"#, b"\\u0000"));
        assert!(!contains_nul_escape(br#"{"a":"x\u0001"}"#, b"\\u0000"));
        assert!(!contains_nul_escape(b"", b"%00"));
    }

    #[test]
    fn upload_routes() {
        assert!(is_upload_route("/api/cases/{id}/photos"));
        assert!(!is_upload_route("/api/cases/{id}/actions"));
    }
}
