//! The envelope of one file (spec §8.2), four lines and a trailing newline:
//!
//! ```text
//! <!System=OMG Version=1.05 Code=utf-8 Data=1.0!>
//! <Bridge:=Free Size=N>
//! {"traceId":"…","body":"<request JSON as a string>","time":"<datetime-micro>","filePath":"<full path>"}
//! </Bridge:=Free>
//! ```
//!
//! `N` is the byte length of the JSON line. The JSON is Go's (see [`crate::gojson`]): `<`, `>` and
//! `&` are escaped, so no field can hold the closing tag.

use crate::gojson::escape_into;

/// The first line.
pub const HEADER: &str = "<!System=OMG Version=1.05 Code=utf-8 Data=1.0!>";
/// The second line, before the size.
pub const OPEN: &str = "<Bridge:=Free Size=";
/// The fourth line.
pub const CLOSE: &str = "</Bridge:=Free>";

/// One file's content.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Envelope {
    /// The request's trace id (empty when tracing is off).
    pub trace_id: String,
    /// The request as JSON text ([`crate::gojson::message`]).
    pub body: String,
    /// When it was written, datetime-micro (`yyyy-MM-dd HH:mm:ss.ffffff`, trailing zeros trimmed).
    pub time: String,
    /// The file's own full path.
    pub file_path: String,
}

/// A file that is not an envelope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// A line is missing or not what it must be.
    #[error("line {line}: expected {expected}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What was expected there.
        expected: &'static str,
    },
    /// `Size` is not the JSON line's byte length.
    #[error("Size={declared} but the JSON line holds {actual} bytes")]
    Size {
        /// Declared.
        declared: usize,
        /// Found.
        actual: usize,
    },
    /// The JSON line does not hold the four strings.
    #[error("JSON line: {0}")]
    Json(String),
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Wrapper {
    trace_id: String,
    body: String,
    time: String,
    file_path: String,
}

impl Envelope {
    /// The wrapper JSON line, as Go's encoder writes it.
    pub fn json_line(&self) -> String {
        let mut j = String::with_capacity(self.body.len() + self.file_path.len() + 96);
        for (i, (k, v)) in
            [("traceId", &self.trace_id), ("body", &self.body), ("time", &self.time), ("filePath", &self.file_path)]
                .into_iter()
                .enumerate()
        {
            j.push(if i == 0 { '{' } else { ',' });
            escape_into(&mut j, k);
            j.push(':');
            escape_into(&mut j, v);
        }
        j.push('}');
        j
    }

    /// The file's bytes.
    pub fn render(&self) -> Vec<u8> {
        let json = self.json_line();
        format!("{HEADER}\n{OPEN}{}>\n{json}\n{CLOSE}\n", json.len()).into_bytes()
    }

    /// Reads a file's bytes back.
    ///
    /// # Errors
    /// Anything but one well-formed envelope.
    pub fn parse(bytes: &[u8]) -> Result<Envelope, ParseError> {
        let text = std::str::from_utf8(bytes).map_err(|_| ParseError::Line { line: 1, expected: "UTF-8 text" })?;
        let text = text.strip_suffix('\n').ok_or(ParseError::Line { line: 4, expected: "a trailing newline" })?;
        let mut lines = text.split('\n');
        if lines.next() != Some(HEADER) {
            return Err(ParseError::Line { line: 1, expected: HEADER });
        }
        let size = lines
            .next()
            .and_then(|l| l.strip_prefix(OPEN)?.strip_suffix('>')?.parse::<usize>().ok())
            .ok_or(ParseError::Line { line: 2, expected: "<Bridge:=Free Size=N>" })?;
        let json = lines.next().ok_or(ParseError::Line { line: 3, expected: "the JSON line" })?;
        if json.len() != size {
            return Err(ParseError::Size { declared: size, actual: json.len() });
        }
        if lines.next() != Some(CLOSE) || lines.next().is_some() {
            return Err(ParseError::Line { line: 4, expected: CLOSE });
        }
        let w: Wrapper = serde_json::from_str(json).map_err(|e| ParseError::Json(e.to_string()))?;
        Ok(Envelope { trace_id: w.trace_id, body: w.body, time: w.time, file_path: w.file_path })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_closing_tag_in_a_field_stays_inside() {
        let e = Envelope { body: "{\"x\":\"</Bridge:=Free>\"}".into(), ..Envelope::default() };
        let bytes = e.render();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert_eq!(text.matches(CLOSE).count(), 1);
        assert_eq!(Envelope::parse(&bytes).unwrap(), e);
    }

    #[test]
    fn broken_files_are_refused() {
        let good = Envelope { trace_id: "t".into(), ..Envelope::default() }.render();
        assert!(Envelope::parse(&good).is_ok());
        assert!(matches!(Envelope::parse(&good[..good.len() - 1]), Err(ParseError::Line { line: 4, .. })));
        let wrong_size = String::from_utf8(good.clone()).unwrap().replace("Size=", "Size=1");
        assert!(matches!(Envelope::parse(wrong_size.as_bytes()), Err(ParseError::Size { .. })));
        assert!(Envelope::parse(b"").is_err());
        assert!(Envelope::parse(&good[10..]).is_err());
    }

    proptest! {
        #[test]
        fn any_envelope_reads_back(t in ".*", b in ".*", time in ".*", p in ".*") {
            let e = Envelope { trace_id: t, body: b, time, file_path: p };
            prop_assert_eq!(Envelope::parse(&e.render()).unwrap(), e);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = Envelope::parse(&bytes);
        }
    }
}
