//! Small value types shared by manifests, desired state and observed state.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A TCP/IP stack instance on an ESXi host.
///
/// esxnet manages the three system stacks; each has a fixed key on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StackKind {
    /// The default stack (`defaultTcpipStack`): management and every service not moved elsewhere.
    Default,
    /// The vMotion stack (`vmotion`): live migration traffic only.
    Vmotion,
    /// The Provisioning stack (`vSphereProvisioning`): cold migration, cloning and snapshot traffic.
    Provisioning,
}

impl StackKind {
    /// Every stack esxnet knows, in a stable order.
    pub const ALL: [StackKind; 3] = [StackKind::Default, StackKind::Vmotion, StackKind::Provisioning];

    /// The stack's key as the vSphere API spells it (`HostNetStackInstance.key`).
    pub fn api_key(self) -> &'static str {
        match self {
            StackKind::Default => "defaultTcpipStack",
            StackKind::Vmotion => "vmotion",
            StackKind::Provisioning => "vSphereProvisioning",
        }
    }

    /// The stack for a vSphere API key, if esxnet manages it.
    pub fn from_api_key(key: &str) -> Option<StackKind> {
        StackKind::ALL.into_iter().find(|stack| stack.api_key() == key)
    }

    /// The manifest spelling (`default`, `vmotion`, `provisioning`).
    pub fn as_str(self) -> &'static str {
        match self {
            StackKind::Default => "default",
            StackKind::Vmotion => "vmotion",
            StackKind::Provisioning => "provisioning",
        }
    }

    /// The one service an adapter on this stack carries, for stacks that imply their service.
    ///
    /// ESXi selects it by itself: an adapter on the vMotion stack carries vMotion only, one on the
    /// Provisioning stack carries provisioning only. The default stack implies nothing.
    pub fn implied_service(self) -> Option<Service> {
        match self {
            StackKind::Default => None,
            StackKind::Vmotion => Some(Service::Vmotion),
            StackKind::Provisioning => Some(Service::Provisioning),
        }
    }
}

impl fmt::Display for StackKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// A traffic type a VMkernel adapter can be selected for (`HostVirtualNicManager` nicType).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Service {
    /// Management traffic.
    #[serde(rename = "management")]
    Management,
    /// vMotion (live migration).
    #[serde(rename = "vmotion")]
    Vmotion,
    /// Fault Tolerance logging.
    #[serde(rename = "faultToleranceLogging")]
    FaultToleranceLogging,
    /// vSphere Replication.
    #[serde(rename = "vSphereReplication")]
    Replication,
    /// vSphere Replication NFC.
    #[serde(rename = "vSphereReplicationNFC")]
    ReplicationNfc,
    /// Provisioning: cold migration, cloning and snapshots.
    #[serde(rename = "vSphereProvisioning")]
    Provisioning,
    /// vSAN.
    #[serde(rename = "vsan")]
    Vsan,
    /// vSAN witness traffic (stretched and two-node clusters).
    #[serde(rename = "vsanWitness")]
    VsanWitness,
    /// vSphere Backup NFC.
    #[serde(rename = "vSphereBackupNFC")]
    BackupNfc,
    /// Precision Time Protocol.
    #[serde(rename = "ptp")]
    Ptp,
    /// NVMe over TCP.
    #[serde(rename = "nvmeTcp")]
    NvmeTcp,
    /// NVMe over RDMA.
    #[serde(rename = "nvmeRdma")]
    NvmeRdma,
    /// External vSAN traffic (a vSAN cluster mounting another cluster's datastore).
    #[serde(rename = "vsanExternal")]
    VsanExternal,
    /// Tunnel endpoint (TEP) of an overlay network.
    #[serde(rename = "vnetworking")]
    Vnetworking,
}

impl Service {
    /// Every service the vSphere API knows, in a stable order.
    pub const ALL: [Service; 14] = [
        Service::Management,
        Service::Vmotion,
        Service::FaultToleranceLogging,
        Service::Replication,
        Service::ReplicationNfc,
        Service::Provisioning,
        Service::Vsan,
        Service::VsanWitness,
        Service::BackupNfc,
        Service::Ptp,
        Service::NvmeTcp,
        Service::NvmeRdma,
        Service::VsanExternal,
        Service::Vnetworking,
    ];

    /// The service for a vSphere nicType string (`vmotion`, `vSphereProvisioning`, …).
    pub fn from_api_name(name: &str) -> Option<Service> {
        Service::ALL.into_iter().find(|service| service.api_name() == name)
    }

    /// The nicType string of the vSphere API.
    pub fn api_name(self) -> &'static str {
        match self {
            Service::Management => "management",
            Service::Vmotion => "vmotion",
            Service::FaultToleranceLogging => "faultToleranceLogging",
            Service::Replication => "vSphereReplication",
            Service::ReplicationNfc => "vSphereReplicationNFC",
            Service::Provisioning => "vSphereProvisioning",
            Service::Vsan => "vsan",
            Service::VsanWitness => "vsanWitness",
            Service::BackupNfc => "vSphereBackupNFC",
            Service::Ptp => "ptp",
            Service::NvmeTcp => "nvmeTcp",
            Service::NvmeRdma => "nvmeRdma",
            Service::VsanExternal => "vsanExternal",
            Service::Vnetworking => "vnetworking",
        }
    }

    /// The first ESXi release whose API knows this nicType; older hosts refuse to select it (ESX024).
    ///
    /// From the vSphere API reference ("Since" of each `HostVirtualNicManagerNicType` value) and the
    /// history of the API bindings: management, vMotion and Fault Tolerance logging are as old as
    /// the virtual NIC manager (4.0).
    pub fn minimum_version(self) -> EsxiVersion {
        match self {
            Service::Management | Service::Vmotion | Service::FaultToleranceLogging => EsxiVersion::new(4, 0, 0),
            Service::Replication => EsxiVersion::new(5, 1, 0),
            Service::Vsan => EsxiVersion::new(5, 5, 0),
            Service::Provisioning | Service::ReplicationNfc => EsxiVersion::new(6, 0, 0),
            Service::VsanWitness => EsxiVersion::new(6, 5, 0),
            Service::BackupNfc | Service::Ptp => EsxiVersion::new(7, 0, 0),
            Service::NvmeTcp | Service::NvmeRdma => EsxiVersion::new(7, 0, 3),
            Service::VsanExternal => EsxiVersion::new(9, 0, 0),
            Service::Vnetworking => EsxiVersion::new(9, 1, 0),
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.api_name())
    }
}

/// A stack's TCP congestion control algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CongestionControl {
    /// NewReno, ESXi's default.
    Newreno,
    /// CUBIC.
    Cubic,
}

/// An ESXi release such as `8.0.3`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EsxiVersion {
    /// Major release (8 in 8.0.3).
    pub major: u16,
    /// Minor release (0 in 8.0.3).
    pub minor: u16,
    /// Update level (3 in 8.0.3).
    pub patch: u16,
}

impl EsxiVersion {
    /// Builds a version from its parts.
    pub const fn new(major: u16, minor: u16, patch: u16) -> Self {
        EsxiVersion { major, minor, patch }
    }

    /// ESXi 6.0: the first release with the Provisioning stack (seed prerequisite, ESX001).
    pub const PROVISIONING_STACK: EsxiVersion = EsxiVersion::new(6, 0, 0);

    /// ESXi 6.5: router advertisement is on by default from here (ESX008).
    pub const ROUTER_ADVERTISEMENT_DEFAULT: EsxiVersion = EsxiVersion::new(6, 5, 0);

    /// Whether IPv6 router advertisement is on by default for new adapters on this release.
    pub fn router_advertisement_default(self) -> bool {
        self >= EsxiVersion::ROUTER_ADVERTISEMENT_DEFAULT
    }
}

impl fmt::Display for EsxiVersion {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Why a version string could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not an ESXi version: expected MAJOR.MINOR or MAJOR.MINOR.PATCH, such as 8.0.3")]
pub struct VersionParseError {
    /// The text that was rejected.
    pub text: String,
}

impl FromStr for EsxiVersion {
    type Err = VersionParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || VersionParseError { text: text.to_owned() };
        let parts: Vec<&str> = text.trim().split('.').collect();
        if !(2..=3).contains(&parts.len()) {
            return Err(error());
        }
        let mut numbers = [0u16; 3];
        for (slot, part) in numbers.iter_mut().zip(&parts) {
            *slot = part.parse().map_err(|_| error())?;
        }
        Ok(EsxiVersion::new(numbers[0], numbers[1], numbers[2]))
    }
}

impl Serialize for EsxiVersion {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EsxiVersion {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for EsxiVersion {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "EsxiVersion".into()
    }

    fn json_schema(_generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[0-9]+\\.[0-9]+(\\.[0-9]+)?$",
            "description": "An ESXi release such as 8.0.3"
        })
    }
}

/// A static IPv4 route of a stack.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Route {
    /// The destination network, such as `10.220.0.0/16`.
    #[schemars(with = "String")]
    pub destination: ipnet::IpNet,
    /// The next hop; it must be reachable from a subnet of the stack (ESX019).
    #[schemars(with = "String")]
    pub gateway: std::net::IpAddr,
}

/// A stack's DNS settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Dns {
    /// Name servers in the order the resolver asks them.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub servers: Vec<std::net::IpAddr>,
    /// Search domains in order.
    #[serde(default)]
    pub search_domains: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_order() {
        let version: EsxiVersion = "8.0.3".parse().unwrap();
        assert_eq!(version, EsxiVersion::new(8, 0, 3));
        assert_eq!("6.5".parse::<EsxiVersion>().unwrap(), EsxiVersion::new(6, 5, 0));
        assert!("8".parse::<EsxiVersion>().is_err());
        assert!("8.x.1".parse::<EsxiVersion>().is_err());
        assert!("5.5.0".parse::<EsxiVersion>().unwrap() < EsxiVersion::PROVISIONING_STACK);
        assert!(!EsxiVersion::new(6, 0, 0).router_advertisement_default());
        assert!(EsxiVersion::new(6, 5, 0).router_advertisement_default());
    }

    #[test]
    fn services_round_trip_and_know_their_first_release() {
        for service in Service::ALL {
            assert_eq!(Service::from_api_name(service.api_name()), Some(service));
        }
        assert_eq!(Service::VsanWitness.minimum_version(), EsxiVersion::new(6, 5, 0));
        assert_eq!(Service::NvmeTcp.minimum_version(), EsxiVersion::new(7, 0, 3));
        assert!(Service::Provisioning.minimum_version() == EsxiVersion::PROVISIONING_STACK);
    }

    #[test]
    fn stack_keys_round_trip() {
        for stack in StackKind::ALL {
            assert_eq!(StackKind::from_api_key(stack.api_key()), Some(stack));
        }
        assert_eq!(StackKind::from_api_key("custom"), None);
    }
}
