//! `olympus inventory` prints exactly what `ansible-inventory` (ansible-core, see
//! tests/fixtures/inventory/ANSIBLE_VERSION) printed for the same sources and arguments.
//! The expected outputs were produced by tests/fixtures/inventory/regen.sh.

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/inventory")
}

fn run_case(case: &Path) -> Result<(), String> {
    let args: Vec<String> = std::fs::read_to_string(case.join("args"))
        .map_err(|e| format!("{}: {e}", case.display()))?
        .lines()
        .map(str::to_string)
        .collect();
    let expected = std::fs::read_to_string(case.join("expected.out"))
        .map_err(|e| format!("{}: {e}", case.display()))?;
    let out = Command::new(env!("CARGO_BIN_EXE_olympus"))
        .arg("inventory")
        .args(&args)
        .current_dir(case)
        .output()
        .map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "{}: exit {:?}\n{}",
            case.display(),
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    if stdout.trim_end() != expected.trim_end() {
        let diff: Vec<String> = expected
            .lines()
            .zip(stdout.lines().chain(std::iter::repeat("<missing>")))
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .take(5)
            .map(|(i, (a, b))| format!("  line {}: ansible {a:?}\n           olympus {b:?}", i + 1))
            .collect();
        return Err(format!(
            "{}: output differs from ansible-inventory\n{}\n(olympus printed {} lines, ansible {})",
            case.display(),
            diff.join("\n"),
            stdout.lines().count(),
            expected.lines().count()
        ));
    }
    Ok(())
}

#[test]
fn every_fixture_matches_ansible_inventory() {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .expect("fixtures dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("args").is_file())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 10,
        "expected the committed fixture cases, found {}",
        cases.len()
    );
    let failures: Vec<String> = cases.iter().filter_map(|c| run_case(c).err()).collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}
