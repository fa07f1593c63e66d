//! Plan rules (spec §6.2 `PlanRulePb`) compiled to RFC 5545 RRULE sets, and the candidate
//! times of a plan or cron job: (RRULE ∪ specified times) − excluded times − every
//! hour×minute of the excluded dates. Times are Asia/Shanghai wall-clock `yyyy-MM-dd HH:mm:ss`.

use crate::error::{Error, Result};
use crate::task::Millis;
use chrono::{Datelike, NaiveDate, NaiveDateTime, TimeZone};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// `PlanRulePb`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanRule {
    /// 0 yearly, 1 monthly, 2 weekly, 3 daily, 4 hourly, 5 minutely.
    pub freq: i32,
    /// Months 1..12.
    pub month: Vec<i32>,
    /// Days of the month −31..31, not 0 (negative: from the end).
    pub day: Vec<i32>,
    /// Weekdays 1..7 (1 = Monday).
    pub week: Vec<i32>,
    /// Hours 0..23 (at least one).
    pub hours: Vec<i32>,
    /// Minutes 0..59 (at least one).
    pub minutes: Vec<i32>,
    /// Interval; 0 and 1 mean every period.
    pub interval: i32,
}

/// What a plan or cron job asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleInput {
    /// Start (`yyyy-MM-dd HH:mm:ss`); empty: 1 January 00:00:00 of the current year.
    pub start: String,
    /// End; empty: 31 December 23:59:59 of the start's year.
    pub end: String,
    /// The rule.
    pub rule: PlanRule,
    /// Dates (`yyyy-MM-dd`) whose hour×minute times are all excluded.
    pub exclude_dates: Vec<String>,
    /// Extra times.
    pub specified_times: Vec<String>,
    /// Times taken out.
    pub excluded_times: Vec<String>,
}

/// The compiled rule and its candidates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calculated {
    /// Candidate times, ascending (ms since the epoch).
    pub dates: Vec<Millis>,
    /// The RFC 5545 set: DTSTART, RRULE, RDATE and EXDATE lines.
    pub rrule_str: String,
    /// A short Chinese description of the schedule.
    pub description: String,
    /// The effective range.
    pub start: Millis,
    /// The effective range's end.
    pub end: Millis,
}

const FREQS: [&str; 6] = ["YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY", "MINUTELY"];
const DAYS: [&str; 7] = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"];

/// Asia/Shanghai (UTC+8, no daylight saving): the zone of every upstream datetime text.
pub fn shanghai() -> chrono::FixedOffset {
    chrono::FixedOffset::east_opt(8 * 3600).expect("valid offset")
}

fn bad(m: String) -> Error {
    Error::InvalidArgument(m)
}

/// Parses a Shanghai `yyyy-MM-dd HH:mm:ss` time.
///
/// # Errors
/// [`Error::InvalidArgument`] for another format.
pub fn parse_time(s: &str) -> Result<Millis> {
    let t = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
        .map_err(|e| bad(format!("time {s:?} is not yyyy-MM-dd HH:mm:ss: {e}")))?;
    Ok(shanghai().from_local_datetime(&t).single().ok_or_else(|| bad(format!("time {s:?}")))?.timestamp_millis())
}

/// Formats ms since the epoch as a Shanghai `yyyy-MM-dd HH:mm:ss`.
pub fn format_time(ms: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.with_timezone(&shanghai()).format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

fn local(ms: Millis) -> NaiveDateTime {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default().with_timezone(&shanghai()).naive_local()
}

fn ical(ms: Millis) -> String {
    local(ms).format("%Y%m%dT%H%M%S").to_string()
}

fn list(v: &[i32]) -> String {
    v.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}

fn check(v: &[i32], what: &str, ok: impl Fn(i32) -> bool, need: bool) -> Result<()> {
    if need && v.is_empty() {
        return Err(bad(format!("rule.{what} needs at least one item")));
    }
    match v.iter().find(|&&x| !ok(x)) {
        Some(x) => Err(bad(format!("rule.{what} item {x} is out of range"))),
        None => Ok(()),
    }
}

impl PlanRule {
    /// Checks the ranges of every field.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the field.
    pub fn validate(&self) -> Result<()> {
        if !(0..=5).contains(&self.freq) {
            return Err(bad(format!("rule.freq {} is not 0..5", self.freq)));
        }
        check(&self.month, "month", |m| (1..=12).contains(&m), false)?;
        check(&self.day, "day", |d| d != 0 && (-31..=31).contains(&d), false)?;
        check(&self.week, "week", |w| (1..=7).contains(&w), false)?;
        check(&self.hours, "hours", |h| (0..=23).contains(&h), true)?;
        check(&self.minutes, "minutes", |m| (0..=59).contains(&m), true)?;
        if self.interval < 0 {
            return Err(bad(format!("rule.interval {} is negative", self.interval)));
        }
        Ok(())
    }

    /// The RRULE line's value, ending at `until` (UTC).
    pub fn rrule(&self, until: Millis) -> String {
        let until = chrono::DateTime::from_timestamp_millis(until).unwrap_or_default().format("%Y%m%dT%H%M%SZ");
        let mut r = format!("FREQ={};UNTIL={until}", FREQS[self.freq.clamp(0, 5) as usize]);
        if self.interval > 1 {
            r.push_str(&format!(";INTERVAL={}", self.interval));
        }
        if !self.month.is_empty() {
            r.push_str(&format!(";BYMONTH={}", list(&self.month)));
        }
        if !self.day.is_empty() {
            r.push_str(&format!(";BYMONTHDAY={}", list(&self.day)));
        }
        if !self.week.is_empty() {
            let days: Vec<&str> = self.week.iter().map(|w| DAYS[(*w - 1).clamp(0, 6) as usize]).collect();
            r.push_str(&format!(";BYDAY={}", days.join(",")));
        }
        r.push_str(&format!(";BYHOUR={};BYMINUTE={};BYSECOND=0", list(&self.hours), list(&self.minutes)));
        r
    }

    /// A short Chinese description, e.g. `每2天 09:00、18:30`.
    pub fn describe(&self) -> String {
        let unit = ["年", "月", "周", "天", "小时", "分钟"][self.freq.clamp(0, 5) as usize];
        let mut d = if self.interval > 1 { format!("每{}{unit}", self.interval) } else { format!("每{unit}") };
        if !self.month.is_empty() {
            d.push_str(&format!(" {}月", list(&self.month)));
        }
        if !self.day.is_empty() {
            let days: Vec<String> =
                self.day.iter().map(|x| if *x < 0 { format!("倒数第{}日", -x) } else { format!("{x}日") }).collect();
            d.push_str(&format!(" {}", days.join("、")));
        }
        if !self.week.is_empty() {
            let names = ["一", "二", "三", "四", "五", "六", "日"];
            let w: Vec<String> =
                self.week.iter().map(|x| format!("周{}", names[(*x - 1).clamp(0, 6) as usize])).collect();
            d.push_str(&format!(" {}", w.join("、")));
        }
        let mut times = vec![];
        for h in &self.hours {
            for m in &self.minutes {
                times.push(format!("{h:02}:{m:02}"));
            }
        }
        d.push_str(&format!(" {}", times.join("、")));
        d
    }
}

/// Compiles `input` and lists its candidates (at most `limit`).
///
/// `max_span_years`: 3 for plans, 100 for cron jobs. `now` picks the default year.
///
/// # Errors
/// [`Error::InvalidArgument`] for a bad rule, time, date, range, more than 1 000 specified or
/// excluded times, or more than `limit` candidates.
pub fn calculate(input: &RuleInput, max_span_years: i32, now: Millis, limit: usize) -> Result<Calculated> {
    let c = compile(input, max_span_years, now)?;
    let set: rrule::RRuleSet = c.rrule_str.parse().map_err(|e| bad(format!("rule: {e}")))?;
    let cap = u16::try_from(limit.saturating_add(1)).unwrap_or(u16::MAX);
    let got = set.all(cap);
    if got.dates.len() > limit || (got.limited && limit >= usize::from(u16::MAX)) {
        return Err(bad(format!("the rule yields more than {limit} times")));
    }
    Ok(Calculated { dates: got.dates.iter().map(chrono::DateTime::timestamp_millis).collect(), ..c })
}

/// Compiles `input` to its RRULE set text without listing the candidates (cron jobs span up
/// to 100 years); `dates` is left empty.
///
/// # Errors
/// As [`calculate`], but for the candidate count.
pub fn compile(input: &RuleInput, max_span_years: i32, now: Millis) -> Result<Calculated> {
    input.rule.validate()?;
    let start = if input.start.is_empty() {
        let y = local(now).year();
        parse_time(&format!("{y}-01-01 00:00:00"))?
    } else {
        parse_time(&input.start)?
    };
    let end = if input.end.is_empty() {
        parse_time(&format!("{}-12-31 23:59:59", local(start).year()))?
    } else {
        parse_time(&input.end)?
    };
    if end < start {
        return Err(bad("end_time is before start_time".into()));
    }
    // whole months, so a 29 February start still has a limit (28 February, N years on)
    let limit_end = local(start)
        .checked_add_months(chrono::Months::new(12 * max_span_years.max(0) as u32))
        .and_then(|t| shanghai().from_local_datetime(&t).single())
        .map_or(Millis::MAX, |x| x.timestamp_millis());
    if end > limit_end {
        return Err(bad(format!("the range spans more than {max_span_years} years")));
    }
    for (v, what) in [(&input.specified_times, "specified_times"), (&input.excluded_times, "excluded_times")] {
        if v.len() > 1000 {
            return Err(bad(format!("{what} has {} items (at most 1000)", v.len())));
        }
    }
    let in_range = |s: &String, what: &str| -> Result<Millis> {
        let t = parse_time(s)?;
        if t < start || t > end {
            return Err(bad(format!("{what} {s} is outside [start_time, end_time]")));
        }
        Ok(t)
    };
    let specified: BTreeSet<Millis> =
        input.specified_times.iter().map(|s| in_range(s, "specified time")).collect::<Result<_>>()?;
    let mut excluded: BTreeSet<Millis> =
        input.excluded_times.iter().map(|s| in_range(s, "excluded time")).collect::<Result<_>>()?;
    let mut excluded_days = BTreeSet::new();
    for d in &input.exclude_dates {
        let day = NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .ok()
            .filter(|_| d.len() == 10)
            .ok_or_else(|| bad(format!("exclude date {d:?} is not yyyy-MM-dd")))?;
        excluded_days.insert(day);
        for h in &input.rule.hours {
            for m in &input.rule.minutes {
                if let Some(t) = day.and_hms_opt(*h as u32, *m as u32, 0) {
                    if let Some(ms) = shanghai().from_local_datetime(&t).single().map(|x| x.timestamp_millis()) {
                        excluded.insert(ms);
                    }
                }
            }
        }
    }
    for t in &specified {
        if excluded_days.contains(&local(*t).date()) {
            excluded.insert(*t);
        }
    }
    let mut text = format!("DTSTART;TZID=Asia/Shanghai:{}\nRRULE:{}", ical(start), input.rule.rrule(end));
    let join = |v: &BTreeSet<Millis>| v.iter().map(|t| ical(*t)).collect::<Vec<_>>().join(",");
    if !specified.is_empty() {
        text.push_str(&format!("\nRDATE;TZID=Asia/Shanghai:{}", join(&specified)));
    }
    if !excluded.is_empty() {
        text.push_str(&format!("\nEXDATE;TZID=Asia/Shanghai:{}", join(&excluded)));
    }
    // the text must parse back (the rrule crate's own validation)
    text.parse::<rrule::RRuleSet>().map_err(|e| bad(format!("rule: {e}")))?;
    Ok(Calculated { dates: vec![], rrule_str: text, description: input.rule.describe(), start, end })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn daily_9_and_18() -> PlanRule {
        PlanRule { freq: 3, hours: vec![9, 18], minutes: vec![0], ..Default::default() }
    }

    #[test]
    fn daily_with_specified_excluded_and_exclude_dates() {
        let input = RuleInput {
            start: "2026-03-01 00:00:00".into(),
            end: "2026-03-04 23:59:59".into(),
            rule: daily_9_and_18(),
            exclude_dates: vec!["2026-03-02".into()],
            specified_times: vec!["2026-03-03 12:30:00".into(), "2026-03-02 07:00:00".into()],
            excluded_times: vec!["2026-03-04 18:00:00".into()],
        };
        let c = calculate(&input, 3, 0, 5000).unwrap();
        let got: Vec<String> = c.dates.iter().map(|t| format_time(*t)).collect();
        assert_eq!(
            got,
            [
                "2026-03-01 09:00:00",
                "2026-03-01 18:00:00",
                "2026-03-03 09:00:00",
                "2026-03-03 12:30:00",
                "2026-03-03 18:00:00",
                "2026-03-04 09:00:00",
            ]
        );
        assert!(c.rrule_str.starts_with("DTSTART;TZID=Asia/Shanghai:20260301T000000\nRRULE:FREQ=DAILY;UNTIL=20260304T155959Z;BYHOUR=9,18;BYMINUTE=0;BYSECOND=0"), "{}", c.rrule_str);
        assert!(c.rrule_str.contains("RDATE;TZID=Asia/Shanghai:20260302T070000,20260303T123000"));
        assert_eq!(c.description, "每天 09:00、18:00");
        // the snapshot parses back to a set
        assert!(c.rrule_str.parse::<rrule::RRuleSet>().is_ok());
    }

    #[test]
    fn weekly_monthly_and_interval() {
        let weekly = PlanRule { freq: 2, week: vec![1, 5], hours: vec![8], minutes: vec![15], ..Default::default() };
        let c = calculate(
            &RuleInput {
                start: "2026-03-02 00:00:00".into(),
                end: "2026-03-15 00:00:00".into(),
                rule: weekly,
                ..Default::default()
            },
            3,
            0,
            100,
        )
        .unwrap();
        let got: Vec<String> = c.dates.iter().map(|t| format_time(*t)).collect();
        assert_eq!(got, ["2026-03-02 08:15:00", "2026-03-06 08:15:00", "2026-03-09 08:15:00", "2026-03-13 08:15:00"]);
        assert_eq!(c.description, "每周 周一、周五 08:15");
        let last_day =
            PlanRule { freq: 1, day: vec![-1], interval: 2, hours: vec![0], minutes: vec![0], ..Default::default() };
        let c = calculate(
            &RuleInput {
                start: "2026-01-01 00:00:00".into(),
                end: "2026-06-30 23:59:59".into(),
                rule: last_day,
                ..Default::default()
            },
            3,
            0,
            100,
        )
        .unwrap();
        let got: Vec<String> = c.dates.iter().map(|t| format_time(*t)).collect();
        assert_eq!(got, ["2026-01-31 00:00:00", "2026-03-31 00:00:00", "2026-05-31 00:00:00"]);
    }

    #[test]
    fn defaults_to_the_current_year() {
        let now = parse_time("2027-05-05 10:00:00").unwrap();
        let rule =
            PlanRule { freq: 0, month: vec![2], day: vec![1], hours: vec![6], minutes: vec![30], ..Default::default() };
        let c = calculate(&RuleInput { rule, ..Default::default() }, 3, now, 10).unwrap();
        assert_eq!(c.dates.iter().map(|t| format_time(*t)).collect::<Vec<_>>(), ["2027-02-01 06:30:00"]);
        assert_eq!(
            (format_time(c.start).as_str(), format_time(c.end).as_str()),
            ("2027-01-01 00:00:00", "2027-12-31 23:59:59")
        );
    }

    #[test]
    fn refusals() {
        let ok = daily_9_and_18();
        let run = |rule: PlanRule, f: &dyn Fn(&mut RuleInput)| {
            let mut i = RuleInput {
                start: "2026-01-01 00:00:00".into(),
                end: "2026-01-31 00:00:00".into(),
                rule,
                ..Default::default()
            };
            f(&mut i);
            calculate(&i, 3, 0, 5000)
        };
        let none = |_: &mut RuleInput| {};
        assert!(run(PlanRule { freq: 6, ..ok.clone() }, &none).is_err());
        assert!(run(PlanRule { hours: vec![], ..ok.clone() }, &none).is_err());
        assert!(run(PlanRule { minutes: vec![60], ..ok.clone() }, &none).is_err());
        assert!(run(PlanRule { day: vec![0], ..ok.clone() }, &none).is_err());
        assert!(run(PlanRule { week: vec![8], ..ok.clone() }, &none).is_err());
        assert!(run(ok.clone(), &|i| i.end = "2025-01-01 00:00:00".into()).is_err(), "end before start");
        assert!(run(ok.clone(), &|i| i.end = "2029-06-01 00:00:00".into()).is_err(), "more than 3 years");
        let leap = |end: &str| {
            let i = RuleInput {
                start: "2028-02-29 00:00:00".into(),
                end: end.into(),
                rule: ok.clone(),
                ..Default::default()
            };
            calculate(&i, 3, 0, 5000)
        };
        assert!(leap("2031-03-01 00:00:00").is_err(), "a leap-day start is still limited");
        assert!(leap("2028-03-01 00:00:00").is_ok());
        assert!(run(ok.clone(), &|i| i.start = "2026/01/01".into()).is_err());
        assert!(run(ok.clone(), &|i| i.specified_times = vec!["2027-01-01 00:00:00".into()]).is_err(), "outside range");
        assert!(run(ok.clone(), &|i| i.exclude_dates = vec!["2026-1-1".into()]).is_err());
        assert!(run(ok.clone(), &|i| i.excluded_times = vec!["2026-01-02 09:00:00".into(); 1001]).is_err());
        let minutely = PlanRule { freq: 5, hours: (0..24).collect(), minutes: (0..60).collect(), ..Default::default() };
        assert!(run(minutely, &none).is_err(), "more candidates than the limit");
    }
}
