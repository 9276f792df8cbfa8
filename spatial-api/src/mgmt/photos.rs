//! Case photos: uploaded as a raw body (`Content-Type: image/…` or
//! `application/octet-stream`) or as the first file of a `multipart/form-data` body;
//! the type is decided by the magic bytes (JPEG, PNG, WebP only) and the size by
//! `max_upload_bytes` (413 beyond it). The body is read only up to that size (plus
//! room for the multipart framing), whether or not it declares its length, so a
//! client cannot make the server buffer more. The picture's width and height are
//! read from its header before it is accepted: a header that cannot be read, or a
//! picture of more than [`MAX_PIXELS`] (a tiny file can declare 50000×50000 and
//! take gigabytes to decode in the browsers that show it), is refused with 422.
//!
//! Each photo records the workflow stage it documents (`?stage=report|feedback|check`,
//! default from the caller's role and the case's state) and who uploaded it; who may
//! add which stage when is `citygrid_grid_mgmt::photos`. An `Idempotency-Key` makes a
//! repeated upload store the photo once.
//!
//! Photos are served as attachments that nothing may execute: `Content-Disposition:
//! attachment`, `Content-Security-Policy: default-src 'none'; sandbox` and
//! `X-Content-Type-Options: nosniff`.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use citygrid_grid_mgmt::photos::{self as photo_rules, PhotoContext, PhotoRefusal, PhotoStage};
use citygrid_grid_mgmt::workflow::{CaseState, Role as WorkflowRole};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::cases::{case_id, require_visible, visibility};
use super::idempotency::{self, KeyedRequest};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Room for the multipart framing (boundaries, part headers) beyond the photo itself.
const MULTIPART_ROOM: usize = 64 * 1024;

/// The most pixels a photo may have (100 megapixels: more than any phone camera).
pub const MAX_PIXELS: u64 = 100_000_000;
/// The longest side a photo may have, in pixels.
pub const MAX_SIDE: u64 = 30_000;

/// The policy photos are served with: nothing in them may run or load anything.
pub const PHOTO_CSP: &str = "default-src 'none'; sandbox";

/// Checks the width and height that the header of `data` (a JPEG, PNG or WebP)
/// declares, without decoding the picture: both at least 1, at most [`MAX_SIDE`],
/// and at most [`MAX_PIXELS`] together. Returns them.
pub fn check_dimensions(data: &[u8]) -> Result<(u64, u64), ApiError> {
    let size = imagesize::blob_size(data).map_err(|_| {
        ApiError::Unprocessable(
            "the photo's header cannot be read (a truncated or damaged image)".into(),
        )
    })?;
    let (w, h) = (size.width as u64, size.height as u64);
    if w == 0 || h == 0 {
        return Err(ApiError::Unprocessable(format!(
            "the photo declares {w}×{h} pixels: not a picture"
        )));
    }
    if w > MAX_SIDE || h > MAX_SIDE || w.saturating_mul(h) > MAX_PIXELS {
        return Err(ApiError::Unprocessable(format!(
            "the photo declares {w}×{h} pixels: at most {MAX_SIDE} a side and {} megapixels",
            MAX_PIXELS / 1_000_000
        )));
    }
    Ok((w, h))
}

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

/// Query of `POST /api/cases/{id}/photos`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// The workflow stage the photo documents: `report`, `feedback` or `check`
    /// (default: from the caller's role and the case's state).
    pub stage: Option<String>,
}

/// The stage asked for, checked.
fn asked_stage(q: &UploadQuery) -> Result<Option<PhotoStage>, ApiError> {
    match q.stage.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => s
            .parse()
            .map(Some)
            .map_err(|e: photo_rules::UnknownStage| ApiError::BadRequest(e.to_string())),
    }
}

/// The stage of the upload, or why the caller may not add it.
async fn decide_stage(
    state: &AppState,
    principal: &Principal,
    id: i64,
    asked: Option<PhotoStage>,
) -> Result<PhotoStage, ApiError> {
    let Some(user) = principal.user() else {
        return Err(ApiError::Forbidden(
            "photos are added by signed-in users".into(),
        ));
    };
    let row = citygrid_store::cases::photo_context(&state.pool, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no case {id}")))?;
    let case_state = CaseState::ALL
        .into_iter()
        .find(|c| c.as_str() == row.status)
        .ok_or_else(|| ApiError::Internal(format!("unknown case state {}", row.status)))?;
    let role = super::common::workflow_role(user.role);
    let is_reporter = row.reporter_user_id == Some(user.id);
    // the check task's inspector; a pool task (no assignee) is any inspector's but
    // the reporter's (the rule of the check itself)
    let is_checker = role == WorkflowRole::Inspector
        && row.has_check
        && match row.checker {
            Some(c) => c == user.id,
            None => !is_reporter && case_state == CaseState::Checking,
        };
    let ctx = PhotoContext {
        state: case_state,
        case_department: row.department.as_deref(),
        is_reporter,
        is_checker,
    };
    let stage = asked.unwrap_or_else(|| photo_rules::default_stage(role, &ctx));
    photo_rules::may_add(role, user.department.as_deref(), stage, &ctx).map_err(|e| match e {
        PhotoRefusal::Forbidden(_) => ApiError::Forbidden(e.to_string()),
        PhotoRefusal::WrongState { .. } => ApiError::Conflict(e.to_string()),
    })?;
    Ok(stage)
}

/// `POST /api/cases/{id}/photos?stage=report|feedback|check`, with an optional
/// `Idempotency-Key` (see [`super::idempotency`]: the same photo bytes and stage with
/// the same key answer the first upload's response).
pub async fn upload(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Query(query): Query<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let key = idempotency::key_from(&headers)?;
    let asked = asked_stage(&query)?;
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
    check_dimensions(data)?;
    let keyed = match (key, idempotency::owner(&principal)) {
        (Some(key), Some(owner)) => {
            let mut canonical = asked
                .map(PhotoStage::as_str)
                .unwrap_or("")
                .as_bytes()
                .to_vec();
            canonical.push(b'\n');
            canonical.extend_from_slice(&Sha256::digest(data));
            Some(KeyedRequest {
                principal: owner,
                key,
                hash: idempotency::request_hash(
                    &format!("POST /api/cases/{id}/photos"),
                    &canonical,
                ),
            })
        }
        _ => None,
    };
    let stage = match decide_stage(&state, &principal, id, asked).await {
        Ok(s) => s,
        // refused now (the case moved on): was this photo taken in before?
        Err(e) => match &keyed {
            Some(k) => match idempotency::stored(&state.pool, k).await? {
                Some(stored) => return Ok(replayed(stored)),
                None => return Err(e),
            },
            None => return Err(e),
        },
    };
    let label = principal.label();
    let mut response = json!({
        "id": null,
        "case_id": id,
        "content_type": kind,
        "size_bytes": data.len(),
        "stage": stage.as_str(),
        "url": null,
    });
    let inserted = citygrid_store::photos::insert(
        &state.pool,
        &citygrid_store::photos::NewPhoto {
            case_id: id,
            content_type: kind,
            data,
            stage: stage.as_str(),
            uploaded_by: &label,
            uploader_user_id: principal.user().map(|u| u.id),
            idempotency: keyed.as_ref().map(|k| (k.claim(), &response)),
        },
    )
    .await?;
    match (inserted, &keyed) {
        (Some(photo_id), _) => {
            if let Some(o) = response.as_object_mut() {
                o.insert("id".into(), json!(photo_id));
                o.insert("url".into(), json!(format!("/api/photos/{photo_id}")));
            }
            Ok((StatusCode::CREATED, Json(response)).into_response())
        }
        (None, Some(k)) => Ok(replayed(idempotency::taken(&state.pool, k).await?)),
        (None, None) => Err(ApiError::Internal(
            "the photo insert claimed no key yet found one taken".into(),
        )),
    }
}

/// A stored photo response, replayed.
fn replayed(stored: citygrid_store::idempotency::Stored) -> Response {
    let status = StatusCode::from_u16(u16::try_from(stored.status).unwrap_or(201))
        .unwrap_or(StatusCode::CREATED);
    let mut r = (status, Json(stored.response)).into_response();
    idempotency::mark_replayed(r.headers_mut());
    r
}

/// `GET /api/photos/{id}`.
pub async fn download(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<i64>,
) -> ApiResult<Response> {
    let vis = visibility(&principal)?;
    let citygrid_store::photos::Photo {
        case_id: case,
        content_type: kind,
        data,
    } = citygrid_store::photos::get(&state.pool, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no photo {id}")))?;
    require_visible(&state.pool, &vis, case)
        .await
        .map_err(|_| ApiError::NotFound(format!("no photo {id}")))?;
    let mut response = data.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&kind)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    let headers = response.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=3600"),
    );
    // Opened directly, a photo is a download that can run nothing.
    let extension = match kind.as_str() {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/webp" => "webp",
        _ => "bin",
    };
    if let Ok(v) =
        HeaderValue::from_str(&format!("attachment; filename=\"photo-{id}.{extension}\""))
    {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PHOTO_CSP),
    );
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
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

    /// A PNG signature and IHDR declaring `w`×`h` (no pixel data: the header is all
    /// that is read).
    fn png_header(w: u32, h: u32) -> Vec<u8> {
        let mut v = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        v.extend_from_slice(&w.to_be_bytes());
        v.extend_from_slice(&h.to_be_bytes());
        v.extend_from_slice(&[8, 2, 0, 0, 0, 0, 0, 0, 0]);
        v
    }

    #[test]
    fn dimensions() {
        assert_eq!(
            check_dimensions(&png_header(4000, 3000)).ok(),
            Some((4000, 3000))
        );
        for bad in [
            png_header(50_000, 50_000),
            png_header(10_001, 10_001),
            png_header(40_000, 1),
            png_header(0, 10),
            b"\x89PNG\r\n\x1a\n".to_vec(),
            vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 0],
        ] {
            assert!(
                matches!(check_dimensions(&bad), Err(ApiError::Unprocessable(_))),
                "{bad:?}"
            );
        }
        // a JPEG whose frame header (SOF0) declares 50000×50000
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x11, 0x08];
        jpeg.extend_from_slice(&50_000u16.to_be_bytes());
        jpeg.extend_from_slice(&50_000u16.to_be_bytes());
        jpeg.extend_from_slice(&[3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1, 0xFF, 0xD9]);
        assert!(check_dimensions(&jpeg).is_err());
        jpeg[7..11].copy_from_slice(&[0x0B, 0xB8, 0x0F, 0xA0]); // 3000×4000
        assert_eq!(check_dimensions(&jpeg).ok(), Some((4000, 3000)));
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
