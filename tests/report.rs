//! The run report as a reader meets it: `olympus run --report` and `olympus report` write
//! one self-contained page, opened in a real browser (Debian's Chromium, headless): its DOM
//! holds the recap, a timeline bar per task and host, the slowest tasks, each failure with
//! its output — a host's output as text, never markup — and heal's history.

mod common;

use std::path::Path;
use std::process::Command;

use common::fleet::Fleet;

/// Chromium's DOM of `page` after it loaded (scripts, if any, run).
fn dom(page: &Path) -> String {
    let out = Command::new("chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"])
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium (tests/run-all.sh installs Debian's chromium)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_run_report_opens_in_a_browser_with_recap_timeline_and_failures() {
    let fleet = Fleet::start(2);
    let dir = tempfile::tempdir().expect("tmp");
    let [h1, h2] = [0, 1].map(|i| fleet.hosts[i].name.clone());
    let pb = dir.path().join("deploy.yml");
    std::fs::write(
        &pb,
        format!(
            "- name: deploy\n  hosts: all\n  gather_facts: false\n  tasks:\n    - name: unpack\n      shell: sleep 1\n    - name: migrate\n      shell: 'if [ {{{{ inventory_hostname }}}} = {h2} ]; then echo \"<script>document.title=\\\"pwned\\\"</script><b>bold</b>\"; exit 3; fi'\n    - name: restart\n      debug: msg=done\n"
        ),
    )
    .expect("playbook");
    let page = dir.path().join("run.html");
    let out = fleet
        .olympus("run", &fleet.inventory)
        .arg(&pb)
        .arg("--report")
        .arg(&page)
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let d = dom(&page);
    assert!(
        d.contains("<title>olympus run report</title>"),
        "a host's script ran: {d}"
    );
    assert!(d.contains("1 of 2 hosts failed"), "{d}");
    assert!(
        d.contains(&format!("<tr class=\"failed\"><td>{h2}</td>")),
        "{d}"
    );
    assert!(
        d.contains(&format!("<tr class=\"ok\"><td>{h1}</td>")),
        "{d}"
    );
    // A bar per task and host: three tasks on h1, two on h2 (it stopped at migrate).
    assert_eq!(d.matches(&format!("data-host=\"{h1}\"")).count(), 3, "{d}");
    assert_eq!(d.matches(&format!("data-host=\"{h2}\"")).count(), 2, "{d}");
    assert!(d.contains("<rect class=\"failed\""), "{d}");
    // The slowest task first.
    let slowest = d.split("id=\"slowest\"").nth(1).expect("slowest table");
    assert!(
        slowest.find("unpack").expect("unpack") < slowest.find("migrate").expect("migrate"),
        "{slowest}"
    );
    // The failure, its output as text.
    assert!(d.contains(&format!("{h2}: migrate")), "{d}");
    assert!(
        d.contains("&lt;script&gt;document.title=\"pwned\"&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt;"),
        "{d}"
    );
    assert!(!d.contains("<b>bold</b>"), "{d}");

    // The same from --output json, with heal's history (a kill switch engaged and released).
    let json = dir.path().join("run.json");
    let out = fleet
        .olympus("run", &fleet.inventory)
        .arg(&pb)
        .args(["--output", "json"])
        .output()
        .expect("run");
    std::fs::write(&json, &out.stdout).expect("json");
    let olympus = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_olympus"))
            .args(args)
            .env("OLYMPUS_STATE_DIR", fleet.dir.path().join("state"))
            .output()
            .expect("olympus")
    };
    assert!(
        olympus(&["lock", "--reason", "night <freeze>"])
            .status
            .success()
    );
    assert!(olympus(&["unlock"]).status.success());
    let page2 = dir.path().join("both.html");
    let out = olympus(&[
        "report",
        &json.display().to_string(),
        "--html",
        &page2.display().to_string(),
        "--history",
        "--since",
        "1h",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let d = dom(&page2);
    assert!(d.contains("1 of 2 hosts failed"), "{d}");
    assert!(d.contains("heal: evaluations and actions (2)"), "{d}");
    assert!(d.contains("night &lt;freeze&gt;"), "{d}");

    // A screenshot: the page renders (a PNG of some substance).
    let png = dir.path().join("run.png");
    let shot = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--window-size=1200,1400",
        ])
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium");
    assert!(
        shot.status.success(),
        "{}",
        String::from_utf8_lossy(&shot.stderr)
    );
    let bytes = std::fs::read(&png).expect("screenshot");
    assert!(
        bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000,
        "{} bytes",
        bytes.len()
    );

    // Not a run's JSON: refused, nothing written.
    std::fs::write(dir.path().join("x.json"), "{\"a\": 1}").expect("x");
    let out = olympus(&[
        "report",
        &dir.path().join("x.json").display().to_string(),
        "--html",
        &dir.path().join("x.html").display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no 'plays' list"));
    assert!(!dir.path().join("x.html").exists());
}
