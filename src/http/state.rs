//! What every handler shares: the application state, built once by the server at
//! start-up and handed to each worker.

use std::sync::Arc;

use crate::access::password::Passwords;
use crate::access::token::JwtKeys;
use crate::base::config::Config;
use crate::domain::privacy::AccessLog;
use crate::http::metrics::Metrics;
use crate::store::db::Db;

/// Everything a handler needs, shared by all workers.
pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
    pub jwt: JwtKeys,
    pub passwords: Passwords,
    pub access_log: AccessLog,
    pub metrics: Metrics,
}
