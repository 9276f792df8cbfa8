//! The local PostGIS cluster kept under `$CITYGRID_HOME/pg`.
//!
//! PostgreSQL refuses to run as root, so when citygrid runs as root the cluster is
//! owned and run by the `postgres` system user (or the user named in
//! `CITYGRID_PG_USER`); otherwise by the invoking user. The server listens on
//! 127.0.0.1 only, on a port chosen when the cluster is created, with a private
//! socket directory and a generated password for the `citygrid` superuser. Text is
//! UTF-8 (character type C.UTF-8) and sorts in code-point order (collation C).
//! Every operation is idempotent and serialised by a lock file, so concurrent
//! test processes can all call [`LocalCluster::start`].

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The database the service uses in the local cluster.
pub const DEFAULT_DATABASE: &str = "citygrid";
/// The superuser created in the local cluster.
pub const SUPERUSER: &str = "citygrid";

/// Why the local cluster could not be managed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// PostgreSQL or PostGIS is not installed.
    #[error("{0}")]
    NotInstalled(String),
    /// No non-root user is available to run the server.
    #[error("{0}")]
    NoRunUser(String),
    /// A PostgreSQL command failed.
    #[error("{0}")]
    Command(String),
    /// A file of the cluster could not be read or written.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// A database name that is not `[a-z0-9_]+`.
    #[error("invalid database name {0:?}: use lower-case letters, digits and _")]
    BadName(String),
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ClusterError {
    let context = context.into();
    move |source| ClusterError::Io { context, source }
}

/// What state the cluster is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterStatus {
    /// `citygrid db start` has never created it.
    NotInitialised,
    /// Created but not running.
    Stopped,
    /// Running and accepting connections on 127.0.0.1:`port`.
    Running {
        /// The TCP port.
        port: u16,
    },
}

impl std::fmt::Display for ClusterStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClusterStatus::NotInitialised => write!(f, "not initialised"),
            ClusterStatus::Stopped => write!(f, "stopped"),
            ClusterStatus::Running { port } => write!(f, "running on 127.0.0.1:{port}"),
        }
    }
}

/// Options for a cluster, set when it is created.
#[derive(Debug, Clone, Default)]
pub struct ClusterOptions {
    /// Turn off fsync: for throw-away test clusters only.
    pub unsafe_fast: bool,
}

/// A PostgreSQL cluster with PostGIS under a directory of its own.
#[derive(Debug, Clone)]
pub struct LocalCluster {
    root: PathBuf,
    options: ClusterOptions,
}

struct RunUser {
    /// `None`: run commands as the current user.
    name: Option<String>,
    uid: u32,
    gid: u32,
}

impl LocalCluster {
    /// The cluster under `home/pg`.
    pub fn new(home: &Path) -> LocalCluster {
        LocalCluster::with_options(home, ClusterOptions::default())
    }

    /// The cluster under `home/pg`, created with `options` if it does not exist.
    pub fn with_options(home: &Path, options: ClusterOptions) -> LocalCluster {
        let home = if home.is_absolute() {
            home.to_path_buf()
        } else {
            std::env::current_dir()
                .map(|d| d.join(home))
                .unwrap_or_else(|_| home.to_path_buf())
        };
        LocalCluster {
            root: home.join("pg"),
            options,
        }
    }

    /// The directory holding the cluster's files.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }
    fn log_file(&self) -> PathBuf {
        self.root.join("log").join("postgres.log")
    }
    fn port_file(&self) -> PathBuf {
        self.root.join("port")
    }
    fn password_file(&self) -> PathBuf {
        self.root.join("password")
    }

    /// The private socket directory: inside the cluster directory unless that path
    /// is too long for a Unix socket, then a per-cluster directory under /tmp.
    fn socket_dir(&self) -> PathBuf {
        let local = self.root.join("run");
        if local.as_os_str().len() <= 80 {
            local
        } else {
            let mut hash: u64 = 0xcbf29ce484222325;
            for b in self.root.as_os_str().as_encoded_bytes() {
                hash ^= u64::from(*b);
                hash = hash.wrapping_mul(0x100000001b3);
            }
            PathBuf::from(format!("/tmp/citygrid-pg-{hash:016x}"))
        }
    }

    /// The TCP port, known once the cluster exists.
    pub fn port(&self) -> Result<u16, ClusterError> {
        let text = fs::read_to_string(self.port_file()).map_err(io_err(format!(
            "the local cluster at {} is not initialised (run `citygrid db start`)",
            self.root.display()
        )))?;
        text.trim().parse().map_err(|_| {
            ClusterError::Command(format!(
                "{} does not hold a port number",
                self.port_file().display()
            ))
        })
    }

    /// The connection URL of database `database` (with the password).
    pub fn url(&self, database: &str) -> Result<String, ClusterError> {
        check_name(database)?;
        let port = self.port()?;
        let password = fs::read_to_string(self.password_file())
            .map_err(io_err("cannot read the local cluster's password file"))?;
        Ok(format!(
            "postgres://{SUPERUSER}:{}@127.0.0.1:{port}/{database}",
            password.trim()
        ))
    }

    /// Where the cluster is and whether it runs.
    pub fn status(&self) -> Result<ClusterStatus, ClusterError> {
        if !self.data_dir().join("PG_VERSION").exists() {
            return Ok(ClusterStatus::NotInitialised);
        }
        let bin = pg_bindir()?;
        let user = run_user()?;
        let out = run_as(
            &user,
            &bin.join("pg_ctl"),
            &["status", "-D", &path_str(&self.data_dir())],
        )?;
        match out.status.code() {
            Some(0) => Ok(ClusterStatus::Running { port: self.port()? }),
            Some(3) => Ok(ClusterStatus::Stopped),
            _ => Err(ClusterError::Command(format!(
                "pg_ctl status failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))),
        }
    }

    fn lock(&self) -> Result<File, ClusterError> {
        fs::create_dir_all(&self.root)
            .map_err(io_err(format!("cannot create {}", self.root.display())))?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.root.join(".lock"))
            .map_err(io_err("cannot open the cluster lock file"))?;
        file.lock()
            .map_err(io_err("cannot lock the cluster lock file"))?;
        Ok(file)
    }

    /// Creates the cluster if needed and starts it if it is not running.
    /// Returns true when this call started it.
    pub fn start(&self) -> Result<bool, ClusterError> {
        let _lock = self.lock()?;
        let bin = pg_bindir()?;
        let user = run_user()?;
        if !self.data_dir().join("PG_VERSION").exists() {
            self.init(&bin, &user)?;
        }
        let data = path_str(&self.data_dir());
        let status = run_as(&user, &bin.join("pg_ctl"), &["status", "-D", &data])?;
        if status.status.code() == Some(0) {
            return Ok(false);
        }
        // The socket directory may live in /tmp, which is cleared on reboot.
        self.make_owned_dir(&self.socket_dir(), &user, 0o700)?;
        self.make_owned_dir(&self.root.join("log"), &user, 0o700)?;
        let out = run_as(
            &user,
            &bin.join("pg_ctl"),
            &[
                "start",
                "-D",
                &data,
                "-l",
                &path_str(&self.log_file()),
                "-w",
                "-t",
                "60",
            ],
        )?;
        if !out.status.success() {
            return Err(ClusterError::Command(format!(
                "PostgreSQL did not start: {} — see {}: {}",
                String::from_utf8_lossy(&out.stderr).trim(),
                self.log_file().display(),
                self.log_tail()
            )));
        }
        tracing::info!(port = self.port()?, "local PostGIS cluster started");
        Ok(true)
    }

    /// Stops the cluster if it runs. Returns true when this call stopped it.
    pub fn stop(&self) -> Result<bool, ClusterError> {
        if !self.data_dir().join("PG_VERSION").exists() {
            return Ok(false);
        }
        let _lock = self.lock()?;
        let bin = pg_bindir()?;
        let user = run_user()?;
        let data = path_str(&self.data_dir());
        let status = run_as(&user, &bin.join("pg_ctl"), &["status", "-D", &data])?;
        if status.status.code() != Some(0) {
            return Ok(false);
        }
        let out = run_as(
            &user,
            &bin.join("pg_ctl"),
            &["stop", "-D", &data, "-m", "fast", "-w", "-t", "60"],
        )?;
        if !out.status.success() {
            return Err(ClusterError::Command(format!(
                "PostgreSQL did not stop: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(true)
    }

    fn log_tail(&self) -> String {
        fs::read_to_string(self.log_file())
            .map(|text| {
                let lines: Vec<&str> = text.lines().collect();
                lines[lines.len().saturating_sub(5)..].join(" | ")
            })
            .unwrap_or_default()
    }

    fn make_owned_dir(&self, dir: &Path, user: &RunUser, mode: u32) -> Result<(), ClusterError> {
        fs::create_dir_all(dir).map_err(io_err(format!("cannot create {}", dir.display())))?;
        if user.name.is_some() {
            chown(dir, user.uid, user.gid)?;
        }
        fs::set_permissions(dir, fs::Permissions::from_mode(mode)).map_err(io_err(format!(
            "cannot set permissions of {}",
            dir.display()
        )))
    }

    fn init(&self, bin: &Path, user: &RunUser) -> Result<(), ClusterError> {
        check_postgis(bin)?;
        let data = self.data_dir();
        if data.exists() {
            // A half-made directory from an interrupted init: start over.
            fs::remove_dir_all(&data).map_err(io_err(format!(
                "cannot remove the incomplete cluster at {}",
                data.display()
            )))?;
        }
        fs::set_permissions(&self.root, fs::Permissions::from_mode(0o755))
            .map_err(io_err("cannot set permissions of the cluster directory"))?;
        self.make_owned_dir(&data, user, 0o700)?;
        let password = random_hex(24);
        let pwfile = self.root.join("log").join("initdb.pw");
        self.make_owned_dir(&self.root.join("log"), user, 0o700)?;
        write_private(&pwfile, &password)?;
        if user.name.is_some() {
            chown(&pwfile, user.uid, user.gid)?;
        }
        let out = run_as(
            user,
            &bin.join("initdb"),
            &[
                "-D",
                &path_str(&data),
                "-U",
                SUPERUSER,
                &format!("--pwfile={}", path_str(&pwfile)),
                "--auth-host=scram-sha-256",
                "--auth-local=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                // Code-point order, as glibc's C.UTF-8 sorts, but PostgreSQL compares
                // text with memcmp instead of strcoll: faster sorts, indexes and
                // ANALYZE of text columns (osm_id, names, other_tags).
                "--lc-collate=C",
            ],
        );
        let _ = fs::remove_file(&pwfile);
        let out = out?;
        if !out.status.success() {
            return Err(ClusterError::Command(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let port = free_port()?;
        let mut conf = format!(
            "\n# added by citygrid\nlisten_addresses = '127.0.0.1'\nport = {port}\n\
             unix_socket_directories = '{}'\nunix_socket_permissions = 0700\n\
             max_connections = 200\nshared_buffers = 256MB\nwork_mem = 16MB\n\
             maintenance_work_mem = 256MB\nmax_wal_size = 2GB\n",
            path_str(&self.socket_dir())
        );
        if self.options.unsafe_fast {
            conf.push_str("fsync = off\nfull_page_writes = off\n");
        }
        let conf_path = data.join("postgresql.conf");
        let mut file = OpenOptions::new()
            .append(true)
            .open(&conf_path)
            .map_err(io_err(format!("cannot open {}", conf_path.display())))?;
        file.write_all(conf.as_bytes())
            .map_err(io_err(format!("cannot write {}", conf_path.display())))?;
        write_private(&self.password_file(), &password)?;
        fs::write(self.port_file(), port.to_string())
            .map_err(io_err("cannot write the port file"))?;
        tracing::info!(dir = %self.root.display(), port, "local PostGIS cluster created");
        Ok(())
    }
}

/// Creates database `name` if it does not exist, connecting to the maintenance
/// database of the server at `server_url` (any database URL of that server).
pub async fn ensure_database(server_url: &str, name: &str) -> Result<bool, sqlx::Error> {
    use sqlx::ConnectOptions;
    if check_name(name).is_err() {
        return Err(sqlx::Error::Configuration(
            format!("invalid database name {name:?}").into(),
        ));
    }
    let options: sqlx::postgres::PgConnectOptions = server_url.parse()?;
    let mut conn = options.database("postgres").connect().await?;
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(name)
        .fetch_optional(&mut conn)
        .await?;
    if exists.is_some() {
        return Ok(false);
    }
    // The name is checked against [a-z0-9_]+ above, so quoting it is safe.
    match sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut conn)
        .await
    {
        Ok(_) => Ok(true),
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => Ok(false),
        Err(e) => Err(e),
    }
}

fn check_name(name: &str) -> Result<(), ClusterError> {
    let ok = crate::is_identifier(name, 63);
    if ok {
        Ok(())
    } else {
        Err(ClusterError::BadName(name.to_string()))
    }
}

fn path_str(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

fn random_hex(bytes: usize) -> String {
    use rand::RngCore;
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}

fn write_private(path: &Path, content: &str) -> Result<(), ClusterError> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(path)
        .map_err(io_err(format!("cannot write {}", path.display())))?;
    file.write_all(content.as_bytes())
        .map_err(io_err(format!("cannot write {}", path.display())))
}

fn free_port() -> Result<u16, ClusterError> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .map_err(io_err("cannot find a free TCP port on 127.0.0.1"))?;
    let port = listener
        .local_addr()
        .map_err(io_err("cannot find a free TCP port on 127.0.0.1"))?
        .port();
    Ok(port)
}

fn chown(path: &Path, uid: u32, gid: u32) -> Result<(), ClusterError> {
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(io_err(format!(
        "cannot change the owner of {}",
        path.display()
    )))
}

/// The directory holding `initdb` and `pg_ctl`: `CITYGRID_PG_BINDIR`, else the
/// newest `/usr/lib/postgresql/*/bin`, else the directory of `initdb` on `PATH`.
pub fn pg_bindir() -> Result<PathBuf, ClusterError> {
    if let Ok(dir) = std::env::var("CITYGRID_PG_BINDIR") {
        let dir = PathBuf::from(dir);
        if dir.join("initdb").exists() {
            return Ok(dir);
        }
    }
    let mut best: Option<(u32, PathBuf)> = None;
    if let Ok(entries) = fs::read_dir("/usr/lib/postgresql") {
        for entry in entries.flatten() {
            let version = entry.file_name().to_string_lossy().parse::<u32>().ok();
            let bin = entry.path().join("bin");
            if let Some(v) = version {
                if bin.join("initdb").exists() && best.as_ref().is_none_or(|(b, _)| v > *b) {
                    best = Some((v, bin));
                }
            }
        }
    }
    if let Some((_, bin)) = best {
        return Ok(bin);
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.join("initdb").exists() && dir.join("pg_ctl").exists() {
                return Ok(dir);
            }
        }
    }
    Err(ClusterError::NotInstalled(
        "PostgreSQL is not installed: run `sudo apt-get install postgresql-15-postgis-3` \
         (or set DATABASE_URL to an existing PostGIS server)"
            .to_string(),
    ))
}

fn check_postgis(bin: &Path) -> Result<(), ClusterError> {
    let out = Command::new(bin.join("pg_config"))
        .arg("--sharedir")
        .output()
        .ok()
        .filter(|o| o.status.success());
    let sharedir = match out {
        Some(o) => PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()),
        None => {
            let version = bin
                .parent()
                .and_then(|p| p.file_name())
                .map(|v| v.to_string_lossy().into_owned())
                .unwrap_or_else(|| "15".to_string());
            PathBuf::from(format!("/usr/share/postgresql/{version}"))
        }
    };
    if sharedir.join("extension/postgis.control").exists() {
        Ok(())
    } else {
        let version = bin
            .parent()
            .and_then(|p| p.file_name())
            .map(|v| v.to_string_lossy().into_owned())
            .unwrap_or_else(|| "15".to_string());
        Err(ClusterError::NotInstalled(format!(
            "PostGIS is not installed for PostgreSQL {version}: run \
             `sudo apt-get install postgresql-{version}-postgis-3`"
        )))
    }
}

fn run_user() -> Result<RunUser, ClusterError> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if euid != 0 {
        return Ok(RunUser {
            name: None,
            uid: euid,
            // SAFETY: as above.
            gid: unsafe { libc::getegid() },
        });
    }
    let name = std::env::var("CITYGRID_PG_USER").unwrap_or_else(|_| "postgres".to_string());
    let passwd = fs::read_to_string("/etc/passwd").map_err(io_err("cannot read /etc/passwd"))?;
    for line in passwd.lines() {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() >= 4 && fields[0] == name {
            let uid = fields[2].parse().unwrap_or(0);
            let gid = fields[3].parse().unwrap_or(0);
            if uid != 0 {
                return Ok(RunUser {
                    name: Some(name),
                    uid,
                    gid,
                });
            }
        }
    }
    Err(ClusterError::NoRunUser(format!(
        "PostgreSQL cannot run as root and there is no user {name:?} to run it: \
         install postgresql (which creates the postgres user) or set CITYGRID_PG_USER"
    )))
}

fn run_as(user: &RunUser, program: &Path, args: &[&str]) -> Result<Output, ClusterError> {
    let mut command = match &user.name {
        Some(name) => {
            let mut c = Command::new("runuser");
            c.arg("-u").arg(name).arg("--").arg(program);
            c
        }
        None => Command::new(program),
    };
    command.args(args);
    // Run from a directory the server user can read.
    command.current_dir("/");
    command.output().map_err(io_err(format!(
        "cannot run {} (is PostgreSQL installed?)",
        program.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(check_name("citygrid_test_1").is_ok());
        assert!(check_name("bad\"name").is_err());
        assert!(check_name("").is_err());
        assert!(check_name("UPPER").is_err());
    }

    #[test]
    fn long_paths_get_a_short_socket_dir() {
        let long = PathBuf::from(format!("/{}", "x".repeat(120)));
        let cluster = LocalCluster::new(&long);
        assert!(cluster.socket_dir().starts_with("/tmp"));
        let short = LocalCluster::new(Path::new("/srv/cg"));
        assert_eq!(short.socket_dir(), PathBuf::from("/srv/cg/pg/run"));
    }
}
