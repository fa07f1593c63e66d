//! Wiring: the subscription connection (reconnecting, re-subscribing), the forwarder, the outbox
//! and its publish connection, the gRPC server.

use crate::config::Config;
use crate::forward::{connection, forwarder, Downstream};
use crate::outbox::{self, Outbox};
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
    let options = |id: String| {
        let mut opts = MqttOptions::new(id, host.clone(), port);
        opts.set_keep_alive(Duration::from_millis(m.keep_alive.max(5000)));
        // out: room for the largest payload, its topic and the trace envelope around it; in:
        // anything MQTT allows, since a message the connection refused to read would come back
        // after every reconnect (persistent session) and stop the subscription for good
        let packet = cfg.max_payload.saturating_mul(2).saturating_add(70_000);
        opts.set_max_packet_size(268_435_455, packet);
        if !m.username.is_empty() {
            opts.set_credentials(m.username.clone(), m.password.clone());
        }
        opts
    };
    let mut sub_opts = options(m.client_id.clone());
    // a persistent session: what arrives while the bridge is away waits on the broker
    sub_opts.set_clean_session(false);
    sub_opts.set_manual_acks(true);
    let (client, mut eventloop) = AsyncClient::new(sub_opts, cfg.request_queue.max(16));
    // acknowledgements and publishes go out one small packet at a time: without TCP_NODELAY,
    // Nagle's algorithm holds each behind the broker's delayed ACK
    let mut net = rumqttc::NetworkOptions::new();
    net.set_tcp_nodelay(true);
    eventloop.set_network_options(net.clone());
    // publishes: a clean session of their own, fed from the outbox
    let mut pub_opts = options(format!("{}-pub", m.client_id));
    pub_opts.set_clean_session(true);
    pub_opts.set_inflight(outbox::WINDOW as u16);
    let (pub_client, mut pub_eventloop) = AsyncClient::new(pub_opts, outbox::WINDOW * 2);
    pub_eventloop.set_network_options(net);
    let outbox = Outbox::open(std::path::Path::new(&cfg.outbox.path), cfg.outbox.max_bytes)
        .map_err(|e| zero_svc::Error::Config(format!("Outbox.Path: {e}")))?;
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
    let (ack_tx, ack_rx) = tokio::sync::mpsc::unbounded_channel();
    let conn = tokio::spawn(connection(eventloop, client, cfg.clone(), tx, ack_rx));
    let fwd = tokio::spawn(forwarder(rx, ack_tx, cfg.clone(), down));
    let publisher = tokio::spawn(outbox::publisher(pub_eventloop, pub_client, outbox.clone(), cfg.mqtt_config.qos()));
    let rpc = Rpc { outbox, max_payload: cfg.max_payload };
    let server = zero_svc::grpc::Grpc::new(pb::bridge_mqtt_server::BridgeMqttServer::new(rpc));
    let served = server.serve(listener, &[pb::FILE_DESCRIPTOR_SET], shutdown).await;
    conn.abort();
    fwd.abort();
    publisher.abort();
    served
}
