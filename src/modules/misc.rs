//! `pause`, `wait_for`, `script`, `fetch`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use super::{ModuleCtx, ModuleError, ModuleResult, Plan, arg_str, args_error, check_keys};
use crate::connection::{ExecOutput, quote};
use crate::yaml::Vars;

fn num(args: &Vars, key: &str) -> Result<Option<f64>, ModuleError> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(Value::String(s)) => s
            .trim()
            .parse::<f64>()
            .map(Some)
            .map_err(|_| args_error("module", format!("'{key}' must be a number, got '{s}'"))),
        Some(other) => Err(args_error(
            "module",
            format!("'{key}' must be a number, got {other}"),
        )),
    }
}

/// `pause`: waits on the controller. Prompts are refused: olympus runs unattended.
pub(super) fn pause(args: &Vars) -> Result<Plan, ModuleError> {
    check_keys("pause", args, &["seconds", "minutes", "prompt", "echo"])?;
    if args.contains_key("prompt") {
        return Err(args_error(
            "pause",
            "'prompt' needs a person at a terminal; olympus runs unattended (use seconds/minutes)",
        ));
    }
    let secs = num(args, "seconds")?.unwrap_or(0.0) + num(args, "minutes")?.unwrap_or(0.0) * 60.0;
    if !(0.0..=86_400.0).contains(&secs) {
        return Err(args_error(
            "pause",
            "the pause must be between 0 seconds and a day",
        ));
    }
    let mut r = ModuleResult::ok();
    r.data.insert("delta".into(), Value::from(secs));
    r.data.insert(
        "stdout".into(),
        Value::from(format!("Paused for {secs} seconds")),
    );
    Ok(Plan::Wait(Duration::from_secs_f64(secs), r))
}

/// `wait_for`: a loop on the host until a port, a file or a pattern in a file is there (or
/// gone). Ports on the host itself are read from /proc/net/tcp, so nothing beyond sh and
/// coreutils is needed; other hosts' ports are probed with bash's /dev/tcp or nc.
pub(super) fn wait_for(args: &Vars) -> Result<Plan, ModuleError> {
    check_keys(
        "wait_for",
        args,
        &[
            "host",
            "port",
            "path",
            "search_regex",
            "state",
            "timeout",
            "delay",
            "sleep",
            "msg",
            "connect_timeout",
        ],
    )?;
    let timeout = num(args, "timeout")?.unwrap_or(300.0) as u64;
    let delay = num(args, "delay")?.unwrap_or(0.0) as u64;
    let sleep = num(args, "sleep")?.unwrap_or(1.0).max(0.1);
    let state = arg_str(args, "state").unwrap_or("started");
    let host = arg_str(args, "host").unwrap_or("127.0.0.1");
    let port = num(args, "port")?.map(|p| p as u32);
    let path = arg_str(args, "path");
    let regex = arg_str(args, "search_regex");
    let want_present = matches!(state, "started" | "present");
    if !matches!(state, "started" | "present" | "stopped" | "absent") {
        return Err(args_error(
            "wait_for",
            format!("state '{state}' is not supported (started, present, stopped, absent)"),
        ));
    }
    let cond = match (port, path) {
        (Some(_), Some(_)) => {
            return Err(args_error(
                "wait_for",
                "'port' and 'path' are mutually exclusive",
            ));
        }
        (Some(p), None) => {
            let hex = format!("{p:04X}");
            if matches!(host, "127.0.0.1" | "localhost" | "0.0.0.0" | "::1" | "::") {
                format!(
                    "cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk '$4 == \"0A\" {{ split($2, a, \":\"); if (a[2] == \"{hex}\") f = 1 }} END {{ exit !f }}'"
                )
            } else {
                let h = quote(host);
                format!(
                    "if command -v bash >/dev/null 2>&1; then timeout 2 bash -c 'exec 3<>/dev/tcp/'{h}'/{p}' 2>/dev/null; elif command -v nc >/dev/null 2>&1; then nc -z -w 2 {h} {p}; else echo 'wait_for: no bash or nc on the host to probe {host}:{p}' >&2; exit 3; fi"
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
        format!(
            "start=$(date +%s); end=$((start + {timeout}))\nsleep {delay}\nwhile :; do\n  if {test}; then echo \"elapsed=$(( $(date +%s) - start ))\"; exit 0; fi\n  if [ \"$(date +%s)\" -ge \"$end\" ]; then echo \"elapsed=$(( $(date +%s) - start ))\"; exit 1; fi\n  sleep {sleep}\ndone\n"
        )
    };
    let what = match (port, path) {
        (Some(p), _) => format!("port {p} on {host}"),
        (_, Some(f)) => f.to_string(),
        _ => "the timeout".into(),
    };
    let msg = arg_str(args, "msg").map(str::to_string);
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

/// `script`: sends a controller-side script over standard input and runs it.
pub(super) fn script(args: &Vars, ctx: &ModuleCtx<'_>) -> Result<Plan, ModuleError> {
    check_keys(
        "script",
        args,
        &[
            "_raw_params",
            "cmd",
            "chdir",
            "creates",
            "removes",
            "executable",
        ],
    )?;
    let line = arg_str(args, "_raw_params")
        .or_else(|| arg_str(args, "cmd"))
        .ok_or_else(|| args_error("script", "a script path is required"))?;
    let words = super::command::shell_words(line).map_err(|e| args_error("script", e))?;
    let Some((file, rest)) = words.split_first() else {
        return Err(args_error("script", "a script path is required"));
    };
    let base = ctx
        .vars
        .get("playbook_dir")
        .and_then(Value::as_str)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    let path = [
        base.join("files").join(file),
        base.join(file),
        PathBuf::from(file),
    ]
    .into_iter()
    .find(|p| p.is_file())
    .ok_or_else(|| {
        args_error(
            "script",
            format!("could not find '{file}' next to the playbook or in files/"),
        )
    })?;
    let body = ctx
        .files
        .get(&path)
        .map_err(|e| args_error("script", format!("{}: {e}", path.display())))?;
    let argv: String = rest.iter().map(|a| format!(" {}", quote(a))).collect();
    let mut s = String::new();
    if let Some(c) = arg_str(args, "creates") {
        s.push_str(&format!(
            "if [ -e {} ]; then printf '%s' '__OLYMPUS_SKIPPED__:{c} exists'; exit 0; fi\n",
            quote(c),
            c = c.replace('\'', "")
        ));
    }
    if let Some(r) = arg_str(args, "removes") {
        s.push_str(&format!("if [ ! -e {} ]; then printf '%s' '__OLYMPUS_SKIPPED__:{r} does not exist'; exit 0; fi\n", quote(r), r = r.replace('\'', "")));
    }
    if ctx.check_mode {
        s.push_str("printf '%s' '__OLYMPUS_CHECK__'; exit 0\n");
        return Ok(Plan::remote(s, None, |o| {
            super::command::finish_output(o, "script")
        }));
    }
    s.push_str("t=$(mktemp) || exit 1\ntrap 'rm -f -- \"$t\"' EXIT\ncat > \"$t\" || exit 1\nchmod 700 \"$t\" || exit 1\n");
    if let Some(d) = arg_str(args, "chdir") {
        s.push_str(&format!("cd {} || exit 1\n", quote(d)));
    }
    match arg_str(args, "executable") {
        Some(exe) => s.push_str(&format!("{} \"$t\"{argv} </dev/null\n", quote(exe))),
        None => s.push_str(&format!("\"$t\"{argv} </dev/null\n")),
    }
    Ok(Plan::remote(s, Some(body.bytes), |o| {
        super::command::finish_output(o, "script")
    }))
}

/// `fetch`: copies a file from the host to the controller, under `dest/<host>/<path>`
/// (or `dest` itself with `flat: yes`).
pub(super) fn fetch(args: &Vars, ctx: &ModuleCtx<'_>) -> Result<Plan, ModuleError> {
    check_keys(
        "fetch",
        args,
        &[
            "src",
            "dest",
            "flat",
            "fail_on_missing",
            "validate_checksum",
        ],
    )?;
    let src = arg_str(args, "src")
        .ok_or_else(|| args_error("fetch", "'src' is required"))?
        .to_string();
    let dest = arg_str(args, "dest").ok_or_else(|| args_error("fetch", "'dest' is required"))?;
    let flat = args
        .get("flat")
        .map(crate::template::ansible_bool)
        .unwrap_or(false);
    let fail_on_missing = args
        .get("fail_on_missing")
        .map(crate::template::ansible_bool)
        .unwrap_or(true);
    let host = ctx
        .vars
        .get("inventory_hostname")
        .and_then(Value::as_str)
        .unwrap_or("localhost");
    let local = if flat {
        if dest.ends_with('/') {
            Path::new(dest).join(Path::new(&src).file_name().unwrap_or_default())
        } else {
            PathBuf::from(dest)
        }
    } else {
        Path::new(dest).join(host).join(src.trim_start_matches('/'))
    };
    let check = ctx.check_mode;
    let script = format!(
        "p={}\nif [ ! -e \"$p\" ]; then echo missing; exit 0; fi\nif [ -d \"$p\" ]; then echo isdir; exit 0; fi\necho exists; base64 -w0 < \"$p\"; echo\n",
        quote(&src)
    );
    Ok(Plan::remote(script, None, move |out| {
        if out.rc != Some(0) {
            return ModuleResult::failed(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut lines = text.lines();
        match lines.next() {
            Some("exists") => {}
            Some("isdir") => {
                return ModuleResult::failed(format!(
                    "remote file {src} is a directory, fetch cannot work on directories"
                ));
            }
            _ => {
                let msg = format!("the remote file does not exist: {src}");
                if fail_on_missing {
                    return ModuleResult::failed(msg);
                }
                let mut r = ModuleResult::ok();
                r.msg = Some(msg);
                return r;
            }
        }
        let data = match data_encoding::BASE64.decode(lines.next().unwrap_or("").trim().as_bytes())
        {
            Ok(d) => d,
            Err(e) => return ModuleResult::failed(format!("could not decode {src}: {e}")),
        };
        let mut r = ModuleResult::ok();
        r.data.insert(
            "dest".into(),
            Value::from(local.to_string_lossy().into_owned()),
        );
        r.data.insert(
            "checksum".into(),
            Value::from(super::controller_files::sha1_hex(&data)),
        );
        if std::fs::read(&local).ok().as_deref() == Some(&data[..]) {
            return r;
        }
        r.changed = true;
        if check {
            return r;
        }
        let write = || -> std::io::Result<()> {
            if let Some(parent) = local.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let tmp = local.with_extension(format!("olympus-{}.tmp", std::process::id()));
            std::fs::write(&tmp, &data)?;
            std::fs::rename(&tmp, &local)
        };
        if let Err(e) = write() {
            return ModuleResult::failed(format!("could not write {}: {e}", local.display()));
        }
        r
    }))
}
