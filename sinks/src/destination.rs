//! Where outputs go: a local directory or an object-store URL, and the small
//! per-session and per-Example objects.

use std::sync::Arc;

use bytes::Bytes;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use url::Url;

use crate::SinkError;

/// Opens `destination` with settings from the process environment.
///
/// `destination` is a local directory (created if missing) or a URL such as
/// `s3://bucket/prefix`, configured by `AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ALLOW_HTTP` and the other
/// `AWS_*` variables object_store knows. Returns the store and the prefix that
/// every object key is placed under.
pub fn open_destination(destination: &str) -> Result<(Arc<dyn ObjectStore>, Path), SinkError> {
    open_destination_with(destination, std::env::vars())
}

/// [`open_destination`] with the settings given as `(name, value)` pairs in the
/// environment variables' spelling; only `AWS_*` names are used.
pub fn open_destination_with<I, K, V>(
    destination: &str,
    settings: I,
) -> Result<(Arc<dyn ObjectStore>, Path), SinkError>
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: Into<String>,
{
    if !destination.contains("://") {
        return open_local(destination, std::path::Path::new(destination));
    }
    let invalid = |reason: String| SinkError::Destination {
        destination: destination.to_owned(),
        reason,
    };
    let url = Url::parse(destination).map_err(|e| invalid(e.to_string()))?;
    if url.scheme() == "file" {
        let directory = url
            .to_file_path()
            .map_err(|()| invalid("is not a local file path".to_owned()))?;
        return open_local(destination, &directory);
    }
    // object_store reads any key it recognises, and generic names such as
    // `TOKEN` or `ENDPOINT` are recognised too: only the AWS_ namespace is ours
    // to pass on.
    let settings = settings
        .into_iter()
        .filter(|(name, _)| name.as_ref().starts_with("AWS_"));
    let (store, prefix) = object_store::parse_url_opts(&url, settings)?;
    Ok((Arc::from(store), prefix))
}

fn open_local(
    destination: &str,
    directory: &std::path::Path,
) -> Result<(Arc<dyn ObjectStore>, Path), SinkError> {
    std::fs::create_dir_all(directory).map_err(|source| SinkError::LocalDirectory {
        destination: destination.to_owned(),
        source,
    })?;
    let store = LocalFileSystem::new_with_prefix(directory)?;
    Ok((Arc::new(store), Path::default()))
}

/// The training line (`{"messages":…,"tools":…}`) a completed review
/// re-synthesised, beside the Example's `messages.jsonl`: `tracepipe export
/// --reviewed-only` reads it in place of the analyst table's line.
pub const REVIEWED_LINE_OBJECT: &str = "reviewed.jsonl";

/// `<prefix>/examples/<example_id>/messages.jsonl`.
pub fn example_messages_path(prefix: &Path, example_id: &str) -> Path {
    prefix
        .clone()
        .join("examples")
        .join(example_id)
        .join("messages.jsonl")
}

/// `<prefix>/sessions/<session_id>/<name>`.
pub fn session_object_path(prefix: &Path, session_id: &str, name: &str) -> Path {
    prefix.clone().join("sessions").join(session_id).join(name)
}

/// Stores a small object with a single `put`, replacing any object at `location`.
pub async fn put_object(
    store: &dyn ObjectStore,
    location: &Path,
    bytes: impl Into<Bytes>,
) -> Result<(), SinkError> {
    store.put(location, bytes.into().into()).await?;
    Ok(())
}
