//! The middleware around the credential check that makes embedding work:
//!
//! - CORS for map data (`/catalog`, `/tiles/…`, `/styles/…`, the glyphs and sprites
//!   they name (`/fonts/…`, `/sprites/…`), `/ogc…`, WMTS (`/wmts…`: other departments'
//!   OpenLayers pages read the capabilities and vector tiles with `fetch`), the home
//!   view `/api/home` and `/api/search`): preflight
//!   `OPTIONS` is answered for `X-API-Key` and `Authorization`; a response the
//!   caller was allowed to get (the key allows the origin, or the layers are
//!   public) reflects the request's `Origin`. Refusals (401/403) do not, so a page
//!   on an origin its key does not allow cannot read the map data. Credentials are
//!   never cookies, so reflecting an origin never lends a user's session.
//! - `/embed/map` refused by the credential check (unknown key, origin not
//!   allowed) becomes an HTML page that says so inside the frame, instead of JSON.

use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::html::{message_page, Framing};

/// Whether `path` serves map data that embedded maps read from other origins.
fn is_map_data(path: &str) -> bool {
    path == "/catalog"
        || path == "/ogc"
        || path == "/wmts"
        || path == "/api/home"
        || path == "/api/search"
        || [
            "/catalog/",
            "/tiles/",
            "/styles/",
            "/fonts/",
            "/sprites/",
            "/ogc/",
            "/wmts/",
        ]
        .iter()
        .any(|p| path.starts_with(p))
}

fn preflight(origin: HeaderValue) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let h = response.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, HEAD, POST, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("X-API-Key, Authorization, Content-Type, If-None-Match"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    response
}

/// The middleware; registered once in [`crate::router::RouteTable::finish`].
pub async fn edge(request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    let origin = request.headers().get(header::ORIGIN).cloned();
    if is_map_data(&path) {
        let is_preflight = request.method() == Method::OPTIONS
            && request
                .headers()
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        if let (true, Some(origin)) = (is_preflight, origin.clone()) {
            return preflight(origin);
        }
        let mut response = next.run(request).await;
        let refused = matches!(
            response.status(),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
        );
        let h = response.headers_mut();
        h.append(header::VARY, HeaderValue::from_static("Origin"));
        if let (false, Some(origin)) = (refused, origin) {
            if !h.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
                h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
                h.insert(
                    header::ACCESS_CONTROL_EXPOSE_HEADERS,
                    HeaderValue::from_static("ETag, Retry-After"),
                );
            }
        }
        return response;
    }
    if path == "/embed/map" {
        let response = next.run(request).await;
        let status = response.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            let body = axum::body::to_bytes(response.into_body(), 64 * 1024)
                .await
                .unwrap_or_default();
            let reason = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
                .unwrap_or_else(|| "the API key was refused".to_string());
            return message_page(
                status,
                "citygrid: this map cannot be shown",
                &format!("{reason}. Ask the map's owner for a key that allows this site. / 此 API 密钥不允许在本站点使用或无效。"),
                &Framing::Anyone,
            );
        }
        return response;
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_data_paths() {
        for p in [
            "/catalog",
            "/catalog/roads",
            "/tiles/a,b.json",
            "/tiles/a/1/2/3",
            "/styles/default.json",
            "/ogc",
            "/ogc/collections",
            "/wmts",
            "/wmts/1.0.0/WMTSCapabilities.xml",
        ] {
            assert!(is_map_data(p), "{p}");
        }
        for p in [
            "/",
            "/api/cases",
            "/catalogue",
            "/ogcx",
            "/wmtsx",
            "/embed/map",
        ] {
            assert!(!is_map_data(p), "{p}");
        }
    }
}
