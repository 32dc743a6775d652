//! Modules: what a task does, decided on the controller and carried out by shell commands
//! sent over the host's connection (no Python, no agent on hosts).
//!
//! Owns: each module's argument checking, the one shell script it sends (query and change
//! in one round trip, so check mode and diff come from the same code), and how the script's
//! output becomes a [`ModuleResult`]. Modules that only compute on the controller (`debug`,
//! `set_fact`, `assert`, `fail`) return their result directly.
//! Must not: print, open connections, or decide about other hosts; the engine runs the plan.

mod command;
pub mod controller_files;
mod files;
mod local;
mod misc;
mod setup;

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
    /// Facts to set on the host (`set_fact`).
    pub facts: Vars,
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

    /// The registered form: data plus `changed`, `failed`, `skipped`, `msg`.
    pub fn to_register(&self) -> Value {
        let mut m = self.data.clone();
        m.insert("changed".into(), Value::Bool(self.changed));
        m.insert("failed".into(), Value::Bool(self.failed));
        if self.skipped {
            m.insert("skipped".into(), Value::Bool(true));
        }
        if let Some(msg) = &self.msg {
            m.insert("msg".into(), Value::String(msg.clone()));
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
    pub templar: &'a Templar,
    pub vars: &'a std::sync::Arc<crate::template::TemplateVars>,
    /// Controller files, read once per run.
    pub files: &'a ControllerFiles,
}

#[derive(Debug, thiserror::Error)]
pub enum ModuleError {
    #[error("module '{module}': {message}")]
    Args { module: String, message: String },
    #[error("module '{0}' is not implemented by olympus yet")]
    NotImplemented(String),
}

/// Modules whose run the engine handles itself (they change what runs, not hosts).
pub const ENGINE_MODULES: [&str; 3] = ["meta", "include_tasks", "include_vars"];

/// True when `plan` can run this module.
pub fn implemented(name: &str) -> bool {
    matches!(
        name,
        "command"
            | "shell"
            | "raw"
            | "debug"
            | "set_fact"
            | "assert"
            | "fail"
            | "ping"
            | "setup"
            | "copy"
            | "template"
            | "file"
            | "stat"
            | "slurp"
            | "lineinfile"
            | "blockinfile"
            | "replace"
            | "pause"
            | "wait_for"
            | "script"
            | "fetch"
    ) || ENGINE_MODULES.contains(&name)
}

/// Plans a module run with already-templated arguments.
pub fn plan(name: &str, args: &Vars, ctx: &ModuleCtx<'_>) -> Result<Plan, ModuleError> {
    match name {
        "command" | "shell" | "raw" => command::plan(name, args, ctx),
        "ping" => Ok(command::ping()),
        "setup" => Ok(setup::plan()),
        "copy" => files::copy(args, ctx),
        "template" => files::template(args, ctx),
        "file" => files::file(args, ctx),
        "stat" => files::stat(args),
        "slurp" => files::slurp(args),
        "lineinfile" => files::lineinfile(args, ctx),
        "blockinfile" => files::blockinfile(args, ctx),
        "replace" => files::replace(args, ctx),
        "pause" => misc::pause(args),
        "wait_for" => misc::wait_for(args),
        "script" => misc::script(args, ctx),
        "fetch" => misc::fetch(args, ctx),
        "debug" => local::debug(args, ctx),
        "set_fact" => local::set_fact(args),
        "assert" => local::assert(args, ctx),
        "fail" => Ok(Plan::Done(local::fail(args))),
        other => Err(ModuleError::NotImplemented(other.to_string())),
    }
}

pub(crate) fn arg_str<'a>(args: &'a Vars, key: &str) -> Option<&'a str> {
    args.get(key).and_then(Value::as_str)
}

pub(crate) fn args_error(module: &str, message: impl Into<String>) -> ModuleError {
    ModuleError::Args {
        module: module.to_string(),
        message: message.into(),
    }
}

/// Keys a module accepts; anything else is refused by name.
pub(crate) fn check_keys(module: &str, args: &Vars, allowed: &[&str]) -> Result<(), ModuleError> {
    for k in args.keys() {
        if !allowed.contains(&k.as_str()) {
            let hint = crate::suggest::did_you_mean(
                k,
                allowed.iter().copied().filter(|a| !a.starts_with('_')),
            );
            return Err(args_error(
                module,
                format!(
                    "unsupported parameter '{k}'{}",
                    if hint.is_empty() {
                        String::new()
                    } else {
                        format!("; {hint}")
                    }
                ),
            ));
        }
    }
    Ok(())
}
