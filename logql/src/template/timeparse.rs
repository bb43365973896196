//! Go's `time.Parse` with reference layouts (for `toDate`, `toDateInZone`)
//! and `time.ParseDuration` (for `duration`). Offsets in the input are
//! honoured; the location argument is always UTC (see `time`).

use super::time::{
    civil_from_days, days_from_civil, days_in_month, is_leap, next_std, GoTime, Std, DAYS, MONTHS,
};
use super::zone::{Zone, ZoneName};

/// Go's `time.Parse(layout, value)` in UTC; `None` on any error (the
/// template functions that parse turn errors into the zero time).
pub(crate) fn parse(layout: &str, value: &str, loc: Option<&Zone>) -> Option<GoTime> {
    let mut v = value;
    let mut rest = layout;
    let (mut year, mut month, mut day, mut hour, mut min, mut sec, mut nsec) =
        (0i64, 1u32, 1u32, 0u32, 0u32, 0u32, 0u32);
    let mut pm: Option<bool> = None;
    let mut offset: Option<i32> = None;
    let mut zone_name: Option<&str> = None;
    let mut z_utc = false;
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
                    z_utc = true;
                    v = r;
                } else {
                    let n = v.bytes().take_while(u8::is_ascii_uppercase).count();
                    if n < 3 {
                        return None;
                    }
                    zone_name = Some(&v[..n]);
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
                    z_utc = true;
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
    Some(place(local, nsec, z_utc, offset, zone_name, loc))
}

/// Go's choice of location for a parsed time (the end of `time.parse`):
/// explicit UTC, an explicit offset (the location if it agrees, else a fixed
/// zone), a zone abbreviation, or the location itself.
fn place(
    local: i64,
    nsec: u32,
    z_utc: bool,
    offset: Option<i32>,
    name: Option<&str>,
    loc: Option<&Zone>,
) -> GoTime {
    let fixed = |off: i32, zone: ZoneName| GoTime {
        secs: local - off as i64,
        nsec,
        offset: off,
        zone,
    };
    let in_loc = |unix: i64| match loc {
        Some(z) => z.lookup(unix),
        None => (0, ZoneName::UTC),
    };
    if z_utc {
        return fixed(0, ZoneName::UTC);
    }
    if let Some(off) = offset {
        let (loc_off, loc_name) = in_loc(local - off as i64);
        if loc_off == off && name.is_none_or(|n| n == loc_name.as_str()) {
            return fixed(off, loc_name);
        }
        return fixed(off, name.map_or(ZoneName::NONE, ZoneName::new));
    }
    if let Some(n) = name {
        let (loc_off, loc_name) = match loc {
            Some(z) => z.offset_for_local(local),
            None => (0, ZoneName::UTC),
        };
        if loc_name.as_str() == n {
            return fixed(loc_off, loc_name);
        }
        let gmt = n
            .strip_prefix("GMT")
            .and_then(|h| h.parse::<i32>().ok())
            .unwrap_or(0);
        return fixed(gmt * 3600, ZoneName::new(n));
    }
    match loc {
        Some(z) => {
            let (off, zn) = z.offset_for_local(local);
            fixed(off, zn)
        }
        None => fixed(0, ZoneName::UTC),
    }
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
