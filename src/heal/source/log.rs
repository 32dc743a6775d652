//! A log source: lines matching an extended regular expression counted on each host, in
//! the last lines of a file or a systemd unit's journal over a window. The count is done
//! on the host (`grep -c -E`): only a number crosses the network.

use serde_json::Value;

use super::Sample;
use crate::connection::quote;
use crate::heal::rules::LogFrom;

/// What a host's script writes to stderr when the log cannot be read.
const CANNOT: &str = "olympus: cannot read the log: ";

/// The `sh` script that prints the count.
pub fn script(from: &LogFrom, pattern: &str) -> String {
    let count = format!("grep -c -E -e {}", quote(pattern));
    let read = match from {
        LogFrom::File { path, lines } => format!(
            "f={path}; [ -r \"$f\" ] || {{ echo \"{CANNOT}$f\" >&2; exit 3; }}; tail -n {lines} -- \"$f\"",
            path = quote(path)
        ),
        LogFrom::Journal { unit, since } => format!(
            "command -v journalctl >/dev/null 2>&1 || {{ echo \"{CANNOT}no journalctl\" >&2; exit 3; }}; \
             {{ journalctl --no-pager --quiet --output=cat --unit={unit} --since=-{secs}s || echo \"{CANNOT}journalctl failed\" >&2; }}",
            unit = quote(unit),
            secs = since.as_secs().max(1)
        ),
    };
    format!("n=$({read} | {count}); rc=$?; [ \"$rc\" -le 1 ] || exit 4; echo \"$n\"")
}

/// A host's count: a sample when more than `above`; its value the count, label `count`.
pub fn read(
    host: &str,
    rc: Option<u32>,
    stdout: &[u8],
    stderr: &[u8],
    above: u64,
) -> Result<Option<Sample>, String> {
    let err = String::from_utf8_lossy(stderr);
    if let Some(line) = err.lines().find(|l| l.starts_with(CANNOT)) {
        return Err(line.trim_start_matches("olympus: ").to_string());
    }
    match rc {
        Some(0) => {}
        Some(4) => return Err("grep could not read the pattern".into()),
        other => {
            return Err(format!(
                "the count ended with {}: {}",
                other.map_or_else(|| "a signal".into(), |c| format!("exit {c}")),
                err.trim()
            ));
        }
    }
    let text = String::from_utf8_lossy(stdout);
    let count: u64 = text
        .trim()
        .parse()
        .map_err(|_| format!("the count is not a number: {:?}", text.trim()))?;
    Ok((count > above).then(|| {
        Sample::on(
            host,
            Value::from(count),
            [("count".to_string(), count.to_string())],
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn sh(script: &str) -> (Option<u32>, Vec<u8>, Vec<u8>) {
        let o = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .output()
            .expect("sh");
        (o.status.code().map(|c| c as u32), o.stdout, o.stderr)
    }

    #[test]
    fn a_file_is_counted_by_sh_and_grep() {
        let d = tempfile::tempdir().expect("tmp");
        let f = d.path().join("app's log");
        std::fs::write(&f, "ok\nERROR one\nERROR two\nok\nERROR three\n").expect("write");
        let path = f.display().to_string();
        let last = |lines| LogFrom::File {
            path: path.clone(),
            lines,
        };
        let (rc, out, err) = sh(&script(&last(1000), "ERROR (one|three)"));
        let s = read("h", rc, &out, &err, 1).expect("read").expect("fires");
        assert_eq!(
            (s.value.clone(), s.labels["count"].as_str()),
            (Value::from(2), "2")
        );
        // Only the last two lines are looked at; none matching is a count of 0, no error.
        let (rc, out, err) = sh(&script(&last(2), "ERROR one"));
        assert_eq!(read("h", rc, &out, &err, 0).expect("read"), None);
        let (rc, out, err) = sh(&script(
            &LogFrom::File {
                path: "/nonexistent/log".into(),
                lines: 5,
            },
            "x",
        ));
        let e = read("h", rc, &out, &err, 0).expect_err("unreadable");
        assert!(e.contains("cannot read the log: /nonexistent/log"), "{e}");
        // A pattern is data: quoted, never run.
        let (rc, out, err) = sh(&script(&last(1000), "$(touch /tmp/olympus-pwned)'\"`"));
        assert_eq!(read("h", rc, &out, &err, 0).expect("read"), None);
        assert!(!std::path::Path::new("/tmp/olympus-pwned").exists());
    }

    #[test]
    fn a_journal_window_asks_journalctl() {
        let s = script(
            &LogFrom::Journal {
                unit: "nginx.service".into(),
                since: Duration::from_secs(300),
            },
            "upstream timed out",
        );
        assert!(
            s.contains(
                "journalctl --no-pager --quiet --output=cat --unit=nginx.service --since=-300s"
            ),
            "{s}"
        );
        assert!(s.contains("grep -c -E -e 'upstream timed out'"), "{s}");
    }
}
