//! A persistent remote shell per SSH connection: one channel running a small `/bin/sh`
//! loop that runs command after command, so a task costs a line on an open pipe instead of
//! a new SSH session (sshd forks, sets up and tears down a session for every exec channel;
//! with PAM that costs tens of milliseconds on common distributions).
//!
//! A `become` shell is the same loop started under sudo (or su without a password): the
//! escalation and its password happen once, when the shell starts, and every later command
//! of that become user is a line on its pipe. Escalation that needs a terminal (su with a
//! password) is not started here: those commands keep their own channels.
//!
//! Owns: the loop's wire protocol, its start (under escalation too) and the framing of each
//! command's output.
//! Must not: decide which commands may use it (the SSH transport does: no timeout, and never
//! more than one command at a time on one shell — others take their own channel).
//!
//! Protocol. The loop is `/bin/sh -s`: a shell reading its commands from the channel, so
//! running one starts no program of its own (the shell's parser reads what the controller
//! writes, in blocks). Each command is one line of shell the controller writes:
//!
//! ```text
//! (eval 'SCRIPT') </dev/null; printf '\n%s %s\n' MARKER "$?"; printf '\n%s\n' MARKER >&2
//! ```
//!
//! The script, quoted, runs in a subshell (a fork, no new program): its `exit`, `cd`, traps
//! and variables end with it, and a syntax error in it fails that subshell, not the loop.
//! Standard input, when there is some, is written into the line too, as a shell function
//! (`olympus_stdin`, a `printf` format with `%`, `\\` and NUL escaped, so any bytes pass)
//! piped to the subshell — a script that only stores its input in a file calls the function
//! instead of starting `cat`; inputs over
//! [`MAX_INLINE_STDIN`] take a channel of their own, streamed. The end lines close the
//! command's stdout (`\nMARKER RC\n`) and stderr (`\nMARKER\n`). MARKER is a fresh random
//! token per command, so output cannot end a frame early by accident.
//!
//! A subshell shares the loop's `$$`: scripts that need their own process id (the `shell`
//! module's user text, backup names) start their own `/bin/sh`.

use russh::ChannelMsg;
use russh::client;
use tokio::sync::OwnedSemaphorePermit;

use std::time::Duration;

use super::remote::{find, wrap};
use super::{ConnectionError, Escalation, ExecOutput};

/// The loop the channel runs: a shell reading commands from its standard input.
const LOOP: &str = "exec /bin/sh -s";

/// Standard input larger than this is not written into the shell's input (the shell
/// would hold it, parsed, in memory): such commands take a channel of their own.
pub(super) const MAX_INLINE_STDIN: usize = 256 * 1024;

/// The shell function a script on the loop may call to print its standard input (a
/// script that writes it to a file saves starting `cat`); not defined on a channel.
pub const STDIN_FUNCTION: &str = "olympus_stdin";

/// The line that runs `command` on the loop with `stdin` and then writes the end lines.
/// With input, the line defines [`STDIN_FUNCTION`] printing it, pipes that to the script,
/// and removes the function after.
fn command_line(command: &str, stdin: &[u8], marker: &str) -> Vec<u8> {
    let mut line = Vec::with_capacity(command.len() + stdin.len() + 160);
    if !stdin.is_empty() {
        // A format that starts with a conversion, so no byte of the input is taken for an
        // option; its one `%s` takes the empty argument at the end.
        line.extend_from_slice(STDIN_FUNCTION.as_bytes());
        line.extend_from_slice(b"() { printf '%s");
        for &b in stdin {
            match b {
                b'\'' => line.extend_from_slice(b"'\\''"),
                b'%' => line.extend_from_slice(b"%%"),
                b'\\' => line.extend_from_slice(b"\\\\"),
                0 => line.extend_from_slice(b"\\000"),
                _ => line.push(b),
            }
        }
        line.extend_from_slice(b"' ''; }; ");
        // The script may not read it all: the writer's broken pipe is not its error.
        line.extend_from_slice(STDIN_FUNCTION.as_bytes());
        line.extend_from_slice(b" 2>/dev/null | ");
    }
    line.extend_from_slice(b"(eval ");
    line.extend_from_slice(super::quote(command).as_bytes());
    line.push(b')');
    if stdin.is_empty() {
        line.extend_from_slice(b" </dev/null");
    }
    line.extend_from_slice(format!("; printf '\\n%s %s\\n' {marker} \"$?\"; ").as_bytes());
    if !stdin.is_empty() {
        line.extend_from_slice(format!("unset -f {STDIN_FUNCTION}; ").as_bytes());
    }
    line.extend_from_slice(format!("printf '\\n%s\\n' {marker} >&2\n").as_bytes());
    line
}

/// How many bytes at the end of a stream are searched for the end line.
const SLACK: usize = 256;

/// The shell channel of one connection, with the session slot it occupies.
pub(super) struct RemoteShell {
    read: russh::ChannelReadHalf,
    write: russh::ChannelWriteHalf<client::Msg>,
    _slot: OwnedSemaphorePermit,
}

impl RemoteShell {
    /// Starts the loop on a fresh session channel, as the login user or under `escalation`.
    /// Escalation that needs a terminal is refused with [`Start::NotHere`]; one that fails
    /// (a wrong or missing password) with the error the command would have had.
    pub(super) async fn start(
        channel: russh::Channel<client::Msg>,
        slot: OwnedSemaphorePermit,
        escalation: Option<&Escalation>,
        within: Duration,
    ) -> Result<RemoteShell, Start> {
        let mut wrapped = wrap(LOOP, escalation);
        if escalation.is_none() {
            // The login shell starts the loop itself (`sh -c 'exec sh -s'` would start one
            // program more).
            wrapped.command = LOOP.to_string();
        }
        if wrapped.needs_pty {
            let _ = channel.close().await;
            return Err(Start::NotHere("escalation needs a terminal".into()));
        }
        if let Err(e) = channel.exec(true, wrapped.command.as_bytes()).await {
            let _ = channel.close().await;
            return Err(Start::NotHere(e.to_string()));
        }
        let (mut read, write) = channel.split();
        if let (Some(marker), Some(e)) = (&wrapped.marker, escalation) {
            let escalated = escalate(&mut read, &write, marker, wrapped.prompt.as_deref(), e);
            match tokio::time::timeout(within, escalated).await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => {
                    let _ = write.close().await;
                    return Err(err);
                }
                Err(_) => {
                    let _ = write.signal(russh::Sig::KILL).await;
                    let _ = write.close().await;
                    return Err(Start::NotHere(format!(
                        "escalation did not answer within {within:?}"
                    )));
                }
            }
        }
        // Stopping a command sends TERM, then KILL, to the session's process group (sshd's
        // signal request), which sshd can do only while the session's first process — this
        // shell — lives. So the loop outlives a TERM its command ignores (and ends once that
        // command has), and the KILL reaches them all. Its subshells start with TERM at its
        // default again.
        if write.data(&b"trap 'exit 143' TERM\n"[..]).await.is_err() {
            return Err(Start::NotHere("the channel closed".into()));
        }
        Ok(RemoteShell {
            read,
            write,
            _slot: slot,
        })
    }

    /// Runs one command. An error means the shell is unusable and must be dropped.
    pub(super) async fn run(
        &mut self,
        command: &str,
        stdin: Option<&[u8]>,
        cap: usize,
    ) -> Result<ExecOutput, ConnectionError> {
        let marker = format!("OLYMPUS-END-{}", super::remote::token());
        let line = command_line(command, stdin.unwrap_or_default(), &marker);
        let write = &self.write;
        let writer = async move {
            write.data(&line[..]).await?;
            Ok::<(), russh::Error>(())
        };
        let read = &mut self.read;
        let reader = async move {
            let mut out = Frame::new(cap);
            let mut err = Frame::new(cap);
            let (mut rc, mut err_done) = (None, false);
            while rc.is_none() || !err_done {
                match read.wait().await {
                    Some(ChannelMsg::Data { data }) => {
                        out.push(&data);
                        rc = rc.or_else(|| out.end(&marker).and_then(|(_, s)| parse_rc(s)));
                    }
                    Some(ChannelMsg::ExtendedData { data, .. }) => {
                        err.push(&data);
                        err_done = err_done || err.end(&marker).is_some_and(|(_, s)| s.is_empty());
                    }
                    Some(ChannelMsg::ExitStatus { .. } | ChannelMsg::Eof | ChannelMsg::Close)
                    | None => {
                        return Err(ConnectionError::Protocol(
                            "the remote shell ended in the middle of a command".into(),
                        ));
                    }
                    Some(_) => {}
                }
            }
            let (stdout, t1) = out.finish(&marker);
            let (stderr, t2) = err.finish(&marker);
            Ok(ExecOutput {
                stdout,
                stderr,
                rc,
                signal: None,
                truncated: t1 || t2,
                timing: None,
            })
        };
        let (wrote, res) = tokio::join!(writer, reader);
        wrote.map_err(|e| ConnectionError::Protocol(format!("remote shell: {e}")))?;
        res
    }

    /// Stops the loop and whatever it runs: sshd signals the session's process group.
    /// TERM first, and a moment for it to act — under become, sudo passes TERM on to the
    /// escalated shell, whose trap kills the loop and the command (which run as another
    /// user, in another process group); a KILL at once would end sudo before it passed
    /// anything on. Then KILL, and wait until sshd reports the channel closed (so that the
    /// signals were acted on before the connection may close).
    pub(super) async fn kill(&mut self) {
        let _ = self.write.signal(russh::Sig::TERM).await;
        super::ssh::wait_closed(&mut self.read, Duration::from_millis(500)).await;
        let _ = self.write.signal(russh::Sig::KILL).await;
        super::ssh::wait_closed(&mut self.read, Duration::from_secs(2)).await;
    }

    pub(super) async fn close(&self) {
        let _ = self.write.eof().await;
        let _ = self.write.close().await;
    }
}

/// Whether commands under `e` can share a shell (escalation without a terminal).
pub(super) fn can_escalate(e: &Escalation) -> bool {
    !wrap("", Some(e)).needs_pty
}

/// Why a shell did not start.
pub(super) enum Start {
    /// Not on a shell (the escalation needs a terminal, or it did not come up as expected):
    /// the command takes its own channel, which reports what goes wrong.
    NotHere(String),
    /// Escalation refused (wrong or missing password): the command's error.
    Failed(ConnectionError),
}

/// Waits for the escalated shell's marker line, answering the password prompt once. The
/// password goes to sudo/su on the channel and nowhere else.
async fn escalate(
    read: &mut russh::ChannelReadHalf,
    write: &russh::ChannelWriteHalf<client::Msg>,
    marker: &str,
    prompt: Option<&str>,
    e: &Escalation,
) -> Result<(), Start> {
    let method = format!("{:?}", e.method).to_lowercase();
    let failed = |reason: &str| {
        Start::Failed(ConnectionError::Escalation {
            method: method.clone(),
            reason: reason.into(),
        })
    };
    let (mut out, mut err) = (Vec::<u8>::new(), Vec::<u8>::new());
    let mut answered = false;
    loop {
        match read.wait().await {
            Some(ChannelMsg::Data { data }) => {
                out.extend_from_slice(&data);
                let line = format!("{marker}\n");
                if let Some(i) = find(&out, line.as_bytes()) {
                    if out.len() > i + line.len() {
                        // Nothing may come between the marker and the first command.
                        return Err(Start::NotHere("output after the escalation marker".into()));
                    }
                    return Ok(());
                }
            }
            Some(ChannelMsg::ExtendedData { data, .. }) => {
                err.extend_from_slice(&data);
                if let (Some(p), Some(pw)) = (prompt, &e.password)
                    && let Some(i) = find(&err, p.as_bytes())
                {
                    if answered {
                        return Err(failed("incorrect password"));
                    }
                    answered = true;
                    err.drain(..i + p.len());
                    let line = format!("{}\n", pw.expose());
                    if write.data(line.as_bytes()).await.is_err() {
                        return Err(Start::NotHere("the channel closed".into()));
                    }
                }
            }
            Some(ChannelMsg::ExitStatus { .. } | ChannelMsg::Eof | ChannelMsg::Close) | None => {
                if let Some(reason) = super::remote::refusal(&err) {
                    return Err(failed(reason));
                }
                return Err(Start::NotHere(format!(
                    "the escalated shell ended: {}",
                    String::from_utf8_lossy(&err).trim()
                )));
            }
            Some(_) => {}
        }
    }
}

fn parse_rc(suffix: &[u8]) -> Option<u32> {
    std::str::from_utf8(suffix.strip_prefix(b" ")?)
        .ok()?
        .parse()
        .ok()
}

/// One output stream of a command, kept up to `cap` bytes (plus a tail to find its end).
struct Frame {
    kept: Vec<u8>,
    cap: usize,
    dropped: bool,
}

impl Frame {
    fn new(cap: usize) -> Frame {
        Frame {
            kept: Vec::new(),
            cap,
            dropped: false,
        }
    }

    fn push(&mut self, chunk: &[u8]) {
        self.kept.extend_from_slice(chunk);
        if self.kept.len() > self.cap.saturating_add(2 * SLACK) {
            let keep_tail_from = self.kept.len() - SLACK;
            self.kept.drain(self.cap..keep_tail_from);
            self.dropped = true;
        }
    }

    /// When the stream ends with `\nMARKER<suffix>\n`: where that line starts, and the suffix.
    fn end(&self, marker: &str) -> Option<(usize, &[u8])> {
        if !self.kept.ends_with(b"\n") {
            return None;
        }
        let start = self.kept.len().saturating_sub(SLACK);
        // "\n" and the marker, compared in place (this runs for every chunk of output).
        let marker = marker.as_bytes();
        let window = &self.kept[start..];
        let i = window
            .windows(marker.len() + 1)
            .rposition(|w| w[0] == b'\n' && &w[1..] == marker)?;
        let line = start + i;
        Some((
            line,
            &self.kept[line + 1 + marker.len()..self.kept.len() - 1],
        ))
    }

    /// The command's own output (without the end line), and whether some was dropped.
    fn finish(mut self, marker: &str) -> (Vec<u8>, bool) {
        let line = self.end(marker).map(|(l, _)| l).unwrap_or(self.kept.len());
        let len = if self.dropped {
            self.cap
        } else {
            line.min(self.cap)
        };
        let truncated = self.dropped || line > self.cap;
        self.kept.truncate(len);
        (self.kept, truncated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(chunks: &[&[u8]], cap: usize) -> Frame {
        let mut f = Frame::new(cap);
        for c in chunks {
            f.push(c);
        }
        f
    }

    #[test]
    fn end_line_found_across_chunks_and_only_at_the_end() {
        let m = "OLYMPUS-END-abc";
        let f = frame(&[b"hello", b"\nOLYMPUS-E", b"ND-abc 3", b"\n"], 100);
        assert_eq!(f.end(m).and_then(|(_, s)| parse_rc(s)), Some(3));
        assert_eq!(f.finish(m), (b"hello".to_vec(), false));
        // Output without a final newline, and output that is only newlines.
        let f = frame(&[b"\n\n", b"\nOLYMPUS-END-abc 0\n"], 100);
        assert_eq!(f.finish(m), (b"\n\n".to_vec(), false));
        // Not ended yet: the marker line is incomplete.
        let f = frame(&[b"x\nOLYMPUS-END-abc 1"], 100);
        assert_eq!(f.end(m).and_then(|(_, s)| parse_rc(s)), None);
        // Another command's marker does not end this one.
        let f = frame(&[b"x\nOLYMPUS-END-zzz 0\n"], 100);
        assert!(f.end(m).is_none());
        // stderr's end line has no status.
        let f = frame(&[b"oops\n", b"\nOLYMPUS-END-abc\n"], 100);
        assert_eq!(f.end(m).map(|(_, s)| s.to_vec()), Some(Vec::new()));
        assert_eq!(f.finish(m), (b"oops\n".to_vec(), false));
    }

    /// Commands written as the loop gets them, to a real `/bin/sh -s`: every byte of input
    /// arrives as it was, scripts end in their own subshell, and the loop lives on.
    #[test]
    fn frames_run_on_a_real_shell_and_carry_any_bytes() {
        use std::io::Write;
        let dir = tempfile::tempdir().expect("tmp");
        let got = dir.path().join("got");
        let all: Vec<u8> = (0..=255u8).chain(*b"'%s\\000%%'\n-x").collect();
        let mut input = Vec::new();
        input.extend(command_line(
            &format!("cat > {}", super::super::quote(&got.to_string_lossy())),
            &all,
            "M1",
        ));
        input.extend(command_line(
            &format!("{STDIN_FUNCTION} > got2; echo \"$(wc -c < got2)\""),
            &all,
            "M1b",
        ));
        input.extend(command_line("echo \"unterminated", b"", "M2"));
        input.extend(command_line(
            "trap 'echo bye' EXIT; cd /; x=1; exit 7",
            b"",
            "M3",
        ));
        input.extend(command_line(
            &format!("echo \"[$x]\"; pwd; cat; command -v {STDIN_FUNCTION} || echo gone"),
            b"",
            "M4",
        ));
        input.extend(command_line("-n", b"-n", "M5"));
        let mut sh = std::process::Command::new("/bin/sh")
            .arg("-s")
            .current_dir(dir.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("sh");
        sh.stdin
            .take()
            .expect("stdin")
            .write_all(&input)
            .expect("write");
        let out = sh.wait_with_output().expect("sh");
        assert_eq!(std::fs::read(&got).expect("got"), all);
        assert_eq!(std::fs::read(dir.path().join("got2")).expect("got2"), all);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let want = format!(
            "\nM1 0\n{}\n\nM1b 0\n\nM2 2\nbye\n\nM3 7\n[]\n{}\ngone\n\nM4 0\n\nM5 127\n",
            all.len(),
            dir.path().canonicalize().expect("dir").display()
        );
        assert_eq!(
            stdout,
            want,
            "stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success());
    }

    #[test]
    fn output_over_the_cap_is_cut_and_said() {
        let m = "OLYMPUS-END-abc";
        let mut f = Frame::new(10);
        for _ in 0..1000 {
            f.push(b"0123456789");
        }
        assert!(f.kept.len() <= 10 + 2 * SLACK, "bounded while it streams");
        f.push(b"\nOLYMPUS-END-abc 0\n");
        assert_eq!(f.end(m).and_then(|(_, s)| parse_rc(s)), Some(0));
        assert_eq!(f.finish(m), (b"0123456789".to_vec(), true));
        // Just over the cap, nothing dropped while streaming: still cut to the cap.
        let f = frame(&[b"0123456789AB", b"\nOLYMPUS-END-abc 0\n"], 10);
        assert_eq!(f.finish(m), (b"0123456789".to_vec(), true));
    }
}
