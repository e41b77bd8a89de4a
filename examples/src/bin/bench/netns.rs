//! A private network namespace for the run, so that the kernel's TCP counters count only the
//! connections of this process and its children.
//!
//! Linux counts accepted TCP connections per network namespace (`Tcp: PassiveOpens` in
//! `/proc/net/snmp`), not per port or per process, and the machine's own namespace is shared
//! with whatever else runs there (other people's tests open thousands of loopback connections
//! a minute). So the bench re-executes itself under `unshare --net` (the same pid, arguments and
//! terminal; a network namespace with only `lo`, brought up by `ip`), and every process it
//! starts inherits that namespace. Where no namespace can be made (not root and no
//! unprivileged user namespaces, no `unshare` or `ip`) or `--shared-netns` says so, it runs in
//! the current one and the report says the count includes other processes'.

use std::os::unix::process::CommandExt as _;
use std::process::{Command, Stdio};

use anyhow::{Context as _, ensure};

/// Set in the environment of the bench once re-executed inside its namespace.
pub(crate) const INSIDE: &str = "TOOLGATE_BENCH_NETNS";

/// Which network namespace the run is in.
#[derive(Debug)]
pub(crate) enum Namespace {
    /// Its own: only this process and its children make connections there.
    Private,
    /// The one it was started in, and why.
    Shared(String),
}

/// Moves this process into a private network namespace: re-executes it under `unshare`, so
/// it returns only inside the namespace (with `lo` up), or with [`Namespace::Shared`] when
/// none can be made or `stay_shared` asks for none.
pub(crate) fn isolate(stay_shared: bool) -> anyhow::Result<Namespace> {
    if std::env::var_os(INSIDE).is_some() {
        let up = Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .stdin(Stdio::null())
            .status()
            .context("running `ip link set lo up` in the private network namespace")?;
        ensure!(
            up.success(),
            "`ip link set lo up` failed ({up}) in the private network namespace; pass --shared-netns to run without one"
        );
        return Ok(Namespace::Private);
    }
    if stay_shared {
        return Ok(Namespace::Shared("--shared-netns".to_owned()));
    }
    let exe = std::env::current_exe().context("cannot locate the bench executable")?;
    let mut why = String::new();
    // As root a network namespace is enough; otherwise a user namespace that maps this user to
    // root inside it is needed (where unprivileged user namespaces are allowed).
    for flags in [&["--net"][..], &["--map-root-user", "--net"]] {
        // A throw-away namespace first: once `exec` has succeeded, nothing comes back here to
        // say that the namespace could not be made.
        let probe = Command::new("unshare")
            .args(flags)
            .args(["ip", "link", "set", "lo", "up"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .output();
        match probe {
            Ok(o) if o.status.success() => {
                let error = Command::new("unshare")
                    .args(flags)
                    .arg("--")
                    .arg(&exe)
                    .args(std::env::args_os().skip(1))
                    .env(INSIDE, "1")
                    .exec();
                why = format!("re-executing under unshare: {error}");
                break;
            }
            Ok(o) => {
                why = format!(
                    "unshare {}: {}",
                    flags.join(" "),
                    String::from_utf8_lossy(&o.stderr).trim()
                );
            }
            Err(e) => {
                why = format!("unshare: {e}");
                break;
            }
        }
    }
    Ok(Namespace::Shared(why))
}
