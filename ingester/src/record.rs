//! WAL record encoding of an acknowledged push.
//!
//! ```text
//! record   := kind:u8(=1) tenant:str nstreams:uvarint stream*
//! stream   := labels:str hash:u64le nentries:uvarint entry*
//! entry    := ts_delta:svarint line:bytes nmeta:uvarint (name:str value:str)*
//! str      := len:uvarint utf8-bytes
//! ```
//! `ts_delta` is the difference to the previous entry of the same stream
//! (the first is relative to 0). Decoding returns a `PushRequest` whose
//! lines and structured metadata are zero-copy slices of the record.

use bytes::{BufMut, Bytes};
use sluice_proto::bufpool;
use sluice_proto::logproto::{
    EntryAdapter, LabelPairAdapter, PStr, PushRequest, StreamAdapter, Timestamp,
};

use crate::error::{Error, Result};

const KIND_PUSH: u8 = 1;

pub fn encode_push(tenant: &str, req: &PushRequest) -> Bytes {
    // exact up to varint lengths (bounded by 10 bytes each), so the
    // record is never reallocated
    let entry_size = |e: &EntryAdapter| {
        let md: usize = e
            .structured_metadata
            .iter()
            .map(|m| m.name.len() + m.value.len() + 20)
            .sum();
        e.line.len() + 30 + md
    };
    let size: usize = req
        .streams
        .iter()
        .map(|s| s.labels.len() + 30 + s.entries.iter().map(entry_size).sum::<usize>())
        .sum();
    let mut out = bufpool::with_capacity(size + tenant.len() + 16);
    out.put_u8(KIND_PUSH);
    put_bytes(&mut out, tenant.as_bytes());
    put_uvarint(&mut out, req.streams.len() as u64);
    for s in &req.streams {
        put_bytes(&mut out, s.labels.as_bytes());
        out.put_u64_le(s.hash);
        put_uvarint(&mut out, s.entries.len() as u64);
        let mut prev = 0i64;
        for e in &s.entries {
            let ts = e.timestamp.map(|t| t.unix_nanos()).unwrap_or(0);
            put_svarint(&mut out, ts.wrapping_sub(prev));
            prev = ts;
            put_bytes(&mut out, &e.line);
            put_uvarint(&mut out, e.structured_metadata.len() as u64);
            for m in &e.structured_metadata {
                put_bytes(&mut out, m.name.as_bytes());
                put_bytes(&mut out, m.value.as_bytes());
            }
        }
    }
    bufpool::into_bytes(out)
}

pub fn decode_push(rec: &Bytes) -> Result<(String, PushRequest)> {
    let mut r = Reader { buf: rec, pos: 0 };
    if r.u8()? != KIND_PUSH {
        return Err(Error::Record("unknown record kind".into()));
    }
    let tenant = r.string()?;
    let n = r.count()?;
    let mut streams = Vec::with_capacity(n);
    for _ in 0..n {
        let labels = r.string()?;
        let hash = r.u64le()?;
        let ne = r.count()?;
        let mut entries = Vec::with_capacity(ne);
        let mut prev = 0i64;
        for _ in 0..ne {
            prev = prev.wrapping_add(r.svarint()?);
            let line = r.bytes()?;
            let nm = r.count()?;
            let mut structured_metadata = Vec::with_capacity(nm);
            for _ in 0..nm {
                structured_metadata.push(LabelPairAdapter::new(r.pstr()?, r.pstr()?));
            }
            entries.push(EntryAdapter {
                timestamp: Some(Timestamp::from_unix_nanos(prev)),
                line,
                structured_metadata,
                parsed: Vec::new(),
            });
        }
        streams.push(StreamAdapter {
            labels,
            entries,
            hash,
        });
    }
    Ok((tenant, PushRequest { streams }))
}

pub fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_svarint(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, ((v << 1) ^ (v >> 63)) as u64);
}

pub fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_uvarint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// A bounds-checked reader over a record; every read fails cleanly on
/// truncated or corrupt input.
pub struct Reader<'a> {
    pub buf: &'a Bytes,
    pub pos: usize,
}

impl Reader<'_> {
    fn short() -> Error {
        Error::Record("truncated record".into())
    }

    pub fn u8(&mut self) -> Result<u8> {
        let b = *self.buf.get(self.pos).ok_or_else(Self::short)?;
        self.pos += 1;
        Ok(b)
    }

    pub fn u64le(&mut self) -> Result<u64> {
        let s = self
            .buf
            .get(self.pos..self.pos + 8)
            .ok_or_else(Self::short)?;
        self.pos += 8;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_le_bytes(a))
    }

    pub fn uvarint(&mut self) -> Result<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(Error::Record("varint overflow".into()))
    }

    fn svarint(&mut self) -> Result<i64> {
        let u = self.uvarint()?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    /// A element count, bounded by the bytes left so corrupt input cannot
    /// make us allocate without limit.
    pub fn count(&mut self) -> Result<usize> {
        let n = self.uvarint()?;
        if n > (self.buf.len() - self.pos) as u64 {
            return Err(Error::Record("count exceeds record size".into()));
        }
        Ok(n as usize)
    }

    pub fn bytes(&mut self) -> Result<Bytes> {
        let n = self.count()?;
        let b = self.buf.slice(self.pos..self.pos + n);
        self.pos += n;
        Ok(b)
    }

    pub fn string(&mut self) -> Result<String> {
        Ok(self.pstr()?.into())
    }

    /// A string slice of the record (no copy).
    pub fn pstr(&mut self) -> Result<PStr> {
        PStr::from_utf8(self.bytes()?).map_err(|_| Error::Record("invalid utf-8 in record".into()))
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn round_trip_and_truncation() {
        let req = PushRequest {
            streams: vec![StreamAdapter {
                labels: r#"{app="a"}"#.into(),
                hash: 42,
                entries: (0..10)
                    .map(|i| EntryAdapter {
                        timestamp: Some(Timestamp::from_unix_nanos(
                            1_700_000_000_000_000_000 - i * 7,
                        )),
                        line: Bytes::from(format!("line {i}")),
                        structured_metadata: if i % 2 == 0 {
                            vec![LabelPairAdapter::new("t", i.to_string())]
                        } else {
                            vec![]
                        },
                        parsed: vec![],
                    })
                    .collect(),
            }],
        };
        let rec = encode_push("tenant-1", &req);
        let (tenant, back) = decode_push(&rec).unwrap();
        assert_eq!(tenant, "tenant-1");
        assert_eq!(back, req);
        for cut in 0..rec.len() {
            assert!(decode_push(&rec.slice(..cut)).is_err(), "cut at {cut}");
        }
    }
}
