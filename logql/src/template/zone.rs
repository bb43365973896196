//! Time zones for `toDateInZone`, as Go's `time.LoadLocation` finds them:
//! TZif files under `$ZONEINFO` or `/usr/share/zoneinfo` (version 2+ data
//! with 64-bit transitions, and the POSIX TZ footer for instants after the
//! last transition). Loaded zones are cached per name. An unknown zone
//! yields `None` (Loki then falls back to UTC).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// A zone abbreviation such as "CET" (empty for an unnamed fixed zone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ZoneName {
    len: u8,
    buf: [u8; 7],
}

impl ZoneName {
    pub(crate) const UTC: ZoneName = ZoneName {
        len: 3,
        buf: *b"UTC\0\0\0\0",
    };
    pub(crate) const NONE: ZoneName = ZoneName {
        len: 0,
        buf: [0; 7],
    };

    /// A name of up to 7 bytes (longer ones are cut at a character boundary).
    pub(crate) fn new(s: &str) -> ZoneName {
        let mut end = s.len().min(7);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        let mut buf = [0; 7];
        buf[..end].copy_from_slice(&s.as_bytes()[..end]);
        ZoneName {
            len: end as u8,
            buf,
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len as usize]).unwrap_or("")
    }
}

/// One local time type: UTC offset and abbreviation.
#[derive(Debug, Clone, Copy)]
struct TimeType {
    offset: i32,
    is_dst: bool,
    name: ZoneName,
}

/// A POSIX TZ rule ("CET-1CEST,M3.5.0,M10.5.0/3").
#[derive(Debug, Clone)]
struct Posix {
    std: TimeType,
    dst: Option<(TimeType, Rule, Rule)>,
}

/// A transition date `Mm.w.d/time` (the only form tzdata footers use).
#[derive(Debug, Clone, Copy)]
struct Rule {
    month: u32,
    week: u32,
    day: u32,
    secs: i64,
}

/// A loaded zone.
#[derive(Debug)]
pub(crate) struct Zone {
    trans: Vec<i64>,
    idx: Vec<u8>,
    types: Vec<TimeType>,
    footer: Option<Posix>,
}

type Cache = Mutex<HashMap<String, Option<Arc<Zone>>>>;

/// Loads a zone by IANA name ("Europe/Paris"); `None` if unknown.
pub(crate) fn load(name: &str) -> Option<Arc<Zone>> {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    if name.is_empty() || name.contains("..") || name.starts_with('/') || name.len() > 100 {
        return None;
    }
    let cache = CACHE.get_or_init(Default::default);
    if let Ok(c) = cache.lock() {
        if let Some(z) = c.get(name) {
            return z.clone();
        }
    }
    let dirs = [
        std::env::var("ZONEINFO").unwrap_or_default(),
        "/usr/share/zoneinfo".to_string(),
    ];
    let zone = dirs
        .iter()
        .filter(|d| !d.is_empty())
        .find_map(|d| std::fs::read(format!("{d}/{name}")).ok())
        .and_then(|b| parse_tzif(&b))
        .map(Arc::new);
    if let Ok(mut c) = cache.lock() {
        if c.len() < 1000 {
            c.insert(name.to_string(), zone.clone());
        }
    }
    zone
}

fn be32(b: &[u8], at: usize) -> Option<i64> {
    Some(i32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?) as i64)
}

fn be64(b: &[u8], at: usize) -> Option<i64> {
    Some(i64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Parses a TZif file, preferring the 64-bit (version 2+) block.
fn parse_tzif(b: &[u8]) -> Option<Zone> {
    if b.get(..4)? != b"TZif" {
        return None;
    }
    let counts = |at: usize| -> Option<[usize; 6]> {
        let mut c = [0usize; 6];
        for (i, v) in c.iter_mut().enumerate() {
            *v = be32(b, at + 20 + 4 * i)? as usize;
        }
        Some(c)
    };
    let [isut, isstd, leap, timecnt, typecnt, charcnt] = counts(0)?;
    let v1_len = timecnt * 5 + typecnt * 6 + charcnt + leap * 8 + isstd + isut;
    let (hdr, tsize) = if *b.get(4)? >= b'2' {
        (44 + v1_len, 8)
    } else {
        (0, 4)
    };
    let [isut, isstd, leap, timecnt, typecnt, charcnt] = counts(hdr)?;
    let mut p = hdr + 44;
    let mut trans = Vec::with_capacity(timecnt);
    for i in 0..timecnt {
        trans.push(if tsize == 8 {
            be64(b, p + 8 * i)?
        } else {
            be32(b, p + 4 * i)?
        });
    }
    p += timecnt * tsize;
    let idx = b.get(p..p + timecnt)?.to_vec();
    p += timecnt;
    let chars = b.get(p + typecnt * 6..p + typecnt * 6 + charcnt)?;
    let mut types = Vec::with_capacity(typecnt);
    for i in 0..typecnt {
        let at = p + 6 * i;
        let name_at = *b.get(at + 5)? as usize;
        let name = chars.get(name_at..)?.split(|&c| c == 0).next()?;
        types.push(TimeType {
            offset: be32(b, at)? as i32,
            is_dst: *b.get(at + 4)? != 0,
            name: ZoneName::new(std::str::from_utf8(name).ok()?),
        });
    }
    if types.is_empty() || idx.iter().any(|&i| i as usize >= types.len()) {
        return None;
    }
    p += typecnt * 6 + charcnt + leap * (tsize + 4) + isstd + isut;
    let footer = if tsize == 8 {
        b.get(p..)
            .and_then(|f| std::str::from_utf8(f).ok())
            .and_then(|f| f.trim_matches('\n').lines().next().map(str::to_string))
            .and_then(|f| parse_posix(&f))
    } else {
        None
    };
    Some(Zone {
        trans,
        idx,
        types,
        footer,
    })
}

impl Zone {
    /// Offset and abbreviation in effect at the instant `unix`.
    pub(crate) fn lookup(&self, unix: i64) -> (i32, ZoneName) {
        let n = self.trans.partition_point(|&t| t <= unix);
        if n == 0 {
            // Before the first transition: the first standard-time type.
            let t = self
                .types
                .iter()
                .find(|t| !t.is_dst)
                .unwrap_or(&self.types[0]);
            return (t.offset, t.name);
        }
        if n == self.trans.len() {
            if let Some(f) = &self.footer {
                return f.lookup(unix);
            }
        }
        let t = self.types[self.idx[n - 1] as usize];
        (t.offset, t.name)
    }

    /// The offset for a wall-clock time given as seconds since the epoch
    /// as if it were UTC (Go's `Date` in a location).
    pub(crate) fn offset_for_local(&self, local: i64) -> (i32, ZoneName) {
        let (off, name) = self.lookup(local);
        let (off2, name2) = self.lookup(local - off as i64);
        if off2 != off {
            return (off2, name2);
        }
        (off, name)
    }
}

impl Posix {
    fn lookup(&self, unix: i64) -> (i32, ZoneName) {
        let Some((dst, start, end)) = &self.dst else {
            return (self.std.offset, self.std.name);
        };
        let year = super::time::GoTime::from_unix(unix + self.std.offset as i64, 0).year();
        let start_at = start.unix(year) - self.std.offset as i64;
        let end_at = end.unix(year) - dst.offset as i64;
        let in_dst = if start_at < end_at {
            unix >= start_at && unix < end_at
        } else {
            !(unix >= end_at && unix < start_at)
        };
        if in_dst {
            (dst.offset, dst.name)
        } else {
            (self.std.offset, self.std.name)
        }
    }
}

impl Rule {
    /// The rule's wall-clock instant in `year`, as seconds since the epoch.
    fn unix(&self, year: i64) -> i64 {
        let first = super::time::days_from_civil(year, self.month, 1);
        let wday_first = (first + 4).rem_euclid(7) as u32;
        let mut day = 1 + (self.day + 7 - wday_first) % 7 + 7 * (self.week - 1);
        let dim = super::time::days_in_month(year, self.month);
        while day > dim {
            day -= 7;
        }
        (first + day as i64 - 1) * 86_400 + self.secs
    }
}

/// Parses a POSIX TZ string as found in TZif footers.
fn parse_posix(s: &str) -> Option<Posix> {
    let mut rest = s;
    let std_name = take_name(&mut rest)?;
    let std_off = -take_offset(&mut rest)?;
    let std = TimeType {
        offset: std_off,
        is_dst: false,
        name: ZoneName::new(&std_name),
    };
    if rest.is_empty() {
        return Some(Posix { std, dst: None });
    }
    let dst_name = take_name(&mut rest)?;
    let dst_off = if rest.starts_with(',') {
        std_off + 3600
    } else {
        -take_offset(&mut rest)?
    };
    let dst = TimeType {
        offset: dst_off,
        is_dst: true,
        name: ZoneName::new(&dst_name),
    };
    let rest = rest.strip_prefix(',')?;
    let (a, b) = rest.split_once(',')?;
    Some(Posix {
        std,
        dst: Some((dst, parse_rule(a)?, parse_rule(b)?)),
    })
}

fn take_name(rest: &mut &str) -> Option<String> {
    if let Some(r) = rest.strip_prefix('<') {
        let (name, after) = r.split_once('>')?;
        *rest = after;
        return Some(name.to_string());
    }
    let n = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
    if n < 3 {
        return None;
    }
    let name = rest[..n].to_string();
    *rest = &rest[n..];
    Some(name)
}

/// `[+-]hh[:mm[:ss]]` in seconds.
fn take_offset(rest: &mut &str) -> Option<i32> {
    let n = rest
        .bytes()
        .enumerate()
        .take_while(|&(i, c)| {
            c.is_ascii_digit() || c == b':' || (i == 0 && (c == b'+' || c == b'-'))
        })
        .count();
    let v = hms(&rest[..n])?;
    *rest = &rest[n..];
    Some(v)
}

fn hms(s: &str) -> Option<i32> {
    let (neg, s) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let mut total = 0i32;
    for (i, part) in s.split(':').enumerate() {
        let v: i32 = part.parse().ok()?;
        total += v * [3600, 60, 1].get(i)?;
    }
    Some(if neg { -total } else { total })
}

fn parse_rule(s: &str) -> Option<Rule> {
    let (date, time) = s.split_once('/').unwrap_or((s, "2"));
    let mut it = date.strip_prefix('M')?.split('.');
    let month = it.next()?.parse().ok()?;
    let week = it.next()?.parse().ok()?;
    let day = it.next()?.parse().ok()?;
    if !(1..=12).contains(&month) || !(1..=5).contains(&week) || day > 6 {
        return None;
    }
    Some(Rule {
        month,
        week,
        day,
        secs: hms(time)? as i64,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn posix_rules() {
        let p = parse_posix("CET-1CEST,M3.5.0,M10.5.0/3").unwrap();
        // 2021-07-01T00:00:00Z is summer time, 2021-01-01 is winter time.
        assert_eq!(p.lookup(1_625_097_600).0, 7200);
        assert_eq!(p.lookup(1_625_097_600).1.as_str(), "CEST");
        assert_eq!(p.lookup(1_609_459_200).0, 3600);
        // The switch on 2021-03-28 at 01:00Z.
        assert_eq!(p.lookup(1_616_893_199).0, 3600);
        assert_eq!(p.lookup(1_616_893_200).0, 7200);
        let south = parse_posix("<-03>3").unwrap();
        assert_eq!(south.lookup(0), (-10800, ZoneName::new("-03")));
        let aus = parse_posix("AEST-10AEDT,M10.1.0,M4.1.0/3").unwrap();
        assert_eq!(
            aus.lookup(1_609_459_200).0,
            39600,
            "January is summer in Sydney"
        );
        assert_eq!(aus.lookup(1_625_097_600).0, 36000);
    }

    #[test]
    fn system_zone_files_when_present() {
        let Some(z) = load("Europe/Paris") else {
            return; // no tz database on this machine
        };
        assert_eq!(z.lookup(1_625_097_600), (7200, ZoneName::new("CEST")));
        assert_eq!(z.lookup(1_609_459_200), (3600, ZoneName::new("CET")));
        assert_eq!(z.lookup(4_102_444_800).0, 3600, "2100 uses the footer rule");
        assert!(load("Nowhere/Nothing").is_none());
        assert!(load("../etc/passwd").is_none());
    }
}
