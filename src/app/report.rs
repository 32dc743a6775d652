//! `olympus report` and `olympus run --report`: the run report page written to a file.
//!
//! Owns: reading a run's JSON (one document per playbook, as `run --output json` writes
//! them) and merging its documents, and writing the page atomically (a temporary file
//! beside it, then a rename). Must not: render (that is `output::report`).

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::exit::Error;
use crate::output::report::{self, ReportInput};
use crate::state::HistoryEntry;

/// The most bytes of run JSON read.
const MAX_RUN_JSON: u64 = 512 * 1024 * 1024;

/// Every JSON document in `text` (a run of several playbooks writes one each), merged
/// into one: the plays in order, the recaps added, an interruption or halt kept.
pub fn merge(text: &[u8]) -> Result<Value, Error> {
    let mut plays = Vec::new();
    let mut recap = serde_json::Map::new();
    let mut extra = serde_json::Map::new();
    let mut docs = 0;
    for doc in serde_json::Deserializer::from_slice(text).into_iter::<Value>() {
        let doc = doc.map_err(|e| Error::BadInput(format!("the run's JSON: {e}")))?;
        docs += 1;
        let Value::Object(mut m) = doc else {
            return Err(Error::BadInput(
                "the run's JSON is not an object: not `olympus run --output json`".into(),
            ));
        };
        match m.remove("plays") {
            Some(Value::Array(p)) => plays.extend(p),
            _ => {
                return Err(Error::BadInput(
                    "the run's JSON has no 'plays' list: not `olympus run --output json`".into(),
                ));
            }
        }
        for (host, c) in m
            .remove("recap")
            .and_then(|r| r.as_object().cloned())
            .unwrap_or_default()
        {
            let entry = recap
                .entry(host)
                .or_insert_with(|| Value::Object(serde_json::Map::new()));
            for (k, v) in c.as_object().into_iter().flatten() {
                let sum = entry[k.as_str()].as_u64().unwrap_or(0) + v.as_u64().unwrap_or(0);
                entry[k.as_str()] = Value::from(sum);
            }
        }
        extra.extend(m);
    }
    if docs == 0 {
        return Err(Error::BadInput("the run's JSON is empty".into()));
    }
    extra.insert("plays".into(), Value::Array(plays));
    extra.insert("recap".into(), Value::Object(recap));
    Ok(Value::Object(extra))
}

/// Reads a run's JSON file (`-`: stdin).
pub fn read_run(path: &Path) -> Result<Value, Error> {
    let mut text = Vec::new();
    let read = if path == Path::new("-") {
        std::io::stdin().take(MAX_RUN_JSON).read_to_end(&mut text)
    } else {
        std::fs::File::open(path).and_then(|f| f.take(MAX_RUN_JSON).read_to_end(&mut text))
    };
    read.map_err(|e| Error::BadInput(format!("{}: {e}", path.display())))?;
    merge(&text).map_err(|e| Error::BadInput(format!("{}: {e}", path.display())))
}

/// Writes the page for `run` and/or `history` to `out`, atomically.
pub fn write(
    out: &PathBuf,
    run: Option<&Value>,
    history: Option<&[HistoryEntry]>,
) -> Result<(), Error> {
    let page = report::html(&ReportInput {
        run,
        history,
        generated: jiff::Timestamp::now(),
    })
    .map_err(|e| Error::BadInput(e.to_string()))?;
    let cannot =
        |e: std::io::Error| Error::BadInput(format!("cannot write {}: {e}", out.display()));
    let mut tmp_name = out.clone().into_os_string();
    tmp_name.push(format!(".tmp-{}", std::process::id()));
    let tmp = PathBuf::from(tmp_name);
    let written = std::fs::write(&tmp, page.as_bytes()).and_then(|()| std::fs::rename(&tmp, out));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(cannot(e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_of_several_playbooks_merge() {
        let text = br#"{"plays": [{"name": "a", "tasks": []}], "recap": {"h": {"ok": 2, "failed": 0}}}
{"plays": [{"name": "b", "tasks": []}], "recap": {"h": {"ok": 1, "failed": 1}}, "halted": {"reason": "x"}}
"#;
        let m = merge(text).expect("merged");
        assert_eq!(m["plays"].as_array().map(Vec::len), Some(2));
        assert_eq!(m["recap"]["h"]["ok"], 3);
        assert_eq!(m["recap"]["h"]["failed"], 1);
        assert_eq!(m["halted"]["reason"], "x");
        assert!(merge(b"").is_err());
        assert!(merge(b"[1]").is_err());
        assert!(merge(b"{\"plays\": 1}").is_err());
    }
}
