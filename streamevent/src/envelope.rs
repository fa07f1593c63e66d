//! What ieccaller and bridgemqtt share on the MQTT side: broker addresses ([`broker_addr`]) and
//! the trace-wrapper envelope of MQTT messages (spec §2.6): `{"topic": "...", "payload":
//! "<base64>", "headers": {...}}`. ieccaller's cluster mode and bridgemqtt's `PublishWithTrace`
//! send it; receivers unwrap it when a message is one and take the raw payload otherwise.
//!
//! ```
//! use streamevent::envelope::{unwrap, wrap};
//! let headers = [("traceparent".to_owned(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned())];
//! let wire = wrap("iec/x", b"{\"v\":1}", headers.into_iter().collect());
//! let (payload, h) = unwrap(&wire);
//! assert_eq!(payload, b"{\"v\":1}");
//! assert_eq!(h["traceparent"].len(), 55);
//! assert_eq!(unwrap(b"plain").0, b"plain");
//! ```

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// The topic it was published on.
    pub topic: String,
    /// Base64 of the payload.
    pub payload: String,
    /// Propagation headers (`traceparent`, ...).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// `payload` wrapped for `topic` with `headers`.
pub fn wrap(topic: &str, payload: &[u8], headers: BTreeMap<String, String>) -> Vec<u8> {
    let env = Envelope {
        topic: topic.to_owned(),
        payload: base64::engine::general_purpose::STANDARD.encode(payload),
        headers,
    };
    serde_json::to_vec(&env).unwrap_or_default()
}

/// The payload of a message and its headers: the envelope's when it is one, else the raw bytes
/// and no headers.
pub fn unwrap(raw: &[u8]) -> (Vec<u8>, BTreeMap<String, String>) {
    serde_json::from_slice::<Envelope>(raw)
        .ok()
        .and_then(|e| Some((base64::engine::general_purpose::STANDARD.decode(e.payload).ok()?, e.headers)))
        .unwrap_or_else(|| (raw.to_vec(), BTreeMap::new()))
}

/// `(host, port)` of an `MqttConfig.Broker` entry (`tcp://` and `mqtt://` accepted; 1883 when the
/// port is left out).
///
/// # Errors
/// A TLS or WebSocket scheme (not served), or no valid port.
pub fn broker_addr(b: &str) -> Result<(String, u16), String> {
    if ["ssl://", "tls://", "mqtts://", "ws://", "wss://"].iter().any(|p| b.starts_with(p)) {
        return Err(format!("MqttConfig.Broker {b:?}: only tcp:// brokers are served"));
    }
    let hp = b.trim_start_matches("tcp://").trim_start_matches("mqtt://").trim_end_matches('/');
    match hp.rsplit_once(':') {
        Some((h, p)) => {
            p.parse::<u16>().map(|p| (h.to_owned(), p)).map_err(|_| format!("MqttConfig.Broker {b:?} is not host:port"))
        }
        None if !hp.is_empty() => Ok((hp.to_owned(), 1883)),
        None => Err(format!("MqttConfig.Broker {b:?} is not host:port")),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn brokers() {
        assert_eq!(super::broker_addr("tcp://localhost:1883").unwrap(), ("localhost".into(), 1883));
        assert_eq!(super::broker_addr("127.0.0.1").unwrap(), ("127.0.0.1".into(), 1883));
        assert!(super::broker_addr("ssl://x:8883").is_err());
        assert!(super::broker_addr("tcp://x:notaport").is_err());
        assert!(super::broker_addr("").is_err());
    }
}
