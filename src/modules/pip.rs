//! `pip`: Python packages installed, upgraded or removed with the host's pip, in a
//! virtualenv made on demand — as ansible-core's `pip` module runs pip and reports it.
//!
//! One round trip: the script finds pip (a virtualenv's, the interpreter's `-m pip`, or
//! `pip3`), makes the virtualenv when it is missing, and runs pip; `changed` comes from pip's
//! own words ("Successfully installed"), or from `pip freeze` before and after for
//! requirement files and VCS URLs. Check mode lists the installed packages and compares
//! versions with PEP 440 specifiers on the controller.

use std::str::FromStr;

use serde::Deserialize;
use serde_json::Value;

use super::args::{self, Param, param};
use super::registry::Spec;
use super::write;
use super::{Module, ModuleCtx, ModuleResult, Plan};
use crate::connection::quote;

pub static SPEC: Spec = Spec {
    name: "pip",
    summary: "Install, upgrade or remove Python packages with pip, in a virtualenv if asked.",
    params: PARAMS,
    ..Spec::host::<Pip>()
};

const PARAMS: &[Param] = &[
    param(
        "name",
        &[],
        "Package names or requirement specifiers (`flask>=2,<3`), a list or comma-separated; or URLs.",
    ),
    param(
        "version",
        &[],
        "The version to install (one package, without a specifier of its own).",
    ),
    param("requirements", &[], "A requirements file on the host."),
    param(
        "virtualenv",
        &[],
        "A virtualenv directory: pip runs there; made with `virtualenv_command` when missing.",
    ),
    param(
        "virtualenv_site_packages",
        &[],
        "bool, default no. The new virtualenv sees the system's packages.",
    ),
    param(
        "virtualenv_command",
        &[],
        "Command that makes a virtualenv, default `virtualenv` (`python3 -m venv` is common).",
    ),
    param(
        "virtualenv_python",
        &[],
        "Python for `virtualenv -p` (not with `venv`).",
    ),
    param(
        "state",
        &[],
        "`present` (default), `absent`, `latest` or `forcereinstall`.",
    ),
    param("extra_args", &[], "More words for pip (shell-split)."),
    param(
        "editable",
        &[],
        "bool, default no. Pass `-e` (editable installs).",
    ),
    param(
        "chdir",
        &[],
        "Directory pip runs in (default: the host's temporary directory).",
    ),
    param(
        "executable",
        &[],
        "The pip to run (a path, or a name looked up in PATH); not with `virtualenv`.",
    ),
    param("umask", &[], "Octal umask for pip's run (`0022`)."),
    param(
        "break_system_packages",
        &[],
        "bool, default no. Let pip change an externally managed Python (PEP 668).",
    ),
];

#[derive(Debug, Deserialize)]
pub struct Args {
    #[serde(default, deserialize_with = "args::list")]
    name: Vec<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    version: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    requirements: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    virtualenv: Option<String>,
    #[serde(default, deserialize_with = "args::boolean")]
    virtualenv_site_packages: bool,
    #[serde(default, deserialize_with = "args::opt_text")]
    virtualenv_command: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    virtualenv_python: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    state: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    extra_args: Option<String>,
    #[serde(default, deserialize_with = "args::boolean")]
    editable: bool,
    #[serde(default, deserialize_with = "args::opt_text")]
    chdir: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    executable: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    umask: Option<String>,
    #[serde(default, deserialize_with = "args::boolean")]
    break_system_packages: bool,
}

pub struct Pip;

impl Module for Pip {
    type Args = Args;

    fn check(a: &Args) -> Result<(), String> {
        match a.state.as_deref() {
            None | Some("present" | "absent" | "latest" | "forcereinstall") => {}
            Some(s) => {
                return Err(format!(
                    "value of state must be one of: present, absent, latest, forcereinstall, got: {s}"
                ));
            }
        }
        if a.name.is_empty() && a.requirements.is_none() {
            return Err("one of the following is required: name, requirements".into());
        }
        if !a.name.is_empty() && a.requirements.is_some() {
            return Err("parameters are mutually exclusive: name|requirements".into());
        }
        if a.executable.is_some() && a.virtualenv.is_some() {
            return Err("parameters are mutually exclusive: executable|virtualenv".into());
        }
        Ok(())
    }

    fn plan(a: Args, ctx: &ModuleCtx<'_>) -> Result<Plan, String> {
        let state = a.state.clone().unwrap_or_else(|| "present".into());
        let fail = |m: &str| Ok(Plan::Done(ModuleResult::failed(m)));
        let umask = match &a.umask {
            Some(u) => match u32::from_str_radix(u, 8) {
                Ok(n) if n <= 0o777 => Some(format!("{n:03o}")),
                _ => {
                    let mut r = ModuleResult::failed("umask must be an octal integer");
                    r.data.insert(
                        "details".into(),
                        Value::from(format!("invalid literal for int() with base 8: '{u}'")),
                    );
                    return Ok(Plan::Done(r));
                }
            },
            None => None,
        };
        if state == "latest" && a.version.is_some() {
            return fail("version is incompatible with state=latest");
        }
        let packages: Vec<Package> = recover_names(&a.name)
            .iter()
            .map(|n| Package::new(n, None))
            .collect();
        let mut packages = packages;
        if let Some(v) = &a.version {
            if packages.len() > 1 {
                return fail(
                    "'version' argument is ambiguous when installing multiple package distributions. Please specify version restrictions next to each package in 'name' argument.",
                );
            }
            if let Some(p) = packages.first_mut() {
                if p.has_specifier() {
                    return fail(
                        "The 'version' argument conflicts with any version specifier provided along with a package name. Please keep the version specifier, but remove the 'version' argument.",
                    );
                }
                *p = Package::new(&p.to_string(), Some(v));
            }
        }
        let has_vcs = a.name.iter().any(|n| is_vcs_url(n));
        let mut extra = a.extra_args.clone();
        if a.editable {
            let mut words: Vec<String> = extra
                .as_deref()
                .map(|e| e.split(' ').map(str::to_string).collect())
                .unwrap_or_default();
            if !words.iter().any(|w| w == "-e") {
                words.push("-e".into());
                extra = Some(words.join(" "));
            }
        }
        let extra_words: Vec<String> = match &extra {
            Some(e) => shlex::split(e).ok_or_else(|| format!("extra_args: cannot split {e}"))?,
            None => Vec::new(),
        };
        let state_words: &[&str] = match state.as_str() {
            "absent" => &["uninstall", "-y"],
            "latest" => &["install", "-U"],
            "forcereinstall" => &["install", "-U", "--force-reinstall"],
            _ => &["install"],
        };
        let mut tail: Vec<String> = state_words.iter().map(|s| s.to_string()).collect();
        tail.extend(extra_words);
        if !packages.is_empty() {
            tail.extend(packages.iter().map(Package::to_string));
        } else if let Some(r) = &a.requirements {
            tail.push("-r".into());
            tail.push(r.clone());
        }
        let python = ctx
            .vars
            .get("ansible_python_interpreter")
            .and_then(Value::as_str)
            .filter(|p| !p.starts_with("auto"))
            .map(str::to_string);
        let check = ctx.check_mode;
        // Check mode decides without pip when ansible-core does.
        let quick_check = check
            && (extra.is_some()
                || a.requirements.is_some()
                || state == "latest"
                || packages.is_empty());
        let venv_cmd = a
            .virtualenv_command
            .clone()
            .unwrap_or_else(|| "virtualenv".into());
        let venv_words = shlex::split(&venv_cmd)
            .filter(|w| !w.is_empty())
            .ok_or_else(|| format!("virtualenv_command: cannot split {venv_cmd}"))?;
        let is_venv = is_venv_command(&venv_words);
        let mut s = String::new();
        let var = |s: &mut String, k: &str, v: &str| s.push_str(&format!("{k}={}\n", quote(v)));
        var(&mut s, "check", if check { "1" } else { "0" });
        var(&mut s, "quick_check", if quick_check { "1" } else { "0" });
        var(&mut s, "chdir", a.chdir.as_deref().unwrap_or(""));
        var(&mut s, "env", a.virtualenv.as_deref().unwrap_or(""));
        var(&mut s, "executable", a.executable.as_deref().unwrap_or(""));
        var(&mut s, "python", python.as_deref().unwrap_or(""));
        var(&mut s, "umask_v", umask.as_deref().unwrap_or(""));
        var(
            &mut s,
            "bsp",
            if a.break_system_packages { "1" } else { "" },
        );
        var(
            &mut s,
            "freeze_around",
            if a.requirements.is_some() || has_vcs {
                "1"
            } else {
                ""
            },
        );
        var(&mut s, "state", &state);
        var(
            &mut s,
            "site_packages",
            if a.virtualenv_site_packages { "1" } else { "" },
        );
        var(&mut s, "is_venv", if is_venv { "1" } else { "" });
        var(
            &mut s,
            "venv_python",
            a.virtualenv_python.as_deref().unwrap_or(""),
        );
        s.push_str(&format!(
            "set -- {}\n",
            venv_words
                .iter()
                .map(|w| quote(w))
                .collect::<Vec<_>>()
                .join(" ")
        ));
        s.push_str(&format!(
            "tail_words={}\n",
            quote(&tail.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" "))
        ));
        s.push_str(SCRIPT);
        let names = a.name.clone();
        let (version, requirements) = (a.version.clone(), a.requirements.clone());
        Ok(Plan::remote(s, None, move |out| {
            let rep = write::report(&out);
            let text = |k: &str| write::report_text(&rep, k);
            let (stdout, stderr) = (text("out_b64"), text("err_b64"));
            if let Some(e) = rep.get("error") {
                return ModuleResult::failed(e.clone());
            }
            let words = |k: &str| -> Vec<Value> {
                text(k)
                    .split('\n')
                    .filter(|w| !w.is_empty())
                    .map(Value::from)
                    .collect()
            };
            if rep.contains_key("fail") {
                let mut r = ModuleResult::failed(pip_failure_msg(&stdout, &stderr));
                r.data
                    .insert("cmd".into(), Value::Array(words("fail_cmd_b64")));
                return r;
            }
            if out.rc != Some(0) {
                return write::script_failure(&out, &rep);
            }
            if rep.contains_key("just_changed") {
                return ModuleResult {
                    changed: true,
                    ..ModuleResult::ok()
                };
            }
            let mut r = ModuleResult::ok();
            if check {
                let listed = text("list_b64");
                let pkgs: Vec<&str> = listed
                    .split('\n')
                    .filter(|p| {
                        !p.is_empty()
                            && !p.starts_with("You are using")
                            && !p.starts_with("You should consider")
                    })
                    .collect();
                r.changed = packages.iter().any(|p| {
                    let present = p.is_present(&pkgs);
                    (state == "present" && !present) || (state == "absent" && present)
                });
                r.data.insert(
                    "cmd".into(),
                    Value::from(rep.get("list_cmd").cloned().unwrap_or_default()),
                );
                outputs(&mut r, format!("{stdout}{listed}"), stderr);
                return r;
            }
            let pip_out = text("pip_out_b64");
            r.changed = rep.contains_key("venv_created")
                || match rep.get("freeze_changed") {
                    Some(v) => v == "1",
                    None if state == "absent" => pip_out.contains("Successfully uninstalled"),
                    None => pip_out.contains("Successfully installed"),
                };
            r.data.insert("cmd".into(), Value::Array(words("cmd_b64")));
            r.data.insert(
                "name".into(),
                if names.is_empty() {
                    Value::Null
                } else {
                    Value::Array(names.iter().map(|n| Value::from(n.as_str())).collect())
                },
            );
            r.data.insert("version".into(), opt(&version));
            r.data.insert("state".into(), Value::from(state.as_str()));
            r.data.insert("requirements".into(), opt(&requirements));
            r.data.insert(
                "virtualenv".into(),
                rep.get("env")
                    .filter(|e| !e.is_empty())
                    .map_or(Value::Null, |e| Value::from(e.as_str())),
            );
            outputs(&mut r, stdout, stderr);
            r
        }))
    }
}

/// `stdout`/`stderr` with the `_lines` ansible-core adds beside them.
fn outputs(r: &mut ModuleResult, stdout: String, stderr: String) {
    let lines = |s: &str| Value::Array(s.lines().map(Value::from).collect());
    r.data.insert("stdout_lines".into(), lines(&stdout));
    r.data.insert("stderr_lines".into(), lines(&stderr));
    r.data.insert("stdout".into(), Value::from(stdout));
    r.data.insert("stderr".into(), Value::from(stderr));
}

fn opt(v: &Option<String>) -> Value {
    v.as_deref().map_or(Value::Null, Value::from)
}

/// ansible-core's `_fail`: pip's output as the message.
fn pip_failure_msg(out: &str, err: &str) -> String {
    let mut msg = String::new();
    if !out.is_empty() {
        msg.push_str(&format!("stdout: {out}"));
    }
    if !err.is_empty() {
        msg.push_str(&format!("\n:stderr: {err}"));
    }
    msg
}

/// The host side. Set before it: check, quick_check, chdir, env, executable, python,
/// umask_v, bsp, freeze_around, state, site_packages, is_venv, venv_python, the virtualenv
/// command as "$@" (venv_n words), and tail_words (pip's arguments after pip, quoted).
const SCRIPT: &str = r#"b64() { base64 -w0; }
out_f=$(mktemp) && err_f=$(mktemp) || exit 1
trap 'rm -f "$out_f" "$err_f" "$out_f.2" "$err_f.2"' EXIT
words_b64() { for w in "$@"; do printf '%s\n' "$w"; done | b64; }
fail_with() { echo fail=1; printf 'fail_cmd_b64='; words_b64 "$@"; echo; printf 'out_b64='; b64 < "$out_f"; echo; printf 'err_b64='; b64 < "$err_f"; echo; exit 0; }
if [ -n "$chdir" ]; then case "$env" in ''|/*) ;; *) env="$chdir/$env" ;; esac
else chdir=${TMPDIR:-/tmp}; fi
echo "env=$env"
if [ -z "$python" ]; then
  if [ -x /usr/bin/python3 ]; then python=/usr/bin/python3; else python=$(command -v python3 || true); fi
fi
if [ -n "$env" ] && [ ! -e "$env/bin/activate" ]; then
  if [ "$check" = 1 ]; then echo just_changed=1; exit 0; fi
  c=$1
  case "$c" in
    */*) ;;
    *) p=$(command -v "$c") || { echo "error=Failed to find required executable \"$c\" in paths: $PATH"; exit 0; }; shift; set -- "$p" "$@" ;;
  esac
  if [ -n "$site_packages" ]; then set -- "$@" --system-site-packages
  elif "$1" --help 2>/dev/null | tr ' ' '\n' | grep -qx -- '--no-site-packages'; then set -- "$@" --no-site-packages; fi
  if [ -z "$is_venv" ]; then
    if [ -n "$venv_python" ]; then set -- "$@" "-p$venv_python"; else set -- "$@" "-p$python"; fi
  elif [ -n "$venv_python" ]; then
    echo 'error=virtualenv_python should not be used when using the venv module or pyvenv as virtualenv_command'; exit 0
  fi
  set -- "$@" "$env"
  ( cd "$chdir" && "$@" ) >"$out_f" 2>"$err_f" || fail_with "$@"
  echo venv_created=1
fi
# pip: the given executable, the virtualenv's, the interpreter's module, or pip3.
if [ -n "$executable" ]; then
  case "$executable" in
    /*) set -- "$executable" ;;
    *) p=$(command -v "$executable") || { echo "error=Unable to find any of $executable to use.  pip needs to be installed."; exit 0; }; set -- "$p" ;;
  esac
elif [ -n "$env" ]; then
  if [ -x "$env/bin/pip3" ]; then set -- "$env/bin/pip3"
  elif [ -x "$env/bin/pip" ]; then set -- "$env/bin/pip"
  else echo "error=Unable to find pip in the virtualenv, $env, under any of these names: pip3, pip. Make sure pip is present in the virtualenv."; exit 0; fi
elif [ -n "$python" ] && "$python" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("pip") is None)' 2>/dev/null; then
  set -- "$python" -m pip
else
  p=$(command -v pip3) || { echo "error=Unable to find any of pip3 to use.  pip needs to be installed."; exit 0; }
  set -- "$p"
fi
cd "$chdir" || exit 1
[ -n "$umask_v" ] && umask "$umask_v"
[ -n "$bsp" ] && export PIP_BREAK_SYSTEM_PACKAGES=1
[ -n "$env" ] && PATH="$env/bin:$PATH"
list() {
  l="$* list --format=freeze"
  if LANG=C.UTF-8 LC_ALL=C.UTF-8 LC_MESSAGES=C.UTF-8 "$@" list --format=freeze >"$out_f.2" 2>"$err_f.2"; then :; else
    l="$* freeze"; "$@" freeze >"$out_f.2" 2>"$err_f.2" || { cat "$out_f.2" >>"$out_f"; cat "$err_f.2" >>"$err_f"; fail_with "$@" freeze; }
  fi
}
if [ "$check" = 1 ]; then
  if [ "$quick_check" = 1 ]; then echo just_changed=1; exit 0; fi
  list "$@"
  echo "list_cmd=$l"
  printf 'list_b64='; b64 < "$out_f.2"; echo
  cat "$err_f.2" >>"$err_f"
  printf 'out_b64='; b64 < "$out_f"; echo; printf 'err_b64='; b64 < "$err_f"; echo
  exit 0
fi
if [ -n "$freeze_around" ]; then list "$@"; before=$(cat "$out_f.2"); fi
eval "\"\$@\" $tail_words" >"$out_f.2" 2>"$err_f.2"; rc=$?
printf 'pip_out_b64='; b64 < "$out_f.2"; echo
cat "$out_f.2" >>"$out_f"; cat "$err_f.2" >>"$err_f"
printf 'cmd_b64='; eval "words_b64 \"\$@\" $tail_words"; echo
if [ $rc = 1 ] && [ "$state" = absent ] && grep -q 'not installed' "$out_f.2" "$err_f.2"; then :
elif [ $rc != 0 ]; then eval "fail_with \"\$@\" $tail_words"; fi
if [ -n "$freeze_around" ]; then
  list "$@"
  after=$(cat "$out_f.2")
  if [ "$before" = "$after" ]; then echo freeze_changed=0; else echo freeze_changed=1; fi
fi
printf 'out_b64='; b64 < "$out_f"; echo; printf 'err_b64='; b64 < "$err_f"; echo
"#;

/// A VCS URL (`git+https://...`), which pip installs editable.
fn is_vcs_url(name: &str) -> bool {
    ["svn+", "git+", "hg+", "bzr+"]
        .iter()
        .any(|p| name.trim_start().starts_with(p))
}

/// ansible-core's `_is_venv_command`: `pyvenv`, or a command run with `-m venv`.
fn is_venv_command(words: &[String]) -> bool {
    if words.first().is_some_and(|w| w == "pyvenv") {
        return true;
    }
    let mut it = words.iter().skip(1);
    while let Some(w) = it.next() {
        if w == "-m" {
            return it.next().is_some_and(|m| m == "venv");
        }
        if let Some(m) = w.strip_prefix("-m") {
            return m.trim_start_matches('=') == "venv";
        }
    }
    false
}

const OPERATORS: &[&str] = &["<", ">", "=", "!", "~"];

/// ansible-core's `_recover_package_name`: names and version specifiers split on commas and
/// put back together (`['django>1.1', '<1.2', 'x']` → `['django>1.1,<1.2', 'x']`).
fn recover_names(names: &[String]) -> Vec<String> {
    if names.is_empty() {
        return Vec::new();
    }
    let parts: Vec<&str> = names.iter().flat_map(|n| n.split(',')).collect();
    let mut out = Vec::new();
    let mut cur: Vec<&str> = Vec::new();
    let mut in_brackets = false;
    for p in parts {
        let is_name = !OPERATORS.iter().any(|o| p.trim_start().starts_with(o));
        if is_name && !in_brackets && !cur.is_empty() {
            out.push(cur.join(","));
            cur.clear();
        }
        if p.contains('[') {
            in_brackets = true;
        }
        if in_brackets && p.contains(']') {
            in_brackets = false;
        }
        cur.push(p);
    }
    if !cur.is_empty() || out.is_empty() {
        out.push(cur.join(","));
    }
    out
}

/// A requirement as ansible-core's `Package` holds it: parsed when it is a plain
/// `name[extras] specifiers ; marker`, kept as written otherwise (URLs, paths).
struct Package {
    raw: String,
    /// Canonical name (PEP 503).
    name: String,
    extras: Vec<String>,
    /// Each specifier as written (`>=1.0`), and parsed.
    specs: Vec<(String, pep440_rs::VersionSpecifier)>,
    marker: Option<String>,
    plain: bool,
}

impl Package {
    fn new(name: &str, version: Option<&str>) -> Package {
        let mut text = name.to_string();
        if let Some(v) = version {
            let v = v.trim_start();
            let sep = if v.starts_with(|c: char| c.is_ascii_digit()) {
                "=="
            } else {
                " "
            };
            text = format!("{name}{sep}{v}");
        }
        parse_requirement(&text).unwrap_or(Package {
            raw: text.clone(),
            name: text,
            extras: Vec::new(),
            specs: Vec::new(),
            marker: None,
            plain: false,
        })
    }

    fn has_specifier(&self) -> bool {
        self.plain && !self.specs.is_empty()
    }

    /// ansible-core's `_is_present`: a `name==version` line of pip's list satisfies it.
    fn is_present(&self, installed: &[&str]) -> bool {
        installed.iter().any(|line| {
            let Some((n, v)) = line.split_once("==") else {
                return false;
            };
            if canonical(n) != self.name || !self.plain {
                return false;
            }
            let Ok(version) = pep440_rs::Version::from_str(v.trim()) else {
                return false;
            };
            self.specs.iter().all(|(_, s)| s.contains(&version))
        })
    }
}

impl std::fmt::Display for Package {
    /// As `packaging`'s Requirement prints it: extras and specifiers sorted, no spaces.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.plain {
            return f.write_str(&self.raw);
        }
        f.write_str(&self.raw)?;
        if !self.extras.is_empty() {
            let mut e = self.extras.clone();
            e.sort();
            write!(f, "[{}]", e.join(","))?;
        }
        let mut specs: Vec<&str> = self.specs.iter().map(|(s, _)| s.as_str()).collect();
        specs.sort_unstable();
        f.write_str(&specs.join(","))?;
        if let Some(m) = &self.marker {
            write!(f, "; {m}")?;
        }
        Ok(())
    }
}

/// PEP 503's name form.
fn canonical(name: &str) -> String {
    let mut out = String::new();
    let mut sep = false;
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
            continue;
        }
        if sep && !out.is_empty() {
            out.push('-');
        }
        sep = false;
        out.extend(c.to_lowercase());
    }
    out
}

/// `name [extras] specifiers ; marker`; `None` for anything else (a URL, a path, `name @ url`).
fn parse_requirement(text: &str) -> Option<Package> {
    let (body, marker) = match text.split_once(';') {
        Some((b, m)) => (b, Some(m.trim().to_string())),
        None => (text, None),
    };
    let body = body.trim();
    let name_end = body
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(body.len());
    let name = &body[..name_end];
    if name.is_empty()
        || !name.starts_with(|c: char| c.is_ascii_alphanumeric())
        || !name.ends_with(|c: char| c.is_ascii_alphanumeric())
    {
        return None;
    }
    let mut rest = body[name_end..].trim_start();
    let mut extras = Vec::new();
    if let Some(r) = rest.strip_prefix('[') {
        let (inner, after) = r.split_once(']')?;
        extras = inner
            .split(',')
            .map(|e| e.trim().to_string())
            .filter(|e| !e.is_empty())
            .collect();
        rest = after.trim_start();
    }
    if rest.starts_with('@') {
        return None;
    }
    let rest = rest.trim_start_matches('(').trim_end_matches(')');
    let mut specs = Vec::new();
    for s in rest.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        let parsed = pep440_rs::VersionSpecifier::from_str(&compact).ok()?;
        specs.push((compact, parsed));
    }
    Some(Package {
        raw: name.to_string(),
        name: canonical(name),
        extras,
        specs,
        marker,
        plain: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_put_back_together_as_ansible_core_does() {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            recover_names(&v(&[
                "django>1.11.1",
                "<1.11.3",
                "ipaddress",
                "simpleproject>1.1.0",
                "<2.0.0"
            ])),
            v(&[
                "django>1.11.1,<1.11.3",
                "ipaddress",
                "simpleproject>1.1.0,<2.0.0"
            ])
        );
        assert_eq!(
            recover_names(&v(&["req[a,b]>1", "x"])),
            v(&["req[a,b]>1", "x"])
        );
    }

    #[test]
    fn requirements_print_as_packaging_prints_them() {
        assert_eq!(
            Package::new("Django >= 1.0, < 2", None).to_string(),
            "Django<2,>=1.0"
        );
        assert_eq!(
            Package::new("foo[b,a]", Some("1.2")).to_string(),
            "foo[a,b]==1.2"
        );
        assert_eq!(
            Package::new("foo", Some(">=1, <3")).to_string(),
            "foo<3,>=1"
        );
        assert!(!Package::new("git+https://x/y.git", None).plain);
        assert!(Package::new("x<2", None).has_specifier());
        let p = Package::new("My_Pkg>=1.0", None);
        assert!(p.is_present(&["my-pkg==1.5"]));
        assert!(!p.is_present(&["my-pkg==0.9"]));
        assert!(Package::new("my.pkg", None).is_present(&["My-Pkg==3"]));
    }

    #[test]
    fn venv_commands() {
        let w = |s: &str| shlex::split(s).unwrap_or_default();
        assert!(is_venv_command(&w("python3 -m venv")));
        assert!(is_venv_command(&w("pyvenv")));
        assert!(!is_venv_command(&w("virtualenv")));
        assert!(!is_venv_command(&w("python3 -m virtualenv")));
    }
}
