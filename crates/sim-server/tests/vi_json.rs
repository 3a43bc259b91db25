//! The server against vim_rs's own VI JSON client: what a client reads matches the lab, what it
//! changes lands in the lab, and faults arrive typed with the simulator's messages.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use esxnet_model::common::{Service, StackKind};
use esxnet_model::observed::PortConnection;
use esxnet_sim::{HostNames, InitOptions, Lab};
use esxnet_sim_server::{serve, ServeOptions, ServerHandle, SimServerError};
use serde_json::Value;
use vim_rs::core::client::{Client, ClientBuilder, Error, VimClient};
use vim_rs::mo::{ContainerView, HostNetworkSystem, HostVirtualNicManager, PropertyCollector, ViewManager};
use vim_rs::types::struct_enum::StructType;
use vim_rs::types::structs::{
    HostNetworkConfig, HostPortGroupSpec, HostVirtualNicSpec, HostVirtualSwitchSpec, ManagedObjectReference,
    PropertyFilterSpec, RetrieveOptions, RetrieveResult,
};

const USER: &str = "administrator@vsphere.local";
const PASSWORD: &str = "simulated-secret";

fn new_lab(dir: &Path) {
    let options = InitOptions {
        hosts: HostNames::Count(2),
        ..InitOptions::default()
    };
    // Dropped at once: the server must be the lab's only writer.
    drop(Lab::init(dir, &options).expect("lab init"));
}

fn start(dir: &Path) -> ServerHandle {
    serve(ServeOptions::new(dir, USER, PASSWORD)).expect("server starts")
}

/// An HTTP client that trusts exactly the server's self-signed certificate.
fn http_client(server: &ServerHandle) -> reqwest::Client {
    let certificate = reqwest::Certificate::from_pem(server.certificate_pem().as_bytes()).expect("certificate");
    esxnet_vsphere::http_client_builder()
        .tls_certs_only([certificate])
        .build()
        .expect("http client")
}

async fn connect(server: &ServerHandle, user: &str, password: &str) -> Result<Arc<Client>, Error> {
    ClientBuilder::new(&server.server_address(), http_client(server))
        .basic_authn(user, password)
        .build()
        .await
}

fn vim(client: &Arc<Client>) -> Arc<dyn VimClient> {
    client.clone()
}

/// A vim_rs value from its VI JSON text, as a client would build it.
fn from_json<T: miniserde::Deserialize>(text: &str) -> T {
    miniserde::json::from_str(text).unwrap_or_else(|_| panic!("{text} is not a {}", std::any::type_name::<T>()))
}

/// A vim_rs value as JSON, to look into nested polymorphic fields.
fn to_json<T: miniserde::Serialize>(value: &T) -> Value {
    serde_json::from_str(&miniserde::json::to_string(value)).expect("vim_rs writes JSON")
}

fn fault_of(error: &Error) -> (Option<StructType>, String) {
    match error {
        Error::MethodFault(fault) => {
            let message = fault
                .fault_message
                .iter()
                .flatten()
                .filter_map(|message| message.message.clone())
                .collect::<Vec<_>>()
                .join("; ");
            (fault.type_, message)
        }
        other => panic!("expected a MethodFault, got {other:?}"),
    }
}

fn host_view_spec(view: &ManagedObjectReference, paths: &[&str]) -> PropertyFilterSpec {
    let paths: Vec<String> = paths.iter().map(|path| format!("\"{path}\"")).collect();
    from_json(&format!(
        r#"{{"_typeName":"PropertyFilterSpec",
            "propSet":[{{"_typeName":"PropertySpec","type":"HostSystem","pathSet":[{}]}}],
            "objectSet":[{{"_typeName":"ObjectSpec","obj":{{"_typeName":"ManagedObjectReference","type":"ContainerView","value":"{}"}},
              "skip":true,
              "selectSet":[{{"_typeName":"TraversalSpec","name":"traverseView","type":"ContainerView","path":"view","skip":false}}]}}]}}"#,
        paths.join(","),
        view.value
    ))
}

async fn host_view(client: &Arc<Client>) -> ManagedObjectReference {
    let content = client.service_content();
    let view_manager = ViewManager::new(vim(client), &content.view_manager.as_ref().expect("view manager").value);
    view_manager
        .create_container_view(&content.root_folder, Some(&["HostSystem".to_owned()]), true)
        .await
        .expect("container view")
}

fn property_collector(client: &Arc<Client>) -> PropertyCollector {
    PropertyCollector::new(vim(client), &client.service_content().property_collector.value)
}

/// Every object of every page, following continuation tokens.
async fn retrieve_all(
    client: &Arc<Client>,
    spec: PropertyFilterSpec,
    max_objects: i32,
) -> (Vec<RetrieveResult>, Vec<Value>) {
    let collector = property_collector(client);
    let mut pages = Vec::new();
    let mut page = collector
        .retrieve_properties_ex(
            &[spec],
            &RetrieveOptions {
                max_objects: Some(max_objects),
            },
        )
        .await
        .expect("retrieve")
        .expect("a result");
    loop {
        let token = page.token.clone();
        pages.push(page);
        let Some(token) = token else { break };
        page = collector
            .continue_retrieve_properties_ex(&token)
            .await
            .expect("continue");
    }
    let objects = pages
        .iter()
        .flat_map(|page| to_json(page)["objects"].as_array().cloned().unwrap_or_default())
        .collect();
    (pages, objects)
}

fn property<'a>(object: &'a Value, name: &str) -> &'a Value {
    object["propSet"]
        .as_array()
        .expect("propSet")
        .iter()
        .find(|property| property["name"] == name)
        .map(|property| &property["val"])
        .unwrap_or_else(|| panic!("no property {name} in {object}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn hosts_read_through_a_container_view_match_the_lab() {
    let dir = tempfile::tempdir().unwrap();
    new_lab(dir.path());
    let server = start(dir.path());
    assert!(
        server.url().starts_with("https://127.0.0.1:") && server.url().ends_with("/sdk"),
        "{}",
        server.url()
    );
    let client = connect(&server, USER, PASSWORD).await.expect("login");
    let lab = Lab::open(dir.path()).unwrap();
    let view = host_view(&client).await;

    let spec = host_view_spec(
        &view,
        &[
            "name",
            "summary.config.product.version",
            "config.network",
            "configManager.networkSystem",
            "configManager.virtualNicManager",
            "runtime.networkRuntimeInfo",
            "network",
            "hardware.systemInfo",
        ],
    );
    // One object per page: the second host must come through ContinueRetrievePropertiesEx.
    let (pages, objects) = retrieve_all(&client, spec, 1).await;
    assert_eq!(pages.len(), 2, "two hosts, one per page");
    assert!(pages[0].token.is_some() && pages[1].token.is_none());
    assert_eq!(objects.len(), 2);

    for (index, object) in objects.iter().enumerate() {
        let name = format!("esx-{}", index + 1);
        let observed = lab.observe(&name).unwrap();
        assert_eq!(object["obj"]["value"], format!("host-{}", index + 1));
        assert_eq!(property(object, "name")["_value"], name);
        assert_eq!(
            property(object, "summary.config.product.version")["_value"],
            observed.version.to_string()
        );
        assert_eq!(
            property(object, "configManager.networkSystem")["value"],
            format!("networkSystem-{}", index + 1)
        );
        assert_eq!(
            property(object, "configManager.virtualNicManager")["value"],
            format!("virtualNicManager-{}", index + 1)
        );

        let network = property(object, "config.network");
        let vmk0 = observed
            .adapters
            .iter()
            .find(|adapter| adapter.device == "vmk0")
            .unwrap();
        let vnic = &network["vnic"][0];
        assert_eq!(vnic["device"], "vmk0");
        assert_eq!(vnic["key"], "key-vim.host.VirtualNic-vmk0");
        assert_eq!(vnic["portgroup"], "Management Network");
        assert_eq!(vnic["spec"]["netStackInstanceKey"], "defaultTcpipStack");
        assert_eq!(vnic["spec"]["ip"]["ipAddress"], vmk0.ipv4.address.unwrap().to_string());
        let prefix = vmk0.ipv4.prefix_length.unwrap();
        let mask = std::net::Ipv4Addr::from(u32::MAX << (32 - prefix));
        assert_eq!(vnic["spec"]["ip"]["subnetMask"], mask.to_string());
        assert_eq!(vnic["spec"]["mac"], vmk0.mac);

        let vswitch = &network["vswitch"][0];
        assert_eq!(vswitch["name"], "vSwitch0");
        assert_eq!(vswitch["spec"]["bridge"]["_typeName"], "HostVirtualSwitchBondBridge");
        assert_eq!(vswitch["spec"]["bridge"]["nicDevice"], serde_json::json!(["vmnic0"]));
        assert_eq!(
            vswitch["spec"]["policy"]["nicTeaming"]["nicOrder"]["activeNic"],
            serde_json::json!(["vmnic0"])
        );
        assert_eq!(network["portgroup"][0]["spec"]["name"], "Management Network");
        assert_eq!(network["portgroup"][0]["spec"]["vswitchName"], "vSwitch0");
        let pnics: Vec<&str> = network["pnic"]
            .as_array()
            .unwrap()
            .iter()
            .map(|nic| nic["device"].as_str().unwrap())
            .collect();
        assert_eq!(
            pnics,
            observed
                .physical_nics
                .iter()
                .map(|nic| nic.device.as_str())
                .collect::<Vec<_>>()
        );

        let stack_keys: Vec<&str> = network["netStackInstance"]
            .as_array()
            .unwrap()
            .iter()
            .map(|stack| stack["key"].as_str().unwrap())
            .collect();
        // ESXi's order (D67, G65).
        assert_eq!(stack_keys, ["vSphereProvisioning", "vmotion", "defaultTcpipStack"]);
        let default_stack = observed
            .stacks
            .iter()
            .find(|stack| stack.stack == StackKind::Default)
            .unwrap();
        let default_instance = &network["netStackInstance"][2];
        assert_eq!(
            default_instance["ipRouteConfig"]["defaultGateway"],
            default_stack.ipv4_gateway.unwrap().to_string()
        );
        // As on a fresh real host: a learned IPv6 gateway with its interface, static DNS, and the
        // routes ESXi computes in the table while the stack has no static route.
        assert!(default_stack.routes.is_empty());
        assert!(default_stack.ipv6_gateway_from_router_advertisement);
        assert_eq!(default_instance["ipRouteConfig"]["ipV6GatewayDevice"], "vmk0");
        assert_eq!(default_instance["dnsConfig"]["dhcp"], false);
        let vmk0_link_local = observed.adapters[0]
            .ipv6
            .addresses
            .iter()
            .find(|address| address.address.addr().segments()[0] == 0xfe80)
            .expect("vmk0 has a link-local address")
            .address
            .addr()
            .to_string();
        let table = &default_instance["routeTableConfig"];
        let rows: Vec<String> = ["ipRoute", "ipv6Route"]
            .iter()
            .flat_map(|family| table[family].as_array().unwrap())
            .map(|operation| {
                assert_eq!(operation["changeOperation"], "ignore");
                let route = &operation["route"];
                format!(
                    "{}/{} via {} on {}",
                    route["network"].as_str().unwrap(),
                    route["prefixLength"],
                    route["gateway"].as_str().unwrap(),
                    route["deviceName"].as_str().unwrap()
                )
            })
            .collect();
        let ipv6_gateway = default_stack.ipv6_gateway.unwrap();
        let management_subnet = "10.10.0.0/16";
        assert_eq!(
            rows,
            [
                format!("{management_subnet} via 0.0.0.0 on vmk0"),
                format!("0.0.0.0/0 via {} on vmk0", default_stack.ipv4_gateway.unwrap()),
                format!("::/0 via {ipv6_gateway} on vmk0"),
                "fe80::/64 via :: on lo0".to_owned(),
                "ff01::/32 via ::1 on lo0".to_owned(),
                "ff02::/32 via ::1 on lo0".to_owned(),
                "fe80::/64 via :: on vmk0".to_owned(),
                format!("ff01::/32 via {vmk0_link_local} on vmk0"),
                format!("ff02::/32 via {vmk0_link_local} on vmk0"),
            ]
        );
        // The unused stacks exist before any adapter uses them: no name, no routing table.
        for unused in &network["netStackInstance"].as_array().unwrap()[..2] {
            assert!(
                unused.get("name").is_none() && unused.get("routeTableConfig").is_none(),
                "{unused}"
            );
        }
        // vmk0 has vmnic0's MAC.
        assert_eq!(network["vnic"][0]["spec"]["mac"], network["pnic"][0]["mac"]);

        // Only the default stack is instantiated in a fresh lab, with vmk0 on it.
        let runtime = &property(object, "runtime.networkRuntimeInfo")["netStackInstanceRuntimeInfo"];
        assert_eq!(runtime.as_array().unwrap().len(), 1, "{runtime}");
        assert_eq!(runtime[0]["netStackInstanceKey"], "defaultTcpipStack");
        assert_eq!(runtime[0]["vmknicKeys"], serde_json::json!(["vmk0"]));

        // Paths the simulator does not model are left out rather than failing the call.
        assert!(!object["propSet"]
            .as_array()
            .unwrap()
            .iter()
            .any(|property| property["name"] == "hardware.systemInfo"));
    }

    // The typed read vim_rs's stubs make, and the services on the nic manager.
    let info = HostVirtualNicManager::new(vim(&client), "virtualNicManager-1")
        .info()
        .await
        .expect("nic manager info");
    let management = info
        .net_config
        .as_ref()
        .unwrap()
        .iter()
        .find(|config| config.nic_type == "management")
        .expect("management netConfig");
    assert_eq!(
        management.selected_vnic.as_deref(),
        Some(&["management.key-vim.host.VirtualNic-vmk0".to_owned()][..])
    );
    let network_info = HostNetworkSystem::new(vim(&client), "networkSystem-2")
        .network_info()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        network_info.vnic.as_ref().unwrap()[0]
            .spec
            .ip
            .as_ref()
            .unwrap()
            .ip_address,
        lab.observe("esx-2").unwrap().adapters[0]
            .ipv4
            .address
            .map(|address| address.to_string())
    );

    // A destroyed view is gone.
    ContainerView::new(vim(&client), &view.value)
        .destroy_view()
        .await
        .expect("destroy view");
    let error = property_collector(&client)
        .retrieve_properties_ex(
            &[host_view_spec(&view, &["name"])],
            &RetrieveOptions { max_objects: None },
        )
        .await
        .unwrap_err();
    assert_eq!(fault_of(&error).0, Some(StructType::ManagedObjectNotFound));

    client.close().await.expect("logout");
    server.stop().expect("server stops");
}

#[tokio::test(flavor = "multi_thread")]
async fn changes_made_through_the_api_land_in_the_lab() {
    let dir = tempfile::tempdir().unwrap();
    new_lab(dir.path());
    let server = start(dir.path());
    let client = connect(&server, USER, PASSWORD).await.expect("login");
    let network_system = HostNetworkSystem::new(vim(&client), "networkSystem-2");

    let switch_spec: HostVirtualSwitchSpec = from_json(
        r#"{"_typeName":"HostVirtualSwitchSpec","numPorts":128,"mtu":9000,
            "bridge":{"_typeName":"HostVirtualSwitchBondBridge","nicDevice":["vmnic1","vmnic2"]},
            "policy":{"_typeName":"HostNetworkPolicy","nicTeaming":{"_typeName":"HostNicTeamingPolicy",
              "nicOrder":{"_typeName":"HostNicOrderPolicy","activeNic":["vmnic2"],"standbyNic":["vmnic1"]}}}}"#,
    );
    network_system
        .add_virtual_switch("vSwitch1", Some(&switch_spec))
        .await
        .expect("add switch");
    let port_group: HostPortGroupSpec = from_json(
        r#"{"_typeName":"HostPortGroupSpec","name":"vMotion-A","vlanId":20,"vswitchName":"vSwitch1","policy":{"_typeName":"HostNetworkPolicy"}}"#,
    );
    network_system
        .add_port_group(&port_group)
        .await
        .expect("add port group");
    let nic: HostVirtualNicSpec = from_json(
        r#"{"_typeName":"HostVirtualNicSpec","mtu":9000,"netStackInstanceKey":"vmotion",
            "ip":{"_typeName":"HostIpConfig","dhcp":false,"ipAddress":"10.0.20.12","subnetMask":"255.255.255.0"}}"#,
    );
    let device = network_system
        .add_virtual_nic("vMotion-A", &nic)
        .await
        .expect("add adapter");
    assert_eq!(device, "vmk1");

    let config: HostNetworkConfig = from_json(
        r#"{"_typeName":"HostNetworkConfig","netStackSpec":[{"_typeName":"HostNetworkConfigNetStackSpec","operation":"edit",
            "netStackInstance":{"_typeName":"HostNetStackInstance","key":"vmotion",
              "ipRouteConfig":{"_typeName":"HostIpRouteConfig","defaultGateway":"10.0.20.1"},
              "congestionControlAlgorithm":"cubic"}}]}"#,
    );
    network_system
        .update_network_config(&config, "modify")
        .await
        .expect("edit vmotion stack");
    HostVirtualNicManager::new(vim(&client), "virtualNicManager-2")
        .select_vnic_for_nic_type("vSphereReplication", "vmk0")
        .await
        .expect("select replication");

    let lab = Lab::open(dir.path()).unwrap();
    let host = lab.observe("esx-2").unwrap();
    let switch = host
        .switches
        .iter()
        .find(|switch| switch.name == "vSwitch1")
        .expect("switch in lab");
    assert_eq!(switch.mtu, 9000);
    assert_eq!(switch.uplinks.iter().cloned().collect::<Vec<_>>(), ["vmnic1", "vmnic2"]);
    assert_eq!(switch.teaming.active, ["vmnic2"]);
    assert_eq!(switch.teaming.standby, ["vmnic1"]);
    let group = host
        .port_groups
        .iter()
        .find(|group| group.name == "vMotion-A")
        .expect("port group in lab");
    assert_eq!((group.switch.as_str(), group.vlan), ("vSwitch1", 20));
    let adapter = host
        .adapters
        .iter()
        .find(|adapter| adapter.device == "vmk1")
        .expect("adapter in lab");
    assert_eq!(adapter.stack, StackKind::Vmotion);
    assert_eq!(adapter.mtu, 9000);
    assert_eq!(adapter.ipv4.address, Some("10.0.20.12".parse().unwrap()));
    assert_eq!(adapter.ipv4.prefix_length, Some(24));
    assert_eq!(
        adapter.connection,
        PortConnection::Standard {
            switch: "vSwitch1".into(),
            port_group: "vMotion-A".into()
        }
    );
    let stack = host
        .stacks
        .iter()
        .find(|stack| stack.stack == StackKind::Vmotion)
        .unwrap();
    assert!(stack.instantiated);
    assert_eq!(stack.ipv4_gateway, Some("10.0.20.1".parse().unwrap()));
    let vmk0 = host.adapters.iter().find(|adapter| adapter.device == "vmk0").unwrap();
    assert!(vmk0.services.contains(&Service::Replication));
    // The other host is untouched.
    assert!(lab
        .observe("esx-1")
        .unwrap()
        .adapters
        .iter()
        .all(|adapter| adapter.device != "vmk1"));

    // The change reads back through the API too: the vMotion stack is now in the runtime info.
    let view = host_view(&client).await;
    let (_, objects) = retrieve_all(&client, host_view_spec(&view, &["runtime.networkRuntimeInfo"]), 100).await;
    let runtime = &property(&objects[1], "runtime.networkRuntimeInfo")["netStackInstanceRuntimeInfo"];
    let keys: Vec<&str> = runtime
        .as_array()
        .unwrap()
        .iter()
        .map(|stack| stack["netStackInstanceKey"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["defaultTcpipStack", "vmotion"]);

    client.close().await.unwrap();
    server.stop().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn faults_arrive_typed_with_the_simulators_messages() {
    let dir = tempfile::tempdir().unwrap();
    new_lab(dir.path());
    // What the simulator itself says, computed on a copy of the host.
    let mut copy = Lab::open(dir.path()).unwrap().load_host("esx-1").unwrap();
    let missing_switch = copy.add_port_group("Storage", "vSwitch9", 30).unwrap_err().to_string();
    let duplicate_switch = copy
        .add_virtual_switch(&esxnet_sim::SwitchSpec {
            name: "vSwitch0".into(),
            mtu: 1500,
            uplinks: Default::default(),
            teaming: Default::default(),
            policy: None,
            teaming_policy: None,
            security: None,
        })
        .unwrap_err()
        .to_string();

    let server = start(dir.path());
    let client = connect(&server, USER, PASSWORD).await.expect("login");
    let network_system = HostNetworkSystem::new(vim(&client), "networkSystem-1");

    let port_group: HostPortGroupSpec = from_json(
        r#"{"_typeName":"HostPortGroupSpec","name":"Storage","vlanId":30,"vswitchName":"vSwitch9","policy":{"_typeName":"HostNetworkPolicy"}}"#,
    );
    let error = network_system.add_port_group(&port_group).await.unwrap_err();
    assert_eq!(fault_of(&error), (Some(StructType::NotFound), missing_switch));

    let error = network_system.add_virtual_switch("vSwitch0", None).await.unwrap_err();
    assert_eq!(fault_of(&error), (Some(StructType::AlreadyExists), duplicate_switch));

    let bad_vlan: HostPortGroupSpec = from_json(
        r#"{"_typeName":"HostPortGroupSpec","name":"Storage","vlanId":5000,"vswitchName":"vSwitch0","policy":{"_typeName":"HostNetworkPolicy"}}"#,
    );
    let error = network_system.add_port_group(&bad_vlan).await.unwrap_err();
    assert_eq!(fault_of(&error).0, Some(StructType::InvalidArgument));

    // A method esxnet does not use is answered, not crashed on.
    let error = network_system.refresh_network_system().await.unwrap_err();
    assert_eq!(fault_of(&error).0, Some(StructType::MethodNotFound));
    // QueryNetworkHint, which esxnet reads to verify hosts, answers every NIC (a lab without a
    // fabric sees nothing on them).
    let hints = network_system
        .query_network_hint(None)
        .await
        .unwrap()
        .unwrap_or_default();
    assert_eq!(hints.len(), 4);
    assert!(hints
        .iter()
        .all(|hint| hint.subnet.is_none() && hint.lldp_info.is_none()));
    // An object that does not exist.
    let error = HostNetworkSystem::new(vim(&client), "networkSystem-9")
        .remove_port_group("x")
        .await
        .unwrap_err();
    assert_eq!(fault_of(&error).0, Some(StructType::ManagedObjectNotFound));

    // Nothing changed in the lab.
    let host = Lab::open(dir.path()).unwrap().observe("esx-1").unwrap();
    assert!(host.port_groups.iter().all(|group| group.name != "Storage"));

    // After logout the session no longer works.
    client.close().await.unwrap();
    let error = network_system
        .remove_port_group("Management Network")
        .await
        .unwrap_err();
    assert_eq!(fault_of(&error).0, Some(StructType::NotAuthenticated));
    server.stop().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_password_is_an_invalid_login() {
    let dir = tempfile::tempdir().unwrap();
    new_lab(dir.path());
    let server = start(dir.path());
    let error = connect(&server, USER, "wrong").await.err().expect("login refused");
    assert_eq!(fault_of(&error).0, Some(StructType::InvalidLogin));
    let error = connect(&server, "someone-else", PASSWORD)
        .await
        .err()
        .expect("login refused");
    assert_eq!(fault_of(&error).0, Some(StructType::InvalidLogin));
    server.stop().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_labs_transient_faults_are_injected() {
    let dir = tempfile::tempdir().unwrap();
    let options = InitOptions {
        hosts: HostNames::Count(1),
        transient_fault_rate: 1.0,
        ..InitOptions::default()
    };
    drop(Lab::init(dir.path(), &options).unwrap());
    let server = start(dir.path());
    // Logging in is never faulted, so a client can always connect.
    let client = connect(&server, USER, PASSWORD).await.expect("login");
    let network_system = HostNetworkSystem::new(vim(&client), "networkSystem-1");
    let mut seen = BTreeSet::new();
    for _ in 0..12 {
        match network_system.add_virtual_switch("vSwitch1", None).await.unwrap_err() {
            Error::MethodFault(fault) => {
                assert_eq!(fault.type_, Some(StructType::RequestCanceled));
                seen.insert("RequestCanceled");
            }
            Error::ParseError(text) => {
                assert!(text.contains("HTTP 503"), "{text}");
                seen.insert("503");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(seen.len(), 2, "both busy and timed-out calls are drawn: {seen:?}");
    assert!(Lab::open(dir.path())
        .unwrap()
        .observe("esx-1")
        .unwrap()
        .switches
        .iter()
        .all(|switch| switch.name != "vSwitch1"));
    client.close().await.unwrap();
    server.stop().unwrap();
}

#[test]
fn the_server_listens_on_loopback_only_and_releases_the_lab_when_stopped() {
    let dir = tempfile::tempdir().unwrap();
    new_lab(dir.path());
    let mut options = ServeOptions::new(dir.path(), USER, PASSWORD);
    options.listen = SocketAddr::from(([0, 0, 0, 0], 0));
    assert!(matches!(
        serve(options.clone()),
        Err(SimServerError::NotLoopback { .. })
    ));

    let server = start(dir.path());
    // The server is the lab's writer while it runs…
    assert!(matches!(
        serve(ServeOptions::new(dir.path(), USER, PASSWORD)),
        Err(SimServerError::Lab { .. })
    ));
    server.stop().unwrap();
    // …and lets go of it when stopped.
    drop(Lab::open_writer(dir.path()).expect("lab free again"));

    // A server past its maximum duration stops by itself.
    let mut options = ServeOptions::new(dir.path(), USER, PASSWORD);
    options.max_duration = std::time::Duration::from_millis(200);
    let server = serve(options).unwrap();
    let address = server.address();
    server.wait().unwrap();
    assert!(
        std::net::TcpStream::connect(address).is_err(),
        "nothing listens after the maximum duration"
    );
}
