//! What `run` and `exec` set up alike: the inventory and its `--limit`, how to reach
//! hosts, and the async runtime.
//!
//! Owns: turning sources and settings into ready parts, with errors as [`Error`]s. Must
//! not: prompt (secrets arrive in [`Connection::options`]).

use std::path::Path;

use crate::connection::{ConnectOptions, Escalation, HostDefaults, SshConfig, ssh_config};
use crate::exit::Error;
use crate::inventory::{self, Inventory};

/// Hosts worked on at once when neither -f nor ansible.cfg says.
pub const DEFAULT_FORKS: usize = 50;

/// Where the inventory comes from, and `--limit`.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// Files, directories or comma lists; empty: only the implicit localhost.
    pub inventory: Vec<String>,
    /// `--limit`: a pattern, or `@FILE`.
    pub limit: Option<String>,
}

impl Sources {
    /// The inventory, its warnings logged.
    pub fn load(&self) -> Result<Inventory, Error> {
        let inv = Inventory::load(&self.inventory).map_err(|e| Error::BadInput(e.to_string()))?;
        for w in inv.warnings() {
            tracing::warn!("{w}");
        }
        Ok(inv)
    }

    /// `--limit` as patterns, `@FILE` read.
    pub fn limit(&self) -> Result<Option<Vec<String>>, Error> {
        self.limit
            .as_deref()
            .map(inventory::pattern::parse_limit)
            .transpose()
            .map_err(|e| Error::BadInput(e.to_string()))
    }
}

/// How to reach hosts.
#[derive(Clone)]
pub struct Connection {
    pub options: ConnectOptions,
    pub defaults: HostDefaults,
    pub escalation: Option<Escalation>,
    pub forks: usize,
}

impl Connection {
    /// Settings for a listing that reaches no host (so no password is asked for).
    pub fn for_listing() -> Connection {
        Connection {
            options: ConnectOptions::default(),
            defaults: HostDefaults::default(),
            escalation: None,
            forks: DEFAULT_FORKS,
        }
    }
}

/// An OpenSSH client configuration: the file given, else `~/.ssh/config` (its warnings
/// logged).
pub fn ssh_config_from(path: Option<&Path>) -> Result<SshConfig, Error> {
    let cfg = match path {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| Error::BadInput(format!("{}: {e}", p.display())))?;
            SshConfig::parse(&text, p)
        }
        None => SshConfig::load(&ssh_config::home_dir().join(".ssh/config"))
            .map_err(|e| Error::BadInput(format!("~/.ssh/config: {e}")))?,
    };
    for w in &cfg.warnings {
        tracing::warn!("{w}");
    }
    Ok(cfg)
}

/// The async runtime commands run on.
pub fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Internal(format!("cannot start the async runtime: {e}")))
}
