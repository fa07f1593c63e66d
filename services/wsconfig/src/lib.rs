//! # wsconfig (service)
//!
//! Versioned client configuration of the long-connection system (issue #21), from the database
//! (SQLite by default; PostgreSQL, MySQL), with ETags so clients fetch only what changed. Each
//! item is a JSON document under an app and a name; a change gives it the app's next version.
//!
//! | route | answer |
//! |---|---|
//! | `GET /config/v1/{app}?since=N` | `{"app","version","items":{name: document}}`: the items changed after version N (all without `since`); `ETag: "v<version>"`, `304` for a matching `If-None-Match` |
//! | `GET /config/v1/{app}/{name}` | `{"name","version","value"}`, `ETag: "v<item version>"`, `304` likewise; 404 for none |
//! | `PUT /config/v1/admin/{app}/{name}` | the JSON document (token needed): `{"version"}` |
//!
//! Reading is public (a client before its login); changing needs the platform's JWT.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::collections::HashMap;
use std::future::Future;
use zero_edge::error::ApiError;
use zero_svc::db::{Db, Kind};

/// The embedded default configuration.
pub const DEFAULTS: &str = include_str!("../etc/wsconfig.yaml");

/// Configuration (see `etc/wsconfig.yaml`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Config {
    /// `ListenOn` (HTTP), `Log`, `Prometheus`, `GracePeriod`.
    #[serde(flatten)]
    pub base: zero_svc::config::Base,
    /// The database.
    #[serde(rename = "DB")]
    pub db: zero_svc::config::DbConf,
    /// Tokens for changes.
    pub jwt_auth: zero_edge::auth::JwtAuthConf,
    /// The edge.
    pub edge: zero_edge::http::EdgeConf,
    /// Largest item.
    pub max_bytes: usize,
}

impl zero_svc::ServiceConfig for Config {
    const NAME: &'static str = "wsconfig";
    const DEFAULTS: &'static str = DEFAULTS;
    fn base(&self) -> &zero_svc::config::Base {
        &self.base
    }
}

/// The `client_config` table.
#[derive(Debug, Clone)]
pub struct Store {
    db: Db,
}

fn db_err(e: sqlx::Error) -> ApiError {
    ApiError::grpc(13, format!("database: {e}"))
}

impl Store {
    /// Connects and migrates (this service owns `client_config`, migration 700001).
    ///
    /// # Errors
    /// The database cannot be reached or migrated.
    pub async fn connect(url: &str) -> Result<Store, String> {
        let db = Db::connect(url).await.map_err(|e| e.to_string())?;
        let m = match db.kind() {
            Kind::Sqlite => sqlx::migrate!("./migrations/sqlite"),
            Kind::Postgres => sqlx::migrate!("./migrations/postgres"),
            Kind::Mysql => sqlx::migrate!("./migrations/mysql"),
        };
        db.migrate(m).await.map_err(|e| e.to_string())?;
        Ok(Store { db })
    }

    /// The app's version (0: nothing yet) and its items changed after `since`.
    async fn changed(&self, app: &str, since: i64) -> Result<(i64, Vec<(String, i64, String)>), sqlx::Error> {
        let v: i64 =
            sqlx::query(&self.db.sql("SELECT COALESCE(MAX(version), 0) AS v FROM client_config WHERE app = ?"))
                .bind(app)
                .fetch_one(self.db.pool())
                .await?
                .try_get("v")?;
        let rows = sqlx::query(
            &self.db.sql("SELECT name, version, body FROM client_config WHERE app = ? AND version > ? ORDER BY name"),
        )
        .bind(app)
        .bind(since)
        .fetch_all(self.db.pool())
        .await?;
        let items = rows
            .iter()
            .map(|r| {
                Ok((zero_svc::db::text(r, "name")?, r.try_get::<i64, _>("version")?, zero_svc::db::text(r, "body")?))
            })
            .collect::<Result<_, sqlx::Error>>()?;
        Ok((v, items))
    }

    async fn item(&self, app: &str, name: &str) -> Result<Option<(i64, String)>, sqlx::Error> {
        let r = sqlx::query(&self.db.sql("SELECT version, body FROM client_config WHERE app = ? AND name = ?"))
            .bind(app)
            .bind(name)
            .fetch_optional(self.db.pool())
            .await?;
        r.map(|r| Ok((r.try_get::<i64, _>("version")?, zero_svc::db::text(&r, "body")?))).transpose()
    }

    /// Sets an item; its new version (the app's next).
    async fn set(&self, app: &str, name: &str, body: &str) -> Result<i64, sqlx::Error> {
        let mut tx = self.db.pool().begin().await?;
        let v: i64 =
            sqlx::query(&self.db.sql("SELECT COALESCE(MAX(version), 0) + 1 AS v FROM client_config WHERE app = ?"))
                .bind(app)
                .fetch_one(&mut *tx)
                .await?
                .try_get("v")?;
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        let updated = sqlx::query(
            &self.db.sql("UPDATE client_config SET version = ?, body = ?, update_time = ? WHERE app = ? AND name = ?"),
        )
        .bind(v)
        .bind(body)
        .bind(now)
        .bind(app)
        .bind(name)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated == 0 {
            sqlx::query(
                &self
                    .db
                    .sql("INSERT INTO client_config (app, name, version, body, update_time) VALUES (?, ?, ?, ?, ?)"),
            )
            .bind(app)
            .bind(name)
            .bind(v)
            .bind(body)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(v)
    }
}

#[derive(Clone)]
struct App {
    store: Store,
    max_bytes: usize,
}

fn etag(v: i64) -> String {
    format!("\"v{v}\"")
}

fn not_modified(headers: &HeaderMap, tag: &str) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*"))
}

fn name_ok(s: &str) -> Result<(), ApiError> {
    if s.is_empty() || s.len() > 128 {
        return Err(ApiError::bad_request(format!("{s:?}: app and name are 1 to 128 bytes")));
    }
    Ok(())
}

async fn app_config(
    State(a): State<App>,
    Path(app): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let r = async {
        name_ok(&app)?;
        let since = match q.get("since") {
            Some(s) => s.parse::<i64>().map_err(|_| ApiError::bad_request(format!("since {s:?} is no version")))?,
            None => 0,
        };
        let (version, items) = a.store.changed(&app, since).await.map_err(db_err)?;
        let tag = etag(version);
        if not_modified(&headers, &tag) {
            return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, tag)]).into_response());
        }
        let items: serde_json::Map<String, serde_json::Value> = items
            .into_iter()
            .map(|(n, _, b)| (n, serde_json::from_str(&b).unwrap_or(serde_json::Value::String(b))))
            .collect();
        let body = serde_json::json!({"app": app, "version": version, "items": items});
        Ok::<_, ApiError>(([(header::ETAG, tag)], axum::Json(body)).into_response())
    };
    r.await.unwrap_or_else(IntoResponse::into_response)
}

async fn item(State(a): State<App>, Path((app, name)): Path<(String, String)>, headers: HeaderMap) -> Response {
    let r = async {
        name_ok(&app)?;
        name_ok(&name)?;
        let Some((version, body)) = a.store.item(&app, &name).await.map_err(db_err)? else {
            return Err(ApiError::not_found(format!("no {app}/{name}")));
        };
        let tag = etag(version);
        if not_modified(&headers, &tag) {
            return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, tag)]).into_response());
        }
        let value: serde_json::Value = serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body));
        Ok(([(header::ETAG, tag)], axum::Json(serde_json::json!({"name": name, "version": version, "value": value})))
            .into_response())
    };
    r.await.unwrap_or_else(IntoResponse::into_response)
}

async fn set(State(a): State<App>, Path((app, name)): Path<(String, String)>, body: axum::body::Bytes) -> Response {
    let r = async {
        name_ok(&app)?;
        name_ok(&name)?;
        if body.len() > a.max_bytes {
            return Err(ApiError::bad_request(format!("{} bytes: over MaxBytes {}", body.len(), a.max_bytes)));
        }
        let v: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("the item is no JSON: {e}")))?;
        let version = a.store.set(&app, &name, &v.to_string()).await.map_err(db_err)?;
        tracing::info!(%app, %name, version, "client configuration changed");
        Ok(axum::Json(serde_json::json!({"version": version})).into_response())
    };
    r.await.unwrap_or_else(IntoResponse::into_response)
}

/// Runs the service on `listener` until `shutdown`.
///
/// # Errors
/// The database, the edge's configuration, server errors.
pub async fn run(
    cfg: Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), zero_svc::Error> {
    let store = Store::connect(&cfg.db.data_source)
        .await
        .map_err(|e| zero_svc::Error::Config(format!("DB.DataSource {}: {e}", cfg.db.data_source)))?;
    let (edge, rbac) = zero_svc::http_edge("wsconfig", &cfg.edge, cfg.jwt_auth.build(), &cfg.db.data_source).await?;
    let app = axum::Router::new()
        .route("/config/v1/{app}", get(app_config))
        .route("/config/v1/{app}/{name}", get(item))
        .route("/config/v1/admin/{app}/{name}", put(set))
        .with_state(App { store, max_bytes: cfg.max_bytes.max(1) });
    zero_svc::serve_http(listener, edge.wrap(app), shutdown, rbac).await
}
