//! Writing checkpoints and deleting what they replace.
//!
//! Order of operations, each step crash-safe:
//! 1. write `checkpoint.N.tmp` (header, payload, trailer with CRC), fsync it;
//!    a crash leaves a `.tmp` file that the next open deletes;
//! 2. rename it to `checkpoint.N`, fsync the directory; from here replay
//!    uses the new checkpoint and ignores segments below `N`;
//! 3. delete segments below `N` and older checkpoints, fsync the directory;
//!    a crash half-way leaves files the next open deletes.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::Path;

use super::error::{IoContext, Result, WalError};
use super::format::{self, CHECKPOINT_MAGIC};
use super::replay::{remove_quietly, DirState};
use super::writer::sync_dir;

/// Counts and checksums what the ingester writes into a checkpoint.
struct CrcWriter<W> {
    inner: W,
    hasher: crc32fast::Hasher,
    len: u64,
}

impl<W: Write> Write for CrcWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Writes checkpoint `id` atomically, then removes what it replaces.
pub(crate) fn write(
    dir: &Path,
    id: u64,
    payload: &mut dyn FnMut(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let tmp = format::checkpoint_tmp_path(dir, id);
    let res = write_tmp(&tmp, id, payload);
    if res.is_err() {
        remove_quietly(&tmp);
    }
    res?;
    let path = format::checkpoint_path(dir, id);
    fs::rename(&tmp, &path).at(&path)?;
    sync_dir(dir)?;
    remove_covered(dir, id)
}

fn write_tmp(
    tmp: &Path,
    id: u64,
    payload: &mut dyn FnMut(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(tmp)
        .at(tmp)?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    out.write_all(&format::encode_header(CHECKPOINT_MAGIC, id))
        .at(tmp)?;
    let mut w = CrcWriter {
        inner: out,
        hasher: crc32fast::Hasher::new(),
        len: 0,
    };
    payload(&mut w).map_err(WalError::CheckpointWrite)?;
    let CrcWriter {
        inner: mut out,
        hasher,
        len,
    } = w;
    out.write_all(&len.to_le_bytes()).at(tmp)?;
    out.write_all(&hasher.finalize().to_le_bytes()).at(tmp)?;
    out.write_all(&CHECKPOINT_MAGIC).at(tmp)?;
    let file: File = out
        .into_inner()
        .map_err(|e| WalError::io(tmp, e.into_error()))?;
    file.sync_all().at(tmp)
}

/// Deletes segments below `id`, checkpoints below `id` and stray `.tmp`
/// files of older checkpoints. Failures are logged, not returned: leftover
/// files are harmless and retried on the next checkpoint or open.
pub(crate) fn remove_covered(dir: &Path, id: u64) -> Result<()> {
    let st = DirState::scan(dir)?;
    let mut removed = 0usize;
    for &seg in st.segments.iter().filter(|&&s| s < id) {
        remove_quietly(&format::segment_path(dir, seg));
        removed += 1;
    }
    for &cp in st.checkpoints.iter().filter(|&&c| c < id) {
        remove_quietly(&format::checkpoint_path(dir, cp));
        removed += 1;
    }
    for &t in st.tmps.iter().filter(|&&t| t < id) {
        remove_quietly(&format::checkpoint_tmp_path(dir, t));
        removed += 1;
    }
    if removed > 0 {
        if let Err(e) = sync_dir(dir) {
            tracing::warn!(error = %e, "cannot fsync the wal directory after removing old files");
        }
    }
    tracing::debug!(checkpoint = id, removed, "wal checkpoint written");
    Ok(())
}
