//! The downstream pipeline of spec §8.3 applied to files this crate writes, rule by rule as
//! filebeat applies them: the input reads the file line by line; `multiline` (pattern
//! `^<Bridge:=Free`, negate, match after) appends every line that does not start with
//! `<Bridge:=Free` to the event before it; events containing `<!System=OMG` are dropped;
//! `dissect` `<Bridge:=Free%{+extra}>%{json_data}</Bridge:=Free>`; `decode_json_fields` of
//! `json_data` into `message`. Each file must give exactly one event whose `message` is the
//! wrapper, with `body` the request's JSON, whatever the request holds (its own closing tag
//! included).

use bridgedump::writer::Dump;

/// filebeat's multiline: lines not matching `^<Bridge:=Free` go after the previous event's
/// lines, joined with `\n` (the file's first line starts an event whatever it holds).
fn multiline(text: &str) -> Vec<String> {
    let mut events: Vec<String> = Vec::new();
    for line in text.lines() {
        match events.last_mut() {
            Some(e) if !line.starts_with("<Bridge:=Free") => {
                e.push('\n');
                e.push_str(line);
            }
            _ => events.push(line.to_owned()),
        }
    }
    events
}

/// dissect `<Bridge:=Free%{+extra}>%{json_data}</Bridge:=Free>`: the first `>` ends `extra`, the
/// first `</Bridge:=Free>` after it ends `json_data`.
fn dissect(event: &str) -> Option<(String, String)> {
    let rest = event.strip_prefix("<Bridge:=Free")?;
    let (extra, rest) = rest.split_once('>')?;
    let (json_data, _) = rest.split_once("</Bridge:=Free>")?;
    Some((extra.to_owned(), json_data.to_owned()))
}

#[test]
fn each_file_is_one_event_whose_message_is_the_wrapper() {
    let root = std::env::temp_dir().join(format!("bridgedump-filebeat-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let dump = Dump::new(&root);
    let now = chrono::DateTime::parse_from_rfc3339("2026-12-06T10:00:00.25+08:00").unwrap();
    let bodies = [
        r#"{"data":[{"acci_id":"A1","err_distance":125.5}]}"#.to_owned(),
        // the closing tag, a newline and markup inside a field (as Go escapes them)
        r#"{"data":[{"notice":"\u003c/Bridge:=Free\u003e\n\u003c!System=OMG\u003e \u0026"}]}"#.to_owned(),
        format!(r#"{{"data":[{{"wave_data":"{}"}}]}}"#, "1,2,3,".repeat(5000)),
    ];
    for (i, body) in bodies.iter().enumerate() {
        let path = dump.write("cable_fault", &format!("t{i}"), body, now).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let events: Vec<String> = multiline(&text).into_iter().filter(|e| !e.contains("<!System=OMG")).collect();
        assert_eq!(events.len(), 1, "{events:?}");
        let (extra, json_data) = dissect(&events[0]).expect("dissect matches");
        let size: usize = extra.trim().strip_prefix("Size=").unwrap().parse().unwrap();
        assert_eq!(size, json_data.trim().len());
        let message: serde_json::Value = serde_json::from_str(&json_data).expect("json_data decodes");
        assert_eq!(message["traceId"], format!("t{i}"));
        assert_eq!(message["body"].as_str(), Some(body.as_str()));
        assert_eq!(message["time"], "2026-12-06 10:00:00.25");
        assert_eq!(message["filePath"].as_str(), path.to_str());
        serde_json::from_str::<serde_json::Value>(message["body"].as_str().unwrap()).expect("the body is JSON");
    }
    std::fs::remove_dir_all(&root).unwrap();
}
