//! The walker: hosts in parallel, each host's steps in order, every step behind its precondition.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use esxnet_model::observed::{ObservedFleet, ObservedHost};
use esxnet_planner::state::{self, ObjectState};
use esxnet_planner::{Action, Address, Change, HostPlan, HostStatus, Phase, Plan};

use crate::backend::{Backend, BackendError, Fault};
use crate::error::ExecutorError;
use crate::events::{Event, IgnoreEvents, Observer};
use crate::journal::{Journal, JournalRecord};
use crate::operations::operations;
use crate::precondition::{classify, Precondition};
use crate::report::{change_reports, ApplyReport, HostOutcome, HostReport, StepOutcome, StepReport};
use crate::retry::RetryPolicy;

/// The default number of hosts applied at once.
pub const DEFAULT_PARALLELISM: usize = 16;

/// How [`apply`] runs.
#[derive(Clone)]
pub struct ApplyOptions {
    /// Hosts applied at once (at least 1).
    pub parallelism: usize,
    /// How transient faults are retried.
    pub retry: RetryPolicy,
    /// The run's id in the journal and report; generated when `None`.
    pub run_id: Option<String>,
    /// Where to journal the run, if anywhere.
    pub journal: Option<Arc<Journal>>,
    /// Who hears progress events.
    pub observer: Arc<dyn Observer>,
    /// The hosts as observed moments ago, when the plan was made in the same process
    /// (`apply --auto-approve` from manifests). A host whose state here still has the plan's
    /// fingerprint starts its chain from it instead of being observed again, so a fresh apply
    /// costs one observation per host in all. `None` (a saved plan, a prompt that waited for an
    /// answer): every host is observed at the start of its chain.
    pub observed: Option<Arc<ObservedFleet>>,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            parallelism: DEFAULT_PARALLELISM,
            retry: RetryPolicy::default(),
            run_id: None,
            journal: None,
            observer: Arc::new(IgnoreEvents),
            observed: None,
        }
    }
}

impl std::fmt::Debug for ApplyOptions {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ApplyOptions")
            .field("parallelism", &self.parallelism)
            .field("retry", &self.retry)
            .field("run_id", &self.run_id)
            .field(
                "journal",
                &self.journal.as_ref().map(|journal| journal.path().to_path_buf()),
            )
            .finish_non_exhaustive()
    }
}

impl ApplyOptions {
    /// These options with a journal.
    pub fn with_journal(mut self, journal: Journal) -> Self {
        self.journal = Some(Arc::new(journal));
        self
    }

    /// These options with an observer of progress events.
    pub fn with_observer(mut self, observer: impl Observer + 'static) -> Self {
        self.observer = Arc::new(observer);
        self
    }
}

/// A fresh run id: the start time and a random suffix, such as `20260131T120000Z-3f9a1c2e`.
pub fn new_run_id() -> String {
    let time = crate::journal::now_rfc3339();
    let compact: String = time
        .chars()
        .take(19)
        .filter(|character| character.is_ascii_digit() || *character == 'T')
        .collect();
    format!("{compact}Z-{:08x}", fastrand::u32(..))
}

/// Applies a plan through a backend.
///
/// Hosts run in parallel up to `options.parallelism`; each host's steps run in the plan's order.
/// A host is observed once at the start of its chain and that state is carried forward with
/// [`state::record`] after every successful step. Before each step the object's state decides:
/// already in the target → skipped; in the planned before state → run; neither → observed again
/// once, and if still neither the host stops with a stale-plan error. A failed step blocks the
/// steps that depend on it (transitively); independent steps and other hosts go on.
///
/// Fails only before anything is attempted: when the target cannot change hosts.
pub fn apply(plan: &Plan, backend: &dyn Backend, options: &ApplyOptions) -> Result<ApplyReport, ExecutorError> {
    let has_steps = plan.hosts.iter().any(|host| !host.steps.is_empty());
    if has_steps && !backend.is_writable() {
        return Err(ExecutorError::ReadOnlyTarget {
            target: backend.describe(),
        });
    }
    let run_id = options.run_id.clone().unwrap_or_else(new_run_id);
    let walker = Walker {
        backend,
        options,
        run_id: &run_id,
        changes: plan.changes.iter().map(|change| (&change.address, change)).collect(),
        journal_problem: Mutex::new(None),
    };
    walker.journal(JournalRecord::RunStarted {
        target: backend.describe(),
        hosts: plan.hosts.iter().map(|host| host.host.clone()).collect(),
    });
    options.observer.event(&Event::RunStarted {
        run_id: run_id.clone(),
        hosts: plan.hosts.len(),
        steps: plan.hosts.iter().map(|host| host.steps.len()).sum(),
    });

    let next_host = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<HostReport>>> = Mutex::new(vec![None; plan.hosts.len()]);
    let workers = options.parallelism.max(1).min(plan.hosts.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let index = next_host.fetch_add(1, Ordering::Relaxed);
                let Some(host_plan) = plan.hosts.get(index) else {
                    break;
                };
                let report = walker.run_host(host_plan);
                results.lock().unwrap_or_else(|poisoned| poisoned.into_inner())[index] = Some(report);
            });
        }
    });

    let hosts: Vec<HostReport> = results
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .into_iter()
        .flatten()
        .collect();
    let mut journal_problem = walker
        .journal_problem
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let report = ApplyReport::new(run_id.clone(), backend.describe(), hosts, None);
    if let Some(journal) = &options.journal {
        let finished = journal.append(
            &run_id,
            JournalRecord::RunFinished {
                succeeded: report.succeeded(),
                counts: report.counts.clone(),
            },
        );
        if let Err(error) = finished.and_then(|()| journal.sync()) {
            journal_problem.get_or_insert_with(|| error.to_string());
        }
    }
    Ok(ApplyReport {
        journal_problem,
        ..report
    })
}

struct Walker<'run> {
    backend: &'run dyn Backend,
    options: &'run ApplyOptions,
    run_id: &'run str,
    changes: HashMap<&'run Address, &'run Change>,
    journal_problem: Mutex<Option<String>>,
}

/// One host's chain: the carried state and how often it was read.
struct HostRun<'run> {
    host: &'run str,
    carried: ObservedHost,
    observations: u32,
}

impl<'run> Walker<'run> {
    fn journal(&self, record: JournalRecord) {
        if let Some(journal) = &self.options.journal {
            if let Err(error) = journal.append(self.run_id, record) {
                let mut problem = self
                    .journal_problem
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                problem.get_or_insert_with(|| error.to_string());
            }
        }
    }

    fn emit(&self, event: Event) {
        self.options.observer.event(&event);
    }

    fn observe(&self, host: &str, address: Option<&Address>) -> (Result<ObservedHost, BackendError>, u32) {
        self.options.retry.run(
            || self.backend.observe(host),
            |attempt, delay, error| {
                self.emit(Event::Retrying {
                    host: host.to_owned(),
                    address: address.cloned(),
                    attempt,
                    delay,
                    message: error.to_string(),
                })
            },
        )
    }

    fn run_host(&self, host_plan: &'run HostPlan) -> HostReport {
        let host = host_plan.host.as_str();
        self.emit(Event::HostStarted {
            host: host.to_owned(),
            steps: host_plan.steps.len(),
        });
        let report = match &host_plan.status {
            HostStatus::Refused { reason } => HostReport {
                host: host.to_owned(),
                outcome: HostOutcome::Refused,
                message: Some(format!("host {host} was not planned: {reason}")),
                steps: Vec::new(),
                changes: Vec::new(),
                observations: 0,
            },
            HostStatus::Planned if host_plan.steps.is_empty() => HostReport {
                host: host.to_owned(),
                outcome: HostOutcome::Ok,
                message: None,
                steps: Vec::new(),
                changes: Vec::new(),
                observations: 0,
            },
            HostStatus::Planned => self.run_planned_host(host_plan),
        };
        self.emit(Event::HostFinished {
            host: host.to_owned(),
            outcome: report.outcome,
        });
        report
    }

    fn run_planned_host(&self, host_plan: &'run HostPlan) -> HostReport {
        let host = host_plan.host.as_str();
        let planned_state = self
            .options
            .observed
            .as_ref()
            .and_then(|fleet| fleet.hosts.get(host))
            .filter(|observed| esxnet_planner::fingerprint(observed) == host_plan.fingerprint);
        if let Some(carried) = planned_state {
            let run = HostRun {
                host,
                carried: carried.clone(),
                observations: 0,
            };
            return self.run_steps(host_plan, run);
        }
        let (observed, _) = self.observe(host, None);
        let run = match observed {
            Ok(carried) => HostRun {
                host,
                carried,
                observations: 1,
            },
            Err(error) => {
                let reason = format!("could not observe host {host}: {error}; check the target and apply again");
                let steps = (0..host_plan.steps.len())
                    .map(|index| self.finish_step(host_plan, index, 0, StepOutcome::NotRun { reason: reason.clone() }))
                    .collect();
                return self.host_report(host, HostOutcome::Failed, Some(reason), steps, 1);
            }
        };
        self.run_steps(host_plan, run)
    }

    fn run_steps(&self, host_plan: &'run HostPlan, mut run: HostRun<'run>) -> HostReport {
        let host = host_plan.host.as_str();

        let mut blocked_by: Vec<Option<Address>> = vec![None; host_plan.steps.len()];
        let mut stopped: Option<String> = None;
        let mut first_failure: Option<String> = None;
        let mut steps = Vec::with_capacity(host_plan.steps.len());
        for (index, step) in host_plan.steps.iter().enumerate() {
            if let Some(reason) = &stopped {
                steps.push(self.finish_step(host_plan, index, 0, StepOutcome::NotRun { reason: reason.clone() }));
                continue;
            }
            if let Some(by) = &blocked_by[index] {
                steps.push(self.finish_step(host_plan, index, 0, StepOutcome::Blocked { by: by.clone() }));
                continue;
            }
            self.emit(Event::StepStarted {
                host: host.to_owned(),
                address: step.address.clone(),
                phase: step.phase,
                index,
            });
            let (outcome, attempts) = match self.changes.get(&step.address) {
                Some(change) => self.run_step(&mut run, change, step.phase),
                None => (
                    StepOutcome::Failed {
                        fault: None,
                        message: format!(
                            "the plan has a step for {} but no such change; make the plan again",
                            step.address
                        ),
                    },
                    0,
                ),
            };
            match &outcome {
                StepOutcome::Failed { message, .. } => {
                    first_failure.get_or_insert_with(|| message.clone());
                    for dependent in dependents(host_plan, index) {
                        blocked_by[dependent].get_or_insert_with(|| step.address.clone());
                    }
                }
                StepOutcome::Stale { message } => {
                    stopped = Some(message.clone());
                }
                _ => {}
            }
            steps.push(self.finish_step(host_plan, index, attempts, outcome));
        }
        let (outcome, message) = match (stopped, first_failure) {
            (Some(stale), _) => (HostOutcome::Stale, Some(stale)),
            (None, Some(failure)) => (HostOutcome::Failed, Some(failure)),
            (None, None) => (HostOutcome::Ok, None),
        };
        self.host_report(host, outcome, message, steps, run.observations)
    }

    fn host_report(
        &self,
        host: &str,
        outcome: HostOutcome,
        message: Option<String>,
        steps: Vec<StepReport>,
        observations: u32,
    ) -> HostReport {
        let changes = change_reports(&steps, |address| {
            self.changes
                .get(address)
                .map(|change| change.action)
                .unwrap_or(Action::Noop)
        });
        HostReport {
            host: host.to_owned(),
            outcome,
            message,
            steps,
            changes,
            observations,
        }
    }

    fn finish_step(&self, host_plan: &HostPlan, index: usize, attempts: u32, outcome: StepOutcome) -> StepReport {
        let step = &host_plan.steps[index];
        self.journal(JournalRecord::StepFinished {
            host: host_plan.host.clone(),
            address: step.address.clone(),
            phase: step.phase,
            result: outcome.clone(),
        });
        self.emit(Event::StepFinished {
            host: host_plan.host.clone(),
            address: step.address.clone(),
            phase: step.phase,
            index,
            outcome: outcome.clone(),
        });
        let kind = self
            .changes
            .get(&step.address)
            .map(|change| change.kind)
            .unwrap_or(esxnet_planner::state::ObjectKind::StandardSwitch);
        StepReport {
            address: step.address.clone(),
            kind,
            phase: step.phase,
            outcome,
            attempts,
        }
    }

    /// Re-reads the host into the carried state. `Err` is the step's outcome when that fails.
    fn observe_again(&self, run: &mut HostRun<'_>, change: &Change) -> Result<(), StepOutcome> {
        let (observed, _) = self.observe(run.host, Some(&change.address));
        run.observations += 1;
        match observed {
            Ok(fresh) => {
                run.carried = fresh;
                Ok(())
            }
            Err(error) => Err(StepOutcome::Failed {
                fault: Some(error.fault),
                message: format!(
                    "could not observe host {} to check {}: {}",
                    run.host, change.address, error.message
                ),
            }),
        }
    }

    /// The precondition, observing once more when the carried state does not fit.
    fn check(&self, run: &mut HostRun<'_>, change: &Change, phase: Phase) -> Result<Precondition, StepOutcome> {
        let current = state::current_state(&run.carried, &change.identity);
        let precondition = classify(change, phase, current.as_ref());
        if precondition != Precondition::Unexpected {
            return Ok(precondition);
        }
        // The carried model may be off (ESXi did something the model does not predict): read the
        // host before calling the plan stale.
        self.observe_again(run, change)?;
        let current = state::current_state(&run.carried, &change.identity);
        Ok(classify(change, phase, current.as_ref()))
    }

    fn stale(&self, run: &HostRun<'_>, change: &Change) -> StepOutcome {
        StepOutcome::Stale {
            message: format!(
                "stale plan: {} changed since the plan was made; run plan again (host {})",
                change.address, run.host
            ),
        }
    }

    fn run_step(&self, run: &mut HostRun<'_>, change: &Change, phase: Phase) -> (StepOutcome, u32) {
        match self.check(run, change, phase) {
            Err(outcome) => return (outcome, 0),
            Ok(Precondition::AlreadyDone) => return (StepOutcome::AlreadyInTarget, 0),
            Ok(Precondition::Unexpected) => return (self.stale(run, change), 0),
            Ok(Precondition::Ready) => {}
        }
        let planned = match operations(change, phase, &run.carried) {
            Ok(planned) => planned,
            Err(error) => {
                return (
                    StepOutcome::Failed {
                        fault: None,
                        message: error.to_string(),
                    },
                    0,
                )
            }
        };
        let sentences: Vec<String> = planned.iter().map(ToString::to_string).collect();
        self.journal(JournalRecord::StepStarted {
            host: run.host.to_owned(),
            address: change.address.clone(),
            phase,
            operations: sentences.clone(),
        });
        let mut attempts_in_all = 0;
        let mut created_device = None;
        for operation in &planned {
            let (result, attempts) = self.options.retry.run(
                || self.backend.execute_with_state(&run.carried, operation),
                |attempt, delay, error| {
                    self.emit(Event::Retrying {
                        host: run.host.to_owned(),
                        address: Some(change.address.clone()),
                        attempt,
                        delay,
                        message: error.to_string(),
                    })
                },
            );
            attempts_in_all += attempts;
            match result {
                Ok(outcome) => created_device = outcome.created_device.or(created_device),
                Err(error) if matches!(error.fault, Fault::AlreadyExists | Fault::NotFound) => {
                    // The target may have been reached by someone else meanwhile: look before failing.
                    let outcome = match self.observe_again(run, change) {
                        Err(outcome) => outcome,
                        Ok(()) => {
                            let current = state::current_state(&run.carried, &change.identity);
                            match classify(change, phase, current.as_ref()) {
                                Precondition::AlreadyDone => StepOutcome::AlreadyInTarget,
                                Precondition::Ready => failed(run.host, operation, &error),
                                Precondition::Unexpected => self.stale(run, change),
                            }
                        }
                    };
                    return (outcome, attempts_in_all);
                }
                Err(error) => return (failed(run.host, operation, &error), attempts_in_all),
            }
        }
        let target: Option<&ObjectState> = match phase {
            Phase::Delete => None,
            Phase::Create | Phase::Update => change.after.as_ref(),
        };
        state::record(&mut run.carried, &change.identity, target, created_device.as_deref());
        (StepOutcome::Applied { operations: sentences }, attempts_in_all)
    }
}

fn failed(host: &str, operation: &crate::backend::Operation, error: &BackendError) -> StepOutcome {
    let retried = if error.is_transient() {
        "; retries ran out, apply again later"
    } else {
        ""
    };
    StepOutcome::Failed {
        fault: Some(error.fault),
        message: format!(
            "{operation} on {host} failed: {:?}: {}{retried}",
            error.fault, error.message
        ),
    }
}

/// Every step that must happen after `index`, directly or through others.
fn dependents(host_plan: &HostPlan, index: usize) -> BTreeSet<usize> {
    let mut found = BTreeSet::new();
    let mut pending = vec![index];
    while let Some(current) = pending.pop() {
        for [before, after] in &host_plan.edges {
            if *before == current && found.insert(*after) {
                pending.push(*after);
            }
        }
    }
    found
}
