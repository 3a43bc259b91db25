//! Request bodies as a hostile client sends them: a SOAP envelope and a VI JSON body of real
//! calls (log in, add an adapter), cut and spliced with XML, JSON and control characters. The
//! server answers every one with an HTTP status (a fault, never a dropped connection from a
//! panic) and serves a clean login afterwards. A bounded number of cases runs in the suite;
//! `PROPTEST_CASES=1000` runs more.

use std::sync::OnceLock;

use esxnet_sim::{HostNames, InitOptions, Lab};
use esxnet_sim_server::{serve, ServeOptions, ServerHandle};
use proptest::prelude::*;

const USER: &str = "root";
const PASSWORD: &str = "simulated-secret";
const RELEASE: &str = "8.0.3.0";

struct Fixture {
    _dir: tempfile::TempDir,
    server: ServerHandle,
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let options = InitOptions {
            hosts: HostNames::Count(1),
            ..InitOptions::default()
        };
        drop(Lab::init(dir.path(), &options).expect("lab init"));
        let server = serve(ServeOptions::new(dir.path(), USER, PASSWORD)).expect("server starts");
        let certificate = reqwest::Certificate::from_pem(server.certificate_pem().as_bytes()).expect("certificate");
        let client = esxnet_vsphere::http_client_builder()
            .tls_certs_only([certificate])
            .build()
            .expect("http client");
        Fixture {
            _dir: dir,
            server,
            runtime: tokio::runtime::Runtime::new().unwrap(),
            client,
        }
    })
}

fn soap_login() -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" \
xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><soapenv:Body><Login xmlns=\"urn:vim25\">\
<_this type=\"SessionManager\">SessionManager</_this><userName>{USER}</userName><password>{PASSWORD}</password>\
</Login></soapenv:Body></soapenv:Envelope>"
    )
}

fn soap_add_adapter() -> String {
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" \
xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><soapenv:Body><AddVirtualNic xmlns=\"urn:vim25\">\
<_this type=\"HostNetworkSystem\">networkSystem-1</_this><portgroup>Management Network</portgroup>\
<nic><ip><dhcp>true</dhcp></ip><mtu>1500</mtu></nic></AddVirtualNic></soapenv:Body></soapenv:Envelope>"
        .to_owned()
}

fn json_login() -> String {
    format!("{{\"userName\": \"{USER}\", \"password\": \"{PASSWORD}\"}}")
}

fn json_add_adapter() -> String {
    "{\"portgroup\": \"Management Network\", \"nic\": {\"_typeName\": \"HostVirtualNicSpec\", \
\"ip\": {\"_typeName\": \"HostIpConfig\", \"dhcp\": true}, \"mtu\": 1500}}"
        .to_owned()
}

fn splice() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("<".to_owned()),
        Just("</nic>".to_owned()),
        Just("<nic>".repeat(3000)),
        Just("<!DOCTYPE a [<!ENTITY a \"aaaa\">]>".to_owned()),
        Just("&a;".to_owned()),
        Just("{".repeat(3000)),
        Just("[".repeat(3000)),
        Just("\"".to_owned()),
        Just("\u{0}\u{1b}\r\n".to_owned()),
        Just("\"_typeName\": \"Nope\",".to_owned()),
        Just("-1e999".to_owned()),
        "[ -~]{0,16}",
    ]
}

/// Posts a body and answers the status; a dropped connection fails the case.
async fn post(fixture: &Fixture, soap: bool, path: &str, body: String) -> Result<u16, String> {
    let request = if soap {
        fixture
            .client
            .post(fixture.server.url())
            .header("content-type", "text/xml; charset=utf-8")
            .header("SOAPAction", format!("urn:vim25/{RELEASE}"))
    } else {
        fixture
            .client
            .post(format!("{}/vim25/{RELEASE}/{path}", fixture.server.url()))
            .header("content-type", "application/json")
    };
    let response = request
        .body(body)
        .send()
        .await
        .map_err(|error| format!("no answer: {error}"))?;
    let status = response.status().as_u16();
    response.bytes().await.map_err(|error| format!("answer cut: {error}"))?;
    Ok(status)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(48),
        ..ProptestConfig::default()
    })]

    #[test]
    fn mutated_request_bodies_get_an_answer_and_the_server_serves_on(
        soap in any::<bool>(),
        login in any::<bool>(),
        at in any::<prop::sample::Index>(),
        cut in any::<prop::sample::Index>(),
        inserted in splice(),
    ) {
        let fixture = fixture();
        let (mut body, path) = match (soap, login) {
            (true, true) => (soap_login(), ""),
            (true, false) => (soap_add_adapter(), ""),
            (false, true) => (json_login(), "SessionManager/SessionManager/Login"),
            (false, false) => (json_add_adapter(), "HostNetworkSystem/networkSystem-1/AddVirtualNic"),
        };
        let boundaries: Vec<usize> = (0..=body.len()).filter(|index| body.is_char_boundary(*index)).collect();
        body.insert_str(*at.get(&boundaries), &inserted);
        let boundaries: Vec<usize> = (body.len() / 2..=body.len())
            .filter(|index| body.is_char_boundary(*index))
            .collect();
        body.truncate(*cut.get(&boundaries));
        let status = fixture.runtime.block_on(post(fixture, soap, path, body));
        prop_assert!(status.is_ok(), "{:?}", status);
        let clean = fixture.runtime.block_on(post(fixture, true, "", soap_login()));
        prop_assert_eq!(clean, Ok(200), "a clean login after the hostile request");
    }
}

#[test]
fn the_bodies_before_mutation_are_calls_the_server_takes() {
    let fixture = fixture();
    // The cases start from real calls: both logins succeed, and an adapter request without a
    // session is refused as such (a SOAP fault, a VI JSON 401), not as an unknown path.
    let soap = fixture.runtime.block_on(post(fixture, true, "", soap_login()));
    assert_eq!(soap, Ok(200));
    let json = fixture.runtime.block_on(post(
        fixture,
        false,
        "SessionManager/SessionManager/Login",
        json_login(),
    ));
    assert_eq!(json, Ok(200));
    let path = "HostNetworkSystem/networkSystem-1/AddVirtualNic";
    let unauthenticated = fixture.runtime.block_on(post(fixture, false, path, json_add_adapter()));
    assert!(
        matches!(unauthenticated, Ok(status) if status != 404),
        "{unauthenticated:?}"
    );
}
