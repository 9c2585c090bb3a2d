//! Uploading one object whose size is not known up front: a single `put` while
//! it stays small, a multipart upload once it outgrows one part.

use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayloadMut, WriteMultipart};

use crate::SinkError;

/// How objects are uploaded.
#[derive(Debug, Clone)]
pub struct UploadOptions {
    part_size: usize,
    max_concurrency: usize,
}

/// S3 refuses parts below 5 MiB (except the last one).
const MIN_PART_SIZE: usize = 5 * 1024 * 1024;

impl Default for UploadOptions {
    fn default() -> Self {
        Self {
            part_size: 10 * 1024 * 1024,
            max_concurrency: 4,
        }
    }
}

impl UploadOptions {
    /// Size of one multipart part; objects below it are sent with a single `put`.
    pub fn with_part_size(mut self, bytes: usize) -> Result<Self, SinkError> {
        if bytes < MIN_PART_SIZE {
            return Err(SinkError::Config("part_size must be at least 5 MiB"));
        }
        self.part_size = bytes;
        Ok(self)
    }

    /// Parts in flight at once per object.
    pub fn with_max_concurrency(mut self, parts: usize) -> Result<Self, SinkError> {
        if parts == 0 {
            return Err(SinkError::Config("max_concurrency must be at least 1"));
        }
        self.max_concurrency = parts;
        Ok(self)
    }
}

/// The upload of one object in progress.
pub(crate) enum Upload {
    /// Everything so far fits in one part: nothing sent yet.
    Buffered(PutPayloadMut),
    /// Parts are being sent.
    Multipart(WriteMultipart),
}

impl Upload {
    pub(crate) fn new() -> Self {
        Self::Buffered(PutPayloadMut::new())
    }

    /// Adds the object's next bytes, starting a multipart upload once they
    /// reach a part.
    pub(crate) async fn append(
        &mut self,
        store: &dyn ObjectStore,
        location: &Path,
        options: &UploadOptions,
        bytes: Bytes,
    ) -> Result<(), SinkError> {
        if bytes.is_empty() {
            return Ok(());
        }
        match self {
            Self::Buffered(buffer) => {
                buffer.push(bytes);
                if buffer.content_length() >= options.part_size {
                    let upload = store.put_multipart(location).await?;
                    let mut parts = WriteMultipart::new_with_chunk_size(upload, options.part_size);
                    for chunk in std::mem::take(buffer).freeze() {
                        parts.put(chunk);
                    }
                    *self = Self::Multipart(parts);
                }
            }
            Self::Multipart(parts) => {
                // Back pressure: hold the producer while too many parts are in flight.
                parts.wait_for_capacity(options.max_concurrency).await?;
                parts.put(bytes);
            }
        }
        Ok(())
    }

    /// Sends the last bytes and completes the object.
    pub(crate) async fn finish(
        self,
        store: &dyn ObjectStore,
        location: &Path,
        last: Bytes,
    ) -> Result<(), SinkError> {
        match self {
            Self::Buffered(mut buffer) => {
                if !last.is_empty() {
                    buffer.push(last);
                }
                store.put(location, buffer.freeze()).await?;
            }
            Self::Multipart(mut parts) => {
                parts.put(last);
                // `finish` aborts the upload itself when a part or the completion fails.
                parts.finish().await?;
            }
        }
        Ok(())
    }

    /// Gives up on the object, removing any parts already sent.
    pub(crate) async fn abort(self) -> Result<(), SinkError> {
        match self {
            Self::Buffered(_) => Ok(()),
            Self::Multipart(parts) => Ok(parts.abort().await?),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;

    #[tokio::test]
    async fn switches_to_multipart_at_one_part_and_keeps_every_byte() {
        let store = InMemory::new();
        let location = Path::from("o");
        let options = UploadOptions::default()
            .with_part_size(MIN_PART_SIZE)
            .expect("options");
        let chunk = Bytes::from(vec![7u8; MIN_PART_SIZE / 2 + 1]);

        let mut upload = Upload::new();
        upload
            .append(&store, &location, &options, chunk.clone())
            .await
            .expect("append");
        assert!(matches!(upload, Upload::Buffered(_)));
        upload
            .append(&store, &location, &options, chunk.clone())
            .await
            .expect("append");
        assert!(matches!(upload, Upload::Multipart(_)));
        upload
            .finish(&store, &location, Bytes::from_static(b"end"))
            .await
            .expect("finish");

        let stored = store
            .get(&location)
            .await
            .expect("get")
            .bytes()
            .await
            .expect("bytes");
        assert_eq!(stored.len(), 2 * chunk.len() + 3);
        assert!(stored.ends_with(b"end"));
    }

    #[tokio::test]
    async fn small_objects_are_one_put() {
        let store = InMemory::new();
        let location = Path::from("o");
        let mut upload = Upload::new();
        upload
            .append(
                &store,
                &location,
                &UploadOptions::default(),
                Bytes::from_static(b"ab"),
            )
            .await
            .expect("append");
        assert!(matches!(upload, Upload::Buffered(_)));
        upload
            .finish(&store, &location, Bytes::new())
            .await
            .expect("finish");
        let stored = store
            .get(&location)
            .await
            .expect("get")
            .bytes()
            .await
            .expect("bytes");
        assert_eq!(stored.as_ref(), b"ab");
    }

    #[test]
    fn parts_below_the_s3_minimum_are_refused() {
        assert!(UploadOptions::default().with_part_size(1024).is_err());
        assert!(UploadOptions::default().with_max_concurrency(0).is_err());
    }
}
