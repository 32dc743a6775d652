//! `haproxy` (from `community.general`): a backend server enabled, disabled or drained
//! through HAProxy's runtime API (its admin socket), usually `delegate_to` the load
//! balancer in a rolling upgrade. One script on the load balancer reads the server's state,
//! sends the commands, waits for the state asked for when `wait` (and, with `drain`, for its
//! sessions to end), and reads the state again; `changed` is whether the state differs, as
//! in community.general.
//!
//! The load balancer needs `socat` to talk to the socket (Ansible's module uses Python
//! there); the script says so when it is missing.

use serde::Deserialize;
use serde_json::{Value, json};

use super::args::{self, Param, param};
use super::registry::Spec;
use super::{Module, ModuleCtx, ModuleResult, Plan};
use crate::connection::quote;

pub static SPEC: Spec = Spec {
    name: "haproxy",
    summary: "Enable, disable or drain a backend server through HAProxy's admin socket.",
    namespace: "community.general",
    params: PARAMS,
    ..Spec::host::<Haproxy>()
};

const PARAMS: &[Param] = &[
    param("host", &[], "Required. The server's name in the backend."),
    param(
        "state",
        &[],
        "Required. `enabled`, `disabled` (maintenance) or `drain` (no new connections).",
    ),
    param(
        "backend",
        &[],
        "The backend; unset, every backend that has the server.",
    ),
    param(
        "socket",
        &[],
        "The admin socket (`stats socket … level admin`), default `/var/run/haproxy.sock`.",
    ),
    param(
        "wait",
        &[],
        "Wait until the server is UP (enabled), MAINT (disabled) or DRAIN (drain).",
    ),
    param(
        "wait_retries",
        &[],
        "How many times to look while waiting (default 25).",
    ),
    param(
        "wait_interval",
        &[],
        "Seconds between looks while waiting (default 5).",
    ),
    param(
        "drain",
        &[],
        "With `disabled`: drain first, and wait (with `wait`) until no session is left.",
    ),
    param(
        "shutdown_sessions",
        &[],
        "With `disabled`: end the server's sessions at once.",
    ),
    param(
        "fail_on_not_found",
        &[],
        "Fail when the backend has no such server (default: do nothing).",
    ),
    param(
        "weight",
        &[],
        "With `enabled`: set this weight (`10`, `50%`).",
    ),
    param("agent", &[], "Enable or disable agent checks too."),
    param("health", &[], "Enable or disable health checks too."),
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Args {
    #[serde(deserialize_with = "args::text")]
    host: String,
    #[serde(deserialize_with = "args::text")]
    state: String,
    #[serde(default, deserialize_with = "args::opt_text")]
    backend: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    socket: Option<String>,
    #[serde(default, deserialize_with = "args::opt_boolean")]
    wait: Option<bool>,
    #[serde(default, deserialize_with = "args::opt_number")]
    wait_retries: Option<f64>,
    #[serde(default, deserialize_with = "args::opt_number")]
    wait_interval: Option<f64>,
    #[serde(default, deserialize_with = "args::opt_boolean")]
    drain: Option<bool>,
    #[serde(default, deserialize_with = "args::opt_boolean")]
    shutdown_sessions: Option<bool>,
    #[serde(default, deserialize_with = "args::opt_boolean")]
    fail_on_not_found: Option<bool>,
    #[serde(default, deserialize_with = "args::opt_text")]
    weight: Option<String>,
    #[serde(default, deserialize_with = "args::opt_boolean")]
    agent: Option<bool>,
    #[serde(default, deserialize_with = "args::opt_boolean")]
    health: Option<bool>,
}

pub struct Haproxy;

/// A name HAProxy accepts for a backend or server (the runtime API splits on spaces and
/// `/`), so it can be put into a command as it is.
fn name_ok(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
}

fn count(v: Option<f64>, default: u32, what: &str) -> Result<u32, String> {
    match v {
        None => Ok(default),
        Some(n) if n.fract() == 0.0 && (0.0..=100_000.0).contains(&n) => Ok(n as u32),
        Some(n) => Err(format!(
            "{what} must be a whole number from 0 to 100000, not {n}"
        )),
    }
}

impl Module for Haproxy {
    type Args = Args;

    fn check(a: &Args) -> Result<(), String> {
        if !matches!(a.state.as_str(), "enabled" | "disabled" | "drain") {
            return Err(format!(
                "value of state must be one of: enabled, disabled, drain, got: {}",
                a.state
            ));
        }
        if !name_ok(&a.host) {
            return Err(format!("host '{}' is not a HAProxy server name", a.host));
        }
        if let Some(b) = &a.backend
            && !name_ok(b)
        {
            return Err(format!("backend '{b}' is not a HAProxy backend name"));
        }
        if let Some(w) = &a.weight {
            let digits = w.strip_suffix('%').unwrap_or(w);
            if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
                return Err(format!("weight '{w}' is not a number or a percentage"));
            }
        }
        count(a.wait_retries, 25, "wait_retries")?;
        count(a.wait_interval, 5, "wait_interval")?;
        Ok(())
    }

    fn plan(a: Args, ctx: &ModuleCtx<'_>) -> Result<Plan, String> {
        if ctx.check_mode {
            // As community.general's module: it does not run in check mode.
            let mut r = ModuleResult::ok();
            r.skipped = true;
            r.msg = Some("remote module (haproxy) does not support check mode".into());
            return Ok(Plan::Done(r));
        }
        let on = |b: Option<bool>| b.unwrap_or(false);
        // The runtime API commands, `$px` and `$sv` filled per backend.
        let mut cmds: Vec<String> = vec!["get weight $px/$sv".into()];
        let mut drain_first = false;
        let status = match a.state.as_str() {
            "enabled" => {
                cmds.push("enable server $px/$sv".into());
                if on(a.agent) {
                    cmds.push("enable agent $px/$sv".into());
                }
                if on(a.health) {
                    cmds.push("enable health $px/$sv".into());
                }
                if let Some(w) = &a.weight {
                    cmds.push(format!("set weight $px/$sv {w}"));
                }
                "UP"
            }
            "drain" => {
                cmds = vec!["set server $px/$sv state drain".into()];
                "DRAIN"
            }
            _ => {
                drain_first = on(a.drain);
                if on(a.agent) {
                    cmds.push("disable agent $px/$sv".into());
                }
                if on(a.health) {
                    cmds.push("disable health $px/$sv".into());
                }
                cmds.push("disable server $px/$sv".into());
                if on(a.shutdown_sessions) && !drain_first {
                    cmds.push("shutdown sessions server $px/$sv".into());
                }
                "MAINT"
            }
        };
        let socket = a
            .socket
            .clone()
            .unwrap_or_else(|| "/var/run/haproxy.sock".into());
        let script = script(&Script {
            socket: &socket,
            server: &a.host,
            backend: a.backend.as_deref().unwrap_or(""),
            commands: &cmds.join("; "),
            drain_first,
            status,
            wait: on(a.wait),
            retries: count(a.wait_retries, 25, "wait_retries")?,
            interval: count(a.wait_interval, 5, "wait_interval")?,
            fail_on_not_found: on(a.fail_on_not_found),
        });
        Ok(Plan::remote(script, None, finish))
    }
}

struct Script<'a> {
    socket: &'a str,
    server: &'a str,
    backend: &'a str,
    commands: &'a str,
    drain_first: bool,
    status: &'a str,
    wait: bool,
    retries: u32,
    interval: u32,
    fail_on_not_found: bool,
}

/// The script on the load balancer. It prints `before PX|STATUS|WEIGHT|SESSIONS` and
/// `after …` lines for the server's state, and `command PX TEXT` and `output PX TEXT` for
/// what it sent; errors go to stderr with exit 1.
fn script(s: &Script) -> String {
    let b = |v: bool| if v { "1" } else { "0" };
    format!(
        r#"sock={sock}; sv={sv}; want_px={px}; cmds={cmds}; drain_first={drain}; status={status}; wait={wait}; retries={retries}; interval={interval}; fail_nf={fail_nf}
command -v socat >/dev/null 2>&1 || {{ echo "the haproxy module needs socat on the load balancer to talk to $sock" >&2; exit 1; }}
[ -S "$sock" ] || {{ echo "$sock is not a socket (HAProxy's 'stats socket ... level admin')" >&2; exit 1; }}
api() {{ printf '%s\n' "$1" | socat -t 2 - "UNIX-CONNECT:$sock"; }}
api "show info" >/dev/null || {{ echo "cannot talk to HAProxy on $sock" >&2; exit 1; }}
# The server's rows of `show stat`: backend, status, weight, current sessions.
rows() {{ api "show stat" | awk -F, -v sv="$sv" -v px="$1" '
  NR == 1 {{ sub(/^# /, ""); for (i = 1; i <= NF; i++) col[$i] = i; next }}
  $col["svname"] == sv && (px == "" || $col["pxname"] == px) {{ print $col["pxname"] "|" $col["status"] "|" $col["weight"] "|" $col["scur"] }}'; }}
rows "$want_px" | sed 's/^/before /'
pxs=$(rows "$want_px" | awk -F'|' '{{ print $1 }}')
if [ -z "$pxs" ]; then
  if [ "$fail_nf" = 1 ]; then echo "The specified backend '${{want_px:-any}}/$sv' was not found!" >&2; exit 1; fi
  exit 0
fi
send() {{ c=$(printf '%s' "$1" | sed "s|\$px|$2|g; s|\$sv|$sv|g"); echo "command $2 $c"; api "$c" | tr '\n' ' ' | sed 's/^/output '"$2"' /'; echo; }}
await() {{ # $1 backend, $2 status, $3: 1 to wait for no sessions too
  i=1
  while [ "$i" -lt "$retries" ]; do
    rows "$1" | awk -F'|' -v s="$2" -v z="$3" '$2 ~ s && (z != 1 || $4 == 0) {{ ok = 1 }} END {{ exit !ok }}' && return 0
    sleep "$interval"; i=$((i + 1))
  done
  echo "server $1/$sv not status '$2' after $retries retries. Aborting." >&2; exit 1
}}
for px in $pxs; do
  if [ "$drain_first" = 1 ]; then
    send 'set server $px/$sv state drain' "$px"
    # A server already DOWN has no session to drain and never reports DRAIN.
    [ "$wait" = 1 ] && await "$px" 'DRAIN|DOWN' 1
  fi
  send "$cmds" "$px"
  if [ "$wait" = 1 ]; then
    now=$(rows "$px" | awk -F'|' '{{ print $2 }}')
    # A server that is DOWN (failing its checks) never reports DRAIN: not waited for.
    [ "$status" = DRAIN ] && [ "$now" = DOWN ] || await "$px" "$status" 0
  fi
done
rows "$want_px" | sed 's/^/after /'
"#,
        sock = quote(s.socket),
        sv = quote(s.server),
        px = quote(s.backend),
        cmds = quote(s.commands),
        drain = b(s.drain_first),
        status = s.status,
        wait = b(s.wait),
        retries = s.retries.max(1),
        interval = s.interval,
        fail_nf = b(s.fail_on_not_found),
    )
}

fn finish(out: crate::connection::ExecOutput) -> ModuleResult {
    let stdout = String::from_utf8_lossy(&out.stdout);
    if out.rc != Some(0) {
        let err = String::from_utf8_lossy(&out.stderr);
        return ModuleResult::failed(err.trim().to_string());
    }
    let state = |tag: &str| -> Value {
        let rows: Vec<Value> = stdout
            .lines()
            .filter_map(|l| l.strip_prefix(tag))
            .map(|l| {
                let f: Vec<&str> = l.split('|').collect();
                json!({
                    "status": f.get(1).copied().unwrap_or_default(),
                    "weight": f.get(2).copied().unwrap_or_default(),
                    "scur": f.get(3).copied().unwrap_or_default(),
                })
            })
            .collect();
        if rows.is_empty() {
            Value::Null
        } else {
            Value::Array(rows)
        }
    };
    let (before, after) = (state("before "), state("after "));
    let field = |tag: &str| -> Vec<Value> {
        stdout
            .lines()
            .filter_map(|l| l.strip_prefix(tag))
            .map(|l| Value::from(l.split_once(' ').map_or(l, |(_, rest)| rest).trim()))
            .collect()
    };
    let mut r = ModuleResult::ok();
    r.changed = !after.is_null() && before != after;
    let (commands, outputs) = (field("command "), field("output "));
    if !commands.is_empty() {
        r.data.insert("command".into(), Value::Array(commands));
        r.data.insert("output".into(), Value::Array(outputs));
    }
    r.data.insert("state_before".into(), before);
    r.data.insert("state_after".into(), after);
    r
}
