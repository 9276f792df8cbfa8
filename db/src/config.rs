//! Configuration: environment beats `citygrid.toml` beats defaults.
//!
//! | key (`citygrid.toml`) | environment | default |
//! |---|---|---|
//! | `database_url` | `DATABASE_URL` | unset: the local cluster under `home` |
//! | `database_read_urls` | `DATABASE_READ_URLS` (comma-separated) | none: everything is read from `database_url`. Hot standbys to load layers from: a layer is read from a standby only once it has replayed the primary's WAL up to the change notice (else from the primary after `read_wait_ms`) |
//! | `read_wait_ms` | `CITYGRID_READ_WAIT_MS` | 2000: how long a layer load waits for a standby to catch up before it reads the primary (0–60000) |
//! | `home` | `CITYGRID_HOME` | `./.citygrid` |
//! | `bind` | `CITYGRID_BIND` | `127.0.0.1:8080` |
//! | `max_body_bytes` | `CITYGRID_MAX_BODY_BYTES` | 1 MiB |
//! | `max_upload_bytes` | `CITYGRID_MAX_UPLOAD_BYTES` | 8 MiB (photos) |
//! | `token_ttl_minutes` | `CITYGRID_TOKEN_TTL_MINUTES` | 720 (12 h) |
//! | `public_layers` | `CITYGRID_PUBLIC_LAYERS` | `true`: anyone may read map layers |
//! | `cases_public_view` | `CITYGRID_CASES_PUBLIC_VIEW` | `hidden`: anonymous visitors see no case points (the `cases` layer is for signed-in users only, and `/ogc/collections` does not list it to them); `status`: they see the case points with their status, as before (only when `public_layers` is on) |
//! | `db_max_connections` | `CITYGRID_DB_MAX_CONNECTIONS` | 16 |
//! | `request_timeout_secs` | `CITYGRID_REQUEST_TIMEOUT_SECS` | 30 |
//! | `max_tile_bytes` | `CITYGRID_MAX_TILE_BYTES` | 500000 (vector tiles are thinned to fit) |
//! | `tile_cache_bytes` | `CITYGRID_TILE_CACHE_BYTES` | 256 MiB |
//! | `tile_stale_secs` | `CITYGRID_TILE_STALE_SECS` | 30: a changed vector tile is served from its previous encoding, at most this old, while the fresh one runs (0: never; the request waits for the fresh encoding), 0–3600 |
//! | `history_retention_days` | `CITYGRID_HISTORY_RETENTION_DAYS` | 90: how long the history of a layer without its own retention (`citygrid layer set-retention`) is kept — feature edits and the tables re-imports replaced — before the server prunes it, 1–36500 |
//! | `rate_limit` | `CITYGRID_RATE_LIMIT` | `true`: the rate limits below apply (429 + `Retry-After`) |
//! | `rate_limit_read_per_sec` | `CITYGRID_RATE_LIMIT_READ_PER_SEC` | 200 reads (GET/HEAD) per second per client address and per signed-in user (0: no limit) |
//! | `rate_limit_read_burst` | `CITYGRID_RATE_LIMIT_READ_BURST` | 2000 (a map page loads dozens of tiles at once) |
//! | `rate_limit_write_per_sec` | `CITYGRID_RATE_LIMIT_WRITE_PER_SEC` | 50 writes (POST/PATCH/PUT/DELETE) per second per address and per user (0: no limit) |
//! | `rate_limit_write_burst` | `CITYGRID_RATE_LIMIT_WRITE_BURST` | 500 |
//! | `rate_limit_key_per_sec` | `CITYGRID_RATE_LIMIT_KEY_PER_SEC` | 1000 requests per second per API key, all its users together (0: no limit) |
//! | `rate_limit_key_burst` | `CITYGRID_RATE_LIMIT_KEY_BURST` | 10000 |
//! | `rate_limit_login_per_min` | `CITYGRID_RATE_LIMIT_LOGIN_PER_MIN` | 10 failed logins per minute per address (0: no limit) |
//! | `rate_limit_login_burst` | `CITYGRID_RATE_LIMIT_LOGIN_BURST` | 10 |
//! | `access_log` | `CITYGRID_ACCESS_LOG` | `true`: one line per request (target `citygrid_access`: request id, method, path, query with credentials masked, status, ms, bytes, client); `CITYGRID_LOG_FORMAT=json` writes every log line as JSON |
//! | `webhook_ca_file` | `CITYGRID_WEBHOOK_CA_FILE` | none: webhooks over https trust the system's certificate authorities (`/etc/ssl/certs`); a PEM file of further ones (a government's private CA) is trusted as well |
//! | `trusted_proxies` | `CITYGRID_TRUSTED_PROXIES` | none: the client address is the TCP peer; list reverse proxies' IP addresses (comma-separated in the environment) to take it from `X-Forwarded-For` |
//! | `home_bbox` | `CITYGRID_HOME_BBOX` | none: the city's home view (where every page and the default style open) is the bounds of the administrative divisions, else of the unit grids, streets or communities, else of the largest vector layer; `[west, south, east, north]` in degrees (`w,s,e,n` in the environment) sets it |
//! | `[geocode] road_layers` | `CITYGRID_GEOCODE_ROAD_LAYERS` (comma-separated) | none: the geocoder reads named roads from every line layer whose id ends in `_roads` (`import osm`'s); list layer ids to use those instead |
//! | `home_center`, `home_zoom` | `CITYGRID_HOME_CENTER` (`lon,lat`), `CITYGRID_HOME_ZOOM` | none: a centre and zoom (0–20) for the home view instead of a box (both together; `home_bbox` wins when both are set) |
//! | `timezone` | `CITYGRID_TIMEZONE` | `Asia/Shanghai`: the city's time zone (an IANA name) for every date people see or choose: evaluation periods and "today", deadlines shown, exports |
//! | `font_dir` | `CITYGRID_FONT_DIR` | `/usr/share/fonts`: the folder searched (with its subfolders) for the TrueType/OpenType fonts the map glyphs (`/fonts/{fontstack}/{range}.pbf`) are made from (Debian's `fonts-noto-core`, `fonts-noto-cjk`) |
//! | `public_url` | `CITYGRID_PUBLIC_URL` | none: links in TileJSON, styles, OGC API and Open311 discovery are made from the request's `Host`; set the address the public reaches the service at (`https://gis.example.gov.cn`) so that no `Host` header is ever echoed into them |
//!
//! The connection pool never holds more than `db_max_connections` connections (plus
//! one per change listener); a request that cannot get one within 5 s is answered 503
//! with `Retry-After`.
//!
//! The file is `citygrid.toml` in the working directory, or the path in
//! `CITYGRID_CONFIG`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Everything citygrid can be configured with.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// An external PostgreSQL/PostGIS server; `None` means the local cluster.
    pub database_url: Option<String>,
    /// Hot standbys layer data is read from (see [`crate::config`]).
    pub database_read_urls: Vec<String>,
    /// How long a read waits for a standby to replay a change (milliseconds).
    pub read_wait_ms: u64,
    /// Where the local cluster and other state live.
    pub home: PathBuf,
    /// The address the HTTP service listens on.
    pub bind: String,
    /// The largest request body accepted (bytes).
    pub max_body_bytes: usize,
    /// The largest upload (photo) accepted (bytes).
    pub max_upload_bytes: usize,
    /// How long a login token is valid (minutes).
    pub token_ttl_minutes: i64,
    /// Whether map layers (catalog, tiles, OGC API) may be read without credentials.
    pub public_layers: bool,
    /// What anonymous visitors see of the `cases` layer: `hidden` (nothing) or
    /// `status` (the points with their status).
    pub cases_public_view: String,
    /// Connections in the pool at most.
    pub db_max_connections: u32,
    /// A request taking longer than this is answered 503 (seconds).
    pub request_timeout_secs: u64,
    /// The largest vector tile served; denser tiles are thinned to fit.
    pub max_tile_bytes: usize,
    /// The memory for cached tiles.
    pub tile_cache_bytes: usize,
    /// The oldest previous encoding of a changed vector tile served while the fresh
    /// one runs (seconds; 0: never serve an older encoding).
    pub tile_stale_secs: u64,
    /// Days a layer's history (feature edits, replaced tables) is kept when the layer
    /// has no retention of its own.
    pub history_retention_days: i32,
    /// Whether the rate limits apply at all.
    pub rate_limit: bool,
    /// Reads (GET/HEAD/OPTIONS) per second per client address and per user (0: unlimited).
    pub rate_limit_read_per_sec: f64,
    /// Reads allowed at once before the per-second rate applies.
    pub rate_limit_read_burst: u32,
    /// Writes (other methods) per second per client address and per user (0: unlimited).
    pub rate_limit_write_per_sec: f64,
    /// Writes allowed at once before the per-second rate applies.
    pub rate_limit_write_burst: u32,
    /// Requests per second per API key (0: unlimited).
    pub rate_limit_key_per_sec: f64,
    /// Requests per API key allowed at once.
    pub rate_limit_key_burst: u32,
    /// Failed logins per minute per client address (0: unlimited).
    pub rate_limit_login_per_min: f64,
    /// Failed logins per address allowed at once.
    pub rate_limit_login_burst: u32,
    /// Reverse proxies whose `X-Forwarded-For` is believed (IP addresses).
    pub trusted_proxies: Vec<String>,
    /// The address the public reaches the service at (`https://host[:port][/path]`,
    /// no trailing slash): the base of every link the service writes. `None`: the
    /// request's `Host`.
    pub public_url: Option<String>,
    /// A PEM file of certificate authorities trusted for https webhooks, beside the system's.
    pub webhook_ca_file: Option<PathBuf>,
    /// Whether every request is logged (the access log).
    pub access_log: bool,
    /// The folder (searched with its subfolders) of the fonts map glyphs are made from.
    pub font_dir: PathBuf,
    /// The city's time zone (IANA name, checked by `validate`).
    pub timezone: String,
    /// The home view's box `[west, south, east, north]`, when configured.
    pub home_bbox: Option<[f64; 4]>,
    /// The home view's centre `[lon, lat]`, when configured (with `home_zoom`).
    pub home_center: Option<[f64; 2]>,
    /// The home view's zoom, when configured (with `home_center`).
    pub home_zoom: Option<f64>,
    /// The layers the geocoder reads named roads from (`[geocode] road_layers`); empty:
    /// every line layer whose id ends in `_roads`.
    pub geocode_road_layers: Vec<String>,
}

/// The default city time zone.
pub const DEFAULT_TIMEZONE: &str = "Asia/Shanghai";

impl Config {
    /// The city's time zone (`timezone`; the default when it does not parse, which
    /// `validate` refuses at start).
    pub fn tz(&self) -> chrono_tz::Tz {
        self.timezone
            .parse()
            .unwrap_or(chrono_tz::Tz::Asia__Shanghai)
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database_url: None,
            database_read_urls: Vec::new(),
            read_wait_ms: 2000,
            home: PathBuf::from(".citygrid"),
            bind: "127.0.0.1:8080".to_string(),
            max_body_bytes: 1024 * 1024,
            max_upload_bytes: 8 * 1024 * 1024,
            token_ttl_minutes: 12 * 60,
            public_layers: true,
            cases_public_view: "hidden".to_string(),
            db_max_connections: 16,
            request_timeout_secs: 30,
            max_tile_bytes: 500_000,
            tile_cache_bytes: 256 * 1024 * 1024,
            tile_stale_secs: 30,
            history_retention_days: 90,
            rate_limit: true,
            rate_limit_read_per_sec: 200.0,
            rate_limit_read_burst: 2000,
            rate_limit_write_per_sec: 50.0,
            rate_limit_write_burst: 500,
            rate_limit_key_per_sec: 1000.0,
            rate_limit_key_burst: 10_000,
            rate_limit_login_per_min: 10.0,
            rate_limit_login_burst: 10,
            trusted_proxies: Vec::new(),
            public_url: None,
            webhook_ca_file: None,
            access_log: true,
            font_dir: PathBuf::from("/usr/share/fonts"),
            timezone: DEFAULT_TIMEZONE.to_string(),
            home_bbox: None,
            home_center: None,
            home_zoom: None,
            geocode_road_layers: Vec::new(),
        }
    }
}

/// A configuration value that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The configuration file is not valid TOML of the expected shape.
    #[error("{path} is not a valid citygrid configuration: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// A value has the right type but cannot be used.
    #[error("configuration {key} = {value:?} is not valid: expected {expected}")]
    Invalid {
        /// The `citygrid.toml` key.
        key: &'static str,
        /// Its value.
        value: String,
        /// What it should look like.
        expected: &'static str,
    },
    /// An environment variable has a value of the wrong type.
    #[error("environment variable {name}={value:?} is not valid: expected {expected}")]
    Env {
        /// The variable.
        name: String,
        /// Its value.
        value: String,
        /// What it should look like.
        expected: &'static str,
    },
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    database_url: Option<String>,
    database_read_urls: Option<Vec<String>>,
    read_wait_ms: Option<u64>,
    home: Option<PathBuf>,
    bind: Option<String>,
    max_body_bytes: Option<usize>,
    max_upload_bytes: Option<usize>,
    token_ttl_minutes: Option<i64>,
    public_layers: Option<bool>,
    cases_public_view: Option<String>,
    db_max_connections: Option<u32>,
    request_timeout_secs: Option<u64>,
    max_tile_bytes: Option<usize>,
    tile_cache_bytes: Option<usize>,
    tile_stale_secs: Option<u64>,
    history_retention_days: Option<i32>,
    rate_limit: Option<bool>,
    rate_limit_read_per_sec: Option<f64>,
    rate_limit_read_burst: Option<u32>,
    rate_limit_write_per_sec: Option<f64>,
    rate_limit_write_burst: Option<u32>,
    rate_limit_key_per_sec: Option<f64>,
    rate_limit_key_burst: Option<u32>,
    rate_limit_login_per_min: Option<f64>,
    rate_limit_login_burst: Option<u32>,
    trusted_proxies: Option<Vec<String>>,
    public_url: Option<String>,
    webhook_ca_file: Option<PathBuf>,
    access_log: Option<bool>,
    font_dir: Option<PathBuf>,
    timezone: Option<String>,
    home_bbox: Option<[f64; 4]>,
    home_center: Option<[f64; 2]>,
    home_zoom: Option<f64>,
    geocode: Option<GeocodeFile>,
}

/// The `[geocode]` table of `citygrid.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct GeocodeFile {
    road_layers: Option<Vec<String>>,
}

impl Config {
    /// Loads the configuration from the process environment and the config file.
    pub fn load() -> Result<Config, ConfigError> {
        let env: HashMap<String, String> = std::env::vars().collect();
        let path = env
            .get("CITYGRID_CONFIG")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("citygrid.toml"));
        let required = env.contains_key("CITYGRID_CONFIG");
        Config::from_sources(&env, Some(&path), required)
    }

    /// Builds the configuration from an explicit environment and optional file.
    ///
    /// A missing file is an error only when `file_required` is true.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use citygrid_db::Config;
    /// let mut env = HashMap::new();
    /// env.insert("CITYGRID_BIND".to_string(), "127.0.0.1:9000".to_string());
    /// let config = Config::from_sources(&env, None, false).unwrap();
    /// assert_eq!(config.bind, "127.0.0.1:9000");
    /// assert!(config.database_url.is_none());
    /// ```
    pub fn from_sources(
        env: &HashMap<String, String>,
        file: Option<&Path>,
        file_required: bool,
    ) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        if let Some(path) = file {
            match std::fs::read_to_string(path) {
                Ok(text) => {
                    let parsed: FileConfig =
                        toml::from_str(&text).map_err(|e| ConfigError::Parse {
                            path: path.to_path_buf(),
                            message: e.message().to_string(),
                        })?;
                    config.apply_file(parsed);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && !file_required => {}
                Err(source) => {
                    return Err(ConfigError::Read {
                        path: path.to_path_buf(),
                        source,
                    })
                }
            }
        }
        config.apply_env(env)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks the values that have the right type but may still be unusable.
    fn validate(&self) -> Result<(), ConfigError> {
        for layer in &self.geocode_road_layers {
            if !crate::is_identifier(layer, 48) {
                return Err(ConfigError::Invalid {
                    key: "geocode.road_layers",
                    value: layer.clone(),
                    expected: "layer ids ([a-z0-9_]+)",
                });
            }
        }
        for (key, value) in [
            ("rate_limit_read_per_sec", self.rate_limit_read_per_sec),
            ("rate_limit_write_per_sec", self.rate_limit_write_per_sec),
            ("rate_limit_key_per_sec", self.rate_limit_key_per_sec),
            ("rate_limit_login_per_min", self.rate_limit_login_per_min),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(ConfigError::Invalid {
                    key,
                    value: value.to_string(),
                    expected: "a number ≥ 0 (0: no limit)",
                });
            }
        }
        self.validate_home()?;
        if self.read_wait_ms > 60_000 {
            return Err(ConfigError::Invalid {
                key: "read_wait_ms",
                value: self.read_wait_ms.to_string(),
                expected: "0 to 60000 milliseconds",
            });
        }
        if self.tile_stale_secs > 3600 {
            return Err(ConfigError::Invalid {
                key: "tile_stale_secs",
                value: self.tile_stale_secs.to_string(),
                expected: "0 to 3600 seconds (0: never serve an older tile encoding)",
            });
        }
        if !(1..=36500).contains(&self.history_retention_days) {
            return Err(ConfigError::Invalid {
                key: "history_retention_days",
                value: self.history_retention_days.to_string(),
                expected: "1 to 36500 days",
            });
        }
        if !matches!(self.cases_public_view.as_str(), "hidden" | "status") {
            return Err(ConfigError::Invalid {
                key: "cases_public_view",
                value: self.cases_public_view.clone(),
                expected: "hidden (anonymous visitors see no case points) or status",
            });
        }
        if self.timezone.parse::<chrono_tz::Tz>().is_err() {
            return Err(ConfigError::Invalid {
                key: "timezone",
                value: self.timezone.clone(),
                expected: "an IANA time zone name such as Asia/Shanghai",
            });
        }
        for proxy in &self.trusted_proxies {
            if proxy.parse::<std::net::IpAddr>().is_err() {
                return Err(ConfigError::Invalid {
                    key: "trusted_proxies",
                    value: proxy.clone(),
                    expected: "IP addresses such as 127.0.0.1 or ::1",
                });
            }
        }
        if let Some(url) = &self.public_url {
            let rest = url
                .strip_prefix("https://")
                .or_else(|| url.strip_prefix("http://"))
                .unwrap_or("");
            let host = rest.split('/').next().unwrap_or("");
            let clean = rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]/_~%".contains(&b));
            if host.is_empty() || !clean {
                return Err(ConfigError::Invalid {
                    key: "public_url",
                    value: url.clone(),
                    expected: "http(s)://host[:port][/path], e.g. https://gis.example.gov.cn",
                });
            }
        }
        Ok(())
    }

    /// The home view's settings: a box within lon/lat range, or a centre and a zoom
    /// given together.
    fn validate_home(&self) -> Result<(), ConfigError> {
        const LAT: f64 = 85.051_128;
        if let Some(b) = self.home_bbox {
            let ok = b.iter().all(|v| v.is_finite())
                && b[0] < b[2]
                && b[1] < b[3]
                && b[0] >= -180.0
                && b[2] <= 180.0
                && b[1] >= -LAT
                && b[3] <= LAT;
            if !ok {
                return Err(ConfigError::Invalid {
                    key: "home_bbox",
                    value: format!("{b:?}"),
                    expected: "[west, south, east, north] in degrees, west < east, south < north, latitudes within ±85.05",
                });
            }
        }
        if let Some(c) = self.home_center {
            if !(c.iter().all(|v| v.is_finite()) && c[0].abs() <= 180.0 && c[1].abs() <= LAT) {
                return Err(ConfigError::Invalid {
                    key: "home_center",
                    value: format!("{c:?}"),
                    expected: "[longitude, latitude] in degrees, latitude within ±85.05",
                });
            }
        }
        if let Some(z) = self.home_zoom {
            if !(z.is_finite() && (0.0..=20.0).contains(&z)) {
                return Err(ConfigError::Invalid {
                    key: "home_zoom",
                    value: z.to_string(),
                    expected: "a zoom from 0 to 20",
                });
            }
        }
        if self.home_center.is_some() != self.home_zoom.is_some() {
            return Err(ConfigError::Invalid {
                key: if self.home_center.is_some() {
                    "home_zoom"
                } else {
                    "home_center"
                },
                value: "unset".into(),
                expected: "home_center and home_zoom together (or home_bbox)",
            });
        }
        Ok(())
    }

    fn apply_file(&mut self, file: FileConfig) {
        if let Some(v) = file.database_url.filter(|s| !s.is_empty()) {
            self.database_url = Some(v);
        }
        if let Some(v) = file.database_read_urls {
            self.database_read_urls = v.into_iter().filter(|s| !s.trim().is_empty()).collect();
        }
        if let Some(v) = file.read_wait_ms {
            self.read_wait_ms = v;
        }
        if let Some(v) = file.home {
            self.home = v;
        }
        if let Some(v) = file.bind {
            self.bind = v;
        }
        if let Some(v) = file.max_body_bytes {
            self.max_body_bytes = v;
        }
        if let Some(v) = file.max_upload_bytes {
            self.max_upload_bytes = v;
        }
        if let Some(v) = file.token_ttl_minutes {
            self.token_ttl_minutes = v;
        }
        if let Some(v) = file.public_layers {
            self.public_layers = v;
        }
        if let Some(v) = file.cases_public_view {
            self.cases_public_view = v;
        }
        if let Some(v) = file.db_max_connections {
            self.db_max_connections = v;
        }
        if let Some(v) = file.request_timeout_secs {
            self.request_timeout_secs = v;
        }
        if let Some(v) = file.max_tile_bytes {
            self.max_tile_bytes = v;
        }
        if let Some(v) = file.tile_cache_bytes {
            self.tile_cache_bytes = v;
        }
        if let Some(v) = file.tile_stale_secs {
            self.tile_stale_secs = v;
        }
        if let Some(v) = file.history_retention_days {
            self.history_retention_days = v;
        }
        let limits = [
            (
                file.rate_limit_read_per_sec,
                &mut self.rate_limit_read_per_sec,
            ),
            (
                file.rate_limit_write_per_sec,
                &mut self.rate_limit_write_per_sec,
            ),
            (
                file.rate_limit_key_per_sec,
                &mut self.rate_limit_key_per_sec,
            ),
            (
                file.rate_limit_login_per_min,
                &mut self.rate_limit_login_per_min,
            ),
        ];
        for (v, target) in limits {
            if let Some(v) = v {
                *target = v;
            }
        }
        let bursts = [
            (file.rate_limit_read_burst, &mut self.rate_limit_read_burst),
            (
                file.rate_limit_write_burst,
                &mut self.rate_limit_write_burst,
            ),
            (file.rate_limit_key_burst, &mut self.rate_limit_key_burst),
            (
                file.rate_limit_login_burst,
                &mut self.rate_limit_login_burst,
            ),
        ];
        for (v, target) in bursts {
            if let Some(v) = v {
                *target = v;
            }
        }
        if let Some(v) = file.rate_limit {
            self.rate_limit = v;
        }
        if let Some(v) = file.trusted_proxies {
            self.trusted_proxies = v;
        }
        if let Some(v) = file.public_url.filter(|s| !s.trim().is_empty()) {
            self.public_url = Some(v.trim().trim_end_matches('/').to_string());
        }
        if let Some(v) = file.webhook_ca_file {
            self.webhook_ca_file = Some(v);
        }
        if let Some(v) = file.access_log {
            self.access_log = v;
        }
        if let Some(v) = file.font_dir.filter(|p| !p.as_os_str().is_empty()) {
            self.font_dir = v;
        }
        if let Some(v) = file.timezone.filter(|s| !s.trim().is_empty()) {
            self.timezone = v.trim().to_string();
        }
        if let Some(v) = file.home_bbox {
            self.home_bbox = Some(v);
        }
        if let Some(v) = file.home_center {
            self.home_center = Some(v);
        }
        if let Some(v) = file.geocode.and_then(|g| g.road_layers) {
            self.geocode_road_layers = v;
        }
        if let Some(v) = file.home_zoom {
            self.home_zoom = Some(v);
        }
    }

    fn apply_env(&mut self, env: &HashMap<String, String>) -> Result<(), ConfigError> {
        if let Some(v) = env.get("DATABASE_URL").filter(|s| !s.is_empty()) {
            self.database_url = Some(v.clone());
        }
        if let Some(v) = env.get("DATABASE_READ_URLS") {
            self.database_read_urls = v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
        }
        parse_env(env, "CITYGRID_READ_WAIT_MS", &mut self.read_wait_ms)?;
        if let Some(v) = env.get("CITYGRID_HOME").filter(|s| !s.is_empty()) {
            self.home = PathBuf::from(v);
        }
        if let Some(v) = env.get("CITYGRID_BIND").filter(|s| !s.is_empty()) {
            self.bind = v.clone();
        }
        if let Some(v) = env.get("CITYGRID_FONT_DIR").filter(|s| !s.is_empty()) {
            self.font_dir = PathBuf::from(v);
        }
        if let Some(v) = env
            .get("CITYGRID_TIMEZONE")
            .filter(|s| !s.trim().is_empty())
        {
            self.timezone = v.trim().to_string();
        }
        if let Some(v) = numbers::<4>(env, "CITYGRID_HOME_BBOX", "w,s,e,n in degrees")? {
            self.home_bbox = Some(v);
        }
        if let Some(v) = numbers::<2>(env, "CITYGRID_HOME_CENTER", "lon,lat in degrees")? {
            self.home_center = Some(v);
        }
        if let Some(v) = env.get("CITYGRID_HOME_ZOOM").filter(|s| !s.is_empty()) {
            self.home_zoom = Some(v.trim().parse().map_err(|_| ConfigError::Env {
                name: "CITYGRID_HOME_ZOOM".into(),
                value: v.clone(),
                expected: "a zoom from 0 to 20",
            })?);
        }
        parse_env(env, "CITYGRID_MAX_BODY_BYTES", &mut self.max_body_bytes)?;
        parse_env(env, "CITYGRID_MAX_UPLOAD_BYTES", &mut self.max_upload_bytes)?;
        parse_env(
            env,
            "CITYGRID_TOKEN_TTL_MINUTES",
            &mut self.token_ttl_minutes,
        )?;
        parse_env(env, "CITYGRID_PUBLIC_LAYERS", &mut self.public_layers)?;
        if let Some(v) = env
            .get("CITYGRID_CASES_PUBLIC_VIEW")
            .filter(|s| !s.is_empty())
        {
            self.cases_public_view = v.trim().to_string();
        }
        parse_env(env, "CITYGRID_ACCESS_LOG", &mut self.access_log)?;
        parse_env(
            env,
            "CITYGRID_DB_MAX_CONNECTIONS",
            &mut self.db_max_connections,
        )?;
        parse_env(
            env,
            "CITYGRID_REQUEST_TIMEOUT_SECS",
            &mut self.request_timeout_secs,
        )?;
        parse_env(env, "CITYGRID_MAX_TILE_BYTES", &mut self.max_tile_bytes)?;
        parse_env(env, "CITYGRID_TILE_CACHE_BYTES", &mut self.tile_cache_bytes)?;
        parse_env(env, "CITYGRID_TILE_STALE_SECS", &mut self.tile_stale_secs)?;
        parse_env(
            env,
            "CITYGRID_HISTORY_RETENTION_DAYS",
            &mut self.history_retention_days,
        )?;
        parse_env(env, "CITYGRID_RATE_LIMIT", &mut self.rate_limit)?;
        for (name, target) in [
            (
                "CITYGRID_RATE_LIMIT_READ_PER_SEC",
                &mut self.rate_limit_read_per_sec,
            ),
            (
                "CITYGRID_RATE_LIMIT_WRITE_PER_SEC",
                &mut self.rate_limit_write_per_sec,
            ),
            (
                "CITYGRID_RATE_LIMIT_KEY_PER_SEC",
                &mut self.rate_limit_key_per_sec,
            ),
            (
                "CITYGRID_RATE_LIMIT_LOGIN_PER_MIN",
                &mut self.rate_limit_login_per_min,
            ),
        ] {
            parse_env(env, name, target)?;
        }
        for (name, target) in [
            (
                "CITYGRID_RATE_LIMIT_READ_BURST",
                &mut self.rate_limit_read_burst,
            ),
            (
                "CITYGRID_RATE_LIMIT_WRITE_BURST",
                &mut self.rate_limit_write_burst,
            ),
            (
                "CITYGRID_RATE_LIMIT_KEY_BURST",
                &mut self.rate_limit_key_burst,
            ),
            (
                "CITYGRID_RATE_LIMIT_LOGIN_BURST",
                &mut self.rate_limit_login_burst,
            ),
        ] {
            parse_env(env, name, target)?;
        }
        if let Some(v) = env.get("CITYGRID_GEOCODE_ROAD_LAYERS") {
            self.geocode_road_layers = v
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
        }
        if let Some(v) = env.get("CITYGRID_TRUSTED_PROXIES") {
            self.trusted_proxies = v
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
        }
        if let Some(v) = env
            .get("CITYGRID_PUBLIC_URL")
            .filter(|s| !s.trim().is_empty())
        {
            self.public_url = Some(v.trim().trim_end_matches('/').to_string());
        }
        if let Some(v) = env
            .get("CITYGRID_WEBHOOK_CA_FILE")
            .filter(|s| !s.is_empty())
        {
            self.webhook_ca_file = Some(PathBuf::from(v));
        }
        Ok(())
    }
}

/// `N` comma-separated numbers from environment variable `name`, if set.
fn numbers<const N: usize>(
    env: &HashMap<String, String>,
    name: &str,
    expected: &'static str,
) -> Result<Option<[f64; N]>, ConfigError> {
    let Some(value) = env.get(name).filter(|s| !s.trim().is_empty()) else {
        return Ok(None);
    };
    let bad = || ConfigError::Env {
        name: name.to_string(),
        value: value.clone(),
        expected,
    };
    let parts: Vec<f64> = value
        .split(',')
        .map(|p| p.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| bad())?;
    <[f64; N]>::try_from(parts).map(Some).map_err(|_| bad())
}

fn parse_env<T: std::str::FromStr>(
    env: &HashMap<String, String>,
    name: &str,
    target: &mut T,
) -> Result<(), ConfigError> {
    if let Some(value) = env.get(name).filter(|s| !s.is_empty()) {
        *target = value.trim().parse().map_err(|_| ConfigError::Env {
            name: name.to_string(),
            value: value.clone(),
            expected: std::any::type_name::<T>(),
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_beats_file_beats_defaults() {
        let dir = std::env::temp_dir().join(format!("cg-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("citygrid.toml");
        std::fs::write(&file, "bind = \"127.0.0.1:7000\"\ntoken_ttl_minutes = 5\n").unwrap();
        let mut env = HashMap::new();
        env.insert("CITYGRID_BIND".to_string(), "127.0.0.1:7001".to_string());
        let config = Config::from_sources(&env, Some(&file), true).unwrap();
        assert_eq!(config.bind, "127.0.0.1:7001");
        assert_eq!(config.token_ttl_minutes, 5);
        assert_eq!(config.max_body_bytes, Config::default().max_body_bytes);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_values_are_clear_errors() {
        let mut env = HashMap::new();
        env.insert("CITYGRID_PUBLIC_LAYERS".to_string(), "maybe".to_string());
        let err = Config::from_sources(&env, None, false).unwrap_err();
        assert!(err.to_string().contains("CITYGRID_PUBLIC_LAYERS"), "{err}");

        let dir = std::env::temp_dir().join(format!("cg-config-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("citygrid.toml");
        std::fs::write(&file, "bnd = 3\n").unwrap();
        let err = Config::from_sources(&HashMap::new(), Some(&file), true).unwrap_err();
        assert!(err
            .to_string()
            .contains("not a valid citygrid configuration"));
        let missing = dir.join("missing.toml");
        assert!(Config::from_sources(&HashMap::new(), Some(&missing), true).is_err());
        assert!(Config::from_sources(&HashMap::new(), Some(&missing), false).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn timezone_default_env_and_bad_name() {
        assert_eq!(Config::default().tz(), chrono_tz::Tz::Asia__Shanghai);
        let mut env = HashMap::new();
        env.insert("CITYGRID_TIMEZONE".to_string(), "Asia/Urumqi".to_string());
        let config = Config::from_sources(&env, None, false).unwrap();
        assert_eq!(config.tz(), chrono_tz::Tz::Asia__Urumqi);
        env.insert("CITYGRID_TIMEZONE".to_string(), "Beijing".to_string());
        let err = Config::from_sources(&env, None, false)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "configuration timezone = \"Beijing\" is not valid: expected an IANA time zone name such as Asia/Shanghai"
        );
    }

    #[test]
    fn cases_public_view() {
        assert_eq!(Config::default().cases_public_view, "hidden");
        let mut env = HashMap::new();
        env.insert(
            "CITYGRID_CASES_PUBLIC_VIEW".to_string(),
            "status".to_string(),
        );
        let config = Config::from_sources(&env, None, false).unwrap();
        assert_eq!(config.cases_public_view, "status");
        env.insert("CITYGRID_CASES_PUBLIC_VIEW".to_string(), "all".to_string());
        let err = Config::from_sources(&env, None, false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("cases_public_view"), "{err}");
    }

    #[test]
    fn history_retention_days() {
        assert_eq!(Config::default().history_retention_days, 90);
        let mut env = HashMap::new();
        env.insert(
            "CITYGRID_HISTORY_RETENTION_DAYS".to_string(),
            "30".to_string(),
        );
        let config = Config::from_sources(&env, None, false).unwrap();
        assert_eq!(config.history_retention_days, 30);
        for bad in ["0", "-1", "forever", "36501"] {
            env.insert(
                "CITYGRID_HISTORY_RETENTION_DAYS".to_string(),
                bad.to_string(),
            );
            let err = Config::from_sources(&env, None, false).unwrap_err();
            let text = err.to_string();
            assert!(
                text.contains("HISTORY_RETENTION_DAYS") || text.contains("history_retention_days"),
                "{text}"
            );
            assert!(!text.contains('\n'), "{text}");
        }
    }

    #[test]
    fn tile_stale_secs() {
        assert_eq!(Config::default().tile_stale_secs, 30);
        let mut env = HashMap::new();
        env.insert("CITYGRID_TILE_STALE_SECS".to_string(), "0".to_string());
        let config = Config::from_sources(&env, None, false).unwrap();
        assert_eq!(config.tile_stale_secs, 0);
        for bad in ["-1", "soon", "3601"] {
            env.insert("CITYGRID_TILE_STALE_SECS".to_string(), bad.to_string());
            let err = Config::from_sources(&env, None, false).unwrap_err();
            let text = err.to_string();
            assert!(
                text.contains("TILE_STALE_SECS") || text.contains("tile_stale_secs"),
                "{text}"
            );
            assert!(!text.contains('\n'), "{text}");
        }
    }

    #[test]
    fn rate_limits() {
        let dir = std::env::temp_dir().join(format!("cg-config-rl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("citygrid.toml");
        std::fs::write(
            &file,
            "rate_limit_read_burst = 50\nrate_limit_write_per_sec = 2.5\ntrusted_proxies = [\"10.0.0.1\"]\n",
        )
        .unwrap();
        let mut env = HashMap::new();
        env.insert(
            "CITYGRID_TRUSTED_PROXIES".to_string(),
            "127.0.0.1, ::1".to_string(),
        );
        env.insert("CITYGRID_RATE_LIMIT".to_string(), "false".to_string());
        let config = Config::from_sources(&env, Some(&file), true).unwrap();
        assert_eq!(config.rate_limit_read_burst, 50);
        assert_eq!(config.rate_limit_write_per_sec, 2.5);
        assert_eq!(config.trusted_proxies, vec!["127.0.0.1", "::1"]);
        assert!(!config.rate_limit);
        assert_eq!(
            config.rate_limit_read_per_sec,
            Config::default().rate_limit_read_per_sec
        );

        let mut env = HashMap::new();
        env.insert(
            "CITYGRID_RATE_LIMIT_READ_PER_SEC".to_string(),
            "-1".to_string(),
        );
        let err = Config::from_sources(&env, None, false).unwrap_err();
        assert!(err.to_string().contains("rate_limit_read_per_sec"), "{err}");
        let mut env = HashMap::new();
        env.insert(
            "CITYGRID_TRUSTED_PROXIES".to_string(),
            "proxy.example".to_string(),
        );
        let err = Config::from_sources(&env, None, false).unwrap_err();
        assert!(err.to_string().contains("trusted_proxies"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn public_url() {
        let mut env = HashMap::new();
        assert_eq!(
            Config::from_sources(&env, None, false).unwrap().public_url,
            None
        );
        env.insert(
            "CITYGRID_PUBLIC_URL".to_string(),
            " https://gis.example.gov.cn/ ".to_string(),
        );
        let config = Config::from_sources(&env, None, false).unwrap();
        assert_eq!(
            config.public_url.as_deref(),
            Some("https://gis.example.gov.cn")
        );
        for bad in [
            "gis.example.gov.cn",
            "https://",
            "https://a.example/x?y=1",
            "https://a\"b",
        ] {
            env.insert("CITYGRID_PUBLIC_URL".to_string(), bad.to_string());
            let err = Config::from_sources(&env, None, false).unwrap_err();
            assert!(err.to_string().contains("public_url"), "{bad}: {err}");
        }
    }

    #[test]
    fn the_home_view_is_a_box_or_a_centre_and_zoom() {
        let env_of = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let config = Config::from_sources(
            &env_of(&[("CITYGRID_HOME_BBOX", "114.2, 30.5,114.4,30.7")]),
            None,
            false,
        )
        .unwrap();
        assert_eq!(config.home_bbox, Some([114.2, 30.5, 114.4, 30.7]));
        let config = Config::from_sources(
            &env_of(&[
                ("CITYGRID_HOME_CENTER", "24.94,60.17"),
                ("CITYGRID_HOME_ZOOM", "14.5"),
            ]),
            None,
            false,
        )
        .unwrap();
        assert_eq!(config.home_center, Some([24.94, 60.17]));
        assert_eq!(config.home_zoom, Some(14.5));
        for bad in [
            &[("CITYGRID_HOME_BBOX", "1,2,3")][..],
            &[("CITYGRID_HOME_BBOX", "3,2,1,4")],
            &[("CITYGRID_HOME_BBOX", "0,0,1,89")],
            &[("CITYGRID_HOME_CENTER", "24.94,60.17")],
            &[
                ("CITYGRID_HOME_CENTER", "24.94,60.17"),
                ("CITYGRID_HOME_ZOOM", "21"),
            ],
            &[("CITYGRID_HOME_ZOOM", "x")],
        ] {
            let err = Config::from_sources(&env_of(bad), None, false).unwrap_err();
            assert!(
                err.to_string().contains("HOME") || err.to_string().contains("home"),
                "{bad:?}: {err}"
            );
        }
    }
}
