//! The mainland-China holiday calendar (spec §6.4): the embedded years 2023-2046
//! (`holidays/holidays.json`; published arrangements to 2026, statutory days only after that,
//! see `holidays/generate.py`) overlaid by the enabled rows of the `holiday_source` table, which
//! sits in the plan database. Saving a source row reloads this instance's calendar at once;
//! other instances pick it up within a minute.

use crate::calendar::{date, Calendar, Source};
use crate::convert::{invalid, missing, to_status};
use crate::pb;
use sqlx::Row;
use std::sync::{Arc, RwLock};
use tonic::{Response, Status};
use trigger_core::plan::store::PlanStore;

const DDL: &str =
    "CREATE TABLE IF NOT EXISTS holiday_source (date VARCHAR(10) PRIMARY KEY, name VARCHAR(64) NOT NULL, \
    type VARCHAR(16) NOT NULL, note VARCHAR(512) NOT NULL, is_festival_day BIGINT NOT NULL, enabled BIGINT NOT NULL, \
    update_time BIGINT NOT NULL)";

/// The holiday half of the service.
#[derive(Clone)]
pub struct Holidays {
    db: PlanStore,
    calendar: Arc<RwLock<Arc<Calendar>>>,
}

type Res<T> = Result<Response<T>, Status>;

fn year_of(y: i32, what: &str) -> Result<i32, Status> {
    if !(1900..=9999).contains(&y) {
        return Err(invalid(format!("{what}: 1900..9999")));
    }
    Ok(y)
}

impl Holidays {
    /// Creates the source table when missing and loads the calendar.
    ///
    /// # Errors
    /// The database.
    pub async fn open(db: PlanStore) -> Result<Holidays, trigger_core::Error> {
        sqlx::query(DDL).execute(db.pool()).await.map_err(|e| trigger_core::Error::Store(e.to_string()))?;
        let h = Holidays { db, calendar: Arc::new(RwLock::new(Arc::new(Calendar::embedded()))) };
        h.reload().await?;
        Ok(h)
    }

    fn cal(&self) -> Arc<Calendar> {
        self.calendar.read().expect("calendar lock").clone()
    }

    /// Rebuilds the calendar from the embedded years and the source table.
    ///
    /// # Errors
    /// The database.
    pub async fn reload(&self) -> Result<(), trigger_core::Error> {
        let rows = self.sources(None, true).await?;
        let c = Arc::new(Calendar::with_sources(&rows));
        *self.calendar.write().expect("calendar lock") = c;
        Ok(())
    }

    async fn sources(&self, year: Option<i32>, include_disabled: bool) -> Result<Vec<Source>, trigger_core::Error> {
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
            q = q.bind(format!("{y}-%"));
        }
        let rows = q.fetch_all(self.db.pool()).await.map_err(|e| trigger_core::Error::Store(e.to_string()))?;
        let bad = |e: sqlx::Error| trigger_core::Error::Store(e.to_string());
        rows.iter()
            .map(|r| {
                Ok(Source {
                    date: r.try_get("date").map_err(bad)?,
                    name: r.try_get("name").map_err(bad)?,
                    r#type: r.try_get("type").map_err(bad)?,
                    note: r.try_get("note").map_err(bad)?,
                    is_festival_day: r.try_get::<i64, _>("is_festival_day").map_err(bad)? != 0,
                    enabled: r.try_get::<i64, _>("enabled").map_err(bad)? != 0,
                })
            })
            .collect()
    }

    /// `QueryHoliday` (empty date: today in Shanghai).
    pub fn query(&self, r: pb::QueryHolidayReq) -> Res<pb::QueryHolidayRes> {
        let d = if r.date.is_empty() {
            let today = crate::datetime(trigger_core::driver::now());
            date(&today[..10]).ok_or_else(|| Status::internal("clock"))?
        } else {
            date(&r.date).ok_or_else(|| invalid(format!("date {:?}: yyyy-MM-dd", r.date)))?
        };
        Ok(Response::new(pb::QueryHolidayRes { day: Some(self.cal().query(d)) }))
    }

    /// `ListHolidayFestivals`.
    pub fn list_festivals(&self, r: pb::ListHolidayFestivalsReq) -> Res<pb::ListHolidayFestivalsRes> {
        let cal = self.cal();
        let years = cal.years();
        let start =
            if r.start_year == 0 { years.first().copied().unwrap_or(0) } else { year_of(r.start_year, "start_year")? };
        let end = if r.end_year == 0 {
            start.max(years.last().copied().unwrap_or(0))
        } else {
            year_of(r.end_year, "end_year")?
        };
        if end < start || end - start > 100 {
            return Err(invalid("start_year <= end_year, at most 100 years apart".into()));
        }
        if r.name.chars().count() > 32 {
            return Err(invalid("name: at most 32 characters".into()));
        }
        let items = (start..=end)
            .flat_map(|y| cal.festivals(y))
            .filter(|f| r.name.is_empty() || f.name.contains(&r.name))
            .collect();
        Ok(Response::new(pb::ListHolidayFestivalsRes { items }))
    }

    /// `GetHolidayFestival`.
    pub fn get_festival(&self, r: pb::GetHolidayFestivalReq) -> Res<pb::GetHolidayFestivalRes> {
        let y = year_of(r.year, "year")?;
        if r.name.is_empty() {
            return Err(missing("name"));
        }
        let f = self.cal().festivals(y).into_iter().find(|f| f.name == r.name || f.name.contains(&r.name));
        Ok(Response::new(pb::GetHolidayFestivalRes { found: f.is_some(), festival: f }))
    }

    /// `GetHolidayYearSummary`.
    pub fn summary(&self, r: pb::GetHolidayYearSummaryReq) -> Res<pb::GetHolidayYearSummaryRes> {
        let s = self.cal().summary(year_of(r.year, "year")?);
        Ok(Response::new(pb::GetHolidayYearSummaryRes { found: s.is_some(), summary: s }))
    }

    /// `ListHolidayYears`.
    pub fn years(&self) -> Res<pb::ListHolidayYearsRes> {
        Ok(Response::new(pb::ListHolidayYearsRes { years: self.cal().years() }))
    }

    /// `ListHolidaySource`.
    pub async fn list_sources(&self, r: pb::ListHolidaySourceReq) -> Res<pb::ListHolidaySourceRes> {
        let year = if r.year == 0 { None } else { Some(year_of(r.year, "year")?) };
        let rows = self.sources(year, r.include_disabled).await.map_err(to_status)?;
        Ok(Response::new(pb::ListHolidaySourceRes {
            items: rows
                .into_iter()
                .map(|s| pb::HolidaySourcePb {
                    date: s.date,
                    name: s.name,
                    r#type: s.r#type,
                    note: s.note,
                    is_festival_day: s.is_festival_day,
                    enabled: s.enabled,
                })
                .collect(),
        }))
    }

    /// `SaveHolidaySource`: inserts or replaces the row of its date, then reloads.
    pub async fn save_source(&self, r: pb::SaveHolidaySourceReq) -> Result<(), Status> {
        date(&r.date).ok_or_else(|| invalid(format!("date {:?}: yyyy-MM-dd", r.date)))?;
        let n = r.name.chars().count();
        if !(1..=32).contains(&n) {
            return Err(invalid("name: 1 to 32 characters".into()));
        }
        if r.r#type != "holiday" && r.r#type != "workday" {
            return Err(invalid(format!("type {:?}: holiday or workday", r.r#type)));
        }
        if !(1..=128).contains(&r.note.chars().count()) {
            return Err(invalid("note: 1 to 128 characters".into()));
        }
        let bad = |e: sqlx::Error| to_status(trigger_core::Error::Store(e.to_string()));
        let mut tx = self.db.pool().begin().await.map_err(bad)?;
        sqlx::query(&self.db.sql("DELETE FROM holiday_source WHERE date = ?"))
            .bind(&r.date)
            .execute(&mut *tx)
            .await
            .map_err(bad)?;
        sqlx::query(&self.db.sql(
            "INSERT INTO holiday_source (date, name, type, note, is_festival_day, enabled, update_time) VALUES (?, ?, ?, ?, ?, ?, ?)",
        ))
        .bind(&r.date)
        .bind(&r.name)
        .bind(&r.r#type)
        .bind(&r.note)
        .bind(i64::from(r.is_festival_day))
        .bind(i64::from(r.enabled))
        .bind(trigger_core::driver::now())
        .execute(&mut *tx)
        .await
        .map_err(bad)?;
        tx.commit().await.map_err(bad)?;
        self.reload().await.map_err(to_status)?;
        Ok(())
    }

    /// `SetHolidaySourceEnabled`.
    pub async fn set_enabled(&self, r: pb::SetHolidaySourceEnabledReq) -> Result<(), Status> {
        date(&r.date).ok_or_else(|| invalid(format!("date {:?}: yyyy-MM-dd", r.date)))?;
        let bad = |e: sqlx::Error| to_status(trigger_core::Error::Store(e.to_string()));
        let n = sqlx::query(&self.db.sql("UPDATE holiday_source SET enabled = ?, update_time = ? WHERE date = ?"))
            .bind(i64::from(r.enabled))
            .bind(trigger_core::driver::now())
            .bind(&r.date)
            .execute(self.db.pool())
            .await
            .map_err(bad)?
            .rows_affected();
        if n == 0 {
            return Err(to_status(trigger_core::Error::NotFound(format!("holiday source {}", r.date))));
        }
        self.reload().await.map_err(to_status)?;
        Ok(())
    }

    /// Reloads every minute (rows saved through another instance).
    pub async fn refresh(self) {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(60)).await;
            if let Err(e) = self.reload().await {
                tracing::warn!(error = %e, "holiday calendar not reloaded");
            }
        }
    }
}
