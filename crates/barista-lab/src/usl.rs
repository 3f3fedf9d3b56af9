//! The Universal Scalability Law, X(N) = λN / (1 + σ(N−1) + κN(N−1)), fitted by
//! bounded least squares (σ, κ ≥ 0, λ > 0).
//!
//! For fixed σ and κ the best λ has a closed form (the model is linear in λ),
//! so the search is over two bounded parameters only: a log-spaced grid finds
//! the basin, then a shrinking pattern search polishes it. No solver crate.

use serde::Serialize;

/// The least points a fit accepts: three parameters need a margin of data.
pub const MIN_POINTS: usize = 6;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Usl {
    /// Contention: the share of work that serializes.
    pub sigma: f64,
    /// Coherency: the cost of keeping parallel work consistent (crosstalk).
    pub kappa: f64,
    /// Throughput of one client alone (requests/s at N = 1).
    pub lambda: f64,
    /// Concurrency at which throughput peaks (`None` when κ = 0: it never falls).
    pub peak_concurrency: Option<f64>,
    /// Coefficient of determination of the fit.
    pub r_squared: f64,
}

impl Usl {
    pub fn throughput(&self, n: f64) -> f64 {
        model(self.sigma, self.kappa, self.lambda, n)
    }

    /// The highest throughput the model allows.
    pub fn max_throughput(&self) -> Option<f64> {
        self.peak_concurrency.map(|n| self.throughput(n))
    }
}

fn model(sigma: f64, kappa: f64, lambda: f64, n: f64) -> f64 {
    lambda * n / (1.0 + sigma * (n - 1.0) + kappa * n * (n - 1.0))
}

/// The best λ for σ, κ, and the squared error it leaves.
fn best_lambda(points: &[(f64, f64)], sigma: f64, kappa: f64) -> (f64, f64) {
    let shape = |n: f64| model(sigma, kappa, 1.0, n);
    let (num, den) = points.iter().fold((0.0, 0.0), |(a, b), (n, x)| {
        (a + x * shape(*n), b + shape(*n).powi(2))
    });
    let lambda = if den > 0.0 {
        (num / den).max(1e-12)
    } else {
        1e-12
    };
    let sse = points
        .iter()
        .map(|(n, x)| (x - lambda * shape(*n)).powi(2))
        .sum();
    (lambda, sse)
}

/// Fits (N, X) points. Errors name why a fit is refused.
pub fn fit(points: &[(f64, f64)]) -> Result<Usl, String> {
    let distinct = {
        let mut ns: Vec<i64> = points
            .iter()
            .map(|(n, _)| (n * 1000.0).round() as i64)
            .collect();
        ns.sort_unstable();
        ns.dedup();
        ns.len()
    };
    if points.len() < MIN_POINTS || distinct < MIN_POINTS {
        return Err(format!(
            "the scalability fit needs at least {MIN_POINTS} load levels; only {distinct} were measured (give a longer --budget)"
        ));
    }
    if points
        .iter()
        .any(|(n, x)| !(n.is_finite() && x.is_finite()) || *n <= 0.0 || *x < 0.0)
    {
        return Err("the measurements hold a non-finite or negative point".into());
    }
    // σ in [0, 1], κ in [0, 1]: a grid with zero and log-spaced values.
    let axis = |lo: f64, hi: f64, steps: usize| -> Vec<f64> {
        std::iter::once(0.0)
            .chain((0..steps).map(move |i| lo * (hi / lo).powf(i as f64 / (steps - 1) as f64)))
            .collect()
    };
    let mut best = (f64::INFINITY, 0.0, 0.0);
    for &s in &axis(1e-5, 1.0, 50) {
        for &k in &axis(1e-8, 1.0, 60) {
            let (_, sse) = best_lambda(points, s, k);
            if sse < best.0 {
                best = (sse, s, k);
            }
        }
    }
    // Pattern search, in log space for non-zero values, clamped to the bounds.
    let (mut sse, mut s, mut k) = best;
    let mut step: f64 = 0.5;
    while step > 1e-7 {
        let mut improved = false;
        for (ds, dk) in [
            (1.0, 0.0),
            (-1.0, 0.0),
            (0.0, 1.0),
            (0.0, -1.0),
            (1.0, 1.0),
            (-1.0, -1.0),
            (1.0, -1.0),
            (-1.0, 1.0),
        ] {
            let move_to = |v: f64, d: f64, floor: f64| -> f64 {
                if d == 0.0 {
                    v
                } else if v == 0.0 {
                    if d > 0.0 { floor } else { 0.0 }
                } else {
                    let next = v * (1.0 + step).powf(d);
                    if next < floor { 0.0 } else { next }
                }
            };
            let (ns, nk) = (
                move_to(s, ds, 1e-7).min(1.0),
                move_to(k, dk, 1e-10).min(1.0),
            );
            let (_, e) = best_lambda(points, ns, nk);
            if e < sse {
                (sse, s, k, improved) = (e, ns, nk, true);
            }
        }
        if !improved {
            step /= 2.0;
        }
    }
    let (lambda, sse) = best_lambda(points, s, k);
    let mean = points.iter().map(|p| p.1).sum::<f64>() / points.len() as f64;
    let sst: f64 = points.iter().map(|(_, x)| (x - mean).powi(2)).sum();
    let r_squared = if sst > 0.0 { 1.0 - sse / sst } else { 1.0 };
    let peak_concurrency = (k > 0.0).then(|| ((1.0 - s).max(0.0) / k).sqrt());
    Ok(Usl {
        sigma: s,
        kappa: k,
        lambda,
        peak_concurrency,
        r_squared,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synthetic(
        sigma: f64,
        kappa: f64,
        lambda: f64,
        ns: &[f64],
        noise: impl Fn(usize) -> f64,
    ) -> Vec<(f64, f64)> {
        ns.iter()
            .enumerate()
            .map(|(i, n)| (*n, model(sigma, kappa, lambda, *n) * (1.0 + noise(i))))
            .collect()
    }

    const NS: [f64; 10] = [1.0, 2.0, 4.0, 8.0, 12.0, 16.0, 24.0, 32.0, 48.0, 64.0];

    #[test]
    fn exact_data_gives_back_sigma_and_kappa_within_ten_percent() {
        for (sigma, kappa, lambda) in [
            (0.05, 0.0005, 1000.0),
            (0.2, 0.002, 150.0),
            (0.02, 0.0001, 5000.0),
        ] {
            let fit = fit(&synthetic(sigma, kappa, lambda, &NS, |_| 0.0)).unwrap();
            assert!(
                (fit.sigma - sigma).abs() <= 0.1 * sigma,
                "sigma {} vs {sigma}",
                fit.sigma
            );
            assert!(
                (fit.kappa - kappa).abs() <= 0.1 * kappa,
                "kappa {} vs {kappa}",
                fit.kappa
            );
            assert!((fit.lambda - lambda).abs() <= 0.01 * lambda);
            assert!(fit.r_squared > 0.999);
        }
    }

    #[test]
    fn linear_scaling_fits_with_zero_coefficients() {
        let fit = fit(&synthetic(0.0, 0.0, 100.0, &NS, |_| 0.0)).unwrap();
        assert!(fit.sigma < 1e-4 && fit.kappa < 1e-6, "{fit:?}");
        assert_eq!(fit.peak_concurrency, None);
    }

    #[test]
    fn five_percent_noise_keeps_the_fit_sensible() {
        // Deterministic "noise" of up to ±5%.
        let noise = |i: usize| {
            [
                0.05, -0.04, 0.03, -0.05, 0.02, 0.04, -0.03, 0.01, -0.02, 0.05,
            ][i]
        };
        let (sigma, kappa, lambda) = (0.1, 0.001, 800.0);
        let fit = fit(&synthetic(sigma, kappa, lambda, &NS, noise)).unwrap();
        let truth = Usl {
            sigma,
            kappa,
            lambda,
            peak_concurrency: Some(((1.0 - sigma) / kappa).sqrt()),
            r_squared: 1.0,
        };
        let (peak, true_peak) = (
            fit.peak_concurrency.unwrap(),
            truth.peak_concurrency.unwrap(),
        );
        assert!(
            (peak - true_peak).abs() < 0.25 * true_peak,
            "peak {peak} vs {true_peak}"
        );
        let (max, true_max) = (
            fit.max_throughput().unwrap(),
            truth.max_throughput().unwrap(),
        );
        assert!(
            (max - true_max).abs() < 0.1 * true_max,
            "max {max} vs {true_max}"
        );
        assert!(fit.sigma < 0.3 && fit.kappa < 0.01, "{fit:?}");
        assert!(fit.r_squared > 0.9);
    }

    #[test]
    fn too_few_points_are_refused_clearly() {
        let err = fit(&synthetic(0.1, 0.001, 100.0, &NS[..5], |_| 0.0)).unwrap_err();
        assert!(err.contains("at least 6"), "{err}");
        let repeated: Vec<(f64, f64)> = (0..8).map(|_| (4.0, 100.0)).collect();
        assert!(
            fit(&repeated).is_err(),
            "six points at one load level are one level"
        );
    }
}
