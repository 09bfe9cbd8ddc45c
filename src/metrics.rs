//! Prometheus metrics: request latency by route, push ops by status, pull pages, and the
//! open review queue.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    /// Request latency by method, route pattern and status.
    pub http_latency: HistogramVec,
    /// Push ops by result status.
    pub push_ops: IntCounterVec,
    /// Pull pages served.
    pub pull_pages: IntCounter,
    /// Open conflicts plus open quarantine entries.
    pub review_queue_open: IntGauge,
    /// Refused push ops answered but not kept: the device's daily quarantine cap was reached.
    pub quarantine_not_kept: IntCounter,
}

impl Metrics {
    /// Registers the metrics.
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let http_latency = HistogramVec::new(
            HistogramOpts::new("jiayi_http_request_duration_seconds", "HTTP request latency")
                .buckets(vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            &["method", "route", "status"],
        )
        .expect("valid metric");
        let push_ops = IntCounterVec::new(
            Opts::new("jiayi_sync_push_ops_total", "Push ops by result"),
            &["status"],
        )
        .expect("valid metric");
        let pull_pages = IntCounter::new("jiayi_sync_pull_pages_total", "Pull pages served").expect("valid metric");
        let review_queue_open =
            IntGauge::new("jiayi_review_queue_open", "Open conflicts and quarantined ops").expect("valid metric");
        let quarantine_not_kept = IntCounter::new(
            "jiayi_quarantine_not_kept_total",
            "Refused push ops not kept in quarantine (the device's daily cap was reached)",
        )
        .expect("valid metric");
        for m in [
            Box::new(http_latency.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(push_ops.clone()),
            Box::new(pull_pages.clone()),
            Box::new(review_queue_open.clone()),
            Box::new(quarantine_not_kept.clone()),
        ] {
            registry.register(m).expect("unique metric");
        }
        Metrics {
            registry,
            http_latency,
            push_ops,
            pull_pages,
            review_queue_open,
            quarantine_not_kept,
        }
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
