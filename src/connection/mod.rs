//! Connections to managed hosts: running shell commands and writing files on them.
//!
//! Owns: how to reach a host (SSH over russh, or the local machine), authentication, host
//! key verification, privilege escalation (`become` with sudo or su), per-command timeouts,
//! output caps, and atomic file writes. One [`Connection`] per host is opened once and
//! reused for every command of a run; commands may run concurrently on it, at most
//! `max_sessions` channels at a time (OpenSSH's `MaxSessions` defaults to 10).
//! Must not: know about inventories, playbooks or output formats; it is given a resolved
//! [`Target`] and returns bytes, exit codes and typed errors.

pub mod known_hosts;
mod local;
mod quick_ack;
mod read_once;
mod remote;
mod shell;
pub use shell::STDIN_FUNCTION;
mod ssh;
pub mod ssh_config;
mod target;

use std::fmt;
use std::future::Future;
use std::time::Duration;

pub use local::LocalConnection;
pub use remote::{FileAttrs, put_file_script};
pub use ssh::SshConnection;
pub use ssh_config::SshConfig;
pub use target::{ConnectOptions, HostDefaults, HostKeyChecking, Kind, Target, TargetError};

/// Bytes kept of one stream (stdout or stderr) of one command; the rest is dropped and the
/// result says it was truncated. Keeps memory bounded whatever a host prints
/// (`--output-cap` changes it).
pub const DEFAULT_OUTPUT_CAP: usize = 4 * 1024 * 1024;

/// A secret (password, passphrase) that never shows in logs or debug output.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How to become another user for a command.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum EscalationMethod {
    #[default]
    Sudo,
    Su,
}

/// `become`: run as `user` (default root) through sudo or su.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Escalation {
    pub method: EscalationMethod,
    pub user: String,
    pub password: Option<Secret>,
}

/// One command to run: a shell command line for `/bin/sh -c`, optional standard input,
/// optional escalation and timeout.
#[derive(Debug, Clone, Default)]
pub struct ExecRequest<'a> {
    pub command: &'a str,
    pub stdin: Option<&'a [u8]>,
    pub escalation: Option<&'a Escalation>,
    pub timeout: Option<Duration>,
}

impl<'a> ExecRequest<'a> {
    pub fn new(command: &'a str) -> Self {
        ExecRequest {
            command,
            ..Default::default()
        }
    }
}

/// What a command did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecOutput {
    /// Exit status; `None` when the command was killed by a signal.
    pub rc: Option<u32>,
    /// The signal that ended the command, e.g. `KILL`.
    pub signal: Option<String>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// True when more output came than [`DEFAULT_OUTPUT_CAP`] and the rest was dropped.
    pub truncated: bool,
    /// When the command was sent and how long until its end came back (measured on the
    /// controller, the round trip included); set by [`Connection`].
    pub timing: Option<(std::time::SystemTime, Duration)>,
}

impl ExecOutput {
    pub fn success(&self) -> bool {
        self.rc == Some(0)
    }
}

/// Why talking to a host failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error("cannot connect to {addr}: {reason}")]
    Connect { addr: String, reason: String },
    #[error("{0}")]
    HostKey(String),
    #[error("authentication as '{user}' failed (tried: {tried})")]
    Auth { user: String, tried: String },
    #[error("ssh: {0}")]
    Protocol(String),
    #[error("command timed out after {0:?}")]
    Timeout(Duration),
    #[error("interrupted: the run was stopped and the command with it")]
    Interrupted,
    #[error("become ({method}) failed: {reason}")]
    Escalation { method: String, reason: String },
    #[error("{0}")]
    Config(String),
    #[error("local: {0}")]
    Local(#[from] std::io::Error),
}

/// Runs a command's work until it ends, its timeout passes or the run's stop switch is
/// raised — whichever comes first. The caller stops the remote command when it was cut off.
pub(crate) async fn bounded(
    work: impl Future<Output = Result<ExecOutput, ConnectionError>>,
    timeout: Option<Duration>,
    stop: Option<&crate::stop::Stop>,
) -> Result<ExecOutput, ConnectionError> {
    let timed = async {
        match timeout {
            None => work.await,
            Some(t) => tokio::time::timeout(t, work)
                .await
                .unwrap_or(Err(ConnectionError::Timeout(t))),
        }
    };
    tokio::select! {
        r = timed => r,
        () = crate::stop::raised(stop) => Err(ConnectionError::Interrupted),
    }
}

impl ConnectionError {
    /// The command was cut off (timed out, or the run was stopped) and may still be running.
    pub fn is_cut_off(&self) -> bool {
        matches!(
            self,
            ConnectionError::Timeout(_) | ConnectionError::Interrupted
        )
    }

    /// Errors that make the host unreachable (Ansible's UNREACHABLE), as opposed to a command
    /// that ran and failed.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            ConnectionError::Connect { .. }
                | ConnectionError::HostKey(_)
                | ConnectionError::Auth { .. }
                | ConnectionError::Protocol(_)
                | ConnectionError::Config(_)
        )
    }
}

/// What every connection can do.
pub trait Transport: Send + Sync {
    /// Runs one command and collects its output.
    fn exec(
        &self,
        req: ExecRequest<'_>,
    ) -> impl Future<Output = Result<ExecOutput, ConnectionError>> + Send;

    /// Closes the connection; commands after this fail.
    fn close(&self) -> impl Future<Output = ()> + Send;

    /// Writes `data` to `dest` atomically: a temporary file in the same directory, checked
    /// for size, given its mode and owner, then renamed over `dest`. An interrupted transfer
    /// leaves the old file as it was and no temporary file behind.
    fn put_file(
        &self,
        data: &[u8],
        dest: &str,
        attrs: &FileAttrs,
        escalation: Option<&Escalation>,
    ) -> impl Future<Output = Result<ExecOutput, ConnectionError>> + Send {
        async move {
            let script = put_file_script(dest, data.len(), attrs);
            self.exec(ExecRequest {
                command: &script,
                stdin: Some(data),
                escalation,
                timeout: None,
            })
            .await
        }
    }
}

/// A connection of either kind.
pub enum Connection {
    Ssh(Box<SshConnection>),
    Local(LocalConnection),
}

impl Connection {
    /// Opens the connection `target` describes.
    pub async fn open(
        target: &Target,
        opts: &ConnectOptions,
    ) -> Result<Connection, ConnectionError> {
        match target.kind {
            Kind::Local => Ok(Connection::Local(
                LocalConnection::new(opts.output_cap).with_stop(opts.stop.clone()),
            )),
            Kind::Ssh => Ok(Connection::Ssh(Box::new(
                SshConnection::connect(target, opts).await?,
            ))),
        }
    }
}

impl Transport for Connection {
    async fn exec(&self, req: ExecRequest<'_>) -> Result<ExecOutput, ConnectionError> {
        let start = std::time::SystemTime::now();
        let clock = std::time::Instant::now();
        let mut out = match self {
            Connection::Ssh(c) => c.exec(req).await,
            Connection::Local(c) => c.exec(req).await,
        }?;
        out.timing = Some((start, clock.elapsed()));
        Ok(out)
    }

    async fn close(&self) {
        match self {
            Connection::Ssh(c) => c.close().await,
            Connection::Local(c) => c.close().await,
        }
    }
}

tokio::task_local! {
    /// Set (by the engine, around a `no_log` task) to keep commands out of the log.
    pub static HIDE_COMMANDS: bool;
}

/// The most bytes of a command `-vvv` shows.
const LOGGED_COMMAND: usize = 4096;

/// `-vvv` (trace): the command sent to `host`, unless a `no_log` task sent it.
pub fn log_command(host: &str, command: &str, how: &str) {
    if !tracing::enabled!(tracing::Level::TRACE) {
        return;
    }
    if HIDE_COMMANDS.try_with(|h| *h).unwrap_or(false) {
        tracing::trace!(
            "{host}: {how}: a command of {} bytes (not shown: no_log)",
            command.len()
        );
        return;
    }
    let mut end = command.len().min(LOGGED_COMMAND);
    while !command.is_char_boundary(end) {
        end -= 1;
    }
    let more = command.len() - end;
    if more > 0 {
        tracing::trace!("{host}: {how}: {} … ({more} more bytes)", &command[..end]);
    } else {
        tracing::trace!("{host}: {how}: {command}");
    }
}

/// A name no one can guess (16 hex digits from the system's random source), for files a
/// script creates on a host (with `set -C`: created only if nothing is there).
pub fn random_name() -> String {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 8];
    if ring::rand::SystemRandom::new().fill(&mut b).is_err() {
        return remote::token();
    }
    data_encoding::HEXLOWER.encode(&b)
}

/// Quotes one word for a POSIX shell (`'...'`, with `'` written as `'\''`).
pub fn quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b))
    {
        return word.to_string();
    }
    format!("'{}'", word.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_is_single_quote_based() {
        assert_eq!(quote("abc"), "abc");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote("$HOME `x` \"q\"\n"), "'$HOME `x` \"q\"\n'");
    }

    #[test]
    fn secrets_do_not_debug_print() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(s.expose(), "hunter2");
    }
}
