//! Handing heal's events to the operator's own handlers: `heal --notify-exec PROGRAM` runs
//! a local program with the event as JSON on stdin and in `OLYMPUS_*` environment
//! variables; `--notify-url URL` POSTs the same JSON to a webhook (a chat, a pager).
//!
//! An `exec` action (a local program as the remediation) is run the same way ([`run`]).
//!
//! Owns: the event's JSON and environment, running the program (no shell, a timeout, its
//! output logged) and the POST. Must not: decide what is an event (`app::heal` does) or
//! fail a pass: a handler that fails is logged, never a reason to stop healing.

use std::io::{Read, Write};
use std::path::PathBuf;

use crate::stop::Stop;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Where events go.
#[derive(Debug, Clone, Default)]
pub struct Notify {
    /// Programs run for each event.
    pub exec: Vec<PathBuf>,
    /// Webhooks each event is POSTed to.
    pub url: Vec<String>,
    /// How long a handler may take.
    pub timeout: Duration,
}

impl Notify {
    pub fn is_empty(&self) -> bool {
        self.exec.is_empty() && self.url.is_empty()
    }

    /// Gives `event` (a JSON object with at least `event`) to every handler; what failed.
    pub fn send(&self, event: &Value) -> Vec<String> {
        let mut failed = Vec::new();
        for program in &self.exec {
            let argv = [program.display().to_string()];
            match run(&argv, event, self.timeout, None) {
                Ok(out) if !out.is_empty() => {
                    tracing::info!("--notify-exec {}: {out}", program.display());
                }
                Ok(_) => {}
                Err(e) => {
                    let e = format!("--notify-exec {}: {e}", program.display());
                    tracing::error!("{e}");
                    failed.push(e);
                }
            }
        }
        for url in &self.url {
            if let Err(e) = post(url, event, self.timeout) {
                let e = format!("--notify-url {url}: {e}");
                tracing::error!("{e}");
                failed.push(e);
            }
        }
        failed
    }
}

/// The event's fields as `OLYMPUS_<FIELD>` variables: strings as they are, other values
/// as JSON text.
pub fn env_of(event: &Value) -> Vec<(String, String)> {
    let Some(m) = event.as_object() else {
        return Vec::new();
    };
    m.iter()
        .map(|(k, v)| {
            let name: String = k
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_uppercase()
                    } else {
                        '_'
                    }
                })
                .collect();
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            // A NUL cannot be in the environment: it is cut there.
            let text = text.split('\0').next().unwrap_or_default().to_string();
            (format!("OLYMPUS_{name}"), text)
        })
        .collect()
}

/// Why a program did not succeed.
#[derive(Debug)]
pub enum Failure {
    /// `stop` was raised: the program was killed.
    Stopped,
    Other(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Stopped => f.write_str("stopped"),
            Failure::Other(e) => f.write_str(e),
        }
    }
}

/// Runs `argv` (no shell) with `event` as JSON on stdin and as `OLYMPUS_*` variables;
/// killed after `timeout` or when `stop` is raised. Its stdout (the first 64 KiB, trimmed)
/// when it exits 0.
pub fn run(
    argv: &[String],
    event: &Value,
    timeout: Duration,
    stop: Option<&Stop>,
) -> Result<String, Failure> {
    let other = |e: String| Failure::Other(e);
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| other("no program".into()))?;
    let mut child = Command::new(program)
        .args(args)
        .envs(env_of(event))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| other(format!("cannot start {program}: {e}")))?;
    let json = format!("{event}\n");
    // Written and read on threads: a handler that reads no stdin, or writes much, never
    // blocks heal; a handler that does not read its stdin is not an error.
    if let Some(mut stdin) = child.stdin.take() {
        std::thread::spawn(move || {
            let _ = stdin.write_all(json.as_bytes());
        });
    }
    let stdout = child.stdout.take().map(drain);
    let stderr = child.stderr.take().map(drain);
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if stop.is_some_and(Stop::is_raised) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Failure::Stopped);
            }
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(other(format!("{program} killed after {timeout:?}")));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(other(e.to_string())),
        }
    };
    let [out, err] = [stdout, stderr].map(|r| {
        r.and_then(|h| h.join().ok())
            .map(|b| String::from_utf8_lossy(&b).trim().to_string())
            .unwrap_or_default()
    });
    if status.success() {
        Ok(out)
    } else {
        Err(other(format!("{program}: {status}: {err}")))
    }
}

/// Reads `r` to its end on a thread; the first 64 KiB are kept.
fn drain(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = (&mut r).take(64 * 1024).read_to_end(&mut buf);
        let _ = std::io::copy(&mut r, &mut std::io::sink());
        buf
    })
}

fn post(url: &str, event: &Value, timeout: Duration) -> Result<(), String> {
    let agent = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build(),
    );
    let answer = agent
        .post(url)
        .header("Content-Type", "application/json")
        .send(event.to_string())
        .map_err(|e| e.to_string())?;
    let status = answer.status().as_u16();
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(format!("HTTP {status}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_become_variables() {
        let env = env_of(&serde_json::json!({
            "event": "action", "rule": "lag", "value": 301, "labels": {"job": "mysql"},
            "detail": "a\0b"
        }));
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("OLYMPUS_EVENT"), Some("action"));
        assert_eq!(get("OLYMPUS_VALUE"), Some("301"));
        assert_eq!(get("OLYMPUS_LABELS"), Some(r#"{"job":"mysql"}"#));
        assert_eq!(get("OLYMPUS_DETAIL"), Some("a"));
    }
}
