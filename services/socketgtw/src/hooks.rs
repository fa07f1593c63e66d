//! The gateway's platform hooks over streamevent's `UpSocketMessage` (spec §4.2): the session's
//! token travels as the `authorization` metadata of the call.

use socketio_cluster::gateway::{HookError, HookFuture, Hooks, UpMessage};
use std::time::Duration;
use streamevent::pb::stream_event_client::StreamEventClient;
use tonic::transport::Channel;

/// `UpSocketMessage` calls; with `notify` off only `__up__` is forwarded.
#[derive(Clone)]
pub struct StreamEventHooks {
    /// The client (none: no endpoint configured).
    pub client: Option<StreamEventClient<Channel>>,
    /// Each call's deadline.
    pub timeout: Duration,
    /// `EnableStreamEventNotify`.
    pub notify: bool,
}

impl Hooks for StreamEventHooks {
    fn up(&self, m: UpMessage) -> HookFuture<'_> {
        Box::pin(async move {
            let Some(mut client) = self.client.clone() else { return Err(HookError::Unconfigured) };
            if !self.notify && m.event != socketio_cluster::events::UP {
                return Err(HookError::Unconfigured);
            }
            let mut req = tonic::Request::new(streamevent::pb::UpSocketMessageReq {
                req_id: m.req_id,
                s_id: m.sid,
                event: m.event.to_owned(),
                payload: m.payload,
            });
            req.set_timeout(self.timeout);
            if let Ok(v) = format!("Bearer {}", m.token).parse() {
                if !m.token.is_empty() {
                    req.metadata_mut().insert("authorization", v);
                }
            }
            match client.up_socket_message(req).await {
                Ok(r) => Ok(r.into_inner().payload),
                Err(s) => Err(HookError::Failed(s.message().to_owned())),
            }
        })
    }
}
