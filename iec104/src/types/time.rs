//! Binary time tags: CP56Time2a (7 octets), CP24Time2a (3 octets) and CP16Time2a (2 octets).
//!
//! Each keeps its raw octets, so reserved bits round-trip; accessors mask the fields out.

use crate::asdu::Element;
use bytes::{BufMut, BytesMut};

/// Seven-octet binary time: milliseconds in the minute, minute, hour, day of month, day of week,
/// month, year in the century, and the invalid (IV), substituted (RES1 as lib60870 reads it) and
/// summer-time (SU) flags.
///
/// ```
/// use iec104::types::Cp56Time2a;
/// let t = Cp56Time2a::new(26, 6, 5, 14, 30, 1_234).unwrap();
/// assert_eq!((t.year(), t.month(), t.day(), t.hour(), t.minute(), t.millisecond()), (26, 6, 5, 14, 30, 1_234));
/// // 2026-06-05 was a Friday: from_unix_millis fills in the day of week
/// assert_eq!(Cp56Time2a::from_unix_millis(t.to_unix_millis()), t.with_day_of_week(5));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Cp56Time2a(pub [u8; 7]);

impl Cp56Time2a {
    /// A time from its fields (`year` is 0..=99 in the century), or `None` when a field is out of
    /// range. The day of week is left 0 (not used).
    pub const fn new(year: u8, month: u8, day: u8, hour: u8, minute: u8, millisecond: u16) -> Option<Cp56Time2a> {
        if year > 99
            || month < 1
            || month > 12
            || day < 1
            || day > 31
            || hour > 23
            || minute > 59
            || millisecond > 59_999
        {
            return None;
        }
        let ms = millisecond.to_le_bytes();
        Some(Cp56Time2a([ms[0], ms[1], minute, hour, day, month, year]))
    }

    /// Milliseconds within the minute, seconds included (0..=59999).
    pub const fn millisecond(&self) -> u16 {
        u16::from_le_bytes([self.0[0], self.0[1]])
    }
    /// Seconds within the minute.
    pub const fn second(&self) -> u8 {
        (self.millisecond() / 1000) as u8
    }
    /// Minute (0..=59).
    pub const fn minute(&self) -> u8 {
        self.0[2] & 0x3F
    }
    /// Hour (0..=23).
    pub const fn hour(&self) -> u8 {
        self.0[3] & 0x1F
    }
    /// Day of month (1..=31).
    pub const fn day(&self) -> u8 {
        self.0[4] & 0x1F
    }
    /// Day of week (1 = Monday ..= 7, 0 = not used).
    pub const fn day_of_week(&self) -> u8 {
        self.0[4] >> 5
    }
    /// Month (1..=12).
    pub const fn month(&self) -> u8 {
        self.0[5] & 0x0F
    }
    /// Year in the century (0..=99).
    pub const fn year(&self) -> u8 {
        self.0[6] & 0x7F
    }
    /// IV: the time tag is invalid.
    pub const fn invalid(&self) -> bool {
        self.0[2] & 0x80 != 0
    }
    /// RES1, read as "substituted" the way lib60870 does.
    pub const fn substituted(&self) -> bool {
        self.0[2] & 0x40 != 0
    }
    /// SU: summer time.
    pub const fn summer_time(&self) -> bool {
        self.0[3] & 0x80 != 0
    }

    /// A copy with the IV flag set to `on`.
    #[must_use]
    pub const fn with_invalid(mut self, on: bool) -> Self {
        self.0[2] = if on { self.0[2] | 0x80 } else { self.0[2] & !0x80 };
        self
    }
    /// A copy with the RES1/substituted flag set to `on`.
    #[must_use]
    pub const fn with_substituted(mut self, on: bool) -> Self {
        self.0[2] = if on { self.0[2] | 0x40 } else { self.0[2] & !0x40 };
        self
    }
    /// A copy with the SU flag set to `on`.
    #[must_use]
    pub const fn with_summer_time(mut self, on: bool) -> Self {
        self.0[3] = if on { self.0[3] | 0x80 } else { self.0[3] & !0x80 };
        self
    }
    /// A copy with the day of week (0..=7) set.
    #[must_use]
    pub const fn with_day_of_week(mut self, dow: u8) -> Self {
        self.0[4] = (self.0[4] & 0x1F) | ((dow & 7) << 5);
        self
    }

    /// The UTC time `ms` milliseconds after the Unix epoch, year taken modulo 100, day of week set.
    pub fn from_unix_millis(ms: i64) -> Cp56Time2a {
        let days = ms.div_euclid(86_400_000);
        let in_day = ms.rem_euclid(86_400_000);
        let (y, m, d) = civil_from_days(days);
        let hour = (in_day / 3_600_000) as u8;
        let minute = ((in_day / 60_000) % 60) as u8;
        let millis = (in_day % 60_000) as u16;
        let dow = ((days + 3).rem_euclid(7) + 1) as u8; // 1970-01-01 was a Thursday (4)
        let ms_b = millis.to_le_bytes();
        Cp56Time2a([ms_b[0], ms_b[1], minute, hour, d | (dow << 5), m, y.rem_euclid(100) as u8])
    }

    /// Milliseconds after the Unix epoch, reading the year as 2000 + year and the fields as UTC.
    /// Flags are ignored; out-of-range fields are taken as they are.
    pub fn to_unix_millis(&self) -> i64 {
        let days = days_from_civil(2000 + i64::from(self.year()), self.month(), self.day());
        days * 86_400_000
            + i64::from(self.hour()) * 3_600_000
            + i64::from(self.minute()) * 60_000
            + i64::from(self.millisecond())
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: u8, d: u8) -> i64 {
    let m = i64::from(m.clamp(1, 12));
    let d = i64::from(d);
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Proleptic Gregorian date of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u8, u8) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

impl std::fmt::Debug for Cp56Time2a {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Cp56Time2a({:02}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}{}{}{})",
            self.year(),
            self.month(),
            self.day(),
            self.hour(),
            self.minute(),
            self.second(),
            self.millisecond() % 1000,
            if self.invalid() { " IV" } else { "" },
            if self.substituted() { " SB" } else { "" },
            if self.summer_time() { " SU" } else { "" },
        )
    }
}

impl Element for Cp56Time2a {
    const LEN: usize = 7;
    const NAME: &'static str = "CP56Time2a";
    #[inline]
    fn read(b: &[u8]) -> Self {
        let mut a = [0; 7];
        a.copy_from_slice(&b[..7]);
        Cp56Time2a(a)
    }
    #[inline]
    fn write(&self, out: &mut BytesMut) {
        out.put_slice(&self.0);
    }
}

/// Three-octet binary time: milliseconds in the minute, minute, and the IV and RES1 flags.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Cp24Time2a(pub [u8; 3]);

impl Cp24Time2a {
    /// A time from minute (0..=59) and milliseconds in the minute (0..=59999).
    pub const fn new(minute: u8, millisecond: u16) -> Option<Cp24Time2a> {
        if minute > 59 || millisecond > 59_999 {
            return None;
        }
        let ms = millisecond.to_le_bytes();
        Some(Cp24Time2a([ms[0], ms[1], minute]))
    }
    /// Milliseconds within the minute (0..=59999).
    pub const fn millisecond(&self) -> u16 {
        u16::from_le_bytes([self.0[0], self.0[1]])
    }
    /// Minute (0..=59).
    pub const fn minute(&self) -> u8 {
        self.0[2] & 0x3F
    }
    /// IV: the time tag is invalid.
    pub const fn invalid(&self) -> bool {
        self.0[2] & 0x80 != 0
    }
    /// RES1, read as "substituted" the way lib60870 does.
    pub const fn substituted(&self) -> bool {
        self.0[2] & 0x40 != 0
    }
    /// A copy with the IV flag set to `on`.
    #[must_use]
    pub const fn with_invalid(mut self, on: bool) -> Self {
        self.0[2] = if on { self.0[2] | 0x80 } else { self.0[2] & !0x80 };
        self
    }
}

impl std::fmt::Debug for Cp24Time2a {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Cp24Time2a(mm:{:02} ms:{}{})",
            self.minute(),
            self.millisecond(),
            if self.invalid() { " IV" } else { "" }
        )
    }
}

impl Element for Cp24Time2a {
    const LEN: usize = 3;
    const NAME: &'static str = "CP24Time2a";
    #[inline]
    fn read(b: &[u8]) -> Self {
        Cp24Time2a([b[0], b[1], b[2]])
    }
    #[inline]
    fn write(&self, out: &mut BytesMut) {
        out.put_slice(&self.0);
    }
}

/// Two-octet binary time: milliseconds (0..=59999), used for elapsed, relay and delay times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct Cp16Time2a(pub u16);

impl Element for Cp16Time2a {
    const LEN: usize = 2;
    const NAME: &'static str = "CP16Time2a";
    #[inline]
    fn read(b: &[u8]) -> Self {
        Cp16Time2a(u16::from_le_bytes([b[0], b[1]]))
    }
    #[inline]
    fn write(&self, out: &mut BytesMut) {
        out.put_u16_le(self.0);
    }
}

#[cfg(feature = "serde")]
mod serde_impls {
    use super::{Cp24Time2a, Cp56Time2a};
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Cp56 {
        year: u8,
        month: u8,
        day: u8,
        hour: u8,
        minute: u8,
        millisecond: u16,
        #[serde(default)]
        day_of_week: u8,
        #[serde(default)]
        invalid: bool,
        #[serde(default)]
        substituted: bool,
        #[serde(default)]
        summer_time: bool,
    }

    impl Serialize for Cp56Time2a {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            Cp56 {
                year: self.year(),
                month: self.month(),
                day: self.day(),
                hour: self.hour(),
                minute: self.minute(),
                millisecond: self.millisecond(),
                day_of_week: self.day_of_week(),
                invalid: self.invalid(),
                substituted: self.substituted(),
                summer_time: self.summer_time(),
            }
            .serialize(s)
        }
    }

    impl<'de> Deserialize<'de> for Cp56Time2a {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let p = Cp56::deserialize(d)?;
            let t = Cp56Time2a::new(p.year, p.month, p.day, p.hour, p.minute, p.millisecond)
                .ok_or_else(|| serde::de::Error::custom("CP56Time2a field out of range"))?;
            if p.day_of_week > 7 {
                return Err(serde::de::Error::custom("day_of_week out of range 0..=7"));
            }
            Ok(t.with_day_of_week(p.day_of_week)
                .with_invalid(p.invalid)
                .with_substituted(p.substituted)
                .with_summer_time(p.summer_time))
        }
    }

    #[derive(Serialize, Deserialize)]
    struct Cp24 {
        minute: u8,
        millisecond: u16,
        #[serde(default)]
        invalid: bool,
    }

    impl Serialize for Cp24Time2a {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            Cp24 { minute: self.minute(), millisecond: self.millisecond(), invalid: self.invalid() }.serialize(s)
        }
    }

    impl<'de> Deserialize<'de> for Cp24Time2a {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let p = Cp24::deserialize(d)?;
            Cp24Time2a::new(p.minute, p.millisecond)
                .map(|t| t.with_invalid(p.invalid))
                .ok_or_else(|| serde::de::Error::custom("CP24Time2a field out of range"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// IEC 60870-5-4 layout: 2026-06-05 14:30:01.234, Friday, summer time.
    #[test]
    fn cp56_byte_layout() {
        let t = Cp56Time2a::new(26, 6, 5, 14, 30, 1_234).unwrap().with_day_of_week(5).with_summer_time(true);
        assert_eq!(t.0, [0xD2, 0x04, 30, 0x80 | 14, (5 << 5) | 5, 6, 26]);
        assert_eq!(t.second(), 1);
        assert!(!t.invalid());
        let t = t.with_invalid(true);
        assert_eq!(t.0[2], 0x80 | 30);
    }

    #[test]
    fn unix_round_trip() {
        // 2026-11-21 06:50:01.500 UTC, a Saturday
        let ms = 1_795_243_801_500;
        let t = Cp56Time2a::from_unix_millis(ms);
        assert_eq!((t.year(), t.month(), t.day()), (26, 11, 21));
        assert_eq!((t.hour(), t.minute(), t.millisecond()), (6, 50, 1_500));
        assert_eq!(t.day_of_week(), 6);
        assert_eq!(t.to_unix_millis(), ms);
        let epoch2000 = Cp56Time2a::from_unix_millis(946_684_800_000);
        assert_eq!((epoch2000.year(), epoch2000.month(), epoch2000.day()), (0, 1, 1));
    }

    #[test]
    fn rejects_out_of_range() {
        assert!(Cp56Time2a::new(100, 1, 1, 0, 0, 0).is_none());
        assert!(Cp56Time2a::new(1, 13, 1, 0, 0, 0).is_none());
        assert!(Cp56Time2a::new(1, 1, 1, 0, 0, 60_000).is_none());
        assert!(Cp24Time2a::new(60, 0).is_none());
    }

    #[test]
    fn cp24_layout() {
        let t = Cp24Time2a::new(59, 59_999).unwrap().with_invalid(true);
        assert_eq!(t.0, [0x5F, 0xEA, 0x80 | 59]);
    }
}
