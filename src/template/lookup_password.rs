//! `lookup('password', 'FILE length=N chars=SETS')`: a random password kept in a file on
//! the controller — made (with its directories, mode 0600) the first time, read after —
//! as ansible-core's password lookup does. `/dev/null` gives a new one each time and keeps
//! none. With `encrypt=sha512_crypt` (or `sha256_crypt`) the crypt hash is returned, its
//! salt kept in the file beside the password (`PASSWORD salt=SALT`).
//!
//! Owns: the term's options, the character sets, the file. Must not: log a password.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use minijinja::Error;

/// One lookup at a time reads or makes a password file (hosts render in parallel).
static FILES: Mutex<()> = Mutex::new(());

const DEFAULT_CHARS: &[&str] = &["ascii_letters", "digits", ".,:-_"];

fn fail(msg: String) -> Error {
    Error::new(minijinja::ErrorKind::InvalidOperation, msg)
}

/// Python's `string` constants by name; anything else is taken literally.
fn charset(names: &[String]) -> Vec<char> {
    let mut out: Vec<char> = Vec::new();
    for n in names {
        let add: String = match n.as_str() {
            "ascii_letters" => ('a'..='z').chain('A'..='Z').collect(),
            "ascii_lowercase" => ('a'..='z').collect(),
            "ascii_uppercase" => ('A'..='Z').collect(),
            "digits" => ('0'..='9').collect(),
            "hexdigits" => "0123456789abcdefABCDEF".into(),
            "octdigits" => "01234567".into(),
            "punctuation" => "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~".into(),
            other => other.into(),
        };
        for c in add.chars() {
            if !out.contains(&c) {
                out.push(c);
            }
        }
    }
    out
}

fn random(len: usize, chars: &[char]) -> Result<String, Error> {
    use ring::rand::SecureRandom;
    if chars.is_empty() {
        return Err(fail(
            "lookup('password'): no characters to choose from".into(),
        ));
    }
    let rng = ring::rand::SystemRandom::new();
    let mut out = String::with_capacity(len);
    // Rejection sampling: every character equally likely.
    let limit = 256 - 256 % chars.len();
    while out.chars().count() < len {
        let mut b = [0u8; 64];
        rng.fill(&mut b)
            .map_err(|_| fail("lookup('password'): no random numbers".into()))?;
        for x in b {
            if usize::from(x) < limit && out.chars().count() < len {
                out.push(chars[usize::from(x) % chars.len()]);
            }
        }
    }
    Ok(out)
}

/// The options of a term: `path key=value ...`.
struct Options {
    path: String,
    length: usize,
    chars: Vec<String>,
    encrypt: Option<String>,
}

fn parse(term: &str) -> Result<Options, Error> {
    let mut words = term.split_whitespace();
    let path = words
        .next()
        .ok_or_else(|| fail("lookup('password') needs a file name".into()))?
        .to_string();
    let mut o = Options {
        path,
        length: 20,
        chars: DEFAULT_CHARS.iter().map(|s| s.to_string()).collect(),
        encrypt: None,
    };
    for w in words {
        let Some((k, v)) = w.split_once('=') else {
            return Err(fail(format!("lookup('password'): '{w}' is not key=value")));
        };
        match k {
            "length" => {
                o.length = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=4096).contains(n))
                    .ok_or_else(|| {
                        fail(format!(
                            "lookup('password'): length '{v}' must be 1 to 4096"
                        ))
                    })?;
            }
            "chars" => {
                // `,,` is a literal comma.
                let mut sets: Vec<String> = Vec::new();
                for part in v.replace(",,", "\u{0}").split(',') {
                    sets.push(part.replace('\u{0}', ","));
                }
                o.chars = sets;
            }
            "encrypt" => o.encrypt = Some(v.to_string()),
            other => {
                return Err(fail(format!(
                    "lookup('password'): option '{other}' is not supported by olympus yet (length, chars, encrypt)"
                )));
            }
        }
    }
    Ok(o)
}

/// The password (or its hash) for one term; `base` is where relative paths start.
pub fn password(term: &str, base: &Path) -> Result<String, Error> {
    let o = parse(term)?;
    let chars = charset(&o.chars);
    let hash_type = match o.encrypt.as_deref() {
        None => None,
        Some("sha512_crypt") => Some("sha512"),
        Some("sha256_crypt") => Some("sha256"),
        Some(other) => {
            return Err(fail(format!(
                "lookup('password'): encrypt '{other}' is not supported by olympus yet (sha512_crypt, sha256_crypt)"
            )));
        }
    };
    let salt_chars = charset(&["ascii_letters".into(), "digits".into(), "./".into()]);
    let (pw, salt) = if o.path == "/dev/null" {
        (random(o.length, &chars)?, None)
    } else {
        let path: PathBuf = if Path::new(&o.path).is_absolute() {
            PathBuf::from(&o.path)
        } else {
            base.join(&o.path)
        };
        let _guard = FILES.lock().unwrap_or_else(|e| e.into_inner());
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let line = text.lines().next().unwrap_or("").to_string();
                match line.rsplit_once(" salt=") {
                    Some((p, s)) => (p.to_string(), Some(s.to_string())),
                    None => (line, None),
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let pw = random(o.length, &chars)?;
                let salt = match hash_type {
                    Some(_) => Some(random(16, &salt_chars)?),
                    None => None,
                };
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| fail(format!("lookup('password'): {}: {e}", dir.display())))?;
                }
                let content = match &salt {
                    Some(s) => format!("{pw} salt={s}\n"),
                    None => format!("{pw}\n"),
                };
                write_private(&path, &content)
                    .map_err(|e| fail(format!("lookup('password'): {}: {e}", path.display())))?;
                (pw, salt)
            }
            Err(e) => {
                return Err(fail(format!("lookup('password'): {}: {e}", path.display())));
            }
        }
    };
    match hash_type {
        None => Ok(pw),
        Some(t) => {
            let salt = match salt {
                Some(s) => s,
                None => random(16, &salt_chars)?,
            };
            super::password::password_hash(
                pw,
                Some(t.into()),
                Some(salt),
                None,
                minijinja::value::Kwargs::from_iter(std::iter::empty::<(&str, minijinja::Value)>()),
            )
        }
    }
}

/// Writes a new file readable by its owner only (temporary file, then rename).
fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.olympus-{}",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        std::process::id()
    ));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(content.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_once_then_read() {
        let dir = tempfile::tempdir().unwrap();
        let a = password("creds/db length=12 chars=digits", dir.path()).unwrap();
        assert_eq!(a.len(), 12);
        assert!(a.chars().all(|c| c.is_ascii_digit()), "{a}");
        let b = password("creds/db length=12 chars=digits", dir.path()).unwrap();
        assert_eq!(a, b);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("creds/db"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        // As ansible-core reads an existing file: the password before " salt=".
        std::fs::write(dir.path().join("given"), "s3cret salt=abcdefgh\n").unwrap();
        assert_eq!(password("given", dir.path()).unwrap(), "s3cret");
        // A hash with the kept salt.
        let h = password("given encrypt=sha512_crypt", dir.path()).unwrap();
        assert!(h.starts_with("$6$rounds=656000$abcdefgh$"), "{h}");
        // /dev/null: new each time, nothing kept.
        let x = password("/dev/null", dir.path()).unwrap();
        assert_eq!(x.len(), 20);
        assert!(password("x seed=1", dir.path()).is_err());
        assert_eq!(charset(&["ab".into(), ",".into()]), vec!['a', 'b', ',']);
    }
}
