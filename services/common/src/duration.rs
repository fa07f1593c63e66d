//! Go durations in configuration files.

/// A duration written as Go writes one (`time.ParseDuration`): `30s`, `1m30s`, `1.5h`, `500ms`,
/// `250us`, `0`. The form go-zero configuration files use (`GracePeriod: 30s`, `MaxDelay: 30m`).
///
/// ```
/// use zero_svc::config::GoDuration;
/// use std::time::Duration;
/// assert_eq!("1m30s".parse::<GoDuration>().unwrap().0, Duration::from_secs(90));
/// assert_eq!("1.5h".parse::<GoDuration>().unwrap().0, Duration::from_secs(5400));
/// assert_eq!(GoDuration(Duration::from_millis(1500)).to_string(), "1.5s");
/// assert!("30".parse::<GoDuration>().is_err(), "a unit is required");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct GoDuration(pub std::time::Duration);

impl std::str::FromStr for GoDuration {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("{s:?} is not a duration like 30s, 1m30s, 500ms or 1.5h");
        let t = s.trim();
        if t == "0" {
            return Ok(GoDuration::default());
        }
        if t.is_empty() || t.starts_with('-') {
            return Err(bad());
        }
        let mut rest = t.trim_start_matches('+');
        let mut nanos: f64 = 0.0;
        while !rest.is_empty() {
            let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(bad)?;
            let value: f64 = rest[..num_len].parse().map_err(|_| bad())?;
            rest = &rest[num_len..];
            let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
            let scale = match &rest[..unit_len] {
                "ns" => 1.0,
                "us" | "µs" | "μs" => 1e3,
                "ms" => 1e6,
                "s" => 1e9,
                "m" => 60e9,
                "h" => 3600e9,
                _ => return Err(bad()),
            };
            nanos += value * scale;
            rest = &rest[unit_len..];
        }
        if !nanos.is_finite() || nanos > u64::MAX as f64 {
            return Err(bad());
        }
        Ok(GoDuration(std::time::Duration::from_nanos(nanos.round() as u64)))
    }
}

impl std::fmt::Display for GoDuration {
    /// Go's `Duration.String()`: `1h2m3.5s`, `1.5s`, `250ms`, `0s`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let d = self.0;
        let n = d.as_nanos();
        if n == 0 {
            return f.write_str("0s");
        }
        let trim = |v: f64| {
            let s = format!("{v:.9}");
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        };
        if n < 1_000 {
            return write!(f, "{n}ns");
        }
        if n < 1_000_000 {
            return write!(f, "{}µs", trim(n as f64 / 1e3));
        }
        if n < 1_000_000_000 {
            return write!(f, "{}ms", trim(n as f64 / 1e6));
        }
        let secs = d.as_secs();
        let (h, m) = (secs / 3600, (secs / 60) % 60);
        let s = trim((secs % 60) as f64 + f64::from(d.subsec_nanos()) / 1e9);
        match (h, m) {
            (0, 0) => write!(f, "{s}s"),
            (0, m) => write!(f, "{m}m{s}s"),
            (h, m) => write!(f, "{h}h{m}m{s}s"),
        }
    }
}

impl serde::Serialize for GoDuration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for GoDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod duration_tests {
    use super::GoDuration;
    use std::time::Duration;

    #[test]
    fn go_durations_parse_and_print_as_go_does() {
        for (text, d) in [
            ("30s", Duration::from_secs(30)),
            ("30m", Duration::from_secs(1800)),
            ("1h2m3s", Duration::from_secs(3723)),
            ("200ms", Duration::from_millis(200)),
            ("1.5s", Duration::from_millis(1500)),
            ("2us", Duration::from_micros(2)),
            ("0", Duration::ZERO),
        ] {
            assert_eq!(text.parse::<GoDuration>().unwrap().0, d, "{text}");
        }
        for bad in ["", "30", "s", "-1s", "3 s", "1d", "1.2.3s"] {
            assert!(bad.parse::<GoDuration>().is_err(), "{bad:?}");
        }
        for (d, text) in [(3723, "1h2m3s"), (90, "1m30s"), (30, "30s"), (0, "0s")] {
            assert_eq!(GoDuration(Duration::from_secs(d)).to_string(), text);
        }
        assert_eq!(GoDuration(Duration::from_millis(250)).to_string(), "250ms");
        let y: GoDuration = serde_yaml_ng::from_str("10s").unwrap();
        assert_eq!(serde_yaml_ng::to_string(&y).unwrap().trim(), "10s");
    }
}
