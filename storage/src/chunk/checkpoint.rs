//! WAL checkpoint form of a [`MemChunk`]: its cut blocks verbatim plus the
//! uncompressed head, so replay rebuilds the chunk exactly.
//!
//! Layout: `"SLCP"`, version u8, last-entry marker (u8 flag, varint ts,
//! u64 LE line hash), uvarint block count, per block its index entry and
//! uvarint-prefixed data, uvarint head count, per head entry varint ts,
//! uvarint-prefixed line, uvarint pair count and uvarint-prefixed strings;
//! then crc32 (u32 LE) of all preceding bytes.

use bytes::Bytes;

use super::block::EncodedBlock;
use super::{ChunkConfig, Head, MemChunk};
use crate::error::{Error, Result};
use crate::varint::{put_bytes, put_uvarint, put_varint, Reader};

const MAGIC: &[u8; 4] = b"SLCP";
const VERSION: u8 = 1;

impl MemChunk {
    /// Appends the checkpoint form of this chunk to `out`.
    pub fn to_checkpoint(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        match self.last {
            Some((ts, h)) => {
                out.push(1);
                put_varint(out, ts);
                out.extend_from_slice(&h.to_le_bytes());
            }
            None => out.push(0),
        }
        put_uvarint(out, self.blocks.len() as u64);
        for b in &self.blocks {
            b.write_index_entry(0, out);
            put_bytes(out, &b.data);
        }
        let h = &self.head;
        put_uvarint(out, h.len() as u64);
        for i in 0..h.len() {
            put_varint(out, h.ts[i]);
            put_bytes(out, h.line(i));
            let pairs = h.md.get(i);
            put_uvarint(out, pairs.len() as u64);
            for (k, v) in pairs {
                put_bytes(out, k.as_bytes());
                put_bytes(out, v.as_bytes());
            }
        }
        let crc = crc32fast::hash(&out[start..]);
        out.extend_from_slice(&crc.to_le_bytes());
    }

    /// Rebuilds a chunk from [`MemChunk::to_checkpoint`] bytes.
    pub fn from_checkpoint(buf: &[u8], cfg: &ChunkConfig) -> Result<MemChunk> {
        if buf.len() < MAGIC.len() + 1 + 4 || &buf[..4] != MAGIC {
            return Err(Error::corrupt("chunk checkpoint", "bad magic or too short"));
        }
        if buf[4] != VERSION {
            return Err(Error::UnsupportedVersion {
                what: "chunk checkpoint",
                version: buf[4],
            });
        }
        let (body, crc) = buf.split_at(buf.len() - 4);
        if crc32fast::hash(body).to_le_bytes() != crc {
            return Err(Error::corrupt("chunk checkpoint", "checksum mismatch"));
        }
        let mut r = Reader::new(&body[5..], "chunk checkpoint");
        let mut c = MemChunk::new(cfg);
        let last = match r.u8()? {
            0 => None,
            1 => Some((r.varint()?, r.u64_le()?)),
            _ => return Err(r.err("bad last-entry flag")),
        };
        let n = r.count(8)?;
        for _ in 0..n {
            let (b, _) = EncodedBlock::read_index_entry(&mut r)?;
            let data = r.bytes()?;
            if data.len() as u64 != b.data_len() {
                return Err(r.err("block data length does not match its sections"));
            }
            c.add_block(b.with_data(Bytes::copy_from_slice(data))?);
        }
        let n = r.count(3)?;
        let mut head = Head::default();
        for _ in 0..n {
            let ts = r.varint()?;
            let line = r.bytes()?;
            let k = r.count(2)?;
            let mut pairs = Vec::with_capacity(k);
            for _ in 0..k {
                pairs.push((r.string()?, r.string()?));
            }
            head.push(
                ts,
                line,
                pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            );
        }
        if !r.is_empty() {
            return Err(r.err("trailing bytes"));
        }
        c.head = head;
        c.last = last;
        Ok(c)
    }
}
