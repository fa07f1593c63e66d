//! Cluster mode: two instances share six stations so each is polled by exactly one, and when one
//! instance goes away its stations move to the other (through the machine's Mosquitto, on a topic
//! prefix of this test's own).

use iec104::point::{Point, PointValue};
use iec104::slave::{serve, Command, CommandHandler, PointConfig, Slave, SlaveConfig};
use iec104::types::{CommonAddress, Ioa};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// Accepts commands to IOA 5, refuses the rest.
struct Only5;
impl CommandHandler for Only5 {
    fn command(&self, cmd: &Command) -> bool {
        cmd.ioa.get() == 5
    }
}

async fn stations(n: usize) -> Vec<Slave> {
    let mut v = vec![];
    for _ in 0..n {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (s, d) = serve(l, SlaveConfig::default(), Only5);
        tokio::spawn(d);
        s.add_point(CommonAddress(1), PointConfig::new(Point::new(Ioa::new(1).unwrap(), PointValue::Single(true))));
        v.push(s);
    }
    v
}

async fn instance(id: &str, prefix: &str, slaves: &[Slave]) -> streamevent::caller::Pipeline {
    let list: Vec<String> = slaves
        .iter()
        .map(|s| format!("{{Host: 127.0.0.1, Port: {}, IcCoaList: []}}", s.local_addr().unwrap().port()))
        .collect();
    let yaml = format!(
        "DeployMode: cluster\nCluster: {{InstanceId: {id}, MembersTopic: {prefix}/members}}\n\
         MqttConfig: {{IsPush: false, Broker: '127.0.0.1:1883', ClientId: '', Username: '', Password: '', Qos: 1, Topic: []}}\n\
         IecServerConfig: [{}]\n",
        list.join(", ")
    );
    let cfg: ieccaller_svc::Config = zero_svc::config::merge_str(ieccaller_svc::DEFAULTS, Some(&yaml), &[]).unwrap();
    streamevent::caller::start(&cfg.caller, streamevent::channel::Fanout::default(), vec![]).await.unwrap()
}

async fn wait(what: &str, mut ok: impl FnMut() -> bool) {
    // generous: a membership change waits for the broker, and a loaded machine is slow
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stations_are_shared_and_move_when_an_instance_is_lost() {
    // the membership changes and station moves are logged, shown when the test fails
    let _ = tracing_subscriber::fmt().with_test_writer().with_env_filter("ieccaller=info,iec104=warn").try_init();
    // six stations, plus more while rendezvous hashing of these ports gives one instance none
    // (1 run in 32 with six): each instance must own some for the test to mean anything
    let members: BTreeSet<String> = ["a".to_owned(), "b".to_owned()].into();
    let key = |s: &Slave| format!("127.0.0.1:{}", s.local_addr().unwrap().port());
    let mut slaves = stations(6).await;
    while slaves.iter().all(|s| streamevent::caller::cluster::owner(&members, &key(s)) == Some("a"))
        || slaves.iter().all(|s| streamevent::caller::cluster::owner(&members, &key(s)) == Some("b"))
    {
        slaves.extend(stations(1).await);
    }
    let all: BTreeSet<String> = slaves.iter().map(key).collect();
    let owned_by_a: BTreeSet<String> =
        all.iter().filter(|k| streamevent::caller::cluster::owner(&members, k) == Some("a")).cloned().collect();
    let prefix = format!("zt{}", uuid::Uuid::now_v7().simple());
    let a = instance("a", &prefix, &slaves).await;
    let b = instance("b", &prefix, &slaves).await;

    // each station is polled by exactly one instance, and every station by one
    wait("the stations to be split", || {
        let ka: BTreeSet<String> = a.stations.keys().into_iter().collect();
        let kb: BTreeSet<String> = b.stations.keys().into_iter().collect();
        ka.is_disjoint(&kb) && ka.union(&kb).cloned().collect::<BTreeSet<_>>() == all && ka == owned_by_a
    })
    .await;
    wait("one connection per station", || slaves.iter().all(|s| s.connections() == 1)).await;
    let b_before: BTreeSet<String> = b.stations.keys().into_iter().collect();

    // a command through a's API for a station b polls is routed to b over MQTT and answered
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!("http://{}", listener.local_addr().unwrap());
    let svc = a.service(480);
    let _b_executes = b.service(480); // registers b as executor of calls routed to it
    tokio::spawn(zero_svc::grpc::serve(
        listener,
        streamevent::caller::pb::iec_caller_server::IecCallerServer::from_arc(svc),
        &[],
        std::future::pending(),
    ));
    let (host, port) = b_before.iter().next().unwrap().rsplit_once(':').unwrap();
    let cmd = |ioa| streamevent::caller::pb::SendSingleCommandReq {
        host: host.to_owned(),
        port: port.parse().unwrap(),
        coa: 1,
        ioa,
        value: true,
        with_time: true,
    };
    let mut client = streamevent::caller::pb::iec_caller_client::IecCallerClient::connect(api).await.unwrap();
    let ok = client.send_single_command(cmd(5)).await.expect("routed to the owner and accepted");
    assert!(ok.into_inner().value);
    let e = client.send_single_command(cmd(6)).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::Aborted);
    assert_eq!(zero_svc::errcode::reason(&e).as_deref(), Some("105102"));
    assert!(
        e.message().starts_with("command rejected: cot=ActivationCon isNegative=true typeId=58"),
        "{}",
        e.message()
    );

    // instance a goes away: b takes its stations, and keeps its own
    a.stop(Duration::from_secs(5)).await;
    wait("b to poll every station", || b.stations.keys().into_iter().collect::<BTreeSet<_>>() == all).await;
    assert!(b_before.iter().all(|k| b.stations.keys().contains(k)));
    wait("one connection per station after the move", || slaves.iter().all(|s| s.connections() == 1)).await;
    wait("every station started", || b.stations.connected() == all.len()).await;
    b.stop(Duration::from_secs(5)).await;

    // leave no retained records behind
    let (c, mut el) =
        rumqttc::AsyncClient::new(rumqttc::MqttOptions::new(format!("{prefix}-clean"), "127.0.0.1", 1883), 10);
    for id in ["a", "b"] {
        c.publish(format!("{prefix}/members/{id}"), rumqttc::QoS::AtLeastOnce, true, Vec::<u8>::new()).await.unwrap();
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        loop {
            let _ = el.poll().await;
        }
    })
    .await;
}
