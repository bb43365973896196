//! Segment writes that bypass the page cache (`O_DIRECT`).
//!
//! The WAL is read only at replay, so caching what it writes only evicts
//! chunk data, and a buffered `write()` costs a kernel copy of every byte
//! into freshly allocated page-cache pages: in the ingest benchmark that
//! copy was most of the writer thread's cost, which was an eighth of the
//! server's CPU during pushes. A direct write copies the frames once into
//! a reused, aligned staging buffer and hands it to the device.
//!
//! Direct writes must start at a multiple of [`ALIGN`] and span whole
//! blocks, so each batch starts by rewriting the segment's last partial
//! block (kept in `tail`) and ends with zero padding up to the next block
//! boundary. The padding is overwritten by the next batch and trimmed when
//! the segment is closed or rotated; after a crash it is a zero tail shorter
//! than a block, which replay reads as the segment's end. Rewriting the
//! partial block never changes the bytes already in it, so a torn rewrite
//! can only lose what this batch added, like a torn buffered write.
//!
//! Where the file system refuses `O_DIRECT` (tmpfs, some network file
//! systems) the segment is written through the page cache as before.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

use super::format;

/// Alignment of direct writes: offsets, lengths and the buffer's address.
/// 4 KiB covers every common device's logical block size.
pub(crate) const ALIGN: usize = 4096;

/// Size of the staging buffer: a batch larger than this is written in
/// several `pwrite` calls.
const STAGING: usize = 1 << 20;

/// Opens `path` for direct writes; `None` where the file system does not
/// support them.
pub(crate) fn open(path: &Path) -> Option<File> {
    OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
        .ok()
}

/// The staging buffer and the segment's last partial block.
pub(crate) struct Direct {
    /// `STAGING + ALIGN` bytes; the aligned region starts at `off`.
    buf: Vec<u8>,
    off: usize,
    /// The bytes of the segment from its last block boundary to its end.
    tail: Vec<u8>,
}

impl Direct {
    /// State for a segment whose bytes so far are `written` (its header).
    pub(crate) fn new(written: &[u8]) -> Direct {
        let buf = vec![0u8; STAGING + ALIGN];
        // for a `u8` pointer and a power-of-two alignment the offset is
        // always below `ALIGN`; `min` keeps the slice in bounds regardless
        let off = buf.as_ptr().align_offset(ALIGN).min(ALIGN);
        let mut d = Direct {
            buf,
            off,
            tail: Vec::with_capacity(ALIGN),
        };
        d.restart(written);
        d
    }

    /// Starts over for a new segment whose bytes so far are `written`.
    pub(crate) fn restart(&mut self, written: &[u8]) {
        let keep = written.len() % ALIGN;
        self.tail.clear();
        self.tail
            .extend_from_slice(&written[written.len() - keep..]);
    }

    /// Writes `frames` after the segment's first `len` bytes (whose last
    /// partial block is `tail`). On success the tail becomes the new last
    /// partial block; on failure it is left as it was, matching the
    /// segment once the caller cuts it back to `len`.
    pub(crate) fn write(
        &mut self,
        file: &File,
        len: u64,
        frames: &[format::Frame],
    ) -> std::io::Result<()> {
        let Direct { buf, off, tail } = self;
        let region = &mut buf[*off..*off + STAGING];
        let mut at = len - tail.len() as u64;
        let mut n = tail.len();
        region[..n].copy_from_slice(tail);
        for (head, record) in frames {
            for mut part in [&head[..], &record[..]] {
                while !part.is_empty() {
                    let k = (STAGING - n).min(part.len());
                    region[n..n + k].copy_from_slice(&part[..k]);
                    n += k;
                    part = &part[k..];
                    if n == STAGING {
                        file.write_all_at(region, at)?;
                        at += STAGING as u64;
                        n = 0;
                    }
                }
            }
        }
        let keep = n % ALIGN;
        if n > 0 {
            let padded = n.next_multiple_of(ALIGN);
            region[n..padded].fill(0);
            file.write_all_at(&region[..padded], at)?;
        }
        tail.clear();
        tail.extend_from_slice(&region[n - keep..n]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use bytes::Bytes;

    use super::*;

    fn frames(sizes: &[usize]) -> Vec<format::Frame> {
        sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                let r = Bytes::from((0..n).map(|k| (k * 7 + i) as u8).collect::<Vec<_>>());
                (format::frame_header(&r), r)
            })
            .collect()
    }

    /// Batches of every size class (inside one block, across blocks, past
    /// the staging buffer, ending exactly on a boundary) leave the file
    /// holding exactly the concatenated frames, then zero padding.
    #[test]
    fn batches_land_after_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seg");
        let header = [9u8; format::HEADER_LEN];
        std::fs::write(&path, header).unwrap();
        let Some(file) = open(&path) else {
            // no O_DIRECT on this file system: nothing to test
            return;
        };
        let mut d = Direct::new(&header);
        let mut want = header.to_vec();
        let batches: [&[usize]; 6] = [
            &[10],
            &[1, 2, 3],
            &[ALIGN * 3 + 5],
            &[STAGING + 17, 40],
            &[0],
            &[100; 50],
        ];
        for sizes in batches {
            // 0: a record that ends the batch exactly on a block boundary
            let to_boundary = ALIGN - (want.len() + format::FRAME_HEADER_LEN) % ALIGN;
            let sizes: Vec<usize> = sizes
                .iter()
                .map(|&n| if n == 0 { to_boundary } else { n })
                .collect();
            let f = frames(&sizes);
            d.write(&file, want.len() as u64, &f).unwrap();
            for (h, r) in &f {
                want.extend_from_slice(h);
                want.extend_from_slice(r);
            }
            let got = std::fs::read(&path).unwrap();
            assert_eq!(got.len(), want.len().next_multiple_of(ALIGN), "{sizes:?}");
            assert_eq!(&got[..want.len()], &want[..], "{sizes:?}");
            assert!(got[want.len()..].iter().all(|&b| b == 0));
            assert_eq!(d.tail, want[want.len() - want.len() % ALIGN..]);
        }
    }
}
