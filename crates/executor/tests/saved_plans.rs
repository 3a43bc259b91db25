//! Saved plans: applied only while every host still fits its fingerprint or its objects.

mod support;

use esxnet_executor::{check_fingerprints, ensure_plan_is_fresh, Fault, Operation, StaleHost};
use esxnet_model::observed::Teaming;
use support::*;

#[test]
fn an_unchanged_fleet_fits_its_plan() {
    let (plan, backend) = standard_setup();
    assert_eq!(check_fingerprints(&plan, &backend.fleet()), Vec::<StaleHost>::new());
    assert!(ensure_plan_is_fresh(&plan, &backend.fleet()).is_ok());
}

#[test]
fn changes_outside_the_plan_and_partly_applied_plans_still_fit() {
    let (plan, backend) = standard_setup();
    // The management adapter is not in the plan: its change moves the fingerprint only.
    backend.modify("esx-01", |host| host.adapters[0].mtu = 9000);
    // esx-02 is partly applied: a killed run, resumed from the saved plan.
    backend.fail_operation("esx-02", "edit the provisioning TCP/IP stack", Fault::InvalidArgument);
    let partial = apply_fast(&plan, &backend);
    assert!(!partial.succeeded());
    let observed = backend.fleet();
    for host in ["esx-01", "esx-02"] {
        let host_plan = plan.hosts.iter().find(|host_plan| host_plan.host == host).unwrap();
        assert_ne!(
            esxnet_planner::fingerprint(&observed.hosts[host]),
            host_plan.fingerprint,
            "{host} moved"
        );
    }
    assert_eq!(check_fingerprints(&plan, &observed), Vec::<StaleHost>::new());
}

#[test]
fn a_changed_object_makes_the_saved_plan_stale_naming_host_and_address() {
    let (plan, backend) = standard_setup();
    backend
        .perform(
            "esx-02",
            &Operation::AddSwitch {
                name: "vSwitch1".into(),
                mtu: 1500,
                uplinks: ["vmnic2".to_owned()].into(),
                teaming: Teaming::default(),
                teaming_policy: Default::default(),
                security: Default::default(),
            },
        )
        .unwrap();
    let stale = check_fingerprints(&plan, &backend.fleet());
    assert_eq!(
        stale,
        vec![StaleHost {
            host: "esx-02".into(),
            changed: vec!["esx-02/StandardSwitch/vSwitch1".parse().unwrap()],
        }]
    );
    let message = ensure_plan_is_fresh(&plan, &backend.fleet()).unwrap_err().to_string();
    assert!(
        message.contains("host esx-02 changed since the plan was made (esx-02/StandardSwitch/vSwitch1)"),
        "{message}"
    );
    assert!(message.ends_with("run plan again"), "{message}");
}

#[test]
fn a_host_the_target_no_longer_reports_is_stale() {
    let (plan, backend) = standard_setup();
    let mut observed = backend.fleet();
    observed.hosts.remove("esx-01");
    let stale = check_fingerprints(&plan, &observed);
    assert_eq!(stale.len(), 1);
    assert_eq!(stale[0].host, "esx-01");
    assert!(stale[0].describe().contains("no longer reported"), "{}", stale[0]);
}
