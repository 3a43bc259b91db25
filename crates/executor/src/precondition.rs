//! Whether a step may run: the object's state now, compared with the plan's before and after.

use esxnet_planner::state::{ObjectKind, ObjectState};
use esxnet_planner::{Action, Change, Phase};

/// What the object's current state means for one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    /// The step's target is already reached: skip it.
    AlreadyDone,
    /// The object is as the plan found it: run the step.
    Ready,
    /// Neither: the host changed since the plan was made.
    Unexpected,
}

/// Classifies `current` (the object's state now, `None` when absent) for one step of `change`.
pub fn classify(change: &Change, phase: Phase, current: Option<&ObjectState>) -> Precondition {
    let is = |wanted: Option<&ObjectState>| match (current, wanted) {
        (None, None) => true,
        (Some(current), Some(wanted)) => current.satisfies(wanted),
        _ => false,
    };
    match phase {
        Phase::Delete => {
            // A replace whose create already happened (a resumed run) finds the new object.
            let replace_finished = change.action == Action::Replace && current.is_some() && is(change.after.as_ref());
            if current.is_none() || replace_finished {
                Precondition::AlreadyDone
            } else if is(change.before.as_ref()) {
                Precondition::Ready
            } else {
                Precondition::Unexpected
            }
        }
        Phase::Create | Phase::Update => {
            if current.is_some() && is(change.after.as_ref()) {
                Precondition::AlreadyDone
            } else if phase == Phase::Create && current.is_none() {
                Precondition::Ready
            } else if change.kind == ObjectKind::Services && change.before.is_none() && current.is_some() {
                // Services of an adapter created in this run: the adapter now exists with whatever
                // ESXi selected by itself; the step sends only the difference.
                Precondition::Ready
            } else if current.is_some() && is(change.before.as_ref()) {
                Precondition::Ready
            } else {
                Precondition::Unexpected
            }
        }
    }
}

/// The phases a change runs as.
pub fn phases(action: Action) -> &'static [Phase] {
    match action {
        Action::Noop => &[],
        Action::Create => &[Phase::Create],
        Action::Update => &[Phase::Update],
        Action::Delete => &[Phase::Delete],
        Action::Replace => &[Phase::Delete, Phase::Create],
    }
}

/// Whether the object's current state is one the plan accounts for: its planned before state, its
/// target, or a point a partly applied run leaves it at. Used for saved plans.
pub fn accounted_for(change: &Change, current: Option<&ObjectState>) -> bool {
    let phases = phases(change.action);
    if phases.is_empty() {
        return match (current, change.before.as_ref()) {
            (None, None) => true,
            (Some(current), Some(before)) => current.satisfies(before),
            _ => false,
        };
    }
    phases
        .iter()
        .any(|phase| classify(change, *phase, current) != Precondition::Unexpected)
}
