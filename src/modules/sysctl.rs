//! `sysctl` (from the `ansible.posix` collection): a kernel parameter's line in a sysctl file
//! (`/etc/sysctl.conf` by default) present or absent, then the file reloaded (`sysctl -p`)
//! or the value set at once (`sysctl -w`).

use serde::Deserialize;

use super::args::{self, Param, param};
use super::registry::Spec;
use super::write::{self, Attrs, Write, read_then, write_if_changed};
use super::{Content, Module, ModuleCtx, ModuleResult, Plan};
use crate::connection::quote;

pub static SPEC: Spec = Spec {
    name: "sysctl",
    summary: "Set a kernel parameter in a sysctl file and apply it.",
    params: PARAMS,
    namespace: "ansible.posix",
    ..Spec::host::<Sysctl>()
};

const PARAMS: &[Param] = &[
    param(
        "name",
        &["key"],
        "Required. The parameter, dotted (`net.ipv4.ip_forward`).",
    ),
    param(
        "value",
        &["val"],
        "Its value; required with `state: present`.",
    ),
    param("state", &[], "`present` (default) or `absent`."),
    param("sysctl_file", &[], "The file, default `/etc/sysctl.conf`."),
    param(
        "reload",
        &[],
        "bool, default yes. After a change, load the file with `sysctl -p`.",
    ),
    param(
        "sysctl_set",
        &[],
        "bool, default no. Also set the running value with `sysctl -w` when it differs.",
    ),
    param(
        "ignoreerrors",
        &[],
        "bool, default no. Unknown keys do not fail `sysctl -p`.",
    ),
];

#[derive(Debug, Deserialize)]
pub struct Args {
    #[serde(alias = "key", deserialize_with = "args::text")]
    name: String,
    #[serde(default, alias = "val", deserialize_with = "args::opt_text")]
    value: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    state: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    sysctl_file: Option<String>,
    #[serde(default = "args::yes", deserialize_with = "args::boolean")]
    reload: bool,
    #[serde(default, deserialize_with = "args::boolean")]
    sysctl_set: bool,
    #[serde(default, deserialize_with = "args::boolean")]
    ignoreerrors: bool,
}

pub struct Sysctl;

impl Module for Sysctl {
    type Args = Args;

    fn check(a: &Args) -> Result<(), String> {
        match a.state.as_deref() {
            None | Some("present") if a.value.is_none() => {
                Err("value is required with state=present".into())
            }
            None | Some("present" | "absent") => Ok(()),
            Some(s) => Err(format!(
                "value of state must be one of: present, absent, got: {s}"
            )),
        }
    }

    fn plan(a: Args, ctx: &ModuleCtx<'_>) -> Result<Plan, String> {
        if a.name.contains(['\n', '=']) {
            return Err(format!("'{}' is not a sysctl name", a.name));
        }
        let file = a
            .sysctl_file
            .clone()
            .unwrap_or_else(|| "/etc/sysctl.conf".into());
        let absent = a.state.as_deref() == Some("absent");
        let value = normalize(a.value.as_deref().unwrap_or(""));
        let write = Write::editing(&file, Attrs::default(), false, None, ctx);
        let (check, name) = (ctx.check_mode, a.name.clone());
        let (reload, set, ignore) = (a.reload, a.sysctl_set, a.ignoreerrors);
        Ok(read_then(&file.clone(), move |old| {
            let text = String::from_utf8_lossy(old.as_deref().unwrap_or_default()).into_owned();
            let new = edit(&text, &name, if absent { None } else { Some(&value) });
            let changed = new != text;
            // After the file: the running value, with `sysctl -w` / `sysctl -p`.
            let mut then = String::new();
            if set && !absent {
                then.push_str(&format!(
                    "cur=$(sysctl -n {n} 2>/dev/null | tr -s '\\t ' '  '); if [ \"$cur\" != {v} ]; then echo changed=1; {w}fi\n",
                    n = quote(&name),
                    v = quote(&value),
                    w = if check { String::new() } else { format!("sysctl -w {}={} >/dev/null || exit 1; ", quote(&name), quote(&value)) }
                ));
            }
            if reload && changed && !check {
                then.push_str(&format!(
                    "sysctl {}-p {} >/dev/null || {{ echo 'error=sysctl -p failed'; exit 3; }}\n",
                    if ignore { "-e " } else { "" },
                    quote(&file)
                ));
            }
            let w = Write {
                content: Content::new(new.into_bytes()),
                make_dirs: false,
                ..write
            };
            let written = if changed {
                write_if_changed(w, old, "")
            } else {
                Plan::Done(ModuleResult::ok())
            };
            // ansible.posix.sysctl reports `changed` alone.
            written.and_then(move |w| {
                let done = ModuleResult {
                    changed: w.changed,
                    ..ModuleResult::ok()
                };
                if w.failed {
                    return Plan::Done(w);
                }
                if then.is_empty() {
                    return Plan::Done(done);
                }
                Plan::remote(then, None, move |out| {
                    let rep = write::report(&out);
                    if out.rc != Some(0) || rep.contains_key("error") {
                        return write::script_failure(&out, &rep);
                    }
                    ModuleResult {
                        changed: done.changed || rep.contains_key("changed"),
                        ..ModuleResult::ok()
                    }
                })
            })
        }))
    }
}

/// Values compare with runs of spaces and tabs made one space, as ansible.posix.sysctl does.
fn normalize(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The file with `name`'s line set to `name=value` (appended when missing), or removed.
fn edit(text: &str, name: &str, value: Option<&str>) -> String {
    let mut out = String::new();
    let mut done = false;
    for line in text.split_inclusive('\n') {
        let bare = line.trim();
        let key = bare
            .split_once('=')
            .map(|(k, _)| k.trim())
            .filter(|_| !bare.starts_with(['#', ';']));
        if key == Some(name) {
            if let Some(v) = value
                && !done
            {
                let current = bare.split_once('=').map(|(_, v)| normalize(v));
                if current.as_deref() == Some(v) {
                    out.push_str(line);
                } else {
                    out.push_str(&format!("{name}={v}\n"));
                }
                done = true;
            }
            continue;
        }
        out.push_str(line);
    }
    if let Some(v) = value
        && !done
    {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&format!("{name}={v}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::edit;

    #[test]
    fn edits_one_line() {
        assert_eq!(edit("", "a.b", Some("1")), "a.b=1\n");
        assert_eq!(edit("# c\na.b = 1\n", "a.b", Some("1")), "# c\na.b = 1\n");
        assert_eq!(edit("a.b=1\nx=2\n", "a.b", Some("0")), "a.b=0\nx=2\n");
        assert_eq!(edit("a.b=1\nx=2\n", "a.b", None), "x=2\n");
        assert_eq!(edit("#a.b=1\n", "a.b", None), "#a.b=1\n");
    }
}
