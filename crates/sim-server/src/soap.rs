//! SOAP 1.1 at `/sdk`: ESXi's own wire protocol over the same lab and the same handlers as VI JSON.
//!
//! A SOAP call is read into the VI JSON request the [`Simulator`] already answers, and its answer
//! is written back as SOAP, so both protocols share every check, fault and counter:
//!
//! - the envelope is read with quick-xml (the method is the first element of `Body`, `_this`
//!   names the managed object, parameters may come in any order);
//! - each data-object parameter is read by `vim_rs`'s own XML reader into its `vim_rs` type and
//!   written as VI JSON by `vim_rs`'s serializer, the shape the JSON handlers take;
//! - each answer is read back into its `vim_rs` type and written by `vim_rs`'s XML serializer,
//!   which puts `xsi:type` on every data object and `ArrayOfX`/`xsd:` types in `anyType` slots;
//! - faults are SOAP faults with the typed fault in `detail`, as ESXi sends them;
//! - the session travels in the `vmware_soap_session` cookie.
//!
//! Nothing a client sends can crash the server: a body that is not XML, too deep, has a DTD, or
//! names no method is an `InvalidRequest` fault.

use quick_xml::events::Event;
use quick_xml::reader::Reader;
use serde_json::{json, Value};
use vim_rs::types::structs as vim;

use crate::fault::VimFault;
use crate::inventory::{PROPERTY_COLLECTOR, SERVICE_INSTANCE};
use crate::vim::{Simulator, VimRequest};

/// The cookie that carries a SOAP session, as ESXi and vCenter name it.
pub(crate) const SESSION_COOKIE: &str = "vmware_soap_session";

/// Elements nested deeper than this are refused before any of them is read: no vSphere request
/// comes near it, and `vim_rs`'s reader recurses once per level.
const MAX_DEPTH: usize = 48;

/// The most property-collector pages `RetrieveProperties` gathers into one answer.
const MAX_PAGES: usize = 10_000;

const SOAP_ENVELOPE_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";

/// The service-version document clients such as pyVmomi read before they log in.
pub(crate) const SERVICE_VERSIONS: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n\
<namespaces version=\"1.0\">\n \
<namespace>\n  <name>urn:vim25</name>\n  <version>8.0.3.0</version>\n  <priorVersions>\n   \
<version>8.0.2.0</version>\n   <version>8.0.1.0</version>\n   <version>8.0.0.0</version>\n   \
<version>7.0.3.0</version>\n   <version>7.0.2.0</version>\n   <version>7.0.1.0</version>\n   \
<version>7.0.0.0</version>\n   <version>6.7.3</version>\n   <version>6.7.2</version>\n   \
<version>6.7.1</version>\n   <version>6.7</version>\n   <version>6.5</version>\n   \
<version>6.0</version>\n  </priorVersions>\n </namespace>\n</namespaces>\n";

/// The answer to one SOAP call.
pub(crate) struct SoapReply {
    pub(crate) status: u16,
    /// A SOAP envelope, or plain text for HTTP 503 (an injected busy server).
    pub(crate) body: String,
    /// A new session token, to be set as the [`SESSION_COOKIE`].
    pub(crate) session: Option<String>,
}

impl SoapReply {
    fn fault(fault: &VimFault) -> Self {
        SoapReply {
            status: 500,
            body: fault_envelope(fault),
            session: None,
        }
    }
}

/// The `Set-Cookie` value for a new session.
pub(crate) fn session_cookie(token: &str) -> String {
    format!("{SESSION_COOKIE}=\"{token}\"; Path=/; HttpOnly; Secure")
}

/// The session token in a `Cookie` header, quoted or not. pyVmomi sends back the whole
/// `Set-Cookie` value, attributes included, so only the session pair is read.
pub(crate) fn session_from_cookies<'a>(headers: impl Iterator<Item = &'a str>) -> Option<String> {
    headers
        .flat_map(|header| header.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| name.trim() == SESSION_COOKIE)
        .map(|(_, value)| value.trim().trim_matches('"').to_owned())
        .filter(|value| !value.is_empty())
}

/// A fault for a request the server cannot read: SOAP's own answer to a malformed call.
pub(crate) fn request_fault(message: impl Into<String>) -> SoapReply {
    SoapReply::fault(&VimFault::invalid_request(message))
}

/// One parameter element of a call.
struct Parameter {
    name: String,
    /// The element's text, entities resolved (for string and number parameters).
    text: String,
    /// The element as a self-contained document: its text with the namespace declarations in
    /// scope added to its start tag, for `vim_rs`'s reader.
    xml: String,
    /// The `type` attribute, for managed object references.
    type_attribute: Option<String>,
}

/// A parameter element being read: where it starts and what is known of it so far.
struct OpenParameter {
    start: usize,
    name: String,
    type_attribute: Option<String>,
    /// The namespace declarations on its own start tag.
    own_declarations: Vec<(String, String)>,
    text: String,
}

/// A SOAP call as read from the envelope.
struct Call {
    method: String,
    this_type: String,
    this_id: String,
    parameters: Vec<Parameter>,
}

fn local_name(qualified: &str) -> String {
    match qualified.rsplit_once(':') {
        Some((_, local)) => local.to_owned(),
        None => qualified.to_owned(),
    }
}

/// Namespace declarations (`xmlns`, `xmlns:p`) on a start tag, as attribute text.
fn namespace_declarations(start: &quick_xml::events::BytesStart<'_>) -> Vec<(String, String)> {
    start
        .attributes()
        .flatten()
        .filter_map(|attribute| {
            let key: &str = attribute.key.as_ref();
            (key == "xmlns" || key.starts_with("xmlns:")).then(|| (key.to_owned(), attribute.value.to_string()))
        })
        .collect()
}

fn attribute(start: &quick_xml::events::BytesStart<'_>, wanted: &str) -> Option<String> {
    start.attributes().flatten().find_map(|attribute| {
        (local_name(attribute.key.as_ref()) == wanted && !AsRef::<str>::as_ref(&attribute.key).starts_with("xmlns"))
            .then(|| {
                #[allow(deprecated)]
                attribute
                    .unescape_value()
                    .map(|value| value.into_owned())
                    .unwrap_or_default()
            })
    })
}

/// `xml` with `declarations` added to its root start tag, except those it declares itself.
fn with_declarations(xml: &str, declarations: &[(String, String)], own: &[(String, String)]) -> String {
    let name_end = xml
        .char_indices()
        .skip(1)
        .find(|(_, character)| character.is_whitespace() || *character == '>' || *character == '/')
        .map_or(xml.len(), |(index, _)| index);
    let mut added = String::new();
    for (key, value) in declarations {
        if own.iter().any(|(own_key, _)| own_key == key) {
            continue;
        }
        added.push(' ');
        added.push_str(key);
        added.push_str("=\"");
        added.push_str(&quick_xml::escape::escape(value.as_str()));
        added.push('"');
    }
    format!("{}{added}{}", &xml[..name_end], &xml[name_end..])
}

fn text_of_reference(reference: &quick_xml::events::BytesRef<'_>) -> Result<String, VimFault> {
    if let Ok(Some(character)) = reference.resolve_char_ref() {
        return Ok(character.to_string());
    }
    let name: &str = reference;
    quick_xml::escape::unescape(&format!("&{name};"))
        .map(|text| text.into_owned())
        .map_err(|_| VimFault::invalid_request(format!("the request uses the unknown entity &{name};")))
}

/// Reads the envelope: the method, `_this` and the parameters, in whatever order they come.
fn read_call(body: &str) -> Result<Call, VimFault> {
    let malformed = |detail: &str| VimFault::invalid_request(format!("the SOAP request is malformed: {detail}"));
    let mut reader = Reader::from_str(body);
    reader.config_mut().trim_text(false);
    // Namespace declarations of each open element, outermost first.
    let mut scopes: Vec<Vec<(String, String)>> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut method: Option<String> = None;
    let mut this: Option<(String, String)> = None;
    let mut parameters: Vec<Parameter> = Vec::new();
    let mut current: Option<OpenParameter> = None;
    let mut saw_envelope = false;
    loop {
        let before = reader.buffer_position() as usize;
        let event = reader
            .read_event()
            .map_err(|error| malformed(&format!("not well-formed XML ({error})")))?;
        match event {
            Event::DocType(_) => return Err(malformed("document type declarations are not accepted")),
            Event::Start(ref start) | Event::Empty(ref start) => {
                let is_empty = matches!(event, Event::Empty(_));
                let name = local_name(start.name().as_ref());
                let depth = names.len();
                if depth >= MAX_DEPTH {
                    return Err(malformed(&format!(
                        "elements are nested deeper than {MAX_DEPTH} levels"
                    )));
                }
                match depth {
                    0 => {
                        if name != "Envelope" {
                            return Err(malformed("the document is not a SOAP envelope"));
                        }
                        saw_envelope = true;
                    }
                    2 if names[1] == "Body" && method.is_none() => method = Some(name.clone()),
                    3 if names[1] == "Body" && method.as_deref() == Some(names[2].as_str()) => {
                        current = Some(OpenParameter {
                            start: before,
                            name: name.clone(),
                            type_attribute: attribute(start, "type"),
                            own_declarations: namespace_declarations(start),
                            text: String::new(),
                        });
                    }
                    _ => {}
                }
                if is_empty {
                    if depth == 3 {
                        finish_parameter(
                            body,
                            &scopes,
                            &mut current,
                            reader.buffer_position() as usize,
                            &mut this,
                            &mut parameters,
                        );
                    }
                    if depth == 0 {
                        break;
                    }
                } else {
                    scopes.push(namespace_declarations(start));
                    names.push(name);
                }
            }
            Event::End(_) => {
                names.pop();
                scopes.pop();
                if names.len() == 3 {
                    finish_parameter(
                        body,
                        &scopes,
                        &mut current,
                        reader.buffer_position() as usize,
                        &mut this,
                        &mut parameters,
                    );
                }
                if names.is_empty() {
                    break;
                }
            }
            Event::Text(text) => {
                if let Some(open) = current.as_mut() {
                    open.text.push_str(&text);
                }
            }
            Event::CData(text) => {
                if let Some(open) = current.as_mut() {
                    open.text.push_str(&text);
                }
            }
            Event::GeneralRef(reference) => {
                let resolved = text_of_reference(&reference)?;
                if let Some(open) = current.as_mut() {
                    open.text.push_str(&resolved);
                }
            }
            Event::Eof => {
                if !names.is_empty() || !saw_envelope {
                    return Err(malformed("the envelope ends early"));
                }
                break;
            }
            _ => {}
        }
    }
    let method = method.ok_or_else(|| malformed("the Body names no method"))?;
    let (this_type, this_id) =
        this.ok_or_else(|| VimFault::invalid_request(format!("{method} names no managed object (_this)")))?;
    Ok(Call {
        method,
        this_type,
        this_id,
        parameters,
    })
}

fn finish_parameter(
    body: &str,
    scopes: &[Vec<(String, String)>],
    current: &mut Option<OpenParameter>,
    end: usize,
    this: &mut Option<(String, String)>,
    parameters: &mut Vec<Parameter>,
) {
    let Some(OpenParameter {
        start,
        name,
        type_attribute,
        own_declarations: own,
        text,
    }) = current.take()
    else {
        return;
    };
    if name == "_this" {
        *this = Some((type_attribute.unwrap_or_default(), text.trim().to_owned()));
        return;
    }
    let declarations: Vec<(String, String)> = scopes.iter().flatten().cloned().collect();
    // Later (inner) declarations win: keep the last of each key.
    let mut in_scope: Vec<(String, String)> = Vec::new();
    for (key, value) in declarations.into_iter().rev() {
        if !in_scope.iter().any(|(seen, _)| *seen == key) {
            in_scope.push((key, value));
        }
    }
    let xml = body.get(start..end).unwrap_or_default();
    parameters.push(Parameter {
        xml: with_declarations(xml, &in_scope, &own),
        name,
        text,
        type_attribute,
    });
}

/// How a method's parameter is carried over into its VI JSON body.
enum Kind {
    Text,
    TextList,
    Boolean,
    Integer,
    Data(fn(&str) -> Option<Value>),
    DataList(fn(&str) -> Option<Value>),
}

/// A data object read by `vim_rs`'s XML reader and written as VI JSON by its serializer.
fn data<T>(xml: &str) -> Option<Value>
where
    T: miniserde::Deserialize + miniserde::Serialize + vim_rs::types::data_type_aware::DataTypeAware,
{
    let typed: T = vim_rs::xml::de::from_xml(xml).ok()?;
    serde_json::from_str(&miniserde::json::to_string(&typed)).ok()
}

fn parameter_kind(method: &str, parameter: &str) -> Kind {
    match (method, parameter) {
        (_, "specSet") => Kind::DataList(data::<vim::PropertyFilterSpec>),
        (_, "options") => Kind::Data(data::<vim::RetrieveOptions>),
        ("CreateContainerView", "container") => Kind::Data(data::<vim::ManagedObjectReference>),
        ("CreateContainerView", "type") => Kind::TextList,
        ("CreateContainerView", "recursive") => Kind::Boolean,
        ("AddVirtualSwitch" | "UpdateVirtualSwitch", "spec") => Kind::Data(data::<vim::HostVirtualSwitchSpec>),
        (_, "portgrp") => Kind::Data(data::<vim::HostPortGroupSpec>),
        (_, "nic") => Kind::Data(data::<vim::HostVirtualNicSpec>),
        ("UpdateNetworkConfig", "config") => Kind::Data(data::<vim::HostNetworkConfig>),
        ("QueryNetworkHint", "device") => Kind::TextList,
        (_, "maxObjects") => Kind::Integer,
        _ => Kind::Text,
    }
}

/// The VI JSON body of a call: each parameter as the JSON handlers take it.
fn json_body(call: &Call) -> Result<Value, VimFault> {
    let mut body = serde_json::Map::new();
    for parameter in &call.parameters {
        let invalid =
            || VimFault::invalid_request(format!("parameter {} of {} is not valid", parameter.name, call.method));
        let value = match parameter_kind(&call.method, &parameter.name) {
            Kind::Text => Value::String(parameter.text.clone()),
            Kind::Boolean => Value::Bool(match parameter.text.trim() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => return Err(invalid()),
            }),
            Kind::Integer => json!(parameter.text.trim().parse::<i64>().map_err(|_| invalid())?),
            Kind::Data(read) => read(&parameter.xml).ok_or_else(invalid)?,
            Kind::TextList => {
                push_item(&mut body, &parameter.name, Value::String(parameter.text.clone()));
                continue;
            }
            Kind::DataList(read) => {
                push_item(&mut body, &parameter.name, read(&parameter.xml).ok_or_else(invalid)?);
                continue;
            }
        };
        // A managed object reference keeps its type attribute even where the reader is strict.
        let value = match (&parameter.type_attribute, value) {
            (Some(mo_type), Value::Object(mut object))
                if object.get("_typeName") == Some(&json!("ManagedObjectReference")) =>
            {
                object.entry("type").or_insert_with(|| Value::String(mo_type.clone()));
                Value::Object(object)
            }
            (_, value) => value,
        };
        body.insert(parameter.name.clone(), value);
    }
    Ok(Value::Object(body))
}

fn push_item(body: &mut serde_json::Map<String, Value>, name: &str, item: Value) {
    match body.entry(name.to_owned()).or_insert_with(|| Value::Array(Vec::new())) {
        Value::Array(items) => items.push(item),
        other => *other = Value::Array(vec![item]),
    }
}

/// `vim_rs`'s XML for a VI JSON value of type `T`, as the element `tag`.
fn xml_as<T>(value: &Value, tag: &str) -> Result<String, VimFault>
where
    T: miniserde::Deserialize + miniserde::Serialize,
{
    let typed: T = crate::fault::read_as_vim(value).map_err(|_| {
        VimFault::new(
            "SystemError",
            format!(
                "esxnet's simulator built an answer vim_rs cannot read as {}; this is a bug in esxnet-sim-server",
                std::any::type_name::<T>().rsplit("::").next().unwrap_or_default()
            ),
        )
    })?;
    let xml = vim_rs::xml::ser::to_xml(&typed, tag);
    // A managed object reference in an anyType slot (a property's value) must say its type, or
    // pyVmomi and govmomi cannot tell it from a string.
    Ok(xml.replace("<val type=\"", "<val xsi:type=\"ManagedObjectReference\" type=\""))
}

fn envelope(body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<soapenv:Envelope xmlns:soapenc=\"http://schemas.xmlsoap.org/soap/encoding/\" \
xmlns:soapenv=\"{SOAP_ENVELOPE_NS}\" xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" \
xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n<soapenv:Body>\n{body}\n</soapenv:Body>\n</soapenv:Envelope>"
    )
}

fn response_envelope(method: &str, returned: &str) -> String {
    envelope(&format!(
        "<{method}Response xmlns=\"urn:vim25\">{returned}</{method}Response>"
    ))
}

/// A fault as ESXi sends it: `ServerFaultCode`, the message, and the typed fault in `detail`.
pub(crate) fn fault_envelope(fault: &VimFault) -> String {
    let mut typed: Value =
        serde_json::from_str(&fault.to_wire()).unwrap_or_else(|_| json!({"_typeName": fault.type_name}));
    // VI JSON's top-level `message` is no element of a SOAP fault: SOAP carries it in
    // `faultstring` and `faultMessage`, and SOAP readers refuse elements the schema lacks.
    if let Some(object) = typed.as_object_mut() {
        object.remove("message");
    }
    let tag = format!("{}Fault", fault.type_name);
    let detail = xml_as::<vim::MethodFault>(&typed, &tag)
        .unwrap_or_else(|_| format!("<{tag} xsi:type=\"{}\"/>", fault.type_name));
    // The fault's types are vim25's: declare the namespace on the detail element.
    let detail = detail.replacen(&format!("<{tag}"), &format!("<{tag} xmlns=\"urn:vim25\""), 1);
    envelope(&format!(
        "<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>{}</faultstring><detail>{detail}</detail></soapenv:Fault>",
        quick_xml::escape::escape(fault.message.as_str())
    ))
}

/// Answers one SOAP request body with the session from the request's cookie.
pub(crate) fn handle(simulator: &Simulator, body: &[u8], session: Option<String>) -> SoapReply {
    let Ok(text) = std::str::from_utf8(body) else {
        return request_fault("the SOAP request is not UTF-8");
    };
    let call = match read_call(text) {
        Ok(call) => call,
        Err(fault) => return SoapReply::fault(&fault),
    };
    match answer(simulator, &call, session) {
        Ok(reply) => reply,
        Err(fault) => SoapReply::fault(&fault),
    }
}

/// What the simulator answered to one VI JSON request.
enum Answered {
    /// A value (`None` for a void method) and a new session token, if the call made one.
    Value(Option<Value>, Option<String>),
    /// A fault, to be sent as a SOAP fault.
    Fault(VimFault),
    /// HTTP 503 (an injected busy server), passed through as it is.
    Busy(SoapReply),
}

/// Runs one VI JSON request through the simulator and reads its answer.
fn run(simulator: &Simulator, request: &VimRequest) -> Answered {
    let reply = simulator.handle(request);
    match reply.status {
        200 => match serde_json::from_str(&reply.body) {
            Ok(value) => Answered::Value(Some(value), reply.session),
            Err(_) => Answered::Fault(VimFault::new("SystemError", "the simulator's answer is not JSON")),
        },
        204 => Answered::Value(None, reply.session),
        503 => Answered::Busy(SoapReply {
            status: 503,
            body: reply.body,
            session: None,
        }),
        _ => {
            let fault: Value = serde_json::from_str(&reply.body).unwrap_or(Value::Null);
            let type_name = fault.get("_typeName").and_then(Value::as_str).unwrap_or("SystemError");
            let message = fault.get("message").and_then(Value::as_str).unwrap_or_default();
            Answered::Fault(VimFault::new(static_type_name(type_name), message))
        }
    }
}

/// The fault type names the simulator answers with, as `'static` names for [`VimFault`].
fn static_type_name(type_name: &str) -> &'static str {
    const KNOWN: [&str; 17] = [
        "AlreadyExists",
        "NotFound",
        "ResourceInUse",
        "InvalidArgument",
        "InvalidState",
        "HostConfigFault",
        "NotSupported",
        "NotAuthenticated",
        "ManagedObjectNotFound",
        "HostCommunication",
        "RequestCanceled",
        "SystemError",
        "MethodNotFound",
        "InvalidRequest",
        "InvalidLogin",
        "InvalidProperty",
        "InvalidCollectorVersion",
    ];
    KNOWN
        .iter()
        .find(|known| **known == type_name)
        .copied()
        .unwrap_or("SystemError")
}

fn answer(simulator: &Simulator, call: &Call, session: Option<String>) -> Result<SoapReply, VimFault> {
    let mut body = json_body(call)?;
    let method = call.method.as_str();
    let mut request = VimRequest {
        is_property_read: false,
        mo_type: call.this_type.clone(),
        mo_id: call.this_id.clone(),
        name: call.method.clone(),
        session: session.clone(),
        body: Vec::new(),
    };
    match method {
        // SOAP reads the service content with a method; VI JSON reads it as a property.
        "RetrieveServiceContent" => {
            if call.this_id != SERVICE_INSTANCE {
                return Err(VimFault::object_not_found(&call.this_type, &call.this_id));
            }
            request.is_property_read = true;
            request.name = "content".to_owned();
        }
        // The old, unpaged read: every page of RetrievePropertiesEx, as one list.
        "RetrieveProperties" => return retrieve_all(simulator, call, body, session),
        // pyVmomi reads a property with the object's own Fetch: a one-object retrieval.
        "Fetch" => return fetch(simulator, call, &body, session),
        // VI JSON sends RetrieveOptions as an object; SOAP clients may leave it out.
        "RetrievePropertiesEx" if body.get("options").is_none() => {
            body["options"] = json!({"_typeName": "RetrieveOptions"});
        }
        _ => {}
    }
    request.body = body.to_string().into_bytes();
    let (value, new_session) = match run(simulator, &request) {
        Answered::Value(value, session) => (value, session),
        Answered::Fault(fault) => return Err(fault),
        Answered::Busy(busy) => return Ok(busy),
    };
    let returned = match (method, value) {
        (_, None) => String::new(),
        ("RetrieveServiceContent", Some(value)) => xml_as::<vim::ServiceContent>(&value, "returnval")?,
        ("Login", Some(value)) => xml_as::<vim::UserSession>(&value, "returnval")?,
        ("RetrievePropertiesEx" | "ContinueRetrievePropertiesEx", Some(value)) => {
            let empty = value.get("token").is_none()
                && value
                    .get("objects")
                    .and_then(Value::as_array)
                    .is_none_or(|objects| objects.is_empty());
            // vSphere answers nothing, not an empty result, when no object matched.
            if empty {
                String::new()
            } else {
                xml_as::<vim::RetrieveResult>(&value, "returnval")?
            }
        }
        ("CreateContainerView", Some(value)) => xml_as::<vim::ManagedObjectReference>(&value, "returnval")?,
        ("UpdateNetworkConfig", Some(value)) => xml_as::<vim::HostNetworkConfigResult>(&value, "returnval")?,
        ("QueryNetworkHint", Some(Value::Array(hints))) => hints
            .iter()
            .map(|hint| xml_as::<vim::PhysicalNicHintInfo>(hint, "returnval"))
            .collect::<Result<String, VimFault>>()?,
        (_, Some(Value::String(text))) => {
            format!("<returnval>{}</returnval>", quick_xml::escape::escape(text.as_str()))
        }
        (_, Some(_)) => {
            return Err(VimFault::new(
                "SystemError",
                format!("esxnet's simulator cannot write the answer of {method} as SOAP"),
            ))
        }
    };
    Ok(SoapReply {
        status: 200,
        body: response_envelope(method, &returned),
        session: new_session,
    })
}

/// `Fetch(prop)` on any managed object: the property's value, or nothing when it is unset.
fn fetch(simulator: &Simulator, call: &Call, body: &Value, session: Option<String>) -> Result<SoapReply, VimFault> {
    let path = body
        .get("prop")
        .and_then(Value::as_str)
        .ok_or_else(|| VimFault::invalid_request("parameter prop is missing"))?;
    let retrieval = json!({
        "specSet": [{
            "_typeName": "PropertyFilterSpec",
            "propSet": [{"_typeName": "PropertySpec", "type": call.this_type, "pathSet": [path]}],
            "objectSet": [{
                "_typeName": "ObjectSpec",
                "obj": {"_typeName": "ManagedObjectReference", "type": call.this_type, "value": call.this_id},
            }],
        }],
        "options": {"_typeName": "RetrieveOptions"},
    });
    let request = VimRequest {
        is_property_read: false,
        mo_type: "PropertyCollector".to_owned(),
        mo_id: PROPERTY_COLLECTOR.to_owned(),
        name: "RetrievePropertiesEx".to_owned(),
        session,
        body: retrieval.to_string().into_bytes(),
    };
    let value = match run(simulator, &request) {
        Answered::Value(value, _) => value,
        Answered::Fault(fault) => return Err(fault),
        Answered::Busy(busy) => return Ok(busy),
    };
    let property = value
        .as_ref()
        .and_then(|page| page.pointer("/objects/0/propSet/0"))
        .cloned();
    let returned = match property {
        Some(property) => {
            // The property's value as written in a DynamicProperty, renamed to returnval.
            let xml = xml_as::<vim::DynamicProperty>(&property, "property")?;
            match (xml.find("<val"), xml.rfind("</val>")) {
                (Some(start), Some(end)) => format!("<returnval{}</returnval>", &xml[start + 4..end]),
                _ => match xml.find("<val") {
                    Some(start) => xml[start..]
                        .replacen("<val", "<returnval", 1)
                        .replace("</property>", ""),
                    None => String::new(),
                },
            }
        }
        None => String::new(),
    };
    Ok(SoapReply {
        status: 200,
        body: response_envelope("Fetch", &returned),
        session: None,
    })
}

fn retrieve_all(
    simulator: &Simulator,
    call: &Call,
    mut body: Value,
    session: Option<String>,
) -> Result<SoapReply, VimFault> {
    if call.this_id != PROPERTY_COLLECTOR {
        return Err(VimFault::object_not_found(&call.this_type, &call.this_id));
    }
    body["options"] = json!({"_typeName": "RetrieveOptions"});
    let mut request = VimRequest {
        is_property_read: false,
        mo_type: call.this_type.clone(),
        mo_id: call.this_id.clone(),
        name: "RetrievePropertiesEx".to_owned(),
        session,
        body: body.to_string().into_bytes(),
    };
    let mut returned = String::new();
    for _ in 0..MAX_PAGES {
        let value = match run(simulator, &request) {
            Answered::Value(value, _) => value,
            Answered::Fault(fault) => return Err(fault),
            Answered::Busy(busy) => return Ok(busy),
        };
        let Some(page) = value else { break };
        for object in page.get("objects").and_then(Value::as_array).into_iter().flatten() {
            returned.push_str(&xml_as::<vim::ObjectContent>(object, "returnval")?);
        }
        let Some(token) = page.get("token").and_then(Value::as_str) else {
            break;
        };
        request.name = "ContinueRetrievePropertiesEx".to_owned();
        request.body = json!({"token": token}).to_string().into_bytes();
    }
    Ok(SoapReply {
        status: 200,
        body: response_envelope("RetrieveProperties", &returned),
        session: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADD_NIC: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<soapenv:Body><AddVirtualNic xmlns="urn:vim25">
<nic><ip><dhcp>false</dhcp><ipAddress>10.0.0.5</ipAddress><subnetMask>255.255.255.0</subnetMask></ip><netStackInstanceKey>vSphereProvisioning</netStackInstanceKey></nic>
<portgroup>PG &amp; one</portgroup>
<_this type="HostNetworkSystem">networkSystem-1</_this>
</AddVirtualNic></soapenv:Body></soapenv:Envelope>"#;

    #[test]
    fn parameters_are_read_in_any_order_into_the_json_handlers_shape() {
        let call = read_call(ADD_NIC).expect("a call");
        assert_eq!(call.method, "AddVirtualNic");
        assert_eq!(
            (call.this_type.as_str(), call.this_id.as_str()),
            ("HostNetworkSystem", "networkSystem-1")
        );
        let body = json_body(&call).expect("a body");
        assert_eq!(body["portgroup"], "PG & one");
        assert_eq!(body["nic"]["_typeName"], "HostVirtualNicSpec");
        assert_eq!(body["nic"]["ip"]["ipAddress"], "10.0.0.5");
        assert_eq!(body["nic"]["netStackInstanceKey"], "vSphereProvisioning");
    }

    #[test]
    fn malformed_and_hostile_envelopes_are_invalid_requests() {
        let deep = format!(
            "<soapenv:Envelope xmlns:soapenv=\"{SOAP_ENVELOPE_NS}\"><soapenv:Body><AddVirtualNic>{}{}</AddVirtualNic></soapenv:Body></soapenv:Envelope>",
            "<nic>".repeat(10_000),
            "</nic>".repeat(10_000)
        );
        for body in [
            "",
            "not xml",
            "<a><b></a>",
            "<!DOCTYPE x [<!ENTITY e \"e\">]><soapenv:Envelope/>",
            "<Envelope><Body></Body></Envelope>",
            "<Envelope><Body><Logout/></Body></Envelope>",
            "<Envelope><Body><Login><_this type=\"SessionManager\">SessionManager</_this>",
            deep.as_str(),
        ] {
            let fault = read_call(body).and_then(|call| json_body(&call).map(|_| ()));
            assert!(
                matches!(&fault, Err(fault) if fault.type_name == "InvalidRequest"),
                "{body:.80}: {:?}",
                fault.err()
            );
        }
    }

    #[test]
    fn faults_carry_their_type_and_message_in_detail() {
        let envelope = fault_envelope(&VimFault::new("NotFound", "port group <PG> is not on host esx-1"));
        assert!(
            envelope.contains("<faultcode>ServerFaultCode</faultcode>"),
            "{envelope}"
        );
        assert!(
            envelope.contains("<NotFoundFault xmlns=\"urn:vim25\" xsi:type=\"NotFound\">"),
            "{envelope}"
        );
        assert!(
            envelope.contains("port group &lt;PG&gt; is not on host esx-1"),
            "{envelope}"
        );
        // What vim_rs's SOAP client reads out of `detail`, without the envelope's declarations.
        let start = envelope.find("<NotFoundFault").unwrap();
        let end = envelope.find("</detail>").unwrap();
        let fault = vim_rs::xml::de::from_xml::<vim::MethodFault>(&envelope[start..end]).expect("a MethodFault");
        assert_eq!(fault.type_.map(|type_| type_.as_str()), Some("NotFound"));
        let messages = fault.fault_message.unwrap_or_default();
        assert_eq!(
            messages[0].message.as_deref(),
            Some("port group <PG> is not on host esx-1")
        );
    }

    #[test]
    fn properties_in_any_type_slots_say_their_type() {
        let content = json!({
            "_typeName": "ObjectContent",
            "obj": {"_typeName": "ManagedObjectReference", "type": "HostSystem", "value": "host-1"},
            "propSet": [
                {"_typeName": "DynamicProperty", "name": "name", "val": {"_typeName": "string", "_value": "esx-1"}},
                {"_typeName": "DynamicProperty", "name": "configManager.networkSystem",
                 "val": {"_typeName": "ManagedObjectReference", "type": "HostNetworkSystem", "value": "networkSystem-1"}},
                {"_typeName": "DynamicProperty", "name": "network",
                 "val": {"_typeName": "ArrayOfManagedObjectReference", "_value": [
                     {"_typeName": "ManagedObjectReference", "type": "Network", "value": "network-1"}]}},
            ],
        });
        let xml = xml_as::<vim::ObjectContent>(&content, "returnval").unwrap();
        assert!(xml.contains("<val xsi:type=\"xsd:string\">esx-1</val>"), "{xml}");
        assert!(
            xml.contains("<val xsi:type=\"ManagedObjectReference\" type=\"HostNetworkSystem\">networkSystem-1</val>"),
            "{xml}"
        );
        assert!(
            xml.contains("<val xsi:type=\"ArrayOfManagedObjectReference\"><ManagedObjectReference type=\"Network\">network-1</ManagedObjectReference></val>"),
            "{xml}"
        );
        assert!(xml.contains("<obj type=\"HostSystem\">host-1</obj>"), "{xml}");
    }

    #[test]
    fn the_session_cookie_is_read_as_any_client_sends_it() {
        assert_eq!(
            session_from_cookies(["vmware_soap_session=\"abc\""].into_iter()).as_deref(),
            Some("abc")
        );
        assert_eq!(
            session_from_cookies(["vmware_soap_session=\"abc\"; Path=/; HttpOnly; Secure;"].into_iter()).as_deref(),
            Some("abc")
        );
        assert_eq!(
            session_from_cookies(["other=1; vmware_soap_session=xyz"].into_iter()).as_deref(),
            Some("xyz")
        );
        assert_eq!(session_from_cookies(["other=1"].into_iter()), None);
    }
}
