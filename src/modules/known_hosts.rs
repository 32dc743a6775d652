//! `known_hosts`: a host's public key in (or out of) a known_hosts file on the host, looked
//! up with the host's `ssh-keygen -F` (hashed names included) and decided as ansible-core
//! decides: the same key is left alone, another key of the same type is replaced, a new
//! one added; without `key`, `state: absent` removes every key of the host. The file is
//! rewritten through a temporary file and a rename.

use serde::Deserialize;
use serde_json::Value;

use super::args::{self, Param, param};
use super::registry::Spec;
use super::write::report;
use super::{Module, ModuleCtx, ModuleResult, Plan};
use crate::connection::quote;

pub static SPEC: Spec = Spec {
    name: "known_hosts",
    summary: "Add or remove a host's public key in a known_hosts file.",
    params: PARAMS,
    ..Spec::host::<KnownHosts>()
};

const PARAMS: &[Param] = &[
    param(
        "name",
        &["host"],
        "Required. The host name (or `[host]:port`).",
    ),
    param(
        "key",
        &[],
        "The known_hosts line (`host keytype base64key`); needed with state=present.",
    ),
    param(
        "path",
        &[],
        "The file, default `~/.ssh/known_hosts` of the login (or become) user.",
    ),
    param(
        "hash_host",
        &[],
        "bool, default no. Write the host name hashed, as `ssh-keygen -H` does.",
    ),
    param("state", &[], "`present` (default) or `absent`."),
];

#[derive(Debug, Deserialize)]
pub struct Args {
    #[serde(alias = "host", deserialize_with = "args::text")]
    name: String,
    #[serde(default, deserialize_with = "args::opt_text")]
    key: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    path: Option<String>,
    #[serde(default, deserialize_with = "args::boolean")]
    hash_host: bool,
    #[serde(default, deserialize_with = "args::opt_text")]
    state: Option<String>,
}

pub struct KnownHosts;

impl Module for KnownHosts {
    type Args = Args;

    fn check(a: &Args) -> Result<(), String> {
        let state = a.state.as_deref().unwrap_or("present");
        if !matches!(state, "present" | "absent") {
            return Err(format!("state must be present or absent, got '{state}'"));
        }
        if state == "present" && a.key.as_deref().is_none_or(str::is_empty) {
            return Err("No key specified when adding a host".into());
        }
        if let Ok(re) = regex::Regex::new(r"\S+(\s+)?,(\s+)?")
            && re.is_match(&a.name)
        {
            return Err("Comma separated list of names is not supported. Please pass a single name to lookup in the known_hosts file.".into());
        }
        Ok(())
    }

    fn plan(a: Args, ctx: &ModuleCtx<'_>) -> Result<Plan, String> {
        let host = a.name.to_lowercase();
        let mut key = a.key.clone().unwrap_or_default();
        if !key.is_empty() && a.hash_host {
            key = hash_host_key(&host, &key)?;
        }
        if !key.is_empty() && !key.ends_with('\n') {
            key.push('\n');
        }
        let path = a
            .path
            .clone()
            .unwrap_or_else(|| "~/.ssh/known_hosts".into());
        // `~` is the home of the user the module runs as, as ansible-core expands it.
        let path_sh = match path.strip_prefix('~') {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => {
                format!("\"$HOME\"{}", quote(rest))
            }
            _ => quote(&path),
        };
        let script = format!(
            "{funcs}command -v ssh-keygen >/dev/null 2>&1 || {{ echo 'error=ssh-keygen is not installed on the host'; exit 0; }}\nhost={host}\np={path_sh}\necho \"path=$p\"\nkey={key}\nw=$(mktemp -d) || exit 1\ntrap 'rm -rf -- \"$w\"' EXIT\n{SCRIPT}",
            funcs = super::write::FUNCS,
            host = quote(&host),
            key = quote(&key),
        );
        let check = ctx.check_mode;
        let state_absent = a.state.as_deref() == Some("absent");
        Ok(Plan::Remote {
            script,
            stdin: None,
            then: Box::new(move |out| decide(a, key, host, state_absent, check, out)),
        })
    }
}

/// Looks the host up in the key given and in the file. Reports `path` (expanded),
/// `sane` (the key names the host), `exists`, `file` (base64), `rc`, `found` (base64 of
/// `ssh-keygen -F`), `err`.
const SCRIPT: &str = r#"if [ -n "$key" ]; then
  printf '%s' "$key" > "$w/k"
  if [ -n "$(ssh-keygen -F "$host" -f "$w/k" 2>/dev/null)" ]; then echo sane=1; else echo sane=0; fi
fi
if [ -e "$p" ]; then
  echo exists=1
  echo "file=$(base64 -w0 < "$p")"
  ssh-keygen -F "$host" -f "$p" > "$w/o" 2> "$w/e"; echo "rc=$?"
  echo "found=$(base64 -w0 < "$w/o")"; echo "err=$(base64 -w0 < "$w/e")"
fi
path_info "$p"
"#;

/// ansible-core's `hash_host_key`: `|1|salt|hmac-sha1(salt, host)` in place of the name.
fn hash_host_key(host: &str, key: &str) -> Result<String, String> {
    use ring::rand::SecureRandom;
    let mut salt = [0u8; 20];
    ring::rand::SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| "no random numbers".to_string())?;
    let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &salt);
    let tag = ring::hmac::sign(&k, host.as_bytes());
    let b64 = data_encoding::BASE64;
    let mut parts: Vec<String> = key.split_whitespace().map(str::to_string).collect();
    let i = usize::from(parts.first().is_some_and(|p| p.starts_with('@')));
    if let Some(p) = parts.get_mut(i) {
        *p = format!("|1|{}|{}", b64.encode(&salt), b64.encode(tag.as_ref()));
    }
    Ok(parts.join(" "))
}

/// A known_hosts line's fields, as ansible-core compares them (marker, host, type, key;
/// anything after the key left out).
fn normalize(line: &str) -> Vec<String> {
    let k: Vec<&str> = line.split_whitespace().collect();
    let fields = if k.first().is_some_and(|f| f.starts_with('@')) {
        k.iter().take(4)
    } else {
        k.iter().take(3)
    };
    fields.map(|s| s.to_string()).collect()
}

fn decide(
    a: Args,
    key: String,
    host: String,
    absent: bool,
    check: bool,
    out: crate::connection::ExecOutput,
) -> Plan {
    let rep = report(&out);
    if let Some(e) = rep.get("error") {
        return Plan::Done(ModuleResult::failed(e.clone()));
    }
    if out.rc != Some(0) {
        return Plan::Done(super::write::script_failure(&out, &rep));
    }
    if rep.get("sane").map(String::as_str) == Some("0") {
        return Plan::Done(ModuleResult::failed(
            "Host parameter does not match hashed host field in supplied key",
        ));
    }
    let b64 = |k: &str| super::write::report_text(&rep, k);
    let path = rep.get("path").cloned().unwrap_or_default();
    let exists = rep.contains_key("exists");
    let file = b64("file");
    // ansible-core's search_for_host_key.
    let (found, replace, found_line) = if !exists {
        (false, false, None)
    } else {
        let stdout = b64("found");
        let stderr = b64("err");
        let rc: i64 = rep.get("rc").and_then(|r| r.parse().ok()).unwrap_or(-1);
        if stdout.is_empty() && stderr.is_empty() && (rc == 0 || rc == 1) {
            (false, false, None)
        } else if rc != 0 {
            return Plan::Done(ModuleResult::failed(format!(
                "ssh-keygen failed (rc={rc}, stdout='{stdout}',stderr='{stderr}')"
            )));
        } else if key.is_empty() {
            (true, false, None)
        } else {
            let mut new_key = normalize(&key);
            let host_at = usize::from(new_key.first().is_some_and(|f| f.starts_with('@')));
            let mut line_no: Option<usize> = None;
            let mut result = (true, true, None);
            for l in stdout.split('\n') {
                if l.is_empty() {
                    continue;
                }
                if l.starts_with('#') {
                    line_no = l
                        .split("found: line ")
                        .nth(1)
                        .and_then(|n| n.split_whitespace().next())
                        .and_then(|n| n.parse().ok());
                    continue;
                }
                let found_key = normalize(l);
                let fh = usize::from(found_key.first().is_some_and(|f| f.starts_with('@')));
                if new_key.get(host_at).is_some_and(|h| h.starts_with("|1|"))
                    && found_key.get(fh).is_some_and(|h| h.starts_with("|1|"))
                {
                    new_key[host_at] = found_key[fh].clone();
                }
                if new_key == found_key {
                    result = (true, false, line_no);
                    break;
                }
                if new_key.get(host_at + 1) == found_key.get(fh + 1) {
                    result = (true, true, line_no);
                    break;
                }
            }
            result
        }
    };
    let mut r = ModuleResult::ok();
    // The module's parameters, then (as ansible-core's exit adds them for `path`) the
    // file's owner, mode, size and state.
    let params = |r: &mut ModuleResult| {
        r.data.insert("name".into(), Value::from(a.name.as_str()));
        r.data.insert(
            "key".into(),
            a.key.as_deref().map_or(Value::Null, Value::from),
        );
        r.data.insert("path".into(), Value::from(path.as_str()));
        r.data.insert("hash_host".into(), Value::Bool(a.hash_host));
        r.data.insert(
            "state".into(),
            Value::from(if absent { "absent" } else { "present" }),
        );
    };
    if absent && found_line.is_none() && !key.is_empty() {
        params(&mut r);
        super::write::add_path_info(&mut r, &rep);
        return Plan::Done(r);
    }
    if check {
        // A change when the key must be replaced, or presence is not as wanted.
        r.changed = replace || absent == found;
        return Plan::Done(r);
    }
    params(&mut r);
    let rewrite = replace || found == absent;
    if found && key.is_empty() && absent {
        // Every key of the host goes, with ssh-keygen -R.
        r.changed = true;
        let script = format!(
            "{}ssh-keygen -R {} -f {} > /dev/null 2>&1 || exit 1\nrm -f -- {}.old\npath_info {}\n",
            super::write::FUNCS,
            quote(&host),
            quote(&path),
            quote(&path),
            quote(&path)
        );
        return Plan::remote(script, None, move |out| {
            if out.rc != Some(0) {
                return ModuleResult::failed(format!(
                    "ssh-keygen -R failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
            super::write::add_path_info(&mut r, &report(&out));
            r
        });
    }
    if !rewrite {
        super::write::add_path_info(&mut r, &rep);
        return Plan::Done(r);
    }
    r.changed = true;
    let mut content = String::new();
    for (i, line) in file.split_inclusive('\n').enumerate() {
        if found_line == Some(i + 1) && (replace || absent) {
            continue;
        }
        content.push_str(line);
    }
    if !absent {
        content.push_str(&key);
    }
    let script = format!(
        "{}p={}\nd=$(dirname -- \"$p\")\nt=$(mktemp \"$d/.olympus.XXXXXXXX\") || exit 1\ntrap 'rm -f -- \"$t\"' EXIT\ncat > \"$t\" || exit 1\nif [ -f \"$p\" ]; then chmod --reference=\"$p\" \"$t\"; else chmod \"$(printf %o $((0666 & ~$(umask))))\" \"$t\"; fi\nmv -f -- \"$t\" \"$p\" || exit 1\ntrap - EXIT\npath_info \"$p\"\n",
        super::write::FUNCS,
        quote(&path)
    );
    Plan::remote(script, Some(content.into_bytes().into()), move |out| {
        if out.rc != Some(0) {
            return ModuleResult::failed(format!(
                "Failed to write to file {}: {}",
                r.data["path"].as_str().unwrap_or_default(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        super::write::add_path_info(&mut r, &report(&out));
        r
    })
}
