//! Dates and datetimes without time zones: settlement times are local (Beijing) wall-clock
//! times and are only compared and split into years, so seconds since 1970-01-01 00:00:00
//! local suffice.

/// Seconds since 1970-01-01 00:00:00 (local wall clock).
pub type Timestamp = i64;
/// Days since 1970-01-01.
pub type Date = i32;

/// Days from 1970-01-01 to the civil date (proleptic Gregorian), H. Hinnant's algorithm.
pub const fn days_from_civil(y: i32, m: u32, d: u32) -> Date {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = (y - era * 400) as u32;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe as i32 - 719468
}

/// (year, month, day) of a day number.
pub fn civil_from_days(z: Date) -> (i32, u32, u32) {
    let z = z + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = (z - era * 146097) as u32;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe as i32 + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

fn num(b: &[u8]) -> Option<u32> {
    let mut v = 0u32;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (c - b'0') as u32;
    }
    Some(v)
}

/// Parses `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Result<Date, String> {
    let b = s.trim().as_bytes();
    let bad = || format!("`{}` is not a date like 2026-03-01", s.trim());
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(bad());
    }
    let (y, m, d) = (num(&b[0..4]).ok_or_else(bad)?, num(&b[5..7]).ok_or_else(bad)?, num(&b[8..10]).ok_or_else(bad)?);
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y as i32, m) {
        return Err(bad());
    }
    Ok(days_from_civil(y as i32, m, d))
}

/// Parses `YYYY-MM-DD HH:MM:SS` (also `T` as separator; a bare date means midnight).
pub fn parse_datetime(s: &str) -> Result<Timestamp, String> {
    let t = s.trim();
    let b = t.as_bytes();
    let bad = || format!("`{t}` is not a datetime like 2026-03-01 08:30:00");
    if b.len() == 10 {
        return parse_date(t).map(|d| d as i64 * 86400).map_err(|_| bad());
    }
    if b.len() != 19 || (b[10] != b' ' && b[10] != b'T') || b[13] != b':' || b[16] != b':' {
        return Err(bad());
    }
    let day = parse_date(&t[..10]).map_err(|_| bad())?;
    let (h, mi, se) = (num(&b[11..13]).ok_or_else(bad)?, num(&b[14..16]).ok_or_else(bad)?, num(&b[17..19]).ok_or_else(bad)?);
    if h > 23 || mi > 59 || se > 59 {
        return Err(bad());
    }
    Ok(day as i64 * 86400 + (h * 3600 + mi * 60 + se) as i64)
}

pub fn date_of(ts: Timestamp) -> Date {
    ts.div_euclid(86400) as Date
}

pub fn year_of(ts: Timestamp) -> i32 {
    year_of_date(date_of(ts))
}

/// The years of every accepted date, 1900–2199 (CONTRACT.md §1): dates outside are typing
/// errors, and the bound keeps every date computation far from overflow.
const FIRST_YEAR: i32 = 1900;
const YEARS: usize = 300;
/// 1900-01-01 and 2200-01-01 as days since 1970: the first accepted day and the first after.
pub const MIN_DAY: Date = days_from_civil(FIRST_YEAR, 1, 1);
pub const MAX_DAY: Date = days_from_civil(FIRST_YEAR + YEARS as i32, 1, 1);

/// The first day of each accepted year, and [`MAX_DAY`] after them.
const YEAR_START: [Date; YEARS + 1] = {
    let mut t = [0; YEARS + 1];
    let mut i = 0;
    while i <= YEARS {
        t[i] = days_from_civil(FIRST_YEAR + i as i32, 1, 1);
        i += 1;
    }
    t
};

/// The year of a day. Every claim's year is taken several times a run (its policy, its
/// running totals, the fund report), so the years 1900–2199 are looked up in a table (the
/// calendar conversion was 2% of a run's CPU); other days are converted.
#[inline]
pub fn year_of_date(d: Date) -> i32 {
    if !(MIN_DAY..MAX_DAY).contains(&d) {
        return civil_from_days(d).0;
    }
    // Years of 365.2425 days from 1900 land on the year or next to it.
    let k = (((d - MIN_DAY) as i64 * 400 / 146_097) as usize).min(YEARS - 1);
    let k = if d < YEAR_START[k] {
        k - 1
    } else if d >= YEAR_START[k + 1] {
        k + 1
    } else {
        k
    };
    FIRST_YEAR + k as i32
}

/// The same month and day `years` later (29 Feb → 28 Feb in a common year).
pub fn add_years(d: Date, years: i32) -> Date {
    let (y, m, day) = civil_from_days(d);
    let ny = y + years;
    days_from_civil(ny, m, day.min(days_in_month(ny, m)))
}

pub fn format_date(d: Date) -> String {
    let (y, m, day) = civil_from_days(d);
    format!("{y:04}-{m:02}-{day:02}")
}

/// Appends `YYYY-MM-DD HH:MM:SS`.
pub fn write_datetime(ts: Timestamp, out: &mut Vec<u8>) {
    let (y, m, d) = civil_from_days(date_of(ts));
    let s = ts.rem_euclid(86400);
    let (h, mi, se) = (s / 3600, (s % 3600) / 60, s % 60);
    let two = |out: &mut Vec<u8>, v: i64| {
        out.push(b'0' + (v / 10) as u8);
        out.push(b'0' + (v % 10) as u8);
    };
    two(out, (y / 100) as i64);
    two(out, (y % 100) as i64);
    out.push(b'-');
    two(out, m as i64);
    out.push(b'-');
    two(out, d as i64);
    out.push(b' ');
    two(out, h);
    out.push(b':');
    two(out, mi);
    out.push(b':');
    two(out, se);
}

pub fn format_datetime(ts: Timestamp) -> String {
    let mut v = Vec::with_capacity(19);
    write_datetime(ts, &mut v);
    String::from_utf8(v).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table's years equal the calendar conversion's on every day from 1890 to 2210.
    #[test]
    fn year_of_every_day_from_the_table_equals_the_calendar() {
        for d in days_from_civil(1890, 1, 1)..days_from_civil(2210, 1, 1) {
            assert_eq!(year_of_date(d), civil_from_days(d).0, "day {d}");
        }
        assert_eq!(year_of(days_from_civil(2024, 12, 31) as i64 * 86_400 + 86_399), 2024);
        assert_eq!(year_of(days_from_civil(2025, 1, 1) as i64 * 86_400), 2025);
        assert_eq!(year_of(-1), 1969);
    }

    #[test]
    fn round_trips() -> anyhow::Result<()> {
        let ts = parse_datetime("2026-03-01 08:30:05").map_err(anyhow::Error::msg)?;
        assert_eq!(format_datetime(ts), "2026-03-01 08:30:05");
        assert_eq!(year_of(ts), 2026);
        assert_eq!(year_of(parse_datetime("2025-12-31 23:59:59").map_err(anyhow::Error::msg)?), 2025);
        assert_eq!(format_date(parse_date("2024-02-29").map_err(anyhow::Error::msg)?), "2024-02-29");
        assert!(parse_date("2025-02-29").is_err());
        assert!(parse_datetime("2026-13-01 00:00:00").is_err());
        assert_eq!(format_date(add_years(parse_date("2024-02-29").map_err(anyhow::Error::msg)?, 1)), "2025-02-28");
        assert_eq!(format_date(-1), "1969-12-31");
        Ok(())
    }
}
