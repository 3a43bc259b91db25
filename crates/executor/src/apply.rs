//! The walker: hosts in parallel, each host's steps in order, every step behind its precondition.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use esxnet_model::hints::NicHint;

use esxnet_model::observed::{ObservedFleet, ObservedHost};
use esxnet_planner::state::{self, ObjectState};
use esxnet_planner::{Action, Address, Change, HostPlan, HostStatus, Phase, Plan};

use crate::backend::{Backend, BackendError, Fault};
use crate::error::ExecutorError;
use crate::events::{Event, IgnoreEvents, Observer};
use crate::journal::{Journal, JournalRecord, JournaledTarget};
use crate::operations::operations;
use crate::precondition::{classify, Precondition};
use crate::report::{change_reports, ApplyReport, HostOutcome, HostReport, RollbackReport, StepOutcome, StepReport};
use crate::retry::RetryPolicy;
use crate::rollout::{Confirmation, Safety};
use crate::verify::verify_host;

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
    /// Verification, rollback, canary, failure budget and confirmation ([`Safety`]); none by
    /// default.
    pub safety: Safety,
    /// Network hints already read in this run (the plan's pre-flight check), by host.
    /// Verification judges a host's adapters by these instead of asking again: they describe
    /// the physical network behind its NICs, which no change of esxnet's alters, so asking twice
    /// would only cost every host one more call in its chain.
    pub hints: Option<Arc<BTreeMap<String, Vec<NicHint>>>>,
    /// The servers of a run over several `Target` documents, journaled with its start.
    pub targets: Vec<JournaledTarget>,
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
            safety: Safety::default(),
            hints: None,
            targets: Vec::new(),
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
            .field("safety", &self.safety)
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
        before_states: Mutex::new(BTreeMap::new()),
        after_states: Mutex::new(BTreeMap::new()),
    };
    walker.journal(JournalRecord::RunStarted {
        target: backend.describe(),
        hosts: plan.hosts.iter().map(|host| host.host.clone()).collect(),
        targets: options.targets.clone(),
    });
    options.observer.event(&Event::RunStarted {
        run_id: run_id.clone(),
        hosts: plan.hosts.len(),
        steps: plan.hosts.iter().map(|host| host.steps.len()).sum(),
    });

    let results: Mutex<Vec<Option<HostReport>>> = Mutex::new(vec![None; plan.hosts.len()]);
    let with_changes: Vec<usize> = (0..plan.hosts.len())
        .filter(|index| has_changes(&plan.hosts[*index]))
        .collect();
    let failure_limit = options.safety.failure_limit(with_changes.len());
    let canary: Vec<usize> = with_changes.iter().take(options.safety.canary).copied().collect();
    let rest: Vec<usize> = (0..plan.hosts.len()).filter(|index| !canary.contains(index)).collect();
    let failures = AtomicUsize::new(0);
    for wave in [canary, rest] {
        walker.run_wave(plan, &wave, &results, &failures, failure_limit);
    }

    let mut hosts: Vec<HostReport> = results
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .into_iter()
        .flatten()
        .collect();
    if let Some(confirmation) = &options.safety.confirm {
        walker.await_confirmation(confirmation, &mut hosts);
    }
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
    /// Each host's state at the start of its chain: what a rollback puts back.
    before_states: Mutex<BTreeMap<String, ObservedHost>>,
    /// The state each host was left in once its steps all succeeded.
    after_states: Mutex<BTreeMap<String, ObservedHost>>,
}

/// Which of a host's states [`Walker::keep_state`] keeps.
#[derive(Clone, Copy)]
enum Moment {
    /// Before its first step.
    Before,
    /// After its last, every step having succeeded.
    After,
}

/// Whether a host has steps to run.
fn has_changes(host_plan: &HostPlan) -> bool {
    host_plan.status == HostStatus::Planned && !host_plan.steps.is_empty()
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
                verification: None,
                rollback: None,
            },
            HostStatus::Planned if host_plan.steps.is_empty() => HostReport {
                host: host.to_owned(),
                outcome: HostOutcome::Ok,
                message: None,
                steps: Vec::new(),
                changes: Vec::new(),
                observations: 0,
                verification: None,
                rollback: None,
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
            return self.run_and_verify(host_plan, run);
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
        self.run_and_verify(host_plan, run)
    }

    /// Journals the host's before-state, runs its steps and, when the run verifies hosts,
    /// verifies it and rolls it back if verification fails.
    fn run_and_verify(&self, host_plan: &'run HostPlan, run: HostRun<'run>) -> HostReport {
        let host = host_plan.host.as_str();
        let before = run.carried.clone();
        self.keep_state(host, before.clone(), Moment::Before);
        let (mut report, carried) = self.run_steps(host_plan, run);
        let changed = report
            .steps
            .iter()
            .any(|step| matches!(step.outcome, StepOutcome::Applied { .. }));
        if report.outcome != HostOutcome::Ok || !changed {
            return report;
        }
        if !self.options.safety.verify {
            self.keep_state(host, carried, Moment::After);
            return report;
        }
        let host_changes: Vec<&Change> = host_plan
            .steps
            .iter()
            .filter_map(|step| self.changes.get(&step.address).copied())
            .fold(Vec::new(), |mut unique: Vec<&Change>, change| {
                if !unique.iter().any(|seen| seen.address == change.address) {
                    unique.push(change);
                }
                unique
            });
        let known_hints = self
            .options
            .hints
            .as_ref()
            .and_then(|hints| hints.get(host))
            .map(Vec::as_slice);
        let (verification, observed) = verify_host(self.backend, host, &host_changes, known_hints, &self.options.retry);
        report.observations += 1;
        self.emit(Event::Verified {
            host: host.to_owned(),
            passed: verification.passed,
        });
        if let Some(failure) = verification.first_failure() {
            let reason = format!("verification failed ({}): {}", failure.check, failure.message);
            // Right after the run, whatever differs from the before-state goes back.
            let rollback = self.roll_back(host, &before, None, observed, reason.clone());
            record_rollback(&mut report, &reason, rollback);
        } else {
            self.keep_state(host, observed.unwrap_or(carried), Moment::After);
        }
        report.verification = Some(verification);
        report
    }

    /// Journals and keeps a host's state before its steps (what a rollback puts back) or after
    /// they all succeeded (what a later rollback compares with it to find what the run changed).
    fn keep_state(&self, host: &str, state: ObservedHost, moment: Moment) {
        let (record, kept) = match moment {
            Moment::Before => (
                JournalRecord::HostBefore {
                    host: host.to_owned(),
                    state: Box::new(state.clone()),
                },
                &self.before_states,
            ),
            Moment::After => (
                JournalRecord::HostAfter {
                    host: host.to_owned(),
                    state: Box::new(state.clone()),
                },
                &self.after_states,
            ),
        };
        self.journal(record);
        kept.lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(host.to_owned(), state);
    }

    /// Runs the hosts at `indices` on up to `parallelism` threads; a host with changes starts
    /// only while fewer than `failure_limit` hosts failed.
    fn run_wave(
        &self,
        plan: &'run Plan,
        indices: &[usize],
        results: &Mutex<Vec<Option<HostReport>>>,
        failures: &AtomicUsize,
        failure_limit: Option<usize>,
    ) {
        let next = AtomicUsize::new(0);
        let workers = self.options.parallelism.max(1).min(indices.len().max(1));
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| {
                    while let Some(&index) = indices.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let host_plan = &plan.hosts[index];
                        let budget_spent = failure_limit.is_some_and(|limit| failures.load(Ordering::SeqCst) >= limit);
                        let report = if has_changes(host_plan) && budget_spent {
                            self.not_started(host_plan, failure_limit.unwrap_or_default())
                        } else {
                            let report = self.run_host(host_plan);
                            if has_changes(host_plan)
                                && matches!(
                                    report.outcome,
                                    HostOutcome::Failed | HostOutcome::Stale | HostOutcome::RolledBack
                                )
                            {
                                failures.fetch_add(1, Ordering::SeqCst);
                            }
                            report
                        };
                        results.lock().unwrap_or_else(|poisoned| poisoned.into_inner())[index] = Some(report);
                    }
                });
            }
        });
    }

    fn not_started(&self, host_plan: &HostPlan, limit: usize) -> HostReport {
        let host = host_plan.host.as_str();
        let reason = format!(
            "not started: {limit} host{} failed, the run's failure budget; nothing was sent to {host}",
            if limit == 1 { "" } else { "s" }
        );
        let steps = (0..host_plan.steps.len())
            .map(|index| self.finish_step(host_plan, index, 0, StepOutcome::NotRun { reason: reason.clone() }))
            .collect();
        self.emit(Event::HostFinished {
            host: host.to_owned(),
            outcome: HostOutcome::NotStarted,
        });
        self.host_report(host, HostOutcome::NotStarted, Some(reason), steps, 0)
    }

    /// Puts `host` back to `before` with a plan made from it, applied and journaled as a run of
    /// its own; then reads the host again to say whether it is restored. Given the state the run
    /// left the host in (`after`), only what the run changed goes back
    /// ([`esxnet_planner::restore::plan_undo`]).
    fn roll_back(
        &self,
        host: &str,
        before: &ObservedHost,
        after: Option<&ObservedHost>,
        now: Option<ObservedHost>,
        reason: String,
    ) -> RollbackReport {
        let rollback_run_id = format!("{}-rollback-{host}", self.run_id);
        self.emit(Event::RollingBack {
            host: host.to_owned(),
            reason: reason.clone(),
        });
        let unreachable = |message: String| RollbackReport {
            run_id: rollback_run_id.clone(),
            reason: reason.clone(),
            restored: false,
            steps: Vec::new(),
            message: Some(message),
        };
        let now = match now {
            Some(now) => now,
            None => match self.observe(host, None).0 {
                Ok(now) => now,
                Err(error) => {
                    return unreachable(format!(
                        "host {host} cannot be read through {} ({error}); if a management change cut it off, vCenter's own network rollback restores its management link when the host loses vCenter; then run `esxnet rollback {}`",
                        self.backend.describe(),
                        self.run_id
                    ))
                }
            },
        };
        let single = |state: &ObservedHost| ObservedFleet {
            hosts: BTreeMap::from([(host.to_owned(), state.clone())]),
        };
        let restore = match after {
            Some(after) => esxnet_planner::restore::plan_undo(&single(before), &single(after), &single(&now)),
            None => esxnet_planner::restore::plan_restore(&single(before), &single(&now)),
        };
        if let Some(journal) = &self.options.journal {
            if let Err(error) = journal.append(
                &rollback_run_id,
                JournalRecord::Rollback {
                    of_run: self.run_id.to_owned(),
                    reason: reason.clone(),
                },
            ) {
                self.note_journal_problem(error.to_string());
            }
        }
        let nested = ApplyOptions {
            parallelism: 1,
            retry: self.options.retry,
            run_id: Some(rollback_run_id.clone()),
            journal: self.options.journal.clone(),
            observer: Arc::new(IgnoreEvents),
            observed: Some(Arc::new(single(&now))),
            // A rollback is not verified (no safety), so it needs no hints.
            safety: Safety::default(),
            hints: None,
            targets: Vec::new(),
        };
        let report = match apply(&restore, self.backend, &nested) {
            Ok(report) => report,
            Err(error) => return unreachable(error.to_string()),
        };
        if let Some(problem) = &report.journal_problem {
            self.note_journal_problem(problem.clone());
        }
        let steps = report
            .hosts
            .first()
            .map(|host_report| host_report.steps.clone())
            .unwrap_or_default();
        if !report.succeeded() {
            let message = report
                .hosts
                .first()
                .and_then(|host_report| host_report.message.clone())
                .unwrap_or_else(|| "a step failed".to_owned());
            return RollbackReport {
                steps,
                ..unreachable(message)
            };
        }
        let message = match self.observe(host, None).0 {
            Ok(restored) => {
                let left = match after {
                    Some(after) => {
                        esxnet_planner::restore::plan_undo(&single(before), &single(after), &single(&restored))
                    }
                    None => esxnet_planner::restore::plan_restore(&single(before), &single(&restored)),
                };
                left.changes
                    .first()
                    .map(|change| format!("{} still differs from its state before the run", change.address))
            }
            Err(error) => Some(format!("host {host} could not be read after the rollback: {error}")),
        };
        RollbackReport {
            run_id: rollback_run_id,
            reason,
            restored: message.is_none(),
            steps,
            message,
        }
    }

    /// Waits for the run's confirmation; without one in time, rolls back every host it changed.
    fn await_confirmation(&self, confirmation: &Confirmation, hosts: &mut [HostReport]) {
        let changed: Vec<usize> = (0..hosts.len())
            .filter(|index| {
                hosts[*index].outcome == HostOutcome::Ok
                    && hosts[*index]
                        .steps
                        .iter()
                        .any(|step| matches!(step.outcome, StepOutcome::Applied { .. }))
            })
            .collect();
        if changed.is_empty() {
            return;
        }
        let deadline_unix_ms = crate::journal::now_unix_ms() + confirmation.within.as_millis() as u64;
        let deadline_text = humantime::format_rfc3339_millis(
            std::time::UNIX_EPOCH + std::time::Duration::from_millis(deadline_unix_ms),
        )
        .to_string();
        self.journal(JournalRecord::ConfirmationPending {
            deadline: deadline_text.clone(),
            deadline_unix_ms,
        });
        if let Some(journal) = &self.options.journal {
            // `esxnet confirm` reads the journal from another process: the pending line must be there.
            if let Err(error) = journal.sync() {
                self.note_journal_problem(error.to_string());
            }
        }
        self.emit(Event::AwaitingConfirmation {
            run_id: self.run_id.to_owned(),
            deadline: deadline_text,
        });
        let deadline = std::time::Instant::now() + confirmation.within;
        let confirmed = loop {
            if confirmation.source.is_confirmed() {
                break true;
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                // `esxnet confirm` refuses after the deadline, so a confirmation seen now came in time.
                break confirmation.source.is_confirmed();
            }
            std::thread::sleep(confirmation.poll_interval.min(deadline - now));
        };
        if confirmed {
            return;
        }
        let window = humantime::format_duration(confirmation.within).to_string();
        let before_states = self
            .before_states
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        let after_states = self
            .after_states
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        for index in changed {
            let report = &mut hosts[index];
            let Some(before) = before_states.get(&report.host) else {
                continue;
            };
            let reason = format!(
                "the run was not confirmed within {window} (`esxnet confirm {}`)",
                self.run_id
            );
            let after = after_states.get(&report.host);
            let rollback = self.roll_back(&report.host.clone(), before, after, None, reason.clone());
            record_rollback(report, &reason, rollback);
        }
    }

    fn note_journal_problem(&self, problem: String) {
        let mut recorded = self
            .journal_problem
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        recorded.get_or_insert(problem);
    }

    /// Runs the host's steps; answers its report and the state the executor carried through
    /// them (what the host is, as far as its steps said).
    fn run_steps(&self, host_plan: &'run HostPlan, mut run: HostRun<'run>) -> (HostReport, ObservedHost) {
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
        let report = self.host_report(host, outcome, message, steps, run.observations);
        (report, run.carried)
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
            verification: None,
            rollback: None,
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

/// A host rolled back for `reason`: rolled back when the rollback restored it, failed when it did
/// not, with the reason and the rollback's own problem in its message.
fn record_rollback(report: &mut HostReport, reason: &str, rollback: RollbackReport) {
    report.outcome = if rollback.restored {
        HostOutcome::RolledBack
    } else {
        HostOutcome::Failed
    };
    report.message = Some(match &rollback.message {
        None => format!("{reason}; rolled back to its state before the run"),
        Some(problem) => format!("{reason}; the rollback did not finish: {problem}"),
    });
    report.rollback = Some(rollback);
}
