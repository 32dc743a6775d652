//! `get_url`: a file downloaded by the host (with its `curl`, or `wget`) into `dest`,
//! checked against `checksum`, written atomically, with ansible-core's results — including
//! its conditional request: an existing file is not downloaded again unless the server has
//! a newer one (`304 Not Modified`), or `force: yes`.

use serde::Deserialize;
use serde_json::Value;

use super::args::{self, Param, param};
use super::registry::Spec;
use super::write::{self, report};
use super::{Module, ModuleCtx, ModuleResult, Plan};
use crate::connection::quote;

pub static SPEC: Spec = Spec {
    name: "get_url",
    summary: "Download a file on the host from a URL (with the host's curl or wget).",
    params: PARAMS,
    ..Spec::host::<GetUrl>()
};

const PARAMS: &[Param] = &[
    param("url", &[], "Required. http, https or ftp URL."),
    param(
        "dest",
        &[],
        "Required. The file, or a directory that receives the URL's file name.",
    ),
    param(
        "force",
        &[],
        "bool, default no. Download even when `dest` exists (otherwise only when the server has a newer file, or the checksum differs).",
    ),
    param(
        "checksum",
        &[],
        "`ALGORITHM:HEX` (sha1, sha256, sha512, md5): the download must match; an existing `dest` that matches is kept.",
    ),
    param("timeout", &[], "Seconds the request may take, default 10."),
    param(
        "validate_certs",
        &[],
        "bool, default yes. With no, TLS certificates are not checked.",
    ),
    param("mode", &[], write::MODE_DOC),
    param("owner", &[], write::OWNER_DOC),
    param("group", &[], write::GROUP_DOC),
];

#[derive(Debug, Deserialize)]
pub struct Args {
    #[serde(deserialize_with = "args::text")]
    url: String,
    #[serde(deserialize_with = "args::text")]
    dest: String,
    #[serde(default, deserialize_with = "args::boolean")]
    force: bool,
    #[serde(default, deserialize_with = "args::opt_text")]
    checksum: Option<String>,
    #[serde(default, deserialize_with = "args::opt_seconds")]
    timeout: Option<std::time::Duration>,
    #[serde(default = "args::yes", deserialize_with = "args::boolean")]
    validate_certs: bool,
    #[serde(default, deserialize_with = "args::mode")]
    mode: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    owner: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    group: Option<String>,
}

pub struct GetUrl;

impl Module for GetUrl {
    type Args = Args;

    fn check(a: &Args) -> Result<(), String> {
        if !["http://", "https://", "ftp://"]
            .iter()
            .any(|p| a.url.starts_with(p))
        {
            return Err(format!("url '{}' is not http, https or ftp", a.url));
        }
        if let Some(c) = &a.checksum {
            let (alg, hex) = c.split_once(':').unwrap_or(("", ""));
            if !matches!(
                alg,
                "sha1" | "sha224" | "sha256" | "sha384" | "sha512" | "md5"
            ) || hex.is_empty()
                || !hex.chars().all(|h| h.is_ascii_hexdigit())
            {
                return Err(format!(
                    "checksum '{c}' is not ALGORITHM:HEX (sha1, sha224, sha256, sha384, sha512, md5)"
                ));
            }
        }
        Ok(())
    }

    fn plan(a: Args, ctx: &ModuleCtx<'_>) -> Result<Plan, String> {
        let (alg, want) = a
            .checksum
            .as_deref()
            .and_then(|c| c.split_once(':'))
            .map(|(a, h)| (a.to_string(), h.to_ascii_lowercase()))
            .unwrap_or_default();
        let attrs = write::Attrs {
            mode: a.mode.clone(),
            owner: a.owner.clone(),
            group: a.group.clone(),
        };
        let script = format!(
            "{funcs}url={url}\ndest={dest}\nforce={force}\nalg={alg}\nwant={want}\ntimeout={timeout}\ninsecure={insecure}\ncheck={check}\n{SCRIPT}{attrs}fi\n[ \"$a\" = 1 ] && echo a_changed=1\npath_info \"$p\"\n",
            funcs = write::FUNCS,
            url = quote(&a.url),
            dest = quote(&a.dest),
            force = u8::from(a.force),
            alg = quote(&alg),
            want = quote(&want),
            timeout = a.timeout.map_or(10, |d| d.as_secs().max(1)),
            insecure = u8::from(!a.validate_certs),
            check = u8::from(ctx.check_mode),
            attrs = write::attrs_script(&attrs, ctx.check_mode, false),
        );
        let url = a.url;
        Ok(Plan::remote(script, None, move |out| finish(&url, &out)))
    }
}

fn finish(url: &str, out: &crate::connection::ExecOutput) -> ModuleResult {
    let rep = report(out);
    let mut r = ModuleResult::ok();
    let d = &mut r.data;
    d.insert("url".into(), Value::from(url));
    d.insert(
        "dest".into(),
        Value::from(rep.get("dest").cloned().unwrap_or_default()),
    );
    d.insert(
        "elapsed".into(),
        Value::from(
            rep.get("elapsed")
                .and_then(|e| e.parse::<u64>().ok())
                .unwrap_or(0),
        ),
    );
    let code = rep.get("code").and_then(|c| c.parse::<u64>().ok());
    if let Some(c) = code {
        d.insert("status_code".into(), Value::from(c));
    }
    let sum = |k: &str| {
        rep.get(k)
            .filter(|s| !s.is_empty())
            .map_or(Value::Null, |s| Value::from(s.as_str()))
    };
    if let Some(e) = rep.get("error") {
        r.failed = true;
        r.msg = Some(e.clone());
        if let Some(resp) = rep.get("response") {
            r.data.insert("response".into(), Value::from(resp.as_str()));
        }
        if rep.contains_key("checksum_src") {
            for k in ["checksum_src", "checksum_dest", "src"] {
                r.data.insert(k.into(), sum(k));
            }
        }
        return r;
    }
    if out.rc != Some(0) {
        return write::script_failure(out, &rep);
    }
    match rep.get("outcome").map(String::as_str) {
        Some("not_modified") => {
            r.msg = Some("HTTP Error 304: Not Modified".into());
        }
        Some("kept") => {
            r.msg = Some("file already exists".into());
        }
        _ => {
            r.data.insert("checksum_src".into(), sum("checksum_src"));
            r.data.insert("checksum_dest".into(), sum("checksum_dest"));
            r.data.insert("md5sum".into(), sum("md5sum"));
            r.data.insert("src".into(), sum("src"));
            r.msg = Some(format!(
                "OK ({} bytes)",
                rep.get("bytes").cloned().unwrap_or_else(|| "0".into())
            ));
        }
    }
    r.changed =
        rep.get("changed").map(String::as_str) == Some("1") || rep.contains_key("a_changed");
    write::add_path_info(&mut r, &rep);
    r
}

/// Decides, downloads into a temporary file beside `dest`, checks, moves into place, then
/// the attributes script runs on "$p".
const SCRIPT: &str = r#"start=$(date +%s)
given_dir=0
if [ -d "$dest" ]; then given_dir=1; b=${url%%[?#]*}; b=${b##*/}; [ -n "$b" ] || b=index.html; dest="${dest%/}/$b"; fi
p=$dest; echo "dest=$dest"
sumof() { s=$("${alg:-sha1}sum" < "$1") && printf '%s' "${s%% *}"; }
done_now() { echo "elapsed=$(( $(date +%s) - start ))"; }
# A file named as dest that already matches the checksum is kept (for a directory the name
# is only known after the download, as in ansible-core).
if [ "$given_dir" = 0 ] && [ -n "$want" ] && [ "$force" = 0 ] && [ -f "$dest" ] && [ "$(sumof "$dest")" = "$want" ]; then echo outcome=kept; done_now
elif [ "$check" = 1 ]; then
  if [ ! -e "$dest" ] || [ "$force" = 1 ]; then echo changed=1; fi; echo outcome=kept; done_now
else
  d=$(dirname -- "$dest"); [ -d "$d" ] || { echo "error=Destination $d does not exist"; exit 0; }
  t=$(mktemp "$d/.olympus-get.XXXXXXXX") || exit 1; h=$(mktemp) || exit 1
  trap 'rm -f -- "$t" "$h"' EXIT
  if command -v curl >/dev/null 2>&1; then
    set -- -sS -L --max-time "$timeout" -D "$h" -o "$t" -w '%{http_code}'
    [ "$insecure" = 1 ] && set -- "$@" -k
    [ -f "$dest" ] && [ "$force" = 0 ] && [ -z "$want" ] && set -- "$@" -z "$dest"
    code=$(curl "$@" -- "$url" 2>"$h.err"); rc=$?
    err=$(cat "$h.err" 2>/dev/null); rm -f "$h.err"
  elif command -v wget >/dev/null 2>&1; then
    set -- -q -S -T "$timeout" -O "$t"; [ "$insecure" = 1 ] && set -- "$@" --no-check-certificate
    wget "$@" -- "$url" 2>"$h"; rc=$?; code=$(awk '/^  HTTP\// { c = $2 } END { print c }' "$h"); err=
  else
    echo "error=get_url needs curl or wget on the host"; exit 0
  fi
  echo "code=$code"
  reason=$(awk '/^ *HTTP\// { $1 = ""; $2 = ""; r = $0 } END { sub(/^ +/, "", r); sub(/\r$/, "", r); print r }' "$h")
  if [ "$code" = 304 ]; then echo outcome=not_modified; done_now
  elif [ "$rc" != 0 ] || [ "${code:-0}" -ge 400 ] || [ "${code:-0}" = 0 ]; then
    done_now
    if [ "${code:-0}" -ge 400 ]; then echo "response=HTTP Error $code: $reason"; echo "error=Request failed"
    else printf 'error=Request failed: %s\n' "$(printf '%s' "$err" | tr '\n' ' ')"; fi
    exit 0
  else
    done_now
    echo "bytes=$(($(wc -c < "$t")))"
    new=$(sumof "$t"); echo "src=$t"
    ns=$(sha1sum < "$t"); ns=${ns%% *}; echo "checksum_src=$ns"
    os=; if [ -f "$dest" ]; then os=$(sha1sum < "$dest"); os=${os%% *}; fi; echo "checksum_dest=$os"
    if [ -n "$want" ] && [ "$new" != "$want" ]; then echo "error=The checksum for $t did not match $want; it was $new."; exit 0; fi
    m=$(md5sum < "$t"); echo "md5sum=${m%% *}"
    if [ "$ns" != "$os" ]; then
      if [ -f "$dest" ]; then chmod --reference="$dest" "$t"; else chmod "$(printf '%o' $((0666 & ~$(umask))))" "$t"; fi
      mv -f -- "$t" "$dest" || exit 1; echo changed=1
    fi
  fi
fi
a=0
if [ -e "$p" ]; then
"#;
