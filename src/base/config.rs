//! Configuration from environment variables (and the same names as command-line flags).
//! Every value is checked at start-up; a bad one stops the process with a message that
//! says what to change.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine;
use clap::{Args, ValueEnum};
use rand::RngCore;

/// Settings shared by every subcommand. `--help` lists each with its variable.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Configuration (each also from its environment variable)")]
pub struct ConfigArgs {
    /// Database: `sqlite://PATH` (embedded) or `postgres://USER@HOST:PORT/DB` (add
    /// `?sslmode=require` for TLS). Unset: the SQLite file hocvuso.db in HOCVUSO_DATA_DIR.
    #[arg(long, env = "DATABASE_URL", global = true)]
    pub database_url: Option<String>,

    /// Create the folder of a `sqlite:///absolute/path` that does not exist (otherwise such
    /// a path is refused: a mistyped path would start an empty database with a new admin).
    #[arg(long, env = "HOCVUSO_CREATE_DB_DIR", default_value_t = false, global = true)]
    pub create_db_dir: bool,

    /// Address and port to listen on.
    #[arg(long, env = "HOCVUSO_BIND", default_value = "127.0.0.1:8080", global = true)]
    pub bind: String,

    /// Folder for the generated secrets, the initial admin password and (when DATABASE_URL
    /// is unset) the SQLite database; created with mode 0700.
    #[arg(long, env = "HOCVUSO_DATA_DIR", default_value = "data", global = true)]
    pub data_dir: PathBuf,

    /// HS256 signing secret for access tokens, at least 32 bytes. Unset: generated once and
    /// kept in DATA_DIR/jwt-secret (every instance behind a load balancer needs the same one).
    #[arg(long, env = "HOCVUSO_JWT_SECRET", hide_env_values = true, global = true)]
    pub jwt_secret: Option<String>,

    /// Key of the keyed hash of personal ID numbers (duplicate detection), at least 32 bytes.
    /// Unset: generated once into DATA_DIR/id-hash-secret. Every instance needs the same one;
    /// the database keeps its fingerprint and refuses to start with another (keep it with backups).
    #[arg(long, env = "HOCVUSO_ID_HASH_SECRET", hide_env_values = true, global = true)]
    pub id_hash_secret: Option<String>,

    /// The zone whose calendar days statistics, reports and date checks count in:
    /// `Asia/Ho_Chi_Minh` (UTC+07:00), `UTC`, or a fixed offset such as `+07:00`.
    #[arg(long, env = "HOCVUSO_TIME_ZONE", default_value = "Asia/Ho_Chi_Minh", global = true)]
    pub time_zone: String,

    /// How long a delta-sync cursor stays valid, in days (older ones get 410 resync_required).
    #[arg(long, env = "HOCVUSO_SYNC_HORIZON_DAYS", default_value_t = 90, global = true)]
    pub sync_horizon_days: i64,

    /// Access-token lifetime in seconds.
    #[arg(long, env = "HOCVUSO_ACCESS_TOKEN_TTL", default_value_t = 900, global = true)]
    pub access_token_ttl: i64,

    /// Refresh-token lifetime in seconds (a session ends this long after its last refresh).
    #[arg(long, env = "HOCVUSO_REFRESH_TOKEN_TTL", default_value_t = 2_592_000, global = true)]
    pub refresh_token_ttl: i64,

    /// Lifetime of a one-time password reset code, in seconds.
    #[arg(long, env = "HOCVUSO_RESET_CODE_TTL", default_value_t = 900, global = true)]
    pub reset_code_ttl: i64,

    /// Database connections in the pool.
    #[arg(long, env = "HOCVUSO_POOL_SIZE", default_value_t = 8, global = true)]
    pub pool_size: u32,

    /// HTTP worker threads (0 = one per CPU core).
    #[arg(long, env = "HOCVUSO_WORKERS", default_value_t = 0, global = true)]
    pub workers: usize,

    /// Log format.
    #[arg(long, env = "HOCVUSO_LOG_FORMAT", value_enum, default_value_t = LogFormat::Human, global = true)]
    pub log_format: LogFormat,

    /// Log filter (tracing-subscriber syntax), e.g. `info`, `warn`, `hocvuso=debug`.
    #[arg(long, env = "HOCVUSO_LOG", default_value = "info", global = true)]
    pub log: String,

    /// Password for the `admin` account created on first start (default: random, printed
    /// once and written to DATA_DIR/initial-admin-password).
    #[arg(long, env = "HOCVUSO_ADMIN_PASSWORD", hide_env_values = true, global = true)]
    pub admin_password: Option<String>,

    /// Take the client address from X-Forwarded-For / Forwarded (only behind a trusted proxy).
    #[arg(long, env = "HOCVUSO_TRUST_PROXY", default_value_t = false, global = true)]
    pub trust_proxy: bool,

    /// Failed logins for one username (within the window) before it is throttled.
    #[arg(long, env = "HOCVUSO_THROTTLE_USER_FAILURES", default_value_t = 5, global = true)]
    pub throttle_user_failures: i32,

    /// Failed logins from one client address (within the window) before it is throttled.
    #[arg(long, env = "HOCVUSO_THROTTLE_ADDR_FAILURES", default_value_t = 20, global = true)]
    pub throttle_addr_failures: i32,

    /// Throttling window and lock-out, in seconds.
    #[arg(long, env = "HOCVUSO_THROTTLE_WINDOW", default_value_t = 900, global = true)]
    pub throttle_window: i64,

    /// Serve Prometheus metrics, without a token, at /metrics on this separate HOST:PORT
    /// only (e.g. 127.0.0.1:9464, reachable by the scraper alone). Unset: no metrics listener.
    #[arg(long, env = "HOCVUSO_METRICS_BIND", global = true)]
    pub metrics_bind: Option<String>,

    /// Serve Prometheus metrics at /metrics on the API's own address to requests bearing
    /// `Authorization: Bearer <this token>` (at least 32 bytes). Unset (and no
    /// HOCVUSO_METRICS_BIND): metrics are off.
    #[arg(long, env = "HOCVUSO_METRICS_TOKEN", hide_env_values = true, global = true)]
    pub metrics_token: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

/// A secret value whose `Debug` prints nothing.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Whether `given` is this secret, compared in constant time.
    pub fn matches(&self, given: &[u8]) -> bool {
        same_bytes(&self.0, given)
    }
}

/// Equality that takes the same time wherever the first difference is, so a guess cannot
/// be improved byte by byte (the lengths are not secret).
pub fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Checked, resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: DatabaseUrl,
    /// The local calendar's zone (`HOCVUSO_TIME_ZONE`) …
    pub time_zone: chrono::FixedOffset,
    /// … and the name it was given as (kept with the counters, see `server::bootstrap`).
    pub time_zone_name: String,
    pub bind: String,
    pub data_dir: PathBuf,
    pub jwt_secret: Secret,
    pub id_hash_secret: Secret,
    pub sync_horizon_days: i64,
    pub access_token_ttl: i64,
    pub refresh_token_ttl: i64,
    pub reset_code_ttl: i64,
    pub pool_size: u32,
    pub workers: usize,
    pub admin_password: Option<String>,
    pub trust_proxy: bool,
    pub throttle_user_failures: i32,
    pub throttle_addr_failures: i32,
    pub throttle_window: i64,
    /// A separate address serving only /metrics, open (`HOCVUSO_METRICS_BIND`).
    pub metrics_bind: Option<String>,
    /// The bearer token for /metrics on the API's address (`HOCVUSO_METRICS_TOKEN`).
    pub metrics_token: Option<Secret>,
}

pub const MIN_SECRET_BYTES: usize = 32;

impl ConfigArgs {
    /// Checks every value and resolves the JWT secret (reading or creating
    /// DATA_DIR/jwt-secret when none is given).
    pub fn resolve(&self) -> Result<Config, String> {
        let database_url = match &self.database_url {
            Some(url) => DatabaseUrl::parse(url)?,
            None => DatabaseUrl::Sqlite(self.data_dir.join("hocvuso.db")),
        };
        if let (Some(_), DatabaseUrl::Sqlite(path)) = (&self.database_url, &database_url) {
            let folder = path.parent().filter(|p| !p.as_os_str().is_empty());
            if let Some(folder) = folder.filter(|f| path.is_absolute() && !f.exists() && !self.create_db_dir) {
                return Err(format!(
                    "DATABASE_URL names {}, but the folder {} does not exist; check the path (a mistyped one would \
                     start a new, empty database), create the folder, or set HOCVUSO_CREATE_DB_DIR=true to create it",
                    path.display(),
                    folder.display()
                ));
            }
        }
        self.bind
            .parse::<std::net::SocketAddr>()
            .map_err(|_| format!("HOCVUSO_BIND must be HOST:PORT with an IP address, e.g. 0.0.0.0:8080; got `{}`", self.bind))?;
        positive("HOCVUSO_ACCESS_TOKEN_TTL", self.access_token_ttl)?;
        positive("HOCVUSO_REFRESH_TOKEN_TTL", self.refresh_token_ttl)?;
        positive("HOCVUSO_RESET_CODE_TTL", self.reset_code_ttl)?;
        positive("HOCVUSO_THROTTLE_WINDOW", self.throttle_window)?;
        positive("HOCVUSO_THROTTLE_USER_FAILURES", i64::from(self.throttle_user_failures))?;
        positive("HOCVUSO_THROTTLE_ADDR_FAILURES", i64::from(self.throttle_addr_failures))?;
        if self.refresh_token_ttl < self.access_token_ttl {
            return Err("HOCVUSO_REFRESH_TOKEN_TTL must not be shorter than HOCVUSO_ACCESS_TOKEN_TTL".into());
        }
        if !(1..=256).contains(&self.pool_size) {
            return Err(format!("HOCVUSO_POOL_SIZE must be between 1 and 256; got {}", self.pool_size));
        }
        let jwt_secret = match &self.jwt_secret {
            Some(s) if s.len() < MIN_SECRET_BYTES => {
                return Err(format!(
                    "HOCVUSO_JWT_SECRET is {} bytes; it must be at least {MIN_SECRET_BYTES} (e.g. `openssl rand -base64 48`)",
                    s.len()
                ))
            }
            Some(s) => Secret::new(s.as_bytes().to_vec()),
            None => load_or_create_secret(&self.data_dir, "jwt-secret").map_err(|e| self.data_dir_problem(e, "HOCVUSO_JWT_SECRET"))?,
        };
        let id_hash_secret = match &self.id_hash_secret {
            Some(s) if s.len() < MIN_SECRET_BYTES => {
                return Err(format!("HOCVUSO_ID_HASH_SECRET is {} bytes; it must be at least {MIN_SECRET_BYTES}", s.len()))
            }
            Some(s) => Secret::new(s.as_bytes().to_vec()),
            None => {
                load_or_create_secret(&self.data_dir, "id-hash-secret").map_err(|e| self.data_dir_problem(e, "HOCVUSO_ID_HASH_SECRET"))?
            }
        };
        positive("HOCVUSO_SYNC_HORIZON_DAYS", self.sync_horizon_days)?;
        let metrics_bind = self.metrics_bind.as_deref().map(str::trim).filter(|b| !b.is_empty());
        if let Some(bind) = metrics_bind {
            let addr = bind
                .parse::<std::net::SocketAddr>()
                .map_err(|_| format!("HOCVUSO_METRICS_BIND must be HOST:PORT with an IP address, e.g. 127.0.0.1:9464; got `{bind}`"))?;
            if self.bind.parse::<std::net::SocketAddr>().is_ok_and(|api| api.port() == addr.port() && addr.port() != 0) {
                return Err(format!("HOCVUSO_METRICS_BIND ({bind}) must use another port than HOCVUSO_BIND ({})", self.bind));
            }
        }
        let metrics_token = match self.metrics_token.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            Some(t) if t.len() < MIN_SECRET_BYTES => {
                return Err(format!(
                    "HOCVUSO_METRICS_TOKEN is {} bytes; it must be at least {MIN_SECRET_BYTES} (e.g. `openssl rand -hex 32`)",
                    t.len()
                ))
            }
            Some(t) => Some(Secret::new(t.as_bytes().to_vec())),
            None => None,
        };
        let zone = crate::base::time::parse_zone(&self.time_zone).ok_or_else(|| {
            format!("HOCVUSO_TIME_ZONE must be Asia/Ho_Chi_Minh, UTC or an offset such as +07:00; got `{}`", self.time_zone)
        })?;
        // Every command of this process counts days in this zone.
        crate::base::time::set_zone(zone);
        Ok(Config {
            time_zone: zone,
            time_zone_name: self.time_zone.trim().to_owned(),
            sync_horizon_days: self.sync_horizon_days,
            id_hash_secret,
            database_url,
            bind: self.bind.clone(),
            data_dir: self.data_dir.clone(),
            jwt_secret,
            access_token_ttl: self.access_token_ttl,
            refresh_token_ttl: self.refresh_token_ttl,
            reset_code_ttl: self.reset_code_ttl,
            pool_size: self.pool_size,
            workers: self.workers,
            admin_password: self.admin_password.clone(),
            trust_proxy: self.trust_proxy,
            throttle_user_failures: self.throttle_user_failures,
            throttle_addr_failures: self.throttle_addr_failures,
            throttle_window: self.throttle_window,
            metrics_bind: metrics_bind.map(str::to_owned),
            metrics_token,
        })
    }
}

impl ConfigArgs {
    /// A data folder that cannot be read or written: say which folder, and the ways out.
    fn data_dir_problem(&self, e: String, variable: &str) -> String {
        format!(
            "{e}. The data folder {} (HOCVUSO_DATA_DIR) must be a folder hocvuso can read and write (it keeps the generated \
             secrets and, by default, the SQLite database); choose another one, fix its owner or permissions, or give {variable}",
            self.data_dir.display()
        )
    }
}

fn positive(name: &str, v: i64) -> Result<(), String> {
    if v > 0 {
        Ok(())
    } else {
        Err(format!("{name} must be a positive number; got {v}"))
    }
}

/// Reads DATA_DIR/NAME, or creates it with 48 random bytes (base64url) and mode 0600.
pub fn load_or_create_secret(data_dir: &Path, name: &str) -> Result<Secret, String> {
    let path = data_dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(s) => {
            let s = s.trim().to_owned();
            if s.len() < MIN_SECRET_BYTES {
                return Err(format!("{} holds fewer than {MIN_SECRET_BYTES} bytes; delete it to generate a new one", path.display()));
            }
            Ok(Secret::new(s.into_bytes()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut bytes = [0u8; 48];
            rand::thread_rng().fill_bytes(&mut bytes);
            let s = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
            write_private_file(&path, &s)?;
            tracing::warn!(
                path = %path.display(),
                "no secret configured: generated one and stored it; set the same secret on every instance in production"
            );
            Ok(Secret::new(s.into_bytes()))
        }
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Creates a folder (and its missing parents) that only its owner can enter (mode 0700 on
/// Unix): it holds secrets and, by default, the database.
pub fn create_private_dir(dir: &Path) -> Result<(), String> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|e| format!("cannot create the folder {}: {e}", dir.display()))
}

/// Writes a file only its owner can read (mode 0600 on Unix), creating the folder.
pub fn write_private_file(path: &Path, contents: &str) -> Result<(), String> {
    use std::io::Write;
    if let Some(parent) = path.parent() {
        create_private_dir(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    file.write_all(contents.as_bytes()).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(())
}

/// Which backend a `DATABASE_URL` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A file path (relative to the working directory unless absolute).
    Sqlite(PathBuf),
    /// A libpq connection URL, passed on unchanged (so `sslmode=require` etc. work).
    Postgres(String),
}

impl DatabaseUrl {
    /// Parses `sqlite://relative/path.db`, `sqlite:///absolute/path.db`, `postgres://…` or
    /// `postgresql://…`. Anything else is refused with a message that says what to write.
    pub fn parse(url: &str) -> Result<Self, String> {
        if let Some(rest) = url.strip_prefix("sqlite://") {
            if rest.is_empty() {
                return Err("DATABASE_URL `sqlite://` needs a file path, e.g. sqlite://data/hocvuso.db".into());
            }
            Ok(DatabaseUrl::Sqlite(PathBuf::from(rest)))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(DatabaseUrl::Postgres(url.to_owned()))
        } else {
            Err(format!(
                "DATABASE_URL must start with sqlite:// (e.g. sqlite://data/hocvuso.db) or postgres:// \
                 (e.g. postgres://user@host:5432/hocvuso?sslmode=require); got `{}`",
                redact_url(url)
            ))
        }
    }

    pub fn backend_name(&self) -> &'static str {
        match self {
            DatabaseUrl::Sqlite(_) => "sqlite",
            DatabaseUrl::Postgres(_) => "postgres",
        }
    }
}

/// Removes a password from a URL before it is logged or shown.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!("{}{}:***{}", &url[..scheme_end + 3], &userinfo[..colon], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}
