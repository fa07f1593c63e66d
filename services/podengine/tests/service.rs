//! The `podengine` binary against the engines `scripts/test` starts (dockerd and podman's
//! Docker-compatible socket), the same suite on each: every RPC through gRPC as a Go client
//! calls it, a remote node over `tcp://` (a loopback proxy to the same engine), the validate
//! rules and the upstream codes, a missing image and a name collision leaving nothing behind;
//! image digests (dockerd's after a push to a registry of the test's own, podman's own); the
//! upstream sample configuration; and an engine that is not there at start: the service runs,
//! says NOT_SERVING, serves once the engine comes, and follows it going away and coming back.

use podengine_svc::pb;
use podengine_svc::pb::pod_engine_client::PodEngineClient;
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};
use testkit::port::free_port;
use testkit::service::{assert_ignored_with_warnings, print_config, spawn, wait_listening, ConfigFile};
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use zero_svc::errcode::ErrCode;

const BIN: &str = env!("CARGO_BIN_EXE_podengine");
const IMAGE: &str = "local/busybox:latest";

fn engine_host(engine: &str) -> String {
    let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_owned());
    match engine {
        "docker" => env("DOCKER_HOST_TEST", "unix:///var/run/docker.sock"),
        _ => env("PODMAN_HOST_TEST", "unix:///run/podman/podman.sock"),
    }
}

fn socket_path(host: &str) -> String {
    host.strip_prefix("unix://").unwrap_or(host).to_owned()
}

#[test]
fn the_upstream_sample_configures_podengine() {
    let file = ConfigFile::new("podengine.yaml", include_str!("data/upstream-podengine.yaml"));
    let (ok, cfg, warnings) = print_config(BIN, &file.path, &[]);
    assert!(ok, "{warnings}");
    assert_eq!(cfg["ListenOn"].as_str(), Some("0.0.0.0:21010"));
    assert_eq!(cfg["DockerConfig"]["config_1"].as_str(), Some("tcp://127.0.0.1:2375"));
    assert_ignored_with_warnings(
        &warnings,
        &["Name", "Mode", "Timeout", "Log.Encoding", "Log.Path", "Log.KeepDays", "NacosConfig"],
    );
    // a broken file is refused with the key named
    let bad = ConfigFile::new("podengine.yaml", "DockerConfig: [tcp://127.0.0.1:2375]\n");
    let (ok, _, err) = print_config(BIN, &bad.path, &[]);
    assert!(!ok && err.contains("DockerConfig"), "{err}");
}

/// Accepts TCP connections on a free loopback port and relays each to the unix socket `to`.
async fn tcp_to_unix(to: String) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let to = to.clone();
            tokio::spawn(async move {
                if let Ok(mut unix) = tokio::net::UnixStream::connect(&to).await {
                    let _ = tokio::io::copy_bidirectional(&mut tcp, &mut unix).await;
                }
            });
        }
    });
    port
}

/// Accepts connections on the unix socket `at` and relays each to the unix socket `to`, until
/// the handle is aborted (which closes every relayed connection too: the engine is gone).
fn unix_to_unix(at: &Path, to: String) -> tokio::task::JoinHandle<()> {
    let _ = std::fs::remove_file(at);
    let listener = tokio::net::UnixListener::bind(at).unwrap();
    tokio::spawn(async move {
        let mut relays = tokio::task::JoinSet::new();
        while let Ok((mut a, _)) = listener.accept().await {
            let to = to.clone();
            relays.spawn(async move {
                if let Ok(mut b) = tokio::net::UnixStream::connect(&to).await {
                    let _ = tokio::io::copy_bidirectional(&mut a, &mut b).await;
                }
            });
        }
    })
}

fn config(grpc: u16, prom: u16, local: &str, remote: Option<u16>) -> String {
    let remote = remote.map(|p| format!("\n  remote: tcp://127.0.0.1:{p}")).unwrap_or_default();
    format!(
        "ListenOn: 127.0.0.1:{grpc}\nPrometheus:\n  ListenOn: 127.0.0.1:{prom}\nLocalHost: {local}\n\
         InfraImage: {IMAGE}\nInfraCommand: [sleep, \"2147483647\"]\nHealthInterval: 100ms\n\
         DockerConfig:{}{remote}\n",
        if remote.is_empty() { " {}" } else { "" }
    )
}

async fn client(grpc: u16) -> PodEngineClient<Channel> {
    PodEngineClient::connect(format!("http://127.0.0.1:{grpc}")).await.unwrap()
}

async fn health(grpc: u16, service: &str) -> i32 {
    let channel =
        tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{grpc}")).unwrap().connect().await.unwrap();
    let mut h = tonic_health::pb::health_client::HealthClient::new(channel);
    h.check(tonic_health::pb::HealthCheckRequest { service: service.into() })
        .await
        .map(|r| r.into_inner().status)
        .unwrap_or(-1)
}

async fn wait_health(grpc: u16, service: &str, want: ServingStatus, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let got = health(grpc, service).await;
        if got == want as i32 {
            return;
        }
        assert!(Instant::now() < deadline, "{service}: health {got}, want {want:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The upstream code of a failed call.
fn code<T: std::fmt::Debug>(r: Result<T, tonic::Status>) -> ErrCode {
    let s = r.expect_err("the call fails");
    ErrCode::of_status(&s).unwrap_or_else(|| panic!("no upstream code in {s:?}"))
}

fn container(name: &str, args: &[&str]) -> pb::ContainerSpecPb {
    pb::ContainerSpecPb {
        name: name.into(),
        image: IMAGE.into(),
        args: args.iter().map(|s| (*s).to_owned()).collect(),
        ..Default::default()
    }
}

fn spec(name: &str, containers: Vec<pb::ContainerSpecPb>, labels: &[(&str, &str)]) -> pb::PodSpecPb {
    pb::PodSpecPb {
        name: name.into(),
        containers,
        labels: labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
        restart_policy: "no".into(),
        network_mode: "bridge".into(),
        ..Default::default()
    }
}

fn create(node: &str, name: &str, spec: pb::PodSpecPb) -> pb::CreatePodReq {
    pb::CreatePodReq { node: node.into(), name: name.into(), spec: Some(spec) }
}

async fn get(c: &mut PodEngineClient<Channel>, id: &str) -> pb::PodPb {
    c.get_pod(pb::GetPodReq { node: String::new(), id: id.into() }).await.unwrap().into_inner().pod.unwrap()
}

async fn list(c: &mut PodEngineClient<Channel>, req: pb::ListPodsReq) -> (Vec<String>, i32) {
    let r = c.list_pods(req).await.unwrap().into_inner();
    (r.items.into_iter().map(|i| i.name).collect(), r.total)
}

/// Containers on the engine of pod name `name` (the service's labels).
async fn on_engine(host: &str, name: &str) -> usize {
    let docker = bollard::Docker::connect_with_unix(host, 30, bollard::API_DEFAULT_VERSION).unwrap();
    let docker = docker.negotiate_version().await.unwrap();
    let filters = HashMap::from([("label", vec![format!("zero.pod.name={name}")])]);
    let opts = bollard::query_parameters::ListContainersOptionsBuilder::new().all(true).filters(&filters).build();
    // (podman's own states can fail bollard's listing: counted through the names instead)
    match docker.list_containers(Some(opts)).await {
        Ok(l) => l.len(),
        Err(e) => panic!("listing {name}: {e}"),
    }
}

/// The restart policy of container `name`, as the engine's inspect shows it.
async fn restart_policy(host: &str, name: &str) -> String {
    let docker = bollard::Docker::connect_with_unix(host, 30, bollard::API_DEFAULT_VERSION).unwrap();
    let docker = docker.negotiate_version().await.unwrap();
    let c = docker.inspect_container(name, None).await.unwrap();
    c.host_config.and_then(|h| h.restart_policy).and_then(|r| r.name).map(|n| n.to_string()).unwrap_or_default()
}

const DATETIME: fn(&str) -> bool = |s| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").is_ok();

async fn every_rpc_on(engine: &str) {
    let host = engine_host(engine);
    let proxy = tcp_to_unix(socket_path(&host)).await;
    let (grpc, prom) = (free_port(), free_port());
    let file = ConfigFile::new("podengine.yaml", &config(grpc, prom, &host, Some(proxy)));
    let _svc = spawn(BIN, &file.path, &[]);
    wait_listening(grpc, Duration::from_secs(20));
    wait_health(grpc, "podengine.PodEngine", ServingStatus::Serving, Duration::from_secs(10)).await;
    wait_health(grpc, "podengine.node.remote", ServingStatus::Serving, Duration::from_secs(10)).await;
    let mut c = client(grpc).await;
    let run = format!("{}-{engine}", std::process::id());
    let p = |n: &str| format!("svc{n}-{run}");

    // images
    let images = c
        .list_images(pb::ListImagesReq { references: vec!["local/busybox".into()], ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(images.total, 1, "{engine}: {images:?}");
    let image = &images.items[0];
    assert!(image.references.iter().any(|r| r.ends_with("local/busybox:latest")), "{engine}: {image:?}");
    assert!(image.size > 100_000 && image.size_display.ends_with("MB"), "{engine}: {image:?}");
    assert!(image.digests.is_empty() && DATETIME(&image.created_at), "{engine}: {image:?}");
    let none = c
        .list_images(pb::ListImagesReq { references: vec!["local/nothing".into()], ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((none.total, none.items.len()), (0, 0));

    // a two-container pod with a published port and limits
    let port = free_port();
    let mut web = container("Web", &["sh", "-c", "while true; do echo hi | nc -l -p 8080; done"]);
    web.ports = vec![format!("{port}:8080")];
    web.env = HashMap::from([("MODE".into(), "test".into())]);
    web.resources = HashMap::from([("memory".into(), "64m".into())]);
    let mut s1 = spec(&p("1"), vec![web, container("side", &["sleep", "300"])], &[("run", &run), ("app", "a")]);
    s1.annotations = HashMap::from([("note".into(), "first".into())]);
    let pod = c.create_pod(create("", &p("1"), s1.clone())).await.unwrap().into_inner().pod.unwrap();
    assert_eq!(pod.phase, pb::PodPhasePb::PodPhasePending as i32, "{engine}: {pod:?}");
    assert_eq!(pod.containers.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["Web", "side"]);
    assert!(pod.containers[0].state.as_ref().unwrap().waiting, "{engine}: {pod:?}");
    assert_eq!(pod.containers[0].ports, [format!("{port}:8080")]);
    assert_eq!(pod.containers[0].env.get("MODE").map(String::as_str), Some("test"));
    assert_eq!(pod.containers[0].resources.get("memory").map(String::as_str), Some("64m"));
    assert_eq!(pod.annotations.get("note").map(String::as_str), Some("first"));
    assert!(DATETIME(&pod.creation_time) && pod.start_time.is_empty(), "{engine}: {pod:?}");
    let cond =
        |p: &pb::PodPb, t: pb::PodConditionTypePb| p.conditions.iter().find(|c| c.r#type == t as i32).unwrap().clone();
    assert!(cond(&pod, pb::PodConditionTypePb::PodConditionTypePodScheduled).status);
    let ready = cond(&pod, pb::PodConditionTypePb::PodConditionTypeReady);
    assert!(!ready.status && ready.message.contains("Web") && ready.message.contains("side"), "{ready:?}");

    // started: running, ready, reachable from the host through the published port
    let pod = c
        .start_pod(pb::StartPodReq { node: String::new(), id: pod.id.clone() })
        .await
        .unwrap()
        .into_inner()
        .pod
        .unwrap();
    assert_eq!(pod.phase, pb::PodPhasePb::PodPhaseRunning as i32, "{engine}: {pod:?}");
    assert!(cond(&pod, pb::PodConditionTypePb::PodConditionTypeReady).status, "{engine}: {pod:?}");
    assert!(cond(&pod, pb::PodConditionTypePb::PodConditionTypeInitialized).status);
    let state = pod.containers[0].state.clone().unwrap();
    assert!(state.running && DATETIME(&state.started_time) && state.reason == "running", "{engine}: {state:?}");
    assert_eq!(testkit::port::first_bytes(port, Duration::from_secs(20)), "hi\n", "{engine}");

    // stats of both containers at once
    let stats = c
        .get_pod_stats(pb::GetPodStatsReq { node: String::new(), id: pod.id.clone() })
        .await
        .unwrap()
        .into_inner()
        .stats;
    let names: Vec<&str> = stats.iter().map(|s| s.container_name.as_str()).collect();
    assert_eq!(names, [format!("{}-web", p("1")), format!("{}-side", p("1"))], "{engine}");
    assert_eq!(stats[0].memory_limit, 64 << 20, "{engine}: {:?}", stats[0]);
    assert_eq!(stats[0].memory_limit_display, "64.00 MiB");
    assert!(stats[0].memory_usage > 0 && stats[0].memory_usage_percent_display.ends_with('%'), "{:?}", stats[0]);
    assert!(stats[0].cpu_usage_total > 0 && stats[0].cpu_usage_total_display.ends_with(" ns"));
    assert!(DATETIME(&stats[0].timestamp));

    // the dashboard on the metrics port: both nodes answer, the pod runs; opened, its
    // containers' figures (the limit as set)
    let key = format!("pod:local\u{1f}{}", pod.id);
    // (a pod just started is listed "unknown", then "pending" while podman reports it created,
    // for a tick or two before "running")
    let views = testkit::http::dashboard_views(prom, "", |v| {
        v["panels"][0]["view"]["tables"][1]["rows"]
            .as_array()
            .is_some_and(|rs| rs.iter().any(|r| r["key"] == key.as_str() && r["cells"][3] == "running"))
    })
    .await;
    let view = &views["panels"][0]["view"];
    let states: Vec<&serde_json::Value> =
        view["tables"][0]["rows"].as_array().unwrap().iter().map(|r| &r["cells"][2]).collect();
    assert_eq!(states, ["answers", "answers"], "{engine}: {view}");
    let row = view["tables"][1]["rows"].as_array().unwrap().iter().find(|r| r["key"] == key.as_str()).unwrap();
    assert_eq!((&row["cells"][1], &row["cells"][3]), (&p("1").into(), &"running".into()), "{engine}: {row}");
    let q: String = form_urlencoded::byte_serialize(key.as_bytes()).collect();
    let (status, body) =
        testkit::http::request_with(prom, "GET", &format!("/api/dashboard/pods/detail?key={q}"), &[], b"").await;
    let detail: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, 200, "{engine}: {detail}");
    let web = &detail["tables"][0]["rows"][0]["cells"];
    assert_eq!(web[0], "Web", "{engine}: {detail}");
    assert!(web[4].as_str().unwrap().ends_with("/ 64.00 MiB"), "{engine}: {detail}");

    // more pods, for the listing: one on the remote node (the same engine over tcp://); a
    // restart policy as the engine has it
    let mut s2 = spec(&p("2"), vec![container("a", &["sleep", "300"])], &[("run", &run), ("app", "b")]);
    s2.restart_policy = "onFailure".into();
    let p2 = c.create_pod(create("", &p("2"), s2)).await.unwrap().into_inner().pod.unwrap();
    assert_eq!(p2.containers[0].args, ["sleep", "300"], "{engine}");
    assert_eq!(restart_policy(&socket_path(&host), &format!("{}-a", p("2"))).await, "on-failure", "{engine}");
    let remote = c
        .create_pod(create(
            "remote",
            &p("3"),
            spec(&p("3"), vec![container("a", &["sleep", "300"])], &[("run", &run), ("app", "b")]),
        ))
        .await
        .unwrap()
        .into_inner()
        .pod
        .unwrap();
    let mine = || pb::ListPodsReq { labels: HashMap::from([("run".into(), run.clone())]), ..Default::default() };
    assert_eq!(list(&mut c, mine()).await, (vec![p("1"), p("2"), p("3")], 3), "{engine}");
    assert_eq!(
        list(&mut c, pb::ListPodsReq { node: "remote".into(), ..mine() }).await.1,
        3,
        "{engine}: the same engine"
    );
    let by_label = pb::ListPodsReq {
        labels: HashMap::from([("run".into(), run.clone()), ("app".into(), "b".into())]),
        ..Default::default()
    };
    assert_eq!(list(&mut c, by_label).await, (vec![p("2"), p("3")], 2));
    assert_eq!(list(&mut c, pb::ListPodsReq { names: vec![p("2")], ..mine() }).await, (vec![p("2")], 1));
    assert_eq!(list(&mut c, pb::ListPodsReq { ids: vec![pod.id[..12].to_owned()], ..mine() }).await, (vec![p("1")], 1));
    assert_eq!(list(&mut c, pb::ListPodsReq { limit: 2, ..mine() }).await, (vec![p("1"), p("2")], 3));
    assert_eq!(list(&mut c, pb::ListPodsReq { limit: 2, offset: 2, ..mine() }).await, (vec![p("3")], 3));
    let items = c.list_pods(pb::ListPodsReq { names: vec![p("1")], ..mine() }).await.unwrap().into_inner().items;
    let item = &items[0];
    assert_eq!(
        (item.id.as_str(), item.phase, item.state.as_str()),
        (pod.id.as_str(), pb::PodPhasePb::PodPhaseRunning as i32, "running")
    );
    assert!(item.ports.iter().any(|x| x.ends_with(&format!(":{port}->8080/tcp"))), "{engine}: {item:?}");
    assert!(item.image.ends_with(IMAGE) && DATETIME(&item.create_time) && item.labels.contains_key("app"), "{item:?}");

    // a forced stop is quick and leaves the pod STOPPED; a restart brings it back
    let t = Instant::now();
    c.stop_pod(pb::StopPodReq { node: String::new(), id: pod.id.clone(), force: true }).await.unwrap();
    assert!(t.elapsed() < Duration::from_secs(10), "{engine}: force took {:?}", t.elapsed());
    let stopped = get(&mut c, &pod.id).await;
    assert_eq!(stopped.phase, pb::PodPhasePb::PodPhaseStopped as i32, "{engine}: {stopped:?}");
    let st = stopped.containers[0].state.clone().unwrap();
    assert!(st.terminated && st.exit_code == "137" && DATETIME(&st.finished_time), "{engine}: {st:?}");
    let again = c
        .restart_pod(pb::RestartPodReq { node: String::new(), id: pod.id.clone() })
        .await
        .unwrap()
        .into_inner()
        .pod
        .unwrap();
    assert_eq!(again.phase, pb::PodPhasePb::PodPhaseRunning as i32, "{engine}: {again:?}");
    assert_eq!(testkit::port::first_bytes(port, Duration::from_secs(20)), "hi\n", "{engine}: after the restart");

    // refused requests: the validate rules, the node, the pod, the engine's answers
    let bad = |f: &dyn Fn(&mut pb::CreatePodReq)| {
        let mut r = create("", &p("x"), spec(&p("x"), vec![container("a", &["true"])], &[("run", &run)]));
        f(&mut r);
        r
    };
    for (what, req) in [
        ("no name", bad(&|r| r.name.clear())),
        ("no spec name", bad(&|r| r.spec.as_mut().unwrap().name.clear())),
        ("no spec", bad(&|r| r.spec = None)),
        ("no container", bad(&|r| r.spec.as_mut().unwrap().containers.clear())),
        ("no image", bad(&|r| r.spec.as_mut().unwrap().containers[0].image.clear())),
        ("restart policy", bad(&|r| r.spec.as_mut().unwrap().restart_policy = "sometimes".into())),
        ("network mode", bad(&|r| r.spec.as_mut().unwrap().network_mode = "overlay".into())),
        ("port", bad(&|r| r.spec.as_mut().unwrap().containers[0].ports = vec!["80".into()])),
        (
            "quantity",
            bad(&|r| {
                r.spec.as_mut().unwrap().containers[0].resources = HashMap::from([("memory".into(), "lots".into())]);
            }),
        ),
    ] {
        assert_eq!(code(c.create_pod(req).await), ErrCode::InvalidParam, "{engine}: {what}");
    }
    assert_eq!(code(c.list_pods(pb::ListPodsReq { limit: 1001, ..Default::default() }).await), ErrCode::InvalidParam);
    assert_eq!(code(c.get_pod(pb::GetPodReq { node: String::new(), id: String::new() }).await), ErrCode::InvalidParam);
    assert_eq!(code(c.get_pod(pb::GetPodReq { node: "nowhere".into(), id: pod.id.clone() }).await), ErrCode::NotFound);
    assert_eq!(
        code(c.get_pod(pb::GetPodReq { node: String::new(), id: "no-such-pod".into() }).await),
        ErrCode::NotFound
    );
    // a name in use: refused, the first pod untouched
    assert_eq!(
        code(c.create_pod(create("", &p("2"), spec(&p("2"), vec![container("a", &["true"])], &[]))).await),
        ErrCode::AlreadyExists
    );
    assert_eq!(list(&mut c, mine()).await.1, 3, "{engine}");
    // a missing image: refused, nothing left on the engine
    let mut missing = spec(&p("m"), vec![container("a", &["true"]), container("b", &["true"])], &[("run", &run)]);
    missing.containers[1].image = "local/no-such-image:1".into();
    assert_eq!(code(c.create_pod(create("", &p("m"), missing)).await), ErrCode::NotFound, "{engine}");
    assert_eq!(on_engine(&socket_path(&host), &p("m")).await, 0, "{engine}: nothing left");

    // deleted: gone from the API and from the engine
    for id in [pod.id.clone(), remote.id.clone()] {
        c.delete_pod(pb::DeletePodReq { node: String::new(), id: id.clone(), force: true, remove_volumes: true })
            .await
            .unwrap();
        assert_eq!(code(c.get_pod(pb::GetPodReq { node: String::new(), id }).await), ErrCode::NotFound);
    }
    let (left, _) = list(&mut c, mine()).await;
    for name in &left {
        let id = c.list_pods(pb::ListPodsReq { names: vec![name.clone()], ..mine() }).await.unwrap().into_inner().items
            [0]
        .id
        .clone();
        c.delete_pod(pb::DeletePodReq { node: String::new(), id, force: true, remove_volumes: true }).await.unwrap();
    }
    assert_eq!(list(&mut c, mine()).await, (vec![], 0));
    for n in ["1", "2", "3"] {
        assert_eq!(on_engine(&socket_path(&host), &p(n)).await, 0, "{engine}: pod {n} left containers");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_rpc_on_dockerd() {
    every_rpc_on("docker").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_rpc_on_podman() {
    every_rpc_on("podman").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn starts_without_its_engine_and_serves_when_it_comes() {
    let dir = ConfigFile::new("unused", "");
    let socket = dir.dir.join("engine.sock");
    let (grpc, prom) = (free_port(), free_port());
    let file = ConfigFile::new("podengine.yaml", &config(grpc, prom, &format!("unix://{}", socket.display()), None));
    let _svc = spawn(BIN, &file.path, &[]);
    wait_listening(grpc, Duration::from_secs(20));
    // running, and saying that its engine does not answer
    assert_eq!(health(grpc, "podengine.PodEngine").await, ServingStatus::NotServing as i32);
    assert_eq!(health(grpc, "").await, ServingStatus::NotServing as i32);
    let mut c = client(grpc).await;
    assert_eq!(code(c.list_pods(pb::ListPodsReq::default()).await), ErrCode::RemoteCallFailed);
    // the engine comes (the podman socket, behind the configured path)
    let engine = unix_to_unix(&socket, socket_path(&engine_host("podman")));
    wait_health(grpc, "podengine.PodEngine", ServingStatus::Serving, Duration::from_secs(5)).await;
    let images = c.list_images(pb::ListImagesReq::default()).await.unwrap().into_inner();
    assert!(images.total >= 1, "{images:?}");
    // the engine goes away mid-run, and comes back: the service follows, and serves again
    engine.abort();
    let _ = engine.await;
    let _ = std::fs::remove_file(&socket);
    wait_health(grpc, "podengine.PodEngine", ServingStatus::NotServing, Duration::from_secs(5)).await;
    assert_eq!(code(c.list_images(pb::ListImagesReq::default()).await), ErrCode::RemoteCallFailed);
    let _engine = unix_to_unix(&socket, socket_path(&engine_host("podman")));
    wait_health(grpc, "podengine.PodEngine", ServingStatus::Serving, Duration::from_secs(5)).await;
    assert!(c.list_images(pb::ListImagesReq::default()).await.unwrap().into_inner().total >= 1);
}

/// `docker-registry` (Debian's distribution 2.8) on a free loopback port, storing in `dir`.
fn registry(dir: &Path) -> (testkit::process::ChildGuard, u16) {
    let port = free_port();
    let config = dir.join("registry.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.join("data").display()
        ),
    )
    .unwrap();
    let child = std::process::Command::new("docker-registry")
        .arg("serve")
        .arg(&config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("docker-registry (scripts/test installs it)");
    let guard = testkit::process::ChildGuard(child);
    wait_listening(port, Duration::from_secs(20));
    (guard, port)
}

#[tokio::test(flavor = "multi_thread")]
async fn images_with_their_digests_on_both_engines() {
    // dockerd gives an image a digest once it is pushed: to a registry of the test's own
    let dir = ConfigFile::new("unused", "");
    let (_registry, reg) = registry(&dir.dir);
    let host = engine_host("docker");
    let docker = bollard::Docker::connect_with_unix(&host, 60, bollard::API_DEFAULT_VERSION).unwrap();
    let docker = docker.negotiate_version().await.unwrap();
    let repo = format!("127.0.0.1:{reg}/zero/busybox");
    let tag = bollard::query_parameters::TagImageOptionsBuilder::new().repo(&repo).tag("latest").build();
    docker.tag_image(IMAGE, Some(tag)).await.unwrap();
    let push = bollard::query_parameters::PushImageOptionsBuilder::new().tag("latest").build();
    let mut pushing = docker.push_image(&repo, Some(push), None);
    while let Some(step) = futures_util::StreamExt::next(&mut pushing).await {
        let step = step.unwrap();
        assert!(step.error_detail.is_none(), "push: {step:?}");
    }
    // podman gives every image a digest (of its manifest)
    for (engine, reference, digest_prefix) in [
        ("docker", repo.clone(), format!("{repo}@sha256:")),
        ("podman", IMAGE.to_owned(), "localhost/local/busybox@sha256:".to_owned()),
    ] {
        let (grpc, prom) = (free_port(), free_port());
        let file = ConfigFile::new("podengine.yaml", &config(grpc, prom, &engine_host(engine), None));
        let _svc = spawn(BIN, &file.path, &[]);
        wait_listening(grpc, Duration::from_secs(20));
        let mut c = client(grpc).await;
        let ask = |digests| pb::ListImagesReq {
            references: vec![reference.clone()],
            include_digests: digests,
            ..Default::default()
        };
        let with = c.list_images(ask(true)).await.unwrap().into_inner();
        assert_eq!(with.total, 1, "{engine}: {with:?}");
        assert!(with.items[0].digests.iter().any(|d| d.starts_with(&digest_prefix)), "{engine}: {with:?}");
        let without = c.list_images(ask(false)).await.unwrap().into_inner();
        assert!(without.items[0].digests.is_empty(), "{engine}: {without:?}");
        assert_eq!(without.items[0].id, with.items[0].id);
    }
    let rm = bollard::query_parameters::RemoveImageOptionsBuilder::new().build();
    docker.remove_image(&format!("{repo}:latest"), Some(rm), None).await.unwrap();
}
