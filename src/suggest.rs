//! "Did you mean …?" for names a user mistyped.
//!
//! Owns: picking the closest valid name by edit distance. Must not: know which names are valid
//! anywhere; callers pass the candidates.

/// Edit distance between two strings, counted in characters: insertions, deletions,
/// substitutions and swaps of two neighbours ("wbe" → "web" is one edit).
pub fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    for i in 0..=a.len() {
        d[i * w] = i;
    }
    for (j, cell) in d.iter_mut().enumerate().take(w) {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[(i - 1) * w + j] + 1)
                .min(d[i * w + j - 1] + 1)
                .min(d[(i - 1) * w + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[(i - 2) * w + j - 2] + 1);
            }
            d[i * w + j] = best;
        }
    }
    d[a.len() * w + b.len()]
}

/// The candidate closest to `name`, if it is close enough to be a plausible typo
/// (at most a third of the name's length, and at least one edit allowed).
pub fn closest<'a, I>(name: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let limit = (name.chars().count() / 3).max(1);
    // Ties go to the candidate sharing more letters with the name ("taks" → "tasks", not
    // "tags").
    candidates
        .into_iter()
        .map(|c| (distance(name, c), usize::MAX - shared_letters(name, c), c))
        .filter(|(d, _, _)| *d <= limit)
        .min_by_key(|(d, s, _)| (*d, *s))
        .map(|(_, _, c)| c)
}

/// How many letters two words have in common, counted with repeats.
fn shared_letters(a: &str, b: &str) -> usize {
    let mut rest: Vec<char> = b.chars().collect();
    a.chars()
        .filter(|c| match rest.iter().position(|r| r == c) {
            Some(i) => {
                rest.swap_remove(i);
                true
            }
            None => false,
        })
        .count()
}

/// "did you mean 'x'?" or an empty string.
pub fn did_you_mean<'a, I>(name: &str, candidates: I) -> String
where
    I: IntoIterator<Item = &'a str>,
{
    closest(name, candidates)
        .map(|c| format!("did you mean '{c}'?"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_counts_edits() {
        assert_eq!(distance("hosts", "hosts"), 0);
        assert_eq!(distance("hostz", "hosts"), 1);
        assert_eq!(distance("chidren", "children"), 1);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("wbe", "web"), 1);
    }

    #[test]
    fn closest_only_when_plausible() {
        let c = ["hosts", "vars", "children"];
        assert_eq!(closest("chldren", c), Some("children"));
        assert_eq!(closest("var", c), Some("vars"));
        assert_eq!(closest("something", c), None);
        assert_eq!(closest("taks", ["tags", "tasks"]), Some("tasks"));
    }
}
