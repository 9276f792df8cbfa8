//! Case photos: the `case_photos` table (the bytes, their checked type and size, the
//! workflow stage they belong to and who uploaded them).

use serde_json::Value;
use sqlx::PgExecutor;

use crate::Result;

/// A stored photo.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Photo {
    /// `cases.id` of the case it belongs to.
    pub case_id: i64,
    /// Its MIME type (as sniffed from the bytes when it was uploaded).
    pub content_type: String,
    /// The bytes.
    pub data: Vec<u8>,
}

/// A photo to store.
#[derive(Debug, Clone, Copy)]
pub struct NewPhoto<'a> {
    /// `cases.id`.
    pub case_id: i64,
    /// Its MIME type (sniffed from the bytes).
    pub content_type: &'a str,
    /// The bytes.
    pub data: &'a [u8],
    /// `report`, `feedback` or `check`.
    pub stage: &'a str,
    /// The uploader's label (`user:name`).
    pub uploaded_by: &'a str,
    /// The uploader's `users.id`.
    pub uploader_user_id: Option<i64>,
    /// An `Idempotency-Key` to claim in the same statement, and the response to store
    /// with it (`id` and `url` are added to this object).
    pub idempotency: Option<(crate::idempotency::Claim<'a>, &'a Value)>,
}

/// Stores a photo and returns its id, or `None` when the idempotency key was already
/// taken (nothing stored; read the first response with
/// [`crate::idempotency::stored`]). Key row and photo row are one statement.
pub async fn insert(db: impl PgExecutor<'_>, p: &NewPhoto<'_>) -> Result<Option<i64>> {
    let (claim, template) = match p.idempotency {
        Some((claim, template)) => (Some(claim), Some(template)),
        None => (None, None),
    };
    let size = i32::try_from(p.data.len()).unwrap_or(i32::MAX);
    sqlx::query_scalar(
        "WITH nid AS (SELECT nextval(pg_get_serial_sequence('case_photos', 'id')) AS id), \
         k AS ( \
           INSERT INTO idempotency_keys (principal, key, request_hash, status, case_id, photo_id, response) \
           SELECT $8, $9, $10, 201, $1, nid.id, \
                  $11::jsonb || jsonb_build_object('id', nid.id, 'url', '/api/photos/' || nid.id) \
           FROM nid WHERE $8::text IS NOT NULL \
           ON CONFLICT (principal, key) DO NOTHING RETURNING 1) \
         INSERT INTO case_photos (id, case_id, content_type, size_bytes, data, uploaded_by, stage, uploader_user_id) \
         SELECT nid.id, $1, $2, $3, $4, $5, $6, $7 FROM nid \
         WHERE $8::text IS NULL OR EXISTS (SELECT 1 FROM k) RETURNING id",
    )
    .bind(p.case_id) // 1
    .bind(p.content_type) // 2
    .bind(size) // 3
    .bind(p.data) // 4
    .bind(p.uploaded_by) // 5
    .bind(p.stage) // 6
    .bind(p.uploader_user_id) // 7
    .bind(claim.map(|k| k.principal)) // 8
    .bind(claim.map(|k| k.key)) // 9
    .bind(claim.map(|k| k.request_hash)) // 10
    .bind(template) // 11
    .fetch_optional(db)
    .await
}

/// Photo `id`, if there is one.
pub async fn get(db: impl PgExecutor<'_>, id: i64) -> Result<Option<Photo>> {
    sqlx::query_as("SELECT case_id, content_type, data FROM case_photos WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
}
