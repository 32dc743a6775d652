//! The state in PostgreSQL (`--state postgres://…`, `OLYMPUS_STATE_URL`): one database
//! shared by every olympus pointed at it, on any machine — the kill switch, heal's lock,
//! evaluations, cooldowns, budgets and history in one place.
//!
//! Owns: the schema in PostgreSQL (its own schema `olympus`, so a shared database's other
//! tables are never touched) and its migrations (a version row; a database from a newer
//! olympus is refused, never altered), reconnecting after the server went away, heal's
//! lock as a session advisory lock on the store's one connection (released by the server
//! when that connection ends, however it ends: the holder died, or the network cut it off
//! for longer than the lease), and the controllers' heartbeats for `heal --status`.
//!
//! The fence: while heal's lock is held, every read and write goes over the connection that
//! holds it, and a lost connection is never replaced until the lock is let go. So a
//! controller cut off from the database can record nothing, and no other controller can
//! take the lock before the server has dropped the old connection — at most one acts.
//! Must not: know what a lock means.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use postgres::{Client, NoTls};
use rustls::pki_types::{CertificateDer, pem::PemObject};

use super::{
    Controller, Engaged, EvaluationRecord, HealLock, HistoryEntry, HistoryFilter, Lock, Recorded,
    StateError, Store, Streak,
};

/// Each entry brings the schema from its index to the next version (the same tables as
/// the SQLite store's, in PostgreSQL's types).
const MIGRATIONS: &[&str] = &[
    // 0 → 1: the kill switch (one row at most) and its history.
    "CREATE TABLE kill_switch (
         id INTEGER PRIMARY KEY CHECK (id = 1),
         engaged_by TEXT NOT NULL,
         engaged_at BIGINT NOT NULL,
         reason TEXT NOT NULL
     );
     CREATE TABLE lock_events (
         id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
         at BIGINT NOT NULL,
         by TEXT NOT NULL,
         event TEXT NOT NULL CHECK (event IN ('engaged', 'released', 'overridden')),
         detail TEXT NOT NULL
     );",
    // 1 → 2: heal's evaluations, decisions, consecutive counts and actions.
    "CREATE TABLE evaluations (
         id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
         at BIGINT NOT NULL,
         rule TEXT NOT NULL,
         error TEXT
     );
     CREATE INDEX evaluations_at ON evaluations (at);
     CREATE TABLE decisions (
         evaluation BIGINT NOT NULL REFERENCES evaluations (id),
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
         acted_at BIGINT,
         PRIMARY KEY (rule, host)
     );
     CREATE TABLE actions (
         id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
         evaluation BIGINT NOT NULL REFERENCES evaluations (id),
         rule TEXT NOT NULL,
         host TEXT NOT NULL,
         playbook TEXT NOT NULL,
         started_at BIGINT NOT NULL,
         finished_at BIGINT,
         outcome TEXT NOT NULL CHECK (outcome IN
             ('running', 'ok', 'failed', 'unreachable', 'halted', 'interrupted', 'error')),
         detail TEXT NOT NULL DEFAULT ''
     );
     CREATE INDEX actions_rule_host ON actions (rule, host, started_at);
     CREATE INDEX actions_started ON actions (started_at);",
    // 2 → 3: controllers sharing the database say they are alive (`heal --status`).
    "CREATE TABLE controllers (
         name TEXT PRIMARY KEY,
         role TEXT NOT NULL,
         seen_at TIMESTAMPTZ NOT NULL,
         lease_ms BIGINT NOT NULL
     );",
    // 3 → 4: a release remembers the last action started before it (as in SQLite's 2 → 3).
    "ALTER TABLE lock_events ADD COLUMN actions_before BIGINT;",
];

/// The schema version this olympus writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Advisory lock keys (one namespace per database): migrations, and heal's lock.
const MIGRATE_KEY: i64 = 0x6f6c_796d_7075_7301; // "olympus" + 1
const HEAL_KEY: i64 = 0x6f6c_796d_7075_7302;

/// How long to wait for the server: connecting, and any one statement.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const STATEMENT_TIMEOUT_MS: u32 = 30_000;

/// How long a controller cut off from the database may go on holding heal's lock, unless
/// `heal --lease` says otherwise.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(15);

pub struct PostgresStore {
    /// The URL without its password, for people.
    shown: String,
    config: postgres::Config,
    /// TLS, verifying the server's certificate; `None`: plain text.
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
    conn: Arc<Mutex<Conn>>,
    lease: Mutex<Duration>,
}

struct Conn {
    /// `None` after the connection broke: the next call connects again, unless `holding`.
    client: Option<Client>,
    /// Heal's lock is held on `client`.
    holding: bool,
}

/// Heal's lock, held on the store's connection; let go when dropped.
struct HeldOn(Arc<Mutex<Conn>>);

impl Drop for HeldOn {
    fn drop(&mut self) {
        let mut conn = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = conn.client.as_mut().filter(|c| !c.is_closed()) {
            let _ = c.execute("SELECT pg_advisory_unlock($1)", &[&HEAL_KEY]);
        }
        conn.holding = false;
    }
}

/// The server-side settings that make it drop a connection it cannot reach within
/// `lease`, so a cut-off holder's lock is let go (keepalives on a silent link, the user
/// timeout on unacknowledged data).
fn lease_settings(lease: Duration) -> String {
    let secs = lease.as_secs().max(3);
    format!(
        "SET tcp_keepalives_idle = {}; SET tcp_keepalives_interval = {}; \
         SET tcp_keepalives_count = 3; SET tcp_user_timeout = {}",
        (secs / 3).max(1),
        (secs / 6).max(1),
        secs * 1000 * 2 / 3
    )
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://` or `postgresql://`, or libpq's
    /// `key=value` form) and brings the `olympus` schema there to the current version.
    pub fn open(url: &str) -> Result<PostgresStore, StateError> {
        let shown = redact(url);
        let (url, tls) = tls_of(url).map_err(|why| StateError::Tls {
            at: shown.clone(),
            why,
        })?;
        let mut config: postgres::Config = url.parse().map_err(|e| StateError::Postgres {
            at: shown.clone(),
            source: e,
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        config.keepalives(true);
        if config.get_application_name().is_none() {
            config.application_name(&format!("olympus {}", super::who()));
        }
        let store = PostgresStore {
            shown,
            config,
            tls,
            conn: Arc::new(Mutex::new(Conn {
                client: None,
                holding: false,
            })),
            lease: Mutex::new(DEFAULT_LEASE),
        };
        store.with(migrate)?;
        Ok(store)
    }

    fn lease(&self) -> Duration {
        *self.lease.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn connect(&self) -> Result<Client, postgres::Error> {
        // This side gives up on a silent server within the lease too: keepalives while
        // idle, the user timeout while a query waits for an answer that cannot come.
        let lease = self.lease();
        let secs = lease.as_secs().max(3);
        let mut config = self.config.clone();
        config
            .keepalives_idle(Duration::from_secs((secs / 3).max(1)))
            .keepalives_interval(Duration::from_secs((secs / 6).max(1)))
            .keepalives_retries(3)
            .tcp_user_timeout(Duration::from_millis(secs * 1000 * 2 / 3));
        let mut c = match &self.tls {
            Some(tls) => config.connect(tls.clone())?,
            None => config.connect(NoTls)?,
        };
        // A schema made beforehand by someone allowed to is used as it is (CREATE SCHEMA IF
        // NOT EXISTS would still need the right to create one). Two controllers starting at
        // once may both try to create it: the one that loses finds it made.
        let made = c.batch_execute(
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'olympus') \
             THEN CREATE SCHEMA olympus; END IF; END $$",
        );
        if let Err(e) = made {
            use postgres::error::SqlState;
            let raced = e.code().is_some_and(|c| {
                *c == SqlState::UNIQUE_VIOLATION || *c == SqlState::DUPLICATE_SCHEMA
            });
            if !raced {
                return Err(e);
            }
        }
        c.batch_execute(&format!(
            "SET search_path TO olympus; SET statement_timeout = {STATEMENT_TIMEOUT_MS}; {}",
            lease_settings(lease)
        ))?;
        Ok(c)
    }

    fn fail(&self, source: postgres::Error) -> StateError {
        StateError::Postgres {
            at: self.shown.clone(),
            source,
        }
    }

    /// Runs `f` on the connection, connecting first when there is none — but never while
    /// heal's lock is held: a holder that lost its connection has lost the lock.
    fn with<T>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<T, StateErrorOr>,
    ) -> Result<T, StateError> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        self.with_conn(&mut conn, f)
    }

    fn with_conn<T>(
        &self,
        conn: &mut Conn,
        f: impl FnOnce(&mut Client) -> Result<T, StateErrorOr>,
    ) -> Result<T, StateError> {
        if conn.client.as_ref().is_none_or(Client::is_closed) {
            conn.client = None;
            if conn.holding {
                return Err(StateError::LostLock(self.shown.clone()));
            }
            conn.client = Some(self.connect().map_err(|e| self.fail(e))?);
        }
        let Some(client) = conn.client.as_mut() else {
            return Err(StateError::Unavailable(self.shown.clone()));
        };
        let result = f(client);
        if client.is_closed() {
            // The server went away: connect again next time (unless the lock was held).
            conn.client = None;
        }
        result.map_err(|e| match e {
            StateErrorOr::Db(source) => self.fail(source),
            StateErrorOr::State(s) => s,
        })
    }
}

/// A database error, or one of the store's own.
enum StateErrorOr {
    Db(postgres::Error),
    State(StateError),
}

impl From<postgres::Error> for StateErrorOr {
    fn from(e: postgres::Error) -> Self {
        StateErrorOr::Db(e)
    }
}

/// Whether `url` is one the store can use (its TLS settings and the driver's), before
/// connecting.
pub fn check_url(url: &str) -> Result<(), String> {
    let (url, _) = tls_of(url)?;
    url.parse::<postgres::Config>()
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// The URL the driver reads, and the TLS to use. `sslmode` as libpq has it: `disable`,
/// `allow` and `prefer` (libpq's default) connect in plain text; `require`, `verify-ca` and
/// `verify-full` use TLS and — unlike libpq's `require` — always verify the server's
/// certificate and name: against `sslrootcert=FILE` (PEM) when given, else the Mozilla
/// roots (`sslrootcert=system` says so explicitly).
fn tls_of(url: &str) -> Result<(String, Option<tokio_postgres_rustls::MakeRustlsConnect>), String> {
    let (head, params, sep): (String, Vec<(String, String)>, &str) =
        if let Some((head, query)) = url.split_once('?').filter(|_| url.contains("://")) {
            let params = query
                .split('&')
                .filter(|kv| !kv.is_empty())
                .map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    (k.to_string(), v.to_string())
                })
                .collect();
            (head.to_string(), params, "&")
        } else if url.contains("://") {
            (url.to_string(), Vec::new(), "&")
        } else {
            let params = url
                .split_whitespace()
                .map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    (k.to_string(), v.to_string())
                })
                .collect();
            (String::new(), params, " ")
        };
    let mut tls = false;
    let mut root: Option<String> = None;
    let mut kept = Vec::new();
    for (k, v) in params {
        match k.as_str() {
            "sslmode" => match v.as_str() {
                "disable" | "allow" | "prefer" => {
                    kept.push(("sslmode".to_string(), "disable".to_string()))
                }
                "require" | "verify-ca" | "verify-full" => {
                    tls = true;
                    kept.push(("sslmode".to_string(), "require".to_string()));
                }
                other => {
                    return Err(format!(
                        "sslmode={other}: expected disable, allow, prefer, require, verify-ca or verify-full"
                    ));
                }
            },
            "sslrootcert" => root = Some(v),
            _ => kept.push((k, v)),
        }
    }
    if root.is_some() && !tls {
        return Err(
            "sslrootcert is given but sslmode does not ask for TLS: add sslmode=verify-full".into(),
        );
    }
    let joined: Vec<String> = kept.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let url = match (head.is_empty(), joined.is_empty()) {
        (true, _) => joined.join(sep),
        (false, true) => head,
        (false, false) => format!("{head}?{}", joined.join(sep)),
    };
    if !tls {
        return Ok((url, None));
    }
    let mut roots = rustls::RootCertStore::empty();
    match root.as_deref() {
        None | Some("system") => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("sslrootcert {path}: {e}"))?;
            for cert in certs {
                let cert = cert.map_err(|e| format!("sslrootcert {path}: {e}"))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("sslrootcert {path}: {e}"))?;
            }
            if roots.is_empty() {
                return Err(format!("sslrootcert {path}: no certificate in it"));
            }
        }
    }
    // ring, as for SSH (russh): no cmake or C toolchain beyond gcc. rustls 0.23.48 marks its
    // ring provider deprecated for lacking post-quantum key exchange, which PostgreSQL's TLS
    // does not need of us.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok((
        url,
        Some(tokio_postgres_rustls::MakeRustlsConnect::new(config)),
    ))
}

/// The error and what caused it ("error connecting to server: Connection refused").
pub fn cause(e: &postgres::Error) -> String {
    let mut text = e.to_string();
    let mut next = std::error::Error::source(e);
    while let Some(c) = next {
        let more = c.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        next = c.source();
    }
    text
}

/// `postgres://user:secret@host/db` → `postgres://user@host/db`; the key=value form with
/// its `password=…` dropped.
pub fn redact(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let (auth, tail) = match rest.find(['/', '?']) {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let auth = match auth.rsplit_once('@') {
            Some((user, host)) => {
                let user = user.split(':').next().unwrap_or_default();
                format!("{user}@{host}")
            }
            None => auth.to_string(),
        };
        let tail: String = match tail.split_once('?') {
            Some((path, query)) => {
                let kept: Vec<&str> = query
                    .split('&')
                    .filter(|kv| !kv.to_ascii_lowercase().starts_with("password="))
                    .collect();
                if kept.is_empty() {
                    path.to_string()
                } else {
                    format!("{path}?{}", kept.join("&"))
                }
            }
            None => tail.to_string(),
        };
        return format!("{scheme}://{auth}{tail}");
    }
    url.split_whitespace()
        .filter(|kv| !kv.to_ascii_lowercase().starts_with("password="))
        .collect::<Vec<_>>()
        .join(" ")
}

fn migrate(c: &mut Client) -> Result<(), StateErrorOr> {
    let mut tx = c.transaction()?;
    // One process migrates at a time; the others find the work done.
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATE_KEY])?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")?;
    let found: i64 = tx
        .query_opt("SELECT version FROM schema_version", &[])?
        .map(|r| r.get(0))
        .unwrap_or(0);
    if found > SCHEMA_VERSION {
        return Err(StateErrorOr::State(StateError::NewerSchema {
            path: PathBuf::from("the PostgreSQL schema olympus"),
            found,
            known: SCHEMA_VERSION,
        }));
    }
    for step in MIGRATIONS.iter().skip(usize::try_from(found).unwrap_or(0)) {
        tx.batch_execute(step)?;
    }
    if found < SCHEMA_VERSION {
        tx.execute("DELETE FROM schema_version", &[])?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            &[&SCHEMA_VERSION],
        )?;
    }
    tx.commit()?;
    Ok(())
}

fn now() -> jiff::Timestamp {
    // To the second, as the SQLite store keeps it.
    jiff::Timestamp::from_second(jiff::Timestamp::now().as_second()).unwrap_or_default()
}

fn at(seconds: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_second(seconds).unwrap_or_default()
}

fn count(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn read_lock(c: &mut impl postgres::GenericClient) -> Result<Option<Lock>, postgres::Error> {
    Ok(c.query_opt(
        "SELECT engaged_by, engaged_at, reason FROM kill_switch WHERE id = 1",
        &[],
    )?
    .map(|r| Lock {
        by: r.get(0),
        at: at(r.get(1)),
        reason: r.get(2),
    }))
}

fn log(
    c: &mut impl postgres::GenericClient,
    when: jiff::Timestamp,
    by: &str,
    event: &str,
    detail: &str,
) -> Result<(), postgres::Error> {
    c.execute(
        "INSERT INTO lock_events (at, by, event, detail) VALUES ($1, $2, $3, $4)",
        &[&when.as_second(), &by, &event, &detail],
    )
    .map(|_| ())
}

impl Store for PostgresStore {
    fn location(&self) -> String {
        self.shown.clone()
    }

    fn lock(&self) -> Result<Option<Lock>, StateError> {
        self.with(|c| Ok(read_lock(c)?))
    }

    fn engage(&self, by: &str, reason: &str) -> Result<Engaged, StateError> {
        self.with(|c| {
            let mut tx = c.transaction()?;
            tx.batch_execute("LOCK TABLE kill_switch IN EXCLUSIVE MODE")?;
            if let Some(held) = read_lock(&mut tx)? {
                return Ok(Engaged::Already(held));
            }
            let lock = Lock {
                by: by.to_string(),
                at: now(),
                reason: reason.to_string(),
            };
            tx.execute(
                "INSERT INTO kill_switch (id, engaged_by, engaged_at, reason) VALUES (1, $1, $2, $3)",
                &[&lock.by, &lock.at.as_second(), &lock.reason],
            )?;
            log(&mut tx, lock.at, by, "engaged", reason)?;
            tx.commit()?;
            Ok(Engaged::Now(lock))
        })
    }

    fn release(&self, by: &str) -> Result<Option<Lock>, StateError> {
        self.with(|c| {
            let mut tx = c.transaction()?;
            tx.batch_execute("LOCK TABLE kill_switch IN EXCLUSIVE MODE")?;
            let Some(held) = read_lock(&mut tx)? else {
                return Ok(None);
            };
            tx.execute("DELETE FROM kill_switch WHERE id = 1", &[])?;
            // The last action claimed so far: every action claimed after this commits gets a
            // higher id (an identity column), so it counts as after the release.
            tx.execute(
                "INSERT INTO lock_events (at, by, event, detail, actions_before)
                 VALUES ($1, $2, 'released', $3, (SELECT coalesce(max(id), 0) FROM actions))",
                &[&now().as_second(), &by, &held.describe()],
            )?;
            tx.commit()?;
            Ok(Some(held))
        })
    }

    fn record_override(&self, by: &str, what: &str) -> Result<(), StateError> {
        self.with(|c| Ok(log(c, now(), by, "overridden", what)?))
    }

    fn try_heal_lock(&self) -> Result<Option<HealLock>, StateError> {
        // Held on the store's connection: the server lets it go when that connection ends
        // (the process died, the network broke), and with it the next heal may act.
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        if conn.holding {
            // This process holds it already (a watching leader's pass).
            return Ok(None);
        }
        let got = self.with_conn(&mut conn, |c| {
            Ok(
                c.query_one("SELECT pg_try_advisory_lock($1)", &[&HEAL_KEY])?
                    .get::<_, bool>(0),
            )
        })?;
        if !got {
            return Ok(None);
        }
        conn.holding = true;
        Ok(Some(HealLock::new(HeldOn(self.conn.clone()))))
    }

    fn shared(&self) -> bool {
        true
    }

    fn holds_heal_lock(&self) -> bool {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        conn.holding
            && self
                .with_conn(&mut conn, |c| Ok(c.batch_execute("SELECT 1")?))
                .is_ok()
    }

    fn set_lease(&self, lease: Duration) {
        *self.lease.lock().unwrap_or_else(|p| p.into_inner()) = lease;
        let settings = lease_settings(lease);
        let _ = self.with(|c| Ok(c.batch_execute(&settings)?));
    }

    fn heartbeat(&self, name: &str, role: &str) -> Result<(), StateError> {
        let lease_ms = i64::try_from(self.lease().as_millis()).unwrap_or(i64::MAX);
        self.with(|c| {
            c.execute(
                "INSERT INTO controllers (name, role, seen_at, lease_ms) VALUES ($1, $2, now(), $3)
                 ON CONFLICT (name) DO UPDATE SET role = $2, seen_at = now(), lease_ms = $3",
                &[&name, &role, &lease_ms],
            )?;
            Ok(())
        })
    }

    fn controllers(&self) -> Result<Vec<Controller>, StateError> {
        self.with(|c| {
            // The leader is whoever holds heal's lock now, as the server sees it; the others
            // are those that said they were alive within three of their leases.
            let leader: Option<String> = c
                .query_opt(
                    "SELECT a.application_name FROM pg_locks l
                     JOIN pg_stat_activity a ON a.pid = l.pid
                     WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
                       AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                       AND ((l.classid::bigint << 32) | l.objid::bigint) = $1",
                    &[&HEAL_KEY],
                )?
                .map(|r| r.get(0));
            let mut out = Vec::new();
            for r in c.query(
                "SELECT name, role, extract(epoch FROM now() - seen_at)::float8 FROM controllers
                 WHERE seen_at > now() - make_interval(secs => lease_ms * 3 / 1000.0)
                 ORDER BY name",
                &[],
            )? {
                let name: String = r.get(0);
                let ago: f64 = r.get(2);
                out.push(Controller {
                    leading: leader.as_deref() == Some(format!("olympus {name}").as_str()),
                    name,
                    role: r.get(1),
                    seen_secs_ago: ago,
                });
            }
            if let Some(l) = leader
                && !out.iter().any(|c| c.leading)
            {
                out.push(Controller {
                    name: l.strip_prefix("olympus ").unwrap_or(&l).to_string(),
                    role: "leader".into(),
                    leading: true,
                    seen_secs_ago: 0.0,
                });
            }
            Ok(out)
        })
    }

    fn name_connection(&self, name: &str) {
        let _ = self.with(|c| {
            c.execute(
                "SELECT set_config('application_name', $1, false)",
                &[&format!("olympus {name}")],
            )?;
            Ok(())
        });
    }

    fn interrupt_stale_actions(&self) -> Result<u32, StateError> {
        self.with(|c| {
            let n = c.execute(
                "UPDATE actions SET outcome = 'interrupted', finished_at = $1,
                     detail = 'the heal running it ended before it did'
                 WHERE outcome = 'running'",
                &[&now().as_second()],
            )?;
            Ok(u32::try_from(n).unwrap_or(u32::MAX))
        })
    }

    fn streaks(&self, rule: &str) -> Result<BTreeMap<String, Streak>, StateError> {
        self.with(|c| {
            let rows = c.query(
                "SELECT host, count, acted_at FROM streaks WHERE rule = $1",
                &[&rule],
            )?;
            Ok(rows
                .iter()
                .map(|r| {
                    let n: i32 = r.get(1);
                    let acted: Option<i64> = r.get(2);
                    (
                        r.get(0),
                        Streak {
                            count: u32::try_from(n).unwrap_or(0),
                            acted_at: acted.map(at),
                        },
                    )
                })
                .collect())
        })
    }

    fn record_evaluation(&self, e: &EvaluationRecord) -> Result<Recorded, StateError> {
        self.with(|c| {
            let mut tx = c.transaction()?;
            let id: i64 = tx
                .query_one(
                    "INSERT INTO evaluations (at, rule, error) VALUES ($1, $2, $3) RETURNING id",
                    &[&e.at.as_second(), &e.rule, &e.error],
                )?
                .get(0);
            for d in &e.decisions {
                tx.execute(
                    "INSERT INTO decisions (evaluation, host, value, decision, detail)
                     VALUES ($1, $2, $3, $4, $5)",
                    &[&id, &d.host, &d.value.to_string(), &d.decision, &d.detail],
                )?;
            }
            // A source that could not be read leaves the counts as they were.
            if e.error.is_none() {
                tx.execute("DELETE FROM streaks WHERE rule = $1", &[&e.rule])?;
                for (host, st) in &e.streaks {
                    let n = i32::try_from(st.count).unwrap_or(i32::MAX);
                    tx.execute(
                        "INSERT INTO streaks (rule, host, count, acted_at) VALUES ($1, $2, $3, $4)",
                        &[&e.rule, host, &n, &st.acted_at.map(|t| t.as_second())],
                    )?;
                }
            }
            let mut actions = Vec::new();
            for claim in &e.claims {
                let action: i64 = tx
                    .query_one(
                        "INSERT INTO actions (evaluation, rule, host, playbook, started_at, outcome)
                         VALUES ($1, $2, $3, $4, $5, 'running') RETURNING id",
                        &[&id, &e.rule, &claim.host, &claim.playbook, &now().as_second()],
                    )?
                    .get(0);
                actions.push(action);
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
            let t: Option<i64> = c
                .query_one(
                    "SELECT max(started_at) FROM actions WHERE rule = $1 AND host = $2",
                    &[&rule, &host],
                )?
                .get(0);
            Ok(t.map(at))
        })
    }

    fn actions_since(&self, t: jiff::Timestamp) -> Result<u32, StateError> {
        self.with(|c| {
            let n: i64 = c
                .query_one(
                    "SELECT count(*) FROM actions WHERE started_at >= $1",
                    &[&t.as_second()],
                )?
                .get(0);
            Ok(count(n))
        })
    }

    fn failed_actions_since_release(&self) -> Result<u32, StateError> {
        self.with(|c| {
            let n: i64 = c
                .query_one(
                    "SELECT count(*) FROM actions
                     WHERE outcome IN ('failed', 'unreachable', 'error')
                       AND id > coalesce((SELECT max(w) FROM (SELECT coalesce(l.actions_before,
                                            (SELECT max(a.id) FROM actions a WHERE a.started_at < l.at)) AS w
                                          FROM lock_events l WHERE l.event = 'released') r), 0)",
                    &[],
                )?
                .get(0);
            Ok(count(n))
        })
    }

    fn finish_action(&self, id: i64, outcome: &str, detail: &str) -> Result<(), StateError> {
        self.with(|c| {
            c.execute(
                "UPDATE actions SET outcome = $2, detail = $3, finished_at = $4 WHERE id = $1",
                &[&id, &outcome, &detail, &now().as_second()],
            )?;
            Ok(())
        })
    }

    fn history(&self, f: &HistoryFilter) -> Result<Vec<HistoryEntry>, StateError> {
        let since = f.since.map_or(i64::MIN, |t| t.as_second());
        self.with(|c| {
            let mut out = Vec::new();
            let entry = |when: i64, kind: &str, rule, host, what, detail| HistoryEntry {
                at: at(when),
                kind: kind.to_string(),
                rule,
                host,
                what,
                detail,
            };
            // Decisions other than acting (the action says that), and unreadable sources.
            for r in c.query(
                "SELECT e.at, e.rule, d.host, d.decision, d.detail, d.value
                 FROM decisions d JOIN evaluations e ON e.id = d.evaluation
                 WHERE e.at >= $1 AND d.decision != 'act'
                   AND ($2::text IS NULL OR e.rule = $2) AND ($3::text IS NULL OR d.host = $3)
                 ORDER BY e.id",
                &[&since, &f.rule, &f.host],
            )? {
                let detail: String = r.get(4);
                let value: String = r.get(5);
                out.push(entry(
                    r.get(0),
                    "decision",
                    Some(r.get(1)),
                    Some(r.get(2)),
                    r.get(3),
                    format!("value {value}: {detail}"),
                ));
            }
            if f.host.is_none() {
                for r in c.query(
                    "SELECT at, rule, error FROM evaluations
                     WHERE error IS NOT NULL AND at >= $1 AND ($2::text IS NULL OR rule = $2)
                     ORDER BY id",
                    &[&since, &f.rule],
                )? {
                    out.push(entry(
                        r.get(0),
                        "evaluation",
                        Some(r.get(1)),
                        None,
                        "error".to_string(),
                        r.get(2),
                    ));
                }
            }
            for r in c.query(
                "SELECT started_at, rule, host, outcome, playbook, detail, finished_at FROM actions
                 WHERE started_at >= $1 AND ($2::text IS NULL OR rule = $2)
                   AND ($3::text IS NULL OR host = $3)
                 ORDER BY id",
                &[&since, &f.rule, &f.host],
            )? {
                let playbook: String = r.get(4);
                let detail: String = r.get(5);
                let finished: Option<i64> = r.get(6);
                let started: i64 = r.get(0);
                let took = finished.map_or(String::new(), |t| format!(" in {}s", t - started));
                out.push(entry(
                    started,
                    "action",
                    Some(r.get(1)),
                    Some(r.get(2)),
                    r.get(3),
                    if detail.is_empty() {
                        format!("{playbook}{took}")
                    } else {
                        format!("{playbook}{took}: {detail}")
                    },
                ));
            }
            if f.rule.is_none() && f.host.is_none() {
                for r in c.query(
                    "SELECT at, by, event, detail FROM lock_events WHERE at >= $1 ORDER BY id",
                    &[&since],
                )? {
                    let by: String = r.get(1);
                    let detail: String = r.get(3);
                    out.push(entry(
                        r.get(0),
                        "lock",
                        None,
                        None,
                        r.get(2),
                        format!("by {by}: {detail}"),
                    ));
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

    #[test]
    fn sslmode_and_sslrootcert_are_read_before_the_driver() {
        let plain = |u: &str| tls_of(u).map(|(u, t)| (u, t.is_some()));
        assert_eq!(
            plain("postgres://h/db?sslmode=prefer&application_name=x"),
            Ok((
                "postgres://h/db?sslmode=disable&application_name=x".into(),
                false
            ))
        );
        assert_eq!(
            plain("postgres://h/db"),
            Ok(("postgres://h/db".into(), false))
        );
        assert_eq!(
            plain("host=h sslmode=verify-full dbname=ops"),
            Ok(("host=h sslmode=require dbname=ops".into(), true))
        );
        assert_eq!(
            plain("postgres://h/db?sslmode=require&sslrootcert=system"),
            Ok(("postgres://h/db?sslmode=require".into(), true))
        );
        assert!(plain("postgres://h/db?sslmode=sometimes").is_err());
        assert!(plain("postgres://h/db?sslrootcert=/x.pem").is_err());
        assert!(plain("postgres://h/db?sslmode=verify-ca&sslrootcert=/nonexistent.pem").is_err());
    }

    #[test]
    fn passwords_never_reach_people() {
        assert_eq!(
            redact("postgres://heal:s3cret@db.example:5432/ops?sslmode=disable&password=x"),
            "postgres://heal@db.example:5432/ops?sslmode=disable"
        );
        assert_eq!(
            redact("postgresql://db.example/ops"),
            "postgresql://db.example/ops"
        );
        assert_eq!(
            redact("host=db.example user=heal password=s3cret dbname=ops"),
            "host=db.example user=heal dbname=ops"
        );
    }
}
