//! What a process holds right now, from `/proc` (Linux): open file descriptors and resident
//! memory, and the process tree. For tests that check that load leaves no residue and that no
//! child outlives the gateway.

use std::time::{Duration, Instant};

use anyhow::Context;

/// How many file descriptors process `pid` has open (entries of `/proc/PID/fd`).
pub fn open_fds(pid: u32) -> anyhow::Result<usize> {
    let dir = format!("/proc/{pid}/fd");
    Ok(std::fs::read_dir(&dir)
        .with_context(|| format!("listing {dir}"))?
        .count())
}

/// The resident set size of process `pid` in KiB (`VmRSS` of `/proc/PID/status`).
pub fn vm_rss_kib(pid: u32) -> anyhow::Result<u64> {
    let file = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&file).with_context(|| format!("reading {file}"))?;
    status_kib(&status, "VmRSS").with_context(|| format!("no VmRSS line in {file}"))
}

/// The value in kB of a `Name:   1234 kB` line of a `/proc/PID/status` text.
fn status_kib(status: &str, name: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// The parent pid and state letter of `pid`, if it exists.
pub fn stat(pid: u32) -> Option<(u32, char)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid …`: comm may contain spaces or parentheses, so split after the
    // last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((ppid, state))
}

/// Whether `pid` is running (exists and is not a zombie).
pub fn alive(pid: u32) -> bool {
    stat(pid).is_some_and(|(_, state)| state != 'Z')
}

/// The live children of `pid`.
pub fn children(pid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| stat(*p).is_some_and(|(ppid, state)| ppid == pid && state != 'Z'))
        .collect()
}

/// Waits until none of `pids` is alive, at most `limit`; returns those still alive.
pub async fn wait_gone(pids: &[u32], limit: Duration) -> Vec<u32> {
    let deadline = Instant::now() + limit;
    loop {
        let left: Vec<u32> = pids.iter().copied().filter(|p| alive(*p)).collect();
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let me = std::process::id();
        assert!(open_fds(me).expect("fds") >= 3);
        assert!(vm_rss_kib(me).expect("rss") > 0);
        assert_eq!(
            status_kib("VmHWM:\t  10 kB\nVmRSS:\t   2048 kB\n", "VmRSS"),
            Some(2048)
        );
    }
}
