//! Block compression: one function pair per [`Encoding`](super::Encoding).

use super::Encoding;
use crate::error::{Error, Result};

use std::cell::RefCell;

/// zstd level of the line (template) section when a version-1 block was
/// cut in the ingester (field-layout blocks code their streams at levels 1
/// and 6, see `fields.rs`). On the ingest benchmark's data, templates shrink from 6.0 to
/// 4.8 bytes per line going from level 3 to 4 (level 6: 4.3, level 9: 3.7)
/// for about 0.07 µs more per line (level 6: ~0.15, level 9: ~0.3).
pub const ZSTD_CUT_LEVEL: i32 = 4;

/// zstd level of the timestamp, metadata and number sections: higher levels
/// gain under 1% there.
pub const ZSTD_COLUMN_LEVEL: i32 = 1;

thread_local! {
    // zstd contexts are costly to create; keep one of each per thread
    static CCTX: RefCell<Option<zstd::bulk::Compressor<'static>>> = const { RefCell::new(None) };
    static DCTX: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
}

fn zstd_compress(level: i32, raw: &[u8], out: &mut Vec<u8>) -> std::io::Result<()> {
    CCTX.with(|c| {
        let mut c = c.borrow_mut();
        let cctx = match c.as_mut() {
            Some(cctx) => {
                cctx.set_compression_level(level)?;
                cctx
            }
            None => c.insert(zstd::bulk::Compressor::new(level)?),
        };
        out.extend_from_slice(&cctx.compress(raw)?);
        Ok(())
    })
}

fn zstd_decompress(comp: &[u8], raw_len: usize) -> std::io::Result<Vec<u8>> {
    DCTX.with(|d| {
        let mut d = d.borrow_mut();
        let dctx = match d.as_mut() {
            Some(dctx) => dctx,
            None => d.insert(zstd::bulk::Decompressor::new()?),
        };
        dctx.decompress(comp, raw_len)
    })
}

fn codec_err(encoding: Encoding, e: impl std::fmt::Display) -> Error {
    Error::Codec {
        encoding: encoding.as_str(),
        reason: e.to_string(),
    }
}

/// Compresses `raw`; an empty input stays empty under every encoding.
pub fn compress(encoding: Encoding, level: i32, raw: &[u8], out: &mut Vec<u8>) -> Result<()> {
    if raw.is_empty() {
        return Ok(());
    }
    match encoding {
        Encoding::None => out.extend_from_slice(raw),
        Encoding::Snappy => {
            let start = out.len();
            out.resize(start + snap::raw::max_compress_len(raw.len()), 0);
            let n = snap::raw::Encoder::new()
                .compress(raw, &mut out[start..])
                .map_err(|e| codec_err(encoding, e))?;
            out.truncate(start + n);
        }
        Encoding::Lz4 => out.extend_from_slice(&lz4_flex::block::compress(raw)),
        Encoding::Zstd => {
            zstd_compress(level, raw, out).map_err(|e| codec_err(encoding, e))?;
        }
    }
    Ok(())
}

/// Decompresses `comp` whose uncompressed length is known to be `raw_len`.
pub fn decompress(encoding: Encoding, comp: &[u8], raw_len: usize) -> Result<Vec<u8>> {
    if raw_len == 0 {
        return if comp.is_empty() {
            Ok(Vec::new())
        } else {
            Err(Error::corrupt(
                "block",
                "non-empty section with zero length",
            ))
        };
    }
    let out = match encoding {
        Encoding::None => comp.to_vec(),
        Encoding::Snappy => {
            let mut out = vec![0u8; raw_len];
            let n = snap::raw::Decoder::new()
                .decompress(comp, &mut out)
                .map_err(|e| codec_err(encoding, e))?;
            out.truncate(n);
            out
        }
        Encoding::Lz4 => {
            lz4_flex::block::decompress(comp, raw_len).map_err(|e| codec_err(encoding, e))?
        }
        Encoding::Zstd => zstd_decompress(comp, raw_len).map_err(|e| codec_err(encoding, e))?,
    };
    if out.len() != raw_len {
        return Err(Error::corrupt(
            "block",
            format!(
                "section decompressed to {} bytes, expected {raw_len}",
                out.len()
            ),
        ));
    }
    Ok(out)
}
