//! Latency statistics shared by the simulator and the benchmarks: one quantile rule
//! (nearest rank, rounded) for all of them.

/// The `p`-quantile (0–1) of sorted values, by nearest rank; the default of `T` when
/// there are none.
pub fn quantile<T: Copy + Default>(sorted: &[T], p: f64) -> T {
    if sorted.is_empty() {
        return T::default();
    }
    sorted[((sorted.len() - 1) as f64 * p.clamp(0.0, 1.0)).round() as usize]
}

/// Latencies in ms, in any order, sorted for [`quantile`].
pub fn sorted(ms: &[f64]) -> Vec<f64> {
    let mut v = ms.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_quantile_is_the_nearest_rank() {
        let v = sorted(&[5.0, 1.0, 3.0, 2.0, 4.0]);
        assert_eq!(
            (quantile(&v, 0.0), quantile(&v, 0.5), quantile(&v, 1.0)),
            (1.0, 3.0, 5.0)
        );
        let d: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(quantile(&d, 0.95), Duration::from_millis(95));
        assert_eq!(quantile::<f64>(&[], 0.5), 0.0);
    }
}
