//! `include_tasks` (the engine reads the file when the task runs, per host) and
//! `import_tasks` (the parser reads it when the playbook loads). This file owns their
//! arguments.

use serde::Deserialize;
use serde_json::Value;

use super::ModuleError;
use super::args::{Param, param};
use super::registry::{EngineArgs, FreeForm, Kind, Spec, Step};
use crate::yaml::Vars;

pub static SPEC: Spec = Spec {
    name: "include_tasks",
    summary: "Run the tasks of a file, chosen when the task runs (the name may use each host's variables).",
    params: PARAMS,
    free_form: FreeForm::Raw,
    ..Spec::engine::<Args>(Kind::Engine(Step::IncludeTasks))
};

pub static IMPORT_SPEC: Spec = Spec {
    name: "import_tasks",
    summary: "Put the tasks of a file here when the playbook is read (a fixed file name).",
    params: PARAMS,
    free_form: FreeForm::Raw,
    ..Spec::engine::<Args>(Kind::Parser)
};

const PARAMS: &[Param] = &[
    param(
        "_raw_params",
        &[],
        "The task file (free form), relative to the including file, the playbook or its `tasks/`.",
    ),
    param("file", &[], "The task file, as a parameter."),
    param(
        "apply",
        &[],
        "Task keywords (`tags`, `become`, ...) applied to every included task (`include_tasks` only).",
    ),
];

#[derive(Debug, Deserialize)]
pub struct Args {
    #[serde(default, rename = "_raw_params")]
    raw: Option<Value>,
    #[serde(default)]
    file: Option<Value>,
    /// Read by the parser (into the task).
    #[serde(default)]
    apply: Option<Value>,
}

impl EngineArgs for Args {}

/// The file name (still a template for `include_tasks`).
pub fn file(args: &Vars) -> Result<Value, ModuleError> {
    let bad = |message: String| ModuleError::Args {
        module: SPEC.name,
        message,
    };
    let a = super::args::parse::<Args>(SPEC.params, args).map_err(bad)?;
    let _ = a.apply;
    a.raw
        .or(a.file)
        .ok_or_else(|| bad("a file name is required".into()))
}
