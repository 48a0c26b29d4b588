//! Times as sops sees them: YAML timestamps typed like yaml.v3 (`GoTime`, written RFC 3339 like Go's
//! `time.Time.MarshalText`) and the public `Timestamp` used for `lastmodified` (whole seconds, UTC).

use std::fmt;

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// A point in time with the UTC offset it was written with (what Go's `time.Time` keeps).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct GoTime {
    dt: OffsetDateTime,
}

fn digits(b: &[u8], i: &mut usize, min: usize, max: usize) -> Option<u32> {
    let start = *i;
    let mut v: u32 = 0;
    while *i < b.len() && *i - start < max && b[*i].is_ascii_digit() {
        v = v * 10 + u32::from(b[*i] - b'0');
        *i += 1;
    }
    if *i - start < min { None } else { Some(v) }
}

fn expect(b: &[u8], i: &mut usize, c: u8) -> Option<()> {
    if *i < b.len() && b[*i] == c {
        *i += 1;
        Some(())
    } else {
        None
    }
}

/// Fractional seconds after `.` or `,` (Go keeps 9 digits and ignores the rest).
fn fraction(b: &[u8], i: &mut usize) -> u32 {
    if *i + 1 < b.len() && (b[*i] == b'.' || b[*i] == b',') && b[*i + 1].is_ascii_digit() {
        *i += 1;
        let mut nanos: u32 = 0;
        let mut n = 0;
        while *i < b.len() && b[*i].is_ascii_digit() {
            if n < 9 {
                nanos = nanos * 10 + u32::from(b[*i] - b'0');
                n += 1;
            }
            *i += 1;
        }
        while n < 9 {
            nanos *= 10;
            n += 1;
        }
        nanos
    } else {
        0
    }
}

/// `Z` or `±hh:mm`.
fn zone(b: &[u8], i: &mut usize) -> Option<i32> {
    if *i < b.len() && b[*i] == b'Z' {
        *i += 1;
        return Some(0);
    }
    let sign = match b.get(*i) {
        Some(b'+') => 1,
        Some(b'-') => -1,
        _ => return None,
    };
    *i += 1;
    let hh = digits(b, i, 2, 2)?;
    expect(b, i, b':')?;
    let mm = digits(b, i, 2, 2)?;
    if hh > 23 || mm > 59 {
        return None;
    }
    Some(sign * (hh as i32 * 3600 + mm as i32 * 60))
}

/// Builds a time from (year, month, day), (hour, minute, second, nanoseconds) and the UTC offset;
/// None when a field is out of range (Go's Parse refuses those too).
fn build(
    (y, mo, d): (u32, u32, u32),
    (h, mi, s, nanos): (u32, u32, u32, u32),
    offset: i32,
) -> Option<GoTime> {
    let month = Month::try_from(u8::try_from(mo).ok()?).ok()?;
    let date =
        Date::from_calendar_date(i32::try_from(y).ok()?, month, u8::try_from(d).ok()?).ok()?;
    let time = Time::from_hms_nano(
        u8::try_from(h).ok()?,
        u8::try_from(mi).ok()?,
        u8::try_from(s).ok()?,
        nanos,
    )
    .ok()?;
    let offset = UtcOffset::from_whole_seconds(offset).ok()?;
    Some(GoTime {
        dt: PrimitiveDateTime::new(date, time).assume_offset(offset),
    })
}

impl GoTime {
    /// A plain YAML scalar that yaml.v3 reads as a timestamp (`2024-01-15`, `2024-1-5`,
    /// `2024-01-15T10:30:00Z`, `2024-01-15 10:30:00`, `...T10:30:00.5+02:00`), or None.
    pub(crate) fn parse_yaml(s: &str) -> Option<GoTime> {
        let b = s.as_bytes();
        if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
            return None;
        }
        let mut i = 0;
        let y = digits(b, &mut i, 4, 4)?;
        expect(b, &mut i, b'-')?;
        let mo = digits(b, &mut i, 1, 2)?;
        expect(b, &mut i, b'-')?;
        let d = digits(b, &mut i, 1, 2)?;
        if i == b.len() {
            return build((y, mo, d), (0, 0, 0, 0), 0);
        }
        let sep = b[i];
        if !(sep == b'T' || sep == b't' || sep == b' ') {
            return None;
        }
        i += 1;
        let h = digits(b, &mut i, 1, 2)?;
        expect(b, &mut i, b':')?;
        let mi = digits(b, &mut i, 1, 2)?;
        expect(b, &mut i, b':')?;
        let sec = digits(b, &mut i, 1, 2)?;
        let nanos = fraction(b, &mut i);
        let offset = if sep == b' ' { 0 } else { zone(b, &mut i)? };
        if i != b.len() {
            return None;
        }
        build((y, mo, d), (h, mi, sec, nanos), offset)
    }

    /// RFC 3339 as Go's `time.Parse(time.RFC3339, s)` reads it (what sops uses for `type:time`).
    pub(crate) fn parse_rfc3339(s: &str) -> Option<GoTime> {
        let b = s.as_bytes();
        let mut i = 0;
        let y = digits(b, &mut i, 4, 4)?;
        expect(b, &mut i, b'-')?;
        let mo = digits(b, &mut i, 2, 2)?;
        expect(b, &mut i, b'-')?;
        let d = digits(b, &mut i, 2, 2)?;
        expect(b, &mut i, b'T')?;
        let h = digits(b, &mut i, 2, 2)?;
        expect(b, &mut i, b':')?;
        let mi = digits(b, &mut i, 2, 2)?;
        expect(b, &mut i, b':')?;
        let sec = digits(b, &mut i, 2, 2)?;
        let nanos = fraction(b, &mut i);
        let offset = zone(b, &mut i)?;
        if i != b.len() {
            return None;
        }
        build((y, mo, d), (h, mi, sec, nanos), offset)
    }

    fn format(self, with_fraction: bool) -> String {
        let dt = self.dt;
        let mut out = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            dt.year(),
            u8::from(dt.month()),
            dt.day(),
            dt.hour(),
            dt.minute(),
            dt.second()
        );
        let nanos = dt.nanosecond();
        if with_fraction && nanos != 0 {
            let frac = format!("{nanos:09}");
            out.push('.');
            out.push_str(frac.trim_end_matches('0'));
        }
        let off = dt.offset().whole_seconds();
        if off == 0 {
            out.push('Z');
        } else {
            let sign = if off < 0 { '-' } else { '+' };
            let a = off.abs();
            out.push_str(&format!("{sign}{:02}:{:02}", a / 3600, (a % 3600) / 60));
        }
        out
    }

    /// Go's `time.Time.MarshalText` (RFC 3339 with trailing fractional zeros removed).
    pub(crate) fn to_rfc3339_nano(self) -> String {
        self.format(true)
    }

    /// Go's `t.Format(time.RFC3339)` (whole seconds, in the time's own offset).
    pub(crate) fn to_rfc3339_seconds(self) -> String {
        self.format(false)
    }

    pub(crate) fn unix_seconds(self) -> i64 {
        self.dt.unix_timestamp()
    }
}

/// A `lastmodified` time: whole seconds in UTC, written like `2026-11-25T11:35:26Z`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    unix_seconds: i64,
}

impl Timestamp {
    /// A time given as seconds since 1970-01-01T00:00:00Z; None outside years 0000–9999.
    pub fn from_unix_seconds(unix_seconds: i64) -> Option<Self> {
        let dt = OffsetDateTime::from_unix_timestamp(unix_seconds).ok()?;
        if !(0..=9999).contains(&dt.year()) {
            return None;
        }
        Some(Timestamp { unix_seconds })
    }

    /// Parses RFC 3339 (`2026-11-25T11:35:26Z`, or with an offset); fractions of a second are dropped.
    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        GoTime::parse_rfc3339(s).and_then(|t| Self::from_unix_seconds(t.unix_seconds()))
    }

    pub fn unix_seconds(&self) -> i64 {
        self.unix_seconds
    }
}

impl From<OffsetDateTime> for Timestamp {
    /// The same instant, truncated to whole seconds (any offset; `lastmodified` is written in UTC).
    fn from(t: OffsetDateTime) -> Self {
        Timestamp {
            unix_seconds: t.unix_timestamp(),
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match OffsetDateTime::from_unix_timestamp(self.unix_seconds) {
            Ok(dt) => f.write_str(&GoTime { dt }.to_rfc3339_seconds()),
            Err(_) => f.write_str("invalid-time"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_timestamps_normalise_like_go() {
        let t = |s: &str| GoTime::parse_yaml(s).map(|t| t.to_rfc3339_nano());
        assert_eq!(t("2024-01-15").as_deref(), Some("2024-01-15T00:00:00Z"));
        assert_eq!(t("2024-1-5").as_deref(), Some("2024-01-05T00:00:00Z"));
        assert_eq!(
            t("2024-01-15 10:30:00").as_deref(),
            Some("2024-01-15T10:30:00Z")
        );
        assert_eq!(
            t("2024-01-15T10:30:00.500+02:00").as_deref(),
            Some("2024-01-15T10:30:00.5+02:00")
        );
        assert_eq!(
            t("2024-01-15T10:30:00+00:00").as_deref(),
            Some("2024-01-15T10:30:00Z")
        );
        assert_eq!(t("2024-13-01"), None);
        assert_eq!(t("2024-01-15x"), None);
        assert_eq!(t("12345-01-01"), None);
    }

    #[test]
    fn lastmodified_is_whole_seconds_utc() {
        let ts = Timestamp::parse_rfc3339("2026-11-25T12:35:26.9+01:00").unwrap();
        assert_eq!(ts.to_string(), "2026-11-25T11:35:26Z");
    }
}
