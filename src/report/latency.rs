//! Each collection's request times, summarised as count, p50, p95, p99 and
//! max (nearest-rank percentiles), for the console, the JSON report and
//! thresholds.

use std::time::Duration;

use serde::Serialize;

/// One collection's figures, in milliseconds.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Latency {
    /// How many requests got a response.
    pub count: usize,
    /// The median.
    pub p50_ms: f64,
    /// 95 % took at most this.
    pub p95_ms: f64,
    /// 99 % took at most this.
    pub p99_ms: f64,
    /// The slowest.
    pub max_ms: f64,
}

/// The times of each collection, by collection index, as they come.
#[derive(Debug, Default)]
pub struct Times {
    by_collection: Vec<Vec<Duration>>,
}

impl Times {
    /// A request of collection `ci` took `took`.
    pub fn add(&mut self, ci: usize, took: Duration) {
        if self.by_collection.len() <= ci {
            self.by_collection.resize_with(ci + 1, Vec::new);
        }
        self.by_collection[ci].push(took);
    }

    /// Each collection's figures (`None` for one with no response).
    pub fn summary(&self, collections: usize) -> Vec<Option<Latency>> {
        (0..collections)
            .map(|ci| self.by_collection.get(ci).and_then(|t| summarise(t)))
            .collect()
    }
}

fn summarise(times: &[Duration]) -> Option<Latency> {
    if times.is_empty() {
        return None;
    }
    let mut ms: Vec<f64> = times.iter().map(|t| t.as_secs_f64() * 1000.0).collect();
    ms.sort_by(f64::total_cmp);
    let rank = |p: f64| {
        let i = ((p / 100.0) * ms.len() as f64).ceil() as usize;
        round(ms[i.clamp(1, ms.len()) - 1])
    };
    Some(Latency {
        count: ms.len(),
        p50_ms: rank(50.0),
        p95_ms: rank(95.0),
        p99_ms: rank(99.0),
        max_ms: round(ms[ms.len() - 1]),
    })
}

fn round(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

/// The console table: one line per collection that got responses.
pub fn table(names: &[&str], figures: &[Option<Latency>]) -> String {
    let width = names
        .iter()
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(0)
        .max(10);
    let mut out = format!(
        "{:width$}  {:>6}  {:>9}  {:>9}  {:>9}  {:>9}\n",
        "latency", "count", "p50 ms", "p95 ms", "p99 ms", "max ms"
    );
    for (name, l) in names.iter().zip(figures) {
        if let Some(l) = l {
            out.push_str(&format!(
                "{name:width$}  {:>6}  {:>9.1}  {:>9.1}  {:>9.1}  {:>9.1}\n",
                l.count, l.p50_ms, l.p95_ms, l.p99_ms, l.max_ms
            ));
        }
    }
    out
}

/// Whether a collection held its `thresholds`: `latency` of the requests
/// that got a response, `failed` of `total` reported requests failed.
pub fn check(
    thresholds: &crate::load::Thresholds,
    latency: Option<&Latency>,
    failed: usize,
    total: usize,
) -> Result<(), String> {
    let mut over = Vec::new();
    if latency.is_none() && !thresholds.times.is_empty() {
        over.push("no request got a response: the time limits cannot hold".to_string());
    }
    for (name, limit) in &thresholds.times {
        let Some(l) = latency else { break };
        let measured = match *name {
            "p50" => l.p50_ms,
            "p95" => l.p95_ms,
            "p99" => l.p99_ms,
            _ => l.max_ms,
        };
        let limit_ms = limit.as_secs_f64() * 1000.0;
        if measured > limit_ms {
            over.push(format!(
                "{name}: {measured:.1} ms, over the threshold of {}",
                crate::load::format_duration(*limit)
            ));
        }
    }
    if let Some(max_rate) = thresholds.error_rate {
        let rate = if total == 0 {
            0.0
        } else {
            failed as f64 / total as f64
        };
        if rate > max_rate {
            over.push(format!(
                "error_rate: {rate:.3} ({failed} of {total} requests failed), over the threshold of {max_rate}"
            ));
        }
    }
    if over.is_empty() {
        Ok(())
    } else {
        Err(format!("{}: {}", thresholds.at, over.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let times: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let l = summarise(&times).unwrap();
        assert_eq!(
            (l.count, l.p50_ms, l.p95_ms, l.p99_ms, l.max_ms),
            (100, 50.0, 95.0, 99.0, 100.0)
        );
        let one = summarise(&[Duration::from_millis(7)]).unwrap();
        assert_eq!((one.p50_ms, one.p99_ms), (7.0, 7.0));
        assert_eq!(summarise(&[]), None);
    }
}
