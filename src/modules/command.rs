//! `command`: run a program with arguments on the host, without a shell; and the pieces
//! `shell`, `raw` and `script` share with it (the guards `creates`/`removes`, check mode,
//! how output becomes rc/stdout/stderr).
//!
//! `command` quotes each word, so `|`, `;` and globs are literal, as in Ansible;
//! `$NAME` and `${NAME}` are expanded from the host's environment (Ansible's
//! `expand_argument_vars`), and nothing else. `creates`/`removes` are checked in the same
//! script, so a skipped command costs the same one round trip.

use serde_json::Value;

use super::args::{self, Param, param};
use super::registry::{FreeForm, Output, Spec};
use super::{Module, ModuleCtx, ModuleResult, Plan};
use crate::connection::{ExecOutput, quote};

/// A command-like module's argument struct: its own fields, then `chdir`, `creates` and
/// `removes`, with `guards()`. One struct, so unknown parameters are still refused.
macro_rules! guarded_args {
    ($(#[$meta:meta])* pub struct $name:ident { $($field:tt)* }) => {
        $(#[$meta])*
        #[derive(Debug, serde::Deserialize)]
        pub struct $name {
            $($field)*
            #[serde(default, deserialize_with = "crate::modules::args::opt_text")]
            chdir: Option<String>,
            #[serde(default, deserialize_with = "crate::modules::args::opt_text")]
            creates: Option<String>,
            #[serde(default, deserialize_with = "crate::modules::args::opt_text")]
            removes: Option<String>,
        }

        impl $name {
            /// `chdir`, `creates` and `removes`, moved out.
            fn guards(&mut self) -> crate::modules::command::Guards {
                crate::modules::command::Guards {
                    chdir: self.chdir.take(),
                    creates: self.creates.take(),
                    removes: self.removes.take(),
                }
            }
        }
    };
}
pub(super) use guarded_args;

pub static SPEC: Spec = Spec {
    name: "command",
    summary: "Run a program with arguments on the host, without a shell.",
    params: PARAMS,
    free_form: FreeForm::CommandLine,
    output: Output::Command,
    ..Spec::host::<Command>()
};

const PARAMS: &[Param] = &[
    param(
        "_raw_params",
        &[],
        "The command line (free form): words split as a shell would, then run without one.",
    ),
    param("cmd", &[], "The command line, as a parameter."),
    param(
        "argv",
        &[],
        "The program and its arguments as a list, each passed as it is.",
    ),
    param("chdir", &[], CHDIR_DOC),
    param("creates", &[], CREATES_DOC),
    param("removes", &[], REMOVES_DOC),
    param("stdin", &[], STDIN_DOC),
    param(
        "stdin_add_newline",
        &[],
        "bool, default yes. End `stdin` with a newline.",
    ),
    param("strip_empty_ends", &[], STRIP_DOC),
    param(
        "expand_argument_vars",
        &[],
        "bool, default yes. `$NAME` and `${NAME}` in the words are replaced by the host's environment variables (left as written when unset).",
    ),
];

pub(super) const CHDIR_DOC: &str = "Directory to change into first.";
pub(super) const CREATES_DOC: &str =
    "When this path exists on the host, the command is not run (ok, not changed).";
pub(super) const REMOVES_DOC: &str =
    "When this path does not exist on the host, the command is not run.";
pub(super) const STDIN_DOC: &str = "Text sent to the command's standard input.";
pub(super) const STRIP_DOC: &str =
    "bool, default yes. Strip empty lines at the end of `stdout` and `stderr`.";

guarded_args! {
pub struct Args {
    #[serde(default, rename = "_raw_params", deserialize_with = "args::opt_text")]
    raw: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    cmd: Option<String>,
    #[serde(default)]
    argv: Option<Vec<Value>>,
    #[serde(default, deserialize_with = "args::opt_text")]
    stdin: Option<String>,
    #[serde(default = "args::yes", deserialize_with = "args::boolean")]
    stdin_add_newline: bool,
    #[serde(default = "args::yes", deserialize_with = "args::boolean")]
    strip_empty_ends: bool,
    #[serde(default = "args::yes", deserialize_with = "args::boolean")]
    expand_argument_vars: bool,
}
}

pub struct Command;

impl Module for Command {
    type Args = Args;

    fn check(a: &Args) -> Result<(), String> {
        let given = [a.raw.is_some(), a.cmd.is_some(), a.argv.is_some()];
        match given.iter().filter(|g| **g).count() {
            0 => Err("no command given (free form, 'cmd' or 'argv')".into()),
            1 => Ok(()),
            _ => Err("give the command once: free form, 'cmd' or 'argv'".into()),
        }
    }

    fn plan(mut a: Args, ctx: &ModuleCtx<'_>) -> Result<Plan, String> {
        let guards = a.guards();
        let words: Vec<String> = match (&a.argv, a.raw.as_deref().or(a.cmd.as_deref())) {
            (Some(argv), _) => argv
                .iter()
                .map(|v| args::text_of(v).ok_or_else(|| format!("argv: {v} is not a string")))
                .collect::<Result<_, _>>()?,
            (None, Some(line)) => shell_words(line)?,
            (None, None) => return Err("no command given (free form, 'cmd' or 'argv')".into()),
        };
        if words.is_empty() {
            return Err("empty command".into());
        }
        let (prelude, line) = if a.expand_argument_vars {
            with_env_vars(&words)
        } else {
            let quoted: Vec<String> = words.iter().map(|w| quote(w)).collect();
            (String::new(), quoted.join(" "))
        };
        let shown = Shown {
            cmd: Some(Value::Array(words.into_iter().map(Value::String).collect())),
            strip_empty_ends: a.strip_empty_ends,
        };
        let stdin = stdin_bytes(a.stdin, a.stdin_add_newline);
        Ok(run(
            &guards,
            &format!("{LOCALE_AS_ANSIBLE}{prelude}exec {line}"),
            stdin,
            ctx,
            shown,
        ))
    }
}

/// Words quoted for `sh`, with `$NAME`/`${NAME}` taken from the host's environment (as
/// Python's `os.path.expandvars`: an unset variable stays as written). Nothing else is
/// expanded: no commands, globs or other parameter forms. Each variable is read into a
/// shell variable first (`prelude`), so the words only ever hold quoted text and `"$_oeN"`.
pub(super) fn with_env_vars(words: &[String]) -> (String, String) {
    let mut prelude = String::new();
    let mut n = 0;
    let line = words
        .iter()
        .map(|word| {
            let mut out = String::new();
            let mut literal = String::new();
            let mut rest = word.as_str();
            while let Some(i) = rest.find('$') {
                literal.push_str(&rest[..i]);
                let after = &rest[i + 1..];
                let (name, used) = match after.strip_prefix('{') {
                    Some(inner) => match inner.find('}') {
                        Some(end) if is_name(&inner[..end]) => (&inner[..end], end + 2),
                        _ => ("", 0),
                    },
                    None => {
                        let end = after
                            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                            .unwrap_or(after.len());
                        (&after[..end], end)
                    }
                };
                if !is_name(name) {
                    literal.push('$');
                    rest = after;
                    continue;
                }
                if !literal.is_empty() {
                    out.push_str(&quote(&std::mem::take(&mut literal)));
                }
                // The text as written has no quote in it: a name, `$`, braces.
                let written = &rest[i..i + 1 + used];
                prelude.push_str(&format!("_oe{n}=${{{name}-'{written}'}}\n"));
                out.push_str(&format!("\"$_oe{n}\""));
                n += 1;
                rest = &after[used..];
            }
            literal.push_str(rest);
            if out.is_empty() || !literal.is_empty() {
                out.push_str(&quote(&literal));
            }
            out
        })
        .collect::<Vec<_>>()
        .join(" ");
    (prelude, line)
}

fn is_name(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `chdir`, `creates` and `removes`.
#[derive(Debug, Default)]
pub(super) struct Guards {
    pub chdir: Option<String>,
    pub creates: Option<String>,
    pub removes: Option<String>,
}

/// Printed by the script when `creates`/`removes` says there is nothing to do.
const SKIP_MARK: &str = "__OLYMPUS_SKIPPED__:";
/// Printed in check mode instead of running.
const CHECK_MARK: &str = "__OLYMPUS_CHECK__";

/// The guards, in script form: `creates`/`removes` end the script with a skip mark, then
/// `+` (exists) or `-` (does not exist), then the path.
pub(super) fn guard_script(g: &Guards) -> String {
    let mut script = String::new();
    if let Some(c) = &g.creates {
        script.push_str(&format!(
            "if [ -e {q} ]; then printf '%s' {m}; exit 0; fi\n",
            q = quote(c),
            m = quote(&format!("{SKIP_MARK}+{c}"))
        ));
    }
    if let Some(r) = &g.removes {
        script.push_str(&format!(
            "if [ ! -e {q} ]; then printf '%s' {m}; exit 0; fi\n",
            q = quote(r),
            m = quote(&format!("{SKIP_MARK}-{r}"))
        ));
    }
    script
}

/// The check-mode ending: nothing runs, the guards above still tell whether it would.
pub(super) const CHECK_SCRIPT: &str = "printf '%s' '__OLYMPUS_CHECK__'\nexit 0\n";

/// The character set commands see where the login gives none, as under ansible-core: its
/// modules run in Python, which (PEP 538) sets `LC_CTYPE=C.UTF-8` when the locale is `C` or
/// `POSIX` and `LC_ALL` is not set, and every command a module starts inherits it. Without
/// this, `pg_createcluster` (say) makes an SQL_ASCII cluster under olympus and a UTF8 one
/// under Ansible on the same host. Only where the host has the locale.
pub(super) const LOCALE_AS_ANSIBLE: &str = "if [ -z \"${LC_ALL-}\" ]; then case \"${LC_CTYPE:-${LANG:-C}}\" in C|POSIX) if [ -e /usr/lib/locale/C.utf8 ] || [ -e /usr/lib/locale/C.UTF-8 ]; then export LC_CTYPE=C.UTF-8; fi;; esac; fi\n";

/// Runs `body` (shell text) after the guards, in `chdir`; check mode runs only the guards.
pub(super) fn run(
    g: &Guards,
    body: &str,
    stdin: Option<bytes::Bytes>,
    ctx: &ModuleCtx<'_>,
    shown: Shown,
) -> Plan {
    let mut script = guard_script(g);
    if ctx.check_mode {
        script.push_str(CHECK_SCRIPT);
    } else {
        if let Some(d) = &g.chdir {
            script.push_str(&format!("cd {} || exit 1\n", quote(d)));
        }
        script.push_str(body);
        script.push('\n');
    }
    Plan::remote(script, stdin, move |o| finish(o, &shown))
}

/// `stdin` as bytes, with the newline Ansible adds unless told not to.
pub(super) fn stdin_bytes(stdin: Option<String>, add_newline: bool) -> Option<bytes::Bytes> {
    stdin.map(|s| {
        let mut b = s.into_bytes();
        if add_newline {
            b.push(b'\n');
        }
        bytes::Bytes::from(b)
    })
}

/// How a command's result is shown: its `cmd`, and whether empty lines at the end of
/// stdout/stderr are stripped.
#[derive(Debug, Clone)]
pub(super) struct Shown {
    pub cmd: Option<Value>,
    pub strip_empty_ends: bool,
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

/// `s` without the empty lines at its end (Ansible's `strip_empty_ends`), reusing its buffer.
fn strip_ends(mut s: String) -> String {
    let keep = s.trim_end_matches(['\r', '\n']).len();
    s.truncate(keep);
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

/// `start`, `end` and `delta` as Ansible's command module words them (Python's `str()` of a
/// local datetime and of a timedelta), from the controller's clock around the round trip.
pub(super) fn times(
    start: std::time::SystemTime,
    took: std::time::Duration,
) -> [(&'static str, String); 3] {
    let at = |t: std::time::SystemTime| {
        jiff::ZonedDateTime::try_from(t)
            .map(|z| z.strftime("%Y-%m-%d %H:%M:%S%.6f").to_string())
            .unwrap_or_default()
    };
    let end = start.checked_add(took).unwrap_or(start);
    let micros = took.subsec_micros();
    let secs = took.as_secs();
    let delta = format!(
        "{}:{:02}:{:02}{}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        if micros == 0 {
            String::new()
        } else {
            format!(".{micros:06}")
        }
    );
    [("start", at(start)), ("end", at(end)), ("delta", delta)]
}

pub(super) fn finish(out: ExecOutput, shown: &Shown) -> ModuleResult {
    let timing = out.timing;
    let rc_raw = out.rc;
    let signal = out.signal;
    let stdout = text_of(out.stdout);
    let stderr = text_of(out.stderr);
    let mut r = ModuleResult::ok();
    if let Some(cmd) = &shown.cmd {
        r.data.insert("cmd".into(), cmd.clone());
    }
    if let Some(mark) = stdout.strip_prefix(SKIP_MARK) {
        let (path, what) = match mark.strip_prefix('+') {
            Some(p) => (p, "exists"),
            None => (mark.strip_prefix('-').unwrap_or(mark), "does not exist"),
        };
        r.msg = Some(format!("Did not run command since '{path}' {what}"));
        r.data.insert("rc".into(), Value::from(0));
        let out = format!("skipped, since {path} {what}");
        r.data.insert("stdout_lines".into(), lines(&out));
        r.data.insert("stdout".into(), Value::from(out));
        r.data.insert("stderr".into(), Value::from(""));
        r.data
            .insert("stderr_lines".into(), Value::Array(Vec::new()));
        return r;
    }
    if stdout == CHECK_MARK {
        r.skipped = true;
        r.msg = Some("Command would have run if not in check mode".into());
        return r;
    }
    r.changed = true;
    let rc = rc_raw.map(i64::from).unwrap_or(-1);
    r.data.insert("rc".into(), Value::from(rc));
    if let Some((start, took)) = timing {
        for (k, v) in times(start, took) {
            r.data.insert(k.into(), Value::from(v));
        }
    }
    let (stdout, stderr) = if shown.strip_empty_ends {
        (strip_ends(stdout), strip_ends(stderr))
    } else {
        (stdout, stderr)
    };
    let (stdout_lines, cut_out) = lines_capped(&stdout);
    let (stderr_lines, cut_err) = lines_capped(&stderr);
    r.data.insert("stdout".into(), Value::String(stdout));
    r.data.insert("stderr".into(), Value::String(stderr));
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
    } else if shown.cmd.is_some() {
        // command and shell say so (raw has no msg).
        r.msg = Some(String::new());
    }
    r
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
    fn times_are_worded_as_ansible_words_them() {
        let start = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
        let [(_, s), (_, e), (_, d)] =
            times(start, std::time::Duration::from_micros(3_723_004_567));
        assert_eq!(d, "1:02:03.004567");
        assert!(
            s.len() == 26 && s.ends_with(".000000") && s.as_bytes()[10] == b' ',
            "{s}"
        );
        assert!(e.ends_with(".004567"), "{e}");
        let [_, _, (_, d)] = times(start, std::time::Duration::from_secs(1));
        assert_eq!(d, "0:00:01");
    }

    #[test]
    fn env_vars_expand_and_nothing_else() {
        let sh = |w: &str| {
            let o = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg({
                    let (prelude, line) = with_env_vars(&[w.to_string()]);
                    format!("{prelude}printf '%s' {line}")
                })
                .env("OLY_X", "v a l")
                .env_remove("OLY_UNSET")
                .output()
                .expect("sh");
            String::from_utf8_lossy(&o.stdout).into_owned()
        };
        assert_eq!(sh("$OLY_X"), "v a l");
        assert_eq!(sh("a${OLY_X}b"), "av a lb");
        assert_eq!(sh("$OLY_UNSET/x"), "$OLY_UNSET/x");
        assert_eq!(sh("${OLY_UNSET}"), "${OLY_UNSET}");
        assert_eq!(sh("$(id) `id` * $1 ${x:-y} $"), "$(id) `id` * $1 ${x:-y} $");
        assert_eq!(sh("it's"), "it's");
    }

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
        let st = Shown {
            cmd: Some(Value::from("x")),
            strip_empty_ends: true,
        };
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
                stdout: format!("{SKIP_MARK}+/tmp/x").into_bytes(),
                ..Default::default()
            },
            &st,
        );
        assert!(!r.changed && !r.failed);
        assert_eq!(
            r.msg.as_deref(),
            Some("Did not run command since '/tmp/x' exists")
        );
    }
}
