//! `copy`: a controller file, a directory tree, or given content, written on hosts.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::args::{self, Param, param};
use super::registry::{Source, Spec};
use super::write::{self, Write, write_plan, write_step};
use super::{Content, Module, ModuleCtx, ModuleResult, Plan};
use crate::connection::{ExecOutput, quote};

pub static SPEC: Spec = Spec {
    name: "copy",
    summary: "Copy a file or directory tree from the controller, or given content, to hosts.",
    params: PARAMS,
    source: Some(Source {
        dir: "files",
        is_template: false,
    }),
    supports_async: false,
    ..Spec::host::<Copy>()
};

const PARAMS: &[Param] = write::file_params![
    param(
        "src",
        &[],
        "Controller path of a file or directory, looked up in the role's and the playbook's `files/`. A directory ending in `/` copies its contents, else the directory itself.",
    ),
    param("content", &[], "Text to write instead of `src`."),
    param(
        "dest",
        &[],
        "Required. Path on the host; a directory (or a path ending in `/`) receives the file under its own name.",
    ),
    param(
        "force",
        &["thirsty"],
        "bool, default yes. With no, an existing file is left as it is.",
    ),
    param(
        "remote_src",
        &[],
        "bool, default no. `src` is on the host: a file, or a directory copied as ansible-core copies one (files that differ and new entries copied, nothing removed; `src/` copies its contents).",
    ),
];

write::file_args! {
pub struct Args {
    #[serde(default, deserialize_with = "args::opt_text")]
    src: Option<String>,
    #[serde(default)]
    content: Option<Value>,
    #[serde(deserialize_with = "args::text")]
    dest: String,
    #[serde(
        default = "args::yes",
        alias = "thirsty",
        deserialize_with = "args::boolean"
    )]
    force: bool,
    #[serde(default, deserialize_with = "args::boolean")]
    remote_src: bool,
}
}

pub struct Copy;

impl Module for Copy {
    type Args = Args;

    fn check(a: &Args) -> Result<(), String> {
        if a.remote_src && a.src.is_none() {
            return Err("remote_src needs 'src'".into());
        }
        match (&a.content, &a.src) {
            (Some(_), Some(_)) => Err("'src' and 'content' are mutually exclusive".into()),
            (None, None) => Err("one of 'src' or 'content' is required".into()),
            _ => Ok(()),
        }
    }

    fn plan(a: Args, ctx: &ModuleCtx<'_>) -> Result<Plan, String> {
        if a.remote_src {
            return Ok(remote_copy(&a, ctx));
        }
        let dest = a.dest.as_str();
        let (content, basename) = match (&a.content, &a.src) {
            (Some(c), _) => (
                Content::new(
                    c.as_str()
                        .map(|s| s.as_bytes().to_vec())
                        .unwrap_or_else(|| c.to_string().into_bytes()),
                ),
                None,
            ),
            (None, Some(src)) => {
                let path = write::local_file(ctx, src, "files")?;
                if path.is_dir() {
                    return copy_tree(&a, ctx, &path, src.ends_with('/'), dest);
                }
                let data = ctx
                    .files
                    .get(&path)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
                (data, name)
            }
            (None, None) => return Err("one of 'src' or 'content' is required".into()),
        };
        let dest = if dest.ends_with('/') {
            match &basename {
                Some(b) => format!("{dest}{b}"),
                None => return Err("with 'content', 'dest' must be a file path".into()),
            }
        } else {
            dest.to_string()
        };
        Ok(write_plan(Write {
            dest,
            basename_if_dir: basename,
            content,
            attrs: a.attrs(),
            check: ctx.check_mode,
            diff: ctx.diff,
            backup: a.backup,
            validate: a.validate,
            keep_existing: !a.force,
            make_dirs: false,
            known_sha1: None,
        }))
    }
}

/// Files of a local tree, relative to its root, sorted.
fn walk(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(root.join(rel))?
        .filter_map(Result::ok)
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let r = rel.join(e.file_name());
        if root.join(&r).is_dir() {
            walk(root, &r, out)?;
        } else {
            out.push(r);
        }
    }
    Ok(())
}

/// `copy` of a directory: one script lists the SHA-1 of every destination file, then only
/// the files that differ are sent (`src: dir/` copies the contents, `src: dir` the directory).
fn copy_tree(
    a: &Args,
    ctx: &ModuleCtx<'_>,
    root: &Path,
    contents_only: bool,
    dest: &str,
) -> Result<Plan, String> {
    let mut files = Vec::new();
    walk(root, Path::new(""), &mut files).map_err(|e| format!("{}: {e}", root.display()))?;
    let base = if contents_only {
        dest.trim_end_matches('/').to_string()
    } else {
        let name = root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        format!("{}/{name}", dest.trim_end_matches('/'))
    };
    let mut rels = Vec::new();
    for f in &files {
        let rel = f.to_string_lossy().into_owned();
        if rel.contains('\n') {
            return Err(format!(
                "file name with a newline is not supported: {rel:?}"
            ));
        }
        rels.push(rel);
    }
    // Read and hashed in parallel, once per run (every host compares against these).
    let paths: Vec<PathBuf> = files.iter().map(|f| root.join(f)).collect();
    let contents = ctx
        .files
        .get_many(&paths)
        .map_err(|(p, e)| format!("{}: {e}", p.display()))?;
    let local: Vec<(String, Content)> = rels.into_iter().zip(contents).collect();
    let mut script = format!("b={}\n", quote(&base));
    for (rel, _) in &local {
        script.push_str(&format!(
            "f={q}; if [ -f \"$b/$f\" ]; then s=$(sha1sum < \"$b/$f\"); echo \"${{s%% *}} $f\"; else echo \"absent $f\"; fi\n",
            q = quote(rel)
        ));
    }
    let attrs = a.attrs();
    let (check, diff, backup) = (ctx.check_mode, ctx.diff, a.backup);
    let (validate, force) = (a.validate.clone(), a.force);
    Ok(Plan::Remote {
        script,
        stdin: None,
        then: Box::new(move |out: ExecOutput| {
            if out.rc != Some(0) {
                return Plan::Done(ModuleResult::failed(
                    String::from_utf8_lossy(&out.stderr).trim().to_string(),
                ));
            }
            let remote: HashMap<String, String> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter_map(|l| l.split_once(' '))
                .map(|(s, f)| (f.to_string(), s.to_string()))
                .collect();
            let with_attrs = !attrs.is_empty();
            let todo: Vec<Write> = local
                .into_iter()
                .filter(|(rel, data)| with_attrs || remote.get(rel) != Some(&data.sha1))
                .map(|(rel, data)| Write {
                    dest: format!("{base}/{rel}"),
                    basename_if_dir: None,
                    content: data,
                    attrs: attrs.clone(),
                    check,
                    diff,
                    backup,
                    validate: validate.clone(),
                    keep_existing: !force,
                    make_dirs: true,
                    known_sha1: None,
                })
                .collect();
            write_all(todo, ModuleResult::ok(), base)
        }),
    })
}

/// Writes files one after another, gathering one result.
fn write_all(mut todo: Vec<Write>, mut acc: ModuleResult, base: String) -> Plan {
    if todo.is_empty() {
        acc.data.insert("dest".into(), Value::from(base));
        return Plan::Done(acc);
    }
    let w = todo.remove(0);
    write_step(w, move |r| {
        if r.failed {
            return Plan::Done(r);
        }
        if r.changed {
            acc.changed = true;
            if let Value::Array(files) = acc
                .data
                .entry("changed_files")
                .or_insert_with(|| Value::Array(Vec::new()))
            {
                files.push(r.data.get("dest").cloned().unwrap_or(Value::Null));
            }
        }
        write_all(todo, acc, base)
    })
}

/// `remote_src`: a file already on the host copied to `dest` there, compared by SHA-1,
/// written through a temporary file in the destination's directory and renamed.
fn remote_copy(a: &Args, ctx: &ModuleCtx<'_>) -> Plan {
    let attrs = a.attrs();
    let mut s = String::from(write::FUNCS);
    s.push_str(&format!(
        "src={}\np={}\nforce={}\nbackup={}\ncheck={}\n",
        quote(a.src.as_deref().unwrap_or("")),
        quote(&a.dest),
        u8::from(a.force),
        u8::from(a.backup),
        u8::from(ctx.check_mode),
    ));
    s.push_str(&remote_dir_script(&attrs, ctx.check_mode));
    s.push_str(REMOTE_COPY);
    s.push_str(&write::attrs_script(&attrs, ctx.check_mode, false));
    s.push_str("fi\nif [ $c = 1 ] && [ $check = 0 ]; then\n");
    s.push_str(&write::attrs_script(&attrs, false, false));
    s.push_str("fi\nif [ $c = 1 ] || [ $a = 1 ]; then echo changed=1; fi\npath_info \"$p\"\n");
    let src = a.src.clone().unwrap_or_default();
    Plan::remote(s, None, move |out| {
        let rep = write::report(&out);
        if out.rc != Some(0) || rep.contains_key("error") {
            return write::script_failure(&out, &rep);
        }
        let mut r = ModuleResult::ok();
        r.changed = rep.get("changed").map(String::as_str) == Some("1");
        if rep.contains_key("dir") {
            // A directory has no checksum.
            r.data.insert("md5sum".into(), Value::Null);
            r.data.insert("checksum".into(), Value::Null);
        }
        for k in ["dest", "checksum", "md5sum", "backup_file"] {
            if let Some(v) = rep.get(k) {
                r.data.insert(k.into(), Value::from(v.as_str()));
            }
        }
        r.data.insert("src".into(), Value::from(src));
        write::add_path_info(&mut r, &rep);
        r
    })
}

/// `remote_dir`: a directory on the host copied as ansible-core's copy module does with
/// `remote_src` (its `copy_directory`): a missing destination gets the whole tree (symbolic
/// links kept as links, modes and times kept); an existing one gets the files whose content
/// differs and the entries it lacks — what only the destination has stays, and, as in
/// ansible-core, symbolic links new to it are counted but not copied; names Python's
/// `filecmp` ignores (`.git`, `__pycache__`, `CVS`...) are skipped. `owner`/`group` apply to
/// everything copied and to the whole destination tree, `mode` to its top.
fn remote_dir_script(attrs: &write::Attrs, check: bool) -> String {
    let chown = match (&attrs.owner, &attrs.group) {
        (Some(o), Some(g)) => format!("{}:{}", o, g),
        (Some(o), None) => o.clone(),
        (None, Some(g)) => format!(":{g}"),
        (None, None) => String::new(),
    };
    let mut s = format!(
        "chown_to={}
",
        quote(&chown)
    );
    s.push_str(REMOTE_DIR);
    s.push_str(&format!(
        "remote_dir() {{
  echo dir=1
  remote_dir_copy
  p=$dest_top
  if [ -e \"$p\" ]; then
  a=0
{}  [ $a = 1 ] && changed=1
  fi
  [ $changed = 1 ] && echo changed=1
  path_info \"$p\"
}}
",
        write::attrs_script(attrs, check, false)
    ));
    s
}

/// The copying part of `remote_dir` (see [`remote_dir_script`]); sets `changed` and
/// `dest_top` (the path ansible-core reports as `dest`).
const REMOTE_DIR: &str = r#"ignored() { case "$1" in RCS|CVS|tags|.git|.hg|.bzr|_darcs|__pycache__) return 0;; esac; return 1; }
same_file() {
  [ "$(stat -Lc %s -- "$1")" = "$(stat -Lc %s -- "$2")" ] || return 1
  if command -v cmp >/dev/null 2>&1; then cmp -s -- "$1" "$2"; else [ "$(sha1sum < "$1")" = "$(sha1sum < "$2")" ]; fi
}
own() { if [ -n "$chown_to" ]; then chown $1 -- "$chown_to" "$2" || exit 1; fi; }
walk() {
  local s="$1" d="$2" e n t
  for e in "$s"/* "$s"/.[!.]* "$s"/..?*; do
    [ -e "$e" ] || [ -L "$e" ] || continue
    n=${e##*/}
    ignored "$n" && continue
    t="$d/$n"
    if [ -e "$t" ]; then
      if [ -d "$e" ] && [ -d "$t" ]; then walk "$e" "$t"
      elif [ -f "$e" ] && [ -f "$t" ] && ! same_file "$e" "$t"; then
        changed=1
        if [ $check = 0 ]; then cat -- "$e" > "$t" || exit 1; chmod --reference="$e" -- "$t"; own "" "$t"; fi
      fi
    else
      changed=1
      [ $check = 1 ] && continue
      if [ -L "$e" ]; then :
      elif [ -f "$e" ]; then cat -- "$e" > "$t" || exit 1; chmod --reference="$e" -- "$t"; own "" "$t"
      elif [ -d "$e" ]; then cp -R -P --preserve=mode,timestamps -- "$e" "$t" || exit 1; own -R "$t"
      fi
    fi
  done
}
remote_dir_copy() {
  changed=0
  case "$src" in */) s=${src%/}; base= ;; *) s=$src; base=${src##*/} ;; esac
  dest_top=$p
  if [ -d "$p" ]; then dest_top="${p%/}/$base"; [ -z "$base" ] && dest_top="${p%/}/"; fi
  if [ ! -e "$p" ] && [ ! -d "$(dirname -- "$p")" ]; then echo "error=Destination directory $(dirname -- "$p") does not exist"; exit 0; fi
  d=${p%/}; [ -n "$base" ] && d="$d/$base"
  echo "dest=$dest_top"
  if [ ! -e "$d" ]; then
    changed=1
    if [ $check = 0 ]; then mkdir -p -- "$(dirname -- "$d")" && cp -R -P --preserve=mode,timestamps -- "$s" "$d" || exit 1; own -R "$d"; fi
  else
    walk "$s" "$d"
    if [ -n "$chown_to" ] && [ $check = 0 ]; then
      before=$(find "$d" -printf '%u:%g
' | sort | uniq | tr '
' ' ')
      chown -R -- "$chown_to" "$d" || exit 1
      [ "$before" = "$(find "$d" -printf '%u:%g
' | sort | uniq | tr '
' ' ')" ] || changed=1
    fi
  fi
}
"#;

/// Decides and copies; leaves "$p" the destination file, `c=1` when the content changed
/// and `a` for the attributes, then an `if` the attribute checks complete.
const REMOTE_COPY: &str = r#"if [ ! -e "$src" ]; then echo "error=Source $src not found"; exit 0; fi
if [ -d "$src" ]; then remote_dir; exit 0; fi
if [ -d "$p" ]; then p="${p%/}/$(basename -- "$src")"; fi
new=$(sha1sum < "$src") || exit 1; new=${new%% *}
m=$(md5sum < "$src") || exit 1; echo "md5sum=${m%% *}"
cur=; if [ -f "$p" ]; then cur=$(sha1sum < "$p"); cur=${cur%% *}; fi
echo "dest=$p"; echo "checksum=$new"
c=0; [ "$cur" = "$new" ] || c=1
if [ -f "$p" ] && [ "$force" = 0 ]; then c=0; fi
if [ $c = 1 ] && [ $check = 0 ]; then
  d=$(dirname -- "$p"); [ -d "$d" ] || { echo "error=Destination directory $d does not exist"; exit 0; }
  if [ "$backup" = 1 ] && [ -f "$p" ]; then b="$p.$(exec sh -c 'echo $PPID').$(date +%Y-%m-%d@%H:%M:%S)~"; cp -p -- "$p" "$b" || exit 1; echo "backup_file=$b"; fi
  t=$(mktemp "$d/.olympus.XXXXXXXX") || exit 1
  trap 'rm -f -- "$t"' EXIT
  cp -- "$src" "$t" || exit 1
  if [ -f "$p" ]; then chmod --reference="$p" "$t"; else chmod "$(printf '%o' $((0666 & ~$(umask))))" "$t"; fi
  mv -f -- "$t" "$p" || exit 1
  trap - EXIT
fi
a=0
if [ -f "$p" ] && { [ $c = 0 ] || [ $check = 1 ]; }; then
"#;
