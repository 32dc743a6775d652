//! `sysvinit`: an init.d service started, stopped, restarted or reloaded, and enabled or
//! disabled in its runlevels (`update-rc.d`, else `chkconfig`), as ansible-core's sysvinit
//! module decides it — its reading of `service NAME status` included.
//!
//! Two round trips: the first reads the links in `/etc/rc?.d` and the service's status; the
//! controller decides as ansible-core does; the second enables, disables and runs the script.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::args::{self, Param, param};
use super::registry::Spec;
use super::write;
use super::{Module, ModuleCtx, ModuleResult, Plan};
use crate::connection::quote;

pub static SPEC: Spec = Spec {
    name: "sysvinit",
    summary: "Start, stop, restart or reload an init.d service, and enable or disable it in its runlevels.",
    params: PARAMS,
    ..Spec::host::<Sysvinit>()
};

const PARAMS: &[Param] = &[
    param(
        "name",
        &["service"],
        "Required. The service (its script in /etc/init.d), or the script's path.",
    ),
    param(
        "state",
        &[],
        "`started`, `stopped`, `restarted` (stop then start, whatever the script's own restart does) or `reloaded`.",
    ),
    param("enabled", &[], "bool. Start the service at boot."),
    param(
        "sleep",
        &[],
        "Seconds to wait after stopping and after starting on restart (default 1).",
    ),
    param(
        "pattern",
        &[],
        "Text looked for in `ps` output to tell whether the service runs, instead of its status.",
    ),
    param(
        "arguments",
        &["args"],
        "More words for the script after the action.",
    ),
    param(
        "runlevels",
        &[],
        "The runlevels to enable or disable it in (default: the script's own).",
    ),
    param(
        "daemonize",
        &[],
        "bool, default no. Run the script detached from the session (`setsid`, in `/`).",
    ),
];

#[derive(Debug, Deserialize)]
pub struct Args {
    #[serde(alias = "service", deserialize_with = "args::text")]
    name: String,
    #[serde(default, deserialize_with = "args::opt_text")]
    state: Option<String>,
    #[serde(default, deserialize_with = "args::opt_boolean")]
    enabled: Option<bool>,
    #[serde(default, deserialize_with = "args::opt_number")]
    sleep: Option<f64>,
    #[serde(default, deserialize_with = "args::opt_text")]
    pattern: Option<String>,
    #[serde(default, alias = "args", deserialize_with = "args::opt_text")]
    arguments: Option<String>,
    #[serde(default, deserialize_with = "args::list")]
    runlevels: Vec<String>,
    #[serde(default, deserialize_with = "args::boolean")]
    daemonize: bool,
}

pub struct Sysvinit;

impl Module for Sysvinit {
    type Args = Args;

    fn check(a: &Args) -> Result<(), String> {
        match a.state.as_deref() {
            None | Some("started" | "stopped" | "restarted" | "reloaded") => {}
            Some(s) => {
                return Err(format!(
                    "value of state must be one of: started, stopped, restarted, reloaded, got: {s}"
                ));
            }
        }
        if a.state.is_none() && a.enabled.is_none() {
            return Err("one of the following is required: state, enabled".into());
        }
        if a.runlevels
            .iter()
            .any(|r| r.is_empty() || !r.chars().all(|c| c.is_ascii_alphanumeric()))
        {
            return Err("runlevels are letters and digits (2, 3, S)".into());
        }
        if a.sleep.is_some_and(|s| !(0.0..=3600.0).contains(&s)) {
            return Err("sleep must be between 0 and 3600 seconds".into());
        }
        Ok(())
    }

    fn plan(a: Args, ctx: &ModuleCtx<'_>) -> Result<Plan, String> {
        let script = if a.name.starts_with('/') {
            a.name.clone()
        } else {
            format!("/etc/init.d/{}", a.name)
        };
        let mut q = format!(
            "name={}\nscript={}\npattern={}\n",
            quote(&a.name),
            quote(&script),
            quote(a.pattern.as_deref().unwrap_or(""))
        );
        q.push_str(&format!(
            "set -- {}\n",
            a.runlevels
                .iter()
                .map(|r| quote(r))
                .collect::<Vec<_>>()
                .join(" ")
        ));
        q.push_str(QUERY);
        let check = ctx.check_mode;
        Ok(Plan::Remote {
            script: q,
            stdin: None,
            then: Box::new(move |out| {
                let rep = write::report(&out);
                if out.rc != Some(0) {
                    return Plan::Done(write::script_failure(&out, &rep));
                }
                if rep.contains_key("missing") {
                    return Plan::Done(ModuleResult::failed(format!(
                        "Could not find the requested service {}: ",
                        a.name
                    )));
                }
                decide(a, script, &rep, check)
            }),
        })
    }
}

/// Reads what ansible-core's sysvinit reads: the script, the tools, the start links, the
/// status command's answer and `ps`.
const QUERY: &str = r#"[ -e "$script" ] || { echo missing=1; exit 0; }
find_bin() { for d in $(printf '%s' "$PATH" | tr ':' ' ') /sbin /usr/sbin /bin /usr/bin; do [ -x "$d/$1" ] && { echo "$d/$1"; return 0; }; done; return 1; }
for b in chkconfig update-rc.d service; do p=$(find_bin "$b") && echo "bin_$b=$p"; done
if [ -d /etc/rc0.d ]; then dir=/etc/rc; suffix=.d; else dir=/etc/init.d/rc; suffix=.d; fi
linked() { for f in "$dir"$1"$suffix"/S??"$name"; do [ -e "$f" ] && return 0; done; return 1; }
if [ $# -gt 0 ]; then for rl in "$@"; do if linked "$rl"; then echo "enabled_$rl=1"; else echo "enabled_$rl=0"; fi; done
elif linked '?'; then echo enabled=1; else echo enabled=0; fi
ps_has() { ps auxww 2>/dev/null | while IFS= read -r l; do set -- $l; [ "$2" = $$ ] || [ "$2" = "$PPID" ] && continue; case "$l" in *"$want"*) echo yes; break;; esac; done; }
if [ -n "$pattern" ]; then want=$pattern; [ "$(ps_has)" = yes ] && echo ps_pattern=1; exit 0; fi
s=$(find_bin service)
if [ -n "$s" ]; then o=$("$s" "$name" status 2>/dev/null; echo "x$?"); else o=$("$script" status 2>/dev/null; echo "x$?"); fi
echo "status_rc=${o##*x}"; printf 'status_out_b64='; printf '%s' "${o%x*}" | base64 -w0; echo
want=$name; [ "$(ps_has)" = yes ] && echo ps_name=1
exit 0
"#;

/// ansible-core's reading of a status answer: (worked, started).
fn read_status(name: &str, rc: i64, out: &str) -> (bool, bool) {
    let mut worked = false;
    let mut started = false;
    if name == "iptables" && out.contains("ACCEPT") {
        return (true, true);
    }
    if out.matches('\n').count() <= 1 {
        let clean = out.to_lowercase().replace(&name.to_lowercase(), "");
        if [
            "stop",
            "is dead ",
            "dead but ",
            "could not access pid file",
            "inactive",
        ]
        .iter()
        .any(|s| clean.contains(s))
        {
            worked = true;
        }
        if !worked
            && ["run", "start", "active"].iter().any(|s| clean.contains(s))
            && !clean.contains("not ")
        {
            started = true;
            worked = true;
        }
    }
    if !worked && [1, 2, 3, 4, 69].contains(&rc) {
        worked = true;
    }
    (worked, started)
}

fn decide(
    a: Args,
    script: String,
    rep: &std::collections::HashMap<String, String>,
    check: bool,
) -> Plan {
    let mut warnings: Vec<String> = Vec::new();
    let flag = |k: &str| rep.get(k).is_some_and(|v| v == "1");
    let (mut worked, mut started);
    if a.pattern.is_some() {
        started = flag("ps_pattern");
        worked = started;
    } else {
        let rc: i64 = rep
            .get("status_rc")
            .and_then(|r| r.parse().ok())
            .unwrap_or(-1);
        let out = write::report_text(rep, "status_out_b64");
        (worked, started) = read_status(&a.name, rc, &out);
        if !worked {
            if rc == 0 {
                started = true;
                worked = true;
            } else if flag("ps_name") {
                started = true;
                worked = true;
                warnings.push(
                    "Used ps output to match service name and determine it is up, this is very unreliable".into(),
                );
            }
        }
    }
    if !worked {
        warnings.push("Unable to determine if service is up, assuming it is down".into());
    }
    let update_rc = rep.get("bin_update-rc.d").cloned();
    let chkconfig = rep.get("bin_chkconfig").cloned();
    let mut changed = false;
    let mut enable_changed = false;
    let mut enable_cmd: Option<String> = None;
    if !a.runlevels.is_empty() {
        // Runlevels without `enabled` change nothing (ansible-core disables the service
        // there: None differs from every answer, and the false branch runs).
        if let Some(want) = a.enabled {
            if a.runlevels
                .iter()
                .any(|rl| flag(&format!("enabled_{rl}")) != want)
            {
                changed = true;
                enable_changed = true;
            }
            let rls = a.runlevels.join(" ");
            enable_cmd = match (&update_rc, &chkconfig) {
                (Some(u), _) => Some(format!(
                    "{} {} {} {rls}",
                    quote(u),
                    quote(&a.name),
                    if want { "enable" } else { "disable" }
                )),
                (None, Some(c)) => Some(format!(
                    "{} --level {} {} {}",
                    quote(c),
                    a.runlevels.join(""),
                    quote(&a.name),
                    if want { "on" } else { "off" }
                )),
                _ => None,
            };
        }
    } else if let Some(want) = a.enabled
        && want != flag("enabled")
    {
        changed = true;
        enable_changed = true;
        enable_cmd = match (&update_rc, &chkconfig) {
            (Some(u), _) => Some(format!(
                "{} {} {}",
                quote(u),
                quote(&a.name),
                if want { "defaults" } else { "disable" }
            )),
            (None, Some(c)) => Some(format!(
                "{} {} {}",
                quote(c),
                quote(&a.name),
                if want { "on" } else { "off" }
            )),
            _ => None,
        };
    }
    // What the state asks for.
    let action = a.state.as_deref().map(|s| {
        s.strip_suffix("ped")
            .or_else(|| s.strip_suffix("ed"))
            .unwrap_or(s)
            .to_string()
    });
    let mut state_changed = false;
    let mut steps: Vec<&'static str> = Vec::new();
    match action.as_deref() {
        Some("restart") => {
            state_changed = true;
            steps = vec!["stop", "start"];
        }
        Some(act) => {
            let act: &'static str = match act {
                "start" => "start",
                "stop" => "stop",
                _ => "reload",
            };
            if started != (act == "start") || started == (act == "stop") {
                state_changed = true;
                steps = vec![act];
            }
        }
        None => {}
    }
    changed |= state_changed;
    let state_key = a.state.clone().unwrap_or_else(|| "null".into());
    let mut enabled_status = Map::new();
    enabled_status.insert("changed".into(), Value::Bool(enable_changed));
    for k in ["rc", "stdout", "stderr"] {
        enabled_status.insert(k.into(), Value::Null);
    }
    if !a.runlevels.is_empty() {
        enabled_status.insert(
            "runlevels".into(),
            Value::Array(
                a.runlevels
                    .iter()
                    .map(|r| Value::from(r.as_str()))
                    .collect(),
            ),
        );
    }
    let mut state_status = Map::new();
    state_status.insert("changed".into(), Value::Bool(state_changed));
    for k in ["rc", "stdout", "stderr"] {
        state_status.insert(k.into(), Value::Null);
    }
    let service_name = a.name.clone();
    let build = move |enabled_status: Map<String, Value>, state_status: Map<String, Value>| {
        let mut r = ModuleResult {
            changed,
            ..ModuleResult::ok()
        };
        r.data.insert("name".into(), Value::from(a.name.as_str()));
        let mut status = Map::new();
        status.insert("enabled".into(), Value::Object(enabled_status));
        status.insert(state_key.clone(), Value::Object(state_status));
        r.data.insert("status".into(), Value::Object(status));
        if !warnings.is_empty() {
            r.data.insert(
                "warnings".into(),
                Value::Array(warnings.iter().map(|w| Value::from(w.as_str())).collect()),
            );
        }
        r
    };
    let do_enable = enable_changed && !check && enable_cmd.is_some();
    let do_state = state_changed && !check;
    if !do_enable && !do_state {
        if enable_changed && !check {
            // Neither update-rc.d nor chkconfig: ansible-core records empty output.
            enabled_status.insert("rc".into(), Value::from(0));
            enabled_status.insert("stdout".into(), Value::from(""));
            enabled_status.insert("stderr".into(), Value::from(""));
        }
        return Plan::Done(build(enabled_status, state_status));
    }
    // Each command's output kept whole (trailing newlines too) in two files.
    let mut s = String::from(
        "b64() { base64 -w0; }\no_f=$(mktemp) && e_f=$(mktemp) || exit 1\ntrap 'rm -f \"$o_f\" \"$e_f\"' EXIT\nrun() { \"$@\" >\"$o_f\" 2>\"$e_f\"; rc=$?; }\nreport() { echo \"$1_rc=$rc\"; printf '%s_out_b64=' \"$1\"; b64 < \"$o_f\"; echo; printf '%s_err_b64=' \"$1\"; b64 < \"$e_f\"; echo; }\n",
    );
    if do_enable && let Some(c) = &enable_cmd {
        s.push_str(&format!("run {c}\nreport enable\n"));
    }
    if do_state {
        let sleep = a.sleep.unwrap_or(1.0);
        let extra = a.arguments.clone().unwrap_or_default();
        for step in &steps {
            let cmd = format!("{} {step} {extra}", quote(&script));
            if a.daemonize {
                s.push_str(&format!(
                    "run sh -c 'cd / && exec setsid \"$@\" </dev/null' sh {cmd}\n"
                ));
            } else {
                s.push_str(&format!("run {cmd}\n"));
            }
            s.push_str(&format!(
                "if [ \"$rc\" != 0 ]; then echo \"fail_action={}\"; report state; exit 0; fi\n",
                action.as_deref().unwrap_or("")
            ));
            if steps.len() > 1 && sleep > 0.0 {
                s.push_str(&format!("sleep {sleep}\n"));
            }
        }
        s.push_str("report state\n");
    }
    Plan::remote(s, None, move |out| {
        let r2 = write::report(&out);
        if out.rc != Some(0) {
            return write::script_failure(&out, &r2);
        }
        let num = |k: &str| {
            r2.get(k)
                .and_then(|v| v.trim().parse::<i64>().ok())
                .map_or(Value::Null, Value::from)
        };
        let mut enabled_status = enabled_status;
        let mut state_status = state_status;
        if r2.contains_key("enable_rc") {
            enabled_status.insert("rc".into(), num("enable_rc"));
            enabled_status.insert(
                "stdout".into(),
                Value::from(write::report_text(&r2, "enable_out_b64")),
            );
            let err = write::report_text(&r2, "enable_err_b64");
            let illegal = err.contains("illegal runlevel specified");
            enabled_status.insert("stderr".into(), Value::from(err));
            if illegal {
                let mut r = build(enabled_status, state_status);
                r.failed = true;
                r.msg = Some(format!(
                    "Illegal runlevel specified for enable operation on service {service_name}"
                ));
                return r;
            }
        }
        if let Some(act) = r2.get("fail_action") {
            let mut r = ModuleResult::failed(format!("Failed to {act} service: {service_name}"));
            r.data.insert("rc".into(), num("state_rc"));
            r.data.insert(
                "stdout".into(),
                Value::from(write::report_text(&r2, "state_out_b64")),
            );
            r.data.insert(
                "stderr".into(),
                Value::from(write::report_text(&r2, "state_err_b64")),
            );
            return r;
        }
        if r2.contains_key("state_rc") {
            state_status.insert("rc".into(), num("state_rc"));
            state_status.insert(
                "stdout".into(),
                Value::from(write::report_text(&r2, "state_out_b64")),
            );
            state_status.insert(
                "stderr".into(),
                Value::from(write::report_text(&r2, "state_err_b64")),
            );
        }
        build(enabled_status, state_status)
    })
}
