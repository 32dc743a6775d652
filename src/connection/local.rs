//! The local connection (`ansible_connection=local`, the implicit localhost): commands run
//! in `/bin/sh` on this machine, with the same wrapping, escalation and caps as over SSH.

use std::process::Stdio;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

use super::remote::wrap;
use super::{ConnectionError, ExecOutput, ExecRequest, Transport};

pub struct LocalConnection {
    output_cap: usize,
    stop: Option<crate::stop::Stop>,
}

impl LocalConnection {
    pub fn new(output_cap: usize) -> Self {
        LocalConnection {
            output_cap,
            stop: None,
        }
    }

    /// The same, with commands stopped when `stop` is raised.
    pub fn with_stop(mut self, stop: Option<crate::stop::Stop>) -> Self {
        self.stop = stop;
        self
    }
}

/// Stops a command's whole process group: TERM (sudo passes it on to its command), a moment
/// to exit, then KILL.
async fn stop_group(pid: Option<u32>) {
    use rustix::process::{Pid, Signal, kill_process_group};
    let Some(pid) = pid
        .and_then(|p| i32::try_from(p).ok())
        .and_then(Pid::from_raw)
    else {
        return;
    };
    let _ = kill_process_group(pid, Signal::TERM);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let _ = kill_process_group(pid, Signal::KILL);
}

async fn read_capped<R: tokio::io::AsyncRead + Unpin>(mut r: R, cap: usize) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut truncated = false;
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = cap.saturating_sub(out.len());
                out.extend_from_slice(&buf[..n.min(room)]);
                truncated |= n > room;
            }
        }
    }
    (out, truncated)
}

impl Transport for LocalConnection {
    async fn exec(&self, req: ExecRequest<'_>) -> Result<ExecOutput, ConnectionError> {
        if let Some(e) = req.escalation
            && e.password.is_some()
        {
            return Err(ConnectionError::Escalation {
                method: format!("{:?}", e.method).to_lowercase(),
                reason: "a become password on the local connection is not supported yet; use passwordless sudo".into(),
            });
        }
        let wrapped = wrap(req.command, req.escalation);
        crate::connection::log_command("localhost", &wrapped.command, "local");
        // Without escalation the command goes to /bin/sh as it is (no second shell).
        let line = if req.escalation.is_some() {
            wrapped.command.as_str()
        } else {
            req.command
        };
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg(line)
            .stdin(if req.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            // Its own process group, so that stopping it stops everything it started.
            .process_group(0)
            .spawn()?;
        let pid = child.id();
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let cap = self.output_cap;
        let data = req.stdin;
        let work = async {
            let write = async {
                if let (Some(mut w), Some(d)) = (stdin, data) {
                    let _ = w.write_all(d).await;
                    let _ = w.shutdown().await;
                }
            };
            let out = async {
                match stdout {
                    Some(s) => read_capped(s, cap).await,
                    None => (Vec::new(), false),
                }
            };
            let err = async {
                match stderr {
                    Some(s) => read_capped(s, cap).await,
                    None => (Vec::new(), false),
                }
            };
            let ((), (mut so, t1), (se, t2)) = tokio::join!(write, out, err);
            let status = child.wait().await?;
            if let Some(marker) = &wrapped.marker
                && let Some(rest) = so.strip_prefix(format!("{marker}\n").as_bytes())
            {
                so = rest.to_vec();
            }
            use std::os::unix::process::ExitStatusExt;
            Ok::<_, ConnectionError>(ExecOutput {
                rc: status.code().and_then(|c| u32::try_from(c).ok()),
                signal: status.signal().map(signal_name),
                stdout: so,
                stderr: se,
                truncated: t1 || t2,
                timing: None,
            })
        };
        let res = super::bounded(work, req.timeout, self.stop.as_ref()).await;
        if res.as_ref().is_err_and(ConnectionError::is_cut_off) {
            stop_group(pid).await;
        }
        res
    }

    async fn close(&self) {}
}

fn signal_name(sig: i32) -> String {
    match sig {
        1 => "HUP",
        2 => "INT",
        3 => "QUIT",
        6 => "ABRT",
        9 => "KILL",
        13 => "PIPE",
        14 => "ALRM",
        15 => "TERM",
        _ => return format!("SIG{sig}"),
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_commands_with_stdin_and_status() {
        let c = LocalConnection::new(1024);
        let out = c
            .exec(ExecRequest {
                command: "cat; echo err >&2; exit 3",
                stdin: Some(b"in"),
                ..Default::default()
            })
            .await
            .expect("runs");
        assert_eq!(out.stdout, b"in");
        assert_eq!(out.stderr, b"err\n");
        assert_eq!(out.rc, Some(3));
    }

    #[tokio::test]
    async fn caps_output_and_reports_signals_and_timeouts() {
        let c = LocalConnection::new(10);
        let out = c
            .exec(ExecRequest::new("head -c 100 /dev/zero"))
            .await
            .expect("runs");
        assert_eq!(out.stdout.len(), 10);
        assert!(out.truncated);
        let out = c
            .exec(ExecRequest::new("kill -KILL $$"))
            .await
            .expect("runs");
        assert_eq!(out.rc, None);
        assert_eq!(out.signal.as_deref(), Some("KILL"));
        let e = c
            .exec(ExecRequest {
                command: "sleep 5",
                timeout: Some(std::time::Duration::from_millis(100)),
                ..Default::default()
            })
            .await
            .expect_err("times out");
        assert!(matches!(e, ConnectionError::Timeout(_)));
    }
}
