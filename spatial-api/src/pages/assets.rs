//! Reading the built pages and assets from the web directory.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use axum::extract::Path as UrlPath;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::html::{message_page, page_headers, Framing};

/// The largest file served (MapLibre GL JS is about 1 MB).
const MAX_ASSET_BYTES: u64 = 16 * 1024 * 1024;

/// The directory the pages are served from: `CITYGRID_WEB_DIR`, else `./web/dist`,
/// else the `web/dist` of the workspace the binary was built in (so that
/// `target/release/citygrid` finds its pages from any working directory).
pub fn web_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CITYGRID_WEB_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let local = PathBuf::from("web").join("dist");
    if local.join("index.html").is_file() {
        return local;
    }
    let built_in = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("web")
        .join("dist");
    if built_in.join("index.html").is_file() {
        return built_in;
    }
    local
}

fn not_built(dir: &Path) -> Response {
    message_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "citygrid: the web pages are not built",
        &format!(
            "No pages in {}. Run `make web` in the citygrid source tree (npm ci && npm run build \
             in web/), or set CITYGRID_WEB_DIR to a built web/dist directory. \
             页面尚未构建：请在源码目录运行 make web，或设置 CITYGRID_WEB_DIR。",
            dir.display()
        ),
        &Framing::Deny,
    )
}

/// Reads a page of the web directory; `None` when it is missing.
pub async fn read_page(file: &str) -> Result<Vec<u8>, Response> {
    let dir = web_dir();
    match tokio::fs::read(dir.join(file)).await {
        Ok(bytes) => Ok(bytes),
        Err(e) => {
            tracing::warn!(error = %e, dir = %dir.display(), file, "web page missing");
            Err(not_built(&dir))
        }
    }
}

/// Serves one HTML page that nobody may frame.
pub async fn page(file: &'static str) -> Response {
    match read_page(file).await {
        Ok(bytes) => {
            let mut response = bytes.into_response();
            page_headers(response.headers_mut(), &Framing::Deny);
            response
        }
        Err(response) => response,
    }
}

/// A file of the web directory served at a fixed URL outside `/assets/` (the
/// inspector's service worker and manifest), never cached without revalidation.
async fn fixed_file(file: &'static str, content_type: &'static str) -> Response {
    let dir = web_dir();
    let bytes = match tokio::fs::read(dir.join(file)).await {
        Ok(bytes) => bytes,
        Err(e) if dir.join("index.html").is_file() => {
            tracing::warn!(error = %e, file, "web file missing");
            return ApiError::NotFound(format!("no file {file:?}: rebuild the pages (make web)"))
                .into_response();
        }
        Err(_) => return not_built(&dir),
    };
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// `GET /inspector/sw.js`: the inspector page's service worker. Its scope is the
/// page (`/inspector`), above the script's own directory, hence
/// `Service-Worker-Allowed`.
pub async fn inspector_worker() -> Response {
    let mut response = fixed_file("inspector-sw.js", "text/javascript; charset=utf-8").await;
    if response.status().is_success() {
        response.headers_mut().insert(
            "service-worker-allowed",
            HeaderValue::from_static("/inspector"),
        );
    }
    response
}

/// `GET /inspector/manifest.webmanifest`: the inspector page's web app manifest.
pub async fn inspector_manifest() -> Response {
    fixed_file("inspector.webmanifest", "application/manifest+json").await
}

/// Checks a relative asset path: segments of `[A-Za-z0-9._-]`, none hidden.
fn clean_path(path: &str) -> Option<PathBuf> {
    if path.is_empty() || path.len() > 256 {
        return None;
    }
    let mut out = PathBuf::new();
    for segment in path.split('/') {
        let ok = !segment.is_empty()
            && !segment.starts_with('.')
            && segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !ok {
            return None;
        }
        out.push(segment);
    }
    Some(out)
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "html" => "text/html; charset=utf-8",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// `GET /assets/{*path}`: a file of the web directory, with an ETag.
pub async fn asset(UrlPath(path): UrlPath<String>, request: HeaderMap) -> Response {
    // Pages are served only by their own routes, with their security headers.
    let Some(relative) = clean_path(&path).filter(|p| p.extension().is_none_or(|e| e != "html"))
    else {
        return ApiError::NotFound(format!("no asset {path:?}")).into_response();
    };
    let dir = web_dir();
    let file = dir.join(&relative);
    let meta = match tokio::fs::metadata(&file).await {
        Ok(m) if m.is_file() => m,
        _ if !dir.join("index.html").is_file() => return not_built(&dir),
        _ => return ApiError::NotFound(format!("no asset {path:?}")).into_response(),
    };
    if meta.len() > MAX_ASSET_BYTES {
        return ApiError::NotFound(format!("asset {path:?} is too large to serve")).into_response();
    }
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let etag = format!("\"{:x}-{:x}\"", meta.len(), modified);
    let matches = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut response = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        match tokio::fs::read(&file).await {
            Ok(bytes) => bytes.into_response(),
            Err(e) => {
                tracing::warn!(error = %e, file = %file.display(), "cannot read asset");
                return ApiError::NotFound(format!("no asset {path:?}")).into_response();
            }
        }
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(&relative)),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asset_paths() {
        assert_eq!(
            clean_path("js/viewer.js"),
            Some(PathBuf::from("js").join("viewer.js"))
        );
        assert!(clean_path("../secret").is_none());
        assert!(clean_path("js/../../x").is_none());
        assert!(clean_path(".env").is_none());
        assert!(clean_path("a//b").is_none());
        assert!(clean_path("a/b c").is_none());
        assert!(clean_path("").is_none());
    }
}
