//! What heal does about one evaluation of one check: for every host its source names, act,
//! or why not. Pure: given the samples, the state before and the guards' budgets, it returns
//! the decisions and the state after; the caller records them and acts.
//!
//! Owns: the order guards apply in. Must not: read sources or state, or run anything.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::rules::Check;
use crate::state::{DecisionRecord, Streak};

/// A sample whose label named a host (or did not).
#[derive(Debug, Clone)]
pub struct Firing {
    /// The inventory host, `None` when the label names none.
    pub host: Option<String>,
    /// The label's value as the source gave it.
    pub label: String,
    pub value: Value,
    pub labels: BTreeMap<String, String>,
}

/// What the guards outside the check allow in this evaluation.
#[derive(Debug, Clone, Default)]
pub struct Budget {
    /// Why nothing may run (the kill switch), when nothing may.
    pub locked: Option<String>,
    /// Actions that may still start this hour (`None`: no limit).
    pub actions_left: Option<u32>,
    /// Hosts an action already started on in this pass (one remediation per host at once).
    pub busy: BTreeSet<String>,
}

/// An action to start.
#[derive(Debug, Clone)]
pub struct Act {
    pub host: String,
    pub value: Value,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub decisions: Vec<DecisionRecord>,
    pub streaks: BTreeMap<String, Streak>,
    pub acts: Vec<Act>,
}

fn decision(host: &str, value: &Value, what: &str, detail: String) -> DecisionRecord {
    DecisionRecord {
        host: host.to_string(),
        value: value.clone(),
        decision: what.to_string(),
        detail,
    }
}

/// Decides `check`'s evaluation at `now`; `last_action(host)` says when the check last acted
/// on a host. `budget.actions_left` and `budget.busy` are updated by the actions decided.
pub fn decide(
    check: &Check,
    firing: &[Firing],
    before: &BTreeMap<String, Streak>,
    now: jiff::Timestamp,
    last_action: &dyn Fn(&str) -> Option<jiff::Timestamp>,
    budget: &mut Budget,
) -> Outcome {
    let mut out = Outcome::default();
    // One event per host: a second series naming the same host adds nothing.
    let mut seen = BTreeSet::new();
    let mut ready: Vec<&Firing> = Vec::new();
    for f in firing {
        let Some(host) = &f.host else {
            out.decisions.push(decision(
                &f.label,
                &f.value,
                "unmatched",
                format!(
                    "label {}={} names no inventory host (by name or ansible_host)",
                    check.hosts_from, f.label
                ),
            ));
            continue;
        };
        if !seen.insert(host.clone()) {
            continue;
        }
        let prev = before.get(host).copied().unwrap_or_default();
        let st = Streak {
            count: prev.count.saturating_add(1),
            acted_at: prev.acted_at,
        };
        out.streaks.insert(host.clone(), st);
        if st.count < check.for_evaluations {
            out.decisions.push(decision(
                host,
                &f.value,
                "waiting",
                format!(
                    "held {} of {} evaluations in a row",
                    st.count, check.for_evaluations
                ),
            ));
            continue;
        }
        ready.push(f);
    }
    if let Some(max) = check.max_hosts
        && ready.len() > max as usize
    {
        let names: Vec<&str> = ready.iter().filter_map(|f| f.host.as_deref()).collect();
        for f in &ready {
            out.decisions.push(decision(
                f.host.as_deref().unwrap_or_default(),
                &f.value,
                "max_hosts",
                format!(
                    "{} hosts fire at once ({}), more than max_hosts {max}: acting on none",
                    ready.len(),
                    names.join(", ")
                ),
            ));
        }
        return out;
    }
    for f in ready {
        let host = f.host.clone().unwrap_or_default();
        let st = out.streaks.get(&host).copied().unwrap_or_default();
        let not = |what: &str, detail: String| decision(&host, &f.value, what, detail);
        let d = if let Some(at) = st.acted_at {
            not(
                "acted",
                format!("acted on this event at {at}; acts again once it clears"),
            )
        } else if let Some(last) = last_action(&host)
            .filter(|l| now.as_second() - l.as_second() < check.cooldown.as_secs() as i64)
        {
            let until = last
                .checked_add(jiff::SignedDuration::from_secs(
                    i64::try_from(check.cooldown.as_secs()).unwrap_or(i64::MAX),
                ))
                .unwrap_or(jiff::Timestamp::MAX);
            not(
                "cooldown",
                format!("last acted at {last}; cooling down until {until}"),
            )
        } else if let Some(why) = &budget.locked {
            not("locked", format!("the kill switch is {why}"))
        } else if budget.actions_left == Some(0) {
            not(
                "rate_limit",
                "max_actions_per_hour reached: no action starts this hour".into(),
            )
        } else if budget.busy.contains(&host) {
            not(
                "busy",
                "another check acts on this host in this evaluation".into(),
            )
        } else {
            budget.actions_left = budget.actions_left.map(|n| n - 1);
            budget.busy.insert(host.clone());
            out.streaks.insert(
                host.clone(),
                Streak {
                    count: st.count,
                    acted_at: Some(now),
                },
            );
            out.acts.push(Act {
                host: host.clone(),
                value: f.value.clone(),
                labels: f.labels.clone(),
            });
            not("act", format!("runs {}", check.action.what.describe()))
        };
        out.decisions.push(d);
    }
    out
}

/// A host a per-host source could not probe: its streak is kept as it was (nothing is
/// known, so nothing counts for or against it) and the decision says why.
pub fn unknown(out: &mut Outcome, before: &BTreeMap<String, Streak>, host: &str, why: String) {
    if let Some(st) = before.get(host) {
        out.streaks.insert(host.to_string(), *st);
    }
    out.decisions
        .push(decision(host, &Value::Null, "unknown", why));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heal::rules::{Action, Source};
    use std::time::Duration;

    fn check(for_evaluations: u32, max_hosts: Option<u32>, cooldown: u64) -> Check {
        Check {
            name: "lag".into(),
            pos: Default::default(),
            source: Source::Prometheus {
                url: "http://p".into(),
                query: "q".into(),
            },
            timeout: Duration::from_secs(1),
            hosts_from: "instance".into(),
            for_evaluations,
            action: Action {
                what: crate::heal::rules::Remedy::Playbook("fix.yml".into()),
                vars: Default::default(),
            },
            cooldown: Duration::from_secs(cooldown),
            max_hosts,
        }
    }

    fn fire(hosts: &[&str]) -> Vec<Firing> {
        hosts
            .iter()
            .map(|h| Firing {
                host: (!h.starts_with('?')).then(|| h.to_string()),
                label: format!("{h}:9100"),
                value: Value::from(301),
                labels: BTreeMap::new(),
            })
            .collect()
    }

    fn t(s: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(1_800_000_000 + s).expect("time")
    }

    fn kinds(o: &Outcome) -> Vec<(String, String)> {
        o.decisions
            .iter()
            .map(|d| (d.host.clone(), d.decision.clone()))
            .collect()
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn for_waits_then_acts_once_per_event() {
        let c = check(2, None, 0);
        let never = |_: &str| None;
        let mut b = Budget::default();
        let o1 = decide(&c, &fire(&["db1"]), &BTreeMap::new(), t(0), &never, &mut b);
        assert_eq!(kinds(&o1), pairs(&[("db1", "waiting")]));
        let o2 = decide(&c, &fire(&["db1"]), &o1.streaks, t(60), &never, &mut b);
        assert_eq!(kinds(&o2), pairs(&[("db1", "act")]));
        assert_eq!(o2.acts.len(), 1);
        let o3 = decide(&c, &fire(&["db1"]), &o2.streaks, t(120), &never, &mut b);
        assert_eq!(kinds(&o3), pairs(&[("db1", "acted")]));
        // It clears (not in the samples): the next firing is a new event.
        let o4 = decide(&c, &[], &o3.streaks, t(180), &never, &mut b);
        assert!(o4.streaks.is_empty());
    }

    #[test]
    fn guards_in_order() {
        let mut b = Budget::default();
        let never = |_: &str| None;
        // Blast radius: three firing, max two: none acts.
        let o = decide(
            &check(1, Some(2), 0),
            &fire(&["a", "b", "c", "?x"]),
            &BTreeMap::new(),
            t(0),
            &never,
            &mut b,
        );
        assert_eq!(
            kinds(&o),
            pairs(&[
                ("?x:9100", "unmatched"),
                ("a", "max_hosts"),
                ("b", "max_hosts"),
                ("c", "max_hosts")
            ])
        );
        assert!(o.acts.is_empty());
        // Cooldown: acted 10 minutes ago, cooldown 30 minutes.
        let recent = |_: &str| Some(t(-600));
        let o = decide(
            &check(1, None, 1800),
            &fire(&["a"]),
            &BTreeMap::new(),
            t(0),
            &recent,
            &mut b,
        );
        assert_eq!(kinds(&o), pairs(&[("a", "cooldown")]));
        // The kill switch, then the hourly budget, then one action per host.
        let mut locked = Budget {
            locked: Some("engaged by x".into()),
            ..Budget::default()
        };
        let o = decide(
            &check(1, None, 0),
            &fire(&["a"]),
            &BTreeMap::new(),
            t(0),
            &never,
            &mut locked,
        );
        assert_eq!(kinds(&o), pairs(&[("a", "locked")]));
        let mut one_left = Budget {
            actions_left: Some(1),
            ..Budget::default()
        };
        let o = decide(
            &check(1, None, 0),
            &fire(&["a", "b"]),
            &BTreeMap::new(),
            t(0),
            &never,
            &mut one_left,
        );
        assert_eq!(kinds(&o), pairs(&[("a", "act"), ("b", "rate_limit")]));
        let o = decide(
            &check(1, None, 0),
            &fire(&["a"]),
            &BTreeMap::new(),
            t(0),
            &never,
            &mut b,
        );
        assert_eq!(kinds(&o), pairs(&[("a", "act")]));
        let o = decide(
            &check(1, None, 0),
            &fire(&["a"]),
            &BTreeMap::new(),
            t(0),
            &never,
            &mut b,
        );
        assert_eq!(kinds(&o), pairs(&[("a", "busy")]));
    }
}
