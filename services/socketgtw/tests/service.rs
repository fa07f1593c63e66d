//! The `socketgtw` binary, started from the upstream sample configuration (ports changed to free
//! ones, a token secret added) with the real npm `socket.io-client` over HTTP long-polling (which
//! upstream does not serve) and WebSocket: the gRPC per-node API sees the session, joins it to a
//! room, pushes to it with the delivered count in `x-delivered`, and the session is gone after
//! the client leaves.

use serde_json::json;
use socketgtw_svc::pb;
use socketgtw_svc::pb::socket_gtw_client::SocketGtwClient;
use socketio_cluster::auth::JwtAuth;
use std::time::Duration;
use testkit::port::free_port;
use testkit::service::{assert_ignored_with_warnings, print_config, spawn, wait_listening, ConfigFile};
use testkit::socketio::SioClient;

const BIN: &str = env!("CARGO_BIN_EXE_socketgtw");

fn sample(grpc: u16, http: u16) -> String {
    include_str!("data/upstream-socketgtw.yaml")
        .replace("0.0.0.0:25001", &format!("127.0.0.1:{grpc}"))
        .replace("Host: 0.0.0.0\n  Port: 11003", &format!("Host: 127.0.0.1\n  Port: {http}"))
        // no streamevent runs here: the hooks stay off
        .replace("  - 127.0.0.1:21009\n", "")
        .replace("  Endpoints:\n", "  Endpoints: []\n")
}

#[test]
fn the_upstream_sample_configures_socketgtw() {
    let file = ConfigFile::new("socketgtw.yaml", &sample(25001, 11003));
    let (ok, cfg, warnings) = print_config(BIN, &file.path, &[]);
    assert!(ok, "{warnings}");
    assert_eq!(cfg["Http"]["Port"].as_u64(), Some(11003));
    assert_eq!(cfg["SocketMetaData"].as_sequence().map(Vec::len), Some(7));
    assert_eq!(cfg["StreamEventConf"]["Timeout"].as_u64(), Some(10_000));
    assert_eq!(cfg["EnableStreamEventNotify"].as_bool(), Some(true));
    assert_ignored_with_warnings(
        &warnings,
        &[
            "Name",
            "Timeout",
            "Log.Encoding",
            "Log.Path",
            "Log.KeepDays",
            "NacosConfig",
            // as the sample spells them
            "http.Name",
            "http.Timeout",
            "StreamEventConf.NonBlock",
        ],
    );
}

fn delivered(m: &tonic::metadata::MetadataMap) -> &str {
    m.get(socketgtw_svc::rpc::DELIVERED).expect("x-delivered").to_str().unwrap()
}

async fn session(transport: &str) {
    let (grpc, http) = (free_port(), free_port());
    let yaml = sample(grpc, http)
        + "JwtAuth: {AccessSecret: gtw-secret}\nStatInterval: 200ms\nPrometheus: {ListenOn: ''}\nGracePeriod: 1s\n";
    let file = ConfigFile::new("socketgtw.yaml", &yaml);
    let _svc = spawn(BIN, &file.path, &[]);
    wait_listening(grpc, Duration::from_secs(30));
    wait_listening(http, Duration::from_secs(30));
    let mut api = SocketGtwClient::connect(format!("http://127.0.0.1:{grpc}")).await.unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let token = JwtAuth::new("gtw-secret", "", 60).issue("u1", [("uid", "u1")], now).unwrap().access_token;

    let mut c = SioClient::spawn(&format!("http://127.0.0.1:{http}"), Some(&token), transport);
    let mut sid = String::new();
    let mut news = None;
    while let Some(v) = c.next().await {
        match v["step"].as_str() {
            Some("connected") => assert_eq!(v["transport"], transport),
            Some("stat") if sid.is_empty() => {
                sid = v["stat"]["socketId"].as_str().unwrap().to_owned();
                assert_eq!(v["stat"]["metadata"], json!({"uid": "u1"}));
                let stat = api.socket_gtw_stat(pb::SocketGtwStatReq {}).await.unwrap().into_inner();
                assert_eq!(stat.sessions, 1);
                let j = api
                    .join_room(pb::JoinRoomReq { req_id: "j".into(), socket_id: sid.clone(), room: "via-grpc".into() })
                    .await
                    .unwrap();
                assert_eq!((delivered(j.metadata()), j.get_ref().req_id.as_str()), ("1", "j"));
                let b = api
                    .broadcast_room(pb::BroadcastRoomReq {
                        req_id: "b".into(),
                        room: "via-grpc".into(),
                        event: "news".into(),
                        payload: r#"{"v":2}"#.into(),
                    })
                    .await
                    .unwrap();
                assert_eq!(delivered(b.metadata()), "1");
                let nobody = api
                    .send_to_meta_session(pb::SendToMetaSessionReq {
                        req_id: "m".into(),
                        key: "uid".into(),
                        value: "someone-else".into(),
                        event: "x".into(),
                        payload: String::new(),
                    })
                    .await
                    .unwrap();
                assert_eq!(delivered(nobody.metadata()), "0");
                let bad = api
                    .broadcast_global(pb::BroadcastGlobalReq {
                        req_id: "g".into(),
                        event: "__down__".into(),
                        payload: "1".into(),
                    })
                    .await
                    .unwrap_err();
                assert_eq!(bad.code(), tonic::Code::InvalidArgument, "the reply event is reserved");
            }
            Some("news") => news = Some(v["down"].clone()),
            _ => {}
        }
    }
    assert!(!sid.is_empty(), "a __stat_down__ arrived");
    assert_eq!(news, Some(json!({"event": "news", "payload": {"v": 2}, "reqId": "b"})));
    testkit::wait::until("the session to go", Duration::from_secs(5), || {
        let mut api = api.clone();
        async move { (api.socket_gtw_stat(pb::SocketGtwStatReq {}).await.unwrap().into_inner().sessions == 0).then_some(()) }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_polling_session_through_the_binary() {
    session("polling").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_session_through_the_binary() {
    session("websocket").await;
}
