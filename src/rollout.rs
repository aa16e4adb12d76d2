//! Rolling deploys: the hosts in batches (`serial`), and when a batch's
//! failures stop the ones after it (`max_fail_percentage`).

use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use serde::Deserialize;

/// The size of one batch: a number of hosts or a share of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchSize {
    /// This many hosts.
    Hosts(usize),
    /// This percentage of all hosts (at least one).
    Percent(u8),
}

impl BatchSize {
    fn of(self, hosts: usize) -> usize {
        match self {
            BatchSize::Hosts(n) => n,
            BatchSize::Percent(p) => hosts * usize::from(p) / 100,
        }
        .max(1)
    }
}

impl FromStr for BatchSize {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let bad = || {
            format!(
                "`{text}` is not a batch size (a number of hosts like `2`, or a percentage like `25%`)"
            )
        };
        match text.strip_suffix('%') {
            Some(p) => match p.trim().parse::<u8>() {
                Ok(p) if (1..=100).contains(&p) => Ok(BatchSize::Percent(p)),
                _ => Err(bad()),
            },
            None => match text.parse::<usize>() {
                Ok(n) if n > 0 => Ok(BatchSize::Hosts(n)),
                _ => Err(bad()),
            },
        }
    }
}

impl TryFrom<serde_yaml::Value> for BatchSize {
    type Error = String;

    fn try_from(value: serde_yaml::Value) -> Result<Self, String> {
        match value {
            serde_yaml::Value::Number(n) => n.to_string().parse(),
            serde_yaml::Value::String(s) => s.parse(),
            other => Err(format!("{other:?} is not a batch size")),
        }
    }
}

impl fmt::Display for BatchSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BatchSize::Hosts(n) => write!(f, "{n}"),
            BatchSize::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// Ansible's `serial:`: one batch size or a list of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "serde_yaml::Value")]
pub struct Serial(pub Vec<BatchSize>);

impl TryFrom<serde_yaml::Value> for Serial {
    type Error = String;

    fn try_from(value: serde_yaml::Value) -> Result<Self, String> {
        match value {
            serde_yaml::Value::Sequence(items) => items
                .into_iter()
                .map(BatchSize::try_from)
                .collect::<Result<_, _>>()
                .map(Serial),
            one => BatchSize::try_from(one).map(|size| Serial(vec![size])),
        }
    }
}

/// How the hosts are rolled out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rollout {
    /// Batch sizes in order, the last one repeating (Ansible's `serial`);
    /// empty means every host in one batch.
    pub serial: Vec<BatchSize>,
    /// A batch in which more than this percentage of hosts failed stops
    /// the batches after it. `None` is 0: any failure stops them.
    pub max_fail_percentage: Option<u8>,
}

impl Rollout {
    /// The batches for `hosts` hosts, as index ranges in host order.
    pub fn batches(&self, hosts: usize) -> Vec<Range<usize>> {
        let mut batches = Vec::new();
        let mut start = 0;
        let mut sizes = self.serial.iter();
        let mut size = hosts;
        while start < hosts {
            if let Some(next) = sizes.next() {
                size = next.of(hosts);
            }
            let end = (start + size).min(hosts);
            batches.push(start..end);
            start = end;
        }
        batches
    }

    /// Whether `failed` failures among `size` hosts stop later batches.
    pub fn stops_after(&self, failed: usize, size: usize) -> bool {
        let allowed = usize::from(self.max_fail_percentage.unwrap_or(0));
        failed > 0 && failed * 100 > allowed * size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes(serial: &[&str], hosts: usize) -> Vec<usize> {
        let rollout = Rollout {
            serial: serial.iter().map(|s| s.parse().unwrap()).collect(),
            max_fail_percentage: None,
        };
        rollout
            .batches(hosts)
            .iter()
            .map(ExactSizeIterator::len)
            .collect()
    }

    #[test]
    fn batch_sizes_repeat_the_last_and_percentages_round_down_to_at_least_one() {
        assert_eq!(sizes(&[], 5), [5]);
        assert_eq!(sizes(&["2"], 5), [2, 2, 1]);
        assert_eq!(sizes(&["1", "3"], 8), [1, 3, 3, 1]);
        assert_eq!(sizes(&["30%"], 10), [3, 3, 3, 1]);
        assert_eq!(sizes(&["10%"], 3), [1, 1, 1]);
        assert_eq!(sizes(&["100%"], 4), [4]);
        assert_eq!(sizes(&["2"], 0), Vec::<usize>::new());
    }

    #[test]
    fn bad_sizes_are_refused() {
        for bad in ["0", "-1", "0%", "101%", "two", ""] {
            assert!(bad.parse::<BatchSize>().is_err(), "{bad}");
        }
        let list: Serial = serde_yaml::from_str("[1, \"25%\"]").unwrap();
        assert_eq!(list.0, [BatchSize::Hosts(1), BatchSize::Percent(25)]);
        let one: Serial = serde_yaml::from_str("3").unwrap();
        assert_eq!(one.0, [BatchSize::Hosts(3)]);
        assert!(serde_yaml::from_str::<Serial>("{a: 1}").is_err());
    }

    #[test]
    fn any_failure_stops_unless_a_percentage_is_allowed() {
        let mut rollout = Rollout::default();
        assert!(!rollout.stops_after(0, 4));
        assert!(rollout.stops_after(1, 4));
        rollout.max_fail_percentage = Some(25);
        assert!(!rollout.stops_after(1, 4));
        assert!(rollout.stops_after(2, 4));
    }
}
