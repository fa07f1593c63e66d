//! The mainland-China holiday calendar (spec §6.4): the embedded years 2023-2046
//! (`holidays/holidays.json` in this crate; published arrangements to 2026, statutory days only
//! after that, see `holidays/generate.py`), overlaid by the enabled rows of the `holiday_source`
//! table ([`store::HolidayStore`]). [`Calendar`] itself is pure: no database, no clock.
//!
//! ```
//! use trigger_core::holiday::{date, Calendar, DayKind};
//! let c = Calendar::embedded();
//! assert_eq!(c.query(date("2025-01-29").unwrap()).kind, DayKind::StatutoryHoliday); // 春节
//! assert_eq!(c.query(date("2025-03-10").unwrap()).kind, DayKind::NormalWorkday);
//! ```

pub mod store;

use chrono::{Datelike, NaiveDate, Weekday};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};

const EMBEDDED: &str = include_str!("../../holidays/holidays.json");

#[derive(Deserialize)]
struct File {
    years: BTreeMap<String, Year>,
}

#[derive(Deserialize)]
struct Year {
    projected: bool,
    days: Vec<EmbeddedDay>,
}

#[derive(Deserialize)]
struct EmbeddedDay {
    date: String,
    name: String,
    r#type: String,
    festival: bool,
}

/// A special day: a day off or a makeup workday.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Day {
    /// The festival it belongs to.
    name: String,
    /// Off (true) or a makeup workday.
    off: bool,
    /// The festival's own day.
    festival: bool,
    note: String,
    /// The year of the festival (元旦's days off may start in December).
    year: i32,
}

/// A row of `holiday_source`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// `yyyy-MM-dd`.
    pub date: String,
    /// Festival name.
    pub name: String,
    /// `holiday` or `workday`.
    pub r#type: String,
    /// Note.
    pub note: String,
    /// The festival's own day.
    pub is_festival_day: bool,
    /// Applied when true.
    pub enabled: bool,
}

/// The calendar: special days by date.
#[derive(Debug, Clone, Default)]
pub struct Calendar {
    days: BTreeMap<NaiveDate, Day>,
    years: BTreeSet<i32>,
}

/// What a day is (`HolidayDayKindPb`'s numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DayKind {
    /// A statutory day off.
    StatutoryHoliday = 1,
    /// A Saturday or Sunday that is no makeup workday.
    Weekend = 2,
    /// A weekend day worked instead of a weekday off.
    MakeupWorkday = 3,
    /// A weekday.
    NormalWorkday = 4,
}

/// One day as the calendar sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HolidayDay {
    /// `yyyy-MM-dd`.
    pub date: String,
    /// The festival, or 周末 / 工作日.
    pub name: String,
    /// `holiday`, `workday` or `weekend`.
    pub r#type: String,
    /// What the day is.
    pub kind: DayKind,
    /// Why (makeup day, projected year, outside the calendar), or empty.
    pub note: String,
    /// A day off.
    pub is_holiday: bool,
    /// The festival's own day.
    pub is_festival_day: bool,
}

/// One festival of one year.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Festival {
    /// The festival's year (元旦's days off may start in December).
    pub year: i32,
    /// Its name.
    pub name: String,
    /// The first day off (or makeup day when it has no day off).
    pub start_date: String,
    /// The last one.
    pub end_date: String,
    /// Its days off, `yyyy-MM-dd`.
    pub holiday_days: Vec<String>,
    /// Its makeup workdays.
    pub makeup_workdays: Vec<String>,
    /// Its own days.
    pub festival_days: Vec<String>,
}

/// A year at a glance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YearSummary {
    /// The year.
    pub year: i32,
    /// Every day off, sorted.
    pub holiday_days: Vec<String>,
    /// Every makeup workday, sorted.
    pub makeup_workdays: Vec<String>,
    /// Every festival day, sorted.
    pub festival_days: Vec<String>,
    /// The festivals, in date order.
    pub names: Vec<String>,
}

/// `yyyy-MM-dd` as a date (exactly ten characters).
pub fn date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().filter(|_| s.len() == 10)
}

fn is_weekend(d: NaiveDate) -> bool {
    matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

fn text(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

impl Calendar {
    /// The embedded years.
    ///
    /// # Panics
    /// Never: the embedded file is checked by a test.
    pub fn embedded() -> Calendar {
        let f: File = serde_json::from_str(EMBEDDED).expect("holidays.json is valid");
        let mut c = Calendar::default();
        for (y, year) in f.years {
            let y: i32 = y.parse().expect("year keys are numbers");
            c.years.insert(y);
            for d in year.days {
                let off = d.r#type == "holiday";
                let note = match (off, year.projected) {
                    (true, false) => String::new(),
                    (false, _) => format!("{}调休上班", d.name),
                    (true, true) => "预计：法定假日，当年放假安排尚未公布".to_owned(),
                };
                let day = Day { name: d.name, off, festival: d.festival, note, year: y };
                c.days.insert(date(&d.date).expect("dates are yyyy-MM-dd"), day);
            }
        }
        c
    }

    /// The embedded years with `rows` (the enabled ones) laid over them.
    pub fn with_sources(rows: &[Source]) -> Calendar {
        let mut c = Calendar::embedded();
        for r in rows.iter().filter(|r| r.enabled) {
            let Some(d) = date(&r.date) else { continue };
            // a day of a festival that started the year before keeps that festival's year
            let year = c.days.get(&d).filter(|old| old.name == r.name).map_or(d.year(), |old| old.year);
            c.years.insert(year);
            let day = Day {
                name: r.name.clone(),
                off: r.r#type == "holiday",
                festival: r.is_festival_day,
                note: r.note.clone(),
                year,
            };
            c.days.insert(d, day);
        }
        c
    }

    /// What `d` is.
    pub fn query(&self, d: NaiveDate) -> HolidayDay {
        let (name, r#type, kind, note, off, festival) = match self.days.get(&d) {
            Some(x) if x.off => {
                (x.name.clone(), "holiday", DayKind::StatutoryHoliday, x.note.clone(), true, x.festival)
            }
            Some(x) => (x.name.clone(), "workday", DayKind::MakeupWorkday, x.note.clone(), false, x.festival),
            None => {
                let note = if self.years.contains(&d.year()) {
                    String::new()
                } else {
                    format!("{} 年不在日历中，按周末推算", d.year())
                };
                if is_weekend(d) {
                    ("周末".to_owned(), "weekend", DayKind::Weekend, note, true, false)
                } else {
                    ("工作日".to_owned(), "workday", DayKind::NormalWorkday, note, false, false)
                }
            }
        };
        HolidayDay {
            date: text(d),
            name,
            r#type: r#type.into(),
            kind,
            note,
            is_holiday: off,
            is_festival_day: festival,
        }
    }

    /// The festivals of `year`, in date order.
    pub fn festivals(&self, year: i32) -> Vec<Festival> {
        let mut by_name: Vec<Festival> = vec![];
        for (d, x) in self.days.iter().filter(|(_, x)| x.year == year) {
            let i = match by_name.iter().position(|f| f.name == x.name) {
                Some(i) => i,
                None => {
                    by_name.push(Festival { year, name: x.name.clone(), ..Default::default() });
                    by_name.len() - 1
                }
            };
            let f = &mut by_name[i];
            if x.off {
                f.holiday_days.push(text(*d));
            } else {
                f.makeup_workdays.push(text(*d));
            }
            if x.festival {
                f.festival_days.push(text(*d));
            }
        }
        for f in &mut by_name {
            let span = if f.holiday_days.is_empty() { &f.makeup_workdays } else { &f.holiday_days };
            f.start_date = span.first().cloned().unwrap_or_default();
            f.end_date = span.last().cloned().unwrap_or_default();
        }
        by_name.sort_by(|a, b| a.start_date.cmp(&b.start_date));
        by_name
    }

    /// The years the calendar holds.
    pub fn years(&self) -> Vec<i32> {
        self.years.iter().copied().collect()
    }

    /// A year's days off, makeup workdays, festival days and festival names.
    pub fn summary(&self, year: i32) -> Option<YearSummary> {
        if !self.years.contains(&year) {
            return None;
        }
        let fs = self.festivals(year);
        let all = |f: fn(&Festival) -> &Vec<String>| {
            let mut v: Vec<String> = fs.iter().flat_map(|x| f(x).iter().cloned()).collect();
            v.sort();
            v
        };
        Some(YearSummary {
            year,
            holiday_days: all(|f| &f.holiday_days),
            makeup_workdays: all(|f| &f.makeup_workdays),
            festival_days: all(|f| &f.festival_days),
            names: fs.iter().map(|f| f.name.clone()).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        date(s).unwrap()
    }

    #[test]
    fn the_embedded_calendar_covers_2023_to_2046() {
        let c = Calendar::embedded();
        assert_eq!(c.years(), (2023..=2046).collect::<Vec<_>>());
        for y in 2023..=2046 {
            let names: Vec<String> = c.festivals(y).into_iter().map(|f| f.name).collect();
            assert!(names.iter().any(|n| n == "春节"), "{y}: {names:?}");
            assert!(names.len() >= 6, "{y}: {names:?}");
        }
    }

    #[test]
    fn days_have_their_kinds() {
        let c = Calendar::embedded();
        let spring = c.query(d("2025-01-29"));
        assert_eq!(
            (spring.kind, spring.name.as_str(), spring.is_festival_day, spring.is_holiday),
            (DayKind::StatutoryHoliday, "春节", true, true)
        );
        let makeup = c.query(d("2025-01-26")); // a Sunday worked for 春节
        assert_eq!(
            (makeup.kind, makeup.is_holiday, makeup.r#type.as_str()),
            (DayKind::MakeupWorkday, false, "workday")
        );
        assert_eq!(c.query(d("2025-03-08")).kind, DayKind::Weekend, "a Saturday");
        assert_eq!(c.query(d("2025-03-10")).kind, DayKind::NormalWorkday, "a Monday");
        let eve = c.query(d("2022-12-31"));
        assert_eq!((eve.kind, eve.name.as_str()), (DayKind::StatutoryHoliday, "元旦"), "元旦 2023 starts in December");
        assert_eq!(c.festivals(2023)[0].start_date, "2022-12-31");
        let projected = c.query(d("2030-10-02"));
        assert_eq!((projected.kind, projected.name.as_str()), (DayKind::StatutoryHoliday, "国庆节"));
        assert!(projected.note.contains("预计"));
        assert!(!c.query(d("2050-06-01")).note.is_empty(), "outside the calendar");
    }

    #[test]
    fn festivals_and_summaries() {
        let c = Calendar::embedded();
        let f = c.festivals(2024).into_iter().find(|f| f.name == "春节").unwrap();
        assert_eq!((f.start_date.as_str(), f.end_date.as_str()), ("2024-02-10", "2024-02-17"));
        assert_eq!(f.holiday_days.len(), 8);
        assert_eq!(f.makeup_workdays, vec!["2024-02-04", "2024-02-18"]);
        assert_eq!(f.festival_days, vec!["2024-02-10"]);
        let s = c.summary(2025).unwrap();
        assert_eq!(s.names.len(), 6);
        assert!(s.makeup_workdays.contains(&"2025-09-28".to_owned()));
        assert!(c.summary(2099).is_none());
    }

    #[test]
    fn source_rows_override_days() {
        let rows = vec![
            Source {
                date: "2030-10-04".into(),
                name: "国庆节".into(),
                r#type: "holiday".into(),
                note: "bridge".into(),
                is_festival_day: false,
                enabled: true,
            },
            Source {
                date: "2030-10-06".into(),
                name: "国庆节".into(),
                r#type: "workday".into(),
                note: "makeup".into(),
                is_festival_day: false,
                enabled: false,
            },
        ];
        let c = Calendar::with_sources(&rows);
        assert_eq!(c.query(d("2030-10-04")).kind, DayKind::StatutoryHoliday);
        assert_eq!(c.query(d("2030-10-04")).note, "bridge");
        assert_eq!(c.query(d("2030-10-06")).kind, DayKind::Weekend, "a disabled row does nothing (a Sunday)");
        let f = c.festivals(2030).into_iter().find(|f| f.name == "国庆节").unwrap();
        assert_eq!(f.holiday_days.len(), 4);
    }
}
