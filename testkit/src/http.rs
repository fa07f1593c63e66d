//! A plain HTTP/1.1 client for tests (hyper, one connection per request): what a browser or
//! a webhook sender does, without a client library's retries or redirects.

use http_body_util::BodyExt as _;

/// `method` `http://127.0.0.1:port` + `path` with `body` (JSON when non-empty); (status, body).
///
/// # Panics
/// When nothing listens on the port.
pub async fn request(port: u16, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
    request_with(port, method, path, &[], body).await
}

/// [`request`] with more `headers`.
///
/// # Panics
/// When nothing listens on the port.
pub async fn request_with(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<u8>) {
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("the server listens");
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.expect("HTTP/1.1");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", format!("127.0.0.1:{port}"))
        .header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(http_body_util::Full::new(bytes::Bytes::copy_from_slice(body))).expect("a request");
    let res = sender.send_request(req).await.expect("an answer");
    let status = res.status().as_u16();
    let body = res.into_body().collect().await.expect("the body").to_bytes().to_vec();
    (status, body)
}

/// `POST` of `json`; (status, the answer as JSON, `Null` when it is not).
pub async fn post_json(port: u16, path: &str, json: &serde_json::Value) -> (u16, serde_json::Value) {
    let (status, body) = request(port, "POST", path, json.to_string().as_bytes()).await;
    (status, serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null))
}

/// `GET http://127.0.0.1:port` + `path`: (status, body as text).
///
/// # Panics
/// When nothing listens on the port.
pub async fn get_text(port: u16, path: &str) -> (u16, String) {
    let (status, body) = request_with(port, "GET", path, &[], b"").await;
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// The platform dashboard's views on `port` (`/api/dashboard` + `query`), once `ready` holds
/// for them (the views follow what they show within a tick): the whole answer.
///
/// # Panics
/// When the dashboard does not answer 200, or `ready` does not hold within 20 s.
pub async fn dashboard_views(port: u16, query: &str, ready: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (status, body) = get_text(port, &format!("/api/dashboard{query}")).await;
        assert_eq!(status, 200, "the dashboard on {port}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("the views are JSON");
        if ready(&v) {
            return v;
        }
        assert!(std::time::Instant::now() < deadline, "the dashboard never showed what was expected: {v}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
