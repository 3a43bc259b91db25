//! The vSphere backend against govmomi's vcsim over SOAP.
//!
//! These run when `ESXNET_VCSIM_URL` is set (`eval "$(bash scripts/vcsim/vcsim.sh start)"`) and
//! are skipped with a note otherwise; with `ESXNET_REQUIRE_VCSIM=1` a missing vcsim fails them.
//! They only ever contact 127.0.0.1.

use std::collections::BTreeSet;

use esxnet_executor::backend::{Backend, Fault, FaultKind, Ipv4Settings, Operation};
use esxnet_model::common::StackKind;
use esxnet_model::observed::{PortConnection, Teaming};
use esxnet_vsphere::{Password, VsphereBackend, VsphereError, VsphereTarget};

/// vcsim's address and credentials, or `None` (after a note) when it is not running.
fn vcsim() -> Option<(String, String, String)> {
    let Ok(url) = std::env::var("ESXNET_VCSIM_URL") else {
        if std::env::var("ESXNET_REQUIRE_VCSIM").as_deref() == Ok("1") {
            panic!("ESXNET_REQUIRE_VCSIM=1 but ESXNET_VCSIM_URL is not set: run eval \"$(bash scripts/vcsim/vcsim.sh start)\" first");
        }
        eprintln!("note: ESXNET_VCSIM_URL is not set, skipping the vcsim test (bash scripts/vcsim/vcsim.sh start)");
        return None;
    };
    let authority = url
        .strip_prefix("https://")
        .and_then(|rest| rest.split('/').next())
        .expect("ESXNET_VCSIM_URL looks like https://127.0.0.1:PORT/sdk")
        .to_owned();
    assert!(
        authority.starts_with("127.0.0.1:"),
        "the vcsim tests only talk to 127.0.0.1, not {authority}"
    );
    let user = std::env::var("ESXNET_VCSIM_USERNAME").unwrap_or_else(|_| "user".to_owned());
    let password = std::env::var("ESXNET_VCSIM_PASSWORD").unwrap_or_else(|_| "pass".to_owned());
    Some((authority, user, password))
}

fn target(authority: &str, user: &str, query: &str) -> VsphereTarget {
    VsphereTarget::parse(&format!("vsphere://{user}@{authority}{query}")).unwrap()
}

/// vcsim has one host and the tests run on parallel threads: a test that changes the host and one
/// that observes it twice and compares must not interleave (CI once saw the other test's switch
/// appear between the two observations). Every test that reads or changes the host holds this.
static THE_HOST: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn hold_the_host() -> std::sync::MutexGuard<'static, ()> {
    // A test that failed while holding the lock leaves it poisoned; the host is still usable.
    THE_HOST.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn connect() -> Option<VsphereBackend> {
    let (authority, user, password) = vcsim()?;
    let target = target(&authority, &user, "?insecure=true&transport=soap");
    Some(VsphereBackend::connect(&target, &Password::new(password)).expect("login to vcsim"))
}

fn only_host(backend: &VsphereBackend) -> String {
    let names = backend.host_names().unwrap();
    assert!(!names.is_empty(), "vcsim lists no host");
    names[0].clone()
}

#[test]
fn observe_lists_the_host_with_vmk0_and_vswitch0() {
    let _host = hold_the_host();
    let Some(backend) = connect() else { return };
    assert_eq!(backend.transport_name(), "soap");
    let host = only_host(&backend);
    let observed = backend.observe(&host).unwrap();
    assert_eq!(observed.name, host);
    assert!(observed.switch("vSwitch0").is_some(), "{observed:#?}");
    let vmk0 = observed.adapter("vmk0").expect("vmk0");
    assert_eq!(vmk0.stack, StackKind::Default);
    assert!(matches!(&vmk0.connection, PortConnection::Standard { switch, .. } if switch == "vSwitch0"));
    assert!(!observed.physical_nics.is_empty());
    assert!(observed
        .stack(StackKind::Default)
        .is_some_and(|stack| stack.instantiated));
    // The batched path answers the same.
    let fleet = backend.observe_many(std::slice::from_ref(&host)).unwrap();
    assert_eq!(fleet.hosts.get(&host), Some(&observed));
    assert!(backend.batches_observation());
    // An unknown host is a fault of its own.
    let unknown = backend.observe("no-such-host.example").unwrap_err();
    assert_eq!(unknown.fault, Fault::UnknownHost);
    backend.close().unwrap();
}

#[test]
fn switches_and_port_groups_are_created_and_removed() {
    let _host = hold_the_host();
    let Some(backend) = connect() else { return };
    let host = only_host(&backend);
    let switch = format!("esxnet{}", std::process::id() % 100_000);
    let port_group = format!("{switch}-pg");
    let add_switch = Operation::AddSwitch {
        name: switch.clone(),
        mtu: 9000,
        uplinks: BTreeSet::new(),
        teaming: Teaming::default(),
        teaming_policy: Default::default(),
        security: Default::default(),
    };
    backend.execute(&host, &add_switch).unwrap();
    let again = backend.execute(&host, &add_switch).unwrap_err();
    assert_eq!(again.fault, Fault::AlreadyExists, "{again:?}");
    backend
        .execute(
            &host,
            &Operation::AddPortGroup {
                name: port_group.clone(),
                switch: switch.clone(),
                vlan: 42,
                teaming: Default::default(),
                security: Default::default(),
            },
        )
        .unwrap();
    let observed = backend.observe(&host).unwrap();
    // vcsim stores only the new switch's name, so its MTU is not checked here.
    assert!(observed.switch(&switch).is_some(), "the new switch: {observed:#?}");
    let created_group = observed.port_group(&port_group).expect("the new port group");
    assert_eq!(created_group.switch, switch);
    assert_eq!(created_group.vlan, 42);

    backend
        .execute(
            &host,
            &Operation::RemovePortGroup {
                name: port_group.clone(),
            },
        )
        .unwrap();
    backend
        .execute(&host, &Operation::RemoveSwitch { name: switch.clone() })
        .unwrap();
    let observed = backend.observe(&host).unwrap();
    assert!(observed.switch(&switch).is_none());
    assert!(observed.port_group(&port_group).is_none());
    let gone = backend
        .execute(&host, &Operation::RemoveSwitch { name: switch })
        .unwrap_err();
    assert_eq!(gone.fault, Fault::NotFound, "{gone:?}");
}

#[test]
fn a_method_vcsim_lacks_is_not_implemented() {
    let _host = hold_the_host();
    let Some(backend) = connect() else { return };
    let host = only_host(&backend);
    let error = backend
        .execute(
            &host,
            &Operation::AddAdapter {
                connection: PortConnection::Standard {
                    switch: "vSwitch0".to_owned(),
                    port_group: "VM Network".to_owned(),
                },
                stack: StackKind::Default,
                mtu: 1500,
                ipv4: Ipv4Settings {
                    dhcp: true,
                    address: None,
                    prefix_length: None,
                    gateway_override: None,
                },
                ipv6: None,
            },
        )
        .unwrap_err();
    assert_eq!(error.fault, Fault::NotImplemented, "{error:?}");
    assert_eq!(error.kind, FaultKind::Permanent);
    assert!(
        error
            .message
            .starts_with("AddVirtualNic is not implemented by this server (127.0.0.1:"),
        "{}",
        error.message
    );
}

#[test]
fn a_wrong_password_is_not_authenticated() {
    let Some((authority, user, password)) = vcsim() else {
        return;
    };
    let target = target(&authority, &user, "?insecure=true&transport=soap");
    // vcsim's default login (user/pass) accepts any non-empty password and refuses an empty one;
    // started with other credentials it accepts only those.
    let mut wrong = vec![String::new()];
    if password != "pass" {
        wrong.push(format!("{password}-wrong"));
    }
    for wrong_password in wrong {
        let error = VsphereBackend::connect(&target, &Password::new(wrong_password.clone())).unwrap_err();
        assert_eq!(error.fault(), Fault::NotAuthenticated, "{error}");
        assert_eq!(error.kind(), FaultKind::Permanent);
        let message = error.to_string();
        assert!(message.contains("refused the user name or password"), "{message}");
        assert!(
            wrong_password.is_empty() || !message.contains(&wrong_password),
            "{message}"
        );
    }
}

#[test]
fn an_untrusted_certificate_says_how_to_proceed() {
    let Some((authority, user, password)) = vcsim() else {
        return;
    };
    let target = target(&authority, &user, "?transport=soap");
    let error = VsphereBackend::connect(&target, &Password::new(password.clone())).unwrap_err();
    assert!(matches!(error, VsphereError::Certificate { .. }), "{error:?}");
    assert_eq!(error.kind(), FaultKind::Permanent);
    let message = error.to_string();
    assert!(message.contains("?insecure=true"), "{message}");
    assert!(message.contains("lab servers only"), "{message}");
    assert!(!message.contains(&password), "{message}");
}

#[test]
fn auto_transport_falls_back_to_soap_on_vcsim() {
    let Some((authority, user, password)) = vcsim() else {
        return;
    };
    let target = target(&authority, &user, "?insecure=true&transport=auto");
    let backend = VsphereBackend::connect(&target, &Password::new(password)).unwrap();
    assert_eq!(backend.transport_name(), "soap");
    assert_eq!(backend.describe(), format!("vsphere://{user}@{authority}"));
}

/// Needs no vcsim: a closed port on 127.0.0.1.
#[test]
fn a_closed_port_is_a_transient_connection_fault() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let target = target(&format!("127.0.0.1:{port}"), "root", "?insecure=true&transport=soap");
    let error = VsphereBackend::connect(&target, &Password::new("irrelevant")).unwrap_err();
    assert_eq!(error.fault(), Fault::Connection, "{error}");
    assert_eq!(error.kind(), FaultKind::Transient);
    assert!(!error.to_string().contains("irrelevant"));
}
