//! Facts about a process, read from `/proc` and its cgroup: CPU time used,
//! resident memory, and its CPU *allowance* (its affinity, capped by its cgroup
//! CPU quota, v1 or v2), which is what saturation must be judged against in a
//! container, not the machine's core count. Shared by the server's metrics and
//! the lab's doctor; the parsers are pure and tested on their own.
#![forbid(unsafe_code)]

use std::path::PathBuf;

/// Clock ticks per second in `/proc/<pid>/stat`: 100 on every Linux platform Barista targets.
const TICKS: f64 = 100.0;

/// `self` or a process id, as `/proc` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Process {
    This,
    Pid(u32),
}

impl Process {
    fn path(self, file: &str) -> PathBuf {
        match self {
            Process::This => PathBuf::from(format!("/proc/self/{file}")),
            Process::Pid(pid) => PathBuf::from(format!("/proc/{pid}/{file}")),
        }
    }

    fn read(self, file: &str) -> Option<String> {
        std::fs::read_to_string(self.path(file)).ok()
    }

    /// Fields of `stat` after the command name; index 0 is the state.
    pub fn stat_fields(self) -> Option<Vec<String>> {
        let stat = self.read("stat")?;
        let (_, rest) = stat.rsplit_once(')')?;
        Some(rest.split_whitespace().map(str::to_owned).collect())
    }

    /// User plus system CPU seconds used so far.
    pub fn cpu_seconds(self) -> Option<f64> {
        let f = self.stat_fields()?;
        let field = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok());
        Some((field(11)? + field(12)?) / TICKS)
    }

    /// Seconds its threads spent runnable but waiting for a CPU (from each
    /// thread's `schedstat`). Used time plus this is the CPU the process wanted:
    /// a server starved by a noisy neighbour waits here; one blocked on a lock
    /// sleeps and does not.
    pub fn run_queue_wait_seconds(self) -> Option<f64> {
        let tasks = std::fs::read_dir(self.path("task")).ok()?;
        let mut nanos = 0.0;
        for task in tasks.flatten() {
            if let Ok(stat) = std::fs::read_to_string(task.path().join("schedstat")) {
                nanos += parse_schedstat_wait(&stat).unwrap_or(0.0);
            }
        }
        Some(nanos / 1e9)
    }

    pub fn threads(self) -> Option<f64> {
        self.stat_fields()?.get(17)?.parse().ok()
    }

    /// Seconds since the Unix epoch when the process started.
    pub fn start_time(self) -> Option<f64> {
        let boot: f64 = std::fs::read_to_string("/proc/stat")
            .ok()?
            .lines()
            .find_map(|l| l.strip_prefix("btime "))?
            .trim()
            .parse()
            .ok()?;
        let started: f64 = self.stat_fields()?.get(19)?.parse().ok()?;
        Some(boot + started / TICKS)
    }

    pub fn resident_bytes(self) -> Option<f64> {
        let pages: f64 = self
            .read("statm")?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()?;
        Some(pages * 4096.0)
    }

    pub fn open_fds(self) -> Option<usize> {
        std::fs::read_dir(self.path("fd")).ok().map(|d| d.count())
    }

    pub fn max_fds(self) -> Option<f64> {
        let limits = self.read("limits")?;
        let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
        line.split_whitespace().nth(3)?.parse().ok()
    }

    pub fn exists(self) -> bool {
        self.path("stat").exists()
    }

    /// CPUs the affinity mask allows (`Cpus_allowed_list` in `status`).
    pub fn affinity_cpus(self) -> Option<usize> {
        let status = self.read("status")?;
        let list = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))?;
        Some(count_cpu_list(list)).filter(|n| *n > 0)
    }

    /// Cores the process's cgroup quota allows, if it has one.
    pub fn cgroup_quota(self) -> Option<f64> {
        let cgroups = self.read("cgroup")?;
        let read = |p: PathBuf| std::fs::read_to_string(p).ok();
        for line in cgroups.lines() {
            let mut parts = line.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            let path = path.trim_start_matches('/');
            if controllers.is_empty() {
                // cgroup v2: walk up from the process's group; the tightest quota wins.
                let mut dir = PathBuf::from("/sys/fs/cgroup").join(path);
                let mut tightest: Option<f64> = None;
                loop {
                    if let Some(q) = read(dir.join("cpu.max"))
                        .and_then(|m| cgroup_quota_cores(Some(&m), None, None))
                    {
                        tightest = Some(tightest.map_or(q, |t: f64| t.min(q)));
                    }
                    if dir == std::path::Path::new("/sys/fs/cgroup") || !dir.pop() {
                        break;
                    }
                }
                if tightest.is_some() {
                    return tightest;
                }
            } else if controllers.split(',').any(|c| c == "cpu") {
                for mount in ["/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"] {
                    let dir = PathBuf::from(mount).join(path);
                    let quota = read(dir.join("cpu.cfs_quota_us"));
                    let period = read(dir.join("cpu.cfs_period_us"));
                    if let Some(q) = cgroup_quota_cores(None, quota.as_deref(), period.as_deref()) {
                        return Some(q);
                    }
                }
            }
        }
        None
    }

    /// The CPU this process may use: its affinity, capped by its cgroup quota.
    pub fn cpu_allowance(self) -> f64 {
        let affinity = self.affinity_cpus().unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        }) as f64;
        self.cgroup_quota().map_or(affinity, |q| q.min(affinity))
    }
}

/// The run-queue wait (nanoseconds) of a `schedstat` line: "run wait slices".
pub fn parse_schedstat_wait(line: &str) -> Option<f64> {
    line.split_whitespace().nth(1)?.parse().ok()
}

/// How many CPUs a CPU list names, e.g. `0-3,6` is 5.
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
/// or v1 `cfs_quota_us` and `cfs_period_us` (a quota of -1 is unlimited).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_affinity_list_counts_ranges_and_single_cpus() {
        assert_eq!(count_cpu_list("0-3,6"), 5);
        assert_eq!(count_cpu_list("0"), 1);
        assert_eq!(count_cpu_list("0-1\n"), 2);
        assert_eq!(count_cpu_list("2,4-5,7"), 4);
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

    #[test]
    fn schedstat_gives_the_run_queue_wait() {
        assert_eq!(parse_schedstat_wait("123456 7890 12\n"), Some(7890.0));
        assert_eq!(parse_schedstat_wait(""), None);
    }

    #[test]
    fn this_process_can_be_read() {
        if Process::This.exists() {
            assert!(Process::This.cpu_seconds().is_some());
            assert!(Process::This.resident_bytes().unwrap() > 0.0);
            let allowance = Process::This.cpu_allowance();
            assert!(allowance > 0.0 && allowance <= 4096.0);
            assert!(Process::Pid(u32::MAX).cpu_seconds().is_none());
        }
    }
}
