//! Configuration of the distributed services: one typed struct per service,
//! defaults in `config/<service>.toml` (compiled in), then an optional file,
//! then `TRACEPIPE_<SECTION>_<KEY>` environment variables. Unknown keys in a
//! file are an error; the environment can only set keys the defaults have.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::DistributedError;
use crate::admission::AdmissionConfig;
use crate::control::postgres::DatabaseConfig;

pub const GATEWAY_DEFAULTS: &str = include_str!("../../config/gateway.toml");
pub const PROCESSOR_DEFAULTS: &str = include_str!("../../config/processor.toml");
pub const SINK_DEFAULTS: &str = include_str!("../../config/sink.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    pub bootstrap: String,
    pub group: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topics {
    pub sessions: String,
    pub examples: String,
    pub dead_letter: String,
    pub status: String,
    pub catalog: String,
    pub partitions: i32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    pub bucket: String,
    pub prefix: String,
    /// Seconds one S3 request may take.
    pub request_timeout_secs: u64,
    /// Seconds one S3 operation may spend retrying before it fails.
    pub retry_timeout_secs: u64,
}

impl S3Config {
    /// The object-store URL; credentials and endpoint come from `AWS_*`.
    pub fn url(&self) -> String {
        let prefix = self.prefix.trim_matches('/');
        if prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{prefix}", self.bucket)
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    pub listen: SocketAddr,
    pub otlp_endpoint: String,
    pub catalog: PathBuf,
    pub admin_display_name: String,
    pub orphan_sweep_min_age_secs: u64,
    /// `later`: uploads are read by the processors; `in_request`: by the gateway, before it answers.
    pub read_uploads: crate::api::UploadReading,
    pub limits: crate::serve::config::LimitsConfig,
    pub pricing: crate::serve::config::PricingConfig,
    pub billing: crate::serve::config::BillingConfig,
    pub admission: AdmissionConfig,
    pub kafka: KafkaConfig,
    pub topics: Topics,
    pub s3: S3Config,
    pub database: DatabaseConfig,
    pub outbox: OutboxConfig,
    pub web: crate::web::WebConfig,
    pub callbacks: crate::callbacks::CallbacksConfig,
}

/// The gateway's outbox relay (see `outbox.rs`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxConfig {
    pub produce_timeout_ms: u64,
    pub batch: i64,
    pub poll_interval_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessorConfig {
    pub catalog: PathBuf,
    pub metrics_listen: SocketAddr,
    pub otlp_endpoint: String,
    pub browser_mcp_server: String,
    pub max_decompressed_bytes: u64,
    pub max_events: usize,
    pub max_actions: usize,
    pub max_output_bytes: usize,
    pub partition_queue: usize,
    pub retry_backoff_secs: u64,
    pub max_attempts: u32,
    pub kafka: KafkaConfig,
    pub topics: Topics,
    pub s3: S3Config,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rotation {
    pub max_records: u64,
    pub max_bytes: u64,
    pub max_record_span_secs: i64,
    pub at_partition_end: bool,
    pub part_size: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    pub metrics_listen: SocketAddr,
    pub otlp_endpoint: String,
    pub kafka: KafkaConfig,
    pub topics: Topics,
    pub s3: S3Config,
    pub rotation: Rotation,
}

/// Loads a service's configuration by the rules every command shares
/// (tracepipe_telemetry::config).
pub fn load<T: DeserializeOwned>(
    defaults: &str,
    file: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<T, DistributedError> {
    tracepipe_telemetry::config::load("built-in defaults", defaults, file, env)
        .map_err(|e| DistributedError::Config(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_of_every_service_load() {
        load::<GatewayConfig>(GATEWAY_DEFAULTS, None, env(&[])).expect("gateway");
        load::<ProcessorConfig>(PROCESSOR_DEFAULTS, None, env(&[])).expect("processor");
        load::<SinkConfig>(SINK_DEFAULTS, None, env(&[])).expect("sink");
    }

    #[test]
    fn gateway_admission_limits_are_on_by_default_and_set_from_the_environment() {
        let config: GatewayConfig =
            load(GATEWAY_DEFAULTS, None, env(&[])).expect("gateway defaults");
        assert!(config.admission.requests_per_minute > 0);
        assert!(config.admission.max_concurrent_uploads_per_key > 0);
        config.admission.validate().expect("valid defaults");
        let config: GatewayConfig = load(
            GATEWAY_DEFAULTS,
            None,
            env(&[("TRACEPIPE_ADMISSION_REQUESTS_PER_MINUTE", "7")]),
        )
        .expect("loads");
        assert_eq!(config.admission.requests_per_minute, 7);
    }

    #[test]
    fn environment_overrides_with_the_services_script_names() {
        let config: GatewayConfig = load(
            GATEWAY_DEFAULTS,
            None,
            env(&[
                ("TRACEPIPE_KAFKA_BOOTSTRAP", "k:1"),
                ("TRACEPIPE_S3_BUCKET", "b"),
                ("TRACEPIPE_TOPICS_PARTITIONS", "7"),
                ("TRACEPIPE_DATABASE_URL", "postgres://u:pw@h/db"),
            ]),
        )
        .expect("loads");
        assert_eq!(config.kafka.bootstrap, "k:1");
        assert_eq!(config.s3.bucket, "b");
        assert_eq!(config.topics.partitions, 7);
        assert_eq!(config.database.url.expose(), "postgres://u:pw@h/db");
        assert!(
            !format!("{config:?}").contains("pw"),
            "the password is masked"
        );
    }

    #[test]
    fn the_gateway_prices_models_named_in_a_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("gateway.toml");
        std::fs::write(
            &file,
            "[pricing.models]\n\"openai/gpt-4o\" = { usd_per_1k_tokens = 0.005 }\n",
        )
        .expect("write");
        let config: GatewayConfig = load(GATEWAY_DEFAULTS, Some(&file), env(&[])).expect("gateway");
        assert_eq!(config.pricing.models.len(), 1);
        // A closed table still refuses a key it does not have.
        std::fs::write(&file, "[billing]\nstripe_key = \"x\"\n").expect("write");
        assert!(load::<GatewayConfig>(GATEWAY_DEFAULTS, Some(&file), env(&[])).is_err());
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("sink.toml");
        std::fs::write(&file, "[rotation]\nmax_recrods = 5\n").expect("write");
        let err = load::<SinkConfig>(SINK_DEFAULTS, Some(&file), env(&[])).expect_err("refused");
        assert!(err.to_string().contains("rotation.max_recrods"), "{err}");
        let err = load::<SinkConfig>(
            SINK_DEFAULTS,
            None,
            env(&[("TRACEPIPE_ROTATION_MAX_RECORDS", "x")]),
        )
        .expect_err("refused");
        assert!(
            err.to_string().contains("TRACEPIPE_ROTATION_MAX_RECORDS"),
            "{err}"
        );
    }
}
