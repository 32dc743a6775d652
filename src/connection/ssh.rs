//! SSH connections on russh: one TCP connection per host, many channels over it.

use std::borrow::Cow;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, Handle};
use russh::keys::{self, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh::{ChannelMsg, Disconnect, Preferred, kex};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, oneshot};

use super::known_hosts::{self, Verdict};
use super::read_once::ReadOnce;
use super::remote::wrap;
use super::shell::RemoteShell;
use super::{
    ConnectOptions, ConnectionError, ExecOutput, ExecRequest, HostKeyChecking, Target, Transport,
};

/// Checks the server's host key against known_hosts, as OpenSSH would.
struct Client {
    host: String,
    port: u16,
    files: Vec<std::path::PathBuf>,
    mode: HostKeyChecking,
    /// Why the key was refused, for the error message.
    problem: Arc<Mutex<Option<String>>>,
}

impl Client {
    fn refuse(&self, why: String) -> Result<bool, russh::Error> {
        if let Ok(mut p) = self.problem.lock() {
            *p = Some(why);
        }
        Ok(false)
    }
}

impl client::Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        if self.mode == HostKeyChecking::Off {
            tracing::debug!(host = %self.host, "host key not checked (host_key_checking is off)");
            return Ok(true);
        }
        let name = known_hosts::host_key_name(&self.host, self.port);
        let PublicKeyOrCertificate::PublicKey { key, .. } = key else {
            return self.refuse(format!(
                "host {name} presented a host certificate, which olympus cannot verify yet"
            ));
        };
        let openssh = key.to_openssh().unwrap_or_default();
        let mut parts = openssh.split_whitespace();
        let (Some(alg), Some(blob)) = (parts.next(), parts.next()) else {
            return self.refuse(format!("host {name} presented an unreadable host key"));
        };
        let fp = key.fingerprint(keys::HashAlg::Sha256);
        let files = self
            .files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(", ");
        match known_hosts::check(&self.files, &self.host, self.port, alg, blob) {
            Verdict::Known => {
                tracing::debug!("{name}: host key {alg} {fp} is known ({files})");
                Ok(true)
            }
            Verdict::Unknown if self.mode == HostKeyChecking::AcceptNew => {
                let Some(file) = self.files.first() else {
                    return self.refuse(format!("no known_hosts file to record {name} in"));
                };
                match known_hosts::learn(file, &self.host, self.port, alg, blob) {
                    Ok(()) => {
                        tracing::info!("recorded new host key for {name} ({alg} {fp}) in {}", file.display());
                        Ok(true)
                    }
                    Err(e) => self.refuse(format!(
                        "cannot record the host key of {name} in {}: {e}",
                        file.display()
                    )),
                }
            }
            Verdict::Unknown => self.refuse(format!(
                "host key verification failed: {name} is not in known_hosts ({files}); its {alg} key is {fp}.\n  \
                 hint: check the fingerprint and add it (ssh-keyscan), or use --host-key-checking accept-new"
            )),
            Verdict::Changed { file, line } => self.refuse(format!(
                "HOST KEY CHANGED for {name}: {alg} key {fp} differs from the one recorded at {}:{line}. \
                 Someone could be intercepting the connection, or the host was reinstalled. \
                 olympus refuses to connect and does not change known_hosts; \
                 remove the old entry yourself once you know why it changed.",
                file.display()
            )),
            Verdict::OtherTypes { file, line } => self.refuse(format!(
                "host key verification failed: {name} is recorded at {}:{line} with a different key type than the {alg} key it presented ({fp})",
                file.display()
            )),
            Verdict::Revoked { file, line } => self.refuse(format!(
                "host key of {name} ({fp}) is marked @revoked at {}:{line}",
                file.display()
            )),
        }
    }
}

/// An open SSH connection to one host.
pub struct SshConnection {
    handle: Handle<Client>,
    sessions: Arc<Semaphore>,
    output_cap: usize,
    name: String,
    /// The persistent remote shells (see [`super::shell`]): the login user's (key "") and
    /// one per become method and user (key "sudo:root"), each started by its first command.
    shells: std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<ShellSlot>>>>,
    reuse_shell: bool,
    /// The run's stop switch: raised, running commands are stopped (see `exec`).
    stop: Option<crate::stop::Stop>,
    /// Ends the socket's immediate acknowledgements once the first command has its answer
    /// (see `quick_ack`); none through a ProxyJump (no socket of its own).
    set_up: Option<super::quick_ack::SetUp>,
    /// The bastion connection a ProxyJump goes through; kept open as long as this one.
    _jump: Option<Box<SshConnection>>,
}

fn russh_config(target: &Target, opts: &ConnectOptions) -> Arc<client::Config> {
    Arc::new(client::Config {
        nodelay: true,
        keepalive_interval: target.keepalive_interval,
        keepalive_max: opts.keepalive_max,
        inactivity_timeout: None,
        preferred: Preferred {
            kex: Cow::Owned(vec![
                kex::CURVE25519,
                kex::CURVE25519_PRE_RFC_8731,
                kex::ECDH_SHA2_NISTP256,
                kex::DH_G14_SHA256,
                kex::EXTENSION_SUPPORT_AS_CLIENT,
            ]),
            ..Default::default()
        },
        ..Default::default()
    })
}

/// russh errors that mean the server hung up during the handshake, which sshd does on purpose
/// when too many connections are unauthenticated (`MaxStartups`): worth a retry.
fn handshake_dropped(e: &russh::Error) -> bool {
    matches!(
        e,
        russh::Error::Disconnect | russh::Error::HUP | russh::Error::ConnectionTimeout
    ) || matches!(e, russh::Error::IO(io) if matches!(
        io.kind(),
        std::io::ErrorKind::UnexpectedEof
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::BrokenPipe
    ))
}

impl SshConnection {
    /// Connects, verifies the host key and authenticates, within the target's connect
    /// timeout. Handshakes cut off by the server are retried a few times.
    pub async fn connect(
        target: &Target,
        opts: &ConnectOptions,
    ) -> Result<SshConnection, ConnectionError> {
        let addr = format!("{}:{}", target.address, target.port);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let fut = Box::pin(Self::connect_once(target, opts));
            let res = tokio::time::timeout(target.connect_timeout, fut).await;
            match res {
                Err(_) => {
                    return Err(ConnectionError::Connect {
                        addr,
                        reason: format!("timed out after {:?}", target.connect_timeout),
                    });
                }
                Ok(Err(Retry::Yes(e))) if attempt < 5 => {
                    tracing::debug!("{}: handshake dropped ({e}), retrying", target.name);
                    let jitter = u64::from(std::process::id() % 50) + u64::from(attempt) * 37;
                    tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt) + jitter))
                        .await;
                }
                Ok(Err(Retry::Yes(e))) => {
                    return Err(ConnectionError::Connect {
                        addr,
                        reason: format!(
                            "the server closed the connection during the handshake: {e}"
                        ),
                    });
                }
                Ok(Err(Retry::No(e))) => return Err(e),
                Ok(Ok(c)) => return Ok(c),
            }
        }
    }

    async fn connect_once(target: &Target, opts: &ConnectOptions) -> Result<SshConnection, Retry> {
        let addr = format!("{}:{}", target.address, target.port);
        tracing::debug!("{}: connecting to {addr} as {}", target.name, target.user);
        let problem = Arc::new(Mutex::new(None));
        let handler = Client {
            host: target.address.clone(),
            port: target.port,
            files: target.known_hosts.clone(),
            mode: target.host_key_checking,
            problem: problem.clone(),
        };
        let config = russh_config(target, opts);
        let (handshake, jump, set_up) = match &target.proxy_jump {
            None => {
                let tcp = TcpStream::connect((target.address.as_str(), target.port))
                    .await
                    .map_err(|e| {
                        Retry::No(ConnectionError::Connect {
                            addr: addr.clone(),
                            reason: e.to_string(),
                        })
                    })?;
                let _ = tcp.set_nodelay(true);
                let (tcp, set_up) = super::quick_ack::QuickAck::new(tcp);
                (
                    client::connect_stream(config, tcp, handler).await,
                    None,
                    Some(set_up),
                )
            }
            Some(bastion) => {
                let jump = Box::pin(SshConnection::connect(bastion, opts))
                    .await
                    .map_err(|e| {
                        Retry::No(ConnectionError::Connect {
                            addr: addr.clone(),
                            reason: format!("via ProxyJump {}: {e}", bastion.address),
                        })
                    })?;
                let ch = jump
                    .handle
                    .channel_open_direct_tcpip(
                        target.address.clone(),
                        u32::from(target.port),
                        "127.0.0.1",
                        0,
                    )
                    .await
                    .map_err(|e| {
                        Retry::No(ConnectionError::Connect {
                            addr: addr.clone(),
                            reason: format!(
                                "ProxyJump {} could not reach it: {e}",
                                bastion.address
                            ),
                        })
                    })?;
                (
                    client::connect_stream(config, ch.into_stream(), handler).await,
                    Some(Box::new(jump)),
                    None,
                )
            }
        };
        let mut handle = match handshake {
            Ok(h) => h,
            Err(e) => {
                if let Some(p) = problem.lock().ok().and_then(|mut p| p.take()) {
                    return Err(Retry::No(ConnectionError::HostKey(p)));
                }
                if handshake_dropped(&e) {
                    return Err(Retry::Yes(e.to_string()));
                }
                return Err(Retry::No(ConnectionError::Protocol(format!("{addr}: {e}"))));
            }
        };
        authenticate(&mut handle, target, opts)
            .await
            .map_err(Retry::No)?;
        Ok(SshConnection {
            handle,
            sessions: Arc::new(Semaphore::new(opts.max_sessions.max(1))),
            output_cap: opts.output_cap,
            name: target.name.clone(),
            shells: std::sync::Mutex::new(std::collections::HashMap::new()),
            reuse_shell: opts.persistent_shell,
            stop: opts.stop.clone(),
            set_up,
            _jump: jump,
        })
    }
}

enum Retry {
    Yes(String),
    No(ConnectionError),
}

impl SshConnection {
    /// Opens a session channel. sshd frees a closed session a moment after it says so, so a
    /// channel opened right after another closed can be refused as over `MaxSessions`: such
    /// refusals are retried briefly.
    async fn open_channel(&self) -> Result<russh::Channel<client::Msg>, ConnectionError> {
        let mut tries = 0u64;
        loop {
            match self.handle.channel_open_session().await {
                Ok(ch) => {
                    tracing::debug!("{}: channel {} open", self.name, ch.id());
                    return Ok(ch);
                }
                Err(russh::Error::ChannelOpenFailure(_)) if tries < 60 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(2 * tries.min(10))).await;
                }
                Err(e) => {
                    return Err(ConnectionError::Protocol(format!(
                        "{}: cannot open a channel: {e}",
                        self.name
                    )));
                }
            }
        }
    }
}

/// Private keys already read by this process.
static KEYS: std::sync::LazyLock<ReadOnce<keys::PrivateKey>> =
    std::sync::LazyLock::new(ReadOnce::default);

/// A private key file, read and decoded once per process rather than once per connection:
/// decoding an ed25519 key derives its public half (about a tenth of a connection's CPU),
/// and an encrypted key runs bcrypt-pbkdf, which takes a noticeable fraction of a second —
/// for each of 1,000 hosts.
fn load_key(path: &Path, passphrase: Option<&str>) -> Result<Arc<keys::PrivateKey>, keys::Error> {
    KEYS.get(path, |p| keys::load_secret_key(p, passphrase))
}

/// Key files in order, then ssh-agent, then a password when one was given.
async fn authenticate(
    handle: &mut Handle<Client>,
    target: &Target,
    opts: &ConnectOptions,
) -> Result<(), ConnectionError> {
    let user = target.user.clone();
    let mut tried: Vec<String> = Vec::new();
    let proto = |e: russh::Error| ConnectionError::Protocol(e.to_string());
    for (i, path) in target.identity_files.iter().enumerate() {
        if !path.exists() {
            // Named explicitly (inventory, --private-key, IdentityFile): say so. The
            // ~/.ssh/id_* defaults are only tried when present.
            if i < target.explicit_count() {
                tried.push(format!("{} (does not exist)", path.display()));
            }
            continue;
        }
        let key = match load_key(path, None) {
            Ok(k) => k,
            Err(keys::Error::KeyIsEncrypted) => match &opts.key_passphrase {
                Some(p) => match load_key(path, Some(p.expose())) {
                    Ok(k) => k,
                    Err(e) => {
                        tried.push(format!("{} (cannot decrypt: {e})", path.display()));
                        continue;
                    }
                },
                None => {
                    tried.push(format!(
                        "{} (encrypted; give its passphrase with --ask-pass or OLYMPUS_KEY_PASSPHRASE)",
                        path.display()
                    ));
                    continue;
                }
            },
            Err(e) => {
                tried.push(format!("{} (unreadable: {e})", path.display()));
                continue;
            }
        };
        let hash = handle
            .best_supported_rsa_hash()
            .await
            .map_err(proto)?
            .flatten();
        let res = handle
            .authenticate_publickey(user.clone(), PrivateKeyWithHashAlg::new(key, hash))
            .await
            .map_err(proto)?;
        if res.success() {
            tracing::debug!(
                "{}: authenticated as {user} by public key {}",
                target.name,
                path.display()
            );
            return Ok(());
        }
        tried.push(path.display().to_string());
    }
    if opts.use_agent && !target.identities_only && std::env::var_os("SSH_AUTH_SOCK").is_some() {
        match keys::agent::client::AgentClient::connect_env().await {
            Ok(mut agent) => {
                let ids = agent.request_identities().await.unwrap_or_default();
                for id in ids {
                    let pk = id.public_key().into_owned();
                    let hash = handle
                        .best_supported_rsa_hash()
                        .await
                        .map_err(proto)?
                        .flatten();
                    match handle
                        .authenticate_publickey_with(user.clone(), pk, hash, &mut agent)
                        .await
                    {
                        Ok(r) if r.success() => {
                            tracing::debug!(
                                "{}: authenticated as {user} by an ssh-agent key ({})",
                                target.name,
                                id.comment()
                            );
                            return Ok(());
                        }
                        _ => {}
                    }
                }
                tried.push("ssh-agent".into());
            }
            Err(e) => tried.push(format!("ssh-agent (unavailable: {e})")),
        }
    }
    if let Some(pw) = &target.password {
        let res = handle
            .authenticate_password(user.clone(), pw.expose())
            .await
            .map_err(proto)?;
        if res.success() {
            tracing::debug!("{}: authenticated as {user} by password", target.name);
            return Ok(());
        }
        tried.push("password".into());
    }
    Err(ConnectionError::Auth {
        user,
        tried: if tried.is_empty() {
            "no key file, agent or password was available".into()
        } else {
            tried.join(", ")
        },
    })
}

/// Appends to a capped buffer; true when something was dropped.
fn push_capped(buf: &mut Vec<u8>, data: &[u8], cap: usize) -> bool {
    let room = cap.saturating_sub(buf.len());
    buf.extend_from_slice(&data[..data.len().min(room)]);
    data.len() > room
}

impl SshConnection {
    /// Runs a command on a persistent shell when it can: no timeout, escalation that needs
    /// no terminal, standard input small enough to write into the shell's input, and that
    /// shell not busy with another command. `None`: use a channel. (A connection's first
    /// command costs the same either way: the shell's start and the command go out
    /// together, and it starts no more programs than `sh -c` on a channel would.)
    async fn exec_on_shell(
        &self,
        req: &ExecRequest<'_>,
    ) -> Option<Result<ExecOutput, ConnectionError>> {
        if !self.reuse_shell
            || req.timeout.is_some()
            || req
                .stdin
                .is_some_and(|i| i.len() > super::shell::MAX_INLINE_STDIN)
        {
            return None;
        }
        let key = match req.escalation {
            None => String::new(),
            Some(e) if super::shell::can_escalate(e) => {
                format!("{:?}:{}", e.method, e.user).to_lowercase()
            }
            Some(_) => return None,
        };
        let slot = {
            let mut shells = self.shells.lock().ok()?;
            shells.entry(key.clone()).or_default().clone()
        };
        let mut slot = slot.try_lock().ok()?;
        if slot.unusable {
            return None;
        }
        let what = if key.is_empty() {
            "persistent shell".to_string()
        } else {
            format!("persistent shell ({key})")
        };
        if slot.shell.is_none() {
            // Once per connection: boxed, so that its state is not part of every command's.
            match Box::pin(self.start_shell(req.escalation, &what)).await {
                Ok(started) => slot.shell = Some(started),
                Err(None) => {
                    slot.unusable = true;
                    return None;
                }
                Err(Some(e)) => return Some(Err(e)),
            }
        }
        let running = slot.shell.as_mut()?;
        crate::connection::log_command(&self.name, req.command, &format!("on the {what}"));
        let res = tokio::select! {
            r = running.run(req.command, req.stdin, self.output_cap) => r,
            () = crate::stop::raised(self.stop.as_ref()) => Err(ConnectionError::Interrupted),
        };
        if let Err(e) = &res
            && let Some(mut broken) = slot.shell.take()
        {
            tracing::debug!(
                "{}: {what} ended ({e}); the next command starts another",
                self.name
            );
            if matches!(e, ConnectionError::Interrupted) {
                // The loop and the command it runs share the session's process group.
                broken.kill().await;
            }
            broken.close().await;
        }
        Some(res)
    }

    /// Opens a channel and starts a persistent shell on it. `Err(None)`: no shell here (the
    /// reason is logged); commands take their own channels.
    async fn start_shell(
        &self,
        escalation: Option<&super::Escalation>,
        what: &str,
    ) -> Result<RemoteShell, Option<ConnectionError>> {
        let permit = self
            .sessions
            .clone()
            .try_acquire_owned()
            .map_err(|_| None)?;
        let channel = self.open_channel().await.map_err(|_| None)?;
        let start = RemoteShell::start(channel, permit, escalation, ESCALATION_WAIT);
        let started = tokio::select! {
            r = start => r,
            () = crate::stop::raised(self.stop.as_ref()) => {
                return Err(Some(ConnectionError::Interrupted));
            }
        };
        match started {
            Ok(started) => {
                tracing::debug!("{}: {what} started", self.name);
                Ok(started)
            }
            Err(super::shell::Start::Failed(e)) => Err(Some(e)),
            Err(super::shell::Start::NotHere(why)) => {
                tracing::debug!(
                    "{}: no {what}: {why}; commands take their own channels",
                    self.name
                );
                Err(None)
            }
        }
    }

    /// Runs a command on a session channel of its own.
    async fn exec_on_channel(&self, req: ExecRequest<'_>) -> Result<ExecOutput, ConnectionError> {
        let _permit = self
            .sessions
            .acquire()
            .await
            .map_err(|_| ConnectionError::Protocol("connection closed".into()))?;
        let wrapped = wrap(req.command, req.escalation);
        let channel = self.open_channel().await?;
        crate::connection::log_command(&self.name, &wrapped.command, "exec");
        if wrapped.needs_pty {
            channel
                .request_pty(false, "dumb", 200, 50, 0, 0, &[(russh::Pty::ECHO, 0)])
                .await
                .map_err(|e| ConnectionError::Protocol(e.to_string()))?;
        }
        channel
            .exec(true, wrapped.command.as_bytes())
            .await
            .map_err(|e| ConnectionError::Protocol(e.to_string()))?;
        let (mut rd, wr) = channel.split();
        let (go_tx, go_rx) = oneshot::channel::<()>();
        let mut go_tx = Some(go_tx);
        if wrapped.marker.is_none()
            && let Some(tx) = go_tx.take()
        {
            let _ = tx.send(());
        }
        let password = req.escalation.and_then(|e| e.password.clone());
        let method = req
            .escalation
            .map(|e| format!("{:?}", e.method).to_lowercase())
            .unwrap_or_default();
        let cap = self.output_cap;

        let writer = async {
            if go_rx.await.is_err() {
                return;
            }
            if let Some(data) = req.stdin
                && wr.data(data).await.is_err()
            {
                return;
            }
            let _ = wr.eof().await;
        };

        let reader = async {
            let mut out = ExecOutput::default();
            // Until the marker shows, stdout is held back to look for it.
            let mut pending_out: Vec<u8> = Vec::new();
            let mut pending_err: Vec<u8> = Vec::new();
            let mut escalated = wrapped.marker.is_none();
            let mut answered = false;
            while let Some(msg) = rd.wait().await {
                match msg {
                    ChannelMsg::Data { data } => {
                        if escalated {
                            out.truncated |= push_capped(&mut out.stdout, &data, cap);
                            continue;
                        }
                        pending_out.extend_from_slice(&data);
                        // With a pty (su), the prompt arrives on stdout.
                        if let (Some(prompt), Some(pw)) = (&wrapped.prompt, &password)
                            && !answered
                            && wrapped.needs_pty
                            && find(&pending_out, prompt.as_bytes()).is_some()
                        {
                            answered = true;
                            pending_out.clear();
                            let line = format!("{}\n", pw.expose());
                            let _ = wr.data(line.as_bytes()).await;
                            continue;
                        }
                        if let Some(marker) = &wrapped.marker
                            && let Some(i) = find(&pending_out, marker.as_bytes())
                        {
                            let mut rest = i + marker.len();
                            if pending_out.get(rest) == Some(&b'\r') {
                                rest += 1;
                            }
                            if pending_out.get(rest) == Some(&b'\n') {
                                rest += 1;
                            }
                            escalated = true;
                            out.truncated |=
                                push_capped(&mut out.stdout, &pending_out[rest..], cap);
                            pending_out.clear();
                            if let Some(tx) = go_tx.take() {
                                let _ = tx.send(());
                            }
                        }
                    }
                    ChannelMsg::ExtendedData { data, .. } => {
                        if escalated || wrapped.prompt.is_none() {
                            out.truncated |= push_capped(&mut out.stderr, &data, cap);
                            continue;
                        }
                        pending_err.extend_from_slice(&data);
                        if let (Some(prompt), Some(pw)) = (&wrapped.prompt, &password)
                            && let Some(i) = find(&pending_err, prompt.as_bytes())
                        {
                            if answered {
                                // Asked again: the password was wrong.
                                let _ = wr.close().await;
                                return Err(ConnectionError::Escalation {
                                    method,
                                    reason: "incorrect password".into(),
                                });
                            }
                            answered = true;
                            pending_err.drain(i..i + prompt.len());
                            let line = format!("{}\n", pw.expose());
                            let _ = wr.data(line.as_bytes()).await;
                        }
                    }
                    ChannelMsg::ExitStatus { exit_status } => out.rc = Some(exit_status),
                    ChannelMsg::ExitSignal { signal_name, .. } => {
                        out.signal = Some(format!("{signal_name:?}"));
                    }
                    ChannelMsg::Close => break,
                    _ => {}
                }
            }
            drop(go_tx);
            if !escalated {
                // Escalation never happened: show what sudo/su said.
                out.stdout = pending_out;
                out.stderr.extend_from_slice(&pending_err);
                if let Some(reason) = super::remote::refusal(&out.stderr) {
                    return Err(ConnectionError::Escalation {
                        method,
                        reason: reason.into(),
                    });
                }
            } else if !pending_err.is_empty() {
                let mut err = std::mem::take(&mut pending_err);
                err.extend_from_slice(&out.stderr);
                out.stderr = err;
            }
            if out.rc.is_none() && out.signal.is_none() {
                // sshd always reports how a command ended: without it, the server or the
                // network went away (Ansible's UNREACHABLE, not a failed command).
                return Err(ConnectionError::Protocol(
                    "the connection was lost while the command ran".into(),
                ));
            }
            Ok(out)
        };

        let work = async {
            let (res, ()) = tokio::join!(reader, writer);
            res
        };
        let res = super::bounded(work, req.timeout, self.stop.as_ref()).await;
        if res.as_ref().is_err_and(ConnectionError::is_cut_off) {
            // Stop the command: sshd signals the session's process group. TERM first (sudo
            // passes it on to the command it runs as another user, which the login user
            // could not signal), a moment to exit, then KILL; then close the channel — a
            // dropped channel is never closed, and a session whose command still runs keeps
            // its MaxSessions slot.
            tracing::debug!(host = %self.name, "stopping a command: TERM, then KILL");
            if let Err(e) = wr.signal(russh::Sig::TERM).await {
                tracing::debug!(host = %self.name, "TERM not sent: {e}");
            }
            wait_closed(&mut rd, Duration::from_millis(500)).await;
            if let Err(e) = wr.signal(russh::Sig::KILL).await {
                tracing::debug!(host = %self.name, "KILL not sent: {e}");
            }
            // Wait for sshd to report the end (it closes the channel once the command is
            // gone): a connection closed right after sending KILL can end the session before
            // sshd has acted on it, leaving the command running.
            wait_closed(&mut rd, Duration::from_secs(2)).await;
            let _ = wr.close().await;
        }
        res
    }
}

/// How long an escalated shell may take to start (sudo checking a password with PAM).
const ESCALATION_WAIT: Duration = Duration::from_secs(30);

/// One persistent shell of a connection: running, not started yet, or not to be used.
#[derive(Default)]
struct ShellSlot {
    shell: Option<RemoteShell>,
    /// Starting it failed for a reason that would not change (no shell under this
    /// escalation): its commands take their own channels.
    unusable: bool,
}

impl Transport for SshConnection {
    async fn exec(&self, req: ExecRequest<'_>) -> Result<ExecOutput, ConnectionError> {
        let out = match self.exec_on_shell(&req).await {
            Some(done) => done,
            // A channel per command is the rarer path (timeouts, large input, a terminal for
            // escalation); its state is several times the shell path's, so it is boxed rather
            // than carried by every command's future — at a thousand hosts with every host's
            // command in flight, that is tens of megabytes.
            None => Box::pin(self.exec_on_channel(req)).await,
        };
        if let Some(s) = &self.set_up {
            s.done();
        }
        out
    }
    async fn close(&self) {
        let slots: Vec<_> = self
            .shells
            .lock()
            .map(|mut m| m.drain().map(|(_, v)| v).collect())
            .unwrap_or_default();
        for slot in slots {
            if let Some(shell) = slot.lock().await.shell.take() {
                shell.close().await;
            }
        }
        let _ = self
            .handle
            .disconnect(Disconnect::ByApplication, "", "en")
            .await;
    }
}

/// Reads a channel until sshd closes it, for at most `within`.
pub(super) async fn wait_closed(rd: &mut russh::ChannelReadHalf, within: Duration) {
    let _ = tokio::time::timeout(within, async {
        while let Some(msg) = rd.wait().await {
            if matches!(msg, ChannelMsg::Close) {
                break;
            }
        }
    })
    .await;
}

use super::remote::find;

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of the future `f` returns, without calling it (no connection needed).
    fn future_size<F, Fut>(_f: F) -> usize
    where
        F: FnOnce(&'static SshConnection, ExecRequest<'static>) -> Fut,
    {
        std::mem::size_of::<Fut>()
    }

    /// Every host's command future is alive at once when forks reach the fleet's size, so
    /// its size is memory per host: the rare paths (a channel per command, a shell's start)
    /// are boxed and must stay out of it. Before they were, it was 25 KB in a release build
    /// and 20 KB in a test build (this test fails on that code); now about 2 KB.
    #[test]
    fn a_command_on_the_shell_carries_little_state() {
        let exec = future_size(|c, r| c.exec(r));
        let on_shell = future_size(|c, r| async move { c.exec_on_shell(&r).await });
        assert!(exec < 4 * 1024, "exec future is {exec} bytes");
        assert!(on_shell < 4 * 1024, "shell path future is {on_shell} bytes");
    }

    fn keygen(path: &Path) {
        let _ = std::fs::remove_file(path);
        let ok = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(path)
            .status()
            .expect("ssh-keygen (openssh-client) runs")
            .success();
        assert!(ok, "ssh-keygen failed");
    }

    #[test]
    fn a_key_file_is_decoded_once_until_it_changes() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("id_ed25519");
        keygen(&path);
        let first = load_key(&path, None).expect("load");
        let again = load_key(&path, None).expect("load again");
        assert!(
            Arc::ptr_eq(&first, &again),
            "the second load decoded the file again"
        );

        // A new key in the same file (same size; the time set apart) is read again.
        keygen(&path);
        let later = std::time::SystemTime::now() + Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(later))
            .expect("set mtime");
        let changed = load_key(&path, None).expect("load changed");
        assert!(!Arc::ptr_eq(&first, &changed));
        assert_ne!(first.public_key(), changed.public_key());
    }
}
