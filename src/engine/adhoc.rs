//! Ad-hoc runs (`olympus exec`): one shell command on many hosts at once.
//!
//! Each host gets one connection, opened and used in its own task; at most `forks` hosts
//! are in flight at a time. A host that cannot be reached, or hangs, only costs its own slot:
//! every other host finishes. Results come back in the order the hosts were given.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use crate::connection::{
    ConnectOptions, Connection, ConnectionError, Escalation, ExecOutput, ExecRequest, Target,
    Transport,
};

/// How one host's command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    /// The command ran and exited 0.
    Ok,
    /// The command ran and failed (non-zero exit, a signal, a timeout, become refused).
    Failed,
    /// The host could not be reached (connection, host key or authentication failure).
    Unreachable,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Failed => "failed",
            Status::Unreachable => "unreachable",
        }
    }
}

/// One host's result.
#[derive(Debug, Clone)]
pub struct HostResult {
    pub host: String,
    pub status: Status,
    /// Present when the command ran.
    pub output: Option<ExecOutput>,
    /// Why it did not run, or why it failed without an exit status.
    pub error: Option<String>,
    pub duration: Duration,
}

/// What to run, and how.
#[derive(Debug, Clone)]
pub struct AdhocRequest {
    pub command: String,
    pub forks: usize,
    pub timeout: Option<Duration>,
    /// `--become`: overrides the hosts' own `ansible_become` settings.
    pub escalation: Option<Escalation>,
}

/// Runs the command on every target. `on_done` is called as each host finishes (for a
/// progress display); it must not block.
pub async fn run<F>(
    targets: Vec<Target>,
    req: &AdhocRequest,
    opts: &ConnectOptions,
    on_done: F,
) -> Vec<HostResult>
where
    F: Fn(&HostResult) + Send + Sync + 'static,
{
    let forks = Arc::new(Semaphore::new(req.forks.max(1)));
    let on_done = Arc::new(on_done);
    let req = Arc::new(req.clone());
    // One command per connection: it takes a channel of its own and runs as `sh -c` runs
    // it (a persistent shell would run it in a subshell, where `$$` is the shell's).
    let opts = Arc::new(ConnectOptions {
        persistent_shell: false,
        ..opts.clone()
    });
    let mut tasks = Vec::with_capacity(targets.len());
    for target in targets {
        let forks = forks.clone();
        let on_done = on_done.clone();
        let req = req.clone();
        let opts = opts.clone();
        tasks.push(tokio::spawn(async move {
            let _slot = forks.acquire_owned().await;
            // Once the run is stopped (SIGINT/SIGTERM), hosts not started are not touched.
            let r = if opts.stop.as_ref().is_some_and(crate::stop::Stop::is_raised) {
                HostResult {
                    host: target.name.clone(),
                    status: Status::Failed,
                    output: None,
                    error: Some(ConnectionError::Interrupted.to_string()),
                    duration: Duration::ZERO,
                }
            } else {
                // Boxed: a host's connect-and-run state (~20 KB, most of it russh's key
                // exchange) then exists only while the host holds a fork slot, not for every
                // host waiting for one.
                Box::pin(run_one(&target, &req, &opts)).await
            };
            on_done(&r);
            r
        }));
    }
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        match t.await {
            Ok(r) => out.push(r),
            Err(e) => out.push(HostResult {
                host: "?".into(),
                status: Status::Failed,
                output: None,
                error: Some(format!("internal error: {e}")),
                duration: Duration::ZERO,
            }),
        }
    }
    out
}

async fn run_one(target: &Target, req: &AdhocRequest, opts: &ConnectOptions) -> HostResult {
    let start = Instant::now();
    let done = |status, output, error: Option<String>| HostResult {
        host: target.name.clone(),
        status,
        output,
        error,
        duration: start.elapsed(),
    };
    let conn = match Connection::open(target, opts).await {
        Ok(c) => c,
        Err(e) => return done(Status::Unreachable, None, Some(e.to_string())),
    };
    let escalation = req.escalation.as_ref().or(target.escalation.as_ref());
    let res = conn
        .exec(ExecRequest {
            command: &req.command,
            stdin: None,
            escalation,
            timeout: req.timeout,
        })
        .await;
    conn.close().await;
    match res {
        Ok(out) => {
            let status = if out.success() {
                Status::Ok
            } else {
                Status::Failed
            };
            done(status, Some(out), None)
        }
        Err(e @ ConnectionError::Protocol(_)) => {
            done(Status::Unreachable, None, Some(e.to_string()))
        }
        Err(e) => done(Status::Failed, None, Some(e.to_string())),
    }
}
