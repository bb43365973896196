//! Reading the WAL back on start: directory scan, checkpoint validation and
//! the streaming record iterator.
//!
//! Damage is never fatal. A segment whose tail is incomplete (a crash in the
//! middle of a `write()`) or all zeros (a file extended but never written)
//! is replayed up to the last whole record with a warning. A record whose
//! checksum does not match ends that segment's replay with an error log
//! naming the segment and offset; replay continues with the next segment.
//! A checkpoint that fails validation is skipped with an error log.

use std::collections::VecDeque;
use std::fs::{self, File};
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::direct;
use super::error::{IoContext, Result};
use super::format::{
    self, FileKind, CHECKPOINT_MAGIC, FRAME_HEADER_LEN, HEADER_LEN, MAX_RECORD_LEN, SEGMENT_MAGIC,
    TRAILER_LEN,
};

const READ_BUF: usize = 1 << 20;

/// What the WAL directory held when it was opened.
#[derive(Debug, Default)]
pub(crate) struct DirState {
    pub(crate) segments: Vec<u64>,
    pub(crate) checkpoints: Vec<u64>,
    pub(crate) tmps: Vec<u64>,
}

impl DirState {
    /// Lists the WAL files in `dir`, each kind sorted by id.
    pub(crate) fn scan(dir: &Path) -> Result<DirState> {
        let mut st = DirState::default();
        for entry in fs::read_dir(dir).at(dir)? {
            let entry = entry.at(dir)?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            match format::classify(&name) {
                Some(FileKind::Segment(id)) => st.segments.push(id),
                Some(FileKind::Checkpoint(id)) => st.checkpoints.push(id),
                Some(FileKind::CheckpointTmp(id)) => st.tmps.push(id),
                None => {}
            }
        }
        st.segments.sort_unstable();
        st.checkpoints.sort_unstable();
        st.tmps.sort_unstable();
        Ok(st)
    }

    /// The largest id of any segment or checkpoint.
    pub(crate) fn max_id(&self) -> Option<u64> {
        self.segments
            .iter()
            .chain(&self.checkpoints)
            .chain(&self.tmps)
            .copied()
            .max()
    }
}

/// What to replay after a restart: the newest valid checkpoint, then every
/// record written after it, in the order they were made durable.
///
/// Call [`Replay::checkpoint`] first (if you need it), then consume
/// [`Replay::records`]. Both stream from disk; memory stays bounded by one
/// record plus a 1 MiB read buffer.
#[derive(Debug, Default)]
pub struct Replay {
    checkpoint: Option<(u64, File, u64)>,
    dir: PathBuf,
    segments: Vec<u64>,
}

impl Replay {
    pub(crate) fn new(
        dir: PathBuf,
        checkpoint: Option<(u64, File, u64)>,
        segments: Vec<u64>,
    ) -> Self {
        Replay {
            checkpoint,
            dir,
            segments,
        }
    }

    /// Id of the checkpoint being replayed: it covers all segments below it.
    pub fn checkpoint_id(&self) -> Option<u64> {
        self.checkpoint.as_ref().map(|(id, _, _)| *id)
    }

    /// Ids of the segments [`Replay::records`] will read, in order.
    pub fn segment_ids(&self) -> &[u64] {
        &self.segments
    }

    /// The payload of the newest complete checkpoint, exactly as the callback
    /// of `Wal::write_checkpoint` wrote it; `None` if there is none (or it
    /// was already taken). The checksum was verified when the WAL was opened.
    /// The file is held open, so deleting it later does not disturb reading.
    pub fn checkpoint(&mut self) -> Option<Box<dyn Read + Send>> {
        let (_, file, len) = self.checkpoint.take()?;
        Some(Box::new(BufReader::with_capacity(READ_BUF, file.take(len))))
    }

    /// Every record after the checkpoint, oldest first. Yields `Err` only for
    /// I/O failures (a segment that cannot be opened or read); damaged data
    /// is logged and skipped as described in the module docs.
    pub fn records(self) -> impl Iterator<Item = Result<Bytes>> {
        Records {
            dir: self.dir,
            pending: self.segments.into(),
            current: None,
        }
    }
}

/// Opens checkpoint `id` and validates header, trailer and checksum.
/// Returns the file positioned at the payload and the payload length, or a
/// description of the damage.
pub(crate) fn open_checkpoint(
    dir: &Path,
    id: u64,
) -> Result<std::result::Result<(File, u64), String>> {
    let path = format::checkpoint_path(dir, id);
    let mut file = File::open(&path).at(&path)?;
    let size = file.metadata().at(&path)?.len();
    let min = (HEADER_LEN + TRAILER_LEN) as u64;
    if size < min {
        return Ok(Err(format!(
            "file is {size} bytes, shorter than header and trailer"
        )));
    }
    let mut header = [0u8; HEADER_LEN];
    file.read_exact(&mut header).at(&path)?;
    if let Err(e) = format::check_header(&header, CHECKPOINT_MAGIC, id) {
        return Ok(Err(format!("bad header: {e:?}")));
    }
    let payload_len = size - min;
    file.seek(SeekFrom::Start(size - TRAILER_LEN as u64))
        .at(&path)?;
    let mut trailer = [0u8; TRAILER_LEN];
    file.read_exact(&mut trailer).at(&path)?;
    let (len_raw, rest) = trailer.split_at(8);
    let (crc_raw, magic) = rest.split_at(4);
    let mut l = [0u8; 8];
    l.copy_from_slice(len_raw);
    let mut c = [0u8; 4];
    c.copy_from_slice(crc_raw);
    if magic != CHECKPOINT_MAGIC || u64::from_le_bytes(l) != payload_len {
        return Ok(Err("bad trailer".to_owned()));
    }
    file.seek(SeekFrom::Start(HEADER_LEN as u64)).at(&path)?;
    let mut hasher = crc32fast::Hasher::new();
    let mut reader = BufReader::with_capacity(READ_BUF, (&mut file).take(payload_len));
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        let n = reader.read(&mut chunk).at(&path)?;
        if n == 0 {
            break;
        }
        hasher.update(&chunk[..n]);
    }
    drop(reader);
    if hasher.finalize() != u32::from_le_bytes(c) {
        return Ok(Err("checksum mismatch".to_owned()));
    }
    file.seek(SeekFrom::Start(HEADER_LEN as u64)).at(&path)?;
    Ok(Ok((file, payload_len)))
}

/// Streaming iterator over the records of several segments.
struct Records {
    dir: PathBuf,
    pending: VecDeque<u64>,
    current: Option<SegmentReader>,
}

impl Iterator for Records {
    type Item = Result<Bytes>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let Some(seg) = self.current.as_mut() else {
                let id = self.pending.pop_front()?;
                match SegmentReader::open(&self.dir, id) {
                    Ok(Some(r)) => self.current = Some(r),
                    Ok(None) => {}
                    Err(e) => return Some(Err(e)),
                }
                continue;
            };
            match seg.next_record() {
                Ok(Some(rec)) => return Some(Ok(rec)),
                Ok(None) => self.current = None,
                Err(e) => {
                    self.current = None;
                    return Some(Err(e));
                }
            }
        }
    }
}

/// Reads the records of one segment.
struct SegmentReader {
    id: u64,
    path: PathBuf,
    reader: BufReader<File>,
    /// File offset of the next frame.
    offset: u64,
    size: u64,
}

impl SegmentReader {
    /// Opens a segment and checks its header; `None` if it holds nothing
    /// readable (the reason is logged).
    fn open(dir: &Path, id: u64) -> Result<Option<SegmentReader>> {
        let path = format::segment_path(dir, id);
        let file = File::open(&path).at(&path)?;
        let size = file.metadata().at(&path)?.len();
        let mut reader = BufReader::with_capacity(READ_BUF, file);
        if size < HEADER_LEN as u64 {
            tracing::warn!(
                segment = id,
                size,
                "wal segment has a torn header; skipping it"
            );
            return Ok(None);
        }
        let mut header = [0u8; HEADER_LEN];
        reader.read_exact(&mut header).at(&path)?;
        if let Err(e) = format::check_header(&header, SEGMENT_MAGIC, id) {
            tracing::error!(segment = id, problem = ?e, "wal segment header is invalid; skipping it");
            return Ok(None);
        }
        Ok(Some(SegmentReader {
            id,
            path,
            reader,
            offset: HEADER_LEN as u64,
            size,
        }))
    }

    /// The next record; `None` at the end of the readable part.
    fn next_record(&mut self) -> Result<Option<Bytes>> {
        let remaining = self.size - self.offset;
        if remaining == 0 {
            return Ok(None);
        }
        if remaining < FRAME_HEADER_LEN as u64 {
            let mut rest = [0u8; FRAME_HEADER_LEN];
            let rest = &mut rest[..remaining as usize];
            self.reader.read_exact(rest).at(&self.path)?;
            if is_zero(rest) && self.padded() {
                return Ok(None);
            }
            return self.torn("incomplete record header");
        }
        let mut head = [0u8; FRAME_HEADER_LEN];
        self.reader.read_exact(&mut head).at(&self.path)?;
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        let body_left = remaining - FRAME_HEADER_LEN as u64;
        if len as usize > MAX_RECORD_LEN {
            return self.corrupt("record length over the limit");
        }
        if u64::from(len) > body_left {
            return self.torn("incomplete record payload");
        }
        let mut payload = vec![0u8; len as usize];
        self.reader.read_exact(&mut payload).at(&self.path)?;
        if format::record_crc(len, &payload) != crc {
            if is_zero(&head) && is_zero(&payload) {
                return self.zero_tail();
            }
            return self.corrupt("checksum mismatch");
        }
        self.offset += format::frame_len(payload.len());
        Ok(Some(Bytes::from(payload)))
    }

    /// Whether the segment's rest is short of a block and ends on a block
    /// boundary: where a direct write's zero padding ends a segment that
    /// was not closed (`direct.rs`), so it is no torn write.
    fn padded(&self) -> bool {
        let align = direct::ALIGN as u64;
        self.size.is_multiple_of(align) && self.size - self.offset < align
    }

    fn torn(&self, why: &str) -> Result<Option<Bytes>> {
        tracing::warn!(
            segment = self.id,
            offset = self.offset,
            lost_bytes = self.size - self.offset,
            "wal segment ends in a torn record ({why}); ignoring the tail"
        );
        Ok(None)
    }

    fn corrupt(&self, why: &str) -> Result<Option<Bytes>> {
        tracing::error!(
            segment = self.id,
            offset = self.offset,
            skipped_bytes = self.size - self.offset,
            "wal record is corrupt ({why}); skipping the rest of this segment"
        );
        Ok(None)
    }

    /// Distinguishes a zero-filled tail (torn) from garbage (corrupt) by
    /// reading what is left of the segment.
    fn zero_tail(&mut self) -> Result<Option<Bytes>> {
        let mut chunk = vec![0u8; 64 << 10];
        loop {
            let n = self.reader.read(&mut chunk).at(&self.path)?;
            if n == 0 {
                if self.padded() {
                    return Ok(None);
                }
                return self.torn("zero-filled tail");
            }
            if !is_zero(&chunk[..n]) {
                return self.corrupt("zero bytes followed by data");
            }
        }
    }
}

fn is_zero(b: &[u8]) -> bool {
    b.iter().all(|&x| x == 0)
}

/// Removes a file the WAL no longer needs, logging instead of failing.
pub(crate) fn remove_quietly(path: &Path) {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(path = %path.display(), error = %e, "cannot remove old wal file"),
    }
}
