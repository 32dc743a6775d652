//! `include_vars`: variables from a YAML file, set on the host. The engine reads the file;
//! this file owns the arguments. The values are the author's: their templates render when
//! used, like vars files.

use serde::Deserialize;

use super::ModuleError;
use super::args::{self, Param, param};
use super::registry::{EngineArgs, FreeForm, Kind, Spec, Step};
use crate::yaml::Vars;

pub static SPEC: Spec = Spec {
    name: "include_vars",
    summary: "Set variables on the host from a YAML file.",
    params: PARAMS,
    free_form: FreeForm::Raw,
    ..Spec::engine::<Args>(Kind::Engine(Step::IncludeVars))
};

const PARAMS: &[Param] = &[
    param(
        "_raw_params",
        &[],
        "The file (free form), relative to the playbook or its `vars/`.",
    ),
    param("file", &[], "The file, as a parameter."),
    param(
        "name",
        &[],
        "Put the file's variables under this one name instead.",
    ),
];

#[derive(Debug, Deserialize)]
pub struct Args {
    #[serde(default, rename = "_raw_params", deserialize_with = "args::opt_text")]
    raw: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    pub file: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    pub name: Option<String>,
}

impl EngineArgs for Args {}

/// The (templated) arguments: the file and the name to put its variables under.
pub fn parse(args: &Vars) -> Result<(String, Option<String>), ModuleError> {
    let bad = |message: String| ModuleError::Args {
        module: SPEC.name,
        message,
    };
    let a = args::parse::<Args>(SPEC.params, args).map_err(bad)?;
    let file = a
        .raw
        .or(a.file)
        .ok_or_else(|| bad("a file name is required".into()))?;
    Ok((file, a.name))
}
