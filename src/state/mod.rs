//! What olympus remembers between runs: today the kill switch and its history; with `heal`,
//! evaluations, actions and cooldowns.
//!
//! Owns: where the state lives (`--state postgres://…`/`OLYMPUS_STATE_URL`, else
//! `--state-dir`, `OLYMPUS_STATE_DIR`, `$XDG_STATE_HOME/olympus`), the [`Store`] trait every
//! backend implements, the SQLite backend ([`sqlite`], one machine) and the PostgreSQL one
//! ([`postgres`], shared by controllers on several machines), each with its versioned
//! schema. Must not: decide what an engaged lock means for a run (the `app`
//! layer does) or print.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub mod postgres;
pub mod sqlite;

pub use postgres::PostgresStore;
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
    #[error("state database {at}: {}", postgres::cause(source))]
    Postgres {
        at: String,
        source: ::postgres::Error,
    },
    #[error("state database {at}: {why}")]
    Tls { at: String, why: String },
    #[error("state database {0}: not connected")]
    Unavailable(String),
    #[error(
        "state database {0}: the connection holding heal's lock was lost, and with it the lock: this controller no longer acts"
    )]
    LostLock(String),
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

/// One evaluation of one heal rule, as recorded: what the source said, what was decided
/// for each host, and the rule's consecutive-evaluation counts after it.
#[derive(Debug, Clone, Default)]
pub struct EvaluationRecord {
    pub at: jiff::Timestamp,
    pub rule: String,
    /// Why the source could not be evaluated, when it could not.
    pub error: Option<String>,
    pub decisions: Vec<DecisionRecord>,
    /// Every host whose condition holds, with how many evaluations in a row it has (hosts
    /// not listed start again from zero).
    pub streaks: BTreeMap<String, Streak>,
    /// The actions decided: recorded `running` in the evaluation's transaction.
    pub claims: Vec<Claim>,
}

/// An action claimed by an evaluation: what will run where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub host: String,
    pub playbook: String,
}

/// What [`Store::record_evaluation`] recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub evaluation: i64,
    /// The claimed actions' ids, in the order of [`EvaluationRecord::claims`].
    pub actions: Vec<i64>,
}

/// A condition holding on a host, evaluation after evaluation: one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Streak {
    /// Evaluations in a row.
    pub count: u32,
    /// When heal acted on this event (it acts at most once per event).
    pub acted_at: Option<jiff::Timestamp>,
}

/// What heal decided for one host in one evaluation.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DecisionRecord {
    /// The inventory host, or the label value that names no inventory host.
    pub host: String,
    pub value: serde_json::Value,
    /// `act`, `waiting`, `cooldown`, `max_hosts`, `rate_limit`, `budget`, `locked`,
    /// `busy`, `unmatched`.
    pub decision: String,
    pub detail: String,
}

/// How an action ended: `running` until it does.
pub const ACTION_OUTCOMES: &[&str] = &[
    "running",
    "ok",
    "failed",
    "unreachable",
    "halted",
    "interrupted",
    "error",
];

/// Which history to show.
#[derive(Debug, Clone, Default)]
pub struct HistoryFilter {
    pub since: Option<jiff::Timestamp>,
    pub rule: Option<String>,
    pub host: Option<String>,
}

/// One line of history.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HistoryEntry {
    pub at: jiff::Timestamp,
    /// `decision`, `action`, `evaluation` (a source that could not be read) or `lock`.
    pub kind: String,
    pub rule: Option<String>,
    pub host: Option<String>,
    /// The decision, the action's outcome, or the lock event.
    pub what: String,
    pub detail: String,
}

/// A controller sharing the state (PostgreSQL), as `heal --status` shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Controller {
    /// `user@host pid N`.
    pub name: String,
    /// What it last said it was: `leader` or `standby`.
    pub role: String,
    /// It holds heal's lock now, as the database sees it.
    pub leading: bool,
    pub seen_secs_ago: f64,
}

/// Held while a `heal` acts; dropped (or the process gone), the next one may.
pub struct HealLock(#[allow(dead_code)] Box<dyn Send>);

impl HealLock {
    pub fn new(guard: impl Send + 'static) -> HealLock {
        HealLock(Box::new(guard))
    }
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

    /// The one heal that may evaluate and act now; `None` while another holds it.
    fn try_heal_lock(&self) -> Result<Option<HealLock>, StateError>;
    /// Actions still `running` (their heal died: the caller holds the heal lock) become
    /// `interrupted`; how many.
    fn interrupt_stale_actions(&self) -> Result<u32, StateError>;
    /// A rule's consecutive-evaluation counts per host.
    fn streaks(&self, rule: &str) -> Result<BTreeMap<String, Streak>, StateError>;
    /// Records an evaluation, its decisions, the rule's new counts and its claimed actions
    /// (as `running`), in one transaction.
    fn record_evaluation(&self, e: &EvaluationRecord) -> Result<Recorded, StateError>;
    /// When the rule last started an action on the host.
    fn last_action(&self, rule: &str, host: &str) -> Result<Option<jiff::Timestamp>, StateError>;
    /// Actions started since `t`, all rules.
    fn actions_since(&self, t: jiff::Timestamp) -> Result<u32, StateError>;
    /// Failed actions (`failed`, `unreachable`, `error`) since the kill switch was last
    /// released (since the beginning when it never was).
    fn failed_actions_since_release(&self) -> Result<u32, StateError>;
    /// Records how an action ended (one of [`ACTION_OUTCOMES`]).
    fn finish_action(&self, id: i64, outcome: &str, detail: &str) -> Result<(), StateError>;
    /// What happened, oldest first.
    fn history(&self, filter: &HistoryFilter) -> Result<Vec<HistoryEntry>, StateError>;

    /// Controllers on several machines share it, and one leads (holds heal's lock) while
    /// the others stand by.
    fn shared(&self) -> bool {
        false
    }
    /// This process holds heal's lock and can still reach the store.
    fn holds_heal_lock(&self) -> bool {
        false
    }
    /// How long a leader cut off from the store may keep heal's lock before it is let go.
    fn set_lease(&self, _lease: Duration) {}
    /// Names this process's connection, so others see who leads.
    fn name_connection(&self, _name: &str) {}
    /// Records that controller `name` is alive as `role`.
    fn heartbeat(&self, _name: &str, _role: &str) -> Result<(), StateError> {
        Ok(())
    }
    /// The controllers seen lately, the leader marked.
    fn controllers(&self) -> Result<Vec<Controller>, StateError> {
        Ok(Vec::new())
    }
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
