//! Graphite's render API (`/render?format=json`): a series fires when its last non-null
//! datapoint is above or below a threshold.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use super::{Sample, float, get};

pub fn query(
    url: &str,
    target: &str,
    from: &str,
    above: Option<f64>,
    below: Option<f64>,
    timeout: Duration,
) -> Result<Vec<Sample>, String> {
    let endpoint = format!("{url}/render");
    let (status, body) = get(
        &endpoint,
        &[("target", target), ("from", from), ("format", "json")],
        timeout,
    )?;
    if status != 200 {
        return Err(format!(
            "{endpoint}: HTTP {status}: {}",
            body.chars().take(300).collect::<String>().trim()
        ));
    }
    parse(&body, above, below).map_err(|e| format!("{endpoint}: {e}"))
}

/// The series of a render answer that fire. Labels: `target` (the series name), `node0`,
/// `node1`, … (its dot-separated parts, as Graphite's `aliasByNode` counts them) and the
/// series' tags. A series with no non-null datapoint has nothing to say and does not fire.
pub fn parse(body: &str, above: Option<f64>, below: Option<f64>) -> Result<Vec<Sample>, String> {
    let doc: Value =
        serde_json::from_str(body).map_err(|e| format!("the answer is not JSON: {e}"))?;
    let Some(series) = doc.as_array() else {
        return Err("the answer is not a list of series".into());
    };
    let mut out = Vec::new();
    for s in series {
        let Some(name) = s["target"].as_str() else {
            return Err("a series has no target".into());
        };
        let Some(points) = s["datapoints"].as_array() else {
            return Err(format!("series {name} has no datapoints list"));
        };
        let last = points
            .iter()
            .rev()
            .find_map(|p| p.get(0).and_then(Value::as_f64));
        let Some(v) = last else { continue };
        let fires = above.is_some_and(|a| v > a) || below.is_some_and(|b| v < b);
        if !fires {
            continue;
        }
        let mut labels = BTreeMap::new();
        if let Some(tags) = s["tags"].as_object() {
            for (k, t) in tags {
                if let Some(t) = t.as_str() {
                    labels.insert(k.clone(), t.to_string());
                }
            }
        }
        for (i, node) in name.split('.').enumerate() {
            labels.insert(format!("node{i}"), node.to_string());
        }
        labels.insert("target".into(), name.to_string());
        out.push(Sample {
            labels,
            value: float(v).unwrap_or(Value::Null),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_datapoint_is_compared() {
        let body = r#"[
            {"target":"servers.db1.lag","datapoints":[[500,1],[null,2]],"tags":{"name":"servers.db1.lag"}},
            {"target":"servers.db2.lag","datapoints":[[500,1],[12,2]]},
            {"target":"servers.db3.lag","datapoints":[[null,1]]}]"#;
        let s = parse(body, Some(300.0), None).expect("parsed");
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].labels["node1"], "db1");
        assert_eq!(s[0].labels["target"], "servers.db1.lag");
        assert_eq!(s[0].value, 500);
        let low = parse(body, None, Some(100.0)).expect("parsed");
        assert_eq!(low[0].labels["node1"], "db2");
        assert!(parse("{}", Some(1.0), None).is_err());
        assert!(parse(r#"[{"target":"x"}]"#, Some(1.0), None).is_err());
    }
}
