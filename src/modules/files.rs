//! File modules: `copy`, `template`, `file`, `stat`, `slurp`, `lineinfile`, `blockinfile`,
//! `replace`.
//!
//! Writing a file is one script: compare the file's SHA-1 and attributes with what is wanted,
//! stop if they match, otherwise write a temporary file in the same directory (with the
//! content sent on standard input), check its size, validate it, set mode/owner/group, and
//! rename it over the old one. Check mode and diff come from the same script. Modules that
//! edit a file's content (`lineinfile`, `blockinfile`, `replace`) first read it (one more
//! round trip), compute the new content on the controller, then write it the same way.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::{Content, ModuleCtx, ModuleError, ModuleResult, Plan, arg_str, args_error, check_keys};
use crate::connection::{ExecOutput, quote};
use crate::yaml::Vars;

/// Files larger than this get no content diff.
const DIFF_LIMIT: usize = 256 * 1024;

/// A mode as `chmod` takes it. YAML's `0644` arrives as the integer 420, which is the
/// octal number meant (Ansible reads it the same way).
fn mode_arg(args: &Vars) -> Result<Option<String>, ModuleError> {
    match args.get("mode") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(m) if m <= 0o7777 => Ok(Some(format!("{m:o}"))),
            _ => Err(args_error("file", format!("mode {n} is not a valid mode"))),
        },
        Some(Value::String(s)) => {
            let s = s.trim();
            if s.is_empty() {
                return Ok(None);
            }
            if s.chars().all(|c| c.is_digit(8)) {
                let v = u32::from_str_radix(s, 8)
                    .map_err(|_| args_error("file", format!("bad mode '{s}'")))?;
                return Ok(Some(format!("{v:o}")));
            }
            if s.chars().all(|c| "ugoa+-=rwxXst,".contains(c)) {
                return Ok(Some(s.to_string()));
            }
            Err(args_error(
                "file",
                format!("'{s}' is not a mode (octal like 0644, or symbolic like u=rw,g=r)"),
            ))
        }
        Some(other) => Err(args_error(
            "file",
            format!("mode must be a string or number, got {other}"),
        )),
    }
}

/// Wanted mode, owner and group.
#[derive(Debug, Clone, Default)]
struct Attrs {
    mode: Option<String>,
    owner: Option<String>,
    group: Option<String>,
}

fn attrs(args: &Vars) -> Result<Attrs, ModuleError> {
    Ok(Attrs {
        mode: mode_arg(args)?,
        owner: arg_str(args, "owner").map(str::to_string),
        group: arg_str(args, "group").map(str::to_string),
    })
}

/// Shell functions every file script uses: `differs_mode FILE MODE` is true when chmod would
/// change FILE (numeric or symbolic modes).
const FUNCS: &str = r#"differs_mode() {
  cur=$(stat -c %a -- "$1") || return 0
  case "$2" in
    *[!0-7]*) t2=$(mktemp) || return 0; chmod "$cur" "$t2"; chmod "$2" "$t2"; new=$(stat -c %a "$t2"); rm -f "$t2" ;;
    *) new=$(printf '%o' "$((0$2))") ;;
  esac
  [ "$cur" != "$new" ]
}
"#;

/// Compares and (unless checking) applies attributes to the path in "$p"; sets a=1 when any
/// differs.
fn attrs_script(a: &Attrs, check: bool, link: bool) -> String {
    let h = if link { "-h " } else { "" };
    // `:` keeps an if-branch valid shell when no attribute is wanted.
    let mut s = String::from(":\n");
    if let Some(m) = &a.mode
        && !link
    {
        s.push_str(&format!(
            "if differs_mode \"$p\" {m}; then a=1; {apply}fi\n",
            m = quote(m),
            apply = if check {
                String::new()
            } else {
                format!("chmod {} \"$p\" || exit 1; ", quote(m))
            }
        ));
    }
    if let Some(o) = &a.owner {
        s.push_str(&format!(
            "if [ \"$(stat -c %U -- \"$p\")\" != {o} ] && [ \"$(stat -c %u -- \"$p\")\" != {o} ]; then a=1; {apply}fi\n",
            o = quote(o),
            apply = if check { String::new() } else { format!("chown {h}{} \"$p\" || exit 1; ", quote(o)) }
        ));
    }
    if let Some(g) = &a.group {
        s.push_str(&format!(
            "if [ \"$(stat -c %G -- \"$p\")\" != {g} ] && [ \"$(stat -c %g -- \"$p\")\" != {g} ]; then a=1; {apply}fi\n",
            g = quote(g),
            apply = if check { String::new() } else { format!("chgrp {h}{} \"$p\" || exit 1; ", quote(g)) }
        ));
    }
    s
}

/// How to write a file's content.
#[derive(Debug, Clone, Default)]
struct Write {
    dest: String,
    /// With `copy src=...`: a destination that is a directory gets this file name in it.
    basename_if_dir: Option<String>,
    content: Content,
    attrs: Attrs,
    check: bool,
    diff: bool,
    backup: bool,
    /// `validate`: a command with `%s` standing for the new file.
    validate: Option<String>,
    /// `force: no`: never replace an existing file.
    keep_existing: bool,
    /// Create the destination's directory (copying a directory tree).
    make_dirs: bool,
}

fn write_script(w: &Write) -> String {
    write_script_with(w, false)
}

/// The write script; with `probe`, it stops before reading any content and says
/// `need_content=1` when the host's copy differs (attributes are still put right).
fn write_script_with(w: &Write, probe: bool) -> String {
    let want = &w.content.sha1;
    let size = w.content.len();
    let mut s = String::from(FUNCS);
    s.push_str(&format!("p={}\n", quote(&w.dest)));
    if let Some(b) = &w.basename_if_dir {
        s.push_str(&format!(
            "if [ -d \"$p\" ]; then p=\"${{p%/}}\"/{}; fi\n",
            quote(b)
        ));
    }
    s.push_str("if [ -e \"$p\" ] && [ ! -f \"$p\" ]; then echo \"error=$p exists and is not a regular file\"; exit 3; fi\n");
    if w.make_dirs && !w.check {
        s.push_str("d=$(dirname -- \"$p\"); mkdir -p -- \"$d\" || exit 1\n");
    }
    if w.make_dirs && w.check {
        // Checking a tree whose directories do not exist yet: nothing to compare with.
        s.push_str("d=$(dirname -- \"$p\")\n");
    } else {
        s.push_str("d=$(dirname -- \"$p\"); if [ ! -d \"$d\" ]; then echo \"error=destination directory $d does not exist\"; exit 3; fi\n");
    }
    s.push_str(
        "cur=; if [ -f \"$p\" ]; then cur=$(sha1sum < \"$p\") || exit 1; cur=${cur%% *}; fi\n",
    );
    s.push_str("echo \"dest=$p\"; echo \"before_sha1=$cur\"\n");
    s.push_str(&format!("c=0; [ \"$cur\" = {want} ] || c=1\n"));
    if w.keep_existing {
        s.push_str("if [ -f \"$p\" ]; then c=0; fi\n");
    }
    s.push_str("a=0\nif [ -f \"$p\" ]; then\n");
    s.push_str(&attrs_script(&w.attrs, true, false));
    s.push_str("fi\n");
    if w.diff {
        s.push_str(&format!(
            "if [ $c = 1 ] && [ -f \"$p\" ] && [ \"$(($(wc -c < \"$p\")))\" -le {DIFF_LIMIT} ]; then printf 'before_b64='; base64 -w0 < \"$p\"; echo; fi\n"
        ));
    }
    s.push_str("if [ $c = 0 ] && [ $a = 0 ]; then echo changed=0; exit 0; fi\n");
    if probe {
        s.push_str("if [ $c = 1 ]; then echo need_content=1; exit 0; fi\n");
    }
    if w.check {
        s.push_str("echo changed=1; exit 0\n");
        return s;
    }
    s.push_str("if [ $c = 1 ]; then\n");
    if w.backup {
        s.push_str("  if [ -f \"$p\" ]; then b=\"$p.$$.$(date +%Y-%m-%d@%H:%M:%S)~\"; cp -p -- \"$p\" \"$b\" || exit 1; echo \"backup_file=$b\"; fi\n");
    }
    s.push_str("  um=$(umask); umask 077\n");
    s.push_str("  t=$(mktemp \"$d/.olympus.XXXXXXXX\") || exit 1\n");
    s.push_str("  trap 'rm -f -- \"$t\"' EXIT; trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 141' PIPE; trap 'exit 143' TERM\n");
    s.push_str("  cat > \"$t\" || exit 1\n");
    s.push_str(&format!(
        "  n=$(($(wc -c < \"$t\"))); if [ \"$n\" -ne {size} ]; then echo \"error=transfer cut short ($n of {size} bytes); $p left unchanged\"; exit 1; fi\n"
    ));
    if let Some(v) = &w.validate {
        let cmd = v.replace("%s", "\"$t\"");
        s.push_str(&format!(
            "  if ! ( {cmd} ) >&2; then echo \"error=validation failed: {}\"; exit 1; fi\n",
            v.replace(['"', '\\', '$', '`'], "")
        ));
    }
    match &w.attrs.mode {
        Some(m) => s.push_str(&format!("  chmod {} \"$t\" || exit 1\n", quote(m))),
        None => s.push_str("  if [ -f \"$p\" ]; then chmod --reference=\"$p\" \"$t\" || exit 1; else chmod \"$(printf '%o' $((0666 & ~um)))\" \"$t\" || exit 1; fi\n"),
    }
    match &w.attrs.owner {
        Some(o) => s.push_str(&format!("  chown {} \"$t\" || exit 1\n", quote(o))),
        None => s.push_str(
            "  if [ -f \"$p\" ]; then chown --reference=\"$p\" \"$t\" 2>/dev/null || true; fi\n",
        ),
    }
    if let Some(g) = &w.attrs.group {
        s.push_str(&format!("  chgrp {} \"$t\" || exit 1\n", quote(g)));
    }
    s.push_str("  mv -f -- \"$t\" \"$p\" || exit 1\n  trap - EXIT\nelse\n");
    s.push_str(&attrs_script(&w.attrs, false, false));
    s.push_str("fi\necho changed=1\n");
    s
}

/// `key=value` lines of a script's report.
fn report(out: &ExecOutput) -> HashMap<String, String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn script_failure(out: &ExecOutput, rep: &HashMap<String, String>) -> ModuleResult {
    let msg = rep.get("error").cloned().unwrap_or_else(|| {
        let e = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if e.is_empty() {
            format!("the module's script exited {:?}", out.rc)
        } else {
            e
        }
    });
    ModuleResult::failed(msg)
}

fn diff_value(before: &[u8], after: &[u8], path: &str) -> Option<Value> {
    let (Ok(b), Ok(a)) = (std::str::from_utf8(before), std::str::from_utf8(after)) else {
        return None;
    };
    Some(json!({"before": b, "after": a, "before_header": path, "after_header": path}))
}

fn finish_write(w: Write, out: ExecOutput) -> ModuleResult {
    let rep = report(&out);
    if out.rc != Some(0) || rep.contains_key("error") {
        return script_failure(&out, &rep);
    }
    let mut r = ModuleResult::ok();
    r.changed = rep.get("changed").map(String::as_str) == Some("1");
    let dest = rep.get("dest").cloned().unwrap_or(w.dest.clone());
    r.data.insert("dest".into(), Value::from(dest.as_str()));
    r.data
        .insert("checksum".into(), Value::from(w.content.sha1.as_str()));
    r.data.insert("size".into(), Value::from(w.content.len()));
    if let Some(b) = rep.get("backup_file") {
        r.data.insert("backup_file".into(), Value::from(b.as_str()));
    }
    if w.diff && r.changed {
        let before = rep
            .get("before_b64")
            .and_then(|b| data_encoding::BASE64.decode(b.trim().as_bytes()).ok())
            .unwrap_or_default();
        if w.content.len() <= DIFF_LIMIT
            && let Some(d) = diff_value(&before, &w.content.bytes, &dest)
        {
            r.data.insert("diff".into(), d);
        }
    }
    r
}

/// Contents bigger than this are sent only after a first script found that the host's copy
/// differs: an unchanged big file costs a checksum on the host, not a transfer.
const SEND_AFTER_CHECK: usize = 64 * 1024;

fn write_plan(w: Write) -> Plan {
    write_step(w, Plan::Done)
}

/// One write: a single round trip carrying the content, or for a big file a check first and
/// the content only when needed. Check mode never sends content. `next` continues with
/// the write's result.
fn write_step(w: Write, next: impl FnOnce(ModuleResult) -> Plan + Send + 'static) -> Plan {
    let send = move |w: Write, next: Box<dyn FnOnce(ModuleResult) -> Plan + Send>| {
        let stdin = (!w.check).then(|| w.content.bytes.clone());
        Plan::Remote {
            script: write_script(&w),
            stdin,
            then: Box::new(move |o| next(finish_write(w, o))),
        }
    };
    if w.check || w.content.len() <= SEND_AFTER_CHECK {
        return send(w, Box::new(next));
    }
    Plan::Remote {
        script: write_script_with(&w, true),
        stdin: None,
        then: Box::new(move |o| {
            if report(&o).get("need_content").map(String::as_str) == Some("1") {
                send(w, Box::new(next))
            } else {
                next(finish_write(w, o))
            }
        }),
    }
}

fn bool_arg(args: &Vars, key: &str, default: bool) -> bool {
    args.get(key)
        .map(crate::template::ansible_bool)
        .unwrap_or(default)
}

/// A controller-side file named by `src`: as given, else under `files/` (copy) or
/// `templates/` (template) next to the playbook, as Ansible searches.
fn local_file(ctx: &ModuleCtx<'_>, src: &str, subdir: &str) -> Result<PathBuf, ModuleError> {
    let p = Path::new(src);
    if p.is_absolute() {
        return Ok(p.to_path_buf());
    }
    let base = ctx
        .vars
        .get("playbook_dir")
        .and_then(Value::as_str)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    let role = ctx
        .vars
        .get("role_path")
        .and_then(Value::as_str)
        .map(PathBuf::from);
    let mut cands: Vec<PathBuf> = Vec::new();
    if let Some(r) = &role {
        cands.push(r.join(subdir).join(src));
        cands.push(r.join(src));
    }
    cands.push(base.join(subdir).join(src));
    cands.push(base.join(src));
    if let Some(found) = cands.iter().find(|c| c.exists()) {
        return Ok(found.clone());
    }
    let looked: Vec<String> = cands.iter().map(|c| c.display().to_string()).collect();
    Err(args_error(
        if subdir == "templates" {
            "template"
        } else {
            "copy"
        },
        format!("could not find '{src}' (looked in: {})", looked.join(", ")),
    ))
}

pub(super) fn copy(args: &Vars, ctx: &ModuleCtx<'_>) -> Result<Plan, ModuleError> {
    check_keys(
        "copy",
        args,
        &[
            "src",
            "content",
            "dest",
            "mode",
            "owner",
            "group",
            "backup",
            "force",
            "validate",
            "remote_src",
            "directory_mode",
        ],
    )?;
    let dest = arg_str(args, "dest").ok_or_else(|| args_error("copy", "'dest' is required"))?;
    if bool_arg(args, "remote_src", false) {
        return Err(args_error(
            "copy",
            "remote_src is not supported by olympus yet",
        ));
    }
    let (content, basename) = match (args.get("content"), arg_str(args, "src")) {
        (Some(_), Some(_)) => {
            return Err(args_error(
                "copy",
                "'src' and 'content' are mutually exclusive",
            ));
        }
        (Some(c), None) => (
            Content::new(
                c.as_str()
                    .map(|s| s.as_bytes().to_vec())
                    .unwrap_or_else(|| c.to_string().into_bytes()),
            ),
            None,
        ),
        (None, Some(src)) => {
            let path = local_file(ctx, src, "files")?;
            if path.is_dir() {
                return copy_tree(args, ctx, &path, src.ends_with('/'), dest);
            }
            let data = ctx
                .files
                .get(&path)
                .map_err(|e| args_error("copy", format!("{}: {e}", path.display())))?;
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            (data, name)
        }
        (None, None) => return Err(args_error("copy", "one of 'src' or 'content' is required")),
    };
    let dest = if dest.ends_with('/') {
        match &basename {
            Some(b) => format!("{dest}{b}"),
            None => {
                return Err(args_error(
                    "copy",
                    "with 'content', 'dest' must be a file path",
                ));
            }
        }
    } else {
        dest.to_string()
    };
    Ok(write_plan(Write {
        dest,
        basename_if_dir: basename,
        content,
        attrs: attrs(args)?,
        check: ctx.check_mode,
        diff: ctx.diff,
        backup: bool_arg(args, "backup", false),
        validate: arg_str(args, "validate").map(str::to_string),
        keep_existing: !bool_arg(args, "force", true),
        make_dirs: false,
    }))
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
    args: &Vars,
    ctx: &ModuleCtx<'_>,
    root: &Path,
    contents_only: bool,
    dest: &str,
) -> Result<Plan, ModuleError> {
    let mut files = Vec::new();
    walk(root, Path::new(""), &mut files)
        .map_err(|e| args_error("copy", format!("{}: {e}", root.display())))?;
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
            return Err(args_error(
                "copy",
                format!("file name with a newline is not supported: {rel:?}"),
            ));
        }
        rels.push(rel);
    }
    // Read and hashed in parallel, once per run (every host compares against these).
    let paths: Vec<PathBuf> = files.iter().map(|f| root.join(f)).collect();
    let contents = ctx
        .files
        .get_many(&paths)
        .map_err(|(p, e)| args_error("copy", format!("{}: {e}", p.display())))?;
    let local: Vec<(String, Content)> = rels.into_iter().zip(contents).collect();
    let mut script = format!("b={}\n", quote(&base));
    for (rel, _) in &local {
        script.push_str(&format!(
            "f={q}; if [ -f \"$b/$f\" ]; then s=$(sha1sum < \"$b/$f\"); echo \"${{s%% *}} $f\"; else echo \"absent $f\"; fi\n",
            q = quote(rel)
        ));
    }
    let attrs = attrs(args)?;
    let (check, diff, backup) = (ctx.check_mode, ctx.diff, bool_arg(args, "backup", false));
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
            let with_attrs = attrs.mode.is_some() || attrs.owner.is_some() || attrs.group.is_some();
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
                    validate: None,
                    keep_existing: false,
                    make_dirs: true,
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

pub(super) fn template(args: &Vars, ctx: &ModuleCtx<'_>) -> Result<Plan, ModuleError> {
    check_keys(
        "template",
        args,
        &[
            "src",
            "dest",
            "mode",
            "owner",
            "group",
            "backup",
            "force",
            "validate",
            "newline_sequence",
            "trim_blocks",
            "lstrip_blocks",
        ],
    )?;
    let src = arg_str(args, "src").ok_or_else(|| args_error("template", "'src' is required"))?;
    let dest = arg_str(args, "dest").ok_or_else(|| args_error("template", "'dest' is required"))?;
    let path = local_file(ctx, src, "templates")?;
    let source = ctx
        .files
        .get(&path)
        .map_err(|e| args_error("template", format!("{}: {e}", path.display())))?;
    let text = std::str::from_utf8(&source.bytes).map_err(|e| {
        args_error(
            "template",
            format!("{}: not UTF-8 text: {e}", path.display()),
        )
    })?;
    let mut vars = (**ctx.vars).clone();
    vars.insert_data(
        "template_path".into(),
        Value::from(path.to_string_lossy().into_owned()),
    );
    vars.insert_data(
        "template_host".into(),
        Value::from(crate::connection::ssh_config::local_user()),
    );
    let rendered = ctx
        .templar
        .render_text(text, &std::sync::Arc::new(vars))
        .map_err(|e| args_error("template", format!("{}: {e}", path.display())))?;
    Ok(write_plan(Write {
        dest: dest.to_string(),
        basename_if_dir: path
            .file_name()
            .map(|n| n.to_string_lossy().trim_end_matches(".j2").to_string()),
        content: Content::new(rendered.into_bytes()),
        attrs: attrs(args)?,
        check: ctx.check_mode,
        diff: ctx.diff,
        backup: bool_arg(args, "backup", false),
        validate: arg_str(args, "validate").map(str::to_string),
        keep_existing: !bool_arg(args, "force", true),
        make_dirs: false,
    }))
}

pub(super) fn file(args: &Vars, ctx: &ModuleCtx<'_>) -> Result<Plan, ModuleError> {
    check_keys(
        "file",
        args,
        &[
            "path", "dest", "name", "state", "mode", "owner", "group", "src", "force", "recurse",
            "follow",
        ],
    )?;
    let path = arg_str(args, "path")
        .or_else(|| arg_str(args, "dest"))
        .or_else(|| arg_str(args, "name"))
        .ok_or_else(|| args_error("file", "'path' is required"))?;
    if bool_arg(args, "recurse", false) {
        return Err(args_error(
            "file",
            "recurse is not supported by olympus yet",
        ));
    }
    let a = attrs(args)?;
    let state = arg_str(args, "state").unwrap_or(if args.contains_key("src") {
        "link"
    } else {
        "file"
    });
    let check = ctx.check_mode;
    let run = |cmd: &str| {
        if check {
            String::new()
        } else {
            format!("{cmd} || exit 1; ")
        }
    };
    let mut s = String::from(FUNCS);
    s.push_str(&format!("p={}\nc=0; a=0\n", quote(path)));
    // What the path is now, for --diff.
    s.push_str("if [ -L \"$p\" ]; then echo before_state=link; elif [ -d \"$p\" ]; then echo before_state=directory; elif [ -f \"$p\" ]; then echo before_state=file; elif [ -e \"$p\" ]; then echo before_state=other; else echo before_state=absent; fi\n");
    match state {
        "absent" => {
            s.push_str(&format!(
                "if [ -e \"$p\" ] || [ -L \"$p\" ]; then c=1; {}fi\n",
                run("rm -rf -- \"$p\"")
            ));
        }
        "directory" => {
            s.push_str("if [ -e \"$p\" ] && [ ! -d \"$p\" ]; then echo \"error=$p exists and is not a directory\"; exit 3; fi\n");
            s.push_str(&format!(
                "if [ ! -d \"$p\" ]; then c=1; {}fi\n",
                run("mkdir -p -- \"$p\"")
            ));
            s.push_str("if [ -d \"$p\" ]; then\n");
            s.push_str(&attrs_script(&a, check, false));
            s.push_str("fi\n");
        }
        "file" => {
            s.push_str("if [ ! -e \"$p\" ]; then echo \"error=file $p does not exist (use state=touch to create it)\"; exit 3; fi\n");
            s.push_str(&attrs_script(&a, check, false));
        }
        "touch" => {
            s.push_str(&format!("c=1; {}\n", run("touch -- \"$p\"")));
            s.push_str("if [ -e \"$p\" ]; then\n");
            s.push_str(&attrs_script(&a, check, false));
            s.push_str("fi\n");
        }
        "link" | "hard" => {
            let src = arg_str(args, "src")
                .ok_or_else(|| args_error("file", format!("state={state} needs 'src'")))?;
            let force = bool_arg(args, "force", false);
            s.push_str(&format!("src={}\n", quote(src)));
            if state == "link" {
                s.push_str("cur=$(readlink -- \"$p\" 2>/dev/null || true)\n");
                s.push_str(&format!(
                    "if [ \"$cur\" != \"$src\" ]; then if [ -e \"$p\" ] && [ ! -L \"$p\" ] && [ {f} = 0 ]; then echo \"error=$p exists and is not a link (use force=yes to replace it)\"; exit 3; fi; c=1; {cmd}fi\n",
                    f = u8::from(force),
                    cmd = run("rm -rf -- \"$p\" && ln -s -- \"$src\" \"$p\"")
                ));
                s.push_str("if [ -L \"$p\" ]; then\n");
                s.push_str(&attrs_script(
                    &Attrs {
                        mode: None,
                        ..a.clone()
                    },
                    check,
                    true,
                ));
                s.push_str("fi\n");
            } else {
                s.push_str("if [ ! -e \"$src\" ]; then echo \"error=src $src does not exist\"; exit 3; fi\n");
                s.push_str(&format!(
                    "if [ ! -e \"$p\" ] || [ \"$(stat -c %i -- \"$p\")\" != \"$(stat -c %i -- \"$src\")\" ]; then c=1; {}fi\n",
                    run("ln -f -- \"$src\" \"$p\"")
                ));
                s.push_str("if [ -e \"$p\" ]; then\n");
                s.push_str(&attrs_script(&a, check, false));
                s.push_str("fi\n");
            }
        }
        other => {
            return Err(args_error(
                "file",
                format!("state '{other}' is not one of file, directory, link, hard, touch, absent"),
            ));
        }
    }
    s.push_str("if [ $c = 1 ] || [ $a = 1 ]; then echo changed=1; else echo changed=0; fi\n");
    let path = path.to_string();
    let state = state.to_string();
    let diff = ctx.diff;
    Ok(Plan::remote(s, None, move |out| {
        let rep = report(&out);
        if out.rc != Some(0) || rep.contains_key("error") {
            return script_failure(&out, &rep);
        }
        let mut r = ModuleResult::ok();
        r.changed = rep.get("changed").map(String::as_str) == Some("1");
        if diff && r.changed {
            let before = rep.get("before_state").cloned().unwrap_or_default();
            let after = if state == "touch" || state == "file" {
                before.clone()
            } else {
                state.clone()
            };
            let after = if after == "absent" || state == "absent" {
                after
            } else if after.is_empty() || after == "absent" {
                "file".to_string()
            } else {
                after
            };
            r.data.insert(
                "diff".into(),
                json!({"before": format!("path: {path}\nstate: {before}\n"), "after": format!("path: {path}\nstate: {after}\n"), "before_header": path, "after_header": path}),
            );
        }
        r.data.insert("path".into(), Value::from(path));
        r.data.insert("state".into(), Value::from(state));
        r
    }))
}

const STAT_SCRIPT: &str = r#"if [ -e "$p" ] || [ -L "$p" ]; then
  echo exists=1
  stat --printf 'type=%F\nmode=%a\nuid=%u\ngid=%g\nowner=%U\ngroup=%G\nsize=%s\nmtime=%Y\ninode=%i\nnlink=%h\n' -- "$p"
  if [ -L "$p" ]; then echo "lnk_source=$(readlink -f -- "$p")"; echo "lnk_target=$(readlink -- "$p")"; fi
  if [ -f "$p" ] && [ "$ck" = 1 ]; then s=$(sha1sum < "$p"); echo "checksum=${s%% *}"; fi
else
  echo exists=0
fi
"#;

pub(super) fn stat(args: &Vars) -> Result<Plan, ModuleError> {
    check_keys(
        "stat",
        args,
        &[
            "path",
            "get_checksum",
            "checksum_algorithm",
            "follow",
            "get_mime",
            "get_attributes",
        ],
    )?;
    let path = arg_str(args, "path").ok_or_else(|| args_error("stat", "'path' is required"))?;
    if let Some(alg) = arg_str(args, "checksum_algorithm")
        && alg != "sha1"
    {
        return Err(args_error(
            "stat",
            format!("checksum_algorithm '{alg}' is not supported (sha1)"),
        ));
    }
    let ck = u8::from(bool_arg(args, "get_checksum", true));
    let script = format!("p={}\nck={ck}\n{STAT_SCRIPT}", quote(path));
    let path = path.to_string();
    Ok(Plan::remote(script, None, move |out| {
        let rep = report(&out);
        if out.rc != Some(0) {
            return script_failure(&out, &rep);
        }
        let mut st = serde_json::Map::new();
        let exists = rep.get("exists").map(String::as_str) == Some("1");
        st.insert("exists".into(), Value::Bool(exists));
        if exists {
            let ty = rep.get("type").cloned().unwrap_or_default();
            let num = |k: &str| {
                rep.get(k)
                    .and_then(|v| v.parse::<u64>().ok())
                    .map(Value::from)
                    .unwrap_or(Value::Null)
            };
            st.insert("path".into(), Value::from(path.as_str()));
            st.insert("isreg".into(), Value::Bool(ty.contains("regular")));
            st.insert("isdir".into(), Value::Bool(ty == "directory"));
            st.insert("islnk".into(), Value::Bool(ty == "symbolic link"));
            st.insert(
                "mode".into(),
                Value::from(format!(
                    "{:0>4}",
                    rep.get("mode").cloned().unwrap_or_default()
                )),
            );
            st.insert("uid".into(), num("uid"));
            st.insert("gid".into(), num("gid"));
            st.insert(
                "pw_name".into(),
                Value::from(rep.get("owner").cloned().unwrap_or_default()),
            );
            st.insert(
                "gr_name".into(),
                Value::from(rep.get("group").cloned().unwrap_or_default()),
            );
            st.insert("size".into(), num("size"));
            st.insert("mtime".into(), num("mtime"));
            st.insert("inode".into(), num("inode"));
            st.insert("nlink".into(), num("nlink"));
            if let Some(c) = rep.get("checksum") {
                st.insert("checksum".into(), Value::from(c.as_str()));
            }
            if let Some(l) = rep.get("lnk_source") {
                st.insert("lnk_source".into(), Value::from(l.as_str()));
                st.insert(
                    "lnk_target".into(),
                    Value::from(rep.get("lnk_target").cloned().unwrap_or_default()),
                );
            }
        }
        let mut r = ModuleResult::ok();
        r.data.insert("stat".into(), Value::Object(st));
        r
    }))
}

pub(super) fn slurp(args: &Vars) -> Result<Plan, ModuleError> {
    check_keys("slurp", args, &["src", "path"])?;
    let src = arg_str(args, "src")
        .or_else(|| arg_str(args, "path"))
        .ok_or_else(|| args_error("slurp", "'src' is required"))?;
    let script = format!(
        "p={}\nif [ ! -f \"$p\" ]; then echo \"file not found: $p\" >&2; exit 1; fi\nbase64 -w0 < \"$p\"",
        quote(src)
    );
    let src = src.to_string();
    Ok(Plan::remote(script, None, move |out| {
        if out.rc != Some(0) {
            return ModuleResult::failed(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        let mut r = ModuleResult::ok();
        r.data.insert(
            "content".into(),
            Value::from(String::from_utf8_lossy(&out.stdout).trim().to_string()),
        );
        r.data.insert("encoding".into(), Value::from("base64"));
        r.data.insert("source".into(), Value::from(src));
        r
    }))
}

/// `path` (or its aliases `dest` and `name`) of the editing modules.
fn path_arg(module: &str, args: &Vars) -> Result<String, ModuleError> {
    arg_str(args, "path")
        .or_else(|| arg_str(args, "dest"))
        .or_else(|| arg_str(args, "name"))
        .map(str::to_string)
        .ok_or_else(|| args_error(module, "'path' is required"))
}

/// Reads a file (step one of the editing modules): `None` when it does not exist.
fn read_then(path: &str, then: impl FnOnce(Option<Vec<u8>>) -> Plan + Send + 'static) -> Plan {
    let script = format!(
        "p={}\nif [ -e \"$p\" ] && [ ! -f \"$p\" ]; then echo \"$p is not a regular file\" >&2; exit 3; fi\nif [ -f \"$p\" ]; then echo exists; base64 -w0 < \"$p\"; echo; else echo missing; fi\n",
        quote(path)
    );
    Plan::Remote {
        script,
        stdin: None,
        then: Box::new(move |out: ExecOutput| {
            if out.rc != Some(0) {
                return Plan::Done(ModuleResult::failed(
                    String::from_utf8_lossy(&out.stderr).trim().to_string(),
                ));
            }
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let mut lines = text.lines();
            match lines.next() {
                Some("exists") => {
                    let b64 = lines.next().unwrap_or("");
                    match data_encoding::BASE64.decode(b64.trim().as_bytes()) {
                        Ok(bytes) => then(Some(bytes)),
                        Err(e) => Plan::Done(ModuleResult::failed(format!(
                            "could not read the file: {e}"
                        ))),
                    }
                }
                _ => then(None),
            }
        }),
    }
}

/// Step two: write `new` if it differs from `old` (attributes are still checked).
fn write_if_changed(w: Write, old: Option<Vec<u8>>, msg_changed: &str) -> Plan {
    if old.as_deref() == Some(&w.content.bytes[..])
        && w.attrs.mode.is_none()
        && w.attrs.owner.is_none()
        && w.attrs.group.is_none()
    {
        let mut r = ModuleResult::ok();
        r.data.insert("dest".into(), Value::from(w.dest.as_str()));
        return Plan::Done(r);
    }
    let diff = w.diff;
    let before = old.clone().unwrap_or_default();
    let dest = w.dest.clone();
    let content = w.content.bytes.clone();
    let msg = msg_changed.to_string();
    let script = write_script(&w);
    Plan::remote(script, Some(w.content.bytes.clone()), move |out| {
        let mut r = finish_write(w, out);
        if r.changed && !r.failed {
            r.msg = Some(msg);
            if diff && let Some(d) = diff_value(&before, &content, &dest) {
                r.data.insert("diff".into(), d);
            }
        }
        r
    })
}

fn editing_write(
    args: &Vars,
    ctx: &ModuleCtx<'_>,
    dest: &str,
    content: Vec<u8>,
) -> Result<Write, ModuleError> {
    Ok(Write {
        dest: dest.to_string(),
        basename_if_dir: None,
        content: Content::new(content),
        attrs: attrs(args)?,
        check: ctx.check_mode,
        diff: ctx.diff,
        backup: bool_arg(args, "backup", false),
        validate: arg_str(args, "validate").map(str::to_string),
        keep_existing: false,
        make_dirs: false,
    })
}

fn py_regex(module: &str, pat: &str, multiline: bool) -> Result<regex::Regex, ModuleError> {
    regex::RegexBuilder::new(pat)
        .multi_line(multiline)
        .build()
        .map_err(|e| args_error(module, format!("invalid regular expression '{pat}': {e}")))
}

/// What `lineinfile` is asked to do.
pub(crate) struct LineEdit<'a> {
    pub line: Option<&'a str>,
    pub regexp: Option<&'a regex::Regex>,
    pub search: Option<&'a str>,
    pub absent: bool,
    pub backrefs: bool,
    pub after: Option<&'a str>,
    pub before: Option<&'a str>,
}

/// Ansible's `lineinfile` over the file's lines: the new text and what happened.
pub(crate) fn lineinfile_edit(
    old: &str,
    e: &LineEdit<'_>,
) -> Result<(String, &'static str), String> {
    let LineEdit {
        line,
        regexp,
        search,
        absent,
        backrefs,
        after,
        before,
    } = *e;
    let mut lines: Vec<String> = old.lines().map(str::to_string).collect();
    let matches = |l: &str| match (regexp, search) {
        (Some(re), _) => re.is_match(l),
        (None, Some(s)) => l.contains(s),
        (None, None) => Some(l) == line,
    };
    if absent {
        let before_len = lines.len();
        lines.retain(|l| !matches(l));
        let msg = if lines.len() == before_len {
            ""
        } else {
            "line(s) removed"
        };
        return Ok((join_lines(&lines, old), msg));
    }
    let line = line.ok_or("'line' is required with state=present")?;
    if let Some(i) = lines.iter().rposition(|l| matches(l)) {
        let new = match (backrefs, regexp) {
            (true, Some(re)) => {
                let caps = re.captures(&lines[i]).ok_or("regexp did not match")?;
                let mut out = String::new();
                caps.expand(&crate::template::python_to_rust_replacement(line), &mut out);
                out
            }
            _ => line.to_string(),
        };
        if lines[i] == new {
            return Ok((old.to_string(), ""));
        }
        lines[i] = new;
        return Ok((join_lines(&lines, old), "line replaced"));
    }
    if backrefs {
        return Ok((old.to_string(), ""));
    }
    if regexp.is_some() && lines.iter().any(|l| l == line) {
        return Ok((old.to_string(), ""));
    }
    let pos = match (after, before) {
        (_, Some("BOF")) => 0,
        (_, Some(b)) => {
            let re = regex::Regex::new(b).map_err(|e| format!("invalid insertbefore: {e}"))?;
            lines
                .iter()
                .rposition(|l| re.is_match(l))
                .unwrap_or(lines.len())
        }
        (Some("EOF") | None, None) => lines.len(),
        (Some(a), None) => {
            let re = regex::Regex::new(a).map_err(|e| format!("invalid insertafter: {e}"))?;
            lines
                .iter()
                .rposition(|l| re.is_match(l))
                .map(|i| i + 1)
                .unwrap_or(lines.len())
        }
    };
    lines.insert(pos, line.to_string());
    Ok((join_lines(&lines, old), "line added"))
}

/// Lines back into text; the result always ends with a newline, as lineinfile's does.
fn join_lines(lines: &[String], _old: &str) -> String {
    let mut s = lines.join("\n");
    if !lines.is_empty() {
        s.push('\n');
    }
    s
}

pub(super) fn lineinfile(args: &Vars, ctx: &ModuleCtx<'_>) -> Result<Plan, ModuleError> {
    check_keys(
        "lineinfile",
        args,
        &[
            "path",
            "dest",
            "name",
            "line",
            "regexp",
            "search_string",
            "state",
            "insertafter",
            "insertbefore",
            "create",
            "backup",
            "backrefs",
            "mode",
            "owner",
            "group",
            "validate",
            "firstmatch",
        ],
    )?;
    let path = path_arg("lineinfile", args)?;
    let absent = arg_str(args, "state") == Some("absent");
    let re = arg_str(args, "regexp")
        .map(|r| py_regex("lineinfile", r, false))
        .transpose()?;
    let line = arg_str(args, "line").map(str::to_string).or_else(|| {
        args.get("line")
            .filter(|v| !v.is_null())
            .map(|v| v.to_string())
    });
    if !absent && line.is_none() {
        return Err(args_error(
            "lineinfile",
            "'line' is required with state=present",
        ));
    }
    let search = arg_str(args, "search_string").map(str::to_string);
    let backrefs = bool_arg(args, "backrefs", false);
    let create = bool_arg(args, "create", false);
    let after = arg_str(args, "insertafter").map(str::to_string);
    let before = arg_str(args, "insertbefore").map(str::to_string);
    let template_write = editing_write(args, ctx, &path, Vec::new())?;
    Ok(read_then(&path.clone(), move |old| {
        let Some(old) = old.or_else(|| (create || absent).then(Vec::new)) else {
            return Plan::Done(ModuleResult::failed(format!(
                "Destination {path} does not exist !"
            )));
        };
        if absent && old.is_empty() {
            return Plan::Done(ModuleResult::ok());
        }
        let old_text = String::from_utf8_lossy(&old).into_owned();
        let edit = LineEdit {
            line: line.as_deref(),
            regexp: re.as_ref(),
            search: search.as_deref(),
            absent,
            backrefs,
            after: after.as_deref(),
            before: before.as_deref(),
        };
        match lineinfile_edit(&old_text, &edit) {
            Err(e) => Plan::Done(ModuleResult::failed(e)),
            Ok((new, msg)) => {
                let w = Write {
                    content: Content::new(new.into_bytes()),
                    ..template_write
                };
                write_if_changed(w, Some(old), msg)
            }
        }
    }))
}

pub(super) fn blockinfile(args: &Vars, ctx: &ModuleCtx<'_>) -> Result<Plan, ModuleError> {
    check_keys(
        "blockinfile",
        args,
        &[
            "path",
            "dest",
            "name",
            "block",
            "content",
            "marker",
            "marker_begin",
            "marker_end",
            "state",
            "insertafter",
            "insertbefore",
            "create",
            "backup",
            "mode",
            "owner",
            "group",
            "validate",
            "append_newline",
            "prepend_newline",
        ],
    )?;
    let path = path_arg("blockinfile", args)?;
    let marker = arg_str(args, "marker").unwrap_or("# {mark} ANSIBLE MANAGED BLOCK");
    let begin = marker.replace("{mark}", arg_str(args, "marker_begin").unwrap_or("BEGIN"));
    let end = marker.replace("{mark}", arg_str(args, "marker_end").unwrap_or("END"));
    let block = arg_str(args, "block")
        .or_else(|| arg_str(args, "content"))
        .unwrap_or("")
        .to_string();
    let absent = arg_str(args, "state") == Some("absent") || block.is_empty();
    let create = bool_arg(args, "create", false);
    let after = arg_str(args, "insertafter").map(str::to_string);
    let before = arg_str(args, "insertbefore").map(str::to_string);
    let template_write = editing_write(args, ctx, &path, Vec::new())?;
    Ok(read_then(&path.clone(), move |old| {
        let Some(old) = old.or_else(|| (create || absent).then(Vec::new)) else {
            return Plan::Done(ModuleResult::failed(format!(
                "Path {path} does not exist !"
            )));
        };
        let text = String::from_utf8_lossy(&old).into_owned();
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        let b = lines.iter().position(|l| *l == begin);
        let e = lines.iter().position(|l| *l == end);
        let mut new_block: Vec<String> = Vec::new();
        if !absent {
            new_block.push(begin.clone());
            new_block.extend(block.lines().map(str::to_string));
            new_block.push(end.clone());
        }
        match (b, e) {
            (Some(b), Some(e)) if b <= e => {
                lines.splice(b..=e, new_block);
            }
            _ if absent => {}
            _ => {
                let pos = match (after.as_deref(), before.as_deref()) {
                    (_, Some("BOF")) => 0,
                    (_, Some(bf)) => regex::Regex::new(bf)
                        .ok()
                        .and_then(|re| lines.iter().rposition(|l| re.is_match(l)))
                        .unwrap_or(lines.len()),
                    (Some(a), None) if a != "EOF" => regex::Regex::new(a)
                        .ok()
                        .and_then(|re| lines.iter().rposition(|l| re.is_match(l)))
                        .map(|i| i + 1)
                        .unwrap_or(lines.len()),
                    _ => lines.len(),
                };
                lines.splice(pos..pos, new_block);
            }
        }
        let mut new = lines.join("\n");
        if !lines.is_empty() {
            new.push('\n');
        }
        let w = Write {
            content: Content::new(new.into_bytes()),
            ..template_write
        };
        write_if_changed(
            w,
            Some(old),
            if absent {
                "Block removed"
            } else {
                "Block inserted"
            },
        )
    }))
}

pub(super) fn replace(args: &Vars, ctx: &ModuleCtx<'_>) -> Result<Plan, ModuleError> {
    check_keys(
        "replace",
        args,
        &[
            "path", "dest", "name", "regexp", "replace", "after", "before", "backup", "mode",
            "owner", "group", "validate",
        ],
    )?;
    let path = path_arg("replace", args)?;
    let pat =
        arg_str(args, "regexp").ok_or_else(|| args_error("replace", "'regexp' is required"))?;
    let re = py_regex("replace", pat, true)?;
    let repl = crate::template::python_to_rust_replacement(arg_str(args, "replace").unwrap_or(""));
    if args.contains_key("after") || args.contains_key("before") {
        return Err(args_error(
            "replace",
            "'after'/'before' are not supported by olympus yet",
        ));
    }
    let template_write = editing_write(args, ctx, &path, Vec::new())?;
    Ok(read_then(&path.clone(), move |old| {
        let Some(old) = old else {
            return Plan::Done(ModuleResult::failed(format!(
                "Path {path} does not exist !"
            )));
        };
        let text = String::from_utf8_lossy(&old).into_owned();
        let count = re.find_iter(&text).count();
        let new = re.replace_all(&text, repl.as_str()).into_owned();
        let w = Write {
            content: Content::new(new.into_bytes()),
            ..template_write
        };
        write_if_changed(w, Some(old), &format!("{count} replacements made"))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lif(
        old: &str,
        line: Option<&str>,
        re: Option<&str>,
        absent: bool,
        backrefs: bool,
        after: Option<&str>,
        before: Option<&str>,
    ) -> (String, &'static str) {
        let re = re.map(|r| regex::Regex::new(r).expect("re"));
        let e = LineEdit {
            line,
            regexp: re.as_ref(),
            search: None,
            absent,
            backrefs,
            after,
            before,
        };
        lineinfile_edit(old, &e).expect("edit")
    }

    #[test]
    fn lineinfile_semantics() {
        assert_eq!(
            lif("a\nb\n", Some("c"), None, false, false, None, None),
            ("a\nb\nc\n".into(), "line added")
        );
        assert_eq!(
            lif("a\nc\n", Some("c"), None, false, false, None, None).1,
            ""
        );
        assert_eq!(
            lif(
                "port=1\nx\n",
                Some("port=2"),
                Some("^port="),
                false,
                false,
                None,
                None
            ),
            ("port=2\nx\n".into(), "line replaced")
        );
        assert_eq!(
            lif(
                "a\nb\n",
                Some("z"),
                Some("^nomatch"),
                false,
                false,
                Some("^a"),
                None
            ),
            ("a\nz\nb\n".into(), "line added")
        );
        assert_eq!(
            lif("a\nb\n", Some("z"), None, false, false, None, Some("BOF")),
            ("z\na\nb\n".into(), "line added")
        );
        assert_eq!(
            lif("a\nb\na\n", None, Some("^a"), true, false, None, None),
            ("b\n".into(), "line(s) removed")
        );
        assert_eq!(
            lif(
                "v=1\n",
                Some("w=\\1"),
                Some("^v=(\\d)"),
                false,
                true,
                None,
                None
            ),
            ("w=1\n".into(), "line replaced")
        );
        assert_eq!(
            lif(
                "x\n",
                Some("w=\\1"),
                Some("^v=(\\d)"),
                false,
                true,
                None,
                None
            )
            .1,
            ""
        );
        assert_eq!(
            lif("", Some("first"), None, false, false, None, None),
            ("first\n".into(), "line added")
        );
    }

    #[test]
    fn modes() {
        let m = |v: Value| {
            let mut a = Vars::new();
            a.insert("mode".into(), v);
            mode_arg(&a)
        };
        assert_eq!(m(Value::from(420)).unwrap().as_deref(), Some("644"));
        assert_eq!(m(Value::from("0644")).unwrap().as_deref(), Some("644"));
        assert_eq!(
            m(Value::from("u=rw,g=r")).unwrap().as_deref(),
            Some("u=rw,g=r")
        );
        assert!(m(Value::from("rwx; rm -rf /")).is_err());
    }

    fn sh(script: &str, stdin: &[u8]) -> ExecOutput {
        use std::io::Write as _;
        let mut c = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(script)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("sh");
        let mut si = c.stdin.take().expect("stdin");
        let _ = si.write_all(stdin);
        drop(si);
        let o = c.wait_with_output().expect("wait");
        ExecOutput {
            rc: o.status.code().map(|c| c as u32),
            stdout: o.stdout,
            stderr: o.stderr,
            ..Default::default()
        }
    }

    /// Runs a plan with the local `sh` as the host; returns the result and the bytes of
    /// content each round trip sent.
    fn drive(mut plan: Plan) -> (ModuleResult, Vec<usize>) {
        let mut sent = Vec::new();
        loop {
            match plan {
                Plan::Done(r) => return (r, sent),
                Plan::Wait(..) => panic!("writes never wait"),
                Plan::Remote {
                    script,
                    stdin,
                    then,
                } => {
                    let data = stdin.unwrap_or_default();
                    sent.push(data.len());
                    plan = then(sh(&script, &data));
                }
            }
        }
    }

    #[test]
    fn big_content_is_sent_only_when_the_host_copy_differs() {
        let d = tempfile::tempdir().expect("tmp");
        let dest = d.path().join("big").to_string_lossy().to_string();
        let big = vec![b'x'; SEND_AFTER_CHECK + 1];
        let w = Write {
            dest: dest.clone(),
            content: Content::new(big.clone()),
            ..Default::default()
        };
        let (r, sent) = drive(write_plan(Write {
            check: true,
            ..w.clone()
        }));
        assert!(r.changed && !r.failed, "{r:?}");
        assert_eq!(sent, vec![0], "check mode sends no content");
        let (r, sent) = drive(write_plan(w.clone()));
        assert!(r.changed && !r.failed, "{r:?}");
        assert_eq!(sent, vec![0, big.len()], "a check, then the content");
        assert_eq!(std::fs::read(&dest).expect("read"), big);
        let (r, sent) = drive(write_plan(w.clone()));
        assert!(!r.changed && !r.failed, "{r:?}");
        assert_eq!(sent, vec![0], "unchanged: only the check");
        assert_eq!(r.data["checksum"], Value::from(w.content.sha1.as_str()));
        // Attributes are still put right without sending the content.
        let (r, sent) = drive(write_plan(Write {
            attrs: Attrs {
                mode: Some("600".into()),
                ..Default::default()
            },
            ..w.clone()
        }));
        assert!(r.changed && !r.failed, "{r:?}");
        assert_eq!(sent, vec![0]);
        // Small files go in one round trip with their content.
        let small = Write {
            content: Content::new(b"small\n".to_vec()),
            ..w
        };
        let (r, sent) = drive(write_plan(small));
        assert!(r.changed && !r.failed, "{r:?}");
        assert_eq!(sent, vec![6]);
        assert_eq!(std::fs::read(&dest).expect("read"), b"small\n");
    }

    #[test]
    fn write_script_is_idempotent_and_honours_check_mode() {
        let d = tempfile::tempdir().expect("tmp");
        let dest = d.path().join("conf").to_string_lossy().to_string();
        let w = Write {
            dest: dest.clone(),
            content: Content::new(b"hello\n".to_vec()),
            attrs: Attrs {
                mode: Some("600".into()),
                ..Default::default()
            },
            diff: true,
            ..Default::default()
        };
        let check = Write {
            check: true,
            ..w.clone()
        };
        let r = finish_write(
            check.clone(),
            sh(&write_script(&check), &check.content.bytes),
        );
        assert!(r.changed && !r.failed, "{r:?}");
        assert!(!Path::new(&dest).exists(), "check mode wrote the file");
        let r = finish_write(w.clone(), sh(&write_script(&w), &w.content.bytes));
        assert!(r.changed && !r.failed, "{r:?}");
        assert_eq!(std::fs::read(&dest).expect("read"), b"hello\n");
        let r = finish_write(w.clone(), sh(&write_script(&w), &w.content.bytes));
        assert!(!r.changed, "second run changes nothing: {r:?}");
        let w2 = Write {
            content: Content::new(b"bye\n".to_vec()),
            ..w.clone()
        };
        let r = finish_write(w2.clone(), sh(&write_script(&w2), &w2.content.bytes));
        assert!(r.changed);
        assert_eq!(r.data["diff"]["before"], "hello\n");
        assert_eq!(r.data["diff"]["after"], "bye\n");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&dest).expect("meta").permissions().mode() & 0o777,
            0o600
        );
        let w3 = Write {
            validate: Some("false %s".into()),
            content: Content::new(b"bad\n".to_vec()),
            ..w
        };
        let r = finish_write(w3.clone(), sh(&write_script(&w3), &w3.content.bytes));
        assert!(r.failed, "validation failure must fail the task");
        assert_eq!(
            std::fs::read(&dest).expect("read"),
            b"bye\n",
            "old file kept"
        );
    }
}
