//! Prometheus metrics (the `prometheus` crate's registry and text format): requests by
//! route template, status and latency; pushes and their operations by result; the sync lag
//! the devices report; the database pool; the access log's buffer. Served at `/metrics`
//! with a bearer token on the API's address, or open on a separate address, or not at all
//! (`HOCVUSO_METRICS_TOKEN`, `HOCVUSO_METRICS_BIND`; README "Metrics"; the handlers are
//! in `ops.rs`).
//!
//! Labels are route templates (`/api/v1/classes/{id}`), statuses, results and province
//! codes: never an id, a name or a query string, so the series stay few and hold nothing
//! personal.

use std::time::Duration;

use prometheus::{Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

use crate::base::error::ApiError;
use crate::store::values::{ClosedSet, OpStatus};

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    pushes: IntCounter,
    push_operations: IntCounterVec,
    sync_lag: GaugeVec,
    pool_connections: IntGaugeVec,
    pool_max: IntGauge,
    access_log_buffered: IntGauge,
}

impl Metrics {
    pub fn new() -> Result<Metrics, String> {
        let fail = |e: prometheus::Error| format!("metrics: {e}");
        let registry = Registry::new_custom(Some("hocvuso".into()), None).map_err(fail)?;
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests answered, by route template and status"),
            &["method", "route", "status"],
        )
        .map_err(fail)?;
        let latency = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "Time to answer, by route template")
                .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            &["method", "route"],
        )
        .map_err(fail)?;
        let pushes = IntCounter::new("sync_pushes_total", "Sync pushes answered with per-operation results").map_err(fail)?;
        let push_operations =
            IntCounterVec::new(Opts::new("sync_push_operations_total", "Pushed operations, by result"), &["result"]).map_err(fail)?;
        let sync_lag = GaugeVec::new(
            Opts::new(
                "sync_lag_seconds",
                "Per province, the age of the oldest change a device last said it still holds unsent (devices that report nothing unsent are not counted)",
            ),
            &["province"],
        )
        .map_err(fail)?;
        let pool_connections =
            IntGaugeVec::new(Opts::new("db_pool_connections", "Database connections, by state"), &["state"]).map_err(fail)?;
        let pool_max = IntGauge::new("db_pool_max_connections", "The pool's size (HOCVUSO_POOL_SIZE)").map_err(fail)?;
        let access_log_buffered =
            IntGauge::new("access_log_buffered_entries", "Access-log entries waiting to be written (once a second)").map_err(fail)?;
        let metrics =
            Metrics { registry, requests, latency, pushes, push_operations, sync_lag, pool_connections, pool_max, access_log_buffered };
        for c in [
            Box::new(metrics.requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(metrics.latency.clone()),
            Box::new(metrics.pushes.clone()),
            Box::new(metrics.push_operations.clone()),
            Box::new(metrics.sync_lag.clone()),
            Box::new(metrics.pool_connections.clone()),
            Box::new(metrics.pool_max.clone()),
            Box::new(metrics.access_log_buffered.clone()),
        ] {
            metrics.registry.register(c).map_err(fail)?;
        }
        // Every result appears from the start (a rate over a series that does not exist yet
        // is no rate at all).
        for result in <OpStatus as ClosedSet>::NAMES {
            metrics.push_operations.with_label_values(&[result]);
        }
        Ok(metrics)
    }

    /// One answered request. `route` is the matched template, or `unmatched`.
    pub fn observe_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        self.requests.with_label_values(&[method, route, &status.to_string()]).inc();
        self.latency.with_label_values(&[method, route]).observe(elapsed.as_secs_f64());
    }

    /// One push, with the status of each of its operations.
    pub fn observe_push<'a>(&self, results: impl Iterator<Item = &'a OpStatus>) {
        self.pushes.inc();
        for status in results {
            self.push_operations.with_label_values(&[status.as_str()]).inc();
        }
    }

    /// The text exposition of every metric, after setting the gauges read at scrape time:
    /// the sync lag per province (from the devices' reports), the pool (open, idle, size)
    /// and the access log's buffer.
    pub fn render(
        &self,
        lags: Vec<(Option<String>, chrono::NaiveDateTime)>,
        pool: (u32, u32, u32),
        access_log: usize,
    ) -> Result<String, ApiError> {
        let now = chrono::Utc::now().naive_utc();
        self.sync_lag.reset();
        for (province, oldest) in lags {
            let seconds = (now - oldest).num_milliseconds().max(0) as f64 / 1000.0;
            self.sync_lag.with_label_values(&[province.as_deref().unwrap_or("none")]).set(seconds);
        }
        let (connections, idle, size) = pool;
        self.pool_connections.with_label_values(&["in_use"]).set(i64::from(connections.saturating_sub(idle)));
        self.pool_connections.with_label_values(&["idle"]).set(i64::from(idle));
        self.pool_max.set(i64::from(size));
        self.access_log_buffered.set(access_log as i64);
        let mut out = Vec::new();
        prometheus::TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .map_err(|e| ApiError::internal(format!("metrics encoding: {e}")))?;
        String::from_utf8(out).map_err(|e| ApiError::internal(format!("metrics encoding: {e}")))
    }
}

/// The media type of the text exposition.
pub const CONTENT_TYPE: &str = prometheus::TEXT_FORMAT;
