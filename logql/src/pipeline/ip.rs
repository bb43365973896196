//! `ip("...")` matching: a single address, a CIDR prefix or an inclusive
//! `from-to` range, IPv4 or IPv6. As a line filter the line is scanned for
//! address-looking spans the way Loki does (digit-dot / hex-colon hints).

use std::net::IpAddr;

/// A compiled `ip()` pattern.
#[derive(Debug, Clone)]
pub(crate) enum IpMatcher {
    Addr(IpAddr),
    Prefix(IpAddr, u8),
    Range(IpAddr, IpAddr),
}

fn as_u128(ip: IpAddr) -> (bool, u128) {
    match ip {
        IpAddr::V4(a) => (true, u128::from(u32::from(a))),
        IpAddr::V6(a) => (false, u128::from(a)),
    }
}

impl IpMatcher {
    /// Parses a pattern; the error is Loki's `ip: invalid pattern: "..."`.
    pub(crate) fn parse(pattern: &str) -> Result<IpMatcher, String> {
        let invalid = || {
            let mut q = String::new();
            let _ = crate::labels::write_quoted(&mut q, pattern);
            format!("ip: invalid pattern: {q}")
        };
        if let Ok(a) = pattern.parse::<IpAddr>() {
            return Ok(IpMatcher::Addr(a));
        }
        if let Some((addr, bits)) = pattern.split_once('/') {
            let a: IpAddr = addr.parse().map_err(|_| invalid())?;
            if bits.is_empty()
                || !bits.bytes().all(|c| c.is_ascii_digit())
                || (bits.len() > 1 && bits.starts_with('0'))
            {
                return Err(invalid());
            }
            let b: u8 = bits.parse().map_err(|_| invalid())?;
            let max = if a.is_ipv4() { 32 } else { 128 };
            if b > max {
                return Err(invalid());
            }
            return Ok(IpMatcher::Prefix(a, b));
        }
        if let Some((from, to)) = pattern.split_once('-') {
            let f: IpAddr = from.parse().map_err(|_| invalid())?;
            let t: IpAddr = to.parse().map_err(|_| invalid())?;
            let (f4, fv) = as_u128(f);
            let (t4, tv) = as_u128(t);
            if f4 != t4 || fv > tv {
                return Err(invalid());
            }
            return Ok(IpMatcher::Range(f, t));
        }
        Err(invalid())
    }

    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        let (v4, x) = as_u128(ip);
        match *self {
            IpMatcher::Addr(a) => a == ip,
            IpMatcher::Prefix(a, bits) => {
                let (a4, av) = as_u128(a);
                if a4 != v4 {
                    return false;
                }
                let width = if v4 { 32 } else { 128 };
                if bits == 0 {
                    return true;
                }
                let shift = width - u32::from(bits);
                (av >> shift) == (x >> shift)
            }
            IpMatcher::Range(f, t) => {
                let (f4, fv) = as_u128(f);
                let (_, tv) = as_u128(t);
                f4 == v4 && fv <= x && x <= tv
            }
        }
    }

    /// Whether a label value, parsed as a whole span scan, holds a match.
    pub(crate) fn matches_line(&self, line: &[u8]) -> bool {
        let n = line.len();
        let mut i = 0;
        while i < n {
            if i + 3 < n && ipv4_hint(&line[i..i + 4]) {
                let (ok, len) = self.try_at(line, i, is_v4_char);
                if ok {
                    return true;
                }
                i += len + 1;
                continue;
            }
            if i + 4 < n && ipv6_hint(&line[i..i + 5]) {
                let (ok, len) = self.try_at(line, i, is_v6_char);
                if ok {
                    return true;
                }
                i += len + 1;
                continue;
            }
            i += 1;
        }
        false
    }

    fn try_at(&self, line: &[u8], start: usize, charset: fn(u8) -> bool) -> (bool, usize) {
        let len = line[start..].iter().take_while(|&&c| charset(c)).count();
        let span = &line[start..start + len];
        if let Some(ip) = std::str::from_utf8(span)
            .ok()
            .and_then(|s| s.parse::<IpAddr>().ok())
        {
            if self.contains(ip) {
                return (true, 0);
            }
        }
        (false, len)
    }
}

fn is_v4_char(c: u8) -> bool {
    c.is_ascii_digit() || c == b'.'
}

fn is_v6_char(c: u8) -> bool {
    c.is_ascii_hexdigit() || c == b':' || c == b'.'
}

fn ipv4_hint(p: &[u8]) -> bool {
    p[0].is_ascii_digit() && (p[1] == b'.' || p[2] == b'.' || p[3] == b'.')
}

fn ipv6_hint(p: &[u8]) -> bool {
    let h = |c: u8| c.is_ascii_hexdigit();
    (p[0] == b':' && p[1] == b':' && h(p[2]))
        || (h(p[0]) && p[1] == b':')
        || (h(p[0]) && h(p[1]) && p[2] == b':')
        || (h(p[0]) && h(p[1]) && h(p[2]) && p[3] == b':')
        || (h(p[0]) && h(p[1]) && h(p[2]) && h(p[3]) && p[4] == b':')
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)]
    use super::*;

    #[test]
    fn cidr_range_single() {
        let m = IpMatcher::parse("10.0.0.0/8").unwrap();
        assert!(m.matches_line(b"10.2.3.4 - bob \"GET /\""));
        assert!(!m.matches_line(b"192.168.1.1 - bob"));
        assert!(m.matches_line(b"from 11.0.0.1 and 10.0.0.9"));
        let r = IpMatcher::parse("192.168.0.1-192.168.0.10").unwrap();
        assert!(r.matches_line(b"ip=192.168.0.5 x"));
        assert!(!r.matches_line(b"ip=192.168.0.11 x"));
        let s = IpMatcher::parse("::1").unwrap();
        assert!(s.matches_line(b"addr ::1 here"));
        let v6 = IpMatcher::parse("2001:db8::/32").unwrap();
        assert!(v6.matches_line(b"client 2001:db8::ff:1 ok"));
        assert!(!v6.matches_line(b"client 10.0.0.1 ok"));
    }

    #[test]
    fn invalid_patterns() {
        assert!(IpMatcher::parse("10.0.0.0/33").is_err());
        assert!(IpMatcher::parse("nope").is_err());
        assert!(IpMatcher::parse("10.0.0.9-10.0.0.1").is_err());
        assert_eq!(
            IpMatcher::parse("x").unwrap_err(),
            r#"ip: invalid pattern: "x""#
        );
    }
}
