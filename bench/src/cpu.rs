//! CPU time, as Linux accounts it: of the processes serving a target, and
//! of the calling thread (for the micro-benchmarks of one post and one
//! frame).
//!
//! Both read `utime + stime` from `/proc` (`proc_pid_stat(5)`), in clock
//! ticks (`getconf CLK_TCK`, 100 on Linux): a resolution of 10 ms, so the
//! measured phases run for seconds.

use std::sync::OnceLock;
use std::time::Duration;

use crate::Result;

/// Ticks per second.
fn ticks_per_sec() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100)
    })
}

/// `utime + stime` of a `stat` file's contents. The command name (field 2)
/// may hold spaces, so fields are counted after its closing parenthesis.
fn parse_stat(stat: &str) -> Option<Duration> {
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of the file are 12 and 13 after the name and state.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_secs_f64(
        (utime + stime) as f64 / ticks_per_sec() as f64,
    ))
}

fn read(path: &str) -> Result<Duration> {
    let stat = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    parse_stat(&stat).ok_or_else(|| format!("{path}: no CPU times in {stat:?}").into())
}

/// The CPU time the processes `pids` have used so far, all threads.
pub fn of_processes(pids: &[u32]) -> Result<Duration> {
    pids.iter()
        .map(|pid| read(&format!("/proc/{pid}/stat")))
        .sum()
}

/// The CPU time the calling thread has used so far.
pub fn of_this_thread() -> Result<Duration> {
    read("/proc/thread-self/stat")
}

/// The CPU time of `pids` over a phase.
pub struct Meter {
    pids: Vec<u32>,
    start: Duration,
}

impl Meter {
    pub fn start(pids: &[u32]) -> Result<Meter> {
        Ok(Meter {
            pids: pids.to_vec(),
            start: of_processes(pids)?,
        })
    }

    pub fn used(&self) -> Result<Duration> {
        Ok(of_processes(&self.pids)?.saturating_sub(self.start))
    }
}

/// Microseconds of `cpu` per one of `count`.
pub fn micros_per(cpu: Duration, count: usize) -> f64 {
    crate::stats::round(cpu.as_secs_f64() * 1e6 / count.max(1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_are_read_after_the_command_name() {
        let ticks = ticks_per_sec() as f64;
        let line = "4242 (chat gateway) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 9 0";
        assert_eq!(
            parse_stat(line),
            Some(Duration::from_secs_f64(300.0 / ticks))
        );
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn this_thread_and_this_process_have_used_some_cpu() {
        let spin = std::time::Instant::now();
        let mut x = 0u64;
        while spin.elapsed() < Duration::from_millis(50) {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        assert!(x > 0);
        assert!(of_this_thread().unwrap() > Duration::ZERO);
        assert!(of_processes(&[std::process::id()]).unwrap() > Duration::ZERO);
    }
}
