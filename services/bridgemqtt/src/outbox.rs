//! The outbox: every `Publish` is first appended to a disk queue (a [`queue_file::QueueFile`],
//! fsynced, many requests per fsync) and answered; the publisher task ([`publisher`]) sends the
//! queue's head to the broker in order and removes a message only once the broker acknowledged it
//! (QoS 1: PUBACK, QoS 2: PUBCOMP; QoS 0: once written). The broker away, publishes keep queueing
//! (up to `Outbox.MaxBytes`, then 103103) and go out in order when it returns; bridgemqtt killed,
//! the queue is still there when it starts again. Delivery is at least once: a message whose
//! acknowledgement was lost with the connection is sent again.
//!
//! The publish connection is a clean session of its own (`<ClientId>-pub`): rumqttc forgets its
//! unacknowledged publishes at every reconnect, and the publisher sends them again from the
//! queue, so nothing depends on the broker or rumqttc keeping them.

use rumqttc::{AsyncClient, Event, EventLoop, Incoming, Outgoing, QoS};
use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Notify};

/// Why a message was not queued.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// `MaxBytes` reached: the broker has been away for long.
    #[error("the outbox is full ({used} of {max} bytes): the broker has been unreachable for long")]
    Full {
        /// Bytes in use.
        used: u64,
        /// `Outbox.MaxBytes`.
        max: u64,
    },
    /// The file failed.
    #[error("outbox file: {0}")]
    File(String),
    /// The outbox is shut down.
    #[error("the outbox is closed")]
    Closed,
}

/// One queued message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Topic.
    pub topic: String,
    /// Payload.
    pub payload: Vec<u8>,
}

impl Record {
    /// `u16` topic length (big-endian), topic, payload.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(2 + self.topic.len() + self.payload.len());
        // topics are at most 65535 bytes (MQTT), checked by the RPC
        v.extend_from_slice(&(self.topic.len().min(usize::from(u16::MAX)) as u16).to_be_bytes());
        v.extend_from_slice(self.topic.as_bytes());
        v.extend_from_slice(&self.payload);
        v
    }

    /// The inverse of [`Record::encode`]; `None` for bytes it did not write.
    pub fn decode(b: &[u8]) -> Option<Record> {
        let n = usize::from(u16::from_be_bytes([*b.first()?, *b.get(1)?]));
        let topic = std::str::from_utf8(b.get(2..2 + n)?).ok()?.to_owned();
        Some(Record { topic, payload: b[2 + n..].to_vec() })
    }
}

struct Append {
    rec: Vec<u8>,
    done: oneshot::Sender<Result<(), OutboxError>>,
}

struct Shared {
    queue: Mutex<queue_file::QueueFile>,
    added: Notify,
}

/// The queue (cheap to clone).
#[derive(Clone)]
pub struct Outbox {
    tx: mpsc::Sender<Append>,
    shared: Arc<Shared>,
    _lock: Arc<File>,
}

fn file_err(e: impl std::fmt::Display) -> OutboxError {
    OutboxError::File(e.to_string())
}

impl Outbox {
    /// Opens (or creates) the queue at `path`, holding `<path>.lock` so that a second bridgemqtt
    /// cannot share it. Appends are written by a thread of their own, each batch in one fsync.
    ///
    /// # Errors
    /// The directory or file cannot be made, the file is not a queue, another process holds it.
    pub fn open(path: &Path, max_bytes: u64) -> Result<Outbox, OutboxError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| file_err(format!("{}: {e}", dir.display())))?;
        }
        let lock_path = path.with_extension("lock");
        let lock = File::create(&lock_path).map_err(|e| file_err(format!("{}: {e}", lock_path.display())))?;
        lock.try_lock().map_err(|e| file_err(format!("{} is in use by another process ({e})", path.display())))?;
        let mut queue = queue_file::QueueFile::open(path).map_err(|e| file_err(format!("{}: {e}", path.display())))?;
        queue.set_sync_writes(true);
        let shared = Arc::new(Shared { queue: Mutex::new(queue), added: Notify::new() });
        let (tx, rx) = mpsc::channel(4096);
        let writer = shared.clone();
        std::thread::Builder::new()
            .name("bridgemqtt-outbox".into())
            .spawn(move || write_loop(rx, &writer, max_bytes))
            .map_err(file_err)?;
        Ok(Outbox { tx, shared, _lock: Arc::new(lock) })
    }

    /// Appends a message; returns once it is on disk.
    ///
    /// # Errors
    /// [`OutboxError::Full`], a file error, the outbox closed.
    pub async fn push(&self, rec: &Record) -> Result<(), OutboxError> {
        let (done, answer) = oneshot::channel();
        self.tx.send(Append { rec: rec.encode(), done }).await.map_err(|_| OutboxError::Closed)?;
        answer.await.map_err(|_| OutboxError::Closed)?
    }

    /// Messages queued.
    pub fn len(&self) -> usize {
        self.lock().size()
    }

    /// No message queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, queue_file::QueueFile> {
        // a panic elsewhere while holding the lock leaves the file consistent (its header is
        // written last), so the poison is ignored
        self.shared.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Up to `take` messages after the first `skip` (undecodable ones come back as `None`).
    async fn read(&self, skip: usize, take: usize) -> Result<Vec<Option<Record>>, OutboxError> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut q = me.lock();
            let v: Vec<Option<Record>> = q.iter().skip(skip).take(take).map(|b| Record::decode(&b)).collect();
            v
        })
        .await
        .map_err(file_err)
    }

    /// Removes the first `n` messages.
    async fn remove(&self, n: usize) -> Result<(), OutboxError> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.lock().remove_n(n).map_err(file_err)).await.map_err(file_err)?
    }
}

fn write_loop(mut rx: mpsc::Receiver<Append>, shared: &Shared, max_bytes: u64) {
    while let Some(first) = rx.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < 1024 {
            match rx.try_recv() {
                Ok(a) => batch.push(a),
                Err(_) => break,
            }
        }
        let mut q = shared.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut used = q.used_bytes();
        let (mut take, mut refuse) = (Vec::new(), Vec::new());
        for a in batch {
            // 4 bytes of length per element
            let need = a.rec.len() as u64 + 4;
            if used + need > max_bytes {
                refuse.push((a, used));
            } else {
                used += need;
                take.push(a);
            }
        }
        let res = q.add_n(take.iter().map(|a| a.rec.as_slice()));
        drop(q);
        let ok = res.is_ok();
        if let Err(e) = &res {
            tracing::error!(error = %e, "outbox append");
        }
        for a in take {
            let _ = a.done.send(res.as_ref().map(|_| ()).map_err(file_err));
        }
        for (a, used) in refuse {
            metrics::counter!("bridgemqtt_outbox_full_total").increment(1);
            let _ = a.done.send(Err(OutboxError::Full { used, max: max_bytes }));
        }
        if ok {
            shared.added.notify_one();
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// Not handed to the connection (yet, or again after a reconnect).
    Waiting,
    /// Handed, waiting for its packet id.
    Handed,
    /// Sent with this packet id, waiting for the acknowledgement.
    Sent,
    /// Acknowledged (or QoS 0 and written).
    Done,
}

/// How many messages are in flight at most (rumqttc's `inflight`).
pub const WINDOW: usize = 1000;

/// The window of messages in flight: messages `base..` of the queue, after `removable`
/// acknowledged ones not yet removed from the file.
struct Window {
    qos: QoS,
    recs: VecDeque<Option<Record>>,
    slots: VecDeque<Slot>,
    base: u64,
    removable: usize,
    /// Handed messages in the order the connection will send them.
    unassigned: VecDeque<u64>,
    by_pkid: HashMap<u16, u64>,
}

impl Window {
    fn on_event(&mut self, ev: &Event) {
        match ev {
            Event::Outgoing(Outgoing::Publish(pkid)) => {
                let Some(n) = self.unassigned.pop_front() else { return };
                let Some(s) = n.checked_sub(self.base).and_then(|i| self.slots.get_mut(i as usize)) else { return };
                if self.qos == QoS::AtMostOnce {
                    *s = Slot::Done;
                    metrics::counter!("bridgemqtt_published_total").increment(1);
                } else {
                    *s = Slot::Sent;
                    self.by_pkid.insert(*pkid, n);
                }
            }
            Event::Incoming(Incoming::PubAck(rumqttc::PubAck { pkid, .. })) if self.qos == QoS::AtLeastOnce => {
                self.acked(*pkid);
            }
            Event::Incoming(Incoming::PubComp(rumqttc::PubComp { pkid, .. })) if self.qos == QoS::ExactlyOnce => {
                self.acked(*pkid);
            }
            _ => {}
        }
    }

    fn acked(&mut self, pkid: u16) {
        let Some(n) = self.by_pkid.remove(&pkid) else { return };
        if let Some(s) = n.checked_sub(self.base).and_then(|i| self.slots.get_mut(i as usize)) {
            *s = Slot::Done;
            metrics::counter!("bridgemqtt_published_total").increment(1);
        }
    }

    /// The connection is gone (the next one is a clean session): what was not acknowledged goes
    /// out again, in order.
    fn resend(&mut self) {
        for s in &mut self.slots {
            if matches!(s, Slot::Handed | Slot::Sent) {
                *s = Slot::Waiting;
            }
        }
        self.unassigned.clear();
        self.by_pkid.clear();
    }

    /// Drops the acknowledged head; true when it is time to remove it from the file (in groups,
    /// one fsync each, or when idle: a crash before that sends them again, which at-least-once
    /// allows).
    fn advance(&mut self) -> bool {
        while self.slots.front() == Some(&Slot::Done) {
            self.slots.pop_front();
            self.recs.pop_front();
            self.base += 1;
            self.removable += 1;
        }
        self.removable >= 256 || (self.removable > 0 && self.slots.is_empty())
    }
}

/// Sends the outbox to the broker through `eventloop` (a clean session), in order, until the
/// process ends.
pub async fn publisher(mut eventloop: EventLoop, client: AsyncClient, outbox: Outbox, qos: QoS) {
    let mut w = Window {
        qos,
        recs: VecDeque::new(),
        slots: VecDeque::new(),
        base: 0,
        removable: 0,
        unassigned: VecDeque::new(),
        by_pkid: HashMap::new(),
    };
    let mut connected = false;
    loop {
        if w.advance() {
            match outbox.remove(w.removable).await {
                Ok(()) => w.removable = 0,
                Err(e) => tracing::error!(error = %e, "outbox remove"),
            }
        }
        if w.slots.len() < WINDOW / 2 {
            match outbox.read(w.removable + w.slots.len(), WINDOW - w.slots.len()).await {
                Ok(more) => {
                    for r in more {
                        if r.is_none() {
                            tracing::error!("outbox: an unreadable message is skipped");
                        }
                        w.slots.push_back(if r.is_some() { Slot::Waiting } else { Slot::Done });
                        w.recs.push_back(r);
                    }
                }
                Err(e) => tracing::error!(error = %e, "outbox read"),
            }
        }
        if connected {
            for (i, s) in w.slots.iter_mut().enumerate() {
                if *s != Slot::Waiting {
                    continue;
                }
                let Some(r) = &w.recs[i] else { continue };
                if client.try_publish(r.topic.clone(), qos, false, r.payload.clone()).is_err() {
                    break;
                }
                *s = Slot::Handed;
                w.unassigned.push_back(w.base + i as u64);
            }
        }
        let want_more = w.slots.len() < WINDOW / 2;
        tokio::select! {
            ev = eventloop.poll() => match ev {
                Ok(Event::Incoming(Incoming::ConnAck(_))) => {
                    tracing::info!("MQTT publish connection up");
                    connected = true;
                    w.resend();
                }
                Ok(ev) => w.on_event(&ev),
                Err(e) => {
                    if connected {
                        tracing::warn!(error = %e, "MQTT publish connection lost");
                    }
                    connected = false;
                    // what the old connection still had buffered (acknowledgements that did
                    // arrive) counts before everything unacknowledged is sent again
                    let stale: Vec<Event> = eventloop.state.events.drain(..).collect();
                    for ev in &stale {
                        w.on_event(ev);
                    }
                    w.resend();
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            },
            () = outbox.shared.added.notified(), if want_more => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_garbage_is_none() {
        let r = Record { topic: "a/b".into(), payload: b"\x00\xffxyz".to_vec() };
        assert_eq!(Record::decode(&r.encode()), Some(r));
        assert_eq!(Record::decode(&[]), None);
        assert_eq!(Record::decode(&[0, 9, b'a']), None);
        assert_eq!(Record::decode(&[0, 1, 0xff]), None);
    }

    #[tokio::test]
    async fn the_queue_survives_a_reopen_and_refuses_beyond_max_bytes() {
        let dir = std::env::temp_dir().join(format!("outbox-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("q");
        {
            let ob = Outbox::open(&path, 4096 + 200).unwrap();
            // a second opener is refused while the first holds the lock
            assert!(matches!(Outbox::open(&path, 1 << 20), Err(OutboxError::File(_))));
            for i in 0..10 {
                ob.push(&Record { topic: "t".into(), payload: vec![i; 10] }).await.unwrap();
            }
            let big = Record { topic: "t".into(), payload: vec![0; 4096] };
            assert!(matches!(ob.push(&big).await, Err(OutboxError::Full { .. })));
            assert_eq!(ob.len(), 10);
            ob.remove(3).await.unwrap();
        }
        // the writer thread lets go of the lock when the last sender is gone
        let ob = loop {
            match Outbox::open(&path, 1 << 20) {
                Ok(o) => break o,
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        };
        let got = ob.read(0, 100).await.unwrap();
        assert_eq!(got.len(), 7);
        assert_eq!(got[0].as_ref().unwrap().payload, vec![3; 10]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
