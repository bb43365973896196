//! Block compression: one function pair per [`Encoding`](super::Encoding).

use super::Encoding;
use crate::error::{Error, Result};

/// zstd level used when a block is cut in the ingester (fast).
pub const ZSTD_CUT_LEVEL: i32 = 1;

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
            let c = zstd::bulk::compress(raw, level).map_err(|e| codec_err(encoding, e))?;
            out.extend_from_slice(&c);
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
        Encoding::Zstd => {
            zstd::bulk::decompress(comp, raw_len).map_err(|e| codec_err(encoding, e))?
        }
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
