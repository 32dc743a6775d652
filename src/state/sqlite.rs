//! The state in one SQLite file (`olympus.db` in the state directory), shared safely by
//! concurrent processes: WAL journal, a busy timeout, and every change in an immediate
//! transaction.
//!
//! Owns: the schema and its migrations (`PRAGMA user_version` is the version; a database
//! from a newer olympus is refused, never altered). Must not: know what a lock means.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use std::collections::BTreeMap;

use super::{
    Engaged, EvaluationRecord, HealLock, HistoryEntry, HistoryFilter, Lock, Recorded, StateError,
    Store, Streak,
};

/// Each entry brings the schema from its index to the next version.
const MIGRATIONS: &[&str] = &[
    // 0 → 1: the kill switch (one row at most) and its history.
    "CREATE TABLE kill_switch (
         id INTEGER PRIMARY KEY CHECK (id = 1),
         engaged_by TEXT NOT NULL,
         engaged_at INTEGER NOT NULL,
         reason TEXT NOT NULL
     );
     CREATE TABLE lock_events (
         id INTEGER PRIMARY KEY AUTOINCREMENT,
         at INTEGER NOT NULL,
         by TEXT NOT NULL,
         event TEXT NOT NULL CHECK (event IN ('engaged', 'released', 'overridden')),
         detail TEXT NOT NULL
     );",
    // 1 → 2: heal's evaluations, decisions, consecutive counts and actions.
    "CREATE TABLE evaluations (
         id INTEGER PRIMARY KEY AUTOINCREMENT,
         at INTEGER NOT NULL,
         rule TEXT NOT NULL,
         error TEXT
     );
     CREATE INDEX evaluations_at ON evaluations (at);
     CREATE TABLE decisions (
         evaluation INTEGER NOT NULL REFERENCES evaluations (id),
         host TEXT NOT NULL,
         value TEXT NOT NULL,
         decision TEXT NOT NULL,
         detail TEXT NOT NULL
     );
     CREATE INDEX decisions_evaluation ON decisions (evaluation);
     CREATE TABLE streaks (
         rule TEXT NOT NULL,
         host TEXT NOT NULL,
         count INTEGER NOT NULL,
         acted_at INTEGER,
         PRIMARY KEY (rule, host)
     );
     CREATE TABLE actions (
         id INTEGER PRIMARY KEY AUTOINCREMENT,
         evaluation INTEGER NOT NULL REFERENCES evaluations (id),
         rule TEXT NOT NULL,
         host TEXT NOT NULL,
         playbook TEXT NOT NULL,
         started_at INTEGER NOT NULL,
         finished_at INTEGER,
         outcome TEXT NOT NULL CHECK (outcome IN
             ('running', 'ok', 'failed', 'unreachable', 'halted', 'interrupted', 'error')),
         detail TEXT NOT NULL DEFAULT ''
     );
     CREATE INDEX actions_rule_host ON actions (rule, host, started_at);
     CREATE INDEX actions_started ON actions (started_at);",
    // 2 → 3: a release remembers the last action started before it, so that failures
    // "since the last release" are told apart by order, not by a timestamp in seconds.
    "ALTER TABLE lock_events ADD COLUMN actions_before INTEGER;",
];

/// How long a process waits for another one's transaction before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

pub struct SqliteStore {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl SqliteStore {
    /// Opens (creating the directory, mode 0700, and the database when missing) the state
    /// in `dir`, brought to the current schema.
    pub fn open(dir: &Path) -> Result<SqliteStore, StateError> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| StateError::Dir {
                path: dir.to_path_buf(),
                source,
            })?;
        let path = dir.join("olympus.db");
        let db = |source| StateError::Database {
            path: path.clone(),
            source,
        };
        let mut conn = Connection::open(&path).map_err(db)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(db)?;
        // Switching a new database to WAL takes an exclusive lock and answers "busy" at once
        // (no busy handler) while another process does the same: try again for a while.
        let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
        loop {
            match conn.pragma_update(None, "journal_mode", "WAL") {
                Ok(()) => break,
                Err(e)
                    if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => return Err(db(e)),
            }
        }
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(db)?;
        migrate(&mut conn, &path)?;
        Ok(SqliteStore {
            path,
            conn: Mutex::new(conn),
        })
    }

    /// `PRAGMA integrity_check` says "ok".
    pub fn integrity_ok(&self) -> Result<bool, StateError> {
        self.with(|c| {
            c.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0))
                .map(|s| s == "ok")
        })
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StateError> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut conn).map_err(|source| StateError::Database {
            path: self.path.clone(),
            source,
        })
    }
}

/// The schema version this olympus writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StateError> {
    let db = |source| StateError::Database {
        path: path.to_path_buf(),
        source,
    };
    // One process migrates at a time; the others find the work done.
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db)?;
    let found: i64 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(db)?;
    if found > SCHEMA_VERSION {
        return Err(StateError::NewerSchema {
            path: path.to_path_buf(),
            found,
            known: SCHEMA_VERSION,
        });
    }
    for step in MIGRATIONS.iter().skip(usize::try_from(found).unwrap_or(0)) {
        tx.execute_batch(step).map_err(db)?;
    }
    if found < SCHEMA_VERSION {
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)
            .map_err(db)?;
    }
    tx.commit().map_err(db)
}

fn now() -> jiff::Timestamp {
    // To the second: what people read and what the database keeps are the same.
    jiff::Timestamp::from_second(jiff::Timestamp::now().as_second()).unwrap_or_default()
}

fn read_lock(c: &Connection) -> rusqlite::Result<Option<Lock>> {
    c.query_row(
        "SELECT engaged_by, engaged_at, reason FROM kill_switch WHERE id = 1",
        [],
        |r| {
            Ok(Lock {
                by: r.get(0)?,
                at: jiff::Timestamp::from_second(r.get(1)?).unwrap_or_default(),
                reason: r.get(2)?,
            })
        },
    )
    .optional()
}

fn log(
    c: &Connection,
    at: jiff::Timestamp,
    by: &str,
    event: &str,
    detail: &str,
) -> rusqlite::Result<()> {
    c.execute(
        "INSERT INTO lock_events (at, by, event, detail) VALUES (?1, ?2, ?3, ?4)",
        params![at.as_second(), by, event, detail],
    )
    .map(|_| ())
}

impl Store for SqliteStore {
    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn lock(&self) -> Result<Option<Lock>, StateError> {
        self.with(|c| read_lock(c))
    }

    fn engage(&self, by: &str, reason: &str) -> Result<Engaged, StateError> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if let Some(held) = read_lock(&tx)? {
                return Ok(Engaged::Already(held));
            }
            let lock = Lock {
                by: by.to_string(),
                at: now(),
                reason: reason.to_string(),
            };
            tx.execute(
                "INSERT INTO kill_switch (id, engaged_by, engaged_at, reason) VALUES (1, ?1, ?2, ?3)",
                params![lock.by, lock.at.as_second(), lock.reason],
            )?;
            log(&tx, lock.at, by, "engaged", reason)?;
            tx.commit()?;
            Ok(Engaged::Now(lock))
        })
    }

    fn release(&self, by: &str) -> Result<Option<Lock>, StateError> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let Some(held) = read_lock(&tx)? else {
                return Ok(None);
            };
            tx.execute("DELETE FROM kill_switch WHERE id = 1", [])?;
            // The last action claimed so far (the transaction holds the database's write
            // lock, so none is claimed meanwhile).
            tx.execute(
                "INSERT INTO lock_events (at, by, event, detail, actions_before)
                 VALUES (?1, ?2, 'released', ?3, (SELECT coalesce(max(id), 0) FROM actions))",
                params![now().as_second(), by, held.describe()],
            )?;
            tx.commit()?;
            Ok(Some(held))
        })
    }

    fn record_override(&self, by: &str, what: &str) -> Result<(), StateError> {
        self.with(|c| log(c, now(), by, "overridden", what))
    }

    fn try_heal_lock(&self) -> Result<Option<HealLock>, StateError> {
        use rustix::fs::{FlockOperation, flock};
        let path = self.path.with_file_name("heal.lock");
        let dir_err = |source| StateError::Dir {
            path: path.clone(),
            source,
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(dir_err)?;
        // flock: released by the kernel when the process ends, however it ends.
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(Some(HealLock::new(file))),
            Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
            Err(e) => Err(dir_err(e.into())),
        }
    }

    fn interrupt_stale_actions(&self) -> Result<u32, StateError> {
        self.with(|c| {
            c.execute(
                "UPDATE actions SET outcome = 'interrupted', finished_at = ?1,
                     detail = 'the heal running it ended before it did'
                 WHERE outcome = 'running'",
                params![now().as_second()],
            )
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
        })
    }

    fn streaks(&self, rule: &str) -> Result<BTreeMap<String, Streak>, StateError> {
        self.with(|c| {
            let mut q = c.prepare("SELECT host, count, acted_at FROM streaks WHERE rule = ?1")?;
            let rows = q.query_map(params![rule], |r| {
                let acted: Option<i64> = r.get(2)?;
                Ok((
                    r.get(0)?,
                    Streak {
                        count: r.get(1)?,
                        acted_at: acted.and_then(|t| jiff::Timestamp::from_second(t).ok()),
                    },
                ))
            })?;
            rows.collect()
        })
    }

    fn record_evaluation(&self, e: &EvaluationRecord) -> Result<Recorded, StateError> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "INSERT INTO evaluations (at, rule, error) VALUES (?1, ?2, ?3)",
                params![e.at.as_second(), e.rule, e.error],
            )?;
            let id = tx.last_insert_rowid();
            for d in &e.decisions {
                tx.execute(
                    "INSERT INTO decisions (evaluation, host, value, decision, detail)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![id, d.host, d.value.to_string(), d.decision, d.detail],
                )?;
            }
            // A source that could not be read leaves the counts as they were.
            if e.error.is_none() {
                tx.execute("DELETE FROM streaks WHERE rule = ?1", params![e.rule])?;
                for (host, st) in &e.streaks {
                    tx.execute(
                        "INSERT INTO streaks (rule, host, count, acted_at) VALUES (?1, ?2, ?3, ?4)",
                        params![e.rule, host, st.count, st.acted_at.map(|t| t.as_second())],
                    )?;
                }
            }
            let mut actions = Vec::new();
            for claim in &e.claims {
                tx.execute(
                    "INSERT INTO actions (evaluation, rule, host, playbook, started_at, outcome)
                     VALUES (?1, ?2, ?3, ?4, ?5, 'running')",
                    params![id, e.rule, claim.host, claim.playbook, now().as_second()],
                )?;
                actions.push(tx.last_insert_rowid());
            }
            tx.commit()?;
            Ok(Recorded {
                evaluation: id,
                actions,
            })
        })
    }

    fn last_action(&self, rule: &str, host: &str) -> Result<Option<jiff::Timestamp>, StateError> {
        self.with(|c| {
            c.query_row(
                "SELECT max(started_at) FROM actions WHERE rule = ?1 AND host = ?2",
                params![rule, host],
                |r| r.get::<_, Option<i64>>(0),
            )
            .map(|t| t.and_then(|s| jiff::Timestamp::from_second(s).ok()))
        })
    }

    fn actions_since(&self, t: jiff::Timestamp) -> Result<u32, StateError> {
        self.with(|c| {
            c.query_row(
                "SELECT count(*) FROM actions WHERE started_at >= ?1",
                params![t.as_second()],
                |r| r.get(0),
            )
        })
    }

    fn failed_actions_since_release(&self) -> Result<u32, StateError> {
        self.with(|c| {
            c.query_row(
                "SELECT count(*) FROM actions
                 WHERE outcome IN ('failed', 'unreachable', 'error')
                   AND id > coalesce((SELECT max(w) FROM (SELECT coalesce(l.actions_before,
                                        (SELECT max(a.id) FROM actions a WHERE a.started_at < l.at)) AS w
                                      FROM lock_events l WHERE l.event = 'released')), 0)",
                [],
                |r| r.get(0),
            )
        })
    }

    fn finish_action(&self, id: i64, outcome: &str, detail: &str) -> Result<(), StateError> {
        self.with(|c| {
            c.execute(
                "UPDATE actions SET outcome = ?2, detail = ?3, finished_at = ?4 WHERE id = ?1",
                params![id, outcome, detail, now().as_second()],
            )
            .map(|_| ())
        })
    }

    fn history(&self, f: &HistoryFilter) -> Result<Vec<HistoryEntry>, StateError> {
        let since = f.since.map_or(i64::MIN, |t| t.as_second());
        self.with(|c| {
            let mut out = Vec::new();
            let entry = |at: i64, kind: &str, rule, host, what, detail| HistoryEntry {
                at: jiff::Timestamp::from_second(at).unwrap_or_default(),
                kind: kind.to_string(),
                rule,
                host,
                what,
                detail,
            };
            // Decisions other than acting (the action says that), and unreadable sources.
            let mut q = c.prepare(
                "SELECT e.at, e.rule, d.host, d.decision, d.detail, d.value
                 FROM decisions d JOIN evaluations e ON e.id = d.evaluation
                 WHERE e.at >= ?1 AND d.decision != 'act'
                   AND (?2 IS NULL OR e.rule = ?2) AND (?3 IS NULL OR d.host = ?3)",
            )?;
            let rows = q.query_map(params![since, f.rule, f.host], |r| {
                let detail: String = r.get(4)?;
                let value: String = r.get(5)?;
                Ok(entry(
                    r.get(0)?,
                    "decision",
                    Some(r.get(1)?),
                    Some(r.get(2)?),
                    r.get(3)?,
                    format!("value {value}: {detail}"),
                ))
            })?;
            for row in rows {
                out.push(row?);
            }
            if f.host.is_none() {
                let mut q = c.prepare(
                    "SELECT at, rule, error FROM evaluations
                     WHERE error IS NOT NULL AND at >= ?1 AND (?2 IS NULL OR rule = ?2)",
                )?;
                let rows = q.query_map(params![since, f.rule], |r| {
                    Ok(entry(
                        r.get(0)?,
                        "evaluation",
                        Some(r.get(1)?),
                        None,
                        "error".to_string(),
                        r.get(2)?,
                    ))
                })?;
                for row in rows {
                    out.push(row?);
                }
            }
            let mut q = c.prepare(
                "SELECT started_at, rule, host, outcome, playbook, detail, finished_at FROM actions
                 WHERE started_at >= ?1 AND (?2 IS NULL OR rule = ?2) AND (?3 IS NULL OR host = ?3)",
            )?;
            let rows = q.query_map(params![since, f.rule, f.host], |r| {
                let playbook: String = r.get(4)?;
                let detail: String = r.get(5)?;
                let finished: Option<i64> = r.get(6)?;
                let started: i64 = r.get(0)?;
                let took = finished.map_or(String::new(), |t| format!(" in {}s", t - started));
                Ok(entry(
                    started,
                    "action",
                    Some(r.get(1)?),
                    Some(r.get(2)?),
                    r.get(3)?,
                    if detail.is_empty() {
                        format!("{playbook}{took}")
                    } else {
                        format!("{playbook}{took}: {detail}")
                    },
                ))
            })?;
            for row in rows {
                out.push(row?);
            }
            if f.rule.is_none() && f.host.is_none() {
                let mut q =
                    c.prepare("SELECT at, by, event, detail FROM lock_events WHERE at >= ?1")?;
                let rows = q.query_map(params![since], |r| {
                    let by: String = r.get(1)?;
                    let detail: String = r.get(3)?;
                    Ok(entry(
                        r.get(0)?,
                        "lock",
                        None,
                        None,
                        r.get(2)?,
                        format!("by {by}: {detail}"),
                    ))
                })?;
                for row in rows {
                    out.push(row?);
                }
            }
            out.sort_by_key(|e| e.at);
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Claim;

    #[test]
    fn engage_release_and_history() {
        let d = tempfile::tempdir().expect("tmp");
        let s = SqliteStore::open(d.path()).expect("open");
        assert_eq!(s.lock().expect("read"), None);
        let Engaged::Now(lock) = s.engage("a@h", "incident 12").expect("engage") else {
            panic!("it was free");
        };
        assert_eq!(s.lock().expect("read"), Some(lock.clone()));
        // A second engage leaves the first holder and reason.
        assert_eq!(
            s.engage("b@h", "other").expect("engage"),
            Engaged::Already(lock.clone())
        );
        // Another process sees it (a second connection to the same file).
        let other = SqliteStore::open(d.path()).expect("open again");
        assert_eq!(other.lock().expect("read"), Some(lock.clone()));
        assert_eq!(other.release("b@h").expect("release"), Some(lock));
        assert_eq!(s.lock().expect("read"), None);
        assert_eq!(s.release("b@h").expect("release"), None);
        s.record_override("c@h", "run site.yml").expect("override");
        let events: Vec<(String, String)> = s
            .with(|c| {
                let mut q = c.prepare("SELECT by, event FROM lock_events ORDER BY id")?;
                let rows = q.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
                rows.collect()
            })
            .expect("events");
        let events: Vec<(&str, &str)> = events.iter().map(|(a, b)| (&**a, &**b)).collect();
        assert_eq!(
            events,
            [
                ("a@h", "engaged"),
                ("b@h", "released"),
                ("c@h", "overridden")
            ]
        );
        assert!(s.integrity_ok().expect("check"));
    }

    /// Failures "since the last release" are told apart by the order actions were claimed
    /// in, not by timestamps in seconds: a failure in the same second as the release, or
    /// recorded by a controller whose clock runs ahead, is not one after it.
    #[test]
    fn failures_before_a_release_never_count_after_it() {
        let d = tempfile::tempdir().expect("tmp");
        let s = SqliteStore::open(d.path()).expect("open");
        let fail_one = |s: &SqliteStore| {
            let rec = s
                .record_evaluation(&EvaluationRecord {
                    at: now(),
                    rule: "r".into(),
                    error: None,
                    decisions: Vec::new(),
                    streaks: Default::default(),
                    claims: vec![Claim {
                        host: "h1".into(),
                        playbook: "fix.yml".into(),
                    }],
                })
                .expect("evaluation");
            s.finish_action(rec.actions[0], "failed", "boom")
                .expect("finish");
        };
        fail_one(&s);
        // Its controller's clock is a minute ahead of the one that releases the switch.
        s.with(|c| c.execute("UPDATE actions SET started_at = started_at + 60", []))
            .expect("skew");
        assert_eq!(s.failed_actions_since_release().expect("count"), 1);
        s.engage("heal@h", "1 failed").expect("engage");
        s.release("operator@h").expect("release");
        assert_eq!(s.failed_actions_since_release().expect("count"), 0);
        fail_one(&s);
        assert_eq!(s.failed_actions_since_release().expect("count"), 1);
    }

    #[test]
    fn a_newer_schema_is_refused_and_left_alone() {
        let d = tempfile::tempdir().expect("tmp");
        drop(SqliteStore::open(d.path()).expect("open"));
        let path = d.path().join("olympus.db");
        let c = Connection::open(&path).expect("raw");
        c.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .expect("bump");
        drop(c);
        let err = SqliteStore::open(d.path()).err().expect("refused");
        assert!(
            err.to_string().contains("a newer olympus wrote it"),
            "{err}"
        );
        let c = Connection::open(&path).expect("raw");
        let v: i64 = c
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .expect("version");
        assert_eq!(v, SCHEMA_VERSION + 1);
    }

    #[test]
    fn the_directory_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().expect("tmp");
        let dir = d.path().join("deep/state");
        SqliteStore::open(&dir).expect("open");
        let mode = std::fs::metadata(&dir).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}
