//! The routes of spec §15 (see the crate docs), inside the platform edge.

use crate::files::{resolve, upload_local, FileRpc};
use crate::users::{Edit, UserError, Users};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Multipart, Path as UrlPath, Query, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use std::path::PathBuf;
use std::sync::Arc;
use tower::ServiceExt as _;
use zero_edge::auth::{Claims, JwtAuth};
use zero_edge::error::{code, ApiError};
use zero_edge::trace::{TraceContext, TRACEPARENT};

/// What the handlers share.
#[derive(Debug, Clone)]
pub struct App {
    /// The users table.
    pub users: Users,
    /// Token issuing and checking.
    pub auth: JwtAuth,
    /// file.rpc (`None`: `FileRpcConf` names no server).
    pub files: Option<Arc<FileRpc>>,
    /// `NfsRootPath`.
    pub root: Arc<PathBuf>,
    /// `DownloadUrl`.
    pub download_url: Arc<str>,
    /// `SwaggerPath` (`None`: no route).
    pub swagger: Option<Arc<PathBuf>>,
    /// `MaxBytes`.
    pub max_bytes: u64,
}

/// Largest JSON body.
const MAX_JSON: usize = 1 << 20;

fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        ApiError::bad_request(if path == "." { format!("body: {inner}") } else { format!("field {path}: {inner}") })
    })
}

/// The 501 of a route that needs an account this deployment does not have.
fn not_configured(what: &str) -> ApiError {
    ApiError::grpc(code::UNIMPLEMENTED, format!("{what} is not configured on this gateway"))
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The identity and trace context of a call made for `req` (spec §0.3).
fn call_metadata(parts: &http::request::Parts) -> tonic::metadata::MetadataMap {
    let authorization = parts.headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let mut md = zero_svc::client::identity(parts.extensions.get::<Claims>(), authorization, "user");
    if let Some(t) = parts.extensions.get::<TraceContext>() {
        if let Ok(v) = t.to_header().parse() {
            md.insert(TRACEPARENT, v);
        }
    }
    md
}

fn user_error(e: UserError) -> ApiError {
    match e {
        UserError::BadLogin => ApiError::unauthenticated(e.to_string()),
        UserError::NotFound => ApiError::not_found(e.to_string()),
        UserError::Db(_) | UserError::Hash(_) => {
            tracing::warn!(error = %e, "users");
            ApiError::internal("users are unavailable")
        }
    }
}

/// `login`'s body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LoginReq {
    #[serde(alias = "account", alias = "userName")]
    username: String,
    password: String,
}

async fn login(State(app): State<App>, body: Bytes) -> Result<Response, ApiError> {
    let r: LoginReq = json_body(&body)?;
    if !app.auth.enabled() {
        return Err(not_configured("login (JwtAuth.AccessSecret)"));
    }
    let user = app.users.login(&r.username, &r.password).await.map_err(user_error)?;
    let claims =
        [("user-name", user.username.as_str()), ("dept-code", user.dept_code.as_str()), ("role", user.role.as_str())];
    let t = app.auth.issue(&user.id, claims, now()).map_err(|e| ApiError::internal(e.to_string()))?;
    tracing::info!(user = %user.username, "login");
    Ok(Json(serde_json::json!({
        "accessToken": t.access_token,
        "accessExpire": t.access_expire,
        "refreshAfter": t.refresh_after,
        "user": user,
    }))
    .into_response())
}

fn current_id(req: &Request) -> Result<String, ApiError> {
    match req.extensions().get::<Claims>().and_then(|c| c.get("user-id")) {
        Some(serde_json::Value::String(id)) if !id.is_empty() => Ok(id.clone()),
        _ => Err(ApiError::unauthenticated("token missing")),
    }
}

async fn get_current_user(State(app): State<App>, req: Request) -> Result<Response, ApiError> {
    let id = current_id(&req)?;
    Ok(Json(app.users.get(&id).await.map_err(user_error)?).into_response())
}

/// `editCurrentUser`'s body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EditReq {
    nickname: Option<String>,
    mobile: Option<String>,
    email: Option<String>,
    avatar: Option<String>,
    password: Option<String>,
    old_password: Option<String>,
}

async fn edit_current_user(State(app): State<App>, req: Request) -> Result<Response, ApiError> {
    let id = current_id(&req)?;
    let body = axum::body::to_bytes(req.into_body(), MAX_JSON)
        .await
        .map_err(|e| ApiError::bad_request(format!("body: {e}")))?;
    let r: EditReq = json_body(&body)?;
    let password = match (r.password, r.old_password) {
        (Some(new), Some(old)) if !new.is_empty() => Some((old, new)),
        (Some(new), None) if !new.is_empty() => return Err(ApiError::bad_request("password: oldPassword is required")),
        _ => None,
    };
    let edit = Edit { nickname: r.nickname, mobile: r.mobile, email: r.email, avatar: r.avatar, password };
    Ok(Json(app.users.edit(&id, edit).await.map_err(user_error)?).into_response())
}

/// `forward`'s body: logged only (as upstream).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ForwardReq {
    #[serde(default)]
    msg_id: String,
    #[serde(default)]
    body: serde_json::Value,
}

async fn forward(body: Bytes) -> Result<Response, ApiError> {
    let r: ForwardReq = json_body(&body)?;
    tracing::info!(msg_id = %r.msg_id, body = %r.body, "forward");
    Ok(Json(serde_json::json!({})).into_response())
}

async fn ping() -> Response {
    Json(serde_json::json!({"msg": "pong"})).into_response()
}

async fn upload_file(State(app): State<App>, form: Multipart) -> Result<Response, ApiError> {
    let up = upload_local(&app.root, &app.download_url, app.max_bytes, form).await?;
    tracing::info!(path = %up.path, size = up.size, "uploaded");
    Ok(Json(up).into_response())
}

/// `downloadFile`'s query.
#[derive(Debug, Deserialize)]
struct DownloadQuery {
    #[serde(default)]
    path: String,
}

/// `file` of `dir` (or an error) served with ranges and a content type.
async fn serve(file: PathBuf, req: Request, attachment: bool) -> Result<Response, ApiError> {
    let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("file").to_owned();
    let mut r = tower_http::services::ServeFile::new(&file)
        .oneshot(req)
        .await
        .map_err(|e| ApiError::internal(format!("reading the file: {e}")))?
        .into_response();
    if attachment {
        if let Ok(v) = format!("attachment; filename=\"{name}\"").parse() {
            r.headers_mut().insert(http::header::CONTENT_DISPOSITION, v);
        }
    }
    Ok(r)
}

async fn download_file(
    State(app): State<App>,
    Query(q): Query<DownloadQuery>,
    req: Request,
) -> Result<Response, ApiError> {
    let root = app.root.clone();
    let file = tokio::task::spawn_blocking(move || resolve(&root, &q.path))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))??;
    serve(file, req, true).await
}

async fn swagger(State(app): State<App>, UrlPath(name): UrlPath<String>, req: Request) -> Result<Response, ApiError> {
    let Some(dir) = app.swagger.clone() else { return Err(ApiError::not_found("no swagger directory")) };
    let file = tokio::task::spawn_blocking(move || resolve(&dir, &name))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))??;
    serve(file, req, false).await
}

fn file_rpc(app: &App) -> Result<Arc<FileRpc>, ApiError> {
    app.files.clone().ok_or_else(|| not_configured("file.rpc (FileRpcConf)"))
}

async fn file_unary(app: App, method: &str, req: Request) -> Result<Response, ApiError> {
    let files = file_rpc(&app)?;
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, MAX_JSON).await.map_err(|e| ApiError::bad_request(format!("body: {e}")))?;
    let json = files.unary_json(method, &body, call_metadata(&parts)).await?;
    Ok(([(http::header::CONTENT_TYPE, "application/json")], json).into_response())
}

async fn stat_file(State(app): State<App>, req: Request) -> Result<Response, ApiError> {
    file_unary(app, "StatFile", req).await
}

async fn sign_url(State(app): State<App>, req: Request) -> Result<Response, ApiError> {
    file_unary(app, "SignUrl", req).await
}

async fn put_file(State(app): State<App>, req: Request) -> Result<Response, ApiError> {
    let files = file_rpc(&app)?;
    let (parts, body) = req.into_parts();
    let md = call_metadata(&parts);
    let query = parts.uri.query().map(str::to_owned);
    let form = <Multipart as axum::extract::FromRequest<()>>::from_request(Request::from_parts(parts, body), &())
        .await
        .map_err(|e| ApiError::bad_request(format!("multipart: {}", e.body_text())))?;
    let json = files.put_stream(query.as_deref(), form, app.max_bytes, md).await?;
    Ok(([(http::header::CONTENT_TYPE, "application/json")], json).into_response())
}

async fn region_list() -> Result<Response, ApiError> {
    Err(not_configured("getRegionList (zero.rpc, the core business service, is not part of this platform)"))
}

async fn mini_program_login() -> Result<Response, ApiError> {
    Err(not_configured("WeChat mini-program login"))
}

async fn send_sms() -> Result<Response, ApiError> {
    Err(not_configured("SMS"))
}

async fn wechat_pay() -> Result<Response, ApiError> {
    Err(not_configured("WeChat pay"))
}

/// The routes (without the edge).
pub fn router(app: App) -> Router {
    let uploads = Router::new()
        .route("/app/common/v1/mfs/uploadFile", post(upload_file))
        .route("/file/v1/oss/endpoint/putFile", post(put_file))
        .route("/file/v1/oss/endpoint/putStreamFile", post(put_file))
        // streamed to disk or to file.rpc, counted against MaxBytes there
        .layer(DefaultBodyLimit::disable());
    Router::new()
        .route("/app/common/v1/getRegionList", post(region_list))
        .route("/file/v1/oss/endpoint/signUrl", post(sign_url))
        .route("/file/v1/oss/endpoint/statFile", post(stat_file))
        .route("/gtw/v1/forward", post(forward))
        .route("/gtw/v1/mfs/downloadFile", get(download_file))
        .route("/gtw/v1/ping", get(ping))
        .route("/gtw/v1/pay/wechat/paidNotify", post(wechat_pay))
        .route("/gtw/v1/pay/wechat/refundedNotify", post(wechat_pay))
        .route("/app/user/v1/login", post(login))
        .route("/app/user/v1/miniProgramLogin", post(mini_program_login))
        .route("/app/user/v1/sendSMSVerifyCode", post(send_sms))
        .route("/app/user/v1/getCurrentUser", get(get_current_user))
        .route("/app/user/v1/editCurrentUser", post(edit_current_user))
        .route("/swagger/{fileName}", get(swagger))
        .layer(DefaultBodyLimit::max(MAX_JSON))
        .merge(uploads)
        .with_state(app)
}
