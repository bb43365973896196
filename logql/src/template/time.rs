//! Go's `time.Time` as templates use it: formatting and parsing with Go
//! reference layouts ("2006-01-02T15:04:05Z07:00"), `String()`, and epoch
//! conversions. Sluice has no time zone database here: the server's local
//! zone is taken to be UTC (as in Loki's container images) and named zones
//! other than `UTC`/`Local` fall back to UTC, as Loki does for unknown ones.

use std::fmt::Write as _;

/// Seconds from 0001-01-01 (Go's zero time) to the Unix epoch.
const ZERO_UNIX: i64 = -62_135_596_800;

/// An instant with a fixed offset; `utc` names the zone "UTC".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GoTime {
    pub secs: i64,
    pub nsec: u32,
    /// Offset east of UTC in seconds.
    pub offset: i32,
    /// Whether the zone is UTC (named "UTC"); otherwise the zone is unnamed.
    pub utc: bool,
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// Days since 1970-01-01 to civil date (proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Civil date to days since 1970-01-01.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 } as i64;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Broken-down local time.
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    yday: u32,
    wday: usize,
    hour: u32,
    min: u32,
    sec: u32,
}

impl GoTime {
    /// Go's zero `time.Time{}` (0001-01-01 00:00:00 UTC).
    pub(crate) fn zero() -> GoTime {
        GoTime {
            secs: ZERO_UNIX,
            nsec: 0,
            offset: 0,
            utc: true,
        }
    }

    /// `time.Unix(0, ns)` in the local zone (UTC).
    pub(crate) fn from_unix_nanos(ns: i64) -> GoTime {
        GoTime {
            secs: ns.div_euclid(1_000_000_000),
            nsec: ns.rem_euclid(1_000_000_000) as u32,
            offset: 0,
            utc: true,
        }
    }

    pub(crate) fn from_unix(secs: i64, nsec: i64) -> GoTime {
        let s = secs.saturating_add(nsec.div_euclid(1_000_000_000));
        GoTime {
            secs: s,
            nsec: nsec.rem_euclid(1_000_000_000) as u32,
            offset: 0,
            utc: true,
        }
    }

    pub(crate) fn now() -> GoTime {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        GoTime {
            secs: d.as_secs() as i64,
            nsec: d.subsec_nanos(),
            offset: 0,
            utc: true,
        }
    }

    /// The same instant in UTC (`t.In(time.UTC)`).
    pub(crate) fn in_utc(self) -> GoTime {
        GoTime {
            offset: 0,
            utc: true,
            ..self
        }
    }

    pub(crate) fn unix(self) -> i64 {
        self.secs
    }

    pub(crate) fn unix_milli(self) -> i64 {
        self.secs
            .wrapping_mul(1000)
            .wrapping_add(self.nsec as i64 / 1_000_000)
    }

    pub(crate) fn unix_nano(self) -> i64 {
        self.secs
            .wrapping_mul(1_000_000_000)
            .wrapping_add(self.nsec as i64)
    }

    fn civil(self) -> Civil {
        let local = self.secs + self.offset as i64;
        let days = local.div_euclid(86_400);
        let rem = local.rem_euclid(86_400) as u32;
        let (year, month, day) = civil_from_days(days);
        let yday = (days - days_from_civil(year, 1, 1)) as u32 + 1;
        Civil {
            year,
            month,
            day,
            yday,
            wday: (days + 4).rem_euclid(7) as usize,
            hour: rem / 3600,
            min: rem / 60 % 60,
            sec: rem % 60,
        }
    }

    fn zone_name(self) -> Option<&'static str> {
        self.utc.then_some("UTC")
    }

    /// Go's `Time.String()`: "2006-01-02 15:04:05.999999999 -0700 MST".
    pub(crate) fn write_string(self, out: &mut String) {
        self.format(out, "2006-01-02 15:04:05.999999999 -0700 MST");
    }

    /// Go's `Time.Format(layout)`.
    pub(crate) fn format(self, out: &mut String, layout: &str) {
        let c = self.civil();
        let mut rest = layout;
        while !rest.is_empty() {
            let (prefix, std, after) = next_std(rest);
            out.push_str(prefix);
            let Some(std) = std else { break };
            rest = after;
            match std {
                Std::LongMonth => out.push_str(MONTHS[c.month as usize - 1]),
                Std::Month => out.push_str(&MONTHS[c.month as usize - 1][..3]),
                Std::NumMonth => push_int(out, c.month as i64, 0),
                Std::ZeroMonth => push_int(out, c.month as i64, 2),
                Std::LongWeekDay => out.push_str(DAYS[c.wday]),
                Std::WeekDay => out.push_str(&DAYS[c.wday][..3]),
                Std::Day => push_int(out, c.day as i64, 0),
                Std::UnderDay => {
                    if c.day < 10 {
                        out.push(' ');
                    }
                    push_int(out, c.day as i64, 0)
                }
                Std::ZeroDay => push_int(out, c.day as i64, 2),
                Std::UnderYearDay => {
                    let _ = write!(out, "{:>3}", c.yday);
                }
                Std::ZeroYearDay => push_int(out, c.yday as i64, 3),
                Std::Hour => push_int(out, c.hour as i64, 2),
                Std::Hour12 | Std::ZeroHour12 => {
                    let h = match c.hour % 12 {
                        0 => 12,
                        h => h,
                    };
                    push_int(out, h as i64, if std == Std::Hour12 { 0 } else { 2 })
                }
                Std::Minute => push_int(out, c.min as i64, 0),
                Std::ZeroMinute => push_int(out, c.min as i64, 2),
                Std::Second => push_int(out, c.sec as i64, 0),
                Std::ZeroSecond => push_int(out, c.sec as i64, 2),
                Std::LongYear => push_int(out, c.year, 4),
                Std::Year => push_int(out, c.year.rem_euclid(100), 2),
                Std::PM => out.push_str(if c.hour >= 12 { "PM" } else { "AM" }),
                Std::Pm => out.push_str(if c.hour >= 12 { "pm" } else { "am" }),
                Std::Tz => match self.zone_name() {
                    Some(n) => out.push_str(n),
                    None => {
                        let z = self.offset / 60;
                        out.push(if z < 0 { '-' } else { '+' });
                        push_int(out, (z.abs() / 60) as i64, 2);
                        push_int(out, (z.abs() % 60) as i64, 2);
                    }
                },
                Std::Offset {
                    iso,
                    colon,
                    secs,
                    mins,
                } => {
                    if iso && self.offset == 0 {
                        out.push('Z');
                        continue;
                    }
                    let z = self.offset.abs();
                    out.push(if self.offset < 0 { '-' } else { '+' });
                    push_int(out, (z / 3600) as i64, 2);
                    if mins {
                        if colon {
                            out.push(':');
                        }
                        push_int(out, (z / 60 % 60) as i64, 2);
                    }
                    if secs {
                        if colon {
                            out.push(':');
                        }
                        push_int(out, (z % 60) as i64, 2);
                    }
                }
                Std::Frac { digits, trim, sep } => {
                    let ns = format!("{:09}", self.nsec);
                    let mut f = &ns[..digits.min(9)];
                    if trim {
                        f = f.trim_end_matches('0');
                        if f.is_empty() {
                            continue;
                        }
                    }
                    out.push(sep);
                    out.push_str(f);
                }
            }
        }
    }
}

fn push_int(out: &mut String, v: i64, width: usize) {
    if v < 0 {
        let _ = write!(out, "-{:0width$}", v.unsigned_abs(), width = width);
    } else {
        let _ = write!(out, "{v:0width$}");
    }
}

/// A layout element (Go's `std*` constants).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Std {
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    UnderYearDay,
    ZeroYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    PM,
    Pm,
    Tz,
    Offset {
        iso: bool,
        colon: bool,
        secs: bool,
        mins: bool,
    },
    Frac {
        digits: usize,
        trim: bool,
        sep: char,
    },
}

/// Go's `nextStdChunk`: the literal prefix, the next element, and the rest.
fn next_std(layout: &str) -> (&str, Option<Std>, &str) {
    let b = layout.as_bytes();
    let at = |i: usize, s: &str| layout[i..].starts_with(s);
    for i in 0..b.len() {
        let (std, len) = match b[i] {
            b'J' if at(i, "January") => (Std::LongMonth, 7),
            b'J' if at(i, "Jan") => (Std::Month, 3),
            b'M' if at(i, "Monday") => (Std::LongWeekDay, 6),
            b'M' if at(i, "Mon") => (Std::WeekDay, 3),
            b'M' if at(i, "MST") => (Std::Tz, 3),
            b'0' if at(i, "002") => (Std::ZeroYearDay, 3),
            b'0' if i + 1 < b.len() && (b'1'..=b'6').contains(&b[i + 1]) => (
                [
                    Std::ZeroMonth,
                    Std::ZeroDay,
                    Std::ZeroHour12,
                    Std::ZeroMinute,
                    Std::ZeroSecond,
                    Std::Year,
                ][(b[i + 1] - b'1') as usize],
                2,
            ),
            b'1' if at(i, "15") => (Std::Hour, 2),
            b'1' => (Std::NumMonth, 1),
            b'2' if at(i, "2006") => (Std::LongYear, 4),
            b'2' => (Std::Day, 1),
            b'_' if at(i, "_2006") => {
                return (&layout[..i + 1], Some(Std::LongYear), &layout[i + 5..])
            }
            b'_' if at(i, "_2") => (Std::UnderDay, 2),
            b'_' if at(i, "__2") => (Std::UnderYearDay, 3),
            b'3' => (Std::Hour12, 1),
            b'4' => (Std::Minute, 1),
            b'5' => (Std::Second, 1),
            b'P' if at(i, "PM") => (Std::PM, 2),
            b'p' if at(i, "pm") => (Std::Pm, 2),
            b'-' | b'Z' => {
                let iso = b[i] == b'Z';
                let forms: [(&str, bool, bool, bool); 5] = [
                    ("070000", false, true, true),
                    ("07:00:00", true, true, true),
                    ("0700", false, false, true),
                    ("07:00", true, false, true),
                    ("07", false, false, false),
                ];
                match forms.iter().find(|f| at(i + 1, f.0)) {
                    Some(&(s, colon, secs, mins)) => (
                        Std::Offset {
                            iso,
                            colon,
                            secs,
                            mins,
                        },
                        1 + s.len(),
                    ),
                    None => continue,
                }
            }
            b'.' | b',' if i + 1 < b.len() && matches!(b[i + 1], b'0' | b'9') => {
                let ch = b[i + 1];
                let mut j = i + 1;
                while j < b.len() && b[j] == ch {
                    j += 1;
                }
                if j < b.len() && b[j].is_ascii_digit() {
                    continue;
                }
                let std = Std::Frac {
                    digits: j - i - 1,
                    trim: ch == b'9',
                    sep: b[i] as char,
                };
                (std, j - i)
            }
            _ => continue,
        };
        return (&layout[..i], Some(std), &layout[i + len..]);
    }
    (layout, None, "")
}

/// Go's `time.Parse(layout, value)` in UTC; `None` on any error (the
/// template functions that parse turn errors into the zero time).
pub(crate) fn parse(layout: &str, value: &str) -> Option<GoTime> {
    let mut v = value;
    let mut rest = layout;
    let (mut year, mut month, mut day, mut hour, mut min, mut sec, mut nsec) =
        (0i64, 1u32, 1u32, 0u32, 0u32, 0u32, 0u32);
    let mut pm: Option<bool> = None;
    let mut offset: Option<i32> = None;
    let mut yday: Option<u32> = None;
    loop {
        let (prefix, std, after) = next_std(rest);
        v = v.strip_prefix(prefix)?;
        let Some(std) = std else {
            if !v.is_empty() {
                return None;
            }
            break;
        };
        rest = after;
        match std {
            Std::LongYear => {
                let (n, r) = take_digits(v, 4, 4)?;
                year = n as i64;
                v = r;
            }
            Std::Year => {
                let (n, r) = take_digits(v, 2, 2)?;
                year = if n >= 69 {
                    1900 + n as i64
                } else {
                    2000 + n as i64
                };
                v = r;
            }
            Std::LongMonth | Std::Month => {
                let full = std == Std::LongMonth;
                let (i, r) = lookup(v, &MONTHS, full)?;
                month = i as u32 + 1;
                v = r;
            }
            Std::NumMonth | Std::ZeroMonth => {
                let (n, r) = take_digits(v, if std == Std::ZeroMonth { 2 } else { 1 }, 2)?;
                month = n;
                v = r;
            }
            Std::LongWeekDay | Std::WeekDay => {
                let (_, r) = lookup(v, &DAYS, std == Std::LongWeekDay)?;
                v = r;
            }
            Std::Day | Std::UnderDay | Std::ZeroDay => {
                if std == Std::UnderDay {
                    v = v.strip_prefix(' ').unwrap_or(v);
                }
                let (n, r) = take_digits(v, if std == Std::ZeroDay { 2 } else { 1 }, 2)?;
                day = n;
                v = r;
            }
            Std::UnderYearDay | Std::ZeroYearDay => {
                let t = v.trim_start_matches(' ');
                let (n, r) = take_digits(t, 3, 3).or_else(|| take_digits(t, 1, 3))?;
                yday = Some(n);
                v = r;
            }
            Std::Hour | Std::Hour12 | Std::ZeroHour12 => {
                let fixed = std != Std::Hour12;
                let (n, r) = take_digits(v, if fixed { 2 } else { 1 }, 2)?;
                hour = n;
                v = r;
            }
            Std::Minute | Std::ZeroMinute => {
                let (n, r) = take_digits(v, if std == Std::ZeroMinute { 2 } else { 1 }, 2)?;
                min = n;
                v = r;
            }
            Std::Second | Std::ZeroSecond => {
                let (n, r) = take_digits(v, if std == Std::ZeroSecond { 2 } else { 1 }, 2)?;
                sec = n;
                v = r;
                // Go accepts fractional seconds after seconds even if the
                // layout has none, unless the layout itself continues with them.
                let next_is_frac = matches!(next_std(rest), ("", Some(Std::Frac { .. }), _));
                if !next_is_frac
                    && v.len() >= 2
                    && matches!(v.as_bytes()[0], b'.' | b',')
                    && v.as_bytes()[1].is_ascii_digit()
                {
                    let n = v[1..].bytes().take_while(u8::is_ascii_digit).count();
                    nsec = frac_nanos(&v[1..1 + n]);
                    v = &v[1 + n..];
                }
            }
            Std::PM | Std::Pm => {
                let p = v.get(..2)?;
                pm = Some(match p.to_ascii_uppercase().as_str() {
                    "PM" => true,
                    "AM" => false,
                    _ => return None,
                });
                v = &v[2..];
            }
            Std::Tz => {
                if let Some(r) = v.strip_prefix("UTC") {
                    offset = Some(0);
                    v = r;
                } else {
                    let n = v.bytes().take_while(u8::is_ascii_uppercase).count();
                    if n < 3 {
                        return None;
                    }
                    offset.get_or_insert(0);
                    v = &v[n..];
                }
            }
            Std::Offset {
                iso,
                colon,
                secs,
                mins,
            } => {
                if iso && v.starts_with('Z') {
                    offset = Some(0);
                    v = &v[1..];
                    continue;
                }
                let sign = match v.as_bytes().first()? {
                    b'+' => 1,
                    b'-' => -1,
                    _ => return None,
                };
                let mut r = &v[1..];
                let (h, r2) = take_digits(r, 2, 2)?;
                r = r2;
                let mut total = h as i32 * 3600;
                if mins {
                    if colon {
                        r = r.strip_prefix(':')?;
                    }
                    let (m, r2) = take_digits(r, 2, 2)?;
                    total += m as i32 * 60;
                    r = r2;
                }
                if secs {
                    if colon {
                        r = r.strip_prefix(':')?;
                    }
                    let (s, r2) = take_digits(r, 2, 2)?;
                    total += s as i32;
                    r = r2;
                }
                offset = Some(sign * total);
                v = r;
            }
            Std::Frac { digits, trim, sep } => {
                if trim {
                    if v.len() >= 2
                        && v.as_bytes()[0] == sep as u8
                        && v.as_bytes()[1].is_ascii_digit()
                    {
                        let n = v[1..].bytes().take_while(u8::is_ascii_digit).count();
                        nsec = frac_nanos(&v[1..1 + n]);
                        v = &v[1 + n..];
                    }
                } else {
                    let r = v.strip_prefix(sep)?;
                    let d = r.get(..digits)?;
                    if !d.bytes().all(|c| c.is_ascii_digit()) {
                        return None;
                    }
                    nsec = frac_nanos(d);
                    v = &r[digits..];
                }
            }
        }
    }
    match pm {
        Some(true) if hour < 12 => hour += 12,
        Some(false) if hour == 12 => hour = 0,
        _ => {}
    }
    if let Some(yd) = yday {
        if yd < 1 || yd > if is_leap(year) { 366 } else { 365 } {
            return None;
        }
        let d = days_from_civil(year, 1, 1) + yd as i64 - 1;
        let (_, m, dd) = civil_from_days(d);
        month = m;
        day = dd;
    }
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || min > 59
        || sec > 59
    {
        return None;
    }
    let local = days_from_civil(year, month, day) * 86_400 + (hour * 3600 + min * 60 + sec) as i64;
    let off = offset.unwrap_or(0);
    Some(GoTime {
        secs: local - off as i64,
        nsec,
        offset: off,
        utc: off == 0,
    })
}

fn frac_nanos(d: &str) -> u32 {
    let mut s: String = d.chars().take(9).collect();
    while s.len() < 9 {
        s.push('0');
    }
    s.parse().unwrap_or(0)
}

fn take_digits(v: &str, min: usize, max: usize) -> Option<(u32, &str)> {
    let n = v.bytes().take(max).take_while(u8::is_ascii_digit).count();
    if n < min {
        return None;
    }
    Some((v[..n].parse().ok()?, &v[n..]))
}

fn lookup<'v>(v: &'v str, names: &[&str], full: bool) -> Option<(usize, &'v str)> {
    for (i, name) in names.iter().enumerate() {
        let n = if full { *name } else { &name[..3] };
        if v.len() >= n.len() && v.is_char_boundary(n.len()) && v[..n.len()].eq_ignore_ascii_case(n)
        {
            return Some((i, &v[n.len()..]));
        }
    }
    None
}

/// Go's `time.ParseDuration`, in seconds (Loki's `duration`).
pub(crate) fn parse_duration_secs(s: &str) -> Result<f64, String> {
    let err = || format!("time: invalid duration {}", super::gofmt::quote(s));
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(0.0);
    }
    if rest.is_empty() {
        return Err(err());
    }
    let mut total_ns: f64 = 0.0;
    while !rest.is_empty() {
        let n = rest
            .bytes()
            .take_while(|c| c.is_ascii_digit() || *c == b'.')
            .count();
        if n == 0 || rest[..n] == *"." {
            return Err(err());
        }
        let num: f64 = rest[..n].parse().map_err(|_| err())?;
        rest = &rest[n..];
        let u = rest
            .bytes()
            .take_while(|c| !c.is_ascii_digit() && *c != b'.')
            .count();
        let unit = &rest[..u];
        rest = &rest[u..];
        let scale = match unit {
            "ns" => 1.0,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => {
                return Err(format!(
                    "time: missing unit in duration {}",
                    super::gofmt::quote(s)
                ))
            }
            _ => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    super::gofmt::quote(unit),
                    super::gofmt::quote(s)
                ))
            }
        };
        total_ns += (num * scale).trunc();
    }
    if total_ns > i64::MAX as f64 {
        return Err(err());
    }
    // Go's Duration holds whole nanoseconds; Seconds() splits them.
    let ns = total_ns as i64;
    let secs = (ns / 1_000_000_000) as f64 + (ns % 1_000_000_000) as f64 / 1e9;
    Ok(if neg { -secs } else { secs })
}

/// The argument-less `time.Time` methods a template can call (`.Unix`, ...).
pub(crate) fn method(t: GoTime, name: &str) -> Option<super::value::Value<'static>> {
    use super::value::Value;
    let c = t.civil();
    Some(match name {
        "Unix" => Value::Int64(t.unix()),
        "UnixMilli" => Value::Int64(t.unix_milli()),
        "UnixNano" => Value::Int64(t.unix_nano()),
        "Year" => Value::Int(c.year),
        "YearDay" => Value::Int(c.yday as i64),
        "Day" => Value::Int(c.day as i64),
        "Hour" => Value::Int(c.hour as i64),
        "Minute" => Value::Int(c.min as i64),
        "Second" => Value::Int(c.sec as i64),
        "Nanosecond" => Value::Int(t.nsec as i64),
        "IsZero" => Value::Bool(t.secs == ZERO_UNIX && t.nsec == 0),
        "UTC" | "Local" => Value::Time(t.in_utc()),
        "String" => {
            let mut s = String::new();
            t.write_string(&mut s);
            Value::owned(s)
        }
        _ => return None,
    })
}
