//! Process metrics, read through `barista-sys` from `/proc` and the cgroup:
//! CPU, memory, file descriptors, threads, start time and CPU allowance. On
//! systems without `/proc` they are simply absent.

use barista_sys::Process;
use std::fmt::Write;

pub fn render(out: &mut String) {
    let me = Process::This;
    if !me.exists() {
        return;
    }
    let mut metric = |name: &str, kind: &str, help: &str, value: Option<f64>| {
        if let Some(value) = value {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }
    };
    metric(
        "process_cpu_seconds_total",
        "counter",
        "User and system CPU time spent, in seconds.",
        me.cpu_seconds(),
    );
    metric(
        "barista_cpu_wait_seconds_total",
        "counter",
        "Time the process's threads were runnable but waiting for a CPU (crowded out, or held by a CPU quota); with process_cpu_seconds_total, the CPU it wanted.",
        me.run_queue_wait_seconds(),
    );
    metric(
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory size in bytes.",
        me.resident_bytes(),
    );
    metric(
        "process_open_fds",
        "gauge",
        "Open file descriptors.",
        me.open_fds().map(|n| n as f64),
    );
    metric(
        "process_max_fds",
        "gauge",
        "Most open file descriptors allowed.",
        me.max_fds(),
    );
    metric(
        "process_threads",
        "gauge",
        "OS threads in the process.",
        me.threads(),
    );
    metric(
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since the Unix epoch, in seconds.",
        me.start_time(),
    );
    metric(
        "barista_cpu_allowance_cores",
        "gauge",
        "CPU cores this process may use: its affinity, capped by its cgroup quota.",
        Some(me.cpu_allowance()),
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
