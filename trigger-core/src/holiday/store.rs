//! The `holiday_source` table (this crate's migration 100003, in the plan database) and the
//! live calendar built from it: saving a row rebuilds this instance's calendar at once; other
//! instances pick it up at their next [`HolidayStore::reload`] ([`HolidayStore::refresh`] runs
//! one a minute).

use super::{date, Calendar, Source};
use crate::error::{Error, Result};
use crate::task::Millis;
use sqlx::Row;
use std::sync::{Arc, RwLock};
use zero_sql::Db;

/// The source rows and the calendar they make.
#[derive(Debug, Clone)]
pub struct HolidayStore {
    db: Db,
    calendar: Arc<RwLock<Arc<Calendar>>>,
}

impl HolidayStore {
    /// Loads the calendar from `db`, which [`crate::plan::store::open`] migrated.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn open(db: Db) -> Result<HolidayStore> {
        let h = HolidayStore { db, calendar: Arc::new(RwLock::new(Arc::new(Calendar::embedded()))) };
        h.reload().await?;
        Ok(h)
    }

    /// The calendar as last loaded.
    pub fn calendar(&self) -> Arc<Calendar> {
        self.calendar.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Rebuilds the calendar from the embedded years and the enabled rows.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn reload(&self) -> Result<()> {
        let rows = self.sources(None, true).await?;
        let c = Arc::new(Calendar::with_sources(&rows));
        *self.calendar.write().unwrap_or_else(|p| p.into_inner()) = c;
        Ok(())
    }

    /// The rows (of one year when `year` is set), by date.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn sources(&self, year: Option<i32>, include_disabled: bool) -> Result<Vec<Source>> {
        let mut sql =
            String::from("SELECT date, name, type, note, is_festival_day, enabled FROM holiday_source WHERE 1 = 1");
        if year.is_some() {
            sql.push_str(" AND date LIKE ?");
        }
        if !include_disabled {
            sql.push_str(" AND enabled = 1");
        }
        sql.push_str(" ORDER BY date");
        let sql = self.db.sql(&sql);
        let mut q = sqlx::query(&sql);
        if let Some(y) = year {
            q = q.bind(format!("{y:04}-%"));
        }
        let rows = q.fetch_all(self.db.pool()).await?;
        rows.iter()
            .map(|r| {
                Ok(Source {
                    date: zero_sql::text(r, "date")?,
                    name: zero_sql::text(r, "name")?,
                    r#type: zero_sql::text(r, "type")?,
                    note: zero_sql::text(r, "note")?,
                    is_festival_day: r.try_get::<i64, _>("is_festival_day")? != 0,
                    enabled: r.try_get::<i64, _>("enabled")? != 0,
                })
            })
            .collect()
    }

    /// Inserts or replaces the row of `s.date`, then reloads.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a date that is not `yyyy-MM-dd`, a name outside 1..=32
    /// characters, a type other than `holiday`/`workday`, a note outside 1..=128 characters;
    /// [`Error::Store`].
    pub async fn save(&self, s: &Source, now: Millis) -> Result<()> {
        check_date(&s.date)?;
        if !(1..=32).contains(&s.name.chars().count()) {
            return Err(Error::InvalidArgument("name: 1 to 32 characters".into()));
        }
        if s.r#type != "holiday" && s.r#type != "workday" {
            return Err(Error::InvalidArgument(format!("type {:?}: holiday or workday", s.r#type)));
        }
        if !(1..=128).contains(&s.note.chars().count()) {
            return Err(Error::InvalidArgument("note: 1 to 128 characters".into()));
        }
        let mut tx = self.db.pool().begin().await?;
        sqlx::query(&self.db.sql("DELETE FROM holiday_source WHERE date = ?")).bind(&s.date).execute(&mut *tx).await?;
        sqlx::query(&self.db.sql(
            "INSERT INTO holiday_source (date, name, type, note, is_festival_day, enabled, update_time) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        ))
        .bind(&s.date)
        .bind(&s.name)
        .bind(&s.r#type)
        .bind(&s.note)
        .bind(i64::from(s.is_festival_day))
        .bind(i64::from(s.enabled))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.reload().await
    }

    /// Enables or disables the row of `day`, then reloads.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a bad date, [`Error::NotFound`] when no row has it,
    /// [`Error::Store`].
    pub async fn set_enabled(&self, day: &str, enabled: bool, now: Millis) -> Result<()> {
        check_date(day)?;
        let n = sqlx::query(&self.db.sql("UPDATE holiday_source SET enabled = ?, update_time = ? WHERE date = ?"))
            .bind(i64::from(enabled))
            .bind(now)
            .bind(day)
            .execute(self.db.pool())
            .await?
            .rows_affected();
        if n == 0 {
            return Err(Error::NotFound(format!("holiday source {day}")));
        }
        self.reload().await
    }

    /// Reloads every minute (rows saved through another instance); runs until dropped.
    pub async fn refresh(self) {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(60)).await;
            if let Err(e) = self.reload().await {
                tracing::warn!(error = %e, "holiday calendar not reloaded");
            }
        }
    }
}

fn check_date(d: &str) -> Result<()> {
    date(d).map(|_| ()).ok_or_else(|| Error::InvalidArgument(format!("date {d:?}: yyyy-MM-dd")))
}
