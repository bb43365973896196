//! sluice-storage: how Sluice keeps logs at rest.
//!
//! - [`chunk`]: the chunk format. An ingester appends entries to a
//!   [`MemChunk`], which cuts compressed columnar blocks; a closed chunk is
//!   encoded into one immutable object and read back as [`ChunkData`].
//!   The byte layout is documented in `storage/FORMAT.md`.
//! - [`index`]: the label index, one immutable [`IndexSegment`] per tenant,
//!   day and flush (series label sets, chunk refs; postings built at load).
//! - [`store`]: object store access (local filesystem or S3) with bounded
//!   LRU caches of decoded index segments and of fetched chunks.

pub mod chunk;
pub mod error;
pub mod index;
pub mod store;
mod varint;

pub use chunk::{BlockMeta, ChunkConfig, ChunkData, Encoding, MemChunk};
pub use error::{Error, Result};
pub use index::{ChunkRef, IndexSegment};
pub use store::{Store, StoreConfig};
