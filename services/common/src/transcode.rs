//! HTTP/JSON <-> gRPC (spec §9, go-zero's gateway; used by bridgegtw and gtw): descriptors from `ProtoSets` or the server's
//! reflection, the request message built from the path parameters, the query and the JSON body
//! (parameters win over body fields, as go-zero merges them), the response rendered as proto
//! JSON with lowerCamel names, 64-bit integers as strings and default values emitted.

use bytes::Bytes;
use prost::Message as _;
use prost_reflect::{DescriptorPool, DynamicMessage, Kind, MessageDescriptor, MethodDescriptor, SerializeOptions};
use zero_edge::error::ApiError;

/// The gRPC codec of encoded messages (the gateway encodes and decodes with the descriptors).
pub use crate::grpc::RawCodec;

/// The method `pkg.Service/Method` of `pool`.
///
/// # Errors
/// The service or method is not in the descriptors.
pub fn method(pool: &DescriptorPool, rpc_path: &str) -> Result<MethodDescriptor, String> {
    let (service, name) = rpc_path
        .trim_start_matches('/')
        .split_once('/')
        .ok_or_else(|| format!("RpcPath {rpc_path:?}: not package.Service/Method"))?;
    let svc = pool.get_service_by_name(service).ok_or_else(|| format!("service {service} not in the descriptors"))?;
    let m = svc.methods().find(|m| m.name() == name).ok_or_else(|| format!("{service} has no method {name}"))?;
    if m.is_client_streaming() || m.is_server_streaming() {
        return Err(format!("{rpc_path}: streaming methods are not transcoded"));
    }
    Ok(m)
}

/// Reads binary `FileDescriptorSet` files into one pool.
///
/// # Errors
/// A file that cannot be read or decoded.
pub fn pool_of_files(paths: &[String]) -> Result<DescriptorPool, String> {
    let mut pool = DescriptorPool::new();
    for p in paths {
        let bytes = std::fs::read(p).map_err(|e| format!("ProtoSets {p}: {e}"))?;
        pool.decode_file_descriptor_set(bytes.as_slice()).map_err(|e| format!("ProtoSets {p}: {e}"))?;
    }
    Ok(pool)
}

/// The value of a path or query parameter as JSON for `field` kind: booleans and numbers
/// unquoted where the text is one (proto JSON takes quoted numbers too), a one-element list
/// for a repeated field.
fn param_value(desc: &MessageDescriptor, name: &str, text: &str) -> serde_json::Value {
    let field = desc.get_field_by_json_name(name).or_else(|| desc.get_field_by_name(name));
    let Some(f) = field else { return serde_json::Value::String(text.to_owned()) };
    let one = match f.kind() {
        Kind::Bool => match text {
            "true" | "1" => serde_json::Value::Bool(true),
            "false" | "0" => serde_json::Value::Bool(false),
            _ => serde_json::Value::String(text.to_owned()),
        },
        Kind::Double | Kind::Float => text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or_else(|| serde_json::Value::String(text.to_owned()), serde_json::Value::Number),
        _ => serde_json::Value::String(text.to_owned()),
    };
    if f.is_list() {
        serde_json::Value::Array(vec![one])
    } else {
        one
    }
}

/// The request message of `desc` from the path parameters, the query string and the body
/// (JSON; or a form when `form` is set), merged as go-zero does: parameters over body fields.
///
/// # Errors
/// 400 naming the field that does not fit, or the body that is no JSON object.
pub fn build_request(
    desc: &MessageDescriptor,
    path_params: &[(String, String)],
    query: Option<&str>,
    body: &[u8],
    form: bool,
) -> Result<DynamicMessage, ApiError> {
    let mut params: Vec<(String, String)> = query
        .map(|q| form_urlencoded::parse(q.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect())
        .unwrap_or_default();
    if form {
        params.extend(form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())));
    }
    params.extend(path_params.iter().cloned());
    let mut object = if form || body.iter().all(u8::is_ascii_whitespace) {
        serde_json::Map::new()
    } else {
        match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(serde_json::Value::Object(m)) => m,
            Ok(_) => return Err(ApiError::bad_request("body: expected a JSON object")),
            Err(e) => return Err(ApiError::bad_request(format!("body: {e}"))),
        }
    };
    for (k, v) in params {
        let value = param_value(desc, &k, &v);
        // a repeated parameter given several times collects its values
        match (object.get_mut(&k), value) {
            (Some(serde_json::Value::Array(a)), serde_json::Value::Array(more)) if a.iter().all(|x| !x.is_object()) => {
                a.extend(more)
            }
            (_, value) => {
                object.insert(k, value);
            }
        }
    }
    let text = serde_json::Value::Object(object).to_string();
    let mut de = serde_json::Deserializer::from_str(&text);
    let options = prost_reflect::DeserializeOptions::new().deny_unknown_fields(false);
    let mut track = serde_path_to_error::Track::new();
    let tracked = serde_path_to_error::Deserializer::new(&mut de, &mut track);
    let seed = DynSeed { desc: desc.clone(), options: &options };
    serde::de::DeserializeSeed::deserialize(seed, tracked).map_err(|e| {
        let path = track.path().to_string();
        ApiError::bad_request(if path == "." { e.to_string() } else { format!("field {path}: {e}") })
    })
}

/// Deserializes a [`DynamicMessage`] through a (path-tracking) deserializer.
struct DynSeed<'a> {
    desc: MessageDescriptor,
    options: &'a prost_reflect::DeserializeOptions,
}

impl<'de> serde::de::DeserializeSeed<'de> for DynSeed<'_> {
    type Value = DynamicMessage;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<DynamicMessage, D::Error> {
        DynamicMessage::deserialize_with_options(self.desc, d, self.options)
    }
}

/// Proto JSON as go-zero's gateway renders it.
pub fn render(msg: &DynamicMessage) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::with_capacity(128);
    let mut ser = serde_json::Serializer::new(&mut out);
    let opts = SerializeOptions::new().stringify_64_bit_integers(true).skip_default_fields(false);
    msg.serialize_with_options(&mut ser, &opts).map_err(|e| ApiError::internal(format!("rendering the reply: {e}")))?;
    Ok(out)
}

/// The reply bytes of `method` decoded.
///
/// # Errors
/// 502 when they are not a message of the method's output type.
pub fn decode_reply(method: &MethodDescriptor, bytes: Bytes) -> Result<DynamicMessage, ApiError> {
    DynamicMessage::decode(method.output(), bytes)
        .map_err(|e| ApiError::bad_gateway(format!("reply of {}: {e}", method.full_name())))
}

/// The encoded request.
pub fn encode(msg: &DynamicMessage) -> Bytes {
    Bytes::from(msg.encode_to_vec())
}

/// A `Grpc-Timeout` header: a Go duration (`500ms`, `2s`; go-zero parses it so, hence `100m` is
/// 100 minutes), else gRPC's own form (`500u`, `2S`).
pub fn parse_timeout(v: &str) -> Option<std::time::Duration> {
    use std::time::Duration;
    let v = v.trim();
    if let Ok(d) = v.parse::<crate::config::GoDuration>() {
        return Some(d.0);
    }
    let (n, unit) = v.split_at(v.len().checked_sub(1)?);
    let n: u64 = n.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts() {
        use std::time::Duration;
        assert_eq!(parse_timeout("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_timeout("2s"), Some(Duration::from_secs(2)));
        assert_eq!(parse_timeout("250m"), Some(Duration::from_secs(250 * 60)), "Go first: minutes");
        assert_eq!(parse_timeout("250u"), Some(Duration::from_micros(250)));
        assert_eq!(parse_timeout("3S"), Some(Duration::from_secs(3)));
        assert_eq!(parse_timeout("x"), None);
        assert_eq!(parse_timeout(""), None);
    }
}
