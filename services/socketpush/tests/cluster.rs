//! A cluster of real processes on loopback: two `socketgtw` gateways and `socketpush` started
//! from the upstream sample configuration (ports changed to free ones), with the real npm
//! `socket.io-client`: tokens from GenToken open a session, a room push reaches the member with
//! per-node results, the stats and the health service name both nodes, and a gateway killed with
//! SIGKILL is reported failed (and unreachable in health) within the deadline while the other
//! node's result still comes back.

use serde_json::json;
use socketpush_svc::pb;
use socketpush_svc::pb::socket_push_client::SocketPushClient;
use std::time::{Duration, Instant};
use testkit::port::free_port;
use testkit::service::{assert_ignored_with_warnings, print_config, spawn, wait_listening, workspace_bin, ConfigFile};
use testkit::socketio::SioClient;

const BIN: &str = env!("CARGO_BIN_EXE_socketpush");

fn gateway(grpc: u16, http: u16, metrics: u16) -> (ConfigFile, testkit::process::ChildGuard) {
    let yaml = format!(
        "ListenOn: 127.0.0.1:{grpc}\nHttp: {{Host: 127.0.0.1, Port: {http}}}\nJwtAuth: {{AccessSecret: sample-accesssecret}}\n\
         StatInterval: 200ms\nPrometheus: {{ListenOn: '127.0.0.1:{metrics}'}}\nGracePeriod: 1s\n"
    );
    let file = ConfigFile::new("socketgtw.yaml", &yaml);
    let guard = spawn(&workspace_bin("socketgtw"), &file.path, &[]);
    (file, guard)
}

/// The first panel's view of the dashboard on `port` once `ready` holds for it.
async fn dashboard(port: u16, ready: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let v = testkit::http::dashboard_views(port, "", |v| ready(&v["panels"][0]["view"])).await;
    v["panels"][0]["view"].clone()
}

fn header<'a, T>(r: &'a tonic::Response<T>, k: &str) -> &'a str {
    r.metadata().get(k).map(|v| v.to_str().unwrap()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_reach_the_members_and_a_killed_gateway_is_reported() {
    let (a_grpc, a_http, b_grpc, b_http, push) = (free_port(), free_port(), free_port(), free_port(), free_port());
    let (b_metrics, push_metrics) = (free_port(), free_port());
    let (_fa, mut gw_a) = gateway(a_grpc, a_http, free_port());
    let (_fb, _gw_b) = gateway(b_grpc, b_http, b_metrics);
    let sample = include_str!("data/upstream-socketpush.yaml")
        .replace("0.0.0.0:25002", &format!("127.0.0.1:{push}"))
        .replace("  - 127.0.0.1:25001\n", &format!("  - 127.0.0.1:{a_grpc}\n  - 127.0.0.1:{b_grpc}\n"));
    let file = ConfigFile::new(
        "socketpush.yaml",
        &(sample + format!("Prometheus: {{ListenOn: '127.0.0.1:{push_metrics}'}}\nGracePeriod: 1s\n").as_str()),
    );
    let (ok, cfg, warnings) = print_config(BIN, &file.path, &[]);
    assert!(ok, "{warnings}");
    assert_eq!(cfg["JwtAuth"]["AccessExpire"].as_u64(), Some(31_536_000));
    assert_eq!(cfg["SocketGtwConf"]["Endpoints"].as_sequence().map(Vec::len), Some(2));
    assert_ignored_with_warnings(
        &warnings,
        &["Name", "Timeout", "Log.Encoding", "Log.Path", "Log.KeepDays", "NacosConfig"],
    );
    let _push = spawn(BIN, &file.path, &[]);
    for p in [a_grpc, a_http, b_grpc, b_http, push] {
        wait_listening(p, Duration::from_secs(30));
    }
    let mut api = SocketPushClient::connect(format!("http://127.0.0.1:{push}")).await.unwrap();

    // tokens: GenToken's claims, VerifyToken, 104101 for a bad one
    let gen = pb::GenTokenReq { uid: "u7".into(), payload: [("uid".to_owned(), "u7".to_owned())].into() };
    let t = api.gen_token(gen).await.unwrap().into_inner();
    assert_eq!(t.access_expire - t.refresh_after, 31_536_000 / 2, "refresh half way through AccessExpire");
    let claims = api.verify_token(pb::VerifyTokenReq { access_token: t.access_token.clone() }).await.unwrap();
    let claims: serde_json::Value = serde_json::from_str(&claims.into_inner().claim_json).unwrap();
    assert_eq!((claims["user-id"].as_str(), claims["uid"].as_str()), (Some("u7"), Some("u7")));
    let bad = api.verify_token(pb::VerifyTokenReq { access_token: "x.y.z".into() }).await.unwrap_err();
    assert_eq!(zero_svc::errcode::reason(&bad).as_deref(), Some("104101"));
    let no_uid = api.gen_token(pb::GenTokenReq::default()).await.unwrap_err();
    assert_eq!(zero_svc::errcode::reason(&no_uid).as_deref(), Some("101102"));

    // before the gateways' index feeds arrived every push would go to both; once they did, a
    // room nobody is in costs no call at all
    let prober = api.clone();
    let probe = |room: &'static str| {
        let mut api = prober.clone();
        async move {
            let r = api
                .broadcast_room(pb::BroadcastRoomReq {
                    req_id: "probe".into(),
                    room: room.into(),
                    event: "probe".into(),
                    payload: String::new(),
                })
                .await
                .unwrap();
            header(&r, "x-nodes").to_owned()
        }
    };
    testkit::wait::until("both gateways' index feeds", Duration::from_secs(10), || async {
        probe("nobody").await.is_empty().then_some(())
    })
    .await;

    // a session on gateway B joins r1; the room push goes through socketpush to B only
    let mut c = SioClient::spawn(&format!("http://127.0.0.1:{b_http}"), Some(&t.access_token), "polling");
    let mut news = None;
    let mut pushed = false;
    while let Some(v) = c.next().await {
        if v["step"] == "stat" && !pushed {
            pushed = true;
            // the client's join reached socketpush's index through B's feed
            let b = format!("127.0.0.1:{b_grpc}");
            testkit::wait::until("r1 on B in the index", Duration::from_secs(5), || async {
                (probe("r1").await == b).then_some(())
            })
            .await;
            let stats = api.socket_gtw_stat(pb::SocketGtwStatReq {}).await.unwrap().into_inner().stats;
            let mut got: Vec<(String, i64)> = stats.into_iter().map(|s| (s.node, s.sessions)).collect();
            got.sort();
            let mut want = vec![(format!("127.0.0.1:{a_grpc}"), 0), (format!("127.0.0.1:{b_grpc}"), 1)];
            want.sort();
            assert_eq!(got, want);
            // the dashboards: the push node's index (both gateways in step, the session on B, r1
            // there), gateway B's own sessions and rooms; disconnecting a session it does not
            // hold is refused
            let (a, b) = (format!("127.0.0.1:{a_grpc}"), format!("127.0.0.1:{b_grpc}"));
            let has = |v: &serde_json::Value, t: usize, row: serde_json::Value| {
                v["tables"][t]["rows"].as_array().is_some_and(|rs| rs.iter().any(|r| r["cells"] == row))
            };
            let cluster = dashboard(push_metrics, |v| has(v, 1, json!(["r1", "1", "1"]))).await;
            let gateways: Vec<&serde_json::Value> =
                cluster["tables"][0]["rows"].as_array().unwrap().iter().map(|r| &r["cells"]).collect();
            let mut want_rows = [json!([a, "in step", "0"]), json!([b, "in step", "1"])];
            want_rows.sort_by_key(|r| r[0].as_str().unwrap().to_owned());
            assert_eq!(gateways, want_rows.iter().collect::<Vec<_>>(), "{cluster}");
            let gw = dashboard(b_metrics, |v| has(v, 0, json!(["r1", "1"]))).await;
            assert_eq!(gw["stats"][0]["value"], "1", "one session: {gw}");
            let session = &gw["tables"][1]["rows"][0];
            assert!(session["cells"][1].as_str().unwrap().split(", ").any(|r| r == "r1"), "{gw}");
            assert!(session["cells"][2].as_str().unwrap().contains("uid=u7"), "the session's metadata: {gw}");
            assert_eq!(session["actions"][0]["id"], "kick", "{gw}");
            let (status, _) = testkit::http::request_with(
                b_metrics,
                "POST",
                "/api/dashboard/socketio/action",
                &[("content-type", "application/json")],
                br#"{"action":"kick","key":"session:nobody"}"#,
            )
            .await;
            assert_eq!(status, 404);
            let r = api
                .broadcast_room(pb::BroadcastRoomReq {
                    req_id: "b1".into(),
                    room: "r1".into(),
                    event: "news".into(),
                    payload: r#"{"v":3}"#.into(),
                })
                .await
                .unwrap();
            assert_eq!((header(&r, "x-delivered"), header(&r, "x-failed-nodes")), ("1", ""));
            assert_eq!(header(&r, "x-nodes"), format!("127.0.0.1:{b_grpc}"), "only the gateway holding r1");
            assert_eq!(r.into_inner().req_id, "b1");
        }
        if v["step"] == "news" {
            news = Some(v["down"].clone());
        }
    }
    assert_eq!(news, Some(json!({"event": "news", "payload": {"v": 3}, "reqId": "b1"})));

    // the health service names the gateways this node reaches
    let channel =
        tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{push}")).unwrap().connect().await.unwrap();
    let health = tonic_health::pb::health_client::HealthClient::new(channel);
    let status = |port: u16| {
        let mut h = health.clone();
        async move {
            let req = tonic_health::pb::HealthCheckRequest { service: format!("socketgtw/127.0.0.1:{port}") };
            h.check(req).await.unwrap().into_inner().status
        }
    };
    let serving = tonic_health::pb::health_check_response::ServingStatus::Serving as i32;
    assert_eq!((status(a_grpc).await, status(b_grpc).await), (serving, serving));

    // gateway A dies without a word: the push returns within the deadline, A failed, B answered
    gw_a.0.kill().unwrap();
    gw_a.0.wait().unwrap();
    testkit::wait::until("A reported unreachable", Duration::from_secs(5), || async {
        (status(a_grpc).await != serving).then_some(())
    })
    .await;
    assert_eq!(status(b_grpc).await, serving);
    let t0 = Instant::now();
    let r = api
        .broadcast_global(pb::BroadcastGlobalReq { req_id: "g1".into(), event: "news".into(), payload: "1".into() })
        .await
        .unwrap();
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    assert_eq!(header(&r, "x-failed-nodes"), format!("127.0.0.1:{a_grpc}"));
    let stats = api.socket_gtw_stat(pb::SocketGtwStatReq {}).await.unwrap().into_inner().stats;
    assert_eq!(stats.iter().map(|s| s.node.as_str()).collect::<Vec<_>>(), [format!("127.0.0.1:{b_grpc}")]);
}
