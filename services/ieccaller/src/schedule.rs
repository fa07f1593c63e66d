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

/// Calls `tick` at every time `schedule` names, until the task is dropped.
pub async fn run(schedule: cron::Schedule, mut tick: impl FnMut() + Send) {
    loop {
        let Some(next) = schedule.upcoming(chrono::Utc).next() else { return };
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
}
