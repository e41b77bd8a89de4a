//! What a process holds right now, from `/proc` (Linux): open file descriptors and resident
//! memory. For tests that check that load leaves no residue.

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
