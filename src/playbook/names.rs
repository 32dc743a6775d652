//! Module names: the ones olympus implements, and Ansible's builtin ones it does not (yet),
//! so a playbook using one is refused by name instead of as a typo.

/// Modules the playbook parser accepts: the core modules of the playbook engine. Before a
/// run, the engine refuses any module in this list that `modules/` does not implement yet.
pub const MODULES: &[&str] = &[
    "assert",
    "blockinfile",
    "command",
    "copy",
    "debug",
    "fail",
    "fetch",
    "file",
    "import_tasks",
    "include_tasks",
    "include_vars",
    "lineinfile",
    "meta",
    "pause",
    "ping",
    "raw",
    "replace",
    "script",
    "set_fact",
    "setup",
    "shell",
    "slurp",
    "stat",
    "template",
    "wait_for",
];

/// ansible-core 2.19's `ansible.builtin` modules that olympus does not implement.
const OTHER_ANSIBLE_MODULES: &[&str] = &[
    "add_host",
    "apt",
    "apt_key",
    "apt_repository",
    "assemble",
    "async_status",
    "cron",
    "deb822_repository",
    "debconf",
    "dnf",
    "dnf5",
    "dpkg_selections",
    "expect",
    "find",
    "gather_facts",
    "get_url",
    "getent",
    "git",
    "group",
    "group_by",
    "hostname",
    "import_playbook",
    "import_role",
    "include_role",
    "iptables",
    "known_hosts",
    "mount_facts",
    "package",
    "package_facts",
    "pip",
    "reboot",
    "rpm_key",
    "service",
    "service_facts",
    "set_stats",
    "subversion",
    "systemd",
    "systemd_service",
    "sysvinit",
    "tempfile",
    "unarchive",
    "uri",
    "user",
    "validate_argument_spec",
    "wait_for_connection",
    "yum_repository",
];

/// The short name of an implemented module: `copy`, `ansible.builtin.copy` and
/// `ansible.legacy.copy` are all `copy`.
pub fn canonical_module(name: &str) -> Option<&'static str> {
    let short = name
        .strip_prefix("ansible.builtin.")
        .or_else(|| name.strip_prefix("ansible.legacy."))
        .unwrap_or(name);
    MODULES.iter().copied().find(|m| *m == short)
}

/// True for Ansible builtin modules that olympus does not implement.
pub fn is_known_ansible_module(name: &str) -> bool {
    let short = name
        .strip_prefix("ansible.builtin.")
        .or_else(|| name.strip_prefix("ansible.legacy."))
        .unwrap_or(name);
    OTHER_ANSIBLE_MODULES.contains(&short)
}
