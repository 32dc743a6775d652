//! What the playbook engine tells the outside world while it runs. The engine decides; a
//! [`Reporter`] (terminal lines, JSON, JUnit) only shows.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::playbook::Origin;

/// How a task ended on one host (or one loop item).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    Changed,
    Skipped,
    Failed,
    Unreachable,
}

/// One host's result for a task, as shown and as registered.
#[derive(Debug, Clone)]
pub struct HostOutcome {
    pub host: String,
    pub status: Status,
    /// The failure was ignored (`ignore_errors`).
    pub ignored: bool,
    /// The registered result (`changed`, `failed`, `rc`, `stdout`, `results` for loops...).
    pub result: Value,
    /// For loop items: the item's label.
    pub item: Option<String>,
    /// `no_log`: the result must not be shown.
    pub no_log: bool,
    /// Where the task was delegated to, if elsewhere.
    pub delegated: Option<String>,
    /// Show the result even without `-v` (like Ansible's `_ansible_verbose_always`).
    pub always_show: bool,
    /// Show the result without its bookkeeping (`changed`, `failed`), as for `debug`.
    pub bare: bool,
    /// The task looped: its `results` are the items' (already shown item by item). A
    /// module's own `results` (dnf's) are not.
    pub looped: bool,
    /// When the task started on this host, and how long it took there (all its items,
    /// retries and round trips); `None` for results the engine made without running one.
    pub timing: Option<Timing>,
}

/// When something started, and how long it took.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub start: std::time::SystemTime,
    pub took: std::time::Duration,
}

/// Per-host counters, the same as Ansible's PLAY RECAP.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Counters {
    pub ok: u32,
    pub changed: u32,
    pub unreachable: u32,
    pub failed: u32,
    pub skipped: u32,
    pub rescued: u32,
    pub ignored: u32,
}

impl Counters {
    /// Adds `other`'s counts (a host's recap over several playbooks).
    pub fn add(&mut self, other: &Counters) {
        self.ok = self.ok.saturating_add(other.ok);
        self.changed = self.changed.saturating_add(other.changed);
        self.unreachable = self.unreachable.saturating_add(other.unreachable);
        self.failed = self.failed.saturating_add(other.failed);
        self.skipped = self.skipped.saturating_add(other.skipped);
        self.rescued = self.rescued.saturating_add(other.rescued);
        self.ignored = self.ignored.saturating_add(other.ignored);
    }
}

/// Events, in the order they happen.
#[derive(Debug)]
pub enum Event<'a> {
    PlayStart {
        name: &'a str,
        hosts: &'a [String],
    },
    NoHostsMatched {
        pattern: &'a str,
    },
    TaskStart {
        name: &'a str,
        origin: &'a Origin,
        handler: bool,
        /// How many hosts will report a result for it.
        hosts: usize,
        /// The hosts it runs on (the first `hosts` of them report).
        names: &'a [String],
    },
    /// `include_tasks` brought in a file for these hosts.
    Included {
        file: &'a str,
        hosts: &'a [String],
        /// The loop item's label, for an include in a loop.
        item: Option<&'a str>,
    },
    /// A loop item's result (shown as it happens, before the task's host result).
    Item(&'a HostOutcome),
    /// The task's result on one host.
    Host(&'a HostOutcome),
    NoMoreHosts,
    /// The play stopped because of `any_errors_fatal` or `max_fail_percentage`.
    PlayAborted {
        reason: &'a str,
    },
    /// The run was stopped (SIGINT/SIGTERM): these hosts' running commands were stopped.
    Interrupted {
        hosts: &'a [String],
    },
    /// The run's halt switch (the kill switch) ended it at a task boundary: no task started
    /// after it, the running ones finished.
    Halted {
        reason: &'a str,
    },
    Recap(&'a BTreeMap<String, Counters>),
}

/// Receives events. Implementations must not block for long: the engine waits for them.
pub trait Reporter: Send + Sync {
    fn event(&self, e: Event<'_>);
}

/// A reporter that shows nothing (tests, `--quiet` JSON runs).
pub struct Silent;

impl Reporter for Silent {
    fn event(&self, _: Event<'_>) {}
}
