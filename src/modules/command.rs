//! `command`, `shell`, `raw` and `ping`: run a command line, report rc and output.
//!
//! `command` runs its words without a shell (each word quoted, so `$HOME` and `|` are
//! literal, as in Ansible); `shell` and `raw` hand the line to `/bin/sh`. `creates`/`removes`
//! are checked in the same script, so a skipped command costs the same one round trip.

use serde_json::Value;

use super::{ModuleCtx, ModuleError, ModuleResult, Plan, arg_str, args_error, check_keys};
use crate::connection::{ExecOutput, quote};
use crate::yaml::Vars;

/// Printed by the script when `creates`/`removes` says there is nothing to do.
const SKIP_MARK: &str = "__OLYMPUS_SKIPPED__:";

pub(super) fn plan(module: &str, args: &Vars, ctx: &ModuleCtx<'_>) -> Result<Plan, ModuleError> {
    check_keys(
        module,
        args,
        &[
            "_raw_params",
            "cmd",
            "argv",
            "chdir",
            "creates",
            "removes",
            "executable",
            "stdin",
            "stdin_add_newline",
            "strip_empty_ends",
        ],
    )?;
    let line: String = if let Some(argv) = args.get("argv").and_then(Value::as_array) {
        if module != "command" {
            return Err(args_error(module, "'argv' is only for the command module"));
        }
        argv.iter()
            .map(|a| {
                quote(
                    &a.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| a.to_string()),
                )
            })
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        let raw = arg_str(args, "_raw_params")
            .or_else(|| arg_str(args, "cmd"))
            .ok_or_else(|| args_error(module, "no command given (free-form, 'cmd' or 'argv')"))?;
        if module == "command" {
            let words = shell_words(raw).map_err(|e| args_error(module, e))?;
            if words.is_empty() {
                return Err(args_error(module, "empty command"));
            }
            words.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" ")
        } else {
            raw.to_string()
        }
    };
    let mut script = String::new();
    if let Some(c) = arg_str(args, "creates") {
        script.push_str(&format!(
            "if [ -e {q} ]; then printf '%s' {m}; exit 0; fi\n",
            q = quote(c),
            m = quote(&format!("{SKIP_MARK}{c} exists"))
        ));
    }
    if let Some(r) = arg_str(args, "removes") {
        script.push_str(&format!(
            "if [ ! -e {q} ]; then printf '%s' {m}; exit 0; fi\n",
            q = quote(r),
            m = quote(&format!("{SKIP_MARK}{r} does not exist"))
        ));
    }
    if ctx.check_mode {
        // Nothing runs in check mode; the guards above still tell whether it would.
        script.push_str("printf '%s' '__OLYMPUS_CHECK__'\nexit 0\n");
    } else {
        if let Some(d) = arg_str(args, "chdir") {
            script.push_str(&format!("cd {} || exit 1\n", quote(d)));
        }
        match (module, arg_str(args, "executable")) {
            ("shell", Some(exe)) => {
                script.push_str(&format!("exec {} -c {}\n", quote(exe), quote(&line)))
            }
            ("command", _) => script.push_str(&format!("exec {line}\n")),
            _ => script.push_str(&format!("{line}\n")),
        }
    }
    let stdin = arg_str(args, "stdin").map(|s| {
        let mut b = s.as_bytes().to_vec();
        if args
            .get("stdin_add_newline")
            .and_then(Value::as_bool)
            .unwrap_or(true)
        {
            b.push(b'\n');
        }
        b
    });
    let mut state = Vars::new();
    state.insert("cmd".into(), Value::String(line));
    state.insert("module".into(), Value::String(module.to_string()));
    Ok(Plan::remote(
        script,
        stdin.map(bytes::Bytes::from),
        move |o| finish(o, &state),
    ))
}

/// A command-like result (rc, stdout, stderr...) for `cmd`.
pub(super) fn finish_output(out: ExecOutput, cmd: &str) -> ModuleResult {
    let mut st = Vars::new();
    st.insert("cmd".into(), Value::from(cmd));
    finish(out, &st)
}

fn lines(s: &str) -> Value {
    Value::Array(s.lines().map(|l| Value::String(l.to_string())).collect())
}

/// The most entries `stdout_lines`/`stderr_lines` hold: a list of many short lines costs
/// far more memory than the text, so it is bounded too (the result says when it is cut).
const MAX_LINES: usize = 100_000;

/// Text from output bytes, without a copy when they are valid UTF-8.
fn text_of(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// `s` without one final newline, reusing its buffer.
fn chomp(mut s: String) -> String {
    if s.ends_with('\n') {
        s.pop();
    }
    s
}

/// The lines of `s`, at most [`MAX_LINES`]; true when some were left out.
fn lines_capped(s: &str) -> (Value, bool) {
    let mut it = s.lines();
    let kept: Vec<Value> = it
        .by_ref()
        .take(MAX_LINES)
        .map(|l| Value::String(l.to_string()))
        .collect();
    (Value::Array(kept), it.next().is_some())
}

fn finish(out: ExecOutput, state: &Vars) -> ModuleResult {
    let rc_raw = out.rc;
    let signal = out.signal;
    let stdout = text_of(out.stdout);
    let stderr = text_of(out.stderr);
    let mut r = ModuleResult::ok();
    r.data.insert(
        "cmd".into(),
        state.get("cmd").cloned().unwrap_or(Value::Null),
    );
    if let Some(reason) = stdout.strip_prefix(SKIP_MARK) {
        r.msg = Some(format!("Did not run command since {reason}"));
        r.data.insert("rc".into(), Value::from(0));
        r.data.insert(
            "stdout".into(),
            Value::from(format!("skipped, since {reason}")),
        );
        r.data.insert(
            "stdout_lines".into(),
            lines(&format!("skipped, since {reason}")),
        );
        r.data.insert("stderr".into(), Value::from(""));
        r.data
            .insert("stderr_lines".into(), Value::Array(Vec::new()));
        return r;
    }
    if stdout == "__OLYMPUS_CHECK__" {
        r.skipped = true;
        r.msg = Some("Command would have run if not in check mode".into());
        return r;
    }
    r.changed = true;
    let rc = rc_raw.map(i64::from).unwrap_or(-1);
    r.data.insert("rc".into(), Value::from(rc));
    let (stdout_lines, cut_out) = lines_capped(&stdout);
    let (stderr_lines, cut_err) = lines_capped(&stderr);
    r.data.insert("stdout".into(), Value::String(chomp(stdout)));
    r.data.insert("stderr".into(), Value::String(chomp(stderr)));
    r.data.insert("stdout_lines".into(), stdout_lines);
    r.data.insert("stderr_lines".into(), stderr_lines);
    if cut_out || cut_err {
        r.data.insert("truncated".into(), Value::Bool(true));
        r.data.insert(
            "warnings".into(),
            Value::Array(vec![Value::from(format!(
                "stdout_lines/stderr_lines cut at {MAX_LINES} lines (stdout/stderr hold the text)"
            ))]),
        );
    }
    if rc_raw != Some(0) {
        r.failed = true;
        r.msg = Some(match &signal {
            Some(sig) => format!("killed by signal {sig}"),
            None => "non-zero return code".into(),
        });
    }
    r
}

/// `ping`: proves the host runs a shell for us.
pub(super) fn ping() -> Plan {
    fn done(out: ExecOutput, _: &Vars) -> ModuleResult {
        if out.stdout == b"pong\n" {
            let mut r = ModuleResult::ok();
            r.data.insert("ping".into(), Value::from("pong"));
            r
        } else {
            ModuleResult::failed(format!(
                "unexpected answer: {}",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }
    Plan::remote("echo pong".into(), None, |o| done(o, &Vars::new()))
}

/// POSIX-shell-like word splitting for `command`'s free form (quotes group, backslash
/// escapes); no expansion of any kind.
pub(crate) fn shell_words(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => cur.push(ch),
                        None => return Err(format!("unbalanced quote in '{s}'")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(ch @ ('"' | '\\' | '$' | '`')) => cur.push(ch),
                            Some(ch) => {
                                cur.push('\\');
                                cur.push(ch);
                            }
                            None => return Err(format!("unbalanced quote in '{s}'")),
                        },
                        Some(ch) => cur.push(ch),
                        None => return Err(format!("unbalanced quote in '{s}'")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(ch) = chars.next() {
                    cur.push(ch);
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words() {
        assert_eq!(
            shell_words("echo 'a b' \"c $d\" e\\ f").unwrap(),
            ["echo", "a b", "c $d", "e f"]
        );
        assert!(shell_words("echo 'x").is_err());
    }

    #[test]
    fn results_from_output() {
        let mut st = Vars::new();
        st.insert("cmd".into(), Value::from("x"));
        let r = finish(
            ExecOutput {
                rc: Some(2),
                stdout: b"a\nb\n".to_vec(),
                ..Default::default()
            },
            &st,
        );
        assert!(r.failed && r.changed);
        assert_eq!(r.data["stdout_lines"], serde_json::json!(["a", "b"]));
        assert_eq!(r.data["stdout"], "a\nb");
        let r = finish(
            ExecOutput {
                rc: Some(0),
                stdout: format!("{SKIP_MARK}/tmp/x exists").into_bytes(),
                ..Default::default()
            },
            &st,
        );
        assert!(!r.changed && !r.failed);
        assert_eq!(
            r.msg.as_deref(),
            Some("Did not run command since /tmp/x exists")
        );
    }
}
