//! The `ieccaller` binary refuses bad configuration with a clear message and exit code 2.

use std::process::Command;

fn run(yaml: &str) -> (Option<i32>, String) {
    let f = std::env::temp_dir().join(format!("ieccaller_cfg_{}_{}.yaml", std::process::id(), yaml.len()));
    std::fs::write(&f, yaml).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ieccaller"))
        .args(["-c", f.to_str().unwrap()])
        .env("ZERO_LISTENON", "127.0.0.1:0")
        .env("ZERO_PROMETHEUS", "{ListenOn: ''}")
        .output()
        .unwrap();
    std::fs::remove_file(f).ok();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn bad_configuration_exits_2() {
    let cases = [
        ("Stationz: []\n", "unknown key Stationz"),
        ("IecServerConfig: [{Host: 10.0.0.1, Prt: 2404}]\n", "unknown field `Prt`"),
        ("IecServerConfig: [{Host: 10.0.0.1, Port: 99999}]\n", "99999"),
        ("IecServerConfig: [{Host: 10.0.0.1, Backup: ['nohostport']}]\n", "is not host:port"),
        ("IecServerConfig: [{Host: a}, {Host: a}]\n", "configured twice"),
        ("InterrogationCron: '* * *'\n", "six fields"),
        (
            "MqttConfig: {IsPush: true, Broker: '', ClientId: '', Username: '', Password: '', Qos: 0, Topic: []}\n",
            "MqttConfig.IsPush needs",
        ),
        ("Db: {DataSource: 'redis://x', Migrate: true, CacheSeconds: 1}\n", "unsupported database URL"),
    ];
    for (yaml, want) in cases {
        let (code, err) = run(yaml);
        assert_eq!(code, Some(2), "{yaml}: {err}");
        assert!(err.contains(want), "{yaml}: expected {want:?} in {err:?}");
    }
}
