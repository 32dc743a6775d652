//! `include_role` (the engine loads the role when the task runs, per host) and
//! `import_role` (the parser puts the role's tasks in place when the playbook loads). This
//! file owns their arguments; `playbook::roles` reads the role itself.

use serde::Deserialize;
use serde_json::Value;

use super::ModuleError;
use super::args::{Param, opt_boolean, param};
use super::registry::{EngineArgs, Kind, Spec, Step};
use crate::yaml::Vars;

pub static SPEC: Spec = Spec {
    name: "include_role",
    summary: "Run a role's tasks here, loaded when the task runs (names may use each host's variables; loops and `when` apply to the include).",
    params: PARAMS,
    ..Spec::engine::<Args>(Kind::Engine(Step::IncludeRole))
};

pub static IMPORT_SPEC: Spec = Spec {
    name: "import_role",
    summary: "Put a role's tasks here when the playbook is read (fixed names; the task's keywords apply to every task of the role).",
    params: PARAMS,
    ..Spec::engine::<Args>(Kind::Parser)
};

const PARAMS: &[Param] = &[
    param("name", &[], "The role, found as `roles:` finds it."),
    param(
        "tasks_from",
        &[],
        "The file of the role's `tasks/` to run instead of `main.yml`.",
    ),
    param(
        "vars_from",
        &[],
        "The file of the role's `vars/` to load instead of `main.yml`.",
    ),
    param(
        "defaults_from",
        &[],
        "The file of the role's `defaults/` to load instead of `main.yml`.",
    ),
    param(
        "handlers_from",
        &[],
        "The file of the role's `handlers/` to load instead of `main.yml`.",
    ),
    param(
        "public",
        &[],
        "Whether the role's vars and defaults stay visible to the tasks after it (`include_role` only; an imported role's always are).",
    ),
    param(
        "apply",
        &[],
        "Task keywords (`tags`, `become`, ...) applied to every task of the role (`include_role` only).",
    ),
    param(
        "allow_duplicates",
        &[],
        "Accepted as Ansible does; an included role always runs where it is included.",
    ),
];

#[derive(Debug, Deserialize)]
pub struct Args {
    #[serde(default)]
    name: Option<Value>,
    #[serde(default)]
    tasks_from: Option<Value>,
    #[serde(default)]
    vars_from: Option<Value>,
    #[serde(default)]
    defaults_from: Option<Value>,
    #[serde(default)]
    handlers_from: Option<Value>,
    #[serde(default, deserialize_with = "opt_boolean")]
    public: Option<bool>,
    #[serde(default)]
    apply: Option<Value>,
    #[serde(default, deserialize_with = "opt_boolean")]
    allow_duplicates: Option<bool>,
}

impl EngineArgs for Args {
    fn check(&self) -> Result<(), String> {
        if self.name.is_none() {
            return Err("'name' (the role) is required".into());
        }
        Ok(())
    }
}

/// What to load of a role: its name and the files chosen in place of `main.yml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct RoleRef {
    pub name: String,
    pub tasks_from: Option<String>,
    pub vars_from: Option<String>,
    pub defaults_from: Option<String>,
    pub handlers_from: Option<String>,
}

/// An include's or import's arguments, rendered.
#[derive(Debug, Clone)]
pub struct Request {
    pub role: RoleRef,
    pub public: bool,
}

/// Reads rendered arguments.
pub fn request(spec: &'static Spec, args: &Vars) -> Result<Request, ModuleError> {
    let bad = |message: String| ModuleError::Args {
        module: spec.name,
        message,
    };
    let a = super::args::parse::<Args>(spec.params, args).map_err(bad)?;
    a.check().map_err(bad)?;
    let text = |v: Option<Value>, what: &str| -> Result<Option<String>, ModuleError> {
        match v {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.is_empty() => Ok(Some(s)),
            Some(other) => Err(bad(format!(
                "'{what}' must be a file or role name, got {other}"
            ))),
        }
    };
    // `apply` was read by the parser (into the task); `allow_duplicates` changes nothing
    // for a role that is included where it is written.
    let (_, _) = (a.apply, a.allow_duplicates);
    Ok(Request {
        role: RoleRef {
            name: text(a.name, "name")?.unwrap_or_default(),
            tasks_from: text(a.tasks_from, "tasks_from")?,
            vars_from: text(a.vars_from, "vars_from")?,
            defaults_from: text(a.defaults_from, "defaults_from")?,
            handlers_from: text(a.handlers_from, "handlers_from")?,
        },
        public: a.public.unwrap_or(false),
    })
}
