//! TF's histogram: the default exponential bucket limits and the `HistogramProto` encoding
//! (`tensorflow/core/lib/histogram/histogram.cc`).

use crate::proto::HistogramProto;

/// TF's default bucket limits: `-DBL_MAX, …, -1e-12, 0, 1e-12, 1.1e-12, …, DBL_MAX`, the
/// positive side `1e-12 · 1.1^k` below `1e20` (1,551 limits in all).
pub fn default_bucket_limits() -> Vec<f64> {
    let mut pos = Vec::new();
    let mut v = 1.0e-12;
    while v < 1.0e20 {
        pos.push(v);
        v *= 1.1;
    }
    pos.push(f64::MAX);
    let mut out: Vec<f64> = pos.iter().rev().map(|x| -x).collect();
    out.push(0.0);
    out.extend(pos);
    out
}

/// Accumulates values into TF's default buckets.
pub(crate) struct Histogram {
    limits: Vec<f64>,
    buckets: Vec<f64>,
    min: f64,
    max: f64,
    num: f64,
    sum: f64,
    sum_squares: f64,
}

impl Histogram {
    pub(crate) fn new() -> Self {
        let limits = default_bucket_limits();
        let buckets = vec![0.0; limits.len()];
        Histogram { limits, buckets, min: f64::MAX, max: -f64::MAX, num: 0.0, sum: 0.0, sum_squares: 0.0 }
    }

    /// Adds one (finite) value: it lands in the first bucket whose limit is greater than it.
    pub(crate) fn add(&mut self, x: f64) {
        let b = self.limits.partition_point(|&l| l <= x).min(self.buckets.len() - 1);
        self.buckets[b] += 1.0;
        self.min = self.min.min(x);
        self.max = self.max.max(x);
        self.num += 1.0;
        self.sum += x;
        self.sum_squares += x * x;
    }

    /// TF's `EncodeToProto(preserve_zero_buckets = false)`: each run of empty buckets is
    /// collapsed into one entry (the run's last limit, count 0).
    pub(crate) fn to_proto(&self) -> HistogramProto {
        let (mut bucket_limit, mut bucket) = (Vec::new(), Vec::new());
        let mut i = 0;
        while i < self.buckets.len() {
            let (mut end, mut count) = (self.limits[i], self.buckets[i]);
            i += 1;
            if count <= 0.0 {
                while i < self.buckets.len() && self.buckets[i] <= 0.0 {
                    end = self.limits[i];
                    count = self.buckets[i];
                    i += 1;
                }
            }
            bucket_limit.push(end);
            bucket.push(count);
        }
        HistogramProto {
            min: self.min,
            max: self.max,
            num: self.num,
            sum: self.sum,
            sum_squares: self.sum_squares,
            bucket_limit,
            bucket,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn limits_match_tf() {
        let l = default_bucket_limits();
        // TF: 774 positive limits below 1e20 plus DBL_MAX, mirrored, plus 0.
        assert_eq!(l.len(), 2 * 775 + 1);
        assert_eq!(l[0], -f64::MAX);
        assert_eq!(l[775], 0.0);
        assert_eq!(l[776], 1e-12);
        assert!((l[777] - 1.1e-12).abs() < 1e-24);
        assert!((l[1549] - 9.920775621859783e19).abs() < 1e6);
        assert_eq!(*l.last().unwrap(), f64::MAX);
        assert!(l.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn buckets_and_stats() {
        let mut h = Histogram::new();
        for x in [0.0, 1.0, 1.0, -2.0] {
            h.add(x);
        }
        let p = h.to_proto();
        assert_eq!((p.min, p.max, p.num, p.sum, p.sum_squares), (-2.0, 1.0, 4.0, 0.0, 6.0));
        assert_eq!(p.bucket.iter().sum::<f64>(), 4.0);
        assert_eq!(p.bucket.len(), p.bucket_limit.len());
        // 0 lands in the bucket [0, 1e-12): its limit is 1e-12.
        let zero = p.bucket_limit.iter().position(|&l| l == 1e-12).unwrap();
        assert_eq!(p.bucket[zero], 1.0);
        // The two 1.0s share a bucket whose limit is the first above 1.
        let one = p.bucket.iter().position(|&c| c == 2.0).unwrap();
        assert!(p.bucket_limit[one] > 1.0 && p.bucket_limit[one - 1] <= 1.0);
        // Empty runs collapse: far fewer entries than limits.
        assert!(p.bucket.len() < 12, "{}", p.bucket.len());
    }
}
