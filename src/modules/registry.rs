//! The one table of modules: every name the parser, the engine and the docs know.
//!
//! Owns: each implemented module's [`Spec`] (its name, the names routed to it, how a
//! free-form string becomes its arguments, what kind of module it is, its parameters), the
//! lookup of a name as a task writes it (`copy`, `ansible.builtin.copy`,
//! `ansible.legacy.copy`, or a name Ansible routes to another module), and the names of
//! Ansible's builtin modules olympus does not implement, so those are refused by name.
//! Must not: run anything. Adding a module is one file with its `SPEC` and one line in
//! [`MODULES`].

use serde::de::DeserializeOwned;

use super::args::{self, Param};
use super::{ModuleCtx, ModuleError, Plan};
use crate::yaml::Vars;

/// What kind of work a module does, which decides who runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Runs a script on the host (or on the host it is delegated to).
    Host,
    /// Decided on the controller from the task's variables; no connection is used.
    Controller,
    /// Changes what the engine runs or knows (includes, `meta`, `include_vars`).
    Engine(Step),
    /// Replaced by the playbook parser before anything runs (`import_tasks`).
    Parser,
}

/// The engine's own modules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Meta,
    IncludeTasks,
    IncludeRole,
    GroupBy,
    AddHost,
    WaitForConnection,
    Reboot,
    IncludeVars,
}

/// How a task's string argument (`copy: src=a dest=b`, `shell: echo hi`) is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreeForm {
    /// `key=value` pairs only.
    KeyValue,
    /// The whole string is the argument (`_raw_params`): a file name, a meta action.
    Raw,
    /// The whole string, unless it contains `=` (then `key=value` pairs): `fail`.
    RawUnlessKeyValue,
    /// A command line kept exactly, with option words (`creates=`, `chdir=`) before or after.
    CommandLine,
}

/// What a module's result carries, which decides what happens when output is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// A command's stdout/stderr: cut at `--output-cap` is reported, marked `truncated`.
    Command,
    /// Anything else: a result built from cut output would be wrong, so it fails.
    Exact,
}

/// Where a module finds a controller-side `src` file (relative names), and whether the
/// file is a template (checked before the run when named literally).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source {
    /// `files` or `templates`: looked up in the role, then beside the playbook.
    pub dir: &'static str,
    pub is_template: bool,
}

type PlanFn = fn(&'static Spec, &Vars, &ModuleCtx<'_>) -> Result<Plan, ModuleError>;
type CheckFn = fn(&'static Spec, &Vars) -> Result<(), ModuleError>;

/// Everything known of one module.
pub struct Spec {
    pub name: &'static str,
    /// One line for the docs.
    pub summary: &'static str,
    pub kind: Kind,
    pub free_form: FreeForm,
    pub output: Output,
    /// Other names Ansible routes to this module (`yum` → `dnf`).
    pub routed_from: &'static [&'static str],
    /// The collection Ansible ships it in (`ansible.builtin`, or `ansible.posix` for
    /// `sysctl`...): `<namespace>.<name>` names it too.
    pub namespace: &'static str,
    pub params: &'static [Param],
    /// Its result is shown bare, without `changed`/`failed` (`debug`).
    pub bare_result: bool,
    pub source: Option<Source>,
    /// It may run with `async` (ansible-core refuses async for the modules it runs through
    /// an action plugin of their own: copy, template, script...).
    pub supports_async: bool,
    pub(crate) plan: Option<PlanFn>,
    /// Reads arguments as the module would, without planning.
    pub(crate) check: CheckFn,
    /// The names (and aliases) its argument struct accepts, asked of serde.
    pub(crate) fields: fn() -> &'static [&'static str],
}

impl std::fmt::Debug for Spec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Spec({})", self.name)
    }
}

fn plan_typed<M: super::Module>(
    spec: &'static Spec,
    args: &Vars,
    ctx: &ModuleCtx<'_>,
) -> Result<Plan, ModuleError> {
    let bad = |message| ModuleError::Args {
        module: spec.name,
        message,
    };
    let typed = args::parse::<M::Args>(spec.params, args).map_err(bad)?;
    M::check(&typed).map_err(bad)?;
    M::plan(typed, ctx).map_err(bad)
}

fn check_module<M: super::Module>(spec: &'static Spec, args: &Vars) -> Result<(), ModuleError> {
    args::parse::<M::Args>(spec.params, args)
        .and_then(|a| M::check(&a))
        .map_err(|message| ModuleError::Args {
            module: spec.name,
            message,
        })
}

/// The arguments of a module the engine runs: read like any module's, with their own
/// checks (a `meta` action olympus does not know).
pub trait EngineArgs: DeserializeOwned {
    fn check(&self) -> Result<(), String> {
        Ok(())
    }
}

fn check_typed<A: EngineArgs>(spec: &'static Spec, args: &Vars) -> Result<(), ModuleError> {
    args::parse::<A>(spec.params, args)
        .and_then(|a| a.check())
        .map_err(|message| ModuleError::Args {
            module: spec.name,
            message,
        })
}

impl Spec {
    /// A module that runs on hosts; its file fills in name, summary and parameters.
    pub const fn host<M: super::Module>() -> Spec {
        Spec {
            name: "",
            summary: "",
            kind: Kind::Host,
            free_form: FreeForm::KeyValue,
            output: Output::Exact,
            routed_from: &[],
            namespace: "ansible.builtin",
            params: &[],
            bare_result: false,
            source: None,
            supports_async: true,
            plan: Some(plan_typed::<M>),
            check: check_module::<M>,
            fields: args::fields_of::<M::Args>,
        }
    }

    /// A module decided on the controller.
    pub const fn controller<M: super::Module>() -> Spec {
        Spec {
            kind: Kind::Controller,
            supports_async: false,
            ..Spec::host::<M>()
        }
    }

    /// A module the engine (or the parser) runs itself, with arguments `A`.
    pub const fn engine<A: EngineArgs>(kind: Kind) -> Spec {
        Spec {
            name: "",
            summary: "",
            kind,
            free_form: FreeForm::KeyValue,
            output: Output::Exact,
            routed_from: &[],
            namespace: "ansible.builtin",
            params: &[],
            bare_result: false,
            source: None,
            supports_async: false,
            plan: None,
            check: check_typed::<A>,
            fields: args::fields_of::<A>,
        }
    }

    /// Reads `args` as the module will (unknown names, types), without planning anything.
    /// Arguments still holding templates are the caller's to leave out.
    pub fn check_args(&'static self, args: &Vars) -> Result<(), ModuleError> {
        (self.check)(self, args)
    }

    /// Refuses parameter names the module does not accept, whatever the values (for
    /// arguments whose values are still templates). A module with no fixed parameters
    /// (`set_fact`) accepts any name.
    pub fn check_names(&'static self, args: &Vars) -> Result<(), ModuleError> {
        let fields = (self.fields)();
        if fields.is_empty() {
            return Ok(());
        }
        match args.keys().find(|k| !fields.contains(&k.as_str())) {
            Some(k) => Err(ModuleError::Args {
                module: self.name,
                message: args::unknown_param(self.params, k),
            }),
            None => Ok(()),
        }
    }

    /// The engine step of an engine module.
    pub fn step(&self) -> Option<Step> {
        match self.kind {
            Kind::Engine(s) => Some(s),
            _ => None,
        }
    }

    /// Every parameter name and alias, for did-you-mean and the docs.
    pub fn param_names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.params
            .iter()
            .flat_map(|p| std::iter::once(p.name).chain(p.aliases.iter().copied()))
    }
}

/// Every implemented module, sorted by name.
pub static MODULES: &[&Spec] = &[
    &super::group_by::ADD_HOST_SPEC,
    &super::apt::SPEC,
    &super::assemble::SPEC,
    &super::assert::SPEC,
    &super::async_status::SPEC,
    &super::authorized_key::SPEC,
    &super::blockinfile::SPEC,
    &super::command::SPEC,
    &super::copy::SPEC,
    &super::cron::SPEC,
    &super::debconf::SPEC,
    &super::debug::SPEC,
    &super::dnf::SPEC,
    &super::fail::SPEC,
    &super::fetch::SPEC,
    &super::file::SPEC,
    &super::find::SPEC,
    &super::get_url::SPEC,
    &super::getent::SPEC,
    &super::git::SPEC,
    &super::group::SPEC,
    &super::group_by::SPEC,
    &super::haproxy::SPEC,
    &super::hostname::SPEC,
    &super::include_role::IMPORT_SPEC,
    &super::include_tasks::IMPORT_SPEC,
    &super::include_role::SPEC,
    &super::include_tasks::SPEC,
    &super::include_vars::SPEC,
    &super::known_hosts::SPEC,
    &super::lineinfile::SPEC,
    &super::meta::SPEC,
    &super::mount::SPEC,
    &super::package::SPEC,
    &super::pause::SPEC,
    &super::ping::SPEC,
    &super::pip::SPEC,
    &super::raw::SPEC,
    &super::reboot::SPEC,
    &super::replace::SPEC,
    &super::script::SPEC,
    &super::service::SPEC,
    &super::set_fact::SPEC,
    &super::setup::SPEC,
    &super::shell::SPEC,
    &super::slurp::SPEC,
    &super::stat::SPEC,
    &super::sysctl::SPEC,
    &super::systemd::SPEC,
    &super::sysvinit::SPEC,
    &super::tempfile::SPEC,
    &super::template::SPEC,
    &super::unarchive::SPEC,
    &super::uri::SPEC,
    &super::user::SPEC,
    &super::wait_for::SPEC,
    &super::wait_for_connection::SPEC,
];

/// The name without Ansible's namespaces: `ansible.builtin.copy` and `ansible.legacy.copy`
/// are `copy`.
fn short(name: &str) -> &str {
    name.strip_prefix("ansible.builtin.")
        .or_else(|| name.strip_prefix("ansible.legacy."))
        .unwrap_or(name)
}

/// The module a task names, as written (short, fully qualified, or routed).
pub fn find(name: &str) -> Option<&'static Spec> {
    let s = short(name);
    MODULES.iter().copied().find(|m| {
        m.name == s
            || m.routed_from.contains(&s)
            || name
                .strip_prefix(m.namespace)
                .and_then(|rest| rest.strip_prefix('.'))
                == Some(m.name)
    })
}

/// Names of every implemented module (for did-you-mean).
pub fn names() -> impl Iterator<Item = &'static str> {
    MODULES.iter().map(|m| m.name)
}

/// True for Ansible builtin modules that olympus does not implement (yet).
pub fn is_unimplemented_builtin(name: &str) -> bool {
    find(name).is_none() && NOT_IMPLEMENTED.contains(&short(name))
}

/// ansible-core 2.19's `ansible.builtin` modules that olympus does not implement.
pub(crate) const NOT_IMPLEMENTED: &[&str] = &[
    "apt_key",
    "apt_repository",
    "deb822_repository",
    "dnf5",
    "dpkg_selections",
    "expect",
    "gather_facts",
    "import_playbook",
    "iptables",
    "mount_facts",
    "package_facts",
    "rpm_key",
    "service_facts",
    "set_stats",
    "subversion",
    "validate_argument_spec",
    "yum_repository",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_module_accepts_exactly_its_documented_parameters() {
        for m in MODULES {
            if m.params.iter().any(|p| p.name == "<any other>") {
                // Takes any parameter (add_host's host variables): serde cannot list its
                // fields; its own tests check its named ones.
                continue;
            }
            let mut documented: Vec<&str> = m.param_names().collect();
            let mut accepted: Vec<&str> = (m.fields)().to_vec();
            documented.sort_unstable();
            accepted.sort_unstable();
            assert_eq!(documented, accepted, "module {}", m.name);
            assert!(!m.summary.is_empty(), "module {} has no summary", m.name);
            for p in m.params {
                assert!(
                    !p.doc.is_empty(),
                    "{}: parameter {} has no doc",
                    m.name,
                    p.name
                );
            }
        }
    }

    #[test]
    fn names_are_sorted_unique_and_found_by_every_spelling() {
        let names: Vec<&str> = names().collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(names, sorted);
        for m in MODULES {
            for n in [
                m.name.to_string(),
                format!("ansible.builtin.{}", m.name),
                format!("ansible.legacy.{}", m.name),
            ] {
                assert_eq!(find(&n).map(|s| s.name), Some(m.name));
            }
            assert!(
                !NOT_IMPLEMENTED.contains(&m.name),
                "{} is implemented",
                m.name
            );
        }
        assert!(find("copyy").is_none());
        assert!(is_unimplemented_builtin("ansible.builtin.expect"));
        assert!(!is_unimplemented_builtin("copy"));
    }
}
