//! # trigger (service)
//!
//! `trigger.TriggerRpc` on :21006 (spec §6): delayed HTTP and gRPC callbacks with retries and the
//! queue inspection RPCs (§6.1), plan tasks (§6.2), cron jobs (§6.3), Invoke, ids and the holiday
//! calendar (§6.4), on [`trigger_core`]. With `Redis.Host` set, any number of instances share the
//! tasks (a crashed instance's tasks return after their lease); without it one instance keeps
//! them in SQLite (`DB.DataSource`, default `sqlite://trigger.db`).
//!
//! Upstream rules kept: queue `critical`, task id = `msg_id` or a new id, completed tasks kept
//! 7 days, `max_retry` 25 unless given, `trigger_time` (Asia/Shanghai `yyyy-MM-dd HH:mm:ss`) wins
//! over `process_in`, a past trigger time is 101101 and an unparsable one 101103, the HTTP body
//! `{"msgId", "Msg"}`, every `validate` rule of the upstream proto (InvalidArgument, 101103). Not
//! copied: retrying a callback that answered 4xx (archived at once), and accepting discovery
//! targets (`nacos://`, `etcd://`, `consul://`) that nothing resolves.
//!
//! ## Layout
//! | module | holds |
//! |---|---|
//! | [`config`] | the typed configuration and its embedded defaults |
//! | [`convert`] | protobuf ↔ domain: statuses, datetimes, string ids ↔ keys |
//! | [`rpc`] | the handlers: validate, call a half, shape the response |
//! | [`run`](mod@run) | wiring: stores, workers, scheduler, scanner, server |
//! | `tasks`, [`cron`], [`plan`], [`holiday`], [`ids`] | the service's halves over `trigger_core` |
//! | [`dashboard`] | its part of the platform dashboard (queues, tasks, plans, cron jobs), on the metrics port |

pub mod config;
pub mod convert;
pub mod cron;
mod cron_run;
pub mod dashboard;
pub mod dispatch;
pub mod holiday;
pub mod ids;
pub mod plan;
mod plan_convert;
pub mod rpc;
pub mod run;
mod tasks;

pub use config::{Config, DEFAULTS, QUEUE};
pub use convert::datetime;
pub use rpc::Service;
pub use run::run;

/// The generated protocol (`package trigger`).
#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
pub mod pb {
    tonic::include_proto!("trigger");

    /// Encoded descriptor set (imports and `validate` options included), for gRPC reflection,
    /// the request validator and the wire conformance test.
    pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/trigger_descriptor.bin"));
}

#[cfg(test)]
mod tests {
    use crate::convert::datetime;
    use crate::tasks::{due, max_retry};

    #[test]
    fn trigger_time_rules() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-01-02T03:04:05.500+08:00").unwrap().timestamp_millis();
        assert_eq!(due("", 10, now).unwrap(), now + 10_000);
        assert_eq!(due("2026-01-02 03:04:05", 999, now).unwrap(), now - 500, "same second is not past");
        assert_eq!(due("2026-01-02 03:05:00", 0, now).unwrap(), now + 54_500);
        assert_eq!(zero_svc::errcode::reason(&due("2026-01-02 03:04:04", 0, now).unwrap_err()).unwrap(), "101101");
        assert_eq!(zero_svc::errcode::reason(&due("2026/01/02 03:04:04", 0, now).unwrap_err()).unwrap(), "101103");
        assert_eq!(datetime(now), "2026-01-02 03:04:05");
    }

    #[test]
    fn retries_default_to_asynqs() {
        assert_eq!(max_retry(0).unwrap(), 25);
        assert_eq!(max_retry(3).unwrap(), 3);
        assert!(max_retry(-1).is_err());
    }

    #[test]
    fn every_validate_rule_of_the_proto_is_enforced() {
        zero_svc::validate::Validator::new(crate::pb::FILE_DESCRIPTOR_SET).unwrap();
    }
}
