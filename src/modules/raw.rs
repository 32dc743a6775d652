//! `raw`: a command line handed to the host's shell as it is, with nothing around it.

use serde::Deserialize;

use super::args::{self, Param, param};
use super::command::{self, Guards, Shown};
use super::registry::{FreeForm, Output, Spec};
use super::{Module, ModuleCtx, Plan};
use crate::connection::quote;

pub static SPEC: Spec = Spec {
    name: "raw",
    summary: "Run a command line on the host as it is (no guards, no chdir).",
    params: PARAMS,
    free_form: FreeForm::CommandLine,
    output: Output::Command,
    supports_async: false,
    ..Spec::host::<Raw>()
};

const PARAMS: &[Param] = &[
    param(
        "_raw_params",
        &[],
        "Required. The command line (free form).",
    ),
    param(
        "executable",
        &[],
        "The shell to run it with, default the login shell's `sh`.",
    ),
];

#[derive(Debug, Deserialize)]
pub struct Args {
    #[serde(rename = "_raw_params", deserialize_with = "args::text")]
    raw: String,
    #[serde(default, deserialize_with = "args::opt_text")]
    executable: Option<String>,
}

pub struct Raw;

impl Module for Raw {
    type Args = Args;

    fn plan(a: Args, ctx: &ModuleCtx<'_>) -> Result<Plan, String> {
        let body = match &a.executable {
            Some(exe) => format!("exec {} -c {}", quote(exe), quote(&a.raw)),
            None => format!("exec /bin/sh -c {}", quote(&a.raw)),
        };
        // Ansible's raw result has no `cmd`; its output is not stripped.
        let shown = Shown {
            cmd: None,
            strip_empty_ends: false,
        };
        Ok(command::run(&Guards::default(), &body, None, ctx, shown))
    }
}
