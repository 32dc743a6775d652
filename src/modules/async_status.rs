//! `async_status`, and the jobs `async: N` with `poll: 0` starts in the background.
//!
//! Owns: how a job runs detached on its host (the script [`start_script`] sends: the module's
//! first step written to `~/.ansible_async/JID.sh`, run by `setsid` with its output, status
//! and a watchdog for the `async` limit in files beside `~/.ansible_async/JID`, as
//! ansible-core's async wrapper keeps its results file), the controller's record of what to
//! make of each job's output ([`AsyncJobs`]: the module's remaining steps, kept for the run),
//! and `async_status` reading a job back.
//! Must not: run anything itself; the engine sends the scripts.
//!
//! A job outlives the run that started it (it is detached on the host); its output can be
//! read by `async_status` in a later run too, then reported as a command's (stdout, stderr,
//! rc), since the module's own reading of it was kept by the run that started it.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Deserialize;
use serde_json::Value;

use super::args::{self, Param, param};
use super::registry::Spec;
use super::write;
use super::{Module, ModuleCtx, ModuleResult, Plan, Then};
use crate::connection::{ExecOutput, quote};

pub static SPEC: Spec = Spec {
    name: "async_status",
    summary: "Read (or clean up) a job started with `async` and `poll: 0`.",
    params: PARAMS,
    ..Spec::host::<AsyncStatus>()
};

const PARAMS: &[Param] = &[
    param(
        "jid",
        &[],
        "Required. The job's id (`ansible_job_id` of the task that started it).",
    ),
    param(
        "mode",
        &[],
        "`status` (default): the job's result once it has finished; `cleanup`: remove its files.",
    ),
];

#[derive(Debug, Deserialize)]
pub struct Args {
    #[serde(deserialize_with = "args::text")]
    jid: String,
    #[serde(default, deserialize_with = "args::opt_text")]
    mode: Option<String>,
}

/// The modules' remaining steps of the jobs this run started, by host and job id.
#[derive(Default)]
pub struct AsyncJobs {
    jobs: Mutex<HashMap<(String, String), Then>>,
}

impl AsyncJobs {
    pub fn keep(&self, host: &str, jid: &str, then: Then) {
        if let Ok(mut j) = self.jobs.lock() {
            j.insert((host.to_string(), jid.to_string()), then);
        }
    }

    fn take(&self, host: &str, jid: &str) -> Option<Then> {
        self.jobs
            .lock()
            .ok()
            .and_then(|mut j| j.remove(&(host.to_string(), jid.to_string())))
    }
}

/// Job ids are made by olympus (`j` + digits + `.` + digits); anything else is refused
/// rather than put into a path.
fn valid_jid(jid: &str) -> bool {
    jid.strip_prefix('j').is_some_and(|r| {
        !r.is_empty() && r.chars().all(|c| c.is_ascii_digit() || c == '.') && !r.contains("..")
    })
}

/// The script that starts `script` (a module's first step, with `stdin`) detached on the
/// host as job `jid`, killed after `limit` seconds. It prints `results_file=`.
pub fn start_script(jid: &str, script: &str, stdin: Option<&[u8]>, limit: u64) -> String {
    let b64 = data_encoding::BASE64.encode(script.as_bytes());
    let input = match stdin {
        Some(b) => format!(
            "printf '%s' {} | base64 -d > \"$f.in\" || exit 1\n",
            quote(&data_encoding::BASE64.encode(b))
        ),
        None => ": > \"$f.in\"\n".to_string(),
    };
    format!(
        r#"d="${{HOME:-/tmp}}/.ansible_async"; mkdir -p -- "$d" && chmod 700 -- "$d" || exit 1
f="$d/{jid}"
printf '%s' {b64} | base64 -d > "$f.sh" || exit 1
{input}printf '{{"started": 1, "finished": 0, "ansible_job_id": "%s"}}\n' {jid} > "$f"
setsid sh -c '
f=$1; lim=$2
sh "$f.sh" < "$f.in" > "$f.out" 2> "$f.err" & c=$!
echo "$c" > "$f.pid"
( i=0; while [ ! -e "$f.rc" ] && [ $i -lt "$lim" ]; do sleep 1; i=$((i + 1)); done
  if [ ! -e "$f.rc" ]; then : > "$f.timeout"; kill -KILL -- -$$ 2>/dev/null; fi ) &
wait "$c"; echo $? > "$f.rc.t"; mv -f -- "$f.rc.t" "$f.rc"
' sh "$f" {limit} < /dev/null > /dev/null 2>&1 &
echo "results_file=$f"
"#
    )
}

/// The result of a task that started a job: ansible-core's.
pub fn started(jid: &str, results_file: &str) -> ModuleResult {
    let mut r = ModuleResult {
        changed: true,
        ..ModuleResult::ok()
    };
    r.data.insert("ansible_job_id".into(), Value::from(jid));
    r.data.insert("finished".into(), Value::Bool(false));
    r.data
        .insert("results_file".into(), Value::from(results_file));
    r.data.insert("started".into(), Value::Bool(true));
    r
}

pub struct AsyncStatus;

impl Module for AsyncStatus {
    type Args = Args;

    fn check(a: &Args) -> Result<(), String> {
        match a.mode.as_deref() {
            None | Some("status" | "cleanup") => Ok(()),
            Some(m) => Err(format!(
                "value of mode must be one of: status, cleanup, got: {m}"
            )),
        }
    }

    fn plan(a: Args, ctx: &ModuleCtx<'_>) -> Result<Plan, String> {
        let jid = a.jid.clone();
        if !valid_jid(&jid) {
            return Ok(Plan::Done(not_found(
                &jid,
                &format!("~/.ansible_async/{jid}"),
            )));
        }
        let cleanup = a.mode.as_deref() == Some("cleanup");
        let script = format!(
            r#"f="${{HOME:-/tmp}}/.ansible_async/{jid}"
echo "results_file=$f"
if [ {cleanup} = 1 ]; then rm -f -- "$f" "$f.sh" "$f.in" "$f.out" "$f.err" "$f.pid" "$f.rc" "$f.timeout"; exit 0; fi
[ -e "$f" ] || {{ echo missing=1; exit 0; }}
if [ -e "$f.timeout" ]; then echo timeout=1; echo "child_pid=$(cat "$f.pid" 2>/dev/null)"; exit 0; fi
[ -e "$f.rc" ] || {{ echo running=1; exit 0; }}
echo "rc=$(cat "$f.rc")"
printf 'out_b64='; base64 -w0 < "$f.out"; echo
printf 'err_b64='; base64 -w0 < "$f.err"; echo
"#,
            cleanup = u8::from(cleanup)
        );
        let host = ctx.host.to_string();
        let jobs = std::sync::Arc::clone(ctx.jobs);
        Ok(Plan::Remote {
            script,
            stdin: None,
            then: Box::new(move |out: ExecOutput| {
                let rep = write::report(&out);
                let file = rep.get("results_file").cloned().unwrap_or_default();
                let id = jid.clone();
                let base = move |mut r: ModuleResult, finished: bool, started: bool| {
                    r.data
                        .insert("ansible_job_id".into(), Value::from(id.as_str()));
                    r.data.insert("finished".into(), Value::Bool(finished));
                    r.data.insert("started".into(), Value::Bool(started));
                    r
                };
                if out.rc != Some(0) {
                    return Plan::Done(write::script_failure(&out, &rep));
                }
                if cleanup {
                    let mut r = base(ModuleResult::ok(), false, false);
                    r.data.insert("erased".into(), Value::from(file));
                    empty_output(&mut r);
                    return Plan::Done(r);
                }
                if rep.contains_key("missing") {
                    return Plan::Done(not_found(&jid, &file));
                }
                let path = file.clone();
                let with_file = move |mut r: ModuleResult| {
                    r.data
                        .insert("results_file".into(), Value::from(path.as_str()));
                    r
                };
                if rep.contains_key("running") {
                    let mut r = with_file(base(ModuleResult::ok(), false, true));
                    empty_output(&mut r);
                    return Plan::Done(r);
                }
                if rep.contains_key("timeout") {
                    let mut r =
                        with_file(base(ModuleResult::failed("Timeout exceeded"), true, true));
                    if let Some(p) = rep.get("child_pid").and_then(|p| p.parse::<u64>().ok()) {
                        r.data.insert("child_pid".into(), Value::from(p));
                    }
                    empty_output(&mut r);
                    return Plan::Done(r);
                }
                let job_out = ExecOutput {
                    rc: rep.get("rc").and_then(|r| r.trim().parse().ok()),
                    signal: None,
                    stdout: write::report_text(&rep, "out_b64").into_bytes(),
                    stderr: write::report_text(&rep, "err_b64").into_bytes(),
                    truncated: false,
                    timing: None,
                };
                let finish = move |r: ModuleResult| with_file(base(r, true, true));
                match jobs.take(&host, &jid) {
                    Some(then) => then(job_out).map(finish),
                    None => Plan::Done(finish(super::command::finish(
                        job_out,
                        &super::command::Shown {
                            cmd: None,
                            strip_empty_ends: true,
                        },
                    ))),
                }
            }),
        })
    }
}

fn empty_output(r: &mut ModuleResult) {
    for k in ["stdout", "stderr"] {
        r.data.insert(k.into(), Value::from(""));
        r.data
            .insert(format!("{k}_lines"), Value::Array(Vec::new()));
    }
}

fn not_found(jid: &str, file: &str) -> ModuleResult {
    let mut r = ModuleResult::failed("could not find job");
    r.data.insert("ansible_job_id".into(), Value::from(jid));
    r.data.insert("finished".into(), Value::Bool(true));
    r.data.insert("started".into(), Value::Bool(true));
    r.data.insert("results_file".into(), Value::from(file));
    empty_output(&mut r);
    r
}

#[cfg(test)]
mod tests {
    use super::valid_jid;

    #[test]
    fn job_ids() {
        assert!(valid_jid("j123456.789"));
        assert!(!valid_jid("j../../x"));
        assert!(!valid_jid("j1;rm"));
        assert!(!valid_jid("x1"));
    }
}
