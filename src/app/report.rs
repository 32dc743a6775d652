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

/// What `olympus report merge` makes of the `--output json` of every shard of one run.
#[derive(Debug)]
pub struct Merged {
    /// One document as an unsharded run would have written it: each play's hosts and each
    /// task's host results joined, the recaps joined.
    pub doc: Value,
    /// The run's recap and how it ended, for its exit code and PLAY RECAP.
    pub result: crate::engine::play::RunResult,
    /// How many shards were merged.
    pub shards: u32,
}

/// Joins the JSON of every shard of a `--shard I/N` run (each file one shard; `-`: stdin).
/// Refused unless the files are exactly shards 1..N of the same N, each once, each run to
/// its end, and no host is in two of them.
pub fn merge_shards(paths: &[PathBuf]) -> Result<Merged, Error> {
    let bad = |path: &Path, what: String| Error::BadInput(format!("{}: {what}", path.display()));
    let mut docs = Vec::new();
    let mut of = None;
    let mut seen: std::collections::BTreeMap<u32, &Path> = std::collections::BTreeMap::new();
    for path in paths {
        let doc = read_run(path)?;
        let shard: crate::shard::Shard = doc
            .get("shard")
            .cloned()
            .and_then(|v| serde_json::from_value(v).ok())
            .ok_or_else(|| {
                bad(
                    path,
                    "not the JSON of a sharded run (`olympus run --shard I/N --output json`)"
                        .into(),
                )
            })?;
        if let Some(n) = of
            && n != shard.of
        {
            return Err(bad(
                path,
                format!(
                    "shard {shard} is of {} shards, the files before it of {n}",
                    shard.of
                ),
            ));
        }
        of = Some(shard.of);
        if let Some(first) = seen.insert(shard.index, path) {
            return Err(bad(
                path,
                format!("shard {shard} again (also {})", first.display()),
            ));
        }
        if doc.get("complete") == Some(&Value::Bool(false)) {
            return Err(bad(
                path,
                format!(
                    "shard {shard} did not finish: its run ended without a recap (see its own output); the merged recap would leave its hosts out"
                ),
            ));
        }
        docs.push((path.as_path(), doc));
    }
    let Some(of) = of else {
        return Err(Error::BadInput("report merge: no file given".into()));
    };
    let missing: Vec<String> = (1..=of)
        .filter(|i| !seen.contains_key(i))
        .map(|i| format!("{i}/{of}"))
        .collect();
    if !missing.is_empty() {
        return Err(Error::BadInput(format!(
            "shard(s) {} missing: the merged recap would leave their hosts out",
            missing.join(", ")
        )));
    }
    let mut result = crate::engine::play::RunResult::default();
    let mut owner: std::collections::BTreeMap<String, &Path> = std::collections::BTreeMap::new();
    let mut plays: Vec<Value> = Vec::new();
    let mut halted = Vec::new();
    let mut interrupted = Vec::new();
    for (path, doc) in &docs {
        let recap: std::collections::BTreeMap<String, crate::engine::events::Counters> =
            serde_json::from_value(doc["recap"].clone())
                .map_err(|e| bad(path, format!("recap: {e}")))?;
        for (host, c) in recap {
            if let Some(other) = owner.insert(host.clone(), path) {
                return Err(bad(
                    path,
                    format!(
                        "host {host} is in {} too: these are not shards of one run",
                        other.display()
                    ),
                ));
            }
            result.recap.insert(host, c);
        }
        for (i, play) in doc["plays"].as_array().into_iter().flatten().enumerate() {
            if play.get("aborted").is_some() {
                result.aborted = true;
            }
            match plays.get_mut(i) {
                Some(into) => merge_play(into, play),
                None => plays.push(play.clone()),
            }
        }
        if let Some(h) = doc.get("halted") {
            halted.push(h.clone());
            result.halted = Some(h["reason"].as_str().unwrap_or_default().to_string());
        }
        if let Some(i) = doc.get("interrupted") {
            interrupted.extend(i["hosts"].as_array().cloned().unwrap_or_default());
            result.interrupted = true;
        }
    }
    let mut merged = serde_json::Map::new();
    merged.insert("plays".into(), Value::Array(plays));
    merged.insert(
        "recap".into(),
        serde_json::to_value(&result.recap).unwrap_or_default(),
    );
    if result.interrupted {
        merged.insert(
            "interrupted".into(),
            serde_json::json!({ "hosts": interrupted }),
        );
    }
    if let Some(first) = halted.into_iter().next() {
        merged.insert("halted".into(), first);
    }
    merged.insert("shards".into(), Value::from(of));
    Ok(Merged {
        doc: Value::Object(merged),
        result,
        shards: of,
    })
}

/// Adds one shard's play to the same play of the shards before: its hosts, and each task's
/// host results (tasks matched by where they are written, name and kind, in the order they
/// first came).
fn merge_play(into: &mut Value, play: &Value) {
    if let (Some(hosts), Some(more)) = (into["hosts"].as_array_mut(), play["hosts"].as_array()) {
        hosts.extend(more.iter().cloned());
    }
    if play.get("aborted").is_some() && into.get("aborted").is_none() {
        into["aborted"] = play["aborted"].clone();
    }
    let key = |t: &Value| {
        (
            t["origin"].as_str().unwrap_or_default().to_string(),
            t["name"].as_str().unwrap_or_default().to_string(),
            t["handler"].as_bool().unwrap_or(false),
        )
    };
    let Some(tasks) = into["tasks"].as_array_mut() else {
        return;
    };
    for task in play["tasks"].as_array().into_iter().flatten() {
        let k = key(task);
        let Some(same) = tasks.iter_mut().find(|t| key(t) == k) else {
            tasks.push(task.clone());
            continue;
        };
        if let (Some(hosts), Some(more)) =
            (same["hosts"].as_object_mut(), task["hosts"].as_object())
        {
            hosts.extend(more.clone());
        }
        if let (Some(a), Some(b)) = (same["start"].as_str(), task["start"].as_str())
            && b < a
        {
            same["start"] = Value::from(b);
        }
        let longer = task["duration"].as_f64().unwrap_or(0.0);
        if longer > same["duration"].as_f64().unwrap_or(0.0) {
            same["duration"] = Value::from(longer);
        }
    }
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
