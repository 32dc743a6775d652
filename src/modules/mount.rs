//! `mount` (from the `ansible.posix` collection): a file system's line in fstab, and whether
//! it is mounted, as ansible.posix.mount decides both on Linux.
//!
//! Two round trips: the first reads fstab, `/proc/self/mountinfo` and whether the path is a
//! mount point; the controller edits fstab and decides; the second writes fstab (atomically:
//! a temporary file renamed over it) and mounts, unmounts or remounts — and when a mount
//! fails, puts the old fstab back and removes the directories it made, as ansible.posix does.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::args::{self, Param, param};
use super::registry::Spec;
use super::write;
use super::{Module, ModuleCtx, ModuleResult, Plan};
use crate::connection::quote;

pub static SPEC: Spec = Spec {
    name: "mount",
    summary: "Keep a file system's line in fstab and mount, unmount or remount it.",
    params: PARAMS,
    namespace: "ansible.posix",
    ..Spec::host::<Mount>()
};

const PARAMS: &[Param] = &[
    param("path", &["name"], "Required. The mount point."),
    param(
        "src",
        &[],
        "The device (or NFS export, bind source...); required for `present`, `mounted` and `ephemeral`.",
    ),
    param(
        "fstype",
        &[],
        "The file system type; required for `present`, `mounted` and `ephemeral`.",
    ),
    param("opts", &[], "Mount options (default `defaults`)."),
    param(
        "opts_no_log",
        &[],
        "bool, default no. Hide `opts` in the result and output (passwords in CIFS options).",
    ),
    param("dump", &[], "fstab's dump field, default `0`."),
    param("passno", &[], "fstab's pass field, default `0`."),
    param(
        "state",
        &[],
        "Required. `mounted` (in fstab and mounted; the mount point is made), `present` (in fstab only), `unmounted` (unmounted, fstab untouched), `absent` (out of fstab, unmounted, mount point removed), `absent_from_fstab`, `remounted` (always changed), `ephemeral` (mounted, fstab untouched).",
    ),
    param(
        "fstab",
        &[],
        "The fstab file, default `/etc/fstab` (another file is given to mount with `-T`).",
    ),
    param(
        "boot",
        &[],
        "bool, default yes. No: `noauto` is added to the options.",
    ),
    param(
        "backup",
        &[],
        "bool, default no. Keep a copy of fstab before changing it (`backup_file`).",
    ),
];

#[derive(Debug, Deserialize)]
pub struct Args {
    #[serde(alias = "name", deserialize_with = "args::text")]
    path: String,
    #[serde(default, deserialize_with = "args::opt_text")]
    src: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    fstype: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    opts: Option<String>,
    #[serde(default, deserialize_with = "args::boolean")]
    opts_no_log: bool,
    #[serde(default, deserialize_with = "args::opt_text")]
    dump: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    passno: Option<String>,
    #[serde(deserialize_with = "args::text")]
    state: String,
    #[serde(default, deserialize_with = "args::opt_text")]
    fstab: Option<String>,
    #[serde(default = "args::yes", deserialize_with = "args::boolean")]
    boot: bool,
    #[serde(default, deserialize_with = "args::boolean")]
    backup: bool,
}

const STATES: &[&str] = &[
    "absent",
    "absent_from_fstab",
    "mounted",
    "present",
    "unmounted",
    "remounted",
    "ephemeral",
];

pub struct Mount;

impl Module for Mount {
    type Args = Args;

    fn check(a: &Args) -> Result<(), String> {
        if !STATES.contains(&a.state.as_str()) {
            return Err(format!(
                "value of state must be one of: {}, got: {}",
                STATES.join(", "),
                a.state
            ));
        }
        if matches!(a.state.as_str(), "mounted" | "present" | "ephemeral") {
            let missing: Vec<&str> = [("src", &a.src), ("fstype", &a.fstype)]
                .iter()
                .filter(|(_, v)| v.is_none())
                .map(|(n, _)| *n)
                .collect();
            if !missing.is_empty() {
                return Err(format!(
                    "state is {} but all of the following are missing: {}",
                    a.state,
                    missing.join(", ")
                ));
            }
        }
        if a.path.contains('\n') {
            return Err("path must be one line".into());
        }
        Ok(())
    }

    fn plan(a: Args, ctx: &ModuleCtx<'_>) -> Result<Plan, String> {
        let job = Job::new(a, ctx.check_mode);
        let query = job.query_script();
        Ok(Plan::Remote {
            script: query,
            stdin: None,
            then: Box::new(move |out| {
                if out.rc != Some(0) {
                    return Plan::Done(ModuleResult::failed(
                        String::from_utf8_lossy(&out.stderr).trim().to_string(),
                    ));
                }
                let rep = write::report(&out);
                let host = Host {
                    fstab: rep
                        .contains_key("fstab_exists")
                        .then(|| write::report_text(&rep, "fstab_b64")),
                    mounts: linux_mounts(&write::report_text(&rep, "mountinfo_b64")),
                    path_exists: rep.contains_key("path_exists"),
                    ismount: rep.get("ismount").is_some_and(|v| v == "1"),
                    mount_v: write::report_text(&rep, "mount_v_b64"),
                };
                job.decide(host)
            }),
        })
    }
}

/// What the first script found on the host.
struct Host {
    /// fstab's text, `None` when it does not exist.
    fstab: Option<String>,
    /// Mount point → (source, as ansible.posix works it out for bind mounts).
    mounts: BTreeMap<String, String>,
    path_exists: bool,
    ismount: bool,
    /// `mount -v`'s output (read for `ephemeral` only).
    mount_v: String,
}

/// The arguments as ansible.posix.mount works with them (its `args` dict), which is also
/// what it returns.
struct Job {
    state: String,
    check: bool,
    backup: bool,
    fstab: String,
    name: String,
    src: Option<String>,
    fstype: Option<String>,
    opts: String,
    dump: String,
    passno: String,
    boot: &'static str,
    warnings: Vec<String>,
    no_log: Option<String>,
}

impl Job {
    fn new(a: Args, check: bool) -> Job {
        let mut opts = a.opts.clone().unwrap_or_else(|| "defaults".into());
        let mut boot = "yes";
        let mut warnings = Vec::new();
        let parts: Vec<&str> = opts.split(',').collect();
        if a.boot && parts.contains(&"noauto") {
            warnings.push("Ignore the 'boot' due to 'opts' contains 'noauto'.".to_string());
        } else if !a.boot {
            boot = "no";
            opts.push_str(",noauto");
        }
        Job {
            state: a.state,
            check,
            backup: a.backup,
            fstab: a.fstab.unwrap_or_else(|| "/etc/fstab".into()),
            name: a.path,
            src: a.src,
            fstype: a.fstype,
            opts,
            dump: a.dump.unwrap_or_else(|| "0".into()),
            passno: a.passno.unwrap_or_else(|| "0".into()),
            boot,
            warnings,
            no_log: a.opts_no_log.then_some(a.opts).flatten(),
        }
    }

    fn query_script(&self) -> String {
        let mut s = format!(
            "f={}\np={}\nif [ -f \"$f\" ]; then echo fstab_exists=1; printf 'fstab_b64='; base64 -w0 < \"$f\" || exit 1; echo; fi\n",
            quote(&self.fstab),
            quote(&self.name)
        );
        s.push_str(
            "printf 'mountinfo_b64='; base64 -w0 < /proc/self/mountinfo 2>/dev/null; echo\n",
        );
        s.push_str("if [ -e \"$p\" ] || [ -L \"$p\" ]; then echo path_exists=1; fi\n");
        // Python's os.path.ismount: not a symbolic link, and on another device than its
        // parent or the same inode as it.
        s.push_str(
            "if [ -e \"$p\" ] && [ ! -L \"$p\" ]; then a=$(stat -c '%d %i' -- \"$p\" 2>/dev/null); b=$(stat -c '%d %i' -- \"$p/..\" 2>/dev/null)\n  if [ -n \"$a\" ] && [ -n \"$b\" ] && { [ \"${a% *}\" != \"${b% *}\" ] || [ \"${a#* }\" = \"${b#* }\" ]; }; then echo ismount=1; fi\nfi\n",
        );
        if self.state == "ephemeral" {
            s.push_str("printf 'mount_v_b64='; mount -v 2>/dev/null | base64 -w0; echo\n");
        }
        s
    }

    fn fstab_args(&self) -> String {
        if self.fstab != "/etc/fstab" {
            format!(" -T {}", quote(&self.fstab))
        } else {
            String::new()
        }
    }

    fn ephemeral_args(&self) -> String {
        let mut s = format!(" -t {}", quote(self.fstype.as_deref().unwrap_or("")));
        if self.opts != "defaults" {
            s.push_str(&format!(" -o {}", quote(&self.opts)));
        }
        s.push_str(&format!(" {}", quote(self.src.as_deref().unwrap_or(""))));
        s
    }

    /// `mount`, as ansible.posix's mount(): the fstab line, or everything on the command
    /// line for `ephemeral`. Sets `rc` and `msg`.
    fn mount_cmd(&self) -> String {
        let args = if self.state == "ephemeral" {
            self.ephemeral_args()
        } else {
            self.fstab_args()
        };
        format!(
            "o=$(mount{args} {} 2>&1; echo \"x$?\"); rc=${{o##*x}}; msg=${{o%x*}}\n",
            quote(&self.name)
        )
    }

    /// ansible.posix's remount(): `mount -o remount`, else unmount and mount.
    fn remount_cmd(&self) -> String {
        let with_opts = self.state == "remounted" && self.opts != "defaults";
        let o = if with_opts {
            format!("remount,{}", self.opts)
        } else {
            "remount".into()
        };
        let args = if self.state == "ephemeral" {
            self.ephemeral_args()
        } else {
            self.fstab_args()
        };
        let mut s = format!(
            "o=$(mount -o {}{args} {} 2>&1; echo \"x$?\"); rc=${{o##*x}}; msg=${{o%x*}}\nif [ $rc != 0 ]; then\n",
            quote(&o),
            quote(&self.name)
        );
        if with_opts {
            s.push_str("  echo 'error=Options were specified with remounted, but the remount command failed. Failing in order to prevent an unexpected mount result. Try replacing this command with a \"state: unmounted\" followed by a \"state: mounted\" using the full desired mount options instead.'; exit 3\n");
        }
        s.push_str(&format!(
            "  o=$(umount {} 2>&1; echo \"x$?\"); rc=${{o##*x}}; msg=${{o%x*}}\n  if [ $rc = 0 ]; then {}  fi\nfi\n",
            quote(&self.name),
            self.mount_cmd()
        ));
        s
    }

    fn umount_cmd(&self) -> String {
        format!(
            "o=$(umount {} 2>&1; echo \"x$?\"); rc=${{o##*x}}; msg=${{o%x*}}\n",
            quote(&self.name)
        )
    }

    /// Fails the script when the last command failed: `what` and its output, from which
    /// the controller writes ansible.posix's message.
    fn fail_if(what: &str) -> String {
        format!(
            "if [ $rc != 0 ]; then echo error_what={what}; printf 'error_b64='; printf '%s' \"$msg\" | base64 -w0; echo; exit 3; fi\n"
        )
    }

    fn escaped(&self) -> Fields {
        Fields {
            src: escape(self.src.as_deref().unwrap_or("")),
            name: escape(&self.name),
            fstype: escape(self.fstype.as_deref().unwrap_or("")),
            opts: escape(&self.opts),
            dump: escape(&self.dump),
            passno: escape(&self.passno),
        }
    }

    /// ansible.posix's _set_mount_save_old: the new fstab, and whether it changed.
    fn set_mount(&self, old: &str) -> (String, bool) {
        let want = self.escaped();
        let mut out = String::new();
        let mut exists = false;
        let mut changed = false;
        for raw in old.split_inclusive('\n') {
            let line = if raw.ends_with('\n') {
                raw.to_string()
            } else {
                format!("{raw}\n")
            };
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                out.push_str(&line);
                continue;
            }
            let fields: Vec<&str> = line
                .split('#')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .collect();
            if !(4..=6).contains(&fields.len()) {
                out.push_str(&line);
                continue;
            }
            // Missing dump and passno are Python's integer 0, never equal to a string.
            let mut ld: Vec<Option<String>> = (0..6)
                .map(|i| fields.get(i).map(|f| f.to_string()))
                .collect();
            let other_swap = self.src.is_some()
                && ld[1].as_deref() == Some("none")
                && ld[2].as_deref() == Some("swap")
                && ld[0].as_deref() != self.src.as_deref();
            if ld[1].as_deref() != Some(want.name.as_str()) || other_swap {
                out.push_str(&line);
                continue;
            }
            exists = true;
            for (i, w) in [
                (0, &want.src),
                (2, &want.fstype),
                (3, &want.opts),
                (4, &want.dump),
                (5, &want.passno),
            ] {
                if ld[i].as_deref() != Some(w.as_str()) {
                    ld[i] = Some(w.clone());
                    changed = true;
                }
            }
            if changed {
                let f = |i: usize| ld[i].clone().unwrap_or_else(|| "0".into());
                out.push_str(&format!(
                    "{} {} {} {} {} {}\n",
                    f(0),
                    f(1),
                    f(2),
                    f(3),
                    f(4),
                    f(5)
                ));
            } else {
                out.push_str(&line);
            }
        }
        if !exists {
            out.push_str(&want.line());
            changed = true;
        }
        (out, changed)
    }

    /// ansible.posix's unset_mount: fstab without the mount point's line.
    fn unset_mount(&self, old: &str) -> (String, bool) {
        let name = escape(&self.name);
        let mut out = String::new();
        let mut changed = false;
        for line in old.split_inclusive('\n') {
            let t = line.trim();
            let f: Vec<&str> = line.split_whitespace().collect();
            if t.is_empty() || t.starts_with('#') || f.len() != 6 {
                out.push_str(line);
                continue;
            }
            let other_swap = self.src.is_some()
                && f[1] == "none"
                && f[2] == "swap"
                && Some(f[0]) != self.src.as_deref();
            if f[1] != name || other_swap {
                out.push_str(line);
                continue;
            }
            changed = true;
        }
        (out, changed)
    }

    /// The second step: what ansible.posix.mount does once it knows the host.
    fn decide(self, host: Host) -> Plan {
        let old = host.fstab.clone().unwrap_or_default();
        let mut script = String::new();
        let mut changed = false;
        // fstab is made when missing (ansible.posix makes it even in check mode; olympus
        // writes nothing in check mode).
        if self.state != "ephemeral" && host.fstab.is_none() && !self.check {
            script.push_str(&format!(
                "f={q}; mkdir -p -- \"$(dirname -- \"$f\")\" && : >> \"$f\" || {{ echo 'error=Failed to open {e}'; exit 3; }}\n",
                q = quote(&self.fstab),
                e = self.fstab.replace(['\'', '\n'], "")
            ));
        }
        let mut new_fstab: Option<String> = None;
        let mounted_here =
            |src: Option<&str>| host.ismount || is_bind_mounted(&host.mounts, &self.name, src);
        match self.state.as_str() {
            "absent_from_fstab" | "absent" => {
                let (new, c) = self.unset_mount(&old);
                changed = c;
                if c && !self.check {
                    new_fstab = Some(new);
                    if self.state == "absent" {
                        let mut tail = String::new();
                        if mounted_here(None) {
                            tail.push_str(&self.umount_cmd());
                            tail.push_str(&Self::fail_if("unmounting"));
                        }
                        tail.push_str(&format!(
                            "rc=0; if [ -e {p} ]; then msg=$(rmdir -- {p} 2>&1); rc=$?; fi\n",
                            p = quote(&self.name)
                        ));
                        tail.push_str(&Self::fail_if("rmdir"));
                        return self.run(script, new_fstab, tail, changed);
                    }
                }
            }
            "unmounted" => {
                if mounted_here(None) {
                    changed = true;
                    if !self.check {
                        let mut tail = self.umount_cmd();
                        tail.push_str(&Self::fail_if("unmounting"));
                        return self.run(script, None, tail, changed);
                    }
                }
            }
            "present" => {
                let (new, c) = self.set_mount(&old);
                changed = c;
                if c && !self.check {
                    new_fstab = Some(new);
                }
            }
            "remounted" => {
                changed = true;
                if !self.check {
                    let mut tail = self.remount_cmd();
                    tail.push_str(&Self::fail_if("remounting"));
                    return self.run(script, None, tail, changed);
                }
            }
            _ => {
                // mounted, ephemeral
                let mut tail = String::new();
                if !host.path_exists && !self.check {
                    // mkdir -p that remembers what it made, to undo it.
                    script.push_str(&format!(
                        "made=; cur=; rest={}\n",
                        quote(self.name.trim_start_matches('/'))
                    ));
                    let lead = if self.name.starts_with('/') { "/" } else { "" };
                    script.push_str(&format!(
                        "IFS_OLD=$IFS; IFS=/; for d in $rest; do IFS=$IFS_OLD; if [ -z \"$cur\" ]; then cur={lead}$d; else cur=\"$cur/$d\"; fi\n  if [ ! -e \"$cur\" ]; then msg=$(mkdir -- \"$cur\" 2>&1) || {{ [ -d \"$cur\" ] || {{ rc=1; {fail} }}; }}; made=\"$cur\n$made\"; fi\ndone; IFS=$IFS_OLD\n",
                        lead = quote(lead),
                        fail = Self::fail_if("making dir").replace('\n', " ")
                    ));
                }
                if self.state != "ephemeral" {
                    let (new, c) = self.set_mount(&old);
                    changed = c;
                    if c && !self.check {
                        new_fstab = Some(new);
                    }
                }
                let mut act = String::new();
                let is_mounted =
                    host.ismount || is_bind_mounted(&host.mounts, &self.name, self.src.as_deref());
                if is_mounted {
                    if changed && !self.check {
                        act = self.remount_cmd();
                        changed = true;
                    }
                    if self.state == "ephemeral" {
                        if self.same_src(&host) {
                            changed = true;
                            if !self.check {
                                act = self.remount_cmd();
                            }
                        } else {
                            return Plan::Done(self.failure(
                                "Ephemeral mount point is already mounted with a different source than the specified one. Failing in order to prevent an unwanted unmount or override operation. Try replacing this command with a \"state: unmounted\" followed by a \"state: ephemeral\", or use a different destination path.".into(),
                            ));
                        }
                    }
                } else {
                    changed = true;
                    if !self.check {
                        act = self.mount_cmd();
                    }
                }
                if !act.is_empty() {
                    tail.push_str(&act);
                    // A failed mount: the old fstab back, the directories made removed.
                    tail.push_str("if [ $rc != 0 ]; then\n");
                    if new_fstab.is_some() {
                        tail.push_str(
                            "  if [ -n \"${old_t:-}\" ]; then cat \"$old_t\" > \"$f\"; fi\n",
                        );
                    }
                    tail.push_str("  printf '%s' \"${made:-}\" | while IFS= read -r d; do [ -n \"$d\" ] && rmdir -- \"$d\" 2>/dev/null; done\nfi\n");
                    tail.push_str(&Self::fail_if("mounting"));
                }
                if !tail.is_empty() || new_fstab.is_some() {
                    return self.run(script, new_fstab, tail, changed);
                }
            }
        }
        if new_fstab.is_some() || !script.is_empty() {
            return self.run(script, new_fstab, String::new(), changed);
        }
        Plan::Done(self.result(changed, None))
    }

    /// ansible.posix's _is_same_mount_src.
    fn same_src(&self, host: &Host) -> bool {
        if !host.ismount && !is_bind_mounted(&host.mounts, &self.name, None) {
            return false;
        }
        let src = self.src.as_deref();
        if is_bind_mounted(&host.mounts, &self.name, src) {
            return true;
        }
        host.mount_v.lines().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 2 && Some(f[0]) == src && f[2] == self.name
        })
    }

    /// The second script: `pre`, then fstab written (when `new_fstab`), then `tail`.
    fn run(self, pre: String, new_fstab: Option<String>, tail: String, changed: bool) -> Plan {
        let mut s = pre;
        s.push_str(&format!("f={}\n", quote(&self.fstab)));
        let stdin = new_fstab.map(|text| {
            if self.backup {
                s.push_str("b=\"$f.$(exec sh -c 'echo $PPID').$(date +%Y-%m-%d@%H:%M:%S)~\"; cp -p -- \"$f\" \"$b\" || exit 1; echo \"backup_file=$b\"\n");
            }
            // The old text kept aside (to put back after a failed mount), the new one
            // renamed over fstab with its mode and owner.
            s.push_str("old_t=$(mktemp) || exit 1; new_t=$(mktemp \"$(dirname -- \"$f\")/.olympus.XXXXXXXX\") || exit 1\n");
            s.push_str("trap 'rm -f -- \"$old_t\" \"$new_t\"' EXIT\ncat \"$f\" > \"$old_t\" || exit 1\ncat > \"$new_t\" || exit 1\n");
            s.push_str("chmod --reference=\"$f\" \"$new_t\" && chown --reference=\"$f\" \"$new_t\" 2>/dev/null; mv -f -- \"$new_t\" \"$f\" || exit 1\n");
            bytes::Bytes::from(text.into_bytes())
        });
        s.push_str(&tail);
        s.push_str("exit 0\n");
        Plan::remote(s, stdin, move |out| {
            let rep = write::report(&out);
            if let Some(e) = rep.get("error") {
                return self.failure(e.clone());
            }
            if let Some(what) = rep.get("error_what") {
                let raw = write::report_text(&rep, "error_b64");
                let detail = match what.as_str() {
                    "rmdir" | "making dir" => python_os_error(&raw),
                    _ => raw,
                };
                let what = if what == "making dir" {
                    "Error making dir".to_string()
                } else {
                    format!("Error {what}")
                };
                return self.failure(format!("{what} {}: {detail}", self.name));
            }
            if out.rc != Some(0) {
                return write::script_failure(&out, &rep);
            }
            let backup = rep.get("backup_file").cloned();
            self.result(changed, backup)
        })
    }

    fn failure(&self, msg: String) -> ModuleResult {
        let mut r = ModuleResult::failed(msg);
        self.hide(&mut r);
        r
    }

    /// What ansible.posix.mount returns: its `args`.
    fn result(&self, changed: bool, backup: Option<String>) -> ModuleResult {
        let mut r = ModuleResult {
            changed,
            ..ModuleResult::ok()
        };
        let d = &mut r.data;
        d.insert("name".into(), Value::from(self.name.as_str()));
        d.insert("opts".into(), Value::from(self.opts.as_str()));
        d.insert("dump".into(), Value::from(self.dump.as_str()));
        d.insert("passno".into(), Value::from(self.passno.as_str()));
        d.insert("fstab".into(), Value::from(self.fstab.as_str()));
        d.insert("boot".into(), Value::from(self.boot));
        d.insert(
            "backup_file".into(),
            Value::from(backup.unwrap_or_default()),
        );
        if let Some(s) = &self.src {
            d.insert("src".into(), Value::from(s.as_str()));
        }
        if let Some(t) = &self.fstype {
            d.insert("fstype".into(), Value::from(t.as_str()));
        }
        if !self.warnings.is_empty() {
            d.insert(
                "warnings".into(),
                Value::Array(
                    self.warnings
                        .iter()
                        .map(|w| Value::from(w.as_str()))
                        .collect(),
                ),
            );
        }
        self.hide(&mut r);
        r
    }

    /// `opts_no_log`: the options are masked wherever they appear, as Ansible masks
    /// no_log values.
    fn hide(&self, r: &mut ModuleResult) {
        let Some(secret) = self.no_log.as_deref().filter(|s| !s.is_empty()) else {
            return;
        };
        for v in r.data.values_mut() {
            if let Value::String(s) = v {
                *s = if s == secret {
                    "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER".into()
                } else {
                    s.replace(secret, "********")
                };
            }
        }
        if let Some(m) = &mut r.msg {
            *m = m.replace(secret, "********");
        }
    }
}

/// A coreutils message (`rmdir: failed to remove 'X': Directory not empty`) written as
/// Python's OSError prints (`[Errno 39] Directory not empty: 'X'`), as ansible.posix
/// reports a failed rmdir or mkdir.
fn python_os_error(msg: &str) -> String {
    let msg = msg.trim_end();
    let path = msg.split('\'').nth(1).unwrap_or("");
    let reason = msg.rsplit(": ").next().unwrap_or(msg);
    let errno = match reason {
        "Operation not permitted" => 1,
        "No such file or directory" => 2,
        "Permission denied" => 13,
        "Device or resource busy" => 16,
        "File exists" => 17,
        "Not a directory" => 20,
        "Read-only file system" => 30,
        "Directory not empty" => 39,
        _ => return msg.to_string(),
    };
    format!("[Errno {errno}] {reason}: '{path}'")
}

/// fstab's six fields, escaped.
struct Fields {
    src: String,
    name: String,
    fstype: String,
    opts: String,
    dump: String,
    passno: String,
}

impl Fields {
    fn line(&self) -> String {
        format!(
            "{} {} {} {} {} {}\n",
            self.src, self.name, self.fstype, self.opts, self.dump, self.passno
        )
    }
}

/// fstab's escapes for a space, `&` and a backslash (ansible.posix's _escape_fstab).
fn escape(v: &str) -> String {
    v.replace('\\', "\\134")
        .replace(' ', "\\040")
        .replace('&', "\\046")
}

/// ansible.posix's is_bind_mounted on Linux: the path is a mount point (with `src` as its
/// source, when given).
fn is_bind_mounted(mounts: &BTreeMap<String, String>, dest: &str, src: Option<&str>) -> bool {
    match (mounts.get(dest), src) {
        (Some(_), None) => true,
        (Some(s), Some(want)) => s == want,
        (None, _) => false,
    }
}

/// mountinfo's octal escapes (`\040` for a space) decoded. ansible.posix compares the
/// escaped text with the path, so it never finds a mount point with a space in its name
/// and mounts it again on top (olympus does not).
fn unescape(field: &str) -> String {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let d = |c: u8| u16::from(c - b'0');
            let v = d(b[i + 1]) * 64 + d(b[i + 2]) * 8 + d(b[i + 3]);
            out.push(u8::try_from(v).unwrap_or(b'?'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// ansible.posix's get_linux_mounts: mount point → source, where a bind mount's source is
/// the directory it shows (the parent's mount point joined with its root).
fn linux_mounts(mountinfo: &str) -> BTreeMap<String, String> {
    struct Rec {
        parent: i64,
        root: String,
        dst: String,
        src: String,
    }
    let mut info: BTreeMap<i64, Rec> = BTreeMap::new();
    for line in mountinfo.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 7 {
            continue;
        }
        let (Ok(id), Ok(parent)) = (f[0].parse::<i64>(), f[1].parse::<i64>()) else {
            continue;
        };
        info.insert(
            id,
            Rec {
                parent,
                root: unescape(f[3]),
                dst: unescape(f[4]),
                src: unescape(f[f.len() - 2]),
            },
        );
    }
    let mut out = BTreeMap::new();
    for rec in info.values() {
        let src = match info.get(&rec.parent) {
            Some(m) if rec.parent != 1 => {
                let mut root = rec.root.clone();
                if m.root.len() > 1 && root.starts_with(&format!("{}/", m.root)) {
                    root = root[m.root.len()..].to_string();
                }
                if m.dst != "/" {
                    root = format!("{}{root}", m.dst);
                }
                root
            }
            _ => rec.src.clone(),
        };
        out.insert(rec.dst.clone(), src);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(state: &str) -> Job {
        Job::new(
            Args {
                path: "/mnt/data".into(),
                src: Some("/dev/sdb1".into()),
                fstype: Some("ext4".into()),
                opts: Some("noatime".into()),
                opts_no_log: false,
                dump: None,
                passno: None,
                state: state.into(),
                fstab: None,
                boot: true,
                backup: false,
            },
            false,
        )
    }

    #[test]
    fn fstab_lines_as_ansible_posix_edits_them() {
        let j = job("present");
        let (new, c) = j.set_mount("# c\n/dev/sda1 / ext4 defaults 0 1\n");
        assert!(c);
        assert_eq!(
            new,
            "# c\n/dev/sda1 / ext4 defaults 0 1\n/dev/sdb1 /mnt/data ext4 noatime 0 0\n"
        );
        let (same, c) = j.set_mount(&new);
        assert!(!c);
        assert_eq!(same, new);
        // Four fields: dump and passno count as different, and the line is rewritten.
        let (new, c) = j.set_mount("/dev/sdb1 /mnt/data ext4 noatime\n");
        assert!(c);
        assert_eq!(new, "/dev/sdb1 /mnt/data ext4 noatime 0 0\n");
        let (new, c) = j.unset_mount("/dev/sdb1 /mnt/data ext4 noatime 0 0\nx /y z w 0 0");
        assert!(c);
        assert_eq!(new, "x /y z w 0 0");
        assert_eq!(escape("a b&c\\"), "a\\040b\\046c\\134");
    }

    #[test]
    fn bind_mount_sources_from_mountinfo() {
        let info = "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n\
                    42 22 0:35 / /tmp rw - tmpfs tmpfs rw\n\
                    78 42 0:35 /aaa /tmp/bbb rw - tmpfs tmpfs rw\n";
        let m = linux_mounts(info);
        assert_eq!(m["/"], "/dev/sda1");
        assert_eq!(m["/tmp/bbb"], "/tmp/aaa");
        assert!(is_bind_mounted(&m, "/tmp/bbb", Some("/tmp/aaa")));
        assert!(!is_bind_mounted(&m, "/tmp/bbb", Some("/x")));
        let m = linux_mounts(
            "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n50 22 0:9 / /mnt/with\\040space rw - tmpfs tmpfs rw\n",
        );
        assert!(is_bind_mounted(&m, "/mnt/with space", None));
        assert_eq!(unescape("a\\134b\\0"), "a\\b\\0");
    }
}
