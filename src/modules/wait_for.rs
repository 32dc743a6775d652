//! `wait_for`: a loop on the host until a port, a file or a pattern in a file is there
//! (or gone). Ports on the host itself are read from /proc/net/tcp, so nothing beyond sh
//! and coreutils is needed; other hosts' ports are probed with bash's /dev/tcp or nc.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::args::{self, Param, param};
use super::registry::Spec;
use super::write;
use super::{Module, ModuleCtx, ModuleResult, Plan};
use crate::connection::{ExecOutput, quote};

pub static SPEC: Spec = Spec {
    name: "wait_for",
    summary: "Wait on the host until a port opens or closes, or a file (or a pattern in it) appears or goes.",
    params: PARAMS,
    ..Spec::host::<WaitFor>()
};

const PARAMS: &[Param] = &[
    param(
        "host",
        &[],
        "Host whose port to wait for, seen from the managed host; default `127.0.0.1`.",
    ),
    param("port", &[], "Port number to wait for."),
    param("path", &[], "File to wait for."),
    param(
        "search_regex",
        &[],
        "With `path`: an extended regular expression the file must contain.",
    ),
    param(
        "state",
        &[],
        "`started`/`present` (default) or `stopped`/`absent`.",
    ),
    param("timeout", &[], "Seconds before failing, default 300."),
    param(
        "delay",
        &[],
        "Seconds to wait before the first check, default 0.",
    ),
    param("sleep", &[], "Seconds between checks, default 1."),
    param(
        "connect_timeout",
        &[],
        "Seconds a probe of another host's port may take, default 5.",
    ),
    param("msg", &[], "Message when the wait times out."),
];

#[derive(Debug, Deserialize)]
pub struct Args {
    #[serde(default, deserialize_with = "args::opt_text")]
    host: Option<String>,
    #[serde(default, deserialize_with = "port")]
    port: Option<u16>,
    #[serde(default, deserialize_with = "args::opt_text")]
    path: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    search_regex: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    state: Option<String>,
    #[serde(default, deserialize_with = "args::opt_seconds")]
    timeout: Option<Duration>,
    #[serde(default, deserialize_with = "args::opt_seconds")]
    delay: Option<Duration>,
    #[serde(default, deserialize_with = "args::opt_seconds")]
    sleep: Option<Duration>,
    #[serde(default, deserialize_with = "args::opt_seconds")]
    connect_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "args::opt_text")]
    msg: Option<String>,
}

fn port<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u16>, D::Error> {
    match args::opt_number(d)? {
        None => Ok(None),
        Some(n) if n.fract() == 0.0 && (1.0..=65535.0).contains(&n) => Ok(Some(n as u16)),
        Some(n) => Err(serde::de::Error::custom(format!(
            "{n} is not a port number"
        ))),
    }
}

/// `wait_for`: a loop on the host until a port, a file or a pattern in a file is there (or
/// gone). Ports on the host itself are read from /proc/net/tcp, so nothing beyond sh and
/// coreutils is needed; other hosts' ports are probed with bash's /dev/tcp or nc.
pub struct WaitFor;

impl Module for WaitFor {
    type Args = Args;

    fn check(a: &Args) -> Result<(), String> {
        let state = a.state.as_deref().unwrap_or("started");
        if !matches!(state, "started" | "present" | "stopped" | "absent") {
            return Err(format!(
                "state '{state}' is not supported (started, present, stopped, absent)"
            ));
        }
        if a.port.is_some() && a.path.is_some() {
            return Err("'port' and 'path' are mutually exclusive".into());
        }
        if matches!(state, "stopped") && a.path.is_some() {
            return Err(
                "state=stopped should only be used for checking a port in the wait_for module"
                    .into(),
            );
        }
        if a.search_regex.is_some() && a.path.is_none() {
            return Err(
                "search_regex is supported with 'path' only (not on a port's banner yet)".into(),
            );
        }
        Ok(())
    }

    fn plan(a: Args, _ctx: &ModuleCtx<'_>) -> Result<Plan, String> {
        plan(a)
    }
}

fn plan(a: Args) -> Result<Plan, String> {
    let timeout = a.timeout.map_or(300, |d| d.as_secs());
    let delay = a.delay.map_or(0, |d| d.as_secs());
    let sleep = a.sleep.map_or(1.0, |d| d.as_secs_f64()).max(0.1);
    let connect = a.connect_timeout.map_or(5, |d| d.as_secs().max(1));
    let state = a.state.as_deref().unwrap_or("started");
    let host = a.host.as_deref().unwrap_or("127.0.0.1");
    let port = a.port;
    let path = a.path.as_deref();
    let regex = a.search_regex.as_deref();
    let want_present = matches!(state, "started" | "present");
    let cond = match (port, path) {
        (Some(_), Some(_)) => return Err("'port' and 'path' are mutually exclusive".into()),
        (Some(p), None) => {
            let hex = format!("{p:04X}");
            if matches!(host, "127.0.0.1" | "localhost" | "0.0.0.0" | "::1" | "::") {
                format!(
                    "cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk '$4 == \"0A\" {{ split($2, a, \":\"); if (a[2] == \"{hex}\") f = 1 }} END {{ exit !f }}'"
                )
            } else {
                let h = quote(host);
                format!(
                    "if command -v bash >/dev/null 2>&1; then timeout {connect} bash -c 'exec 3<>/dev/tcp/'{h}'/{p}' 2>/dev/null; elif command -v nc >/dev/null 2>&1; then nc -z -w {connect} {h} {p}; else echo 'wait_for: no bash or nc on the host to probe {host}:{p}' >&2; exit 3; fi"
                )
            }
        }
        (None, Some(f)) => match regex {
            Some(re) => format!(
                "[ -f {f} ] && grep -E -q -- {re} {f}",
                f = quote(f),
                re = quote(re)
            ),
            None => format!("[ -e {} ]", quote(f)),
        },
        (None, None) => String::new(),
    };
    let script = if cond.is_empty() {
        format!("sleep {}\n", timeout.min(86_400))
    } else {
        let test = if want_present {
            format!("( {cond} )")
        } else {
            format!("! ( {cond} )")
        };
        // Once there: the first matching line (for match_groups) and the path's attributes.
        let found = match (path, regex) {
            (Some(f), Some(re)) if want_present => format!(
                "printf 'match=%s\\n' \"$(grep -E -m 1 -- {re} {f} | head -c 65536)\"; path_info {f}; ",
                f = quote(f),
                re = quote(re)
            ),
            (Some(f), _) if want_present => format!("path_info {}; ", quote(f)),
            _ => String::new(),
        };
        format!(
            "{}start=$(date +%s); end=$((start + {timeout}))\nsleep {delay}\nwhile :; do\n  if {test}; then echo \"elapsed=$(( $(date +%s) - start ))\"; {found}exit 0; fi\n  if [ \"$(date +%s)\" -ge \"$end\" ]; then echo \"elapsed=$(( $(date +%s) - start ))\"; exit 1; fi\n  sleep {sleep}\ndone\n",
            write::FUNCS
        )
    };
    // ansible-core's messages, word for word.
    let what = match (port, path, regex, want_present) {
        (Some(p), _, _, false) => format!("{host}:{p} to stop."),
        (Some(p), _, _, true) => format!("{host}:{p}"),
        (_, Some(f), _, false) => format!("{f} to be absent."),
        (_, Some(f), Some(re), true) => format!("search string {re} in {f}"),
        (_, Some(f), None, true) => format!("file {f}"),
        _ => "the timeout".into(),
    };
    let msg = a.msg;
    let shown_state = state.to_string();
    let (path_v, regex_v) = (a.path.clone(), a.search_regex.clone());
    let pattern = match a.search_regex.as_deref() {
        Some(re) => Some(write::py_regex(re, false)?),
        None => None,
    };
    Ok(Plan::remote(script, None, move |out: ExecOutput| {
        let text = String::from_utf8_lossy(&out.stdout);
        let elapsed = text
            .lines()
            .find_map(|l| l.strip_prefix("elapsed="))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
        if out.rc == Some(0) {
            let mut r = ModuleResult::ok();
            r.data.insert("elapsed".into(), Value::from(elapsed));
            r.data.insert("state".into(), Value::from(shown_state));
            r.data
                .insert("port".into(), port.map_or(Value::Null, Value::from));
            r.data
                .insert("path".into(), path_v.map_or(Value::Null, Value::from));
            r.data.insert(
                "search_regex".into(),
                regex_v.map_or(Value::Null, Value::from),
            );
            let line = text.lines().find_map(|l| l.strip_prefix("match="));
            let caps = pattern
                .as_ref()
                .zip(line)
                .and_then(|(re, l)| re.captures(l));
            let (mut groups, mut named) = (Vec::new(), serde_json::Map::new());
            if let (Some(c), Some(re)) = (caps, &pattern) {
                groups = c
                    .iter()
                    .skip(1)
                    .map(|g| g.map_or(Value::Null, |m| Value::from(m.as_str())))
                    .collect();
                for n in re.capture_names().flatten() {
                    named.insert(
                        n.to_string(),
                        c.name(n).map_or(Value::Null, |m| Value::from(m.as_str())),
                    );
                }
            }
            r.data.insert("match_groups".into(), Value::Array(groups));
            r.data
                .insert("match_groupdict".into(), Value::Object(named));
            write::add_path_info(&mut r, &write::report(&out));
            return r;
        }
        let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
        let mut r = ModuleResult::failed(msg.unwrap_or_else(|| {
            if err.is_empty() {
                format!("Timeout when waiting for {what}")
            } else {
                err
            }
        }));
        r.data.insert("elapsed".into(), Value::from(elapsed));
        r
    }))
}
