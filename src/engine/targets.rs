//! Whether a run has anything to run on, decided before it starts.
//!
//! Owns: refusing a `--limit` that leaves no host of the inventory, and a run where no play
//! matches any host (an Ansible project run without its inventory would otherwise "succeed"
//! doing nothing). A play that matches nothing while others match is left to the run, which
//! reports it as skipped, as ansible-core does.
//! Must not: connect to hosts.

use crate::engine::play::host_pattern;
use crate::inventory::Inventory;
use crate::playbook::Playbook;
use crate::template::Templar;
use crate::yaml::Vars;

/// Why there is nothing to run on.
#[derive(Debug, thiserror::Error)]
pub enum NoTargets {
    #[error(
        "--limit '{limit}' leaves no host to target: it matches none of the inventory's {count} hosts"
    )]
    Limit { limit: String, count: usize },
    #[error(
        "no play matches any host of the inventory ({count} hosts; patterns: {patterns})\n  hint: give the inventory with -i, or set 'inventory' in ansible.cfg"
    )]
    NoPlayMatches { count: usize, patterns: String },
    #[error("{0}")]
    Pattern(String),
    #[error(
        "host '{host}': ansible_connection '{kind}' is not supported; olympus has ssh and local\n  hint: the host is in play '{play}'; nothing was run"
    )]
    Connection {
        host: String,
        kind: String,
        play: String,
    },
}

/// The connection types olympus has (`smart` and `paramiko` are its SSH, as in Ansible).
const CONNECTIONS: &[&str] = &["ssh", "smart", "paramiko", "paramiko_ssh", "local"];

/// Checks the inventory, `--limit` and every play's host pattern against each other.
pub fn check(
    inv: &Inventory,
    books: &[Playbook],
    extra_vars: &Vars,
    limit: Option<&[String]>,
) -> Result<(), NoTargets> {
    let count = inv.hosts().count();
    if let Some(l) = limit {
        let all = inv
            .select("all", Some(l))
            .map_err(|e| NoTargets::Pattern(e.to_string()))?;
        // The implicit localhost is in no group, not even `all`, yet `--limit localhost`
        // targets it, as in ansible-core.
        let implicit = || {
            inv.select(&l.join(","), None)
                .is_ok_and(|s| s.hosts.iter().any(|h| h.name == "localhost"))
        };
        if all.hosts.is_empty() && !implicit() {
            return Err(NoTargets::Limit {
                limit: l.join(","),
                count,
            });
        }
    }
    let templar = Templar::new();
    let mut patterns = Vec::new();
    let mut matched = false;
    for play in books.iter().flat_map(|b| b.plays.iter()) {
        let pattern = host_pattern(&templar, play, extra_vars)
            .map_err(|e| NoTargets::Pattern(e.to_string()))?;
        let sel = inv
            .select(&pattern, limit)
            .map_err(|e| NoTargets::Pattern(e.to_string()))?;
        // A connection olympus does not have is refused before any host is touched (an
        // `-e ansible_connection=...` overrides the inventory's).
        for h in &sel.hosts {
            let kind = match extra_vars.get("ansible_connection") {
                Some(v) => v.as_str().map(str::to_string),
                None => inv
                    .host_vars(&h.name)
                    .and_then(|v| v.get("ansible_connection").cloned())
                    .and_then(|v| v.as_str().map(str::to_string)),
            };
            if let Some(kind) = kind
                && !kind.contains("{{")
                && !CONNECTIONS.contains(&kind.as_str())
            {
                return Err(NoTargets::Connection {
                    host: h.name.clone(),
                    kind,
                    play: play.name.clone().unwrap_or_else(|| play.hosts.clone()),
                });
            }
        }
        if sel.hosts.is_empty() {
            patterns.push(format!("'{pattern}'"));
        } else {
            matched = true;
        }
    }
    if matched || patterns.is_empty() {
        return Ok(());
    }
    Err(NoTargets::NoPlayMatches {
        count,
        patterns: patterns.join(", "),
    })
}
