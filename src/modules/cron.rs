//! `cron`: a named job (`#Ansible: NAME` above its line) or an environment variable in a
//! user's crontab (through the host's `crontab`) or in a file under `/etc/cron.d`. The
//! first round trip reads the crontab; the new one is computed here the way ansible-core's
//! module edits its lines, and the second round trip installs it (a cron file through a
//! temporary file and a rename) unless checking.

use serde::Deserialize;
use serde_json::Value;

use super::args::{self, Param, param};
use super::registry::Spec;
use super::write::report;
use super::{Module, ModuleCtx, ModuleResult, Plan};
use crate::connection::{ExecOutput, quote};

pub static SPEC: Spec = Spec {
    name: "cron",
    summary: "Manage a named cron job or variable in a user's crontab or a file in /etc/cron.d.",
    params: PARAMS,
    ..Spec::host::<Cron>()
};

const PARAMS: &[Param] = &[
    param(
        "name",
        &[],
        "Required. The job's name (the `#Ansible: NAME` line above it), or the variable's with `env`.",
    ),
    param(
        "job",
        &["value"],
        "The command (or the variable's value with `env`); required with state=present.",
    ),
    param("state", &[], "`present` (default) or `absent`."),
    param(
        "user",
        &[],
        "Whose crontab (default: the login user); the user field of a `cron_file` line.",
    ),
    param(
        "cron_file",
        &[],
        "A file in /etc/cron.d (or an absolute path) instead of a user's crontab; needs `user`.",
    ),
    param("minute", &[], "default `*`."),
    param("hour", &[], "default `*`."),
    param("day", &["dom"], "default `*`."),
    param("month", &[], "default `*`."),
    param("weekday", &["dow"], "default `*`."),
    param(
        "special_time",
        &[],
        "`reboot`, `yearly`, `annually`, `monthly`, `weekly`, `daily` or `hourly` instead of the time fields.",
    ),
    param(
        "disabled",
        &[],
        "bool, default no. The job's line is commented out.",
    ),
    param(
        "env",
        &[],
        "bool, default no. Manage a variable (`NAME=\"job\"`) instead of a job.",
    ),
    param(
        "insertafter",
        &[],
        "With `env`: put a new variable after this one (default: first line).",
    ),
    param(
        "insertbefore",
        &[],
        "With `env`: put a new variable before this one.",
    ),
    param(
        "backup",
        &[],
        "bool, default no. Keep a copy of the crontab as it was (`backup_file`) when it changes.",
    ),
];

#[derive(Debug, Deserialize)]
pub struct Args {
    #[serde(deserialize_with = "args::text")]
    name: String,
    #[serde(default, alias = "value", deserialize_with = "args::opt_text")]
    job: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    state: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    user: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    cron_file: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    minute: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    hour: Option<String>,
    #[serde(default, alias = "dom", deserialize_with = "args::opt_text")]
    day: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    month: Option<String>,
    #[serde(default, alias = "dow", deserialize_with = "args::opt_text")]
    weekday: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    special_time: Option<String>,
    #[serde(default, deserialize_with = "args::boolean")]
    disabled: bool,
    #[serde(default, deserialize_with = "args::boolean")]
    env: bool,
    #[serde(default, deserialize_with = "args::opt_text")]
    insertafter: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    insertbefore: Option<String>,
    #[serde(default, deserialize_with = "args::boolean")]
    backup: bool,
}

const SPECIAL: [&str; 7] = [
    "reboot", "yearly", "annually", "monthly", "weekly", "daily", "hourly",
];

const MARK: &str = "#Ansible: ";

pub struct Cron;

impl Module for Cron {
    type Args = Args;

    fn check(a: &Args) -> Result<(), String> {
        let present = a.state.as_deref().unwrap_or("present");
        if !matches!(present, "present" | "absent") {
            return Err(format!("state must be present or absent, got '{present}'"));
        }
        if let Some(s) = &a.special_time
            && !SPECIAL.contains(&s.as_str())
        {
            return Err(format!(
                "special_time must be one of {}; got '{s}'",
                SPECIAL.join(", ")
            ));
        }
        if a.special_time.is_some()
            && [&a.minute, &a.hour, &a.day, &a.month, &a.weekday]
                .iter()
                .any(|f| f.as_deref().is_some_and(|v| v != "*"))
        {
            return Err("You must specify time and date fields or special time.".into());
        }
        if a.insertafter.is_some() && a.insertbefore.is_some() {
            return Err("'insertafter' and 'insertbefore' are mutually exclusive".into());
        }
        if a.cron_file.as_deref() == Some("/etc/crontab") {
            return Err("Will not manage /etc/crontab via cron_file, see documentation.".into());
        }
        if present == "present" {
            if a.cron_file.is_some() && a.user.is_none() {
                return Err(
                    "To use cron_file=... parameter you must specify user=... as well".into(),
                );
            }
            if a.job.is_none() {
                return Err("You must specify 'job' to install a new cron job or variable".into());
            }
            if (a.insertafter.is_some() || a.insertbefore.is_some()) && !a.env {
                return Err(
                    "Insertafter and insertbefore parameters are valid only with env=yes".into(),
                );
            }
        }
        if a.env && a.name.contains(' ') {
            return Err("Invalid name for environment variable".into());
        }
        Ok(())
    }

    fn plan(a: Args, ctx: &ModuleCtx<'_>) -> Result<Plan, String> {
        let file = a.cron_file.as_ref().map(|f| {
            if f.starts_with('/') {
                f.clone()
            } else {
                format!("/etc/cron.d/{f}")
            }
        });
        let user = a.user.clone().unwrap_or_default();
        // Read: the file, or the user's crontab (`crontab -l` exits 1 when there is none).
        let script = match &file {
            Some(f) => format!(
                "f={}\nif [ -f \"$f\" ]; then printf 'exists=1\\n'; printf 'content=%s\\n' \"$(base64 -w0 < \"$f\")\"; fi\n",
                quote(f)
            ),
            None => format!(
                "command -v crontab >/dev/null 2>&1 || {{ echo 'error=cron needs the crontab command on the host'; exit 0; }}\nu={}\nif [ -n \"$u\" ] && [ \"$(id -un)\" != \"$u\" ]; then set -- -u \"$u\"; else set --; fi\nt=$(mktemp) || exit 1\ncrontab \"$@\" -l > \"$t\" 2>/dev/null; rc=$?\nif [ $rc -gt 1 ]; then rm -f \"$t\"; echo 'error=Unable to read crontab'; exit 0; fi\nprintf 'content=%s\\n' \"$(base64 -w0 < \"$t\")\"; rm -f \"$t\"\n",
                quote(&user)
            ),
        };
        let check = ctx.check_mode;
        Ok(Plan::Remote {
            script,
            stdin: None,
            then: Box::new(move |out: ExecOutput| edit(a, file, check, out)),
        })
    }
}

/// The crontab as ansible-core reads it: its lines, and the text they came from (a user
/// crontab without the three header lines `crontab -l` may print).
fn read(text: &str, user_crontab: bool) -> (Vec<String>, String) {
    let mut existing = text.to_string();
    let mut lines = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let header = user_crontab
            && i <= 2
            && (l.starts_with("# DO NOT EDIT THIS FILE - edit the master and reinstall.")
                || (l.starts_with("# (/tmp/") && l.contains("installed on"))
                || (l.starts_with("# (") && l.contains("version")));
        if header {
            for end in ["\r\n", "\n", "\r", ""] {
                let with = format!("{l}{end}");
                if let Some(pos) = existing.find(&with) {
                    existing.replace_range(pos..pos + with.len(), "");
                    break;
                }
            }
        } else {
            lines.push(l.to_string());
        }
    }
    (lines, existing)
}

fn job_line(a: &Args, user_field: Option<&str>) -> String {
    let job = a.job.as_deref().unwrap_or("").trim_matches(['\r', '\n']);
    let prefix = if a.disabled { "#" } else { "" };
    let user = user_field.map(|u| format!(" {u}")).unwrap_or_default();
    match &a.special_time {
        Some(s) => format!("{prefix}@{s}{user} {job}"),
        None => {
            let f = |v: &Option<String>| v.clone().unwrap_or_else(|| "*".into());
            format!(
                "{prefix}{} {} {} {} {}{user} {job}",
                f(&a.minute),
                f(&a.hour),
                f(&a.day),
                f(&a.month),
                f(&a.weekday)
            )
        }
    }
}

/// What a job named `name` is now: its header and line, and whether a header had to be
/// added or renamed above an identical line (ansible-core's `find_job`).
fn find_job(lines: &mut Vec<String>, name: &str, job: Option<&str>) -> Option<(String, bool)> {
    let mut comment: Option<String> = None;
    for l in lines.iter() {
        if let Some(c) = &comment {
            if c == name {
                return Some((l.clone(), false));
            }
            comment = None;
        } else if let Some(n) = l.strip_prefix(MARK) {
            comment = Some(n.to_string());
        }
    }
    let job = job?;
    let i = lines.iter().position(|l| l == job)?;
    // Python's lines[i - 1] wraps around to the last line for the first one.
    let prev = if i == 0 { lines.len() - 1 } else { i - 1 };
    if !lines[prev].starts_with(MARK) {
        lines.insert(i, format!("{MARK}{name}"));
        return Some((job.to_string(), true));
    }
    if lines[prev] == format!("{MARK}None") {
        lines[prev] = format!("{MARK}{name}");
        return Some((job.to_string(), true));
    }
    None
}

/// Replaces (or with `None` removes) the line under `#Ansible: name`.
fn update_job(lines: &mut Vec<String>, name: &str, job: Option<&str>) {
    let header = format!("{MARK}{name}");
    let mut out = Vec::with_capacity(lines.len() + 1);
    let mut pending = false;
    for l in lines.drain(..) {
        if pending {
            if let Some(j) = job {
                out.push(header.clone());
                out.push(j.to_string());
            }
            pending = false;
        } else if l == header {
            pending = true;
        } else {
            out.push(l);
        }
    }
    *lines = out;
}

fn env_index(lines: &[String], name: &str) -> Option<usize> {
    let prefix = format!("{name}=");
    lines.iter().position(|l| l.starts_with(&prefix))
}

fn render(lines: &[String]) -> String {
    let text = lines.join("\n");
    if text.is_empty() {
        text
    } else {
        format!("{}\n", text.trim_end_matches(['\r', '\n']))
    }
}

fn edit(a: Args, file: Option<String>, check: bool, out: ExecOutput) -> Plan {
    let rep = report(&out);
    if let Some(e) = rep.get("error") {
        return Plan::Done(ModuleResult::failed(e.clone()));
    }
    if out.rc != Some(0) {
        return Plan::Done(super::write::script_failure(&out, &rep));
    }
    let text = rep
        .get("content")
        .and_then(|c| data_encoding::BASE64.decode(c.as_bytes()).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let (mut lines, existing) = read(&text, file.is_none());
    let present = a.state.as_deref().unwrap_or("present") == "present";
    let mut warnings: Vec<Value> = Vec::new();
    if let Some(f) = &file {
        let base = f.rsplit('/').next().unwrap_or(f);
        if base.is_empty()
            || !base
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            warnings.push(Value::from(format!(
                "Filename portion of cron_file (\"{base}\") should consist solely of upper- and lower-case letters, digits, underscores, and hyphens"
            )));
        }
    }
    let mut changed = false;
    let mut remove_file = false;
    if a.env {
        let decl = format!("{}=\"{}\"", a.name, a.job.as_deref().unwrap_or(""));
        let old = env_index(&lines, &a.name);
        if present {
            match old {
                None => {
                    let at = match (&a.insertafter, &a.insertbefore) {
                        (Some(other), _) => env_index(&lines, other).map(|i| i + 1).ok_or(other),
                        (None, Some(other)) => env_index(&lines, other).ok_or(other),
                        (None, None) => Ok(0),
                    };
                    match at {
                        Ok(i) => lines.insert(i, decl),
                        Err(other) => {
                            return Plan::Done(ModuleResult::failed(format!(
                                "Variable named '{other}' not found."
                            )));
                        }
                    }
                    changed = true;
                }
                Some(i) if lines[i] != decl => {
                    let prefix = format!("{}=", a.name);
                    for l in lines.iter_mut().filter(|l| l.starts_with(&prefix)) {
                        l.clone_from(&decl);
                    }
                    changed = true;
                }
                Some(_) => {}
            }
        } else if old.is_some() {
            let prefix = format!("{}=", a.name);
            lines.retain(|l| !l.starts_with(&prefix));
            changed = true;
        }
    } else if present {
        if a.job
            .as_deref()
            .unwrap_or("")
            .trim_matches(['\r', '\n'])
            .contains(['\r', '\n'])
        {
            warnings.push(Value::from("Job should not contain line breaks"));
        }
        let job = job_line(&a, file.as_ref().and(a.user.as_deref()));
        match find_job(&mut lines, &a.name, Some(&job)) {
            None => {
                lines.push(format!("{MARK}{}", a.name));
                lines.push(job);
                changed = true;
            }
            Some((old, inserted)) => {
                if old != job || inserted {
                    update_job(&mut lines, &a.name, Some(&job));
                    changed = true;
                }
            }
        }
    } else if find_job(&mut lines, &a.name, None).is_some() {
        update_job(&mut lines, &a.name, None);
        changed = true;
        if file.is_some() && lines.iter().all(|l| l.trim().is_empty()) {
            remove_file = true;
        }
    }
    if !changed && !existing.is_empty() && !existing.ends_with(['\r', '\n']) {
        changed = true;
    }
    let mut r = ModuleResult::ok();
    r.changed = changed;
    if remove_file {
        // The last job of a cron file: the file goes.
        let f = file.clone().unwrap_or_default();
        r.changed = rep.contains_key("exists");
        r.data
            .insert("cron_file".into(), Value::from(a.cron_file.clone()));
        r.data.insert("state".into(), Value::from("absent"));
        if check {
            return Plan::Done(r);
        }
        return Plan::remote(format!("rm -f -- {}\n", quote(&f)), None, move |out| {
            if out.rc != Some(0) {
                return ModuleResult::failed(
                    String::from_utf8_lossy(&out.stderr).trim().to_string(),
                );
            }
            r
        });
    }
    let jobs: Vec<Value> = lines
        .iter()
        .filter_map(|l| l.strip_prefix(MARK))
        .map(Value::from)
        .collect();
    let env_name = regex::Regex::new(r"^\S+=").ok();
    let envs: Vec<Value> = lines
        .iter()
        .filter(|l| env_name.as_ref().is_some_and(|re| re.is_match(l)))
        .map(|l| Value::from(l.split('=').next().unwrap_or("")))
        .collect();
    r.data.insert("jobs".into(), Value::Array(jobs));
    r.data.insert("envs".into(), Value::Array(envs));
    if !warnings.is_empty() {
        r.data.insert("warnings".into(), Value::Array(warnings));
    }
    if let Some(f) = &a.cron_file {
        r.data.insert("cron_file".into(), Value::from(f.as_str()));
    }
    if !changed || check {
        return Plan::Done(r);
    }
    let new = render(&lines);
    let backup = a.backup;
    let old_b64 = data_encoding::BASE64.encode(existing.as_bytes());
    let mut script = String::new();
    if backup {
        script.push_str(&format!(
            "b=$(mktemp \"${{TMPDIR:-/tmp}}/crontabXXXXXXXX\") || exit 1\nprintf '%s' {} | base64 -d > \"$b\" || exit 1\necho \"backup_file=$b\"\n",
            quote(&old_b64)
        ));
    }
    match &file {
        Some(f) => script.push_str(&format!(
            "f={}\nd=$(dirname -- \"$f\")\nt=$(mktemp \"$d/.olympus.XXXXXXXX\") || exit 1\ntrap 'rm -f -- \"$t\"' EXIT\nprintf '%s' {} > \"$t\" || exit 1\nif [ -f \"$f\" ]; then chmod --reference=\"$f\" \"$t\"; chown --reference=\"$f\" \"$t\" 2>/dev/null; else chmod 0644 \"$t\"; fi\nmv -f -- \"$t\" \"$f\" || exit 1\ntrap - EXIT\n",
            quote(f),
            quote(&new)
        )),
        None => script.push_str(&format!(
            "u={}\nif [ -n \"$u\" ] && [ \"$(id -un)\" != \"$u\" ]; then set -- -u \"$u\"; else set --; fi\nt=$(mktemp) || exit 1\ntrap 'rm -f -- \"$t\"' EXIT\nprintf '%s' {} > \"$t\" || exit 1\ncrontab \"$@\" \"$t\" || exit 1\n",
            quote(a.user.as_deref().unwrap_or("")),
            quote(&new)
        )),
    }
    Plan::remote(script, None, move |out| {
        if out.rc != Some(0) {
            return ModuleResult::failed(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        let rep = report(&out);
        if let Some(b) = rep.get("backup_file") {
            r.data.insert("backup_file".into(), Value::from(b.as_str()));
        }
        r
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crontab_headers_are_dropped() {
        let text = "# DO NOT EDIT THIS FILE - edit the master and reinstall.\n# (/tmp/x installed on Mon)\n# (Cron version -- $Id$)\n#Ansible: a\n* * * * * true\n";
        let (lines, existing) = read(text, true);
        assert_eq!(lines, vec!["#Ansible: a", "* * * * * true"]);
        assert_eq!(existing, "#Ansible: a\n* * * * * true\n");
    }

    #[test]
    fn an_unnamed_identical_line_gets_a_header() {
        let mut lines = vec!["0 1 * * * backup".to_string()];
        let found = find_job(&mut lines, "nightly", Some("0 1 * * * backup"));
        assert_eq!(found, Some(("0 1 * * * backup".to_string(), true)));
        assert_eq!(lines, vec!["#Ansible: nightly", "0 1 * * * backup"]);
    }
}
