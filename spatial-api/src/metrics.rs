//! Prometheus metrics: request counts by route, method and status, latency histograms
//! by route, and counters of what the service did (cases reported by source, webhook
//! deliveries by outcome), rendered in the text exposition format; and the access log,
//! one line per request with its request id (target `citygrid_access`).
//!
//! Recording is lock-free on the hot path: each route pattern gets one
//! [`RouteStats`] of atomic counters the first time it is seen (a write lock,
//! once per route), after which a request costs a read-locked map lookup by
//! the pattern and three relaxed atomic additions — no allocation, no mutex.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Methods with their own counters; anything else is counted as the last one.
const METHODS: [&str; 8] = [
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "OTHER",
];

/// Statuses with their own counters; others go to a small locked map.
const STATUSES: [u16; 24] = [
    200, 201, 202, 204, 206, 301, 302, 304, 400, 401, 403, 404, 405, 406, 409, 410, 412, 413, 415,
    422, 429, 500, 503, 504,
];

fn method_index(m: &Method) -> usize {
    match *m {
        Method::GET => 0,
        Method::POST => 1,
        Method::PUT => 2,
        Method::PATCH => 3,
        Method::DELETE => 4,
        Method::HEAD => 5,
        Method::OPTIONS => 6,
        _ => 7,
    }
}

fn method_of(name: &str) -> usize {
    METHODS.iter().position(|m| *m == name).unwrap_or(7)
}

/// The counters of one route pattern.
pub struct RouteStats {
    /// `[method][status index]` request counts.
    requests: [[AtomicU64; STATUSES.len()]; METHODS.len()],
    /// Requests with a status outside [`STATUSES`]: (method index, status) → count.
    rare: Mutex<BTreeMap<(usize, u16), u64>>,
    /// Latency histogram, not cumulative: slot `i` counts requests in
    /// `(BUCKETS[i-1], BUCKETS[i]]`, the last slot those above every bound.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    /// Sum of latencies in nanoseconds.
    sum_nanos: AtomicU64,
}

impl Default for RouteStats {
    fn default() -> Self {
        RouteStats {
            requests: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
            rare: Mutex::new(BTreeMap::new()),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_nanos: AtomicU64::new(0),
        }
    }
}

impl RouteStats {
    fn record(&self, method: usize, status: u16, nanos: u64) {
        let method = method.min(METHODS.len() - 1);
        match STATUSES.iter().position(|s| *s == status) {
            Some(i) => {
                self.requests[method][i].fetch_add(1, Relaxed);
            }
            None => {
                if let Ok(mut rare) = self.rare.lock() {
                    *rare.entry((method, status)).or_default() += 1;
                }
            }
        }
        let seconds = nanos as f64 / 1e9;
        let slot = BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(BUCKETS.len());
        self.buckets[slot].fetch_add(1, Relaxed);
        self.sum_nanos.fetch_add(nanos, Relaxed);
    }

    /// (method, status, count) of every non-zero counter, sorted.
    fn counts(&self) -> Vec<(&'static str, u16, u64)> {
        let mut out: Vec<(&'static str, u16, u64)> = Vec::new();
        for (m, row) in self.requests.iter().enumerate() {
            for (s, n) in row.iter().enumerate() {
                let n = n.load(Relaxed);
                if n > 0 {
                    out.push((METHODS[m], STATUSES[s], n));
                }
            }
        }
        if let Ok(rare) = self.rare.lock() {
            out.extend(rare.iter().map(|((m, s), n)| (METHODS[*m], *s, *n)));
        }
        out.sort_unstable();
        out
    }
}

/// The service's counters.
pub struct Metrics {
    routes: RwLock<HashMap<Box<str>, Arc<RouteStats>>>,
    started: Instant,
    /// Cases reported, by source (the sources intake accepts: a small fixed set).
    cases_reported: Mutex<BTreeMap<String, u64>>,
    /// Webhook delivery attempts, by outcome (`delivered`, `failed`).
    webhook_attempts: Mutex<BTreeMap<&'static str, u64>>,
    /// Statements run to make tiles of layers served from the database.
    tile_db_queries: AtomicU64,
    /// Requests waiting now for such a statement (their own or one they share).
    tile_db_waiting: AtomicU64,
}

/// One request counted as waiting for a database tile statement until it is dropped
/// (an answer or a cancelled request).
pub struct TileDbWait<'a>(&'a AtomicU64);

impl Drop for TileDbWait<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            routes: RwLock::new(HashMap::new()),
            started: Instant::now(),
            cases_reported: Mutex::new(BTreeMap::new()),
            webhook_attempts: Mutex::new(BTreeMap::new()),
            tile_db_queries: AtomicU64::new(0),
            tile_db_waiting: AtomicU64::new(0),
        }
    }
}

/// At most this many distinct case sources are counted apart (the rest as `other`).
const MAX_SOURCES: usize = 32;

impl Metrics {
    /// The counters of a route pattern (created on first use).
    pub fn route(&self, route: &str) -> Arc<RouteStats> {
        if let Some(s) = self.routes.read().ok().and_then(|m| m.get(route).cloned()) {
            return s;
        }
        match self.routes.write() {
            Ok(mut m) => m.entry(route.into()).or_default().clone(),
            // A poisoned lock only loses this request's count.
            Err(_) => Arc::new(RouteStats::default()),
        }
    }

    /// Records one finished request.
    pub fn record(&self, route: &str, method: &str, status: u16, seconds: f64) {
        let nanos = (seconds.max(0.0) * 1e9).min(u64::MAX as f64) as u64;
        self.route(route).record(method_of(method), status, nanos);
    }

    /// Counts one case reported through `source` (inspector, hotline, open311, …).
    pub fn case_reported(&self, source: &str) {
        if let Ok(mut m) = self.cases_reported.lock() {
            let key = if m.contains_key(source) || m.len() < MAX_SOURCES {
                source.to_string()
            } else {
                "other".to_string()
            };
            *m.entry(key).or_default() += 1;
        }
    }

    /// Counts one webhook delivery attempt.
    pub fn webhook_attempt(&self, delivered: bool) {
        if let Ok(mut m) = self.webhook_attempts.lock() {
            *m.entry(if delivered { "delivered" } else { "failed" })
                .or_default() += 1;
        }
    }

    /// Counts one statement run to make a tile of layers served from the database.
    pub fn tile_db_query(&self) {
        self.tile_db_queries.fetch_add(1, Relaxed);
    }

    /// Counts a request as waiting for a database tile statement while the result lives.
    pub fn tile_db_wait(&self) -> TileDbWait<'_> {
        self.tile_db_waiting.fetch_add(1, Relaxed);
        TileDbWait(&self.tile_db_waiting)
    }

    /// The counters of what the service did.
    pub fn render_counters(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP citygrid_tile_db_queries_total Statements run by this process to make tiles of layers served from the database (concurrent misses of a tile share one).\n\
             # TYPE citygrid_tile_db_queries_total counter\n\
             citygrid_tile_db_queries_total {}",
            self.tile_db_queries.load(Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP citygrid_tile_db_waiting Requests waiting now for a statement making a tile of layers served from the database (their own or one they share).\n\
             # TYPE citygrid_tile_db_waiting gauge\n\
             citygrid_tile_db_waiting {}",
            self.tile_db_waiting.load(Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP citygrid_cases_reported_total Cases reported by this process, by source."
        );
        let _ = writeln!(out, "# TYPE citygrid_cases_reported_total counter");
        if let Ok(m) = self.cases_reported.lock() {
            for (source, n) in m.iter() {
                let _ = writeln!(
                    out,
                    "citygrid_cases_reported_total{{source=\"{}\"}} {n}",
                    escape(source)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP citygrid_webhook_attempts_total Webhook delivery attempts by this process, by outcome."
        );
        let _ = writeln!(out, "# TYPE citygrid_webhook_attempts_total counter");
        if let Ok(m) = self.webhook_attempts.lock() {
            for outcome in ["delivered", "failed"] {
                let n = m.get(outcome).copied().unwrap_or(0);
                let _ = writeln!(
                    out,
                    "citygrid_webhook_attempts_total{{outcome=\"{outcome}\"}} {n}"
                );
            }
        }
    }

    /// Seconds since the service started.
    pub fn uptime_seconds(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// The text exposition of the request metrics.
    pub fn render(&self, out: &mut String) {
        let mut routes: Vec<(String, Arc<RouteStats>)> = self
            .routes
            .read()
            .map(|m| m.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
            .unwrap_or_default();
        routes.sort_by(|a, b| a.0.cmp(&b.0));
        let _ = writeln!(
            out,
            "# HELP citygrid_http_requests_total HTTP requests by route, method and status."
        );
        let _ = writeln!(out, "# TYPE citygrid_http_requests_total counter");
        for (route, stats) in &routes {
            let route = escape(route);
            for (method, status, n) in stats.counts() {
                let _ = writeln!(
                    out,
                    "citygrid_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {n}"
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP citygrid_http_request_duration_seconds HTTP request latency by route."
        );
        let _ = writeln!(
            out,
            "# TYPE citygrid_http_request_duration_seconds histogram"
        );
        for (route, h) in &routes {
            let route = escape(route);
            let mut cumulative = 0u64;
            for (i, bound) in BUCKETS.iter().enumerate() {
                cumulative += h.buckets[i].load(Relaxed);
                let _ = writeln!(
                    out,
                    "citygrid_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let count = cumulative + h.buckets[BUCKETS.len()].load(Relaxed);
            let _ = writeln!(
                out,
                "citygrid_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(
                out,
                "citygrid_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                h.sum_nanos.load(Relaxed) as f64 / 1e9
            );
            let _ = writeln!(
                out,
                "citygrid_http_request_duration_seconds_count{{route=\"{route}\"}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP citygrid_uptime_seconds Seconds since the service started."
        );
        let _ = writeln!(out, "# TYPE citygrid_uptime_seconds gauge");
        let _ = writeln!(out, "citygrid_uptime_seconds {}", self.uptime_seconds());
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Middleware: counts every request under its route pattern (not its raw path,
/// so that ids and tile numbers do not explode the label set).
pub async fn track(
    State(metrics): State<Arc<Metrics>>,
    State(config): State<Arc<citygrid_db::Config>>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_string();
    let stats = metrics.route(&route);
    let method = method_index(request.method());
    let id = request_id(request.headers());
    let access = config.access_log.then(|| AccessLine {
        method: request.method().to_string(),
        path: request.uri().path().to_string(),
        query: redacted_query(request.uri().query()),
        client: request
            .extensions()
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip().to_string()),
    });
    let start = Instant::now();
    let mut response = next.run(request).await;
    let elapsed = start.elapsed();
    let nanos = elapsed.as_nanos().min(u64::MAX as u128) as u64;
    let status = response.status().as_u16();
    stats.record(method, status, nanos);
    if let Ok(v) = axum::http::HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    if let Some(a) = access {
        // The declared length, else the body's when it is known (a body of bytes, as
        // the tile fast path logs it); none for a stream.
        let bytes = response
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .or_else(|| axum::body::HttpBody::size_hint(response.body()).exact());
        // Debug formatting quotes and escapes the client's text (no forged lines).
        tracing::info!(
            target: "citygrid_access",
            request_id = %id,
            method = %a.method,
            path = ?a.path,
            query = ?a.query,
            route = ?route,
            status,
            ms = (elapsed.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0,
            bytes,
            client = a.client.as_deref().unwrap_or("-"),
            "request"
        );
    }
    response
}

/// What the access log records of a request.
struct AccessLine {
    method: String,
    path: String,
    query: String,
    client: Option<String>,
}

/// The request id: the client's `X-Request-Id` when it is a short token (a proxy's
/// or a department system's, so one id follows the request), otherwise a new one.
fn request_id(headers: &axum::http::HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        })
        .map_or_else(|| format!("{:016x}", rand::random::<u64>()), str::to_string)
}

/// The query string with the values of credentials replaced by `***`.
fn redacted_query(query: Option<&str>) -> String {
    const SECRET: [&str; 5] = ["key", "api_key", "token", "password", "access_token"];
    let Some(q) = query else {
        return String::new();
    };
    q.split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if SECRET.iter().any(|s| k.eq_ignore_ascii_case(s)) => {
                format!("{k}=***")
            }
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
        .chars()
        .take(2000)
        .collect()
}

/// The page size assumed for `/proc/self/statm` (the crate does not link libc to ask
/// `sysconf(_SC_PAGESIZE)`; 4096 bytes on x86-64 and usual aarch64 Linux kernels).
const PAGE_SIZE: u64 = 4096;

/// Resident pages from the text of `/proc/self/statm` (`size resident shared …`, in
/// pages); `None` when the text is not of that form.
pub fn statm_resident_pages(statm: &str) -> Option<u64> {
    let mut fields = statm.split_ascii_whitespace();
    let _size: u64 = fields.next()?.parse().ok()?;
    fields.next()?.parse().ok()
}

/// The process's resident memory in bytes (`process_resident_memory_bytes`): Linux
/// only, `None` elsewhere or when `/proc/self/statm` cannot be read.
pub fn resident_memory_bytes() -> Option<u64> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    statm_resident_pages(&statm).map(|pages| pages.saturating_mul(PAGE_SIZE))
}

#[cfg(test)]
mod tests {
    #[test]
    fn statm_resident_pages_parses_the_second_field() {
        assert_eq!(
            super::statm_resident_pages("10823 2466 1505 1 0 1142 0\n"),
            Some(2466)
        );
        assert_eq!(super::statm_resident_pages("7 0"), Some(0));
        for bad in ["", "10823", "10823 x 1", "-1 5", "10823 -5 1", "a b c"] {
            assert_eq!(super::statm_resident_pages(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn resident_memory_is_read_on_linux() {
        let rss = super::resident_memory_bytes();
        if cfg!(target_os = "linux") {
            assert!(
                rss.is_some_and(|b| b > 0 && b % super::PAGE_SIZE == 0),
                "{rss:?}"
            );
        } else {
            assert_eq!(rss, None);
        }
    }

    use super::*;

    #[test]
    fn credentials_never_reach_the_access_log() {
        assert_eq!(
            redacted_query(Some("key=abc&layers=a,b&API_KEY=x&token=t")),
            "key=***&layers=a,b&API_KEY=***&token=***"
        );
        assert_eq!(redacted_query(None), "");
    }

    #[test]
    fn request_ids_are_taken_only_when_tame() {
        let mut h = axum::http::HeaderMap::new();
        h.insert("x-request-id", "abc-123.x_y".parse().unwrap());
        assert_eq!(request_id(&h), "abc-123.x_y");
        h.insert("x-request-id", "a b".parse().unwrap());
        let fresh = request_id(&h);
        assert_eq!(fresh.len(), 16, "{fresh}");
        assert!(fresh.bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn counts_cases_by_source_with_a_bound() {
        let m = Metrics::default();
        m.case_reported("hotline");
        m.case_reported("hotline");
        for i in 0..100 {
            m.case_reported(&format!("s{i}"));
        }
        m.webhook_attempt(false);
        let mut out = String::new();
        m.render_counters(&mut out);
        assert!(
            out.contains("citygrid_cases_reported_total{source=\"hotline\"} 2"),
            "{out}"
        );
        assert!(
            out.contains("citygrid_cases_reported_total{source=\"other\"}"),
            "{out}"
        );
        assert!(
            out.lines()
                .filter(|l| l.starts_with("citygrid_cases_reported_total"))
                .count()
                <= MAX_SOURCES + 1
        );
        assert!(
            out.contains("citygrid_webhook_attempts_total{outcome=\"failed\"} 1"),
            "{out}"
        );
    }

    #[test]
    fn renders_counts_and_cumulative_buckets() {
        let m = Metrics::default();
        m.record("/a", "GET", 200, 0.0005);
        m.record("/a", "GET", 200, 0.02);
        m.record("/a", "POST", 418, 20.0);
        m.record("/b\"", "BREW", 599, 0.003);
        let mut out = String::new();
        m.render(&mut out);
        for line in [
            r#"citygrid_http_requests_total{route="/a",method="GET",status="200"} 2"#,
            r#"citygrid_http_requests_total{route="/a",method="POST",status="418"} 1"#,
            r#"citygrid_http_requests_total{route="/b\"",method="OTHER",status="599"} 1"#,
            r#"citygrid_http_request_duration_seconds_bucket{route="/a",le="0.001"} 1"#,
            r#"citygrid_http_request_duration_seconds_bucket{route="/a",le="0.025"} 2"#,
            r#"citygrid_http_request_duration_seconds_bucket{route="/a",le="10"} 2"#,
            r#"citygrid_http_request_duration_seconds_bucket{route="/a",le="+Inf"} 3"#,
            r#"citygrid_http_request_duration_seconds_count{route="/a"} 3"#,
        ] {
            assert!(out.contains(line), "{line}\n{out}");
        }
        assert!(out.contains(r#"citygrid_http_request_duration_seconds_sum{route="/a"} 20.0205"#));
    }
}
