//! `authorized_key` (from the `ansible.posix` collection): SSH public keys in a user's
//! `authorized_keys`, added (with options), removed, or made the only ones (`exclusive`);
//! `~/.ssh` created 0700 and the file written 0600, both owned by the user.

use serde::Deserialize;
use serde_json::Value;

use super::args::{self, Param, param};
use super::registry::Spec;
use super::write::{self, Attrs, Write, write_if_changed};
use super::{Content, Module, ModuleCtx, ModuleResult, Plan};
use crate::connection::quote;

pub static SPEC: Spec = Spec {
    name: "authorized_key",
    summary: "Add or remove SSH public keys in a user's authorized_keys.",
    params: PARAMS,
    namespace: "ansible.posix",
    ..Spec::host::<AuthorizedKey>()
};

const PARAMS: &[Param] = &[
    param("user", &[], "Required. Whose keys."),
    param(
        "key",
        &[],
        "Required. One key, or several, one per line (`type base64 [comment]`, options allowed).",
    ),
    param(
        "path",
        &[],
        "The keys file, default `~user/.ssh/authorized_keys`.",
    ),
    param(
        "manage_dir",
        &[],
        "bool, default yes. Create `~user/.ssh` (0700, owned by the user).",
    ),
    param("state", &[], "`present` (default) or `absent`."),
    param(
        "key_options",
        &[],
        "Options put before the key (`from=\"10.0.0.1\"`).",
    ),
    param(
        "exclusive",
        &[],
        "bool, default no. Remove every other key.",
    ),
    param(
        "comment",
        &[],
        "A comment to put after the key instead of its own.",
    ),
    param(
        "follow",
        &[],
        "bool, default no. Write through a symlinked keys file to its target.",
    ),
];

#[derive(Debug, Deserialize)]
pub struct Args {
    #[serde(deserialize_with = "args::text")]
    user: String,
    #[serde(deserialize_with = "args::text")]
    key: String,
    #[serde(default, deserialize_with = "args::opt_text")]
    path: Option<String>,
    #[serde(default = "args::yes", deserialize_with = "args::boolean")]
    manage_dir: bool,
    #[serde(default, deserialize_with = "args::opt_text")]
    state: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    key_options: Option<String>,
    #[serde(default, deserialize_with = "args::boolean")]
    exclusive: bool,
    #[serde(default, deserialize_with = "args::opt_text")]
    comment: Option<String>,
    #[serde(default, deserialize_with = "args::boolean")]
    follow: bool,
}

/// One line of an authorized_keys file: options, type, base64 key, comment.
#[derive(Debug, Clone, PartialEq)]
struct KeyLine {
    options: Option<String>,
    kind: String,
    key: String,
    comment: Option<String>,
}

impl KeyLine {
    fn parse(line: &str) -> Option<KeyLine> {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        // The type is the first word that names a key type; what comes before is options.
        let words = crate::playbook::split_args(line).ok()?;
        let at = words.iter().position(|w| {
            w.starts_with("ssh-") || w.starts_with("ecdsa-") || w.starts_with("sk-")
        })?;
        let options = (at > 0).then(|| words[..at].join(" "));
        let key = words.get(at + 1)?.clone();
        let comment = (words.len() > at + 2).then(|| words[at + 2..].join(" "));
        Some(KeyLine {
            options,
            kind: words[at].clone(),
            key,
            comment,
        })
    }

    fn render(&self) -> String {
        let mut parts = Vec::new();
        if let Some(o) = &self.options {
            parts.push(o.clone());
        }
        parts.push(self.kind.clone());
        parts.push(self.key.clone());
        if let Some(c) = &self.comment {
            parts.push(c.clone());
        }
        parts.join(" ")
    }
}

pub struct AuthorizedKey;

impl Module for AuthorizedKey {
    type Args = Args;

    fn check(a: &Args) -> Result<(), String> {
        if a.key.starts_with("http://") || a.key.starts_with("https://") {
            return Err("keys from a URL are not supported by olympus yet".into());
        }
        match a.state.as_deref() {
            None | Some("present" | "absent") => Ok(()),
            Some(s) => Err(format!(
                "value of state must be one of: absent, present, got: {s}"
            )),
        }
    }

    fn plan(a: Args, ctx: &ModuleCtx<'_>) -> Result<Plan, String> {
        let mut wanted = Vec::new();
        for line in a.key.lines() {
            if line.trim().is_empty() {
                continue;
            }
            let mut k =
                KeyLine::parse(line).ok_or_else(|| format!("invalid key specified: {line}"))?;
            if a.key_options.is_some() {
                k.options = a.key_options.clone();
            }
            if a.comment.is_some() {
                k.comment = a.comment.clone();
            }
            wanted.push(k);
        }
        // Step one: the user's home and group, `.ssh` made, the current file.
        let script = format!(
            "u={u}\nmanage={m}\ncheck={c}\nfollow={f}\nkeyfile={p}\n{FIND}",
            u = quote(&a.user),
            m = u8::from(a.manage_dir),
            c = u8::from(ctx.check_mode),
            f = u8::from(a.follow),
            p = quote(a.path.as_deref().unwrap_or("")),
        );
        let absent = a.state.as_deref() == Some("absent");
        let (check, diff) = (ctx.check_mode, ctx.diff);
        Ok(Plan::Remote {
            script,
            stdin: None,
            then: Box::new(move |out| {
                let rep = write::report(&out);
                if out.rc != Some(0) || rep.contains_key("error") {
                    return Plan::Done(write::script_failure(&out, &rep));
                }
                let keyfile = rep.get("keyfile").cloned().unwrap_or_default();
                let old = rep
                    .get("content_b64")
                    .and_then(|b| data_encoding::BASE64.decode(b.trim().as_bytes()).ok());
                let text = String::from_utf8_lossy(old.as_deref().unwrap_or_default()).into_owned();
                let new = edit(&text, &wanted, absent, a.exclusive);
                let mut result = ModuleResult::ok();
                for (k, v) in [
                    ("key", Value::from(a.key.as_str())),
                    ("keyfile", Value::from(keyfile.as_str())),
                    ("user", Value::from(a.user.as_str())),
                    (
                        "state",
                        Value::from(if absent { "absent" } else { "present" }),
                    ),
                    ("exclusive", Value::Bool(a.exclusive)),
                    ("manage_dir", Value::Bool(a.manage_dir)),
                    ("follow", Value::Bool(a.follow)),
                    ("validate_certs", Value::Bool(true)),
                    ("path", a.path.clone().map_or(Value::Null, Value::from)),
                    (
                        "key_options",
                        a.key_options.clone().map_or(Value::Null, Value::from),
                    ),
                    (
                        "comment",
                        a.comment.clone().map_or(Value::Null, Value::from),
                    ),
                ] {
                    result.data.insert(k.into(), v);
                }
                if new == text {
                    return Plan::Done(result);
                }
                let w = Write {
                    dest: keyfile,
                    content: Content::new(new.into_bytes()),
                    attrs: Attrs {
                        mode: Some("600".into()),
                        owner: Some(a.user.clone()),
                        group: rep.get("group").cloned(),
                    },
                    check,
                    diff,
                    ..Write::default()
                };
                write_if_changed(w, old, "").map(move |w| {
                    if w.failed {
                        return w;
                    }
                    ModuleResult {
                        changed: w.changed,
                        ..result
                    }
                })
            }),
        })
    }
}

/// The keys file with the wanted keys present (options and comment as given) or absent,
/// and with `exclusive`, nothing else.
fn edit(text: &str, wanted: &[KeyLine], absent: bool, exclusive: bool) -> String {
    let same = |a: &KeyLine, b: &KeyLine| a.kind == b.kind && a.key == b.key;
    let mut out: Vec<String> = Vec::new();
    let mut placed = vec![false; wanted.len()];
    for line in text.lines() {
        match KeyLine::parse(line) {
            Some(k) => match wanted.iter().position(|w| same(w, &k)) {
                Some(i) if !absent => {
                    if !placed[i] {
                        out.push(wanted[i].render());
                        placed[i] = true;
                    }
                }
                Some(_) => {}
                None if exclusive => {}
                None => out.push(line.to_string()),
            },
            None if exclusive && !line.trim().is_empty() && !line.starts_with('#') => {}
            None => out.push(line.to_string()),
        }
    }
    if !absent {
        for (i, w) in wanted.iter().enumerate() {
            if !placed[i] {
                out.push(w.render());
            }
        }
    }
    let mut s = out.join("\n");
    if !s.is_empty() {
        s.push('\n');
    }
    s
}

/// Finds the user's home and primary group, creates `~/.ssh` when asked (not in check
/// mode), and prints the keys file's path and content.
const FIND: &str = r#"pw=$(getent passwd "$u") || { echo "error=Failed to lookup user $u"; exit 3; }
home=$(printf '%s' "$pw" | cut -d: -f6)
gid=$(printf '%s' "$pw" | cut -d: -f4)
echo "group=$(getent group "$gid" | cut -d: -f1)"
[ -n "$keyfile" ] || keyfile="$home/.ssh/authorized_keys"
if [ "$follow" = 1 ] && [ -L "$keyfile" ]; then keyfile=$(readlink -f -- "$keyfile"); fi
d=$(dirname -- "$keyfile")
if [ "$manage" = 1 ] && [ ! -d "$d" ] && [ "$check" = 0 ]; then
  mkdir -p -- "$d" && chmod 700 "$d" && chown "$u:$(getent group "$gid" | cut -d: -f1)" "$d" || { echo "error=could not create $d"; exit 3; }
fi
echo "keyfile=$keyfile"
if [ -f "$keyfile" ]; then printf 'content_b64='; base64 -w0 < "$keyfile"; echo; fi
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_added_replaced_and_removed_by_type_and_key() {
        let k1 = KeyLine::parse("ssh-ed25519 AAA one").unwrap();
        let mut k2 = KeyLine::parse("ssh-ed25519 BBB two").unwrap();
        assert_eq!(
            edit("", std::slice::from_ref(&k1), false, false),
            "ssh-ed25519 AAA one\n"
        );
        let text = "ssh-ed25519 AAA one\n";
        assert_eq!(edit(text, std::slice::from_ref(&k1), false, false), text);
        k2.options = Some("from=\"10.0.0.1\"".into());
        assert_eq!(
            edit(text, std::slice::from_ref(&k2), false, false),
            "ssh-ed25519 AAA one\nfrom=\"10.0.0.1\" ssh-ed25519 BBB two\n"
        );
        assert_eq!(
            edit(text, std::slice::from_ref(&k2), false, true),
            "from=\"10.0.0.1\" ssh-ed25519 BBB two\n"
        );
        assert_eq!(edit(text, &[k1], true, false), "");
        let parsed = KeyLine::parse("from=\"a b\",no-pty ssh-rsa CCC c d").unwrap();
        assert_eq!(parsed.options.as_deref(), Some("from=\"a b\",no-pty"));
        assert_eq!(parsed.comment.as_deref(), Some("c d"));
    }
}
