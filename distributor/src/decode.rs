//! Push body decoding: `Content-Encoding` (none, `snappy`, `gzip`,
//! `deflate`) then `Content-Type` (`application/json` → Loki's JSON push,
//! anything else → snappy-block-compressed protobuf `PushRequest`), as
//! Loki's `ParseLokiRequest`.
//!
//! Protobuf lines are zero-copy slices of the decompressed buffer; JSON
//! lines without escapes are too.

mod json;
mod media_type;

use std::io::Read;

use bytes::Bytes;
use sluice_proto::bufpool;
use sluice_proto::logproto::PushRequest;

use crate::error::PushError;

/// Decodes a push body into a `PushRequest`.
///
/// `max_decompressed` bounds the body after decompression (413 beyond it).
/// An absent or empty `Content-Type` is read as protobuf. Malformed bodies
/// give a 400 error naming the problem.
pub fn decode_push(
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    body: Bytes,
    max_decompressed: usize,
) -> Result<PushRequest, PushError> {
    let encoding = content_encoding.unwrap_or("").trim();
    let body = match encoding {
        // snappy is applied to the protobuf payload itself (below); clients
        // sometimes announce it here too
        "" | "snappy" | "identity" => body,
        "gzip" | "x-gzip" => inflate(
            flate2::read::GzDecoder::new(&body[..]),
            "gzip",
            max_decompressed,
            &body,
        )?,
        "deflate" => inflate(
            flate2::read::DeflateDecoder::new(&body[..]),
            "flate",
            max_decompressed,
            &body,
        )?,
        other => return Err(PushError::UnsupportedEncoding(other.to_string())),
    };
    if body.len() > max_decompressed {
        return Err(PushError::BodyTooLarge {
            size: body.len(),
            limit: max_decompressed,
        });
    }

    let is_json = match content_type.map(str::trim) {
        None | Some("") => false,
        Some(ct) => {
            media_type::parse(ct).map_err(PushError::InvalidContentType)? == "application/json"
        }
    };
    if is_json {
        json::decode(body)
    } else {
        decode_protobuf(body, max_decompressed)
    }
}

/// Decompresses a snappy block and decodes the protobuf inside.
fn decode_protobuf(body: Bytes, max_decompressed: usize) -> Result<PushRequest, PushError> {
    let len = snap::raw::decompress_len(&body).map_err(|_| snappy_corrupt())?;
    if len > max_decompressed {
        return Err(PushError::BodyTooLarge {
            size: len,
            limit: max_decompressed,
        });
    }
    // a recycled buffer: the decoder overwrites all `len` bytes
    let mut buf = bufpool::filled(len);
    let n = match snap::raw::Decoder::new().decompress(&body, &mut buf) {
        Ok(n) => n,
        Err(_) => {
            bufpool::give_back(buf);
            return Err(snappy_corrupt());
        }
    };
    buf.truncate(n);
    PushRequest::decode_body(bufpool::into_bytes(buf))
        .map_err(|e| PushError::Protobuf(format!("proto: {e}")))
}

fn snappy_corrupt() -> PushError {
    PushError::Decompress("snappy: corrupt input".to_string())
}

/// Reads a gzip/deflate stream to its end, refusing more than `max` bytes.
pub(crate) fn inflate(
    reader: impl Read,
    what: &str,
    max: usize,
    compressed: &Bytes,
) -> Result<Bytes, PushError> {
    if what == "gzip" && !compressed.starts_with(&[0x1f, 0x8b]) {
        return Err(PushError::Decompress("gzip: invalid header".to_string()));
    }
    let mut out = Vec::with_capacity(
        compressed
            .len()
            .saturating_mul(4)
            .min(max.saturating_add(1)),
    );
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|e| PushError::Decompress(format!("{what}: {e}")))?;
    if out.len() > max {
        return Err(PushError::BodyTooLarge {
            size: out.len(),
            limit: max,
        });
    }
    Ok(Bytes::from(out))
}

#[cfg(test)]
#[path = "decode_tests.rs"]
mod tests;
