//! Case photos: uploaded as a raw body (`Content-Type: image/…` or
//! `application/octet-stream`) or as the first file of a `multipart/form-data` body;
//! the type is decided by the magic bytes (JPEG, PNG, WebP only) and the size by
//! `max_upload_bytes` (413 beyond it). The body is read only up to that size (plus
//! room for the multipart framing), whether or not it declares its length, so a
//! client cannot make the server buffer more.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::cases::{case_id, require_visible, visibility};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Room for the multipart framing (boundaries, part headers) beyond the photo itself.
const MULTIPART_ROOM: usize = 64 * 1024;

/// The image type of `data` by its magic bytes.
pub fn sniff(data: &[u8]) -> Option<&'static str> {
    if data.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if data.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
        Some("image/png")
    } else if data.len() >= 12 && &data[0..4] == b"RIFF" && &data[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    (from..=hay.len() - needle.len()).find(|&i| &hay[i..i + needle.len()] == needle)
}

/// The content of the first file part of a multipart body.
pub fn first_file_part<'a>(body: &'a [u8], content_type: &str) -> Option<&'a [u8]> {
    let boundary = content_type
        .split(';')
        .map(str::trim)
        .find_map(|p| p.strip_prefix("boundary="))?
        .trim_matches('"');
    let delim = format!("--{boundary}");
    let mut pos = find(body, delim.as_bytes(), 0)?;
    loop {
        let start = pos + delim.len();
        if body.get(start..start + 2) == Some(b"--") {
            return None;
        }
        let head_end = find(body, b"\r\n\r\n", start)?;
        let headers = String::from_utf8_lossy(&body[start..head_end]).to_ascii_lowercase();
        let content_start = head_end + 4;
        let next = find(body, format!("\r\n{delim}").as_bytes(), content_start)?;
        if headers.contains("filename=") || headers.contains("content-type: image/") {
            return Some(&body[content_start..next]);
        }
        pos = next + 2;
    }
}

/// `POST /api/cases/{id}/photos`.
pub async fn upload(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let vis = visibility(&principal)?;
    let id = case_id(&state.pool, &id).await?;
    require_visible(&state.pool, &vis, id).await?;
    let max = state.config.max_upload_bytes;
    let read_limit = max
        .saturating_add(MULTIPART_ROOM)
        .min(crate::router::UPLOAD_CAP_BYTES);
    let body = axum::body::to_bytes(body, read_limit).await.map_err(|_| {
        ApiError::TooLarge(format!(
            "a photo may be at most {max} bytes; the upload was larger or broke off"
        ))
    })?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_string();
    let data: &[u8] = if content_type.starts_with("multipart/form-data") {
        first_file_part(&body, &content_type)
            .ok_or_else(|| ApiError::BadRequest("the multipart body has no file part".into()))?
    } else {
        &body
    };
    if data.len() > max {
        return Err(ApiError::TooLarge(format!(
            "a photo may be at most {max} bytes, this one has {}",
            data.len()
        )));
    }
    if data.is_empty() {
        return Err(ApiError::BadRequest("the photo is empty".into()));
    }
    let kind = sniff(data).ok_or_else(|| {
        ApiError::Unprocessable(
            "only JPEG, PNG and WebP photos are accepted: the content is none of these \
             (the type is read from the data, not from Content-Type)"
                .into(),
        )
    })?;
    let label = principal.label();
    let (photo_id,): (i64,) = sqlx::query_as(
        "INSERT INTO case_photos (case_id, content_type, size_bytes, data, uploaded_by) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(id)
    .bind(kind)
    .bind(i32::try_from(data.len()).unwrap_or(i32::MAX))
    .bind(data)
    .bind(&label)
    .fetch_one(&state.pool)
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": photo_id,
            "case_id": id,
            "content_type": kind,
            "size_bytes": data.len(),
            "url": format!("/api/photos/{photo_id}"),
        })),
    ))
}

/// `GET /api/photos/{id}`.
pub async fn download(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
) -> ApiResult<Response> {
    let vis = visibility(&principal)?;
    let row: Option<(i64, String, Vec<u8>)> =
        sqlx::query_as("SELECT case_id, content_type, data FROM case_photos WHERE id = $1")
            .bind(id)
            .fetch_optional(&state.pool)
            .await?;
    let (case, kind, data) = row.ok_or_else(|| ApiError::NotFound(format!("no photo {id}")))?;
    require_visible(&state.pool, &vis, case)
        .await
        .map_err(|_| ApiError::NotFound(format!("no photo {id}")))?;
    let mut response = data.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&kind)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=3600"),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_bytes() {
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("image/jpeg"));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff(b"GIF89a"), None);
    }

    #[test]
    fn multipart() {
        let body = b"--XX\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhi\r\n--XX\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\nDATA\r\n--XX--\r\n";
        assert_eq!(
            first_file_part(body, "multipart/form-data; boundary=XX"),
            Some(&b"DATA"[..])
        );
        assert_eq!(
            first_file_part(b"--XX--", "multipart/form-data; boundary=XX"),
            None
        );
    }
}
