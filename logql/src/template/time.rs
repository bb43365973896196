//! Go's `time.Time` as templates use it: formatting and parsing with Go
//! reference layouts ("2006-01-02T15:04:05Z07:00"), `String()`, and epoch
//! conversions. Sluice has no time zone database here: the server's local
//! zone is taken to be UTC (as in Loki's container images) and named zones
//! other than `UTC`/`Local` fall back to UTC, as Loki does for unknown ones.

use std::fmt::Write as _;

use super::zone::ZoneName;

/// Seconds from 0001-01-01 (Go's zero time) to the Unix epoch.
const ZERO_UNIX: i64 = -62_135_596_800;

/// An instant with the offset and zone name it is shown in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GoTime {
    pub secs: i64,
    pub nsec: u32,
    /// Offset east of UTC in seconds.
    pub offset: i32,
    /// The zone abbreviation ("UTC", "CET"); empty for an unnamed fixed zone.
    pub zone: ZoneName,
}

pub(super) const MONTHS: [&str; 12] = [
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
pub(super) const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

pub(super) use crate::time::{civil_from_days, days_from_civil};

pub(super) fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

pub(super) fn days_in_month(y: i64, m: u32) -> u32 {
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
            zone: ZoneName::UTC,
        }
    }

    /// `time.Unix(0, ns)` in the local zone (UTC).
    pub(crate) fn from_unix_nanos(ns: i64) -> GoTime {
        GoTime {
            secs: ns.div_euclid(1_000_000_000),
            nsec: ns.rem_euclid(1_000_000_000) as u32,
            offset: 0,
            zone: ZoneName::UTC,
        }
    }

    pub(crate) fn from_unix(secs: i64, nsec: i64) -> GoTime {
        let s = secs.saturating_add(nsec.div_euclid(1_000_000_000));
        GoTime {
            secs: s,
            nsec: nsec.rem_euclid(1_000_000_000) as u32,
            offset: 0,
            zone: ZoneName::UTC,
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
            zone: ZoneName::UTC,
        }
    }

    /// The same instant in UTC (`t.In(time.UTC)`).
    pub(crate) fn in_utc(self) -> GoTime {
        GoTime {
            offset: 0,
            zone: ZoneName::UTC,
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

    fn zone_name(&self) -> Option<&str> {
        Some(self.zone.as_str()).filter(|n| !n.is_empty())
    }

    /// The year in the time's own zone.
    pub(crate) fn year(self) -> i64 {
        self.civil().year
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
pub(super) enum Std {
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
pub(super) fn next_std(layout: &str) -> (&str, Option<Std>, &str) {
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
