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

use super::{Engaged, Lock, StateError, Store};

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
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(db)?;
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
            log(&tx, now(), by, "released", &held.describe())?;
            tx.commit()?;
            Ok(Some(held))
        })
    }

    fn record_override(&self, by: &str, what: &str) -> Result<(), StateError> {
        self.with(|c| log(c, now(), by, "overridden", what))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
