//! An engine: Docker or Podman, on a unix socket or a `tcp://` address, with the API version
//! negotiated at connection (bollard's default is newer than Debian's dockerd 20.10, which refuses
//! a request that names a version it does not know). Note: bollard 0.21 drops the `/v1.xx` prefix
//! from its URLs, so most requests reach the engine unversioned (it then applies its own default
//! version).

use bollard::Docker;

/// What went wrong talking to an engine.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The address is neither `unix://…`, a socket path nor `tcp://…` / `http://…`.
    #[error("engine address {0:?}: expected unix:///path or tcp://host:port")]
    Address(String),
    /// The engine did not answer, or answered an error.
    #[error("engine {host}: {source}")]
    Engine {
        /// The address.
        host: String,
        /// bollard's error.
        #[source]
        source: bollard::errors::Error,
    },
}

/// bollard's error, which [`EngineError::Engine`] carries.
pub use bollard::errors::Error as BollardError;

impl EngineError {
    /// The HTTP status the engine answered, when it answered an error (404: no such container
    /// or image, 409: a conflict); `None` when it did not answer.
    pub fn status_code(&self) -> Option<u16> {
        match self {
            EngineError::Engine { source: BollardError::DockerResponseServerError { status_code, .. }, .. } => {
                Some(*status_code)
            }
            _ => None,
        }
    }
}

/// An image as `ListImages` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// `sha256:…`.
    pub id: String,
    /// Its `repository:tag` names.
    pub references: Vec<String>,
    /// Its `repository@sha256:…` digests.
    pub digests: Vec<String>,
    /// Bytes.
    pub size: i64,
    /// Unix seconds.
    pub created: i64,
    /// Labels.
    pub labels: std::collections::BTreeMap<String, String>,
}

/// A connected engine (cheap to clone).
#[derive(Debug, Clone)]
pub struct Engine {
    docker: Docker,
    host: String,
    /// Live stats subscriptions by container id (see [`Engine::stats_many`]).
    live: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, Live>>>,
    /// Tells one subscription of a container from the next.
    generation: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// A subscription's latest sample, or the engine's (HTTP status, message).
type LiveSample = Result<crate::stats::Stats, (u16, String)>;

/// A live stats subscription.
#[derive(Debug)]
struct Live {
    rx: tokio::sync::watch::Receiver<Option<LiveSample>>,
    asked: std::time::Instant,
    generation: u64,
}

/// How long a stats subscription lives after the last call that asked for it.
pub const LIVE_IDLE: std::time::Duration = std::time::Duration::from_secs(60);

/// Seconds a request may take.
const TIMEOUT: u64 = 120;

impl Engine {
    /// Connects to `host` (`unix:///var/run/docker.sock`, `/run/podman/podman.sock`,
    /// `tcp://127.0.0.1:2375`) and negotiates the API version.
    ///
    /// # Errors
    /// [`EngineError::Address`], or [`EngineError::Engine`] when it does not answer.
    pub async fn connect(host: &str) -> Result<Engine, EngineError> {
        let err = |source| EngineError::Engine { host: host.to_owned(), source };
        let v = bollard::API_DEFAULT_VERSION;
        let docker = if host.starts_with("tcp://") || host.starts_with("http://") {
            Docker::connect_with_http(host, TIMEOUT, v).map_err(err)?
        } else if host.starts_with("unix://") || host.starts_with('/') {
            Docker::connect_with_unix(host, TIMEOUT, v).map_err(err)?
        } else {
            return Err(EngineError::Address(host.to_owned()));
        };
        let docker = docker.negotiate_version().await.map_err(err)?;
        Ok(Engine { docker, host: host.to_owned(), live: Default::default(), generation: Default::default() })
    }

    /// The address.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The API version in use (`(1, 41)` with Debian's dockerd).
    pub fn api_version(&self) -> (usize, usize) {
        let v = self.docker.client_version();
        (v.major_version, v.minor_version)
    }

    /// bollard's client, for what this crate does not wrap yet.
    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    /// Every image, with its digests.
    ///
    /// # Errors
    /// [`EngineError::Engine`].
    pub async fn images(&self) -> Result<Vec<Image>, EngineError> {
        // no `digests=true`: podman 4.3 answers it with an empty body, and both engines list
        // RepoDigests without it
        let opts = bollard::query_parameters::ListImagesOptionsBuilder::default().all(false).build();
        let list = self
            .docker
            .list_images(Some(opts))
            .await
            .map_err(|source| EngineError::Engine { host: self.host.clone(), source })?;
        Ok(list
            .into_iter()
            .map(|i| Image {
                id: i.id,
                // an untagged image is listed as `<none>:<none>`
                references: i.repo_tags.into_iter().filter(|t| t != "<none>:<none>").collect(),
                digests: i.repo_digests.into_iter().filter(|d| d != "<none>@<none>").collect(),
                size: i.size,
                created: i.created,
                labels: i.labels.into_iter().collect(),
            })
            .collect())
    }

    /// `GET path_and_query` (after the negotiated `/v1.xx` prefix) decoded as JSON into `T`, for
    /// answers that bollard's strict types refuse: podman lists containers in states Docker has
    /// no name for (`stopped`, `configured`), and one such container fails a whole
    /// `list_containers`. A connection of its own (unix socket or TCP), HTTP/1.1 through hyper.
    ///
    /// # Errors
    /// [`EngineError::Engine`]: the engine is unreachable, answered an error status, or sent
    /// JSON that is not a `T`.
    pub async fn get_json<T: serde::de::DeserializeOwned>(&self, path_and_query: &str) -> Result<T, EngineError> {
        use http_body_util::BodyExt as _;
        let err = |source| EngineError::Engine { host: self.host.clone(), source };
        let io = |e: std::io::Error| err(bollard::errors::Error::IOError { err: e });
        let (major, minor) = self.api_version();
        let uri = format!("/v{major}.{minor}{path_and_query}");
        let request = hyper::Request::get(&uri)
            .header(hyper::header::HOST, "docker")
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .map_err(|e| io(std::io::Error::other(e)))?;
        let hyper_err = |e: hyper::Error| io(std::io::Error::other(e));
        let response =
            if let Some(addr) = self.host.strip_prefix("tcp://").or_else(|| self.host.strip_prefix("http://")) {
                let stream = tokio::net::TcpStream::connect(addr.trim_end_matches('/')).await.map_err(io)?;
                send(stream, request).await.map_err(hyper_err)?
            } else {
                let path = self.host.strip_prefix("unix://").unwrap_or(&self.host);
                let stream = tokio::net::UnixStream::connect(path).await.map_err(io)?;
                send(stream, request).await.map_err(hyper_err)?
            };
        let status = response.status();
        let body = tokio::time::timeout(std::time::Duration::from_secs(TIMEOUT), response.into_body().collect())
            .await
            .map_err(|_| err(bollard::errors::Error::RequestTimeoutError))?
            .map_err(hyper_err)?
            .to_bytes();
        if !status.is_success() {
            return Err(err(bollard::errors::Error::DockerResponseServerError {
                status_code: status.as_u16(),
                message: String::from_utf8_lossy(&body).into_owned(),
            }));
        }
        serde_json::from_slice(&body).map_err(|e| err(bollard::errors::Error::JsonSerdeError { err: e }))
    }

    /// The answer ended before its one stats sample.
    fn no_sample(&self, container: &str) -> EngineError {
        EngineError::Engine {
            host: self.host.clone(),
            source: bollard::errors::Error::DockerResponseServerError {
                status_code: 500,
                message: format!("no stats sample for {container}"),
            },
        }
    }

    /// One stats sample of a container (the engine fills the previous sample in, so CPU % is
    /// over the engine's own interval), with the docker CLI's formulas.
    ///
    /// # Errors
    /// [`EngineError::Engine`] (an unknown container included).
    pub async fn stats(&self, container: &str) -> Result<crate::stats::Stats, EngineError> {
        use futures_util::StreamExt as _;
        let opts = bollard::query_parameters::StatsOptionsBuilder::new().stream(false).build();
        let mut samples = self.docker.stats(container, Some(opts));
        match samples.next().await {
            Some(Ok(s)) => Ok(crate::stats::Stats::from_sample(&s)),
            Some(Err(source)) => Err(EngineError::Engine { host: self.host.clone(), source }),
            None => Err(self.no_sample(container)),
        }
    }

    /// Stats of many containers at once, in the order of `containers`, from live subscriptions.
    ///
    /// An engine gives a fresh sample only at its stats collector's tick (dockerd: every second;
    /// a one-shot request made between ticks waits for the next one, so no request can answer
    /// faster than that). The first call for a container therefore subscribes to its stats
    /// stream and waits for the first sample (one tick, all containers of the call together);
    /// the subscription is then kept and every later call answers at once with its latest
    /// sample, as fresh as the engine makes them (at most one tick old), CPU % over the
    /// engine's own interval. A subscription nobody asked about for [`LIVE_IDLE`] ends, as does
    /// one whose container is gone (the next call subscribes again).
    pub async fn stats_many(&self, containers: &[String]) -> Vec<Result<crate::stats::Stats, EngineError>> {
        let one = |id: String| async move {
            let mut rx = self.live_stats(&id);
            let got = tokio::time::timeout(std::time::Duration::from_secs(TIMEOUT), rx.wait_for(Option::is_some)).await;
            let sample = match got {
                Ok(Ok(v)) => v.clone(),
                // the subscription ended before its first sample
                Ok(Err(_)) => None,
                Err(_) => Some(Err((504, format!("no stats sample for {id} in {TIMEOUT} s")))),
            };
            match sample {
                Some(Ok(s)) => Ok(s),
                Some(Err((status_code, message))) => Err(EngineError::Engine {
                    host: self.host.clone(),
                    source: BollardError::DockerResponseServerError { status_code, message },
                }),
                None => Err(self.no_sample(&id)),
            }
        };
        futures_util::future::join_all(containers.iter().cloned().map(one)).await
    }

    /// The latest-sample channel of `id`'s subscription, made when there is none.
    fn live_stats(&self, id: &str) -> tokio::sync::watch::Receiver<Option<LiveSample>> {
        use futures_util::StreamExt as _;
        let now = std::time::Instant::now();
        let mut live = self.live.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(l) = live.get_mut(id) {
            l.asked = now;
            return l.rx.clone();
        }
        let (tx, rx) = tokio::sync::watch::channel(None);
        let generation = self.generation.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        live.insert(id.to_owned(), Live { rx: rx.clone(), asked: now, generation });
        drop(live);
        let engine = self.clone();
        let id = id.to_owned();
        tokio::spawn(async move {
            let opts = bollard::query_parameters::StatsOptionsBuilder::new().stream(true).build();
            let mut samples = Box::pin(engine.docker.stats(&id, Some(opts)));
            loop {
                match tokio::time::timeout(LIVE_IDLE, samples.next()).await {
                    Ok(Some(Ok(s))) => {
                        let _ = tx.send(Some(Ok(crate::stats::Stats::from_sample(&s))));
                    }
                    Ok(Some(Err(e))) => {
                        let status = match &e {
                            BollardError::DockerResponseServerError { status_code, .. } => *status_code,
                            _ => 502,
                        };
                        let _ = tx.send(Some(Err((status, e.to_string()))));
                        break;
                    }
                    // the engine ended it (the container is gone) or sent nothing for long
                    Ok(None) | Err(_) => break,
                }
                let asked =
                    engine.live.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&id).map(|l| l.asked);
                if asked.is_none_or(|a| a.elapsed() > LIVE_IDLE) {
                    break;
                }
            }
            let mut live = engine.live.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if live.get(&id).is_some_and(|l| l.generation == generation) {
                live.remove(&id);
            }
        });
        rx
    }
}

/// One request on a new HTTP/1.1 connection over `stream`.
async fn send<S>(
    stream: S,
    request: hyper::Request<http_body_util::Empty<bytes::Bytes>>,
) -> Result<hyper::Response<hyper::body::Incoming>, hyper::Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    sender.send_request(request).await
}
