//! IPv4 address pools such as `10.120.0.11-10.120.0.60`.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// An inclusive range of IPv4 addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Pool {
    /// First address of the range.
    pub first: Ipv4Addr,
    /// Last address of the range, not below `first`.
    pub last: Ipv4Addr,
}

impl Ipv4Pool {
    /// Whether the pool holds this address.
    pub fn contains(&self, address: Ipv4Addr) -> bool {
        (self.first..=self.last).contains(&address)
    }

    /// The pool's addresses, lowest first.
    pub fn addresses(&self) -> impl Iterator<Item = Ipv4Addr> {
        (u32::from(self.first)..=u32::from(self.last)).map(Ipv4Addr::from)
    }

    /// How many addresses the pool holds.
    pub fn len(&self) -> u64 {
        u64::from(u32::from(self.last) - u32::from(self.first)) + 1
    }

    /// A pool always holds at least one address.
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl fmt::Display for Ipv4Pool {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}-{}", self.first, self.last)
    }
}

/// Why a pool could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not an IPv4 pool: write FIRST-LAST with FIRST not above LAST, such as 10.120.0.11-10.120.0.60")]
pub struct PoolParseError {
    /// The rejected text.
    pub text: String,
}

impl FromStr for Ipv4Pool {
    type Err = PoolParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || PoolParseError { text: text.to_owned() };
        let (first, last) = text.split_once('-').ok_or_else(error)?;
        let first: Ipv4Addr = first.trim().parse().map_err(|_| error())?;
        let last: Ipv4Addr = last.trim().parse().map_err(|_| error())?;
        if first > last {
            return Err(error());
        }
        Ok(Ipv4Pool { first, last })
    }
}

impl Serialize for Ipv4Pool {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Ipv4Pool {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Ipv4Pool {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Ipv4Pool".into()
    }

    fn json_schema(_generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[0-9.]+-[0-9.]+$",
            "description": "An inclusive IPv4 range FIRST-LAST such as 10.120.0.11-10.120.0.60"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_parse_and_iterate() {
        let pool: Ipv4Pool = "10.0.0.254-10.0.1.1".parse().unwrap();
        let addresses: Vec<String> = pool.addresses().map(|address| address.to_string()).collect();
        assert_eq!(addresses, ["10.0.0.254", "10.0.0.255", "10.0.1.0", "10.0.1.1"]);
        assert_eq!(pool.len(), 4);
        assert!(pool.contains("10.0.1.0".parse().unwrap()));
        assert!(!pool.contains("10.0.1.2".parse().unwrap()));
        assert!("10.0.0.5-10.0.0.4".parse::<Ipv4Pool>().is_err());
        assert!("10.0.0.5".parse::<Ipv4Pool>().is_err());
    }
}
