//! The export's data files: one JSONL object per split, streamed to the
//! destination (multipart once past one part) and hashed as it is written.

use std::sync::Arc;

use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::ObjectStore;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::manifest::FileEntry;
use super::ExportError;

/// Bytes buffered per file before a multipart upload starts; also the part
/// size. Above S3's 5 MiB minimum part, and small enough that a few splits
/// written at once stay within tens of megabytes.
const PART_BYTES: usize = 8 * 1024 * 1024;

/// Parts uploaded at once per file.
const PARTS_IN_FLIGHT: usize = 2;

/// One split's JSONL file being written.
pub struct SplitFile {
    name: String,
    writer: BufWriter,
    hasher: Sha256,
    bytes: u64,
    lines: u64,
}

impl SplitFile {
    /// Starts `<prefix>/<name>`; nothing is stored until the first part fills
    /// or [`Self::finish`].
    pub fn create(store: &Arc<dyn ObjectStore>, prefix: &Path, name: String) -> SplitFile {
        let location = prefix.clone().join(name.as_str());
        let writer = BufWriter::with_capacity(Arc::clone(store), location, PART_BYTES)
            .with_max_concurrency(PARTS_IN_FLIGHT);
        SplitFile {
            name,
            writer,
            hasher: Sha256::new(),
            bytes: 0,
            lines: 0,
        }
    }

    /// Appends `line` and a newline.
    pub async fn write_line(&mut self, line: &str) -> Result<(), ExportError> {
        for chunk in [line.as_bytes(), b"\n"] {
            self.hasher.update(chunk);
            self.writer
                .write_all(chunk)
                .await
                .map_err(|source| ExportError::Write {
                    file: self.name.clone(),
                    source,
                })?;
        }
        self.bytes += line.len() as u64 + 1;
        self.lines += 1;
        Ok(())
    }

    /// Completes the object (an empty split is an empty object) and says what
    /// it holds.
    pub async fn finish(mut self) -> Result<(String, FileEntry), ExportError> {
        self.writer
            .shutdown()
            .await
            .map_err(|source| ExportError::Write {
                file: self.name.clone(),
                source,
            })?;
        Ok((
            self.name,
            FileEntry {
                bytes: self.bytes,
                lines: self.lines,
                sha256: hex(&self.hasher.finalize()),
            },
        ))
    }

    /// Drops a half-written file: a multipart upload is cancelled so that no
    /// partial object, nor its parts, stays behind.
    pub async fn abort(mut self) {
        // The export already failed; that error is the one reported.
        let _ = self.writer.abort().await;
    }
}

/// Lower-case hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;
    use object_store::ObjectStoreExt;

    #[test]
    fn hex_is_lower_case() {
        assert_eq!(hex(&[0x00, 0xab, 0x7f]), "00ab7f");
    }

    #[tokio::test]
    async fn files_hash_what_they_hold() {
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let mut file = SplitFile::create(&store, &Path::from("out"), "train.jsonl".to_owned());
        file.write_line("{\"a\":1}").await.expect("write");
        file.write_line("{\"b\":2}").await.expect("write");
        let (name, entry) = file.finish().await.expect("finish");
        assert_eq!(name, "train.jsonl");
        let stored = store
            .get(&Path::from("out/train.jsonl"))
            .await
            .expect("stored")
            .bytes()
            .await
            .expect("bytes");
        assert_eq!(&stored[..], b"{\"a\":1}\n{\"b\":2}\n");
        assert_eq!(entry.bytes, stored.len() as u64);
        assert_eq!(entry.lines, 2);
        assert_eq!(entry.sha256, hex(&Sha256::digest(&stored)));

        let empty = SplitFile::create(&store, &Path::from("out"), "test.jsonl".to_owned());
        let (_, entry) = empty.finish().await.expect("finish empty");
        assert_eq!(entry.bytes, 0);
        let stored = store
            .get(&Path::from("out/test.jsonl"))
            .await
            .expect("an empty split is still a file");
        assert_eq!(stored.meta.size, 0);
    }
}
