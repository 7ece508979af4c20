//! `--shard K/N`: the K-th of N disjoint parts of a run, whole collections
//! (their requests depend on one another), balanced by request count or by
//! the durations of an earlier run, the same for the same inputs.

use std::collections::HashMap;
use std::path::Path;

use crate::load::Collection;

/// Which part of the run this is: `index` of `count`, from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// K, from 1.
    pub index: usize,
    /// N.
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;

    /// `K/N` with 1 ≤ K ≤ N.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("--shard takes K/N with 1 ≤ K ≤ N (such as 2/4), not `{s}`");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count): (usize, usize) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if index == 0 || count == 0 || index > count || count > 10_000 {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

/// The collections of `shard`, in their order. Each collection goes to
/// the part with the least weight so far, heaviest first (ties by name),
/// so the parts are balanced and every collection is in exactly one.
pub fn select(
    collections: Vec<Collection>,
    shard: Shard,
    weights: &HashMap<String, f64>,
) -> Vec<Collection> {
    let weight = |c: &Collection| {
        weights
            .get(&c.name)
            .copied()
            .unwrap_or(c.requests.len() as f64)
    };
    let mut order: Vec<usize> = (0..collections.len()).collect();
    order.sort_by(|&a, &b| {
        weight(&collections[b])
            .total_cmp(&weight(&collections[a]))
            .then_with(|| collections[a].name.cmp(&collections[b].name))
    });
    let mut load = vec![0.0f64; shard.count];
    let mut part = vec![0usize; collections.len()];
    for i in order {
        let lightest = (0..shard.count)
            .min_by(|&a, &b| load[a].total_cmp(&load[b]).then(a.cmp(&b)))
            .expect("at least one part");
        load[lightest] += weight(&collections[i]).max(f64::MIN_POSITIVE);
        part[i] = lightest;
    }
    collections
        .into_iter()
        .zip(part)
        .filter(|(_, p)| *p == shard.index - 1)
        .map(|(c, _)| c)
        .collect()
}

/// Each collection's time in an earlier run's JSON report, in milliseconds.
pub fn weights_from_report(path: &Path) -> Result<HashMap<String, f64>, String> {
    let report = crate::report::merge::read(path)?;
    let requests = report["requests"].as_array().expect("checked by read");
    let mut weights = HashMap::new();
    for r in requests {
        if let (Some(c), Some(ms)) = (r["collection"].as_str(), r["duration_ms"].as_f64()) {
            *weights.entry(c.to_string()).or_insert(0.0) += ms;
        }
    }
    Ok(weights)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collections(sizes: &[usize]) -> Vec<Collection> {
        sizes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let requests: String = (0..*n)
                    .map(|r| format!("  - {{name: r{r}, url: /x}}\n"))
                    .collect();
                crate::load::load_str(&format!("c{i}.yaml"), &format!("requests:\n{requests}"))
                    .unwrap()
            })
            .collect()
    }

    #[test]
    fn the_parts_are_disjoint_cover_everything_and_balance_requests() {
        let sizes = [9, 1, 4, 4, 3, 2, 2, 7];
        let names = |cs: &[Collection]| cs.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
        let mut seen = Vec::new();
        let mut loads = Vec::new();
        for k in 1..=3 {
            let part = select(
                collections(&sizes),
                Shard { index: k, count: 3 },
                &HashMap::new(),
            );
            loads.push(part.iter().map(|c| c.requests.len()).sum::<usize>());
            seen.extend(names(&part));
            // The same inputs, the same part.
            let again = select(
                collections(&sizes),
                Shard { index: k, count: 3 },
                &HashMap::new(),
            );
            assert_eq!(names(&part), names(&again));
        }
        seen.sort();
        let mut all = names(&collections(&sizes));
        all.sort();
        assert_eq!(seen, all, "every collection in exactly one part");
        assert_eq!(loads.iter().sum::<usize>(), 32);
        assert!(
            loads.iter().max().unwrap() - loads.iter().min().unwrap() <= 1,
            "{loads:?}"
        );
    }

    #[test]
    fn durations_of_an_earlier_run_weigh_over_request_counts() {
        let cs = collections(&[1, 1, 1]);
        let weights = HashMap::from([("c0".to_string(), 1000.0)]);
        let first = select(cs.clone(), Shard { index: 1, count: 2 }, &weights);
        assert_eq!(first.len(), 1, "the slow collection alone in its part");
        assert_eq!(first[0].name, "c0");
    }

    #[test]
    fn shard_specs_are_checked() {
        assert_eq!("2/4".parse::<Shard>(), Ok(Shard { index: 2, count: 4 }));
        for bad in ["0/4", "5/4", "4", "a/b", "1/0"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }
}
