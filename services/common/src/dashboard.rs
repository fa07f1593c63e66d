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
//! With an `AccessSecret`, every path needs the platform's JWT (HS256, `Authorization: Bearer`
//! or `?token=`, the page passes it on); a missing or bad token gets 401 and nothing else.
//!
//! ```
//! use zero_svc::dashboard::{Dashboard, Panel, View};
//! struct Hello;
//! impl Panel for Hello {
//!     fn id(&self) -> &str { "hello" }
//!     fn view(&self) -> View { View::new("Hello").stat("answer", "42") }
//! }
//! // the router starts its ticker on the current runtime
//! let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
//! let _in = rt.enter();
//! let app: axum::Router = Dashboard::new(zero_edge::auth::JwtAuth::new("", "", 0)).panel(Hello).router();
//! ```

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use zero_edge::auth::JwtAuth;
use zero_edge::error::ApiError;

/// The page (embedded).
pub const PAGE: &str = include_str!("dashboard.html");

/// How a row or figure looks: as usual, good news, or trouble.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
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
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stat {
    /// What it is.
    pub label: String,
    /// Its value, as shown.
    pub value: String,
    /// Its look.
    pub tone: Tone,
}

/// A table row; `key` (when set) makes it clickable: the page asks the panel for its detail.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// The detail key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The cells, as shown.
    pub cells: Vec<String>,
    /// Its look.
    pub tone: Tone,
    /// A number the page can chart for this row (a point's value).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
}

/// A table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Table {
    /// Its title.
    pub title: String,
    /// Column names.
    pub columns: Vec<String>,
    /// Rows.
    pub rows: Vec<Row>,
}

/// What a panel shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
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
}

/// A part of the dashboard.
pub trait Panel: Send + Sync + 'static {
    /// Its id (a path segment: letters, digits, `-`).
    fn id(&self) -> &str;
    /// What it shows now (asked once per tick, whatever the number of viewers).
    fn view(&self) -> View;
    /// The detail of the row whose key is `key` (asked when a viewer chose that row).
    fn detail(&self, key: &str) -> Option<View> {
        let _ = key;
        None
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

#[derive(Clone)]
struct Shared {
    panels: Arc<HashMap<String, Arc<dyn Panel>>>,
    auth: Arc<JwtAuth>,
    latest: tokio::sync::watch::Receiver<Arc<str>>,
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

    /// The views of every panel, as sent (`{"at": unix ms, "panels": [{"id", "view"}]}`).
    fn snapshot(panels: &[Arc<dyn Panel>]) -> Arc<str> {
        #[derive(Serialize)]
        struct Entry<'a> {
            id: &'a str,
            view: View,
        }
        let at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
        let panels: Vec<Entry<'_>> = panels.iter().map(|p| Entry { id: p.id(), view: p.view() }).collect();
        serde_json::json!({ "at": at as u64, "panels": panels }).to_string().into()
    }

    /// The dashboard's routes: `/` (the page), `/api/dashboard` (the latest views),
    /// `/api/dashboard/events` (Server-Sent Events, one `views` event per tick) and
    /// `/api/dashboard/{panel}/detail?key=` (a row's detail). Starts the ticker on the current
    /// runtime; it stops when the router is dropped.
    pub fn router(self) -> Router {
        let Dashboard { panels, auth, every } = self;
        let (tx, rx) = tokio::sync::watch::channel(Dashboard::snapshot(&panels));
        let by_id = panels.iter().map(|p| (p.id().to_owned(), p.clone())).collect();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                // the views are made once per tick, whatever the number of viewers
                if tx.send(Dashboard::snapshot(&panels)).is_err() {
                    break;
                }
            }
        });
        let shared = Shared { panels: Arc::new(by_id), auth: Arc::new(auth), latest: rx };
        Router::new()
            .route("/", get(page))
            .route("/api/dashboard", get(latest))
            .route("/api/dashboard/events", get(events))
            .route("/api/dashboard/{panel}/detail", get(detail))
            .with_state(shared)
    }
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
    let views = s.latest.borrow().replace("</", "<\\/");
    Html(PAGE.replacen("{{VIEWS}}", &views, 1)).into_response()
}

async fn latest(State(s): State<Shared>, headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    if let Some(r) = refused(&s, &headers, &q) {
        return r;
    }
    let body = s.latest.borrow().to_string();
    ([(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "no-store")], body).into_response()
}

async fn events(State(s): State<Shared>, headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    if let Some(r) = refused(&s, &headers, &q) {
        return r;
    }
    let mut rx = s.latest.clone();
    rx.mark_changed();
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.changed().await.ok()?;
        let text = rx.borrow_and_update().clone();
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
    match p.detail(&key) {
        Some(v) => axum::Json(v).into_response(),
        None => ApiError::not_found(format!("no detail {key:?} in {panel}")).into_response(),
    }
}
