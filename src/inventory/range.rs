//! Host names as inventories write them: `web[01:20]`, `db-[a:c]`, `host:2222`, `[::1]:22`.
//!
//! Owns: splitting an optional port off a host entry and expanding `[begin:end(:step)]`
//! ranges exactly as Ansible does (zero padding from the begin value, letter ranges, several
//! ranges in one name). Must not: know about groups or files; errors are plain messages the
//! caller places at a file and line.

/// Splits `host:port`, `[host]:port` or `host` into the host part and an optional port.
/// IPv6 addresses without brackets never carry a port.
pub fn split_port(entry: &str) -> (String, Option<u16>) {
    if let Some(inner) = entry.strip_prefix('[')
        && let Some((host, port)) = inner.rsplit_once("]:")
        && let Ok(p) = port.parse::<u16>()
        && !host.is_empty()
        && !host.contains(']')
    {
        return (host.to_string(), Some(p));
    }
    if let Some((host, port)) = entry.rsplit_once(':')
        && !host.is_empty()
        && !port.is_empty()
        && port.bytes().all(|b| b.is_ascii_digit())
        && !has_colon_outside_brackets(host)
        && let Ok(p) = port.parse::<u16>()
    {
        return (host.to_string(), Some(p));
    }
    (entry.to_string(), None)
}

fn has_colon_outside_brackets(s: &str) -> bool {
    let mut depth = 0i32;
    for c in s.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ':' if depth == 0 => return true,
            _ => {}
        }
    }
    false
}

/// True when the name holds a `[x:y]` range to expand (and is not a bare IPv6 address).
pub fn has_range(name: &str) -> bool {
    name.contains('[')
}

/// Upper bound on the hosts one range may produce, against typos like `web[1:99999999]`.
pub const MAX_RANGE_HOSTS: usize = 1_000_000;

/// Expands every `[begin:end]` / `[begin:end:step]` in `name`, left to right.
pub fn expand(name: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    expand_into(name, &mut out)?;
    Ok(out)
}

fn expand_into(name: &str, out: &mut Vec<String>) -> Result<(), String> {
    let Some(open) = name.find('[') else {
        out.push(name.to_string());
        return Ok(());
    };
    let Some(close_rel) = name[open..].find(']') else {
        return Err(format!("unclosed range in host name '{name}'"));
    };
    let close = open + close_rel;
    let (head, body, tail) = (&name[..open], &name[open + 1..close], &name[close + 1..]);
    let bounds: Vec<&str> = body.split(':').collect();
    if bounds.len() != 2 && bounds.len() != 3 {
        return Err(format!(
            "host range '[{body}]' must be begin:end or begin:end:step"
        ));
    }
    let beg = if bounds[0].is_empty() { "0" } else { bounds[0] };
    let end = bounds[1];
    if end.is_empty() {
        return Err(format!("host range '[{body}]' must specify an end value"));
    }
    let step: usize = match bounds.get(2) {
        None => 1,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => return Err(format!("host range step '{s}' must be a positive integer")),
        },
    };
    let width = if beg.len() > 1 && beg.starts_with('0') {
        if beg.len() != end.len() {
            return Err(format!(
                "host range '[{body}]' must use equal-length begin and end when zero-padded"
            ));
        }
        beg.len()
    } else {
        0
    };
    let single_letter = |s: &str| {
        let mut cs = s.chars();
        matches!((cs.next(), cs.next()), (Some(c), None) if c.is_ascii_alphabetic())
    };
    let items: Vec<String> = if single_letter(beg) && single_letter(end) {
        // Python's string.ascii_letters order: a..z then A..Z.
        const LETTERS: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
        let (Some(b), Some(e)) = (LETTERS.find(beg), LETTERS.find(end)) else {
            return Err(format!("invalid letter range '[{body}]'"));
        };
        if b > e {
            return Err(format!("host range '[{body}]' must have begin <= end"));
        }
        LETTERS[b..=e]
            .chars()
            .step_by(step)
            .map(String::from)
            .collect()
    } else {
        let (Ok(b), Ok(e)) = (beg.parse::<u64>(), end.parse::<u64>()) else {
            return Err(format!(
                "host range '[{body}]' must be numbers or single letters"
            ));
        };
        if e >= b && (e - b) as usize / step >= MAX_RANGE_HOSTS {
            return Err(format!(
                "host range '[{body}]' expands to more than {MAX_RANGE_HOSTS} hosts"
            ));
        }
        (b..=e)
            .step_by(step)
            .map(|n| format!("{n:0width$}"))
            .collect()
    };
    for item in items {
        let name = format!("{head}{item}{tail}");
        if out.len() >= MAX_RANGE_HOSTS {
            return Err(format!(
                "host ranges expand to more than {MAX_RANGE_HOSTS} hosts"
            ));
        }
        expand_into(&name, out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports() {
        assert_eq!(split_port("web1"), ("web1".into(), None));
        assert_eq!(split_port("web1:2222"), ("web1".into(), Some(2222)));
        assert_eq!(split_port("10.0.0.1:22"), ("10.0.0.1".into(), Some(22)));
        assert_eq!(split_port("[::1]:2200"), ("::1".into(), Some(2200)));
        assert_eq!(split_port("fe80::1"), ("fe80::1".into(), None));
        assert_eq!(split_port("web[01:03]"), ("web[01:03]".into(), None));
        assert_eq!(
            split_port("web[01:03]:2222"),
            ("web[01:03]".into(), Some(2222))
        );
        assert_eq!(split_port("host:"), ("host:".into(), None));
        assert_eq!(split_port("host:99999"), ("host:99999".into(), None));
    }

    #[test]
    fn numeric_ranges() {
        assert_eq!(expand("web[1:3]").unwrap(), ["web1", "web2", "web3"]);
        assert_eq!(expand("web[01:03]").unwrap(), ["web01", "web02", "web03"]);
        assert_eq!(expand("w[0:6:3].x").unwrap(), ["w0.x", "w3.x", "w6.x"]);
        assert_eq!(expand("w[:2]").unwrap(), ["w0", "w1", "w2"]);
        assert_eq!(expand("w[3:1]").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn letter_and_nested_ranges() {
        assert_eq!(expand("db-[a:c]").unwrap(), ["db-a", "db-b", "db-c"]);
        assert_eq!(expand("[y:B]").unwrap(), ["y", "z", "A", "B"]);
        assert_eq!(
            expand("r[1:2]-[a:b]").unwrap(),
            ["r1-a", "r1-b", "r2-a", "r2-b"]
        );
    }

    #[test]
    fn bad_ranges() {
        assert!(expand("w[1:]").unwrap_err().contains("end value"));
        assert!(expand("w[01:3]").unwrap_err().contains("equal-length"));
        assert!(expand("w[1]").unwrap_err().contains("begin:end"));
        assert!(expand("w[1:3:0]").unwrap_err().contains("step"));
        assert!(expand("w[c:a]").unwrap_err().contains("begin <= end"));
        assert!(expand("w[1:3").unwrap_err().contains("unclosed"));
        assert!(expand("w[1:x]").unwrap_err().contains("numbers or"));
        assert!(
            expand("w[0:99999999999]")
                .unwrap_err()
                .contains("more than")
        );
    }
}
