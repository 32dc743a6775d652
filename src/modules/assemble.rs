//! `assemble`: a file made of the fragments of a directory, in name order (on the host by
//! default, or on the controller with `remote_src: no`), joined as ansible-core joins them,
//! then written like `copy` (compared by checksum, temporary file and rename, backup,
//! validate, attributes). Fragments on the host are read in one round trip; the write is
//! the second.

use serde_json::Value;

use super::args::{self, Param, param};
use super::registry::{Source, Spec};
use super::write::{self, Write, report, write_step};
use super::{Content, Module, ModuleCtx, ModuleResult, Plan};
use crate::connection::quote;

pub static SPEC: Spec = Spec {
    name: "assemble",
    summary: "Join the fragments of a directory (on the host, or the controller) into one file.",
    params: PARAMS,
    source: Some(Source {
        dir: "files",
        is_template: false,
    }),
    supports_async: false,
    ..Spec::host::<Assemble>()
};

const PARAMS: &[Param] = write::file_params![
    param(
        "src",
        &[],
        "Required. The directory of fragments (on the host, unless `remote_src: no`).",
    ),
    param("dest", &[], "Required. The file to write."),
    param(
        "remote_src",
        &[],
        "bool, default yes. With no, the fragments are on the controller (the role's or the playbook's `files/`).",
    ),
    param(
        "delimiter",
        &[],
        "Text put between fragments (escapes such as `\\n` are read), followed by a newline.",
    ),
    param(
        "regexp",
        &[],
        "Only fragments whose names match this regular expression (searched anywhere in the name).",
    ),
    param(
        "ignore_hidden",
        &[],
        "bool, default no. Leave out fragments whose names start with a dot.",
    ),
];

write::file_args! {
pub struct Args {
    #[serde(deserialize_with = "args::text")]
    src: String,
    #[serde(deserialize_with = "args::text")]
    dest: String,
    #[serde(default = "args::yes", deserialize_with = "args::boolean")]
    remote_src: bool,
    #[serde(default, deserialize_with = "args::opt_text")]
    delimiter: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    regexp: Option<String>,
    #[serde(default, deserialize_with = "args::boolean")]
    ignore_hidden: bool,
}
}

pub struct Assemble;

impl Module for Assemble {
    type Args = Args;

    fn check(a: &Args) -> Result<(), String> {
        if let Some(r) = &a.regexp {
            regex::Regex::new(r).map_err(|e| format!("regexp '{r}': {e}"))?;
        }
        Ok(())
    }

    fn plan(a: Args, ctx: &ModuleCtx<'_>) -> Result<Plan, String> {
        let re = a
            .regexp
            .as_deref()
            .map(regex::Regex::new)
            .transpose()
            .map_err(|e| e.to_string())?;
        let keep = move |name: &str, hidden_ok: bool| -> bool {
            re.as_ref().is_none_or(|r| r.is_match(name)) && (hidden_ok || !name.starts_with('.'))
        };
        let hidden_ok = !a.ignore_hidden;
        let delimiter = a.delimiter.as_deref().map(unescape);
        let check = ctx.check_mode;
        let diff = ctx.diff;
        if !a.remote_src {
            let dir = write::local_file(ctx, &a.src, "files")?;
            if !dir.is_dir() {
                return Err(format!("Source ({}) is not a directory", dir.display()));
            }
            let mut names: Vec<String> = std::fs::read_dir(&dir)
                .map_err(|e| format!("{}: {e}", dir.display()))?
                .filter_map(Result::ok)
                .filter(|e| e.path().is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            let mut fragments = Vec::new();
            for n in names.into_iter().filter(|n| keep(n, hidden_ok)) {
                let c = ctx
                    .files
                    .get(&dir.join(&n))
                    .map_err(|e| format!("{n}: {e}"))?;
                fragments.push(c.bytes.to_vec());
            }
            let content = join(&fragments, delimiter.as_deref());
            return Ok(write_out(&a, content, check, diff));
        }
        // The host's fragments: names (sorted as bytes) and contents, base64.
        let script = format!(
            "src={}\nif [ ! -d \"$src\" ]; then echo \"error=Source ($src) is not a directory\"; exit 0; fi\nfor f in \"$src\"/* \"$src\"/.[!.]* \"$src\"/..?*; do [ -f \"$f\" ] || continue; printf 'frag=%s %s\\n' \"$(basename -- \"$f\" | base64 -w0)\" \"$(base64 -w0 < \"$f\")\"; done\n",
            quote(&a.src)
        );
        Ok(Plan::Remote {
            script,
            stdin: None,
            then: Box::new(move |out| {
                let text = String::from_utf8_lossy(&out.stdout).into_owned();
                if let Some(e) = report(&out).get("error") {
                    return Plan::Done(ModuleResult::failed(e.clone()));
                }
                if out.rc != Some(0) {
                    return Plan::Done(ModuleResult::failed(
                        String::from_utf8_lossy(&out.stderr).trim().to_string(),
                    ));
                }
                let b64 = |s: &str| {
                    data_encoding::BASE64
                        .decode(s.as_bytes())
                        .unwrap_or_default()
                };
                let mut frags: Vec<(Vec<u8>, Vec<u8>)> = text
                    .lines()
                    .filter_map(|l| l.strip_prefix("frag="))
                    .filter_map(|l| l.split_once(' '))
                    .map(|(n, c)| (b64(n), b64(c)))
                    .collect();
                frags.sort_by(|x, y| x.0.cmp(&y.0));
                let fragments: Vec<Vec<u8>> = frags
                    .into_iter()
                    .filter(|(n, _)| keep(&String::from_utf8_lossy(n), hidden_ok))
                    .map(|(_, c)| c)
                    .collect();
                let content = join(&fragments, delimiter.as_deref());
                write_out(&a, content, check, diff)
            }),
        })
    }
}

/// ansible-core's joining: a newline between fragments when the previous one did not end
/// with one; the delimiter (when given) between fragments, always followed by a newline.
fn join(fragments: &[Vec<u8>], delimiter: Option<&[u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut add_newline = false;
    for (i, f) in fragments.iter().enumerate() {
        if add_newline {
            out.push(b'\n');
        }
        if i > 0
            && let Some(d) = delimiter.filter(|d| !d.is_empty())
        {
            out.extend_from_slice(d);
            out.push(b'\n');
        }
        out.extend_from_slice(f);
        add_newline = !f.ends_with(b"\n");
    }
    out
}

/// Python's `codecs.escape_decode` for the escapes a delimiter uses.
fn unescape(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        match chars.next() {
            Some('n') => out.push(b'\n'),
            Some('t') => out.push(b'\t'),
            Some('r') => out.push(b'\r'),
            Some('0') => out.push(0),
            Some('\\') => out.push(b'\\'),
            Some('\'') => out.push(b'\''),
            Some('"') => out.push(b'"'),
            Some('x') => {
                let hex: String = chars.by_ref().take(2).collect();
                match u8::from_str_radix(&hex, 16) {
                    Ok(b) => out.push(b),
                    Err(_) => out.extend_from_slice(format!("\\x{hex}").as_bytes()),
                }
            }
            Some(other) => {
                out.push(b'\\');
                let mut buf = [0u8; 4];
                out.extend_from_slice(other.encode_utf8(&mut buf).as_bytes());
            }
            None => out.push(b'\\'),
        }
    }
    out
}

fn write_out(a: &Args, content: Vec<u8>, check: bool, diff: bool) -> Plan {
    let w = Write {
        dest: a.dest.clone(),
        basename_if_dir: None,
        content: Content::new(content),
        attrs: a.attrs(),
        check,
        diff,
        backup: a.backup,
        validate: a.validate.clone(),
        keep_existing: false,
        make_dirs: false,
        known_sha1: None,
    };
    let src = a.src.clone();
    let md5 = write::md5_hex(&w.content.bytes);
    write_step(w, move |mut r| {
        if !r.failed {
            // ansible-core reports the file's md5sum and "OK" whether or not it changed.
            r.data.insert("src".into(), Value::from(src));
            r.data.entry("md5sum").or_insert(Value::from(md5));
            r.msg.get_or_insert_with(|| "OK".into());
        }
        Plan::Done(r)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments_join_as_ansible_core_joins_them() {
        let f = |s: &str| s.as_bytes().to_vec();
        assert_eq!(join(&[f("a\n"), f("b")], None), b"a\nb");
        assert_eq!(join(&[f("a"), f("b\n")], None), b"a\nb\n");
        assert_eq!(join(&[f("a\n"), f("b\n")], Some(b"#--")), b"a\n#--\nb\n");
        assert_eq!(join(&[f("a")], Some(b"#--")), b"a");
        assert_eq!(unescape("x\\ny\\t\\x41"), b"x\ny\tA");
    }
}
