//! `hostname`: the host's name, set the way ansible-core's hostname module sets it for the
//! host's system — `hostnamectl` where systemd runs, else a file per distribution
//! (`/etc/hostname` on Debian and its family, `/etc/sysconfig/network` on Red Hat's,
//! `/etc/conf.d/hostname` with OpenRC, `/etc/hostname` then `hostname -F` on Alpine) — and
//! the facts it returns (`ansible_hostname`, `ansible_nodename`, `ansible_fqdn`,
//! `ansible_domain`, the FQDN worked out as Python's `socket.getfqdn`).
//!
//! One round trip: the script finds the strategy, reads the current and permanent names,
//! sets what differs (a file is replaced atomically) and reports.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::args::{self, Param, param};
use super::registry::Spec;
use super::write;
use super::{Module, ModuleCtx, ModuleResult, Plan};
use crate::connection::quote;

pub static SPEC: Spec = Spec {
    name: "hostname",
    summary: "Set the host's name (hostnamectl, or the distribution's file).",
    params: PARAMS,
    ..Spec::host::<Hostname>()
};

const PARAMS: &[Param] = &[
    param("name", &[], "Required. The host's name."),
    param(
        "use",
        &[],
        "The strategy: `systemd` or `debian` (hostnamectl), `alpine`, `redhat`, `sles`, `openrc`; default: found from the host (systemd running, else its distribution). `generic`, BSDs, Solaris and macOS are not supported by olympus.",
    ),
];

#[derive(Debug, Deserialize)]
pub struct Args {
    #[serde(deserialize_with = "args::text")]
    name: String,
    #[serde(default, rename = "use", deserialize_with = "args::opt_text")]
    use_: Option<String>,
}

const ANSIBLE_STRATEGIES: &[&str] = &[
    "alpine", "debian", "freebsd", "generic", "macos", "macosx", "darwin", "openbsd", "openrc",
    "redhat", "sles", "solaris", "systemd",
];

pub struct Hostname;

impl Module for Hostname {
    type Args = Args;

    fn check(a: &Args) -> Result<(), String> {
        if let Some(u) = &a.use_ {
            if !ANSIBLE_STRATEGIES.contains(&u.as_str()) {
                return Err(format!(
                    "value of use must be one of: {}, got: {u}",
                    ANSIBLE_STRATEGIES.join(", ")
                ));
            }
            if matches!(
                u.as_str(),
                "freebsd" | "generic" | "macos" | "macosx" | "darwin" | "openbsd" | "solaris"
            ) {
                return Err(format!("use={u} is not supported by olympus yet"));
            }
        }
        // Letters, digits, dots, hyphens and underscores: the name goes into files and
        // commands on the host (ansible-core takes any text).
        if a.name.is_empty()
            || !a
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        {
            return Err(format!(
                "'{}' is not a host name (letters, digits, '.', '-' and '_')",
                a.name
            ));
        }
        Ok(())
    }

    fn plan(a: Args, ctx: &ModuleCtx<'_>) -> Result<Plan, String> {
        let strategy = match a.use_.as_deref() {
            Some("debian" | "systemd") => "systemd",
            Some(s) => s,
            None => "",
        };
        let script = format!(
            "name={}\nstrategy={}\ncheck={}\n{SCRIPT}{}",
            quote(&a.name),
            quote(strategy),
            u8::from(ctx.check_mode),
            super::setup::GETFQDN
        );
        let name = a.name.clone();
        let diff = ctx.diff;
        Ok(Plan::remote(script, None, move |out| {
            let rep = write::report(&out);
            if let Some(e) = rep.get("error") {
                return ModuleResult::failed(e.clone());
            }
            if rep.contains_key("cmd_failed") {
                return ModuleResult::failed(format!(
                    "Command failed rc={}, out={}, err={}",
                    rep.get("cmd_rc").cloned().unwrap_or_default(),
                    write::report_text(&rep, "cmd_out_b64"),
                    write::report_text(&rep, "cmd_err_b64"),
                ));
            }
            if out.rc != Some(0) {
                return write::script_failure(&out, &rep);
            }
            let current = write::report_text(&rep, "current_b64");
            let permanent = write::report_text(&rep, "permanent_b64");
            let changed = rep.contains_key("changed");
            let before = if name != current { current } else { permanent };
            let fqdn = rep.get("fqdn").cloned().unwrap_or_default();
            let mut facts = Map::new();
            facts.insert(
                "ansible_hostname".into(),
                Value::from(name.split('.').next().unwrap_or("")),
            );
            facts.insert("ansible_nodename".into(), Value::from(name.as_str()));
            facts.insert("ansible_fqdn".into(), Value::from(fqdn.as_str()));
            facts.insert(
                "ansible_domain".into(),
                Value::from(fqdn.split('.').skip(1).collect::<Vec<_>>().join(".")),
            );
            let mut r = ModuleResult {
                changed,
                ..ModuleResult::ok()
            };
            r.facts = facts.clone();
            r.data.insert("name".into(), Value::from(name.as_str()));
            r.data.insert("ansible_facts".into(), Value::Object(facts));
            if changed && diff {
                r.data.insert(
                    "diff".into(),
                    serde_json::json!({"before": format!("hostname = {before}\n"), "after": format!("hostname = {name}\n")}),
                );
            }
            r
        }))
    }
}

/// The host side: strategy, names, changes, FQDN. Set before it: name, strategy, check.
const SCRIPT: &str = r#"b64() { base64 -w0; }
o_f=$(mktemp) && e_f=$(mktemp) || exit 1
trap 'rm -f "$o_f" "$e_f"' EXIT
run() { "$@" >"$o_f" 2>"$e_f"; rc=$?; if [ $rc != 0 ]; then echo cmd_failed=1; echo "cmd_rc=$rc"; printf 'cmd_out_b64='; b64 < "$o_f"; echo; printf 'cmd_err_b64='; b64 < "$e_f"; echo; exit 0; fi; }
if [ -z "$strategy" ]; then
  if command -v systemctl >/dev/null 2>&1 && { [ -e /run/systemd/system/ ] || [ -e /dev/.run/systemd/ ] || [ -e /dev/.systemd/ ]; }; then strategy=systemd
  else
    id=; [ -r /etc/os-release ] && id=$(. /etc/os-release && echo "$ID")
    case "$id" in
      debian|ubuntu|kali|parrot|linuxmint|linaro|devuan|raspbian|uos|deepin|kylin|cumulus-linux|neon|void|pop) strategy=file ;;
      rhel|centos|anolis|cloudlinux|alinux|scientific|ol|virtuozzo|amzn|altlinux|eurolinux) strategy=redhat ;;
      alpine) strategy=alpine ;;
      gentoo) strategy=openrc ;;
      *) pretty=${id:-unknown}; echo "error=hostname module cannot be used on platform Linux ($(printf '%s' "$pretty" | sed 's/^./\U&/'))"; exit 0 ;;
    esac
  fi
fi
file=/etc/hostname
case "$strategy" in sles) file=/etc/HOSTNAME ;; alpine) strategy=file; alpine=1 ;; esac
[ "$strategy" = sles ] && strategy=file
read_file() { if [ -f "$1" ]; then tr -d '\n' < "$1" | sed 's/^[[:space:]]*//;s/[[:space:]]*$//'; fi; }
# A file replaced atomically with $1 as its content, keeping its mode and owner.
put_file() {
  t=$(mktemp "$(dirname -- "$2")/.olympus.XXXXXXXX") || exit 1
  printf '%s' "$1" > "$t" || { rm -f "$t"; exit 1; }
  if [ -f "$2" ]; then chmod --reference="$2" "$t"; chown --reference="$2" "$t" 2>/dev/null; else chmod 644 "$t"; fi
  mv -f -- "$t" "$2" || { rm -f "$t"; exit 1; }
}
changed=0
case "$strategy" in
  systemd)
    hc=$(command -v hostnamectl) || { echo 'error=Failed to find required executable "hostnamectl"'; exit 0; }
    if [ ${#name} -gt 64 ]; then echo 'error=name cannot be longer than 64 characters on systemd servers, try a shorter name'; exit 0; fi
    run "$hc" --transient status; current=$(cat "$o_f")
    run "$hc" --static status; permanent=$(cat "$o_f")
    if [ "$permanent" != "$name" ]; then changed=1; [ $check = 1 ] || run "$hc" --pretty --static set-hostname "$name"; fi
    if [ "$current" != "$name" ]; then changed=1; [ $check = 1 ] || run "$hc" --transient set-hostname "$name"; fi
    ;;
  file)
    permanent=$(read_file "$file"); current=$permanent
    if [ "$permanent" != "$name" ]; then
      changed=1
      if [ $check = 0 ]; then
        put_file "$name
" "$file"
        [ -n "${alpine:-}" ] && run hostname -F "$file"
      fi
    fi
    ;;
  redhat)
    f=/etc/sysconfig/network
    permanent=$(grep -m1 '^[[:space:]]*HOSTNAME' "$f" 2>/dev/null | cut -d= -f2 | sed 's/^[[:space:]]*//;s/[[:space:]]*$//')
    if ! grep -q '^[[:space:]]*HOSTNAME' "$f" 2>/dev/null; then echo "error=Unable to locate HOSTNAME entry in $f"; exit 0; fi
    current=$permanent
    if [ "$permanent" != "$name" ]; then
      changed=1
      [ $check = 1 ] || put_file "$(sed "s/^[[:space:]]*HOSTNAME.*/HOSTNAME=$name/" "$f")
" "$f"
    fi
    ;;
  openrc)
    f=/etc/conf.d/hostname
    permanent=$(sed -n 's/^[[:space:]]*hostname=//p' "$f" 2>/dev/null | head -n 1 | tr -d '"')
    current=$permanent
    if [ "$permanent" != "$name" ]; then
      changed=1
      if [ $check = 0 ]; then
        new=; found=0
        while IFS= read -r l || [ -n "$l" ]; do
          l=$(printf '%s' "$l" | sed 's/^[[:space:]]*//;s/[[:space:]]*$//')
          case "$l" in hostname=*) if [ $found = 0 ]; then l="hostname=\"$name\""; found=1; fi ;; esac
          new="$new$l
"
        done < "$f"
        put_file "$new" "$f"
      fi
    fi
    ;;
esac
printf 'current_b64='; printf '%s' "$current" | b64; echo
printf 'permanent_b64='; printf '%s' "$permanent" | b64; echo
[ $changed = 1 ] && echo changed=1
"#;
