//! `service`: start, stop, restart or reload a service, and enable or disable it at boot,
//! through the host's init: systemd when it runs the host, otherwise the init.d script run
//! by `service` (sysvinit), with `update-rc.d` or `chkconfig` for boot links — one script,
//! one round trip, the way ansible-core's `service` module decides.

use serde::Deserialize;
use serde_json::Value;

use super::args::{self, Param, param};
use super::registry::Spec;
use super::write::{report, script_failure};
use super::{Module, ModuleCtx, ModuleResult, Plan};
use crate::connection::quote;

pub static SPEC: Spec = Spec {
    name: "service",
    summary: "Start, stop, restart or reload a service and enable or disable it at boot (systemd, or init.d scripts through `service`).",
    params: PARAMS,
    ..Spec::host::<Service>()
};

const PARAMS: &[Param] = &[
    param(
        "name",
        &[],
        "Required. The service (its init.d script or systemd unit).",
    ),
    param(
        "state",
        &[],
        "`started`, `stopped`, `restarted` or `reloaded` (a stopped service is started).",
    ),
    param("enabled", &[], "bool. Start at boot or not."),
    param(
        "arguments",
        &["args"],
        "Extra words given to the init script's command.",
    ),
    param(
        "pattern",
        &[],
        "Decide whether the service runs by looking for this text in the process list instead of asking the init script.",
    ),
    param(
        "sleep",
        &[],
        "Seconds to wait between stop and start when restarting.",
    ),
    param(
        "use",
        &[],
        "`auto` (default: systemd when it runs the host, else init.d scripts), `systemd`, `sysvinit` or `service`.",
    ),
];

#[derive(Debug, Deserialize)]
pub struct Args {
    #[serde(deserialize_with = "args::text")]
    name: String,
    #[serde(default, deserialize_with = "args::opt_text")]
    state: Option<String>,
    #[serde(default, deserialize_with = "args::opt_boolean")]
    enabled: Option<bool>,
    #[serde(default, alias = "args", deserialize_with = "args::opt_text")]
    arguments: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    pattern: Option<String>,
    #[serde(default, deserialize_with = "args::opt_seconds")]
    sleep: Option<std::time::Duration>,
    #[serde(default, rename = "use", deserialize_with = "args::opt_text")]
    use_: Option<String>,
}

pub struct Service;

impl Module for Service {
    type Args = Args;

    fn check(a: &Args) -> Result<(), String> {
        if a.state.is_none() && a.enabled.is_none() {
            return Err("one of the following is required: state, enabled".into());
        }
        if let Some(s) = &a.state
            && !matches!(s.as_str(), "started" | "stopped" | "restarted" | "reloaded")
        {
            return Err(format!(
                "value of state must be one of: started, stopped, reloaded, restarted, got: {s}"
            ));
        }
        match a.use_.as_deref() {
            None | Some("auto" | "systemd" | "sysvinit" | "service") => Ok(()),
            Some(other) => Err(format!(
                "use '{other}' is not supported by olympus yet (auto, systemd, sysvinit, service)"
            )),
        }
    }

    fn plan(a: Args, ctx: &ModuleCtx<'_>) -> Result<Plan, String> {
        let script = script(&a, ctx.check_mode);
        let (name, state, enabled) = (a.name, a.state, a.enabled);
        Ok(Plan::remote(script, None, move |out| {
            let rep = report(&out);
            if out.rc != Some(0) || rep.contains_key("error") {
                return script_failure(&out, &rep);
            }
            finish(&name, state.as_deref(), enabled, &rep)
        }))
    }
}

/// The result as ansible-core's `service` module reports it.
fn finish(
    name: &str,
    state: Option<&str>,
    enabled: Option<bool>,
    rep: &std::collections::HashMap<String, String>,
) -> ModuleResult {
    let flag = |k: &str| rep.get(k).map(String::as_str) == Some("1");
    let mut r = ModuleResult::ok();
    r.changed = flag("svc_change") || flag("en_change");
    if flag("check_exit") {
        r.msg = Some("service state changed".into());
        return r;
    }
    r.data.insert("name".into(), Value::from(name));
    if let Some(e) = enabled {
        r.data.insert("enabled".into(), Value::Bool(e));
    }
    if let Some(s) = state {
        let shown = if s == "stopped" { "stopped" } else { "started" };
        r.data.insert("state".into(), Value::from(shown));
    }
    r
}

/// Detects the init, reads the service's state, changes what differs (unless checking) and
/// reports `svc_change`/`en_change` (and `check_exit` when check mode stops early).
fn script(a: &Args, check: bool) -> String {
    let mut s = format!(
        "n={}\nargs={}\ncheck={}\nwant_state={}\nwant_enabled={}\npattern={}\nsleep_s={}\nuse={}\n",
        quote(&a.name),
        quote(a.arguments.as_deref().unwrap_or("")),
        u8::from(check),
        quote(a.state.as_deref().unwrap_or("")),
        match a.enabled {
            Some(true) => "1",
            Some(false) => "0",
            None => "",
        },
        quote(a.pattern.as_deref().unwrap_or("")),
        a.sleep.map_or(0, |d| d.as_secs()),
        quote(a.use_.as_deref().unwrap_or("auto")),
    );
    s.push_str(SCRIPT);
    s
}

const SCRIPT: &str = r#"
mgr=sysv
if [ "$use" = systemd ] || { [ "$use" = auto ] && command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; }; then mgr=systemd; fi
if [ $mgr = systemd ]; then
  if [ "$(systemctl show -p LoadState --value -- "$n.service" 2>/dev/null)" = not-found ]; then
    echo "error=Could not find the requested service $n: host"; exit 3
  fi
  ctl() { systemctl "$1" -- "$n"; }
  is_running() { systemctl is-active --quiet -- "$n"; }
  is_enabled() { systemctl is-enabled --quiet -- "$n" 2>/dev/null; }
  set_enabled() { if [ "$1" = 1 ]; then systemctl enable -- "$n"; else systemctl disable -- "$n"; fi; }
else
  if [ ! -x "/etc/init.d/$n" ]; then echo "error=Could not find the requested service $n: host"; exit 3; fi
  ctl() { if command -v service >/dev/null 2>&1; then service "$n" "$1" $args; else "/etc/init.d/$n" "$1" $args; fi; }
  is_running() { ctl status >/dev/null 2>&1; }
  is_enabled() {
    if command -v update-rc.d >/dev/null 2>&1; then
      for f in /etc/rc?.d/S??"$n"; do [ -e "$f" ] && return 0; done; return 1
    elif command -v chkconfig >/dev/null 2>&1; then
      chkconfig --list "$n" 2>/dev/null | grep -q ':on'
    else
      for f in /etc/rc?.d/S??"$n"; do [ -e "$f" ] && return 0; done; return 1
    fi
  }
  set_enabled() {
    if command -v update-rc.d >/dev/null 2>&1; then
      if [ "$1" = 1 ]; then
        k=0; for f in /etc/rc?.d/K??"$n"; do [ -e "$f" ] && k=1; done
        if [ $k = 0 ]; then update-rc.d "$n" defaults >&2 || return 1; fi
        update-rc.d "$n" enable >&2
      else
        update-rc.d "$n" disable >&2
      fi
    elif command -v chkconfig >/dev/null 2>&1; then
      if [ "$1" = 1 ]; then chkconfig "$n" on; else chkconfig "$n" off; fi
    else
      echo "error=no update-rc.d or chkconfig on the host to enable $n"; exit 3
    fi
  }
fi
if [ -n "$pattern" ]; then is_running() { ps -eo args= | grep -F -- "$pattern" | grep -v -q -F -e 'grep -F' -e "pattern="; }; fi
if [ -n "$want_enabled" ]; then
  if is_enabled; then en=1; else en=0; fi
  if [ "$en" != "$want_enabled" ]; then
    echo en_change=1
    if [ "$check" = 0 ]; then set_enabled "$want_enabled" || { echo "error=could not change whether $n starts at boot"; exit 3; }; fi
  fi
fi
[ -n "$want_state" ] || exit 0
if is_running; then run=1; else run=0; fi
action=
case "$want_state" in
  started) [ $run = 1 ] || action=start ;;
  stopped) [ $run = 0 ] || action=stop ;;
  reloaded) if [ $run = 1 ]; then action=reload; else action=start; fi ;;
  restarted) action=restart ;;
esac
[ -n "$action" ] || exit 0
echo svc_change=1
if [ "$check" = 1 ]; then echo check_exit=1; exit 0; fi
if [ "$action" = restart ] && [ "$sleep_s" != 0 ]; then
  ctl stop >&2 || true; sleep "$sleep_s"; action=start
fi
out=$(ctl "$action" 2>&1) || { printf 'error=%s\n' "$(printf '%s' "$out" | tr '\n' ' ')"; exit 3; }
exit 0
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_is_valid_sh() {
        let a = Args {
            name: "x".into(),
            state: Some("started".into()),
            enabled: Some(true),
            arguments: None,
            pattern: None,
            sleep: None,
            use_: None,
        };
        let out = std::process::Command::new("sh")
            .arg("-n")
            .arg("-c")
            .arg(script(&a, true))
            .output()
            .expect("sh");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
