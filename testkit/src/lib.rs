//! What the workspace's tests share, so that no test crate carries its own copy.
//!
//! - [`db`]: throwaway PostgreSQL and MariaDB databases;
//! - [`etcd`]: a throwaway etcd (discovery tests);
//! - [`port`]: loopback ports picked at run time;
//! - [`wait`]: waiting for a condition with a deadline instead of a fixed sleep;
//! - [`proc`]: a process's CPU time and resident memory from `/proc`;
//! - [`process`]: a guard that stops a peer process when the test ends, however it ends;
//! - [`service`]: a service binary run from a configuration file (`print-config`, a run);
//! - [`socketio`]: the real npm `socket.io-client` running a scripted session;
//! - [`iec104`]: IEC 104 peers (a raw-socket master, the c104 station) and the interop JSON form;
//! - [`kafka`]: a tansu broker, topics, and the acquisition side producing to it;
//! - [`otlp`]: an OTLP/HTTP span receiver standing in for an OpenTelemetry collector;
//! - [`streamevent`]: throwaway `streamevent` databases on SQLite, PostgreSQL and MariaDB;
//! - [`wire`]: the conformance check of our compiled `.proto` descriptors against the upstream
//!   wire facts (`tests/data/wire/<package>.json` in each crate that serves a package).
//!
//! Dev-only: `publish = false`, used as a `[dev-dependencies]` entry.

pub mod browser;
pub mod db;
pub mod etcd;
pub mod http;
pub mod iec104;
pub mod kafka;
pub mod mosquitto;
pub mod otlp;
pub mod port;
pub mod proc;
pub mod process;
pub mod s3;
pub mod service;
pub mod socketio;
pub mod streamevent;
pub mod wait;
pub mod wire;
