//! Case photos: the `case_photos` table (the bytes, their checked type and size).

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

/// Stores a photo of case `case_id` and returns its id. `size_bytes` is the length
/// of `data` as the column holds it.
pub async fn insert(
    db: impl PgExecutor<'_>,
    case_id: i64,
    content_type: &str,
    size_bytes: i32,
    data: &[u8],
    uploaded_by: &str,
) -> Result<i64> {
    let (photo_id,): (i64,) = sqlx::query_as(
        "INSERT INTO case_photos (case_id, content_type, size_bytes, data, uploaded_by) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(case_id)
    .bind(content_type)
    .bind(size_bytes)
    .bind(data)
    .bind(uploaded_by)
    .fetch_one(db)
    .await?;
    Ok(photo_id)
}

/// Photo `id`, if there is one.
pub async fn get(db: impl PgExecutor<'_>, id: i64) -> Result<Option<Photo>> {
    sqlx::query_as("SELECT case_id, content_type, data FROM case_photos WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
}
