//! `Idempotency-Key` on the writes a client may have to repeat without knowing whether
//! the first attempt arrived: `POST /api/cases`, `POST /api/cases/{id}/photos` and
//! Open311 `POST requests`.
//!
//! - The key: 1–[`MAX_KEY_LEN`] printable ASCII characters (0x20–0x7E), one header;
//!   anything else is 400.
//! - Scope: the principal (`user:<id>`, or `key:<id>` for an API key); the same key of
//!   two principals is two keys.
//! - The request is identified by the SHA-256 of what it is (method and target) and its
//!   canonical body: the parsed JSON with sorted keys, the Open311 form's fields
//!   (without `api_key`) sorted, or the photo's bytes with the `stage` asked for.
//! - The key is claimed in the statement that writes the case or the photo (see
//!   `citygrid_store::idempotency`): a new key costs no extra round trip. When it is
//!   taken, the stored response is returned (same status, same case or photo id,
//!   header `Idempotent-Replayed: true`) if the request is the same, and 422
//!   ([`KEY_REUSED`]) if it is not. Only successful requests store a key: a refused
//!   request may be repeated, and is refused again or succeeds.
//! - Keys are kept [`RETENTION_DAYS`] days, then pruned (hourly).

use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use citygrid_store::idempotency::{self as store, Stored};
pub use citygrid_store::idempotency::{Claim, RETENTION_DAYS};
use citygrid_store::PgPool;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::AppState;

/// The request header.
pub const HEADER: &str = "idempotency-key";
/// The response header of a replayed response.
pub const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
/// The longest key.
pub const MAX_KEY_LEN: usize = 200;
/// The refusal of a key used before for another request.
pub const KEY_REUSED: &str =
    "this Idempotency-Key was already used for a different request: use a new key for a new request";

/// The `Idempotency-Key` of a request, checked (`None`: the header is absent).
pub fn key_from(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let mut values = headers.get_all(HEADER).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::BadRequest(
            "send one Idempotency-Key header, not several".into(),
        ));
    }
    let bytes = value.as_bytes();
    if bytes.is_empty()
        || bytes.len() > MAX_KEY_LEN
        || !bytes.iter().all(|b| (0x20..=0x7E).contains(b))
    {
        return Err(ApiError::BadRequest(format!(
            "Idempotency-Key must be 1 to {MAX_KEY_LEN} printable ASCII characters (a UUID is a good key)"
        )));
    }
    // printable ASCII is UTF-8
    Ok(Some(String::from_utf8_lossy(bytes).into_owned()))
}

/// Whom keys of `principal` belong to (`None`: an anonymous caller, who cannot use
/// keys).
pub fn owner(principal: &Principal) -> Option<String> {
    match principal {
        Principal::User(u) => Some(format!("user:{}", u.id)),
        Principal::Key(k) => Some(format!("key:{}", k.id)),
        Principal::Anonymous => None,
    }
}

/// A key claimed by a request: who, which key, which request.
#[derive(Debug, Clone)]
pub struct KeyedRequest {
    /// [`owner`].
    pub principal: String,
    /// The header's value.
    pub key: String,
    /// [`request_hash`].
    pub hash: Vec<u8>,
}

impl KeyedRequest {
    /// The claim to write with the case or the photo.
    pub fn claim(&self) -> Claim<'_> {
        Claim {
            principal: &self.principal,
            key: &self.key,
            request_hash: &self.hash,
        }
    }
}

/// SHA-256 of what the request is (`what`: method and target) and its canonical body.
pub fn request_hash(what: &str, canonical: &[u8]) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(what.as_bytes());
    h.update([0]);
    h.update(canonical);
    h.finalize().to_vec()
}

/// `v` as JSON text with every object's keys sorted (whatever the order they came in).
pub fn canonical_json(v: &Value) -> Vec<u8> {
    fn write(v: &Value, out: &mut Vec<u8>) {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                out.push(b'{');
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(Value::String(k.clone()).to_string().as_bytes());
                    out.push(b':');
                    if let Some(x) = m.get(k) {
                        write(x, out);
                    }
                }
                out.push(b'}');
            }
            Value::Array(a) => {
                out.push(b'[');
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write(x, out);
                }
                out.push(b']');
            }
            other => out.extend_from_slice(other.to_string().as_bytes()),
        }
    }
    let mut out = Vec::new();
    write(v, &mut out);
    out
}

/// The response stored for `req`'s key: `Ok(Some)` to replay, `Ok(None)` when the key
/// is not taken, 422 when it was taken by a different request.
pub async fn stored(pool: &PgPool, req: &KeyedRequest) -> Result<Option<Stored>, ApiError> {
    match store::stored(pool, &req.principal, &req.key).await? {
        Some(s) if s.request_hash == req.hash => Ok(Some(s)),
        Some(_) => Err(ApiError::Unprocessable(KEY_REUSED.into())),
        None => Ok(None),
    }
}

/// [`stored`] after the write found the key taken: the row is there (the other request
/// committed before our statement gave up on it).
pub async fn taken(pool: &PgPool, req: &KeyedRequest) -> Result<Stored, ApiError> {
    stored(pool, req).await?.ok_or_else(|| {
        ApiError::Conflict(
            "this Idempotency-Key is in use by a request that has not finished: try again".into(),
        )
    })
}

/// Marks a replayed response.
pub fn mark_replayed(headers: &mut HeaderMap) {
    headers.insert(REPLAYED, HeaderValue::from_static("true"));
}

/// Prunes keys older than [`RETENTION_DAYS`]: at start, then every hour.
pub async fn prune(state: AppState) {
    loop {
        match store::prune(&state.pool).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "expired idempotency keys pruned"),
            Err(e) => tracing::debug!(error = %e, "idempotency key pruning skipped"),
        }
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_are_checked() {
        let mut h = HeaderMap::new();
        assert_eq!(key_from(&h).ok(), Some(None));
        h.insert(HEADER, HeaderValue::from_static("3f2a-01 ok"));
        assert_eq!(key_from(&h).ok(), Some(Some("3f2a-01 ok".into())));
        for bad in ["", "\t"] {
            h.insert(HEADER, HeaderValue::from_static(bad));
            assert!(key_from(&h).is_err(), "{bad:?}");
        }
        h.insert(HEADER, HeaderValue::from_str(&"k".repeat(201)).unwrap());
        assert!(key_from(&h).is_err());
        h.insert(HEADER, HeaderValue::from_str(&"k".repeat(200)).unwrap());
        assert!(key_from(&h).is_ok());
        h.insert(HEADER, HeaderValue::from_bytes("ключ".as_bytes()).unwrap());
        assert!(key_from(&h).is_err());
        h.insert(HEADER, HeaderValue::from_static("a"));
        h.append(HEADER, HeaderValue::from_static("b"));
        assert!(key_from(&h).is_err());
    }

    #[test]
    fn canonical_bodies() {
        let a = json!({"b": 1, "a": {"y": [1, {"q": 2, "p": "x"}], "x": null}});
        let b: Value =
            serde_json::from_str(r#"{"a":{"x":null,"y":[1,{"p":"x","q":2}]},"b":1}"#).unwrap();
        assert_eq!(canonical_json(&a), canonical_json(&b));
        assert_eq!(
            String::from_utf8(canonical_json(&a)).unwrap(),
            r#"{"a":{"x":null,"y":[1,{"p":"x","q":2}]},"b":1}"#
        );
        assert_ne!(
            request_hash("POST /api/cases", &canonical_json(&a)),
            request_hash("POST /api/cases/1/photos", &canonical_json(&a))
        );
    }
}
