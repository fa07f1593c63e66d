//! UDP -> HTTP: a device's messages POSTed to the platform's URL as JSON
//! `{"from","to","seq","payload"}` (the payload as text when it is UTF-8, else an array of
//! bytes), acknowledged to the device once the platform answered 2xx.

use socketio_cluster::comet::node::Outlet;
use socketio_cluster::comet::packet::Reason;
use socketio_cluster::pb::comet as pb;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// The platform's URL.
#[derive(Debug, Clone)]
pub struct Platform {
    client: reqwest::Client,
    url: String,
}

impl Platform {
    /// POSTs to `url`, each within `timeout`.
    ///
    /// # Errors
    /// The HTTP client cannot be built.
    pub fn new(url: &str, timeout: Duration) -> Result<Platform, String> {
        let client = reqwest::Client::builder().timeout(timeout).build().map_err(|e| e.to_string())?;
        Ok(Platform { client, url: url.to_owned() })
    }
}

/// The JSON body of a message.
pub fn body(m: &pb::Message) -> serde_json::Value {
    let payload = match std::str::from_utf8(&m.payload) {
        Ok(s) => serde_json::Value::String(s.to_owned()),
        Err(_) => serde_json::Value::from(m.payload.to_vec()),
    };
    serde_json::json!({ "from": m.from, "to": m.to, "seq": m.seq, "payload": payload })
}

impl Outlet for Platform {
    fn send(&self, m: pb::Message) -> Pin<Box<dyn Future<Output = pb::SendRes> + Send + '_>> {
        Box::pin(async move {
            let refuse = |message: String| pb::SendRes { ok: false, reason: Reason::Unavailable as u32, message };
            match self.client.post(&self.url).json(&body(&m)).send().await {
                Ok(r) if r.status().is_success() => {
                    metrics::counter!("comet_platform_posts_total").increment(1);
                    pb::SendRes { ok: true, ..Default::default() }
                }
                Ok(r) => refuse(format!("the platform answered {}", r.status())),
                Err(e) => refuse(format!("the platform: {e}")),
            }
        })
    }
}
