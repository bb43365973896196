//! A `Content-Type` reader with Go's `mime.ParseMediaType` strictness: the
//! lower-cased `type/subtype` comes back, malformed parameters are errors
//! with Go's texts.

/// Returns the lower-cased media type of a `Content-Type` value.
pub fn parse(value: &str) -> Result<String, String> {
    let mut parts = value.split(';');
    let base = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    check_type(&base)?;
    for param in parts {
        let param = param.trim();
        if param.is_empty() {
            continue;
        }
        let Some((key, val)) = param.split_once('=') else {
            return Err("mime: invalid media parameter".to_string());
        };
        let val = val.trim();
        let quoted_ok = val.len() >= 2 && val.starts_with('"') && val.ends_with('"');
        if !is_token(key.trim()) || !(is_token(val) || quoted_ok) {
            return Err("mime: invalid media parameter".to_string());
        }
    }
    Ok(base)
}

fn check_type(base: &str) -> Result<(), String> {
    let (ty, sub) = match base.split_once('/') {
        Some((t, s)) => (t, Some(s)),
        None => (base, None),
    };
    if !is_token(ty) {
        return Err("mime: no media type".to_string());
    }
    match sub {
        None => Ok(()),
        Some(s) if is_token(s) => Ok(()),
        Some("") => Err("mime: expected token after slash".to_string()),
        Some(_) => Err("mime: unexpected content after media subtype".to_string()),
    }
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?=".contains(&b))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reads_like_go() {
        assert_eq!(parse("application/json").unwrap(), "application/json");
        assert_eq!(
            parse("Application/JSON; charset=utf-8").unwrap(),
            "application/json"
        );
        assert_eq!(
            parse("application/x-protobuf").unwrap(),
            "application/x-protobuf"
        );
        assert_eq!(
            parse("application/json; charsetutf-8").unwrap_err(),
            "mime: invalid media parameter"
        );
        assert_eq!(parse("/json").unwrap_err(), "mime: no media type");
        assert_eq!(
            parse("application/").unwrap_err(),
            "mime: expected token after slash"
        );
    }
}
