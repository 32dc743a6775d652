//! Modules: what a task does, decided on the controller and carried out by shell commands
//! sent over the host's connection (no Python, no agent on hosts).
//!
//! Owns: each module's typed arguments, the one shell script it sends (query and change
//! in one round trip, so check mode and diff come from the same code), and how the script's
//! output becomes a [`ModuleResult`]; one file per module, each listed once in
//! [`registry`]. Modules decided on the controller (`debug`, `set_fact`, `assert`, `fail`,
//! `pause`) return their result directly.
//! Must not: print, open connections, or decide about other hosts; the engine runs the plan.

pub mod args;
pub mod controller_files;
pub mod reference;
pub mod registry;
mod write;

mod apt;
mod assemble;
mod assert;
pub mod async_status;
mod authorized_key;
mod blockinfile;
mod command;
mod copy;
mod cron;
mod debconf;
mod debug;
mod dnf;
mod fail;
mod fetch;
mod file;
mod find;
mod get_url;
mod getent;
mod git;
mod group;
pub mod group_by;
mod haproxy;
mod hostname;
pub mod include_role;
pub mod include_tasks;
pub mod include_vars;
mod known_hosts;
mod lineinfile;
pub mod meta;
mod mount;
mod package;
mod pause;
mod ping;
mod pip;
mod raw;
pub mod reboot;
mod replace;
mod script;
mod service;
mod set_fact;
pub mod setup;
mod shell;
mod slurp;
mod stat;
mod sysctl;
mod systemd;
mod sysvinit;
mod tempfile;
mod template;
mod unarchive;
mod uri;
mod user;
mod wait_for;
pub mod wait_for_connection;

use bytes::Bytes;
use serde_json::Value;

use crate::connection::ExecOutput;
use crate::template::Templar;
use crate::yaml::Vars;
pub use controller_files::{Content, ControllerFiles};

/// The outcome of a module on one host, as Ansible reports it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModuleResult {
    pub changed: bool,
    pub failed: bool,
    pub skipped: bool,
    pub msg: Option<String>,
    /// Module-specific return values (`rc`, `stdout`, `stdout_lines`, `ping`, ...).
    pub data: Vars,
    /// Facts to set on the host (`set_fact`, `setup`).
    pub facts: Vars,
    /// Show the result even without `-v` (Ansible's `_ansible_verbose_always`: `debug`,
    /// `assert` unless `quiet`).
    pub verbose_always: bool,
    /// Censor the result as `no_log` does, whatever the task says (Ansible's
    /// `_ansible_no_log`: `include_vars` of a vaulted file).
    pub no_log: bool,
}

impl ModuleResult {
    pub fn ok() -> Self {
        ModuleResult::default()
    }

    pub fn failed(msg: impl Into<String>) -> Self {
        ModuleResult {
            failed: true,
            msg: Some(msg.into()),
            ..Default::default()
        }
    }

    /// The registered form: data plus `changed`, `failed`, `skipped`, `msg`. Takes the
    /// result (it runs per host per task; its data is moved, not copied).
    pub fn into_register(self) -> Value {
        let mut m = self.data;
        m.insert("changed".into(), Value::Bool(self.changed));
        m.insert("failed".into(), Value::Bool(self.failed));
        if self.skipped {
            m.insert("skipped".into(), Value::Bool(true));
        }
        if let Some(msg) = self.msg {
            m.insert("msg".into(), Value::String(msg));
        }
        Value::Object(m)
    }
}

/// The rest of a module's work once a remote command has answered.
pub type Then = Box<dyn FnOnce(ExecOutput) -> Plan + Send>;

/// What the engine must do to run a module on a host.
pub enum Plan {
    /// Decided; nothing (more) to run.
    Done(ModuleResult),
    /// Wait this long on the controller, then the result is this (`pause`).
    Wait(std::time::Duration, ModuleResult),
    /// Run `script` with `/bin/sh` on the host, then continue with its output. Most modules
    /// need one such step (query and change in one script); a few need a second.
    Remote {
        script: String,
        /// Sent to the script's standard input; a shared buffer, so one file sent to many
        /// hosts is held once.
        stdin: Option<Bytes>,
        then: Then,
    },
}

impl Plan {
    /// This plan, then the plan `f` makes of its result (a module's second step).
    pub fn and_then(self, f: impl FnOnce(ModuleResult) -> Plan + Send + 'static) -> Plan {
        match self {
            Plan::Done(r) => f(r),
            Plan::Wait(d, r) => Plan::Wait(d, r),
            Plan::Remote {
                script,
                stdin,
                then,
            } => Plan::Remote {
                script,
                stdin,
                then: Box::new(move |o| then(o).and_then(f)),
            },
        }
    }

    /// The same plan, with `f` applied to its result once there is one.
    pub fn map(self, f: impl FnOnce(ModuleResult) -> ModuleResult + Send + 'static) -> Plan {
        match self {
            Plan::Done(r) => Plan::Done(f(r)),
            Plan::Wait(d, r) => Plan::Wait(d, f(r)),
            Plan::Remote {
                script,
                stdin,
                then,
            } => Plan::Remote {
                script,
                stdin,
                then: Box::new(move |o| then(o).map(f)),
            },
        }
    }

    /// A one-step remote plan whose output `finish` turns into the result.
    pub fn remote(
        script: String,
        stdin: Option<Bytes>,
        finish: impl FnOnce(ExecOutput) -> ModuleResult + Send + 'static,
    ) -> Plan {
        Plan::Remote {
            script,
            stdin,
            then: Box::new(move |o| Plan::Done(finish(o))),
        }
    }
}

/// Everything a module may look at.
pub struct ModuleCtx<'a> {
    pub check_mode: bool,
    pub diff: bool,
    /// How many `-v` the run was given (`debug`'s `verbosity`).
    pub verbosity: u8,
    pub templar: &'a Templar,
    pub vars: &'a std::sync::Arc<crate::template::TemplateVars>,
    /// Controller files, read once per run.
    pub files: &'a ControllerFiles,
    /// The host the task runs for (its inventory name).
    pub host: &'a str,
    /// What to make of the output of the jobs started with `poll: 0` (`async_status`).
    pub jobs: &'a std::sync::Arc<async_status::AsyncJobs>,
}

#[derive(Debug, thiserror::Error)]
pub enum ModuleError {
    /// The task's arguments do not fit the module (unknown, missing, wrong type, conflicting).
    #[error("module '{module}': {message}")]
    Args {
        module: &'static str,
        message: String,
    },
    /// The engine runs this module itself; it has no plan of its own.
    #[error("module '{0}' is run by the engine, not planned")]
    Engine(&'static str),
}

/// A module: its typed arguments and how it plans a run on one host. What the registry
/// and the docs know of it (name, parameters, kind) is its [`registry::Spec`], in its file.
pub trait Module {
    /// The arguments, deserialized by [`args::parse`]: unknown names refused, aliases and
    /// Ansible's type conversions applied.
    type Args: serde::de::DeserializeOwned;

    /// Checks what can be checked without a host (conflicting arguments, values olympus
    /// does not support); run before the run starts when no argument holds a template.
    fn check(_args: &Self::Args) -> Result<(), String> {
        Ok(())
    }

    /// Plans a run with already-templated arguments; an error is the author's to fix
    /// (conflicting or missing arguments) and names no module (the caller adds it).
    fn plan(args: Self::Args, ctx: &ModuleCtx<'_>) -> Result<Plan, String>;
}

pub use registry::Spec;

/// Plans `spec`'s module with `args` (templated); the one entry point of the engine.
pub fn plan(spec: &'static Spec, args: &Vars, ctx: &ModuleCtx<'_>) -> Result<Plan, ModuleError> {
    match spec.plan {
        Some(plan) => plan(spec, args, ctx),
        None => Err(ModuleError::Engine(spec.name)),
    }
}
