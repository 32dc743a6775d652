//! `olympus lock`, `olympus unlock`, `olympus lock --status`: the kill switch as a library
//! call, answered as text or JSON.
//!
//! Owns: opening the state for a command and the words that report the switch. Must not:
//! decide how a run obeys it ([`super::run::KillSwitch`] does).

use std::path::Path;
use std::sync::Arc;

use crate::exit::Error;
use crate::state::{self, Engaged, PostgresStore, SqliteStore, Store};

/// The state at `url` (`--state`/`OLYMPUS_STATE_URL`: PostgreSQL), else in `dir`
/// (`--state-dir`/`OLYMPUS_STATE_DIR`; `None`: the default place).
pub fn open(url: Option<&str>, dir: Option<&Path>) -> Result<Arc<dyn Store>, Error> {
    if let Some(url) = url {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(Error::BadInput(format!(
                "--state '{}': expected a postgres:// or postgresql:// URL (the SQLite state is chosen with --state-dir)",
                state::postgres::redact(url)
            )));
        }
        if let Err(e) = state::postgres::check_url(url) {
            return Err(Error::BadInput(format!(
                "--state '{}': {e}",
                state::postgres::redact(url)
            )));
        }
        // The database down or refusing is not the user's input: exit 1, and cron says so.
        return PostgresStore::open(url)
            .map(|s| Arc::new(s) as Arc<dyn Store>)
            .map_err(|e| match e {
                state::StateError::NewerSchema { .. } | state::StateError::Tls { .. } => {
                    Error::BadInput(e.to_string())
                }
                e => Error::Internal(format!(
                    "{e}\n  hint: --state or OLYMPUS_STATE_URL names the database (postgres://user@host/db)"
                )),
            });
    }
    let dir = state::dir(dir);
    SqliteStore::open(&dir)
        .map(|s| Arc::new(s) as Arc<dyn Store>)
        .map_err(|e| {
            Error::BadInput(format!(
                "{e}\n  hint: --state-dir or OLYMPUS_STATE_DIR names another state directory"
            ))
        })
}

/// What to do with the switch.
#[derive(Debug, Clone)]
pub enum Action {
    Engage { reason: String },
    Release,
    Status,
}

/// Does `action` on the switch in `store` as `by`; what to print (one JSON object when
/// `json`).
pub fn act(store: &dyn Store, action: &Action, by: &str, json: bool) -> Result<String, Error> {
    let failed = |e: state::StateError| Error::Internal(e.to_string());
    let (engaged, text) = match action {
        Action::Engage { reason } => {
            if reason.trim().is_empty() {
                return Err(Error::BadInput(
                    "the kill switch needs a reason: olympus lock --reason 'why'".into(),
                ));
            }
            match store.engage(by, reason).map_err(failed)? {
                Engaged::Now(l) => {
                    let t = format!("kill switch {}", l.describe());
                    (Some(l), t)
                }
                Engaged::Already(l) => {
                    let t = format!("kill switch already {} (left as it was)", l.describe());
                    (Some(l), t)
                }
            }
        }
        Action::Release => match store.release(by).map_err(failed)? {
            Some(l) => (
                None,
                format!("kill switch released (it was {})", l.describe()),
            ),
            None => (None, "kill switch was not engaged".to_string()),
        },
        Action::Status => match store.lock().map_err(failed)? {
            Some(l) => {
                let t = format!("kill switch {}", l.describe());
                (Some(l), t)
            }
            None => (None, "kill switch not engaged".to_string()),
        },
    };
    if json {
        let doc = serde_json::json!({
            "engaged": engaged.is_some(),
            "lock": engaged,
            "state": store.location(),
        });
        return Ok(format!("{doc}\n"));
    }
    Ok(format!("{text}\nstate: {}\n", store.location()))
}
