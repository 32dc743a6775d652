//! Shell text sent to hosts: the `/bin/sh -c` wrapper, `become` wrappers, and the atomic
//! file-write script. Every user-supplied string is quoted with [`super::quote`].

use std::sync::atomic::{AtomicU64, Ordering};

use super::{Escalation, EscalationMethod, quote};

/// Mode, owner and group to give a written file. With no mode, an existing file keeps its
/// mode and a new one gets `0666 & ~umask`, as `cp` would.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileAttrs {
    /// Octal (`"0644"`) or symbolic (`"u=rw,go=r"`) as `chmod` takes it.
    pub mode: Option<String>,
    pub owner: Option<String>,
    pub group: Option<String>,
}

/// The script that writes standard input to `dest` atomically: a temporary file in the
/// destination directory, its size checked against `size`, mode and owner set, then
/// renamed over `dest`. Anything short of the full transfer removes the temporary file and
/// leaves `dest` untouched.
pub fn put_file_script(dest: &str, size: usize, attrs: &FileAttrs) -> String {
    let d = quote(dest);
    let mut s = String::new();
    s.push_str("um=$(umask); umask 077\n");
    s.push_str(&format!("dir=$(dirname -- {d}) || exit 1\n"));
    s.push_str("t=$(mktemp \"$dir/.olympus.XXXXXXXX\") || exit 1\n");
    s.push_str("trap 'rm -f -- \"$t\"' EXIT\n");
    s.push_str(
        "trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 141' PIPE; trap 'exit 143' TERM\n",
    );
    s.push_str("cat > \"$t\" || exit 1\n");
    s.push_str("n=$(($(wc -c < \"$t\")))\n");
    s.push_str(&format!(
        "if [ \"$n\" -ne {size} ]; then echo \"olympus: transfer cut short ($n of {size} bytes); \"{d}\" left unchanged\" >&2; exit 1; fi\n"
    ));
    match &attrs.mode {
        Some(m) => s.push_str(&format!("chmod {} \"$t\" || exit 1\n", quote(m))),
        None => s.push_str(&format!(
            "if [ -e {d} ]; then chmod --reference={d} \"$t\" || exit 1; \
             chown --reference={d} \"$t\" 2>/dev/null || true; \
             else chmod \"$(printf '%o' $((0666 & ~um)))\" \"$t\" || exit 1; fi\n"
        )),
    }
    if let Some(o) = &attrs.owner {
        s.push_str(&format!("chown {} \"$t\" || exit 1\n", quote(o)));
    }
    if let Some(g) = &attrs.group {
        s.push_str(&format!("chgrp {} \"$t\" || exit 1\n", quote(g)));
    }
    s.push_str(&format!("mv -f -- \"$t\" {d} || exit 1\n"));
    s.push_str("trap - EXIT\n");
    s
}

static SEQ: AtomicU64 = AtomicU64::new(0);

/// A token unlikely to appear in any command's output.
pub(super) fn token() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let mixed =
        nanos ^ (u64::from(std::process::id()) << 32) ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    format!("{mixed:016x}{n:x}")
}

/// A command as sent over the wire, with what to watch for when it escalates.
#[derive(Debug, Clone)]
pub struct Wrapped {
    pub command: String,
    /// Printed on stdout by the escalated shell before the command runs.
    pub marker: Option<String>,
    /// The password prompt to answer (sudo's is our own; su's is the system's).
    pub prompt: Option<String>,
    /// su needs a terminal to ask for its password.
    pub needs_pty: bool,
}

/// Wraps a shell command so that it runs under `/bin/sh` whatever the login shell, and under
/// `become` when asked. The password is never part of the command line.
pub fn wrap(command: &str, escalation: Option<&Escalation>) -> Wrapped {
    let Some(e) = escalation else {
        return Wrapped {
            command: format!("exec /bin/sh -c {}", quote(command)),
            marker: None,
            prompt: None,
            needs_pty: false,
        };
    };
    let marker = format!("OLYMPUS-BECOME-SUCCESS-{}", token());
    // The escalated shell runs the command as its child and, when sudo/su passes on a stop
    // (TERM, INT, HUP), kills its whole process group: the login user could not signal the
    // command's children (they run as the become user), and sudo passes a signal on to its
    // own child only. Standard input is kept for the child (`3<&0`), which an asynchronous
    // command would otherwise not get.
    let inner = format!(
        "echo {marker}\nexec 3<&0\ntrap 'trap - TERM INT HUP; kill -KILL 0' TERM INT HUP\n/bin/sh -c {} <&3 3<&- &\nwait $!",
        quote(command)
    );
    match e.method {
        EscalationMethod::Sudo => {
            let (flags, prompt) = match &e.password {
                Some(_) => {
                    let p = format!("[sudo via olympus, key={}] password:", token());
                    (format!("-p {}", quote(&p)), Some(p))
                }
                None => ("-n".to_string(), None),
            };
            Wrapped {
                command: format!(
                    "exec sudo -H -S {flags} -u {} /bin/sh -c {}",
                    quote(&e.user),
                    quote(&inner)
                ),
                marker: Some(marker),
                prompt,
                needs_pty: false,
            }
        }
        EscalationMethod::Su => Wrapped {
            command: format!(
                "exec su - {} -c {}",
                quote(&e.user),
                quote(&format!("/bin/sh -c {}", quote(&inner)))
            ),
            marker: Some(marker),
            prompt: e.password.as_ref().map(|_| "assword:".to_string()),
            needs_pty: e.password.is_some(),
        },
    }
}

/// Why sudo/su refused, read from what it printed before escalating: the reason an
/// escalation error gives, or `None` when it said nothing we recognise.
pub(super) fn refusal(said: &[u8]) -> Option<&'static str> {
    let text = String::from_utf8_lossy(said);
    if text.contains("a password is required") {
        return Some("a password is required (use --ask-become-pass or ansible_become_password)");
    }
    if text.contains("incorrect password")
        || text.contains("Sorry, try again")
        || text.contains("Authentication failure")
    {
        return Some("incorrect password");
    }
    None
}

/// Where `needle` first starts in `hay`.
pub(super) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::super::Secret;
    use super::*;

    fn sh(script: &str, stdin: &[u8]) -> std::process::Output {
        use std::io::Write;
        let mut c = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(script)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("sh");
        c.stdin
            .take()
            .expect("stdin")
            .write_all(stdin)
            .expect("write");
        c.wait_with_output().expect("wait")
    }

    #[test]
    fn put_file_writes_atomically_with_mode() {
        let d = tempfile::tempdir().expect("tmp");
        let dest = d.path().join("it's a file");
        let dest_s = dest.to_string_lossy().to_string();
        let attrs = FileAttrs {
            mode: Some("0640".into()),
            ..Default::default()
        };
        let out = sh(&put_file_script(&dest_s, 5, &attrs), b"hello");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(std::fs::read(&dest).expect("read"), b"hello");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&dest).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        assert_eq!(
            std::fs::read_dir(d.path()).expect("ls").count(),
            1,
            "no temp file left"
        );
    }

    #[test]
    fn short_transfer_leaves_old_file_and_no_temp() {
        let d = tempfile::tempdir().expect("tmp");
        let dest = d.path().join("f");
        std::fs::write(&dest, b"old").expect("write");
        let out = sh(
            &put_file_script(&dest.to_string_lossy(), 100, &FileAttrs::default()),
            b"only part",
        );
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("cut short"));
        assert_eq!(std::fs::read(&dest).expect("read"), b"old");
        assert_eq!(
            std::fs::read_dir(d.path()).expect("ls").count(),
            1,
            "temp file removed"
        );
    }

    #[test]
    fn existing_file_keeps_its_mode() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().expect("tmp");
        let dest = d.path().join("f");
        std::fs::write(&dest, b"old").expect("write");
        std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let out = sh(
            &put_file_script(&dest.to_string_lossy(), 3, &FileAttrs::default()),
            b"new",
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mode = std::fs::metadata(&dest).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn wrapping_quotes_and_hides_passwords() {
        let w = wrap("echo 'a b' $HOME", None);
        assert_eq!(w.command, "exec /bin/sh -c 'echo '\\''a b'\\'' $HOME'");
        let e = Escalation {
            method: EscalationMethod::Sudo,
            user: "root".into(),
            password: Some(Secret::new("s3cret")),
        };
        let w = wrap("id -u", Some(&e));
        assert!(!w.command.contains("s3cret"));
        assert!(w.command.starts_with("exec sudo -H -S -p "));
        assert!(w.prompt.is_some() && w.marker.is_some());
        let e = Escalation {
            password: None,
            ..e
        };
        assert!(
            wrap("id -u", Some(&e))
                .command
                .starts_with("exec sudo -H -S -n -u root")
        );
    }
}
