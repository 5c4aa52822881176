//! Summary statistics over nanosecond durations.

use crate::model::Stats;

/// count/min/median/p95/max (nearest-rank percentiles); `None` for no values.
pub fn summarize(values: &mut [i64]) -> Option<Stats> {
    let count = std::num::NonZeroU64::new(values.len() as u64)?;
    values.sort_unstable();
    let n = values.len();
    let rank = |p: f64| values[((p * n as f64).ceil() as usize).clamp(1, n) - 1];
    Some(Stats {
        count,
        min: values[0],
        median: values[(n - 1) / 2],
        p95: rank(0.95),
        max: values[n - 1],
    })
}

/// The median (nearest rank: the lower middle of an even count), `None` for no values; the one
/// definition [`summarize`], clock estimation and TTLs use.
pub fn median<T: Ord + Copy>(values: &mut [T]) -> Option<T> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    Some(values[(values.len() - 1) / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let mut v: Vec<i64> = (1..=100).rev().collect();
        let s = summarize(&mut v).unwrap();
        assert_eq!(
            (s.count.get(), s.min, s.median, s.p95, s.max),
            (100, 1, 50, 95, 100)
        );
        assert_eq!(summarize(&mut []), None);
        let mut one = [7];
        assert_eq!(summarize(&mut one).unwrap().p95, 7);
    }

    #[test]
    fn ttl_median() {
        assert_eq!(median(&mut [64u8, 63, 64]), Some(64));
        assert_eq!(median::<u8>(&mut []), None);
    }
}
