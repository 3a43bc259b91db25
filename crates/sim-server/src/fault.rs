//! vSphere faults as the VI JSON API sends them, and the passage of every answer through vim_rs's
//! own types.

use esxnet_executor::Fault;
use esxnet_sim::SimError;
use serde_json::{json, Value};

/// A vSphere `MethodFault` to answer with: its wire type name and the message a person reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VimFault {
    /// The fault's `_typeName`, such as `NotFound`.
    pub(crate) type_name: &'static str,
    /// The localized message, also sent as the top-level `message` field.
    pub(crate) message: String,
}

impl VimFault {
    pub(crate) fn new(type_name: &'static str, message: impl Into<String>) -> Self {
        VimFault {
            type_name,
            message: message.into(),
        }
    }

    /// The fault ESXi would raise for a simulator error, carrying the simulator's own message so a
    /// client sees the same error as on the `sim:` target.
    pub(crate) fn from_sim(error: &SimError) -> Self {
        let type_name = match error.fault() {
            Fault::AlreadyExists => "AlreadyExists",
            Fault::NotFound => "NotFound",
            Fault::ResourceInUse => "ResourceInUse",
            Fault::InvalidArgument => "InvalidArgument",
            Fault::InvalidState => "InvalidState",
            Fault::HostConfig => "HostConfigFault",
            Fault::NotImplemented => "NotSupported",
            Fault::NotAuthenticated => "NotAuthenticated",
            Fault::UnknownHost => "ManagedObjectNotFound",
            Fault::Connection => "HostCommunication",
            Fault::Timeout => "RequestCanceled",
            // A busy lab (another writer) and broken lab storage are the server's trouble, not
            // the request's: vCenter answers such trouble with SystemError.
            Fault::Busy | Fault::Storage => "SystemError",
        };
        VimFault::new(type_name, error.to_string())
    }

    pub(crate) fn method_not_found(mo_type: &str, method: &str) -> Self {
        VimFault::new(
            "MethodNotFound",
            format!("esxnet's simulator does not serve {mo_type}.{method}"),
        )
    }

    pub(crate) fn object_not_found(mo_type: &str, mo_id: &str) -> Self {
        VimFault::new(
            "ManagedObjectNotFound",
            format!("the managed object {mo_type}:{mo_id} does not exist"),
        )
    }

    pub(crate) fn invalid_request(message: impl Into<String>) -> Self {
        VimFault::new("InvalidRequest", message)
    }

    pub(crate) fn invalid_argument(message: impl Into<String>) -> Self {
        VimFault::new("InvalidArgument", message)
    }

    pub(crate) fn not_supported(message: impl Into<String>) -> Self {
        VimFault::new("NotSupported", message)
    }

    /// The fault as a VI JSON body: `faultMessage` for clients that read the localized messages,
    /// `message` for those that read vCenter's top-level text.
    pub(crate) fn to_wire(&self) -> String {
        let body = json!({
            "_typeName": self.type_name,
            "faultMessage": [{
                "_typeName": "LocalizableMessage",
                "key": format!("esxnet.sim.{}", self.type_name),
                "message": self.message,
            }],
            "message": self.message,
        });
        // The fault goes through vim_rs's MethodFault like every answer; if that ever failed the
        // plain JSON still carries the type and message.
        through_vim::<vim_rs::types::structs::MethodFault>(&body).unwrap_or_else(|_| body.to_string())
    }
}

/// Reads `value` as the vim_rs type `T` and writes it back with vim_rs's serializer, so what goes
/// on the wire is exactly what vim_rs produces for `T` (and a value vim_rs cannot read never
/// leaves the server).
pub(crate) fn through_vim<T>(value: &Value) -> Result<String, VimFault>
where
    T: miniserde::Deserialize + miniserde::Serialize,
{
    let typed: T = read_as_vim(value).map_err(|_| {
        VimFault::new(
            "SystemError",
            format!(
                "esxnet's simulator built a {} that vim_rs cannot read; this is a bug in esxnet-sim-server",
                short_type_name::<T>()
            ),
        )
    })?;
    Ok(miniserde::json::to_string(&typed))
}

/// [`through_vim`] of a `RetrieveResult` with `objects` and `token`, read and written one
/// `ObjectContent` at a time into text of the exact size. Read whole, a 25-host answer was one
/// vim_rs value of a few megabytes, written into text that grew by doubling: a sixth of
/// `sim serve`'s CPU in a 200-host apply, most of it the kernel zeroing fresh memory. The text is
/// the one [`through_vim`] writes (a test holds them equal).
pub(crate) fn retrieve_result_text(token: Option<String>, objects: &[Value]) -> Result<String, VimFault> {
    let shell = miniserde::json::to_string(&vim_rs::types::structs::RetrieveResult {
        token,
        objects: Vec::new(),
    });
    const EMPTY_OBJECTS: &str = "\"objects\":[]";
    let Some(at) = shell.find(EMPTY_OBJECTS) else {
        return Err(VimFault::new(
            "SystemError",
            "esxnet's simulator could not write a RetrieveResult; this is a bug in esxnet-sim-server",
        ));
    };
    let (head, tail) = shell.split_at(at + EMPTY_OBJECTS.len() - 1);
    let texts = objects
        .iter()
        .map(through_vim::<vim_rs::types::structs::ObjectContent>)
        .collect::<Result<Vec<String>, VimFault>>()?;
    let commas = texts.len().saturating_sub(1);
    let length = head.len() + tail.len() + commas + texts.iter().map(String::len).sum::<usize>();
    let mut out = String::with_capacity(length);
    out.push_str(head);
    for (index, text) in texts.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        out.push_str(text);
    }
    out.push_str(tail);
    Ok(out)
}

/// Checks that a request parameter is a well-formed vim_rs `T`, as vSphere checks a request
/// against its schema before the method runs.
pub(crate) fn check_parameter<T>(value: &Value, parameter: &str) -> Result<(), VimFault>
where
    T: miniserde::Deserialize,
{
    read_as_vim::<T>(value).map(|_| ()).map_err(|_| {
        VimFault::invalid_request(format!(
            "parameter {parameter} is not a valid {}",
            short_type_name::<T>()
        ))
    })
}

/// Reads `value` as the vim_rs type `T`, as `miniserde::json::from_str` reads the value's JSON
/// text, without writing the text: the value drives `T`'s visitor directly. Printing each answer
/// and reading it back was a quarter of `sim serve`'s CPU in the apply benchmark.
pub(crate) fn read_as_vim<T: miniserde::Deserialize>(value: &Value) -> miniserde::Result<T> {
    let mut out = None;
    drive(value, T::begin(&mut out))?;
    out.ok_or(miniserde::Error)
}

/// Hands `value` to `visitor` the way miniserde's JSON reader hands it the value's text: a number
/// as `nonnegative` when it fits a `u64`, `negative` when it fits an `i64`, `float` otherwise, and
/// an object's members in the order the value keeps them.
fn drive(value: &Value, visitor: &mut dyn miniserde::de::Visitor) -> miniserde::Result<()> {
    match value {
        Value::Null => visitor.null(),
        Value::Bool(boolean) => visitor.boolean(*boolean),
        Value::Number(number) => match (number.as_u64(), number.as_i64(), number.as_f64()) {
            (Some(nonnegative), _, _) => visitor.nonnegative(nonnegative),
            (None, Some(negative), _) => visitor.negative(negative),
            (None, None, Some(float)) => visitor.float(float),
            (None, None, None) => Err(miniserde::Error),
        },
        Value::String(string) => visitor.string(string),
        Value::Array(items) => {
            let mut seq = visitor.seq()?;
            for item in items {
                drive(item, seq.element()?)?;
            }
            seq.finish()
        }
        Value::Object(members) => {
            let mut map = visitor.map()?;
            for (key, member) in members {
                drive(member, map.key(key)?)?;
            }
            map.finish()
        }
    }
}

fn short_type_name<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    full.rsplit("::").next().unwrap_or(full)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vim_rs::types::structs as vim;

    /// What the value's JSON text reads as, the way the server read every answer before.
    fn through_text<T: miniserde::Deserialize + miniserde::Serialize>(value: &Value) -> Option<String> {
        miniserde::json::from_str::<T>(&value.to_string())
            .ok()
            .map(|typed| miniserde::json::to_string(&typed))
    }

    #[test]
    fn a_retrieve_result_written_an_object_at_a_time_is_the_one_written_whole() {
        let object = |name: &str, id: &str| {
            let host =
                esxnet_sim::host::SimHost::new_installed(name, 1, esxnet_model::common::EsxiVersion::new(8, 0, 3))
                    .expect("a fresh host");
            json!({
                "_typeName": "ObjectContent",
                "obj": {"_typeName": "ManagedObjectReference", "type": "HostNetworkSystem", "value": id},
                "propSet": [
                    {"_typeName": "DynamicProperty", "name": "networkInfo", "val": crate::inventory::network_info(host.observed())},
                    {"_typeName": "DynamicProperty", "name": "name", "val": {"_typeName": "string", "_value": name}},
                ],
            })
        };
        let objects = [
            object("esx-01.lab", "networkSystem-1"),
            object("esx-02.lab", "networkSystem-2"),
            object("esx-03.lab", "networkSystem-3"),
        ];
        for count in [0, 1, 3] {
            for token in [None, Some("esxnet-retrieve-7".to_owned())] {
                let mut whole = json!({"_typeName": "RetrieveResult", "objects": objects[..count]});
                if let Some(token) = &token {
                    whole["token"] = json!(token);
                }
                let expected = through_vim::<vim::RetrieveResult>(&whole).expect("the whole result is vim_rs's");
                let written = retrieve_result_text(token.clone(), &objects[..count]).expect("written");
                assert_eq!(written, expected, "{count} objects, token {token:?}");
                assert_eq!(written.len(), written.capacity(), "written into text of the exact size");
            }
        }
        // An object vim_rs cannot read is refused, as it is when the result is read whole.
        let broken = vec![json!({"_typeName": "ObjectContent", "obj": "not a reference"})];
        assert!(retrieve_result_text(None, &broken).is_err());
        assert!(
            through_vim::<vim::RetrieveResult>(&json!({"_typeName": "RetrieveResult", "objects": broken})).is_err()
        );
    }

    #[test]
    fn a_value_reads_as_vim_as_its_json_text_does() {
        let host =
            esxnet_sim::host::SimHost::new_installed("esx-01.lab", 1, esxnet_model::common::EsxiVersion::new(8, 0, 3))
                .expect("a fresh host");
        let info = crate::inventory::network_info(host.observed());
        assert_eq!(
            through_vim::<vim::HostNetworkInfo>(&info).ok(),
            through_text::<vim::HostNetworkInfo>(&info)
        );
        assert!(through_vim::<vim::HostNetworkInfo>(&info).is_ok_and(|text| text.contains("vSwitch0")));
        // Every kind of number, and a value of the wrong shape, read alike both ways.
        for value in [
            json!({"_typeName": "HostVirtualSwitchSpec", "numPorts": 128, "mtu": 9000}),
            json!({"_typeName": "HostVirtualSwitchSpec", "numPorts": -1}),
            json!({"_typeName": "HostVirtualSwitchSpec", "numPorts": 1.5}),
            json!({"_typeName": "HostVirtualSwitchSpec", "numPorts": u64::MAX}),
            json!({"_typeName": "HostVirtualSwitchSpec", "numPorts": "many"}),
            json!({"_typeName": "HostVirtualSwitchSpec", "policy": [1, 2]}),
            json!([{"numPorts": 1}]),
            Value::Null,
        ] {
            assert_eq!(
                through_vim::<vim::HostVirtualSwitchSpec>(&value).ok(),
                through_text::<vim::HostVirtualSwitchSpec>(&value),
                "{value}"
            );
        }
        assert!(read_as_vim::<vim::HostVirtualSwitchSpec>(&json!({"numPorts": "many"})).is_err());
    }
}
