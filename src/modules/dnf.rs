//! `dnf` (and `yum`, which ansible-core routes to it): RPM packages present, at their latest
//! version or absent, with the host's `dnf` command, as ansible-core's dnf module (dnf4
//! backend) decides and reports: `results` lists each package installed or removed
//! (`Installed: name-version-release.arch`), from the RPM database before and after; a
//! package no repository has fails the task (`No package X available.`) and installs
//! nothing; check mode reads the transaction dnf would run (`--assumeno`). `@name` is a
//! group (else an environment) of the repositories' comps, found by id or name as dnf's
//! comps find it, and reported as ansible-core does (`Group X installed.`/`upgraded.`);
//! `list:` reads packages or repositories and changes nothing.
//!
//! One round trip: the script decides per package spec (installed exactly, installed in
//! another version, a glob, a group), runs dnf, and reports.

use serde::Deserialize;
use serde_json::Value;

use super::args::{self, Param, param};
use super::registry::Spec;
use super::write;
use super::{Module, ModuleCtx, ModuleResult, Plan};
use crate::connection::quote;

pub static SPEC: Spec = Spec {
    name: "dnf",
    summary: "Install, upgrade or remove RPM packages with dnf (also reached as yum).",
    params: PARAMS,
    routed_from: &["yum"],
    ..Spec::host::<Dnf>()
};

const PARAMS: &[Param] = &[
    param(
        "name",
        &["pkg"],
        "Package specs (names, name-version, globs, .rpm paths on the host, `@group` or `@environment` from the repositories' comps), a list or comma-separated; `*` with `latest` upgrades everything. Module streams (`@name:stream/profile`) are refused.",
    ),
    param(
        "list",
        &[],
        "Instead of changing anything: `installed`, `updates`, `available`, `repos` or a package spec; `results` lists the packages (or repositories) as ansible-core does.",
    ),
    param(
        "state",
        &[],
        "`present`/`installed` (default), `latest`, `absent`/`removed`.",
    ),
    param(
        "update_cache",
        &["expire-cache"],
        "bool. Refresh the repositories' metadata first (alone: only that).",
    ),
    param("conf_file", &[], "dnf's configuration file."),
    param(
        "disable_gpg_check",
        &[],
        "bool. Do not check package signatures.",
    ),
    param("disablerepo", &[], "Repositories to disable (globs)."),
    param("enablerepo", &[], "Repositories to enable (globs)."),
    param("installroot", &[], "Install into this root instead of `/`."),
    param(
        "releasever",
        &[],
        "The release version dnf uses for `$releasever`.",
    ),
    param(
        "autoremove",
        &[],
        "bool. Remove packages no longer needed (with `absent`, or alone).",
    ),
    param("exclude", &[], "Packages never to install or upgrade."),
    param(
        "install_weak_deps",
        &[],
        "bool, default yes. Install weak dependencies (Recommends).",
    ),
    param(
        "allowerasing",
        &[],
        "bool. Remove installed packages that conflict.",
    ),
    param(
        "nobest",
        &[],
        "bool. Settle for a version other than the best.",
    ),
    param("best", &[], "bool. Only the best version, or fail."),
    param(
        "skip_broken",
        &[],
        "bool. Skip packages whose dependencies cannot be met.",
    ),
    param(
        "update_only",
        &[],
        "bool. With `latest`/`present`, only upgrade packages already installed.",
    ),
    param(
        "allow_downgrade",
        &[],
        "bool. Install an older version than the one installed when asked for.",
    ),
    param(
        "cacheonly",
        &[],
        "bool. Use only the cached metadata (no network).",
    ),
    param(
        "disable_excludes",
        &[],
        "`all`, `main` or a repository id: ignore its excludes.",
    ),
    param("disable_plugin", &[], "dnf plugins to disable."),
    param("enable_plugin", &[], "dnf plugins to enable."),
    param(
        "sslverify",
        &[],
        "bool, default yes. Check the repositories' TLS certificates.",
    ),
    param(
        "validate_certs",
        &[],
        "bool, default yes. Same as `sslverify` for this module.",
    ),
    param(
        "lock_timeout",
        &[],
        "Seconds to wait for another dnf to finish, default 30.",
    ),
    param(
        "use_backend",
        &[],
        "`auto`, `dnf`, `dnf4`, `yum` or `yum4` (all the dnf command); `dnf5` is not supported by olympus yet.",
    ),
];

#[derive(Debug, Deserialize)]
pub struct Args {
    #[serde(default, alias = "pkg", deserialize_with = "args::list")]
    name: Vec<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    list: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    state: Option<String>,
    #[serde(default, alias = "expire-cache", deserialize_with = "args::boolean")]
    update_cache: bool,
    #[serde(default, deserialize_with = "args::opt_text")]
    conf_file: Option<String>,
    #[serde(default, deserialize_with = "args::boolean")]
    disable_gpg_check: bool,
    #[serde(default, deserialize_with = "args::list")]
    disablerepo: Vec<String>,
    #[serde(default, deserialize_with = "args::list")]
    enablerepo: Vec<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    installroot: Option<String>,
    #[serde(default, deserialize_with = "args::opt_text")]
    releasever: Option<String>,
    #[serde(default, deserialize_with = "args::boolean")]
    autoremove: bool,
    #[serde(default, deserialize_with = "args::list")]
    exclude: Vec<String>,
    #[serde(default = "args::yes", deserialize_with = "args::boolean")]
    install_weak_deps: bool,
    #[serde(default, deserialize_with = "args::boolean")]
    allowerasing: bool,
    #[serde(default, deserialize_with = "args::opt_boolean")]
    nobest: Option<bool>,
    #[serde(default, deserialize_with = "args::opt_boolean")]
    best: Option<bool>,
    #[serde(default, deserialize_with = "args::boolean")]
    skip_broken: bool,
    #[serde(default, deserialize_with = "args::boolean")]
    update_only: bool,
    #[serde(default, deserialize_with = "args::boolean")]
    allow_downgrade: bool,
    #[serde(default, deserialize_with = "args::boolean")]
    cacheonly: bool,
    #[serde(default, deserialize_with = "args::opt_text")]
    disable_excludes: Option<String>,
    #[serde(default, deserialize_with = "args::list")]
    disable_plugin: Vec<String>,
    #[serde(default, deserialize_with = "args::list")]
    enable_plugin: Vec<String>,
    #[serde(default = "args::yes", deserialize_with = "args::boolean")]
    sslverify: bool,
    #[serde(default = "args::yes", deserialize_with = "args::boolean")]
    validate_certs: bool,
    #[serde(default, deserialize_with = "args::opt_number")]
    lock_timeout: Option<f64>,
    #[serde(default, deserialize_with = "args::opt_text")]
    use_backend: Option<String>,
}

impl Args {
    /// The arguments `package` gives: names and a state, dnf's defaults for the rest.
    pub(super) fn packages(name: Vec<String>, state: Option<String>) -> Args {
        Args {
            name,
            list: None,
            state,
            update_cache: false,
            conf_file: None,
            disable_gpg_check: false,
            disablerepo: Vec::new(),
            enablerepo: Vec::new(),
            installroot: None,
            releasever: None,
            autoremove: false,
            exclude: Vec::new(),
            install_weak_deps: true,
            allowerasing: false,
            nobest: None,
            best: None,
            skip_broken: false,
            update_only: false,
            allow_downgrade: false,
            cacheonly: false,
            disable_excludes: None,
            disable_plugin: Vec::new(),
            enable_plugin: Vec::new(),
            sslverify: true,
            validate_certs: true,
            lock_timeout: None,
            use_backend: None,
        }
    }
}

pub struct Dnf;

impl Module for Dnf {
    type Args = Args;

    fn check(a: &Args) -> Result<(), String> {
        match a.state.as_deref() {
            None | Some("absent" | "installed" | "latest" | "present" | "removed") => {}
            Some(s) => {
                return Err(format!(
                    "value of state must be one of: absent, installed, latest, present, removed, got: {s}"
                ));
            }
        }
        match a.use_backend.as_deref() {
            None | Some("auto" | "dnf" | "dnf4" | "yum" | "yum4") => {}
            Some("dnf5") => return Err("use_backend=dnf5 is not supported by olympus yet".into()),
            Some(b) => {
                return Err(format!(
                    "value of use_backend must be one of: auto, dnf, yum, yum4, dnf4, dnf5, got: {b}"
                ));
            }
        }
        if a.name.is_empty() && a.list.is_none() && !a.update_cache && !a.autoremove {
            return Err("one of the following is required: name, list, update_cache".into());
        }
        if !a.name.is_empty() && a.list.is_some() {
            return Err("parameters are mutually exclusive: name|list".into());
        }
        // ansible-core takes `@name` (and `a/b`) as a group, an environment or a module
        // stream; olympus does groups and environments, and refuses streams by name.
        if let Some(m) = a.name.iter().map(|n| n.trim()).find(|n| {
            !n.starts_with('/')
                && !n.contains("://")
                && !n.ends_with(".rpm")
                && (n.contains('/') || (n.starts_with('@') && n.contains(':')))
        }) {
            return Err(format!(
                "{m}: dnf module streams are not supported by olympus yet (package groups and environments, `@name`, are)"
            ));
        }
        if a.best.is_some() && a.nobest.is_some() {
            return Err("parameters are mutually exclusive: best|nobest".into());
        }
        if a.lock_timeout
            .is_some_and(|t| !(0.0..=86_400.0).contains(&t))
        {
            return Err("lock_timeout must be between 0 and 86400 seconds".into());
        }
        Ok(())
    }

    fn plan(a: Args, ctx: &ModuleCtx<'_>) -> Result<Plan, String> {
        let mut opts: Vec<String> = Vec::new();
        if let Some(c) = &a.conf_file {
            opts.push(format!("--config={c}"));
        }
        if let Some(r) = &a.installroot {
            opts.push(format!("--installroot={r}"));
        }
        if let Some(r) = &a.releasever {
            opts.push(format!("--releasever={r}"));
        }
        if a.disable_gpg_check {
            opts.push("--nogpgcheck".into());
        }
        // ansible-core disables, then enables.
        for r in &a.disablerepo {
            opts.push(format!("--disablerepo={r}"));
        }
        for r in &a.enablerepo {
            opts.push(format!("--enablerepo={r}"));
        }
        for e in &a.exclude {
            opts.push(format!("--exclude={e}"));
        }
        if !a.install_weak_deps {
            opts.push("--setopt=install_weak_deps=False".into());
        }
        if a.skip_broken {
            opts.push("--skip-broken".into());
        }
        match (a.best, a.nobest) {
            (Some(true), _) | (_, Some(false)) => opts.push("--best".into()),
            (Some(false), _) | (_, Some(true)) => opts.push("--nobest".into()),
            _ => {}
        }
        if a.cacheonly {
            opts.push("--cacheonly".into());
        }
        if let Some(d) = &a.disable_excludes {
            opts.push(format!("--disableexcludes={d}"));
        }
        for p in &a.disable_plugin {
            opts.push(format!("--disableplugin={p}"));
        }
        for p in &a.enable_plugin {
            opts.push(format!("--enableplugin={p}"));
        }
        if !a.sslverify || !a.validate_certs {
            opts.push("--setopt=sslverify=False".into());
        }
        if let Some(what) = a.list {
            if a.update_cache {
                opts.push("--refresh".into());
            }
            let q = opts.iter().map(|s| quote(s)).collect::<Vec<_>>().join(" ");
            let script = format!(
                "what={what}\nopts_q={opts}\n{PREAMBLE}{LIST_SCRIPT}",
                what = quote(what.trim()),
                opts = quote(&q),
            );
            return Ok(Plan::remote(script, None, listed));
        }
        let state = match a.state.as_deref() {
            Some("absent" | "removed") => "absent",
            Some("latest") => "latest",
            _ => "present",
        };
        let state = if a.name.is_empty() && a.autoremove {
            "absent"
        } else {
            state
        };
        // `--exclude`d names and the like stay dnf's to refuse.
        let specs: Vec<String> = a.name.iter().map(|n| n.trim().to_string()).collect();
        if a.update_cache && !specs.is_empty() {
            opts.push("--refresh".into());
        }
        let lock = a.lock_timeout.unwrap_or(30.0).max(0.0) as u64;
        let q = |v: &[String]| v.iter().map(|s| quote(s)).collect::<Vec<_>>().join(" ");
        let script = format!(
            "root={root}\nstate={state}\ncheck={check}\ncache_only={cache_only}\nautoremove={autoremove}\nallow_down={down}\nupdate_only={upd}\nerasing={erasing}\nlock={lock}\nopts_q={opts}\nset -- {specs}\n{PREAMBLE}{SCRIPT}",
            root = quote(a.installroot.as_deref().unwrap_or("/")),
            check = u8::from(ctx.check_mode),
            cache_only = u8::from(a.update_cache && specs.is_empty()),
            autoremove = u8::from(a.autoremove),
            down = u8::from(a.allow_downgrade),
            upd = u8::from(a.update_only),
            erasing = u8::from(a.allowerasing),
            opts = quote(&q(&opts)),
            specs = q(&specs),
        );
        let check = ctx.check_mode;
        Ok(Plan::remote(script, None, move |out| {
            let rep = write::report(&out);
            let lines = |k: &str| -> Vec<Value> {
                write::report_text(&rep, k)
                    .lines()
                    .filter(|l| !l.is_empty())
                    .map(Value::from)
                    .collect()
            };
            if let Some(e) = rep.get("error") {
                return ModuleResult::failed(e.clone());
            }
            if out.rc != Some(0) {
                return write::script_failure(&out, &rep);
            }
            if let Some(m) = rep.get("group_missing") {
                let mut f = ModuleResult::failed(m.clone());
                f.data.insert("results".into(), Value::Array(Vec::new()));
                return f;
            }
            let mut r = ModuleResult::ok();
            if rep.contains_key("cache_updated") {
                r.msg = Some("Cache updated".into());
                r.data.insert("results".into(), Value::Array(Vec::new()));
                r.data.insert("rc".into(), Value::from(0));
                return r;
            }
            let failures = lines("failures_b64");
            if !failures.is_empty() || rep.contains_key("dnf_failed") {
                let mut f = ModuleResult::failed(if failures.is_empty() {
                    format!(
                        "Depsolve Error occurred: {}",
                        write::report_text(&rep, "dnf_err_b64").trim()
                    )
                } else {
                    "Failed to install some of the specified packages".to_string()
                });
                f.data.insert("failures".into(), Value::Array(failures));
                f.data.insert("results".into(), Value::Array(Vec::new()));
                f.data.insert("rc".into(), Value::from(1));
                return f;
            }
            let mut results = lines("notes_b64");
            results.extend(
                lines("installed_b64")
                    .into_iter()
                    .map(|p| Value::from(format!("Installed: {}", p.as_str().unwrap_or("")))),
            );
            results.extend(
                lines("removed_b64")
                    .into_iter()
                    .map(|p| Value::from(format!("Removed: {}", p.as_str().unwrap_or("")))),
            );
            r.changed = rep.contains_key("changed");
            r.msg = Some(if r.changed {
                if check {
                    "Check mode: No changes made, but would have if not in check mode".into()
                } else {
                    String::new()
                }
            } else {
                "Nothing to do".into()
            });
            r.data.insert("results".into(), Value::Array(results));
            r.data.insert("rc".into(), Value::from(0));
            r
        }))
    }
}

/// What `list:` found, as ansible-core's dnf module returns it: a dictionary per package
/// (`envra`, `nevra`, `yumstate`, ...), or per enabled repository for `repos`.
fn listed(out: crate::connection::ExecOutput) -> ModuleResult {
    let rep = write::report(&out);
    if let Some(e) = rep.get("error") {
        return ModuleResult::failed(e.clone());
    }
    if out.rc != Some(0) || rep.contains_key("dnf_failed") {
        let mut f = if out.rc == Some(0) {
            ModuleResult::failed(write::report_text(&rep, "dnf_err_b64").trim())
        } else {
            write::script_failure(&out, &rep)
        };
        f.data.insert("results".into(), Value::Array(Vec::new()));
        f.data.insert("rc".into(), Value::from(1));
        return f;
    }
    let mut results = Vec::new();
    for line in write::report_text(&rep, "repos_b64").lines() {
        if let Some(id) = line.split_whitespace().next() {
            results.push(serde_json::json!({"repoid": id, "state": "enabled"}));
        }
    }
    for line in write::report_text(&rep, "packages_b64").lines() {
        let f: Vec<&str> = line.split('|').collect();
        let [name, epoch, version, release, arch, repo] = f[..] else {
            continue;
        };
        let envra = format!("{epoch}:{name}-{version}-{release}.{arch}");
        results.push(serde_json::json!({
            "name": name,
            "arch": arch,
            "epoch": epoch,
            "release": release,
            "version": version,
            "repo": repo,
            "envra": envra,
            "nevra": envra,
            "yumstate": if repo == "@System" { "installed" } else { "available" },
        }));
    }
    let mut r = ModuleResult::ok();
    r.msg = Some(String::new());
    r.data.insert("results".into(), Value::Array(results));
    r
}

/// What both host sides start with: `b64`, the refusal where dnf is
/// missing, a work directory `$t` removed at exit, and `d` running dnf with `opts_q`.
const PREAMBLE: &str = r#"b64() { base64 -w0; }
command -v dnf >/dev/null 2>&1 || { echo 'error=Could not find the dnf command on the host (olympus drives dnf itself; no Python module is needed)'; exit 0; }
t=$(mktemp -d) || exit 1
trap 'rm -rf "$t"' EXIT
d() { eval "LC_ALL=C dnf $opts_q \"\$@\""; }
"#;

/// The host side of `list:`, after [`PREAMBLE`]. Set before it: what, opts_q. Installed packages first, then
/// the repositories' (as dnf's query gives them to ansible-core).
const LIST_SCRIPT: &str = r#"qf='%{name}|%{epoch}|%{version}|%{release}|%{arch}|%{repoid}'
case "$what" in
  installed) d -q repoquery --installed --qf "$qf" ;;
  updates|upgrades) d -q repoquery --upgrades --qf "$qf" ;;
  available) d -q repoquery --available --qf "$qf" ;;
  repos|repositories) d -q repolist --enabled ;;
  *) d -q repoquery --installed --qf "$qf" -- "$what" && d -q repoquery --available --qf "$qf" -- "$what" ;;
esac >"$t/o" 2>"$t/e" || { echo dnf_failed=1; printf 'dnf_err_b64='; b64 < "$t/e"; echo; exit 0; }
case "$what" in
  repos|repositories) printf 'repos_b64='; grep -v '^repo id ' "$t/o" | b64; echo ;;
  *) printf 'packages_b64='; b64 < "$t/o"; echo ;;
esac
"#;

/// The host side, after [`PREAMBLE`]. Set before it: root, state, check, cache_only, autoremove, allow_down,
/// update_only, erasing, lock, opts_q (dnf's options, quoted) and the specs as "$@".
const SCRIPT: &str = r#"command -v rpm >/dev/null 2>&1 || { echo 'error=Could not find the rpm command on the host'; exit 0; }
[ "$(id -u)" = 0 ] || [ "$check" = 1 ] || { echo 'error=This command has to be run under the root user.'; exit 0; }
if [ "$cache_only" = 1 ]; then d -q makecache >"$t/o" 2>"$t/e" || { echo "error=Failed to synchronize repodata: $(tr '\n' ' ' < "$t/e")"; exit 0; }; echo cache_updated=1; exit 0; fi
# Wait for another dnf (its lock) up to lock seconds, as ansible-core's module waits.
i=0; while [ -e "$root/var/run/dnf.pid" ] && kill -0 "$(cat "$root/var/run/dnf.pid" 2>/dev/null)" 2>/dev/null && [ $i -lt "$lock" ]; do sleep 1; i=$((i + 1)); done
pkgs() { rpm --root "$root" -qa --qf '%{NAME}-%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}.%{ARCH}\n' 2>/dev/null | sort; }
pkgs > "$t/before"
: > "$t/install"; : > "$t/upgrade"; : > "$t/remove"; : > "$t/failures"; : > "$t/notes"; : > "$t/gnotes"; : > "$t/pnotes"
installed() { rpm --root "$root" -q "$1" >/dev/null 2>&1 || rpm --root "$root" -q --whatprovides "$1" >/dev/null 2>&1; }
# Groups and environments from the repositories' comps, read once: kind|installed|id|name.
groups() {
  [ -f "$t/g" ] && return
  d -q -v group list --hidden 2>/dev/null | while IFS= read -r line; do
    case "$line" in
      'Installed Environment Groups:') k=env; i=1 ;;
      'Available Environment Groups:') k=env; i=0 ;;
      'Installed Groups:'|'Installed Language Groups:') k=group; i=1 ;;
      'Available Groups:'|'Available Language Groups:') k=group; i=0 ;;
      '   '*'('*')') [ -n "$k" ] || continue; id=${line##*(}; n=${line#   }; echo "$k|$i|${id%)}|${n% (*}" ;;
      *) k= ;;
    esac
  done > "$t/g"
  tr '[:upper:]' '[:lower:]' < "$t/g" > "$t/glc"
}
# The group, else the environment, a pattern names (its id or name; exactly, else as a glob
# ignoring case, as dnf's comps do): sets gk (group/env), gi (1 when installed) and gid.
group_of() {
  groups; lp=$(printf '%s' "$1" | tr '[:upper:]' '[:lower:]')
  for k in group env; do
    for how in exact glob; do
      while IFS='|' read -r gk gi gid gn <&3 && IFS='|' read -r x y lid ln <&4; do
        [ "$gk" = "$k" ] || continue
        if [ $how = exact ]; then [ "$gid" = "$1" ] || [ "$gn" = "$1" ] && return 0
        else case "$lid" in $lp) return 0 ;; esac; case "$ln" in $lp) return 0 ;; esac
        fi
      done 3<"$t/g" 4<"$t/glc"
    done
  done
  return 1
}
# ansible-core's "Group X installed." unless the group has nothing it installs.
group_note() {
  n=$(d -q group info "$1" 2>/dev/null | { c=0; s=; while IFS= read -r l; do case "$l" in ' Mandatory Packages:'|' Default Packages:'|' Conditional Packages:') s=1 ;; '   '*) [ -n "$s" ] && c=$((c + 1)) ;; *) s= ;; esac; done; echo $c; })
  if [ "$n" -gt 0 ]; then echo "Group $1 installed." >> "$t/gnotes"; else echo "Group $1 already installed." >> "$t/gnotes"; fi
}
for spec in "$@"; do
  case "$spec" in
    @*)
      g=${spec#@}; g=$(printf '%s' "$g" | sed 's/^[[:space:]]*//; s/[[:space:]]*$//')
      group_of "$g" || { printf 'group_missing='; echo "No group $g available."; exit 0; }
      case "$state:$gk:$gi" in
        absent:*:1) echo "@$gid" >> "$t/remove" ;;
        absent:*) ;;
        latest:group:1) echo "Group $gid upgraded." >> "$t/gnotes"; echo "@$gid" >> "$t/upgrade" ;;
        latest:env:1) echo "@$gid" >> "$t/upgrade" ;;
        latest:group:0) [ "$update_only" = 1 ] || { group_note "$gid"; echo "@$gid" >> "$t/install"; } ;;
        *:group:*) group_note "$gid"; echo "@$gid" >> "$t/install" ;;
        *) echo "@$gid" >> "$t/install" ;;
      esac
      continue ;;
  esac
  case "$state" in
    absent)
      if installed "$spec"; then echo "$spec" >> "$t/remove"; else echo "No match for argument: $spec" >> "$t/pnotes"; fi ;;
    *)
      case "$spec" in
        *.rpm|*://*) echo "$spec" >> "$t/install"; echo "Installed $spec" >> "$t/notes"; continue ;;
        *[*?[]*) echo "$spec" >> "$t/install"; [ "$state" = latest ] && echo "$spec" >> "$t/upgrade"; continue ;;
      esac
      if installed "$spec"; then
        [ "$state" = latest ] && echo "$spec" >> "$t/upgrade"
        continue
      fi
      av=$(d -q repoquery --qf '%{name} %{evr}' "$spec" 2>/dev/null | tail -n 1)
      if [ -z "$av" ]; then echo "No package $spec available." >> "$t/failures"; continue; fi
      n=${av%% *}; want=${av#* }
      if rpm --root "$root" -q "$n" >/dev/null 2>&1; then
        have=$(rpm --root "$root" -q --qf '%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\n' "$n" | sort | tail -n 1)
        cmp=$(rpm --eval "%{lua: print(rpm.vercmp('$have', '$want'))}")
        if [ "$cmp" = 1 ]; then
          [ "$allow_down" = 1 ] && echo "$spec" >> "$t/install"
          continue
        fi
        [ "$state" = latest ] && { echo "$spec" >> "$t/upgrade"; continue; }
      elif [ "$update_only" = 1 ]; then
        echo "Packages providing $spec not installed due to update_only specified" >> "$t/pnotes"; continue
      fi
      echo "$spec" >> "$t/install" ;;
  esac
done
if [ -s "$t/failures" ]; then printf 'failures_b64='; b64 < "$t/failures"; echo; exit 0; fi
# ansible-core's order: files, then groups, then packages.
cat "$t/gnotes" "$t/pnotes" >> "$t/notes"
yes=-y; [ "$check" = 1 ] && yes=--assumeno
: > "$t/all"
# One dnf run: its output kept for check mode; a package it cannot find is the task's
# failure, as ansible-core words it.
run() {
  d $yes "$@" >"$t/o" 2>"$t/e"; rc=$?
  cat "$t/o" >> "$t/all"
  if [ $rc != 0 ] && ! { [ "$check" = 1 ] && grep -q '^Operation aborted' "$t/o" "$t/e"; }; then
    grep -ho 'No match for argument: .*' "$t/o" "$t/e" | sed 's/^No match for argument: /No package /; s/$/ available./' > "$t/failures"
    if [ -s "$t/failures" ]; then printf 'failures_b64='; b64 < "$t/failures"; echo; exit 0; fi
    echo dnf_failed=1; printf 'dnf_err_b64='; cat "$t/e" "$t/o" | b64; echo; exit 0
  fi
}
allow=; [ "$erasing" = 1 ] && allow=--allowerasing
[ -s "$t/install" ] && run install $allow $(cat "$t/install")
[ -s "$t/upgrade" ] && run upgrade $allow $(cat "$t/upgrade")
[ -s "$t/remove" ] && run remove --allowerasing $(cat "$t/remove")
[ "$autoremove" = 1 ] && [ "$state" = absent ] && run autoremove
if [ "$check" = 1 ]; then
  # The transactions dnf showed: package rows under each heading.
  sect=; : > "$t/after_i"; : > "$t/after_r"; prev=
  while IFS= read -r line; do
    case "$line" in
      *Groups:) sect=; prev=; continue ;;
      Installing*:|Upgrading:|Downgrading:|Reinstalling:) sect=i; prev=; continue ;;
      Removing*:) sect=r; prev=; continue ;;
      Transaction\ Summary*|'') sect=; continue ;;
      *' replacing '*) continue ;;
    esac
    [ -n "$sect" ] || continue
    set -- $prev $line
    if [ $# -lt 5 ]; then prev=$line; continue; fi
    prev=
    echo "$1-$3.$2" >> "$t/after_$sect"
    if [ "$sect" = i ] && rpm --root "$root" -q "$1" >/dev/null 2>&1; then rpm --root "$root" -q --qf '%{NAME}-%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}.%{ARCH}\n' "$1" >> "$t/after_r"; fi
  done < "$t/all"
  sort -u "$t/after_i" > "$t/installed"; sort -u "$t/after_r" > "$t/removed"
else
  pkgs > "$t/after"
  comm -13 "$t/before" "$t/after" > "$t/installed"
  comm -23 "$t/before" "$t/after" > "$t/removed"
fi
if [ -s "$t/installed" ] || [ -s "$t/removed" ]; then echo changed=1; fi
printf 'installed_b64='; b64 < "$t/installed"; echo
printf 'removed_b64='; b64 < "$t/removed"; echo
printf 'notes_b64='; b64 < "$t/notes"; echo
"#;
