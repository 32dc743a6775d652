//! OpenSSH `known_hosts` files: looking up a host's recorded keys and recording new ones.
//!
//! Handles plain and hashed (`|1|salt|hash`) host entries, `[host]:port`, comma lists,
//! wildcards (`*`, `?`), negation (`!pattern`) and the `@revoked` marker; `@cert-authority`
//! lines are skipped (host certificates are not supported yet). Keys are compared by their
//! algorithm and base64 blob, so no key format parsing can fail here.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};

use super::read_once::ReadOnce;

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

/// What the known_hosts files say about a host and the key it presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A recorded key matches.
    Known,
    /// The host is not recorded at all.
    Unknown,
    /// The host is recorded with a different key of the same type: possibly an attack.
    Changed { file: PathBuf, line: usize },
    /// The host is recorded only with keys of other types.
    OtherTypes { file: PathBuf, line: usize },
    /// The key is marked `@revoked`.
    Revoked { file: PathBuf, line: usize },
}

/// The name known_hosts uses for a host: `host`, or `[host]:port` off port 22.
pub fn host_key_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

/// Looks `host:port` presenting key (`algorithm`, base64 `blob`) up in `files`, in order.
pub fn check(files: &[PathBuf], host: &str, port: u16, algorithm: &str, blob: &str) -> Verdict {
    let name = host_key_name(host, port);
    let mut other: Option<Verdict> = None;
    let mut changed: Option<Verdict> = None;
    for file in files {
        let Some(parsed) = parsed(file) else {
            continue;
        };
        for entry in parsed.candidates(&name) {
            if !hosts_match(&entry.hosts, &name) {
                continue;
            }
            let here = || (file.clone(), entry.line);
            match entry.marker.as_deref() {
                Some("@cert-authority") => continue,
                Some("@revoked") => {
                    if entry.blob == blob {
                        let (file, line) = here();
                        return Verdict::Revoked { file, line };
                    }
                    continue;
                }
                _ => {}
            }
            if entry.algorithm == algorithm && entry.blob == blob {
                return Verdict::Known;
            }
            if entry.algorithm == algorithm {
                let (file, line) = here();
                changed.get_or_insert(Verdict::Changed { file, line });
            } else {
                let (file, line) = here();
                other.get_or_insert(Verdict::OtherTypes { file, line });
            }
        }
    }
    changed.or(other).unwrap_or(Verdict::Unknown)
}

/// One host line of a known_hosts file.
struct Entry {
    /// 1-based line number in its file.
    line: usize,
    marker: Option<String>,
    hosts: String,
    algorithm: String,
    blob: String,
}

/// A known_hosts file read once: its entries, and an index of those whose patterns are all
/// plain ASCII names (no wildcard, negation or hash) by lowercased name. Every connection
/// looks its host up here, so 1,000 hosts in a 1,000-line file no longer cost a million
/// line matches.
struct Parsed {
    entries: Vec<Entry>,
    by_name: HashMap<String, Vec<usize>>,
    /// Entries that must be matched pattern by pattern.
    others: Vec<usize>,
}

impl Parsed {
    fn read(text: &str) -> Parsed {
        let mut parsed = Parsed {
            entries: Vec::new(),
            by_name: HashMap::new(),
            others: Vec::new(),
        };
        for (i, line) in text.lines().enumerate() {
            let Some(e) = parse_line(line) else {
                continue;
            };
            let at = parsed.entries.len();
            let plain = |p: &str| {
                p.is_ascii() && !p.is_empty() && !p.contains(['*', '?', '!']) && !p.starts_with('|')
            };
            if e.hosts.split(',').all(plain) {
                for p in e.hosts.split(',') {
                    let slot = parsed.by_name.entry(p.to_ascii_lowercase()).or_default();
                    if slot.last() != Some(&at) {
                        slot.push(at);
                    }
                }
            } else {
                parsed.others.push(at);
            }
            parsed.entries.push(Entry {
                line: i + 1,
                marker: e.marker.map(str::to_string),
                hosts: e.hosts.to_string(),
                algorithm: e.algorithm.to_string(),
                blob: e.blob.to_string(),
            });
        }
        parsed
    }

    /// The entries that may match `name`, in file order.
    fn candidates(&self, name: &str) -> impl Iterator<Item = &Entry> {
        let mut at: Vec<usize> = self.others.clone();
        if name.is_ascii()
            && let Some(named) = self.by_name.get(&name.to_ascii_lowercase())
        {
            at.extend(named);
        }
        at.sort_unstable();
        at.dedup();
        at.into_iter().map(|i| &self.entries[i])
    }
}

/// known_hosts files already read by this process.
static FILES: LazyLock<ReadOnce<Parsed>> = LazyLock::new(ReadOnce::default);

/// A known_hosts file as read and indexed; `None` when it cannot be read.
fn parsed(file: &Path) -> Option<Arc<Parsed>> {
    FILES
        .get(file, |f| {
            std::fs::read_to_string(f).map(|text| Parsed::read(&text))
        })
        .ok()
}

/// The fields of a known_hosts line, borrowed from it.
struct Fields<'a> {
    marker: Option<&'a str>,
    hosts: &'a str,
    algorithm: &'a str,
    blob: &'a str,
}

fn parse_line(line: &str) -> Option<Fields<'_>> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let mut fields = line.split_whitespace();
    let mut first = fields.next()?;
    let mut marker = None;
    if first.starts_with('@') {
        marker = Some(first);
        first = fields.next()?;
    }
    Some(Fields {
        marker,
        hosts: first,
        algorithm: fields.next()?,
        blob: fields.next()?,
    })
}

/// A comma list of patterns matches when some positive pattern matches and no negated one.
fn hosts_match(patterns: &str, name: &str) -> bool {
    let mut matched = false;
    for p in patterns.split(',') {
        if let Some(hashed) = p.strip_prefix("|1|") {
            if hashed_match(hashed, name) {
                matched = true;
            }
        } else if let Some(neg) = p.strip_prefix('!') {
            if wildcard_match(neg, name) {
                return false;
            }
        } else if wildcard_match(p, name) {
            matched = true;
        }
    }
    matched
}

fn hashed_match(hashed: &str, name: &str) -> bool {
    let Some((salt, hash)) = hashed.split_once('|') else {
        return false;
    };
    let b64 = data_encoding::BASE64;
    let (Ok(salt), Ok(hash)) = (b64.decode(salt.as_bytes()), b64.decode(hash.as_bytes())) else {
        return false;
    };
    let Ok(mac) = <Hmac<Sha1> as KeyInit>::new_from_slice(&salt) else {
        return false;
    };
    mac.chain_update(name.as_bytes())
        .verify_slice(&hash)
        .is_ok()
}

/// OpenSSH's `match_pattern`: `*` any run, `?` one character, case-insensitive for hosts.
/// Allocates nothing: a known_hosts file is scanned once per connection, and a run to
/// 1,000 hosts with one line per host compares a million patterns.
pub(crate) fn wildcard_match(pattern: &str, text: &str) -> bool {
    if pattern.is_ascii() && text.is_ascii() {
        if !pattern.contains(['*', '?']) {
            return pattern.eq_ignore_ascii_case(text);
        }
        return glob(pattern.as_bytes(), text.as_bytes(), |a, b| {
            a.eq_ignore_ascii_case(b)
        });
    }
    let fold = |s: &str| -> Vec<char> { s.chars().flat_map(char::to_lowercase).collect() };
    glob(&fold(pattern), &fold(text), |a, b| a == b)
}

/// `*` and `?` wildcards, case-sensitive (file names).
pub(crate) fn wildcard_match_case(pattern: &str, text: &str) -> bool {
    if pattern.is_ascii() && text.is_ascii() {
        return glob(pattern.as_bytes(), text.as_bytes(), |a, b| a == b);
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    glob(&p, &t, |a, b| a == b)
}

/// The wildcard matcher over characters (or ASCII bytes), `same` comparing two of them.
fn glob<C: Copy + PartialEq + From<u8>>(p: &[C], t: &[C], same: impl Fn(&C, &C) -> bool) -> bool {
    let (any, one) = (C::from(b'*'), C::from(b'?'));
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] != any && (p[pi] == one || same(&p[pi], &t[ti])) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == any {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == any {
        pi += 1;
    }
    pi == p.len()
}

static LEARN_LOCK: Mutex<()> = Mutex::new(());

/// Appends `host:port`'s key to `file` (created with its directory if needed). Concurrent
/// callers in this process are serialised, and each entry is one `write` in append mode.
pub fn learn(
    file: &Path,
    host: &str,
    port: u16,
    algorithm: &str,
    blob: &str,
) -> std::io::Result<()> {
    let _guard = LEARN_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(parent) = file.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)?;
    }
    let needs_newline = std::fs::read(file)
        .map(|b| !b.is_empty() && !b.ends_with(b"\n"))
        .unwrap_or(false);
    let mut line = String::new();
    if needs_newline {
        line.push('\n');
    }
    line.push_str(&format!(
        "{} {algorithm} {blob}\n",
        host_key_name(host, port)
    ));
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)?;
    f.write_all(line.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ";
    const K2: &str = "AAAAC3NzaC1lZDI1NTE5AAAAIA6rWI3G1sz07DnfFlrouTcysQlj2P+jpNSOEWD9OJ3X";

    fn file(text: &str) -> (tempfile::TempDir, Vec<PathBuf>) {
        let d = tempfile::tempdir().expect("tmp");
        let p = d.path().join("known_hosts");
        std::fs::write(&p, text).expect("write");
        (d, vec![p])
    }

    #[test]
    fn plain_port_and_lists() {
        let (_d, f) = file(&format!(
            "# comment\n[10.0.0.1]:2222 ssh-ed25519 {K1}\nweb1,10.0.0.2 ssh-ed25519 {K2} c\n"
        ));
        assert_eq!(
            check(&f, "10.0.0.1", 2222, "ssh-ed25519", K1),
            Verdict::Known
        );
        assert_eq!(
            check(&f, "10.0.0.1", 22, "ssh-ed25519", K1),
            Verdict::Unknown
        );
        assert_eq!(check(&f, "10.0.0.2", 22, "ssh-ed25519", K2), Verdict::Known);
        assert!(matches!(
            check(&f, "web1", 22, "ssh-ed25519", K1),
            Verdict::Changed { line: 3, .. }
        ));
        assert!(matches!(
            check(&f, "web1", 22, "ecdsa-sha2-nistp256", "AAAA"),
            Verdict::OtherTypes { .. }
        ));
    }

    #[test]
    fn hashed_entries() {
        // `ssh-keygen -H` hash of "localhost" with this salt.
        let salt = data_encoding::BASE64.encode(b"0123456789abcdefghij");
        let mac = <Hmac<Sha1> as KeyInit>::new_from_slice(b"0123456789abcdefghij")
            .expect("key")
            .chain_update(b"[localhost]:2200")
            .finalize()
            .into_bytes();
        let hash = data_encoding::BASE64.encode(&mac);
        let (_d, f) = file(&format!("|1|{salt}|{hash} ssh-ed25519 {K1}\n"));
        assert_eq!(
            check(&f, "localhost", 2200, "ssh-ed25519", K1),
            Verdict::Known
        );
        assert_eq!(
            check(&f, "localhost", 22, "ssh-ed25519", K1),
            Verdict::Unknown
        );
    }

    #[test]
    fn wildcards_negation_and_markers() {
        let (_d, f) = file(&format!(
            "*.example.com,!bad.example.com ssh-ed25519 {K1}\n@revoked * ssh-ed25519 {K2}\n@cert-authority * ssh-ed25519 {K1}\n"
        ));
        assert_eq!(
            check(&f, "a.example.com", 22, "ssh-ed25519", K1),
            Verdict::Known
        );
        assert_eq!(
            check(&f, "bad.example.com", 22, "ssh-ed25519", K1),
            Verdict::Unknown
        );
        assert!(matches!(
            check(&f, "x", 22, "ssh-ed25519", K2),
            Verdict::Revoked { line: 2, .. }
        ));
    }

    #[test]
    fn learning_appends_and_is_then_known() {
        let d = tempfile::tempdir().expect("tmp");
        let p = d.path().join("sub/known_hosts");
        learn(&p, "10.1.1.1", 2200, "ssh-ed25519", K1).expect("learn");
        learn(&p, "10.1.1.2", 22, "ssh-ed25519", K2).expect("learn");
        let f = vec![p.clone()];
        assert_eq!(
            check(&f, "10.1.1.1", 2200, "ssh-ed25519", K1),
            Verdict::Known
        );
        assert_eq!(check(&f, "10.1.1.2", 22, "ssh-ed25519", K2), Verdict::Known);
        let text = std::fs::read_to_string(p).expect("read");
        assert_eq!(text.lines().count(), 2);
    }

    #[test]
    fn a_file_read_once_is_read_again_after_it_changes() {
        let d = tempfile::tempdir().expect("tmp");
        let p = d.path().join("known_hosts");
        let f = vec![p.clone()];
        assert_eq!(
            check(&f, "10.1.1.3", 22, "ssh-ed25519", K1),
            Verdict::Unknown
        );
        learn(&p, "10.1.1.3", 22, "ssh-ed25519", K1).expect("learn");
        assert_eq!(check(&f, "10.1.1.3", 22, "ssh-ed25519", K1), Verdict::Known);
        // Rewritten in place with another key of the same length (the time set apart).
        std::fs::write(&p, format!("10.1.1.3 ssh-ed25519 {K2}\n")).expect("rewrite");
        std::fs::File::options()
            .write(true)
            .open(&p)
            .and_then(|f| {
                f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
            })
            .expect("set mtime");
        assert!(matches!(
            check(&f, "10.1.1.3", 22, "ssh-ed25519", K1),
            Verdict::Changed { line: 1, .. }
        ));
    }

    #[test]
    fn indexed_and_pattern_lines_keep_file_order() {
        // The first matching line decides which line a changed key is reported at,
        // whether it is a wildcard or a plain name; names match whatever their case.
        let (_d, f) = file(&format!(
            "other ssh-ed25519 {K1}\n*.example.com ssh-ed25519 {K2}\nA.Example.com,b ssh-ed25519 {K2}\n\
             c.example.com ssh-rsa AAAA\n"
        ));
        assert!(matches!(
            check(&f, "a.example.com", 22, "ssh-ed25519", K1),
            Verdict::Changed { line: 2, .. }
        ));
        assert_eq!(
            check(&f, "A.EXAMPLE.COM", 22, "ssh-ed25519", K2),
            Verdict::Known
        );
        assert_eq!(check(&f, "b", 22, "ssh-ed25519", K2), Verdict::Known);
        assert!(matches!(
            check(&f, "c.example.com", 22, "ssh-ed25519", K1),
            Verdict::Changed { line: 2, .. }
        ));
        assert!(matches!(
            check(&f, "c.example.com", 22, "ecdsa-sha2-nistp256", K1),
            Verdict::OtherTypes { line: 2, .. }
        ));
        assert_eq!(check(&f, "d", 22, "ssh-ed25519", K1), Verdict::Unknown);
    }

    #[test]
    fn wildcard_semantics() {
        assert!(wildcard_match("*", "anything"));
        assert!(wildcard_match("web?", "web1"));
        assert!(!wildcard_match("web?", "web10"));
        assert!(wildcard_match("*.EXAMPLE.com", "a.example.COM"));
        assert!(wildcard_match("a*b*c", "aXXbYYc"));
        assert!(!wildcard_match("a*b*c", "aXXbYY"));
        assert!(wildcard_match("[10.0.0.1]:2222", "[10.0.0.1]:2222"));
        assert!(!wildcard_match("[10.0.0.1]:2222", "[10.0.0.1]:22"));
        assert!(wildcard_match("WEB1", "web1"));
        // Non-ASCII names fold case as Unicode does.
        assert!(wildcard_match("ÉCOLE-*", "école-1"));
        assert!(!wildcard_match("éc?le", "ecole"));
        // File names keep their case.
        assert!(wildcard_match_case("*.yml", "site.yml"));
        assert!(!wildcard_match_case("*.YML", "site.yml"));
        assert!(wildcard_match_case("données-?.yml", "données-1.yml"));
    }
}
