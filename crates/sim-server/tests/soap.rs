//! The server's SOAP endpoint spoken to as raw HTTP, the way clients other than vim_rs see it:
//! the service-version document, login with the session cookie, faults as SOAP faults with their
//! typed detail, and hostile requests (malformed, huge, unauthenticated) answered with a fault.

use std::path::Path;

use esxnet_sim::{HostNames, InitOptions, Lab};
use esxnet_sim_server::{serve, ServeOptions, ServerHandle};

const USER: &str = "root";
const PASSWORD: &str = "simulated-secret";

fn start(dir: &Path) -> ServerHandle {
    let options = InitOptions {
        hosts: HostNames::Count(2),
        ..InitOptions::default()
    };
    drop(Lab::init(dir, &options).expect("lab init"));
    serve(ServeOptions::new(dir, USER, PASSWORD)).expect("server starts")
}

/// A client that trusts the server's certificate and keeps no cookies: each test says which
/// session it sends.
fn client(server: &ServerHandle) -> reqwest::Client {
    let certificate = reqwest::Certificate::from_pem(server.certificate_pem().as_bytes()).expect("certificate");
    esxnet_vsphere::http_client_builder()
        .tls_certs_only([certificate])
        .build()
        .expect("http client")
}

fn envelope(method: &str, this_type: &str, this_id: &str, parameters: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" \
xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\
<soapenv:Body><{method} xmlns=\"urn:vim25\">{parameters}<_this type=\"{this_type}\">{this_id}</_this></{method}>\
</soapenv:Body></soapenv:Envelope>"
    )
}

struct Answer {
    status: u16,
    body: String,
    set_cookie: Option<String>,
}

async fn post(
    client: &reqwest::Client,
    server: &ServerHandle,
    body: impl Into<reqwest::Body>,
    cookie: Option<&str>,
) -> Answer {
    let mut request = client
        .post(server.url())
        .header("content-type", "text/xml; charset=utf-8")
        .header("SOAPAction", "urn:vim25/8.0.3.0")
        .body(body);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let response = request.send().await.expect("the server answers");
    let status = response.status().as_u16();
    let set_cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    Answer {
        status,
        body: response.text().await.unwrap_or_default(),
        set_cookie,
    }
}

/// Logs in and answers the `Set-Cookie` value, which clients such as pyVmomi send back whole.
async fn login(client: &reqwest::Client, server: &ServerHandle) -> String {
    let answer = post(
        client,
        server,
        envelope(
            "Login",
            "SessionManager",
            "SessionManager",
            &format!("<password>{PASSWORD}</password><userName>{USER}</userName>"),
        ),
        None,
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(
        answer.body.contains("<LoginResponse xmlns=\"urn:vim25\">"),
        "{}",
        answer.body
    );
    assert!(answer.body.contains("<userName>root</userName>"), "{}", answer.body);
    let cookie = answer.set_cookie.expect("a session cookie");
    assert!(cookie.starts_with("vmware_soap_session=\""), "{cookie}");
    cookie
}

fn assert_fault(answer: &Answer, fault_type: &str) {
    assert_eq!(answer.status, 500, "{}", answer.body);
    assert!(
        answer.body.contains("<faultcode>ServerFaultCode</faultcode>"),
        "{}",
        answer.body
    );
    assert!(
        answer.body.contains(&format!(
            "<{fault_type}Fault xmlns=\"urn:vim25\" xsi:type=\"{fault_type}\">"
        )),
        "expected a {fault_type} fault: {}",
        answer.body
    );
}

#[tokio::test]
async fn the_service_version_document_names_vim25() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let response = client(&server)
        .get(format!("{}/vimServiceVersions.xml", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let text = response.text().await.unwrap();
    assert!(text.contains("<name>urn:vim25</name>"), "{text}");
    assert!(text.contains("<version>8.0.3.0</version>"), "{text}");
}

#[tokio::test]
async fn a_session_reads_the_service_content_and_hosts_and_ends_with_logout() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let client = client(&server);
    let content = post(
        &client,
        &server,
        envelope("RetrieveServiceContent", "ServiceInstance", "ServiceInstance", ""),
        None,
    )
    .await;
    assert_eq!(content.status, 200, "{}", content.body);
    assert!(
        content.body.contains("<returnval xsi:type=\"ServiceContent\">"),
        "{}",
        content.body
    );
    assert!(
        content
            .body
            .contains("<rootFolder type=\"Folder\">group-d1</rootFolder>"),
        "{}",
        content.body
    );
    let cookie = login(&client, &server).await;
    let view = post(
        &client,
        &server,
        envelope(
            "CreateContainerView",
            "ViewManager",
            "ViewManager",
            "<container type=\"Folder\">group-d1</container><type>HostSystem</type><recursive>true</recursive>",
        ),
        Some(&cookie),
    )
    .await;
    assert_eq!(view.status, 200, "{}", view.body);
    let view_id = view
        .body
        .split("<returnval type=\"ContainerView\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("a container view")
        .to_owned();
    // The old, unpaged RetrieveProperties, with the parameters in another order than the WSDL's.
    let spec = format!(
        "<specSet><objectSet><obj type=\"ContainerView\">{view_id}</obj><skip>true</skip>\
<selectSet xsi:type=\"TraversalSpec\"><name>view</name><type>ContainerView</type><path>view</path><skip>false</skip></selectSet>\
</objectSet><propSet><type>HostSystem</type><pathSet>name</pathSet><pathSet>configManager.networkSystem</pathSet></propSet></specSet>"
    );
    let hosts = post(
        &client,
        &server,
        envelope("RetrieveProperties", "PropertyCollector", "propertyCollector", &spec),
        Some(&cookie),
    )
    .await;
    assert_eq!(hosts.status, 200, "{}", hosts.body);
    for expected in [
        "<returnval xsi:type=\"ObjectContent\"><obj type=\"HostSystem\">host-1</obj>",
        "<val xsi:type=\"xsd:string\">esx-2</val>",
        "<val xsi:type=\"ManagedObjectReference\" type=\"HostNetworkSystem\">networkSystem-1</val>",
    ] {
        assert!(hosts.body.contains(expected), "{expected} in {}", hosts.body);
    }
    // pyVmomi reads a property with the object's own Fetch.
    let fetched = post(
        &client,
        &server,
        envelope("Fetch", "HostSystem", "host-2", "<prop>name</prop>"),
        Some(&cookie),
    )
    .await;
    assert!(
        fetched
            .body
            .contains("<FetchResponse xmlns=\"urn:vim25\"><returnval xsi:type=\"xsd:string\">esx-2</returnval>"),
        "{}",
        fetched.body
    );
    let logout = post(
        &client,
        &server,
        envelope("Logout", "SessionManager", "SessionManager", ""),
        Some(&cookie),
    )
    .await;
    assert_eq!(logout.status, 200, "{}", logout.body);
    assert!(
        logout.body.contains("<LogoutResponse xmlns=\"urn:vim25\">"),
        "{}",
        logout.body
    );
    // The session is gone.
    let after = post(
        &client,
        &server,
        envelope("RetrieveProperties", "PropertyCollector", "propertyCollector", &spec),
        Some(&cookie),
    )
    .await;
    assert_fault(&after, "NotAuthenticated");
}

#[tokio::test]
async fn refusals_are_soap_faults_with_their_typed_detail() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let client = client(&server);
    let wrong = post(
        &client,
        &server,
        envelope(
            "Login",
            "SessionManager",
            "SessionManager",
            &format!("<userName>{USER}</userName><password>wrong</password>"),
        ),
        None,
    )
    .await;
    assert_fault(&wrong, "InvalidLogin");
    let cookie = login(&client, &server).await;
    let missing = post(
        &client,
        &server,
        envelope(
            "RemovePortGroup",
            "HostNetworkSystem",
            "networkSystem-1",
            "<pgName>No Such Port Group</pgName>",
        ),
        Some(&cookie),
    )
    .await;
    assert_fault(&missing, "NotFound");
    let duplicate = post(
        &client,
        &server,
        envelope(
            "AddVirtualSwitch",
            "HostNetworkSystem",
            "networkSystem-1",
            "<vswitchName>vSwitch0</vswitchName>",
        ),
        Some(&cookie),
    )
    .await;
    assert_fault(&duplicate, "AlreadyExists");
    let unknown_object = post(
        &client,
        &server,
        envelope(
            "RemoveVirtualNic",
            "HostNetworkSystem",
            "networkSystem-99",
            "<device>vmk1</device>",
        ),
        Some(&cookie),
    )
    .await;
    assert_fault(&unknown_object, "ManagedObjectNotFound");
    let unknown_method = post(
        &client,
        &server,
        envelope("PowerOnVM_Task", "VirtualMachine", "vm-1", ""),
        Some(&cookie),
    )
    .await;
    assert_fault(&unknown_method, "MethodNotFound");
}

#[tokio::test]
async fn malformed_huge_and_unauthenticated_requests_get_a_soap_fault_and_the_server_lives_on() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let client = client(&server);
    for body in [
        "this is not XML".to_owned(),
        "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\"><soapenv:Body><Login>"
            .to_owned(),
        "<!DOCTYPE lol [<!ENTITY lol \"lol\">]><Envelope><Body/></Envelope>".to_owned(),
        envelope(
            "AddVirtualNic",
            "HostNetworkSystem",
            "networkSystem-1",
            &format!("{}{}", "<nic>".repeat(100_000), "</nic>".repeat(100_000)),
        ),
        envelope(
            "AddVirtualNic",
            "HostNetworkSystem",
            "networkSystem-1",
            "<nic><ip>oops</ip></nic>",
        ),
    ] {
        let answer = post(&client, &server, body.clone(), None).await;
        assert_fault(&answer, "InvalidRequest");
    }
    let huge = vec![b' '; 17 * 1024 * 1024];
    assert_fault(&post(&client, &server, huge, None).await, "InvalidRequest");
    let unauthenticated = post(
        &client,
        &server,
        envelope(
            "RemoveVirtualSwitch",
            "HostNetworkSystem",
            "networkSystem-1",
            "<vswitchName>vSwitch0</vswitchName>",
        ),
        Some("vmware_soap_session=\"not-a-session\""),
    )
    .await;
    assert_fault(&unauthenticated, "NotAuthenticated");
    // Still serving.
    login(&client, &server).await;
}

/// The classic inventory walk of pyVmomi and govmomi scripts: from the root folder through
/// folders (a named spec that refers to itself), the datacenter's host folder and the compute
/// resources to the hosts, all in one RetrieveProperties.
#[tokio::test]
async fn hosts_are_found_by_walking_the_inventory_from_the_root_folder() {
    let dir = tempfile::tempdir().unwrap();
    let options = InitOptions {
        hosts: HostNames::Names(vec![
            "esx-01.prod.example".into(),
            "esx-02.prod.example".into(),
            "esx-03.edge.example".into(),
            "standalone".into(),
        ]),
        ..InitOptions::default()
    };
    drop(Lab::init(dir.path(), &options).expect("lab init"));
    let server = serve(ServeOptions::new(dir.path(), USER, PASSWORD)).expect("server starts");
    let client = client(&server);
    let cookie = login(&client, &server).await;
    let traversal = |name: &str, mo_type: &str, path: &str, next: &[&str]| {
        let next: String = next
            .iter()
            .map(|name| format!("<selectSet><name>{name}</name></selectSet>"))
            .collect();
        format!(
            "<selectSet xsi:type=\"TraversalSpec\"><name>{name}</name><type>{mo_type}</type><path>{path}</path><skip>false</skip>{next}</selectSet>"
        )
    };
    let select = [
        traversal("folders", "Folder", "childEntity", &["folders", "hostFolder", "hosts"]),
        traversal("hostFolder", "Datacenter", "hostFolder", &["folders"]),
        traversal("hosts", "ComputeResource", "host", &[]),
    ]
    .concat();
    let spec = format!(
        "<specSet><propSet><type>HostSystem</type><pathSet>name</pathSet><pathSet>parent</pathSet></propSet>\
<propSet><type>ComputeResource</type><pathSet>name</pathSet></propSet>\
<objectSet><obj type=\"Folder\">group-d1</obj>{select}</objectSet></specSet>"
    );
    let answer = post(
        &client,
        &server,
        envelope("RetrieveProperties", "PropertyCollector", "propertyCollector", &spec),
        Some(&cookie),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    for expected in [
        // Clusters from the host names' domains, in name order; a host without one stands alone.
        "<obj type=\"ClusterComputeResource\">domain-c1</obj><propSet xsi:type=\"DynamicProperty\"><name>name</name><val xsi:type=\"xsd:string\">edge.example</val>",
        "<obj type=\"ClusterComputeResource\">domain-c2</obj><propSet xsi:type=\"DynamicProperty\"><name>name</name><val xsi:type=\"xsd:string\">prod.example</val>",
        "<obj type=\"ComputeResource\">domain-s4</obj>",
        "<val xsi:type=\"xsd:string\">esx-01.prod.example</val>",
        "<val xsi:type=\"ManagedObjectReference\" type=\"ClusterComputeResource\">domain-c2</val>",
        "<val xsi:type=\"xsd:string\">standalone</val>",
        "<val xsi:type=\"ManagedObjectReference\" type=\"ComputeResource\">domain-s4</val>",
    ] {
        assert!(answer.body.contains(expected), "{expected} in {}", answer.body);
    }
    assert_eq!(
        answer.body.matches("<obj type=\"HostSystem\">").count(),
        4,
        "{}",
        answer.body
    );
    // A container view over a cluster shows its hosts.
    let view = post(
        &client,
        &server,
        envelope(
            "CreateContainerView",
            "ViewManager",
            "ViewManager",
            "<container type=\"ClusterComputeResource\">domain-c2</container><type>HostSystem</type><recursive>true</recursive>",
        ),
        Some(&cookie),
    )
    .await;
    let view_id = view
        .body
        .split("<returnval type=\"ContainerView\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("a container view")
        .to_owned();
    let members = post(
        &client,
        &server,
        envelope(
            "RetrievePropertiesEx",
            "PropertyCollector",
            "propertyCollector",
            &format!(
                "<specSet><propSet><type>ContainerView</type><pathSet>view</pathSet></propSet>\
<objectSet><obj type=\"ContainerView\">{view_id}</obj></objectSet></specSet><options/>"
            ),
        ),
        Some(&cookie),
    )
    .await;
    assert!(
        members.body.contains(
            "<val xsi:type=\"ArrayOfManagedObjectReference\"><ManagedObjectReference type=\"HostSystem\">host-1</ManagedObjectReference><ManagedObjectReference type=\"HostSystem\">host-2</ManagedObjectReference></val>"
        ),
        "{}",
        members.body
    );
}

/// pyVmomi reads `host.config` and `host.runtime` whole before it looks at their members, as
/// Ansible's community.vmware modules do (`host.config.network`, `host.runtime.networkRuntimeInfo`).
#[tokio::test]
async fn a_host_s_config_and_runtime_are_read_whole() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let client = client(&server);
    let cookie = login(&client, &server).await;
    let answer = post(
        &client,
        &server,
        envelope(
            "RetrieveProperties",
            "PropertyCollector",
            "propertyCollector",
            "<specSet><propSet><type>HostSystem</type><pathSet>config</pathSet><pathSet>runtime</pathSet></propSet>\
<objectSet><obj type=\"HostSystem\">host-1</obj></objectSet></specSet>",
        ),
        Some(&cookie),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    for expected in [
        "<name>config</name><val xsi:type=\"HostConfigInfo\"><host type=\"HostSystem\">host-1</host>",
        "<apiType>HostAgent</apiType>",
        "<network xsi:type=\"HostNetworkInfo\">",
        "<device>vmk0</device>",
        "<name>runtime</name><val xsi:type=\"HostRuntimeInfo\"><connectionState>connected</connectionState>",
        "<netStackInstanceKey>defaultTcpipStack</netStackInstanceKey>",
    ] {
        assert!(answer.body.contains(expected), "{expected} in {}", answer.body);
    }
}
