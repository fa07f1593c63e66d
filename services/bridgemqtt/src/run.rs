//! Wiring: the MQTT connection (reconnecting, re-subscribing), the forwarder, the gRPC server.

use crate::config::Config;
use crate::forward::{connection, forwarder, Downstream};
use crate::pb;
use crate::rpc::Rpc;
use rumqttc::{AsyncClient, MqttOptions};
use std::future::Future;
use std::time::Duration;

/// Runs bridgemqtt until `shutdown`. An unreachable broker does not stop it: the connection is
/// retried, and the subscriptions made again at every connection.
///
/// # Errors
/// A bad broker address, a bad endpoint, server errors.
pub async fn run(
    mut cfg: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), zero_svc::Error> {
    let m = &mut cfg.mqtt_config;
    let broker = m.broker.first().ok_or_else(|| zero_svc::Error::Config("MqttConfig.Broker is empty".into()))?;
    let (host, port) = streamevent::envelope::broker_addr(broker).map_err(zero_svc::Error::Config)?;
    if m.client_id.is_empty() {
        m.client_id = format!("bridgemqtt-{}", uuid::Uuid::now_v7().simple());
    }
    let mut opts = MqttOptions::new(m.client_id.clone(), host, port);
    opts.set_keep_alive(Duration::from_millis(m.keep_alive.max(5000)));
    // a persistent session: what arrives while the bridge is away waits on the broker
    opts.set_clean_session(false);
    opts.set_manual_acks(true);
    if !m.username.is_empty() {
        opts.set_credentials(m.username.clone(), m.password.clone());
    }
    let (client, eventloop) = AsyncClient::new(opts, cfg.request_queue.max(16));
    let timeout = Duration::from_millis(cfg.stream_event_conf.timeout.max(1));
    let socketpush = match cfg.socket_push_conf.endpoints.first() {
        Some(ep) => {
            let uri = if ep.contains("://") { ep.clone() } else { format!("http://{ep}") };
            let ch = tonic::transport::Endpoint::from_shared(uri)
                .map_err(|e| zero_svc::Error::Config(format!("SocketPushConf.Endpoints: {e}")))?
                .connect_lazy();
            Some(pb::socketpush::socket_push_client::SocketPushClient::new(ch))
        }
        None => None,
    };
    let down = Downstream {
        streamevent: zero_svc::grpc::streamevent_client(&cfg.stream_event_conf.endpoints)?,
        socketpush,
        timeout,
    };
    let (tx, rx) = tokio::sync::mpsc::channel(cfg.batch.size.max(1) * 4);
    let conn = tokio::spawn(connection(eventloop, client.clone(), cfg.clone(), tx));
    let fwd = tokio::spawn(forwarder(rx, client.clone(), cfg.clone(), down));
    let rpc = Rpc { client, qos: cfg.mqtt_config.qos() };
    let server = zero_svc::grpc::Grpc::new(pb::bridge_mqtt_server::BridgeMqttServer::new(rpc));
    let served = server.serve(listener, &[pb::FILE_DESCRIPTOR_SET], shutdown).await;
    conn.abort();
    fwd.abort();
    served
}
