//! Unit tests of inventory loading, precedence and patterns.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::*;

/// Writes `files` (relative path, content) into a fresh directory.
fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (rel, content) in files {
        let p = dir.path().join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&p, content).expect("write");
    }
    dir
}

fn load_one(name: &str, text: &str) -> (tempfile::TempDir, Inventory) {
    let dir = tree(&[(name, text)]);
    let path = dir.path().join(name);
    let inv = Inventory::load(&[path.to_string_lossy().to_string()]).expect("loads");
    (dir, inv)
}

fn load_err(name: &str, text: &str) -> String {
    let dir = tree(&[(name, text)]);
    let path = dir.path().join(name);
    Inventory::load(&[path.to_string_lossy().to_string()])
        .expect_err("must fail")
        .to_string()
}

fn sel(inv: &Inventory, pattern: &str) -> Vec<String> {
    inv.select(pattern, None)
        .expect("pattern")
        .names()
        .into_iter()
        .map(str::to_string)
        .collect()
}

fn var(inv: &Inventory, host: &str, key: &str) -> Value {
    inv.host_vars(host).expect("host")[key].clone()
}

fn path_str(p: &Path) -> String {
    p.to_string_lossy().to_string()
}

const INI: &str = "\
# comment
; also a comment
loose1 ansible_host=10.0.0.9

[web]
web[01:03] http_port=80
web10:2222 tier=\"front end\"

[db]
db-[a:c]

[prod:children]
web
db

[prod:vars]
env=production
replicas=3
enabled=True
tags=['a', 'b']

[all:vars]
ntp=time.example.com
env=default
";

#[test]
fn ini_groups_hosts_children_and_ungrouped() {
    let (_d, inv) = load_one("hosts.ini", INI);
    assert_eq!(sel(&inv, "web"), ["web01", "web02", "web03", "web10"]);
    assert_eq!(sel(&inv, "db"), ["db-a", "db-b", "db-c"]);
    assert_eq!(sel(&inv, "ungrouped"), ["loose1"]);
    assert_eq!(sel(&inv, "prod").len(), 7);
    let all = inv.group("all").unwrap();
    assert_eq!(all.children, ["ungrouped", "prod"]);
    assert_eq!(inv.group("web").unwrap().parents, ["prod"]);
    assert_eq!(inv.group("web").unwrap().depth, 2);
    assert_eq!(inv.group("prod").unwrap().depth, 1);
}

#[test]
fn ini_values_are_typed_like_ansible() {
    let (_d, inv) = load_one("hosts.ini", INI);
    assert_eq!(var(&inv, "web01", "http_port"), json!(80));
    assert_eq!(var(&inv, "web10", "tier"), json!("front end"));
    assert_eq!(var(&inv, "web10", "ansible_port"), json!(2222));
    assert_eq!(var(&inv, "web01", "replicas"), json!(3));
    assert_eq!(var(&inv, "web01", "enabled"), json!(true));
    assert_eq!(var(&inv, "web01", "tags"), json!(["a", "b"]));
    assert_eq!(var(&inv, "loose1", "ansible_host"), json!("10.0.0.9"));
}

#[test]
fn precedence_all_then_parent_then_child_then_host() {
    let (_d, inv) = load_one(
        "hosts",
        "[web]\nw1 v=host\nw2\n[prod:children]\nweb\n[web:vars]\nv=child\nc=child\n[prod:vars]\nv=parent\nc=parent\np=parent\n[all:vars]\nv=all\na=all\n",
    );
    assert_eq!(var(&inv, "w1", "v"), json!("host"));
    assert_eq!(var(&inv, "w2", "v"), json!("child"));
    assert_eq!(var(&inv, "w2", "c"), json!("child"));
    assert_eq!(var(&inv, "w2", "p"), json!("parent"));
    assert_eq!(var(&inv, "w2", "a"), json!("all"));
}

#[test]
fn siblings_merge_by_name_unless_priority() {
    let text = "[a]\nh\n[b]\nh\n[a:vars]\nx=from_a\n[b:vars]\nx=from_b\n";
    let (_d, inv) = load_one("hosts", text);
    assert_eq!(var(&inv, "h", "x"), json!("from_b"), "b sorts after a");
    let text =
        "[a]\nh\n[b]\nh\n[a:vars]\nx=from_a\nansible_group_priority=10\n[b:vars]\nx=from_b\n";
    let (_d, inv) = load_one("hosts", text);
    assert_eq!(var(&inv, "h", "x"), json!("from_a"), "higher priority wins");
    assert_eq!(inv.group("a").unwrap().priority, 10);
    assert!(
        !inv.group("a")
            .unwrap()
            .vars
            .contains_key("ansible_group_priority")
    );
}

#[test]
fn host_listed_twice_merges() {
    let (_d, inv) = load_one("hosts", "[a]\nh x=1 y=1\n[b]\nh y=2\n");
    assert_eq!(var(&inv, "h", "x"), json!(1));
    assert_eq!(var(&inv, "h", "y"), json!(2));
    assert_eq!(inv.host_count(), 1);
    let groups: Vec<&str> = inv.host("h").unwrap().group_names().collect();
    assert_eq!(groups, ["a", "all", "b"]);
}

#[test]
fn ungrouped_host_leaves_ungrouped_when_grouped_later() {
    let (_d, inv) = load_one("hosts", "h1\nh2\n[g]\nh1\n");
    assert_eq!(sel(&inv, "ungrouped"), ["h2"]);
    assert_eq!(sel(&inv, "g"), ["h1"]);
}

#[test]
fn undefined_child_group_is_created_with_a_warning() {
    let (_d, inv) = load_one(
        "hosts",
        "[web]\nw1\n[prod:children]\nweb\nlater\nmissing\n[later]\nl1\n",
    );
    assert_eq!(
        inv.group("prod").unwrap().children,
        ["web", "later", "missing"]
    );
    assert!(inv.group("missing").is_some());
    assert_eq!(sel(&inv, "prod"), ["w1", "l1"]);
    assert_eq!(inv.warnings().len(), 1, "{:?}", inv.warnings());
    assert!(inv.warnings()[0].contains("'missing'"));
    assert!(inv.warnings()[0].contains(":6:"), "{:?}", inv.warnings());
}

#[test]
fn ini_section_names_are_kept_as_written() {
    // ansible-core 2.19 keeps them too (it only warns about the '-').
    let (_d, inv) = load_one("hosts", "[web-servers]\nw1\n");
    assert!(inv.group("web-servers").is_some());
}

#[test]
fn ini_errors_name_file_line_and_column() {
    let e = load_err("hosts", "[web]\nw1\n[web:varz]\n");
    assert!(e.contains("hosts:3:1"), "{e}");
    assert!(e.contains("did you mean 'vars'"), "{e}");

    let e = load_err("hosts", "[web]\n  w1 notakv\n");
    assert!(e.contains("hosts:2:6"), "{e}");
    assert!(e.contains("key=value"), "{e}");

    let e = load_err("hosts", "[web servers]\nw1\n");
    assert!(e.contains("hosts:1:1"), "{e}");
    assert!(e.contains("invalid section header"), "{e}");

    let e = load_err("hosts", "[web]\nw[1:]\n");
    assert!(e.contains("hosts:2:"), "{e}");
    assert!(e.contains("end value"), "{e}");

    let e = load_err("hosts", "[web]\nw1:\n");
    assert!(e.contains("trailing ':'"), "{e}");

    let e = load_err("hosts", "[web]\nw1 a='unterminated\n");
    assert!(e.contains("no closing quotation"), "{e}");

    let e = load_err("hosts", "[web]\nw1\n[wbe:vars]\nx=1\n");
    assert!(e.contains("hosts:3:1"), "{e}");
    assert!(e.contains("did you mean 'web'"), "{e}");

    let e = load_err("hosts", "[a:children]\nb\n[b:children]\na\n");
    assert!(e.contains("loop"), "{e}");

    let e = load_err("hosts", "[web]\nw1\n[web:vars]\nnot a definition\n");
    assert!(e.contains("hosts:4:1"), "{e}");
}

const YAML: &str = "\
all:
  hosts:
    lone:
  vars:
    ntp: time.example.com
  children:
    web:
      hosts:
        web[1:2]:
          http_port: 8080
        web9:2200:
      vars:
        role: web
      children:
        canary:
          hosts:
            web1:
    db:
      hosts: db1
other:
  hosts:
    web1:
      extra: yes
";

#[test]
fn yaml_inventory_nested_groups() {
    let (_d, inv) = load_one("inv.yml", YAML);
    assert_eq!(sel(&inv, "web"), ["web1", "web2", "web9",]);
    assert_eq!(sel(&inv, "canary"), ["web1"]);
    assert_eq!(sel(&inv, "db"), ["db1"]);
    assert_eq!(sel(&inv, "ungrouped"), ["lone"]);
    assert_eq!(inv.group("canary").unwrap().depth, 2);
    assert_eq!(var(&inv, "web1", "http_port"), json!(8080));
    assert_eq!(var(&inv, "web1", "extra"), json!(true));
    assert_eq!(var(&inv, "web9", "ansible_port"), json!(2200));
    assert_eq!(var(&inv, "db1", "ntp"), json!("time.example.com"));
    assert_eq!(var(&inv, "web2", "role"), json!("web"));
}

#[test]
fn yaml_errors_name_file_line_and_column() {
    let e = load_err("inv.yml", "all:\n  hostz:\n    h1:\n");
    assert!(e.contains("inv.yml:2:3"), "{e}");
    assert!(e.contains("did you mean 'hosts'"), "{e}");

    let e = load_err("inv.yml", "all:\n  hosts:\n    - h1\n");
    assert!(e.contains("inv.yml:3:"), "{e}");
    assert!(e.contains("must be a mapping"), "{e}");

    let e = load_err("inv.yml", "all:\n  hosts:\n    h1: [1]\n");
    assert!(e.contains("inv.yml:3:9"), "{e}");

    let e = load_err("inv.yml", "all:\n  hosts:\n    h1:\n   bad: indent\n");
    assert!(e.contains("inv.yml:"), "{e}");
    assert!(e.contains("invalid YAML"), "{e}");

    let e = load_err("inv.yml", "plugin: aws_ec2\n");
    assert!(e.contains("not supported"), "{e}");

    let e = load_err("inv.yml", "- a\n- b\n");
    assert!(e.contains("inv.yml:1:1"), "{e}");

    let e = load_err("inv.yml", "all:\n  hosts:\n    1234:\n");
    assert!(e.contains("inv.yml:3:5"), "{e}");
    assert!(e.contains("must be a string"), "{e}");

    let e = load_err("inv.toml", "[all]\n");
    assert!(e.contains("TOML"), "{e}");
}

#[test]
fn extensionless_file_is_yaml_or_ini() {
    let (_d, inv) = load_one("hosts", "all:\n  hosts:\n    y1:\n");
    assert_eq!(sel(&inv, "all"), ["y1"]);
    let (_d, inv) = load_one("hosts", "i1\ni2 a=1\n");
    assert_eq!(sel(&inv, "all"), ["i1", "i2"]);
}

#[test]
fn directory_with_group_vars_and_host_vars() {
    let dir = tree(&[
        ("01-hosts.ini", "[web]\nw1\nw2\n[db]\nd1\n"),
        (
            "02-more.yml",
            "all:\n  children:\n    db:\n      hosts:\n        d2:\n",
        ),
        ("README.md", "not an inventory [at all\n"),
        ("notes.txt", "nor this\n"),
        (".hidden", "[nope]\nx\n"),
        ("sub/extra.ini", "[cache]\nc1\n"),
        ("group_vars/all.yml", "v: all\nonly_all: 1\n"),
        ("group_vars/web.yml", "v: web\n"),
        ("group_vars/db/main.yml", "v: db\ndbx: 1\n"),
        ("group_vars/db/more.yaml", "dbx: 2\n"),
        ("group_vars/db/.ignored.yml", "dbx: 3\n"),
        ("host_vars/w2.yml", "v: w2\n"),
        ("host_vars/d2", "v: d2\n"),
        ("host_vars/nosuchhost.yml", "v: x\n"),
    ]);
    let inv = Inventory::load(&[path_str(dir.path())]).expect("loads");
    // Same order as ansible-core: 02-more.yml hangs `db` under `all` before the reconcile
    // step hangs `web` there.
    assert_eq!(sel(&inv, "all"), ["d1", "d2", "w1", "w2", "c1"]);
    assert!(inv.group("nope").is_none());
    assert_eq!(var(&inv, "w1", "v"), json!("web"));
    assert_eq!(var(&inv, "w1", "only_all"), json!(1));
    assert_eq!(var(&inv, "w2", "v"), json!("w2"));
    assert_eq!(var(&inv, "d1", "v"), json!("db"));
    assert_eq!(var(&inv, "d1", "dbx"), json!(2));
    assert_eq!(var(&inv, "d2", "v"), json!("d2"));
    assert!(inv.host("nosuchhost").is_none());
}

#[test]
fn group_vars_beside_an_inventory_file_and_precedence_over_ini_vars() {
    // Ansible's documented order: inventory-file group vars < group_vars/all < group_vars/*.
    let dir = tree(&[
        (
            "hosts.ini",
            "[web]\nw1 hv=ini\n[web:vars]\na=ini\nb=ini\n[all:vars]\nc=ini\n",
        ),
        ("group_vars/all.yml", "a: gv_all\nc: gv_all\n"),
        ("group_vars/web.json", "{\"b\": \"gv_web\"}"),
        ("host_vars/w1.yml", "hv: host_vars\n"),
    ]);
    let inv = Inventory::load(&[path_str(&dir.path().join("hosts.ini"))]).expect("loads");
    assert_eq!(var(&inv, "w1", "a"), json!("gv_all"));
    assert_eq!(var(&inv, "w1", "b"), json!("gv_web"));
    assert_eq!(var(&inv, "w1", "c"), json!("gv_all"));
    assert_eq!(var(&inv, "w1", "hv"), json!("host_vars"));
}

#[test]
fn bad_vars_file_is_refused_with_position() {
    let dir = tree(&[
        ("hosts", "[web]\nw1\n"),
        ("group_vars/web.yml", "- not\n- a mapping\n"),
    ]);
    let e = Inventory::load(&[path_str(&dir.path().join("hosts"))])
        .expect_err("fails")
        .to_string();
    assert!(e.contains("web.yml:1:1"), "{e}");
}

#[test]
fn several_sources_and_host_lists() {
    let dir = tree(&[
        ("a.ini", "[web]\nw1\n"),
        ("b.yml", "web:\n  hosts:\n    w2:\n"),
    ]);
    let inv = Inventory::load(&[
        path_str(&dir.path().join("a.ini")),
        path_str(&dir.path().join("b.yml")),
        "x1,x2:2022,".to_string(),
    ])
    .expect("loads");
    assert_eq!(sel(&inv, "web"), ["w1", "w2"]);
    assert_eq!(sel(&inv, "ungrouped"), ["x1", "x2"]);
    assert_eq!(var(&inv, "x2", "ansible_port"), json!(2022));
}

#[test]
fn missing_source_is_an_error_with_a_hint() {
    let e = Inventory::load(&["/nonexistent/inventory"])
        .expect_err("fails")
        .to_string();
    assert!(e.contains("does not exist"), "{e}");
    assert!(e.contains("'/nonexistent/inventory,'"), "{e}");
}

#[test]
fn implicit_localhost() {
    let inv = Inventory::load::<&str>(&[]).expect("empty");
    assert_eq!(sel(&inv, "all"), Vec::<String>::new());
    assert_eq!(sel(&inv, "localhost"), ["localhost"]);
    assert_eq!(var(&inv, "localhost", "ansible_connection"), json!("local"));
    assert_eq!(sel(&inv, "127.0.0.1"), ["127.0.0.1"]);

    let (_d, inv) = load_one("hosts", "[all:vars]\nx=1\n[web]\nw1\n");
    assert_eq!(sel(&inv, "all"), ["w1"], "implicit localhost is not in all");
    assert_eq!(var(&inv, "localhost", "x"), json!(1), "but sees all's vars");

    let (_d, inv) = load_one("hosts", "localhost ansible_connection=ssh\n");
    assert_eq!(var(&inv, "localhost", "ansible_connection"), json!("ssh"));
    assert_eq!(sel(&inv, "all"), ["localhost"]);
}

const PATTERNS: &str = "\
[web]
web01
web02
web03
web10
[db]
db1
db2
[prod]
web01
web02
db1
[stage]
web03
db2
";

#[test]
fn patterns_union_intersection_exclusion() {
    let (_d, inv) = load_one("hosts", PATTERNS);
    assert_eq!(sel(&inv, "all").len(), 6);
    assert_eq!(sel(&inv, "*").len(), 6);
    assert_eq!(
        sel(&inv, "web:db"),
        ["web01", "web02", "web03", "web10", "db1", "db2"]
    );
    assert_eq!(
        sel(&inv, "web,db1"),
        ["web01", "web02", "web03", "web10", "db1"]
    );
    assert_eq!(sel(&inv, "web:&prod"), ["web01", "web02"]);
    assert_eq!(sel(&inv, "web:!prod"), ["web03", "web10"]);
    assert_eq!(
        sel(&inv, "!prod:web"),
        ["web03", "web10"],
        "modifiers apply last"
    );
    assert_eq!(sel(&inv, "!prod"), ["web03", "web10", "db2"]);
    assert_eq!(sel(&inv, "prod:stage:&db:!db2"), ["db1"]);
}

#[test]
fn patterns_wildcards_regex_and_slices() {
    let (_d, inv) = load_one("hosts", PATTERNS);
    assert_eq!(sel(&inv, "web0*"), ["web01", "web02", "web03"]);
    assert_eq!(sel(&inv, "*1"), ["web01", "db1"]);
    assert_eq!(sel(&inv, "db?"), ["db1", "db2"]);
    assert_eq!(sel(&inv, "~web\\d+"), ["web01", "web02", "web03", "web10"]);
    assert_eq!(sel(&inv, "~web0"), ["web01", "web02", "web03"]);
    assert_eq!(sel(&inv, "~web1"), ["web10"]);
    assert_eq!(sel(&inv, "~(db|stage)"), ["db1", "db2", "web03"]);
    assert_eq!(sel(&inv, "web[0]"), ["web01"]);
    assert_eq!(sel(&inv, "web[-1]"), ["web10"]);
    assert_eq!(sel(&inv, "web[1:2]"), ["web02", "web03"]);
    assert_eq!(sel(&inv, "web[2:]"), ["web03", "web10"]);
    assert_eq!(
        sel(&inv, "web[1:3]:db[0]"),
        ["web02", "web03", "web10", "db1"]
    );
    assert!(inv.select("web[7]", None).is_err());
    assert!(inv.select("~web(", None).is_err());
}

#[test]
fn unmatched_patterns_are_reported() {
    let (_d, inv) = load_one("hosts", PATTERNS);
    let s = inv.select("web:nosuch", None).expect("ok");
    assert_eq!(s.hosts.len(), 4);
    assert_eq!(s.unmatched, ["nosuch"]);
}

#[test]
fn limit_and_limit_file() {
    let (d, inv) = load_one("hosts", PATTERNS);
    let limit = pattern::parse_limit("prod").expect("limit");
    let s = inv.select("web", Some(&limit)).expect("ok");
    assert_eq!(s.names(), ["web01", "web02"]);

    let file: PathBuf = d.path().join("limit.txt");
    std::fs::write(&file, "web10\n\ndb2\n").expect("write");
    let limit = pattern::parse_limit(&format!("@{}", file.display())).expect("limit");
    let s = inv.select("all", Some(&limit)).expect("ok");
    assert_eq!(s.names(), ["web10", "db2"]);

    let limit = pattern::parse_limit("!web").expect("limit");
    assert_eq!(
        inv.select("all", Some(&limit)).expect("ok").names(),
        ["db1", "db2"]
    );

    assert!(pattern::parse_limit("@/nonexistent/limit").is_err());
}

#[test]
fn ten_thousand_hosts_load_and_match() {
    let mut text = String::from("[web]\nweb[00001:05000]\n[db]\n");
    for i in 0..5000 {
        text.push_str(&format!(
            "db{i} ansible_host=10.1.{}.{}\n",
            i / 256,
            i % 256
        ));
    }
    let (_d, inv) = load_one("big.ini", &text);
    assert_eq!(inv.host_count(), 10_000);
    assert_eq!(sel(&inv, "web:&~web0000[1-5]").len(), 5);
    assert_eq!(sel(&inv, "all:!db").len(), 5000);
}
