//! `file`: a path's state (file, directory, link, hard link, touched, absent) and its mode,
//! owner and group.

use serde::Deserialize;
use serde_json::{Value, json};

use super::args::{self, Param, param};
use super::registry::Spec;
use super::write::{self, Attrs, FUNCS, attrs_script, report, script_failure};
use super::{Module, ModuleCtx, ModuleResult, Plan};
use crate::connection::quote;

pub static SPEC: Spec = Spec {
    name: "file",
    summary: "Set a path's state (file, directory, link, hard link, touch, absent) and its mode, owner and group.",
    params: PARAMS,
    ..Spec::host::<File>()
};

const PARAMS: &[Param] = &[
    param("path", &["dest", "name"], "Required. The path on the host."),
    param(
        "state",
        &[],
        "`file` (default; or `link` when `src` is given), `directory`, `link`, `hard`, `touch`, `absent`.",
    ),
    param("src", &[], "Target of a `link` or `hard` link."),
    param(
        "force",
        &[],
        "bool, default no. Replace an existing file or directory by the link.",
    ),
    param(
        "recurse",
        &[],
        "bool, default no. With `state: directory`, set mode/owner/group on everything under the path too.",
    ),
    param(
        "follow",
        &[],
        "bool, default yes. When the path is a symlink, its target's attributes are set; with no, the link's own owner and group.",
    ),
    param("mode", &[], write::MODE_DOC),
    param("owner", &[], write::OWNER_DOC),
    param("group", &[], write::GROUP_DOC),
];

#[derive(Debug, Deserialize)]
pub struct Args {
    #[serde(alias = "dest", alias = "name", deserialize_with = "args::text")]
    path: String,
    #[serde(default, deserialize_with = "args::opt_text")]
    state: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    src: Option<String>,
    #[serde(default, deserialize_with = "args::boolean")]
    force: bool,
    #[serde(default, deserialize_with = "args::boolean")]
    recurse: bool,
    #[serde(default = "args::yes", deserialize_with = "args::boolean")]
    follow: bool,
    #[serde(default, deserialize_with = "args::mode")]
    mode: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    owner: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    group: Option<String>,
}

impl Args {
    fn state(&self) -> &str {
        self.state
            .as_deref()
            .unwrap_or(if self.src.is_some() { "link" } else { "file" })
    }
}

pub struct File;

impl Module for File {
    type Args = Args;

    fn check(a: &Args) -> Result<(), String> {
        let state = a.state();
        if !matches!(
            state,
            "file" | "directory" | "link" | "hard" | "touch" | "absent"
        ) {
            return Err(format!(
                "state '{state}' is not one of file, directory, link, hard, touch, absent"
            ));
        }
        if a.recurse && state != "directory" {
            return Err("recurse needs state=directory".into());
        }
        if matches!(state, "link" | "hard") && a.src.is_none() {
            return Err(format!("state={state} needs 'src'"));
        }
        Ok(())
    }

    fn plan(a: Args, ctx: &ModuleCtx<'_>) -> Result<Plan, String> {
        let path = a.path.as_str();
        let at = Attrs {
            mode: a.mode.clone(),
            owner: a.owner.clone(),
            group: a.group.clone(),
        };
        let state = a.state();
        let check = ctx.check_mode;
        let run = |cmd: &str| {
            if check {
                String::new()
            } else {
                format!("{cmd} || exit 1; ")
            }
        };
        let mut s = String::from(FUNCS);
        s.push_str(&format!("p={}\nc=0; a=0\n", quote(path)));
        if a.follow && matches!(state, "file" | "directory" | "touch") {
            // follow: the attributes are the link target's, as chmod and chown see them.
            s.push_str("if [ -L \"$p\" ]; then p=$(readlink -f -- \"$p\") || exit 1; fi\n");
        }
        // What the path is now, for --diff.
        s.push_str("if [ -L \"$p\" ]; then echo before_state=link; elif [ -d \"$p\" ]; then echo before_state=directory; elif [ -f \"$p\" ]; then echo before_state=file; elif [ -e \"$p\" ]; then echo before_state=other; else echo before_state=absent; fi\n");
        match state {
            "absent" => {
                s.push_str(&format!(
                    "if [ -e \"$p\" ] || [ -L \"$p\" ]; then c=1; {}fi\n",
                    run("rm -rf -- \"$p\"")
                ));
            }
            "directory" => {
                s.push_str("if [ -e \"$p\" ] && [ ! -d \"$p\" ]; then echo \"error=$p exists and is not a directory\"; exit 3; fi\n");
                // A new directory with a numeric mode and nothing else to set is made with
                // that mode (`mkdir -m`, which the umask does not narrow): nothing to check.
                let made_whole = match (&at.mode, &at.owner, &at.group) {
                    (Some(m), None, None)
                        if !a.recurse && m.bytes().all(|b| b.is_ascii_digit()) =>
                    {
                        Some(quote(m))
                    }
                    _ => None,
                };
                let mkdir = match &made_whole {
                    Some(m) => format!("mkdir -p -m {m} -- \"$p\""),
                    None => "mkdir -p -- \"$p\"".to_string(),
                };
                s.push_str(&format!(
                    "if [ ! -d \"$p\" ]; then c=1; {}fi\n",
                    run(&mkdir)
                ));
                if made_whole.is_some() {
                    s.push_str("if [ -d \"$p\" ] && [ $c = 0 ]; then\n");
                } else {
                    s.push_str("if [ -d \"$p\" ]; then\n");
                }
                s.push_str(&attrs_here(&at, check, a.follow));
                if a.recurse {
                    s.push_str(&recurse_script(&at, check, a.follow));
                }
                s.push_str("fi\n");
            }
            "file" => {
                s.push_str("if [ ! -e \"$p\" ]; then echo \"error=file $p does not exist (use state=touch to create it)\"; exit 3; fi\n");
                s.push_str(&attrs_here(&at, check, a.follow));
            }
            "touch" => {
                s.push_str(&format!("c=1; {}\n", run("touch -- \"$p\"")));
                s.push_str("if [ -e \"$p\" ]; then\n");
                s.push_str(&attrs_here(&at, check, a.follow));
                s.push_str("fi\n");
            }
            "link" | "hard" => {
                let src = a
                    .src
                    .as_deref()
                    .ok_or_else(|| format!("state={state} needs 'src'"))?;
                let force = a.force;
                s.push_str(&format!("src={}\n", quote(src)));
                if state == "link" {
                    s.push_str("cur=$(readlink -- \"$p\" 2>/dev/null || true)\n");
                    s.push_str(&format!(
                    "if [ \"$cur\" != \"$src\" ]; then if [ -e \"$p\" ] && [ ! -L \"$p\" ] && [ {f} = 0 ]; then echo \"error=$p exists and is not a link (use force=yes to replace it)\"; exit 3; fi; c=1; {cmd}fi\n",
                    f = u8::from(force),
                    cmd = run("rm -rf -- \"$p\" && ln -s -- \"$src\" \"$p\"")
                ));
                    s.push_str("if [ -L \"$p\" ]; then\n");
                    s.push_str(&attrs_script(
                        &Attrs {
                            mode: None,
                            ..at.clone()
                        },
                        check,
                        true,
                    ));
                    s.push_str("fi\n");
                } else {
                    s.push_str("if [ ! -e \"$src\" ]; then echo \"error=src $src does not exist\"; exit 3; fi\n");
                    s.push_str(&format!(
                    "if [ ! -e \"$p\" ] || [ \"$(stat -c %i -- \"$p\")\" != \"$(stat -c %i -- \"$src\")\" ]; then c=1; {}fi\n",
                    run("ln -f -- \"$src\" \"$p\"")
                ));
                    s.push_str("if [ -e \"$p\" ]; then\n");
                    s.push_str(&attrs_here(&at, check, a.follow));
                    s.push_str("fi\n");
                }
            }
            other => {
                return Err(format!(
                    "state '{other}' is not one of file, directory, link, hard, touch, absent"
                ));
            }
        }
        s.push_str("if [ $c = 1 ] || [ $a = 1 ]; then echo changed=1; else echo changed=0; fi\n");
        if state != "absent" {
            s.push_str("path_info \"$p\"\n");
        }
        let path = path.to_string();
        let state = state.to_string();
        let src = a.src.clone();
        let diff = ctx.diff;
        Ok(Plan::remote(s, None, move |out| {
            let rep = report(&out);
            if out.rc != Some(0) || rep.contains_key("error") {
                return script_failure(&out, &rep);
            }
            let mut r = ModuleResult::ok();
            r.changed = rep.get("changed").map(String::as_str) == Some("1");
            if diff && r.changed {
                let before = rep.get("before_state").cloned().unwrap_or_default();
                let after = if state == "touch" || state == "file" {
                    before.clone()
                } else {
                    state.clone()
                };
                let after = if after == "absent" || state == "absent" {
                    after
                } else if after.is_empty() || after == "absent" {
                    "file".to_string()
                } else {
                    after
                };
                r.data.insert(
                "diff".into(),
                json!({"before": format!("path: {path}\nstate: {before}\n"), "after": format!("path: {path}\nstate: {after}\n"), "before_header": path, "after_header": path}),
            );
            }
            // As Ansible reports it: a link names `dest` and `src`, a touched file `dest`,
            // anything else `path`; the path's attributes follow (its state from what it is
            // now).
            if matches!(state.as_str(), "link" | "hard") {
                r.data.insert("dest".into(), Value::from(path));
                r.data
                    .insert("src".into(), src.map_or(Value::Null, Value::from));
            } else if state == "touch" {
                r.data.insert("dest".into(), Value::from(path));
            } else {
                r.data.insert("path".into(), Value::from(path));
            }
            r.data.insert("state".into(), Value::from(state));
            write::add_path_info(&mut r, &rep);
            r
        }))
    }
}

/// Attributes of "$p": with `follow: no` a symlink keeps its target untouched (its own
/// owner and group are set; a link has no mode of its own on Linux).
fn attrs_here(at: &Attrs, check: bool, follow: bool) -> String {
    if follow {
        return attrs_script(at, check, false);
    }
    let own = Attrs {
        mode: None,
        ..at.clone()
    };
    format!(
        "if [ -L \"$p\" ]; then\n{}else\n{}fi\n",
        attrs_script(&own, check, true),
        attrs_script(at, check, false)
    )
}

/// `recurse`: mode, owner and group of everything under "$p" (sets a=1 when any differs).
/// Each attribute is one `find` that stops at the first path that differs.
fn recurse_script(at: &Attrs, check: bool, follow: bool) -> String {
    let mut s = String::new();
    let l = if follow { "-L " } else { "" };
    let h = if follow { "" } else { "-h " };
    if let Some(m) = &at.mode {
        // differs_mode in a child shell, once per batch of paths find hands it.
        let probe = format!(
            "{FUNCS}for f; do if differs_mode \"$f\" \"$0\"; then echo differs; exit 0; fi; done"
        );
        s.push_str(&format!(
            "if [ -n \"$(find {l}\"$p\" ! -type l -exec sh -c {probe} {m} {{}} + | head -n 1)\" ]; then a=1; {apply}fi\n",
            probe = quote(&probe),
            m = quote(m),
            apply = if check { String::new() } else { format!("chmod -R {} \"$p\" || exit 1; ", quote(m)) }
        ));
    }
    for (what, test, cmd) in [
        (&at.owner, "-user", "chown"),
        (&at.group, "-group", "chgrp"),
    ] {
        if let Some(v) = what {
            s.push_str(&format!(
                "if [ -n \"$(find {l}\"$p\" ! {test} {v} -print | head -n 1)\" ]; then a=1; {apply}fi\n",
                v = quote(v),
                apply = if check { String::new() } else { format!("{cmd} -R {h}{} \"$p\" || exit 1; ", quote(v)) }
            ));
        }
    }
    s
}
