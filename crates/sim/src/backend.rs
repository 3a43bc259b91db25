//! [`SimBackend`]: a lab behind the executor's [`Backend`] trait, with latency, transient faults
//! and per-host API-call counters.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use esxnet_executor::{Backend, BackendError, Fault, Operation, OperationOutcome};
use esxnet_model::hints::NicHint;
use esxnet_model::observed::{ObservedFleet, ObservedHost};
use serde::{Deserialize, Serialize};

use crate::error::SimError;
use crate::lab::{read_json, write_atomically, Lab, COUNTERS_FILE};

/// The method name counted for reading a host's state (a property-collector retrieval).
pub const OBSERVE_METHOD: &str = "RetrieveProperties";

/// The method name counted for reading what a host's NICs see.
pub const NETWORK_HINT_METHOD: &str = "QueryNetworkHint";

/// The key of batched observations' fault draws; `*` cannot start a host name.
const BATCH_KEY: &str = "*batch*";

/// API calls made to one host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostCallCounters {
    /// Calls by vSphere method name, including the ones that failed.
    pub calls: BTreeMap<String, u64>,
    /// Calls that the lab's fault injection failed with a transient fault.
    pub transient_faults: u64,
}

impl HostCallCounters {
    /// Every call to this host.
    pub fn total(&self) -> u64 {
        self.calls.values().sum()
    }
}

/// API calls made through one [`SimBackend`], per host (`counters.json`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallCounters {
    /// Calls per host.
    pub hosts: BTreeMap<String, HostCallCounters>,
    /// Every call to every host.
    pub total_calls: u64,
    /// Batched observations ([`Backend::observe_many`]), each one round trip.
    pub batched_observations: u64,
    /// Batched observations that the fault injection failed (no host was read).
    pub batch_transient_faults: u64,
}

/// What the lab decided for one API call.
struct CallVerdict {
    latency: Duration,
    transient_fault: Option<Fault>,
}

/// A deterministic 64-bit hash (FNV-1a): the same on every platform and Rust release, unlike
/// the standard library's hasher, so a seed reproduces the same faults everywhere.
fn stable_hash(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.iter().chain(&[0xff]) {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    hash
}

/// A simulator lab as an esxnet backend.
///
/// Every call to a host is one simulated API call: it is counted, waits for the lab's latency
/// (outside any lock, so calls to different hosts overlap) and may fail with a transient fault
/// before it takes effect. Faults are deterministic: they depend on the seed, the host's name and
/// how many calls this backend has made to that host.
///
/// [`Backend::observe_many`] is one batched round trip, as a property collector makes it: one
/// latency and one fault draw for the whole batch, while every host read still counts as one
/// `RetrieveProperties` call in the counters.
#[derive(Debug)]
pub struct SimBackend {
    lab: Lab,
    counters: Mutex<CallCounters>,
    /// Calls made per host, which key the fault draws; kept apart from the counters so a
    /// [`SimBackend::reset_counters`] does not replay the same faults.
    call_sequence: Mutex<HashMap<String, u64>>,
    /// The physical NICs of each host observed through this backend, by device name: what
    /// [`Backend::network_hints`] answers from, as `sim serve` answers from the hosts it holds.
    /// A lab host's physical NICs are made with it and never change, so reading the host file
    /// again (a second parse of every host in a plan's pre-flight) would only cost time.
    physical_nics: Mutex<HashMap<String, Vec<String>>>,
}

impl SimBackend {
    /// Opens a lab read-only: observe works, execute answers `InvalidState`.
    pub fn open(dir: impl AsRef<Path>) -> Result<SimBackend, SimError> {
        Ok(SimBackend::from_lab(Lab::open(dir)?))
    }

    /// Opens a lab for writing; takes the lab lock for the backend's lifetime, waiting briefly
    /// for another writer to finish.
    pub fn open_writer(dir: impl AsRef<Path>) -> Result<SimBackend, SimError> {
        Ok(SimBackend::from_lab(Lab::open_writer(dir)?))
    }

    /// Wraps a lab already opened (for instance by [`Lab::init`]).
    pub fn from_lab(lab: Lab) -> SimBackend {
        SimBackend {
            lab,
            counters: Mutex::new(CallCounters::default()),
            call_sequence: Mutex::new(HashMap::new()),
            physical_nics: Mutex::new(HashMap::new()),
        }
    }

    /// The lab behind this backend, for simulator controls such as [`Lab::reboot`].
    pub fn lab(&self) -> &Lab {
        &self.lab
    }

    /// The API calls made through this backend so far.
    pub fn counters(&self) -> CallCounters {
        self.lock_counters().clone()
    }

    /// Forgets the calls counted so far (fault draws continue where they were).
    pub fn reset_counters(&self) {
        *self.lock_counters() = CallCounters::default();
    }

    /// Writes the counters to `counters.json` in the lab directory, replacing the file.
    /// Writers also do this when they are dropped.
    pub fn flush_counters(&self) -> Result<(), SimError> {
        let bytes = serde_json::to_vec_pretty(&self.counters()).expect("counters serialize");
        write_atomically(&self.lab.dir().join(COUNTERS_FILE), &bytes)
    }

    /// Reads the counters a writer left in a lab directory.
    pub fn read_counters(dir: impl AsRef<Path>) -> Result<CallCounters, SimError> {
        read_json(&dir.as_ref().join(COUNTERS_FILE))
    }

    /// Draws the latency and fault of the next call keyed on `key` (a host name, or the batch key).
    fn draw(&self, key: &str) -> CallVerdict {
        let sequence_number = {
            let mut sequences = self
                .call_sequence
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let slot = sequences.entry(key.to_owned()).or_insert(0);
            *slot += 1;
            *slot
        };
        let settings = self.lab.settings();
        let mut transient_fault = None;
        if settings.transient_fault_rate > 0.0 {
            let seed = stable_hash(&[
                &settings.seed.to_le_bytes(),
                key.as_bytes(),
                &sequence_number.to_le_bytes(),
            ]);
            let mut random = fastrand::Rng::with_seed(seed);
            if random.f64() < settings.transient_fault_rate {
                transient_fault = Some(if random.bool() { Fault::Busy } else { Fault::Timeout });
            }
        }
        CallVerdict {
            latency: Duration::from_millis(settings.latency_ms),
            transient_fault,
        }
    }

    fn count(counters: &mut CallCounters, host: &str, method: &str, faulted: bool) {
        let host_counters = counters.hosts.entry(host.to_owned()).or_default();
        *host_counters.calls.entry(method.to_owned()).or_insert(0) += 1;
        if faulted {
            host_counters.transient_faults += 1;
        }
        counters.total_calls += 1;
    }

    fn lock_counters(&self) -> std::sync::MutexGuard<'_, CallCounters> {
        self.counters.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Keeps the physical NICs of observed hosts for [`Backend::network_hints`].
    fn remember_physical_nics<'a>(&self, hosts: impl IntoIterator<Item = &'a ObservedHost>) {
        let mut known = self
            .physical_nics
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for host in hosts {
            if !known.contains_key(&host.name) {
                let devices = host.physical_nics.iter().map(|nic| nic.device.clone()).collect();
                known.insert(host.name.clone(), devices);
            }
        }
    }

    /// Runs the call's `work` unless a transient fault was drawn, as one call lasting the call's
    /// latency ([`lasting`]), holding no lock.
    fn finish_draw<T>(
        verdict: CallVerdict,
        host: &str,
        method: &str,
        work: impl FnOnce() -> Result<T, SimError>,
    ) -> Result<T, SimError> {
        lasting(verdict.latency, || match verdict.transient_fault {
            Some(fault) => Err(SimError::Transient {
                fault,
                host: host.to_owned(),
                method: method.to_owned(),
            }),
            None => work(),
        })
    }

    /// One call to a host: counted, then as [`SimBackend::finish_draw`].
    fn call<T>(&self, host: &str, method: &str, work: impl FnOnce() -> Result<T, SimError>) -> Result<T, SimError> {
        let verdict = self.draw(host);
        Self::count(
            &mut self.lock_counters(),
            host,
            method,
            verdict.transient_fault.is_some(),
        );
        Self::finish_draw(verdict, host, method, work)
    }
}

/// Runs `work` and returns when `latency` has passed since it started, the work included: a
/// simulated call lasts what the lab says, as a server's answer time includes its own work. The
/// lab's file IO is the simulator's cost, not the client's, and must not lengthen every call.
/// `sim serve` answers its calls the same way.
pub fn lasting<T>(latency: Duration, work: impl FnOnce() -> T) -> T {
    let started = std::time::Instant::now();
    let outcome = work();
    let remaining = latency.saturating_sub(started.elapsed());
    if !remaining.is_zero() {
        std::thread::sleep(remaining);
    }
    outcome
}

impl Drop for SimBackend {
    fn drop(&mut self) {
        if self.lab.is_writer() {
            // Nowhere to report a failure from a destructor; benchmarks that need the file flush
            // explicitly and see the error.
            let _ = self.flush_counters();
        }
    }
}

impl Backend for SimBackend {
    fn describe(&self) -> String {
        format!("sim:{}", self.lab.dir().display())
    }

    fn host_names(&self) -> Result<Vec<String>, BackendError> {
        Ok(self.lab.host_names()?)
    }

    fn observe(&self, host: &str) -> Result<ObservedHost, BackendError> {
        let observed = self.call(host, OBSERVE_METHOD, || self.lab.observe(host))?;
        self.remember_physical_nics([&observed]);
        Ok(observed)
    }

    fn observe_many(&self, hosts: &[String]) -> Result<ObservedFleet, BackendError> {
        let verdict = self.draw(BATCH_KEY);
        {
            let mut counters = self.lock_counters();
            counters.batched_observations += 1;
            if verdict.transient_fault.is_some() {
                counters.batch_transient_faults += 1;
            } else {
                for host in hosts {
                    Self::count(&mut counters, host, OBSERVE_METHOD, false);
                }
            }
        }
        let fleet = Self::finish_draw(verdict, "(batch)", "RetrievePropertiesEx", || {
            self.lab.observe_many(hosts)
        })?;
        self.remember_physical_nics(fleet.hosts.values());
        Ok(fleet)
    }

    fn execute(&self, host: &str, operation: &Operation) -> Result<OperationOutcome, BackendError> {
        if !self.lab.is_writer() {
            return Err(SimError::ReadOnly {
                dir: self.lab.dir().to_owned(),
            }
            .into());
        }
        Ok(self.call(host, operation.method_name(), || {
            self.lab.modify_host(host, |simulated| simulated.apply(operation))
        })?)
    }

    fn is_writable(&self) -> bool {
        self.lab.is_writer()
    }

    /// The lab's fabric answers, as one `QueryNetworkHint` call; a lab without a fabric has no
    /// network to see, and no call is made. A host not observed through this backend yet is read
    /// for its physical NICs.
    fn network_hints(&self, host: &str) -> Result<Option<Vec<NicHint>>, BackendError> {
        let Some(fabric) = &self.lab.settings().fabric else {
            return Ok(None);
        };
        let hints = self.call(host, NETWORK_HINT_METHOD, || {
            let known = self
                .physical_nics
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .get(host)
                .cloned();
            match known {
                Some(devices) => Ok(fabric.hints_of_devices(host, devices.iter().map(String::as_str))),
                None => self.lab.observe(host).map(|observed| fabric.hints(&observed)),
            }
        })?;
        Ok(Some(hints))
    }
}
