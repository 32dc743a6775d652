//! `script`: a script from the controller sent over standard input and run on the host.

use std::path::PathBuf;

use serde_json::Value;

use super::args::{self, Param, param};
use super::command::{self, Shown};
use super::registry::{FreeForm, Output, Source, Spec};
use super::{Module, ModuleCtx, Plan};
use crate::connection::quote;

pub static SPEC: Spec = Spec {
    name: "script",
    summary: "Send a script from the controller to the host and run it there.",
    params: PARAMS,
    free_form: FreeForm::CommandLine,
    output: Output::Command,
    source: Some(Source {
        dir: "files",
        is_template: false,
    }),
    supports_async: false,
    ..Spec::host::<Script>()
};

const PARAMS: &[Param] = &[
    param(
        "_raw_params",
        &[],
        "The script's controller path and its arguments (free form), looked up in the role's and the playbook's `files/`.",
    ),
    param("cmd", &[], "The same, as a parameter."),
    param(
        "executable",
        &[],
        "Program to run the script with (`/bin/bash`, `python3`); default: the script's own `#!` line.",
    ),
    param("chdir", &[], command::CHDIR_DOC),
    param("creates", &[], command::CREATES_DOC),
    param("removes", &[], command::REMOVES_DOC),
];

command::guarded_args! {
pub struct Args {
    #[serde(default, rename = "_raw_params", deserialize_with = "args::opt_text")]
    raw: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    cmd: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    executable: Option<String>,
}
}

pub struct Script;

impl Module for Script {
    type Args = Args;

    fn check(a: &Args) -> Result<(), String> {
        match (&a.raw, &a.cmd) {
            (None, None) => Err("a script path is required".into()),
            (Some(_), Some(_)) => Err("give the script once: free form or 'cmd'".into()),
            _ => Ok(()),
        }
    }

    fn plan(mut a: Args, ctx: &ModuleCtx<'_>) -> Result<Plan, String> {
        let mut guards = a.guards();
        let chdir = guards.chdir.take();
        let line = a.raw.or(a.cmd).ok_or("a script path is required")?;
        let words = command::shell_words(&line)?;
        let Some((file, rest)) = words.split_first() else {
            return Err("a script path is required".into());
        };
        let path = find(ctx, file)?;
        let body = ctx
            .files
            .get(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let argv: String = rest.iter().map(|a| format!(" {}", quote(a))).collect();
        let run = match &a.executable {
            Some(exe) => format!("{} \"$t\"{argv} </dev/null", quote(exe)),
            None => format!("\"$t\"{argv} </dev/null"),
        };
        // The script arrives on stdin into a private temporary file, removed on exit.
        let body_script = format!(
            "t=$(mktemp) || exit 1\ntrap 'rm -f -- \"$t\"' EXIT\ncat > \"$t\" || exit 1\nchmod 700 \"$t\" || exit 1\n{run}"
        );
        // chdir applies to the script, after it has been received.
        let body_script = match &chdir {
            Some(d) => body_script.replacen(&run, &format!("cd {} || exit 1\n{run}", quote(d)), 1),
            None => body_script,
        };
        let shown = Shown {
            cmd: Some(Value::String(line.clone())),
            strip_empty_ends: true,
        };
        let stdin = (!ctx.check_mode).then_some(body.bytes);
        Ok(command::run(&guards, &body_script, stdin, ctx, shown))
    }
}

/// The script's file: in the role's and the playbook's `files/`, beside them, or as given.
fn find(ctx: &ModuleCtx<'_>, file: &str) -> Result<PathBuf, String> {
    let var = |k: &str| ctx.vars.get(k).and_then(Value::as_str).map(PathBuf::from);
    let mut cands: Vec<PathBuf> = Vec::new();
    if let Some(r) = var("role_path") {
        cands.push(r.join("files").join(file));
        cands.push(r.join(file));
    }
    let base = var("playbook_dir").unwrap_or_else(|| PathBuf::from("."));
    cands.push(base.join("files").join(file));
    cands.push(base.join(file));
    cands.push(PathBuf::from(file));
    cands
        .into_iter()
        .find(|p| p.is_file())
        .ok_or_else(|| format!("could not find '{file}' next to the playbook or in files/"))
}
