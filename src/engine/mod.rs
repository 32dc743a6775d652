//! Running work on many hosts: concurrency limits (forks), and later strategies, batches
//! (`serial`) and failure policy.
//!
//! Owns: deciding what runs where and when, and collecting results. Must not: print
//! (it reports progress through callbacks) or know how a connection is made.

pub mod adhoc;
pub mod events;
pub mod play;
pub mod preflight;
pub mod targets;

use crate::connection::{ConnectOptions, HostDefaults, Target, TargetError};
use crate::inventory::Inventory;

/// Connection targets for the named hosts, from their merged inventory variables, in order.
pub fn targets<'a>(
    inv: &Inventory,
    hosts: impl IntoIterator<Item = &'a str>,
    defaults: &HostDefaults,
    opts: &ConnectOptions,
) -> Result<Vec<Target>, TargetError> {
    hosts
        .into_iter()
        .map(|name| {
            let vars = inv.host_vars(name).unwrap_or_default();
            Target::resolve_with(name, &vars, defaults, opts)
        })
        .collect()
}
