//! The ranges numbers from users must fall in before they become durations or counts.
//!
//! Owns: reading a number a playbook, a template or the command line gave for a wait, a
//! timeout or a repeat count (an integer, a float or a numeric string), and refusing it —
//! negative, not finite, not a number, or beyond the stated maximum — with a message that
//! names the setting and the range. Nothing a user writes may panic a conversion.
//! Must not: know where the number was written (callers add file and line) or what it is for.

use std::time::Duration;

use serde_json::Value;

/// The longest wait or timeout accepted: seven days.
pub const MAX_SECONDS: f64 = 7.0 * 24.0 * 3600.0;

/// The most repeats (`retries`) accepted.
pub const MAX_COUNT: u64 = 1_000_000;

fn number(what: &str, v: &Value) -> Result<f64, String> {
    let n = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    n.ok_or_else(|| format!("{what} must be a number, got {}", shown(v)))
}

fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => format!("'{s}'"),
        other => other.to_string(),
    }
}

/// A number of seconds, from 0 to [`MAX_SECONDS`].
pub fn seconds(what: &str, v: &Value) -> Result<Duration, String> {
    let n = number(what, v)?;
    if !(0.0..=MAX_SECONDS).contains(&n) {
        return Err(format!(
            "{what} must be between 0 and {MAX_SECONDS} seconds (7 days), got {}",
            shown(v)
        ));
    }
    Duration::try_from_secs_f64(n).map_err(|e| format!("{what}: {e}"))
}

/// A whole count, from 0 to [`MAX_COUNT`].
pub fn count(what: &str, v: &Value) -> Result<u64, String> {
    let n = number(what, v)?;
    if n.fract() != 0.0 || !(0.0..=MAX_COUNT as f64).contains(&n) {
        return Err(format!(
            "{what} must be a whole number from 0 to {MAX_COUNT}, got {}",
            shown(v)
        ));
    }
    Ok(n as u64)
}

/// True when the value is a template, to be checked once rendered.
pub fn is_template(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.contains("{{") || s.contains("{%"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn waits_and_counts_are_range_checked() {
        assert_eq!(
            seconds("delay", &json!(1.5)).unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(
            seconds("delay", &json!("2")).unwrap(),
            Duration::from_secs(2)
        );
        for bad in [
            json!(-1),
            json!(1e300),
            json!("soon"),
            json!(null),
            json!("NaN"),
            json!("inf"),
        ] {
            assert!(seconds("delay", &bad).is_err(), "{bad}");
        }
        assert_eq!(count("retries", &json!(3)).unwrap(), 3);
        assert_eq!(count("retries", &json!("10")).unwrap(), 10);
        for bad in [
            json!(-1),
            json!(1.5),
            json!(1e20),
            json!("many"),
            json!(u64::MAX),
        ] {
            assert!(count("retries", &bad).is_err(), "{bad}");
        }
        assert!(
            seconds("timeout", &json!("soon"))
                .unwrap_err()
                .contains("'soon'")
        );
    }
}
