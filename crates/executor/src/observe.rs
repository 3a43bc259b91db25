//! Reading many hosts at once, for `plan`, `drift` and `observe`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use esxnet_model::observed::{ObservedFleet, ObservedHost};

use crate::backend::{Backend, BackendError, Fault};
use crate::error::ExecutorError;
use crate::retry::RetryPolicy;

/// Observes hosts through a backend, `parallelism` at a time (transient faults retried).
///
/// `host_names` empty means every host the backend knows. A host the backend does not know
/// (`UnknownHost`) is left out of the fleet, so that the planner reports it against the
/// manifest that declares it; any other failure is an error naming the host. Backends that
/// batch ([`Backend::batches_observation`]) are asked once with every host.
pub fn observe_fleet(
    backend: &dyn Backend,
    host_names: &[String],
    parallelism: usize,
) -> Result<ObservedFleet, ExecutorError> {
    observe_fleet_with(backend, host_names, parallelism, &RetryPolicy::default())
}

/// [`observe_fleet`] with a chosen retry policy.
pub fn observe_fleet_with(
    backend: &dyn Backend,
    host_names: &[String],
    parallelism: usize,
    retry: &RetryPolicy,
) -> Result<ObservedFleet, ExecutorError> {
    let listed;
    let host_names = if host_names.is_empty() {
        let (names, _) = retry.run(|| backend.host_names(), |_, _, _| {});
        listed = names.map_err(|source| ExecutorError::ListHosts {
            target: backend.describe(),
            source,
        })?;
        &listed
    } else {
        host_names
    };
    if backend.batches_observation() {
        let (fleet, _) = retry.run(|| backend.observe_many(host_names), |_, _, _| {});
        return fleet.map_err(|source| ExecutorError::Observe {
            host: host_names.join(", "),
            target: backend.describe(),
            source,
        });
    }

    let next_host = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<ObservedHost, BackendError>>>> = Mutex::new(vec![None; host_names.len()]);
    let workers = parallelism.max(1).min(host_names.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let index = next_host.fetch_add(1, Ordering::Relaxed);
                let Some(host) = host_names.get(index) else {
                    break;
                };
                let (observed, _) = retry.run(|| backend.observe(host), |_, _, _| {});
                results.lock().unwrap_or_else(|poisoned| poisoned.into_inner())[index] = Some(observed);
            });
        }
    });
    let mut fleet = ObservedFleet::default();
    let results = results.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner());
    for (host, result) in host_names.iter().zip(results) {
        match result {
            Some(Ok(observed)) => {
                fleet.hosts.insert(host.clone(), observed);
            }
            Some(Err(error)) if error.fault == Fault::UnknownHost => {}
            Some(Err(source)) => {
                return Err(ExecutorError::Observe {
                    host: host.clone(),
                    target: backend.describe(),
                    source,
                })
            }
            None => {}
        }
    }
    Ok(fleet)
}

/// What the NICs of `hosts` see (`QueryNetworkHint`), `parallelism` hosts at a time. Hosts the
/// backend has no hints for, or whose hints could not be read, are left out: hints inform
/// warnings and verification, they never stop a plan.
pub fn network_hints_of(
    backend: &dyn Backend,
    hosts: &[String],
    parallelism: usize,
) -> std::collections::BTreeMap<String, Vec<esxnet_model::hints::NicHint>> {
    let retry = RetryPolicy::default();
    let next_host = AtomicUsize::new(0);
    let found = Mutex::new(std::collections::BTreeMap::new());
    let workers = parallelism.max(1).min(hosts.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                while let Some(host) = hosts.get(next_host.fetch_add(1, Ordering::Relaxed)) {
                    if let (Ok(Some(hints)), _) = retry.run(|| backend.network_hints(host), |_, _, _| {}) {
                        found
                            .lock()
                            .unwrap_or_else(|poisoned| poisoned.into_inner())
                            .insert(host.clone(), hints);
                    }
                }
            });
        }
    });
    found.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner())
}
