//! Unit tests of playbook parsing.

use std::path::PathBuf;

use serde_json::json;

use super::*;

fn write(files: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tmp");
    for (rel, text) in files {
        let p = dir.path().join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(p, text).expect("write");
    }
    let main = dir.path().join(files[0].0);
    (dir, main)
}

fn parse(text: &str) -> Playbook {
    let (_d, p) = write(&[("site.yml", text)]);
    load(&p).expect("parses")
}

fn parse_err(text: &str) -> String {
    let (_d, p) = write(&[("site.yml", text)]);
    load(&p).expect_err("refused").to_string()
}

fn module(t: &Task) -> (&str, &Vars) {
    match &t.action {
        Action::Module { module, args } => (module.name, args),
        Action::Block { .. } => panic!("not a module task"),
    }
}

#[test]
fn plays_tasks_and_keywords() {
    let pb = parse(
        "\
- name: Web
  hosts: [web, db]
  serial: [1, '30%']
  max_fail_percentage: 20
  any_errors_fatal: true
  strategy: free
  order: sorted
  gather_facts: no
  become: yes
  vars: {port: 80}
  tasks:
    - name: Say
      ansible.builtin.debug:
        msg: hi
      when: port == 80
      tags: [a, b]
      register: out
      notify: restart
    - command: echo {{ port }} chdir=/tmp
    - copy: src=a dest=/tmp/b mode=0644
      loop: [1, 2]
      loop_control: {loop_var: n}
  handlers:
    - name: restart
      debug: msg=restarting
      listen: web restart
",
    );
    let play = &pb.plays[0];
    assert_eq!(play.hosts, "web,db");
    assert_eq!(play.strategy, Strategy::Free);
    assert_eq!(play.serial, Some(json!([1, "30%"])));
    assert_eq!(play.common.become_, Some(json!(true)));
    assert_eq!(play.gather_facts, Some(json!(false)));
    assert_eq!(play.common.vars["port"], json!(80));
    let t = &play.tasks[0];
    assert_eq!(module(t).0, "debug");
    assert_eq!(module(t).1["msg"], json!("hi"));
    assert_eq!(t.common.when, [json!("port == 80")]);
    assert_eq!(t.common.tags, ["a", "b"]);
    assert_eq!(t.register.as_deref(), Some("out"));
    assert_eq!(t.notify, ["restart"]);
    assert_eq!(t.origin.pos.line, 12);
    let (m, args) = module(&play.tasks[1]);
    assert_eq!(m, "command");
    assert_eq!(
        Value::Object(args.clone()),
        json!({"chdir": "/tmp", "_raw_params": "echo {{ port }}"})
    );
    assert_eq!(play.tasks[2].loop_, Some(Loop::Items(json!([1, 2]))));
    assert_eq!(module(&play.tasks[2]).1["mode"], json!("0644"));
    assert_eq!(play.handlers[0].listen, ["web restart"]);
}

#[test]
fn blocks_and_action_forms() {
    let pb = parse(
        "\
- hosts: all
  tasks:
    - block:
        - shell: exit 1
      rescue:
        - debug: msg=rescued
      always:
        - ping:
      when: true
    - action: copy src=a dest=b
    - local_action: {module: command, _raw_params: hostname}
    - command: ls
      args: {chdir: /srv}
    - with_items: [[1, 2], 3]
      debug: var=item
",
    );
    let tasks = &pb.plays[0].tasks;
    let Action::Block {
        block,
        rescue,
        always,
    } = &tasks[0].action
    else {
        panic!("block")
    };
    assert_eq!((block.len(), rescue.len(), always.len()), (1, 1, 1));
    assert_eq!(module(&tasks[1]).0, "copy");
    assert_eq!(module(&tasks[1]).1["dest"], json!("b"));
    assert_eq!(module(&tasks[2]).0, "command");
    assert_eq!(tasks[2].common.delegate_to, Some(json!("localhost")));
    assert_eq!(module(&tasks[3]).1["chdir"], json!("/srv"));
    assert_eq!(
        tasks[4].loop_,
        Some(Loop::WithItems {
            items: json!([[1, 2], 3]),
            flatten: true
        })
    );
}

#[test]
fn import_tasks_and_import_playbook_are_static() {
    let (_d, p) = write(&[
        (
            "site.yml",
            "- import_playbook: other.yml\n- hosts: all\n  tasks:\n    - import_tasks: inc.yml\n      when: x\n",
        ),
        ("other.yml", "- hosts: db\n  tasks: []\n"),
        ("tasks/inc.yml", "- debug: msg=one\n- debug: msg=two\n"),
    ]);
    let pb = load(&p).expect("parses");
    assert_eq!(pb.plays.len(), 2);
    assert_eq!(pb.plays[0].hosts, "db");
    let t = &pb.plays[1].tasks[0];
    let Action::Block { block, .. } = &t.action else {
        panic!("import becomes a block")
    };
    assert_eq!(block.len(), 2);
    assert_eq!(t.common.when, [json!("x")]);
    assert!(block[1].origin.file.ends_with("tasks/inc.yml"));
    assert_eq!(block[1].origin.pos.line, 2);
}

#[test]
fn unknown_and_unsupported_names_are_refused_with_position() {
    let e = parse_err("- hosts: all\n  tasks:\n    - debgu: msg=x\n");
    assert!(e.contains("site.yml:3:7"), "{e}");
    assert!(e.contains("did you mean 'debug'"), "{e}");

    let e = parse_err("- hosts: all\n  tasks:\n    - debug: msg=x\n      whn: x\n");
    assert!(e.contains("site.yml:4:7"), "{e}");
    assert!(e.contains("did you mean 'when'"), "{e}");

    let e = parse_err("- hosts: all\n  tasks:\n    - expect: command=passwd\n");
    assert!(
        e.contains("module 'expect' is not implemented by olympus yet"),
        "{e}"
    );

    let e = parse_err("- hosts: all\n  tasks:\n    - community.general.ufw: rule=allow\n");
    assert!(e.contains("collection"), "{e}");

    let e = parse_err(
        "- hosts: all\n  module_defaults:\n    copy: {destination: /x}\n  tasks:\n    - ping:\n",
    );
    assert!(
        e.contains("site.yml:3:5") && e.contains("module_defaults") && e.contains("dest"),
        "{e}"
    );
    let e = parse_err("- hosts: all\n  module_defaults: \"{{ d }}\"\n  tasks:\n    - ping:\n");
    assert!(e.contains("Only the values may contain templates"), "{e}");

    let e = parse_err("- hosts: all\n  tasks:\n    - command: ls\n      throttle: 2\n");
    assert!(e.contains("keyword 'throttle' is not supported"), "{e}");
    let e =
        parse_err("- hosts: all\n  tasks:\n    - command: ls\n      async: 10\n      poll: -1\n");
    assert!(e.contains("site.yml:5:13"), "{e}");

    let e = parse_err("- hosts: all\n  taks:\n    - ping:\n");
    assert!(e.contains("site.yml:2:3"), "{e}");
    assert!(e.contains("did you mean 'tasks'"), "{e}");

    let e = parse_err("- name: no hosts\n  tasks: []\n");
    assert!(e.contains("needs 'hosts:'"), "{e}");

    let e = parse_err("- hosts: all\n  tasks:\n    - command: ls\n      shell: ls\n");
    assert!(e.contains("conflicting actions"), "{e}");

    let e = parse_err("- hosts: all\n  tasks:\n    - name: nothing\n");
    assert!(e.contains("no module"), "{e}");

    let e = parse_err("- hosts: all\n  tasks:\n    - copy: src=a oops\n");
    assert!(e.contains("expected key=value"), "{e}");

    let e = parse_err("- hosts: all\n  strategy: host_pinned\n");
    assert!(e.contains("strategy 'host_pinned'"), "{e}");

    let e = parse_err(
        "- hosts: all\n  tasks:\n    - debug: msg=x\n      loop: [1]\n      with_items: [2]\n",
    );
    assert!(e.contains("only one loop"), "{e}");

    let e = parse_err("hosts: all\n");
    assert!(e.contains("list of plays"), "{e}");

    let e = parse_err("- hosts: all\n  roles: [web]\n");
    assert!(e.contains("role 'web' not found"), "{e}");
    assert!(e.contains("site.yml:2:11"), "{e}");

    let e = parse_err("- hosts: all\n  tasks:\n    - block: []\n      command: ls\n");
    assert!(e.contains("a block cannot also run a module"), "{e}");
}

#[test]
fn bad_yaml_is_refused_with_position() {
    let e = parse_err("- hosts: all\n  tasks:\n    - debug: {msg: x\n");
    assert!(e.contains("site.yml:"), "{e}");
    assert!(e.contains("invalid YAML"), "{e}");
}

#[test]
fn shipped_example_playbook_parses() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks/hello.yml");
    let pb = load(&p).expect("the README's playbook parses");
    assert_eq!(pb.plays[0].hosts, "localhost");
}
