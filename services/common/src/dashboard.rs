//! The platform dashboard: one page to watch a service (or the whole platform under `zero up`),
//! made of panels each part contributes.
//!
//! A [`Panel`] says what it shows as a [`View`] (figures, tables, a detail on demand). The
//! [`Dashboard`] asks every panel once per tick (1 s by default), whatever the number of
//! viewers, serialises the views once, and hands that text to every open page over
//! Server-Sent Events: a viewer costs one write per tick and no database query. The page is
//! embedded HTML with a few lines of script (no build step, no npm): it renders any panel's
//! figures and tables, asks a panel for the detail of a clicked row (the latest values of a
//! station) and charts a chosen point from the values it receives.
//!
//! A row may carry [`Action`]s (retry a task, pause a queue): the page shows them as buttons and
//! posts the choice to `/api/dashboard/{panel}/action`; the panel's [`Panel::act`] does it and
//! every page sees the result on the next update, which comes at once.
//!
//! With an `AccessSecret`, every path needs the platform's JWT (HS256, `Authorization: Bearer`
//! or `?token=`, the page passes it on); a missing or bad token gets 401 and nothing else.
//! Without one the views are open, and actions are taken from loopback clients only (403
//! otherwise): a dashboard on a metrics port open to the network shows, it does not act.
//!
//! ```
//! use zero_svc::dashboard::{BoxFuture, Dashboard, Panel, View};
//! struct Hello;
//! impl Panel for Hello {
//!     fn id(&self) -> &str { "hello" }
//!     fn view(&self) -> BoxFuture<'_, View> { View::new("Hello").stat("answer", "42").ready() }
//! }
//! // the router starts its ticker on the current runtime
//! let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
//! let _in = rt.enter();
//! let app: axum::Router = Dashboard::new(zero_edge::auth::JwtAuth::new("", "", 0)).panel(Hello).router();
//! ```

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{header, HeaderMap};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Extension;
use axum::Router;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use zero_edge::auth::JwtAuth;
pub use zero_edge::error::ApiError;

/// The page (embedded).
pub const PAGE: &str = include_str!("dashboard.html");

/// A boxed, sendable future (what a panel's methods return).
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// A button on a row: `id` goes back to [`Panel::act`] with the row's key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    /// What [`Panel::act`] is told.
    pub id: String,
    /// The button's text.
    pub label: String,
    /// Ask the viewer before doing it (deletions).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub confirm: bool,
}

impl Action {
    /// A button `label` that tells the panel `id`.
    pub fn new(id: &str, label: &str) -> Action {
        Action { id: id.to_owned(), label: label.to_owned(), confirm: false }
    }

    /// The page asks before doing it.
    #[must_use]
    pub fn confirmed(mut self) -> Action {
        self.confirm = true;
        self
    }
}

/// How a row or figure looks: as usual, good news, or trouble.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Tone {
    /// Nothing to say.
    #[default]
    Plain,
    /// Working as it should.
    Good,
    /// Needs a look (disconnected, failing).
    Bad,
}

/// A figure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stat {
    /// What it is.
    pub label: String,
    /// Its value, as shown.
    pub value: String,
    /// Its look.
    #[serde(default)]
    pub tone: Tone,
}

/// A table row; `key` (when set) makes it clickable: the page asks the panel for its detail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// The detail key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The cells, as shown.
    pub cells: Vec<String>,
    /// Its look.
    #[serde(default)]
    pub tone: Tone,
    /// A number the page can chart for this row (a point's value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// Buttons (need `key`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<Action>,
}

impl Row {
    /// A row of `cells`.
    pub fn new(cells: Vec<String>) -> Row {
        Row { key: None, cells, tone: Tone::Plain, value: None, actions: vec![] }
    }

    /// With a key: clickable for its detail, and what its actions are applied to.
    #[must_use]
    pub fn key(mut self, key: impl Into<String>) -> Row {
        self.key = Some(key.into());
        self
    }

    /// With a look.
    #[must_use]
    pub fn tone(mut self, tone: Tone) -> Row {
        self.tone = tone;
        self
    }

    /// With a button.
    #[must_use]
    pub fn action(mut self, a: Action) -> Row {
        self.actions.push(a);
        self
    }
}

/// A table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Table {
    /// Its title.
    pub title: String,
    /// Column names.
    pub columns: Vec<String>,
    /// Rows.
    pub rows: Vec<Row>,
}

/// What a panel shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct View {
    /// The panel's title.
    pub title: String,
    /// Figures.
    pub stats: Vec<Stat>,
    /// Tables.
    pub tables: Vec<Table>,
}

impl View {
    /// An empty view titled `title`.
    pub fn new(title: &str) -> View {
        View { title: title.to_owned(), stats: vec![], tables: vec![] }
    }

    /// With a figure.
    #[must_use]
    pub fn stat(self, label: &str, value: impl ToString) -> View {
        self.stat_toned(label, value, Tone::Plain)
    }

    /// With a figure of a given look.
    #[must_use]
    pub fn stat_toned(mut self, label: &str, value: impl ToString, tone: Tone) -> View {
        self.stats.push(Stat { label: label.to_owned(), value: value.to_string(), tone });
        self
    }

    /// With a table.
    #[must_use]
    pub fn table(mut self, t: Table) -> View {
        self.tables.push(t);
        self
    }

    /// This view as a finished future (a panel that has it at hand).
    pub fn ready<'a>(self) -> BoxFuture<'a, View> {
        Box::pin(std::future::ready(self))
    }
}

impl Table {
    /// An empty table.
    pub fn new(title: &str, columns: &[&str]) -> Table {
        Table { title: title.to_owned(), columns: columns.iter().map(|c| (*c).to_owned()).collect(), rows: vec![] }
    }

    /// With a row.
    #[must_use]
    pub fn row(mut self, r: Row) -> Table {
        self.rows.push(r);
        self
    }
}

/// A part of the dashboard.
pub trait Panel: Send + Sync + 'static {
    /// Its id (a path segment: letters, digits, `-`).
    fn id(&self) -> &str;
    /// What it shows now (asked once per tick, whatever the number of viewers; a view that
    /// takes longer than a tick shows as unavailable).
    fn view(&self) -> BoxFuture<'_, View>;
    /// The detail of the row whose key is `key` (asked when a viewer chose that row).
    fn detail<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Option<View>> {
        let _ = key;
        Box::pin(std::future::ready(None))
    }
    /// Does `action` to the row `key`: what to tell the viewer, or why not (the platform's
    /// error body and status).
    fn act<'a>(&'a self, action: &'a str, key: &'a str) -> BoxFuture<'a, Result<String, ApiError>> {
        Box::pin(std::future::ready(Err(ApiError::not_found(format!("no action {action:?} for {key:?}")))))
    }
}

/// The dashboard of a service: its panels, the token check and the ticker.
pub struct Dashboard {
    panels: Vec<Arc<dyn Panel>>,
    auth: JwtAuth,
    every: Duration,
}

impl std::fmt::Debug for Dashboard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dashboard").field("panels", &self.panels.len()).field("every", &self.every).finish()
    }
}

/// Views as sent, and when they were made.
type Views = (std::time::Instant, Arc<str>);

#[derive(Clone)]
struct Shared {
    panels: Arc<HashMap<String, Arc<dyn Panel>>>,
    auth: Arc<JwtAuth>,
    /// The latest views and when they were made.
    latest: tokio::sync::watch::Receiver<Views>,
    every: Duration,
    /// Asks the ticker for new views now (after an action).
    now: Arc<tokio::sync::Notify>,
}

impl Dashboard {
    /// A dashboard checking tokens with `auth` (no secret: open).
    pub fn new(auth: JwtAuth) -> Dashboard {
        Dashboard { panels: vec![], auth, every: Duration::from_secs(1) }
    }

    /// With a panel.
    #[must_use]
    pub fn panel(mut self, p: impl Panel) -> Dashboard {
        self.panels.push(Arc::new(p));
        self
    }

    /// Updates every `every` (default 1 s).
    #[must_use]
    pub fn every(mut self, every: Duration) -> Dashboard {
        self.every = every.max(Duration::from_millis(50));
        self
    }

    /// The views of every panel, as sent (`{"at": unix ms, "panels": [{"id", "view"}]}`); the
    /// panels are asked together, each for at most `within`.
    async fn snapshot(panels: &[Arc<dyn Panel>], within: Duration) -> Arc<str> {
        #[derive(Serialize)]
        struct Entry<'a> {
            id: &'a str,
            view: View,
        }
        let views = futures_util::future::join_all(panels.iter().map(|p| async move {
            match tokio::time::timeout(within, p.view()).await {
                Ok(v) => v,
                Err(_) => View::new(p.id()).stat_toned("state", "unavailable (no answer within a tick)", Tone::Bad),
            }
        }))
        .await;
        let at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
        let panels: Vec<Entry<'_>> = panels.iter().zip(views).map(|(p, view)| Entry { id: p.id(), view }).collect();
        serde_json::json!({ "at": at as u64, "panels": panels }).to_string().into()
    }

    /// Serves this dashboard on the service's metrics port (beside `/metrics`, see
    /// [`crate::telemetry::metrics`]); replaces one installed before. Starts the ticker on the
    /// current runtime.
    pub fn install(self) {
        let r = self.router();
        *INSTALLED.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(r);
    }

    /// The dashboard's routes: `/` (the page), `/api/dashboard` (the latest views),
    /// `/api/dashboard/events` (Server-Sent Events, one `views` event per tick) and
    /// `/api/dashboard/{panel}/detail?key=` (a row's detail) and `POST
    /// /api/dashboard/{panel}/action` (`{"action", "key"}` as JSON: a row's button). Starts the
    /// ticker on the current runtime; it stops when the router is dropped. Serve it with
    /// `into_make_service_with_connect_info::<SocketAddr>()` for actions without a secret.
    pub fn router(self) -> Router {
        let Dashboard { panels, auth, every } = self;
        // nothing until the first views (made at once by the ticker)
        let (tx, rx) =
            tokio::sync::watch::channel((std::time::Instant::now(), Arc::<str>::from(r#"{"at":0,"panels":[]}"#)));
        let by_id = panels.iter().map(|p| (p.id().to_owned(), p.clone())).collect();
        let now = Arc::new(tokio::sync::Notify::new());
        let asked = now.clone();
        tokio::spawn(async move {
            loop {
                // the views are made once per tick, whatever the number of viewers
                let views = Dashboard::snapshot(&panels, every).await;
                if tx.send((std::time::Instant::now(), views)).is_err() {
                    break;
                }
                // nobody watching (only the router's own receiver): new views every 10 ticks
                // for the page's first render, or at once when a viewer comes
                let wait = if tx.receiver_count() <= 1 { every * 10 } else { every };
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = asked.notified() => {}
                    () = tx.closed() => break,
                }
            }
        });
        let shared = Shared { panels: Arc::new(by_id), auth: Arc::new(auth), latest: rx, now, every };
        Router::new()
            .route("/", get(page))
            .route("/api/dashboard", get(latest))
            .route("/api/dashboard/events", get(events))
            .route("/api/dashboard/{panel}/detail", get(detail))
            .route("/api/dashboard/{panel}/action", post(act))
            .with_state(shared)
    }
}

/// Another service's panel, shown in this dashboard (`zero up`'s page with the trigger
/// service's Tasks beside its own): its views are fetched once per tick, whatever the number
/// of viewers here, and a detail or an action is passed on. With a secret, each request carries
/// a token of one minute signed with it (the platform's services share their `AccessSecret`).
#[derive(Debug, Clone)]
pub struct Remote {
    id: String,
    base: String,
    auth: Arc<JwtAuth>,
    client: reqwest::Client,
}

impl Remote {
    /// The panel `id` of the dashboard at `url` (a service's metrics address, `http://host:port`),
    /// asked with tokens signed with `secret` (empty: none).
    pub fn new(id: &str, url: &str, secret: &str) -> Remote {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        let auth = Arc::new(JwtAuth::new(secret, "", 60));
        Remote { id: id.to_owned(), base: url.trim_end_matches('/').to_owned(), auth, client }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.client.request(method, format!("{}{path}", self.base));
        if !self.auth.enabled() {
            return r;
        }
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        match self.auth.issue("dashboard", [], i64::try_from(now).unwrap_or(0)) {
            Ok(t) => r.bearer_auth(t.access_token),
            Err(_) => r,
        }
    }

    /// The remote's answer as `T`, or its error.
    async fn call<T: serde::de::DeserializeOwned>(&self, r: reqwest::RequestBuilder) -> Result<T, ApiError> {
        let r = r.send().await.map_err(|e| ApiError::bad_gateway(format!("{}: {e}", self.base)))?;
        let status = r.status();
        let body = r.bytes().await.map_err(|e| ApiError::bad_gateway(format!("{}: {e}", self.base)))?;
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|e| ApiError::bad_gateway(format!("{}: {e}", self.base)));
        }
        // the remote's own refusal, as it said it
        #[derive(Deserialize)]
        struct Body {
            code: i32,
            message: String,
        }
        let b: Body = serde_json::from_slice(&body)
            .unwrap_or(Body { code: 2, message: String::from_utf8_lossy(&body).into_owned() });
        let status = axum::http::StatusCode::from_u16(status.as_u16()).unwrap_or(axum::http::StatusCode::BAD_GATEWAY);
        Err(ApiError { status, code: b.code, message: b.message })
    }
}

impl Panel for Remote {
    fn id(&self) -> &str {
        &self.id
    }

    fn view(&self) -> BoxFuture<'_, View> {
        Box::pin(async move {
            #[derive(Deserialize)]
            struct Entry {
                id: String,
                view: View,
            }
            #[derive(Deserialize)]
            struct Views {
                panels: Vec<Entry>,
            }
            let bad = |why: String| View::new(&self.id).stat_toned(&self.base, why, Tone::Bad);
            match self.call::<Views>(self.request(reqwest::Method::GET, "/api/dashboard")).await {
                Ok(v) => v
                    .panels
                    .into_iter()
                    .find(|p| p.id == self.id)
                    .map_or_else(|| bad(format!("no panel {:?} there", self.id)), |p| p.view),
                Err(e) => bad(format!("unavailable: {} {}", e.status.as_u16(), e.message)),
            }
        })
    }

    fn detail<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Option<View>> {
        Box::pin(async move {
            let r = self
                .request(reqwest::Method::GET, &format!("/api/dashboard/{}/detail", self.id))
                .query(&[("key", key)]);
            self.call::<View>(r).await.ok()
        })
    }

    fn act<'a>(&'a self, action: &'a str, key: &'a str) -> BoxFuture<'a, Result<String, ApiError>> {
        Box::pin(async move {
            #[derive(Deserialize)]
            struct Done {
                message: String,
            }
            let r = self
                .request(reqwest::Method::POST, &format!("/api/dashboard/{}/action", self.id))
                .json(&serde_json::json!({ "action": action, "key": key }));
            self.call::<Done>(r).await.map(|d| d.message)
        })
    }
}

/// The dashboard served on the metrics port ([`Dashboard::install`]).
static INSTALLED: RwLock<Option<Router>> = RwLock::new(None);

/// The installed dashboard, if a service installed one.
pub(crate) fn installed() -> Option<Router> {
    INSTALLED.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
}

/// The token check (`Authorization` or `?token=`): the refusal, if refused.
fn refused(s: &Shared, headers: &HeaderMap, query: &HashMap<String, String>) -> Option<Response> {
    if !s.auth.enabled() {
        return None;
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| query.get("token").cloned())
        .unwrap_or_default();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    // 401 with the platform's error body and nothing else
    s.auth
        .verify(&token, i64::try_from(now).unwrap_or(i64::MAX))
        .err()
        .map(|e| ApiError::unauthenticated(e.to_string()).into_response())
}

async fn page(State(s): State<Shared>, headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    if let Some(r) = refused(&s, &headers, &q) {
        return r;
    }
    // the page comes with the latest views in it: rendered at once, no second round trip
    let views = fresh(&s).await.replace("</", "<\\/");
    Html(PAGE.replacen("{{VIEWS}}", &views, 1)).into_response()
}

/// The latest views, made anew first when older than a tick (the ticker idles while nobody
/// watches; a burst of such requests shares one new snapshot).
async fn fresh(s: &Shared) -> Arc<str> {
    let mut rx = s.latest.clone();
    let made = rx.borrow_and_update().0;
    if made.elapsed() > s.every {
        s.now.notify_one();
        let _ = tokio::time::timeout(s.every * 2, rx.changed()).await;
    }
    let text = rx.borrow().1.clone();
    text
}

async fn latest(State(s): State<Shared>, headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    if let Some(r) = refused(&s, &headers, &q) {
        return r;
    }
    let body = fresh(&s).await.to_string();
    ([(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "no-store")], body).into_response()
}

async fn events(State(s): State<Shared>, headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    if let Some(r) = refused(&s, &headers, &q) {
        return r;
    }
    let mut rx = s.latest.clone();
    // a viewer wakes the ticker (idle while nobody watches; wake-ups coalesce)
    s.now.notify_one();
    rx.mark_changed();
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.changed().await.ok()?;
        let text = rx.borrow_and_update().1.clone();
        Some((Ok::<_, std::convert::Infallible>(Event::default().event("views").data(&*text)), rx))
    });
    Sse::new(stream).keep_alive(KeepAlive::default()).into_response()
}

async fn detail(
    State(s): State<Shared>,
    Path(panel): Path<String>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(r) = refused(&s, &headers, &q) {
        return r;
    }
    let Some(p) = s.panels.get(&panel) else {
        return ApiError::not_found(format!("no panel {panel:?}")).into_response();
    };
    let key = q.get("key").cloned().unwrap_or_default();
    match p.detail(&key).await {
        Some(v) => axum::Json(v).into_response(),
        None => ApiError::not_found(format!("no detail {key:?} in {panel}")).into_response(),
    }
}

/// A button pressed on the page.
#[derive(Debug, Deserialize)]
struct Act {
    action: String,
    #[serde(default)]
    key: String,
}

async fn act(
    State(s): State<Shared>,
    Path(panel): Path<String>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    body: Result<axum::Json<Act>, axum::extract::rejection::JsonRejection>,
) -> Response {
    if let Some(r) = refused(&s, &headers, &q) {
        return r;
    }
    // without a secret, only this machine acts (the views stay open)
    if !s.auth.enabled() && !peer.is_some_and(|Extension(ConnectInfo(a))| a.ip().is_loopback()) {
        return ApiError::forbidden("actions from other hosts need a token: set the dashboard's AccessSecret")
            .into_response();
    }
    // JSON only: a form posted from another site is refused (and the page's fetch is not simple,
    // so a browser asks first, and is not answered)
    let axum::Json(a) = match body {
        Ok(b) => b,
        Err(e) => return ApiError::bad_request(e.body_text()).into_response(),
    };
    let Some(p) = s.panels.get(&panel) else {
        return ApiError::not_found(format!("no panel {panel:?}")).into_response();
    };
    let r = p.act(&a.action, &a.key).await;
    if r.is_ok() {
        s.now.notify_one();
    }
    match r {
        Ok(message) => axum::Json(serde_json::json!({ "message": message })).into_response(),
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use std::sync::atomic::{AtomicU64, Ordering};
    use tower::ServiceExt;

    /// A panel counting its views and its "bump" actions.
    struct Counter {
        views: Arc<AtomicU64>,
        bumps: Arc<AtomicU64>,
    }

    impl Panel for Counter {
        fn id(&self) -> &str {
            "counter"
        }
        fn view(&self) -> BoxFuture<'_, View> {
            self.views.fetch_add(1, Ordering::Relaxed);
            View::new("Counter").stat("bumps", self.bumps.load(Ordering::Relaxed)).ready()
        }
        fn act<'a>(&'a self, action: &'a str, key: &'a str) -> BoxFuture<'a, Result<String, ApiError>> {
            Box::pin(async move {
                match (action, key) {
                    ("bump", "c") => Ok(format!("bumped to {}", self.bumps.fetch_add(1, Ordering::Relaxed) + 1)),
                    _ => Err(ApiError::bad_request("no such thing")),
                }
            })
        }
    }

    fn dashboard(secret: &str) -> (Router, Arc<AtomicU64>, Arc<AtomicU64>) {
        let (views, bumps) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let d = Dashboard::new(JwtAuth::new(secret, "", 0))
            .panel(Counter { views: views.clone(), bumps: bumps.clone() })
            .every(Duration::from_secs(3600));
        (d.router(), views, bumps)
    }

    async fn post(
        app: &Router,
        peer: Option<&str>,
        content_type: &str,
        body: &str,
        auth: Option<&str>,
    ) -> (StatusCode, String) {
        let mut req = Request::post("/api/dashboard/counter/action").header(header::CONTENT_TYPE, content_type);
        if let Some(a) = auth {
            req = req.header(header::AUTHORIZATION, a);
        }
        let mut req = req.body(Body::from(body.to_owned())).unwrap();
        if let Some(p) = peer {
            req.extensions_mut().insert(ConnectInfo::<SocketAddr>(p.parse().unwrap()));
        }
        let r = app.clone().oneshot(req).await.unwrap();
        let status = r.status();
        let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn actions_are_taken_from_loopback_or_with_a_token_and_refresh_the_views_at_once() {
        let (app, views, bumps) = dashboard("");
        let json = "application/json";
        let bump = r#"{"action":"bump","key":"c"}"#;
        // another host, or no known peer, without a secret: 403, nothing done
        for peer in [Some("192.0.2.7:5000"), None] {
            let (status, body) = post(&app, peer, json, bump, None).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
            assert!(body.contains("AccessSecret"), "{body}");
        }
        assert_eq!(bumps.load(Ordering::Relaxed), 0);
        // a form (what another site could post): refused; bad JSON, an unknown panel, the
        // panel's own refusal: their errors, nothing done
        let (status, _) = post(&app, Some("127.0.0.1:5000"), "application/x-www-form-urlencoded", bump, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _) = post(&app, Some("127.0.0.1:5000"), json, "{", None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, body) = post(&app, Some("[::1]:5000"), json, r#"{"action":"bump","key":"other"}"#, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert!(body.contains("no such thing"), "{body}");
        let r = app
            .clone()
            .oneshot(
                Request::post("/api/dashboard/nowhere/action")
                    .header(header::CONTENT_TYPE, json)
                    .extension(ConnectInfo::<SocketAddr>("127.0.0.1:1".parse().unwrap()))
                    .body(Body::from(bump))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        assert_eq!(bumps.load(Ordering::Relaxed), 0);
        // from this machine: done, and the views are made again at once (the tick is an hour)
        tokio::time::sleep(Duration::from_millis(50)).await;
        let before = views.load(Ordering::Relaxed);
        let (status, body) = post(&app, Some("127.0.0.1:5000"), json, bump, None).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, r#"{"message":"bumped to 1"}"#));
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while views.load(Ordering::Relaxed) == before {
            assert!(std::time::Instant::now() < deadline, "no new views after the action");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let r = app.clone().oneshot(Request::get("/api/dashboard").body(Body::empty()).unwrap()).await.unwrap();
        let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
        assert!(String::from_utf8_lossy(&body).contains(r#""label":"bumps","tone":"plain","value":"1""#));

        // with a secret: a token, from anywhere; none or a bad one: 401
        let secret = "a-secret-of-the-platform-0123456789";
        let (app, _, bumps) = dashboard(secret);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
        let t = JwtAuth::new(secret, "", 60).issue("op", [], now).unwrap().access_token;
        let (status, _) = post(&app, Some("127.0.0.1:5000"), json, bump, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, _) = post(&app, Some("127.0.0.1:5000"), json, bump, Some("Bearer x.y.z")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(bumps.load(Ordering::Relaxed), 0);
        let (status, body) = post(&app, Some("192.0.2.7:5000"), json, bump, Some(&format!("Bearer {t}"))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(bumps.load(Ordering::Relaxed), 1);
    }

    /// Serves `app` on a loopback port picked now; its `http://` address.
    async fn serve(app: Router) -> String {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(l, app.into_make_service_with_connect_info::<SocketAddr>()).await;
        });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn a_remote_panel_shows_and_operates_another_services_part() {
        let secret = "the-platform-secret-0123456789abcdef";
        let (app, _, bumps) = dashboard(secret);
        let url = serve(app).await;
        let remote = Remote::new("counter", &url, secret);
        let v = remote.view().await;
        assert_eq!(v.title, "Counter", "{v:?}");
        assert_eq!(v.stats[0].value, "0");
        assert_eq!(remote.act("bump", "c").await.unwrap(), "bumped to 1");
        assert_eq!(bumps.load(Ordering::Relaxed), 1);
        // the remote's refusal comes back as it said it
        let e = remote.act("bump", "other").await.unwrap_err();
        assert_eq!((e.status, e.message.as_str()), (StatusCode::BAD_REQUEST, "no such thing"));
        assert!(remote.detail("c").await.is_none(), "the counter has no detail");
        // the remote's new views show here
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while remote.view().await.stats[0].value != "1" {
            assert!(std::time::Instant::now() < deadline, "the action never showed");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // another secret, another panel id, nobody there: shown as trouble, nothing done
        for (r, want) in [
            (Remote::new("counter", &url, "another-secret-0123456789abcdef"), "401"),
            (Remote::new("elsewhere", &url, secret), "no panel"),
            (Remote::new("counter", "http://127.0.0.1:1", secret), "unavailable"),
        ] {
            let v = r.view().await;
            assert_eq!(v.stats[0].tone, Tone::Bad, "{v:?}");
            assert!(v.stats[0].value.contains(want), "{want}: {v:?}");
        }
        assert!(Remote::new("counter", &url, "another-secret-0123456789abcdef").act("bump", "c").await.is_err());
        assert_eq!(bumps.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn a_panel_slower_than_a_tick_shows_as_unavailable() {
        struct Stuck;
        impl Panel for Stuck {
            fn id(&self) -> &str {
                "stuck"
            }
            fn view(&self) -> BoxFuture<'_, View> {
                Box::pin(std::future::pending())
            }
        }
        let views = Dashboard::snapshot(&[Arc::new(Stuck)], Duration::from_millis(20)).await;
        assert!(views.contains("unavailable"), "{views}");
    }
}
