//! The holiday half (spec §6.4): the RPCs over [`trigger_core::holiday::store::HolidayStore`]
//! (the embedded calendar overlaid by the `holiday_source` rows that trigger-core keeps in the
//! plan database).

use crate::convert::{invalid, missing, to_status};
use crate::pb;
use tonic::{Response, Status};
use trigger_core::holiday::store::HolidayStore;
use trigger_core::holiday::{date, Source};

/// The holiday half of the service.
#[derive(Clone)]
pub struct Holidays(pub HolidayStore);

type Res<T> = Result<Response<T>, Status>;

fn year_of(y: i32, what: &str) -> Result<i32, Status> {
    if !(1900..=9999).contains(&y) {
        return Err(invalid(format!("{what}: 1900..9999")));
    }
    Ok(y)
}

impl Holidays {
    /// `QueryHoliday` (empty date: today in Shanghai).
    pub fn query(&self, r: pb::QueryHolidayReq) -> Res<pb::QueryHolidayRes> {
        let d = if r.date.is_empty() {
            let today = crate::datetime(trigger_core::driver::now());
            date(&today[..10]).ok_or_else(|| Status::internal("clock"))?
        } else {
            date(&r.date).ok_or_else(|| invalid(format!("date {:?}: yyyy-MM-dd", r.date)))?
        };
        Ok(Response::new(pb::QueryHolidayRes { day: Some(self.0.calendar().query(d).into()) }))
    }

    /// `ListHolidayFestivals`.
    pub fn list_festivals(&self, r: pb::ListHolidayFestivalsReq) -> Res<pb::ListHolidayFestivalsRes> {
        let cal = self.0.calendar();
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
            .map(Into::into)
            .collect();
        Ok(Response::new(pb::ListHolidayFestivalsRes { items }))
    }

    /// `GetHolidayFestival`.
    pub fn get_festival(&self, r: pb::GetHolidayFestivalReq) -> Res<pb::GetHolidayFestivalRes> {
        let y = year_of(r.year, "year")?;
        if r.name.is_empty() {
            return Err(missing("name"));
        }
        let f = self.0.calendar().festivals(y).into_iter().find(|f| f.name == r.name || f.name.contains(&r.name));
        Ok(Response::new(pb::GetHolidayFestivalRes { found: f.is_some(), festival: f.map(Into::into) }))
    }

    /// `GetHolidayYearSummary`.
    pub fn summary(&self, r: pb::GetHolidayYearSummaryReq) -> Res<pb::GetHolidayYearSummaryRes> {
        let s = self.0.calendar().summary(year_of(r.year, "year")?);
        Ok(Response::new(pb::GetHolidayYearSummaryRes { found: s.is_some(), summary: s.map(Into::into) }))
    }

    /// `ListHolidayYears`.
    pub fn years(&self) -> Res<pb::ListHolidayYearsRes> {
        Ok(Response::new(pb::ListHolidayYearsRes { years: self.0.calendar().years() }))
    }

    /// `ListHolidaySource`.
    pub async fn list_sources(&self, r: pb::ListHolidaySourceReq) -> Res<pb::ListHolidaySourceRes> {
        let year = if r.year == 0 { None } else { Some(year_of(r.year, "year")?) };
        let rows = self.0.sources(year, r.include_disabled).await.map_err(to_status)?;
        Ok(Response::new(pb::ListHolidaySourceRes { items: rows.into_iter().map(Into::into).collect() }))
    }

    /// `SaveHolidaySource`: inserts or replaces the row of its date, then reloads.
    pub async fn save_source(&self, r: pb::SaveHolidaySourceReq) -> Result<(), Status> {
        let s = Source {
            date: r.date,
            name: r.name,
            r#type: r.r#type,
            note: r.note,
            is_festival_day: r.is_festival_day,
            enabled: r.enabled,
        };
        self.0.save(&s, trigger_core::driver::now()).await.map_err(to_status)
    }

    /// `SetHolidaySourceEnabled`.
    pub async fn set_enabled(&self, r: pb::SetHolidaySourceEnabledReq) -> Result<(), Status> {
        self.0.set_enabled(&r.date, r.enabled, trigger_core::driver::now()).await.map_err(to_status)
    }
}
