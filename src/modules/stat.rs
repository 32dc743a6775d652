//! `stat`: what a path on the host is, with the fields Ansible's `stat` returns.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::args::{self, Param, param};
use super::registry::Spec;
use super::write::{report, script_failure};
use super::{Module, ModuleCtx, ModuleResult, Plan};
use crate::connection::quote;

pub static SPEC: Spec = Spec {
    name: "stat",
    summary: "Report what a path on the host is: type, mode, owner, size, times, checksum.",
    params: PARAMS,
    ..Spec::host::<Stat>()
};

const PARAMS: &[Param] = &[
    param("path", &["dest", "name"], "Required. The path on the host."),
    param(
        "follow",
        &[],
        "bool, default no. Report on a symlink's target instead of the link.",
    ),
    param(
        "get_checksum",
        &[],
        "bool, default yes. Return `checksum` of a regular file.",
    ),
    param(
        "checksum_algorithm",
        &["checksum", "checksum_algo"],
        "`sha1` (default), `md5`, `sha224`, `sha256`, `sha384` or `sha512`.",
    ),
    param(
        "get_mime",
        &["mime", "mime_type", "mime-type"],
        "bool, default yes. Return `mimetype` and `charset` (when the host has the `file` command).",
    ),
    param(
        "get_attributes",
        &["attr", "attributes"],
        "bool, default yes. Return `attributes` and `attr_flags` (when the host has `lsattr`).",
    ),
];

const ALGORITHMS: [&str; 6] = ["sha1", "md5", "sha224", "sha256", "sha384", "sha512"];

#[derive(Debug, Deserialize)]
pub struct Args {
    #[serde(alias = "dest", alias = "name", deserialize_with = "args::text")]
    path: String,
    #[serde(default, deserialize_with = "args::boolean")]
    follow: bool,
    #[serde(default = "args::yes", deserialize_with = "args::boolean")]
    get_checksum: bool,
    #[serde(
        default,
        alias = "checksum",
        alias = "checksum_algo",
        deserialize_with = "args::opt_text"
    )]
    checksum_algorithm: Option<String>,
    #[serde(
        default = "args::yes",
        alias = "mime",
        alias = "mime_type",
        alias = "mime-type",
        deserialize_with = "args::boolean"
    )]
    get_mime: bool,
    #[serde(
        default = "args::yes",
        alias = "attr",
        alias = "attributes",
        deserialize_with = "args::boolean"
    )]
    get_attributes: bool,
}

/// One round trip: `stat` for the numbers, `test` for what the connecting user may do,
/// and `file`/`lsattr` when the host has them.
const SCRIPT: &str = r#"if [ "$fl" = 1 ]; then L=-L; else L=; fi
if [ -e "$p" ] || [ -L "$p" ]; then
  echo exists=1
  stat $L --printf 'hex=%f\nuid=%u\ngid=%g\nowner=%U\ngroup=%G\nsize=%s\natime=%.9X\nmtime=%.9Y\nctime=%.9Z\ninode=%i\ndev=%d\nnlink=%h\nblocks=%b\nblock_size=%o\ndevice_type=%r\n' -- "$p" || exit 1
  if [ -L "$p" ]; then echo "lnk_source=$(readlink -f -- "$p")"; echo "lnk_target=$(readlink -- "$p")"; fi
  [ -r "$p" ] && echo readable=1; [ -w "$p" ] && echo writeable=1; [ -x "$p" ] && echo executable=1
  reg=0; if [ -f "$p" ] && { [ "$fl" = 1 ] || [ ! -L "$p" ]; }; then reg=1; fi
  if [ "$reg" = 1 ] && [ "$ck" != 0 ] && [ -r "$p" ]; then s=$("${ck}sum" < "$p") && echo "checksum=${s%% *}"; fi
  if [ "$mi" = 1 ] && command -v file >/dev/null 2>&1; then
    f=; [ "$fl" = 1 ] && f=-L
    m=$(file -b $f --mime-type --mime-encoding -- "$p" 2>/dev/null)
    case "$m" in *'; charset='*) echo "mimetype=${m%%; charset=*}"; echo "charset=${m##*; charset=}" ;; *) echo "mimetype=$m"; echo "charset=$m" ;; esac
  fi
  if [ "$at" = 1 ] && command -v lsattr >/dev/null 2>&1; then
    if a=$(lsattr -vd -- "$p" 2>/dev/null); then set -- $a; echo "version=$1"; echo "attr_flags=$2"; else echo "attr_flags="; fi
  fi
else
  echo exists=0
fi
"#;

pub struct Stat;

impl Module for Stat {
    type Args = Args;

    fn check(a: &Args) -> Result<(), String> {
        match a.checksum_algorithm.as_deref() {
            Some(alg) if !ALGORITHMS.contains(&alg) => Err(format!(
                "checksum_algorithm '{alg}' is not one of {}",
                ALGORITHMS.join(", ")
            )),
            _ => Ok(()),
        }
    }

    fn plan(a: Args, _ctx: &ModuleCtx<'_>) -> Result<Plan, String> {
        let ck = if a.get_checksum {
            a.checksum_algorithm.as_deref().unwrap_or("sha1")
        } else {
            "0"
        };
        let script = format!(
            "p={}\nfl={}\nck={ck}\nmi={}\nat={}\n{SCRIPT}",
            quote(&a.path),
            u8::from(a.follow),
            u8::from(a.get_mime),
            u8::from(a.get_attributes),
        );
        let path = a.path;
        Ok(Plan::remote(script, None, move |out| {
            let rep = report(&out);
            if out.rc != Some(0) {
                return script_failure(&out, &rep);
            }
            let mut r = ModuleResult::ok();
            r.data
                .insert("stat".into(), Value::Object(fields(&path, &rep)));
            r
        }))
    }
}

/// The permission flags Ansible's `stat` (and `find`) report, with their mode bits.
pub(super) const PERMISSION_BITS: [(&str, u32); 11] = [
    ("wusr", 0o200),
    ("rusr", 0o400),
    ("xusr", 0o100),
    ("wgrp", 0o020),
    ("rgrp", 0o040),
    ("xgrp", 0o010),
    ("woth", 0o002),
    ("roth", 0o004),
    ("xoth", 0o001),
    ("isuid", 0o4000),
    ("isgid", 0o2000),
];

/// The `stat` dictionary from the script's report.
fn fields(path: &str, rep: &std::collections::HashMap<String, String>) -> Map<String, Value> {
    let mut st = Map::new();
    let exists = rep.get("exists").map(String::as_str) == Some("1");
    st.insert("exists".into(), Value::Bool(exists));
    if !exists {
        return st;
    }
    let int = |k: &str| {
        rep.get(k)
            .and_then(|v| v.parse::<u64>().ok())
            .map(Value::from)
            .unwrap_or(Value::Null)
    };
    let float = |k: &str| {
        rep.get(k)
            .and_then(|v| v.parse::<f64>().ok())
            .map(Value::from)
            .unwrap_or(Value::Null)
    };
    let flag = |k: &str| Value::Bool(rep.get(k).map(String::as_str) == Some("1"));
    let raw = rep
        .get("hex")
        .and_then(|h| u32::from_str_radix(h, 16).ok())
        .unwrap_or(0);
    let ty = raw & 0o170000;
    let bit = |b: u32| Value::Bool(raw & b != 0);
    st.insert("path".into(), Value::from(path));
    st.insert("mode".into(), Value::from(format!("{:04o}", raw & 0o7777)));
    st.insert("isdir".into(), Value::Bool(ty == 0o040000));
    st.insert("ischr".into(), Value::Bool(ty == 0o020000));
    st.insert("isblk".into(), Value::Bool(ty == 0o060000));
    st.insert("isreg".into(), Value::Bool(ty == 0o100000));
    st.insert("isfifo".into(), Value::Bool(ty == 0o010000));
    st.insert("islnk".into(), Value::Bool(ty == 0o120000));
    st.insert("issock".into(), Value::Bool(ty == 0o140000));
    for (k, key) in [
        ("uid", "uid"),
        ("gid", "gid"),
        ("size", "size"),
        ("inode", "inode"),
        ("dev", "dev"),
        ("nlink", "nlink"),
        ("blocks", "blocks"),
        ("block_size", "block_size"),
        ("device_type", "device_type"),
    ] {
        st.insert(k.into(), int(key));
    }
    for k in ["atime", "mtime", "ctime"] {
        st.insert(k.into(), float(k));
    }
    for (k, b) in PERMISSION_BITS {
        st.insert(k.into(), bit(b));
    }
    st.insert(
        "pw_name".into(),
        Value::from(rep.get("owner").cloned().unwrap_or_default()),
    );
    st.insert(
        "gr_name".into(),
        Value::from(rep.get("group").cloned().unwrap_or_default()),
    );
    for k in ["readable", "writeable", "executable"] {
        st.insert(k.into(), flag(k));
    }
    for k in [
        "checksum",
        "lnk_source",
        "lnk_target",
        "mimetype",
        "charset",
    ] {
        if let Some(v) = rep.get(k) {
            st.insert(k.into(), Value::from(v.as_str()));
        }
    }
    if rep.contains_key("attr_flags") {
        st.insert(
            "version".into(),
            rep.get("version")
                .map_or(Value::Null, |v| Value::from(v.as_str())),
        );
    }
    if let Some(flags) = rep.get("attr_flags") {
        let letters: String = flags.chars().filter(|c| *c != '-').collect();
        st.insert("attr_flags".into(), Value::from(letters.as_str()));
        st.insert(
            "attributes".into(),
            Value::Array(
                letters
                    .chars()
                    .filter_map(attribute_name)
                    .map(Value::from)
                    .collect(),
            ),
        );
    }
    st
}

/// lsattr's letters as Ansible names them.
fn attribute_name(c: char) -> Option<&'static str> {
    Some(match c {
        'a' => "append",
        'A' => "noatime",
        'c' => "compressed",
        'C' => "nocow",
        'd' => "nodump",
        'D' => "dirsync",
        'e' => "extents",
        'E' => "encrypted",
        'F' => "casefold",
        'i' => "immutable",
        'I' => "indexed",
        'j' => "journalled",
        'N' => "inline",
        'P' => "projinherit",
        's' => "secure",
        'S' => "synchronous",
        't' => "notail",
        'T' => "toplevel",
        'u' => "undelete",
        'V' => "verity",
        'x' => "dax",
        _ => return None,
    })
}
