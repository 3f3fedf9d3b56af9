//! What Barista's test suites share about the services they need.
//!
//! A test that needs PostgreSQL (or another external service) never passes
//! without it: it fails, saying how to provide it, unless the run names the
//! service in `BARISTA_TEST_SKIP` (`scripts/test --skip postgres` sets it).
//! A skip is printed, and written to `BARISTA_TEST_SKIP_LOG` when that is set,
//! so the test command's summary can list every test that did not run.
#![forbid(unsafe_code)]

use std::io::Write;

/// Whether the run asked to skip `service` (`BARISTA_TEST_SKIP=postgres,nginx`).
pub fn skipping(service: &str) -> bool {
    names(
        &std::env::var("BARISTA_TEST_SKIP").unwrap_or_default(),
        service,
    )
}

/// Whether a comma-separated `list` names `service`.
fn names(list: &str, service: &str) -> bool {
    list.split(',').any(|s| s.trim() == service)
}

/// Records that `test` did not run for want of `service`.
fn record_skip(test: &str, service: &str) {
    eprintln!("SKIPPED {test}: BARISTA_TEST_SKIP names {service}");
    if let Ok(path) = std::env::var("BARISTA_TEST_SKIP_LOG")
        && let Ok(mut log) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
    {
        let _ = writeln!(log, "{service}\t{test}");
    }
}

/// Whether `test` is to be skipped for want of `service` (the run names it
/// in `BARISTA_TEST_SKIP`); a skip is printed and logged. For tests that
/// start the service themselves.
pub fn skipped(test: &str, service: &str) -> bool {
    let skip = skipping(service);
    if skip {
        record_skip(test, service);
    }
    skip
}

/// `Some(value)` of the environment variable `var` that provides `service`;
/// `None` (printed and logged) when it is unset and the run skips `service`;
/// otherwise the test fails, saying how to provide it.
pub fn require(test: &str, service: &str, var: &str, how: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(value) if !value.is_empty() => Some(value),
        _ if skipping(service) => {
            record_skip(test, service);
            None
        }
        _ => panic!(
            "{test} needs {service}: {var} is unset ({how}); \
             to skip it knowingly, set BARISTA_TEST_SKIP={service}"
        ),
    }
}

/// The private PostgreSQL of `scripts/with-postgres`, for `test`.
pub fn postgres_url(test: &str) -> Option<String> {
    require(
        test,
        "postgres",
        "BARISTA_TEST_POSTGRES_URL",
        "run under scripts/with-postgres, as scripts/test does",
    )
}

/// A process held to a share of a core by a cgroup of its own (v1's `cpu`
/// controller or v2's `cpu.max`), for tests whose verdict must not depend on
/// how busy the machine is: a capped process gets its quota even when a build
/// runs beside it. Needs root; without it the test fails unless the run skips
/// `cgroup`. The process goes back to the root group when this is dropped.
pub struct CpuCap {
    dir: std::path::PathBuf,
}

impl CpuCap {
    /// Holds `pid` (all its threads) to `cores` of CPU in windows of
    /// `period` (lengthened so the quota in it is at least 1 ms, the kernel's
    /// floor; a shorter window adds less latency, as a throttled process waits
    /// up to the rest of one).
    pub fn new(test: &str, pid: u32, cores: f64, period: std::time::Duration) -> Option<CpuCap> {
        let v1 = std::path::Path::new("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").exists();
        let root = if v1 {
            "/sys/fs/cgroup/cpu"
        } else {
            "/sys/fs/cgroup"
        };
        let dir =
            std::path::Path::new(root).join(format!("barista-test-{}-{pid}", std::process::id()));
        if let Err(e) = std::fs::create_dir_all(&dir) {
            if skipping("cgroup") {
                record_skip(test, "cgroup");
                return None;
            }
            panic!(
                "{test} holds a process to {cores} core with a cgroup and cannot ({e}): \
                 run as root, or set BARISTA_TEST_SKIP=cgroup to skip it knowingly"
            );
        }
        // The kernel's floors: a window of 1 ms, and a quota of 1 ms in it.
        let period = (period.as_micros() as f64)
            .max(1_000.0)
            .max(1_000.0 / cores) as u64;
        let quota = (cores * period as f64).round() as u64;
        let write = |file: &str, value: String| {
            if let Err(e) = std::fs::write(dir.join(file), value) {
                let _ = std::fs::remove_dir(&dir);
                panic!("{test}: writing {file}: {e}");
            }
        };
        if v1 {
            write("cpu.cfs_period_us", period.to_string());
            write("cpu.cfs_quota_us", quota.to_string());
        } else {
            write("cpu.max", format!("{quota} {period}"));
        }
        write("cgroup.procs", pid.to_string());
        Some(CpuCap { dir })
    }
}

impl Drop for CpuCap {
    fn drop(&mut self) {
        let parent = self.dir.parent().map(|p| p.join("cgroup.procs"));
        if let (Ok(pids), Some(parent)) = (
            std::fs::read_to_string(self.dir.join("cgroup.procs")),
            parent,
        ) {
            for pid in pids.lines() {
                let _ = std::fs::write(&parent, pid);
            }
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::names;

    #[test]
    fn a_skip_is_only_what_the_list_names() {
        assert!(names("postgres, nginx", "nginx"));
        assert!(!names("postgresql", "postgres"));
        assert!(!names("", "postgres"));
    }
}
