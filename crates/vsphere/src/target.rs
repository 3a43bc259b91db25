//! `vsphere://USER@SERVER[:PORT][?insecure=true&transport=json|soap|auto]` targets and the password.

use std::fmt;

use crate::error::VsphereError;

/// The scheme of a vSphere target.
const SCHEME: &str = "vsphere://";

/// Which wire protocol to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transport {
    /// VI JSON (vCenter 8.0U1 and later, esxnet's `sim serve`).
    Json,
    /// SOAP at `/sdk` (ESXi, older vCenter, govmomi's vcsim).
    Soap,
    /// Probe the VI JSON hello endpoint and fall back to SOAP when it does not answer.
    #[default]
    Auto,
}

impl Transport {
    /// The spelling used in a target's query.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Json => "json",
            Transport::Soap => "soap",
            Transport::Auto => "auto",
        }
    }
}

/// A parsed `vsphere://` target. It holds no password: that is passed to
/// [`crate::VsphereBackend::connect`] separately, so a target can be printed and stored freely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VsphereTarget {
    /// The user name, such as `administrator@vsphere.local` (percent-encoded `@` is decoded).
    pub user: String,
    /// The server's host name or IP address (IPv6 without brackets).
    pub server: String,
    /// The HTTPS port when not 443.
    pub port: Option<u16>,
    /// Accept any TLS certificate. Only for lab servers.
    pub insecure: bool,
    /// Which wire protocol to speak.
    pub transport: Transport,
}

impl VsphereTarget {
    /// Parses `vsphere://USER@SERVER[:PORT][?insecure=true&transport=json|soap|auto]`.
    ///
    /// A password in the URL (`USER:PASSWORD@`) is refused, and the refusal does not repeat it:
    /// passwords come from `ESXNET_PASSWORD` or a prompt.
    pub fn parse(text: &str) -> Result<VsphereTarget, VsphereError> {
        // Errors quote the target only up to the user part, which never holds a password once
        // `USER:PASSWORD@` is refused below; until then quote nothing of what follows the scheme.
        let invalid = |reason: &str| VsphereError::InvalidTarget {
            target: redacted_for_errors(text),
            reason: reason.to_owned(),
        };
        let rest = text.strip_prefix(SCHEME).ok_or_else(|| {
            invalid("it must start with vsphere://, as in vsphere://administrator@vcenter.example.com")
        })?;
        if rest.contains('#') {
            return Err(invalid(
                "it must not have a #fragment: write vsphere://USER@SERVER[:PORT][?OPTIONS] and set ESXNET_PASSWORD for the password",
            ));
        }
        let (authority, query) = match rest.split_once('?') {
            Some((authority, query)) => (authority, Some(query)),
            None => (rest, None),
        };
        let authority = authority.strip_suffix('/').unwrap_or(authority);
        if authority.contains('/') {
            return Err(invalid("it must not have a path: write vsphere://USER@SERVER[:PORT]"));
        }
        let (user, host_port) = authority
            .rsplit_once('@')
            .ok_or_else(|| invalid("it has no user name: write vsphere://USER@SERVER"))?;
        if user.contains(':') {
            return Err(invalid(
                "it must not contain a password: remove it from the target and set ESXNET_PASSWORD instead",
            ));
        }
        let user = percent_decode(user).ok_or_else(|| invalid("its user name has a bad %-escape"))?;
        if user.is_empty() {
            return Err(invalid("its user name is empty: write vsphere://USER@SERVER"));
        }
        let (server, port) = split_host_port(host_port).map_err(|reason| invalid(&reason))?;
        if server.is_empty() {
            return Err(invalid("its server name is empty: write vsphere://USER@SERVER"));
        }
        if !server
            .chars()
            .all(|character| character.is_ascii_alphanumeric() || matches!(character, '.' | '-' | ':' | '_'))
        {
            return Err(invalid("its server name has characters a host name cannot have"));
        }
        let mut target = VsphereTarget {
            user,
            server,
            port,
            insecure: false,
            transport: Transport::default(),
        };
        for pair in query
            .into_iter()
            .flat_map(|query| query.split('&'))
            .filter(|pair| !pair.is_empty())
        {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "insecure" => {
                    target.insecure = match value {
                        "true" | "1" | "yes" => true,
                        "false" | "0" | "no" => false,
                        _ => return Err(invalid("insecure must be true or false")),
                    }
                }
                "transport" => {
                    target.transport = match value {
                        "json" => Transport::Json,
                        "soap" => Transport::Soap,
                        "auto" => Transport::Auto,
                        _ => return Err(invalid("transport must be json, soap or auto")),
                    }
                }
                _ => {
                    return Err(invalid(&format!(
                        "it has an unknown option{}: the options are insecure and transport",
                        option_name(key)
                    )))
                }
            }
        }
        Ok(target)
    }

    /// `SERVER[:PORT]` as an HTTPS authority, with IPv6 addresses in brackets.
    pub fn authority(&self) -> String {
        let host = if self.server.contains(':') {
            format!("[{}]", self.server)
        } else {
            self.server.clone()
        };
        match self.port {
            Some(port) => format!("{host}:{port}"),
            None => host,
        }
    }
}

impl fmt::Display for VsphereTarget {
    /// `vsphere://USER@SERVER[:PORT]`: what [`esxnet_executor::backend::Backend::describe`] shows.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{SCHEME}{}@{}", self.user, self.authority())
    }
}

/// A password that never shows in `Debug` or `Display` output.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Wraps a password.
    pub fn new(password: impl Into<String>) -> Password {
        Password(password.into())
    }

    /// The password itself, for the login call only.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Password {
    fn from(password: String) -> Password {
        Password(password)
    }
}

impl From<&str> for Password {
    fn from(password: &str) -> Password {
        Password(password.to_owned())
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("Password(<redacted>)")
    }
}

/// What an error may quote of a target that failed to parse: everything before any `:…@`
/// credentials is replaced, so a password typed into a URL never reaches a message.
fn redacted_for_errors(text: &str) -> String {
    let Some(rest) = text.strip_prefix(SCHEME) else {
        // Not ours at all: quote only the scheme-ish start so a stray secret is not echoed.
        return text
            .split("://")
            .next()
            .unwrap_or_default()
            .chars()
            .take(16)
            .collect::<String>()
            + "://…";
    };
    let authority_end = rest.find(['?', '/', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let host_like = |text: &str| {
        text.chars()
            .all(|character| character.is_ascii_alphanumeric() || ".-:_[]%".contains(character))
    };
    let authority = match authority.rsplit_once('@') {
        Some((user, server)) => {
            let user = user.split(':').next().unwrap_or_default();
            let server = if host_like(server) { server } else { "…" };
            format!("{user}@{server}")
        }
        None if host_like(authority) => authority.to_owned(),
        None => "…".to_owned(),
    };
    // Of the query, only the options esxnet knows with values it accepts; a fragment never.
    let query = tail.strip_prefix('?').map(|query| {
        let pairs: Vec<String> = query
            .split('#')
            .next()
            .unwrap_or_default()
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| match pair.split_once('=') {
                Some(("insecure", "true" | "1" | "yes" | "false" | "0" | "no"))
                | Some(("transport", "json" | "soap" | "auto")) => pair.to_owned(),
                _ => "…".to_owned(),
            })
            .collect();
        format!("?{}", pairs.join("&"))
    });
    format!("{SCHEME}{authority}{}", query.unwrap_or_default())
}

/// An unknown option's name, when it looks like one (a stray secret does not get echoed).
fn option_name(key: &str) -> String {
    if !key.is_empty() && key.len() <= 24 && key.chars().all(|character| character.is_ascii_alphabetic()) {
        format!(" `{key}`")
    } else {
        String::new()
    }
}

/// Splits `HOST[:PORT]` or `[IPV6][:PORT]`.
fn split_host_port(text: &str) -> Result<(String, Option<u16>), String> {
    let parse_port = |port: &str| -> Result<Option<u16>, String> {
        match port.parse::<u16>() {
            Ok(0) | Err(_) => Err(format!("its port `{port}` is not a number from 1 to 65535")),
            Ok(port) => Ok(Some(port)),
        }
    };
    if let Some(bracketed) = text.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or_else(|| "its IPv6 address has no closing ]".to_owned())?;
        let port = match after.strip_prefix(':') {
            Some(port) => parse_port(port)?,
            None if after.is_empty() => None,
            None => return Err("text follows its IPv6 address: write [ADDRESS]:PORT".to_owned()),
        };
        return Ok((host.to_owned(), port));
    }
    match text.split_once(':') {
        Some((host, port)) => Ok((host.to_owned(), parse_port(port)?)),
        None => Ok((text.to_owned(), None)),
    }
}

/// Decodes `%XX` escapes (user names such as `administrator%40vsphere.local`).
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = text.get(index + 1..index + 3)?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            index += 3;
        } else {
            decoded.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(decoded).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_user_server_and_defaults() {
        let target = VsphereTarget::parse("vsphere://root@esx01.lab").unwrap();
        assert_eq!(target.user, "root");
        assert_eq!(target.server, "esx01.lab");
        assert_eq!(target.port, None);
        assert!(!target.insecure);
        assert_eq!(target.transport, Transport::Auto);
        assert_eq!(target.to_string(), "vsphere://root@esx01.lab");
        assert_eq!(target.authority(), "esx01.lab");
    }

    #[test]
    fn parses_port_and_query_flags() {
        let target =
            VsphereTarget::parse("vsphere://administrator%40vsphere.local@127.0.0.1:8989?insecure=true&transport=soap")
                .unwrap();
        assert_eq!(target.user, "administrator@vsphere.local");
        assert_eq!(target.server, "127.0.0.1");
        assert_eq!(target.port, Some(8989));
        assert!(target.insecure);
        assert_eq!(target.transport, Transport::Soap);
        // The description carries neither query flags nor secrets.
        assert_eq!(
            target.to_string(),
            "vsphere://administrator@vsphere.local@127.0.0.1:8989"
        );
        let json = VsphereTarget::parse("vsphere://a@b?transport=json&insecure=false").unwrap();
        assert_eq!(json.transport, Transport::Json);
        assert!(!json.insecure);
    }

    #[test]
    fn user_names_with_a_literal_at_sign_split_at_the_last_one() {
        let target = VsphereTarget::parse("vsphere://administrator@vsphere.local@vc.lab:443").unwrap();
        assert_eq!(target.user, "administrator@vsphere.local");
        assert_eq!(target.server, "vc.lab");
        assert_eq!(target.port, Some(443));
    }

    #[test]
    fn parses_bracketed_ipv6() {
        let target = VsphereTarget::parse("vsphere://root@[::1]:8443").unwrap();
        assert_eq!(target.server, "::1");
        assert_eq!(target.port, Some(8443));
        assert_eq!(target.authority(), "[::1]:8443");
    }

    #[test]
    fn refuses_bad_targets() {
        for bad in [
            "https://root@esx01",
            "vsphere://esx01",
            "vsphere://@esx01",
            "vsphere://root@",
            "vsphere://root@esx01:0",
            "vsphere://root@esx01:70000",
            "vsphere://root@esx01:abc",
            "vsphere://root@esx01/sdk",
            "vsphere://root@esx01?insecure=maybe",
            "vsphere://root@esx01?transport=rest",
            "vsphere://root@esx01?colour=blue",
            "vsphere://root@esx 01",
            "vsphere://root@[::1",
        ] {
            let error = VsphereTarget::parse(bad).expect_err(bad);
            assert!(matches!(error, VsphereError::InvalidTarget { .. }), "{bad}: {error}");
        }
    }

    #[test]
    fn a_password_in_the_url_is_refused_without_being_repeated() {
        let error = VsphereTarget::parse("vsphere://root:Sekr3t!@esx01?insecure=true").unwrap_err();
        let message = error.to_string();
        assert!(!message.contains("Sekr3t"), "{message}");
        assert!(!format!("{error:?}").contains("Sekr3t"));
        assert!(message.contains("ESXNET_PASSWORD"), "{message}");
        assert!(message.contains("vsphere://root@esx01"), "{message}");
        let other_scheme = VsphereTarget::parse("https://root:Sekr3t!@esx01").unwrap_err();
        assert!(!other_scheme.to_string().contains("Sekr3t"), "{other_scheme}");
    }

    #[test]
    fn a_password_in_the_query_or_fragment_is_never_repeated() {
        for text in [
            "vsphere://root@esx01?password=Sekr3t",
            "vsphere://root@esx01?insecure=true&Sekr3t",
            "vsphere://root@esx01?insecure=Sekr3t",
            "vsphere://root@esx01#Sekr3t",
            "vsphere://root@esx01?insecure=true#Sekr3t",
            "vsphere://root@esx01#pw=Sekr3t?insecure=true",
            "vsphere://root@Sekr3t!?insecure=true",
        ] {
            let error = VsphereTarget::parse(text).expect_err(text);
            let message = error.to_string();
            assert!(!message.contains("Sekr3t"), "{text}: {message}");
            assert!(!format!("{error:?}").contains("Sekr3t"), "{text}");
        }
        // What helps fix a typo is still said.
        let message = VsphereTarget::parse("vsphere://root@esx01?insecur=true&transport=soap")
            .unwrap_err()
            .to_string();
        assert!(message.contains("`insecur`"), "{message}");
        assert!(message.contains("vsphere://root@esx01?…&transport=soap"), "{message}");
    }

    #[test]
    fn passwords_do_not_print() {
        let password = Password::new("Sekr3t!");
        assert_eq!(format!("{password:?}"), "Password(<redacted>)");
        assert_eq!(password.expose(), "Sekr3t!");
    }
}
