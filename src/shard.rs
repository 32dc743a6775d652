//! `olympus run --shard I/N`: one of N runs that together do what one run would, each on a
//! deterministic share of the hosts, so a CI matrix, a Kubernetes Indexed Job or several
//! machines can split a fleet too large for one controller (docs/scale-out.md).
//!
//! Owns: the `I/N` value, which shard an inventory host belongs to (rendezvous hashing of
//! its name: stable across runs, machines and olympus versions; adding or removing a host
//! moves no other host; going from N to N+1 shards moves about 1/(N+1) of them), and what
//! a playbook may not do under sharding because the shards together would do something
//! else than one run (`run_once`, `any_errors_fatal`, `max_fail_percentage`, `serial` as a
//! number). Must not: select hosts from patterns (the engine applies [`Shard::holds`]
//! after its pattern and `--limit`) or merge the shards' reports (`app::report`).

use serde_json::Value;

use crate::playbook::{Action, Common, Play, Playbook, Task};

/// The most shards a run may be split into.
pub const MAX_SHARDS: u32 = 10_000;

/// Shard `index` of `of` (1-based, as written on the command line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    pub index: u32,
    pub of: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "--shard '{given}': expected I/N, shard I of N, with 1 <= I <= N <= {MAX_SHARDS} (e.g. --shard 2/4)"
)]
pub struct BadShard {
    pub given: String,
}

impl std::str::FromStr for Shard {
    type Err = BadShard;

    fn from_str(s: &str) -> Result<Shard, BadShard> {
        let bad = || BadShard {
            given: s.to_string(),
        };
        let (i, n) = s.trim().split_once('/').ok_or_else(bad)?;
        let index: u32 = i.trim().parse().map_err(|_| bad())?;
        let of: u32 = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || of == 0 || index > of || of > MAX_SHARDS {
            return Err(bad());
        }
        Ok(Shard { index, of })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.of)
    }
}

impl Shard {
    /// Whether `host` (an inventory hostname) is this shard's.
    pub fn holds(&self, host: &str) -> bool {
        owner(host, self.of) == self.index
    }
}

/// The shard (1..=`of`) that `host` belongs to: the one whose score for the host is highest
/// (rendezvous hashing). A score is the first 8 bytes of SHA-256 over the name, a zero
/// byte and the shard's number in decimal: the same on every machine, for ever.
pub fn owner(host: &str, of: u32) -> u32 {
    let mut best = (0u64, 1u32);
    for i in 1..=of.max(1) {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(host.as_bytes());
        ctx.update(&[0]);
        ctx.update(i.to_string().as_bytes());
        let d = ctx.finish();
        let mut first = [0u8; 8];
        first.copy_from_slice(&d.as_ref()[..8]);
        let score = u64::from_be_bytes(first);
        if score > best.0 || i == 1 {
            best = (score, i);
        }
    }
    best.1
}

/// What under `--shard` would not do what one run does, with where it is written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct Refused {
    pub origin: String,
    pub message: String,
}

/// Every keyword of `books` (plays, their roles' and statically imported tasks, handlers)
/// that the shards together would not honour as one run does.
pub fn check(books: &[Playbook], shard: Shard) -> Vec<Refused> {
    let mut out = Vec::new();
    for play in books.iter().flat_map(|b| b.plays.iter()) {
        check_play(play, shard, &mut out);
    }
    out
}

/// The same for tasks brought in at run time (`include_tasks`, `include_role`).
pub fn check_tasks(tasks: &[Task], shard: Shard) -> Vec<Refused> {
    let mut out = Vec::new();
    walk(tasks, shard, &mut out);
    out
}

fn check_play(play: &Play, shard: Shard, out: &mut Vec<Refused>) {
    let at = |message: String| Refused {
        origin: play.origin.to_string(),
        message,
    };
    let n = shard.of;
    if let Some(serial) = &play.serial
        && let Some(count) = absolute_serial(serial)
    {
        out.push(at(format!(
            "serial: {count}: under --shard each of the {n} shards runs its own batches at the same time (up to {n} x {count} hosts at once, not {count}); write serial as a percentage of the play's hosts (each shard keeps that share), or run this play without --shard"
        )));
    }
    if play.max_fail_percentage.is_some() {
        out.push(at(format!(
            "max_fail_percentage: under --shard each of the {n} shards would count only its own hosts' failures, and the others would go on where one run stops; run this play without --shard"
        )));
    }
    common(&play.common, shard, &|m| at(m), out);
    for list in play.task_lists() {
        walk(list, shard, out);
    }
}

fn walk(tasks: &[Task], shard: Shard, out: &mut Vec<Refused>) {
    for task in tasks {
        let at = |message: String| Refused {
            origin: task.origin.to_string(),
            message,
        };
        common(&task.common, shard, &at, out);
        if let Some(apply) = &task.apply {
            common(apply, shard, &|m| at(format!("apply: {m}")), out);
        }
        if let Action::Block {
            block,
            rescue,
            always,
        } = &task.action
        {
            walk(block, shard, out);
            walk(rescue, shard, out);
            walk(always, shard, out);
        }
    }
}

fn common(c: &Common, shard: Shard, at: &dyn Fn(String) -> Refused, out: &mut Vec<Refused>) {
    let n = shard.of;
    if set(&c.run_once) {
        out.push(at(format!(
            "run_once: under --shard each of the {n} shards would run this once, on a host of its own ({n} times in all); move it to a play run without --shard"
        )));
    }
    if set(&c.any_errors_fatal) {
        out.push(at(format!(
            "any_errors_fatal: under --shard a failure stops only its own shard's hosts, and the other {} shards go on; run this play without --shard",
            n - 1
        )));
    }
}

/// A keyword that is, or may be (a template), true.
fn set(v: &Option<Value>) -> bool {
    match v {
        None => false,
        Some(v) if crate::template::has_template(v) => true,
        Some(v) => crate::template::ansible_bool(v),
    }
}

/// `serial` given as a number of hosts (or a template, which may be one): as written.
fn absolute_serial(v: &Value) -> Option<String> {
    match v {
        Value::Array(items) => items.iter().find_map(absolute_serial),
        Value::String(s) if s.trim().ends_with('%') && !s.contains("{{") => None,
        Value::Null => None,
        other => Some(match other {
            Value::String(s) => s.clone(),
            v => v.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_as_i_of_n() {
        assert_eq!("2/4".parse(), Ok(Shard { index: 2, of: 4 }));
        assert_eq!(" 1 / 1 ".parse(), Ok(Shard { index: 1, of: 1 }));
        for bad in ["0/4", "5/4", "4", "a/b", "1/0", "-1/4", "1/10001", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        assert_eq!(Shard { index: 3, of: 8 }.to_string(), "3/8");
    }

    #[test]
    fn every_host_is_in_exactly_one_shard() {
        let hosts: Vec<String> = (0..1000).map(|i| format!("web{i:04}.example")).collect();
        let n = 4;
        let mut sizes = [0usize; 4];
        for h in &hosts {
            let holders: Vec<u32> = (1..=n)
                .filter(|&i| Shard { index: i, of: n }.holds(h))
                .collect();
            assert_eq!(holders.len(), 1, "{h}: {holders:?}");
            sizes[(holders[0] - 1) as usize] += 1;
        }
        // Balanced within what hashing gives (binomial: 250 +- 4 sigma).
        for s in sizes {
            assert!((190..=310).contains(&s), "{sizes:?}");
        }
    }

    #[test]
    fn one_more_shard_moves_about_its_share_of_hosts() {
        let hosts: Vec<String> = (0..2000).map(|i| format!("db-{i}")).collect();
        let moved = hosts.iter().filter(|h| owner(h, 4) != owner(h, 5)).count();
        // Rendezvous hashing: a host moves only to the new shard, about 1/5 of them.
        assert!((300..=500).contains(&moved), "{moved}");
        assert!(
            hosts
                .iter()
                .filter(|h| owner(h, 4) != owner(h, 5))
                .all(|h| owner(h, 5) == 5)
        );
    }

    #[test]
    fn owners_are_fixed_for_ever() {
        // Computed apart from this code (Python's hashlib, the rule in docs/scale-out.md):
        // a change here would move hosts between the shards of a running fleet.
        let got: Vec<u32> = ["web1", "web2", "db1", "localhost", "10.0.0.7"]
            .iter()
            .map(|h| owner(h, 4))
            .collect();
        assert_eq!(got, RECORDED_OWNERS);
        assert_eq!(owner("anything", 1), 1);
    }

    const RECORDED_OWNERS: [u32; 5] = [2, 2, 1, 1, 4];

    #[test]
    fn serial_numbers_are_refused_and_percentages_kept() {
        assert_eq!(absolute_serial(&Value::from(2)), Some("2".into()));
        assert_eq!(absolute_serial(&Value::from("30%")), None);
        assert_eq!(
            absolute_serial(&serde_json::json!(["10%", 5])),
            Some("5".into())
        );
        assert_eq!(
            absolute_serial(&Value::from("{{ n }}")),
            Some("{{ n }}".into())
        );
        assert_eq!(absolute_serial(&Value::from("3")), Some("3".into()));
    }
}
