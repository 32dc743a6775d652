//! `tempfile`: a new temporary file or directory on the host, with `mktemp`, its path
//! returned (Ansible's name: prefix, eight random characters, suffix).

use serde::Deserialize;
use serde_json::Value;

use super::args::{self, Param, param};
use super::registry::Spec;
use super::write::{self, report, script_failure};
use super::{Module, ModuleCtx, ModuleResult, Plan};
use crate::connection::quote;

pub static SPEC: Spec = Spec {
    name: "tempfile",
    summary: "Create a temporary file or directory on the host and return its path.",
    params: PARAMS,
    ..Spec::host::<TempFile>()
};

const PARAMS: &[Param] = &[
    param("state", &[], "`file` (default) or `directory`."),
    param(
        "path",
        &[],
        "Where to create it; default the host's temporary directory (`$TMPDIR` or /tmp).",
    ),
    param("prefix", &[], "Start of the name, default `ansible.`."),
    param("suffix", &[], "End of the name, default empty."),
];

#[derive(Debug, Deserialize)]
pub struct Args {
    #[serde(default, deserialize_with = "args::opt_text")]
    state: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    path: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    prefix: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    suffix: Option<String>,
}

pub struct TempFile;

impl Module for TempFile {
    type Args = Args;

    fn check(a: &Args) -> Result<(), String> {
        match a.state.as_deref() {
            None | Some("file" | "directory") => {}
            Some(s) => {
                return Err(format!(
                    "value of state must be one of: directory, file, got: {s}"
                ));
            }
        }
        for v in [&a.prefix, &a.suffix].into_iter().flatten() {
            if v.contains('/') {
                return Err(format!("'{v}' cannot hold '/'"));
            }
        }
        Ok(())
    }

    fn plan(a: Args, ctx: &ModuleCtx<'_>) -> Result<Plan, String> {
        let dir_flag = if a.state.as_deref() == Some("directory") {
            "-d "
        } else {
            ""
        };
        let template = format!("{}XXXXXXXX", a.prefix.as_deref().unwrap_or("ansible."));
        let script = format!(
            "{funcs}d={dir}\n[ -n \"$d\" ] || d=${{TMPDIR:-/tmp}}\nif [ {check} = 1 ]; then echo \"path=$d/{tpl_shown}\"; exit 0; fi\np=$(mktemp {dir_flag}--suffix={suffix} -p \"$d\" {tpl}) || exit 1\necho \"path=$p\"\npath_info \"$p\"\n",
            funcs = write::FUNCS,
            dir = quote(a.path.as_deref().unwrap_or("")),
            check = u8::from(ctx.check_mode),
            tpl_shown = template.replace('\'', ""),
            suffix = quote(a.suffix.as_deref().unwrap_or("")),
            tpl = quote(&template),
        );
        Ok(Plan::remote(script, None, move |out| {
            let rep = report(&out);
            if out.rc != Some(0) {
                return script_failure(&out, &rep);
            }
            let mut r = ModuleResult::ok();
            r.changed = true;
            r.data.insert(
                "path".into(),
                Value::from(rep.get("path").cloned().unwrap_or_default()),
            );
            write::add_path_info(&mut r, &rep);
            r
        }))
    }
}
