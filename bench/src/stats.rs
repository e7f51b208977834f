//! Order statistics over samples, in milliseconds.

use serde::Serialize;
use std::time::Duration;

/// p50 / p99 / max of a set of samples (nearest-rank percentiles).
#[derive(Debug, Clone, Copy, Serialize, Default)]
pub struct Summary {
    pub n: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Summary {
    pub fn of(samples: &[Duration]) -> Summary {
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        Summary::of_ms(&mut ms)
    }

    pub fn of_ms(ms: &mut [f64]) -> Summary {
        if ms.is_empty() {
            return Summary::default();
        }
        ms.sort_by(f64::total_cmp);
        let rank = |p: f64| {
            let r = (p / 100.0 * ms.len() as f64).ceil() as usize;
            ms[r.clamp(1, ms.len()) - 1]
        };
        Summary {
            n: ms.len(),
            p50_ms: round(rank(50.0)),
            p99_ms: round(rank(99.0)),
            max_ms: round(ms[ms.len() - 1]),
        }
    }
}

/// Two decimals are all a millisecond figure on a shared machine can carry.
pub fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// `a / b`, or 0 when there is no `b`.
pub fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        0.0
    } else {
        round(a / b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut ms: Vec<f64> = (1..=100).map(f64::from).collect();
        let s = Summary::of_ms(&mut ms);
        assert_eq!(
            (s.n, s.p50_ms, s.p99_ms, s.max_ms),
            (100, 50.0, 99.0, 100.0)
        );
        let s = Summary::of_ms(&mut [3.0]);
        assert_eq!((s.p50_ms, s.p99_ms, s.max_ms), (3.0, 3.0, 3.0));
        assert_eq!(Summary::of_ms(&mut []).n, 0);
    }
}
