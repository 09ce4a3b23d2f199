//! The shapes of the node's histograms (`/metrics`, served by the API through
//! `prometheus-client`): one bucket layout for every duration.

use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};

/// Durations in seconds, one histogram per label set.
pub type Durations = Family<Vec<(String, String)>, Histogram, fn() -> Histogram>;

/// A histogram of durations in seconds: buckets from 1 ms, doubling, to about 2.2 minutes.
pub fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 18))
}

/// An empty [`Durations`].
pub fn durations() -> Durations {
    Durations::new_with_constructor(duration_histogram)
}
