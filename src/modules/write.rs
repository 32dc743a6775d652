//! Writing files on hosts, shared by the modules that write or edit one (`copy`,
//! `template`, `lineinfile`, `blockinfile`, `replace`).
//!
//! Owns: the write script — compare the file's SHA-1 and attributes with what is wanted,
//! stop if they match, otherwise write a temporary file in the same directory (with the
//! content sent on standard input), check its size, validate it, set mode/owner/group, and
//! rename it over the old one — so every write is atomic, and check mode and diff come from
//! the same script; reading a file for the editing modules; finding controller-side files.
//! Must not: know which module asked, or read task arguments.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::{Content, ModuleCtx, ModuleResult, Plan};
use crate::connection::{ExecOutput, quote};

/// A writing module's argument struct: its own fields, then the ones every writing module
/// shares (`backup`, `validate`, `mode`, `owner`, `group`), with `attrs()`. Written as one
/// struct (not `#[serde(flatten)]`, which would let unknown parameters through unnoticed).
macro_rules! file_args {
    ($(#[$meta:meta])* pub struct $name:ident { $($field:tt)* }) => {
        $(#[$meta])*
        #[derive(Debug, serde::Deserialize)]
        pub struct $name {
            $($field)*
            #[serde(default, deserialize_with = "crate::modules::args::boolean")]
            backup: bool,
            #[serde(default, deserialize_with = "crate::modules::args::opt_text")]
            validate: Option<String>,
            #[serde(default, deserialize_with = "crate::modules::args::mode")]
            mode: Option<String>,
            #[serde(default, deserialize_with = "crate::modules::args::opt_text")]
            owner: Option<String>,
            #[serde(default, deserialize_with = "crate::modules::args::opt_text")]
            group: Option<String>,
        }

        impl $name {
            /// The wanted mode, owner and group.
            fn attrs(&self) -> crate::modules::write::Attrs {
                crate::modules::write::Attrs {
                    mode: self.mode.clone(),
                    owner: self.owner.clone(),
                    group: self.group.clone(),
                }
            }
        }
    };
}
pub(super) use file_args;

/// A writing module's parameter table: its own, then the shared ones.
macro_rules! file_params {
    ($($p:expr),* $(,)?) => {
        &[
            $($p,)*
            crate::modules::args::param("backup", &[], crate::modules::write::BACKUP_DOC),
            crate::modules::args::param("validate", &[], crate::modules::write::VALIDATE_DOC),
            crate::modules::args::param("mode", &[], crate::modules::write::MODE_DOC),
            crate::modules::args::param("owner", &[], crate::modules::write::OWNER_DOC),
            crate::modules::args::param("group", &[], crate::modules::write::GROUP_DOC),
        ]
    };
}
pub(super) use file_params;

/// Docs of the parameters every writing module shares.
pub(super) const MODE_DOC: &str = "File mode: octal (`0644`, `'0644'`) or symbolic (`u=rw,g=r`). Default: an existing file's mode, else 0666 less the umask.";
pub(super) const OWNER_DOC: &str =
    "User name or uid that should own the file (needs become to change).";
pub(super) const GROUP_DOC: &str = "Group name or gid that should own the file.";
pub(super) const BACKUP_DOC: &str = "bool, default no. Keep a copy of the old file, named with a timestamp; its path is returned as `backup_file`.";
pub(super) const VALIDATE_DOC: &str = "Command run on the new file before it replaces the old one; `%s` stands for the new file's path. The file is left unchanged when it fails.";

/// Files larger than this get no content diff.
pub(super) const DIFF_LIMIT: usize = 256 * 1024;

/// Wanted mode, owner and group.
#[derive(Debug, Clone, Default)]
pub(super) struct Attrs {
    pub mode: Option<String>,
    pub owner: Option<String>,
    pub group: Option<String>,
}

impl Attrs {
    pub fn is_empty(&self) -> bool {
        self.mode.is_none() && self.owner.is_none() && self.group.is_none()
    }
}

/// What `path_info` prints (stat's format), for scripts that stat a file themselves.
const PATH_INFO_FORMAT: &str = "pi_uid=%u\\npi_gid=%g\\npi_owner=%U\\npi_group=%G\\npi_mode=%a\\npi_size=%s\\npi_links=%h\\npi_type=%F";

/// Shell functions every file script uses: `differs_mode FILE MODE` is true when chmod would
/// change FILE (numeric or symbolic modes).
/// `d` = the directory of `$p`, as `dirname` gives it for a file's path, without starting
/// `dirname`.
const DIR_OF_P: &str = "case \"$p\" in */*) d=${p%/*}; d=${d:-/} ;; *) d=. ;; esac; ";

pub(super) const FUNCS: &str = r#"path_info() {
  if [ -e "$1" ]; then
    stat --printf 'pi_uid=%u\npi_gid=%g\npi_owner=%U\npi_group=%G\npi_mode=%a\npi_size=%s\npi_links=%h\npi_type=%F\n' -- "$1"
  fi
}
differs_mode() {
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
pub(super) fn attrs_script(a: &Attrs, check: bool, link: bool) -> String {
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
pub(super) struct Write {
    pub dest: String,
    /// With `copy src=...`: a destination that is a directory gets this file name in it.
    pub basename_if_dir: Option<String>,
    pub content: Content,
    pub attrs: Attrs,
    pub check: bool,
    pub diff: bool,
    pub backup: bool,
    /// `validate`: a command with `%s` standing for the new file.
    pub validate: Option<String>,
    /// `force: no`: never replace an existing file.
    pub keep_existing: bool,
    /// Create the destination's directory (copying a directory tree).
    pub make_dirs: bool,
    /// The SHA-1 of the file as the module just read it (empty: it did not exist), so the
    /// script need not compute it again.
    pub known_sha1: Option<String>,
}

impl Write {
    /// A write of `dest` by a module that edits it; the content is set once computed.
    pub fn editing(
        dest: &str,
        attrs: Attrs,
        backup: bool,
        validate: Option<String>,
        ctx: &ModuleCtx<'_>,
    ) -> Write {
        Write {
            dest: dest.to_string(),
            attrs,
            check: ctx.check_mode,
            diff: ctx.diff,
            backup,
            validate,
            ..Write::default()
        }
    }
}

pub(super) fn write_script(w: &Write) -> String {
    write_script_with(w, false)
}

/// The write script; with `probe`, it stops before reading any content and says
/// `need_content=1` when the host's copy differs (attributes are still put right).
pub(super) fn write_script_with(w: &Write, probe: bool) -> String {
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
        s.push_str(&format!("{DIR_OF_P}mkdir -p -- \"$d\" || exit 1\n"));
    }
    if w.check {
        // Checking a file whose directory does not exist yet (an earlier task would create
        // it; check mode did not): it would be written, as ansible-core reports it.
        s.push_str(&format!(
            "{DIR_OF_P}if [ ! -d \"$d\" ]; then echo changed=1; exit 0; fi\n"
        ));
    } else {
        s.push_str(&format!("{DIR_OF_P}if [ ! -d \"$d\" ]; then echo \"error=destination directory $d does not exist\"; exit 3; fi\n"));
    }
    match &w.known_sha1 {
        Some(k) => s.push_str(&format!("cur={}\n", quote(k))),
        None => s.push_str(
            "cur=; if [ -f \"$p\" ]; then cur=$(sha1sum < \"$p\") || exit 1; cur=${cur%% *}; fi\n",
        ),
    }
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
    s.push_str("if [ $c = 0 ] && [ $a = 0 ]; then echo changed=0; path_info \"$p\"; exit 0; fi\n");
    if probe {
        s.push_str("if [ $c = 1 ]; then echo need_content=1; exit 0; fi\n");
    }
    if w.check {
        s.push_str("echo changed=1; path_info \"$p\"; exit 0\n");
        return s;
    }
    s.push_str("if [ $c = 1 ]; then\n");
    if w.backup {
        s.push_str("  if [ -f \"$p\" ]; then b=\"$p.$(exec sh -c 'echo $PPID').$(date +%Y-%m-%d@%H:%M:%S)~\"; cp -p -- \"$p\" \"$b\" || exit 1; echo \"backup_file=$b\"; fi\n");
    }
    // The temporary file is made with `set -C` (created only if nothing is there, as
    // mktemp would) under the umask that gives it its final mode where that is known and
    // no owner or group is to change (a new file's default mode; a numeric mode without
    // execute or special bits): then no chmod is needed. Otherwise it is made private and
    // chmod-ed before the rename.
    let same_owner = w.attrs.owner.is_none() && w.attrs.group.is_none();
    let create_umask = match &w.attrs.mode {
        // Owner-writable too: `cat` reopens the file to write it.
        Some(m) if same_owner => numeric_mode(m)
            .filter(|m| m & !0o666 == 0 && m & 0o200 != 0)
            .map(|m| format!("{:03o}", !m & 0o777)),
        _ => None,
    };
    s.push_str("  um=$(umask)\n");
    match (&create_umask, &w.attrs.mode) {
        (Some(u), _) => s.push_str(&format!("  umask {u}\n")),
        (None, None) if same_owner => s.push_str("  if [ -f \"$p\" ]; then umask 077; fi\n"),
        _ => s.push_str("  umask 077\n"),
    }
    s.push_str(&format!(
        "  t=\"$d/.olympus.{}\"; set -C; : > \"$t\" || exit 1; set +C; umask \"$um\"\n",
        crate::connection::random_name()
    ));
    s.push_str("  trap 'rm -f -- \"$t\" \"$t.vo\" \"$t.ve\"' EXIT; trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 141' PIPE; trap 'exit 143' TERM\n");
    // On a persistent shell the content is a shell function's output: no `cat` to start.
    // When that write fails, `cat` tries again to say why (the shell's printf says only "I/O
    // error" where cat names a full disk); a half-written file fails the size check below.
    s.push_str(&format!(
        "  if command -v {f} >/dev/null 2>&1; then {f} 2>/dev/null || {f} | cat; else cat; fi > \"$t\" || exit 1\n",
        f = crate::connection::STDIN_FUNCTION
    ));
    match (&create_umask, &w.attrs.mode) {
        (Some(_), _) => {}
        (None, Some(m)) => s.push_str(&format!("  chmod {} \"$t\" || exit 1\n", quote(m))),
        // An existing file's mode and owner, in one program.
        (None, None) if same_owner => s.push_str("  if [ -f \"$p\" ]; then cp --attributes-only --preserve=mode,ownership -- \"$p\" \"$t\" || exit 1; fi\n"),
        (None, None) => s.push_str("  if [ -f \"$p\" ]; then chmod --reference=\"$p\" \"$t\" || exit 1; else chmod \"$(printf '%o' $((0666 & ~um)))\" \"$t\" || exit 1; fi\n"),
    }
    match (&w.attrs.owner, same_owner, &create_umask, &w.attrs.mode) {
        (Some(o), ..) => s.push_str(&format!("  chown {} \"$t\" || exit 1\n", quote(o))),
        // Done with the mode above.
        (None, true, None, None) => {}
        _ => s.push_str(
            "  if [ -f \"$p\" ]; then chown --reference=\"$p\" \"$t\" 2>/dev/null || true; fi\n",
        ),
    }
    if let Some(g) = &w.attrs.group {
        s.push_str(&format!("  chgrp {} \"$t\" || exit 1\n", quote(g)));
    }
    // One stat of the finished temporary file: its size says the whole content arrived,
    // and its attributes are the file's after the rename (the same inode).
    s.push_str(&format!(
        "  info=$(stat --printf '%s {PATH_INFO_FORMAT}' -- \"$t\") || exit 1\n  n=${{info%% *}}; if [ \"$n\" -ne {size} ]; then echo \"error=transfer cut short ($n of {size} bytes); $p left unchanged\"; exit 1; fi\n"
    ));
    if let Some(v) = &w.validate {
        let cmd = v.replace("%s", "\"$t\"");
        // As ansible-core: "failed to validate", with the validator's status and output.
        s.push_str(&format!(
            "  if ( {cmd} ) >\"$t.vo\" 2>\"$t.ve\"; then rm -f -- \"$t.vo\" \"$t.ve\"; else echo \"validate_rc=$?\"; printf 'validate_stdout_b64='; base64 -w0 < \"$t.vo\"; echo; printf 'validate_stderr_b64='; base64 -w0 < \"$t.ve\"; echo; rm -f -- \"$t.vo\" \"$t.ve\"; echo \"error=failed to validate\"; exit 1; fi\n"
        ));
    }
    s.push_str("  mv -f -- \"$t\" \"$p\" || exit 1\n  trap - EXIT\n  echo changed=1\n  printf '%s\\n' \"${info#* }\"\nelse\n");
    s.push_str(&attrs_script(&w.attrs, false, false));
    s.push_str("  echo changed=1\n  path_info \"$p\"\nfi\n");
    s
}

/// The value of a numeric mode (`0644`, `644`), `None` for a symbolic one.
fn numeric_mode(m: &str) -> Option<u32> {
    if m.is_empty() || m.len() > 5 || !m.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return None;
    }
    u32::from_str_radix(m, 8).ok()
}

/// `key=value` lines of a script's report.
pub(super) fn report(out: &ExecOutput) -> HashMap<String, String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A report value the script wrote as base64 (command output, file contents), as text;
/// empty when absent.
pub(super) fn report_text(rep: &HashMap<String, String>, key: &str) -> String {
    rep.get(key)
        .and_then(|v| data_encoding::BASE64.decode(v.as_bytes()).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// A command that failed on the host, reported as ansible-core reports one: its command
/// line, status, output and output lines, and the error output as the message.
pub(super) fn command_failure(
    r: &mut ModuleResult,
    cmd: String,
    rc: i64,
    out: String,
    err: String,
) {
    r.failed = true;
    r.msg = Some(err.trim_end().to_string());
    r.data.insert("cmd".into(), Value::from(cmd));
    r.data.insert("rc".into(), Value::from(rc));
    let lines = |t: &str| Value::Array(t.lines().map(Value::from).collect());
    r.data.insert("stdout_lines".into(), lines(&out));
    r.data.insert("stderr_lines".into(), lines(&err));
    r.data.insert("stdout".into(), Value::from(out));
    r.data.insert("stderr".into(), Value::from(err));
}

/// Ansible's `add_path_info`: owner, group, mode, size and state of the path a result
/// names (`path_info` in the script printed them; nothing when the path does not exist).
pub(super) fn add_path_info(r: &mut ModuleResult, rep: &HashMap<String, String>) {
    let Some(uid) = rep.get("pi_uid") else {
        return;
    };
    let num = |k: &str| {
        rep.get(k)
            .and_then(|v| v.parse::<u64>().ok())
            .map(Value::from)
            .unwrap_or(Value::Null)
    };
    let name = |k: &str, id: &str| match rep.get(k).map(String::as_str) {
        Some("UNKNOWN") | None => Value::from(id),
        Some(n) => Value::from(n),
    };
    let gid = rep.get("pi_gid").cloned().unwrap_or_default();
    let mode = rep
        .get("pi_mode")
        .and_then(|m| u32::from_str_radix(m, 8).ok())
        .map(|m| format!("0{m:03o}"))
        .unwrap_or_default();
    let state = match rep.get("pi_type").map(String::as_str) {
        Some("symbolic link") => "link",
        Some("directory") => "directory",
        _ if rep.get("pi_links").is_some_and(|n| n != "1") => "hard",
        _ => "file",
    };
    r.data.insert("uid".into(), num("pi_uid"));
    r.data.insert("gid".into(), num("pi_gid"));
    r.data.insert("owner".into(), name("pi_owner", uid));
    r.data.insert("group".into(), name("pi_group", &gid));
    r.data.insert("mode".into(), Value::from(mode));
    r.data.insert("state".into(), Value::from(state));
    r.data.insert("size".into(), num("pi_size"));
}

pub(super) fn script_failure(out: &ExecOutput, rep: &HashMap<String, String>) -> ModuleResult {
    let msg = rep.get("error").cloned().unwrap_or_else(|| {
        let e = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if e.is_empty() {
            format!("the module's script exited {:?}", out.rc)
        } else {
            e
        }
    });
    let mut r = ModuleResult::failed(msg);
    if let Some(rc) = rep.get("validate_rc") {
        r.data.insert(
            "exit_status".into(),
            rc.parse::<i64>().map_or(Value::Null, Value::from),
        );
        for key in ["stdout", "stderr"] {
            let text = report_text(rep, &format!("validate_{key}_b64"));
            let lines: Vec<Value> = text.lines().map(Value::from).collect();
            r.data.insert(format!("{key}_lines"), Value::from(lines));
            r.data.insert(key.into(), Value::from(text));
        }
    }
    r
}

pub(super) fn diff_value(before: &[u8], after: &[u8], path: &str) -> Option<Value> {
    let (Ok(b), Ok(a)) = (std::str::from_utf8(before), std::str::from_utf8(after)) else {
        return None;
    };
    Some(json!({"before": b, "after": a, "before_header": path, "after_header": path}))
}

pub(super) fn finish_write(w: Write, out: ExecOutput) -> ModuleResult {
    let rep = report(&out);
    if out.rc != Some(0) || rep.contains_key("error") {
        let mut r = script_failure(&out, &rep);
        if rep.contains_key("validate_rc") {
            r.data
                .insert("checksum".into(), Value::from(w.content.sha1.as_str()));
        }
        return r;
    }
    let mut r = ModuleResult::ok();
    r.changed = rep.get("changed").map(String::as_str) == Some("1");
    let dest = rep.get("dest").cloned().unwrap_or(w.dest.clone());
    r.data.insert("dest".into(), Value::from(dest.as_str()));
    r.data
        .insert("checksum".into(), Value::from(w.content.sha1.as_str()));
    r.data.insert("size".into(), Value::from(w.content.len()));
    if r.changed {
        r.data
            .insert("md5sum".into(), Value::from(md5_hex(&w.content.bytes)));
    } else {
        // Unchanged, Ansible's copy reports through its file module: `path` too.
        r.data.insert("path".into(), Value::from(dest.as_str()));
    }
    add_path_info(&mut r, &rep);
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
pub(super) const SEND_AFTER_CHECK: usize = 64 * 1024;

pub(super) fn write_plan(w: Write) -> Plan {
    write_step(w, Plan::Done)
}

/// One write: a single round trip carrying the content, or for a big file a check first and
/// the content only when needed. Check mode never sends content. `next` continues with
/// the write's result.
pub(super) fn write_step(
    w: Write,
    next: impl FnOnce(ModuleResult) -> Plan + Send + 'static,
) -> Plan {
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

/// A controller-side file named by `src`: as given, else under `files/` (copy) or
/// `templates/` (template) next to the playbook, as Ansible searches.
pub(super) fn local_file(ctx: &ModuleCtx<'_>, src: &str, subdir: &str) -> Result<PathBuf, String> {
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
    Err(format!(
        "could not find '{src}' (looked in: {})",
        looked.join(", ")
    ))
}

/// Reads a file (step one of the editing modules): `None` when it does not exist.
pub(super) fn read_then(
    path: &str,
    then: impl FnOnce(Option<Vec<u8>>) -> Plan + Send + 'static,
) -> Plan {
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
///
/// The result is what the editing modules report: `changed`, `msg` (empty when nothing
/// changed), `backup_file` and `diff`; each module adds its own keys.
pub(super) fn write_if_changed(w: Write, old: Option<Vec<u8>>, msg_changed: &str) -> Plan {
    if old.as_deref() == Some(&w.content.bytes[..]) && w.attrs.is_empty() {
        let mut r = ModuleResult::ok();
        r.msg = Some(String::new());
        return Plan::Done(r);
    }
    let diff = w.diff;
    let before = old.clone().unwrap_or_default();
    let dest = w.dest.clone();
    let content = w.content.bytes.clone();
    let msg = msg_changed.to_string();
    let w = Write {
        known_sha1: Some(
            old.as_deref()
                .map(super::controller_files::sha1_hex)
                .unwrap_or_default(),
        ),
        ..w
    };
    let script = write_script(&w);
    Plan::remote(script, Some(w.content.bytes.clone()), move |out| {
        let written = finish_write(w, out);
        if written.failed {
            return written;
        }
        let mut r = ModuleResult {
            changed: written.changed,
            msg: Some(if written.changed { msg } else { String::new() }),
            ..ModuleResult::ok()
        };
        if let Some(b) = written.data.get("backup_file") {
            r.data.insert("backup_file".into(), b.clone());
        }
        if r.changed
            && diff
            && let Some(d) = diff_value(&before, &content, &dest)
        {
            r.data.insert("diff".into(), d);
        }
        r
    })
}

/// MD5 of content, lowercase hex (Ansible's `md5sum`).
pub(super) fn md5_hex(data: &[u8]) -> String {
    use md5::Digest as _;
    data_encoding::HEXLOWER.encode(&md5::Md5::digest(data))
}

/// A regular expression written for Python's `re`.
pub(super) fn py_regex(pat: &str, multiline: bool) -> Result<regex::Regex, String> {
    regex::RegexBuilder::new(pat)
        .multi_line(multiline)
        .build()
        .map_err(|e| format!("invalid regular expression '{pat}': {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn dir_of_p_is_what_dirname_says() {
        for p in ["/f", "f", "/a/b/f", "a/b", "/a b/c'd"] {
            let script = format!("p={}\n{DIR_OF_P}printf '%s' \"$d\"", quote(p));
            let got = String::from_utf8(sh(&script, b"").stdout).expect("utf-8");
            let want = std::process::Command::new("dirname")
                .arg("--")
                .arg(p)
                .output()
                .expect("dirname");
            assert_eq!(got, String::from_utf8_lossy(&want.stdout).trim_end(), "{p}");
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

    /// The temporary file gets its final mode at creation where it can (no chmod), and the
    /// reported attributes are the file's; every other case still ends with the mode asked
    /// for, an existing file's mode, or the umask's default.
    #[test]
    fn written_files_get_the_modes_ansible_gives_them() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().expect("tmp");
        let mode_of = |p: &str| std::fs::metadata(p).expect("meta").permissions().mode() & 0o7777;
        let write = |name: &str, mode: Option<&str>, body: &[u8]| {
            let dest = d.path().join(name).to_string_lossy().to_string();
            let w = Write {
                dest: dest.clone(),
                content: Content::new(body.to_vec()),
                attrs: Attrs {
                    mode: mode.map(str::to_string),
                    ..Default::default()
                },
                ..Default::default()
            };
            let script = format!("umask 027\n{}", write_script(&w));
            let r = finish_write(w.clone(), sh(&script, &w.content.bytes));
            assert!(!r.failed, "{name}: {r:?}");
            (dest, r)
        };
        for (name, mode, want) in [
            ("default", None, 0o640),
            ("numeric", Some("0644"), 0o644),
            ("short", Some("600"), 0o600),
            ("read-only", Some("0444"), 0o444),
            ("executable", Some("0755"), 0o755),
            ("symbolic", Some("u=rw,go=r"), 0o644),
        ] {
            let (dest, r) = write(name, mode, b"x\n");
            assert_eq!(mode_of(&dest), want, "{name}");
            assert_eq!(r.data["mode"], Value::from(format!("{want:04o}")), "{name}");
            assert_eq!(r.data["size"], Value::from(2), "{name}");
            assert_eq!(std::fs::read(&dest).expect("read"), b"x\n");
        }
        // An existing file keeps its mode when none is asked for.
        let (dest, _) = write("kept", Some("0604"), b"a\n");
        let (_, r) = write("kept", None, b"b\n");
        assert!(r.changed);
        assert_eq!(mode_of(&dest), 0o604);
        assert_eq!(std::fs::read(&dest).expect("read"), b"b\n");
        // No temporary file is left behind.
        let left: Vec<_> = std::fs::read_dir(d.path())
            .expect("dir")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(".olympus"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
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
