//! Transparent gzip decoding with a cap on the decompressed size.

use crate::{IngestError, Limits};
use flate2::bufread::MultiGzDecoder;
use std::io::{self, BufRead, BufReader, Read};

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// Below this much output any ratio is accepted: small inputs cannot hurt.
const BOMB_FLOOR: u64 = 64 << 20;

/// A reader over the recording's plain bytes, whether it arrived gzipped or not,
/// that fails once more than the allowed number of bytes come out of it.
pub struct PlainReader<R: Read> {
    inner: Source<R>,
    /// Bytes already read to sniff the format, served again before the rest.
    replay: Vec<u8>,
    replay_pos: usize,
    produced: u64,
    limit: u64,
    max_ratio: u64,
}

enum Source<R: Read> {
    Plain(BufReader<R>),
    Gzip(MultiGzDecoder<CountingReader<BufReader<R>>>),
}

/// Counts the compressed bytes consumed, so gzip errors can say where they are.
pub struct CountingReader<R> {
    inner: R,
    consumed: u64,
}

impl<R: BufRead> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.consumed += n as u64;
        Ok(n)
    }
}

impl<R: BufRead> BufRead for CountingReader<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }
    fn consume(&mut self, amt: usize) {
        self.consumed += amt as u64;
        self.inner.consume(amt)
    }
}

impl<R: Read> PlainReader<R> {
    /// Sniffs the gzip magic bytes and wraps `reader` accordingly.
    pub fn new(reader: R, limits: &Limits) -> Result<Self, IngestError> {
        let mut buffered = BufReader::with_capacity(256 << 10, reader);
        let head = buffered
            .fill_buf()
            .map_err(|source| IngestError::Io { source })?;
        if head.is_empty() {
            return Err(IngestError::Empty);
        }
        let inner = if head.starts_with(&GZIP_MAGIC) {
            Source::Gzip(MultiGzDecoder::new(CountingReader {
                inner: buffered,
                consumed: 0,
            }))
        } else {
            Source::Plain(buffered)
        };
        Ok(PlainReader {
            inner,
            replay: Vec::new(),
            replay_pos: 0,
            produced: 0,
            limit: limits.max_decompressed_bytes,
            max_ratio: limits.max_compression_ratio,
        })
    }

    /// Up to `n` leading plain bytes, without consuming them.
    pub fn peek_prefix(&mut self, n: usize) -> Result<&[u8], IngestError> {
        let mut chunk = vec![0u8; 64 << 10];
        while self.replay.len() < n {
            let got = self.read_source(&mut chunk)?;
            if got == 0 {
                break;
            }
            self.replay.extend_from_slice(&chunk[..got]);
        }
        Ok(&self.replay[..self.replay.len().min(n)])
    }

    /// Reads into `buf`, mapping failures onto [`IngestError`].
    pub fn read_chunk(&mut self, buf: &mut [u8]) -> Result<usize, IngestError> {
        if self.replay_pos < self.replay.len() {
            let n = (self.replay.len() - self.replay_pos).min(buf.len());
            buf[..n].copy_from_slice(&self.replay[self.replay_pos..self.replay_pos + n]);
            self.replay_pos += n;
            if self.replay_pos == self.replay.len() {
                self.replay = Vec::new();
                self.replay_pos = 0;
            }
            return Ok(n);
        }
        self.read_source(buf)
    }

    fn read_source(&mut self, buf: &mut [u8]) -> Result<usize, IngestError> {
        let n = match &mut self.inner {
            Source::Plain(r) => r.read(buf).map_err(|source| IngestError::Io { source })?,
            Source::Gzip(r) => r.read(buf).map_err(|source| {
                let compressed_offset = r.get_ref().consumed;
                match source.kind() {
                    io::ErrorKind::InvalidInput
                    | io::ErrorKind::InvalidData
                    | io::ErrorKind::UnexpectedEof => IngestError::Gzip {
                        compressed_offset,
                        source,
                    },
                    _ => IngestError::Io { source },
                }
            })?,
        };
        self.produced += n as u64;
        if self.produced > self.limit {
            return Err(IngestError::DecompressedTooLarge { limit: self.limit });
        }
        if let Source::Gzip(r) = &self.inner {
            let compressed = r.get_ref().consumed.max(1);
            if self.produced > BOMB_FLOOR && self.produced / compressed > self.max_ratio {
                return Err(IngestError::CompressionBomb {
                    ratio: self.produced / compressed,
                    max_ratio: self.max_ratio,
                });
            }
        }
        Ok(n)
    }
}
