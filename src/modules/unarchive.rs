//! `unarchive`: a tar (plain, gzip, bzip2, xz, zstd) or zip archive unpacked into a
//! directory on the host, with the host's `tar` or `unzip`. The archive comes from the
//! controller (sent on the script's standard input) or is already on the host
//! (`remote_src`). One round trip: the script finds the archive's kind, decides whether the
//! destination already holds it (as ansible-core does: `tar --diff` for tar archives; for
//! zip, each member's content, mode and time compared with a scratch unpacking), unpacks
//! it unless checking, and applies owner, group and mode to every member.

use serde::Deserialize;
use serde_json::Value;

use super::args::{self, Param, param};
use super::registry::{Source, Spec};
use super::write::{self, Attrs, report, script_failure};
use super::{Module, ModuleCtx, ModuleResult, Plan};
use crate::connection::quote;

pub static SPEC: Spec = Spec {
    name: "unarchive",
    summary: "Unpack a tar or zip archive (from the controller or already on the host) into a directory on the host.",
    params: PARAMS,
    source: Some(Source {
        dir: "files",
        is_template: false,
    }),
    supports_async: false,
    ..Spec::host::<Unarchive>()
};

const PARAMS: &[Param] = &[
    param(
        "src",
        &[],
        "Required. The archive: a controller path (looked up in the role's and the playbook's `files/`), or with `remote_src` a path on the host. A URL is not supported yet (refused).",
    ),
    param(
        "dest",
        &[],
        "Required. An existing directory on the host to unpack into.",
    ),
    param(
        "remote_src",
        &[],
        "bool, default no. `src` is already on the host.",
    ),
    param(
        "creates",
        &[],
        "A path on the host; when it exists, nothing is done (the task is skipped).",
    ),
    param(
        "list_files",
        &[],
        "bool, default no. Return the archive's members in `files`.",
    ),
    param(
        "exclude",
        &[],
        "list. Members not to unpack (and not to compare).",
    ),
    param("include", &[], "list. Only these members are unpacked."),
    param(
        "keep_newer",
        &[],
        "bool, default no. Keep files newer than the archive's (tar `--keep-newer-files`).",
    ),
    param(
        "extra_opts",
        &[],
        "list. More options for `tar` or `unzip`, as words.",
    ),
    param("mode", &[], "Mode applied to every unpacked member."),
    param("owner", &[], "Owner applied to every unpacked member."),
    param("group", &[], "Group applied to every unpacked member."),
];

#[derive(Debug, Deserialize)]
pub struct Args {
    #[serde(deserialize_with = "args::text")]
    src: String,
    #[serde(deserialize_with = "args::text")]
    dest: String,
    #[serde(default, deserialize_with = "args::boolean")]
    remote_src: bool,
    #[serde(default, deserialize_with = "args::opt_text")]
    creates: Option<String>,
    #[serde(default, deserialize_with = "args::boolean")]
    list_files: bool,
    #[serde(default, deserialize_with = "args::list")]
    exclude: Vec<String>,
    #[serde(default, deserialize_with = "args::list")]
    include: Vec<String>,
    #[serde(default, deserialize_with = "args::boolean")]
    keep_newer: bool,
    #[serde(default, deserialize_with = "args::list")]
    extra_opts: Vec<String>,
    #[serde(default, deserialize_with = "args::mode")]
    mode: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    owner: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    group: Option<String>,
}

pub struct Unarchive;

impl Module for Unarchive {
    type Args = Args;

    fn check(a: &Args) -> Result<(), String> {
        if a.src.contains("://") {
            return Err(format!(
                "src '{}' is a URL: unarchive of a URL is not supported by olympus yet; download it with get_url first",
                a.src
            ));
        }
        if !a.include.is_empty() && !a.exclude.is_empty() {
            return Err("'include' and 'exclude' are mutually exclusive".into());
        }
        Ok(())
    }

    fn plan(a: Args, ctx: &ModuleCtx<'_>) -> Result<Plan, String> {
        let (stdin, shown_src) = if a.remote_src {
            (None, a.src.clone())
        } else {
            let path = write::local_file(ctx, &a.src, "files")?;
            let data = ctx
                .files
                .get(&path)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            (Some(data.bytes), path.to_string_lossy().into_owned())
        };
        let attrs = Attrs {
            mode: a.mode.clone(),
            owner: a.owner.clone(),
            group: a.group.clone(),
        };
        let words = |v: &[String]| -> String {
            v.iter()
                .map(|w| format!(" {}", quote(w)))
                .collect::<String>()
        };
        // tar's options for --diff and --extract alike, as ansible-core builds them.
        let mut tar_opts: Vec<String> = Vec::new();
        if !a.extra_opts.is_empty() {
            tar_opts.push("--show-transformed-names".into());
            tar_opts.extend(a.extra_opts.iter().cloned());
        }
        if let Some(o) = &a.owner {
            tar_opts.push(format!("--owner={o}"));
        }
        if let Some(g) = &a.group {
            tar_opts.push(format!("--group={g}"));
        }
        if a.keep_newer {
            tar_opts.push("--keep-newer-files".into());
        }
        tar_opts.extend(a.exclude.iter().map(|e| format!("--exclude={e}")));
        let unzip_excl = if a.exclude.is_empty() {
            String::new()
        } else {
            format!(" -x{}", words(&a.exclude))
        };
        let dest_dir = match a.dest.trim_end_matches('/') {
            "" => "/",
            d => d,
        };
        let mut s = String::from(write::FUNCS);
        s.push_str(&format!(
            "dest={}\ncheck={}\ncreates={}\nfrom_stdin={}\nsrc={}\nhas_owner={}\nhas_group={}\nhas_mode={}\n",
            quote(dest_dir),
            u8::from(ctx.check_mode),
            quote(a.creates.as_deref().unwrap_or("")),
            u8::from(stdin.is_some()),
            quote(&a.src),
            u8::from(a.owner.is_some()),
            u8::from(a.group.is_some()),
            u8::from(a.mode.is_some()),
        ));
        let filter = {
            let mut f = String::new();
            if !a.exclude.is_empty() {
                f.push_str(&format!(
                    "for e in{}; do grep -vxF -- \"$e\" \"$w/list\" > \"$w/l2\"; mv \"$w/l2\" \"$w/list\"; done\n",
                    words(&a.exclude)
                ));
            }
            if !a.include.is_empty() {
                f.push_str(&format!(
                    ": > \"$w/l2\"; for i in{}; do grep -xF -- \"$i\" \"$w/list\" >> \"$w/l2\"; done; mv \"$w/l2\" \"$w/list\"\n",
                    words(&a.include)
                ));
            }
            f
        };
        s.push_str(&fill(
            SCRIPT,
            &[
                ("FILTER", filter.as_str()),
                ("TAR_OPTS", &words(&tar_opts)),
                ("INCLUDE", &words(&a.include)),
                ("UNZIP_OPTS", &words(&a.extra_opts)),
                ("UNZIP_EXCL", &unzip_excl),
            ],
        ));
        if !attrs.is_empty() {
            // Attributes on every member ("$p" each path in turn): compared, then applied
            // unless checking.
            s.push_str("while IFS= read -r f; do p=\"$dest/$f\"; [ -e \"$p\" ] || continue\n");
            s.push_str(&write::attrs_script(&attrs, true, false));
            s.push_str("done < \"$w/list\"\n");
            s.push_str("if [ $a = 1 ] && [ $check = 0 ]; then while IFS= read -r f; do p=\"$dest/$f\"; [ -e \"$p\" ] || continue\n");
            s.push_str(&write::attrs_script(&attrs, false, false));
            s.push_str("done < \"$w/list\"; fi\n");
        }
        s.push_str("echo attrs=$a\npath_info \"$dest\"\n");
        let list_files = a.list_files;
        let (include, exclude, extra) = (a.include, a.exclude, a.extra_opts);
        let dest = a.dest;
        Ok(Plan::remote(s, stdin, move |out| {
            let rep = report(&out);
            if rep.contains_key("skipped") {
                let mut r = ModuleResult::ok();
                r.skipped = true;
                r.msg = Some(format!(
                    "skipped, since {} exists",
                    rep.get("skipped").cloned().unwrap_or_default()
                ));
                return r;
            }
            if out.rc != Some(0) || rep.contains_key("error") {
                return script_failure(&out, &rep);
            }
            let b64 = |k: &str| super::write::report_text(&rep, k);
            let handler = rep.get("handler").cloned().unwrap_or_default();
            let mut r = ModuleResult::ok();
            r.data
                .insert("handler".into(), Value::from(handler.as_str()));
            r.data.insert("dest".into(), Value::from(dest.as_str()));
            r.data.insert("src".into(), Value::from(shown_src));
            let needed = rep.get("unarchived").map(String::as_str) == Some("0");
            r.changed = needed || rep.get("attrs").map(String::as_str) == Some("1");
            if let Some(rc) = rep.get("extract_rc") {
                let tool = rep.get("tool").cloned().unwrap_or_default();
                let src = rep.get("archive").cloned().unwrap_or_default();
                let cmd = if handler == "ZipArchive" {
                    let mut c = vec![tool, "-o".into()];
                    c.extend(extra.iter().cloned());
                    c.push(src);
                    c.extend(include.iter().cloned());
                    if !exclude.is_empty() {
                        c.push("-x".into());
                        c.extend(exclude.iter().cloned());
                    }
                    c.extend(["-d".into(), dest.clone()]);
                    c
                } else {
                    let mut c = vec![tool, "--extract".into(), "-C".into(), dest.clone()];
                    c.extend(rep.get("zflag").filter(|z| !z.is_empty()).cloned());
                    c.extend(tar_opts.iter().cloned());
                    c.extend(["-f".into(), src]);
                    c.extend(include.iter().cloned());
                    c
                };
                let rc: i64 = rc.parse().unwrap_or(-1);
                r.data.insert(
                    "extract_results".into(),
                    serde_json::json!({"cmd": cmd, "rc": rc, "out": b64("extract_out"), "err": b64("extract_err")}),
                );
                if rc != 0 {
                    r.failed = true;
                    r.msg = Some(format!(
                        "failed to unpack {} to {}",
                        r.data["src"].as_str().unwrap_or_default(),
                        dest
                    ));
                    return r;
                }
            }
            if list_files {
                let files: Vec<Value> = b64("files").lines().map(Value::from).collect();
                r.data.insert("files".into(), Value::Array(files));
            }
            write::add_path_info(&mut r, &rep);
            r
        }))
    }
}

/// The script with each `@NAME@` mark replaced, in one pass (a value is never searched
/// for marks again).
fn fill(script: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(script.len());
    let mut rest = script;
    while let Some(at) = rest.find('@') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        match after.find('@').and_then(|end| {
            values
                .iter()
                .find(|(k, _)| *k == &after[..end])
                .map(|(_, v)| (end, *v))
        }) {
            Some((end, v)) => {
                out.push_str(v);
                rest = &after[end + 1..];
            }
            None => {
                out.push('@');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Finds the archive's kind, compares, unpacks. Reports `handler`, `archive`, `zflag`,
/// `tool`, `unarchived` (1 when `dest` already holds the archive), `files` (base64 of the
/// member list) and, when it unpacked, `extract_rc`/`extract_out`/`extract_err`. Leaves
/// "$w/list", the members to apply attributes to, and `a=0`. The `@...@` marks are replaced
/// by quoted words (options, members) before it is sent.
const SCRIPT: &str = r#"if [ -n "$creates" ] && [ -e "$creates" ]; then echo "skipped=$creates"; exit 0; fi
w=$(mktemp -d) || exit 1
trap 'rm -rf -- "$w"' EXIT
if [ "$from_stdin" = 1 ]; then cat > "$w/archive" || exit 1; src="$w/archive"
elif [ ! -e "$src" ]; then echo "error=Source '$src' does not exist"; exit 0
elif [ ! -r "$src" ]; then echo "error=Source '$src' not readable"; exit 0
fi
if [ ! -d "$dest" ]; then echo "error=dest '$dest' must be an existing dir"; exit 0; fi
echo "archive=$src"
export LANG=C LC_ALL=C LC_MESSAGES=C LANGUAGE=C
tarc=$(command -v tar 2>/dev/null || command -v gtar 2>/dev/null)
unz=$(command -v unzip 2>/dev/null)
h=; z=
if [ -n "$unz" ] && "$unz" -Z1 "$src" > "$w/all" 2>/dev/null; then h=ZipArchive
elif [ -n "$tarc" ] && "$tarc" --list -C "$dest" -z -f "$src" > "$w/all" 2>/dev/null; then h=TgzArchive; z=-z
elif [ -n "$tarc" ] && "$tarc" --list -C "$dest" -f "$src" > "$w/all" 2>/dev/null; then h=TarArchive
else
  miss=; [ -n "$tarc" ] || miss="tar"; [ -n "$unz" ] || miss="$miss unzip"
  echo "error=Failed to find handler for \"$src\". Make sure the required command to extract the file is installed.${miss:+ Not found on the host:$miss.} Neither unzip nor tar could list it as an archive."; exit 0
fi
echo "handler=$h"; echo "zflag=$z"
# Members, without the excluded ones (and, with include, only those).
cp "$w/all" "$w/list"
@FILTER@echo "files=$(base64 -w0 < "$w/list")"
uid=$(id -u)
if [ $h = ZipArchive ]; then
  echo "tool=$unz"
  # Unpacked once aside, each member is compared with what dest holds: type, content, mode, time.
  mkdir "$w/x" && "$unz" -qo "$src" -d "$w/x" > /dev/null 2>&1
  u=1
  while IFS= read -r f; do
    a1="$w/x/$f"; b1="$dest/$f"
    if [ -d "$a1" ]; then [ -d "$b1" ] || { u=0; break; }; continue; fi
    [ -f "$b1" ] || { u=0; break; }
    cmp -s -- "$a1" "$b1" || { u=0; break; }
    [ "$(stat -c %Y -- "$a1")" = "$(stat -c %Y -- "$b1")" ] || { u=0; break; }
    if [ $has_mode = 0 ]; then [ "$(stat -c %a -- "$a1")" = "$(stat -c %a -- "$b1")" ] || { u=0; break; }; fi
  done < "$w/list"
else
  echo "tool=$tarc"
  "$tarc" --diff -C "$dest" $z@TAR_OPTS@ -f "$src"@INCLUDE@ > "$w/diff" 2>&1
  u=1
  while IFS= read -r l; do
    case "$l" in
      *": Mod time differs"*|*": Warning: Cannot stat: No such file or directory"|*"Cannot change ownership to uid"*|*"Cannot change group to gid"*) u=0 ;;
      *": Uid differs"*) [ "$uid" = 0 ] && [ $has_owner = 0 ] && u=0 ;;
      *": Gid differs"*) [ "$uid" = 0 ] && [ $has_group = 0 ] && u=0 ;;
      *": Mode differs"*) [ $has_mode = 0 ] && u=0 ;;
    esac
  done < "$w/diff"
fi
echo "unarchived=$u"
a=0
if [ $u = 0 ] && [ $check = 0 ]; then
  if [ $h = ZipArchive ]; then
    "$unz" -o@UNZIP_OPTS@ "$src"@INCLUDE@@UNZIP_EXCL@ -d "$dest" > "$w/out" 2> "$w/err"; rc=$?
  else
    "$tarc" --extract -C "$dest" $z@TAR_OPTS@ -f "$src"@INCLUDE@ > "$w/out" 2> "$w/err"; rc=$?
  fi
  echo "extract_rc=$rc"; echo "extract_out=$(base64 -w0 < "$w/out")"; echo "extract_err=$(base64 -w0 < "$w/err")"
  [ $rc = 0 ] || exit 0
fi
"#;

#[cfg(test)]
mod tests {
    use super::fill;

    #[test]
    fn marks_are_filled_once() {
        let s = fill("tar @A@ -f x@B@ @C@ a@b", &[("A", "'@B@'"), ("B", " 'in'")]);
        // A value holding a mark is not filled again; unknown marks and lone @ stay.
        assert_eq!(s, "tar '@B@' -f x 'in' @C@ a@b");
    }
}
