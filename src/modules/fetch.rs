//! `fetch`: a file copied from the host to the controller, under `dest/<host>/<path>` (or
//! `dest` itself with `flat: yes`), checked against the host's checksum.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use super::args::{self, Param, param};
use super::registry::Spec;
use super::write;
use super::{Module, ModuleCtx, ModuleResult, Plan};
use crate::connection::quote;

pub static SPEC: Spec = Spec {
    name: "fetch",
    summary: "Copy a file from the host to the controller.",
    params: PARAMS,
    supports_async: false,
    ..Spec::host::<Fetch>()
};

const PARAMS: &[Param] = &[
    param("src", &[], "Required. The file on the host."),
    param(
        "dest",
        &[],
        "Required. Controller directory; the file goes to `dest/<inventory_hostname>/<src>`.",
    ),
    param(
        "flat",
        &[],
        "bool, default no. `dest` is the file itself (or a directory ending in `/` receiving the file's name).",
    ),
    param(
        "fail_on_missing",
        &[],
        "bool, default yes. Fail when `src` does not exist.",
    ),
    param(
        "validate_checksum",
        &[],
        "bool, default yes. Fail when the received file's SHA-1 differs from the host's.",
    ),
];

#[derive(Debug, Deserialize)]
pub struct Args {
    #[serde(deserialize_with = "args::text")]
    src: String,
    #[serde(deserialize_with = "args::text")]
    dest: String,
    #[serde(default, deserialize_with = "args::boolean")]
    flat: bool,
    #[serde(default = "args::yes", deserialize_with = "args::boolean")]
    fail_on_missing: bool,
    #[serde(default = "args::yes", deserialize_with = "args::boolean")]
    validate_checksum: bool,
}

/// `fetch`: copies a file from the host to the controller, under `dest/<host>/<path>`
/// (or `dest` itself with `flat: yes`).
pub struct Fetch;

impl Module for Fetch {
    type Args = Args;

    fn plan(a: Args, ctx: &ModuleCtx<'_>) -> Result<Plan, String> {
        plan(a, ctx)
    }
}

fn plan(a: Args, ctx: &ModuleCtx<'_>) -> Result<Plan, String> {
    let src = a.src;
    let dest = a.dest.as_str();
    let (flat, fail_on_missing, validate) = (a.flat, a.fail_on_missing, a.validate_checksum);
    let host = ctx
        .vars
        .get("inventory_hostname")
        .and_then(Value::as_str)
        .unwrap_or("localhost");
    let local = if flat {
        if dest.ends_with('/') {
            Path::new(dest).join(Path::new(&src).file_name().unwrap_or_default())
        } else {
            PathBuf::from(dest)
        }
    } else {
        Path::new(dest).join(host).join(src.trim_start_matches('/'))
    };
    let check = ctx.check_mode;
    let script = format!(
        "p={}\nif [ ! -e \"$p\" ]; then echo missing; exit 0; fi\nif [ -d \"$p\" ]; then echo isdir; exit 0; fi\ns=$(sha1sum < \"$p\") || exit 1; echo \"exists ${{s%% *}}\"; base64 -w0 < \"$p\"; echo\n",
        quote(&src)
    );
    Ok(Plan::remote(script, None, move |out| {
        if out.rc != Some(0) {
            return ModuleResult::failed(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut lines = text.lines();
        let first = lines.next().unwrap_or("");
        let (status, remote_sum) = first.split_once(' ').unwrap_or((first, ""));
        match Some(status) {
            Some("exists") => {}
            // ansible-core's messages and keys, word for word.
            Some("isdir") => {
                let msg = "remote file is a directory, fetch cannot work on directories";
                if fail_on_missing {
                    return ModuleResult::failed(msg);
                }
                let mut r = ModuleResult::ok();
                r.msg = Some(format!("{msg}, not transferring, ignored"));
                return r;
            }
            _ => {
                let msg = "the remote file does not exist, not transferring, ignored";
                let mut r = if fail_on_missing {
                    ModuleResult::failed(msg)
                } else {
                    ModuleResult::ok()
                };
                r.msg = Some(msg.into());
                if !fail_on_missing {
                    r.data.insert("file".into(), Value::from(src));
                }
                return r;
            }
        }
        let data = match data_encoding::BASE64.decode(lines.next().unwrap_or("").trim().as_bytes())
        {
            Ok(d) => d,
            Err(e) => return ModuleResult::failed(format!("could not decode {src}: {e}")),
        };
        let sum = super::controller_files::sha1_hex(&data);
        let dest = Value::from(local.to_string_lossy().into_owned());
        let mut r = ModuleResult::ok();
        r.data
            .insert("md5sum".into(), Value::from(write::md5_hex(&data)));
        r.data.insert("dest".into(), dest);
        r.data.insert("checksum".into(), Value::from(sum.as_str()));
        if validate && sum != remote_sum {
            r.failed = true;
            r.msg = Some("checksum mismatch".into());
            r.data.insert("file".into(), Value::from(src));
            r.data.insert("remote_md5sum".into(), Value::Null);
            r.data
                .insert("remote_checksum".into(), Value::from(remote_sum));
            return r;
        }
        if std::fs::read(&local).ok().as_deref() == Some(&data[..]) {
            r.data.insert("file".into(), Value::from(src));
            return r;
        }
        r.changed = true;
        r.data.insert("remote_md5sum".into(), Value::Null);
        r.data
            .insert("remote_checksum".into(), Value::from(remote_sum));
        if check {
            return r;
        }
        let write = || -> std::io::Result<()> {
            if let Some(parent) = local.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let tmp = local.with_extension(format!("olympus-{}.tmp", std::process::id()));
            std::fs::write(&tmp, &data)?;
            std::fs::rename(&tmp, &local)
        };
        if let Err(e) = write() {
            return ModuleResult::failed(format!("could not write {}: {e}", local.display()));
        }
        r
    }))
}
