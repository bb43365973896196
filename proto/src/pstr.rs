//! [`PStr`]: a protobuf `string` held in shared bytes.
//!
//! Structured metadata names and values decode as slices of the request
//! body instead of a `String` each (two allocations per pair, on every
//! pushed entry that carries metadata), and the names and values Sluice
//! adds itself (`detected_level="info"`) are static: no allocation at all.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

use bytes::{Buf, BufMut, Bytes};
use prost::encoding::{self, DecodeContext, WireType};
use prost::DecodeError;

/// UTF-8 text in a [`Bytes`]: every constructor checks or inherits the
/// encoding, so reading it as `str` never fails.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct PStr(Bytes);

impl PStr {
    pub const fn from_static(s: &'static str) -> PStr {
        PStr(Bytes::from_static(s.as_bytes()))
    }

    /// `bytes` if they are UTF-8.
    pub fn from_utf8(bytes: Bytes) -> Result<PStr, std::str::Utf8Error> {
        std::str::from_utf8(&bytes)?;
        Ok(PStr(bytes))
    }

    #[inline]
    #[allow(unsafe_code)]
    pub fn as_str(&self) -> &str {
        // SAFETY: the bytes were checked to be UTF-8 when this value was
        // made (`from_utf8`, `decode`) or came from a `str` (`From`,
        // `from_static`), and `Bytes` is immutable.
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The shared bytes.
    pub fn bytes(&self) -> &Bytes {
        &self.0
    }

    /// Field `tag` as protobuf encodes a `string`.
    pub fn encode(&self, tag: u32, buf: &mut impl BufMut) {
        encoding::bytes::encode(tag, &self.0, buf);
    }

    pub fn encoded_len(&self, tag: u32) -> usize {
        encoding::bytes::encoded_len(tag, &self.0)
    }

    /// Decodes a `string` field into `self`: a slice of `buf` when `buf` is
    /// a `Bytes`, with the error prost gives a `String` field that is not
    /// UTF-8.
    pub fn merge(
        &mut self,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        let mut b = Bytes::new();
        encoding::bytes::merge(wire_type, &mut b, buf, ctx)?;
        *self = PStr::from_utf8(b).map_err(|_| not_utf8())?;
        Ok(())
    }
}

/// The error prost gives a `string` field that is not UTF-8.
pub(crate) fn not_utf8() -> DecodeError {
    DecodeError::new("invalid string value: data is not UTF-8 encoded")
}

impl Deref for PStr {
    type Target = str;

    #[inline]
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for PStr {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for PStr {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

// hashed as its `str`, as `Borrow<str>` requires
impl Hash for PStr {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl From<String> for PStr {
    fn from(s: String) -> PStr {
        PStr(Bytes::from(s.into_bytes()))
    }
}

impl From<&str> for PStr {
    fn from(s: &str) -> PStr {
        PStr(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl From<&String> for PStr {
    fn from(s: &String) -> PStr {
        PStr::from(s.as_str())
    }
}

impl From<PStr> for String {
    fn from(s: PStr) -> String {
        s.as_str().to_string()
    }
}

impl PartialEq<str> for PStr {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for PStr {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for PStr {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<PStr> for str {
    fn eq(&self, other: &PStr) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<PStr> for &str {
    fn eq(&self, other: &PStr) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<PStr> for String {
    fn eq(&self, other: &PStr) -> bool {
        self == other.as_str()
    }
}

impl fmt::Debug for PStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for PStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn decodes_as_a_slice_and_refuses_invalid_utf8() {
        let mut wire = Vec::new();
        PStr::from("trace_id").encode(1, &mut wire);
        assert_eq!(wire.len(), PStr::from("trace_id").encoded_len(1));
        let mut buf = Bytes::from(wire);
        let body = buf.clone();
        let (tag, wt) = encoding::decode_key(&mut buf).unwrap();
        assert_eq!(tag, 1);
        let mut s = PStr::default();
        s.merge(wt, &mut buf, DecodeContext::default()).unwrap();
        assert_eq!(s, "trace_id");
        // the same memory as the body: no copy
        assert_eq!(s.as_bytes().as_ptr(), body[2..].as_ptr());

        let mut bad = Bytes::from_static(b"\x0a\x02\xff\xfe");
        let (_, wt) = encoding::decode_key(&mut bad).unwrap();
        let err = s.merge(wt, &mut bad, DecodeContext::default()).unwrap_err();
        assert!(err.to_string().contains("not UTF-8"), "{err}");
    }

    #[test]
    fn compares_and_hashes_as_its_str() {
        use std::collections::HashMap;
        let a = PStr::from_static("level");
        assert_eq!(a, "level");
        assert_eq!("level", a);
        assert_eq!(a, String::from("level"));
        let (x, y) = (PStr::from("a"), PStr::from(String::from("b")));
        assert!(x < y);
        let mut m: HashMap<PStr, u32> = HashMap::new();
        m.insert(a.clone(), 1);
        assert_eq!(m.get("level"), Some(&1));
        assert_eq!(format!("{a} {a:?}"), "level \"level\"");
    }
}
