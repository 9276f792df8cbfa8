//! Per-kind counts and latency histograms, merged from the workers, and the report.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::{json, Value};

use crate::client::Transport;
use crate::plan::KINDS;

/// The counts of one kind of request.
pub struct KindStats {
    /// Latencies in microseconds (answered requests, any status).
    pub latency: Histogram<u64>,
    /// Answers by status.
    pub statuses: BTreeMap<u16, u64>,
    /// Requests without an answer, by cause.
    pub transport: BTreeMap<&'static str, u64>,
    /// Answers with a 2xx status but an unusable body (a 201 case without an id).
    pub bad_body: u64,
}

impl KindStats {
    fn new() -> KindStats {
        KindStats {
            // 1 µs to 10 min, 3 significant digits
            latency: Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid bounds"),
            statuses: BTreeMap::new(),
            transport: BTreeMap::new(),
            bad_body: 0,
        }
    }

    /// Every request sent.
    pub fn requests(&self) -> u64 {
        self.statuses.values().sum::<u64>() + self.transport.values().sum::<u64>()
    }

    /// Non-2xx answers, transport failures and bad bodies.
    pub fn errors(&self) -> u64 {
        let non_2xx: u64 = self
            .statuses
            .iter()
            .filter(|(s, _)| !(200..300).contains(*s))
            .map(|(_, n)| n)
            .sum();
        non_2xx + self.transport.values().sum::<u64>() + self.bad_body
    }

    fn merge(&mut self, other: &KindStats) {
        let _ = self.latency.add(&other.latency);
        for (s, n) in &other.statuses {
            *self.statuses.entry(*s).or_default() += n;
        }
        for (t, n) in &other.transport {
            *self.transport.entry(t).or_default() += n;
        }
        self.bad_body += other.bad_body;
    }
}

/// One worker's (or everyone's) counts, one entry per kind of [`KINDS`].
pub struct Stats {
    /// Per kind.
    pub kinds: Vec<KindStats>,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            kinds: KINDS.iter().map(|_| KindStats::new()).collect(),
        }
    }
}

impl Stats {
    /// Records an answer.
    pub fn answer(&mut self, kind: usize, status: u16, took: Duration) {
        let k = &mut self.kinds[kind];
        k.latency.saturating_record(took.as_micros().max(1) as u64);
        *k.statuses.entry(status).or_default() += 1;
    }

    /// Records a request without an answer.
    pub fn failure(&mut self, kind: usize, why: Transport) {
        *self.kinds[kind].transport.entry(why.name()).or_default() += 1;
    }

    /// Records an unusable 2xx body.
    pub fn bad_body(&mut self, kind: usize) {
        self.kinds[kind].bad_body += 1;
    }

    /// Adds another worker's counts.
    pub fn merge(&mut self, other: &Stats) {
        for (a, b) in self.kinds.iter_mut().zip(&other.kinds) {
            a.merge(b);
        }
    }

    /// All errors of every kind.
    pub fn errors(&self) -> u64 {
        self.kinds.iter().map(KindStats::errors).sum()
    }

    fn ms(us: u64) -> f64 {
        us as f64 / 1000.0
    }

    /// The report as JSON (`elapsed` is the sending time).
    pub fn to_json(&self, elapsed: Duration) -> Value {
        let secs = elapsed.as_secs_f64().max(1e-9);
        let mut kinds = serde_json::Map::new();
        for (name, k) in KINDS.iter().zip(&self.kinds) {
            let h = &k.latency;
            kinds.insert(
                name.to_string(),
                json!({
                    "requests": k.requests(),
                    "per_second": k.requests() as f64 / secs,
                    "p50_ms": Self::ms(h.value_at_quantile(0.50)),
                    "p90_ms": Self::ms(h.value_at_quantile(0.90)),
                    "p99_ms": Self::ms(h.value_at_quantile(0.99)),
                    "max_ms": Self::ms(h.max()),
                    "errors": k.errors(),
                    "statuses": k.statuses.iter().map(|(s, n)| (s.to_string(), json!(n))).collect::<serde_json::Map<_, _>>(),
                    "transport_errors": k.transport,
                    "bad_bodies": k.bad_body,
                }),
            );
        }
        json!({ "seconds": secs, "kinds": kinds, "errors": self.errors() })
    }

    /// The report as a text table with the error breakdown.
    pub fn table(&self, elapsed: Duration) -> String {
        let secs = elapsed.as_secs_f64().max(1e-9);
        let mut out = format!(
            "{:<8} {:>9} {:>9} {:>8} {:>8} {:>8} {:>9} {:>7}\n",
            "kind", "requests", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors"
        );
        let mut all = KindStats::new();
        for (name, k) in KINDS.iter().zip(&self.kinds) {
            if k.requests() == 0 {
                continue;
            }
            out.push_str(&Self::row(name, k, secs));
            all.merge(k);
        }
        out.push_str(&Self::row("all", &all, secs));
        for (name, k) in KINDS.iter().zip(&self.kinds) {
            let statuses: Vec<String> =
                k.statuses.iter().map(|(s, n)| format!("{s}×{n}")).collect();
            if k.requests() > 0 {
                out.push_str(&format!("  {name}: statuses {}", statuses.join(" ")));
                for (t, n) in &k.transport {
                    out.push_str(&format!(" {t}×{n}"));
                }
                if k.bad_body > 0 {
                    out.push_str(&format!(" bad-body×{}", k.bad_body));
                }
                out.push('\n');
            }
        }
        out
    }

    fn row(name: &str, k: &KindStats, secs: f64) -> String {
        let h = &k.latency;
        format!(
            "{:<8} {:>9} {:>9.1} {:>8.2} {:>8.2} {:>8.2} {:>9.2} {:>7}\n",
            name,
            k.requests(),
            k.requests() as f64 / secs,
            Self::ms(h.value_at_quantile(0.50)),
            Self::ms(h.value_at_quantile(0.90)),
            Self::ms(h.value_at_quantile(0.99)),
            Self::ms(h.max()),
            k.errors()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_non_2xx_and_transport() {
        let mut a = Stats::default();
        a.answer(0, 200, Duration::from_millis(2));
        a.answer(0, 204, Duration::from_millis(3));
        a.answer(0, 429, Duration::from_millis(1));
        let mut b = Stats::default();
        b.failure(0, Transport::Timeout);
        b.answer(5, 201, Duration::from_millis(9));
        b.bad_body(5);
        a.merge(&b);
        assert_eq!(a.kinds[0].requests(), 4);
        assert_eq!(a.kinds[0].errors(), 2);
        assert_eq!(a.kinds[5].errors(), 1);
        assert_eq!(a.errors(), 3);
        let j = a.to_json(Duration::from_secs(1));
        assert_eq!(j["kinds"]["tile"]["statuses"]["429"], 1);
        assert!(a.table(Duration::from_secs(1)).contains("timeout×1"));
    }
}
