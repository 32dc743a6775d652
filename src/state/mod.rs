//! What olympus remembers between runs: today the kill switch and its history; with `heal`,
//! evaluations, actions and cooldowns.
//!
//! Owns: where the state lives (`--state-dir`, `OLYMPUS_STATE_DIR`, `$XDG_STATE_HOME/olympus`),
//! the [`Store`] trait every backend implements, and the SQLite backend with its versioned
//! schema ([`sqlite`]). Must not: decide what an engaged lock means for a run (the `app`
//! layer does) or print.

use std::path::{Path, PathBuf};

pub mod sqlite;

pub use sqlite::SqliteStore;

/// The kill switch, engaged.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Lock {
    /// Who engaged it (`user@host`).
    pub by: String,
    /// When, to the second.
    pub at: jiff::Timestamp,
    /// Why, as given to `olympus lock --reason`.
    pub reason: String,
}

impl Lock {
    /// "engaged by alice@ctl at 2026-12-04T10:00:00Z: replication incident"
    pub fn describe(&self) -> String {
        format!("engaged by {} at {}: {}", self.by, self.at, self.reason)
    }
}

/// What [`Store::engage`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Engaged {
    /// It was free and is now held by this lock.
    Now(Lock),
    /// It was already engaged (by this lock, left as it was).
    Already(Lock),
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state directory {}: {source}", path.display())]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("state database {}: {source}", path.display())]
    Database {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "state database {} has schema version {found}; this olympus knows up to {known} (a newer olympus wrote it)",
        path.display()
    )]
    NewerSchema {
        path: PathBuf,
        found: i64,
        known: i64,
    },
}

/// Where olympus keeps what it remembers. Implementations are safe to share between
/// threads and between processes using the same store.
pub trait Store: Send + Sync {
    /// Where it is, for people (a path or an address).
    fn location(&self) -> String;
    /// The kill switch when engaged.
    fn lock(&self) -> Result<Option<Lock>, StateError>;
    /// Engages the kill switch, unless it already is (then the holder is left as it was).
    fn engage(&self, by: &str, reason: &str) -> Result<Engaged, StateError>;
    /// Releases the kill switch; the lock it released, `None` when it was not engaged.
    fn release(&self, by: &str) -> Result<Option<Lock>, StateError>;
    /// Records that `by` ran `what` past the engaged lock (`--override-lock`).
    fn record_override(&self, by: &str, what: &str) -> Result<(), StateError>;
}

/// The state directory: the one given (`--state-dir`, `OLYMPUS_STATE_DIR`), else
/// `$XDG_STATE_HOME/olympus`, else `~/.local/state/olympus`.
pub fn dir(given: Option<&Path>) -> PathBuf {
    if let Some(d) = given {
        return d.to_path_buf();
    }
    match std::env::var_os("XDG_STATE_HOME").map(PathBuf::from) {
        // The XDG spec: a relative path is invalid and ignored.
        Some(x) if x.is_absolute() => x.join("olympus"),
        _ => crate::connection::ssh_config::home_dir().join(".local/state/olympus"),
    }
}

/// Who this process acts for, as `user@host`: the login name from the environment (`USER`,
/// else `LOGNAME`), else the uid's name in `/etc/passwd`, else the numeric uid.
pub fn who() -> String {
    let uid = rustix::process::getuid().as_raw();
    let user = ["USER", "LOGNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .or_else(|| {
            let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
            passwd_name(&passwd, uid)
        })
        .unwrap_or_else(|| format!("uid {uid}"));
    let uname = rustix::system::uname();
    let host = uname.nodename().to_string_lossy();
    format!("{user}@{host}")
}

/// The name of `uid` in passwd(5) text.
fn passwd_name(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|line| {
        let mut f = line.split(':');
        let name = f.next()?;
        let id = f.nth(1)?;
        (id.parse() == Ok(uid)).then(|| name.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uid_is_named_from_passwd() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/sh\n";
        assert_eq!(passwd_name(passwd, 1000).as_deref(), Some("alice"));
        assert_eq!(passwd_name(passwd, 0).as_deref(), Some("root"));
        assert_eq!(passwd_name(passwd, 7), None);
    }
}
