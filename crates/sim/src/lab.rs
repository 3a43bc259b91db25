//! A lab on disk: a directory with its settings, one JSON file per host, and a writer lock.
//!
//! ```text
//! DIR/
//!   lab.json          settings: format version, latency, transient fault rate, seed
//!   lab.lock          held (flock) by the one writer; holds the writer's pid, command and start time
//!   counters.json     API calls per host and method of the last writer session (or explicit flush)
//!   hosts/NAME.json   one simulated host: format version, observed state, simulator-only state
//! ```
//!
//! Every write goes to a spare file beside the file it replaces (`.esxnet-spare-NAME`), which then
//! takes the old file's place in one step: on Linux the two are exchanged, so the spare holds the
//! old content and is written over next time; elsewhere it is renamed over the old file. A reader
//! sees the old or the new file, never half of one, and a writer killed mid-write leaves at most a
//! half-written spare, which loading ignores and the next write overwrites. Readers hold a shared
//! lock on the file they read while they read it, so the spare they may be holding is never
//! written under them (see `read_whole`). There is no fsync (see `write_atomically`).

use std::collections::{BTreeSet, HashMap};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use esxnet_executor::backend::Ipv4Settings;
use esxnet_model::common::{EsxiVersion, StackKind};
use esxnet_model::observed::{
    DistributedPortGroup, DistributedSwitchMembership, MigrationKind, ObservedFleet, ObservedHost, PortConnection,
    StorageBinding,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::SimError;
use crate::host::{FreshHostOptions, NewAdapter, SimHost, FORMAT_VERSION, MAXIMUM_HOSTS};

/// The settings file's name inside a lab directory.
pub const SETTINGS_FILE: &str = "lab.json";
/// The lock file's name inside a lab directory.
pub const LOCK_FILE: &str = "lab.lock";
/// The counters file's name inside a lab directory.
pub const COUNTERS_FILE: &str = "counters.json";
/// The directory of host files inside a lab directory.
pub const HOSTS_DIRECTORY: &str = "hosts";
/// How long a second writer waits for the lock before giving up.
pub const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(3);

/// Spare files (`write_atomically`) start with this prefix; loading skips anything that starts
/// with a dot.
const SPARE_PREFIX: &str = ".esxnet-spare-";
/// Temporary files of platforms without an atomic exchange start with this prefix.
#[cfg(not(target_os = "linux"))]
const TEMPORARY_PREFIX: &str = ".esxnet-partial-";
const LOCK_RETRY_INTERVAL: Duration = Duration::from_millis(50);

/// A lab's settings (`lab.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabSettings {
    /// The lab format version ([`FORMAT_VERSION`]).
    pub format_version: u32,
    /// Simulated latency of every API call, in milliseconds.
    pub latency_ms: u64,
    /// Probability (0–1) that an API call fails with a transient fault before taking effect.
    pub transient_fault_rate: f64,
    /// Seed of the deterministic fault injection.
    pub seed: u64,
    /// The network behind the hosts, if the lab has a model of it (`sim init` gives one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fabric: Option<crate::fabric::Fabric>,
}

impl LabSettings {
    /// The highest latency a lab accepts: more makes every command look hung.
    pub const MAXIMUM_LATENCY_MS: u64 = 10_000;

    /// What is wrong with these settings, if anything.
    pub fn problem(&self) -> Option<String> {
        if self.latency_ms > LabSettings::MAXIMUM_LATENCY_MS {
            return Some(format!(
                "latency {} ms is above {} ms: give the latency of one API call, such as 10",
                self.latency_ms,
                LabSettings::MAXIMUM_LATENCY_MS
            ));
        }
        if !(0.0..=1.0).contains(&self.transient_fault_rate) {
            return Some(format!(
                "transient fault rate {} is outside 0–1: give a probability such as 0.05",
                self.transient_fault_rate
            ));
        }
        None
    }
}

impl Default for LabSettings {
    fn default() -> Self {
        LabSettings {
            format_version: FORMAT_VERSION,
            latency_ms: 0,
            transient_fault_rate: 0.0,
            seed: 0,
            fabric: None,
        }
    }
}

/// The hosts a new lab gets: a count (named `esx-1`…, zero-padded to the width of the count) or
/// explicit names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostNames {
    /// This many hosts named `esx-01`… (`esx-1`… below 10 hosts).
    Count(u32),
    /// Exactly these hosts.
    Names(Vec<String>),
}

impl HostNames {
    /// The host names in lab order.
    pub fn resolve(&self) -> Vec<String> {
        match self {
            HostNames::Count(count) => {
                let width = count.to_string().len();
                (1..=*count).map(|number| format!("esx-{number:0width$}")).collect()
            }
            HostNames::Names(names) => names.clone(),
        }
    }
}

impl FromStr for HostNames {
    type Err = SimError;

    /// Reads `--hosts N` or `--hosts NAME,NAME…`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if let Ok(count) = text.parse::<u32>() {
            return Ok(HostNames::Count(count));
        }
        let names: Vec<String> = text
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(str::to_owned)
            .collect();
        if names.is_empty() {
            return Err(SimError::InvalidOptions {
                message: format!("\"{text}\" names no hosts: give a count such as 3 or names such as esx-a,esx-b"),
            });
        }
        Ok(HostNames::Names(names))
    }
}

/// How to create a lab.
#[derive(Debug, Clone, PartialEq)]
pub struct InitOptions {
    /// The hosts.
    pub hosts: HostNames,
    /// The ESXi release every host runs.
    pub version: EsxiVersion,
    /// How long each simulated API call lasts, in milliseconds, the simulator's own work included.
    pub latency_ms: u64,
    /// Probability (0–1) of a transient fault per API call.
    pub transient_fault_rate: f64,
    /// Seed of the fault injection.
    pub seed: u64,
    /// The default stack's DNS is learned through DHCP instead of set statically.
    pub dns_from_dhcp: bool,
    /// IPv6 is enabled on the hosts (ESXi's default).
    pub ipv6_enabled: bool,
    /// Distributed switches the hosts are members of, with their port groups, as vCenter made
    /// them (esxnet never creates distributed switches).
    pub distributed_switches: Vec<LabDistributedSwitch>,
    /// Every host has an adapter bound to the software iSCSI adapter ([`ISCSI_PORT_GROUP`]).
    pub iscsi_adapter: bool,
    /// Every host has an adapter the system owns ([`SYSTEM_PORT_GROUP`]).
    pub system_owned_adapter: bool,
    /// The network behind the hosts, if the lab is to have a model of it.
    pub fabric: Option<crate::fabric::Fabric>,
}

impl Default for InitOptions {
    fn default() -> Self {
        InitOptions {
            hosts: HostNames::Count(3),
            version: EsxiVersion::new(8, 0, 3),
            latency_ms: 0,
            transient_fault_rate: 0.0,
            seed: 0,
            dns_from_dhcp: false,
            ipv6_enabled: true,
            distributed_switches: Vec::new(),
            iscsi_adapter: false,
            system_owned_adapter: false,
            fabric: None,
        }
    }
}

/// The MTU of a distributed switch made without one: vCenter's default.
pub const DEFAULT_DISTRIBUTED_SWITCH_MTU: u32 = 1500;
/// The standard port group on vSwitch0 that holds the adapter bound to software iSCSI.
pub const ISCSI_PORT_GROUP: &str = "iSCSI";
/// The standard port group on vSwitch0 that holds the adapter the system owns.
pub const SYSTEM_PORT_GROUP: &str = "System";
/// VLAN of the iSCSI port group.
const ISCSI_VLAN: u16 = 150;
/// VLAN of the system-owned adapter's port group.
const SYSTEM_VLAN: u16 = 160;

/// A distributed switch that hosts of a lab are members of, as vCenter made it: esxnet never
/// creates distributed switches or their port groups, so a lab is given them when it is made.
///
/// Every member host sees the same switch: one UUID, one MTU and every port group with the same
/// key, numbered by the switch's place in the lab's list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabDistributedSwitch {
    /// The switch's name.
    pub name: String,
    /// The switch's MTU.
    pub mtu: u32,
    /// Its port groups.
    pub port_groups: Vec<LabDistributedPortGroup>,
    /// The member hosts; `None` makes every host of the lab a member.
    pub hosts: Option<BTreeSet<String>>,
}

/// A port group of a [`LabDistributedSwitch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabDistributedPortGroup {
    /// The port group's name.
    pub name: String,
    /// Its VLAN ID (0–4094).
    pub vlan: u16,
}

fn invalid_options(message: String) -> SimError {
    SimError::InvalidOptions { message }
}

/// Splits `NAME:NUMBER` into the name and the number; a name without `:NUMBER` gets `None`.
fn name_and_number(text: &str) -> (&str, Option<&str>) {
    match text.rsplit_once(':') {
        Some((name, number)) if !number.is_empty() && number.chars().all(|character| character.is_ascii_digit()) => {
            (name.trim(), Some(number))
        }
        _ => (text.trim(), None),
    }
}

impl LabDistributedSwitch {
    /// A switch every host of the lab is a member of, without port groups yet.
    pub fn new(name: impl Into<String>, mtu: u32) -> LabDistributedSwitch {
        LabDistributedSwitch {
            name: name.into(),
            mtu,
            port_groups: Vec::new(),
            hosts: None,
        }
    }

    /// Reads the command line's switches (`NAME[:MTU]`) and port groups (`SWITCH/NAME[:VLAN]`),
    /// every host a member of every switch. A port group names a switch given among `switches`.
    pub fn parse_arguments(switches: &[String], port_groups: &[String]) -> Result<Vec<LabDistributedSwitch>, SimError> {
        let mut parsed: Vec<LabDistributedSwitch> = Vec::new();
        for text in switches {
            let (name, mtu) = name_and_number(text);
            let mtu = match mtu {
                None => DEFAULT_DISTRIBUTED_SWITCH_MTU,
                Some(mtu) => mtu.parse().map_err(|_| {
                    invalid_options(format!(
                        "\"{text}\": the MTU is too large; give NAME:MTU such as dvs-lab:9000"
                    ))
                })?,
            };
            if name.is_empty() {
                return Err(invalid_options(format!(
                    "\"{text}\" names no distributed switch: give NAME[:MTU] such as dvs-lab:9000"
                )));
            }
            parsed.push(LabDistributedSwitch::new(name, mtu));
        }
        for text in port_groups {
            let Some((switch, port_group)) = text.split_once('/') else {
                return Err(invalid_options(format!(
                    "\"{text}\" names no switch: give SWITCH/NAME[:VLAN] such as dvs-lab/dvpg-provisioning:140"
                )));
            };
            let (name, vlan) = name_and_number(port_group);
            let vlan = match vlan {
                None => 0,
                Some(vlan) => vlan.parse().map_err(|_| {
                    invalid_options(format!(
                        "\"{text}\": VLAN {vlan} is outside 0–4094; give a VLAN ID in that range"
                    ))
                })?,
            };
            let switch = switch.trim();
            let Some(owner) = parsed.iter_mut().find(|candidate| candidate.name == switch) else {
                return Err(invalid_options(format!(
                    "port group \"{text}\" is on distributed switch \"{switch}\", which is not given: add --distributed-switch {switch}[:MTU]"
                )));
            };
            owner.port_groups.push(LabDistributedPortGroup {
                name: name.to_owned(),
                vlan,
            });
        }
        Ok(parsed)
    }

    /// The membership a host of the lab gets; `number` is the switch's place in the lab's list
    /// (from 1), which makes its UUID and its port groups' keys.
    fn membership(&self, number: usize) -> DistributedSwitchMembership {
        let high = (number >> 8) & 0xff;
        let low = number & 0xff;
        DistributedSwitchMembership {
            name: self.name.clone(),
            uuid: format!("50 1e 5b ad e3 b4 {high:02x} {low:02x}-18 f3 1c 4c fa 98 3d bb"),
            mtu: self.mtu,
            port_groups: self
                .port_groups
                .iter()
                .enumerate()
                .map(|(index, port_group)| DistributedPortGroup {
                    name: port_group.name.clone(),
                    key: format!("dvportgroup-{}", number * 1000 + index + 1),
                    vlan: port_group.vlan,
                })
                .collect(),
        }
    }

    /// Whether `host` is a member.
    fn has_member(&self, host: &str) -> bool {
        self.hosts.as_ref().is_none_or(|hosts| hosts.contains(host))
    }
}

/// Checks a lab's distributed switches against its hosts: unique names, port groups unique per
/// switch with a VLAN ID of 0–4094, member hosts that are in the lab.
fn validate_distributed_switches(switches: &[LabDistributedSwitch], names: &[String]) -> Result<(), SimError> {
    let mut switch_names = BTreeSet::new();
    for switch in switches {
        if switch.name.trim().is_empty() {
            return Err(invalid_options("a distributed switch needs a name".to_owned()));
        }
        if !switch_names.insert(switch.name.as_str()) {
            return Err(invalid_options(format!(
                "distributed switch \"{}\" is given twice: name each switch once",
                switch.name
            )));
        }
        let mut port_group_names = BTreeSet::new();
        for port_group in &switch.port_groups {
            if port_group.name.trim().is_empty() {
                return Err(invalid_options(format!(
                    "a port group of distributed switch \"{}\" has no name: give SWITCH/NAME",
                    switch.name
                )));
            }
            if !port_group_names.insert(port_group.name.as_str()) {
                return Err(invalid_options(format!(
                    "port group \"{}\" is given twice on distributed switch \"{}\": name each port group once",
                    port_group.name, switch.name
                )));
            }
            if port_group.vlan > 4094 {
                return Err(invalid_options(format!(
                    "port group \"{}\" has VLAN {}, outside 0–4094: give a VLAN ID in that range",
                    port_group.name, port_group.vlan
                )));
            }
        }
        for host in switch.hosts.iter().flatten() {
            if !names.contains(host) {
                return Err(invalid_options(format!(
                    "distributed switch \"{}\" names member host \"{host}\", which the lab does not have",
                    switch.name
                )));
            }
        }
    }
    Ok(())
}

/// What a lab's hosts get beyond a fresh installation.
#[derive(Debug, Clone, Default)]
struct Furnishing {
    distributed_switches: Vec<LabDistributedSwitch>,
    iscsi_adapter: bool,
    system_owned_adapter: bool,
}

/// A static address for the `index`th host in `first`'s /16.
fn host_address(first: Ipv4Addr, index: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(first) + index - 1)
}

impl Furnishing {
    /// Gives `host` (the `index`th of the lab) its memberships and adapters, as vCenter and the
    /// storage administrator would have.
    fn furnish(&self, host: &mut SimHost, index: u32) -> Result<(), SimError> {
        for (position, switch) in self.distributed_switches.iter().enumerate() {
            if switch.has_member(host.name()) {
                host.join_distributed_switch(switch.membership(position + 1))?;
            }
        }
        if self.iscsi_adapter {
            let device = Self::add_default_stack_adapter(
                host,
                ISCSI_PORT_GROUP,
                ISCSI_VLAN,
                host_address(Ipv4Addr::new(10, 150, 0, 10), index),
            )?;
            let adapter = Self::adapter_mut(host, &device);
            adapter.storage_bindings.insert(StorageBinding::Iscsi);
        }
        if self.system_owned_adapter {
            let device = Self::add_default_stack_adapter(
                host,
                SYSTEM_PORT_GROUP,
                SYSTEM_VLAN,
                host_address(Ipv4Addr::new(10, 160, 0, 10), index),
            )?;
            Self::adapter_mut(host, &device).system_owned = true;
        }
        Ok(())
    }

    /// Adds a port group on vSwitch0 and a static default-stack adapter on it; answers its device.
    fn add_default_stack_adapter(
        host: &mut SimHost,
        port_group: &str,
        vlan: u16,
        address: Ipv4Addr,
    ) -> Result<String, SimError> {
        host.add_port_group(port_group, "vSwitch0", vlan)?;
        host.add_virtual_nic(&NewAdapter {
            connection: PortConnection::Standard {
                switch: "vSwitch0".to_owned(),
                port_group: port_group.to_owned(),
            },
            stack: StackKind::Default,
            mtu: 1500,
            ipv4: Ipv4Settings {
                dhcp: false,
                address: Some(address),
                prefix_length: Some(16),
                gateway_override: None,
            },
            ipv6: None,
        })
    }

    fn adapter_mut<'host>(
        host: &'host mut SimHost,
        device: &str,
    ) -> &'host mut esxnet_model::observed::ObservedAdapter {
        host.observed
            .adapters
            .iter_mut()
            .find(|adapter| adapter.device == device)
            .expect("the adapter just added")
    }
}

/// The held lab lock: the open, locked lock file. Dropping it releases the lock.
#[derive(Debug)]
struct WriterLock {
    file: File,
}

impl Drop for WriterLock {
    fn drop(&mut self) {
        // Clear the holder so a stale description never names a finished process; the kernel
        // releases the lock itself when the file closes (and when a killed writer dies).
        let _ = self.file.set_len(0);
    }
}

/// A lab directory, opened for reading or for writing.
///
/// A writer holds the lab's lock for its whole lifetime, so two processes never interleave
/// writes; inside one process, writes to one host are serialized by a per-host mutex while
/// different hosts proceed in parallel.
#[derive(Debug)]
pub struct Lab {
    dir: PathBuf,
    settings: LabSettings,
    writer_lock: Option<WriterLock>,
    host_mutexes: Mutex<HashMap<String, Arc<Mutex<()>>>>,
}

/// Whether `name` can be a host file name.
fn validate_host_name(name: &str) -> Result<(), SimError> {
    let valid = !name.is_empty()
        && name.len() <= 253
        && !name.starts_with('.')
        && name
            .chars()
            .all(|character| character.is_ascii_alphanumeric() || matches!(character, '-' | '_' | '.'));
    if valid {
        Ok(())
    } else {
        Err(SimError::InvalidOptions {
            message: format!(
                "\"{name}\" cannot be a host name: use letters, digits, '-', '_' and '.', not starting with '.'"
            ),
        })
    }
}

/// Writes `contents` to `path` atomically: a reader sees the old file or the new one, and a
/// process killed at any moment (SIGKILL mid-apply) leaves one of them, never a torn file.
///
/// On Linux the new content is written into a spare file beside `path`, which is then exchanged
/// with the old file (`renameat2(RENAME_EXCHANGE)`): the spare now holds the old content and is
/// written over by the next write. No file is created or removed once a host has its spare. That
/// is the point: a write that made a temporary file and removed the old one made ext4 allocate an
/// inode for every change, and without a journal ext4 passes over every inode removed in the last
/// few seconds to find one (`recently_deleted`). At the rate an apply writes (2,000 changes a
/// second) that search was most of the apply's CPU, all of it in the kernel, and grew with the
/// rate: 1.8 s of system time for a 200-host apply, 17 s for 2,000 hosts. Exchanged, the old file
/// also keeps ext4 from writing the new one out at once (`auto_da_alloc` does for a rename over a
/// file), so a host file rewritten every few milliseconds stays in the page cache.
///
/// A reader may still hold the old file open, and the old file is the next write's spare, so a
/// write takes the spare's lock first ([`File::lock`]): readers hold the file they read locked
/// shared while they read it ([`read_whole`]). A write whose spare a reader still reads, or that
/// finds the spare replaced by another writer, makes a new spare instead of waiting.
///
/// There is no fsync: the lab is a simulator, and durability across a power loss is not worth an
/// fsync per API call (with one per change, the disk's journal was most of the time of a large
/// apply). After a power loss a host file may be older than the journal says; the next apply
/// observes it and converges.
///
/// Writes from the threads of one process take turns: renaming files in one directory takes the
/// directory's lock in the kernel, and twenty threads contending for it spent more CPU spinning
/// there than waiting on a mutex costs (a write is tens of microseconds).
pub(crate) fn write_atomically(path: &Path, contents: &[u8]) -> Result<(), SimError> {
    static DIRECTORY_WRITES: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = DIRECTORY_WRITES.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    replace(path, contents)
}

/// [`write_atomically`] on Linux: through the spare, exchanged.
#[cfg(target_os = "linux")]
fn replace(path: &Path, contents: &[u8]) -> Result<(), SimError> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    use rustix::io::Errno;
    let (Some(directory), Some(file_name)) = (path.parent(), path.file_name()) else {
        return Err(SimError::io(
            "replace",
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name"),
        ));
    };
    let mut spare_name = std::ffi::OsString::from(SPARE_PREFIX);
    spare_name.push(file_name);
    let spare_path = directory.join(spare_name);
    let mut spare = locked_spare(&spare_path)?;
    spare
        .write_all(contents)
        .and_then(|()| spare.set_len(contents.len() as u64))
        .map_err(|source| SimError::io("write", &spare_path, source))?;
    // The spare stays locked until it is the file at `path`, holding the new content.
    match renameat_with(CWD, &spare_path, CWD, path, RenameFlags::EXCHANGE) {
        Ok(()) => Ok(()),
        // No file to exchange with (a new host), or a file system without exchange: the spare
        // becomes the file. For a new file an empty spare is made now, so that no later write
        // allocates an inode (a new lab's hosts get theirs when the lab is made, not in its first
        // apply); without exchange, the next write makes a new spare anyway.
        Err(errno @ (Errno::NOENT | Errno::INVAL | Errno::NOSYS | Errno::NOTSUP)) => {
            std::fs::rename(&spare_path, path).map_err(|source| SimError::io("replace", path, source))?;
            if errno == Errno::NOENT {
                File::create(&spare_path).map_err(|source| SimError::io("create", &spare_path, source))?;
            }
            Ok(())
        }
        Err(errno) => Err(SimError::io("replace", path, std::io::Error::from(errno))),
    }
}

/// [`write_atomically`] elsewhere: a temporary file renamed over the old one.
#[cfg(not(target_os = "linux"))]
fn replace(path: &Path, contents: &[u8]) -> Result<(), SimError> {
    let directory = path.parent().unwrap_or(Path::new("."));
    let mut temporary = tempfile::Builder::new()
        .prefix(TEMPORARY_PREFIX)
        .tempfile_in(directory)
        .map_err(|source| SimError::io("create a temporary file in", directory, source))?;
    temporary
        .write_all(contents)
        .map_err(|source| SimError::io("write", temporary.path().to_owned(), source))?;
    temporary
        .persist(path)
        .map_err(|error| SimError::io("replace", path, error.error))?;
    Ok(())
}

/// The spare file at `spare_path`, opened for writing at its start and locked: no reader reads
/// it, and it is still the file at `spare_path`. A spare a reader holds is left to the reader
/// (removed from its name) and a new one made; so is one another writer exchanged meanwhile.
#[cfg(target_os = "linux")]
fn locked_spare(spare_path: &Path) -> Result<File, SimError> {
    use std::os::unix::fs::MetadataExt;
    let failed = |what: &'static str| move |source| SimError::io(what, spare_path, source);
    // A few rounds: each round that fails is a reader or writer that got there first, and a
    // removed spare's name is free for this writer's new one.
    for _ in 0..8 {
        let spare = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(spare_path)
            .map_err(failed("open"))?;
        match spare.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                remove_if_present(spare_path).map_err(failed("remove"))?;
                continue;
            }
            // A file system without locks: nothing to keep readers from, as before spares.
            Err(TryLockError::Error(_)) => return Ok(spare),
        }
        let opened = spare.metadata().map_err(failed("inspect"))?;
        match std::fs::symlink_metadata(spare_path) {
            Ok(named) if named.dev() == opened.dev() && named.ino() == opened.ino() => return Ok(spare),
            Ok(_) | Err(_) => continue,
        }
    }
    Err(SimError::io(
        "lock",
        spare_path,
        std::io::Error::new(std::io::ErrorKind::WouldBlock, "other processes kept taking it"),
    ))
}

#[cfg(target_os = "linux")]
fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

/// The whole file at `path`, read under a shared lock, so a writer never writes it while it is
/// read (after the read, the file may be a writer's spare: see [`write_atomically`]).
fn read_whole(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut file = File::open(path)?;
    // A file system without locks reads as before spares: unlocked.
    let _ = file.lock_shared();
    let mut bytes = Vec::with_capacity(file.metadata().map_or(0, |metadata| metadata.len() as usize));
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

pub(crate) fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, SimError> {
    let bytes = read_whole(path).map_err(|source| SimError::io("read", path, source))?;
    parse_json(path, &bytes)
}

/// The contents of the file at `path`, read as JSON; a file that is not is corrupt.
fn parse_json<T: DeserializeOwned>(path: &Path, bytes: &[u8]) -> Result<T, SimError> {
    serde_json::from_slice(bytes).map_err(|source| SimError::Corrupt {
        path: path.to_owned(),
        source,
    })
}

/// What makes a host file contradict its name or itself: the name of another host, a switch
/// bridging a NIC the host lacks, a port group on a missing switch, an adapter on a missing port
/// group or distributed switch.
fn inconsistency(name: &str, host: &ObservedHost) -> Option<String> {
    if host.name != name {
        return Some(format!("it holds host \"{}\", not \"{name}\"", host.name));
    }
    for switch in &host.switches {
        if let Some(uplink) = switch.uplinks.iter().find(|uplink| host.physical_nic(uplink).is_none()) {
            return Some(format!(
                "standard switch \"{}\" bridges {uplink}, which the host does not have",
                switch.name
            ));
        }
    }
    for port_group in &host.port_groups {
        if host.switch(&port_group.switch).is_none() {
            return Some(format!(
                "port group \"{}\" is on standard switch \"{}\", which the host does not have",
                port_group.name, port_group.switch
            ));
        }
    }
    for adapter in &host.adapters {
        let missing = match &adapter.connection {
            PortConnection::Standard { switch, port_group } => host
                .port_group(port_group)
                .filter(|found| found.switch == *switch)
                .is_none()
                .then(|| format!("port group \"{port_group}\" on standard switch \"{switch}\"")),
            PortConnection::Distributed { switch, .. } => host
                .distributed_switch(switch)
                .is_none()
                .then(|| format!("distributed switch \"{switch}\"")),
        };
        if let Some(missing) = missing {
            return Some(format!(
                "adapter {} is connected to {missing}, which the host does not have",
                adapter.device
            ));
        }
    }
    None
}

fn check_format(path: &Path, found: u32) -> Result<(), SimError> {
    if found != FORMAT_VERSION {
        return Err(SimError::UnsupportedFormat {
            path: path.to_owned(),
            found,
            expected: FORMAT_VERSION,
        });
    }
    Ok(())
}

/// A UTC timestamp such as `2026-11-24T04:39:18Z`, for the lock holder's description.
fn utc_timestamp(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

impl Lab {
    /// Creates a lab: `dir` (created if missing) gets the settings and one host file per host.
    /// Refuses a directory that already holds a lab. Answers the lab opened for writing.
    pub fn init(dir: impl AsRef<Path>, options: &InitOptions) -> Result<Lab, SimError> {
        let dir = dir.as_ref();
        let names = options.hosts.resolve();
        let settings = LabSettings {
            format_version: FORMAT_VERSION,
            latency_ms: options.latency_ms,
            transient_fault_rate: options.transient_fault_rate,
            seed: options.seed,
            fabric: options.fabric.clone(),
        };
        if let Some(message) = settings.problem() {
            return Err(SimError::InvalidOptions { message });
        }
        let fresh = FreshHostOptions {
            version: options.version,
            dns_from_dhcp: options.dns_from_dhcp,
            ipv6_enabled: options.ipv6_enabled,
        };
        let furnishing = Furnishing {
            distributed_switches: options.distributed_switches.clone(),
            iscsi_adapter: options.iscsi_adapter,
            system_owned_adapter: options.system_owned_adapter,
        };
        Lab::create(dir, &names, &fresh, settings, &furnishing)
    }

    /// Creates a lab holding exactly `names`, every host on `version`, with no latency or faults:
    /// what `--target sim:DIR` does when DIR does not exist yet.
    pub fn create_with_hosts(dir: impl AsRef<Path>, names: &[String], version: EsxiVersion) -> Result<Lab, SimError> {
        Lab::create_with_hosts_and_distributed_switches(dir, names, version, &[])
    }

    /// [`Lab::create_with_hosts`], the hosts also members of `distributed_switches` (each switch
    /// names its member hosts, or has every host), as vCenter would have joined them.
    pub fn create_with_hosts_and_distributed_switches(
        dir: impl AsRef<Path>,
        names: &[String],
        version: EsxiVersion,
        distributed_switches: &[LabDistributedSwitch],
    ) -> Result<Lab, SimError> {
        let furnishing = Furnishing {
            distributed_switches: distributed_switches.to_vec(),
            ..Furnishing::default()
        };
        Lab::create(
            dir.as_ref(),
            names,
            &FreshHostOptions::new(version),
            LabSettings::default(),
            &furnishing,
        )
    }

    /// Whether `dir` holds a lab.
    pub fn exists(dir: impl AsRef<Path>) -> bool {
        dir.as_ref().join(SETTINGS_FILE).is_file()
    }

    fn create(
        dir: &Path,
        names: &[String],
        fresh: &FreshHostOptions,
        settings: LabSettings,
        furnishing: &Furnishing,
    ) -> Result<Lab, SimError> {
        if names.is_empty() {
            return Err(SimError::InvalidOptions {
                message: "a lab needs at least one host: give a count of 1 or more, or host names".to_owned(),
            });
        }
        if names.len() > MAXIMUM_HOSTS as usize {
            return Err(SimError::InvalidOptions {
                message: format!("a lab holds at most {MAXIMUM_HOSTS} hosts: split the fleet into several labs"),
            });
        }
        let mut unique = std::collections::BTreeSet::new();
        for name in names {
            validate_host_name(name)?;
            if !unique.insert(name.as_str()) {
                return Err(SimError::InvalidOptions {
                    message: format!("host name \"{name}\" is given twice: name each host once"),
                });
            }
        }
        validate_distributed_switches(&furnishing.distributed_switches, names)?;
        let hosts_dir = dir.join(HOSTS_DIRECTORY);
        std::fs::create_dir_all(&hosts_dir).map_err(|source| SimError::io("create directory", &hosts_dir, source))?;
        let lab = Lab {
            dir: dir.to_owned(),
            settings: settings.clone(),
            writer_lock: None,
            host_mutexes: Mutex::new(HashMap::new()),
        };
        let lab = lab.acquire_writer_lock(DEFAULT_LOCK_WAIT)?;
        // Checked under the lock so two concurrent inits cannot both succeed.
        if Lab::exists(dir) || !lab.host_names()?.is_empty() {
            return Err(SimError::LabExists { dir: dir.to_owned() });
        }
        lab.write_hosts_in_parallel(names, fresh, furnishing)?;
        // The settings file goes last: a lab is only a lab once every host is written.
        lab.write_settings(&settings)?;
        Ok(lab)
    }

    fn write_hosts_in_parallel(
        &self,
        names: &[String],
        fresh: &FreshHostOptions,
        furnishing: &Furnishing,
    ) -> Result<(), SimError> {
        let workers = std::thread::available_parallelism()
            .map_or(2, |count| count.get())
            .max(2)
            * 2;
        let chunk_size = names.len().div_ceil(workers).max(1);
        std::thread::scope(|scope| {
            let handles: Vec<_> = names
                .chunks(chunk_size)
                .enumerate()
                .map(|(chunk_number, chunk)| {
                    scope.spawn(move || -> Result<(), SimError> {
                        for (offset, name) in chunk.iter().enumerate() {
                            let index = (chunk_number * chunk_size + offset + 1) as u32;
                            let mut host = SimHost::new_installed_with(name, index, fresh)?;
                            furnishing.furnish(&mut host, index)?;
                            self.write_host(&host)?;
                        }
                        Ok(())
                    })
                })
                .collect();
            handles
                .into_iter()
                .try_for_each(|handle| handle.join().expect("host writer thread panicked"))
        })
    }

    /// Opens a lab for reading. Needs no lock: writers replace files atomically.
    pub fn open(dir: impl AsRef<Path>) -> Result<Lab, SimError> {
        let dir = dir.as_ref();
        if !Lab::exists(dir) {
            return Err(SimError::NotALab { dir: dir.to_owned() });
        }
        let settings_path = dir.join(SETTINGS_FILE);
        let settings: LabSettings = read_json(&settings_path)?;
        check_format(&settings_path, settings.format_version)?;
        if let Some(message) = settings.problem() {
            return Err(SimError::Inconsistent {
                path: settings_path,
                message,
            });
        }
        Ok(Lab {
            dir: dir.to_owned(),
            settings,
            writer_lock: None,
            host_mutexes: Mutex::new(HashMap::new()),
        })
    }

    /// Opens a lab for writing, waiting up to [`DEFAULT_LOCK_WAIT`] for another writer to finish.
    pub fn open_writer(dir: impl AsRef<Path>) -> Result<Lab, SimError> {
        Lab::open_writer_waiting(dir, DEFAULT_LOCK_WAIT)
    }

    /// Opens a lab for writing, waiting up to `wait` for another writer to finish.
    pub fn open_writer_waiting(dir: impl AsRef<Path>, wait: Duration) -> Result<Lab, SimError> {
        Lab::open(dir)?.acquire_writer_lock(wait)
    }

    fn acquire_writer_lock(mut self, wait: Duration) -> Result<Lab, SimError> {
        let lock_path = self.dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(|source| SimError::io("open lock file", &lock_path, source))?;
        let started = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) if started.elapsed() < wait => std::thread::sleep(LOCK_RETRY_INTERVAL),
                Err(TryLockError::WouldBlock) => {
                    let mut holder = String::new();
                    let _ = file.read_to_string(&mut holder);
                    let holder = holder.trim();
                    return Err(SimError::LockHeld {
                        dir: self.dir.clone(),
                        holder: if holder.is_empty() {
                            "a writer that has not described itself yet".to_owned()
                        } else {
                            holder.to_owned()
                        },
                        waited: started.elapsed(),
                    });
                }
                Err(TryLockError::Error(source)) => return Err(SimError::io("lock", &lock_path, source)),
            }
        }
        let command: Vec<String> = std::env::args().collect();
        let description = format!(
            "pid {}, command `{}`, since {}",
            std::process::id(),
            command.join(" "),
            utc_timestamp(SystemTime::now())
        );
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(description.as_bytes()))
            .and_then(|()| file.sync_all())
            .map_err(|source| SimError::io("describe the holder in", &lock_path, source))?;
        self.writer_lock = Some(WriterLock { file });
        Ok(self)
    }

    /// The lab directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The lab's settings as loaded.
    pub fn settings(&self) -> &LabSettings {
        &self.settings
    }

    /// Whether this lab was opened for writing (and holds the lock).
    pub fn is_writer(&self) -> bool {
        self.writer_lock.is_some()
    }

    fn require_writer(&self) -> Result<(), SimError> {
        if self.is_writer() {
            Ok(())
        } else {
            Err(SimError::ReadOnly { dir: self.dir.clone() })
        }
    }

    /// Replaces the lab's settings (latency, fault rate, seed). Writers only.
    pub fn write_settings(&self, settings: &LabSettings) -> Result<(), SimError> {
        self.require_writer()?;
        if let Some(message) = settings.problem() {
            return Err(SimError::InvalidOptions { message });
        }
        let mut settings = settings.clone();
        settings.format_version = FORMAT_VERSION;
        let bytes = serde_json::to_vec_pretty(&settings).expect("settings serialize");
        write_atomically(&self.dir.join(SETTINGS_FILE), &bytes)
    }

    fn host_path(&self, name: &str) -> PathBuf {
        self.dir.join(HOSTS_DIRECTORY).join(format!("{name}.json"))
    }

    /// The names of the lab's hosts, sorted. Spare and stray temporary files are ignored.
    pub fn host_names(&self) -> Result<Vec<String>, SimError> {
        let hosts_dir = self.dir.join(HOSTS_DIRECTORY);
        let entries = match std::fs::read_dir(&hosts_dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(SimError::io("list", hosts_dir, source)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| SimError::io("list", &hosts_dir, source))?;
            let file_name = entry.file_name();
            let Some(file_name) = file_name.to_str() else { continue };
            if file_name.starts_with('.') {
                continue;
            }
            if let Some(name) = file_name.strip_suffix(".json") {
                names.push(name.to_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    /// Loads one host with the simulator's bookkeeping.
    pub fn load_host(&self, name: &str) -> Result<SimHost, SimError> {
        let unknown = || SimError::UnknownHost {
            host: name.to_owned(),
            dir: self.dir.clone(),
        };
        if validate_host_name(name).is_err() {
            return Err(unknown());
        }
        let path = self.host_path(name);
        // Read without asking first whether the file is there: a plan reads every host, and the
        // extra `stat` of each was a tenth of the reading.
        let bytes = match read_whole(&path) {
            Ok(bytes) => bytes,
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::IsADirectory | std::io::ErrorKind::NotADirectory
                ) =>
            {
                return Err(unknown())
            }
            Err(source) => return Err(SimError::io("read", &path, source)),
        };
        let mut host: SimHost = parse_json(&path, &bytes)?;
        host.observed.shrink_to_fit();
        check_format(&path, host.format_version)?;
        if let Some(message) = inconsistency(name, host.observed()) {
            return Err(SimError::Inconsistent { path, message });
        }
        Ok(host)
    }

    /// One host's observed state.
    pub fn observe(&self, name: &str) -> Result<ObservedHost, SimError> {
        Ok(self.load_host(name)?.observed)
    }

    /// Several hosts' observed state, read in parallel.
    pub fn observe_many(&self, names: &[String]) -> Result<ObservedFleet, SimError> {
        let workers = std::thread::available_parallelism().map_or(1, |count| count.get());
        let chunk_size = names.len().div_ceil(workers).max(1);
        let chunks: Vec<Result<Vec<ObservedHost>, SimError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = names
                .chunks(chunk_size)
                .map(|chunk| scope.spawn(move || chunk.iter().map(|name| self.observe(name)).collect()))
                .collect();
            handles
                .into_iter()
                .map(|handle| handle.join().expect("observer thread panicked"))
                .collect()
        });
        let mut fleet = ObservedFleet::default();
        for chunk in chunks {
            for host in chunk? {
                fleet.hosts.insert(host.name.clone(), host);
            }
        }
        Ok(fleet)
    }

    /// Every host's observed state.
    pub fn observe_all(&self) -> Result<ObservedFleet, SimError> {
        self.observe_many(&self.host_names()?)
    }

    fn write_host(&self, host: &SimHost) -> Result<(), SimError> {
        // Compact: a host file is written on every change, and `esxnet observe` is the view for
        // people.
        let bytes = serde_json::to_vec(host).expect("hosts serialize");
        write_atomically(&self.host_path(host.name()), &bytes)
    }

    fn host_mutex(&self, name: &str) -> Arc<Mutex<()>> {
        let mut mutexes = self
            .host_mutexes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        mutexes.entry(name.to_owned()).or_default().clone()
    }

    /// Changes one host: loads it, applies `change`, and writes it back atomically if `change`
    /// succeeded. Writers only. Changes to one host are serialized; different hosts run in
    /// parallel.
    pub fn modify_host<T>(
        &self,
        name: &str,
        change: impl FnOnce(&mut SimHost) -> Result<T, SimError>,
    ) -> Result<T, SimError> {
        self.require_writer()?;
        let mutex = self.host_mutex(name);
        let _serialized = mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut host = self.load_host(name)?;
        let before = host.clone();
        let answer = change(&mut host)?;
        if host != before {
            self.write_host(&host)?;
        }
        Ok(answer)
    }

    /// [`Lab::modify_host`] for a writer that keeps its hosts in memory (`sim serve`): `host` is
    /// the writer's copy of the host, which `change` works on instead of the file. The file is
    /// written, and `host` replaced, only when `change` succeeds and changes something.
    pub fn modify_held_host<T>(
        &self,
        host: &mut SimHost,
        change: impl FnOnce(&mut SimHost) -> Result<T, SimError>,
    ) -> Result<T, SimError> {
        self.require_writer()?;
        let mutex = self.host_mutex(host.name());
        let _serialized = mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut changed = host.clone();
        let answer = change(&mut changed)?;
        if changed != *host {
            self.write_host(&changed)?;
            *host = changed;
        }
        Ok(answer)
    }

    /// Simulates a reboot of a host: pending connection limits take effect.
    pub fn reboot(&self, name: &str) -> Result<(), SimError> {
        self.modify_host(name, SimHost::reboot)
    }

    /// Starts a migration on a host over an adapter; answers its id.
    pub fn start_migration(&self, name: &str, kind: MigrationKind, device: &str) -> Result<String, SimError> {
        self.modify_host(name, |host| host.start_migration(kind, device))
    }

    /// Completes one migration in flight on a host.
    pub fn complete_migration(&self, name: &str, id: &str) -> Result<(), SimError> {
        self.modify_host(name, |host| host.complete_migration(id))
    }

    /// Completes every migration in flight on a host; answers how many there were.
    pub fn complete_migrations(&self, name: &str) -> Result<usize, SimError> {
        self.modify_host(name, |host| Ok(host.complete_migrations()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names in a directory, sorted.
    fn listing(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_write_creates_then_replaces_the_file_and_reuses_one_spare() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("host.json");
        write_atomically(&path, b"first").unwrap();
        assert_eq!(read_whole(&path).unwrap(), b"first");
        if cfg!(target_os = "linux") {
            assert_eq!(
                listing(dir.path()),
                [".esxnet-spare-host.json", "host.json"],
                "a new file has its spare"
            );
        }
        // Replacing exchanges the file with its spare on Linux, which keeps the old content until
        // the next write: no other file is made or left, and no inode is allocated once there is
        // a spare.
        let mut inodes = std::collections::BTreeSet::new();
        for round in 0..4 {
            let contents = format!("replacement {round}{}", "!".repeat(3 - round));
            write_atomically(&path, contents.as_bytes()).unwrap();
            assert_eq!(std::fs::read_to_string(&path).unwrap(), contents);
            if cfg!(target_os = "linux") {
                assert_eq!(listing(dir.path()), [".esxnet-spare-host.json", "host.json"]);
                use std::os::unix::fs::MetadataExt;
                inodes.insert(std::fs::metadata(&path).unwrap().ino());
            } else {
                assert_eq!(listing(dir.path()), ["host.json"]);
            }
        }
        if cfg!(target_os = "linux") {
            assert_eq!(inodes.len(), 2, "the file and its spare take turns");
        }
    }

    #[test]
    fn a_reader_that_opened_the_old_file_keeps_reading_the_old_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("host.json");
        write_atomically(&path, b"old").unwrap();
        // A reader holds the file as `read_whole` does, while two writes go by: the second would
        // write into the file it holds (the first write's spare) if writers did not respect the
        // lock.
        let mut reader = File::open(&path).unwrap();
        reader.lock_shared().unwrap();
        write_atomically(&path, b"new").unwrap();
        write_atomically(&path, b"newer").unwrap();
        let mut seen = String::new();
        reader.read_to_string(&mut seen).unwrap();
        assert_eq!(seen, "old", "the file a reader holds is never rewritten under it");
        drop(reader);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "newer");
        write_atomically(&path, b"newest").unwrap();
        assert_eq!(read_whole(&path).unwrap(), b"newest");
    }

    #[test]
    fn readers_never_see_half_a_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("host.json");
        let versions: Vec<Vec<u8>> = (0..6u8)
            .map(|version| vec![b'a' + version; 20_000 + usize::from(version) * 3_000])
            .collect();
        write_atomically(&path, &versions[0]).unwrap();
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            let readers: Vec<_> = (0..3)
                .map(|_| {
                    scope.spawn(|| {
                        let mut reads = 0;
                        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                            let bytes = read_whole(&path).unwrap();
                            assert!(versions.contains(&bytes), "a torn read of {} bytes", bytes.len());
                            reads += 1;
                        }
                        reads
                    })
                })
                .collect();
            for round in 0..600 {
                write_atomically(&path, &versions[round % versions.len()]).unwrap();
            }
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            for reader in readers {
                assert!(reader.join().unwrap() > 0);
            }
        });
    }
}
