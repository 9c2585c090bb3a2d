//! `tracepipe loadgen`: drives recordings through a running `tracepipe serve`
//! or gateway and reports what it accepted and completed, and how fast.
//!
//! Uploads create their Example (the suite's default model), so the generator
//! only uploads, then watches `GET /examples?status=…` page by page: one pass
//! per poll over the caller's COMPLETED and FAILED Examples instead of one
//! request per Example.
//!
//! `--url` may be given several times (several gateways of one deployment):
//! upload N goes to URL N mod their number, as a client-side round robin
//! would spread them, and the first URL is asked for suites and Examples
//! (every gateway answers from the same PostgreSQL).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use reqwest::blocking::{multipart, Client};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// How often the Examples are listed while waiting for them.
const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// An upload answered `503` or `429` is sent again (same Idempotency-Key),
/// after the `Retry-After` it was given, for at most this long.
const RETRY_BUDGET: Duration = Duration::from_secs(60);
/// The longest `Retry-After` honoured, so a bad header cannot stall the run.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);

#[derive(Debug, clap::Args)]
pub struct LoadgenArgs {
    /// Recordings to upload, cycled until `--count` uploads are made.
    #[arg(required = true, value_name = "RECORDING")]
    recordings: Vec<PathBuf>,
    /// The API's base URL, as the services print it (e.g. http://127.0.0.1:8080/v1).
    /// Repeatable: uploads go to the URLs in turn (several gateways of one
    /// deployment).
    #[arg(long, value_name = "URL", required = true)]
    url: Vec<String>,
    /// An API key. Also TRACEPIPE_API_KEY.
    #[arg(long, env = "TRACEPIPE_API_KEY", hide_env_values = true)]
    api_key: String,
    /// The suite the recordings are of.
    #[arg(long, default_value = "gmail")]
    suite: String,
    /// How many uploads to make.
    #[arg(long, default_value_t = 240)]
    count: usize,
    /// How many uploads are in flight at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Start uploads at this many per second at most (default: as fast as
    /// the concurrency allows).
    #[arg(long, value_name = "PER_SECOND")]
    rate: Option<f64>,
    /// Give up waiting for Examples after this many seconds.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
    /// Report the peak resident memory (VmHWM) of a service: LABEL=PID. Repeatable.
    #[arg(long = "rss", value_name = "LABEL=PID")]
    rss: Vec<String>,
    /// Print the results as one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

/// One upload's outcome.
struct Upload {
    /// When the request was first sent, from the run's start.
    started: Duration,
    /// From the first send to the accepting answer (retries included).
    latency: Duration,
    bytes: u64,
    /// The Session id, when accepted.
    session: Option<String>,
    /// Why it was not accepted.
    refusal: Option<String>,
}

pub fn run(args: LoadgenArgs) -> anyhow::Result<std::process::ExitCode> {
    if args.concurrency == 0 || args.count == 0 {
        bail!("--count and --concurrency must be at least 1");
    }
    if let Some(rate) = args.rate {
        if !(rate.is_finite() && rate > 0.0) {
            bail!("--rate must be a positive number of uploads per second, not {rate}");
        }
    }
    let pids = args
        .rss
        .iter()
        .map(|spec| {
            let (label, pid) = spec
                .split_once('=')
                .with_context(|| format!("--rss `{spec}`: expected LABEL=PID"))?;
            let pid: u32 = pid
                .parse()
                .with_context(|| format!("--rss `{spec}`: `{pid}` is not a process id"))?;
            Ok((label.to_owned(), pid))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let recordings = args
        .recordings
        .iter()
        .map(|path| {
            let bytes =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "recording".into());
            Ok((name, bytes))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let client = Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .context("building the HTTP client")?;
    let bases: Vec<String> = args
        .url
        .iter()
        .map(|url| url.trim_end_matches('/').to_owned())
        .collect();
    let Some(base) = bases.first() else {
        bail!("--url is required");
    };
    let suite_id = suite_id(&client, base, &args.api_key, &args.suite)?;

    let start = Instant::now();
    let next = AtomicUsize::new(0);
    let uploads = Mutex::new(Vec::with_capacity(args.count));
    std::thread::scope(|scope| {
        for _ in 0..args.concurrency.min(args.count) {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= args.count {
                    break;
                }
                if let Some(rate) = args.rate {
                    // Upload `index` starts no earlier than its slot.
                    let slot = Duration::from_secs_f64(index as f64 / rate);
                    if let Some(wait) = slot.checked_sub(start.elapsed()) {
                        std::thread::sleep(wait);
                    }
                }
                let (name, bytes) = &recordings[index % recordings.len()];
                let target = &bases[index % bases.len()];
                let upload = upload(
                    &client,
                    target,
                    &args.api_key,
                    &suite_id,
                    name,
                    bytes,
                    start,
                );
                if let Ok(mut all) = uploads.lock() {
                    all.push(upload);
                }
            });
        }
    });
    let upload_span = start.elapsed();
    let uploads = uploads
        .into_inner()
        .map_err(|_| anyhow::anyhow!("an upload thread panicked"))?;

    let accepted: HashMap<&str, &Upload> = uploads
        .iter()
        .filter_map(|u| u.session.as_deref().map(|s| (s, u)))
        .collect();
    let deadline = start + Duration::from_secs(args.timeout);
    let finished = wait_for_examples(&client, base, &args.api_key, &accepted, start, deadline)?;
    let finish_span = start.elapsed();

    let accepted_bytes: u64 = accepted.values().map(|u| u.bytes).sum();
    let mut upload_ms: Vec<f64> = accepted
        .values()
        .map(|u| u.latency.as_secs_f64() * 1e3)
        .collect();
    let mut complete_ms = Vec::new();
    let (mut completed, mut failed) = (0usize, 0usize);
    for (session, (status, at)) in &finished {
        if status == "COMPLETED" {
            completed += 1;
            if let Some(u) = accepted.get(session.as_str()) {
                complete_ms.push(at.saturating_sub(u.started).as_secs_f64() * 1e3);
            }
        } else {
            failed += 1;
        }
    }
    let mut refusals: HashMap<&str, usize> = HashMap::new();
    for reason in uploads.iter().filter_map(|u| u.refusal.as_deref()) {
        *refusals.entry(reason).or_default() += 1;
    }
    let last_completion = finished
        .values()
        .filter(|(s, _)| s == "COMPLETED")
        .map(|(_, at)| *at)
        .max()
        .unwrap_or(finish_span);
    let rss: Vec<Value> = pids
        .iter()
        .map(|(label, pid)| json!({"service": label, "pid": pid, "peak_rss_mb": peak_rss_mb(*pid)}))
        .collect();
    let report = json!({
        "uploads": args.count,
        "concurrency": args.concurrency,
        "targets": bases.len(),
        "rate": args.rate,
        "accepted": accepted.len(),
        "refused": refusals,
        "accepted_mb": accepted_bytes as f64 / 1e6,
        "upload_seconds": upload_span.as_secs_f64(),
        "accepted_sessions_per_s": accepted.len() as f64 / upload_span.as_secs_f64(),
        "accepted_mb_per_s": accepted_bytes as f64 / 1e6 / upload_span.as_secs_f64(),
        "upload_ms_p50": percentile(&mut upload_ms, 0.50),
        "upload_ms_p99": percentile(&mut upload_ms, 0.99),
        "completed": completed,
        "failed": failed,
        "unfinished": accepted.len() - completed - failed,
        "complete_seconds": last_completion.as_secs_f64(),
        "completed_sessions_per_s": completed as f64 / last_completion.as_secs_f64(),
        "complete_ms_p50": percentile(&mut complete_ms, 0.50),
        "complete_ms_p99": percentile(&mut complete_ms, 0.99),
        "peak_rss": rss,
    });
    if args.json {
        println!("{report}");
    } else {
        print_table(&report);
    }
    let all_done = completed == args.count;
    Ok(if all_done {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    })
}

/// Sends one recording, again after each `503`, `429` or transport error (for up to
/// [`RETRY_BUDGET`]) under the same Idempotency-Key, so a retry never makes a
/// second Session.
fn upload(
    client: &Client,
    base: &str,
    api_key: &str,
    suite_id: &str,
    name: &str,
    bytes: &[u8],
    start: Instant,
) -> Upload {
    let started = start.elapsed();
    let key = uuid::Uuid::new_v4().to_string();
    let mut outcome = Upload {
        started,
        latency: Duration::ZERO,
        bytes: bytes.len() as u64,
        session: None,
        refusal: None,
    };
    let retry_until = Instant::now() + RETRY_BUDGET;
    loop {
        let form = multipart::Form::new()
            .text("suite_id", suite_id.to_owned())
            .part(
                "input_events",
                multipart::Part::bytes(bytes.to_vec()).file_name(name.to_owned()),
            );
        let response = client
            .post(format!("{base}/sessions"))
            .header("X-API-Key", api_key)
            .header("Idempotency-Key", &key)
            .multipart(form)
            .send();
        let response = match response {
            Ok(r) => r,
            // A server that refuses (429) before reading the whole body
            // closes the connection under the client, which then sees only
            // a transport error: sent again, like a 503.
            Err(_) if Instant::now() < retry_until => {
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
            Err(e) => {
                outcome.refusal = Some(format!("transport: {}", without_url(&e)));
                return outcome;
            }
        };
        let status = response.status();
        let retryable =
            status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::TOO_MANY_REQUESTS;
        if retryable && Instant::now() < retry_until {
            let wait = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .map_or(Duration::from_secs(1), Duration::from_secs)
                .min(MAX_RETRY_AFTER);
            std::thread::sleep(wait);
            continue;
        }
        if status.is_success() {
            let id = response
                .json::<Value>()
                .ok()
                .and_then(|body| body["id"].as_str().map(str::to_owned));
            match id {
                Some(id) => {
                    outcome.latency = start.elapsed().saturating_sub(started);
                    outcome.session = Some(id);
                }
                None => outcome.refusal = Some(format!("{status} without a Session id")),
            }
        } else {
            let body: Value = response.json().unwrap_or_default();
            let code = body["error"]["code"]
                .as_str()
                .or_else(|| body["code"].as_str())
                .unwrap_or("");
            outcome.refusal = Some(format!("{} {code}", status.as_u16()).trim().to_owned());
        }
        return outcome;
    }
}

/// The id of the suite named `suite` (by name or id): `tracepipe serve`
/// takes uploads by suite id only.
fn suite_id(client: &Client, base: &str, api_key: &str, suite: &str) -> anyhow::Result<String> {
    let response = client
        .get(format!("{base}/suites?per_page=100"))
        .header("X-API-Key", api_key)
        .send()
        .map_err(|e| anyhow::anyhow!("listing the suites: {}", without_url(&e)))?;
    let code = response.status();
    if !code.is_success() {
        bail!("listing the suites answered {code}: is the URL the API's (…/v1) and the key valid?");
    }
    let body: Value = response.json().context("listing the suites: not JSON")?;
    let items = body["items"].as_array().cloned().unwrap_or_default();
    items
        .iter()
        .find(|s| s["name"].as_str() == Some(suite) || s["id"].as_str() == Some(suite))
        .and_then(|s| s["id"].as_str().map(str::to_owned))
        .with_context(|| format!("the API serves no suite `{suite}`"))
}

/// A transport error's text without the URL (it may carry query values).
fn without_url(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    if let Some(url) = error.url() {
        text = text.replace(url.as_str(), "<url>");
    }
    text
}

/// Lists the caller's COMPLETED and FAILED Examples until every accepted
/// session has one (or the deadline passes): for each session, its final
/// status and when it was first seen, from the run's start.
fn wait_for_examples(
    client: &Client,
    base: &str,
    api_key: &str,
    accepted: &HashMap<&str, &Upload>,
    start: Instant,
    deadline: Instant,
) -> anyhow::Result<HashMap<String, (String, Duration)>> {
    let mut finished: HashMap<String, (String, Duration)> = HashMap::new();
    while finished.len() < accepted.len() && Instant::now() < deadline {
        for status in ["COMPLETED", "FAILED"] {
            let seen = list_sessions(client, base, api_key, status)?;
            let now = start.elapsed();
            for session in seen {
                if accepted.contains_key(session.as_str()) {
                    finished
                        .entry(session)
                        .or_insert_with(|| (status.to_owned(), now));
                }
            }
        }
        if finished.len() < accepted.len() {
            std::thread::sleep(POLL_INTERVAL);
        }
    }
    Ok(finished)
}

/// The session ids of the caller's Examples in `status`, every page.
fn list_sessions(
    client: &Client,
    base: &str,
    api_key: &str,
    status: &str,
) -> anyhow::Result<HashSet<String>> {
    let mut sessions = HashSet::new();
    for page in 1.. {
        let response = client
            .get(format!(
                "{base}/examples?status={status}&per_page=100&page={page}"
            ))
            .header("X-API-Key", api_key)
            .send()
            .map_err(|e| anyhow::anyhow!("listing Examples: {}", without_url(&e)))?;
        let code = response.status();
        if !code.is_success() {
            bail!("listing Examples answered {code}");
        }
        let body: Value = response.json().context("listing Examples: not JSON")?;
        let items = body["items"].as_array().cloned().unwrap_or_default();
        sessions.extend(
            items
                .iter()
                .filter_map(|e| e["session_id"].as_str().map(str::to_owned)),
        );
        let total = body["total"].as_u64().unwrap_or(0);
        if items.is_empty() || page * 100 >= total {
            break;
        }
    }
    Ok(sessions)
}

/// Nearest-rank percentile in milliseconds; None for no samples.
fn percentile(samples: &mut [f64], q: f64) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_by(f64::total_cmp);
    let rank = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
    Some(samples[rank - 1])
}

/// The peak resident set (VmHWM) of a process in MB, if it can be read.
fn peak_rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn print_table(report: &Value) {
    let number = |key: &str| match report[key].as_f64() {
        Some(v) => format!("{v:.1}"),
        None => "-".into(),
    };
    println!(
        "uploads accepted  {} of {} ({} MB) in {} s",
        report["accepted"],
        report["uploads"],
        number("accepted_mb"),
        number("upload_seconds")
    );
    println!(
        "accepted          {} sessions/s, {} MB/s",
        number("accepted_sessions_per_s"),
        number("accepted_mb_per_s")
    );
    println!(
        "upload latency    p50 {} ms, p99 {} ms",
        number("upload_ms_p50"),
        number("upload_ms_p99")
    );
    println!(
        "completed         {} ({} failed, {} unfinished) in {} s: {} sessions/s",
        report["completed"],
        report["failed"],
        report["unfinished"],
        number("complete_seconds"),
        number("completed_sessions_per_s")
    );
    println!(
        "upload→COMPLETED  p50 {} ms, p99 {} ms",
        number("complete_ms_p50"),
        number("complete_ms_p99")
    );
    if let Some(refused) = report["refused"].as_object().filter(|r| !r.is_empty()) {
        println!("refused           {}", Value::Object(refused.clone()));
    }
    for service in report["peak_rss"].as_array().into_iter().flatten() {
        println!(
            "peak RSS          {} (pid {}): {} MB",
            service["service"].as_str().unwrap_or(""),
            service["pid"],
            service["peak_rss_mb"]
                .as_f64()
                .map_or("unreadable".into(), |v| format!("{v:.0}"))
        );
    }
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn percentile_is_nearest_rank() {
        let mut samples: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        assert_eq!(percentile(&mut samples, 0.50), Some(50.0));
        assert_eq!(percentile(&mut samples, 0.99), Some(99.0));
        assert_eq!(percentile(&mut [7.0], 0.99), Some(7.0));
        assert_eq!(percentile(&mut [], 0.5), None);
    }
}
