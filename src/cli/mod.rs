//! The command line: `serve` (default), `migrate`, `user create`, `units import`,
//! `openapi`. Configuration comes from the environment (see `--help`).

pub mod bench;

use std::io::Read;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::access::policy::Scope;
use crate::base::config::{ConfigArgs, LogFormat};
use crate::store::db::Db;

#[derive(Debug, Parser)]
#[command(name = "hocvuso", version, about = "REST API for the \"Bình dân học vụ số\" popular digital learning movement")]
pub struct Cli {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API (the default): migrate, load reference data, listen on HOCVUSO_BIND.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage the list of administrative units.
    #[command(subcommand)]
    Units(UnitsCommand),
    /// Print the OpenAPI document.
    Openapi,
    /// Exit 0 if the server on HOCVUSO_BIND answers /healthz (for container health checks).
    Healthcheck,
    /// Benchmark helpers.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Statistics counters.
    #[command(subcommand)]
    Stats(StatsCommand),
    /// Write a consistent copy of the SQLite database to FILE while the server runs (mode
    /// 0600), and say which secrets must be kept with it. PostgreSQL: use pg_dump.
    Backup {
        /// The new file to write (never overwritten).
        file: PathBuf,
    },
    /// The secrets the database keeps fingerprints of.
    #[command(subcommand)]
    Secrets(SecretsCommand),
}

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Compare the configured secrets with the fingerprints the database keeps (exit 2 when
    /// one differs; a database without fingerprints takes the configured ones).
    Check,
    /// Accept the configured HOCVUSO_JWT_SECRET as the database's new token secret (after
    /// setting it on every instance): every session and sync cursor signed with the old one ends.
    RotateJwt,
}

#[derive(Debug, Subcommand)]
pub enum StatsCommand {
    /// Recompute every statistics counter from the records and report any difference
    /// (exit 1 when there is one); `--fix` rewrites the counters from the records.
    Rebuild {
        /// Rewrite the counters that differ from the records.
        #[arg(long)]
        fix: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Load synthetic teams, classes and sessions (for bench/run.sh; never on real data).
    Seed {
        /// Province code, or `all` for every commune-level unit of the country.
        #[arg(long, default_value = "51")]
        province: String,
        /// Communes of the province to fill.
        #[arg(long, default_value_t = 96)]
        communes: usize,
        /// Teams per commune.
        #[arg(long, default_value_t = 20)]
        teams_per_commune: usize,
        /// Classes per team.
        #[arg(long, default_value_t = 50)]
        classes_per_team: usize,
        /// Sessions per class.
        #[arg(long, default_value_t = 8)]
        sessions_per_class: usize,
        /// Trainees per commune.
        #[arg(long, default_value_t = 0)]
        trainees_per_commune: usize,
        /// Enrollments per trainee (in classes of its commune).
        #[arg(long, default_value_t = 3)]
        enrollments_per_trainee: usize,
    },
    /// Write a synthetic trainee list (XLSX, the template's layout) for bench/import.sh:
    /// every row enrolled in `--class` with a result.
    ImportFile {
        #[arg(long, default_value_t = 10_000)]
        rows: usize,
        #[arg(long)]
        commune: String,
        #[arg(long)]
        class: String,
        #[arg(long)]
        out: std::path::PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account; the password is read from standard input (first line).
    Create {
        /// Sign-in name: 3–50 characters, lowercase letters, digits, `.`, `_`, `-`.
        #[arg(long)]
        username: String,
        /// The person's full name.
        #[arg(long)]
        full_name: String,
        /// admin, officer, team_member or analyst.
        #[arg(long)]
        role: String,
        /// country, province or commune.
        #[arg(long, default_value = "country")]
        scope_kind: String,
        /// Province (2 digits) or commune (5 digits) code.
        #[arg(long)]
        scope_code: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum UnitsCommand {
    /// Upsert provinces or commune-level units from a CSV file (header `code,name,type` or
    /// `code,name,type,province_code`).
    Import {
        /// The CSV file (UTF-8).
        file: PathBuf,
        /// Province of every row, for a file without a province_code column.
        #[arg(long)]
        province: Option<String>,
    },
}

/// Entry point of the binary; returns the process exit code.
pub fn run() -> i32 {
    let cli = Cli::parse();
    init_logging(&cli.config);
    let format = cli.config.log_format;
    match execute(cli) {
        Ok(()) => 0,
        Err(message) => {
            match format {
                // One JSON line like every other log line, for log collectors.
                LogFormat::Json => tracing::error!(%message, "hocvuso stopped"),
                LogFormat::Human => eprintln!("hocvuso: {message}"),
            }
            2
        }
    }
}

fn init_logging(args: &ConfigArgs) {
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log).unwrap_or_else(|_| {
        eprintln!("hocvuso: HOCVUSO_LOG `{}` is not a valid filter; using `info`", args.log);
        tracing_subscriber::EnvFilter::new("info")
    });
    // Colour codes only for a person at a terminal, never into a file or a log collector.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    let _ = match args.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Human => builder.try_init(),
    };
}

fn execute(cli: Cli) -> Result<(), String> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Openapi => {
            use std::io::Write;
            // A reader that stops early (`hocvuso openapi | head`) is not an error.
            match std::io::stdout().lock().write_all(crate::http::openapi::json().as_bytes()) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(format!("writing the document: {e}")),
                _ => Ok(()),
            }
        }
        Command::Backup { file } => {
            let config = cli.config.resolve()?;
            let crate::base::config::DatabaseUrl::Sqlite(path) = &config.database_url else {
                return Err("`hocvuso backup` copies a SQLite database; back up PostgreSQL with pg_dump \
                            (README, \"Backup and restore\")"
                    .into());
            };
            let done = crate::store::backup::sqlite(path, &file)?;
            println!("backup written: {} ({} bytes, mode 0600, checked)", file.display(), done.bytes);
            println!("Keep with it, as safely (the copy does not start without them, and they unlock its data):");
            for s in crate::server::kept_secrets(&config) {
                println!("  {}: the value of {} or, when that is unset, the file {}", s.setting, s.variable, s.file.display());
            }
            println!(
                "To restore: stop hocvuso, put the copy at {} (remove any -wal and -shm file beside it), put the secrets back, \
                 start it, run `hocvuso stats rebuild` and check GET /readyz.",
                path.display()
            );
            Ok(())
        }
        Command::Secrets(command) => {
            let config = cli.config.resolve()?;
            let db = Db::connect(config.database_url.clone(), 1)?;
            db.migrate()?;
            let mut conn = db.get().map_err(|e| e.to_string())?;
            let secrets = crate::server::kept_secrets(&config);
            if let SecretsCommand::RotateJwt = command {
                let jwt = secrets.iter().find(|s| s.variable == "HOCVUSO_JWT_SECRET").ok_or("no token secret")?;
                crate::store::settings::set(&mut conn, jwt.setting, &crate::store::settings::fingerprint(jwt.secret))
                    .map_err(|e| format!("writing settings: {e}"))?;
                println!("{} is now this database's token secret; sessions signed with the old one have ended", jwt.variable);
            }
            crate::store::settings::check_secrets(&mut conn, &secrets)?;
            println!("the configured secrets are the ones this database was used with");
            Ok(())
        }
        Command::Healthcheck => healthcheck(&cli.config.bind),
        Command::Bench(BenchCommand::ImportFile { rows, commune, class, out }) => {
            let bytes = crate::cli::bench::import_file(rows, &commune, &class)?;
            std::fs::write(&out, bytes).map_err(|e| format!("{}: {e}", out.display()))?;
            println!("{rows} rows written to {}", out.display());
            Ok(())
        }
        Command::Bench(BenchCommand::Seed {
            province,
            communes,
            teams_per_commune,
            classes_per_team,
            sessions_per_class,
            trainees_per_commune,
            enrollments_per_trainee,
        }) => {
            let config = cli.config.resolve()?;
            let db = Db::connect(config.database_url, 2)?;
            db.migrate()?;
            let mut conn = db.get().map_err(|e| e.to_string())?;
            crate::domain::units::seed_if_empty(&mut conn)?;
            crate::domain::topics::seed_if_empty(&mut conn)?;
            let started = std::time::Instant::now();
            let plan = crate::cli::bench::SeedPlan {
                province,
                communes,
                teams_per_commune,
                classes_per_team,
                sessions_per_class,
                trainees_per_commune,
                enrollments_per_trainee,
            };
            let r = crate::cli::bench::seed(&mut conn, &plan)?;
            // Seeded rows bypass the write path: count them once, from the records.
            crate::domain::stats::rebuild::rebuild(&mut conn, true)
                .map_err(|e| format!("statistics: {}", e.cause.as_deref().unwrap_or(e.code)))?;
            println!(
                "seeded {} communes: {} teams, {} classes, {} sessions, {} trainees, {} enrollments, {} attendance marks in {:.1} s",
                r.communes,
                r.teams,
                r.classes,
                r.sessions,
                r.trainees,
                r.enrollments,
                r.marks,
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Command::Stats(StatsCommand::Rebuild { fix }) => {
            let config = cli.config.resolve()?;
            let db = Db::connect(config.database_url, 1)?;
            db.migrate()?;
            let mut conn = db.get().map_err(|e| e.to_string())?;
            let diffs = crate::domain::stats::rebuild::rebuild(&mut conn, fix)
                .map_err(|e| format!("statistics: {}", e.cause.as_deref().unwrap_or(e.code)))?;
            for d in &diffs {
                println!(
                    "{}: stored {} (key sum {}), from the records {} (key sum {})",
                    d.key, d.stored.n, d.stored.k, d.computed.n, d.computed.k
                );
            }
            match (diffs.len(), fix) {
                (0, _) => {
                    println!("statistics counters match the records");
                    Ok(())
                }
                (n, true) => {
                    println!("{n} counters differed; rewritten from the records");
                    Ok(())
                }
                (n, false) => Err(format!("{n} statistics counters differ from the records (run with --fix to rewrite them)")),
            }
        }
        Command::Serve => {
            let started = std::time::Instant::now();
            let config = cli.config.resolve()?;
            // Listen first: a port in use stops the start before anything is migrated,
            // created or printed.
            let listener = std::net::TcpListener::bind(&config.bind).map_err(|e| {
                format!("cannot listen on {} (HOCVUSO_BIND): {e}; stop what uses it or choose another address", config.bind)
            })?;
            let metrics = match &config.metrics_bind {
                Some(bind) => Some(std::net::TcpListener::bind(bind).map_err(|e| {
                    format!("cannot listen on {bind} (HOCVUSO_METRICS_BIND): {e}; stop what uses it or choose another address")
                })?),
                None => None,
            };
            let state = crate::server::bootstrap(config)?;
            tracing::info!(ms = started.elapsed().as_millis() as u64, "ready");
            actix_web::rt::System::new().block_on(crate::server::serve(state, listener, metrics)).map_err(|e| format!("server: {e}"))
        }
        Command::Migrate => {
            let config = cli.config.resolve()?;
            let db = Db::connect(config.database_url, config.pool_size.min(2))?;
            let applied = db.migrate()?;
            println!("{} migration(s) applied", applied.len());
            for name in applied {
                println!("  {name}");
            }
            Ok(())
        }
        Command::User(UserCommand::Create { username, full_name, role, scope_kind, scope_code }) => {
            let config = cli.config.resolve()?;
            let mut input = String::new();
            std::io::stdin().read_to_string(&mut input).map_err(|e| format!("reading the password from stdin: {e}"))?;
            let password = input.lines().next().unwrap_or("").to_owned();
            // The API's form and rules, field by field.
            let form = serde_json::json!({"username": username, "full_name": full_name, "role": role,
                                          "scope_kind": scope_kind, "scope_code": scope_code, "password": password});
            let form = serde_json::from_value(form).map_err(|e| format!("the account is refused: {e}"))?;
            let new = crate::domain::users::check_new_user_form(form).map_err(|e| refused_fields(&e))?;
            let db = Db::connect(config.database_url, 2)?;
            db.migrate()?;
            let mut conn = db.get().map_err(|e| e.to_string())?;
            crate::domain::units::seed_if_empty(&mut conn)?;
            let flag = |e: crate::base::error::ApiError| {
                if e.errors.is_empty() {
                    format!("the account is refused: {}", e.detail.en)
                } else {
                    refused_fields(&e)
                }
            };
            let scope: Scope = Scope::validate(&mut conn, new.kind, new.scope_code.as_deref()).map_err(flag)?;
            crate::access::policy::check_role_scope(new.role, &scope).map_err(flag)?;
            let hash = crate::access::password::hash_blocking(&password)?;
            let username = new.username.clone();
            let id = crate::domain::users::create_user_unchecked(&mut conn, &username, &new.full_name, new.role, &scope, &hash)
                .map_err(|e| if e.status == 409 { format!("username `{username}` is taken") } else { e.to_string() })?;
            println!("created {username} ({id})");
            Ok(())
        }
        Command::Units(UnitsCommand::Import { file, province }) => {
            let config = cli.config.resolve()?;
            let text = std::fs::read_to_string(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            let db = Db::connect(config.database_url, 2)?;
            db.migrate()?;
            let mut conn = db.get().map_err(|e| e.to_string())?;
            crate::domain::units::seed_if_empty(&mut conn)?;
            let r =
                crate::domain::units::import_csv(&mut conn, &text, province.as_deref()).map_err(|e| format!("{}: {e}", file.display()))?;
            println!(
                "provinces: {} inserted, {} updated; units: {} inserted, {} updated; {} unchanged",
                r.provinces_inserted, r.provinces_updated, r.units_inserted, r.units_updated, r.unchanged
            );
            Ok(())
        }
    }
}

/// A refused form as the command line says it: each field as its flag, with the API's message.
fn refused_fields(e: &crate::base::error::ApiError) -> String {
    let lines: Vec<String> = e
        .errors
        .iter()
        .map(|f| {
            let flag = match f.field.as_str() {
                "password" => "the password (standard input)".to_owned(),
                other => format!("--{}", other.replace('_', "-")),
            };
            format!("  {flag}: {}", f.message.en)
        })
        .collect();
    if lines.is_empty() {
        format!("the account is refused: {}", e.detail.en)
    } else {
        format!("the account is refused:\n{}", lines.join("\n"))
    }
}

/// A minimal HTTP/1.0 GET of /healthz, so the container image needs no curl.
fn healthcheck(bind: &str) -> Result<(), String> {
    use std::io::Write;
    use std::net::{SocketAddr, TcpStream};
    use std::time::Duration;
    let mut addr: SocketAddr = bind.parse().map_err(|_| format!("HOCVUSO_BIND `{bind}` is not HOST:PORT"))?;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| format!("connect {addr}: {e}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).map_err(|e| e.to_string())?;
    stream.write_all(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n").map_err(|e| e.to_string())?;
    let mut head = [0u8; 16];
    let n = std::io::Read::read(&mut stream, &mut head).map_err(|e| e.to_string())?;
    let line = String::from_utf8_lossy(&head[..n]);
    if line.starts_with("HTTP/1.0 200") || line.starts_with("HTTP/1.1 200") {
        Ok(())
    } else {
        Err(format!("unhealthy: {line}"))
    }
}
