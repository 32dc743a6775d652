//! `setup` (fact gathering): one shell script, one round trip, no Python on the host.

use serde::Deserialize;
use serde_json::{Value, json};

use super::args::Param;
use super::registry::Spec;
use super::{Module, ModuleCtx, ModuleResult, Plan};
use crate::connection::ExecOutput;

pub static SPEC: Spec = Spec {
    name: "setup",
    summary: "Gather facts about the host (the play's implicit `Gathering Facts`).",
    params: PARAMS,
    ..Spec::host::<Setup>()
};

/// No options yet: olympus gathers one set of facts (docs/playbooks.md lists them).
const PARAMS: &[Param] = &[];

#[derive(Debug, Deserialize)]
pub struct Args {}

pub struct Setup;

impl Module for Setup {
    type Args = Args;

    fn plan(_: Args, _ctx: &ModuleCtx<'_>) -> Result<Plan, String> {
        Ok(Plan::remote(format!("{GETFQDN}{SCRIPT}"), None, finish))
    }
}

/// Prints `fqdn=` as Python's `socket.getfqdn()` finds it (what ansible-core reports): the
/// first dotted name among those the host's own address resolves back to, else the first.
pub(super) const GETFQDN: &str = r#"( h=$(uname -n); fqdn=$h
  ip=$(getent hosts "$h" 2>/dev/null) && ip=${ip%%[ 	]*} && names=$(getent hosts "$ip" 2>/dev/null) && {
    set -- $names; shift; fqdn=$1
    for n in "$@"; do case "$n" in *.*) fqdn=$n; break;; esac; done
  }
  echo "fqdn=$fqdn" )
"#;

const SCRIPT: &str = r#"h=$(hostname 2>/dev/null || uname -n)
echo "hostname=${h%%.*}"
echo "nodename=$(uname -n)"
if [ -r /etc/os-release ]; then . /etc/os-release; fi
echo "os_id=${ID:-}"
echo "os_like=${ID_LIKE:-}"
echo "os_name=${NAME:-}"
echo "os_version=${VERSION_ID:-}"
echo "os_codename=${VERSION_CODENAME:-}"
echo "arch=$(uname -m)"
echo "kernel=$(uname -r)"
echo "system=$(uname -s)"
echo "cpus=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)"
if [ -r /proc/meminfo ]; then
  while read -r k v _; do
    case "$k" in
      MemTotal:) echo "memtotal_kb=$v";; MemFree:) echo "memfree_kb=$v";;
      Buffers:) echo "buffers_kb=$v";; Cached:) echo "cached_kb=$v";;
      SwapTotal:) echo "swaptotal_kb=$v";; SwapFree:) echo "swapfree_kb=$v";; SwapCached:) echo "swapcached_kb=$v";;
    esac
  done < /proc/meminfo
fi
echo "userspace_bits=$(getconf LONG_BIT 2>/dev/null)"
pw=$(getent passwd "$(id -un)" 2>/dev/null)
echo "user_dir=$(printf '%s' "$pw" | cut -d: -f6)"
echo "user_shell=$(printf '%s' "$pw" | cut -d: -f7)"
if [ -r /sys/fs/selinux/enforce ]; then
  echo "selinux=enabled"; echo "selinux_enforce=$(cat /sys/fs/selinux/enforce)"
else echo "selinux=disabled"; fi
echo "os_pretty=${PRETTY_NAME:-}"
if command -v ip >/dev/null 2>&1; then
  echo "ipv4_all=$(ip -4 -o addr show scope global 2>/dev/null | while read -r _ _ _ a _; do printf '%s ' "${a%%/*}"; done)"
fi
# Mounted file systems on devices (and network shares), with their sizes.
if [ -r /proc/mounts ]; then
  while read -r dev mnt fs opts dump pass; do
    case "$dev" in /*|*:/*) ;; *) continue ;; esac
    mnt=$(printf '%b' "$mnt")
    st=$(stat -f -c '%S %b %a %f %c %d' -- "$mnt" 2>/dev/null) || continue
    printf 'mount=%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$dev" "$mnt" "$fs" "$opts" "$dump" "$pass" "$st"
  done < /proc/mounts
fi
if command -v ip >/dev/null 2>&1; then
  set -- $(ip -4 route get 192.0.2.1 2>/dev/null | head -n 1)
  while [ $# -gt 0 ]; do
    case "$1" in dev) echo "ipv4_interface=$2";; src) echo "ipv4_address=$2";; via) echo "ipv4_gateway=$2";; esac
    shift
  done
fi
echo "user_id=$(id -un)"
echo "user_uid=$(id -u)"
p1=$(cat /proc/1/comm 2>/dev/null); p1=${p1##*/}
case "$p1" in init|*sh) p1= ;; esac
if [ -n "$p1" ]; then
  case "$p1" in procd) sm=openwrt_init ;; runit-init) sm=runit ;; svscan) sm=svc ;; openrc-init) sm=openrc ;; *) sm=$p1 ;; esac
elif command -v systemctl >/dev/null 2>&1 && { [ -d /run/systemd/system ] || [ -d /dev/.run/systemd ] || [ -d /dev/.systemd ]; }; then sm=systemd
elif command -v initctl >/dev/null 2>&1 && [ -d /etc/init ]; then sm=upstart
elif [ -e /sbin/openrc ]; then sm=openrc
elif [ -L /sbin/init ] && case "$(readlink -f /sbin/init)" in *systemd) true ;; *) false ;; esac; then sm=systemd
elif [ -d /etc/init.d ]; then sm=sysvinit
else sm=service
fi
echo "service_mgr=$sm"
pm=unknown
for c in /usr/bin/apt-get:apt /usr/bin/dnf5:dnf5 /usr/bin/dnf:dnf /usr/bin/yum:yum /sbin/apk:apk /usr/bin/zypper:zypper /usr/bin/pacman:pacman; do
  if [ -x "${c%%:*}" ]; then pm=${c##*:}; break; fi
done
echo "pkg_mgr=$pm"
# The Python ansible-core would run modules with (hosts need none: no fact without it).
py=; if [ -x /usr/bin/python3 ]; then py=/usr/bin/python3; else py=$(command -v python3 2>/dev/null); fi
if [ -n "$py" ]; then echo "python_exe=$py"; v=$("$py" -V 2>&1); echo "python_version=${v#Python }"; fi
printf '__ENV__\0'; env -0
"#;

/// `ansible_python` as ansible-core's setup reports its interpreter: executable, type, and
/// the version split (`3.11.2` → major 3, minor 11, micro 2, final, serial 0).
fn python_fact(exe: &str, version: &str) -> Value {
    let mut parts = version.trim().split('.');
    let mut num = || {
        parts
            .next()
            .and_then(|p| p.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    let (major, minor, micro) = (num(), num(), num());
    serde_json::json!({
        "executable": exe,
        "has_sslcontext": true,
        "type": "cpython",
        "version": {"major": major, "minor": minor, "micro": micro, "releaselevel": "final", "serial": 0},
        "version_info": [major, minor, micro, "final", 0],
    })
}

fn distribution(id: &str, name: &str) -> String {
    match id {
        "debian" => "Debian",
        "ubuntu" => "Ubuntu",
        "centos" => "CentOS",
        "rhel" => "RedHat",
        "fedora" => "Fedora",
        "rocky" => "Rocky",
        "almalinux" => "AlmaLinux",
        "amzn" => "Amazon",
        "alpine" => "Alpine",
        "arch" => "Archlinux",
        "opensuse-leap" | "opensuse-tumbleweed" | "opensuse" => "openSUSE Leap",
        "sles" => "SLES",
        _ => return name.split_whitespace().next().unwrap_or("").to_string(),
    }
    .to_string()
}

fn os_family(id: &str, like: &str) -> &'static str {
    let all = format!("{id} {like}");
    let has = |w: &str| all.split_whitespace().any(|x| x == w);
    if has("debian") || has("ubuntu") {
        "Debian"
    } else if has("rhel") || has("fedora") || has("centos") || id == "amzn" {
        "RedHat"
    } else if has("suse") || id.starts_with("opensuse") || id == "sles" {
        "Suse"
    } else if has("arch") {
        "Archlinux"
    } else if id == "alpine" {
        "Alpine"
    } else {
        "Linux"
    }
}

/// `memory_mb` as ansible-core computes it from /proc/meminfo.
fn memory_mb(num: &dyn Fn(&str) -> u64) -> Value {
    let mb = |k: &str| num(k) / 1024;
    let total = mb("memtotal_kb");
    let free = mb("memfree_kb");
    let nocache_free = free + mb("buffers_kb") + mb("cached_kb");
    let (stotal, sfree) = (mb("swaptotal_kb"), mb("swapfree_kb"));
    json!({
        "real": {"total": total, "free": free, "used": total.saturating_sub(free)},
        "nocache": {"free": nocache_free, "used": total.saturating_sub(nocache_free)},
        "swap": {"total": stotal, "free": sfree, "used": stotal.saturating_sub(sfree), "cached": mb("swapcached_kb")},
    })
}

/// One `ansible_mounts` entry from `device mount fstype options dump pass` and
/// `stat -f`'s block size, blocks, available, free, inodes and free inodes.
fn mount_fact(line: &str) -> Option<Value> {
    let f: Vec<&str> = line.split('\t').collect();
    let [dev, mnt, fs, opts, dump, pass, st] = f.as_slice() else {
        return None;
    };
    let n: Vec<u64> = st
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    let [bsize, blocks, avail, bfree, files, ffree] = n.as_slice() else {
        return None;
    };
    Some(json!({
        "device": dev, "mount": mnt, "fstype": fs, "options": opts,
        "dump": dump.parse::<u64>().unwrap_or(0), "passno": pass.parse::<u64>().unwrap_or(0),
        "block_size": bsize, "block_total": blocks, "block_available": avail,
        "block_used": blocks.saturating_sub(*bfree),
        "inode_total": files, "inode_available": ffree, "inode_used": files.saturating_sub(*ffree),
        "size_total": bsize * blocks, "size_available": bsize * avail,
        "uuid": "N/A",
    }))
}

fn finish(out: ExecOutput) -> ModuleResult {
    if out.rc != Some(0) {
        return ModuleResult::failed(format!(
            "fact gathering failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    // key=value lines, then the environment, NUL-separated (values may hold newlines).
    let (text, env_part) = text.split_once("__ENV__\0").unwrap_or((&text, ""));
    let env: serde_json::Map<String, Value> = env_part
        .split('\0')
        .filter_map(|e| e.split_once('='))
        .map(|(k, v)| (k.to_string(), Value::from(v)))
        .collect();
    let kv: std::collections::HashMap<&str, &str> =
        text.lines().filter_map(|l| l.split_once('=')).collect();
    let mounts: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("mount="))
        .filter_map(mount_fact)
        .collect();
    let get = |k: &str| kv.get(k).copied().unwrap_or("").trim().to_string();
    let num = |k: &str| get(k).parse::<u64>().unwrap_or(0);
    let version = get("os_version");
    let major = version.split('.').next().unwrap_or("").to_string();
    let mut facts = json!({
        "hostname": get("hostname"),
        "nodename": get("nodename"),
        "fqdn": get("fqdn"),
        "distribution": distribution(&get("os_id"), &get("os_name")),
        "distribution_version": version,
        "distribution_major_version": major,
        "distribution_release": get("os_codename"),
        "os_family": os_family(&get("os_id"), &get("os_like")),
        "architecture": get("arch"),
        "kernel": get("kernel"),
        "system": get("system"),
        "processor_vcpus": num("cpus"),
        "processor_nproc": num("cpus"),
        "memtotal_mb": num("memtotal_kb") / 1024,
        "memfree_mb": num("memfree_kb") / 1024,
        "default_ipv4": {
            "address": get("ipv4_address"),
            "interface": get("ipv4_interface"),
            "gateway": get("ipv4_gateway"),
        },
        "user_id": get("user_id"),
        "user_uid": num("user_uid"),
        "memory_mb": memory_mb(&num),
        "swaptotal_mb": num("swaptotal_kb") / 1024,
        "swapfree_mb": num("swapfree_kb") / 1024,
        "mounts": mounts,
        "selinux": if get("selinux") == "enabled" {
            json!({"status": "enabled", "mode": if get("selinux_enforce") == "1" { "enforcing" } else { "permissive" }})
        } else {
            json!({"status": "disabled"})
        },
        "machine": get("arch"),
        "userspace_bits": get("userspace_bits"),
        "user_dir": get("user_dir"),
        "user_shell": get("user_shell"),
        "domain": get("fqdn").split('.').skip(1).collect::<Vec<_>>().join("."),
        "all_ipv4_addresses": get("ipv4_all").split_whitespace().map(Value::from).collect::<Vec<_>>(),
        "lsb": {
            "codename": get("os_codename"),
            "description": get("os_pretty"),
            "id": distribution(&get("os_id"), &get("os_name")),
            "major_release": major.clone(),
            "release": version.clone(),
        },
        "service_mgr": get("service_mgr"),
        "pkg_mgr": get("pkg_mgr"),
        "env": env,
    });
    if let (Some(exe), Some(ver)) = (kv.get("python_exe"), kv.get("python_version"))
        && let Value::Object(f) = &mut facts
    {
        f.insert("python".into(), python_fact(exe, ver));
        f.insert("python_version".into(), Value::from(ver.trim()));
    }
    let mut r = ModuleResult::ok();
    let facts = facts.as_object().cloned().unwrap_or_default();
    // Facts are set both as `ansible_facts.x` and as `ansible_x` (Ansible's
    // INJECT_FACTS_AS_VARS default).
    for (k, v) in &facts {
        r.facts.insert(format!("ansible_{k}"), v.clone());
    }
    r.facts
        .insert("ansible_facts".into(), Value::Object(facts.clone()));
    r.data.insert("ansible_facts".into(), Value::Object(facts));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_script_output() {
        let out = ExecOutput {
            rc: Some(0),
            stdout: b"hostname=web1\nos_id=ubuntu\nos_like=debian\nos_name=Ubuntu\nos_version=24.04\narch=x86_64\ncpus=4\nmemtotal_kb=2048000\nipv4_address=10.0.0.5\nipv4_interface=eth0\n".to_vec(),
            ..Default::default()
        };
        let r = finish(out);
        assert_eq!(r.facts["ansible_hostname"], "web1");
        assert_eq!(r.facts["ansible_distribution"], "Ubuntu");
        assert_eq!(r.facts["ansible_os_family"], "Debian");
        assert_eq!(r.facts["ansible_distribution_major_version"], "24");
        assert_eq!(r.facts["ansible_processor_vcpus"], 4);
        assert_eq!(r.facts["ansible_memtotal_mb"], 2000);
        assert_eq!(
            r.facts["ansible_facts"]["default_ipv4"]["address"],
            "10.0.0.5"
        );
    }

    #[test]
    fn the_script_runs_here() {
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(SCRIPT)
            .output()
            .expect("sh");
        let r = finish(ExecOutput {
            rc: out.status.code().map(|c| c as u32),
            stdout: out.stdout,
            stderr: out.stderr,
            ..Default::default()
        });
        assert!(!r.failed, "{r:?}");
        assert!(
            !r.facts["ansible_hostname"]
                .as_str()
                .unwrap_or("")
                .is_empty()
        );
        assert_eq!(r.facts["ansible_system"], "Linux");
    }
}
