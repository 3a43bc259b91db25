//! The address of a change: which object, of which kind, on which host.
//!
//! An address is a value, not a formatted string, so that two objects can never share one: a
//! manifest adapter named `vmk1` is addressed by its name, an unmanaged device `vmk1` by its
//! device, and the walker, the graph and the reports keep both. In JSON, journals and messages an
//! address is written as text that parses back to the same value:
//!
//! - `esx-01/VmkernelAdapter/prov` — an object by name (the manifest's name for declared adapters
//!   and their services, the object's own name for switches, port groups and stacks);
//! - `esx-01/VmkernelAdapter[vmk1]` — an object by device (adapters no manifest declares).
//!
//! A name is everything after the kind's slash, so it may hold any character; a `/` or `%` in a
//! host name is written `%2F` or `%25`. Plans saved before devices had their own form read as
//! names, which is what they were.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::state::ObjectKind;

/// How an address names its object within its host and kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AddressKey {
    /// By name: the manifest's name of a declared object, or a switch's, port group's or stack's own name.
    Name(String),
    /// By device: an adapter that no manifest declares.
    Device(String),
}

impl AddressKey {
    /// The name or the device.
    pub fn as_str(&self) -> &str {
        match self {
            AddressKey::Name(text) | AddressKey::Device(text) => text,
        }
    }
}

/// Keys sort by their text, a name before a device of the same text, so plans keep the order
/// they had when addresses were strings.
impl Ord for AddressKey {
    fn cmp(&self, other: &Self) -> Ordering {
        let is_device = |key: &AddressKey| matches!(key, AddressKey::Device(_));
        (self.as_str(), is_device(self)).cmp(&(other.as_str(), is_device(other)))
    }
}

impl PartialOrd for AddressKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The identity of a change within a plan: host, kind, and name or device.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Address {
    /// The host.
    pub host: String,
    /// The object's kind.
    pub kind: ObjectKind,
    /// Its name or device.
    pub key: AddressKey,
}

impl Address {
    /// An object by name.
    pub fn name(host: &str, kind: ObjectKind, name: &str) -> Address {
        Address {
            host: host.to_owned(),
            kind,
            key: AddressKey::Name(name.to_owned()),
        }
    }

    /// An object by device.
    pub fn device(host: &str, kind: ObjectKind, device: &str) -> Address {
        Address {
            host: host.to_owned(),
            kind,
            key: AddressKey::Device(device.to_owned()),
        }
    }
}

/// Addresses sort by host, then kind and key as their text does.
impl Ord for Address {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.host.as_str(), self.kind.as_str(), &self.key).cmp(&(other.host.as_str(), other.kind.as_str(), &other.key))
    }
}

impl PartialOrd for Address {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Address {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(['/', '%']) {
            formatter.write_str(&self.host.replace('%', "%25").replace('/', "%2F"))?;
        } else {
            formatter.write_str(&self.host)?;
        }
        match &self.key {
            AddressKey::Name(name) => write!(formatter, "/{}/{name}", self.kind),
            AddressKey::Device(device) => write!(formatter, "/{}[{device}]", self.kind),
        }
    }
}

/// Why a text is not an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("\"{text}\" is not an address (host/Kind/name or host/Kind[device]): {problem}")]
pub struct AddressError {
    /// The text.
    pub text: String,
    /// What is wrong with it.
    pub problem: &'static str,
}

impl FromStr for Address {
    type Err = AddressError;

    fn from_str(text: &str) -> Result<Address, AddressError> {
        let error = |problem| AddressError {
            text: text.to_owned(),
            problem,
        };
        let (host, rest) = text.split_once('/').ok_or_else(|| error("it has no kind"))?;
        let end_of_kind = rest.find(['/', '[']).ok_or_else(|| error("it has no name or device"))?;
        let kind = match &rest[..end_of_kind] {
            "StandardSwitch" => ObjectKind::StandardSwitch,
            "PortGroup" => ObjectKind::PortGroup,
            "NetStack" => ObjectKind::NetStack,
            "VmkernelAdapter" => ObjectKind::VmkernelAdapter,
            "Services" => ObjectKind::Services,
            _ => return Err(error("the kind is not one esxnet plans")),
        };
        let key = match rest[end_of_kind..].split_at(1) {
            ("/", name) => AddressKey::Name(name.to_owned()),
            (_, bracketed) => AddressKey::Device(
                bracketed
                    .strip_suffix(']')
                    .ok_or_else(|| error("the device has no closing bracket"))?
                    .to_owned(),
            ),
        };
        let host = if host.contains('%') {
            host.replace("%2F", "/").replace("%25", "%")
        } else {
            host.to_owned()
        };
        Ok(Address { host, kind, key })
    }
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Address, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Address {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Address".into()
    }

    fn json_schema(_generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "`host/Kind/name` for an object by name, `host/Kind[device]` for an adapter no manifest declares; a `/` or `%` in the host is written `%2F` or `%25`",
            "type": "string",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_and_a_device_of_the_same_text_are_two_addresses() {
        let name = Address::name("esx-01", ObjectKind::VmkernelAdapter, "vmk1");
        let device = Address::device("esx-01", ObjectKind::VmkernelAdapter, "vmk1");
        assert_ne!(name, device);
        assert_ne!(name.to_string(), device.to_string());
        assert_eq!(name.to_string(), "esx-01/VmkernelAdapter/vmk1");
        assert_eq!(device.to_string(), "esx-01/VmkernelAdapter[vmk1]");
    }

    #[test]
    fn every_address_reads_back_from_its_text() {
        let addresses = [
            Address::name("esx-01.lab.example", ObjectKind::PortGroup, "VM Network"),
            Address::name("esx-01", ObjectKind::VmkernelAdapter, "a/b[c]"),
            Address::name("esx-01", ObjectKind::Services, ""),
            Address::device("esx-01", ObjectKind::VmkernelAdapter, "vmk1"),
            Address::device("odd/host%2F", ObjectKind::VmkernelAdapter, "vmk]/1"),
            Address::name("odd/host%", ObjectKind::NetStack, "default"),
        ];
        for address in addresses {
            let text = address.to_string();
            assert_eq!(text.parse::<Address>(), Ok(address.clone()), "{text}");
            let json = serde_json::to_string(&address).unwrap();
            assert_eq!(serde_json::from_str::<Address>(&json).unwrap(), address, "{json}");
        }
    }

    #[test]
    fn text_that_is_no_address_is_refused() {
        for text in [
            "esx-01",
            "esx-01/PortGroup",
            "esx-01/Switch/x",
            "esx-01/VmkernelAdapter[vmk1",
        ] {
            assert!(text.parse::<Address>().is_err(), "{text}");
        }
    }

    #[test]
    fn addresses_sort_as_their_text_did() {
        let mut addresses = [
            Address::name("esx-01", ObjectKind::VmkernelAdapter, "prov"),
            Address::device("esx-01", ObjectKind::VmkernelAdapter, "vmk1"),
            Address::name("esx-01", ObjectKind::VmkernelAdapter, "vmk1"),
            Address::name("esx-01", ObjectKind::StandardSwitch, "vSwitch1"),
            Address::name("esx-01", ObjectKind::NetStack, "default"),
            Address::name("esx-01", ObjectKind::PortGroup, "Prov"),
        ];
        addresses.sort();
        let texts: Vec<String> = addresses.iter().map(ToString::to_string).collect();
        assert_eq!(
            texts,
            [
                "esx-01/NetStack/default",
                "esx-01/PortGroup/Prov",
                "esx-01/StandardSwitch/vSwitch1",
                "esx-01/VmkernelAdapter/prov",
                "esx-01/VmkernelAdapter/vmk1",
                "esx-01/VmkernelAdapter[vmk1]",
            ]
        );
    }
}
