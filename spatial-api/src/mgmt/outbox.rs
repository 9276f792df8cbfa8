//! Delivery of case events to departments' own systems: rows of the `outbox` table
//! (written in the same transaction as the event) are POSTed to the department's
//! webhook with an `Idempotency-Key` header and, when the department has a secret, an
//! `X-Citygrid-Signature: sha256=<HMAC-SHA256 of the body>` header. A row stays until a
//! 2xx answer; failures are retried with exponential backoff (1 s, 2 s, 4 s … 5 min).
//! Rows of one case and department go out in order. `https://` webhooks are sent over
//! TLS (rustls) trusting the system's certificate authorities and, when configured,
//! those of `webhook_ca_file` (a private government CA); the client is built when the
//! service starts, so an unreadable CA file stops the start with a clear error.

use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::state::AppState;

/// Longest wait between two attempts.
pub const MAX_BACKOFF_SECS: i64 = 300;

/// HMAC-SHA256 (RFC 2104) of `message` under `key`, hex-encoded.
pub fn hmac_sha256_hex(key: &[u8], message: &[u8]) -> String {
    const BLOCK: usize = 64;
    let mut k = if key.len() > BLOCK {
        Sha256::digest(key).to_vec()
    } else {
        key.to_vec()
    };
    k.resize(BLOCK, 0);
    let ipad: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sha256::new()
        .chain_update(&ipad)
        .chain_update(message)
        .finalize();
    let outer = Sha256::new()
        .chain_update(&opad)
        .chain_update(inner)
        .finalize();
    hex::encode(outer)
}

/// The wait after `attempts` failed attempts.
pub fn backoff_secs(attempts: i32) -> i64 {
    let n = attempts.clamp(0, 20) as u32;
    (1i64 << n).min(MAX_BACKOFF_SECS)
}

/// The webhook client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The CA file could not be read.
    #[error("cannot read the webhook CA file {path}: {source}")]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The CA file holds no usable PEM certificate.
    #[error("the webhook CA file {path} holds no PEM certificate (expected -----BEGIN CERTIFICATE-----): {message}")]
    Pem {
        /// The file.
        path: std::path::PathBuf,
        /// The parser's message.
        message: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the webhook client: {0}")]
    Build(#[from] reqwest::Error),
}

/// The client webhooks are sent with: TLS with the system's CAs plus `ca_file`'s.
pub fn client(ca_file: Option<&std::path::Path>) -> Result<reqwest::Client, ClientError> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(3))
        // A department's endpoint is configured, not discovered: no redirects to
        // elsewhere with the signed body.
        .redirect(reqwest::redirect::Policy::none());
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).map_err(|source| ClientError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| ClientError::Pem {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        if certs.is_empty() {
            return Err(ClientError::Pem {
                path: path.to_path_buf(),
                message: "no certificate found".into(),
            });
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    Ok(builder.build()?)
}

/// Whether `url` is one the deliverer can send to: `http://` or `https://` with a
/// host, no user name or password, at most 2000 bytes. The error says what to fix.
pub fn check_webhook_url(url: &str) -> Result<(), String> {
    if url.len() > 2000 {
        return Err("a webhook URL is at most 2000 bytes".into());
    }
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| format!("{url:?} is not a valid URL ({e}); expected https://host/path"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!(
            "webhooks are sent over http:// or https://, not {}://",
            parsed.scheme()
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(format!("{url:?} has no host"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(
            "put no user name or password in a webhook URL; set webhook_secret to sign deliveries"
                .into(),
        );
    }
    Ok(())
}

/// An error with its causes ("error sending request …: … invalid peer certificate:
/// UnknownIssuer"), so that the outbox row says why a delivery failed.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let next = c.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        cause = c.source();
    }
    text.chars().take(1000).collect()
}

/// Runs the deliverer forever with `client`.
pub async fn run(state: AppState, client: reqwest::Client) {
    loop {
        let delivered = match deliver_batch(&state, &client).await {
            Ok(n) => n,
            Err(e) => {
                tracing::debug!(error = %e, "outbox pass failed");
                0
            }
        };
        if delivered == 0 {
            let _ = tokio::time::timeout(
                Duration::from_millis(500),
                state.mgmt.outbox_wake.notified(),
            )
            .await;
        }
    }
}

/// One pass: claims due rows (a 60 s lease), sends them, records the outcome.
/// Returns how many rows were attempted.
pub async fn deliver_batch(
    state: &AppState,
    client: &reqwest::Client,
) -> Result<usize, sqlx::Error> {
    let rows = citygrid_store::outbox::claim_due(&state.pool).await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let reference = state.mgmt.reference.get(&state.pool).await.ok();
    let n = rows.len();
    for (id, department, url, payload, key, attempts) in rows {
        let body = payload.to_string();
        let mut req = client
            .post(&url)
            .header("content-type", "application/json")
            .header("idempotency-key", &key)
            .header("x-citygrid-department", &department)
            .body(body.clone());
        if let Some(secret) = reference
            .as_ref()
            .and_then(|r| r.channels.get(&department))
            .and_then(|c| c.secret.as_deref())
        {
            req = req.header(
                "x-citygrid-signature",
                format!(
                    "sha256={}",
                    hmac_sha256_hex(secret.as_bytes(), body.as_bytes())
                ),
            );
        }
        let outcome = match req.send().await {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(format!("HTTP {}", r.status())),
            Err(e) => Err(error_chain(&e)),
        };
        state.metrics.webhook_attempt(outcome.is_ok());
        match outcome {
            Ok(()) => {
                citygrid_store::outbox::mark_delivered(&state.pool, id).await?;
            }
            Err(e) => {
                let wait = backoff_secs(attempts);
                tracing::debug!(outbox = id, error = %e, retry_in_s = wait, "webhook delivery failed");
                citygrid_store::outbox::mark_failed(
                    &state.pool,
                    id,
                    &e.chars().take(500).collect::<String>(),
                    wait as f64,
                )
                .await?;
            }
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        assert_eq!(
            hmac_sha256_hex(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn backoff_doubles_then_caps() {
        assert_eq!(backoff_secs(0), 1);
        assert_eq!(backoff_secs(3), 8);
        assert_eq!(backoff_secs(30), MAX_BACKOFF_SECS);
    }
}
