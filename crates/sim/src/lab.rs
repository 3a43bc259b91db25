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
//! Every write goes to a temporary file in the same directory, is flushed to disk and then
//! renamed over the old file, and the directory is synced: a reader sees the old or the new file,
//! never half of one, and a writer killed mid-write leaves at most a stray temporary file, which
//! loading ignores. Readers therefore take no lock.

use std::collections::HashMap;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use esxnet_model::common::EsxiVersion;
use esxnet_model::observed::{MigrationKind, ObservedFleet, ObservedHost};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::SimError;
use crate::host::{FreshHostOptions, SimHost, FORMAT_VERSION, MAXIMUM_HOSTS};

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

/// Temporary files start with this prefix; loading skips anything that starts with a dot.
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
}

impl Default for LabSettings {
    fn default() -> Self {
        LabSettings {
            format_version: FORMAT_VERSION,
            latency_ms: 0,
            transient_fault_rate: 0.0,
            seed: 0,
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
    /// Simulated latency per API call, in milliseconds.
    pub latency_ms: u64,
    /// Probability (0–1) of a transient fault per API call.
    pub transient_fault_rate: f64,
    /// Seed of the fault injection.
    pub seed: u64,
    /// The default stack's DNS is learned through DHCP instead of set statically.
    pub dns_from_dhcp: bool,
    /// IPv6 is enabled on the hosts (ESXi's default).
    pub ipv6_enabled: bool,
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
        }
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

/// Writes `contents` to `path` atomically: temporary file, fsync, rename, directory fsync.
pub(crate) fn write_atomically(path: &Path, contents: &[u8]) -> Result<(), SimError> {
    let directory = path.parent().unwrap_or(Path::new("."));
    let mut temporary = tempfile::Builder::new()
        .prefix(TEMPORARY_PREFIX)
        .tempfile_in(directory)
        .map_err(|source| SimError::io("create a temporary file in", directory, source))?;
    temporary
        .write_all(contents)
        .map_err(|source| SimError::io("write", temporary.path().to_owned(), source))?;
    temporary
        .as_file()
        .sync_all()
        .map_err(|source| SimError::io("flush to disk", temporary.path().to_owned(), source))?;
    temporary
        .persist(path)
        .map_err(|error| SimError::io("replace", path, error.error))?;
    // Make the rename itself durable; some platforms cannot open a directory, which only weakens
    // durability after a power loss, never atomicity.
    if let Ok(directory_handle) = File::open(directory) {
        let _ = directory_handle.sync_all();
    }
    Ok(())
}

fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, SimError> {
    let bytes = std::fs::read(path).map_err(|source| SimError::io("read", path, source))?;
    serde_json::from_slice(&bytes).map_err(|source| SimError::Corrupt {
        path: path.to_owned(),
        source,
    })
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
        if !(0.0..=1.0).contains(&options.transient_fault_rate) {
            return Err(SimError::InvalidOptions {
                message: format!(
                    "transient fault rate {} is outside 0–1: give a probability such as 0.05",
                    options.transient_fault_rate
                ),
            });
        }
        let names = options.hosts.resolve();
        let settings = LabSettings {
            format_version: FORMAT_VERSION,
            latency_ms: options.latency_ms,
            transient_fault_rate: options.transient_fault_rate,
            seed: options.seed,
        };
        let fresh = FreshHostOptions {
            version: options.version,
            dns_from_dhcp: options.dns_from_dhcp,
            ipv6_enabled: options.ipv6_enabled,
        };
        Lab::create(dir, &names, &fresh, settings)
    }

    /// Creates a lab holding exactly `names`, every host on `version`, with no latency or faults:
    /// what `--target sim:DIR` does when DIR does not exist yet.
    pub fn create_with_hosts(dir: impl AsRef<Path>, names: &[String], version: EsxiVersion) -> Result<Lab, SimError> {
        Lab::create(
            dir.as_ref(),
            names,
            &FreshHostOptions::new(version),
            LabSettings::default(),
        )
    }

    /// Whether `dir` holds a lab.
    pub fn exists(dir: impl AsRef<Path>) -> bool {
        dir.as_ref().join(SETTINGS_FILE).is_file()
    }

    fn create(dir: &Path, names: &[String], fresh: &FreshHostOptions, settings: LabSettings) -> Result<Lab, SimError> {
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
        lab.write_hosts_in_parallel(names, fresh)?;
        // The settings file goes last: a lab is only a lab once every host is written.
        lab.write_settings(&settings)?;
        Ok(lab)
    }

    fn write_hosts_in_parallel(&self, names: &[String], fresh: &FreshHostOptions) -> Result<(), SimError> {
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
                            let host = SimHost::new_installed_with(name, index, fresh)?;
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
        let mut settings = settings.clone();
        settings.format_version = FORMAT_VERSION;
        let bytes = serde_json::to_vec_pretty(&settings).expect("settings serialize");
        write_atomically(&self.dir.join(SETTINGS_FILE), &bytes)
    }

    fn host_path(&self, name: &str) -> PathBuf {
        self.dir.join(HOSTS_DIRECTORY).join(format!("{name}.json"))
    }

    /// The names of the lab's hosts, sorted. Stray temporary files are ignored.
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
        let path = self.host_path(name);
        if validate_host_name(name).is_err() || !path.is_file() {
            return Err(SimError::UnknownHost {
                host: name.to_owned(),
                dir: self.dir.clone(),
            });
        }
        let host: SimHost = read_json(&path)?;
        check_format(&path, host.format_version)?;
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
        let bytes = serde_json::to_vec_pretty(host).expect("hosts serialize");
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
