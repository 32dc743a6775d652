//! `systemd_service` (and its older name `systemd`): a unit started, stopped, restarted or
//! reloaded, enabled or disabled, masked or unmasked, and the manager reloaded, with the
//! host's `systemctl`, deciding as ansible-core's module does, in one script. The result's
//! `status` is `systemctl show`'s properties.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::args::{self, Param, param};
use super::registry::Spec;
use super::write::report;
use super::{Module, ModuleCtx, ModuleResult, Plan};
use crate::connection::quote;

pub static SPEC: Spec = Spec {
    name: "systemd_service",
    summary: "Control a systemd unit: start, stop, restart, reload, enable, mask, and reload the manager.",
    params: PARAMS,
    routed_from: &["systemd"],
    ..Spec::host::<Systemd>()
};

const PARAMS: &[Param] = &[
    param(
        "name",
        &["service", "unit"],
        "The unit (`.service` may be left out); needed with `state`, `enabled` and `masked`.",
    ),
    param(
        "state",
        &[],
        "`started`, `stopped`, `restarted`, `reloaded` (a stopped unit is started) or `tried-restart` (restarted only when running).",
    ),
    param("enabled", &[], "bool. Start at boot or not."),
    param("masked", &[], "bool. Masked (cannot be started) or not."),
    param(
        "daemon_reload",
        &["daemon-reload"],
        "bool, default no. `systemctl daemon-reload` first (not in check mode).",
    ),
    param(
        "daemon_reexec",
        &["daemon-reexec"],
        "bool, default no. `systemctl daemon-reexec` first (not in check mode).",
    ),
    param(
        "scope",
        &[],
        "`system` (default), `user` (the login user's manager) or `global`.",
    ),
    param(
        "no_block",
        &[],
        "bool, default no. Do not wait for the job to finish.",
    ),
    param(
        "force",
        &[],
        "bool. `systemctl --force` (overwrite conflicting symlinks).",
    ),
];

#[derive(Debug, Deserialize)]
pub struct Args {
    #[serde(
        default,
        alias = "service",
        alias = "unit",
        deserialize_with = "args::opt_text"
    )]
    name: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    state: Option<String>,
    #[serde(default, deserialize_with = "args::opt_boolean")]
    enabled: Option<bool>,
    #[serde(default, deserialize_with = "args::opt_boolean")]
    masked: Option<bool>,
    #[serde(default, alias = "daemon-reload", deserialize_with = "args::boolean")]
    daemon_reload: bool,
    #[serde(default, alias = "daemon-reexec", deserialize_with = "args::boolean")]
    daemon_reexec: bool,
    #[serde(default, deserialize_with = "args::opt_text")]
    scope: Option<String>,
    #[serde(default, deserialize_with = "args::boolean")]
    no_block: bool,
    #[serde(default, deserialize_with = "args::opt_boolean")]
    force: Option<bool>,
}

pub struct Systemd;

impl Module for Systemd {
    type Args = Args;

    fn check(a: &Args) -> Result<(), String> {
        if a.state.is_none()
            && a.enabled.is_none()
            && a.masked.is_none()
            && !a.daemon_reload
            && !a.daemon_reexec
        {
            return Err(
                "one of the following is required: state, enabled, masked, daemon_reload, daemon_reexec"
                    .into(),
            );
        }
        if let Some(s) = &a.state
            && !matches!(
                s.as_str(),
                "reloaded" | "restarted" | "started" | "stopped" | "tried-restart"
            )
        {
            return Err(format!(
                "state must be one of reloaded, restarted, started, stopped, tried-restart; got '{s}'"
            ));
        }
        if let Some(s) = &a.scope
            && !matches!(s.as_str(), "system" | "user" | "global")
        {
            return Err(format!("scope must be system, user or global; got '{s}'"));
        }
        if a.name.is_none() {
            for (set, what) in [
                (a.state.is_some(), "state"),
                (a.enabled.is_some(), "enabled"),
                (a.masked.is_some(), "masked"),
            ] {
                if set {
                    return Err(format!("missing parameter(s) required by '{what}': name"));
                }
            }
        }
        if let Some(n) = &a.name
            && n.contains(['*', '?', '['])
        {
            return Err(format!(
                "This module does not currently support using glob patterns, found in service name: {n}"
            ));
        }
        Ok(())
    }

    fn plan(a: Args, ctx: &ModuleCtx<'_>) -> Result<Plan, String> {
        let mut opts = String::new();
        if let Some(s) = a.scope.as_deref().filter(|s| *s != "system") {
            opts.push_str(&format!(" --{s}"));
        }
        if a.no_block {
            opts.push_str(" --no-block");
        }
        if a.force == Some(true) {
            opts.push_str(" --force");
        }
        let flag = |b: Option<bool>| match b {
            None => "",
            Some(true) => "1",
            Some(false) => "0",
        };
        let script = format!(
            "unit={}\nstate={}\nenabled={}\nmasked={}\nreload={}\nreexec={}\nsystem_scope={}\ncheck={}\nopts='{}'\n{SCRIPT}",
            quote(a.name.as_deref().unwrap_or("")),
            quote(a.state.as_deref().unwrap_or("")),
            flag(a.enabled),
            flag(a.masked),
            u8::from(a.daemon_reload),
            u8::from(a.daemon_reexec),
            u8::from(a.scope.as_deref().unwrap_or("system") == "system"),
            u8::from(ctx.check_mode),
            opts.trim(),
        );
        let name = a.name.clone();
        Ok(Plan::remote(script, None, move |out| finish(name, &out)))
    }
}

/// ansible-core's reading of `systemctl show`: `Key=Value` lines; only `Exec*` values in
/// braces may span lines.
fn parse_show(text: &str) -> Map<String, Value> {
    let mut parsed = Map::new();
    let mut multi: Vec<&str> = Vec::new();
    let mut key: Option<String> = None;
    for line in text.split('\n') {
        match &key {
            None => {
                let Some((k, v)) = line.split_once('=') else {
                    continue;
                };
                if k.starts_with("Exec")
                    && v.trim_start().starts_with('{')
                    && !v.trim_end().ends_with('}')
                {
                    multi.push(v);
                    key = Some(k.to_string());
                    continue;
                }
                parsed.insert(k.to_string(), Value::from(v.trim()));
            }
            Some(k) => {
                multi.push(line);
                if line.trim_end().ends_with('}') {
                    parsed.insert(k.clone(), Value::from(multi.join("\n").trim()));
                    multi.clear();
                    key = None;
                }
            }
        }
    }
    parsed
}

fn finish(name: Option<String>, out: &crate::connection::ExecOutput) -> ModuleResult {
    let rep = report(out);
    let b64 = |k: &str| super::write::report_text(&rep, k);
    let mut r = ModuleResult::ok();
    r.data
        .insert("name".into(), name.map_or(Value::Null, Value::from));
    let status = rep
        .get("show")
        .map(|_| parse_show(&b64("show")))
        .unwrap_or_default();
    r.data.insert("status".into(), Value::Object(status));
    let warnings: Vec<Value> = b64("warnings")
        .lines()
        .filter(|l| !l.is_empty())
        .map(Value::from)
        .collect();
    if !warnings.is_empty() {
        r.data.insert("warnings".into(), Value::Array(warnings));
    }
    if let Some(e) = rep.get("error") {
        r.failed = true;
        if e == "command" {
            // systemctl itself failed: reported as ansible-core reports a failed command.
            let rc = rep
                .get("rc")
                .and_then(|c| c.parse::<i64>().ok())
                .unwrap_or(-1);
            super::write::command_failure(&mut r, b64("cmd"), rc, b64("out"), b64("err"));
            r.data.remove("status");
            r.data.remove("name");
            return r;
        }
        r.msg = Some(match e.as_str() {
            "b64" => b64("error_text"),
            other => other.to_string(),
        });
        return r;
    }
    if out.rc != Some(0) {
        return super::write::script_failure(out, &rep);
    }
    r.changed = rep.get("changed").map(String::as_str) == Some("1");
    if let Some(e) = rep.get("enabled") {
        r.data.insert("enabled".into(), Value::Bool(e == "1"));
    }
    if let Some(s) = rep.get("state") {
        r.data.insert("state".into(), Value::from(s.as_str()));
    }
    r
}

/// ansible-core's decisions, step by step. Reports `show` (base64 of `systemctl show`),
/// `changed`, `enabled`, `state`, `warnings` (base64 lines), or `error` (`b64` with
/// `error_text` for messages that quote command output).
const SCRIPT: &str = r#"export LANG=C LC_ALL=C
[ -n "${XDG_RUNTIME_DIR:-}" ] || export XDG_RUNTIME_DIR="/run/user/$(id -u)"
sc=$(command -v systemctl) || { echo 'error=Failed to find required executable "systemctl" on the host'; exit 0; }
w=$(mktemp -d) || exit 1
trap 'rm -rf -- "$w"' EXIT
: > "$w/warn"
# Fails with the message $1 followed by the files named after it, kept byte for byte.
fail_text() {
  m=$1; shift
  { printf '%s' "$m"; [ $# -gt 0 ] && cat -- "$@"; } > "$w/e"
  echo "error=b64"; echo "error_text=$(base64 -w0 < "$w/e")"; echo "warnings=$(base64 -w0 < "$w/warn")"; exit 0
}
# systemd cannot be asked (SYSTEMD_OFFLINE=1, or a chroot, found as ansible-core finds it).
offline() {
  [ "${SYSTEMD_OFFLINE:-}" = 1 ] && return 0
  [ -n "${debian_chroot:-}" ] && return 0
  r=$(stat -c %d:%i / 2>/dev/null)
  if p=$(stat -c %d:%i /proc/1/root/. 2>/dev/null); then [ "$r" != "$p" ]; return; fi
  case "$(stat -f --format=%T / 2>/dev/null)" in *btrfs*) ino=256 ;; *xfs*) ino=128 ;; *) ino=2 ;; esac
  [ "$(stat -c %i / 2>/dev/null)" != "$ino" ]
}
for what in reload reexec; do
  eval "want=\$$what"
  [ "$want" = 1 ] && [ "$check" = 0 ] || continue
  cmd=daemon-$what
  $sc $opts $cmd > "$w/o" 2> "$w/err"; rc=$?
  if [ $rc != 0 ]; then
    if offline; then echo "$cmd failed, but target is a chroot or systemd is offline. Continuing. Error was: $rc / $(cat "$w/err")" >> "$w/warn"
    else fail_text "failure $rc during $cmd: " "$w/err"; fi
  fi
done
changed=0
if [ -n "$unit" ]; then
  initd=0; [ -e "/etc/init.d/$unit" ] && initd=1
  systemd=0
  $sc $opts show "$unit" > "$w/show" 2> "$w/err"; rc=$?
  ignored() { ! grep -q = "$1" && grep -qE 'ignoring (request|command)' "$1"; }
  if [ $rc = 0 ] && ! ignored "$w/show" && ! ignored "$w/err"; then
    if [ -s "$w/show" ]; then
      echo "show=$(base64 -w0 < "$w/show")"
      load=$(sed -n 's/^LoadState=//p' "$w/show" | head -n1)
      [ -n "$load" ] && [ "$load" != not-found ] && systemd=1
      if [ $systemd = 1 ] && [ "$load" != masked ] && grep -q '^LoadError=' "$w/show"; then
        fail_text "Error loading unit file '$unit': $(sed -n 's/^LoadError=//p' "$w/show" | head -n1)"
      fi
    fi
  else
    st=$($sc $opts is-enabled "$unit" 2>/dev/null)
    case "$st" in
      enabled|enabled-runtime|linked|linked-runtime|masked|masked-runtime|static|indirect|disabled|generated|transient) systemd=1 ;;
      *)
        if $sc $opts list-unit-files "$unit" > /dev/null 2>&1; then systemd=1
        else
          # Can systemctl run at all? If not, its own failure is the answer.
          $sc $opts > "$w/o" 2> "$w/err"; rc=$?
          if [ $rc != 0 ]; then
            echo "error=command"; echo "rc=$rc"
            printf '%s' "$sc${opts:+ $opts}" > "$w/c"; echo "cmd=$(base64 -w0 < "$w/c")"
            echo "out=$(base64 -w0 < "$w/o")"; echo "err=$(base64 -w0 < "$w/err")"
            echo "warnings=$(base64 -w0 < "$w/warn")"; exit 0
          fi
        fi ;;
    esac
    : > "$w/show"
  fi
  found=0; { [ $systemd = 1 ] || [ $initd = 1 ]; } && found=1
  [ $initd = 1 ] && [ $systemd = 0 ] && echo "The service ($unit) is actually an init script but the system is managed by systemd" >> "$w/warn"
  missing() { [ $found = 1 ] || fail_text "Could not find the requested service $unit: host"; }
  if [ -n "$masked" ]; then
    now=0; [ "$($sc $opts is-enabled "$unit" 2>/dev/null)" = masked ] && now=1
    if [ "$now" != "$masked" ]; then
      changed=1
      if [ "$check" = 0 ]; then
        if [ "$masked" = 1 ]; then act=mask; else act=unmask; fi
        # Missing, else failed for another reason: ansible-core's two messages.
        if ! $sc $opts $act "$unit" > /dev/null 2> "$w/err"; then
          missing
          fail_text "Failed to $act the service ($unit): $(cat "$w/err")"
        fi
      fi
    fi
  fi
  if [ -n "$enabled" ]; then
    missing
    if [ "$enabled" = 1 ]; then act=enable; else act=disable; fi
    now=0
    $sc $opts is-enabled "$unit" -l > "$w/ie" 2>/dev/null; rc=$?
    if [ $rc = 0 ]; then
      now=1
      if [ "$(cat "$w/ie")" = indirect ] || [ "$(cat "$w/ie")" = alias ]; then now=0; fi
    elif [ $rc = 1 ] && [ "$system_scope" = 1 ] && [ $initd = 1 ]; then
      case "$(tr -d '\n' < "$w/ie")" in *disabled) ;; *) ls /etc/rc?.d/S??"$unit" > /dev/null 2>&1 && now=1 ;; esac
    fi
    echo "enabled=$now"
    if [ "$now" != "$enabled" ]; then
      changed=1
      if [ "$check" = 0 ]; then
        $sc $opts $act "$unit" > "$w/o" 2> "$w/err" || fail_text "Unable to $act service $unit: " "$w/o" "$w/err"
      fi
      echo "enabled=$enabled"
    fi
  fi
  if [ -n "$state" ]; then
    missing
    echo "state=$state"
    active=$(sed -n 's/^ActiveState=//p' "$w/show" | head -n1)
    if [ -n "$active" ]; then
      running=0; case "$active" in active|activating) running=1 ;; esac
      act=
      case "$state" in
        started) [ $running = 1 ] || act=start ;;
        stopped) { [ $running = 1 ] || [ "$active" = deactivating ]; } && act=stop ;;
        tried-restart) if [ $running = 1 ]; then act=restart; echo state=started; else echo state=stopped; fi ;;
        *) if [ $running = 1 ]; then act=${state%ed}; else act=start; fi; echo state=started ;;
      esac
      if [ -n "$act" ]; then
        changed=1
        if [ "$check" = 0 ]; then
          $sc $opts $act "$unit" > /dev/null 2> "$w/err" || fail_text "Unable to $act service $unit: " "$w/err"
        fi
      fi
    elif offline; then
      echo "Target is a chroot or systemd is offline. This can lead to false positives or prevent the init system tools from working." >> "$w/warn"
    else
      fail_text "Service is in unknown state"
    fi
  fi
fi
echo "changed=$changed"
echo "warnings=$(base64 -w0 < "$w/warn")"
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn show_values_as_ansible_core_reads_them() {
        let text = "Id=x.service\nExecStart={ path=/bin/sleep ; argv[]=/bin/sleep 9\n more }\nDescription={ odd\nActiveState=active\n";
        let m = parse_show(text);
        assert_eq!(m["Id"], "x.service");
        assert_eq!(
            m["ExecStart"],
            "{ path=/bin/sleep ; argv[]=/bin/sleep 9\n more }"
        );
        assert_eq!(m["Description"], "{ odd");
        assert_eq!(m["ActiveState"], "active");
    }
}
