//! The MQTT channel (rumqttc): each message published raw to every rendered topic template.
//!
//! Templates use the Go struct field names of the message (spec §2.4): `{{.TypeId}}`,
//! `{{.Asdu}}`, `{{.Coa}}`, `{{.Host}}`, `{{.Port}}`, `{{.DataType}}`, `{{.MsgId}}`, `{{.Time}}`,
//! `{{.MetaData.<key>}}`, `{{.Body.Ioa}}`, `{{.Pm.DeviceId}}`, `{{.Pm.DeviceName}}`,
//! `{{.Pm.TdTableType}}`, `{{.Pm.Ext1}}`..`{{.Pm.Ext5}}`. A rendered topic is skipped when the
//! template fails (an unknown field, or `.Pm.*` without a mapping), or when it holds `{{`/`}}`,
//! `+`, `#`, `//`, or a leading or trailing `/`. A missing metadata key renders `<no value>`, as
//! Go does.

use crate::channel::{Outgoing, SendFuture, Transport};
use crate::msg::MsgBody;
use rumqttc::{AsyncClient, MqttOptions, QoS};
use std::time::Duration;

/// Renders `template` for `m`; `Err` names the failing field.
pub fn render(template: &str, m: &MsgBody) -> Result<String, String> {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or("unclosed {{")?;
        let path = after[..end].trim();
        out.push_str(&field(path, m)?);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn field(path: &str, m: &MsgBody) -> Result<String, String> {
    let p = path.strip_prefix('.').ok_or_else(|| format!("{path:?} is not a field"))?;
    let pm = || m.pm.as_ref().ok_or_else(|| format!("{path}: no point mapping"));
    Ok(match p {
        "TypeId" => m.type_id.to_string(),
        "Asdu" => m.asdu.clone(),
        "Coa" => m.coa.to_string(),
        "Host" => m.host.clone(),
        "Port" => m.port.to_string(),
        "DataType" => m.data_type.to_string(),
        "MsgId" => m.msg_id.clone(),
        "Time" => m.time.clone(),
        "Body.Ioa" => m.ioa().to_string(),
        "Pm.DeviceId" => pm()?.device_id.clone(),
        "Pm.DeviceName" => pm()?.device_name.clone(),
        "Pm.TdTableType" => pm()?.td_table_type.clone(),
        "Pm.Ext1" => pm()?.ext1.clone(),
        "Pm.Ext2" => pm()?.ext2.clone(),
        "Pm.Ext3" => pm()?.ext3.clone(),
        "Pm.Ext4" => pm()?.ext4.clone(),
        "Pm.Ext5" => pm()?.ext5.clone(),
        other => match other.strip_prefix("MetaData.") {
            Some(k) => match m.meta_data.get(k) {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
                None => "<no value>".to_owned(),
            },
            None => return Err(format!("unknown field {path}")),
        },
    })
}

/// A rendered topic is publishable (the spec's rules).
pub fn valid_topic(t: &str) -> bool {
    !t.is_empty()
        && !t.contains("{{")
        && !t.contains("}}")
        && !t.contains('+')
        && !t.contains('#')
        && !t.contains("//")
        && !t.starts_with('/')
        && !t.ends_with('/')
}

/// The MQTT transport.
pub struct MqttTransport {
    client: AsyncClient,
    topics: Vec<String>,
    qos: QoS,
    _eventloop: tokio::task::JoinHandle<()>,
}

impl MqttTransport {
    /// Connects (in the background, reconnecting) to `cfg.broker`.
    ///
    /// # Errors
    /// A broker address that is not `host:port`.
    pub fn new(cfg: &super::config::Mqtt) -> Result<MqttTransport, String> {
        let (host, port) = cfg.broker_addr()?;
        let id = if cfg.client_id.is_empty() {
            format!("ieccaller-{}", crate::msg::new_msg_id())
        } else {
            cfg.client_id.clone()
        };
        let mut opts = MqttOptions::new(id, host, port);
        opts.set_keep_alive(Duration::from_secs(30));
        opts.set_clean_session(false);
        if !cfg.username.is_empty() {
            opts.set_credentials(cfg.username.clone(), cfg.password.clone());
        }
        let (client, mut eventloop) = AsyncClient::new(opts, 1024);
        let task = tokio::spawn(async move {
            loop {
                if let Err(e) = eventloop.poll().await {
                    tracing::warn!(error = %e, "MQTT connection");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        });
        let qos = match cfg.qos {
            0 => QoS::AtMostOnce,
            1 => QoS::AtLeastOnce,
            _ => QoS::ExactlyOnce,
        };
        Ok(MqttTransport { client, topics: cfg.topic.clone(), qos, _eventloop: task })
    }
}

impl Transport for MqttTransport {
    fn name(&self) -> &'static str {
        "mqtt"
    }
    fn send<'a>(&'a self, batch: &'a [Outgoing]) -> SendFuture<'a> {
        Box::pin(async move {
            for o in batch {
                let msg = o.point().to_msg_body();
                for t in &self.topics {
                    match render(t, &msg) {
                        Ok(topic) if valid_topic(&topic) => {
                            self.client
                                .publish(topic, self.qos, false, o.json().as_bytes().to_vec())
                                .await
                                .map_err(|e| e.to_string())?;
                        }
                        Ok(topic) => {
                            metrics::counter!("ieccaller_mqtt_topics_skipped_total").increment(1);
                            tracing::debug!(%topic, "skipped invalid topic");
                        }
                        Err(e) => {
                            metrics::counter!("ieccaller_mqtt_topics_skipped_total").increment(1);
                            tracing::debug!(template = %t, error = %e, "skipped topic");
                        }
                    }
                }
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::PointMappingJson;
    use crate::point::{PointMsg, Station};
    use iec104::point::{Point, PointValue};
    use iec104::types::{CommonAddress, Ioa, TypeId};

    fn msg(pm: bool) -> MsgBody {
        let meta = serde_json::json!({"stationId": "330KV"}).as_object().unwrap().clone();
        let mut m = PointMsg::new(
            Station::new("10.0.0.5", 2404, meta, 480),
            TypeId::M_ME_NC_1,
            CommonAddress(1),
            Point::new(Ioa::new(4004).unwrap(), PointValue::Float(1.0)),
            0,
        )
        .to_msg_body();
        if pm {
            m.pm = Some(PointMappingJson { device_id: "d1".into(), ext1: "alarm".into(), ..Default::default() });
        }
        m
    }

    #[test]
    fn templates() {
        let m = msg(true);
        assert_eq!(render("iec/{{.Host}}/{{.Coa}}/{{ .Body.Ioa }}", &m).unwrap(), "iec/10.0.0.5/1/4004");
        assert_eq!(render("{{.Asdu}}/{{.TypeId}}/{{.DataType}}/{{.Port}}", &m).unwrap(), "M_ME_NC_1/13/6/2404");
        assert_eq!(
            render("st/{{.MetaData.stationId}}/{{.Pm.DeviceId}}/{{.Pm.Ext1}}", &m).unwrap(),
            "st/330KV/d1/alarm"
        );
        assert_eq!(render("x/{{.MetaData.nope}}", &m).unwrap(), "x/<no value>");
        assert!(render("{{.Pm.DeviceId}}", &msg(false)).is_err(), "no mapping");
        assert!(render("{{.host}}", &m).is_err(), "lowercase names do not exist (as in Go)");
        assert!(render("{{.Host", &m).is_err());
    }

    #[test]
    fn topic_rules() {
        assert!(valid_topic("iec/1/2"));
        for bad in ["", "/iec", "iec/", "a//b", "a/+/b", "a/#", "a/{{x}}"] {
            assert!(!valid_topic(bad), "{bad}");
        }
    }
}
