//! The crate's error type and the classification of vSphere faults into esxnet's [`Fault`]s.

use std::error::Error as _;

use esxnet_executor::backend::{BackendError, Fault, FaultKind};
use vim_rs::core::client::Error as VimError;

/// What went wrong talking to a vSphere server. Messages never contain credentials.
#[derive(Debug, thiserror::Error)]
pub enum VsphereError {
    /// The `vsphere://` target could not be read.
    #[error("`{target}` is not a vSphere target: {reason}")]
    InvalidTarget {
        /// The target as given, with any password removed.
        target: String,
        /// Why, and what to write instead.
        reason: String,
    },
    /// The async runtime or the HTTP client could not be set up.
    #[error("could not set up the vSphere client: {detail}")]
    Setup {
        /// What failed.
        detail: String,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The server's TLS certificate was not trusted.
    #[error(
        "the TLS certificate of {server} is not trusted ({detail}): install a certificate that this machine trusts, \
         or add ?insecure=true to the target, for lab servers only"
    )]
    Certificate {
        /// The server.
        server: String,
        /// What the TLS library said.
        detail: String,
        /// The underlying error.
        #[source]
        source: VimError,
    },
    /// A call failed; `fault` and `kind` say how and whether to retry.
    #[error("{method} on {server} failed: {message}")]
    Call {
        /// The vSphere method, such as `AddVirtualSwitch`.
        method: String,
        /// The server.
        server: String,
        /// esxnet's classification.
        fault: Fault,
        /// Whether retrying may help.
        kind: FaultKind,
        /// The server's own message, or what esxnet knows.
        message: String,
        /// The underlying error, when there is one.
        #[source]
        source: Option<VimError>,
    },
    /// The host is not in the server's inventory.
    #[error("host {host} is not known to {server}: use the host's name as the vSphere inventory shows it")]
    UnknownHost {
        /// The host name asked for.
        host: String,
        /// The server.
        server: String,
    },
}

impl VsphereError {
    /// The esxnet fault this error stands for.
    pub fn fault(&self) -> Fault {
        match self {
            VsphereError::InvalidTarget { .. } | VsphereError::Setup { .. } => Fault::InvalidArgument,
            VsphereError::Certificate { .. } => Fault::Connection,
            VsphereError::Call { fault, .. } => *fault,
            VsphereError::UnknownHost { .. } => Fault::UnknownHost,
        }
    }

    /// Whether retrying may help. A refused certificate is a connection fault that retrying
    /// cannot fix, so it is permanent.
    pub fn kind(&self) -> FaultKind {
        match self {
            VsphereError::Call { kind, .. } => *kind,
            VsphereError::Certificate { .. } => FaultKind::Permanent,
            other => other.fault().kind(),
        }
    }

    /// A call error that did not come from the server (a reply esxnet cannot use).
    pub(crate) fn unexpected(method: &str, server: &str, fault: Fault, message: impl Into<String>) -> VsphereError {
        VsphereError::Call {
            method: method.to_owned(),
            server: server.to_owned(),
            fault,
            kind: fault.kind(),
            message: message.into(),
            source: None,
        }
    }
}

impl From<VsphereError> for BackendError {
    fn from(error: VsphereError) -> BackendError {
        let fault = error.fault();
        let kind = error.kind();
        let message = match &error {
            // The executor names the operation itself; keep the server's words.
            VsphereError::Call { message, .. } => message.clone(),
            other => other.to_string(),
        };
        BackendError { fault, kind, message }
    }
}

/// The esxnet fault for a vSphere fault type name (`_typeName` / `xsi:type`).
pub fn fault_for_type_name(type_name: &str) -> Option<Fault> {
    Some(match type_name {
        "AlreadyExists" | "DuplicateName" => Fault::AlreadyExists,
        "NotFound" => Fault::NotFound,
        "ResourceInUse" => Fault::ResourceInUse,
        "InvalidArgument" | "InvalidRequest" | "InvalidType" => Fault::InvalidArgument,
        "InvalidState" | "HostNotConnected" => Fault::InvalidState,
        "HostConfigFault" | "PlatformConfigFault" | "MethodDisabled" | "SystemError" => Fault::HostConfig,
        "MethodNotFound" | "ManagedObjectNotFound" | "NotImplemented" | "NotSupported" => Fault::NotImplemented,
        "InvalidLogin" | "NotAuthenticated" | "NoPermission" => Fault::NotAuthenticated,
        "RequestCanceled" | "HostCommunication" => Fault::Connection,
        _ => return None,
    })
}

/// The message of a vSphere fault: its `faultMessage` texts, else a `message` field, else nothing.
fn fault_text(fault: &vim_rs::types::structs::MethodFault) -> Option<String> {
    let from_messages: Vec<String> = fault
        .fault_message
        .iter()
        .flatten()
        .filter_map(|message| message.message.clone().filter(|text| !text.is_empty()))
        .collect();
    if !from_messages.is_empty() {
        return Some(from_messages.join("; "));
    }
    for field in ["message", "msg", "faultstring", "localizedMessage"] {
        if let Some(miniserde::json::Value::String(text)) = fault.extra_fields_.get(field) {
            if !text.is_empty() {
                return Some(text.clone());
            }
        }
    }
    fault.fault_cause.as_deref().and_then(fault_text)
}

/// Every message in an error's source chain, lower-cased, for recognising TLS and HTTP failures.
fn chain_text(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(source) = next {
        text.push_str(": ");
        text.push_str(&source.to_string());
        next = source.source();
    }
    text
}

/// Classifies a failed `vim_rs` call to `method` on `server`.
///
/// The rules: typed vSphere faults by their type; a method or object the server lacks is
/// [`Fault::NotImplemented`]; refused credentials are [`Fault::NotAuthenticated`]; an untrusted
/// certificate is the permanent [`VsphereError::Certificate`]; connection failures, timeouts and
/// busy answers (HTTP 503/429) are transient.
pub fn classify(error: VimError, method: &str, server: &str) -> VsphereError {
    let call = |fault: Fault, kind: FaultKind, message: String, source: VimError| VsphereError::Call {
        method: method.to_owned(),
        server: server.to_owned(),
        fault,
        kind,
        message,
        source: Some(source),
    };
    let not_implemented = format!("{method} is not implemented by this server ({server})");
    let not_authenticated = "the server refused the user name or password".to_owned();
    match &error {
        VimError::MethodFault(fault) => {
            let type_name = fault.type_.map(|type_| type_.as_str()).unwrap_or("MethodFault");
            let text = fault_text(fault);
            match fault_for_type_name(type_name) {
                Some(Fault::NotImplemented) => {
                    let message = match text {
                        Some(text) => format!("{not_implemented}: {text}"),
                        None => not_implemented,
                    };
                    call(Fault::NotImplemented, FaultKind::Permanent, message, error)
                }
                Some(Fault::NotAuthenticated) if type_name == "InvalidLogin" => {
                    call(Fault::NotAuthenticated, FaultKind::Permanent, not_authenticated, error)
                }
                Some(fault_kind) => {
                    let message = text.unwrap_or_else(|| format!("the server answered {type_name}"));
                    call(fault_kind, fault_kind.kind(), message, error)
                }
                None => {
                    // An unknown fault type is a refusal esxnet has no rule for: permanent.
                    let message = match text {
                        Some(text) => format!("{type_name}: {text}"),
                        None => format!("the server answered {type_name}"),
                    };
                    call(Fault::HostConfig, FaultKind::Permanent, message, error)
                }
            }
        }
        VimError::ReqwestError(http) => {
            let detail = chain_text(http.as_ref());
            let lower = detail.to_lowercase();
            if lower.contains("certificate") || lower.contains("unknownissuer") || lower.contains("self signed") {
                let detail = http.source().map(chain_text).unwrap_or_else(|| detail.clone());
                return VsphereError::Certificate {
                    server: server.to_owned(),
                    detail,
                    source: error,
                };
            }
            if http.is_timeout() {
                return call(
                    Fault::Timeout,
                    FaultKind::Transient,
                    format!("{server} did not answer in time"),
                    error,
                );
            }
            if let Some(status) = http.status() {
                let code = status.as_u16();
                return match code {
                    503 | 429 => call(
                        Fault::Busy,
                        FaultKind::Transient,
                        format!("{server} is busy (HTTP {code}): try again later"),
                        error,
                    ),
                    401 | 403 => call(Fault::NotAuthenticated, FaultKind::Permanent, not_authenticated, error),
                    404 | 405 | 501 => call(Fault::NotImplemented, FaultKind::Permanent, not_implemented, error),
                    502 | 504 => call(
                        Fault::Connection,
                        FaultKind::Transient,
                        format!("a gateway in front of {server} failed (HTTP {code})"),
                        error,
                    ),
                    _ => call(
                        Fault::HostConfig,
                        FaultKind::Permanent,
                        format!("{server} answered HTTP {code}"),
                        error,
                    ),
                };
            }
            call(
                Fault::Connection,
                FaultKind::Transient,
                format!("could not reach {server}: {detail}"),
                error,
            )
        }
        VimError::ParseError(text) => {
            // SOAP faults without a typed detail and unreadable answers land here; the text is
            // the server's faultstring or a note with the HTTP status.
            let lower = text.to_lowercase();
            let (fault, kind, message) = if lower.contains("http 503") || lower.contains("http 429") {
                (Fault::Busy, FaultKind::Transient, format!("{server} is busy: {text}"))
            } else if lower.contains("methodnotfound")
                || lower.contains("managedobjectnotfound")
                || lower.contains("not implemented")
                || lower.contains("does not implement")
                || lower.contains("http 404")
            {
                (
                    Fault::NotImplemented,
                    FaultKind::Permanent,
                    format!("{not_implemented}: {text}"),
                )
            } else if lower.contains("invalidlogin") || lower.contains("incorrect user name or password") {
                (Fault::NotAuthenticated, FaultKind::Permanent, not_authenticated)
            } else if lower.contains("http 502") || lower.contains("http 504") {
                (
                    Fault::Connection,
                    FaultKind::Transient,
                    format!("{server} is unreachable: {text}"),
                )
            } else {
                (Fault::HostConfig, FaultKind::Permanent, text.clone())
            };
            call(fault, kind, message, error)
        }
        VimError::MissingOrInvalidSessionKey => call(
            Fault::NotAuthenticated,
            FaultKind::Permanent,
            "the server did not hand out a session: check the user's permissions".to_owned(),
            error,
        ),
        VimError::InvalidObjectType(found, expected) => {
            let message = format!("the server answered a {found} where esxnet expected a {expected}");
            call(Fault::HostConfig, FaultKind::Permanent, message, error)
        }
        VimError::CannotNegotiateAPIRelease(releases) => {
            let message = format!(
                "{server} supports none of the API releases {}: use transport=soap",
                releases.join(", ")
            );
            call(Fault::NotImplemented, FaultKind::Permanent, message, error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use vim_rs::types::struct_enum::StructType;
    use vim_rs::types::structs::{LocalizableMessage, MethodFault};

    fn method_fault(type_: StructType, message: Option<&str>) -> VimError {
        VimError::MethodFault(Arc::new(MethodFault {
            fault_cause: None,
            fault_message: message.map(|text| {
                vec![LocalizableMessage {
                    key: "test".to_owned(),
                    arg: None,
                    message: Some(text.to_owned()),
                }]
            }),
            type_: Some(type_),
            extra_fields_: Default::default(),
        }))
    }

    fn backend(error: VimError, method: &str) -> BackendError {
        classify(error, method, "vc.lab").into()
    }

    #[test]
    fn typed_faults_keep_their_kind_and_the_servers_message() {
        for (type_, fault) in [
            (StructType::AlreadyExists, Fault::AlreadyExists),
            (StructType::NotFound, Fault::NotFound),
            (StructType::ResourceInUse, Fault::ResourceInUse),
            (StructType::InvalidArgument, Fault::InvalidArgument),
            (StructType::InvalidState, Fault::InvalidState),
            (StructType::HostConfigFault, Fault::HostConfig),
            (StructType::PlatformConfigFault, Fault::HostConfig),
        ] {
            let error = backend(
                method_fault(type_, Some("switch vSwitch9 is busy")),
                "RemoveVirtualSwitch",
            );
            assert_eq!(error.fault, fault, "{type_:?}");
            assert_eq!(error.kind, FaultKind::Permanent);
            assert_eq!(error.message, "switch vSwitch9 is busy");
        }
        let untexted = backend(method_fault(StructType::NotFound, None), "RemovePortGroup");
        assert_eq!(untexted.message, "the server answered NotFound");
    }

    #[test]
    fn missing_methods_are_not_implemented_with_a_clear_message() {
        for type_ in [StructType::MethodNotFound, StructType::ManagedObjectNotFound] {
            let error = backend(method_fault(type_, None), "AddVirtualNic");
            assert_eq!(error.fault, Fault::NotImplemented);
            assert_eq!(error.kind, FaultKind::Permanent);
            assert_eq!(
                error.message,
                "AddVirtualNic is not implemented by this server (vc.lab)"
            );
        }
        let soap_text = VimError::ParseError("HostNetworkSystem:hns-1 does not implement: AddVirtualNic".to_owned());
        assert_eq!(backend(soap_text, "AddVirtualNic").fault, Fault::NotImplemented);
    }

    #[test]
    fn refused_logins_are_not_authenticated() {
        let error = backend(
            method_fault(StructType::InvalidLogin, Some("Cannot complete login")),
            "Login",
        );
        assert_eq!(error.fault, Fault::NotAuthenticated);
        assert_eq!(error.message, "the server refused the user name or password");
        assert_eq!(error.kind, FaultKind::Permanent);
    }

    #[test]
    fn busy_and_unknown_answers() {
        let busy = backend(
            VimError::ParseError("HTTP 503 Service Unavailable (login): no SOAP fault recognised".to_owned()),
            "Login",
        );
        assert_eq!(busy.fault, Fault::Busy);
        assert!(busy.is_transient());
        let canceled = backend(method_fault(StructType::RequestCanceled, None), "RetrievePropertiesEx");
        assert_eq!(canceled.fault, Fault::Connection);
        assert!(canceled.is_transient());
        let odd = backend(method_fault(StructType::VmConfigFault, Some("odd")), "AddPortGroup");
        assert_eq!(odd.fault, Fault::HostConfig);
        assert_eq!(odd.kind, FaultKind::Permanent);
        assert_eq!(odd.message, "VmConfigFault: odd");
    }

    #[test]
    fn messages_come_from_extra_fields_and_causes_too() {
        let mut extra = std::collections::HashMap::new();
        extra.insert(
            "message".to_owned(),
            miniserde::json::Value::String("from the body".to_owned()),
        );
        let fault = MethodFault {
            fault_cause: None,
            fault_message: None,
            type_: Some(StructType::InvalidArgument),
            extra_fields_: extra,
        };
        assert_eq!(fault_text(&fault).as_deref(), Some("from the body"));
        let wrapped = MethodFault {
            fault_cause: Some(Box::new(fault)),
            fault_message: None,
            type_: Some(StructType::HostConfigFault),
            extra_fields_: Default::default(),
        };
        assert_eq!(fault_text(&wrapped).as_deref(), Some("from the body"));
    }

    #[test]
    fn certificate_errors_are_permanent_and_say_what_to_do() {
        let error = VsphereError::unexpected("Login", "vc.lab", Fault::Connection, "x");
        assert!(error.kind() == FaultKind::Transient);
        let message = "the TLS certificate of vc.lab is not trusted";
        let certificate = VsphereError::Certificate {
            server: "vc.lab".to_owned(),
            detail: "invalid peer certificate: UnknownIssuer".to_owned(),
            source: VimError::ParseError("x".to_owned()),
        };
        let backend_error = BackendError::from(certificate);
        assert_eq!(backend_error.kind, FaultKind::Permanent);
        assert!(backend_error.message.starts_with(message), "{}", backend_error.message);
        assert!(backend_error.message.contains("?insecure=true"));
        assert!(backend_error.message.contains("lab servers only"));
    }
}
