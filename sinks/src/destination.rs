//! Where outputs go: a local directory or an object-store URL, and the small
//! per-session and per-Example objects.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ClientOptions, ObjectStore, ObjectStoreExt, ObjectStoreScheme, RetryConfig};
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
    open(destination, settings, None)
}

/// How long one operation on an S3 destination may take: each request, and
/// all its retries together. object_store's defaults (30 s a request,
/// retries for up to 3 minutes) suit a batch job; a service that answers
/// clients needs to give up sooner and say so.
#[derive(Debug, Clone, Copy)]
pub struct Patience {
    pub request_timeout: Duration,
    pub retry_timeout: Duration,
}

/// [`open_destination`] with an S3 destination's waits bounded by `patience`
/// (a local directory has none).
pub fn open_destination_patient(
    destination: &str,
    patience: Patience,
) -> Result<(Arc<dyn ObjectStore>, Path), SinkError> {
    open(destination, std::env::vars(), Some(patience))
}

fn open<I, K, V>(
    destination: &str,
    settings: I,
    patience: Option<Patience>,
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
    let Some(patience) = patience else {
        let (store, prefix) = object_store::parse_url_opts(&url, settings)?;
        return Ok((Arc::from(store), prefix));
    };
    let (scheme, prefix) = ObjectStoreScheme::parse(&url).map_err(|e| invalid(e.to_string()))?;
    if scheme != ObjectStoreScheme::AmazonS3 {
        return Err(invalid("is not an s3:// URL".to_owned()));
    }
    let prefix = Path::parse(prefix)?;
    // As object_store's own URL parsing does it, with the bounds set first so
    // that `AWS_*` client settings still apply over them.
    let builder = settings.fold(
        object_store::aws::AmazonS3Builder::new()
            .with_client_options(ClientOptions::new().with_timeout(patience.request_timeout))
            .with_retry(RetryConfig {
                retry_timeout: patience.retry_timeout,
                ..RetryConfig::default()
            })
            .with_url(url.to_string()),
        |builder, (name, value)| match name.as_ref().to_ascii_lowercase().parse() {
            Ok(key) => builder.with_config(key, value),
            Err(_) => builder,
        },
    );
    Ok((Arc::new(builder.build()?), prefix))
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
