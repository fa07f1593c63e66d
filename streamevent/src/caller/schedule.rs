//! Scheduled interrogations: six-field cron expressions (seconds first).

use std::str::FromStr;

/// Parses a six-field cron expression (`sec min hour day month weekday`).
///
/// # Errors
/// The parser's message.
pub fn parse(expr: &str) -> Result<cron::Schedule, String> {
    if expr.split_whitespace().count() != 6 {
        return Err(format!("{expr:?} needs six fields: sec min hour day month weekday"));
    }
    cron::Schedule::from_str(expr).map_err(|e| e.to_string())
}

/// The first time after `now` that `schedule` names, reading its fields as wall-clock time at
/// `utc_offset_minutes` (the configured zone; Asia/Shanghai, 480, by default, as upstream).
pub fn next_after(
    schedule: &cron::Schedule,
    utc_offset_minutes: i32,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<chrono::DateTime<chrono::Utc>> {
    let zone = chrono::FixedOffset::east_opt(utc_offset_minutes * 60)?;
    schedule.after(&now.with_timezone(&zone)).next().map(|t| t.with_timezone(&chrono::Utc))
}

/// Calls `tick` at every time `schedule` names in the zone `utc_offset_minutes` east of UTC,
/// until the task is dropped.
pub async fn run(schedule: cron::Schedule, utc_offset_minutes: i32, mut tick: impl FnMut() + Send) {
    loop {
        let Some(next) = next_after(&schedule, utc_offset_minutes, chrono::Utc::now()) else { return };
        let wait = (next - chrono::Utc::now()).to_std().unwrap_or_default();
        tokio::time::sleep(wait).await;
        tick();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn six_fields_only() {
        assert!(parse("*/5 * * * * *").is_ok());
        assert!(parse("0 */1 * * *").is_err());
        assert!(parse("61 * * * * *").is_err());
    }

    #[test]
    fn fields_are_read_in_the_configured_zone() {
        use chrono::TimeZone;
        // 08:00 every day, in Shanghai (UTC+8): midnight UTC, not 08:00 UTC
        let s = parse("0 0 8 * * *").unwrap();
        let now = chrono::Utc.with_ymd_and_hms(2026, 6, 5, 12, 0, 0).unwrap();
        assert_eq!(next_after(&s, 480, now), Some(chrono::Utc.with_ymd_and_hms(2026, 6, 6, 0, 0, 0).unwrap()));
        assert_eq!(next_after(&s, 0, now), Some(chrono::Utc.with_ymd_and_hms(2026, 6, 6, 8, 0, 0).unwrap()));
    }
}
