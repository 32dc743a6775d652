//! `apt`: Debian packages present, absent or at their latest version, the package cache
//! updated (or only when older than `cache_valid_time`), `.deb` files installed — with
//! `apt-get`, `apt-cache`, `dpkg` and `dpkg-query` (no python-apt on the host), one round
//! trip, as ansible-core's `apt` module decides and reports.

use serde::Deserialize;
use serde_json::Value;

use super::args::{self, Param, param};
use super::command::{self, Shown};
use super::registry::Spec;
use super::{Module, ModuleCtx, ModuleResult, Plan};
use crate::connection::quote;

pub static SPEC: Spec = Spec {
    name: "apt",
    summary: "Install, upgrade or remove Debian packages with apt-get, update the package cache, install .deb files.",
    params: PARAMS,
    ..Spec::host::<Apt>()
};

const PARAMS: &[Param] = &[
    param(
        "name",
        &["package", "pkg"],
        "Package names (a list, or comma-separated); `name=version` pins a version.",
    ),
    param("state", &[], "`present` (default), `latest` or `absent`."),
    param(
        "update_cache",
        &["update-cache"],
        "bool. Run `apt-get update` first (or alone).",
    ),
    param(
        "cache_valid_time",
        &[],
        "Seconds: update the cache only when it is older than this (implies `update_cache`).",
    ),
    param("deb", &[], "Path on the host of a `.deb` file to install."),
    param(
        "install_recommends",
        &["install-recommends"],
        "bool. Install recommended packages too (default: apt's own setting).",
    ),
    param("autoremove", &[], "bool. Remove packages no longer needed."),
    param(
        "purge",
        &[],
        "bool. With `absent`, remove configuration files too.",
    ),
];

#[derive(Debug, Deserialize)]
pub struct Args {
    #[serde(
        default,
        alias = "package",
        alias = "pkg",
        deserialize_with = "args::list"
    )]
    pub(super) name: Vec<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    pub(super) state: Option<String>,
    #[serde(default, alias = "update-cache", deserialize_with = "args::boolean")]
    update_cache: bool,
    #[serde(default, deserialize_with = "args::opt_seconds")]
    cache_valid_time: Option<std::time::Duration>,
    #[serde(default, deserialize_with = "args::opt_text")]
    deb: Option<String>,
    #[serde(
        default,
        alias = "install-recommends",
        deserialize_with = "args::opt_boolean"
    )]
    install_recommends: Option<bool>,
    #[serde(default, deserialize_with = "args::boolean")]
    autoremove: bool,
    #[serde(default, deserialize_with = "args::boolean")]
    purge: bool,
}

impl Args {
    /// `package`'s arguments on an apt host.
    pub(super) fn packages(name: Vec<String>, state: Option<String>) -> Args {
        Args {
            name,
            state,
            update_cache: false,
            cache_valid_time: None,
            deb: None,
            install_recommends: None,
            autoremove: false,
            purge: false,
        }
    }
}

pub struct Apt;

impl Module for Apt {
    type Args = Args;

    fn check(a: &Args) -> Result<(), String> {
        match a.state.as_deref() {
            None | Some("present" | "installed" | "latest" | "absent" | "removed") => {}
            Some(s) => {
                return Err(format!(
                    "state '{s}' is not supported by olympus yet (present, latest, absent)"
                ));
            }
        }
        if a.name.is_empty()
            && a.deb.is_none()
            && !a.update_cache
            && a.cache_valid_time.is_none()
            && !a.autoremove
        {
            return Err(
                "one of the following is required: name, deb, update_cache, autoremove".into(),
            );
        }
        if a.name.iter().any(|n| n.is_empty() || n.starts_with('-')) {
            return Err("a package name cannot be empty or start with '-'".into());
        }
        Ok(())
    }

    fn plan(a: Args, ctx: &ModuleCtx<'_>) -> Result<Plan, String> {
        Ok(plan(a, ctx.check_mode))
    }
}

pub(super) fn plan(a: Args, check: bool) -> Plan {
    let state = match a.state.as_deref() {
        Some("absent" | "removed") => "absent",
        Some("latest") => "latest",
        _ => "present",
    };
    let recommends = match a.install_recommends {
        Some(true) => "--install-recommends",
        Some(false) => "--no-install-recommends",
        None => "",
    };
    let names: Vec<String> = a.name.iter().map(|n| quote(n)).collect();
    let valid = a.cache_valid_time.map_or(0, |d| d.as_secs());
    let update = a.update_cache || a.cache_valid_time.is_some();
    let script = format!(
        "check={}\nstate={state}\nupdate={}\nvalid={valid}\nrecs={recommends}\npurge={}\nautoremove={}\ndeb={}\nset -- {}\n{SCRIPT}",
        u8::from(check),
        u8::from(update),
        u8::from(a.purge),
        u8::from(a.autoremove),
        quote(a.deb.as_deref().unwrap_or("")),
        names.join(" "),
    );
    let reports_cache = state != "absent" && a.deb.is_none();
    Plan::remote(script, None, move |out| {
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        // The report is what comes before apt-get's own output.
        let head = text.split("__APT_OUTPUT__\n").next().unwrap_or("");
        let rep: std::collections::HashMap<String, String> = head
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if out.rc != Some(0) || rep.contains_key("error") {
            let msg = rep
                .get("error")
                .cloned()
                .unwrap_or_else(|| String::from_utf8_lossy(&out.stderr).trim().to_string());
            return ModuleResult::failed(msg);
        }
        let mut r = ModuleResult::ok();
        let flag = |k: &str| rep.get(k).map(String::as_str) == Some("1");
        let cache_updated = flag("cache_updated");
        let cache_time = rep
            .get("cache_update_time")
            .and_then(|t| t.parse::<u64>().ok())
            .map_or(Value::Null, Value::from);
        r.changed = flag("changed") || (cache_updated && !flag("had_work"));
        if !flag("had_work") {
            if update {
                r.data
                    .insert("cache_updated".into(), Value::Bool(cache_updated));
                r.data.insert("cache_update_time".into(), cache_time);
            } else if reports_cache && !r.changed {
                r.data.insert("cache_updated".into(), Value::Bool(false));
                r.data.insert("cache_update_time".into(), cache_time);
            }
            return r;
        }
        if reports_cache {
            r.data
                .insert("cache_updated".into(), Value::Bool(cache_updated));
            r.data.insert("cache_update_time".into(), cache_time);
        }
        if r.changed {
            // apt-get's own output, after the report lines.
            let output = text
                .split_once("__APT_OUTPUT__\n")
                .map(|(_, o)| o.to_string())
                .unwrap_or_default();
            let shown = command::finish(
                crate::connection::ExecOutput {
                    rc: Some(0),
                    stdout: output.into_bytes(),
                    stderr: out.stderr.clone(),
                    ..Default::default()
                },
                &Shown {
                    cmd: None,
                    strip_empty_ends: false,
                },
            );
            for k in ["stdout", "stderr", "stdout_lines", "stderr_lines"] {
                if let Some(v) = shown.data.get(k) {
                    r.data.insert(k.into(), v.clone());
                }
            }
        }
        r
    })
}

/// Reads what is installed and what apt offers, changes what differs (unless checking),
/// and reports `changed`, `had_work`, `cache_updated` and `cache_update_time`.
const SCRIPT: &str = r#"export DEBIAN_FRONTEND=noninteractive LC_ALL=C
cache_time() {
  if [ -e /var/lib/apt/periodic/update-success-stamp ]; then stat -c %Y /var/lib/apt/periodic/update-success-stamp
  elif [ -e /var/lib/apt/lists ]; then stat -c %Y /var/lib/apt/lists; else echo 0; fi
}
err=$(mktemp) || exit 1; out=$(mktemp) || exit 1
trap 'rm -f -- "$err" "$out"' EXIT
cu=0
if [ "$update" = 1 ]; then
  t0=$(cache_time); now=$(date +%s)
  if [ "$valid" = 0 ] || [ $((t0 + valid)) -lt "$now" ]; then
    if [ "$check" = 0 ]; then
      apt-get update -q >/dev/null 2>"$err" || { printf 'error=Failed to update apt cache: %s\n' "$(tr '\n' ' ' < "$err")"; exit 3; }
    fi
    t1=$(cache_time)
    if [ "$check" = 1 ] || [ "$t0" != "$t1" ]; then cu=1; fi
  fi
fi
echo "cache_updated=$cu"; echo "cache_update_time=$(cache_time)"
installed() { dpkg-query -W -f='${db:Status-Abbrev} ${Version}\n' -- "$1" 2>/dev/null | awk '$1 ~ /^.i/ { print $2; exit }'; }
todo=
if [ -n "$deb" ]; then
  echo had_work=1
  [ -f "$deb" ] || { echo "error=Unable to install package: $deb does not exist"; exit 3; }
  p=$(dpkg-deb -f "$deb" Package) && v=$(dpkg-deb -f "$deb" Version) || { echo "error=$deb is not a .deb file"; exit 3; }
  if [ "$(installed "$p")" != "$v" ]; then
    echo changed=1; echo __APT_OUTPUT__
    if [ "$check" = 0 ]; then dpkg --force-confdef --force-confold -i "$deb" || exit 1; fi
  fi
  exit 0
fi
for n in "$@"; do
  echo had_work=1
  name=${n%%=*}; want=; [ "$name" = "$n" ] || want=${n#*=}
  have=$(installed "$name")
  case "$state" in
    absent) [ -z "$have" ] || todo="$todo $name" ;;
    *)
      cand=$(apt-cache policy -- "$name" 2>/dev/null | awk '/Candidate:/ { print $2 }')
      if [ -z "$cand" ] || [ "$cand" = "(none)" ]; then
        if [ -z "$have" ] || [ "$state" = latest ]; then echo "error=No package matching '$name' is available"; exit 3; fi
      fi
      if [ -n "$want" ]; then [ "$have" = "$want" ] || todo="$todo $n"
      elif [ -z "$have" ]; then todo="$todo $n"
      elif [ "$state" = latest ] && [ "$have" != "$cand" ]; then todo="$todo $n"
      fi ;;
  esac
done
[ -n "$todo" ] || [ "$autoremove" = 1 ] || exit 0
if [ -n "$todo" ]; then echo changed=1; fi
echo __APT_OUTPUT__
sim=; [ "$check" = 1 ] && sim=--simulate
if [ -n "$todo" ]; then
  if [ "$state" = absent ]; then
    p=; [ "$purge" = 1 ] && p=--purge
    apt-get remove -y -q $sim $p $todo 2>"$err" || { cat "$err" >&2; exit 1; }
  else
    apt-get install -y -q $sim $recs -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold $todo 2>"$err" || { cat "$err" >&2; exit 1; }
  fi
  cat "$err" >&2
fi
if [ "$autoremove" = 1 ]; then
  apt-get autoremove -y -q $sim > "$out" 2>&1 || { cat "$out" >&2; exit 1; }
  if grep -q '^Remv ' "$out" || grep -q '^Removing ' "$out"; then echo changed=1; fi
  cat "$out"
fi
exit 0
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_is_valid_sh() {
        let Plan::Remote { script, .. } = plan(
            Args::packages(vec!["a".into(), "b=1.0".into()], Some("latest".into())),
            true,
        ) else {
            panic!("a remote plan");
        };
        let out = std::process::Command::new("sh")
            .args(["-n", "-c"])
            .arg(&script)
            .output()
            .expect("sh");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
