//! Process limits olympus depends on: open files (one socket per host connection).
//!
//! Owns: raising the soft `RLIMIT_NOFILE` to the hard limit at start-up, and telling how many
//! connections that leaves room for. Must not: decide how many hosts to run; callers compare
//! and refuse with a clear message.

/// File descriptors kept aside for stdio, logs, files and the runtime.
const RESERVED: u64 = 64;

/// Raises the soft open-files limit as far as the hard limit allows (a no-op where it is
/// already there) and returns how many connections may be open at once.
pub fn raise_open_files() -> u64 {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let lim = getrlimit(Resource::Nofile);
    let want = lim.maximum.map(|m| m.min(1 << 20));
    if let Some(w) = want
        && lim.current.is_some_and(|c| c < w)
    {
        let _ = setrlimit(
            Resource::Nofile,
            rustix::process::Rlimit {
                current: Some(w),
                maximum: lim.maximum,
            },
        );
    }
    let now = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
    now.saturating_sub(RESERVED)
}

/// Why a run needs more connections at once than the limit allows, and what else helps.
#[derive(Debug, Clone, Copy)]
pub enum Need {
    /// `exec`: one connection per host being worked on, so fewer forks need fewer.
    Forks,
    /// A play: every host keeps its connection until the run ends, whatever the forks.
    PlayHosts,
}

/// The refusal for a run that needs more connections at once than the limit allows.
pub fn too_many(needed: usize, budget: u64, need: Need) -> String {
    let other = match need {
        Need::Forks => "or lower -f/--forks",
        Need::PlayHosts => {
            "or run the play on fewer hosts at a time (--limit): a play keeps each host's \
             connection open until the run ends, so -f/--forks does not lower this"
        }
    };
    format!(
        "{needed} hosts need {needed} open connections at once, but the open-files limit leaves room for {budget}; \
         raise it (ulimit -n, or LimitNOFILE= for a systemd unit) {other}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raising_leaves_room_for_connections() {
        let budget = raise_open_files();
        assert!(budget > 0);
        assert!(too_many(5000, budget, Need::Forks).contains("ulimit -n"));
        assert!(too_many(5000, budget, Need::Forks).contains("--forks"));
        assert!(too_many(5000, budget, Need::PlayHosts).contains("--limit"));
    }
}
