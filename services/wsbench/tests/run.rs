//! `wsbench` against a frontend and a chat instance (the workspace's binaries, static routing):
//! every client connects, the scripted chat runs without an error, and the figures it prints
//! come from replies and pushes really received.

use std::time::Duration;
use testkit::port::free_port;
use testkit::service::{spawn, wait_listening, workspace_bin, ConfigFile};

#[test]
fn a_scripted_chat_through_the_frontend() {
    let (chat, grpc, ws) = (free_port(), free_port(), free_port());
    let chat_file =
        ConfigFile::new("chat.yaml", &format!("ListenOn: 127.0.0.1:{chat}\nPrometheus: {{ListenOn: ''}}\n"));
    let _chat = spawn(&workspace_bin("chat"), &chat_file.path, &[]);
    let gate_file = ConfigFile::new(
        "wsgate.yaml",
        &format!(
            "ListenOn: 127.0.0.1:{grpc}\nPrometheus: {{ListenOn: ''}}\nHttp: {{ListenOn: '127.0.0.1:{ws}', Path: /ws}}\n\
             Apps: [{{Name: chat.rpc, Endpoints: ['127.0.0.1:{chat}'], Protocols: [1001, 1002, 1003, 1004]}}]\n"
        ),
    );
    let _gate = spawn(&workspace_bin("wsgate"), &gate_file.path, &[]);
    wait_listening(chat, Duration::from_secs(20));
    wait_listening(ws, Duration::from_secs(20));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wsbench"))
        .args([
            "-addr",
            &format!("ws://127.0.0.1:{ws}/ws"),
            "-id",
            "100",
            "-cnt",
            "20",
            "-rooms",
            "2",
            "-rate",
            "5",
            "-duration",
            "2",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("connected 20"), "a progress line");
    let v: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!((v["connected"].as_u64(), v["errors"].as_u64()), (Some(20), Some(0)), "{v}");
    // 20 clients x 5/s x 2 s, each said to a room of 10
    let requests = v["requests"].as_u64().unwrap();
    assert!(requests >= 150, "{v}");
    assert!(v["pushes"].as_u64().unwrap() >= requests * 9, "every member got what was said: {v}");
    assert!(v["request_p99_ms"].as_f64().unwrap() > 0.0 && v["push_p50_ms"].as_f64().unwrap() > 0.0, "{v}");
}
