//! Configuration: environment beats `citygrid.toml` beats defaults.
//!
//! | key (`citygrid.toml`) | environment | default |
//! |---|---|---|
//! | `database_url` | `DATABASE_URL` | unset: the local cluster under `home` |
//! | `home` | `CITYGRID_HOME` | `./.citygrid` |
//! | `bind` | `CITYGRID_BIND` | `127.0.0.1:8080` |
//! | `max_body_bytes` | `CITYGRID_MAX_BODY_BYTES` | 1 MiB |
//! | `max_upload_bytes` | `CITYGRID_MAX_UPLOAD_BYTES` | 8 MiB (photos) |
//! | `token_ttl_minutes` | `CITYGRID_TOKEN_TTL_MINUTES` | 720 (12 h) |
//! | `public_layers` | `CITYGRID_PUBLIC_LAYERS` | `true`: anyone may read map layers |
//! | `db_max_connections` | `CITYGRID_DB_MAX_CONNECTIONS` | 16 |
//! | `request_timeout_secs` | `CITYGRID_REQUEST_TIMEOUT_SECS` | 30 |
//! | `max_tile_bytes` | `CITYGRID_MAX_TILE_BYTES` | 500000 (vector tiles are thinned to fit) |
//! | `tile_cache_bytes` | `CITYGRID_TILE_CACHE_BYTES` | 256 MiB |
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
    /// Connections in the pool at most.
    pub db_max_connections: u32,
    /// A request taking longer than this is answered 503 (seconds).
    pub request_timeout_secs: u64,
    /// The largest vector tile served; denser tiles are thinned to fit.
    pub max_tile_bytes: usize,
    /// The memory for cached tiles.
    pub tile_cache_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database_url: None,
            home: PathBuf::from(".citygrid"),
            bind: "127.0.0.1:8080".to_string(),
            max_body_bytes: 1024 * 1024,
            max_upload_bytes: 8 * 1024 * 1024,
            token_ttl_minutes: 12 * 60,
            public_layers: true,
            db_max_connections: 16,
            request_timeout_secs: 30,
            max_tile_bytes: 500_000,
            tile_cache_bytes: 256 * 1024 * 1024,
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
    home: Option<PathBuf>,
    bind: Option<String>,
    max_body_bytes: Option<usize>,
    max_upload_bytes: Option<usize>,
    token_ttl_minutes: Option<i64>,
    public_layers: Option<bool>,
    db_max_connections: Option<u32>,
    request_timeout_secs: Option<u64>,
    max_tile_bytes: Option<usize>,
    tile_cache_bytes: Option<usize>,
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
        Ok(config)
    }

    fn apply_file(&mut self, file: FileConfig) {
        if let Some(v) = file.database_url.filter(|s| !s.is_empty()) {
            self.database_url = Some(v);
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
    }

    fn apply_env(&mut self, env: &HashMap<String, String>) -> Result<(), ConfigError> {
        if let Some(v) = env.get("DATABASE_URL").filter(|s| !s.is_empty()) {
            self.database_url = Some(v.clone());
        }
        if let Some(v) = env.get("CITYGRID_HOME").filter(|s| !s.is_empty()) {
            self.home = PathBuf::from(v);
        }
        if let Some(v) = env.get("CITYGRID_BIND").filter(|s| !s.is_empty()) {
            self.bind = v.clone();
        }
        parse_env(env, "CITYGRID_MAX_BODY_BYTES", &mut self.max_body_bytes)?;
        parse_env(env, "CITYGRID_MAX_UPLOAD_BYTES", &mut self.max_upload_bytes)?;
        parse_env(
            env,
            "CITYGRID_TOKEN_TTL_MINUTES",
            &mut self.token_ttl_minutes,
        )?;
        parse_env(env, "CITYGRID_PUBLIC_LAYERS", &mut self.public_layers)?;
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
        Ok(())
    }
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
}
