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
        Ok(Plan::remote(SCRIPT.to_string(), None, finish))
    }
}

const SCRIPT: &str = r#"h=$(hostname 2>/dev/null || uname -n)
echo "hostname=${h%%.*}"
echo "nodename=$(uname -n)"
echo "fqdn=$(hostname -f 2>/dev/null || echo "$h")"
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
    case "$k" in MemTotal:) echo "memtotal_kb=$v";; MemFree:) echo "memfree_kb=$v";; esac
  done < /proc/meminfo
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
printf '__ENV__\0'; env -0
"#;

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
    let get = |k: &str| kv.get(k).copied().unwrap_or("").trim().to_string();
    let num = |k: &str| get(k).parse::<u64>().unwrap_or(0);
    let version = get("os_version");
    let major = version.split('.').next().unwrap_or("").to_string();
    let facts = json!({
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
        "service_mgr": get("service_mgr"),
        "pkg_mgr": get("pkg_mgr"),
        "env": env,
    });
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
