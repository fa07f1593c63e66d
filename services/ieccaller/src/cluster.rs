//! Cluster mode (spec §2.6): instances connected to one MQTT broker share the configured
//! stations so that each is polled by exactly one of them.
//!
//! Every instance keeps a retained presence record at `{MembersTopic}/{instance id}` with a
//! last will that clears it, and watches `{MembersTopic}/+`. The live members decide ownership by
//! rendezvous hashing (the member with the highest hash of `member + station` owns the station),
//! so all instances agree without talking to each other, and when a member is lost (its will
//! fires) only its stations move. An instance that loses the broker keeps polling what it owns.

use crate::config::Config;
use crate::station::Starter;
use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Packet, QoS};
use std::collections::BTreeSet;
use std::time::Duration;

/// FNV-1a: a hash every instance computes the same way, whatever it was built with.
fn fnv1a(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain(std::iter::once(0xFF)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// The member that owns `station` (rendezvous hashing).
pub fn owner<'a>(members: &'a BTreeSet<String>, station: &str) -> Option<&'a str> {
    members.iter().max_by_key(|m| fnv1a(&[m.as_str(), station])).map(String::as_str)
}

/// This instance's id: the configured one, or `iec-caller-{uuid}`.
pub fn instance_id(cfg: &Config) -> String {
    if cfg.cluster.instance_id.is_empty() {
        format!("iec-caller-{}", streamevent::msg::new_msg_id())
    } else {
        cfg.cluster.instance_id.clone()
    }
}

async fn rebalance(cfg: &Config, starter: &Starter, members: &BTreeSet<String>, me: &str) {
    let mine: BTreeSet<String> =
        cfg.stations.iter().filter(|s| owner(members, &s.key()) == Some(me)).map(|s| s.key()).collect();
    for k in starter.stations.keys() {
        if !mine.contains(&k) {
            tracing::info!(station = %k, "cluster: station moves to another instance");
            starter.stations.stop(&k).await;
        }
    }
    for st in cfg.stations.iter().filter(|s| mine.contains(&s.key())) {
        if let Err(e) = starter.start(st) {
            tracing::error!(error = %e, "cluster: cannot start station");
        }
    }
    metrics::gauge!("ieccaller_cluster_members").set(members.len() as f64);
    metrics::gauge!("ieccaller_cluster_owned_stations").set(mine.len() as f64);
}

/// Joins the cluster and keeps this instance's share of the stations running, until dropped.
pub async fn run(cfg: Config, starter: Starter) {
    let me = instance_id(&cfg);
    let Some((host, port)) = cfg
        .mqtt
        .broker
        .trim_start_matches("tcp://")
        .rsplit_once(':')
        .and_then(|(h, p)| p.parse::<u16>().ok().map(|p| (h.to_owned(), p)))
    else {
        tracing::error!(broker = %cfg.mqtt.broker, "cluster: Mqtt.Broker is not host:port");
        return;
    };
    let prefix = cfg.cluster.members_topic.trim_end_matches('/').to_owned();
    let my_topic = format!("{prefix}/{me}");
    let mut opts = MqttOptions::new(format!("{me}-cluster"), host, port);
    opts.set_keep_alive(Duration::from_secs(5));
    opts.set_last_will(LastWill::new(&my_topic, Vec::<u8>::new(), QoS::AtLeastOnce, true));
    if !cfg.mqtt.username.is_empty() {
        opts.set_credentials(cfg.mqtt.username.clone(), cfg.mqtt.password.clone());
    }
    let (client, mut events) = AsyncClient::new(opts, 100);
    let mut members = BTreeSet::new();
    tracing::info!(instance = %me, "cluster: joining");
    loop {
        match events.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                let _ = client.subscribe(format!("{prefix}/+"), QoS::AtLeastOnce).await;
                let _ = client.publish(&my_topic, QoS::AtLeastOnce, true, me.clone().into_bytes()).await;
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let Some(member) = p.topic.rsplit('/').next() else { continue };
                let changed =
                    if p.payload.is_empty() { members.remove(member) } else { members.insert(member.to_owned()) };
                if changed {
                    tracing::info!(members = ?members, "cluster: membership changed");
                    rebalance(&cfg, &starter, &members, &me).await;
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "cluster: broker connection; keeping the stations this instance owns");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendezvous_moves_only_the_lost_members_stations() {
        let stations: Vec<String> = (0..200).map(|i| format!("10.0.0.{i}:2404")).collect();
        let three: BTreeSet<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let two: BTreeSet<String> = ["a", "b"].iter().map(|s| s.to_string()).collect();
        let mut counts = std::collections::HashMap::new();
        for s in &stations {
            let o3 = owner(&three, s).unwrap();
            *counts.entry(o3).or_insert(0) += 1;
            let o2 = owner(&two, s).unwrap();
            if o3 != "c" {
                assert_eq!(o3, o2, "{s} moved although its owner is alive");
            }
        }
        assert!(counts.values().all(|n| *n > 40), "roughly even: {counts:?}");
        assert_eq!(owner(&BTreeSet::new(), "x"), None);
    }
}
