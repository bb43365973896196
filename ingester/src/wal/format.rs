//! On-disk format of the write-ahead log.
//!
//! A WAL directory holds two kinds of files:
//!
//! * **Segments**, named by their id as 8+ zero-padded decimal digits
//!   (`00000001`, `00000002`, ...). Ids only grow. A segment is
//!   a 16-byte header followed by records:
//!
//!   ```text
//!   header: magic "SLWL" | version u32 LE (=1) | segment id u64 LE
//!   record: len u32 LE | crc u32 LE | payload (len bytes)
//!   ```
//!
//!   `crc` is CRC-32 (IEEE, `crc32fast`) over the four `len` bytes followed by
//!   the payload, so a damaged length is caught as well as a damaged payload.
//!   A record never spans two segments.
//!
//! * **Checkpoints**, named `checkpoint.NNNNNNNN`. A checkpoint with id `N`
//!   replaces every segment with id `< N`. It is written as
//!   `checkpoint.NNNNNNNN.tmp`, fsynced, renamed, and the directory fsynced,
//!   so a checkpoint file without the `.tmp` suffix is always complete:
//!
//!   ```text
//!   header:  magic "SLCK" | version u32 LE (=1) | segment id u64 LE
//!   payload: whatever the ingester wrote (opaque to the WAL)
//!   trailer: payload len u64 LE | crc32 of payload u32 LE | magic "SLCK"
//!   ```
//!
//! Replay reads the newest checkpoint, then every segment whose id is `>=`
//! the checkpoint's id, in id order. A short read at the end of a segment
//! (torn write) or a checksum mismatch ends that segment's replay; replay
//! then continues with the next segment.
//!
//! A segment written with `O_DIRECT` whose writer did not close it (a crash)
//! ends in zero padding up to the next 4 KiB boundary (`direct.rs`). Zeros
//! shorter than a block that end on a block boundary are that padding and
//! end the segment quietly; a longer zero tail is reported as torn.

use std::path::{Path, PathBuf};

/// Magic bytes opening every segment.
pub(crate) const SEGMENT_MAGIC: [u8; 4] = *b"SLWL";
/// Magic bytes opening and closing every checkpoint.
pub(crate) const CHECKPOINT_MAGIC: [u8; 4] = *b"SLCK";
/// Current format version of segments and checkpoints.
pub(crate) const VERSION: u32 = 1;
/// Size of a segment or checkpoint header in bytes.
pub(crate) const HEADER_LEN: usize = 16;
/// Size of a record frame header (len + crc) in bytes.
pub(crate) const FRAME_HEADER_LEN: usize = 8;
/// Size of a checkpoint trailer in bytes.
pub(crate) const TRAILER_LEN: usize = 16;
/// Largest payload a single record may carry.
pub const MAX_RECORD_LEN: usize = 256 << 20;

const CHECKPOINT_PREFIX: &str = "checkpoint.";
const TMP_SUFFIX: &str = ".tmp";

/// Encodes a segment or checkpoint header.
pub(crate) fn encode_header(magic: [u8; 4], id: u64) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    h[0..4].copy_from_slice(&magic);
    h[4..8].copy_from_slice(&VERSION.to_le_bytes());
    h[8..16].copy_from_slice(&id.to_le_bytes());
    h
}

/// Why a header was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeaderError {
    BadMagic,
    BadVersion(u32),
    WrongId(u64),
}

/// Checks a header read from a file that should carry `id`.
pub(crate) fn check_header(
    h: &[u8; HEADER_LEN],
    magic: [u8; 4],
    id: u64,
) -> Result<(), HeaderError> {
    if h[0..4] != magic {
        return Err(HeaderError::BadMagic);
    }
    let version = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
    if version != VERSION {
        return Err(HeaderError::BadVersion(version));
    }
    let mut raw = [0u8; 8];
    raw.copy_from_slice(&h[8..16]);
    let found = u64::from_le_bytes(raw);
    if found != id {
        return Err(HeaderError::WrongId(found));
    }
    Ok(())
}

/// Checksum of a record: CRC-32 over the length bytes, then the payload.
pub(crate) fn record_crc(len: u32, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&len.to_le_bytes());
    h.update(payload);
    h.finalize()
}

/// Appends one framed record to `buf`. The caller checked the length.
#[cfg(test)]
pub(crate) fn encode_record(buf: &mut Vec<u8>, payload: &[u8]) {
    buf.extend_from_slice(&frame_header(payload));
    buf.extend_from_slice(payload);
}

/// A record ready to write: its frame header and the record.
pub(crate) type Frame = ([u8; FRAME_HEADER_LEN], bytes::Bytes);

/// The header framing `payload` (length and checksum), written before it.
/// The caller checked the length.
pub(crate) fn frame_header(payload: &[u8]) -> [u8; FRAME_HEADER_LEN] {
    // Callers reject payloads longer than MAX_RECORD_LEN (< u32::MAX), so
    // the conversion cannot saturate; saturating keeps this total anyway.
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    let mut h = [0u8; FRAME_HEADER_LEN];
    h[..4].copy_from_slice(&len.to_le_bytes());
    h[4..].copy_from_slice(&record_crc(len, payload).to_le_bytes());
    h
}

/// Size of a framed record on disk.
pub(crate) fn frame_len(payload_len: usize) -> u64 {
    (FRAME_HEADER_LEN + payload_len) as u64
}

/// File name of segment `id`.
pub(crate) fn segment_name(id: u64) -> String {
    format!("{id:08}")
}

/// Path of segment `id` in `dir`.
pub(crate) fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(segment_name(id))
}

/// Path of the checkpoint covering segments below `id`.
pub(crate) fn checkpoint_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{CHECKPOINT_PREFIX}{id:08}"))
}

/// Path of the temporary file a checkpoint is written to before its rename.
pub(crate) fn checkpoint_tmp_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{CHECKPOINT_PREFIX}{id:08}{TMP_SUFFIX}"))
}

/// What a directory entry is, judged by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileKind {
    Segment(u64),
    Checkpoint(u64),
    /// A checkpoint that was never renamed into place: garbage.
    CheckpointTmp(u64),
}

fn parse_id(digits: &str) -> Option<u64> {
    if digits.len() < 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Classifies a file name; `None` for files the WAL does not own.
pub(crate) fn classify(name: &str) -> Option<FileKind> {
    if let Some(rest) = name.strip_prefix(CHECKPOINT_PREFIX) {
        if let Some(digits) = rest.strip_suffix(TMP_SUFFIX) {
            return parse_id(digits).map(FileKind::CheckpointTmp);
        }
        return parse_id(rest).map(FileKind::Checkpoint);
    }
    parse_id(name).map(FileKind::Segment)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn names_round_trip() {
        let dir = Path::new("/w");
        for id in [0u64, 1, 99_999_999, 100_000_000, u64::MAX] {
            let seg = segment_path(dir, id);
            let name = seg.file_name().unwrap().to_str().unwrap();
            assert_eq!(classify(name), Some(FileKind::Segment(id)));
            let cp = checkpoint_path(dir, id);
            let name = cp.file_name().unwrap().to_str().unwrap();
            assert_eq!(classify(name), Some(FileKind::Checkpoint(id)));
            let tmp = checkpoint_tmp_path(dir, id);
            let name = tmp.file_name().unwrap().to_str().unwrap();
            assert_eq!(classify(name), Some(FileKind::CheckpointTmp(id)));
        }
        for junk in [
            "",
            "1234567",
            "0000000a",
            "checkpoint.",
            "checkpoint.12",
            "x00000001",
            ".tmp",
        ] {
            assert_eq!(classify(junk), None, "{junk:?}");
        }
    }

    #[test]
    fn header_checks() {
        let h = encode_header(SEGMENT_MAGIC, 7);
        assert_eq!(check_header(&h, SEGMENT_MAGIC, 7), Ok(()));
        assert_eq!(
            check_header(&h, SEGMENT_MAGIC, 8),
            Err(HeaderError::WrongId(7))
        );
        assert_eq!(
            check_header(&h, CHECKPOINT_MAGIC, 7),
            Err(HeaderError::BadMagic)
        );
        let mut v2 = h;
        v2[4] = 2;
        assert_eq!(
            check_header(&v2, SEGMENT_MAGIC, 7),
            Err(HeaderError::BadVersion(2))
        );
    }

    #[test]
    fn record_frame_layout() {
        let mut buf = Vec::new();
        encode_record(&mut buf, b"hello");
        assert_eq!(buf.len() as u64, frame_len(5));
        assert_eq!(&buf[0..4], &5u32.to_le_bytes());
        assert_eq!(&buf[4..8], &record_crc(5, b"hello").to_le_bytes());
        assert_eq!(&buf[8..], b"hello");
        // A zero-filled frame must not pass as an empty record.
        assert_ne!(record_crc(0, b""), 0);
    }
}
