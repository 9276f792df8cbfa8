//! The service's clock for city-management times (reports, deadlines, evaluation
//! periods).
//!
//! It is the system clock unless `CITYGRID_CLOCK` is set at start to an RFC 3339
//! instant (`2026-03-02T23:30:00+08:00`): the clock then starts at that instant and
//! runs at the normal rate. Tests use it to run the case workflow at fixed hours
//! (around midnight in Asia/Shanghai); a city can use it to rehearse a holiday
//! period. Sign-in tokens, rate limits and caches always use the real clock.

use std::sync::OnceLock;

use chrono::{DateTime, Duration, FixedOffset, Utc};

/// The environment variable that sets the clock's start.
pub const ENV: &str = "CITYGRID_CLOCK";

/// How far the service's clock is ahead of the system's (zero unless set).
static SHIFT: OnceLock<Duration> = OnceLock::new();

/// A clock start that could not be used.
#[derive(Debug, thiserror::Error)]
#[error(
    "{ENV}={value:?} is not valid: expected an RFC 3339 time such as 2026-03-02T23:30:00+08:00"
)]
pub struct ClockError {
    value: String,
}

/// Reads `CITYGRID_CLOCK` once; unset or empty keeps the system clock.
pub fn init_from_env() -> Result<(), ClockError> {
    match std::env::var(ENV) {
        Ok(v) if !v.trim().is_empty() => {
            let start = DateTime::parse_from_rfc3339(v.trim())
                .map_err(|_| ClockError { value: v.clone() })?;
            start_at(start);
            tracing::warn!(start = %start, "the city-management clock is set by {ENV}");
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Starts the clock at `start` (once per process; later calls are ignored).
pub fn start_at(start: DateTime<FixedOffset>) {
    let _ = SHIFT.set(start.with_timezone(&Utc) - Utc::now());
}

/// Now, by the service's clock, as a fixed-offset time (UTC).
pub fn now() -> DateTime<FixedOffset> {
    (Utc::now() + SHIFT.get().copied().unwrap_or_else(Duration::zero)).fixed_offset()
}
