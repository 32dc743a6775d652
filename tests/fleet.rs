//! The test fleet itself: real sshd on many loopback addresses, reachable with OpenSSH.

mod common;

use common::fleet::Fleet;

#[test]
fn twenty_hosts_each_answer_a_plain_ssh_command() {
    let fleet = Fleet::start(20);
    assert_eq!(fleet.hosts.len(), 20);
    let children: Vec<_> = (0..fleet.hosts.len())
        .map(|i| {
            fleet
                .ssh_command(i, "echo \"$(id -un) $SSH_CONNECTION\"")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn ssh")
        })
        .collect();
    for (i, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().expect("ssh output");
        let h = &fleet.hosts[i];
        assert!(
            out.status.success(),
            "{}: ssh failed: {}",
            h.name,
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let fields: Vec<&str> = text.split_whitespace().collect();
        // "<user> <client ip> <client port> <server ip> <server port>"
        assert_eq!(fields.len(), 5, "{}: {text:?}", h.name);
        assert_eq!(
            fields[0], fleet.user,
            "{}: logged in as the fleet user",
            h.name
        );
        assert_eq!(
            fields[3],
            h.addr.to_string(),
            "{}: answered on its own address",
            h.name
        );
        assert_eq!(fields[4], h.port.to_string(), "{}", h.name);
    }
}

#[test]
fn inventory_of_the_fleet_lists_every_host() {
    let fleet = Fleet::start(3);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_olympus"))
        .args(["inventory", "-i"])
        .arg(&fleet.inventory)
        .args(["--host", "h02"])
        .output()
        .expect("run olympus");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let vars: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(vars["ansible_host"], fleet.hosts[1].addr.to_string());
    assert_eq!(vars["ansible_port"], fleet.hosts[1].port);
    assert_eq!(vars["ansible_user"], fleet.user.as_str());
}

#[test]
fn a_host_with_its_own_sshd_can_be_stopped() {
    let mut fleet = Fleet::builder(2).sshd_per_host().start();
    assert!(fleet.ssh(0, "true").status.success());
    fleet.stop_host(0);
    assert!(
        !fleet.ssh(0, "true").status.success(),
        "stopped host still answers"
    );
    assert!(
        fleet.ssh(1, "true").status.success(),
        "the other host must keep answering"
    );
}
