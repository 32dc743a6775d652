//! Alertmanager's active alerts, polled from `/api/v2/alerts`.

use std::time::Duration;

use serde_json::Value;

use super::{Sample, get, labels_of, number};

pub fn query(url: &str, filter: &[String], timeout: Duration) -> Result<Vec<Sample>, String> {
    let endpoint = format!("{url}/api/v2/alerts");
    let mut query: Vec<(&str, &str)> = vec![
        ("active", "true"),
        ("silenced", "false"),
        ("inhibited", "false"),
    ];
    query.extend(filter.iter().map(|f| ("filter", f.as_str())));
    let (status, body) = get(&endpoint, &query, timeout)?;
    if status != 200 {
        return Err(format!(
            "{endpoint}: HTTP {status}: {}",
            body.chars().take(300).collect::<String>().trim()
        ));
    }
    parse(&body).map_err(|e| format!("{endpoint}: {e}"))
}

/// Alertmanager's `/api/v2/alerts` answer: one sample per alert, its labels; its value the
/// `value` annotation when it has one (a number when it reads as one), else 1.
pub fn parse(body: &str) -> Result<Vec<Sample>, String> {
    let doc: Value =
        serde_json::from_str(body).map_err(|e| format!("the answer is not JSON: {e}"))?;
    let Some(alerts) = doc.as_array() else {
        return Err("the answer is not a list of alerts".into());
    };
    Ok(alerts
        .iter()
        .map(|a| {
            let labels = labels_of(&a["labels"]);
            let value = match a["annotations"]["value"].as_str() {
                Some(t) => number(t),
                None => Value::from(1),
            };
            Sample { labels, value }
        })
        .collect())
}
