//! `shell`: a command line run by `/bin/sh` (or `executable`) on the host.

use serde_json::Value;

use super::args::{self, Param, param};
use super::command::{self, Shown};
use super::registry::{FreeForm, Output, Spec};
use super::{Module, ModuleCtx, Plan};
use crate::connection::quote;

pub static SPEC: Spec = Spec {
    name: "shell",
    summary: "Run a command line through a shell on the host.",
    params: PARAMS,
    free_form: FreeForm::CommandLine,
    output: Output::Command,
    ..Spec::host::<Shell>()
};

const PARAMS: &[Param] = &[
    param(
        "_raw_params",
        &[],
        "The command line (free form), kept exactly as written, multi-line scripts included.",
    ),
    param("cmd", &[], "The command line, as a parameter."),
    param(
        "executable",
        &[],
        "The shell to run it with, default `/bin/sh`.",
    ),
    param("chdir", &[], command::CHDIR_DOC),
    param("creates", &[], command::CREATES_DOC),
    param("removes", &[], command::REMOVES_DOC),
    param("stdin", &[], command::STDIN_DOC),
    param(
        "stdin_add_newline",
        &[],
        "bool, default yes. End `stdin` with a newline.",
    ),
    param("strip_empty_ends", &[], command::STRIP_DOC),
];

command::guarded_args! {
pub struct Args {
    #[serde(default, rename = "_raw_params", deserialize_with = "args::opt_text")]
    raw: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    cmd: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    executable: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    stdin: Option<String>,
    #[serde(default = "args::yes", deserialize_with = "args::boolean")]
    stdin_add_newline: bool,
    #[serde(default = "args::yes", deserialize_with = "args::boolean")]
    strip_empty_ends: bool,
}
}

pub struct Shell;

impl Module for Shell {
    type Args = Args;

    fn check(a: &Args) -> Result<(), String> {
        match (&a.raw, &a.cmd) {
            (None, None) => Err("no command given (free form or 'cmd')".into()),
            (Some(_), Some(_)) => Err("give the command once: free form or 'cmd'".into()),
            _ => Ok(()),
        }
    }

    fn plan(mut a: Args, ctx: &ModuleCtx<'_>) -> Result<Plan, String> {
        let guards = a.guards();
        let line = a
            .raw
            .or(a.cmd)
            .ok_or("no command given (free form or 'cmd')")?;
        let locale = command::LOCALE_AS_ANSIBLE;
        let body = match &a.executable {
            Some(exe) => format!("{locale}exec {} -c {}", quote(exe), quote(&line)),
            // Its own shell, as ansible-core's `/bin/sh -c`: the user's text sees its own `$$`
            // (a persistent shell runs scripts in subshells, which share the loop's).
            None => format!("{locale}exec /bin/sh -c {}", quote(&line)),
        };
        let shown = Shown {
            cmd: Some(Value::String(line)),
            strip_empty_ends: a.strip_empty_ends,
        };
        let stdin = command::stdin_bytes(a.stdin, a.stdin_add_newline);
        Ok(command::run(&guards, &body, stdin, ctx, shown))
    }
}
