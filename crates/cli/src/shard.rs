//! `--shard I/N`: a stable partition of the hosts, so that a CI matrix or a Kubernetes Indexed
//! Job can split a fleet between runs without a scheduler of esxnet's own.
//!
//! A host's shard is a hash of its name alone (SHA-256, the first eight bytes, modulo N): the same
//! host is in the same shard whatever hosts are added, removed or renamed around it, on every
//! machine and in every release. A sharded run still reads the manifests and observes every
//! declared host, so fleet-wide rules (ESX013's duplicate addresses, pool allocation) see the whole
//! fleet exactly as an unsharded run does; it plans, applies and reports only its own hosts.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Part `index` of `count` (1 ≤ index ≤ count).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Shard {
    /// Which part, from 1.
    pub index: u32,
    /// How many parts.
    pub count: u32,
}

/// The most parts a fleet is split into: more than any CI matrix or Indexed Job runs at once.
pub const MAX_SHARDS: u32 = 10_000;

impl Shard {
    /// Part `index` of `count`, when 1 ≤ index ≤ count ≤ [`MAX_SHARDS`].
    pub fn new(index: u32, count: u32) -> Result<Shard, String> {
        if count == 0 || count > MAX_SHARDS {
            return Err(format!(
                "a fleet is split into 1 to {MAX_SHARDS} shards, not {count}: write I/N such as 1/4"
            ));
        }
        if index == 0 || index > count {
            return Err(format!(
                "shard {index}/{count} does not exist: I goes from 1 to {count} (a zero-based index such as a Kubernetes Job's needs +1)"
            ));
        }
        Ok(Shard { index, count })
    }

    /// The shard (1 to `count`) a host belongs to.
    pub fn of_host(host: &str, count: u32) -> u32 {
        let digest = Sha256::digest(host.as_bytes());
        let mut first_eight = [0u8; 8];
        first_eight.copy_from_slice(&digest[..8]);
        (u64::from_be_bytes(first_eight) % u64::from(count.max(1))) as u32 + 1
    }

    /// Whether `host` is in this shard.
    pub fn contains(&self, host: &str) -> bool {
        Shard::of_host(host, self.count) == self.index
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Shard, String> {
        let malformed = || format!("\"{text}\" is not a shard: write I/N, such as 1/4 for the first of four shards");
        let (index, count) = text.split_once('/').ok_or_else(malformed)?;
        let index: u32 = index.trim().parse().map_err(|_| malformed())?;
        let count: u32 = count.trim().parse().map_err(|_| malformed())?;
        Shard::new(index, count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_refuse_what_does_not_exist() {
        assert_eq!("2/4".parse::<Shard>(), Ok(Shard { index: 2, count: 4 }));
        assert!("0/4".parse::<Shard>().unwrap_err().contains("+1"));
        assert!("5/4".parse::<Shard>().is_err());
        assert!("1/0".parse::<Shard>().is_err());
        assert!("1-4".parse::<Shard>().unwrap_err().contains("I/N"));
        assert!("a/4".parse::<Shard>().is_err());
    }

    #[test]
    fn a_host_is_in_exactly_one_shard() {
        for host in ["esx-01.lab.example", "esx-02.lab.example", "", "ü"] {
            let shards: Vec<u32> = (1..=4)
                .filter(|index| Shard::new(*index, 4).unwrap().contains(host))
                .collect();
            assert_eq!(shards.len(), 1, "{host}: {shards:?}");
        }
    }

    #[test]
    fn the_partition_is_fixed_by_the_name_alone() {
        // Pinned (SHA-256 by another implementation): a change of hash would move hosts between
        // a pipeline's shards.
        let placed: Vec<u32> = ["esx-01", "esx-02", "esx-03", "esx-04", "esx-05"]
            .iter()
            .map(|host| Shard::of_host(host, 4))
            .collect();
        assert_eq!(placed, PINNED_PLACEMENT);
    }

    const PINNED_PLACEMENT: [u32; 5] = [4, 1, 3, 1, 3];
}
