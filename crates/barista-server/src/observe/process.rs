//! Process metrics read from `/proc`: CPU, memory, file descriptors, threads,
//! start time. On systems without `/proc` they are simply absent.

use std::fmt::Write;

/// Clock ticks per second for `/proc/<pid>/stat`; 100 on every Linux platform Barista targets.
const TICKS: f64 = 100.0;

fn stat_fields() -> Option<Vec<String>> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

fn boot_time() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

pub fn render(out: &mut String) {
    let Some(f) = stat_fields() else { return };
    // Fields after the command: state is index 0, so utime (14th) is index 11.
    let field = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    let cpu = (field(11) + field(12)) / TICKS;
    let threads = field(17);
    let start = boot_time().unwrap_or(0.0) + field(19) / TICKS;
    let page = 4096.0;
    let rss = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<f64>().ok())
        })
        .unwrap_or(0.0)
        * page;
    let fds = std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0);
    let max_fds = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|l| {
            l.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| {
                    l.split_whitespace()
                        .nth(3)
                        .and_then(|v| v.parse::<f64>().ok())
                })
        });
    let mut metric = |name: &str, kind: &str, help: &str, value: f64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    };
    metric(
        "process_cpu_seconds_total",
        "counter",
        "User and system CPU time spent, in seconds.",
        cpu,
    );
    metric(
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory size in bytes.",
        rss,
    );
    metric(
        "process_open_fds",
        "gauge",
        "Open file descriptors.",
        fds as f64,
    );
    if let Some(max) = max_fds {
        metric(
            "process_max_fds",
            "gauge",
            "Most open file descriptors allowed.",
            max,
        );
    }
    metric(
        "process_threads",
        "gauge",
        "OS threads in the process.",
        threads,
    );
    metric(
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since the Unix epoch, in seconds.",
        start,
    );
    metric(
        "barista_cpu_allowance_cores",
        "gauge",
        "CPU cores this process may use: its affinity, capped by its cgroup quota.",
        cpu_allowance(),
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn process_metrics_are_read_from_proc() {
        let mut out = String::new();
        super::render(&mut out);
        if std::path::Path::new("/proc/self/stat").exists() {
            for name in [
                "process_cpu_seconds_total",
                "process_resident_memory_bytes",
                "process_open_fds",
                "process_threads",
                "process_start_time_seconds",
            ] {
                assert!(
                    out.contains(&format!("\n{name} ")),
                    "{name} missing:\n{out}"
                );
            }
            let rss: f64 = out
                .lines()
                .find_map(|l| l.strip_prefix("process_resident_memory_bytes "))
                .unwrap()
                .parse()
                .unwrap();
            assert!(
                rss > 1e6,
                "a running test has more than a megabyte resident"
            );
        }
    }
}

/// How many CPUs a `Cpus_allowed_list` names, e.g. `0-3,6` is 5.
pub fn count_cpu_list(list: &str) -> usize {
    list.trim()
        .split(',')
        .filter(|part| !part.is_empty())
        .map(|part| match part.split_once('-') {
            Some((a, b)) => match (a.trim().parse::<usize>(), b.trim().parse::<usize>()) {
                (Ok(a), Ok(b)) if b >= a => b - a + 1,
                _ => 0,
            },
            None => usize::from(part.trim().parse::<usize>().is_ok()),
        })
        .sum()
}

/// Cores a cgroup quota allows: v2 `cpu.max` ("max 100000" or "150000 100000"),
/// or v1 `cfs_quota_us` and `cfs_period_us` (quota -1 is unlimited).
pub fn cgroup_quota_cores(
    v2_cpu_max: Option<&str>,
    v1_quota: Option<&str>,
    v1_period: Option<&str>,
) -> Option<f64> {
    if let Some(max) = v2_cpu_max {
        let mut parts = max.split_whitespace();
        let (quota, period) = (parts.next()?, parts.next().unwrap_or("100000"));
        if quota == "max" {
            return None;
        }
        return Some(quota.parse::<f64>().ok()? / period.parse::<f64>().ok()?);
    }
    let quota: f64 = v1_quota?.trim().parse().ok()?;
    let period: f64 = v1_period?.trim().parse().ok()?;
    (quota > 0.0 && period > 0.0).then(|| quota / period)
}

/// The CPU this process may use: its affinity, capped by its cgroup's quota.
pub fn cpu_allowance() -> f64 {
    let affinity = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
                .map(count_cpu_list)
        })
        .filter(|n| *n > 0)
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        }) as f64;
    let read = |p: &str| std::fs::read_to_string(p).ok();
    let quota = cgroup_quota_cores(
        read("/sys/fs/cgroup/cpu.max").as_deref(),
        read("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").as_deref(),
        read("/sys/fs/cgroup/cpu/cpu.cfs_period_us").as_deref(),
    );
    quota.map_or(affinity, |q| q.min(affinity))
}

#[cfg(test)]
mod allowance_tests {
    use super::*;

    #[test]
    fn cpu_lists_count_ranges_and_singles() {
        assert_eq!(count_cpu_list("0-3,6"), 5);
        assert_eq!(count_cpu_list("0"), 1);
        assert_eq!(count_cpu_list("0-1\n"), 2);
        assert_eq!(count_cpu_list(""), 0);
    }

    #[test]
    fn cgroup_quotas_are_read_in_both_versions() {
        assert_eq!(
            cgroup_quota_cores(Some("150000 100000\n"), None, None),
            Some(1.5)
        );
        assert_eq!(cgroup_quota_cores(Some("max 100000"), None, None), None);
        assert_eq!(
            cgroup_quota_cores(None, Some("50000\n"), Some("100000\n")),
            Some(0.5)
        );
        assert_eq!(cgroup_quota_cores(None, Some("-1"), Some("100000")), None);
        assert_eq!(cgroup_quota_cores(None, None, None), None);
    }
}
